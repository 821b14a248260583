"""Harmonising one trial on a workspace: delivery + mapping + corrections -> harmonised table.

For each trial: the current delivery (read back byte for byte from the store), the trial's
mapping for the dictionary's version, and the trial's active corrections give the harmonised
table - a pure function of the three, so re-running gives identical bytes
(``harmonised/<TRIAL>.parquet`` with a JSON sidecar naming every input's hash). Checking the
harmonised trials (validation, integrity, data queries) is :mod:`harmonise.pipeline.checking`.

Layout inside the workspace::

    harmonised/<TRIAL>.parquet   the trial on the dictionary (pseudonymised IDs), plus ``_row``:
                                 the delivery row each record came from (1 = first data row),
                                 which findings, queries and ``explain`` point back to
    harmonised/<TRIAL>.json      inputs (hashes), per-variable summary, cell problems
    harmonised/topic.parquet     all trials pooled (written by :func:`pool`): ``trial``,
                                 ``participant_id`` and the dictionary's variables, nothing else
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harmonise.checks.integrity import IntegrityFinding
from harmonise.checks.tables import TableChecks
from harmonise.checks.validation import ValidationResult
from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.engine import apply_mapping
from harmonise.mapping.harmonised import HarmonisedTrial
from harmonise.mapping.spec import Mapping
from harmonise.mapping.stored import load_topic_dictionary, load_trial_mapping
from harmonise.mapping.tables import is_relational
from harmonise.pipeline.datasets import TrialDatasets, load_datasets
from harmonise.queries.corrections import (
    AppliedCorrection,
    active_corrections,
    apply_corrections,
    carry_forward,
    is_row_correction,
)
from harmonise.queries.lifecycle import Finding, SyncReport
from harmonise.queries.row_corrections import (
    apply_row_corrections,
    carry_forward_datasets,
    stale_rows,
)
from repository.deliveries import current_delivery, load_delivery, pseudonymised_ids
from repository.errors import NotFound
from repository.formats import RawTable
from repository.models import Delivery
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial, list_trials, lock_trial

__all__ = [
    "Inputs",
    "TrialRun",
    "Progress",
    "load_topic_dictionary",
    "load_trial_mapping",
    "harmonise_trial",
    "pool",
    "trials_with_data",
    "harmonised_dir",
    "replace_atomically",
    "write_text",
]

Progress = Callable[[str], None]


def harmonised_dir(store: Store) -> Path:
    return store.settings.workspace / "harmonised"


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
    #: every dataset read when the trial delivered several: (dataset, delivery id, sha256)
    datasets: tuple[tuple[str, int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"trial": self.trial, "delivery_id": self.delivery_id,
               "delivery_sha256": self.delivery_sha256, "mapping_file": self.mapping_file,
               "mapping_sha256": self.mapping_sha256,
               "dictionary_version": self.dictionary_version,
               "dictionary_sha256": self.dictionary_sha256,
               "corrections": list(self.corrections)}
        if self.datasets:
            out["datasets"] = [{"dataset": n, "delivery_id": i, "sha256": h}
                               for n, i, h in self.datasets]
        return out


@dataclass(frozen=True)
class TrialRun:
    """One trial harmonised (and, after :func:`~harmonise.pipeline.checking.check_trials`,
    validated and checked)."""

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
    #: each long table's validation and integrity (harmonise.checks.tables.TableChecks)
    table_checks: dict[str, TableChecks] = field(default_factory=dict)

    @property
    def data(self) -> pd.DataFrame:
        return self.harmonised.data

    @property
    def tables(self) -> dict[str, HarmonisedTrial]:
        """The long tables harmonised for this trial (name -> HarmonisedTrial)."""
        return self.harmonised.tables

    @property
    def failures(self) -> pd.DataFrame:
        """Validation failures (empty before
        :func:`~harmonise.pipeline.checking.check_trials`)."""
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
        if self.table_checks:
            out["tables"] = {n: c.to_dict() for n, c in self.table_checks.items()}
        return out


def harmonise_trial(store: Store, trial: str, *, dictionary: Dictionary | None = None,
                    write: bool = True, progress: Progress | None = None,
                    trace: bool = False) -> TrialRun:
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
    loaded: TrialDatasets | None = None
    with store.reading() as session:
        topic = store.topic(session)
        trial_row = get_trial(session, topic, trial)
        if is_relational(mapping, dictionary):
            say(f"{trial}: reading datasets {', '.join(mapping.stored_datasets())}")
            loaded = load_datasets(store, topic.slug, trial_row, mapping.stored_datasets())
            delivery = loaded.deliveries[mapping.source.dataset]
            raw = loaded.tables[mapping.source.dataset]
            pseudonyms = loaded.pseudonyms[mapping.source.dataset]
        else:
            delivery = current_delivery(trial_row, mapping.source.dataset)
            say(f"{trial}: reading {delivery.file_name}")
            raw = load_delivery(store, delivery)
            pseudonyms = pseudonymised_ids(store, topic.slug, trial,
                                           raw.frame[delivery.id_column])
        active = active_corrections(session, trial_row)
        stale = [c for c in active if c.delivery_id != delivery.id and not is_row_correction(c)]
        long_ids = _long_ids(loaded, mapping.source.dataset)
        stale_long = stale_rows(active, long_ids)
        delivery_id, delivery_sha, id_column = delivery.id, delivery.sha256, delivery.id_column
    carried: dict[str, list[int]] = {}
    if stale or stale_long:  # delivered again: carry corrections forward or flag them
        carried = _carry_forward(store, trial, delivery_id, raw.frame, pseudonyms, loaded,
                                 long_ids)
    with store.reading() as session:
        corrections = active_corrections(session, get_trial(session, store.topic(session), trial))
        corrected, applied = apply_corrections(raw.frame, pseudonyms, corrections)
        others, applied = _long_rows(loaded, mapping.source.dataset, corrections, applied)
        correction_ids = tuple(c.id for c in corrections)
        topic_slug = store.topic(session).slug
    if any(a.applied and a.column == id_column for a in applied):
        # a corrected participant ID (e.g. a duplicate that was a typing error) is a new
        # participant: its pseudonym comes from the corrected ID
        pseudonyms = pseudonymised_ids(store, topic_slug, trial, corrected[id_column])
    say(f"{trial}: applying {mapping.file}")
    harmonised = apply_mapping(RawTable(frame=corrected, format=raw.format, columns=raw.columns,
                                        read_options=raw.read_options),
                               mapping, dictionary, trial=trial, participant_ids=pseudonyms,
                               datasets=others or None,
                               ids=None if loaded is None else {
                                   n: p for n, p in loaded.pseudonyms.items()
                                   if n != mapping.source.dataset}, trace=trace)
    inputs = _inputs(trial, delivery_id, delivery_sha, mapping, dictionary, correction_ids,
                     loaded)
    run = TrialRun(trial=trial, inputs=inputs, harmonised=harmonised, raw=raw,
                   corrections=tuple(applied), carried=carried)
    if write:
        path = _write(store, run)
        run = replace(run, path=path)
    return run


def _carry_forward(store: Store, trial: str, delivery_id: int, frame: pd.DataFrame,
                   pseudonyms: list[str | None], loaded: TrialDatasets | None,
                   long_ids: dict[str, int]) -> dict[str, list[int]]:
    """Carry the trial's corrections forward onto a new delivery (or flag them), the
    participant table's and the long tables' rows, in one locked transaction."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        trial_row = get_trial(session, topic, trial)
        lock_trial(session, trial_row.id)  # another run carrying them at the same time
        current = session.get(Delivery, delivery_id)
        assert current is not None
        carried = carry_forward(session, topic, trial_row, delivery=current, frame=frame,
                                pseudonyms=pseudonyms, actor=actor)
        if loaded is not None:
            carried = carry_forward_datasets(
                session, topic, trial_row, delivery_ids=long_ids, frames=loaded.frames,
                pseudonyms=loaded.pseudonyms, actor=actor, carried=carried)
    return carried


def _inputs(trial: str, delivery_id: int, delivery_sha: str, mapping: Mapping,
            dictionary: Dictionary, correction_ids: tuple[int, ...],
            loaded: TrialDatasets | None) -> Inputs:
    return Inputs(trial=trial, delivery_id=delivery_id, delivery_sha256=delivery_sha,
                  mapping_file=str(mapping.file), mapping_sha256=_sha256(Path(mapping.file)),
                  dictionary_version=dictionary.version,
                  dictionary_sha256=_sha256(Path(dictionary.source)) if dictionary.source
                  else "", corrections=correction_ids,
                  datasets=() if loaded is None else tuple(
                      (n, rec[0], rec[1]) for n, rec in loaded.records.items()))


def _long_ids(loaded: TrialDatasets | None, base: str) -> dict[str, int]:
    """The current delivery id of each dataset read besides the ``base`` one."""
    return {} if loaded is None else {n: r[0] for n, r in loaded.records.items() if n != base}


def _long_rows(loaded: TrialDatasets | None, base: str, corrections: Sequence[Any],
               applied: list[AppliedCorrection]
               ) -> tuple[dict[str, pd.DataFrame], list[AppliedCorrection]]:
    """The datasets read besides the ``base`` one, their rows corrected by key
    (:mod:`harmonise.queries.row_corrections`), and ``applied`` with what those did."""
    others = {} if loaded is None else {n: f for n, f in loaded.frames.items() if n != base}
    if not others or loaded is None:
        return others, applied
    others, row_applied = apply_row_corrections(others, loaded.pseudonyms, corrections)
    return others, [*applied, *row_applied]


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
    side: dict[str, Any] = {
        "inputs": run.inputs.to_dict(),
        "summary": json.loads(run.harmonised.summary.to_json(orient="records")),
        "problems": json.loads(run.harmonised.problems.to_json(orient="records"))}
    if len(run.harmonised.imputed):
        side["imputed"] = json.loads(run.harmonised.imputed.to_json(orient="records"))
    for name, table in run.tables.items():
        tpath = out / f"{run.trial}.{name}.parquet"
        arrow = pa.Table.from_pandas(table.data, preserve_index=False)
        replace_atomically(tpath, partial(_write_parquet, arrow))
        side.setdefault("tables", {})[name] = {
            "dataset": table.dataset, "rows": table.n_rows,
            "summary": json.loads(table.summary.to_json(orient="records")),
            "problems": json.loads(table.problems.to_json(orient="records")),
            "imputed": json.loads(table.imputed.to_json(orient="records"))}
    write_text(out / f"{run.trial}.json", json.dumps(side, indent=1, sort_keys=True) + "\n")
    return path


def write_text(path: Path, text: str) -> Path:
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


def trials_with_data(store: Store) -> list[str]:
    with store.reading() as session:
        return [t.acronym for t in list_trials(session, store.topic(session))
                if any(d.is_current for d in t.deliveries)]


def pool(store: Store, trials: Sequence[str] | None = None, *,
         dictionary: Dictionary | None = None) -> pd.DataFrame:
    """All harmonised trials in one frame (trial order), written to harmonised/topic.parquet:
    ``trial``, ``participant_id`` and the dictionary's variables (the per-trial files' internal
    ``_row`` is left out); each long table of the dictionary likewise to
    harmonised/topic.<TABLE>.parquet."""
    names = list(trials) if trials is not None else trials_with_data(store)
    frames = []
    for name in names:
        path = harmonised_dir(store) / f"{name}.parquet"
        if not path.is_file():
            raise NotFound(f"trial {name} has not been harmonised yet; run `ipdrepo harmonise "
                           f"{name}`.", trial=name)
        frames.append(pd.read_parquet(path).drop(columns=["_row"], errors="ignore"))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        table = pa.Table.from_pandas(data, preserve_index=False)
        replace_atomically(harmonised_dir(store) / "topic.parquet",
                           lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        tables = dictionary.table_names[1:] if dictionary is not None else sorted(
            {p.name.split(".")[1] for name in names
             for p in harmonised_dir(store).glob(f"{name}.*.parquet")})
        for t in tables:
            parts = [pd.read_parquet(p) for name in names
                     if (p := harmonised_dir(store) / f"{name}.{t}.parquet").is_file()]
            if parts:
                long = pa.Table.from_pandas(pd.concat(parts, ignore_index=True),
                                            preserve_index=False)
                replace_atomically(harmonised_dir(store) / f"topic.{t}.parquet",
                                   partial(_write_parquet, long))
    return data


def _write_parquet(table: Any, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", use_dictionary=True, write_statistics=True)
