"""The query workbook: a trial's questions out to its team, their answers back in.

:func:`export_workbook` writes one Excel workbook per trial, in the trial's language (its
codebook's, where ipdrepo has the words; English otherwise). A curator action: participants are
shown by the trial's own IDs, which needs the repository secret::

    Queries        one row per question (one root cause): the trial's participant ID, its own
    (Questions)    column(s) and the values as they stand now, the question with what else
                   fails because of it, the earlier answers and notes, how to write a corrected
                   value, the due date; then the three answer columns (response drop-down,
                   corrected value, comment), the only unlocked cells
    Q12 ...        one sheet per question about several participants: one row each, with its
                   own corrected value and comment cells
    Instructions   how to answer, what each response means, what not to edit
    _ipdrepo       very hidden: export token, trial, export id, when, by whom, query ids,
                   language, due date

Only questions for the trial are exported (mapping problems wait on the curator's list until
forwarded). The export is recorded (:class:`~repository.models.QueryExport`: token, file hash,
due date and, per question, what the protected cells showed) and its questions are marked sent.
The workbook's bytes are a function of the questions, the deliveries, the token and the time.
Every sheet prints landscape, fitted to the page width, with the header row on each page.

:func:`import_workbook` reads an answered workbook, checks *everything* first
(:mod:`harmonise.queries.workbook_checks`, :mod:`harmonise.queries.workbook_lists`) and, only if
nothing is wrong, records every answer in one transaction. Otherwise it raises one
:class:`~repository.errors.WorkbookError` listing every problem with sheet, cell and what to do;
nothing is imported. What a trialist sees is described in docs/query-workbook.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.queries.i18n import language
from harmonise.queries.lifecycle import last_response, mark_sent, respond
from harmonise.queries.workbook_checks import (
    CheckOutcome,
    ListAnswers,
    QueryState,
    SentQuery,
    WorkbookProblem,
    check_answers,
)
from harmonise.queries.workbook_lists import ListRow, check_list
from harmonise.queries.workbook_read import WorkbookFile, read_workbook, refuse
from harmonise.queries.workbook_render import (
    COLUMNS,
    LIST_COLUMNS,
    META,
    Column,
    WorkbookMeta,
    headers,
    letters,
    render_workbook,
)
from harmonise.queries.workbook_view import Deliveries, view_question
from harmonise.values.reasons import Reason
from repository import audit
from repository.errors import QueryError, WorkbookError
from repository.models import Participant, Query, QueryExport, Topic, Trial, utcnow
from repository.pseudonyms import normalise_raw_id
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial

__all__ = [
    "SHEET",
    "INSTRUCTIONS",
    "META",
    "COLUMNS",
    "DUE_DAYS",
    "Column",
    "WorkbookMeta",
    "WorkbookFile",
    "ExportResult",
    "ImportResult",
    "ImportPlan",
    "render_workbook",
    "read_workbook",
    "export_workbook",
    "import_workbook",
    "check_import",
    "apply_import",
]

SHEET = "Queries"
INSTRUCTIONS = "Instructions"
#: the statuses of queries a workbook carries (answered ones wait for the curator)
EXPORTED_STATUSES = ("open", "reopened", "sent")
#: answers are due this many days after the export, unless the curator says otherwise
DUE_DAYS = 28


# --- export -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportResult:
    """A workbook written for a trial. ``summary``: one row per query (row, query, check,
    columns, status_before)."""

    trial: str
    export_id: int
    path: str
    sha256: str
    exported_at: dt.datetime
    exported_by: str
    rows: tuple[Mapping[str, Any], ...] = field(default=())
    #: who at the trial answers queries (the trial's registered contact), if known
    contact: str | None = None
    due_on: dt.date | None = None
    language: str = "en"

    @property
    def n_queries(self) -> int:
        return len(self.rows)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows), columns=["row", "query", "check", "columns",
                                                      "status_before", "participants"])

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "export_id": self.export_id, "path": self.path,
                "sha256": self.sha256,
                "exported_at": self.exported_at.isoformat(timespec="seconds"),
                "exported_by": self.exported_by, "queries": self.n_queries,
                "contact": self.contact,
                "due_on": self.due_on.isoformat() if self.due_on else None,
                "language": self.language, "rows": [dict(r) for r in self.rows]}

    def _repr_html_(self) -> str:
        return (f"<p>Query workbook for trial {self.trial}: {self.n_queries} queries, export "
                f"{self.export_id}, {self.path}</p>" + self.summary.to_html(index=False, na_rep=""))

    def __repr__(self) -> str:
        return (f"ExportResult(trial={self.trial!r}, export_id={self.export_id}, "
                f"queries={self.n_queries}, path={self.path!r})")


def export_workbook(store: Store, trial: str, path: str | os.PathLike[str], *, actor: str,
                    topic: str | None = None, due: dt.date | None = None) -> ExportResult:
    """Write the query workbook of ``trial`` to ``path`` (.xlsx) and record the export.

    Carries the trial's open, reopened and sent questions for the trial (not those still on
    the curator's list); marks each one sent, due on ``due`` (default: :data:`DUE_DAYS` days
    from now). Refuses to overwrite an existing file. Curators, and a trialist for their own
    trial (it maps the trial's pseudonyms back to the trial's own IDs).
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise WorkbookError(f"{target.name}: a query workbook is an Excel file; give a name "
                            "ending in .xlsx.", file=str(target))
    if target.exists():
        raise WorkbookError(f"{target} already exists; choose another --output, or move the "
                            "old file away first.", file=str(target))
    if not target.parent.is_dir():
        raise WorkbookError(f"the folder {target.parent} does not exist; create it or choose "
                            "another --output.", file=str(target))
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    written = False
    try:
        with store.transaction() as session:
            require(session, actor, "queries.workbook", trial=trial)
            topic_row = store.topic(session, topic)
            trial_row = get_trial(session, topic_row, trial)
            result = _export(store, session, topic_row, trial_row, target, partial,
                             actor=actor, due=due)
            os.replace(partial, target)
            written = True
    except BaseException:
        partial.unlink(missing_ok=True)
        if written:
            target.unlink(missing_ok=True)
        raise
    return result


def _exportable(session: Session, trial: Trial) -> list[Query]:
    queries = list(session.scalars(select(Query).where(
        Query.trial_id == trial.id, Query.status.in_(EXPORTED_STATUSES),
        Query.audience == "trial").order_by(Query.id)))
    if not queries:
        waiting = session.scalar(select(Query.id).where(
            Query.trial_id == trial.id, Query.status.in_(EXPORTED_STATUSES),
            Query.audience == "curator").limit(1))
        more = (" Questions on the curator's list (mapping problems) wait for you: fix the "
                "mapping, or send one to the trial with `ipdrepo queries forward ID`."
                if waiting is not None else "")
        raise QueryError(f"trial {trial.acronym} has no open, reopened or sent questions for "
                         "the trial; nothing to export (answered queries wait for a curator: "
                         f"`ipdrepo queries list --trial {trial.acronym}`).{more}",
                         trial=trial.acronym)
    return queries


def _export(store: Store, session: Session, topic: Topic, trial: Trial, target: Path,
            partial: Path, *, actor: str, due: dt.date | None) -> ExportResult:
    queries = _exportable(session, trial)
    lang = language(trial.language)
    now = utcnow().replace(microsecond=0)
    due_on = due or (now + dt.timedelta(days=DUE_DAYS)).date()
    deliveries = Deliveries(store, session, trial)
    views, unmapped = [], []
    for q in queries:
        view = view_question(q, deliveries, lang=lang, due=due_on)
        if q.participant is not None and view.own_id is None:
            unmapped.append(q.id)
            continue
        views.append(view)
    if unmapped:
        raise QueryError(f"trial {trial.acronym}: the participants of queries "
                         f"{', '.join(map(str, unmapped))} are in none of the trial's "
                         "deliveries, so their IDs cannot be shown; close those queries (or "
                         "ingest the delivery they came from) and export again.",
                         trial=trial.acronym, queries=unmapped)
    views.sort(key=lambda v: v.sort_key)
    token = secrets.token_urlsafe(24)
    export = QueryExport(trial_id=trial.id, token=token, file_name=target.name,
                         sha256="0" * 64, exported_at=now, exported_by=actor, queries=[],
                         due_on=due_on, language=lang)
    session.add(export)
    session.flush()
    sent: list[SentQuery] = []
    rows: list[dict[str, Any]] = []
    for position, v in enumerate(views, start=2):
        q = v.query
        before = q.status
        mark_sent(session, q, actor=actor, topic=topic.slug, export_id=export.id)
        q.due_on = due_on
        recorded = {**v.shown, "participant": None} if q.participant is not None else v.shown
        sent.append(SentQuery(id=q.id, row=position, version=q.version, status=q.status,
                              previous_status=before, participant=q.participant,
                              shown=recorded, columns=v.rules, question=q.question,
                              value=q.value_received, raw_values=dict(q.raw_values or {}),
                              list_sheet=v.sheet.name if v.sheet else None,
                              list_rows=tuple(r.to_dict() for r in v.list_rows)))
        rows.append({"row": position, "query": q.id, "check": q.check_id,
                     "columns": ", ".join(map(str, q.source_columns or [])),
                     "status_before": before, "participants": len(v.list_rows) or (
                         1 if q.participant else 0)})
    current = deliveries.current
    meta = WorkbookMeta(token=token, topic=topic.slug, trial=trial.acronym,
                        export_id=export.id, created_at=now, created_by=actor,
                        id_column=current.id_column if current else None,
                        query_ids=tuple(s.id for s in sent), contact=trial.contact_name,
                        language=lang, due_on=due_on)
    data = render_workbook([v.shown for v in views], meta,
                           [v.sheet for v in views if v.sheet is not None])
    digest = hashlib.sha256(data).hexdigest()
    export.sha256 = digest
    export.queries = [s.to_dict() for s in sent]
    audit.append(session, actor=actor, action="queries.export", topic=topic.slug,
                 entity_type="query_export", entity_id=export.id,
                 details={"trial": trial.acronym, "file_name": target.name, "sha256": digest,
                          "queries": [s.id for s in sent], "due_on": due_on.isoformat(),
                          "language": lang})
    session.flush()
    partial.write_bytes(data)
    contact = " ".join(p for p in (trial.contact_name,
                                   f"<{trial.contact_email}>" if trial.contact_email else None)
                       if p) or None
    return ExportResult(trial=trial.acronym, export_id=export.id, path=str(target),
                        sha256=digest, exported_at=now, exported_by=actor, rows=tuple(rows),
                        contact=contact, due_on=due_on, language=lang)


# --- import -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportPlan:
    """A checked workbook, ready to import in the session it was checked in."""

    book: WorkbookFile
    export: QueryExport
    trial: str
    topic: str
    outcome: CheckOutcome
    queries: Mapping[int, Query]


@dataclass(frozen=True)
class ImportResult:
    """What an import recorded. ``summary``: one row per query of the workbook (row, query,
    outcome: answered | unchanged | not_answered, response_code, corrected_value)."""

    trial: str
    export_id: int
    file: str
    imported_by: str
    imported_at: dt.datetime
    rows: tuple[Mapping[str, Any], ...] = field(default=())

    def _ids(self, outcome: str) -> tuple[int, ...]:
        return tuple(r["query"] for r in self.rows if r["outcome"] == outcome)

    @property
    def answered(self) -> tuple[int, ...]:
        return self._ids("answered")

    @property
    def unchanged(self) -> tuple[int, ...]:
        return self._ids("unchanged")

    @property
    def not_answered(self) -> tuple[int, ...]:
        return self._ids("not_answered")

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows), columns=["row", "query", "outcome",
                                                      "response_code", "corrected_value"])

    def by_code(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            if r["outcome"] == "answered":
                counts[r["response_code"]] = counts.get(r["response_code"], 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "export_id": self.export_id, "file": self.file,
                "imported_by": self.imported_by,
                "imported_at": self.imported_at.isoformat(timespec="seconds"),
                "answered": len(self.answered), "unchanged": len(self.unchanged),
                "not_answered": len(self.not_answered), "by_code": self.by_code(),
                "rows": [dict(r) for r in self.rows]}

    def _repr_html_(self) -> str:
        return (f"<p>Imported {len(self.answered)} answer(s) for trial {self.trial} (export "
                f"{self.export_id})</p>" + self.summary.to_html(index=False))

    def __repr__(self) -> str:
        return (f"ImportResult(trial={self.trial!r}, export_id={self.export_id}, "
                f"answered={len(self.answered)}, unchanged={len(self.unchanged)}, "
                f"not_answered={len(self.not_answered)})")


def _problems_error(book: WorkbookFile, problems: Sequence[WorkbookProblem], *, trial: str,
                    export_id: int) -> WorkbookError:
    name = Path(book.path).name
    lines = "\n".join(f"  - {p}" for p in problems)
    return WorkbookError(
        f"{name}: {len(problems)} problem(s) in the query workbook of trial {trial} (export "
        f"{export_id}); nothing was imported. Fix them all and import the file again:\n{lines}",
        file=book.path, trial=trial, export=export_id, problems=list(problems))


def _lists(book: WorkbookFile, sent: Sequence[SentQuery], pseudonym: Any
           ) -> tuple[dict[int, ListAnswers], list[WorkbookProblem]]:
    """What the participant sheets hold, by query; a sheet that was deleted is a problem."""
    lists: dict[int, ListAnswers] = {}
    problems: list[WorkbookProblem] = []
    for q in sent:
        if not q.list_sheet:
            continue
        rows = book.lists.get(q.list_sheet)
        if rows is None:
            problems.append(WorkbookProblem(
                f"the sheet {q.list_sheet} (the participants of query {q.id}) was deleted or "
                "renamed; put it back from the workbook we sent.", sheet=q.list_sheet,
                query=q.id))
            continue
        lists[q.id] = check_list(q.list_sheet, rows, [ListRow.from_dict(r) for r in q.list_rows],
                                 query=q.id, letters=letters(LIST_COLUMNS),
                                 headers=headers(book.language, LIST_COLUMNS),
                                 pseudonym=pseudonym)
    return lists, problems


def check_import(store: Store, session: Session, book: WorkbookFile, *, actor: str,
                 trial: str | None = None) -> ImportPlan:
    """Check ``book`` against the store; every problem at once in one WorkbookError."""
    who = require(session, actor, "queries.answer")
    export = session.scalar(select(QueryExport).where(QueryExport.token == book.meta["token"]))
    if export is None:
        raise refuse(Path(book.path), "this workbook was not exported from this repository "
                     "(its token is unknown: it comes from another workspace, or its hidden "
                     "sheet was edited); ask the curator which workbook to answer.",
                     reason=Reason.UNKNOWN_TOKEN)
    trial_row = session.get(Trial, export.trial_id)
    assert trial_row is not None
    if (str(export.id), trial_row.acronym) != (book.meta["export_id"], book.meta["trial"]):
        raise _problems_error(book, [WorkbookProblem(
            f"the hidden {META} sheet was edited (it says trial {book.meta['trial']}, export "
            f"{book.meta['export_id']}); answer in the workbook we sent.", sheet=META)],
            trial=trial_row.acronym, export_id=export.id)
    problems: list[WorkbookProblem] = []
    expected = trial or (who.trial if who.role == "trialist" else None)
    if expected is not None and expected != trial_row.acronym:
        whose = "your trial" if trial is None else "the trial you gave (--trial)"
        problems.append(WorkbookProblem(
            f"this is the workbook of trial {trial_row.acronym}, not of {whose} {expected}; "
            "import the workbook of the right trial."))
    if who.role == "trialist" and who.trial != trial_row.acronym:
        raise _problems_error(book, problems, trial=trial_row.acronym, export_id=export.id)
    newer = session.scalar(select(QueryExport).where(
        QueryExport.trial_id == trial_row.id, QueryExport.id > export.id)
        .order_by(QueryExport.id.desc()).limit(1))
    if newer is not None:
        problems.append(WorkbookProblem(
            f"this is an older workbook (export {export.id} of "
            f"{export.exported_at:%Y-%m-%d %H:%M} UTC); a newer one replaced it: export "
            f"{newer.id}, {newer.file_name}, sent {newer.exported_at:%Y-%m-%d %H:%M} UTC by "
            f"{newer.exported_by}. Copy your answers into that workbook and send it back."))
    problems.extend(book.header_problems)
    sent = [SentQuery.from_dict(d) for d in export.queries or []]
    queries = {q.id: q for q in session.scalars(select(Query).where(
        Query.id.in_([s.id for s in sent])))}
    outcome = CheckOutcome((), (), (), ())
    if not book.header_problems:
        states = {}
        for qid, q in queries.items():
            last = last_response(q)
            states[qid] = QueryState(
                id=qid, status=q.status, question=q.question, value=q.value_received,
                raw_values=dict(q.raw_values or {}),
                last_response=None if last is None else (
                    last.response_code, last.corrected_value, last.comment, last.export_id),
                last_cells=tuple(last.cells or ()) if last is not None else ())
        pseudonymiser = store.pseudonymiser(trial_row.topic.slug)

        def pseudonym(raw: str) -> str:
            return pseudonymiser.pseudonym(trial_row.acronym, normalise_raw_id(raw) or "")

        def is_participant(p: str) -> bool:
            return session.scalar(select(Participant.id).where(
                Participant.trial_id == trial_row.id, Participant.pseudonym == p)) is not None

        lists, missing = _lists(book, sent, pseudonym)
        problems.extend(missing)
        outcome = check_answers(book.rows, sent, states, sheet=book.sheet,
                                letters=letters(), headers=headers(book.language),
                                trial=trial_row.acronym, export_id=export.id,
                                pseudonym=pseudonym, participants=is_participant,
                                lists=lists, language=book.language)
        problems.extend(outcome.problems)
    if problems:
        raise _problems_error(book, problems, trial=trial_row.acronym, export_id=export.id)
    return ImportPlan(book=book, export=export, trial=trial_row.acronym,
                      topic=trial_row.topic.slug, outcome=outcome, queries=queries)


def apply_import(session: Session, plan: ImportPlan, *, actor: str) -> ImportResult:
    """Record the plan's answers (in the caller's transaction); a query changed by someone
    else meanwhile raises QueryError and the caller's rollback keeps nothing."""
    for answer in plan.outcome.answers:
        respond(session, plan.queries[answer.query], actor=actor, topic=plan.topic,
                response_code=answer.response_code, corrected_value=answer.corrected_value,
                comment=answer.comment, export_id=plan.export.id, cells=answer.cells or None)
    now = utcnow()
    plan.export.imported_at = now
    rows_of = {s["id"]: s["row"] for s in plan.export.queries or []}
    answers = {a.query: a for a in plan.outcome.answers}
    rows = []
    for qid in sorted(rows_of, key=lambda q: rows_of[q]):
        a = answers.get(qid)
        outcome = ("answered" if a is not None else
                   "unchanged" if qid in plan.outcome.unchanged else "not_answered")
        rows.append({"row": rows_of[qid], "query": qid, "outcome": outcome,
                     "response_code": a.response_code if a else None,
                     "corrected_value": a.corrected_value if a else None,
                     "cells": len(a.cells) if a else 0})
    result = ImportResult(trial=plan.trial, export_id=plan.export.id, file=plan.book.path,
                          imported_by=actor, imported_at=now, rows=tuple(rows))
    audit.append(session, actor=actor, action="queries.import", topic=plan.topic,
                 entity_type="query_export", entity_id=plan.export.id,
                 details={"trial": plan.trial, "file_name": Path(plan.book.path).name,
                          "sha256": plan.book.sha256, "answered": len(result.answered),
                          "unchanged": len(result.unchanged),
                          "not_answered": len(result.not_answered),
                          "by_code": result.by_code()})
    session.flush()
    return result


def import_workbook(store: Store, path: str | os.PathLike[str], *, actor: str,
                    trial: str | None = None) -> ImportResult:
    """Check an answered workbook and record its answers, all or nothing.

    ``trial``: the trial the workbook must belong to (a trialist's own trial by default).
    Rows left blank stay sent. Raises WorkbookError listing every problem; QueryError if
    someone changed one of the queries while the import ran (then nothing is kept either).
    """
    book = read_workbook(path)
    with store.transaction() as session:
        plan = check_import(store, session, book, actor=actor, trial=trial)
        return apply_import(session, plan, actor=actor)
