"""Data queries: raised from checks or by hand, answered by trialists, resolved by curators.

States follow REDCap's Data Resolution Workflow and OpenClinica's discrepancy notes::

    open ──export──> sent ──trialist answers──> answered ──curator accepts──> resolved
      │                │                          │  (corrected / confirmed correct /
      │                └─────────────<─ re-ask ───┘   cannot be resolved)
      └─ the check passes now ─> closed <──────────────────── resolved, check passes
    closed ── the check fails again ──> reopened (then as open)

A query is one *question* about one root cause (:mod:`harmonise.queries.questions`); it keeps
every finding behind it (:class:`~repository.models.QueryFinding`), and re-running the checks
updates the same query - matched by its findings' identities - instead of raising a duplicate
(:mod:`harmonise.queries.sync`). A query a curator reopened by hand is theirs: the checks never
close it behind their back. Every change appends a :class:`QueryMessage` to the thread (never
deleted) and an audit event. Concurrent changes to one query are detected (optimistic locking)
and refused with an error; nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from harmonise.queries.questions import Cell, Finding, query_key
from repository import audit
from repository.errors import NotFound, QueryError
from repository.models import Query, QueryFinding, QueryMessage, Topic, Trial, utcnow
from repository.reasons import Reason
from repository.roles import not_visible, require

__all__ = [
    "STATUSES",
    "RESOLUTIONS",
    "RESPONSE_CODES",
    "AUTO_SOURCES",
    "Cell",
    "Finding",
    "SyncReport",
    "query_key",
    "raise_query",
    "respond",
    "resolve",
    "close",
    "reopen",
    "comment",
    "forward",
    "held_by_curator",
    "mark_sent",
    "get_query",
    "query_to_dict",
    "finding_to_dict",
    "list_queries",
    "confirmed_correct_keys",
]

STATUSES = ("open", "sent", "answered", "resolved", "closed", "reopened")
RESOLUTIONS = ("corrected", "confirmed_correct", "cannot_be_resolved")
RESPONSE_CODES = ("typographical_error", "data_missing", "confirmed_correct", "wrong_source",
                  "other")
#: query sources that checks raise (and may close) automatically
AUTO_SOURCES = ("validation", "integrity", "mapping")
#: status -> statuses it may move to by a person (automatic closing/reopening is separate)
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"sent", "answered", "resolved", "closed"}),
    "reopened": frozenset({"sent", "answered", "resolved", "closed"}),
    "sent": frozenset({"sent", "answered", "resolved", "closed"}),
    "answered": frozenset({"sent", "answered", "resolved", "closed"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
}
ACTIVE = ("open", "reopened", "sent", "answered")


@dataclass(frozen=True)
class SyncReport:
    trial: str
    opened: tuple[int, ...] = ()
    reopened: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    unchanged: int = 0
    accepted: int = 0  # questions answered "confirmed correct" whose findings still hold
    findings: int = 0  # findings behind the questions

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "opened": len(self.opened), "reopened": len(self.reopened),
                "closed": len(self.closed), "updated": len(self.updated),
                "unchanged": self.unchanged, "accepted_confirmed_correct": self.accepted,
                "findings": self.findings}


def _message(session: Session, query: Query, *, author: str, kind: str,
             status_to: str | None = None, **fields: Any) -> QueryMessage:
    msg = QueryMessage(query_id=query.id, author=author, kind=kind, status_from=query.status,
                       status_to=status_to or query.status, **fields)
    session.add(msg)
    return msg


def _move(session: Session, query: Query, status: str, *, author: str, kind: str,
          topic: str, check_transition: bool = True, **fields: Any) -> None:
    if check_transition and status not in TRANSITIONS[query.status]:
        raise QueryError(f"query {query.id} is {query.status}; it cannot become {status} "
                         f"(allowed: {', '.join(sorted(TRANSITIONS[query.status]))}).",
                         query=query.id, status=query.status, wanted=status)
    before = query.status
    try:
        _message(session, query, author=author, kind=kind, status_to=status, **fields)
        query.status = status
        query.updated_at = utcnow()
        if status == "closed":
            query.closed_at = query.updated_at
            query.closed_reason = fields.get("comment")
        elif status == "reopened":
            query.closed_at = None
            query.resolution = None
        session.flush()
    except StaleDataError as exc:
        raise _stale(query) from exc
    audit.append(session, actor=author, action=f"query.{kind}", topic=topic, entity_type="query",
                 entity_id=query.id, details={"from": before, "to": status, "key": query.key,
                                              **{k: v for k, v in fields.items() if v is not None}})


def _stale(query: Query) -> QueryError:
    qid = query.__dict__.get("id")  # no refresh: the session must be rolled back first
    return QueryError(f"query {qid} was changed by someone else while you worked on it; "
                      "nothing was saved. Reload it (`ipdrepo queries show "
                      f"{qid}`) and try again.", query=qid, reason=Reason.CONFLICT)


def _flush(session: Session, query: Query) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise _stale(query) from exc


def get_query(session: Session, topic: Topic, query_id: int, *,
              actor: str | None = None) -> Query:
    """Query ``query_id`` of ``topic``; with ``actor``, only if they may read it: a trialist
    asking for another trial's query, or one that is not there, gets the same refusal."""
    query = session.get(Query, query_id)
    if actor is not None:
        who = require(session, actor, "queries.read")
        if not who.sees_all and (query is None or query.topic_id != topic.id
                                 or not who.sees_trial(query.trial_id)
                                 or query.audience != "trial"):
            raise not_visible(who, thing=f"query {query_id}", action="queries.read")
    if query is None or query.topic_id != topic.id:
        raise NotFound(f"no query {query_id} in topic {topic.slug}.", query=query_id)
    return query


def _trial_of(session: Session, query: Query) -> str:
    trial = session.get(Trial, query.trial_id)
    assert trial is not None  # a foreign key
    return trial.acronym


def raise_query(session: Session, topic: Topic, trial: Trial, *, question: str, actor: str,
                participant: str | None = None, variable: str | None = None,
                source_columns: Sequence[str] = (), rows: Sequence[int] = ()) -> Query:
    """Raise a query by hand on a participant, a variable, or the whole trial."""
    require(session, actor, "queries.manage", trial=trial.acronym)
    if not question.strip():
        raise QueryError("a query needs a question.")
    now = utcnow()
    key = query_key(trial.acronym, participant, variable, f"manual:{now.isoformat()}")
    q = Query(topic_id=topic.id, trial_id=trial.id, key=key, participant=participant,
              variable=variable, check_id="manual", source="manual", severity="error",
              question=question, source_columns=list(source_columns), raw_values={},
              rows=list(rows), raised_by=actor, raised_at=now, updated_at=now)
    session.add(q)
    session.flush()
    _message(session, q, author=actor, kind="raised", status_to="open", comment=question)
    audit.append(session, actor=actor, action="query.raise", topic=topic.slug,
                 entity_type="query", entity_id=q.id, details={"key": key, "source": "manual"})
    return q


def mark_sent(session: Session, query: Query, *, actor: str, topic: str,
              export_id: int | None = None) -> None:
    if query.status in ("open", "reopened", "sent", "answered"):
        _move(session, query, "sent", author=actor, kind="sent", topic=topic,
              export_id=export_id)


def respond(session: Session, query: Query, *, actor: str, topic: str, response_code: str,
            corrected_value: str | None = None, comment: str | None = None,
            export_id: int | None = None,
            cells: Sequence[Mapping[str, Any]] | None = None) -> None:
    """A trialist's (or curator's) answer: a response code, maybe a corrected value.

    ``cells``: corrected values of several participants' cells (the list of a question
    about several participants), each ``{participant, row, dataset, column, value}``.
    """
    require(session, actor, "queries.answer", trial=_trial_of(session, query))
    if response_code not in RESPONSE_CODES:
        raise QueryError(f"response code {response_code!r} is not one of "
                         f"{', '.join(RESPONSE_CODES)}.", query=query.id)
    if response_code == "typographical_error" and not corrected_value and not cells:
        raise QueryError(f"query {query.id}: a typographical error answer needs the corrected "
                         "value.", query=query.id)
    _move(session, query, "answered", author=actor, kind="response", topic=topic,
          response_code=response_code, corrected_value=corrected_value, comment=comment,
          export_id=export_id, cells=[dict(c) for c in cells] if cells else None)
    _flush(session, query)


def last_response(query: Query) -> QueryMessage | None:
    for msg in reversed(query.messages):
        if msg.kind == "response":
            return msg
    return None


def resolve(session: Session, query: Query, *, actor: str, topic: str, resolution: str,
            comment: str | None = None) -> None:
    """A curator resolves the query (corrections are made by
    :mod:`harmonise.queries.corrections`)."""
    require(session, actor, "corrections.accept", trial=_trial_of(session, query))
    if resolution not in RESOLUTIONS:
        raise QueryError(f"resolution {resolution!r} is not one of {', '.join(RESOLUTIONS)}.",
                         query=query.id)
    _move(session, query, "resolved", author=actor, kind="resolve", topic=topic,
          comment=comment or resolution.replace("_", " "))
    query.resolution = resolution
    _flush(session, query)


def close(session: Session, query: Query, *, actor: str, topic: str, reason: str) -> None:
    require(session, actor, "queries.manage", trial=_trial_of(session, query))
    _move(session, query, "closed", author=actor, kind="close", topic=topic, comment=reason)
    _flush(session, query)


def reopen(session: Session, query: Query, *, actor: str, topic: str, reason: str) -> None:
    """A curator reopens a closed or resolved query with the reason. The query is theirs from
    then on (:func:`held_by_curator`): a later validation never closes it automatically, even
    when its checks pass; it waits for the trial's answer and the curator's decision."""
    require(session, actor, "queries.manage", trial=_trial_of(session, query))
    _move(session, query, "reopened", author=actor, kind="reopen", topic=topic, comment=reason)
    _flush(session, query)


#: message kinds that settle a query (after them, a curator's earlier reopen no longer holds)
_SETTLING = ("resolve", "close", "auto-close")
_HOLDING = ("reopen", "reask")


def held_by_curator(query: Query) -> bool:
    """Whether a curator reopened ``query`` by hand and has not settled it since (resolved or
    closed): such a query is never closed automatically."""
    for msg in reversed(query.messages):
        if msg.kind in _HOLDING:
            return True
        if msg.kind in _SETTLING:
            return False
    return False


def forward(session: Session, query: Query, *, actor: str, topic: str,
            note: str | None = None) -> None:
    """A curator sends a question from their own list (a mapping problem) to the trial: it
    goes out in the next workbook. ``note`` is added to the question (e.g. what to ask)."""
    require(session, actor, "queries.manage", trial=_trial_of(session, query))
    if query.audience == "trial":
        raise QueryError(f"query {query.id} already goes to the trial.", query=query.id)
    if query.status not in ACTIVE:
        raise QueryError(f"query {query.id} is {query.status}; reopen it first.",
                         query=query.id, status=query.status)
    query.audience = "trial"
    if note:
        query.question = f"{query.question}\n{note}"
    _message(session, query, author=actor, kind="forward", comment=note or "sent to the trial")
    audit.append(session, actor=actor, action="query.forward", topic=topic,
                 entity_type="query", entity_id=query.id, details={"note": note})
    query.updated_at = utcnow()
    _flush(session, query)


def comment(session: Session, query: Query, *, actor: str, topic: str, text: str) -> None:
    require(session, actor, "queries.answer", trial=_trial_of(session, query))
    _message(session, query, author=actor, kind="comment", comment=text)
    audit.append(session, actor=actor, action="query.comment", topic=topic, entity_type="query",
                 entity_id=query.id, details={"comment": text})
    query.updated_at = utcnow()
    _flush(session, query)


def finding_to_dict(f: QueryFinding) -> dict[str, Any]:
    return {"key": f.key, "check": f.check_id, "source": f.source, "severity": f.severity,
            "participant": f.participant, "variable": f.variable, "dataset": f.dataset,
            "row": f.row, "sequence": f.sequence, "cells": list(f.cells or []),
            "value": f.value, "message": f.message, "role": f.role, "active": f.active,
            "first_seen": f.first_seen.isoformat(timespec="seconds"),
            "last_seen": f.last_seen.isoformat(timespec="seconds"),
            "cleared_at": f.cleared_at.isoformat(timespec="seconds") if f.cleared_at else None}


def query_to_dict(session: Session, query: Query, *, thread: bool = False) -> dict[str, Any]:
    """A query as JSON: the question, its state, its findings (active ones; with ``thread``
    every finding it ever had, and the whole thread)."""
    detail = dict(query.detail or {})
    findings = [finding_to_dict(f) for f in query.findings if thread or f.active]
    out: dict[str, Any] = {
        "id": query.id, "trial": _trial_of(session, query), "participant": query.participant,
        "variable": query.variable, "check": query.check_id, "source": query.source,
        "severity": query.severity, "status": query.status, "resolution": query.resolution,
        "audience": query.audience, "scope": detail.get("scope", "participant"),
        "question": query.question, "consequences": list(detail.get("consequences", [])),
        "participants": len(detail.get("participants", [])) or (
            1 if query.participant else 0),
        "findings": findings, "n_findings": sum(1 for f in query.findings if f.active),
        "checks": sorted({f.check_id for f in query.findings if f.active}),
        "due_on": query.due_on.isoformat() if query.due_on else None,
        "held_by_curator": held_by_curator(query),
        "value": query.value_received,
        "source_columns": query.source_columns, "raw_values": query.raw_values,
        "rows": query.rows, "raised_at": query.raised_at.isoformat(timespec="seconds"),
        "updated_at": query.updated_at.isoformat(timespec="seconds"),
        "age_days": (utcnow() - query.raised_at).days,
        "first_response_days": next(
            (round((m.at - query.raised_at).total_seconds() / 86400, 2)
             for m in query.messages if m.kind == "response"), None),
    }
    if thread:
        out["thread"] = [{"at": m.at.isoformat(timespec="seconds"), "author": m.author,
                          "kind": m.kind, "from": m.status_from, "to": m.status_to,
                          "response_code": m.response_code,
                          "corrected_value": m.corrected_value,
                          "cells": list(m.cells) if m.cells else None, "comment": m.comment}
                         for m in query.messages]
    return out


def confirmed_correct_keys(session: Session, topic: Topic | None = None) -> set[str]:
    """Identities of the queries resolved as "confirmed correct", and of every finding behind
    them: failures the checks may keep finding but that are accepted."""
    stmt = select(Query.key).where(Query.status == "resolved",
                                   Query.resolution == "confirmed_correct")
    found = select(QueryFinding.key).join(Query, Query.id == QueryFinding.query_id).where(
        Query.status == "resolved", Query.resolution == "confirmed_correct",
        QueryFinding.active.is_(True))
    if topic is not None:
        stmt = stmt.where(Query.topic_id == topic.id)
        found = found.where(Query.topic_id == topic.id)
    return set(session.scalars(stmt)) | set(session.scalars(found))


def list_queries(session: Session, topic: Topic, *, actor: str, trial: str | None = None,
                 status: Sequence[str] | None = None,
                 audience: str | None = None) -> list[Query]:
    """Queries visible to ``actor`` (a trialist sees only their trial's, and only the
    questions that go to the trial), optionally only those for ``audience`` (trial,
    curator)."""
    who = require(session, actor, "queries.read", trial=trial)
    stmt = select(Query).where(Query.topic_id == topic.id).order_by(Query.id)
    if who.role == "trialist":
        trial = who.trial
        audience = "trial"
    if trial:
        stmt = stmt.join(Trial, Trial.id == Query.trial_id).where(Trial.acronym == trial)
    if status:
        stmt = stmt.where(Query.status.in_(list(status)))
    if audience:
        stmt = stmt.where(Query.audience == audience)
    return list(session.scalars(stmt))
