"""The harmonisation pipeline on a workspace: deliveries + mappings + corrections -> checked data.

For each trial: the current delivery (read back byte for byte from the store), the trial's
mapping for the dictionary's version, and the trial's active corrections give the harmonised
table - a pure function of the three, so re-running gives identical bytes
(``harmonised/<TRIAL>.parquet`` with a JSON sidecar naming every input's hash). Validation
(Pandera, compiled from the dictionary), the trial-integrity checks and the mapping's cell
problems then become :class:`~harmonise.queries.Finding` s, which :func:`check_trial` turns into
data queries.

Layout inside the workspace::

    harmonised/<TRIAL>.parquet   the trial on the dictionary (pseudonymised IDs)
    harmonised/<TRIAL>.json      inputs (hashes), per-variable summary, cell problems
    harmonised/topic.parquet     all trials pooled (written by :func:`pool`)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harmonise.corrections import (
    AppliedCorrection,
    active_corrections,
    apply_corrections,
    carry_forward,
)
from harmonise.dictionary import Dictionary, load_dictionary
from harmonise.engine import apply_mapping
from harmonise.harmonised import HarmonisedTrial
from harmonise.integrity import (
    ArmInfo,
    IntegrityContext,
    IntegrityFinding,
    SurvivalSpec,
    run_checks,
)
from harmonise.mapping import Mapping, load_mapping, mapping_path
from harmonise.problems import REASONS
from harmonise.queries import Finding, SyncReport, sync_queries
from harmonise.validation import ValidationResult, checks_run, validate_by
from harmonise.values import canonical_text
from repository.deliveries import load_delivery, pseudonymised_ids
from repository.errors import HarmonisationError, NotFound
from repository.formats import RawTable
from repository.models import Delivery, Trial
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial, list_trials, lock_trial

__all__ = [
    "Inputs",
    "TrialRun",
    "load_topic_dictionary",
    "load_trial_mapping",
    "current_delivery",
    "harmonise_trial",
    "check_trial",
    "check_trials",
    "release_inputs",
    "write_reports",
    "integrity_context",
    "findings_for",
    "pool",
    "harmonised_dir",
]

Progress = Callable[[str], None]


def harmonised_dir(store: Store) -> Path:
    return store.settings.workspace / "harmonised"


def load_topic_dictionary(store: Store) -> Dictionary:
    directory = store.settings.dictionary_dir
    if directory is None or not (directory / "dictionary.yaml").is_file():
        raise NotFound(f"no topic dictionary at {directory}/dictionary.yaml; point the workspace "
                       "at one with IPDREPO_DICTIONARY or `dictionary = \"DIR\"` in ipdrepo.toml.",
                       file=str(directory))
    return load_dictionary(directory)


def load_trial_mapping(store: Store, dictionary: Dictionary, trial: str) -> Mapping:
    directory = store.settings.dictionary_dir
    assert directory is not None
    path = mapping_path(directory, dictionary.version, trial)
    if not path.is_file():
        raise NotFound(f"trial {trial} has no mapping for dictionary {dictionary.version}: "
                       f"expected {path}. Write one (docs/mapping-format.md) and check it with "
                       f"`ipdrepo mapping check {trial}`.", trial=trial, file=str(path))
    return load_mapping(path, dictionary)


def current_delivery(trial: Trial, dataset: str = "main") -> Delivery:
    current = [d for d in trial.deliveries if d.is_current and d.dataset == dataset]
    if not current:
        raise NotFound(f"trial {trial.acronym} has no {dataset!r} delivery yet; ingest one with "
                       f"`ipdrepo ingest {trial.acronym} FILE`.", trial=trial.acronym)
    return current[-1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Inputs:
    """What a harmonised trial is a function of."""

    trial: str
    delivery_id: int
    delivery_sha256: str
    mapping_file: str
    mapping_sha256: str
    dictionary_version: str
    dictionary_sha256: str
    corrections: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "delivery_id": self.delivery_id,
                "delivery_sha256": self.delivery_sha256, "mapping_file": self.mapping_file,
                "mapping_sha256": self.mapping_sha256,
                "dictionary_version": self.dictionary_version,
                "dictionary_sha256": self.dictionary_sha256,
                "corrections": list(self.corrections)}


@dataclass(frozen=True)
class TrialRun:
    """One trial harmonised (and, after :func:`check_trial`, validated and checked)."""

    trial: str
    inputs: Inputs
    harmonised: HarmonisedTrial
    raw: RawTable = field(repr=False)
    corrections: tuple[AppliedCorrection, ...] = ()
    carried: dict[str, list[int]] = field(default_factory=dict)
    validation: ValidationResult | None = None
    integrity: tuple[IntegrityFinding, ...] = ()
    findings: tuple[Finding, ...] = ()
    queries: SyncReport | None = None
    path: Path | None = None

    @property
    def data(self) -> pd.DataFrame:
        return self.harmonised.data

    @property
    def failures(self) -> pd.DataFrame:
        """Validation failures (empty before :func:`check_trials`)."""
        if self.validation is None:
            return pd.DataFrame()
        return self.validation.failures

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trial": self.trial, "inputs": self.inputs.to_dict(),
            "rows": self.harmonised.n_rows, "mapping_problems": len(self.harmonised.problems),
            "corrections_applied": sum(c.applied for c in self.corrections),
            "corrections_not_applied": [c.__dict__ for c in self.corrections if not c.applied],
            "carried_forward": self.carried, "path": str(self.path) if self.path else None}
        if self.validation is not None:
            out["validation"] = self.validation.to_dict(failures=False)
            out["validation"]["failures"] = int(len(self.validation.failures))
        if self.integrity:
            out["integrity"] = [f.to_dict() for f in self.integrity]
        if self.queries is not None:
            out["queries"] = self.queries.to_dict()
        return out


def harmonise_trial(store: Store, trial: str, *, dictionary: Dictionary | None = None,
                    write: bool = True, progress: Progress | None = None) -> TrialRun:
    """Harmonise ``trial``'s current delivery with its mapping and active corrections.

    Writing the harmonised files is for curators (``harmonise.run``); reading the values
    (``write=False``, e.g. for ``explain``) also for the trial's own trialists (``data.read``).
    """
    say = progress or (lambda _m: None)
    actor = store.settings.actor
    with store.reading() as session:
        require(session, actor, "harmonise.run" if write else "data.read", trial=trial)
    dictionary = dictionary or load_topic_dictionary(store)
    mapping = load_trial_mapping(store, dictionary, trial)
    with store.reading() as session:
        topic = store.topic(session)
        trial_row = get_trial(session, topic, trial)
        delivery = current_delivery(trial_row)
        say(f"{trial}: reading {delivery.file_name}")
        raw = load_delivery(store, delivery)
        pseudonyms = pseudonymised_ids(store, topic.slug, trial, raw.frame[delivery.id_column])
        stale = [c for c in active_corrections(session, trial_row)
                 if c.delivery_id != delivery.id]
        delivery_id, delivery_sha, id_column = delivery.id, delivery.sha256, delivery.id_column
    carried: dict[str, list[int]] = {}
    if stale:  # the trial delivered again: carry corrections forward or flag them
        with store.transaction() as session:
            topic = store.topic(session)
            trial_row = get_trial(session, topic, trial)
            lock_trial(session, trial_row.id)  # another run carrying them at the same time
            current = session.get(Delivery, delivery_id)
            assert current is not None
            carried = carry_forward(session, topic, trial_row, delivery=current,
                                    frame=raw.frame, pseudonyms=pseudonyms, actor=actor)
    with store.reading() as session:
        corrections = active_corrections(session, get_trial(session, store.topic(session), trial))
        corrected, applied = apply_corrections(raw.frame, pseudonyms, corrections)
        correction_ids = tuple(c.id for c in corrections)
        topic_slug = store.topic(session).slug
    if any(a.applied and a.column == id_column for a in applied):
        # a corrected participant ID (e.g. a duplicate that was a typing error) is a new
        # participant: its pseudonym comes from the corrected ID
        pseudonyms = pseudonymised_ids(store, topic_slug, trial, corrected[id_column])
    say(f"{trial}: applying {mapping.file}")
    harmonised = apply_mapping(RawTable(frame=corrected, format=raw.format, columns=raw.columns,
                                        read_options=raw.read_options),
                               mapping, dictionary, trial=trial, participant_ids=pseudonyms)
    inputs = Inputs(trial=trial, delivery_id=delivery_id, delivery_sha256=delivery_sha,
                    mapping_file=str(mapping.file), mapping_sha256=_sha256(Path(mapping.file)),
                    dictionary_version=dictionary.version,
                    dictionary_sha256=_sha256(Path(dictionary.source)) if dictionary.source
                    else "", corrections=correction_ids)
    run = TrialRun(trial=trial, inputs=inputs, harmonised=harmonised, raw=raw,
                   corrections=tuple(applied), carried=carried)
    if write:
        path = _write(store, run)
        run = replace(run, path=path)
    return run


def _write(store: Store, run: TrialRun) -> Path:
    """Write the trial's parquet deterministically (fixed writer options, no timestamps)."""
    out = harmonised_dir(store)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run.trial}.parquet"
    table = pa.Table.from_pandas(run.data, preserve_index=False)
    table = table.replace_schema_metadata({"ipdrepo.inputs": json.dumps(run.inputs.to_dict(),
                                                                       sort_keys=True)})
    replace_atomically(path, lambda tmp: pq.write_table(
        table, tmp, compression="zstd", use_dictionary=True, write_statistics=True))
    side = {"inputs": run.inputs.to_dict(),
            "summary": json.loads(run.harmonised.summary.to_json(orient="records")),
            "problems": json.loads(run.harmonised.problems.to_json(orient="records"))}
    _write_text(out / f"{run.trial}.json", json.dumps(side, indent=1, sort_keys=True) + "\n")
    return path


def _write_text(path: Path, text: str) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_text(text))


def replace_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` through a temporary file of its own in the same directory, then rename
    it into place: two runs writing at once never share a temporary file, and a reader sees
    the old file or the new one, never half of one."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# --- checks -> findings -> queries -------------------------------------------------------------

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

    The trials are validated together in one Pandera pass over their pooled rows (the cost of
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


def write_reports(store: Store, runs: Sequence[TrialRun],
                  out: Path | None = None) -> list[Path]:
    """HTML report of each checked trial and the topic overview (``index.html``, last)."""
    from harmonise.queries import list_queries, query_to_dict
    from harmonise.reports import topic_overview, trial_report

    out = out or store.settings.workspace / "reports"
    out.mkdir(parents=True, exist_ok=True)
    dictionary = runs[0].harmonised.dictionary if runs else load_topic_dictionary(store)
    with store.reading() as session:
        queries = [query_to_dict(session, q) for q in
                   list_queries(session, store.topic(session), actor=store.settings.actor)]
    written = []
    for run in runs:
        page = trial_report(run, queries=[q for q in queries if q["trial"] == run.trial])
        written.append(_write_text(out / f"{run.trial}.html", page))
    mappings = {r.trial: r.harmonised.mapping for r in runs}
    overview = topic_overview(dictionary, runs, mappings, queries=queries)
    index = _write_text(out / "index.html", overview)
    return [*written, index]


def trials_with_data(store: Store) -> list[str]:
    with store.reading() as session:
        return [t.acronym for t in list_trials(session, store.topic(session))
                if any(d.is_current for d in t.deliveries)]


def pool(store: Store, trials: Sequence[str] | None = None) -> pd.DataFrame:
    """All harmonised trials in one frame (trial order), written to harmonised/topic.parquet."""
    names = list(trials) if trials is not None else trials_with_data(store)
    frames = []
    for name in names:
        path = harmonised_dir(store) / f"{name}.parquet"
        if not path.is_file():
            raise NotFound(f"trial {name} has not been harmonised yet; run `ipdrepo harmonise "
                           f"{name}`.", trial=name)
        frames.append(pd.read_parquet(path))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        table = pa.Table.from_pandas(data, preserve_index=False)
        replace_atomically(harmonised_dir(store) / "topic.parquet",
                           lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return data


def release_inputs(store: Store, topic: str | None = None) -> Any:
    """The topic's current state as :class:`versions.inputs.ReleaseInputs` (see
    :mod:`harmonise.release_inputs`)."""
    from harmonise.release_inputs import release_inputs as build

    return build(store, topic)
