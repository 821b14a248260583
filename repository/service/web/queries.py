"""The question pages: the list (a trialist's questions; the curators' resolve-issues list),
one question with its thread, values and answer form, and the curators' decisions on it.

The answer form is checked by :func:`harmonise.queries.answering.check_query_answer`, the
query workbook import's own check: the same rules and messages, shown beside the field. While
the trialist types, ``pages.js`` asks ``GET /queries/{id}/check`` (nothing is recorded).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from repository.errors import IPDError, QueryError
from repository.service.policy import Principal, requires
from repository.service.web.common import go, render, store_for

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
ACTIVE = ("open", "sent", "answered", "reopened")
STATUS_CHOICES = ("active", "waiting", "answered", "resolved", "closed", "all")
AGES = (("", "any age"), ("7", "older than 7 days"), ("14", "older than 14 days"),
        ("30", "older than 30 days"))
_WAITING = ("open", "sent", "reopened")


def _now() -> datetime:
    return datetime.now(UTC)


def _records(request: Request, who: Principal, trial: str | None) -> list[dict[str, Any]]:
    """Every query the caller may see (of ``trial``), with thread, assignee and, for a
    trialist, the trial's own participant IDs."""
    from harmonise.queries.assignment import assignee
    from harmonise.queries.delivery_cache import CachedDeliveries
    from harmonise.queries.lifecycle import list_queries, query_to_dict
    from repository.models import Trial

    store = store_for(request, who)
    out = []
    with store.reading() as session:
        topic = store.topic(session)
        rows = list_queries(session, topic, actor=who.name, trial=trial)
        own: dict[int, Any] = {}
        for q in rows:
            data = query_to_dict(session, q, thread=True)
            data["assignee"] = assignee(q)
            data["own_id"] = None
            if who.role == "trialist" and q.participant is not None:
                if q.trial_id not in own:
                    row = session.get(Trial, q.trial_id)
                    own[q.trial_id] = CachedDeliveries(store, session, row)
                data["own_id"] = own[q.trial_id].own_id(q.participant)
            out.append(data)
    return out


def waiting(request: Request, who: Principal) -> list[int]:
    """The questions waiting for the trial's answer (open, sent, reopened), oldest first: what
    a trialist still has to do."""
    from harmonise.queries.lifecycle import list_queries

    store = store_for(request, who)
    with store.reading() as session:
        rows = list_queries(session, store.topic(session), actor=who.name, trial=who.trial,
                            status=_WAITING)
        return sorted(q.id for q in rows)


def _keep(q: dict[str, Any], *, status: str, age: str, participant: str, column: str,
          assigned: str) -> bool:
    if status == "active" and q["status"] not in ACTIVE:
        return False
    if status == "waiting" and q["status"] not in _WAITING:
        return False
    if status not in ("active", "waiting", "all") and q["status"] != status:
        return False
    if age.isdigit() and q["age_days"] <= int(age):
        return False
    if participant:
        wanted = participant.strip().lower()
        names = [str(q.get("own_id") or ""), str(q.get("participant") or "")]
        if not any(wanted in n.lower() for n in names if n):
            return False
    if column:
        wanted = column.strip().lower()
        names = [str(c) for c in q.get("source_columns") or []] + [str(q.get("variable") or "")]
        if not any(wanted in n.lower() for n in names if n):
            return False
    if assigned == "none":
        return q.get("assignee") is None
    return assigned in ("", "none") or q.get("assignee") == assigned


@router.get("/queries")
def queries_page(request: Request, status: str = "active", age: str = "",
                 participant: str = "", column: str = "", trial: str | None = None,
                 assigned: str = "",
                 who: Principal = Depends(requires("queries.read", trial="trial"))
                 ) -> HTMLResponse:
    """A trialist's questions; for curators, the resolve-issues list with response times."""
    from harmonise.queries.metrics import is_overdue, query_metrics

    status = status if status in STATUS_CHOICES else "active"
    everything = _records(request, who, trial or None)
    now = _now()
    shown = [q for q in everything if _keep(q, status=status, age=age,
                                             participant=participant[:100],
                                             column=column[:100], assigned=assigned[:200])]
    overdue_days = _overdue_days(request)
    for q in shown:
        q["overdue"] = is_overdue(q, now, overdue_days)
    metrics = (query_metrics(everything, now=now, overdue_days=overdue_days)
               if who.role == "curator" else [])
    trials = sorted({q["trial"] for q in everything})
    return render(request, "queries.html", who, queries=shown, total=len(everything),
                  metrics=metrics, trials=trials,
                  filters={"status": status, "age": age, "participant": participant,
                           "column": column, "trial": trial or "", "assigned": assigned},
                  statuses=STATUS_CHOICES, ages=AGES, overdue_days=overdue_days)


def _overdue_days(request: Request) -> int:
    """The reminder_days setting: when a sent question counts as overdue."""
    from repository.service.notifications import MailSettings

    return MailSettings.from_settings(request.app.state.service.store.settings).reminder_days


def _question(request: Request, who: Principal, query_id: int) -> dict[str, Any]:
    from harmonise.queries.answering import answer_context, pattern_context
    from harmonise.queries.assignment import assignee
    from harmonise.queries.lifecycle import get_query, query_to_dict
    from repository.attachments import list_attachments

    store = store_for(request, who)
    with store.reading() as session:
        query = get_query(session, store.topic(session), query_id, actor=who.name)
        data = query_to_dict(session, query, thread=True)
        data["version"] = query.version
        data["assignee"] = assignee(query)
        context = answer_context(store, session, query)
        pattern = pattern_context(store, session, query)
        trialists = []
        if who.role == "curator":
            from repository.roles import list_users

            trialists = [u["name"] for u in list_users(session)
                         if u["role"] == "trialist" and u["trial"] == data["trial"]
                         and u["active"]]
    data["attachments"] = list_attachments(store, query_id)
    return {"q": data, "context": context, "pattern": pattern, "trialists": trialists}


def _question_page(request: Request, who: Principal, query_id: int, *, status: int = 200,
                   **extra: Any) -> HTMLResponse:
    from harmonise.queries.answering import ANSWERABLE, RESPONSES
    from repository.attachments import MAX_BYTES, TYPES

    data = _question(request, who, query_id)
    values = extra.pop("values", None) or {}
    done = request.query_params.get("done", "")
    if done == "answered" and who.role == "trialist":
        extra["still_waiting"] = [q for q in waiting(request, who) if q != query_id]
    response = render(request, "query.html", who, **data, responses=RESPONSES,
                      answerable=data["q"]["status"] in ANSWERABLE,
                      problems=extra.pop("problems", {}), values=values,
                      done=done,
                      max_mib=MAX_BYTES // 2**20, types=", ".join(sorted(TYPES)), **extra)
    response.status_code = status
    return response


@router.get("/queries/{query_id}")
def question_page(query_id: int, request: Request,
                  who: Principal = Depends(requires("queries.read", query="query_id"))
                  ) -> HTMLResponse:
    """One question: what is asked, the values now, the thread, the answer form."""
    return _question_page(request, who, query_id)


@router.get("/queries/{query_id}/check")
def check_page_answer(query_id: int, request: Request,
                      who: Principal = Depends(requires("queries.read", query="query_id"))
                      ) -> JSONResponse:
    """The answer form's check while typing (the workbook import's check; nothing is kept):
    ``response``, ``value``, ``comment`` and, for a question about several participants,
    ``row-N`` / ``note-N`` of its list rows."""
    from harmonise.queries.answering import (
        answer_context,
        check_pattern_answer,
        check_query_answer,
        pattern_context,
    )
    from harmonise.queries.lifecycle import get_query

    given = _answer_fields(request.query_params)
    store = store_for(request, who)
    with store.reading() as session:
        query = get_query(session, store.topic(session), query_id, actor=who.name)
        pattern = pattern_context(store, session, query)
        rules = answer_context(store, session, query).rules if pattern is None else ()
    if pattern is not None:
        return JSONResponse(check_pattern_answer(pattern, **given).to_dict())
    given.pop("rows")
    return JSONResponse(check_query_answer(rules, **given).to_dict())


def _answer_fields(form: Any) -> dict[str, Any]:
    """An answer form's fields (a form or query string): response, value, comment, and the
    list rows' corrected values and comments ``{row: (value, comment)}``."""
    def text(name: str, limit: int = 32000) -> str | None:
        value = form.get(name)
        return value[:limit].strip() or None if isinstance(value, str) else None

    numbers = {int(k.split("-", 1)[1]) for k in form
               if k.startswith(("row-", "note-")) and k.split("-", 1)[1].isdigit()}
    rows = {n: (text(f"row-{n}"), text(f"note-{n}")) for n in sorted(numbers)[:100_000]}
    return {"response": text("response", 100), "value": text("value"),
            "comment": text("comment"), "rows": {n: v for n, v in rows.items() if any(v)}}


def _problems(checked: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field, message in checked.problems:
        out.setdefault(field, []).append(message)
    return out


@router.post("/queries/{query_id}/answer", response_model=None)
async def answer_page(query_id: int, request: Request,
                      who: Principal = Depends(requires("queries.answer", query="query_id"))
                      ) -> Response:
    """Record an answer checked as the workbook import checks it (for a question about
    several participants, as it checks the question's row and its list sheet); problems are
    shown beside the fields and nothing is recorded."""
    from starlette.concurrency import run_in_threadpool

    form = await request.form()
    return await run_in_threadpool(_answer, request, who, query_id, form)


def _answer(request: Request, who: Principal, query_id: int, form: Any) -> Response:
    from harmonise.queries.answering import answer_pattern, answer_query

    given = _answer_fields(form)
    version_text = form.get("version")
    version = int(version_text) if isinstance(version_text, str) and version_text.isdigit() \
        else None
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    rows = given.pop("rows")
    try:
        if form.get("bulk") == "1":
            checked: Any = answer_pattern(store_for(request, who), query_id, **given,
                                          rows=rows, expected_version=version)
        else:
            checked = answer_query(store_for(request, who), query_id, **given,
                                   expected_version=version)
    except QueryError as exc:
        return _question_page(request, who, query_id, status=409, values=values,
                              problems={"form": [exc.message]})
    if not checked.ok:
        return _question_page(request, who, query_id, status=422, values=values,
                              problems=_problems(checked))
    return go(f"/queries/{query_id}", done="answered")


@router.post("/queries/{query_id}/comment", response_model=None)
def comment_page(query_id: int, request: Request, text: str = Form(max_length=32000),
                 who: Principal = Depends(requires("queries.answer", query="query_id"))
                 ) -> Response:
    from harmonise.queries.lifecycle import comment, get_query

    if not text.strip():
        return _question_page(request, who, query_id, status=422,
                              problems={"text": ["write a comment first."]})
    store = store_for(request, who)
    with store.transaction() as session:
        topic = store.topic(session)
        comment(session, get_query(session, topic, query_id, actor=who.name), actor=who.name,
                topic=topic.slug, text=text.strip())
    return go(f"/queries/{query_id}", done="commented")


@router.post("/queries/{query_id}/attach", response_model=None)
async def attach_page(query_id: int, request: Request,
                      who: Principal = Depends(requires("queries.answer", query="query_id"))
                      ) -> Response:
    """Attach a file to the thread (type and size limits of :mod:`repository.attachments`)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from repository.attachments import MAX_BYTES, attach
    from repository.service.files import read_upload

    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await run_in_threadpool(_question_page, request, who, query_id, status=422,
                                       problems={"file": ["choose a file to attach."]})
    try:
        name, data = await read_upload(upload, MAX_BYTES)  # type: ignore[arg-type]
        await run_in_threadpool(attach, store_for(request, who), query_id, file_name=name,
                                data=data)
    except IPDError as exc:
        return await run_in_threadpool(_question_page, request, who, query_id, status=422,
                                       problems={"file": [exc.message]})
    return go(f"/queries/{query_id}", done="attached")


# --- curators' decisions ------------------------------------------------------------------------

def _decide(request: Request, who: Principal, query_id: int, run: Any, done: str) -> Response:
    try:
        run()
    except IPDError as exc:
        from repository.service.app import status_for

        status = status_for(exc)
        if status in (401, 403, 404):
            raise
        return _question_page(request, who, query_id, status=status,
                              problems={"decision": [exc.message]})
    return go(f"/queries/{query_id}", done=done)


@router.post("/queries/{query_id}/accept", response_model=None)
def accept_page(query_id: int, request: Request, resolution: str = Form("", max_length=40),
                comment: str = Form("", max_length=32000),
                who: Principal = Depends(requires("corrections.accept", query="query_id"))
                ) -> Response:
    """Accept the answer: corrections of the trial's cells, or a resolution."""
    from harmonise.queries.answers import accept_answer

    def run() -> None:
        accept_answer(store_for(request, who), query_id, resolution=resolution or None,
                      comment=comment.strip() or None)

    return _decide(request, who, query_id, run, "accepted")


def _transition(request: Request, who: Principal, query_id: int, name: str,
                reason: str) -> Response:
    from harmonise.queries import lifecycle

    if not reason.strip():
        return _question_page(request, who, query_id, status=422, problems={
            "decision": [f"give the reason for the trial's team (it is shown to them) before "
                         f"you {name} the question."]})

    def run() -> None:
        store = store_for(request, who)
        with store.transaction() as session:
            topic = store.topic(session)
            query = lifecycle.get_query(session, topic, query_id, actor=who.name)
            getattr(lifecycle, name)(session, query, actor=who.name, topic=topic.slug,
                                     reason=reason.strip())

    return _decide(request, who, query_id, run, f"{name}d" if name.endswith("e") else name)


@router.post("/queries/{query_id}/close", response_model=None)
def close_page(query_id: int, request: Request, reason: str = Form("", max_length=32000),
               who: Principal = Depends(requires("queries.manage", query="query_id"))
               ) -> Response:
    return _transition(request, who, query_id, "close", reason)


@router.post("/queries/{query_id}/reopen", response_model=None)
def reopen_page(query_id: int, request: Request, reason: str = Form("", max_length=32000),
                who: Principal = Depends(requires("queries.manage", query="query_id"))
                ) -> Response:
    return _transition(request, who, query_id, "reopen", reason)


@router.post("/queries/{query_id}/reask", response_model=None)
def reask_page(query_id: int, request: Request, reason: str = Form("", max_length=32000),
               who: Principal = Depends(requires("queries.manage", query="query_id"))
               ) -> Response:
    """Send an answered question back to the trial with what is still missing."""
    from harmonise.queries.answers import reask

    if not reason.strip():
        return _question_page(request, who, query_id, status=422, problems={
            "decision": ["say what is still missing (it is shown to the trial's team)."]})

    def run() -> None:
        reask(store_for(request, who), query_id, comment=reason.strip())

    return _decide(request, who, query_id, run, "reasked")


@router.post("/queries/{query_id}/forward", response_model=None)
def forward_page(query_id: int, request: Request, note: str = Form("", max_length=32000),
                 who: Principal = Depends(requires("queries.manage", query="query_id"))
                 ) -> Response:
    """Send a question from the curators' own list (a mapping problem a validation run found)
    to the trial, with an optional note added to the question."""
    from harmonise.queries.lifecycle import forward, get_query

    def run() -> None:
        store = store_for(request, who)
        with store.transaction() as session:
            topic = store.topic(session)
            forward(session, get_query(session, topic, query_id, actor=who.name),
                    actor=who.name, topic=topic.slug, note=note.strip() or None)

    return _decide(request, who, query_id, run, "forwarded")


@router.post("/queries/{query_id}/assign", response_model=None)
def assign_page(query_id: int, request: Request, user: str = Form("", max_length=200),
                who: Principal = Depends(requires("queries.manage", query="query_id"))
                ) -> Response:
    from harmonise.queries.assignment import assign
    from harmonise.queries.lifecycle import get_query

    def run() -> None:
        store = store_for(request, who)
        with store.transaction() as session:
            topic = store.topic(session)
            assign(session, get_query(session, topic, query_id, actor=who.name),
                   actor=who.name, topic=topic.slug, user=user or None)

    return _decide(request, who, query_id, run, "assigned")


@router.post("/trials/{trial}/send-questions", response_model=None)
def send_questions_page(trial: str, request: Request,
                        who: Principal = Depends(requires("queries.manage", trial="trial"))
                        ) -> Response:
    """Send the trial's open and reopened questions to its team (marked sent; its trialists
    are e-mailed when mail is set up)."""
    from repository.service.notifications import send_questions

    sent, mails = send_questions(store_for(request, who), trial, actor=who.name)
    return go("/queries", trial=trial, status="all", done="sent", n=str(sent), mails=str(mails))
