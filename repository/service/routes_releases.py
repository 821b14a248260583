"""Releases: curators see every release and its data; an analyst sees only the releases their
approved, unexpired requests have extracts from, and receives data only as those extracts
(``/requests/{code}/extracts/...``). Every read is in the access log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from repository.errors import PermissionDenied
from repository.reasons import Reason
from repository.service.files import download
from repository.service.policy import Principal, requires

__all__ = ["router"]

router = APIRouter(tags=["releases"])


def _store(request: Request, who: Principal) -> Any:
    return request.app.state.service.store_for(who)


def _visible_ids(store: Any, who: Principal) -> set[int] | None:
    """Release ids an analyst may see (None: all, a curator)."""
    if who.sees_all:
        return None
    from versions.access import analyst_release_ids

    with store.reading() as session:
        return analyst_release_ids(session, store, actor=who.name)


def _release_id(store: Any, version: str) -> int | None:
    from sqlalchemy import select

    from repository.models import Release

    with store.reading() as session:
        topic = store.topic(session)
        return session.scalar(select(Release.id).where(Release.topic_id == topic.id,
                                                       Release.version == version))


@router.get("/releases")
def releases(request: Request,
             who: Principal = Depends(requires("releases.read"))) -> list[dict[str, Any]]:
    """The releases the caller may see, oldest first (in brief)."""
    from versions.releases import list_releases

    store = _store(request, who)
    listed = list_releases(store)
    ids = _visible_ids(store, who)
    out = []
    for info in listed.releases:
        if ids is not None and _release_id(store, info.version) not in ids:
            continue
        out.append(info.overview())
    return out


@router.get("/releases/{version}")
def release(version: str, request: Request,
            who: Principal = Depends(requires("releases.read"))) -> dict[str, Any]:
    """One release with its manifest (logged)."""
    from versions.access import log_access
    from versions.releases import show_release

    store = _store(request, who)
    ids = _visible_ids(store, who)
    if ids is not None and _release_id(store, version) not in ids:
        raise PermissionDenied(f"no release {version!r} visible to you ({who.name}, analyst); "
                               "analysts see the releases their approved requests have "
                               "extracts from.", reason=Reason.NOT_VISIBLE)
    info = show_release(store, version)
    with store.transaction() as session:
        log_access(session, actor=who.name, role=who.role, request=None, kind="read",
                   what=f"release {info.version}: manifest", via=f"GET {request.url.path}",
                   topic=info.topic)
    return info.to_dict()


@router.get("/releases/{version}/data")
def release_data(version: str, request: Request,
                 who: Principal = Depends(requires("releases.data"))) -> Response:
    """A release's data.parquet (curators; checked against the manifest; logged)."""
    from versions.access import log_access
    from versions.releases import release_bytes

    store = _store(request, who)
    info, data = release_bytes(store, version)
    with store.transaction() as session:
        log_access(session, actor=who.name, role=who.role, request=None, kind="download",
                   what=f"release {info.version}: data.parquet", data=data,
                   via=f"GET {request.url.path}", topic=info.topic)
    return download(data, f"{info.topic}-{info.version}.parquet",
                    "application/vnd.apache.parquet")
