"""API bearer tokens: ``ipdrepo token create NAME [--expires DAYS]`` prints a token once; the
store keeps its SHA-256 only. A token acts as its user, with the user's role and trial; it
stops working when it expires, is revoked, or its user is deactivated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import AlreadyExists, NotFound
from repository.models import ApiToken, User, utcnow
from repository.names import check_name
from repository.roles import get_user, require
from repository.service.secret_tokens import digest, new_secret

__all__ = ["PREFIX", "NewToken", "create_token", "list_tokens", "revoke_token",
           "authenticate_token", "MAX_DAYS"]

#: every token starts so, which lets secret scanners recognise a leaked one
PREFIX = "ipdrepo_"
MAX_DAYS = 366
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class NewToken:
    user: str
    name: str
    token: str  # shown once
    expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "token": self.token,
                "expires_at": self.expires_at.isoformat(timespec="seconds")
                if self.expires_at else None}


def _owner(session: Session, by: str, user: str | None) -> User:
    """The user whose tokens ``by`` manages: their own, or (curators) anyone's."""
    require(session, by, "account.self")
    if user is None or user == by:
        return get_user(session, by)
    require(session, by, "tokens.manage")
    return get_user(session, user)


def create_token(session: Session, *, by: str, name: str, user: str | None = None,
                 expires_days: int | None = 90, topic: str | None = None) -> NewToken:
    check_name(name, what="token name", pattern=_NAME,
               rule="1-64 letters, digits, '.', '_' or '-', e.g. laptop or ci-2026")
    if expires_days is not None and not 1 <= expires_days <= MAX_DAYS:
        raise ValueError(f"expires_days must be 1-{MAX_DAYS}")
    owner = _owner(session, by, user)
    if session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id,
                                             ApiToken.name == name)) is not None:
        raise AlreadyExists(f"{owner.name} already has a token named {name!r}; revoke it "
                            "first or choose another name.", token=name, user=owner.name)
    token = new_secret(PREFIX)
    now = utcnow()
    expires = now + timedelta(days=expires_days) if expires_days is not None else None
    session.add(ApiToken(user_id=owner.id, name=name, token_hash=digest(token),
                         prefix=token[:len(PREFIX) + 4], created_by=by, created_at=now,
                         expires_at=expires))
    session.flush()
    audit.append(session, actor=by, action="token.create", topic=topic, entity_type="user",
                 entity_id=owner.name, details={"token": name, "expires": expires.isoformat(
                     timespec="seconds") if expires else None})
    return NewToken(user=owner.name, name=name, token=token, expires_at=expires)


def _state(row: ApiToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def list_tokens(session: Session, *, by: str, user: str | None = None,
                all_users: bool = False) -> list[dict[str, Any]]:
    """Tokens of ``by`` (or of ``user``; curators: of everyone with ``all_users``); never the
    tokens themselves."""
    stmt = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if all_users:
        require(session, by, "tokens.manage")
    else:
        stmt = stmt.where(ApiToken.user_id == _owner(session, by, user).id)
    now = utcnow()

    def iso(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value else None

    return [{"user": owner, "name": t.name, "prefix": t.prefix, "state": _state(t, now),
             "created_at": iso(t.created_at), "expires_at": iso(t.expires_at),
             "last_used_at": iso(t.last_used_at), "revoked_at": iso(t.revoked_at)}
            for t, owner in session.execute(stmt.order_by(User.name, ApiToken.name)).all()]


def revoke_token(session: Session, *, by: str, name: str, user: str | None = None,
                 topic: str | None = None) -> None:
    owner = _owner(session, by, user)
    row = session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id,
                                                ApiToken.name == name))
    if row is None:
        raise NotFound(f"{owner.name} has no token named {name!r} (`ipdrepo token list`).",
                       token=name, user=owner.name)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.append(session, actor=by, action="token.revoke", topic=topic, entity_type="user",
                     entity_id=owner.name, details={"token": name})


def authenticate_token(session: Session, token: str) -> User | None:
    """The active user a valid token belongs to, or None (unknown, expired, revoked)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    now = utcnow()
    if row is None or _state(row, now) != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now
    return user
