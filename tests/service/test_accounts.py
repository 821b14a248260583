"""Accounts in the library, on SQLite and PostgreSQL: argon2id hashes, invitation and reset
links used once, tokens stored as hashes with expiry and revocation, sessions with idle and
absolute expiry, lockout counted in the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from repository.errors import (
    AccountError,
    AlreadyExists,
    AuthenticationFailed,
    LoginThrottled,
    PermissionDenied,
)
from repository.models import ApiToken, Credential, OneTimeLink, User, WebSession, utcnow
from repository.service import accounts, passwords, sessions, tokens
from repository.service.config import ServiceConfig
from repository.service.secret_tokens import digest

PASSWORD = "a long enough passphrase"
KEY = b"k" * 32


@pytest.fixture
def store(make_store: Any) -> Any:
    from repository.trials import TrialSpec, add_trial

    s = make_store()
    with s.transaction() as session:
        add_trial(session, s.topic(session), TrialSpec(acronym="T1"), actor="tester")
    return s


def _invite(store: Any, name: str = "ann", role: str = "analyst") -> accounts.Link:
    with store.transaction() as session:
        return accounts.invite(session, by="tester", name=name, role=role)


def _sign_in(store: Any, name: str, password: str, config: ServiceConfig,
             remote: str = "10.0.0.1", code: str | None = None) -> Any:
    outcome = accounts.sign_in(store, name=name, password=password, code=code,
                               remote=remote, config=config, key=KEY)
    if outcome.error:
        raise outcome.error
    with store.reading() as session:
        user = session.get(User, outcome.user_id)
        session.expunge_all()
    return user


def test_invitation_sets_an_argon2id_password_once(store: Any) -> None:
    link = _invite(store)
    assert link.url("https://ipd.example.org").startswith("https://ipd.example.org/welcome#")
    with store.reading() as session:
        row = session.scalar(select(OneTimeLink))
        assert row.token_hash == digest(link.token) and link.token not in str(row.__dict__)
    with store.transaction() as session, pytest.raises(AccountError, match="too weak"):
        accounts.redeem_link(session, link.token, password="short")
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)
    with store.reading() as session:
        stored = session.scalar(select(Credential.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with store.transaction() as session, pytest.raises(AccountError, match="not valid"):
        accounts.redeem_link(session, link.token, password=PASSWORD + "x")
    assert _sign_in(store, "ann", PASSWORD, ServiceConfig()).name == "ann"


def test_expired_and_replaced_links_are_refused(store: Any) -> None:
    first = _invite(store)
    with store.transaction() as session:
        second = accounts.reset_link(session, by="tester", name="ann")
    with store.transaction() as session, pytest.raises(AccountError):
        accounts.redeem_link(session, first.token, password=PASSWORD)  # an invite still works
    with store.transaction() as session:
        session.execute(update(OneTimeLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    with store.transaction() as session, pytest.raises(AccountError, match="expired"):
        accounts.redeem_link(session, second.token, password=PASSWORD)


def test_only_curators_invite(store: Any) -> None:
    link = _invite(store)
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)
    with store.transaction() as session, pytest.raises(PermissionDenied):
        accounts.invite(session, by="ann", name="eve", role="curator")


def test_lockout_counted_in_the_database(store: Any) -> None:
    config = ServiceConfig(lockout_failures=3)
    link = _invite(store)
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)
    for _ in range(3):
        with pytest.raises(Exception, match="wrong user name or password"):
            _sign_in(store, "ann", "wrong password!", config)
    # locked: even the right password is refused, from another address too
    with pytest.raises(LoginThrottled):
        _sign_in(store, "ann", PASSWORD, config, remote="10.9.9.9")
    with store.transaction() as session:
        accounts.unlock(session, by="tester", name="ann")
    assert _sign_in(store, "ann", PASSWORD, config).name == "ann"
    # an unknown user is answered like a wrong password
    with pytest.raises(Exception, match="wrong user name or password"):
        _sign_in(store, "nobody", PASSWORD, config)


def test_tokens_hashed_expire_and_revoke(store: Any) -> None:
    _invite(store)
    with store.transaction() as session:
        new = tokens.create_token(session, by="ann", name="laptop", expires_days=1)
    assert new.token.startswith(tokens.PREFIX)
    with store.transaction() as session:
        assert session.scalar(select(ApiToken.token_hash)) == digest(new.token)
        assert tokens.authenticate_token(session, new.token).name == "ann"
        assert tokens.authenticate_token(session, new.token[:-1] + "x") is None
        with pytest.raises(AlreadyExists):
            tokens.create_token(session, by="ann", name="laptop")
    with store.transaction() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    with store.transaction() as session:
        assert tokens.authenticate_token(session, new.token) is None
        assert tokens.list_tokens(session, by="ann")[0]["state"] == "expired"
        other = tokens.create_token(session, by="ann", name="desk")
    with store.transaction() as session:
        tokens.revoke_token(session, by="ann", name="desk")
    with store.transaction() as session:
        assert tokens.authenticate_token(session, other.token) is None
        with pytest.raises(PermissionDenied):  # another user's tokens: curators only
            tokens.list_tokens(session, by="ann", user="tester")


def test_sessions_idle_and_absolute_expiry(store: Any) -> None:
    config = ServiceConfig()
    link = _invite(store)
    with store.transaction() as session:
        user = accounts.redeem_link(session, link.token, password=PASSWORD)
        first = sessions.start_session(session, user, config)
    with store.transaction() as session:
        assert sessions.load_session(session, first.cookie, config) is not None
        # signing in again with the old cookie ends it: no fixation
        second = sessions.start_session(session, user, config, previous=first.cookie)
    with store.transaction() as session:
        assert sessions.load_session(session, first.cookie, config) is None
        session.execute(update(WebSession).where(WebSession.token_hash == digest(second.cookie))
                        .values(last_seen_at=utcnow() - config.session_idle
                                - timedelta(seconds=1)))
    with store.transaction() as session:
        assert sessions.load_session(session, second.cookie, config) is None
        third = sessions.start_session(session, user, config)
        session.flush()
        session.execute(update(WebSession).where(WebSession.token_hash == digest(third.cookie))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    with store.transaction() as session:
        assert sessions.load_session(session, third.cookie, config) is None


def test_password_strength() -> None:
    for weak in ("short", "ann-and-more-letters", "aaaaaaaaaaaaaaaa"):
        with pytest.raises(AccountError):
            passwords.check_strength(weak, user="ann")
    passwords.check_strength(PASSWORD, user="ann")
    assert not passwords.verify_password(None, PASSWORD)


def test_totp_second_factor(store: Any) -> None:
    import time

    from repository.service import totp

    config = ServiceConfig()
    link = _invite(store)
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)
        secret = accounts.enrol_totp(session, user="ann", key=KEY)
    with store.reading() as session:
        assert secret not in (session.scalar(select(Credential.totp_secret)) or "")
    key = totp._key(secret)
    now = time.time()
    with store.transaction() as session:
        accounts.confirm_totp(session, user="ann", code=totp.totp(key, now - 30), key=KEY)
    with pytest.raises(Exception, match="one-time code"):
        _sign_in(store, "ann", PASSWORD, config)
    assert _sign_in(store, "ann", PASSWORD, config, code=totp.totp(key, now)).name == "ann"
    with pytest.raises(Exception, match="one-time code"):  # the same code twice
        _sign_in(store, "ann", PASSWORD, config, code=totp.totp(key, now))


def test_session_cookie_is_secure_by_default(store: Any) -> None:
    """A server's defaults: the session cookie is Secure (with the __Host- prefix), HttpOnly,
    SameSite=Lax, Path=/, with a lifetime; turning Secure off is refused off this machine."""
    from fastapi.testclient import TestClient

    from repository.errors import ConfigError
    from repository.service.app import create_app

    config = ServiceConfig.from_settings(store.settings, env={})
    assert config.cookie_secure and config.cookie_name == "__Host-ipdrepo-session"
    with pytest.raises(ConfigError, match="clear text"):
        ServiceConfig.from_settings(store.settings, env={
            "IPDREPO_COOKIE_SECURE": "false", "IPDREPO_PUBLIC_URL": "http://ipd.example.org"})
    link = _invite(store, "cookie.user")
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)
    app = create_app(store.settings, config=config, store=store)
    with TestClient(app, base_url="https://testserver") as client:
        got = client.post("/api/v1/auth/login", json={"user": "cookie.user",
                                                        "password": PASSWORD})
    assert got.status_code == 200, got.text
    cookie = got.headers["set-cookie"]
    assert cookie.startswith("__Host-ipdrepo-session=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= flags, cookie
    assert "domain" not in flags and "samesite=lax" in cookie.lower()


def _ann(store: Any) -> None:
    link = _invite(store)
    with store.transaction() as session:
        accounts.redeem_link(session, link.token, password=PASSWORD)


def test_change_password_checks_the_current_one_and_hashes_with_no_connection_held(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _ann(store)
    held: list[int] = []
    for name in ("verify_password", "hash_password"):
        real = getattr(passwords, name)
        monkeypatch.setattr(passwords, name, lambda *a, _real=real, **k: (
            held.append(store.engine.pool.checkedout()), _real(*a, **k))[1])
    with pytest.raises(AuthenticationFailed, match="current password is wrong"):
        accounts.change_password(store, user="ann", current="not it", new=PASSWORD + " 2",
                                 keep_csrf=None)
    with store.transaction() as session:
        ann = session.scalar(select(User).where(User.name == "ann"))
        here, other = (sessions.start_session(session, ann, ServiceConfig()) for _ in "ab")
    accounts.change_password(store, user="ann", current=PASSWORD, new=PASSWORD + " 2",
                             keep_csrf=here.csrf_token)
    with store.transaction() as session:  # the session that changed it stays, others end
        assert sessions.load_session(session, here.cookie, ServiceConfig()) is not None
        assert sessions.load_session(session, other.cookie, ServiceConfig()) is None
    assert held == [0, 0, 0]  # verify (wrong), verify (right), hash: no connection in use
    assert _sign_in(store, "ann", PASSWORD + " 2", ServiceConfig()).name == "ann"
    with pytest.raises(AuthenticationFailed):
        _sign_in(store, "ann", PASSWORD, ServiceConfig(), remote="10.0.0.2")


def test_a_password_changed_meanwhile_is_a_conflict_and_nothing_changes(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reset link used while the new password is being hashed: the change is refused (409)
    and the password the link set stays."""
    _ann(store)
    real = passwords.hash_password

    def reset_meanwhile(password: str) -> str:
        monkeypatch.setattr(passwords, "hash_password", real)
        with store.transaction() as session:
            link = accounts.reset_link(session, by="tester", name="ann")
        with store.transaction() as session:
            accounts.redeem_link(session, link.token, password=PASSWORD + " reset")
        return real(password)

    monkeypatch.setattr(passwords, "hash_password", reset_meanwhile)
    with pytest.raises(AccountError, match="changed meanwhile") as caught:
        accounts.change_password(store, user="ann", current=PASSWORD, new=PASSWORD + " 2",
                                 keep_csrf=None)
    assert caught.value.reason == "conflict"
    from repository.service.app import status_for

    assert status_for(caught.value) == 409
    assert _sign_in(store, "ann", PASSWORD + " reset", ServiceConfig()).name == "ann"
