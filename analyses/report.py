"""A self-contained HTML report of an analysis.

:func:`analysis_report` renders a :class:`~analyses.two_stage.TwoStageResult`,
:class:`~analyses.pooling.PoolResult` or :class:`~analyses.interactions.InteractionResult` as
one HTML page with no external resources (``repository/html/templates/analyses/report.html.j2``
in the shared style of every page ipdrepo writes): the forest plot as inline SVG, the pooled and
per-trial tables in journal style (effect and CI first, p-values as journals write them, no
internal column names), excluded trials with reasons, proportional-hazards tests, subgroup and
interaction results, a plain-words description of the methods, notes, the release version and
data hash when given (``source=``), and the software versions that produced it.
:func:`write_report` writes it to a file.

Example::

    write_report(result, "report.html", title="GASTRIC: overall survival")
"""

from __future__ import annotations

import html
import io
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from analyses.errors import AnalysisProblem, Reason, writing
from analyses.forest import forest_plot
from analyses.formatting import fmt_ci, fmt_i2, fmt_p, fmt_tau2, is_ratio, minus
from analyses.interactions import InteractionResult
from analyses.pooling import PoolResult
from analyses.tables import results_table
from analyses.two_stage import TwoStageResult
from repository.html import Markup, fragment, render, table

__all__ = ["analysis_report", "write_report", "describe_methods", "software_versions",
           "pooled_table"]

_MODEL_TEXT = {
    "cox": "a Cox proportional hazards model with Efron's handling of ties (log hazard ratio "
           "of treatment), with the Grambsch-Therneau test of proportional hazards for the "
           "treatment term (R's cox.zph, Kaplan-Meier time transform)",
    "logrank": "the log-rank statistic: observed minus expected events (O-E) in the treated "
               "arm and its hypergeometric variance V; Peto's log hazard ratio (O-E)/V",
    "logistic": "logistic regression (log odds ratio of treatment)",
    "2x2": "the trial's 2x2 table (events and participants per arm), with 1/2 added to every "
           "cell of a table that has a zero cell (metafor escalc convention)",
    "linear": "least squares (mean difference, or the ANCOVA treatment effect when adjusted "
              "for the baseline value)",
    "rmst": "the difference in restricted mean survival time (treated minus control) up to "
            "the horizon tau, the area under each arm's Kaplan-Meier curve with its standard "
            "error as R's print(survfit, rmean = tau)",
}
_METHOD_TEXT = {
    "FE": "a common-effect (inverse-variance) model",
    "MH": "the Mantel-Haenszel method",
    "Peto": "Peto's one-step method: log estimate = sum(O-E)/sum(V), SE = 1/sqrt(sum V)",
}
_TEST_TEXT = {
    "z": "Wald-type normal (z) test and confidence interval",
    "t": "t distribution with k-1 degrees of freedom",
    "knha": "Hartung-Knapp-Sidik-Jonkman (Knapp-Hartung) adjustment with t(k-1), without "
            "truncation of the scale factor (metafor test='knha')",
    "adhoc": "Knapp-Hartung adjustment with the scale factor truncated below at 1 "
             "(metafor test='adhoc')",
}
_TAU2_TEXT = {"DL": "DerSimonian-Laird", "REML": "restricted maximum likelihood",
              "ML": "maximum likelihood", "PM": "Paule-Mandel", "HS": "Hunter-Schmidt",
              "SJ": "Sidik-Jonkman", "HE": "Hedges", "EB": "empirical Bayes"}


def software_versions() -> dict[str, str]:
    """Versions of Python, ipdrepo and the numerical libraries used."""
    out = {"python": platform.python_version()}
    for pkg in ("ipdrepo", "numpy", "scipy", "pandas", "matplotlib", "lifelines"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def describe_methods(result: PoolResult | TwoStageResult | InteractionResult) -> list[str]:
    """Plain-words description of how ``result`` was computed (one sentence per item)."""
    out: list[str] = []
    pooled = result.pooled if isinstance(result, (TwoStageResult, InteractionResult)) else result
    if isinstance(result, TwoStageResult):
        adj = ""
        out.append(f"Two-stage IPD meta-analysis. First stage: in every trial, "
                   f"{_MODEL_TEXT.get(result.model, result.model)}{adj}. Trials that gave no "
                   "estimate are listed with the reason and left out.")
        if (result.per_trial["source"] == "AD").any():
            out.append("Aggregate-data trials (source AD) are pooled together with the IPD "
                       "trials.")
    if isinstance(result, InteractionResult):
        out.append(f"Treatment-by-{result.covariate} interaction estimated within each trial "
                   f"and pooled across trials (the 'deft' approach; {result.scale}).")
    m = pooled.method
    if m in _METHOD_TEXT:
        how = _METHOD_TEXT[m]
    else:
        how = (f"a random-effects inverse-variance model with tau^2 estimated by "
               f"{_TAU2_TEXT.get(m, m)} ({m}), as metafor 3.8 rma()")
    out.append(f"Second stage: pooled by {how}; {pooled.level:g}% confidence interval by "
               f"{_TEST_TEXT.get(pooled.test, pooled.test)}.")
    out.append("Heterogeneity: Cochran's Q (common-effect weights) with its chi-squared "
               "p-value; I^2 and H^2 as defined by metafor.")
    if pooled.tau2 is not None:
        out.append("Prediction interval: estimate +/- critical value x sqrt(SE^2 + tau^2), with "
                   "the critical value of the test used (metafor predict()). Confidence "
                   "intervals for tau^2, tau, I^2 and H^2 by the Q-profile method.")
    if isinstance(result, TwoStageResult) and result.subgroup:
        out.append(f"Subgroups by {result.subgroup}: the analysis is repeated within each "
                   "subgroup; the test for subgroup differences is Cochran's Q between the "
                   "subgroup estimates.")
    if pooled.is_ratio:
        out.append("Ratio measures are analysed on the log scale and shown exponentiated.")
    return out


def _table(frame: pd.DataFrame | None, *, index: bool = False) -> str:
    if frame is None or len(frame) == 0:
        return "<p class='meta'>(none)</p>"
    shown = frame.reset_index() if index else frame
    shown = shown.map(lambda x: f"{x:.4g}" if isinstance(x, float) and math.isfinite(x) else x)
    return str(fragment("analyses/journal_table.html.j2", t=table(shown)))


def _svg(result: Any, source: str | None) -> str:
    import matplotlib

    fig = forest_plot(result, source=source)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def pooled_table(pooled: PoolResult, *, label: str = "Pooled") -> pd.DataFrame:
    """One journal-style row: effect (CI), p, prediction interval, heterogeneity."""
    ratio = is_ratio(pooled.measure)
    tr = math.exp if ratio else (lambda v: v)
    code = (pooled.measure or "Estimate") if pooled.measure else "Estimate"
    row = {"": label, f"{code} ({pooled.level:g}% CI)":
           minus(fmt_ci(tr(pooled.estimate), tr(pooled.ci[0]), tr(pooled.ci[1]))),
           "p": fmt_p(pooled.p, prefix=False), "Trials": pooled.k,
           "Prediction interval": minus(f"{tr(pooled.pi[0]):.2f} to {tr(pooled.pi[1]):.2f}")
           if pooled.pi else "",
           "\u03c4\u00b2": fmt_tau2(pooled.tau2) if pooled.tau2 is not None else "",
           "I\u00b2": fmt_i2(pooled.I2),
           "Q (df), p": f"{pooled.Q:.2f} ({pooled.Q_df}), {fmt_p(pooled.Q_p, prefix=False)}"}
    return pd.DataFrame([row])


def _heterogeneity(pooled: PoolResult) -> str:
    if (pooled.tau2_ci is None or pooled.tau_ci is None or pooled.I2_ci is None
            or pooled.H2_ci is None or pooled.tau2 is None or pooled.tau is None):
        return ""
    rows = [("\u03c4\u00b2", fmt_tau2(pooled.tau2), *(fmt_tau2(v) for v in pooled.tau2_ci)),
            ("\u03c4", f"{pooled.tau:.4f}", *(f"{v:.4f}" for v in pooled.tau_ci)),
            ("I\u00b2 (%)", f"{pooled.I2:.1f}", *(f"{v:.1f}" for v in pooled.I2_ci)),
            ("H\u00b2", f"{pooled.H2:.2f}", *(f"{v:.2f}" for v in pooled.H2_ci))]
    frame = pd.DataFrame(rows, columns=["", "Estimate", "Lower limit", "Upper limit"])
    return ("<h2>Heterogeneity</h2><p class='meta'>Confidence intervals by the Q-profile "
            "method.</p>" + _table(frame))


def _trials(result: Any, labels: tuple[str, str]) -> str:
    out = "<h2>Trials</h2>" + results_table(result, labels=labels).to_html()
    if isinstance(result, TwoStageResult) and "ph_p" in result.per_trial:
        ph = result.per_trial[["trial", "ph_chisq", "ph_p"]].copy()
        ph["ph_chisq"] = ph["ph_chisq"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "")
        ph["ph_p"] = ph["ph_p"].map(lambda v: fmt_p(v, prefix=False))
        ph.columns = ["Trial", "\u03c7\u00b2 (1 df)", "p"]
        out += ("<h3>Proportional hazards (treatment; Grambsch-Therneau, R's cox.zph)</h3>"
                + _table(ph))
    return out


def _interaction_rows(inter: InteractionResult) -> pd.DataFrame:
    t = inter.per_trial
    return pd.DataFrame({
        "Trial": t["trial"], "N": t.get("n", ""),
        "Interaction (95% CI)": [minus(fmt_ci(e, lo, hi, digits=3)) for e, lo, hi in
                                 zip(t["estimate"], t["ci_low"], t["ci_high"])],
        "Weight (%)": [f"{w:.1f}" for w in t["weight"]]})


def _excluded(frame: pd.DataFrame) -> str:
    if not len(frame):
        return "<h2>Excluded trials</h2><p class='meta'>(none)</p>"
    view = frame[["trial", "message"]].rename(columns={"trial": "Trial", "message": "Reason"})
    return "<h2>Excluded trials</h2>" + _table(view)


def _body(result: Any, pooled: PoolResult, source: str | None,
          labels: tuple[str, str]) -> list[str]:
    esc = html.escape
    parts = ["<h2>Result</h2>", _table(pooled_table(pooled))]
    parts.append("<h2>Forest plot</h2><div class='figure'>" + _svg(result, source) + "</div>")
    if isinstance(result, (TwoStageResult, InteractionResult)):
        parts.append(_trials(result, labels) if isinstance(result, TwoStageResult)
                     else "<h2>Trials</h2>" + _table(_interaction_rows(result)))
        parts.append(_excluded(result.excluded))
    else:
        parts.append(_trials(result, labels))
    if isinstance(result, TwoStageResult):
        if result.subgroups:
            rows = [pooled_table(r, label=f"{result.subgroup} = {lev}")
                    for lev, r in result.subgroups.items()]
            parts.append("<h2>Subgroups</h2>" + _table(pd.concat(rows, ignore_index=True)))
        if result.subgroup_test is not None:
            st = result.subgroup_test
            parts.append(f"<p>Test for subgroup differences ({esc(str(result.subgroup))}): "
                         f"Q = {st.Q:.2f}, df = {st.df}, {esc(fmt_p(st.p))}</p>")
        if result.interaction is not None:
            inter = result.interaction
            parts.append(f"<h2>Interaction: treatment \u00d7 {esc(inter.covariate)}</h2>")
            parts.append(_table(pooled_table(inter.pooled, label="Within-trial interaction")))
            parts.append("<div class='figure'>" + _svg(inter, source) + "</div>")
            parts.append(_table(_interaction_rows(inter)))
    parts.append(_heterogeneity(pooled))
    return parts


def analysis_report(result: PoolResult | TwoStageResult | InteractionResult, *,
                    title: str | None = None, description: str | None = None,
                    source: Any = None,
                    arm_labels: tuple[str, str] = ("Treatment", "Control")) -> str:
    """Render ``result`` as a self-contained HTML page (see the module docstring).

    ``source`` (a :class:`analyses.provenance.DataSource` or a text) says where the data came
    from: the release version and data hash are printed under the title and on the figures.
    ``arm_labels`` head the per-arm columns of the trials table.
    """
    if not isinstance(result, (PoolResult, TwoStageResult, InteractionResult)):
        raise AnalysisProblem(f"cannot report a {type(result).__name__}", reason=Reason.WRONG_TYPE)
    title = str(title or getattr(result, "title", "Meta-analysis"))
    pooled = result.pooled if isinstance(result, (TwoStageResult, InteractionResult)) else result
    caption = source.caption() if hasattr(source, "caption") else source
    notes = list(result._notes())
    if isinstance(result, TwoStageResult):
        notes += list(pooled.notes)
    # the sections are built by this module with every value escaped: trusted markup
    sections = [Markup(part) for part in _body(result, pooled, caption, arm_labels)]
    return render("analyses/report.html.j2", title=title, caption=caption,
                  description=description, headline=result._headline(), sections=sections,
                  methods=describe_methods(result), notes=notes, versions=software_versions())


def write_report(result: PoolResult | TwoStageResult | InteractionResult, path: str | Path, *,
                 title: str | None = None, description: str | None = None,
                 source: Any = None,
                 arm_labels: tuple[str, str] = ("Treatment", "Control")) -> Path:
    """Write :func:`analysis_report` to ``path``; returns the path."""
    text = analysis_report(result, title=title, description=description, source=source,
                           arm_labels=arm_labels)
    with writing(path, "the report") as p:
        p.write_text(text, encoding="utf-8")
    return p
