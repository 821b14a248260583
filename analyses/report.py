"""A self-contained HTML report of an analysis.

:func:`analysis_report` renders a :class:`~analyses.two_stage.TwoStageResult`,
:class:`~analyses.pooling.PoolResult` or :class:`~analyses.interactions.InteractionResult` as
one HTML page with no external resources: the forest plot as inline SVG, the pooled and
per-trial tables, excluded trials with reasons, subgroup and interaction results, a plain-words
description of the methods, notes, and the software versions that produced it.
:func:`write_report` writes it to a file.

Example::

    write_report(result, "report.html", title="GASTRIC: overall survival")
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from analyses.forest import forest_plot
from analyses.interactions import InteractionResult
from analyses.pooling import PoolResult
from analyses.two_stage import TwoStageResult
from repository.errors import AnalysisError

__all__ = ["analysis_report", "write_report", "describe_methods", "software_versions"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
.meta{color:#666;font-size:.85em} .figure svg{max-width:100%;height:auto}
ul.notes li{font-size:.9em}
"""

_MODEL_TEXT = {
    "cox": "a Cox proportional hazards model with Efron's handling of ties (log hazard ratio "
           "of treatment)",
    "logrank": "the log-rank statistic: observed minus expected events (O-E) in the treated "
               "arm and its hypergeometric variance V; Peto's log hazard ratio (O-E)/V",
    "logistic": "logistic regression (log odds ratio of treatment)",
    "2x2": "the trial's 2x2 table (events and participants per arm), with 1/2 added to every "
           "cell of a table that has a zero cell (metafor escalc convention)",
    "linear": "least squares (mean difference, or the ANCOVA treatment effect when adjusted "
              "for the baseline value)",
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
    return frame.to_html(index=index, border=0, na_rep="",
                         float_format=lambda x: f"{x:.4g}", escape=True)


def _svg(result: Any) -> str:
    fig = forest_plot(result)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def analysis_report(result: PoolResult | TwoStageResult | InteractionResult, *,
                    title: str | None = None, description: str | None = None) -> str:
    """Render ``result`` as a self-contained HTML page (see the module docstring)."""
    if not isinstance(result, (PoolResult, TwoStageResult, InteractionResult)):
        raise AnalysisError(f"cannot report a {type(result).__name__}", reason="bad_input")
    esc = html.escape
    title = str(title or getattr(result, "title", "Meta-analysis"))
    pooled = result.pooled if isinstance(result, (TwoStageResult, InteractionResult)) else result
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<p class='meta'>Generated {esc(_dt.datetime.now().isoformat(timespec='seconds'))}"
             " by ipdrepo</p>"]
    if description:
        parts.append(f"<p>{esc(description)}</p>")
    parts.append("<h2>Result</h2>")
    parts.append(_table(result.summary, index=True))
    parts.append("<h2>Forest plot</h2><div class='figure'>" + _svg(result) + "</div>")
    if isinstance(result, TwoStageResult):
        parts.append("<h2>Trials</h2>" + _table(result.per_trial))
        parts.append("<h2>Excluded trials</h2>" + _table(result.excluded))
        if result.subgroup_test is not None:
            st = result.subgroup_test
            parts.append(f"<p>Test for subgroup differences ({esc(str(result.subgroup))}): "
                         f"Q = {st.Q:.3f}, df = {st.df}, p = {st.p:.4f}</p>")
        if result.interaction is not None:
            inter = result.interaction
            parts.append(f"<h2>Interaction: treatment x {esc(inter.covariate)}</h2>")
            parts.append(_table(inter.summary, index=True))
            parts.append("<div class='figure'>" + _svg(inter) + "</div>")
            parts.append(_table(inter.per_trial))
    elif isinstance(result, InteractionResult):
        parts.append("<h2>Trials</h2>" + _table(result.per_trial))
        parts.append("<h2>Excluded trials</h2>" + _table(result.excluded))
    else:
        parts.append("<h2>Studies</h2>" + _table(result.studies))
    if (pooled.tau2_ci is not None and pooled.tau_ci is not None and pooled.I2_ci is not None
            and pooled.H2_ci is not None):
        ci = pd.DataFrame({"estimate": [pooled.tau2, pooled.tau, pooled.I2, pooled.H2],
                           "ci_low": [pooled.tau2_ci[0], pooled.tau_ci[0], pooled.I2_ci[0],
                                      pooled.H2_ci[0]],
                           "ci_high": [pooled.tau2_ci[1], pooled.tau_ci[1], pooled.I2_ci[1],
                                       pooled.H2_ci[1]]},
                          index=["tau^2", "tau", "I^2 (%)", "H^2"])
        parts.append("<h2>Heterogeneity</h2>" + _table(ci, index=True))
    parts.append("<h2>Methods</h2><ul>" + "".join(f"<li>{esc(s)}</li>"
                                                  for s in describe_methods(result)) + "</ul>")
    notes = list(result._notes())
    if isinstance(result, TwoStageResult):
        notes += list(pooled.notes)
    if notes:
        parts.append("<h2>Notes</h2><ul class='notes'>" + "".join(
            f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    versions = software_versions()
    parts.append("<h2>Software</h2><p class='meta'>" + ", ".join(
        f"{esc(k)} {esc(v)}" for k, v in versions.items()) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: PoolResult | TwoStageResult | InteractionResult, path: str | Path, *,
                 title: str | None = None, description: str | None = None) -> Path:
    """Write :func:`analysis_report` to ``path``; returns the path."""
    p = Path(path)
    p.write_text(analysis_report(result, title=title, description=description),
                 encoding="utf-8")
    return p
