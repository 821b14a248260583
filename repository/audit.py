"""The append-only, hash-chained audit trail.

Every change to the store appends one :class:`~repository.models.AuditEvent` in the same
transaction as the change. Each event's hash covers its content and the previous event's hash,
so editing, deleting or reordering any past event breaks the chain; :func:`verify` finds where.
Appends are serialised by locking the single ``audit_head`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serialises writers itself).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository.errors import AuditError
from repository.models import AuditEvent, AuditHead, utcnow

__all__ = ["GENESIS", "append", "verify", "AuditReport", "event_hash"]

GENESIS = "0" * 64


def _canonical_time(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def event_hash(*, seq: int, at: datetime, actor: str, action: str, topic: str | None,
               entity_type: str | None, entity_id: str | None, details: Any,
               prev_hash: str) -> str:
    payload = {
        "seq": seq, "at": _canonical_time(at), "actor": actor, "action": action,
        "topic": topic, "entity_type": entity_type, "entity_id": entity_id,
        "details": details, "prev_hash": prev_hash,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def append(session: Session, *, actor: str, action: str, topic: str | None = None,
           entity_type: str | None = None, entity_id: Any = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction."""
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        head = AuditHead(id=1, seq=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    # JSON round trip now, so the hash covers exactly what the database will return
    details = json.loads(json.dumps(details or {}, default=str))
    at = utcnow()
    seq = head.seq + 1
    entity = None if entity_id is None else str(entity_id)
    digest = event_hash(seq=seq, at=at, actor=actor, action=action, topic=topic,
                        entity_type=entity_type, entity_id=entity, details=details,
                        prev_hash=head.last_hash)
    event = AuditEvent(seq=seq, at=at, actor=actor, action=action, topic=topic,
                       entity_type=entity_type, entity_id=entity, details=details,
                       prev_hash=head.last_hash, hash=digest)
    session.add(event)
    head.seq = seq
    head.last_hash = digest
    session.flush()
    return event


@dataclass(frozen=True)
class AuditReport:
    events: int
    ok: bool
    problems: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "ok": self.ok, "problems": list(self.problems)}


def verify(session: Session, *, raise_on_error: bool = True) -> AuditReport:
    """Recompute the chain; report every event whose content or link does not verify."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    count = 0
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000):
        count += 1
        if ev.seq != expected_seq:
            problems.append(f"event seq {expected_seq} is missing (found seq {ev.seq} next)")
            expected_seq = ev.seq
        if ev.prev_hash != prev:
            problems.append(f"event seq {ev.seq} ({ev.action}) does not link to the event before "
                            "it: an event was deleted, inserted or reordered")
        digest = event_hash(seq=ev.seq, at=ev.at, actor=ev.actor, action=ev.action,
                            topic=ev.topic, entity_type=ev.entity_type,
                            entity_id=ev.entity_id, details=ev.details, prev_hash=ev.prev_hash)
        if digest != ev.hash:
            problems.append(f"event seq {ev.seq} ({ev.action} by {ev.actor} at "
                            f"{_canonical_time(ev.at)}) was edited after it was written")
        prev = ev.hash
        expected_seq += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.last_hash != prev):
        problems.append(f"the chain head says {head.seq} events ending in {head.last_hash[:12]}, "
                        f"but {count} events end in {prev[:12]}: events were removed at the end")
    report = AuditReport(events=count, ok=not problems, problems=tuple(problems))
    if problems and raise_on_error:
        raise AuditError("the audit trail does not verify:\n" +
                         "\n".join(f"  - {p}" for p in problems) +
                         "\nRestore the database from a backup and investigate who changed it.",
                         problems=problems)
    return report
