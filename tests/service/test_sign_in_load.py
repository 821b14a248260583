"""Many people signing in at once: the argon2 password check runs while no database connection
is held, so simultaneous sign-ins never exhaust the connection pool (the load benchmark once
saw 4 of 50 fail with "QueuePool limit ... timed out" when the hash was checked inside the
sign-in transaction)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from repository.service import accounts, passwords
from repository.service.config import ServiceConfig
from tests.service.world import PASSWORD, Server, World, sign_in


def test_password_is_verified_with_no_connection_held(world: World,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = world.store()
    held: list[int] = []
    real = passwords.verify_password

    def watched(stored: str | None, password: str) -> bool:
        held.append(store.engine.pool.checkedout())  # connections in use while hashing
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", watched)
    key = accounts.totp_key(store.secret)
    good = accounts.sign_in(store, name="tri.a", password=PASSWORD, code=None,
                            remote="10.0.0.1", config=ServiceConfig(), key=key)
    bad = accounts.sign_in(store, name="tri.a", password="not it at all", code=None,
                           remote="10.0.0.1", config=ServiceConfig(), key=key)
    assert good.error is None and good.user_id is not None
    assert bad.error is not None and bad.error.context["reason"] == "bad-credentials"
    assert held == [0, 0]


def test_fifty_simultaneous_sign_ins_all_answered(server: Server) -> None:
    people = [("cur", PASSWORD), ("tri.a", PASSWORD), ("tri.b", PASSWORD),
              ("ana.ok", PASSWORD)] * 11 + [("tri.b", PASSWORD)] + [("nobody", "wrong")] * 5

    def one(who: tuple[str, str]) -> tuple[str, int, Any]:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            got = sign_in(client, who[0], who[1])
            return who[0], got.status_code, got.json()

    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        results = list(pool.map(one, people))
    assert len(results) == 50
    for user, status, body in results:
        if user == "nobody":  # refused for the right reason: no such user, not a full pool
            assert (status, body["error"]) == (401, "AuthenticationFailed"), body
        else:
            assert status == 200, body
            assert body["user"] == user
    assert "QueuePool limit" not in server.log.read_text(encoding="utf-8")
