"""Checking harmonised trials: validation, integrity checks and cell problems -> data queries.

:func:`check_trials` harmonises the trials
(:func:`~harmonise.pipeline.harmonising.harmonise_trial`), validates them together (the checks
compiled from the dictionary), runs the trial-integrity checks and turns every failure and every cell the mapping could not transform into a
:class:`~harmonise.queries.lifecycle.Finding` (:func:`findings_for`), which it syncs with the
trial's data queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from harmonise.checks.integrity import ArmInfo, IntegrityContext, SurvivalSpec, run_checks
from harmonise.checks.validation import checks_run, validate_by
from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.spec import Mapping
from harmonise.pipeline.harmonising import (
    Progress,
    TrialRun,
    harmonise_trial,
    load_topic_dictionary,
)
from harmonise.queries.lifecycle import Finding, sync_queries
from harmonise.values.cells import canonical_text
from harmonise.values.problems import REASONS
from repository.deliveries import current_delivery
from repository.errors import HarmonisationError
from repository.models import Trial
from repository.store import Store
from repository.trials import get_trial

__all__ = ["check_trials", "check_trial", "integrity_context", "findings_for"]


def integrity_context(dictionary: Dictionary, trial: Trial) -> IntegrityContext:
    """What the integrity checks need, from the dictionary's roles and the trial registry."""
    treatment = dictionary.with_role("treatment")
    if not treatment:
        raise HarmonisationError(f"the dictionary {dictionary.topic} has no variable with role "
                                 "treatment; the integrity checks need the randomised arm.")
    arm_var = treatment[0]

    def code(value: str | None) -> Any:
        if value is None:
            return None
        return int(value) if arm_var.codes_are_integers else value

    arms = tuple(ArmInfo(code=code(a.harmonised) if a.harmonised is not None else a.code,
                         label=a.label, ratio=a.ratio, published_n=a.randomised_published)
                 for a in trial.arms)
    tte = [o for o in dictionary.outcomes if o.kind == "time_to_event"]
    rand_date = next((o.origin for o in tte if o.origin), None)
    post = {name for o in dictionary.outcomes for name in o.variables} | {
        v.name for v in dictionary.with_role("outcome")}
    baseline = tuple((v.name, v.type in ("categorical", "boolean"))
                     for v in dictionary.variables
                     if v.role in ("covariate", "stratifier") and v.name not in post
                     and v.type in ("integer", "decimal", "categorical", "boolean"))
    later = tuple(dict.fromkeys(
        [d for o in tte for d in (o.event_date, o.censor_date) if d] +
        [v.name for v in dictionary.with_role("outcome") if v.type in ("date", "datetime")]))
    follow_up = tuple(dict.fromkeys([d for o in tte for d in (o.censor_date, o.time) if d]))
    return IntegrityContext(
        trial=trial.acronym, arm_variable=arm_var.name, arms=arms,
        id_variable=dictionary.id_variable.name, rand_date=rand_date, baseline=baseline,
        later_dates=later, follow_up=follow_up,
        survival=tuple(SurvivalSpec(o.name, o.time, o.event) for o in tte if o.time and o.event))


def _source_columns(mapping: Mapping, variable: str, seen: set[str] | None = None) -> list[str]:
    """The trial's own columns behind a harmonised variable (through derived variables)."""
    seen = seen if seen is not None else set()
    if variable in seen or variable not in mapping:
        return []
    seen.add(variable)
    rule = mapping.rule(variable)
    cols = list(rule.columns())
    for v in rule.variables():
        cols += [c for c in _source_columns(mapping, v, seen) if c not in cols]
    return cols


def _raw_values(raw: pd.DataFrame, columns: Sequence[str], row: int | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {c: canonical_text(raw[c].iloc[row - 1]) for c in columns if c in raw.columns}


def _follow_up_variables(dictionary: Dictionary) -> set[str]:
    return {v for o in dictionary.outcomes if o.kind == "time_to_event"
            for v in (o.censor_date, o.time) if v}


def findings_for(run: TrialRun, dictionary: Dictionary, mapping: Mapping,
                 corrected_raw: pd.DataFrame, id_column: str) -> list[Finding]:
    """Every failure of a checked trial as a query-ready :class:`Finding`."""
    findings: list[Finding] = []
    trial = run.trial
    if run.validation is not None:
        for f in run.validation.failures.itertuples(index=False):
            variables = [v.strip() for v in str(f.variable).split(",")]
            cols: list[str] = []
            for v in variables:
                cols += [c for c in _source_columns(mapping, v) if c not in cols]
            row = None if pd.isna(f.row) else int(f.row)
            findings.append(Finding(
                trial=trial, check_id=f.check, source="validation", message=f.message,
                participant=f.participant_id, variable=f.variable, severity=f.severity,
                value=f.value, rows=(row,) if row else (), source_columns=tuple(cols),
                raw_values=_raw_values(corrected_raw, cols, row)))
    for p in run.harmonised.problems.itertuples(index=False):
        row = None if pd.isna(p.row) else int(p.row)
        cols = [c.strip() for c in str(p.columns or "").split(",") if c.strip()]
        findings.append(Finding(
            trial=trial, check_id=f"mapping:{p.reason}", source="mapping", message=p.message,
            participant=None if pd.isna(p.participant_id) else p.participant_id,
            variable=p.variable, value=None if pd.isna(p.value) else str(p.value),
            rows=(row,) if row else (), source_columns=tuple(cols),
            raw_values=_raw_values(corrected_raw, cols, row)))
    flagged = {f.participant for f in findings if f.participant}
    for f in run.integrity:
        if not f.failed:
            continue
        if f.check == "dates-after-randomisation" and set(f.participants) <= flagged:
            continue  # each participant already has a query from the dictionary's date rules
        if f.check == "ids" and f.participants:
            # one query per row: the trial may answer differently for each (a typing error in
            # one, the other correct)
            data = run.data
            for pid in f.participants:
                rows = tuple(int(r) for r in data.loc[data["participant_id"] == pid, "_row"])
                for occurrence, row in enumerate(rows, start=1):
                    others = ", ".join(str(r) for r in rows if r != row)
                    findings.append(Finding(
                        trial=trial, check_id="integrity:ids", source="integrity",
                        severity=f.severity, participant=pid, variable="participant_id",
                        message=f"the participant ID on row {row} is also on row(s) {others}; "
                                "is it this participant's ID?",
                        value=None, rows=(row,), source_columns=(id_column,),
                        raw_values=_raw_values(corrected_raw, [id_column], row),
                        occurrence=occurrence))
            continue
        if f.check == "missingness-by-arm" and f.variable in _follow_up_variables(dictionary):
            # missing follow-up: ask for each participant's value, not just about the pattern
            data = run.data
            missing = data[f.variable].isna().to_numpy()
            follow = tuple(_source_columns(mapping, f.variable))
            for pid, row in zip(data.loc[missing, "participant_id"], data.loc[missing, "_row"]):
                findings.append(Finding(
                    trial=trial, check_id="integrity:missingness-by-arm", source="integrity",
                    severity=f.severity, participant=pid, variable=f.variable,
                    message=f"{f.variable} is missing ({f.message}); please give it",
                    value=None, rows=(int(row),), source_columns=follow,
                    raw_values=_raw_values(corrected_raw, follow, int(row))))
            continue
        findings.append(Finding(
            trial=trial, check_id=f"integrity:{f.check}", source="integrity",
            severity=f.severity, participant=None, variable=f.variable, message=f.message,
            value=None, rows=tuple(f.rows[:50]),
            source_columns=tuple(_source_columns(mapping, f.variable)) if f.variable else ()))
    return findings


def check_trials(store: Store, trials: Sequence[str], *, dictionary: Dictionary | None = None,
                 raise_queries: bool = True, write: bool = True,
                 progress: Progress | None = None) -> list[TrialRun]:
    """Harmonise, validate and check trials; sync their data queries (curators).

    The trials are validated together in one pass over their pooled rows (the cost of
    a pass hardly depends on the number of rows), then reported per trial.
    """
    dictionary = dictionary or load_topic_dictionary(store)
    runs = [harmonise_trial(store, t, dictionary=dictionary, write=write, progress=progress)
            for t in trials]
    if progress:
        progress("validating")
    pooled = pd.concat([r.data for r in runs], ignore_index=True) if runs else pd.DataFrame()
    validations = validate_by(pooled, dictionary, by="trial") if runs else {}
    out = []
    for run in runs:
        validation = validations.get(run.trial) or validate_by(run.data, dictionary)[run.trial]
        with store.reading() as session:
            trial_row = get_trial(session, store.topic(session), run.trial)
            context = integrity_context(dictionary, trial_row)
            id_column = current_delivery(trial_row).id_column
        integrity = tuple(run_checks(run.data, context))
        run = replace(run, validation=validation, integrity=integrity)
        findings = tuple(findings_for(run, dictionary, run.harmonised.mapping,
                                      run.harmonised.raw, id_column))
        run = replace(run, findings=findings)
        if raise_queries:
            ran = list(checks_run(validation)) + [f"integrity:{f.check}" for f in integrity
                                                  if f.status != "skipped"]
            ran += [f"mapping:{reason}" for reason in REASONS]
            with store.transaction() as session:
                topic = store.topic(session)
                report = sync_queries(session, topic, get_trial(session, topic, run.trial),
                                      findings, checks_run=ran, actor=store.settings.actor,
                                      delivery_id=run.inputs.delivery_id)
            run = replace(run, queries=report)
        out.append(run)
    return out


def check_trial(store: Store, trial: str, *, dictionary: Dictionary | None = None,
                raise_queries: bool = True, write: bool = True,
                progress: Progress | None = None) -> TrialRun:
    """:func:`check_trials` for one trial."""
    return check_trials(store, [trial], dictionary=dictionary, raise_queries=raise_queries,
                        write=write, progress=progress)[0]
