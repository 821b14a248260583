"""Answering one query at a time (the web pages): what the trialist is shown, and the answer
checked exactly as the query workbook checks it.

:func:`answer_context` gathers, for one query, how each of its columns writes its values
(:class:`~harmonise.queries.workbook_checks.ColumnRule`, inferred from the delivery as the
workbook export does), the trial's own participant ID, and the values as they stand now: as
delivered, and after the corrections already accepted. :func:`check_query_answer` runs
:func:`~harmonise.queries.workbook_checks.check_answer` - the workbook import's own rules and
messages - and :func:`answer_query` records the answer only when that check passes, in one
transaction, as the workbook import would (the corrected value written the column's way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from harmonise.queries.corrections import active_corrections, apply_corrections, participant_rows
from harmonise.queries.delivery_cache import CachedDeliveries
from harmonise.queries.lifecycle import get_query, respond
from harmonise.queries.workbook_checks import (
    RESPONSES,
    CheckedAnswer,
    ColumnRule,
    check_answer,
    split_corrected_value,
)
from harmonise.values.cells import canonical_text
from repository.errors import QueryError
from repository.models import Query, Trial
from repository.store import Store

__all__ = ["ColumnNow", "AnswerContext", "answer_context", "check_query_answer",
           "answer_query", "answer_pattern", "RESPONSES", "ANSWERABLE"]

#: statuses in which a query takes an answer
ANSWERABLE = ("open", "reopened", "sent", "answered")


@dataclass(frozen=True)
class ColumnNow:
    """One of the query's columns: what to write, and its value as delivered and now."""

    column: str
    expected: str  # ColumnRule.describe(), e.g. "a date as DD/MM/YYYY (e.g. 17/02/2003)"
    delivered: str | None
    now: str | None  # in the current delivery, with accepted corrections applied
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AnswerContext:
    query: int
    trial: str
    participant_id: str | None  # the trial's own ID (None: a question about the whole trial)
    rules: tuple[ColumnRule, ...]
    columns: tuple[ColumnNow, ...]

    @property
    def expected(self) -> str:
        if not self.rules:
            return "a question about the whole trial: answer in Comment"
        if len(self.rules) == 1:
            return self.rules[0].describe()
        return ("COLUMN=value; COLUMN=value, for the columns that change: " +
                "; ".join(f"{r.column}: {r.describe()}" for r in self.rules))


def _values_now(session: Session, trial: Trial, deliveries: CachedDeliveries,
                query: Query) -> dict[str, str | None]:
    current = [d for d in deliveries.ordered if d.is_current and d.dataset == "main"]
    if not current or query.participant is None:
        return {}
    delivery = current[0]
    table = deliveries.table(delivery)
    frame = table.frame
    pseudonyms = list(deliveries.pseudonyms(delivery))
    mine = [c for c in active_corrections(session, trial) if c.participant == query.participant]
    if mine:
        frame, _ = apply_corrections(frame, pseudonyms, mine)
    rows = participant_rows(pseudonyms, query.participant)
    if not rows:
        return {}
    out: dict[str, str | None] = {}
    for column in [str(c) for c in query.source_columns or []]:
        if column in frame.columns:
            out[column] = canonical_text(frame[column].iloc[rows[0]])
    return out


def answer_context(store: Store, session: Session, query: Query) -> AnswerContext:
    """What the answer form of ``query`` shows and checks against (see the module docstring)."""
    trial = session.get(Trial, query.trial_id)
    assert trial is not None  # a foreign key
    deliveries = CachedDeliveries(store, session, trial)
    delivery = deliveries.delivery_of(query)
    rules, infos = [], {}
    for name in [str(c) for c in query.source_columns or []]:
        rule, info = deliveries.rule(name, delivery)
        rules.append(rule)
        if info is not None:
            infos[name] = info
    own = deliveries.own_id(query.participant) if query.participant is not None else None
    now = _values_now(session, trial, deliveries, query)
    raw = dict(query.raw_values or {})
    columns = []
    for rule in rules:
        info = infos.get(rule.column)
        labels = tuple((str(k), str(v)) for k, v in (info.value_labels.items()
                                                     if info is not None else ()))
        columns.append(ColumnNow(column=rule.column, expected=rule.describe(),
                                 delivered=canonical_text(raw.get(rule.column)),
                                 now=now.get(rule.column), labels=labels))
    return AnswerContext(query=query.id, trial=trial.acronym, participant_id=own,
                         rules=tuple(rules), columns=tuple(columns))


def check_query_answer(rules: Sequence[ColumnRule], *, response: str | None,
                       value: str | None, comment: str | None) -> CheckedAnswer:
    """The workbook import's check of one answer (an empty form is "no response code")."""
    checked = check_answer(response, value, comment, rules)
    if checked.empty:
        choices = "; ".join(x.label for x in RESPONSES)
        return CheckedAnswer(None, None, None, problems=(
            ("response", f"choose a response from the list ({choices})."),))
    return checked


def answer_query(store: Store, query_id: int, *, response: str | None, value: str | None,
                 comment: str | None, expected_version: int | None = None) -> CheckedAnswer:
    """Check an answer as the workbook import does and, if it passes, record it (one
    transaction; the acting user is the store's). Returns the check: nothing is recorded when
    it has problems. ``expected_version``: the query's version the form was made from; if
    someone changed the query since, QueryError (nothing is recorded)."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id, actor=actor)
        if expected_version is not None and query.version != expected_version:
            raise QueryError(f"query {query_id} was changed by someone else while you answered "
                             "(another answer or a curator's decision); reload the page, read "
                             "the thread and answer again.", query=query_id)
        context = answer_context(store, session, query)
        checked = check_query_answer(context.rules, response=response, value=value,
                                     comment=comment)
        if not checked.ok:
            return checked
        assert checked.response_code is not None
        respond(session, query, actor=actor, topic=topic.slug,
                response_code=checked.response_code, corrected_value=checked.corrected_value,
                comment=checked.comment)
        return checked


def answer_pattern(store: Store, query_id: int, *, response: str | None, value: str | None,
                   comment: str | None, expected_version: int | None = None) -> CheckedAnswer:
    """One answer for every participant listed by a question about several participants (a
    pattern): ``value`` - checked as the workbook checks one answer, written the column's way
    (``COLUMN=value; ...`` for several columns) - becomes the corrected value of each listed
    participant's cells, recorded as the workbook's participant sheet would record them. A
    response that keeps the values (Confirmed correct ...) is recorded for the question as a
    whole. QueryError if the question lists no participants or changed since
    ``expected_version``; nothing is recorded when the check has problems."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id, actor=actor)
        if expected_version is not None and query.version != expected_version:
            raise QueryError(f"query {query_id} was changed by someone else while you answered "
                             "(another answer or a curator's decision); reload the page, read "
                             "the thread and answer again.", query=query_id)
        detail = query.detail or {}
        listed = [dict(p) for p in detail.get("participants") or []]
        if not listed:
            raise QueryError(f"query {query_id} is not about several participants: answer it "
                             "with the ordinary answer form.", query=query_id)
        trial = session.get(Trial, query.trial_id)
        assert trial is not None  # a foreign key
        deliveries = CachedDeliveries(store, session, trial)
        delivery = deliveries.delivery_of(query)
        columns = [str(c) for c in detail.get("columns") or query.source_columns or []]
        rules = [deliveries.rule(c, delivery)[0] for c in columns]
        checked = check_query_answer(rules, response=response, value=value, comment=comment)
        if not checked.ok:
            return checked
        assert checked.response_code is not None
        cells: list[dict[str, Any]] = []
        if checked.corrected_value is not None:
            values = ({columns[0]: checked.corrected_value} if len(columns) == 1 else
                      split_corrected_value(checked.corrected_value, columns))
            cells = [{"participant": p.get("participant"), "row": p.get("row"),
                      "dataset": str(p.get("dataset") or "main"), "column": column,
                      "value": new} for p in listed for column, new in values.items()]
        respond(session, query, actor=actor, topic=topic.slug,
                response_code=checked.response_code, comment=checked.comment,
                cells=cells or None)
        return checked
