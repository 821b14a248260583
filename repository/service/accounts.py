"""Accounts: invitations and password resets by one-time link, passwords, the TOTP second
factor, and sign-in with throttling and lockout counted in the database (so every server
worker sees the same counts).

A curator invites a user (:func:`invite`): the user is added (curator, a trialist of one trial,
or an analyst) and gets a one-time link; opening it and choosing a password
(:func:`redeem_link`) activates the account. A forgotten password gets a reset link from a
curator (:func:`reset_link`), which also ends every session of the user.

Sign-in (:func:`sign_in`) records every attempt. Once an account has ``lockout_failures``
failed attempts within ``lockout_window`` (since its last success or unlock), or an address 4x
as many, sign-in is refused - even with the right password - until the window has passed or
a curator unlocks the account (:func:`unlock`). A user name that does not exist is answered
like a wrong password, in the same time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import AccountError, AuthenticationFailed, LoginThrottled, NotFound
from repository.models import (
    Credential,
    LoginAttempt,
    OneTimeLink,
    Trial,
    User,
    WebSession,
    utcnow,
)
from repository.names import check_name
from repository.reasons import Reason
from repository.roles import add_user, get_user, require
from repository.service import passwords, totp
from repository.service.config import ServiceConfig
from repository.service.secret_tokens import digest, new_secret
from repository.store import Store

__all__ = ["Link", "invite", "reset_link", "redeem_link", "change_password", "sign_in",
           "SignIn", "unlock",
           "enrol_totp", "confirm_totp", "disable_totp", "link_url", "locked"]

_PURPOSES = ("invite", "reset")
#: the user names an invitation may give: what people type to sign in
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class Link:
    """A one-time link: the secret token is shown once and never stored."""

    user: str
    purpose: str
    token: str
    expires_at: datetime

    def url(self, public_url: str) -> str:
        return link_url(public_url, self.purpose, self.token)


def link_url(public_url: str, purpose: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/{'welcome' if purpose == 'invite' else 'reset'}#{token}"


def _new_link(session: Session, user: User, *, purpose: str, by: str,
              valid: timedelta) -> Link:
    token = new_secret()
    now = utcnow()
    # every earlier unused link of the user stops working
    session.execute(update(OneTimeLink).where(
        OneTimeLink.user_id == user.id, OneTimeLink.used_at.is_(None)).values(used_at=now))
    session.add(OneTimeLink(user_id=user.id, purpose=purpose, token_hash=digest(token),
                            created_by=by, created_at=now, expires_at=now + valid))
    return Link(user=user.name, purpose=purpose, token=token, expires_at=now + valid)


def invite(session: Session, *, by: str, name: str, role: str, trial: Trial | None = None,
           email: str | None = None, display_name: str | None = None,
           topic: str | None = None, valid: timedelta = timedelta(days=7)) -> Link:
    """Add a user and make their invitation link (``by`` must be a curator)."""
    require(session, by, "users.manage")
    check_name(name, what="user name", pattern=_USER_NAME,
               rule="1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
                    " (e.g. dr.sato)")
    user = add_user(session, name=name, role=role, by=by, trial=trial, email=email,
                    display_name=display_name, topic=topic)
    link = _new_link(session, user, purpose="invite", by=by, valid=valid)
    audit.append(session, actor=by, action="user.invite", topic=topic, entity_type="user",
                 entity_id=name, details={"role": role, "expires": link.expires_at.isoformat(
                     timespec="seconds")})
    return link


def reset_link(session: Session, *, by: str, name: str, topic: str | None = None,
               valid: timedelta = timedelta(hours=2)) -> Link:
    """A password-reset link for user ``name`` (curators); ends the user's sessions."""
    require(session, by, "users.manage")
    user = get_user(session, name)
    if not user.active:
        raise AccountError(f"user {name!r} is deactivated; reactivate them first.", user=name)
    link = _new_link(session, user, purpose="reset", by=by, valid=valid)
    _end_sessions(session, user.id)
    audit.append(session, actor=by, action="user.reset_link", topic=topic, entity_type="user",
                 entity_id=name, details={"expires": link.expires_at.isoformat(
                     timespec="seconds")})
    return link


def redeem_link(session: Session, token: str, *, password: str) -> User:
    """Set the password of the user a valid, unused, unexpired link ``token`` was made for."""
    row = session.scalar(select(OneTimeLink).where(OneTimeLink.token_hash == digest(token))
                         .with_for_update())
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise AccountError("this link is not valid: it was used already, has expired, or was "
                           "replaced by a newer one. Ask a curator for a new link.",
                           reason=Reason.INVALID_LINK)
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AccountError("this link is not valid any more; ask a curator.",
                           reason=Reason.INVALID_LINK)
    passwords.check_strength(password, user=user.name)
    row.used_at = now
    cred = _credential(session, user.id)
    cred.password_hash = passwords.hash_password(password)
    cred.password_changed_at = now
    _end_sessions(session, user.id)
    audit.append(session, actor=user.name, action="user.password", entity_type="user",
                 entity_id=user.name, details={"via": row.purpose})
    return user


def change_password(store: Store, *, user: str, current: str, new: str,
                    keep_csrf: str | None) -> None:
    """Change ``user``'s password (``current`` must be right); every other session of the user
    ends (the one whose CSRF token is ``keep_csrf`` stays; ``None``: all end).

    As in :func:`sign_in`, the argon2 work (checking the current password, hashing the new
    one) runs with no database connection held: a short read, the hashing, then a short write
    that refuses the change (409) if the password was changed meanwhile, e.g. by a reset link."""
    with store.reading() as session:
        user_id = get_user(session, user).id
        cred = session.get(Credential, user_id)
        stored = cred.password_hash if cred is not None else None
    if not passwords.verify_password(stored, current):
        raise AuthenticationFailed("the current password is wrong.", reason=Reason.BAD_PASSWORD)
    passwords.check_strength(new, user=user)
    new_hash = passwords.hash_password(new)
    with store.transaction() as session:
        cred = session.get(Credential, user_id, with_for_update=True)
        if cred is None or stored is None or cred.password_hash != stored:
            raise AccountError("the password was changed meanwhile (in another session or "
                               "with a reset link): sign in with the new password and try "
                               "again.", reason=Reason.CONFLICT)
        now = utcnow()
        cred.password_hash = new_hash
        cred.password_changed_at = now
        for row in session.scalars(select(WebSession).where(
                WebSession.user_id == user_id, WebSession.ended_at.is_(None))):
            if keep_csrf is None or row.csrf_token != keep_csrf:
                row.ended_at = now
        audit.append(session, actor=user, action="user.password", entity_type="user",
                     entity_id=user, details={"via": "change"})


def _credential(session: Session, user_id: int) -> Credential:
    cred = session.get(Credential, user_id, with_for_update=True)
    if cred is None:
        cred = Credential(user_id=user_id, totp_enabled=False)
        session.add(cred)
        session.flush()
    return cred


def _end_sessions(session: Session, user_id: int) -> None:
    session.execute(update(WebSession).where(WebSession.user_id == user_id,
                                             WebSession.ended_at.is_(None))
                    .values(ended_at=utcnow()))


# -- sign-in ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt; ``error`` is raised by the caller after the attempt was
    committed (a failed attempt must be counted even though sign-in fails)."""

    user_id: int | None
    error: AuthenticationFailed | None = None


def _failures(session: Session, column: Any, value: str, since: datetime) -> int:
    last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
        column == value, LoginAttempt.ok.is_(True)))
    start = max(since, last_ok) if last_ok is not None else since
    count = session.scalar(select(func.count()).select_from(LoginAttempt).where(
        column == value, LoginAttempt.ok.is_(False), LoginAttempt.at > start))
    return int(count or 0)


def locked(session: Session, name: str, remote: str, config: ServiceConfig) -> int:
    """Seconds until sign-in is allowed again for ``name`` from ``remote`` (0: allowed)."""
    since = utcnow() - config.lockout_window
    if (_failures(session, LoginAttempt.user_name, name, since) >= config.lockout_failures
            or _failures(session, LoginAttempt.remote, remote, since)
            >= 4 * config.lockout_failures):
        return int(config.lockout_window.total_seconds())
    return 0


@dataclass(frozen=True)
class _Stored:
    """What the first, read-only look at an attempt found."""

    wait: int  # seconds of lockout left (0: allowed)
    user_id: int | None
    password_hash: str | None


def _look_up(session: Session, name: str, remote: str, config: ServiceConfig) -> _Stored:
    wait = locked(session, name, remote, config)
    user = session.scalar(select(User).where(User.name == name))
    cred = session.get(Credential, user.id) if user is not None else None
    return _Stored(wait=wait, user_id=user.id if user is not None else None,
                   password_hash=cred.password_hash if cred is not None else None)


def _throttled(wait: int) -> LoginThrottled:
    return LoginThrottled(
        "too many failed sign-ins for this account or from this address: sign-in is "
        f"refused for up to {wait // 60} minutes. If you forgot your password, ask a "
        "curator for a reset link.", retry_after=wait, reason=Reason.LOCKED)


def sign_in(store: Store, *, name: str, password: str, code: str | None, remote: str,
            config: ServiceConfig, key: bytes) -> SignIn:
    """Check a sign-in attempt and record it; see the module docstring. ``key`` decrypts the
    TOTP secret (:func:`totp_key`).

    The password hash (argon2id: tens of milliseconds of CPU and 64 MiB) is verified while no
    database connection is held: a short read finds the hash and the lockout, then a short
    write transaction records the attempt (checking again that the account, its hash and its
    lockout did not change meanwhile). Many people signing in at once therefore never hold
    the connection pool while hashing."""
    name = name.strip()[:200]
    remote = remote[:64]
    with store.reading() as session:
        found = _look_up(session, name, remote, config)
    if found.wait:
        passwords.burn_time(password)
        ok = False
    else:
        ok = passwords.verify_password(found.password_hash, password)
    rehash = (passwords.hash_password(password) if ok and found.password_hash is not None
              and passwords.needs_rehash(found.password_hash) else None)
    with store.transaction() as session:
        return _record(session, found, name=name, remote=remote, ok=ok, code=code,
                       config=config, key=key, rehash=rehash)


def _record(session: Session, found: _Stored, *, name: str, remote: str, ok: bool,
            code: str | None, config: ServiceConfig, key: bytes, rehash: str | None) -> SignIn:
    """The write half of :func:`sign_in`: lockout and account checked again, TOTP, the
    attempt recorded."""
    wait = found.wait or locked(session, name, remote, config)
    if wait:
        session.add(LoginAttempt(user_name=name, remote=remote, ok=False))
        return SignIn(None, _throttled(wait))
    user = session.get(User, found.user_id) if found.user_id is not None else None
    cred = session.get(Credential, user.id) if user is not None else None
    # a password reset or deactivation between the two looks counts as a failure
    ok = ok and user is not None and user.active and cred is not None and \
        cred.password_hash == found.password_hash
    failure = AuthenticationFailed("wrong user name or password (or the account is not "
                                   "active).", reason=Reason.BAD_CREDENTIALS)
    if ok and cred is not None and cred.totp_enabled:
        step = totp.verify(_decrypt(key, cred.totp_secret), code or "",
                           last_step=cred.totp_last_step)
        if step is None:
            ok = False
            failure = AuthenticationFailed("the one-time code is missing or wrong (give the "
                                           "6 digits your authenticator app shows now).",
                                           reason=Reason.BAD_CODE)
        else:
            cred.totp_last_step = step
    session.add(LoginAttempt(user_name=name, remote=remote, ok=ok))
    if not ok:
        return SignIn(None, failure)
    assert user is not None and cred is not None
    if rehash is not None:
        cred.password_hash = rehash
    return SignIn(user.id)


def unlock(session: Session, *, by: str, name: str, topic: str | None = None) -> None:
    """Let ``name`` sign in again at once (curators): failures before now stop counting."""
    require(session, by, "users.manage")
    get_user(session, name)
    session.add(LoginAttempt(user_name=name, remote=f"unlock:{by}"[:64], ok=True))
    audit.append(session, actor=by, action="user.unlock", topic=topic, entity_type="user",
                 entity_id=name, details={})


# -- TOTP -----------------------------------------------------------------------------------

def totp_key(repository_secret: bytes) -> bytes:
    """The key TOTP secrets are encrypted with, derived from the repository secret (which only
    the server holds): a copy of the database alone cannot produce codes."""
    return hmac.new(repository_secret, b"ipdrepo-totp-secrets", hashlib.sha256).digest()


def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def _decrypt(key: bytes, stored: str | None) -> str:
    if not stored:
        return ""
    try:
        return _fernet(key).decrypt(stored.encode()).decode()
    except InvalidToken:
        return ""


def enrol_totp(session: Session, *, user: str, key: bytes) -> str:
    """Start TOTP enrolment: a new secret (returned, for the authenticator app), not yet
    required until :func:`confirm_totp` sees a valid code."""
    row = get_user(session, user)
    cred = _credential(session, row.id)
    if cred.totp_enabled:
        raise AccountError("a second factor is already set up; disable it first to replace "
                           "it.", user=user)
    secret = totp.new_secret()
    cred.totp_secret = _fernet(key).encrypt(secret.encode()).decode()
    return secret


def confirm_totp(session: Session, *, user: str, code: str, key: bytes) -> None:
    row = get_user(session, user)
    cred = _credential(session, row.id)
    step = totp.verify(_decrypt(key, cred.totp_secret), code) if cred.totp_secret else None
    if step is None:
        raise AccountError("that code does not match; check the time on your phone and type "
                           "the 6 digits shown now.", user=user, reason=Reason.BAD_CODE)
    cred.totp_enabled = True
    cred.totp_last_step = step
    audit.append(session, actor=user, action="user.totp", entity_type="user", entity_id=user,
                 details={"enabled": True})


def disable_totp(session: Session, *, by: str, user: str, topic: str | None = None) -> None:
    """Remove a user's second factor (the user themself, or a curator for a lost phone)."""
    if by != user:
        require(session, by, "users.manage")
    row = get_user(session, user)
    cred = session.get(Credential, row.id)
    if cred is None or not cred.totp_enabled:
        raise NotFound(f"{user} has no second factor set up.", user=user)
    cred.totp_enabled = False
    cred.totp_secret = None
    cred.totp_last_step = None
    audit.append(session, actor=by, action="user.totp", topic=topic, entity_type="user",
                 entity_id=user, details={"enabled": False})
