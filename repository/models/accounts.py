"""Accounts of the service: passwords, second factors, one-time links, API tokens, sessions,
login attempts, analysts' membership of data requests, and the access log.

::

    app_user ─ credential            argon2id hash, TOTP secret (encrypted), never the password
    app_user ─< one_time_link        invitation / password reset: only a hash of the token
    app_user ─< api_token            bearer tokens: only a hash; expiry, revocation
    app_user ─< web_session          server-side sessions: only a hash of the cookie's id
    login_attempt                    throttling and lockout, counted here (shared by workers)
    data_request ─< request_member   the analysts an approved request grants data to
    access_log                       append-only: who read or downloaded what, when, how much

Secrets are never stored: a token or session id is 32 random bytes shown once, and the store
keeps its SHA-256 (a lookup by hash; 256 bits need no slow hash).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from repository.models import releases, users  # noqa: F401 (the tables its foreign keys refer to)
from repository.models.base import Base, UTCDateTime, intpk, json_doc, sha256_hex, timestamp

__all__ = ["Credential", "OneTimeLink", "ApiToken", "WebSession", "LoginAttempt",
           "RequestMember", "AccessLog"]


class Credential(Base):
    """How a user signs in: an argon2id password hash and an optional TOTP second factor."""

    __tablename__ = "credential"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    #: the TOTP secret, encrypted under a key derived from the repository secret
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the last TOTP time step accepted (a code is accepted once)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OneTimeLink(Base):
    """An invitation or password-reset link: usable once, before it expires."""

    __tablename__ = "one_time_link"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    #: invite | reset
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[sha256_hex] = mapped_column(unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for the API and the command-line and Python clients."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[sha256_hex] = mapped_column(unique=True)
    #: the first characters of the token, to tell tokens apart in listings
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp]
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random id, the store its hash."""

    __tablename__ = "web_session"

    id: Mapped[intpk]
    token_hash: Mapped[sha256_hex] = mapped_column(unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    #: the session's CSRF token, required on every state-changing call made with the cookie
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
    #: the absolute end of the session, whatever its activity
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """One sign-in attempt, counted for throttling and lockout."""

    __tablename__ = "login_attempt"

    id: Mapped[intpk]
    user_name: Mapped[str] = mapped_column(String(200), index=True)
    remote: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[timestamp] = mapped_column(index=True)
    ok: Mapped[bool] = mapped_column(Boolean)


class RequestMember(Base):
    """An analyst an approved data request grants its extracts to."""

    __tablename__ = "request_member"
    __table_args__ = (UniqueConstraint("request_id", "user_id"),)

    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("data_request.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[timestamp]


class AccessLog(Base):
    """One read or download of released data, or of a request's documents: never changed or
    deleted, and covered by the keyed audit chain (:mod:`repository.audit_rows`)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[timestamp] = mapped_column(index=True)
    user_name: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    #: the data request the access was made under (None: a curator's own read)
    request_code: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    #: read | download
    kind: Mapped[str] = mapped_column(String(20))
    #: what was read, e.g. "extract 3 of REQ-0001 from release 1.0: data.parquet"
    what: Mapped[str] = mapped_column(String(500))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: how: the API route or the CLI command
    via: Mapped[str] = mapped_column(String(200))
    details: Mapped[json_doc | None]
