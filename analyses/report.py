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

import io
import math
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
from repository.html import Markup, Table, fragment, render, table
from repository.software import software_versions as versions_of

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
    return versions_of(("ipdrepo", "numpy", "scipy", "pandas", "matplotlib", "lifelines"))


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


def _journal(frame: pd.DataFrame | None) -> Table | None:
    """``frame`` for the report's journal tables (floats to 4 significant digits); None for
    no rows (shown as "(none)")."""
    if frame is None or len(frame) == 0:
        return None
    return table(frame.map(lambda x: f"{x:.4g}" if isinstance(x, float) and math.isfinite(x)
                           else x))


def _svg(result: Any, source: str | None) -> Markup:
    import matplotlib

    fig = forest_plot(result, source=source)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    start = text.find("<svg")
    # matplotlib's drawing: the labels in it are escaped by matplotlib
    return Markup(text[start:] if start >= 0 else text)


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


def _heterogeneity(pooled: PoolResult) -> Table | None:
    if (pooled.tau2_ci is None or pooled.tau_ci is None or pooled.I2_ci is None
            or pooled.H2_ci is None or pooled.tau2 is None or pooled.tau is None):
        return None
    rows = [("\u03c4\u00b2", fmt_tau2(pooled.tau2), *(fmt_tau2(v) for v in pooled.tau2_ci)),
            ("\u03c4", f"{pooled.tau:.4f}", *(f"{v:.4f}" for v in pooled.tau_ci)),
            ("I\u00b2 (%)", f"{pooled.I2:.1f}", *(f"{v:.1f}" for v in pooled.I2_ci)),
            ("H\u00b2", f"{pooled.H2:.2f}", *(f"{v:.2f}" for v in pooled.H2_ci))]
    return _journal(pd.DataFrame(rows, columns=["", "Estimate", "Lower limit", "Upper limit"]))


def _ph_table(result: Any) -> Table | None:
    """The per-trial proportional-hazards tests of a two-stage Cox analysis, if any."""
    if not (isinstance(result, TwoStageResult) and "ph_p" in result.per_trial):
        return None
    ph = result.per_trial[["trial", "ph_chisq", "ph_p"]].copy()
    ph["ph_chisq"] = ph["ph_chisq"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "")
    ph["ph_p"] = ph["ph_p"].map(lambda v: fmt_p(v, prefix=False))
    ph.columns = ["Trial", "\u03c7\u00b2 (1 df)", "p"]
    return _journal(ph)


def _interaction_rows(inter: InteractionResult) -> pd.DataFrame:
    t = inter.per_trial
    return pd.DataFrame({
        "Trial": t["trial"], "N": t.get("n", ""),
        "Interaction (95% CI)": [minus(fmt_ci(e, lo, hi, digits=3)) for e, lo, hi in
                                 zip(t["estimate"], t["ci_low"], t["ci_high"])],
        "Weight (%)": [f"{w:.1f}" for w in t["weight"]]})


def _excluded(frame: pd.DataFrame) -> Table | None:
    if not len(frame):
        return None
    return _journal(frame[["trial", "message"]].rename(columns={"trial": "Trial",
                                                                "message": "Reason"}))


def _subgroup_sections(result: TwoStageResult) -> dict[str, Any]:
    """The subgroup table and test of a two-stage result (None where it has none)."""
    st = result.subgroup_test
    rows = [pooled_table(r, label=f"{result.subgroup} = {lev}")
            for lev, r in result.subgroups.items()]
    return {"subgroups": _journal(pd.concat(rows, ignore_index=True)) if rows else None,
            "subgroup_test": None if st is None else {
                "by": str(result.subgroup), "Q": f"{st.Q:.2f}", "df": st.df, "p": fmt_p(st.p)}}


def _body(result: Any, pooled: PoolResult, source: str | None,
          labels: tuple[str, str]) -> Markup:
    """The report's sections (``templates/analyses/report_body.html.j2``)."""
    two_stage = isinstance(result, TwoStageResult)
    interaction = result.interaction if two_stage else None
    context: dict[str, Any] = {
        "pooled": _journal(pooled_table(pooled)), "forest": _svg(result, source),
        "trials": (None if isinstance(result, InteractionResult)
                   else results_table(result, labels=labels).html()),
        "interaction_trials": (_journal(_interaction_rows(result))
                               if isinstance(result, InteractionResult) else None),
        "ph": _ph_table(result),
        "show_excluded": isinstance(result, (TwoStageResult, InteractionResult)),
        "excluded": (_excluded(result.excluded)
                     if isinstance(result, (TwoStageResult, InteractionResult)) else None),
        "subgroups": None, "subgroup_test": None,
        "interaction": None if interaction is None else {
            "covariate": interaction.covariate,
            "pooled": _journal(pooled_table(interaction.pooled,
                                            label="Within-trial interaction")),
            "forest": _svg(interaction, source),
            "trials": _journal(_interaction_rows(interaction))},
        "heterogeneity": _heterogeneity(pooled)}
    if two_stage:
        context.update(_subgroup_sections(result))
    return fragment("analyses/report_body.html.j2", **context)


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
    sections = [_body(result, pooled, caption, arm_labels)]
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
