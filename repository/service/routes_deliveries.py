"""Trials, status, deliveries and uploads through the identifier gate.

A trialist uploads a (re-)delivery of their own trial (``POST /trials/{trial}/uploads``): it
is read and checked by the pseudonymisation gate at once (refused: 422 with every finding,
nothing kept), then waits for a curator, who ingests it as a delivery or rejects it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from repository.service.files import read_upload
from repository.service.policy import Principal, requires

__all__ = ["router"]

router = APIRouter(tags=["trials and deliveries"])
MAX_UPLOAD = 500 * 2**20


class IngestBody(BaseModel):
    accept_identifiers: list[str] = Field(default_factory=list)
    justification: str | None = Field(default=None, max_length=32000)


class RejectBody(BaseModel):
    note: str = Field(max_length=32000)


def _store(request: Request, who: Principal) -> Any:
    return request.app.state.service.store_for(who)


@router.get("/trials")
def trials(request: Request,
           who: Principal = Depends(requires("store.read"))) -> list[dict[str, Any]]:
    """The trials the caller may see (a trialist: their own)."""
    from repository.trials import trial_to_dict, visible_trials

    store = _store(request, who)
    with store.reading() as session:
        return [trial_to_dict(t) for t in visible_trials(session, store.topic(session),
                                                         actor=who.name)]


@router.get("/trials/{trial}")
def trial(trial: str, request: Request,
          who: Principal = Depends(requires("store.read", trial="trial"))) -> dict[str, Any]:
    from repository.trials import trial_to_dict, visible_trial

    store = _store(request, who)
    with store.reading() as session:
        return trial_to_dict(visible_trial(session, store.topic(session), trial,
                                           actor=who.name))


@router.get("/status")
def status(request: Request, who: Principal = Depends(requires("store.read"))
           ) -> dict[str, Any]:
    """The topic's status as the caller may see it."""
    from repository.status import topic_status

    store = _store(request, who)
    with store.reading() as session:
        return topic_status(session, store.topic(session), actor=who.name).to_dict()


@router.get("/deliveries")
def deliveries(request: Request, trial: str | None = None, superseded: bool = False,
               who: Principal = Depends(requires("store.read", trial="trial"))
               ) -> list[dict[str, Any]]:
    from repository.deliveries import list_deliveries

    store = _store(request, who)
    with store.reading() as session:
        return list_deliveries(session, store.topic(session), actor=who.name, trial=trial,
                               superseded=superseded)


@router.post("/trials/{trial}/uploads", status_code=201)
async def upload(trial: str, request: Request, file: UploadFile = File(...),
                 dataset: str = Form("main", max_length=64),
                 id_column: str | None = Form(None, max_length=200),
                 who: Principal = Depends(requires("deliveries.upload", trial="trial"))
                 ) -> dict[str, Any]:
    """Upload a delivery of the trial: checked by the identifier gate now, ingested when a
    curator accepts it. Refused files are not kept."""
    from repository.uploads import upload as upload_file

    name, data = await read_upload(file, MAX_UPLOAD)

    def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="ipdrepo-upload-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            return upload_file(_store(request, who), trial, path, file_name=name,
                               dataset=dataset, id_column=id_column)

    return await run_in_threadpool(run)


@router.get("/uploads")
def uploads(request: Request, trial: str | None = None, status: str | None = None,
            who: Principal = Depends(requires("deliveries.upload", trial="trial"))
            ) -> list[dict[str, Any]]:
    from repository.uploads import list_uploads

    return list_uploads(_store(request, who), trial=trial, status=status)


@router.post("/uploads/{upload_id}/ingest")
def ingest(upload_id: int, body: IngestBody, request: Request,
           who: Principal = Depends(requires("store.write"))) -> dict[str, Any]:
    """Ingest a pending upload as the trial's delivery (curators)."""
    from repository.uploads import ingest_upload

    return ingest_upload(_store(request, who), upload_id,
                         accept_identifiers=tuple(body.accept_identifiers),
                         justification=body.justification).to_dict()


@router.post("/uploads/{upload_id}/reject")
def reject(upload_id: int, body: RejectBody, request: Request,
           who: Principal = Depends(requires("store.write"))) -> dict[str, Any]:
    from repository.uploads import reject_upload

    return reject_upload(_store(request, who), upload_id, note=body.note)
