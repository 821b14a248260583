"""Server-side browser sessions.

The cookie holds 32 random bytes; the store keeps their SHA-256 in ``web_session`` (so every
worker sees the same sessions), with the session's CSRF token, its last activity and its
absolute end. A session ends after ``session_idle`` without requests, at ``session_max``
after sign-in, at sign-out, and when the user's password is reset. Signing in always makes a
new session id and ends the one the browser presented (no session fixation); an id the store
does not know (made up, tampered with, ended) is simply not a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository.models import User, WebSession, utcnow
from repository.service.config import ServiceConfig
from repository.service.secret_tokens import digest, new_secret

__all__ = ["NewSession", "start_session", "load_session", "end_session"]

#: last activity is written at most this often (not on every request)
_TOUCH = timedelta(seconds=30)


@dataclass(frozen=True)
class NewSession:
    cookie: str  # the secret: only in the Set-Cookie header
    csrf_token: str


def start_session(session: Session, user: User, config: ServiceConfig, *,
                  previous: str | None = None) -> NewSession:
    """A new session for ``user``; the ``previous`` cookie's session (if any) ends."""
    if previous:
        end_session(session, previous)
    cookie, csrf = new_secret(), new_secret()
    now = utcnow()
    session.add(WebSession(token_hash=digest(cookie), user_id=user.id, csrf_token=csrf,
                           created_at=now, last_seen_at=now, expires_at=now + config.session_max))
    return NewSession(cookie=cookie, csrf_token=csrf)


def load_session(session: Session, cookie: str, config: ServiceConfig
                 ) -> tuple[WebSession, User] | None:
    """The live session of ``cookie`` and its active user, or None."""
    if not cookie or len(cookie) > 100:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(cookie)))
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > config.session_idle:
        row.ended_at = now
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > _TOUCH:
        row.last_seen_at = now
    return row, user


def end_session(session: Session, cookie: str) -> None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(cookie)))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
