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

from collections.abc import Mapping, Sequence
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
    ListAnswers,
    SheetRow,
    check_answer,
)
from harmonise.queries.workbook_lists import ListRow, check_list
from harmonise.queries.workbook_render import LIST_COLUMNS, headers, letters
from harmonise.queries.workbook_view import view_question
from harmonise.values.cells import canonical_text
from repository.errors import QueryError
from repository.models import Query, Trial
from repository.reasons import Reason
from repository.store import Store

__all__ = ["ColumnNow", "AnswerContext", "answer_context", "check_query_answer",
           "answer_query", "answer_pattern", "RESPONSES", "ANSWERABLE", "ListedRow",
           "PatternContext", "pattern_context", "CheckedPattern", "check_pattern_answer"]

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
    long_rows = deliveries.long_values_now(query)  # a question about rows of a long dataset
    if long_rows:
        return long_rows
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


def _unchanged(session: Session, topic: Any, query_id: int, actor: str,
               expected_version: int | None) -> Query:
    """The query, if no one changed it since ``expected_version`` (else QueryError)."""
    query = get_query(session, topic, query_id, actor=actor)
    if expected_version is not None and query.version != expected_version:
        raise QueryError(f"query {query_id} was changed by someone else while you answered "
                         "(another answer or a curator's decision); reload the page, read "
                         "the thread and answer again.", query=query_id,
                         reason=Reason.CONFLICT)
    return query


def answer_query(store: Store, query_id: int, *, response: str | None, value: str | None,
                 comment: str | None, expected_version: int | None = None) -> CheckedAnswer:
    """Check an answer as the workbook import does and, if it passes, record it (one
    transaction; the acting user is the store's). Returns the check: nothing is recorded when
    it has problems. ``expected_version``: the query's version the form was made from; if
    someone changed the query since, QueryError (nothing is recorded)."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = _unchanged(session, topic, query_id, actor, expected_version)
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


@dataclass(frozen=True)
class ListedRow:
    """One participant of a question about several participants, as its list sheet (and the
    bulk answer form) shows it: the sheet's row number is the form's key."""

    row: int
    participant: str | None  # the trial's own ID (or "row N, no ID")
    columns: str | None
    delivered: str | None  # the value as it stands now, saying what was sent if corrected


@dataclass(frozen=True)
class PatternContext:
    """What the bulk answer form of a question about several participants shows and checks
    against: the rows of the workbook's list sheet, as :func:`view_question` makes them."""

    query: int
    sheet: str
    rules: tuple[ColumnRule, ...]
    rows: tuple[ListedRow, ...]
    records: tuple[ListRow, ...]
    pseudonyms: Mapping[str, str]  # own ID as shown -> pseudonym

    @property
    def expected(self) -> str:
        if len(self.rules) == 1:
            return self.rules[0].describe()
        return ("COLUMN=value; COLUMN=value, for the columns that change: " +
                "; ".join(f"{r.column}: {r.describe()}" for r in self.rules))


def pattern_context(store: Store, session: Session, query: Query) -> PatternContext | None:
    """The list of ``query``'s participants (None: the question is not about several)."""
    if not (query.detail or {}).get("participants"):
        return None
    trial = session.get(Trial, query.trial_id)
    assert trial is not None  # a foreign key
    view = view_question(query, CachedDeliveries(store, session, trial), lang="en", due=None)
    assert view.sheet is not None
    rows = tuple(ListedRow(row=r.row, participant=shown.get("participant"),
                           columns=shown.get("columns"), delivered=shown.get("delivered"))
                 for r, shown in zip(view.list_rows, view.sheet.rows))
    return PatternContext(query=query.id, sheet=view.sheet.name,
                          rules=view.list_rows[0].columns if view.list_rows else (),
                          rows=rows, records=view.list_rows,
                          pseudonyms={r.participant: rec.participant for r, rec in
                                      zip(rows, view.list_rows)
                                      if r.participant and rec.participant})


@dataclass(frozen=True)
class CheckedPattern:
    """A bulk answer as the workbook import judges the question's row and its list sheet."""

    answer: CheckedAnswer
    listed: ListAnswers
    sheet: str

    @property
    def ok(self) -> bool:
        return self.answer.ok and not self.listed.problems

    @property
    def corrected_value(self) -> str | None:
        return self.answer.corrected_value

    @property
    def comment(self) -> str | None:
        notes = ([self.answer.comment] if self.answer.comment else []) + \
            list(self.listed.comments)
        return "\n".join(notes) or None

    @property
    def problems(self) -> tuple[tuple[str, str], ...]:
        """``(field, message)``: the question's fields (response, corrected, comment), and
        ``row-N`` / ``note-N`` for the corrected value / comment of list row N."""
        names = headers("en", LIST_COLUMNS)
        out = list(self.answer.problems)
        for p in self.listed.problems:
            field = {names["corrected"]: f"row-{p.row}", names["comment"]: f"note-{p.row}"
                     }.get(p.column or "", "form")
            out.append((field, p.message))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "response_code": self.answer.response_code,
                "cells": [dict(c) for c in self.listed.cells],
                "problems": [{"field": f, "message": m} for f, m in self.problems]}


def check_pattern_answer(context: PatternContext, *, response: str | None, value: str | None,
                         comment: str | None,
                         rows: Mapping[int, tuple[str | None, str | None]] | None = None
                         ) -> CheckedPattern:
    """Check a bulk answer exactly as the workbook import checks the question's row and its
    list sheet: ``rows`` maps a list row to (its corrected value, its comment), each checked
    against the participant's columns (:func:`~harmonise.queries.workbook_lists.check_list`);
    ``value``, one corrected value for every participant, fills the rows left empty."""
    rows = dict(rows or {})
    fill = None
    if value is not None:
        one = check_answer(response, value, None, context.rules)
        fill = one.corrected_value if not any(f == "corrected" for f, _ in one.problems) \
            else None
    sheet_rows = []
    for r in context.rows:
        own, note = rows.get(r.row, (None, None))
        sheet_rows.append(SheetRow(row=r.row, cells={
            "participant": r.participant, "columns": r.columns, "delivered": r.delivered,
            "corrected": own if own is not None else fill, "comment": note}))
    listed = check_list(context.sheet, sheet_rows, context.records, query=context.query,
                        letters=letters(LIST_COLUMNS), headers=headers("en", LIST_COLUMNS),
                        pseudonym=lambda own: context.pseudonyms.get(own, ""))
    filled = ListAnswers(cells=listed.cells, comments=listed.comments, problems=())
    answer = check_answer(response, None if fill is not None else value, comment,
                          context.rules, listed=filled, list_sheet=context.sheet)
    if answer.empty:
        answer = check_query_answer(context.rules, response=None, value=None, comment=None)
    elif fill is not None:
        answer = CheckedAnswer(answer.response_code, fill, answer.comment, answer.problems)
    return CheckedPattern(answer=answer, listed=listed, sheet=context.sheet)


def answer_pattern(store: Store, query_id: int, *, response: str | None, value: str | None,
                   comment: str | None, expected_version: int | None = None,
                   rows: Mapping[int, tuple[str | None, str | None]] | None = None
                   ) -> CheckedPattern:
    """Answer a question about several participants (a pattern) at once: a response for the
    question, and the corrected value (and comment) of each listed participant - ``rows``, by
    the row of the question's list sheet - or ``value``, one corrected value for every
    participant left empty (written the column's way; ``COLUMN=value; ...`` for several
    columns). Checked by :func:`check_pattern_answer` as the workbook import checks the
    question's row and its list sheet, and recorded as that import records it (the
    participants' corrected cells). A response that keeps the values (Confirmed correct ...)
    is recorded for the question as a whole. QueryError if the question lists no participants
    or changed since ``expected_version``; nothing is recorded when the check has problems."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = _unchanged(session, topic, query_id, actor, expected_version)
        context = pattern_context(store, session, query)
        if context is None:
            raise QueryError(f"query {query_id} is not about several participants: answer it "
                             "with the ordinary answer form.", query=query_id)
        checked = check_pattern_answer(context, response=response, value=value,
                                       comment=comment, rows=rows)
        if not checked.ok:
            return checked
        assert checked.answer.response_code is not None
        respond(session, query, actor=actor, topic=topic.slug,
                response_code=checked.answer.response_code, comment=checked.comment,
                cells=[dict(c) for c in checked.listed.cells] or None)
        return checked
