"""Data requests, their extracts and data use agreements, and the access log.

An analyst sees only the requests they are members of; downloads under a request are refused
once it has expired or been revoked (403), and every download is in the access log."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from repository.service.files import download
from repository.service.policy import Principal, requires

__all__ = ["router"]

router = APIRouter(tags=["data requests"])
_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8",
          "json": "application/json"}


class ExtractBody(BaseModel):
    release: str = Field(max_length=64)
    csv: bool = False


class MemberBody(BaseModel):
    user: str = Field(max_length=200)


def _store(request: Request, who: Principal) -> Any:
    return request.app.state.service.store_for(who)


def _brief(session: Any, row: Any, who: Principal) -> dict[str, Any]:
    from versions.access import members
    from versions.requests import request_info

    data = request_info(row).to_dict()
    for extract in data["extracts"]:
        if not who.sees_all:
            extract.pop("output", None)  # a path on the server
    if who.sees_all:
        data["members"] = members(session, row)
    return data


@router.get("/requests")
def requests_(request: Request,
              who: Principal = Depends(requires("requests.read"))) -> list[dict[str, Any]]:
    """Data requests: every one for curators, an analyst's own."""
    from versions.access import visible_requests

    store = _store(request, who)
    with store.reading() as session:
        return [_brief(session, r, who) for r in visible_requests(session, store,
                                                                  actor=who.name)]


@router.get("/requests/{code}")
def request_show(code: str, request: Request,
                 who: Principal = Depends(requires("requests.read", request="code"))
                 ) -> dict[str, Any]:
    from versions.access import visible_request

    store = _store(request, who)
    with store.reading() as session:
        return _brief(session, visible_request(session, store, code, actor=who.name), who)


@router.get("/requests/{code}/dua")
def request_dua(code: str, request: Request,
                who: Principal = Depends(requires("requests.read", request="code"))
                ) -> Response:
    """The signed data use agreement of the request (logged)."""
    from versions.access import read_dua

    name, data = read_dua(_store(request, who), code, via=f"GET {request.url.path}")
    return download(data, name, "application/octet-stream")


@router.get("/requests/{code}/extracts/{extract_id}/files/{name}")
def extract_file(code: str, extract_id: int, name: Literal["data.parquet", "data.csv",
                                                           "manifest.json"],
                 request: Request,
                 who: Principal = Depends(requires("extracts.download", request="code"))
                 ) -> Response:
    """A file of an extract: for the request's members while it is approved and unexpired;
    checked against its sha256 and logged."""
    from versions.access import read_extract_file

    entry, data = read_extract_file(_store(request, who), code, extract_id, name,
                                    via=f"GET {request.url.path}")
    return download(data, f"{code}-{extract_id}-{name}",
                    _TYPES.get(entry.get("format", ""), "application/octet-stream"))


@router.post("/requests/{code}/extracts", status_code=201)
def make_extract(code: str, body: ExtractBody, request: Request,
                 who: Principal = Depends(requires("requests.manage"))) -> dict[str, Any]:
    """Write an extract of the request from a release (curators); its files are kept in the
    object store, from which the request's members download them."""
    from versions.extracts import extract

    store = _store(request, who)
    with tempfile.TemporaryDirectory(prefix="ipdrepo-extract-") as tmp:
        result = extract(store, code, release=body.release, output=Path(tmp) / "extract",
                         formats=("parquet", "csv") if body.csv else ("parquet",))
        data = result.to_dict()
    data["output"] = None  # the files are served from the object store
    return data


@router.post("/requests/{code}/members")
def add_member(code: str, body: MemberBody, request: Request,
               who: Principal = Depends(requires("requests.manage"))) -> dict[str, Any]:
    """Make an analyst a member of the request (curators)."""
    from versions.access import grant

    grant(_store(request, who), code, body.user)
    return {"request": code, "member": body.user}


@router.get("/access-log")
def access_log(request: Request, code: str | None = None, format: Literal["json", "csv"] = "json",
               who: Principal = Depends(requires("access_log.read"))) -> Any:
    """The access log (curators): every read and download, oldest first; ``?code=REQ`` for
    one request, ``?format=csv`` for a spreadsheet."""
    from versions.access import access_log as log
    from versions.access import access_log_csv

    rows = log(_store(request, who), request=code)
    if format == "csv":
        return PlainTextResponse(access_log_csv(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition":
                                          'attachment; filename="access-log.csv"'})
    return rows
