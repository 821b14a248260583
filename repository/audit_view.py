"""What a user may see of the audit trail (``ipdrepo audit log``, the status summary).

A curator sees every event with its details, sequence number and hash. Everyone else sees
only the events they caused and - a trialist - the events about their own trial, and of each
event only when, who, what and on which entity, with the details cut down to a few descriptive
fields (:data:`SHOWN_DETAILS`): no participant IDs or pseudonyms, no raw or corrected values, no
hashes, and no sequence numbers (which would tell how much happens elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository.models import AuditEvent, Delivery, Trial
from repository.roles import Actor, require

__all__ = ["SHOWN_DETAILS", "audit_log", "count_visible_events"]

#: the details a non-curator sees of an event they may see
SHOWN_DETAILS = ("trial", "dataset", "format", "rows", "columns", "role", "source", "from", "to",
                 "resolution", "response_code", "version")


def audit_log(session: Session, *, actor: str, limit: int = 50,
              action: str | None = None) -> list[dict[str, Any]]:
    """The last ``limit`` events ``actor`` may see (of ``action``), oldest first."""
    who = require(session, actor, "audit.read")
    if who.sees_all:
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if action:
            query = query.where(AuditEvent.action == action)
        return [_full(e) for e in reversed(session.scalars(query).all())]
    rows: list[dict[str, Any]] = []
    for event in _visible(session, who, action):
        if len(rows) >= limit:
            break
        rows.append(_brief(event))
    return list(reversed(rows))


def count_visible_events(session: Session, *, actor: str) -> int:
    who = require(session, actor, "audit.read")
    return sum(1 for _ in _visible(session, who, None))


def _visible(session: Session, who: Actor, action: str | None) -> Iterator[AuditEvent]:
    """Events ``who`` may see, newest first."""
    mine = _trial_entities(session, who)
    query = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if not who.sees_all and not mine:  # an analyst: their own events only
        query = query.where(AuditEvent.actor == who.name)
    for event in session.scalars(query.execution_options(yield_per=500)):
        if who.sees_all or event.actor == who.name or _about(event, mine):
            yield event


def _trial_entities(session: Session, who: Actor) -> dict[str, set[str]]:
    """entity type -> the IDs of a trialist's trial's entities (empty for everyone else)."""
    if who.role != "trialist" or who.trial_id is None:
        return {}
    from repository.models import Correction, Query  # only a trialist's view needs them

    trial = session.get(Trial, who.trial_id)
    if trial is None:
        return {}

    def ids(model: Any) -> set[str]:
        return {str(i) for i in session.scalars(select(model.id)
                                                .where(model.trial_id == trial.id))}

    return {"trial": {trial.acronym}, "delivery": ids(Delivery), "query": ids(Query),
            "correction": ids(Correction), "topic": {trial.topic.slug}}


def _about(event: AuditEvent, mine: dict[str, set[str]]) -> bool:
    if not mine or event.topic not in (None, *mine["topic"]):
        return False
    if event.entity_type in ("trial", "delivery", "query", "correction"):
        return event.entity_id in mine[event.entity_type]
    details = event.details if isinstance(event.details, dict) else {}
    return details.get("trial") in mine["trial"]


def _full(e: AuditEvent) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at.isoformat(timespec="seconds"), "actor": e.actor,
            "action": e.action, "entity": f"{e.entity_type}:{e.entity_id}",
            "details": e.details, "hash": e.hash}


def _brief(e: AuditEvent) -> dict[str, Any]:
    details = e.details if isinstance(e.details, dict) else {}
    return {"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action,
            "entity": f"{e.entity_type}:{e.entity_id}",
            "details": {k: details[k] for k in SHOWN_DETAILS if k in details}}
