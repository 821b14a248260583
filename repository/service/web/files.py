"""File pages: the query workbook (the fallback to answering on the pages) and new data
through the identifier gate.

The workbook itself is downloaded from the API route (``GET /api/v1/trials/T/workbook``,
which a session may call); an answered workbook is imported all or nothing, its problems
listed by sheet and cell. A re-delivery is read and checked by the pseudonymisation gate at
once: refused (every finding shown, nothing kept) or held for a curator, who ingests or
rejects it here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from repository.errors import IPDError, WorkbookError
from repository.service.files import read_upload
from repository.service.policy import Principal, requires
from repository.service.web.common import go, render, store_for

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MAX_WORKBOOK = 50 * 2**20
MAX_DELIVERY = 500 * 2**20


def _trials(request: Request, who: Principal) -> list[str]:
    from repository.trials import visible_trials

    store = store_for(request, who)
    with store.reading() as session:
        return [t.acronym for t in visible_trials(session, store.topic(session),
                                                 actor=who.name)]


def _file(form: Any) -> UploadFile | None:
    upload = form.get("file")
    return upload if isinstance(upload, UploadFile) and upload.filename else None


def _page(request: Request, who: Principal, name: str, status: int = 200,
          **context: Any) -> HTMLResponse:
    response = render(request, name, who, trials=_trials(request, who),
                      done=request.query_params.get("done", ""), **context)
    response.status_code = status
    return response


@router.get("/workbook")
def workbook_page(request: Request, who: Principal = Depends(requires("queries.workbook"))
                  ) -> HTMLResponse:
    """Download the trial's query workbook; upload it answered."""
    return _page(request, who, "workbook.html", report=None, problems=None)


@router.post("/trials/{trial}/workbook", response_model=None)
async def workbook_upload(trial: str, request: Request,
                          who: Principal = Depends(requires("queries.answer", trial="trial"))
                          ) -> Response:
    """Import an answered workbook, all or nothing; every problem listed."""
    from harmonise.queries.workbook import import_workbook

    upload = _file(await request.form())
    if upload is None:
        return await run_in_threadpool(_page, request, who, "workbook.html", 422, report=None,
                                       problems=["choose the answered workbook (.xlsx) first."])
    try:
        name, data = await read_upload(upload, MAX_WORKBOOK)  # type: ignore[arg-type]

        def run() -> dict[str, Any]:
            with tempfile.TemporaryDirectory(prefix="ipdrepo-workbook-") as tmp:
                path = Path(tmp) / name
                path.write_bytes(data)
                return import_workbook(store_for(request, who), path, actor=who.name,
                                       trial=trial).to_dict()

        report = await run_in_threadpool(run)
    except WorkbookError as exc:
        problems = [str(p) for p in exc.context.get("problems", [])] or [exc.message]
        return await run_in_threadpool(_page, request, who, "workbook.html", 422, report=None,
                                       problems=problems)
    except IPDError as exc:
        from repository.service.app import status_for

        if status_for(exc) in (401, 403, 404):
            raise
        return await run_in_threadpool(_page, request, who, "workbook.html", 422, report=None,
                                       problems=[exc.message])
    return await run_in_threadpool(_page, request, who, "workbook.html", report=report,
                                   problems=None)


@router.get("/uploads")
def uploads_page(request: Request, who: Principal = Depends(requires("deliveries.upload"))
                 ) -> HTMLResponse:
    """Send new data (trialists); pending uploads to ingest or reject (curators)."""
    return _uploads(request, who)


def _uploads(request: Request, who: Principal, status: int = 200, **context: Any
             ) -> HTMLResponse:
    from repository.uploads import list_uploads

    rows = list_uploads(store_for(request, who))
    context.setdefault("report", None)
    context.setdefault("refusal", None)
    return _page(request, who, "uploads.html", status, uploads=rows[::-1], **context)


@router.post("/trials/{trial}/uploads", response_model=None)
async def upload_page(trial: str, request: Request,
                      who: Principal = Depends(requires("deliveries.upload", trial="trial"))
                      ) -> Response:
    """A (re-)delivery through the identifier gate, with its report."""
    from repository.uploads import upload as upload_file

    form = await request.form()
    upload = _file(form)
    if upload is None:
        return await run_in_threadpool(_uploads, request, who, 422,
                                       refusal="choose the file with your data first.")
    id_column = str(form.get("id_column") or "").strip()[:200] or None
    try:
        name, data = await read_upload(upload, MAX_DELIVERY)  # type: ignore[arg-type]

        def run() -> dict[str, Any]:
            with tempfile.TemporaryDirectory(prefix="ipdrepo-upload-") as tmp:
                path = Path(tmp) / name
                path.write_bytes(data)
                return upload_file(store_for(request, who), trial, path, file_name=name,
                                   id_column=id_column)

        report = await run_in_threadpool(run)
    except IPDError as exc:
        from repository.service.app import status_for

        if status_for(exc) in (401, 403, 404):
            raise
        return await run_in_threadpool(_uploads, request, who, 422, refusal=exc.message)
    return await run_in_threadpool(_uploads, request, who, report=report)


@router.post("/uploads/{upload_id}/ingest", response_model=None)
def ingest_page(upload_id: int, request: Request,
                who: Principal = Depends(requires("store.write"))) -> Response:
    """Ingest a pending upload as the trial's new delivery (curators)."""
    from repository.uploads import ingest_upload

    try:
        ingest_upload(store_for(request, who), upload_id)
    except IPDError as exc:
        from repository.service.app import status_for

        if status_for(exc) in (401, 403, 404):
            raise
        return _uploads(request, who, 422, refusal=exc.message)
    return go("/uploads", done="ingested")


@router.post("/uploads/{upload_id}/reject", response_model=None)
def reject_page(upload_id: int, request: Request, note: str = Form("", max_length=32000),
                who: Principal = Depends(requires("store.write"))) -> Response:
    from repository.uploads import reject_upload

    if not note.strip():
        return _uploads(request, who, 422, refusal="say why the upload is rejected (the trial "
                        "sees it).")
    try:
        reject_upload(store_for(request, who), upload_id, note=note.strip())
    except IPDError as exc:
        from repository.service.app import status_for

        if status_for(exc) in (401, 403, 404):
            raise
        return _uploads(request, who, 422, refusal=exc.message)
    return go("/uploads", done="rejected")
