"""The append-only audit trail: events chained by HMAC-SHA256 under a key kept apart from the
database.

Every change to the store appends one :class:`~repository.models.AuditEvent` in the same
transaction as the change. Each event's hash is HMAC-SHA256, under the audit key
(``keys/audit.key``, :class:`AuditKeyFile`), of its content, the digests of the covered rows
its transaction wrote (:mod:`repository.audit_rows`) and the previous event's hash. Editing,
deleting, inserting or reordering an event breaks the chain, and so does rewriting it and
recomputing every hash after it: that needs the key, which whoever can write the database does
not hold. :func:`verify` finds where, and names every delivery, correction or user row changed
outside ipdrepo.

Chains written before the key existed (schema revision 0003 and earlier) used plain SHA-256
(``scheme = 'sha256'``). Alembic cannot reach the key file, so the migration only marks them;
``ipdrepo db upgrade`` (or ``ipdrepo audit rekey``) then checks the plain chain, re-chains every
event under the key (:func:`rekey`) and records that in an ``audit.rekey`` event carrying the
digests of every covered row. Until then :func:`verify` says the chain is unkeyed.

Appends are serialised by locking the single ``audit_head`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serialises writers itself).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from repository import audit_rows
from repository.errors import AuditError, ConfigError
from repository.models import AuditEvent, AuditHead, utcnow
from repository.objects import private_dir

__all__ = ["GENESIS", "PLAIN", "KEYED", "AuditKey", "AuditKeyFile", "append", "verify",
           "rekey", "AuditReport", "RekeyResult", "event_hash", "keyed_event_hash",
           "KEY_INFO"]

GENESIS = "0" * 64
#: hash schemes: plain SHA-256 (chains made before 0004) and HMAC-SHA256 under the audit key
PLAIN = "sha256"
KEYED = "hmac-sha256"
#: ``Session.info`` entry holding the :class:`AuditKeyFile` of the store the session writes
KEY_INFO = "ipdrepo.audit.key"


# -- the key --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)

    @property
    def id(self) -> str:
        """A fingerprint naming the key (not the key): shown by verify, kept on the head."""
        return hashlib.sha256(b"ipdrepo-audit-key-id\x1f" + self.secret).hexdigest()[:16]


class AuditKeyFile:
    """The audit key's file (``Settings.audit_key_file``), read on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: AuditKey | None = None

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> AuditKey:
        if self._key is None:
            try:
                text = self.path.read_text().strip()
            except FileNotFoundError as exc:
                raise ConfigError(
                    f"the audit key {self.path} is missing, so the audit trail can be neither "
                    "extended nor checked. Restore the key file from your backup, or set "
                    "IPDREPO_AUDIT_KEY_FILE to where it is kept (a store upgraded from an "
                    "earlier ipdrepo gets its key from `ipdrepo audit rekey`).",
                    file=str(self.path)) from exc
            except PermissionError as exc:
                raise ConfigError(f"cannot read the audit key {self.path}: permission denied; "
                                  "only curators hold it.", file=str(self.path)) from exc
            try:
                secret = bytes.fromhex(text)
            except ValueError as exc:
                raise ConfigError(f"{self.path} does not hold a hex key; restore the original "
                                  "audit key file.", file=str(self.path)) from exc
            if len(secret) < 16:
                raise ConfigError(f"the audit key {self.path} is shorter than 16 bytes; restore "
                                  "the original key file.", file=str(self.path))
            self._key = AuditKey(secret)
        return self._key

    def create(self) -> AuditKey:
        """Write a new random key (mode 0600, directory 0700); never overwrites one."""
        if self.path.exists():
            raise ConfigError(f"{self.path} already exists; an audit key is never overwritten "
                              "(the chain depends on it).", file=str(self.path))
        private_dir(self.path.parent)
        secret = os.urandom(32)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret.hex() + "\n")
        self._key = AuditKey(secret)
        return self._key


def _key_of(session: Session) -> AuditKey:
    keyfile = session.info.get(KEY_INFO)
    if not isinstance(keyfile, AuditKeyFile):
        raise AuditError("this database session has no audit key; open the store with "
                         "repository.store.Store so that its writes can be audited.")
    return keyfile.load()


# -- hashing --------------------------------------------------------------------------------

def _canonical_time(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _payload(*, seq: int, at: datetime, actor: str, action: str, topic: str | None,
             entity_type: str | None, entity_id: str | None, details: Any,
             prev_hash: str, **extra: Any) -> bytes:
    payload = {
        "seq": seq, "at": _canonical_time(at), "actor": actor, "action": action,
        "topic": topic, "entity_type": entity_type, "entity_id": entity_id,
        "details": details, "prev_hash": prev_hash, **extra,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False).encode()


def event_hash(*, seq: int, at: datetime, actor: str, action: str, topic: str | None,
               entity_type: str | None, entity_id: str | None, details: Any,
               prev_hash: str) -> str:
    """The plain SHA-256 of an event, as chains made before the key existed were hashed."""
    return hashlib.sha256(_payload(seq=seq, at=at, actor=actor, action=action, topic=topic,
                                   entity_type=entity_type, entity_id=entity_id,
                                   details=details, prev_hash=prev_hash)).hexdigest()


def keyed_event_hash(key: AuditKey, *, seq: int, at: datetime, actor: str, action: str,
                     topic: str | None, entity_type: str | None, entity_id: str | None,
                     details: Any, rows: Any, prev_hash: str) -> str:
    """HMAC-SHA256 under the audit key of an event, the row digests it carries and its link."""
    data = _payload(seq=seq, at=at, actor=actor, action=action, topic=topic,
                    entity_type=entity_type, entity_id=entity_id, details=details,
                    prev_hash=prev_hash, scheme=KEYED, rows=rows)
    return hmac.new(key.secret, data, hashlib.sha256).hexdigest()


def _rehash(key: AuditKey | None, ev: AuditEvent, prev_hash: str) -> str:
    common = dict(seq=ev.seq, at=ev.at, actor=ev.actor, action=ev.action, topic=ev.topic,
                  entity_type=ev.entity_type, entity_id=ev.entity_id, details=ev.details,
                  prev_hash=prev_hash)
    if key is None:
        return event_hash(**common)
    return keyed_event_hash(key, rows=ev.row_digests, **common)


# -- appending ------------------------------------------------------------------------------

def _head(session: Session, key: AuditKey) -> AuditHead:
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        head = AuditHead(id=1, seq=0, last_hash=GENESIS, key_id=key.id)
        session.add(head)
        session.flush()
    elif head.key_id is None and head.seq > 0:
        raise AuditError("the audit chain of this store is still unkeyed (made by an earlier "
                         "ipdrepo); key it with `ipdrepo audit rekey` (or `ipdrepo db upgrade`) "
                         "before changing anything.")
    elif head.key_id is None:
        head.key_id = key.id
    elif head.key_id != key.id:
        raise AuditError(f"the audit key in use (id {key.id}) is not the key of this store's "
                         f"audit chain (id {head.key_id}); point IPDREPO_AUDIT_KEY_FILE at the "
                         "right key file (restore it from your backup).", key_id=key.id,
                         chain_key_id=head.key_id)
    return head


def _append(session: Session, *, actor: str, action: str, topic: str | None,
            entity_type: str | None, entity_id: Any, details: dict[str, Any] | None,
            all_rows: bool = False) -> AuditEvent:
    key = _key_of(session)
    session.flush()
    head = _head(session, key)
    touched = audit_rows.take_touched(session)
    rows = (audit_rows.all_rows(session, key.secret) if all_rows
            else audit_rows.digests(session, key.secret, touched)) or None
    # JSON round trip now, so the hash covers exactly what the database will return
    details = json.loads(json.dumps(details or {}, default=str))
    rows = json.loads(json.dumps(rows)) if rows is not None else None
    at = utcnow()
    seq = head.seq + 1
    entity = None if entity_id is None else str(entity_id)
    digest = keyed_event_hash(key, seq=seq, at=at, actor=actor, action=action, topic=topic,
                              entity_type=entity_type, entity_id=entity, details=details,
                              rows=rows, prev_hash=head.last_hash)
    event = AuditEvent(seq=seq, at=at, actor=actor, action=action, topic=topic,
                       entity_type=entity_type, entity_id=entity, details=details,
                       row_digests=rows, scheme=KEYED, prev_hash=head.last_hash, hash=digest)
    session.add(event)
    head.seq = seq
    head.last_hash = digest
    session.flush()
    return event


def append(session: Session, *, actor: str, action: str, topic: str | None = None,
           entity_type: str | None = None, entity_id: Any = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The event also records the digests of every delivery, correction and user row the
    transaction created, changed or deleted since the previous event.
    """
    return _append(session, actor=actor, action=action, topic=topic, entity_type=entity_type,
                   entity_id=entity_id, details=details)


# -- verifying ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditReport:
    events: int
    ok: bool
    problems: tuple[str, ...] = field(default=())
    #: True when the chain is keyed and was checked with the key
    keyed: bool = False
    key_id: str | None = None
    rows_checked: int = 0
    #: the problems (also in ``problems``) with delivery, correction and user rows
    row_problems: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "ok": self.ok, "problems": list(self.problems),
                "keyed": self.keyed, "key_id": self.key_id, "rows_checked": self.rows_checked}


@dataclass
class _Walk:
    """What one pass over the chain found."""

    count: int = 0
    plain: int = 0
    keyed: int = 0
    last_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)
    recorded: dict[audit_rows.RowKey, audit_rows.Recorded] = field(default_factory=dict)


def _walk(session: Session, key: AuditKey | None, *, check_keyed: bool) -> _Walk:
    """Check links, order and every hash that can be checked; collect the rows recorded."""
    w = _Walk()
    expected_seq = 1
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000):
        w.count += 1
        if ev.seq != expected_seq:
            w.problems.append(f"event seq {expected_seq} is missing (found seq {ev.seq} next)")
            expected_seq = ev.seq
        if ev.prev_hash != w.last_hash:
            w.problems.append(f"event seq {ev.seq} ({ev.action}) does not link to the event "
                              "before it: an event was deleted, inserted or reordered")
        where = f"event seq {ev.seq} ({ev.action} by {ev.actor} at {_canonical_time(ev.at)})"
        if ev.scheme == PLAIN:
            w.plain += 1
            if w.keyed or check_keyed:
                w.problems.append(f"{where} is not keyed (plain SHA-256) although this chain is "
                                  "keyed: it was rewritten by someone without the audit key")
            elif _rehash(None, ev, ev.prev_hash) != ev.hash:
                w.problems.append(f"{where} was edited after it was written")
        else:
            w.keyed += 1
            if check_keyed and _rehash(key, ev, ev.prev_hash) != ev.hash:
                w.problems.append(f"{where} was edited after it was written (its keyed hash does "
                                  "not verify)")
            for text, entry in (ev.row_digests or {}).items():
                w.recorded[audit_rows.parse_key(text)] = audit_rows.Recorded(
                    entry=entry, seq=ev.seq, action=ev.action, actor=ev.actor,
                    at=_canonical_time(ev.at), details=ev.details,
                    entity=(ev.entity_type, ev.entity_id))
        w.last_hash = ev.hash
        expected_seq += 1
    return w


def _key_state(session: Session, head: AuditHead | None,
               chain_keyed: bool) -> tuple[AuditKey | None, list[str]]:
    """The key to check with (None if it cannot be used) and what stops its use."""
    keyfile = session.info.get(KEY_INFO)
    if not isinstance(keyfile, AuditKeyFile):
        return None, ["no audit key was given to this session (open the store with Store)"]
    try:
        key = keyfile.load()
    except ConfigError as exc:
        return None, [exc.message] if chain_keyed else []
    if head is not None and head.key_id is not None and head.key_id != key.id:
        return None, [f"the audit key {keyfile.path} (id {key.id}) is not the key of this "
                      f"chain (id {head.key_id}): point IPDREPO_AUDIT_KEY_FILE at the right key "
                      "file; without it the chain cannot be checked"]
    return key, []


def _unkeyed_problem(session: Session) -> str:
    keyfile = session.info.get(KEY_INFO)
    if isinstance(keyfile, AuditKeyFile) and keyfile.exists():
        return (f"the audit chain is unkeyed (plain SHA-256) although this workspace has an "
                f"audit key ({keyfile.path}): someone without the key may have rewritten the "
                "whole chain. Restore the database from a backup; only if `ipdrepo audit rekey` "
                "was interrupted while upgrading, run `ipdrepo audit rekey --use-existing-key`.")
    return ("the audit chain is unkeyed (plain SHA-256, made by an earlier ipdrepo): anyone who "
            "can write the database could rewrite it undetected. Key it with `ipdrepo audit "
            "rekey`.")


def verify(session: Session, *, raise_on_error: bool = True) -> AuditReport:
    """Recompute the chain with the key and compare every covered row with its digests; report
    every event or row that does not verify, and say so when the chain is still unkeyed."""
    head = session.get(AuditHead, 1)
    keyed_events = session.scalar(select(func.count(AuditEvent.id))
                                  .where(AuditEvent.scheme != PLAIN)) or 0
    # keyed once an event is keyed or the head names a key: erasing either does not unkey it
    chain_keyed = keyed_events > 0 or (head is not None and head.key_id is not None)
    key, problems = _key_state(session, head, chain_keyed)
    if keyed_events and head is not None and head.key_id is None:
        problems.append(f"the chain head names no key although {keyed_events} events are keyed: "
                        "it was edited outside ipdrepo")
    w = _walk(session, key, check_keyed=chain_keyed and key is not None)
    if w.count and not chain_keyed:
        problems.append(_unkeyed_problem(session))
    problems.extend(w.problems)
    if head is not None and (head.seq != w.count or head.last_hash != w.last_hash):
        problems.append(f"the chain head says {head.seq} events ending in "
                        f"{head.last_hash[:12]}, but {w.count} events end in "
                        f"{w.last_hash[:12]}: events were removed at the end")
    rows_checked, row_problems = 0, list[str]()
    if key is not None and chain_keyed:
        rows_checked, row_problems = audit_rows.compare(session, key.secret, w.recorded)
        problems.extend(row_problems)
    report = AuditReport(events=w.count, ok=not problems, problems=tuple(problems),
                         keyed=key is not None and chain_keyed,
                         key_id=head.key_id if head is not None else None,
                         rows_checked=rows_checked, row_problems=tuple(row_problems))
    if problems and raise_on_error:
        raise AuditError("the audit trail does not verify:\n" +
                         "\n".join(f"  - {p}" for p in problems) +
                         "\nRestore the database from a backup and investigate who changed it.",
                         problems=problems)
    return report


# -- keying an existing chain ---------------------------------------------------------------

@dataclass(frozen=True)
class RekeyResult:
    events_rekeyed: int
    rows_recorded: int
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"events_rekeyed": self.events_rekeyed, "rows_recorded": self.rows_recorded,
                "key_id": self.key_id}


def unkeyed_events(session: Session) -> int:
    """How many events of the chain still carry a plain SHA-256 hash."""
    return session.scalar(select(func.count(AuditEvent.id))
                          .where(AuditEvent.scheme == PLAIN)) or 0


def rekey(session: Session, *, actor: str) -> RekeyResult:
    """Re-chain every plain SHA-256 event under the session's audit key, then append an
    ``audit.rekey`` event recording the digests of every covered row (in the caller's
    transaction). The plain chain must verify first: rekeying a tampered chain would bless it.
    """
    key = _key_of(session)
    head = session.get(AuditHead, 1, with_for_update=True)
    walk = _walk(session, None, check_keyed=False)
    if walk.keyed:
        raise AuditError("the audit chain is already (partly) keyed; nothing to re-chain. Run "
                         "`ipdrepo audit verify`.")
    problems = list(walk.problems)
    if head is not None and (head.seq != walk.count or head.last_hash != walk.last_hash):
        problems.append("the chain head does not match the last event")
    if problems:
        raise AuditError("the unkeyed audit chain does not verify, so it was not keyed (that "
                         "would make the changes look genuine):\n" +
                         "\n".join(f"  - {p}" for p in problems) +
                         "\nRestore the database from a backup.", problems=problems)
    previous = walk.last_hash
    prev = GENESIS
    changes = []
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000):
        digest = _rehash(key, ev, prev)
        changes.append({"id": ev.id, "prev_hash": prev, "hash": digest, "scheme": KEYED})
        prev = digest
    session.expire_all()
    if changes:
        session.execute(update(AuditEvent), changes)
    if head is None:
        head = AuditHead(id=1, seq=0, last_hash=GENESIS)
        session.add(head)
    head.last_hash, head.key_id = prev, key.id
    session.flush()
    event = _append(session, actor=actor, action="audit.rekey", topic=None,
                    entity_type="audit", entity_id=None, all_rows=True,
                    details={"events_rekeyed": len(changes), "key_id": key.id,
                             "previous_last_hash": previous, "scheme": KEYED})
    return RekeyResult(events_rekeyed=len(changes), rows_recorded=len(event.row_digests or {}),
                       key_id=key.id)
