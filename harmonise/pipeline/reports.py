"""HTML reports: one per trial (harmonisation and validation) and a topic overview.

Self-contained pages (inline CSS and SVG plots) that a curator can e-mail or archive, rendered
from the templates of ``repository/html/templates/harmonise/`` (autoescaped, the one style):

* trial report: inputs and their hashes; per-variable summary by arm (n, missing, mean/SD or
  category counts); values that are not categories of the dictionary; mapping rules with their
  status and problems; validation checks (passed / failed / not tested) and every failure;
  trial-integrity checks; the follow-up plot (reverse Kaplan-Meier by arm); the trial's queries.
* topic overview: trials x variables availability (mapped / impossible / undetermined / no
  mapping), rows and failures per trial, integrity results per trial and check, queries by status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harmonise.checks.integrity import CHECKS, reverse_km
from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.pipeline.followup_plot import followup_svg
from harmonise.pipeline.harmonising import TrialRun, load_topic_dictionary, write_text
from harmonise.queries.lifecycle import list_queries, query_to_dict
from repository.html import Markup, cell, render, table
from repository.store import Store

__all__ = ["trial_report", "topic_overview", "availability_matrix", "variable_summary",
           "write_reports"]


def variable_summary(data: pd.DataFrame, dictionary: Dictionary, arm: str,
                     arm_labels: Mapping[Any, str]) -> pd.DataFrame:
    """Per variable and arm: n, missing, and mean (SD) / median or category counts (most
    frequent first, ties in order of appearance). Each column is read once into numpy (its
    missing values and distinct values found on its array, without a Series per step) and split
    by arm with boolean masks."""
    rows = []
    arms = list(arm_labels)
    in_arm = {a: (data[arm] == a).to_numpy(dtype=bool, na_value=False) for a in arms}
    for v in dictionary.variables:
        if v.role in ("id", "trial") or v.name not in data.columns:
            continue
        row: dict[str, Any] = {"variable": v.name, "type": v.type}
        column = data[v.name]
        present = ~np.asarray(pd.isna(column.array), dtype=bool)
        describe = _describer(column, present, v)
        for a in arms:
            rows_of_arm = in_arm[a]
            n = int(np.count_nonzero(present & rows_of_arm))
            row[f"{arm_labels[a]}: n"] = n
            row[f"{arm_labels[a]}: missing"] = int(np.count_nonzero(rows_of_arm)) - n
            row[f"{arm_labels[a]}: summary"] = describe(present & rows_of_arm) if n else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _describer(column: pd.Series, present: np.ndarray, v: Variable) -> Callable[[np.ndarray], str]:
    """A function from a mask of present values to their summary text."""
    if v.type in ("integer", "decimal"):
        numbers = column.to_numpy(dtype=float, na_value=np.nan)

        def numeric(mask: np.ndarray) -> str:
            x = numbers[mask]
            sd = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
            return (f"{x.mean():.1f} ({sd:.1f}); median {float(np.median(x)):g} "
                    f"[{x.min():g}, {x.max():g}]")
        return numeric
    if v.type in ("date", "datetime"):
        stamps = (column if column.dtype == "datetime64[ns]" else pd.to_datetime(column)
                  ).to_numpy(dtype="datetime64[ns]")

        def dates(mask: np.ndarray) -> str:
            d = stamps[mask]
            return f"{pd.Timestamp(d.min()).date()} to {pd.Timestamp(d.max()).date()}"
        return dates
    codes, uniques = column.array.factorize(use_na_sentinel=True)
    if v.type in ("categorical", "boolean"):
        labels = {c.code: c.label for c in v.categories}
        names = [labels.get(u, u) for u in uniques]

        def counts(mask: np.ndarray) -> str:
            n = np.bincount(codes[mask], minlength=len(uniques))
            order = np.argsort(-n, kind="stable")  # uniques are in order of appearance
            return "; ".join(f"{names[i]}: {n[i]}" for i in order if n[i])
        return counts
    return lambda mask: f"{len(np.unique(codes[mask]))} distinct"


def _followup_svg(data: pd.DataFrame, dictionary: Dictionary, arm: str,
                  arm_labels: Mapping[Any, str]) -> tuple[Markup | None, str]:
    """(the follow-up plot as inline SVG, or None with the reason there is none)."""
    tte = [o for o in dictionary.outcomes if o.kind == "time_to_event" and o.time and o.event]
    if not tte:
        return None, "No time-to-event outcome in the dictionary."
    o = tte[0]
    frame = data[[o.time, o.event, arm]].dropna()
    frame = frame[pd.to_numeric(frame[o.time], errors="coerce") >= 0]
    if len(frame) < 5 or frame[arm].nunique() < 1:
        return None, "Not enough follow-up data for a plot."
    times = frame[o.time].to_numpy(float)
    events = frame[o.event].to_numpy(float)
    arms = sorted(frame[arm].unique(), key=lambda v: (str(type(v)), v))
    curves = {str(arm_labels.get(a, a)): reverse_km(times[(frame[arm] == a).to_numpy()],
                                                     events[(frame[arm] == a).to_numpy()])
              for a in arms}
    # followup_svg escapes every text it draws: its SVG is trusted markup
    return Markup(followup_svg(curves, title=f"Follow-up for {o.label or o.name} (reverse "
                               "Kaplan-Meier: censoring as the event)",
                               xlabel=f"Days since {o.origin or 'randomisation'}")), ""


def trial_report(run: TrialRun, *, queries: Sequence[Mapping[str, Any]] = (),
                 arm_labels: Mapping[Any, str] | None = None) -> str:
    """The HTML report of one checked trial (a
    :class:`~harmonise.pipeline.harmonising.TrialRun`), from
    ``repository/html/templates/harmonise/trial_report.html.j2``."""
    harmonised = run.harmonised
    dictionary: Dictionary = harmonised.dictionary
    data = harmonised.data
    arm = dictionary.with_role("treatment")[0]
    labels = dict(arm_labels) if arm_labels else {c.code: c.label for c in arm.categories}
    inputs = pd.DataFrame([{"input": k, "value": v if not isinstance(v, list)
                            else ", ".join(map(str, v))} for k, v in run.inputs.to_dict().items()])
    v = run.validation
    not_in = None
    if v is not None:
        cats = v.failures[v.failures["check"].str.startswith("category:")]
        not_in = table(cats.groupby(["variable", "value"]).size().reset_index(name="rows")
                       if not cats.empty else pd.DataFrame())
    integrity = None
    if run.integrity:
        integrity = table(pd.DataFrame([
            {"check": f.check, "title": CHECKS[f.check].title, "status": f.status,
             "severity": f.severity, "result": f.message, "threshold": CHECKS[f.check].threshold}
            for f in run.integrity]), status_column="status")
    svg, note = _followup_svg(data, dictionary, arm.name, labels)
    return render(
        "harmonise/trial_report.html.j2",
        title=f"Trial {run.trial}: harmonisation and validation report",
        inputs=table(inputs), n_rows=harmonised.n_rows, n_problems=len(harmonised.problems),
        n_failures=len(v.failures) if v is not None else 0,
        n_failed_checks=int((v.checks["status"] == "failed").sum()) if v is not None else 0,
        n_integrity_failed=sum(1 for f in run.integrity if f.failed),
        n_corrections=sum(c.applied for c in run.corrections),
        variables=table(variable_summary(data, dictionary, arm.name, labels)),
        not_categories=not_in,
        rules=table(harmonised.summary, status_column="status"),
        problems=table(harmonised.problems, limit=200),
        checks=table(v.checks, status_column="status") if v is not None else None,
        failures=table(v.failures, limit=500) if v is not None else None,
        integrity=integrity, followup_svg=svg, followup_note=note,
        queries=table(pd.DataFrame(list(queries))[
            ["id", "status", "resolution", "participant", "variable", "check", "question"]])
        if queries else None)


def availability_matrix(dictionary: Dictionary, mappings: Mapping[str, Any]) -> pd.DataFrame:
    """Trials x variables: the status of each variable's rule (mapped / impossible /
    undetermined / no mapping)."""
    rows = []
    for trial, mapping in mappings.items():
        row: dict[str, Any] = {"trial": trial}
        for var in dictionary.variables:
            if var.role == "trial":  # filled in from the registry, never mapped
                continue
            if mapping is None or var.name not in mapping:
                row[var.name] = "none"
            else:
                status = mapping.rule(var.name).status
                row[var.name] = "mapped" if status == "complete" else status
        rows.append(row)
    return pd.DataFrame(rows)


def _by_trial(frame: pd.DataFrame, *, named: bool = False) -> dict[str, Any]:
    """A trials x columns frame for the overview's grids: its columns, and per trial a row of
    cells (``(column, value)`` pairs when ``named``)."""
    cols = [str(c) for c in frame.columns if c != "trial"]
    rows = [(rec["trial"], [(c, cell(rec[c])) if named else cell(rec[c]) for c in cols])
            for rec in frame.to_dict("records")]
    return {"columns": cols, "rows": rows}


def topic_overview(dictionary: Dictionary, runs: Sequence[Any], mappings: Mapping[str, Any], *,
                   queries: Sequence[Mapping[str, Any]] = ()) -> str:
    """The topic overview page over checked trials (``harmonise/topic_overview.html.j2``)."""
    per_trial = pd.DataFrame([{
        "trial": r.trial, "rows": r.harmonised.n_rows,
        "mapping problems": len(r.harmonised.problems),
        "validation failures": len(r.validation.failures) if r.validation is not None else None,
        "integrity failed": ", ".join(f.check for f in r.integrity if f.failed),
        "integrity skipped": ", ".join(f.check for f in r.integrity if f.status == "skipped"),
        "corrections applied": sum(c.applied for c in r.corrections)} for r in runs])
    grid = None
    if runs:
        frame = pd.DataFrame([{**{"trial": r.trial}, **{f.check: f.status for f in r.integrity}}
                              for r in runs])
        grid = _by_trial(frame)
        grid["columns"] = ["trial", *grid["columns"]]
    by_status = None
    if queries:
        q = pd.DataFrame(list(queries))
        by_status = table(q.pivot_table(index="trial", columns="status", values="id",
                                        aggfunc="count", fill_value=0).reset_index())
    return render(
        "harmonise/topic_overview.html.j2",
        title=f"Topic {dictionary.topic}: harmonisation overview", topic=dictionary.topic,
        version=dictionary.version, n_variables=len(dictionary.variables),
        n_rules=len(dictionary.rules), n_trials=len(runs),
        matrix=_by_trial(availability_matrix(dictionary, mappings), named=True),
        trials=table(per_trial), grid=grid, queries=by_status)


def write_reports(store: Store, runs: Sequence[TrialRun],
                  out: Path | None = None) -> list[Path]:
    """HTML report of each checked trial and the topic overview (``index.html``, last)."""
    out = out or store.settings.workspace / "reports"
    out.mkdir(parents=True, exist_ok=True)
    dictionary = runs[0].harmonised.dictionary if runs else load_topic_dictionary(store)
    with store.reading() as session:
        queries = [query_to_dict(session, q) for q in
                   list_queries(session, store.topic(session), actor=store.settings.actor)]
    written = []
    for run in runs:
        page = trial_report(run, queries=[q for q in queries if q["trial"] == run.trial])
        written.append(write_text(out / f"{run.trial}.html", page))
    mappings = {r.trial: r.harmonised.mapping for r in runs}
    overview = topic_overview(dictionary, runs, mappings, queries=queries)
    index = write_text(out / "index.html", overview)
    return [*written, index]
