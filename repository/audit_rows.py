"""The rows the audit chain vouches for: deliveries, corrections, users and the access log.

Every audit event records a keyed digest of each covered row that its transaction created,
changed or deleted (``audit_event.row_digests``: ``{"correction:12": {"digest": ..., "columns":
{...}}}``, ``None`` for a deleted row). :func:`compare` recomputes the digests of the rows as
they are now and names every row that was edited, deleted or inserted behind ipdrepo's back
(with SQL, a database client, a restored table).

Rows are collected automatically: a session listener notes every covered row flushed in a
transaction; :func:`repository.audit.append` records them, and a transaction that changes a
covered row without appending an event is refused at commit (a bug, not a user error).

Digests are HMAC-SHA256 under the audit key, over the row's non-null columns as canonical JSON
(a column added later, NULL in old rows, leaves their digests valid). Each column also gets an
8-hex keyed fingerprint, so a mismatch can name the columns that changed without storing any
value; without the key the fingerprints reveal nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import Session

from repository import models
from repository.errors import AuditError

__all__ = ["COVERED", "RowKey", "Recorded", "take_touched", "digests", "all_rows", "compare"]

#: table name -> the model (in :mod:`repository.models`) of the rows the chain covers; by name,
#: so that a command that touches none of them does not import their areas
COVERED: dict[str, str] = {"delivery": "Delivery", "correction": "Correction",
                           "app_user": "User", "access_log": "AccessLog"}
_TOUCHED = "ipdrepo.audit.touched"
_CHUNK = 500

RowKey = tuple[str, int]


def _key_text(key: RowKey) -> str:
    return f"{key[0]}:{key[1]}"


def parse_key(text: str) -> RowKey:
    table, _, ident = text.partition(":")
    return table, int(ident)


# -- tracking -------------------------------------------------------------------------------

@event.listens_for(Session, "after_flush")
def _track(session: Session, _context: Any) -> None:
    touched: dict[RowKey, bool] = session.info.setdefault(_TOUCHED, {})
    for obj in session.new:
        table = _covered(obj)
        if table is not None:
            touched[(table, obj.id)] = True
    for obj in session.dirty:
        table = _covered(obj)
        if table is not None and session.is_modified(obj, include_collections=False):
            touched[(table, obj.id)] = True
    for obj in session.deleted:
        table = _covered(obj)
        if table is not None:
            ident = inspect(obj).identity
            if ident is not None:
                touched[(table, int(ident[0]))] = False


@event.listens_for(Session, "before_commit")
def _refuse_unrecorded(session: Session) -> None:
    if not session.info.get(_TOUCHED):
        session.flush()
    touched = session.info.get(_TOUCHED)
    if touched:
        names = ", ".join(sorted(_key_text(k) for k in touched))
        raise AuditError(f"rows covered by the audit trail changed without an audit event "
                         f"({names}); nothing was saved. This is a bug in ipdrepo: report it.",
                         rows=sorted(_key_text(k) for k in touched))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def _covered(obj: object) -> str | None:
    """The covered table ``obj`` is a row of, None if it is not one of them."""
    table: str | None = getattr(type(obj), "__tablename__", None)
    return table if table in COVERED else None


def take_touched(session: Session) -> dict[RowKey, bool]:
    """The covered rows flushed since the last event (True: present, False: deleted); cleared."""
    return session.info.pop(_TOUCHED, None) or {}


# -- digests --------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _text(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def row_entry(key: bytes, table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """The keyed digest of one row, and a fingerprint of each of its non-null columns."""
    content = {c: _plain(v) for c, v in row.items() if v is not None}
    prefix = f"{table}\x1f{row['id']}\x1f".encode()
    digest = hmac.new(key, b"row\x1f" + prefix + _text(content), hashlib.sha256).hexdigest()
    columns = {c: hmac.new(key, b"col\x1f" + prefix + c.encode() + b"\x1f" + _text(v),
                           hashlib.sha256).hexdigest()[:8] for c, v in content.items()}
    return {"digest": digest, "columns": columns}


def _table(name: str) -> Table:
    table = getattr(models, COVERED[name]).__table__
    assert isinstance(table, Table)
    return table


def _rows(session: Session, name: str, ids: Iterable[int] | None = None
          ) -> Iterator[Mapping[Any, Any]]:
    table = _table(name)
    if ids is None:
        yield from session.execute(select(table).order_by(table.c.id)
                                   .execution_options(yield_per=1000)).mappings()
        return
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        yield from session.execute(select(table).where(table.c.id.in_(chunk))).mappings()


def digests(session: Session, key: bytes, touched: Mapping[RowKey, bool]
            ) -> dict[str, dict[str, Any] | None]:
    """Row entries of the ``touched`` rows, read back from the database as they now are."""
    out: dict[str, dict[str, Any] | None] = {}
    for name in COVERED:
        ids = [i for (t, i), present in touched.items() if t == name and present]
        for row in _rows(session, name, ids) if ids else ():
            out[_key_text((name, row["id"]))] = row_entry(key, name, row)
        for (t, i), present in touched.items():
            if t == name and not present:
                out[_key_text((t, i))] = None
    return out


def all_rows(session: Session, key: bytes) -> dict[str, dict[str, Any] | None]:
    """Row entries of every covered row (recorded when a chain is first keyed)."""
    return {_key_text((name, row["id"])): row_entry(key, name, row)
            for name in COVERED for row in _rows(session, name)}


# -- comparing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    """The latest event that recorded a row."""

    entry: dict[str, Any] | None
    seq: int
    action: str
    actor: str
    at: str
    details: Any
    entity: tuple[str | None, str | None]

    @property
    def event(self) -> str:
        return f"audit event seq {self.seq} ({self.action} by {self.actor} at {self.at})"


def _label(name: str, row: Mapping[Any, Any], trials: dict[int, str]) -> str:
    ident = row["id"]
    if name == "delivery":
        return (f"delivery #{ident} ({row['file_name']}, trial "
                f"{trials.get(row['trial_id'], row['trial_id'])})")
    if name == "correction":
        return (f"correction #{ident} (trial {trials.get(row['trial_id'], row['trial_id'])}, "
                f"participant {row['participant']}, column {row['source_column']})")
    if name == "access_log":
        return (f"access log entry #{ident} ({row['user_name']}, {row['kind']} of "
                f"{row['what']})")
    return f"user {row['name']!r} (id {ident})"


def _gone_label(name: str, ident: int, rec: Recorded) -> str:
    noun = {"app_user": "user", "access_log": "access log entry"}.get(name, name)
    details = rec.details if isinstance(rec.details, dict) else {}
    bits = [str(details[k]) for k in ("file_name", "trial") if details.get(k)]
    if name == "app_user" and rec.entity[0] == "user" and rec.entity[1]:
        bits = [repr(rec.entity[1])]
    return f"{noun} #{ident}" + (f" ({', '.join(bits)})" if bits else "")


def _changed_columns(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    a, b = now.get("columns", {}), then.get("columns", {})
    return sorted(c for c in set(a) | set(b) if a.get(c) != b.get(c))


def compare(session: Session, key: bytes, recorded: Mapping[RowKey, Recorded]
            ) -> tuple[int, list[str]]:
    """(rows checked, problems): every covered row now against what the chain recorded."""
    trial = models.Trial
    trials = dict(session.execute(select(trial.id, trial.acronym)).tuples().all())
    problems: list[str] = []
    seen: set[RowKey] = set()
    checked = 0
    for name in COVERED:
        for row in _rows(session, name):
            checked += 1
            ident = (name, int(row["id"]))
            seen.add(ident)
            rec = recorded.get(ident)
            label = _label(name, row, trials)
            if rec is None:
                problems.append(f"{label} has no audit event: it was inserted outside ipdrepo "
                                "(e.g. with SQL). Remove it, or restore the database from a "
                                "backup.")
                continue
            if rec.entry is None:
                problems.append(f"{label} exists although {rec.event} recorded its deletion: "
                                "it was put back outside ipdrepo.")
                continue
            now = row_entry(key, name, row)
            if now["digest"] != rec.entry.get("digest"):
                cols = _changed_columns(now, rec.entry) or ["its content"]
                problems.append(f"{label} was changed outside ipdrepo after {rec.event} "
                                f"recorded it: {', '.join(cols)} differ. Restore the row from a "
                                "backup and find out who changed it.")
    for ident, rec in sorted(recorded.items()):
        if ident not in seen and rec.entry is not None:
            problems.append(f"{_gone_label(ident[0], ident[1], rec)} was deleted outside "
                            f"ipdrepo: {rec.event} recorded it and no later event removed it. "
                            "Restore it from a backup.")
    return checked, problems
