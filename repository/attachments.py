"""Files attached to a data query's thread: only curators and the query's trial see them.

Only document and table types are accepted (PDF, images, text, CSV, Excel, Word), at most
:data:`MAX_BYTES`; the type is judged from the file's name and checked against its first bytes.
The name must be a plain file name (:func:`repository.names.check_file_name`). Served back as a
download (``Content-Disposition: attachment``) with the stored type, never rendered inline.
Never upload identifiable documents (consent forms, letters, scans with names): the
pseudonymisation gate does not read attachments.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from repository import audit
from repository.errors import NotFound, QueryError
from repository.models import Query, QueryAttachment, Trial
from repository.names import check_file_name
from repository.reasons import Reason
from repository.roles import not_visible, require
from repository.store import Store

__all__ = ["MAX_BYTES", "TYPES", "attach", "list_attachments", "read_attachment"]

MAX_BYTES = 10 * 2**20
#: extension -> (content type, accepted leading bytes; None: text, checked for NUL bytes)
TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".txt": ("text/plain; charset=utf-8", None),
    ".csv": ("text/csv; charset=utf-8", None),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              (b"PK\x03\x04",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              (b"PK\x03\x04",)),
}


def _query(session: Any, store: Store, query_id: int, action: str) -> tuple[Query, str]:
    who = require(session, store.settings.actor, action)
    query = session.get(Query, query_id)
    if query is None or not who.sees_trial(query.trial_id) or (
            not who.sees_all and query.audience != "trial"):  # still on the curator's list
        if who.sees_all:
            raise NotFound(f"no query {query_id}.", query=query_id)
        raise not_visible(who, thing=f"query {query_id}", action=action)
    trial = session.get(Trial, query.trial_id)
    require(session, store.settings.actor, action, trial=trial.acronym)
    return query, trial.acronym


def _content_type(file_name: str, data: bytes) -> str:
    ext = PurePosixPath(file_name).suffix.lower()
    if ext not in TYPES:
        raise QueryError(f"attachment {file_name!r}: only {', '.join(sorted(TYPES))} files are "
                         "accepted.", file=file_name, reason=Reason.TYPE)
    content_type, magic = TYPES[ext]
    if magic is None:
        if b"\x00" in data[:4096]:
            raise QueryError(f"attachment {file_name!r} is not a text file.", file=file_name,
                             reason=Reason.TYPE)
    elif not data.startswith(magic):
        raise QueryError(f"attachment {file_name!r} is not a {ext} file (its content does not "
                         "match its name).", file=file_name, reason=Reason.TYPE)
    return content_type


def attach(store: Store, query_id: int, *, file_name: str, data: bytes) -> dict[str, Any]:
    check_file_name(file_name, error=QueryError)
    if len(data) > MAX_BYTES:
        raise QueryError(f"attachment {file_name!r} is {len(data) / 2**20:.1f} MiB; at most "
                         f"{MAX_BYTES // 2**20} MiB.", file=file_name, reason=Reason.SIZE)
    if not data:
        raise QueryError(f"attachment {file_name!r} is empty.", file=file_name, reason=Reason.SIZE)
    content_type = _content_type(file_name, data)
    obj = store.objects.put_bytes(data)
    try:
        with store.transaction() as session:
            query, trial = _query(session, store, query_id, "queries.answer")
            row = QueryAttachment(query_id=query.id, file_name=file_name,
                                  content_type=content_type, sha256=obj.sha256,
                                  size_bytes=len(data), uploaded_by=store.settings.actor)
            session.add(row)
            session.flush()
            audit.append(session, actor=store.settings.actor, action="query.attach",
                         entity_type="query", entity_id=query.id,
                         details={"trial": trial, "file_name": file_name,
                                  "sha256": obj.sha256, "size": len(data)})
            return _to_dict(row)
    except BaseException:
        if obj.created:
            store.objects.discard(obj)
        raise


def _to_dict(row: QueryAttachment) -> dict[str, Any]:
    return {"id": row.id, "query": row.query_id, "file_name": row.file_name,
            "content_type": row.content_type, "size_bytes": row.size_bytes,
            "sha256": row.sha256, "uploaded_by": row.uploaded_by,
            "uploaded_at": row.uploaded_at.isoformat(timespec="seconds")}


def list_attachments(store: Store, query_id: int) -> list[dict[str, Any]]:
    with store.reading() as session:
        query, _ = _query(session, store, query_id, "queries.read")
        return [_to_dict(r) for r in session.scalars(
            select(QueryAttachment).where(QueryAttachment.query_id == query.id)
            .order_by(QueryAttachment.id))]


def read_attachment(store: Store, query_id: int, attachment_id: int
                    ) -> tuple[dict[str, Any], bytes]:
    with store.reading() as session:
        query, _ = _query(session, store, query_id, "queries.read")
        row = session.get(QueryAttachment, attachment_id)
        if row is None or row.query_id != query.id:
            raise NotFound(f"query {query_id} has no attachment {attachment_id}.",
                           query=query_id, attachment=attachment_id)
        info = _to_dict(row)
    data = store.objects.read_bytes(info["sha256"], what=f"attachment {attachment_id} of "
                                    f"query {query_id}")
    return info, data
