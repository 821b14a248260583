"""Data queries: list, show (with thread and attachments), answer, comment, attach files; the
trial's query workbook out and answered workbook in; curators accept, close and reopen.

Thin over :mod:`harmonise.queries.lifecycle`, :mod:`harmonise.queries.answers`, :mod:`harmonise.queries.workbook` and
:mod:`repository.attachments`: the library checks the caller again and scopes what it returns.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from repository.reasons import Reason
from repository.service.files import download, read_upload
from repository.service.policy import Principal, requires

__all__ = ["router"]

router = APIRouter(tags=["queries"])
Status = Literal["open", "sent", "answered", "resolved", "closed", "reopened"]
ResponseCode = Literal["typographical_error", "data_missing", "confirmed_correct",
                       "wrong_source", "other"]


class CellValue(BaseModel):
    participant: str | None = Field(default=None, max_length=200,
                                    description="the participant (as the question lists them)")
    column: str = Field(max_length=200, description="the column, as the question names it")
    value: str | None = Field(default=None, max_length=32000)


class AnswerBody(BaseModel):
    response: ResponseCode
    value: str | None = Field(default=None, max_length=32000,
                              description="the corrected value, in the trial's own coding "
                                          "(several columns: 'COLUMN=value; COLUMN2=value')")
    cells: list[CellValue] | None = Field(
        default=None, max_length=10000,
        description="a question about several participants: the corrected value of each of "
                    "its cells (only the question's own cells)")
    comment: str | None = Field(default=None, max_length=32000)


class ForwardBody(BaseModel):
    note: str | None = Field(default=None, max_length=32000)


class ReaskBody(BaseModel):
    comment: str = Field(max_length=32000)


class TextBody(BaseModel):
    text: str = Field(max_length=32000)


class ReasonBody(BaseModel):
    reason: str = Field(max_length=32000)


class AcceptBody(BaseModel):
    resolution: Literal["corrected", "confirmed_correct", "cannot_be_resolved"] | None = None
    comment: str | None = Field(default=None, max_length=32000)


def _store(request: Request, who: Principal) -> Any:
    return request.app.state.service.store_for(who)


@router.get("/queries")
def list_queries(request: Request, trial: str | None = None,
                 status: list[Status] | None = None,  # noqa: B008
                 audience: Literal["trial", "curator"] | None = None,
                 who: Principal = Depends(requires("queries.read", trial="trial"))
                 ) -> list[dict[str, Any]]:
    """The questions the caller may see, one per root cause with the findings behind it (a
    trialist: their own trial's questions for the trial), of ``trial``, in ``status``, for
    ``audience`` (trial, or the curators' list)."""
    from harmonise.queries.lifecycle import list_queries as listed
    from harmonise.queries.lifecycle import query_to_dict

    store = _store(request, who)
    with store.reading() as session:
        topic = store.topic(session)
        return [query_to_dict(session, q) for q in listed(
            session, topic, actor=who.name, trial=trial, status=status, audience=audience)]


@router.get("/queries/{query_id}")
def show_query(query_id: int, request: Request,
               who: Principal = Depends(requires("queries.read", query="query_id"))
               ) -> dict[str, Any]:
    """One query with its thread and attachments."""
    from harmonise.queries.lifecycle import get_query, query_to_dict
    from repository.attachments import list_attachments

    store = _store(request, who)
    with store.reading() as session:
        query = get_query(session, store.topic(session), query_id, actor=who.name)
        data = query_to_dict(session, query, thread=True)
    data["attachments"] = list_attachments(store, query_id)
    return data


def _on_query(request: Request, who: Principal, query_id: int,
              act: Callable[[Any, Any, Any], None]) -> dict[str, Any]:
    """Run ``act(session, topic, query)`` in one transaction; the query and its thread after."""
    from harmonise.queries.lifecycle import get_query, query_to_dict

    store = _store(request, who)
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id, actor=who.name)
        act(session, topic, query)
        return query_to_dict(session, query, thread=True)


@router.post("/queries/{query_id}/answer")
def answer(query_id: int, body: AnswerBody, request: Request,
           who: Principal = Depends(requires("queries.answer", query="query_id"))
           ) -> dict[str, Any]:
    """Answer a query: a response code, maybe a corrected value and a comment, checked as the
    workbook import and the answer page check them (same rules and messages; 422 with every
    problem, nothing recorded)."""
    from harmonise.queries.lifecycle import respond

    def act(session: Any, topic: Any, query: Any) -> None:
        cells = _answered_cells(query, body.cells) if body.cells else None
        value = _checked(_store(request, who), session, query, body, cells)
        respond(session, query, actor=who.name, topic=topic.slug, response_code=body.response,
                corrected_value=value, comment=body.comment, cells=cells)

    return _on_query(request, who, query_id, act)


def _checked(store: Any, session: Any, query: Any, body: AnswerBody,
             cells: list[dict[str, Any]] | None) -> str | None:
    """The answer judged by the workbook's own check: the corrected value (and each cell's)
    written the way the trial's column writes it, or QueryError listing every problem."""
    from harmonise.queries.answering import answer_context, check_query_answer
    from repository.errors import QueryError

    rules = answer_context(store, session, query).rules
    problems: list[dict[str, str]] = []
    value = body.value
    targets: list[dict[str, Any] | None] = list(cells) if cells else [None]
    for cell in targets:
        own = rules if cell is None else [r for r in rules if r.column == cell["column"]]
        given = body.value if cell is None else cell["value"]
        checked = check_query_answer(own or rules, response=body.response, value=given,
                                     comment=body.comment)
        where = "" if cell is None else f"{cell['participant']} {cell['column']}: "
        problems += [{"field": f, "message": where + m} for f, m in checked.problems]
        if cell is None:
            value = checked.corrected_value
        elif checked.corrected_value is not None:
            cell["value"] = checked.corrected_value
    if problems:
        raise QueryError(f"the answer to query {query.id} was not recorded: "
                         + " ".join(p["message"] for p in problems)
                         + " Correct it and send it again.", query=query.id,
                         reason=Reason.INVALID_ANSWER, problems=problems)
    return value


def _answered_cells(query: Any, given: list[CellValue]) -> list[dict[str, Any]]:
    """The question's own cells with the values given for them; a cell the question is not
    about is refused (an answer corrects what was asked, nothing else)."""
    from harmonise.queries.answers import _question_cells
    from repository.errors import QueryError

    known = _question_cells(query)
    out = []
    for cell in given:
        match = next((k for k in known if cell.column in (k.get("label"), k.get("column"))
                      and (cell.participant is None or cell.participant == k.get("participant"))),
                     None)
        if match is None:
            raise QueryError(f"query {query.id} does not ask about column {cell.column!r}"
                             + (f" of participant {cell.participant}" if cell.participant
                                else "") + "; answer only the cells the question lists "
                             "(GET the query to see them).", query=query.id,
                             column=cell.column)
        out.append({"participant": match.get("participant") or query.participant,
                    "row": match.get("row"), "dataset": match.get("dataset", "main"),
                    "column": str(match["column"]), "value": cell.value})
    return out


@router.post("/queries/{query_id}/comments")
def add_comment(query_id: int, body: TextBody, request: Request,
                who: Principal = Depends(requires("queries.answer", query="query_id"))
                ) -> dict[str, Any]:
    from harmonise.queries.lifecycle import comment

    def act(session: Any, topic: Any, query: Any) -> None:
        comment(session, query, actor=who.name, topic=topic.slug, text=body.text)

    return _on_query(request, who, query_id, act)


@router.post("/queries/{query_id}/attachments", status_code=201)
async def attach(query_id: int, request: Request, file: UploadFile = File(...),
                 who: Principal = Depends(requires("queries.answer", query="query_id"))
                 ) -> dict[str, Any]:
    """Attach a file (PDF, image, text, CSV, Excel, Word; at most 10 MiB) to the thread. Never
    attach identifiable documents: attachments are not checked for identifiers."""
    from starlette.concurrency import run_in_threadpool

    from repository.attachments import MAX_BYTES
    from repository.attachments import attach as attach_file

    name, data = await read_upload(file, MAX_BYTES)
    return await run_in_threadpool(attach_file, _store(request, who), query_id,
                                   file_name=name, data=data)


@router.get("/queries/{query_id}/attachments/{attachment_id}")
def get_attachment(query_id: int, attachment_id: int, request: Request,
                   who: Principal = Depends(requires("queries.read", query="query_id"))
                   ) -> Response:
    from repository.attachments import read_attachment

    info, data = read_attachment(_store(request, who), query_id, attachment_id)
    return download(data, info["file_name"], info["content_type"])


@router.post("/queries/{query_id}/accept")
def accept(query_id: int, body: AcceptBody, request: Request,
           who: Principal = Depends(requires("corrections.accept", query="query_id"))
           ) -> dict[str, Any]:
    """Accept an answered query (curators): corrections from corrected values, or a
    resolution."""
    from harmonise.queries.answers import accept_answer

    return accept_answer(_store(request, who), query_id, resolution=body.resolution,
                         comment=body.comment).to_dict()


def _transition(request: Request, who: Principal, query_id: int, reason: str,
                name: str) -> dict[str, Any]:
    from harmonise.queries import lifecycle as queries

    store = _store(request, who)
    with store.transaction() as session:
        topic = store.topic(session)
        query = queries.get_query(session, topic, query_id, actor=who.name)
        getattr(queries, name)(session, query, actor=who.name, topic=topic.slug,
                               reason=reason)
        return queries.query_to_dict(session, query, thread=True)


@router.post("/queries/{query_id}/close")
def close(query_id: int, body: ReasonBody, request: Request,
          who: Principal = Depends(requires("queries.manage", query="query_id"))
          ) -> dict[str, Any]:
    return _transition(request, who, query_id, body.reason, "close")


@router.post("/queries/{query_id}/reopen")
def reopen(query_id: int, body: ReasonBody, request: Request,
           who: Principal = Depends(requires("queries.manage", query="query_id"))
           ) -> dict[str, Any]:
    return _transition(request, who, query_id, body.reason, "reopen")


@router.post("/queries/{query_id}/forward")
def forward(query_id: int, body: ForwardBody, request: Request,
            who: Principal = Depends(requires("queries.manage", query="query_id"))
            ) -> dict[str, Any]:
    """Send a question from the curators' list (a mapping problem) to the trial (curators):
    it goes out in the trial's next workbook; ``note`` is added to the question."""
    from harmonise.queries.lifecycle import forward as send
    from harmonise.queries.lifecycle import get_query, query_to_dict

    store = _store(request, who)
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id, actor=who.name)
        send(session, query, actor=who.name, topic=topic.slug, note=body.note)
        return query_to_dict(session, query, thread=True)


@router.post("/queries/{query_id}/reask")
def reask(query_id: int, body: ReaskBody, request: Request,
          who: Principal = Depends(requires("queries.manage", query="query_id"))
          ) -> dict[str, Any]:
    """Send an answered question back to the trial with a comment (curators)."""
    from harmonise.queries.answers import reask as ask_again
    from harmonise.queries.lifecycle import get_query, query_to_dict

    store = _store(request, who)
    ask_again(store, query_id, comment=body.comment)
    with store.reading() as session:
        return query_to_dict(session, get_query(session, store.topic(session), query_id),
                             thread=True)


@router.get("/trials/{trial}/workbook")
def export_workbook(trial: str, request: Request, due: date | None = None,
                    who: Principal = Depends(requires("queries.workbook", trial="trial"))
                    ) -> Response:
    """The trial's query workbook (.xlsx; curators, and the trial's own trialists): one row
    per question for the trial; they are marked sent, due on ``due`` (YYYY-MM-DD; default
    in 28 days)."""
    from harmonise.queries.workbook import export_workbook as export

    store = _store(request, who)
    with tempfile.TemporaryDirectory(prefix="ipdrepo-workbook-") as tmp:
        path = Path(tmp) / f"{trial}-queries.xlsx"
        export(store, trial, path, actor=who.name, due=due)
        data = path.read_bytes()
    return download(data, f"{trial}-queries.xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.post("/trials/{trial}/workbook")
async def import_workbook(trial: str, request: Request, file: UploadFile = File(...),
                          who: Principal = Depends(requires("queries.answer", trial="trial"))
                          ) -> dict[str, Any]:
    """Import an answered query workbook of the trial, all or nothing."""
    from starlette.concurrency import run_in_threadpool

    from harmonise.queries.workbook import import_workbook as import_book

    name, data = await read_upload(file, 50 * 2**20)

    def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="ipdrepo-workbook-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            return import_book(_store(request, who), path, actor=who.name,
                               trial=trial).to_dict()

    return await run_in_threadpool(run)
