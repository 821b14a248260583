"""Syncing a trial's questions with what the checks found now.

:func:`sync_queries` groups the findings (:func:`~harmonise.queries.questions.group_findings`),
words each group (a callable the pipeline passes; the checks' own messages otherwise) and
makes the trial's automatic queries match:

* a group whose findings belong to an existing question updates it (the question's identity is
  its findings' identities, so re-validating never raises an answered question again as new);
  a closed or resolved question whose findings fail again is reopened; one answered
  "confirmed correct" stays accepted while its findings keep their values;
* a group nobody asked about yet raises a new question (keyed by its primary finding);
* a question none of whose findings fails any more is closed with the reason - unless a check
  behind it did not run (skipped checks close nothing), or a curator reopened it by hand
  (:func:`~harmonise.queries.lifecycle.held_by_curator`): then it waits for them.

Every finding a question ever had stays in its ``findings`` (inactive once it passes or moves to
another question), for the curator and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.queries.lifecycle import (
    AUTO_SOURCES,
    SyncReport,
    _message,
    _move,
    held_by_curator,
)
from harmonise.queries.questions import (
    Finding,
    Group,
    Wording,
    cell_labels,
    default_wording,
    group_findings,
)
from repository import audit
from repository.models import Query, QueryFinding, Topic, Trial, utcnow
from repository.roles import require
from repository.trials import lock_trial

__all__ = ["sync_queries", "question_detail"]


def question_detail(group: Group, words: Wording) -> dict[str, Any]:
    """What a question keeps for the workbook, the CLI and the dashboard (``Query.detail``)."""
    cells = group.cells
    labels = cell_labels(cells, words.language)
    participant = group.participant
    out: dict[str, Any] = {
        "scope": group.scope if len(group.participants) <= 1 or group.scope == "trial"
        else "participants",
        "language": words.language,
        "consequences": list(words.consequences),
        "cells": [{**c.to_dict(), "label": label, "participant": participant}
                  for c, label in zip(cells, labels)],
        "columns": list(group.columns),
    }
    if words.hint:
        out["hint"] = words.hint
    if out["scope"] != "participant":
        out["scope"] = "participants" if group.participants else "trial"
        columns = list(group.columns)
        out["participants"] = [{"participant": p, "row": r, "columns": columns}
                               for p, r in group.participants]
    return out


def _raw_values(group: Group, language: str) -> dict[str, Any]:
    """The raw value of each of the question's cells, by the label the trial sees."""
    values: dict[str, Any] = {}
    for cell, label in zip(group.cells, cell_labels(group.cells, language)):
        for f in group.findings:
            if cell.column in f.raw_values and (not f.rows or cell.row in f.rows):
                values[label] = f.raw_values[cell.column]
                break
    if not group.cells:
        for f in group.findings:
            for k, v in f.raw_values.items():
                values.setdefault(k, v)
    return values


def _fill(query: Query, group: Group, words: Wording, delivery_id: int | None) -> None:
    p = group.primary
    query.participant = group.participant
    query.variable = (p.variable or "")[:100] or None
    query.check_id = p.check_id
    query.source = p.source
    query.severity = group.severity
    query.question = words.text
    query.value_received = p.value
    labels = cell_labels(group.cells, words.language)
    query.source_columns = labels if group.cells else list(group.columns)
    query.raw_values = _raw_values(group, words.language)
    rows = sorted({c.row for c in group.cells} | {r for f in group.findings for r in f.rows
                                                    if f.scope == "participant"})
    if group.scope == "trial" or len(group.participants) > 1:
        rows = sorted({r for _, r in group.participants if r is not None})
    query.rows = rows[:1000]
    query.detail = question_detail(group, words)
    query.delivery_id = delivery_id or query.delivery_id
    forwarded = any(m.kind == "forward" for m in query.messages) if query.id else False
    if not forwarded:
        query.audience = group.audience


def _sync_findings(session: Session, query: Query, group: Group, now: datetime,
                   ran: set[str]) -> tuple[list[str], list[str]]:
    """Make the query's findings those of ``group``; (added keys, cleared keys)."""
    rows = {f.key: f for f in query.findings}
    current = {f.key for f in group.findings}
    added: list[str] = []
    for i, f in enumerate(group.findings):
        role = "cause" if i == 0 else "consequence"
        cells = [c.to_dict() for c in f.all_cells]
        row = rows.get(f.key)
        if row is None:
            row = QueryFinding(query_id=query.id, key=f.key, first_seen=now)
            session.add(row)
            query.findings.append(row)
            added.append(f.key)
        elif not row.active:
            added.append(f.key)
        row.check_id, row.source, row.severity = f.check_id, f.source, f.severity
        row.participant, row.variable = f.participant, f.variable
        row.dataset, row.row, row.sequence = f.dataset, f.row, f.sequence
        row.cells, row.value, row.message, row.role = cells, f.value, f.message, role
        row.active, row.last_seen, row.cleared_at = True, now, None
    cleared = []
    for key, row in rows.items():
        if key not in current and row.active and row.check_id in ran:
            row.active, row.cleared_at = False, now
            cleared.append(key)
    return added, cleared


def _accepted(query: Query, group: Group) -> bool:
    """Whether a question answered "confirmed correct" still covers ``group``: every finding
    was there when it was accepted, with the same value."""
    held = {f.key: f.value for f in query.findings if f.active}
    if not held:
        held = {query.key: query.value_received}
    return all(f.key in held and held[f.key] == f.value for f in group.findings)


def _claims(existing: list[Query], groups: list[Group]) -> dict[int, Group]:
    """Which existing question each group belongs to (by its findings' identities)."""
    owners: dict[str, list[tuple[bool, int]]] = {}
    by_id = {q.id: q for q in existing}
    for q in existing:
        for f in q.findings:
            owners.setdefault(f.key, []).append((f.active, q.id))
        owners.setdefault(q.key, []).append((True, q.id))
    claimed: dict[int, Group] = {}
    for g in sorted(groups, key=lambda g: -len(g.findings)):
        scores: dict[int, list[int]] = {}
        for key in g.keys:
            for active, qid in owners.get(key, []):
                score = scores.setdefault(qid, [0, 0])
                score[0] += int(active)
                score[1] += 1
        ranked = sorted(scores, key=lambda qid: (-scores[qid][0], -scores[qid][1],
                                                 by_id[qid].status == "closed", qid))
        pick = next((qid for qid in ranked if qid not in claimed), None)
        if pick is not None:
            claimed[pick] = g
    return claimed


def _new_key(session: Session, topic: Topic, key: str) -> str:
    candidate, n = key, 1
    while session.scalar(select(Query.id).where(Query.topic_id == topic.id,
                                                Query.key == candidate)) is not None:
        n += 1
        candidate = f"{key}#q{n}"
    return candidate


def sync_queries(session: Session, topic: Topic, trial: Trial, findings: Iterable[Finding], *,
                 checks_run: Iterable[str], actor: str, delivery_id: int | None = None,
                 wording: Callable[[Group], Wording] | None = None) -> SyncReport:
    """Make the trial's automatic questions match what the checks found now (see the module
    docstring); ``wording`` words a group for the trial (default: the checks' messages)."""
    require(session, actor, "queries.manage", trial=trial.acronym)
    lock_trial(session, trial.id)  # two validates at once: the second sees the first's queries
    ran = set(checks_run)
    word = wording or default_wording
    unique = list({f.key: f for f in findings}.values())
    groups = group_findings(unique)
    existing = list(session.scalars(select(Query).where(
        Query.trial_id == trial.id, Query.source.in_(AUTO_SOURCES)).order_by(Query.id)))
    claims = _claims(existing, groups)
    owner = {id(g): qid for qid, g in claims.items()}
    by_id = {q.id: q for q in existing}
    opened: list[int] = []
    reopened: list[int] = []
    closed: list[int] = []
    updated: list[int] = []
    unchanged = accepted = 0
    now = utcnow()
    for g in groups:
        words = word(g)
        qid = owner.get(id(g))
        if qid is None:
            opened.append(_raise(session, topic, trial, g, words, actor=actor, now=now,
                                 delivery_id=delivery_id, ran=ran))
            continue
        outcome = _update(session, topic, by_id[qid], g, words, actor=actor, now=now,
                          delivery_id=delivery_id, ran=ran)
        if outcome == "accepted":
            accepted += 1
        elif outcome == "unchanged":
            unchanged += 1
        else:
            (reopened if outcome == "reopened" else updated).append(qid)
    moved = {key: qid for qid, g in claims.items() for key in g.keys}
    for q in existing:
        if q.id in claims:
            continue
        closed_id = _close_passing(session, topic, q, ran=ran, moved=moved, actor=actor,
                                   now=now)
        if closed_id is not None:
            closed.append(closed_id)
    session.flush()
    return SyncReport(trial=trial.acronym, opened=tuple(opened), reopened=tuple(reopened),
                      closed=tuple(closed), updated=tuple(updated), unchanged=unchanged,
                      accepted=accepted, findings=len(unique))


def _update(session: Session, topic: Topic, q: Query, g: Group, words: Wording, *,
            actor: str, now: datetime, delivery_id: int | None, ran: set[str]) -> str:
    """Bring the existing query ``q`` up to the group ``g`` that claims it: ``accepted`` (its
    values were confirmed correct and are unchanged), ``reopened``, ``updated`` or
    ``unchanged``."""
    if q.status == "resolved" and q.resolution == "confirmed_correct" and _accepted(q, g):
        for f in q.findings:
            if f.active:
                f.last_seen = now
        return "accepted"
    before = (q.question, q.value_received, list(q.rows or []), dict(q.detail or {}))
    reopened = q.status in ("closed", "resolved")
    if reopened:
        why = ("the values confirmed correct changed" if q.resolution == "confirmed_correct"
               else "the check fails again")
        _move(session, q, "reopened", author=actor, kind="auto-reopen", topic=topic.slug,
              check_transition=False, comment=f"{why}: {words.text}")
    _fill(q, g, words, delivery_id)
    added, cleared = _sync_findings(session, q, g, now, ran)
    if added or cleared:
        audit.append(session, actor=actor, action="query.findings", topic=topic.slug,
                     entity_type="query", entity_id=q.id,
                     details={"added": added, "cleared": cleared})
    if reopened:
        return "reopened"
    if added or cleared or before != (q.question, q.value_received, list(q.rows or []),
                                         dict(q.detail or {})):
        q.updated_at = now
        return "updated"
    return "unchanged"


def _raise(session: Session, topic: Topic, trial: Trial, group: Group, words: Wording, *,
           actor: str, now: datetime, delivery_id: int | None, ran: set[str]) -> int:
    q = Query(topic_id=topic.id, trial_id=trial.id,
              key=_new_key(session, topic, group.primary.key), raised_by=actor, raised_at=now,
              updated_at=now, raw_values={}, source_columns=[], rows=[], detail={})
    _fill(q, group, words, delivery_id)
    session.add(q)
    session.flush()
    _sync_findings(session, q, group, now, ran)
    _message(session, q, author=actor, kind="raised", status_to="open", comment=words.text)
    audit.append(session, actor=actor, action="query.raise", topic=topic.slug,
                 entity_type="query", entity_id=q.id,
                 details={"key": q.key, "source": q.source, "audience": q.audience,
                          "findings": [{"key": f.key, "check": f.check_id, "value": f.value}
                                       for f in group.findings]})
    return q.id


def _close_passing(session: Session, topic: Topic, q: Query, *, ran: set[str],
                   moved: dict[str, int], actor: str, now: datetime) -> int | None:
    """Close ``q`` (found by no group now) when every check behind it ran; its id if closed."""
    active = [f for f in q.findings if f.active]
    checks = {f.check_id for f in active} or {q.check_id}
    if q.status == "closed" or not checks <= ran:
        return None
    for f in active:
        f.active, f.cleared_at = False, now
    if held_by_curator(q):
        return None
    elsewhere = sorted({moved[f.key] for f in active if f.key in moved})
    if elsewhere:
        reason = f"now part of query {', '.join(map(str, elsewhere))}"
    else:
        noun = "check passes" if len(checks) == 1 else "checks pass"
        reason = (f"{noun} now ({', '.join(sorted(checks))})" +
                  (" after the correction" if q.resolution == "corrected" else ""))
    _move(session, q, "closed", author=actor, kind="auto-close", topic=topic.slug,
          check_transition=False, comment=reason)
    return q.id
