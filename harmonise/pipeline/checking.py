"""Checking harmonised trials: validation, integrity checks and cell problems -> data queries.

:func:`check_trials` harmonises the trials
(:func:`~harmonise.pipeline.harmonising.harmonise_trial`), validates them together (the checks
compiled from the dictionary), runs the trial-integrity checks and turns every failure and
every cell the mapping could not transform into a
:class:`~harmonise.queries.questions.Finding` (:mod:`harmonise.pipeline.findings`), which it
groups into one question per root cause, words in the trial's terms
(:mod:`harmonise.pipeline.wording`) and syncs with the trial's data queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import pandas as pd

from harmonise.checks.integrity import ArmInfo, IntegrityContext, SurvivalSpec, run_checks
from harmonise.checks.tables import TableChecks, check_table, validate_table
from harmonise.checks.validation import ValidationResult, checks_run, validate_by
from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.pipeline.findings import CheckedTrial, findings_for
from harmonise.pipeline.harmonising import (
    Progress,
    TrialRun,
    harmonise_trial,
    load_topic_dictionary,
)
from harmonise.queries.lifecycle import Finding
from harmonise.values.problems import REASONS
from repository.deliveries import current_delivery
from repository.errors import HarmonisationError
from repository.models import Trial
from repository.store import Store
from repository.trials import get_trial

__all__ = ["check_trials", "check_trial", "integrity_context", "randomisation_date",
           "findings_of"]


def randomisation_date(dictionary: Dictionary) -> str | None:
    """The dictionary's randomisation date: the origin of its time-to-event outcomes, else its
    one date variable of role ``design`` (of several, the one named or labelled for
    randomisation), else None."""
    origins = [o.origin for o in dictionary.outcomes if o.kind == "time_to_event" and o.origin]
    if origins:
        return origins[0]
    dates = [v for v in dictionary.with_role("design") if v.type in ("date", "datetime")]
    if len(dates) == 1:
        return dates[0].name

    def randomisation(v: Variable) -> bool:
        return "rand" in v.name.lower() or "rand" in (v.label or "").lower()

    named = [v for v in dates if randomisation(v)]
    return named[0].name if named else None


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
    rand_date = randomisation_date(dictionary)
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


def findings_of(run: TrialRun, trial: CheckedTrial) -> list[Finding]:
    """Every failure of a checked run as findings (:mod:`harmonise.pipeline.findings`)."""
    failures = run.validation.failures if run.validation is not None else None
    return findings_for(trial, failures, run.harmonised.problems, run.integrity)


def check_trials(store: Store, trials: Sequence[str], *, dictionary: Dictionary | None = None,
                 raise_queries: bool = True, write: bool = True,
                 progress: Progress | None = None,
                 harmoniser: Callable[..., TrialRun] = harmonise_trial,
                 with_findings: bool = True) -> list[TrialRun]:
    """Harmonise, validate and check trials; sync their data queries (curators).

    The trials are validated together in one pass over their pooled rows (the cost of
    a pass hardly depends on the number of rows), then reported per trial. ``harmoniser``
    harmonises one trial (the reports pass
    :func:`~harmonise.pipeline.run_cache.harmonise_cached`). Without ``with_findings`` (only when
    not ``raise_queries``: what the HTML reports show) the runs' findings and long tables'
    checks are not computed (left empty).
    """
    if not with_findings and raise_queries:
        raise ValueError("syncing the data queries needs the findings")
    dictionary = dictionary or load_topic_dictionary(store)
    runs = [harmoniser(store, t, dictionary=dictionary, write=write, progress=progress)
            for t in trials]
    if progress:
        progress("validating")
    pooled = pd.concat([r.data for r in runs], ignore_index=True) if runs else pd.DataFrame()
    validations = validate_by(pooled, dictionary, by="trial") if runs else {}
    tables = _check_tables(runs, pooled, dictionary) if with_findings else {}
    out = []
    for run in runs:
        validation = validations.get(run.trial) or validate_by(run.data, dictionary)[run.trial]
        with store.reading() as session:
            trial_row = get_trial(session, store.topic(session), run.trial)
            context = integrity_context(dictionary, trial_row)
            id_column = current_delivery(trial_row,
                                         run.harmonised.mapping.source.dataset).id_column
            language = trial_row.language
        integrity = tuple(run_checks(run.data, context))
        run = replace(run, validation=validation, integrity=integrity,
                      table_checks=tables.get(run.trial, {}))
        if with_findings:
            checked = CheckedTrial(trial=run.trial, dictionary=dictionary,
                                   mapping=run.harmonised.mapping, raw=run.harmonised.raw,
                                   data=run.data, id_column=id_column, context=context,
                                   columns={c.name: c for c in run.raw.columns},
                                   language=language or "en")
            run = _found(store, run, checked, validation, raise_queries=raise_queries)
        out.append(run)
    return out


def _found(store: Store, run: TrialRun, checked: CheckedTrial, validation: ValidationResult,
           *, raise_queries: bool) -> TrialRun:
    """``run`` (validated and checked) with its findings, and its data queries synced when
    ``raise_queries``. The wording of questions and the query sync are imported here: the
    HTML reports, which need neither, do not load them."""
    from harmonise.pipeline.table_findings import table_findings
    from harmonise.pipeline.wording import word_group
    from harmonise.queries.sync import sync_queries

    rows = table_findings(checked, run.tables, run.table_checks)  # long tables' rows
    findings = tuple(findings_of(run, checked)) + rows.findings
    run = replace(run, findings=findings)
    if raise_queries:
        ran = list(checks_run(validation)) + [f"integrity:{f.check}" for f in run.integrity
                                                  if f.status != "skipped"]
        ran += [f"mapping:{reason}" for reason in REASONS] + list(rows.checks_run)
        with store.transaction() as session:
            topic = store.topic(session)
            report = sync_queries(session, topic, get_trial(session, topic, run.trial),
                                  findings, checks_run=ran, actor=store.settings.actor,
                                  delivery_id=run.inputs.delivery_id,
                                  wording=rows.wording(partial(word_group, trial=checked)))
        run = replace(run, queries=report)
    return run


def _check_tables(runs: Sequence[TrialRun], pooled: pd.DataFrame,
                  dictionary: Dictionary) -> dict[str, dict[str, TableChecks]]:
    """trial -> table -> the long table validated (every trial's rows in one pass) and checked."""
    out: dict[str, dict[str, TableChecks]] = {r.trial: {} for r in runs}
    for name in dictionary.table_names[1:]:
        parts = [r.tables[name].data for r in runs if name in r.tables]
        if not parts:
            continue
        data = pd.concat(parts, ignore_index=True)
        results = validate_table(data, pooled, dictionary, name) if len(data) else {}
        for run in runs:
            if name not in run.tables:
                continue
            mine = run.tables[name].data
            out[run.trial][name] = TableChecks(
                table=name, rows=len(mine), validation=results.get(run.trial),
                integrity=tuple(check_table(mine, run.data, dictionary, name, trial=run.trial)))
    return out


def check_trial(store: Store, trial: str, *, dictionary: Dictionary | None = None,
                raise_queries: bool = True, write: bool = True,
                progress: Progress | None = None) -> TrialRun:
    """:func:`check_trials` for one trial."""
    return check_trials(store, [trial], dictionary=dictionary, raise_queries=raise_queries,
                        write=write, progress=progress)[0]
