"""Ingesting trial deliveries.

:func:`ingest` takes a file a trial sent and, in order:

1. hashes it; the same bytes already delivered by this trial make the call a no-op;
2. reads it (:mod:`repository.formats`), refusing empty, truncated, mislabelled or unknown files;
3. finds the participant-ID column and refuses duplicate or blank IDs (unless a curator accepts
   them with a justification, so that they become data queries later);
4. runs the pseudonymisation gate (:mod:`repository.identifiers`), refusing direct identifiers
   unless a curator accepts named columns with a recorded justification;
5. in one transaction: stores the bytes (content-addressed), records the delivery, marks the
   trial's previous delivery of the same dataset as superseded, registers new participants'
   pseudonyms, and appends the audit event.

If anything fails, the database and the object store are left exactly as they were.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import (
    DirectIdentifiers,
    IdentifierProblem,
    NotFound,
    UnreadableDelivery,
    format_rows,
)
from repository.models import Delivery, Participant, Topic, Trial
from repository.names import check_name, check_text
from repository.objects import StoredObject, sha256_file
from repository.pseudonyms import normalise_raw_id, normalise_raw_ids, reidentify
from repository.reasons import Reason
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial, lock_trial, visible_trial, visible_trials

if TYPE_CHECKING:  # the readers and the gate (pandas) are imported when a file is read
    from repository.formats import RawTable
    from repository.identifiers import IdentifierFinding

__all__ = [
    "IngestResult",
    "ingest",
    "current_deliveries",
    "current_delivery",
    "list_deliveries",
    "list_participants",
    "load_delivery",
    "delivery_to_dict",
    "pseudonymised_ids",
    "ID_COLUMN_NAMES",
]

#: normalised column names recognised as participant IDs when --id-column is not given
ID_COLUMN_NAMES = {"id", "patid", "patno", "patientid", "patientno", "patientnumber",
                   "subjid", "subjectid", "usubjid", "participantid", "pid", "ptid",
                   "randno", "randnumber", "randomisationnumber", "randomizationnumber",
                   "studyid", "caseid", "recordid", "subject", "patient"}

Stage = Callable[[str], None]
_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class StoredDataset:
    """What one ingested file became: its delivery, whether it was new, what it holds."""

    delivery_id: int
    status: str  # "ingested" | "unchanged"
    file_name: str
    format: str
    sha256: str
    n_rows: int
    n_columns: int
    id_column: str
    superseded: int | None = None
    new_participants: int = 0


@dataclass(frozen=True, kw_only=True)
class IngestResult(StoredDataset):
    trial: str
    accepted_identifiers: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "delivery_id": self.delivery_id, "status": self.status,
                "file_name": self.file_name, "format": self.format, "sha256": self.sha256,
                "n_rows": self.n_rows, "n_columns": self.n_columns, "id_column": self.id_column,
                "superseded": self.superseded, "new_participants": self.new_participants,
                "accepted_identifiers": list(self.accepted_identifiers),
                "notes": list(self.notes)}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _choose_id_column(path: Path, trial: Trial, table: RawTable, requested: str | None) -> str:
    names = [c.name for c in table.columns]
    wanted = requested or trial.id_column
    if wanted is not None:
        if wanted in names:
            return wanted
        close = [n for n in names if _norm(n) == _norm(wanted)]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnreadableDelivery(
            f"{path.name} (trial {trial.acronym}) has no column {wanted!r}{hint}; columns are: "
            f"{', '.join(names)}. Give the participant-ID column with --id-column.",
            file=str(path), trial=trial.acronym, reason=Reason.ID_COLUMN)
    candidates = [n for n in names if _norm(n) in ID_COLUMN_NAMES]
    if len(candidates) == 1:
        return candidates[0]
    raise UnreadableDelivery(
        f"{path.name} (trial {trial.acronym}): cannot tell which column holds participant IDs "
        f"({'candidates: ' + ', '.join(candidates) if candidates else 'no column is named like one'}"
        "); give it with --id-column.", file=str(path), trial=trial.acronym, reason=Reason.ID_COLUMN)


def _check_ids(path: Path, trial: str, table: RawTable, id_column: str,
               allow: str | None) -> tuple[list[str | None], dict[str, Any] | None]:
    import numpy as np
    import pandas as pd

    raw = normalise_raw_ids(table.frame[id_column])
    if None not in raw and len(set(raw)) == len(raw):  # no blank, no duplicate
        return raw, None
    blank_rows = [i + 1 for i, v in enumerate(raw) if v is None]
    series = pd.Series(raw, dtype=object)
    dup_mask = series.notna() & series.duplicated(keep=False)
    dup_rows = (np.flatnonzero(dup_mask.to_numpy()) + 1).tolist()
    if not blank_rows and not dup_rows:
        return raw, None
    dup_ids = sorted(set(series[dup_mask].tolist()))
    parts = []
    if dup_rows:
        parts.append(f"{len(dup_ids)} duplicated ID(s) ({', '.join(map(str, dup_ids[:10]))}"
                     f"{' ...' if len(dup_ids) > 10 else ''}) on {format_rows(dup_rows)}")
    if blank_rows:
        parts.append(f"blank IDs on {format_rows(blank_rows)}")
    override = {"duplicate_ids": dup_ids, "duplicate_rows": dup_rows, "blank_rows": blank_rows,
                "justification": allow}
    if allow:
        return raw, override
    raise IdentifierProblem(
        f"{path.name} (trial {trial}), ID column {id_column!r}: " + "; ".join(parts) +
        ". Ask the trial to correct the IDs and deliver again, or accept the file as it is with "
        "--allow-id-problems 'REASON' so that the problems are raised as data queries.",
        file=str(path), trial=trial, column=id_column, duplicate_ids=dup_ids,
        duplicate_rows=dup_rows, blank_rows=blank_rows)


def _gate(path: Path, trial: str, table: RawTable, accept: Sequence[str],
          justification: str | None, id_column: str) -> list[IdentifierFinding]:
    from repository.identifiers import scan_table

    findings = scan_table(table, id_column=id_column)
    known = {col.name for col in table.columns} | {f.key for f in findings}
    unknown = [c for c in accept if c not in known]
    if unknown:
        raise UnreadableDelivery(f"--accept-identifiers names column(s) not in {path.name}: "
                                 f"{', '.join(unknown)} (a column of another sheet is named "
                                 "SHEET!COLUMN).", file=str(path), trial=trial)
    if accept and not (justification and justification.strip()):
        raise DirectIdentifiers("accepting identifier columns needs a recorded justification; "
                                "add --justification 'WHY'.", file=str(path), trial=trial)
    refused = [f for f in findings if f.key not in accept]
    if refused:
        lines = "\n".join(f"  - {f}" for f in refused)
        raise DirectIdentifiers(
            f"{path.name} (trial {trial}) still carries direct identifiers and was not "
            f"accepted:\n{lines}\nNothing was stored. Ask the trial to remove these columns "
            "(and any sheet that is not the data) or deliver year/month of birth, outward "
            "postcodes, and send the file again. If a column is not an identifier, a curator "
            "can accept it with --accept-identifiers COLUMN (SHEET!COLUMN for another sheet) "
            "--justification 'WHY'.", file=str(path), trial=trial,
            findings=[f.to_dict() for f in refused])
    return findings


def _check_names(dataset: str, received_from: str | None, justification: str | None,
                 allow_id_problems: str | None) -> None:
    check_name(dataset, what="dataset", pattern=_DATASET,
               rule="1-64 letters, digits, '.', '_' or '-', e.g. main or outcomes")
    if received_from is not None:
        check_name(received_from, what="received-from")
    for what, value in (("justification", justification), ("--allow-id-problems reason",
                                                            allow_id_problems)):
        if value is not None:
            check_text(value, what=what)


@dataclass(frozen=True)
class _Checked:
    """A delivery that passed every check, ready to be recorded."""

    path: Path
    digest: str
    size: int
    table: RawTable
    id_column: str
    id_override: dict[str, Any] | None
    findings: list[IdentifierFinding]
    pseudonyms: set[str]
    topic: str
    trial_id: int
    trial: str


def ingest(store: Store, trial_acronym: str, path: Path, *, id_column: str | None = None,
           format: str | None = None, read_options: dict[str, Any] | None = None,
           dataset: str = "main", received_from: str | None = None,
           received_at: date | None = None, accept_identifiers: Sequence[str] = (),
           justification: str | None = None, allow_id_problems: str | None = None,
           topic: str | None = None, on_stage: Stage | None = None) -> IngestResult:
    """Ingest one delivery file for a trial; see the module docstring for the steps."""
    from repository.formats import read_delivery

    stage = on_stage or (lambda _s: None)
    path = Path(path)
    _check_names(dataset, received_from, justification, allow_id_problems)
    if not path.is_file():
        raise UnreadableDelivery(f"{path} does not exist or is not a file.", file=str(path),
                                 trial=trial_acronym, reason=Reason.MISSING)
    with store.reading() as session:
        require(session, store.settings.actor, "store.write")
        topic_row = store.topic(session, topic)
        trial = get_trial(session, topic_row, trial_acronym)
        stage("hashing")
        digest, size = sha256_file(path)
        same = _same_bytes(session, trial.id, digest)
        if same is not None:
            return _unchanged(trial.acronym, same)
        stage("reading")
        table = read_delivery(path, format=format, options=read_options, id_column=id_column,
                              all_sheets=True)
        id_col = _choose_id_column(path, trial, table, id_column)
        stage("checking IDs")
        raw_ids, id_override = _check_ids(path, trial.acronym, table, id_col, allow_id_problems)
        stage("scanning for identifiers")
        findings = _gate(path, trial.acronym, table, accept_identifiers, justification, id_col)
        stage("pseudonymising")
        pseudonymiser = store.pseudonymiser(topic_row.slug)
        pseudonyms = set(pseudonymiser.many(trial.acronym, [r for r in raw_ids if r is not None]))
        checked = _Checked(path=path, digest=digest, size=size, table=table, id_column=id_col,
                           id_override=id_override, findings=findings, pseudonyms=pseudonyms,
                           topic=topic_row.slug, trial_id=trial.id, trial=trial.acronym)
    stage("storing")
    obj: StoredObject | None = None
    try:
        obj = store.objects.put(path, digest)
        with store.transaction() as session:
            return _record(session, checked, actor=store.settings.actor, dataset=dataset,
                           received_at=received_at, received_from=received_from,
                           justification=justification, allow_id_problems=allow_id_problems)
    except BaseException:
        if obj is not None and not _recorded(store, digest):
            store.objects.discard(obj)
        raise


def _record(session: Session, c: _Checked, *, actor: str, dataset: str,
            received_at: date | None, received_from: str | None, justification: str | None,
            allow_id_problems: str | None) -> IngestResult:
    """Record a checked delivery in the session's transaction: the delivery (superseding the
    current one of its dataset), its new participants and the audit event."""
    # one writer per trial at a time: which delivery is current is read under the lock
    lock_trial(session, c.trial_id)
    same = _same_bytes(session, c.trial_id, c.digest)
    if same is not None:  # another ingest of these bytes committed meanwhile
        return _unchanged(c.trial, same)
    previous = current_of(session, c.trial_id, dataset)
    accepted = sorted({f.key for f in c.findings})
    table = c.table
    delivery = Delivery(
        trial_id=c.trial_id, dataset=dataset, file_name=c.path.name, format=table.format,
        sha256=c.digest, size_bytes=c.size, n_rows=table.n_rows, n_columns=len(table.columns),
        columns=[col.to_dict() for col in table.columns],
        read_options=dict(table.read_options), id_column=c.id_column, received_at=received_at,
        received_from=received_from, ingested_by=actor,
        identifier_override=({"columns": accepted, "justification": justification, "by": actor,
                              "findings": [f.to_dict() for f in c.findings]}
                             if accepted else None),
        id_override=c.id_override)
    add_superseding(session, delivery, previous)
    known = set(session.scalars(select(Participant.pseudonym)
                                .where(Participant.trial_id == c.trial_id)))
    new = sorted(c.pseudonyms - known if known else c.pseudonyms)  # (no copy for a new trial)
    register_participants(session, c.trial_id, delivery.id, delivery.ingested_at, new)
    supersedes = previous.id if previous is not None else None
    audit.append(session, actor=actor, action="delivery.ingest", topic=c.topic,
                 entity_type="delivery", entity_id=delivery.id,
                 details={"trial": c.trial, "file_name": c.path.name, "format": table.format,
                          "sha256": c.digest, "size": c.size, "rows": table.n_rows,
                          "columns": len(table.columns), "dataset": dataset,
                          "id_column": c.id_column, "supersedes": supersedes,
                          "new_participants": len(new), "accepted_identifiers": accepted,
                          "justification": justification if accepted else None,
                          "id_problems": c.id_override})
    return IngestResult(
        trial=c.trial, delivery_id=delivery.id, status="ingested", file_name=c.path.name,
        format=table.format, sha256=c.digest, n_rows=table.n_rows,
        n_columns=len(table.columns), id_column=c.id_column, superseded=supersedes,
        new_participants=len(new), accepted_identifiers=tuple(accepted),
        notes=tuple(["ID problems accepted: " + (allow_id_problems or "")]
                    if c.id_override else []))


def current_of(session: Session, trial_id: int, dataset: str) -> Delivery | None:
    """The trial's current delivery of ``dataset``, if any."""
    return session.scalar(select(Delivery).where(
        Delivery.trial_id == trial_id, Delivery.dataset == dataset,
        Delivery.superseded_by_id.is_(None)))


def add_superseding(session: Session, delivery: Delivery, previous: Delivery | None) -> None:
    """Add ``delivery`` as the current one of its dataset, retiring ``previous``. It is not
    current until the previous one is retired: the database allows one current delivery per
    trial and dataset (index uq_delivery_current)."""
    if previous is not None:
        delivery.superseded_by_id = previous.id
    session.add(delivery)
    session.flush()
    if previous is not None:
        previous.superseded_by_id = delivery.id
        session.flush()
        delivery.superseded_by_id = None


def register_participants(session: Session, trial_id: int, delivery_id: int,
                          created_at: datetime, pseudonyms: Sequence[str]) -> None:
    """Insert the participants first seen in a delivery, in the session's transaction: with
    COPY on PostgreSQL; on SQLite in one statement over a JSON array of the pseudonyms (the
    rows are made inside SQLite, half the time of an executemany of tuples)."""
    if not pseudonyms:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                "COPY participant (trial_id, pseudonym, first_delivery_id, created_at) "
                "FROM STDIN") as copy:
            for pseudonym in pseudonyms:
                copy.write_row((trial_id, pseudonym, delivery_id, created_at))
        return
    # SQLite: the timestamp is bound once, as the ORM would write it
    column = Participant.__table__.c.created_at
    bind = column.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    stamp = bind(created_at) if bind is not None else created_at
    if sqlite3.sqlite_version_info >= (3, 38, 0):  # JSON functions built in
        connection.exec_driver_sql(
            "INSERT INTO participant (trial_id, pseudonym, first_delivery_id, created_at) "
            "SELECT ?, value, ?, ? FROM json_each(?)",
            (trial_id, delivery_id, stamp, _json_texts(pseudonyms)))
        return
    connection.exec_driver_sql(
        "INSERT INTO participant (trial_id, pseudonym, first_delivery_id, created_at) "
        "VALUES (?, ?, ?, ?)", [(trial_id, p, delivery_id, stamp) for p in pseudonyms])


def _json_texts(texts: Sequence[str]) -> str:
    """``json.dumps(list(texts))``: pseudonyms (letters and digits) are joined as they are, at
    a fifth of the encoder's cost; any other text goes through the encoder."""
    joined = '","'.join(texts)
    if _PLAIN_TEXTS.fullmatch(joined) and joined.count('","') == len(texts) - 1:
        return '["' + joined + '"]'
    return json.dumps(list(texts))


_PLAIN_TEXTS = re.compile(r'[A-Za-z0-9]+(?:","[A-Za-z0-9]+)*')


def _same_bytes(session: Session, trial_id: int, digest: str) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.trial_id == trial_id,
                                                 Delivery.sha256 == digest))


def _unchanged(acronym: str, same: Delivery) -> IngestResult:
    note = ("these bytes were already delivered as delivery "
            f"{same.id} ({same.file_name}, {'current' if same.is_current else 'superseded'})")
    return IngestResult(trial=acronym, delivery_id=same.id, status="unchanged",
                        file_name=same.file_name, format=same.format, sha256=same.sha256,
                        n_rows=same.n_rows, n_columns=same.n_columns,
                        id_column=same.id_column, notes=(note,))


def _recorded(store: Store, digest: str) -> bool:
    """Whether a delivery (of any trial, e.g. one ingested at the same time) uses the object;
    when that cannot be told, it is kept: an unused object is harmless, a missing one is not."""
    try:
        with store.reading() as session:
            return session.scalar(select(Delivery.id).where(Delivery.sha256 == digest)
                                  .limit(1)) is not None
    except Exception:
        return True


def list_deliveries(session: Session, topic: Topic, *, actor: str, trial: str | None = None,
                    superseded: bool = False) -> list[dict[str, Any]]:
    """The deliveries ``actor`` may see (a trialist: their own trial's), of ``trial`` or of
    every trial, current ones only unless ``superseded``; by trial, oldest first."""
    trials = ([visible_trial(session, topic, trial, actor=actor)] if trial
              else visible_trials(session, topic, actor=actor))
    rows = []
    for t in sorted(trials, key=lambda t: t.acronym):
        rows += [delivery_to_dict(d) for d in t.deliveries if superseded or d.is_current]
    return rows


def list_participants(store: Store, trial: str, *, map_back: bool = False,
                      topic: str | None = None) -> list[dict[str, Any]]:
    """Trial ``trial``'s participants by pseudonym; with ``map_back`` (curators, who hold the
    repository secret) also the trial's own ID, recomputed from the stored deliveries."""
    actor = store.settings.actor
    with store.reading() as session:
        if map_back:
            require(session, actor, "pseudonyms.map_back", trial=trial)
        topic_row = store.topic(session, topic)
        trial_row = visible_trial(session, topic_row, trial, actor=actor)
        pseudonyms = session.scalars(select(Participant.pseudonym)
                                     .where(Participant.trial_id == trial_row.id)
                                     .order_by(Participant.pseudonym)).all()
        mapping: dict[str, str] = {}
        if map_back:
            pseudonymiser = store.pseudonymiser(topic_row.slug)
            for d in trial_row.deliveries:
                table = load_delivery(store, d)
                mapping.update(reidentify(pseudonymiser, trial, table.frame[d.id_column]))
    return [{"pseudonym": p, **({"trial_id": mapping.get(p)} if map_back else {})}
            for p in pseudonyms]


def current_deliveries(session: Session, trial: Trial) -> list[Delivery]:
    return [d for d in trial.deliveries if d.is_current]


def current_delivery(trial: Trial, dataset: str = "main") -> Delivery:
    """The trial's current delivery of ``dataset`` (:class:`NotFound` saying to ingest one)."""
    current = [d for d in trial.deliveries if d.is_current and d.dataset == dataset]
    if not current:
        raise NotFound(f"trial {trial.acronym} has no {dataset!r} delivery yet; ingest one with "
                       f"`ipdrepo ingest {trial.acronym} FILE`.", trial=trial.acronym)
    return current[-1]


def load_delivery(store: Store, delivery: Delivery) -> RawTable:
    """Read a stored delivery back exactly as it was read at ingest.

    The stored bytes are hashed first: a file changed after ingest raises CorruptObject (exit 8)
    naming the trial, the delivery file and both hashes, and is never read.
    """
    from repository.formats import ColumnInfo, RawTable, read_delivery

    trial = delivery.trial.acronym
    path = store.objects.verified_path(
        delivery.sha256, what=f"delivery #{delivery.id} ({delivery.file_name}) of trial {trial}",
        trial=trial, delivery=delivery.id, delivery_file=delivery.file_name)
    options = {k: v for k, v in (delivery.read_options or {}).items()
               if k in ("encoding", "delimiter", "sheet")}
    table = read_delivery(path, format=delivery.format, options=options,
                          id_column=delivery.id_column, count_missing=False)
    # the stored column metadata is authoritative (labels read at ingest)
    columns = tuple(ColumnInfo.from_dict(c) for c in delivery.columns)
    return RawTable(frame=table.frame, format=table.format, columns=columns,
                    read_options=table.read_options)


def pseudonymised_ids(store: Store, topic: str, trial: str, raw_ids: Sequence[Any]) -> list[str | None]:
    """Pseudonyms for raw IDs (None for blanks), in order."""
    pseudonymiser = store.pseudonymiser(topic)
    normalised = [normalise_raw_id(v) for v in raw_ids]
    present = [v for v in normalised if v is not None]
    mapped = iter(pseudonymiser.many(trial, present))
    return [next(mapped) if v is not None else None for v in normalised]


def delivery_to_dict(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id, "trial": d.trial.acronym, "dataset": d.dataset, "file_name": d.file_name,
        "format": d.format, "sha256": d.sha256, "size_bytes": d.size_bytes, "rows": d.n_rows,
        "columns": d.n_columns, "id_column": d.id_column,
        "received_at": d.received_at.isoformat() if d.received_at else None,
        "received_from": d.received_from, "ingested_at": d.ingested_at.isoformat(),
        "ingested_by": d.ingested_by, "superseded_by": d.superseded_by_id,
        "current": d.is_current,
        "accepted_identifiers": (d.identifier_override or {}).get("columns", []),
        "id_problems": d.id_override,
    }
