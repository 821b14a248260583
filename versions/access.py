"""Who may receive what of a data request, and the access log of everything handed out.

A curator makes analysts members of a request (:func:`grant`). An analyst then sees only the
requests they are a member of (:func:`visible_request`, refused like one that does not exist
otherwise), and receives their extracts only while the request is approved and unexpired
(:func:`check_active`): downloads after expiry or revocation are refused.

Every read of released data - an extract's file, a release's manifest, a request's data use
agreement - is recorded in the append-only :class:`~repository.models.AccessLog` (who, which
request, its purpose, what, when, bytes, sha256, by which route) in the same transaction as an
audit event, so the keyed audit chain vouches for the log (:mod:`repository.audit_rows`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import NotFound, RequestError
from repository.models import AccessLog, DataRequest, Extract, Release, RequestMember, User
from repository.roles import Actor, get_user, not_visible, require
from repository.store import Store
from versions.dataset import sha256_hex
from versions.reasons import Reason

__all__ = ["grant", "ungrant", "members", "visible_request", "visible_requests",
           "check_active", "log_access", "read_extract_file", "read_dua", "access_log",
           "access_log_csv", "analyst_release_ids", "LOG_COLUMNS"]

LOG_COLUMNS = ("at", "user", "role", "request", "purpose", "kind", "what", "bytes", "sha256",
               "via")


def _request(session: Session, store: Store, code: str, topic: str | None) -> DataRequest:
    from versions.requests import request_row

    return request_row(session, store.topic(session, topic), code)


def grant(store: Store, code: str, user: str, *, topic: str | None = None) -> None:
    """Make analyst ``user`` a member of request ``code`` (curators)."""
    _change_membership(store, code, user, topic=topic, member=True)


def ungrant(store: Store, code: str, user: str, *, topic: str | None = None) -> None:
    _change_membership(store, code, user, topic=topic, member=False)


def _change_membership(store: Store, code: str, user: str, *, topic: str | None,
                       member: bool) -> None:
    """Add (``member``) or remove ``user`` as a member of request ``code``, audited; adding
    an existing member does nothing, removing a non-member is :class:`NotFound`."""
    actor = store.settings.actor
    with store.transaction() as session:
        require(session, actor, "requests.manage")
        row = _request(session, store, code, topic)
        person = get_user(session, user)
        if member and person.role != "analyst":
            raise RequestError(f"{user} is {person.role}; only analysts are members of data "
                               "requests (curators see every request).", request=code,
                               user=user)
        found = session.scalar(select(RequestMember).where(RequestMember.request_id == row.id,
                                                           RequestMember.user_id == person.id))
        if member:
            if found is not None:
                return
            session.add(RequestMember(request_id=row.id, user_id=person.id, added_by=actor))
        else:
            if found is None:
                raise NotFound(f"{user} is not a member of data request {code}.", request=code)
            session.delete(found)
        audit.append(session, actor=actor, action="request.grant" if member
                     else "request.ungrant", topic=store.topic(session, topic).slug,
                     entity_type="data_request", entity_id=code, details={"user": user})


def members(session: Session, request: DataRequest) -> list[str]:
    return list(session.scalars(select(User.name).join(
        RequestMember, RequestMember.user_id == User.id).where(
        RequestMember.request_id == request.id).order_by(User.name)))


def _is_member(session: Session, who: Actor, request: DataRequest) -> bool:
    user = get_user(session, who.name)
    return session.scalar(select(RequestMember.id).where(
        RequestMember.request_id == request.id, RequestMember.user_id == user.id)) is not None


def visible_request(session: Session, store: Store, code: str, *, actor: str,
                    action: str = "requests.read", topic: str | None = None) -> DataRequest:
    """Request ``code`` if ``actor`` may ``action`` on it: curators any, analysts those they
    are members of; anything else is refused like a request that does not exist."""
    who = require(session, actor, action)
    topic_row = store.topic(session, topic)
    row = session.scalar(select(DataRequest).where(DataRequest.topic_id == topic_row.id,
                                                   DataRequest.code == code))
    if who.sees_all:
        if row is None:
            return _request(session, store, code, topic)  # NotFound listing the codes
        return row
    if row is None or not _is_member(session, who, row):
        raise not_visible(who, thing=f"data request {code!r}", action=action)
    return row


def visible_requests(session: Session, store: Store, *, actor: str,
                     topic: str | None = None) -> list[DataRequest]:
    who = require(session, actor, "requests.read")
    topic_row = store.topic(session, topic)
    stmt = select(DataRequest).where(DataRequest.topic_id == topic_row.id)
    if not who.sees_all:
        user = get_user(session, who.name)
        stmt = stmt.join(RequestMember, RequestMember.request_id == DataRequest.id).where(
            RequestMember.user_id == user.id)
    return list(session.scalars(stmt.order_by(DataRequest.id)))


def check_active(request: DataRequest, *, today: date | None = None) -> None:
    """Refuse (RequestError) a request that is not approved, or past its expiry date."""
    today = today or date.today()
    if request.status != "approved":
        raise RequestError(f"data request {request.code} is {request.status}: nothing can be "
                           "downloaded under it.", request=request.code,
                           status=request.status, reason=Reason.NOT_APPROVED)
    if request.expires_on is not None and today > request.expires_on:
        raise RequestError(f"data request {request.code} expired on "
                           f"{request.expires_on.isoformat()}: downloads are refused. Ask the "
                           "curators to renew the data use agreement.", request=request.code,
                           expired=request.expires_on.isoformat(), reason=Reason.EXPIRED)


def analyst_release_ids(session: Session, store: Store, *, actor: str,
                        topic: str | None = None, today: date | None = None) -> set[int]:
    """The releases an analyst's active requests have extracts from."""
    ids: set[int] = set()
    for row in visible_requests(session, store, actor=actor, topic=topic):
        try:
            check_active(row, today=today)
        except RequestError:
            continue
        ids |= {e.release_id for e in row.extracts}
    return ids


def log_access(session: Session, *, actor: str, role: str, request: DataRequest | None,
               kind: str, what: str, data: bytes | None = None, via: str,
               details: dict[str, Any] | None = None, topic: str | None = None) -> AccessLog:
    """Record one read or download (with an audit event, in the caller's transaction)."""
    row = AccessLog(user_name=actor, role=role, request_code=request.code if request else None,
                    purpose=request.purpose if request else None, kind=kind, what=what[:500],
                    bytes=len(data) if data is not None else 0,
                    sha256=sha256_hex(data) if data is not None else None, via=via[:200],
                    details=details)
    session.add(row)
    session.flush()
    audit.append(session, actor=actor, action=f"access.{kind}", topic=topic,
                 entity_type="access_log", entity_id=row.id,
                 details={"request": row.request_code, "what": row.what, "bytes": row.bytes,
                          "sha256": row.sha256})
    return row


def read_extract_file(store: Store, code: str, extract_id: int, name: str, *, via: str,
                      today: date | None = None) -> tuple[dict[str, Any], bytes]:
    """A file of an extract of request ``code``, for its members while the request is active
    (curators always), logged."""
    actor = store.settings.actor
    with store.transaction() as session:
        who = require(session, actor, "extracts.download")
        row = visible_request(session, store, code, actor=actor, action="extracts.download")
        if not who.sees_all:
            check_active(row, today=today)
        extract = session.get(Extract, extract_id)
        entry = None
        if extract is not None and extract.request_id == row.id:
            entry = next((f for f in extract.files or () if f.get("name") == name), None)
        if entry is None:
            raise NotFound(f"data request {code} has no extract {extract_id} with a file "
                           f"{name!r}.", request=code, extract=extract_id, file=name)
        assert extract is not None
        release = session.get(Release, extract.release_id)
        data = store.objects.read_bytes(entry["sha256"], what=f"{name} of extract "
                                        f"{extract_id} of {code}")
        log_access(session, actor=actor, role=who.role, request=row, kind="download",
                   what=f"extract {extract_id} of {code} from release "
                        f"{release.version if release else '?'}: {name}", data=data, via=via,
                   details={"watermark": extract.watermark}, topic=store.topic(session).slug)
        return dict(entry), data


def read_dua(store: Store, code: str, *, via: str) -> tuple[str, bytes]:
    """The data use agreement of request ``code`` (its members, curators), logged."""
    actor = store.settings.actor
    with store.transaction() as session:
        who = require(session, actor, "requests.read")
        row = visible_request(session, store, code, actor=actor)
        if not row.dua_sha256 or not row.dua_file_name:
            raise NotFound(f"no data use agreement document was recorded for {code} (its "
                           f"reference is {row.dua_reference!r}).", request=code)
        data = store.objects.read_bytes(row.dua_sha256, what=f"the DUA of {code}")
        log_access(session, actor=actor, role=who.role, request=row, kind="read",
                   what=f"data use agreement of {code}: {row.dua_file_name}", data=data,
                   via=via, topic=store.topic(session).slug)
        return row.dua_file_name, data


def access_log(store: Store, *, request: str | None = None,
               users: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The access log (curators), oldest first; of one request, or some users."""
    with store.reading() as session:
        require(session, store.settings.actor, "access_log.read")
        stmt = select(AccessLog).order_by(AccessLog.id)
        if request is not None:
            stmt = stmt.where(AccessLog.request_code == request)
        if users:
            stmt = stmt.where(AccessLog.user_name.in_(list(users)))
        return [{"at": r.at.isoformat(timespec="seconds"), "user": r.user_name,
                 "role": r.role, "request": r.request_code, "purpose": r.purpose,
                 "kind": r.kind, "what": r.what, "bytes": r.bytes, "sha256": r.sha256,
                 "via": r.via} for r in session.scalars(stmt)]


def access_log_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The log as CSV (text cells a spreadsheet would run as formulas are neutralised)."""
    from repository.names import spreadsheet_text

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for r in rows:
        writer.writerow([spreadsheet_text(str(r[c])) if r[c] is not None else ""
                         for c in LOG_COLUMNS])
    return out.getvalue()
