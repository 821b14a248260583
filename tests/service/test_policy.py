"""Every route of the app declares its action of the one policy table, and is called (on a
real server) as every role: the verdict must be the table's, and a trialist's answers must
hold nothing of the other trial.

A new route without a declaration fails :func:`test_every_route_declares_its_action`; one
without a sample request here fails :func:`test_every_route_has_a_sample`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from repository.roles import ACTIONS
from repository.service.policy import RoutePolicy, policy_of, routes_of
from tests.service.world import PASSWORD, Server, World, bearer, sign_in

#: routes anyone may call, and why
PUBLIC = {"POST /api/v1/auth/login", "POST /api/v1/auth/token", "POST /api/v1/auth/links/redeem",
          "GET /sign-in", "POST /sign-in",
          # the pages a one-time link opens, and their script: the link is the credential
          "GET /welcome", "POST /welcome", "GET /reset", "POST /reset", "GET /static/pages.js",
          # the pages' stylesheet (shared with the HTML reports)
          "GET /static/ipdrepo.css"}

_unique = itertools.count()
Sample = Callable[[World, str], dict[str, Any]]


def _fresh(prefix: str) -> str:
    return f"{prefix}-{next(_unique)}"


#: "METHOD path" -> a request for ``role`` (httpx keyword arguments; "path" fills the
#: route's parameters). Samples act on trial ALPHA-1 (trialist tri.a's), so tri.b must be
#: refused as if it did not exist.
SAMPLES: dict[str, Sample] = {
    "GET /api/v1/openapi.json": lambda w, r: {},
    "POST /api/v1/auth/logout": lambda w, r: {},
    "GET /api/v1/auth/me": lambda w, r: {},
    "POST /api/v1/auth/password": lambda w, r: {"json": {"current": PASSWORD,
                                                         "new": PASSWORD}},
    "POST /api/v1/auth/totp": lambda w, r: {},
    "POST /api/v1/auth/totp/confirm": lambda w, r: {"json": {"code": "000000"}},
    "DELETE /api/v1/auth/totp": lambda w, r: {},
    "GET /api/v1/tokens": lambda w, r: {},
    "POST /api/v1/tokens": lambda w, r: {"json": {"name": _fresh("walk"), "expires_days": 1}},
    "DELETE /api/v1/tokens/{name}": lambda w, r: {"path": {"name": "no-such-token"}},
    "GET /api/v1/users": lambda w, r: {},
    "POST /api/v1/users": lambda w, r: {"json": {"name": _fresh("new.user"),
                                                 "role": "analyst"}},
    "POST /api/v1/users/{name}/reset-link": lambda w, r: {"path": {"name": "victim"}},
    "POST /api/v1/users/{name}/unlock": lambda w, r: {"path": {"name": "victim"}},
    "GET /api/v1/queries": lambda w, r: {"params": {"trial": "ALPHA-1"}},
    "GET /api/v1/queries/{query_id}": lambda w, r: _q(w),
    "POST /api/v1/queries/{query_id}/answer": lambda w, r: {
        **_q(w), "json": {"response": "confirmed_correct", "comment": "checked"}},
    "POST /api/v1/queries/{query_id}/comments": lambda w, r: {**_q(w),
                                                              "json": {"text": "a note"}},
    "POST /api/v1/queries/{query_id}/attachments": lambda w, r: {
        **_q(w), "files": {"file": ("note.txt", b"a note", "text/plain")}},
    "GET /api/v1/queries/{query_id}/attachments/{attachment_id}": lambda w, r: {
        "path": {"query_id": w.queries["ALPHA-1"], "attachment_id": w.extras["attachment"]}},
    "POST /api/v1/queries/{query_id}/accept": lambda w, r: {**_q(w), "json": {}},
    "POST /api/v1/queries/{query_id}/close": lambda w, r: {**_q(w), "json": {"reason": "r"}},
    "POST /api/v1/queries/{query_id}/reopen": lambda w, r: {**_q(w), "json": {"reason": "r"}},
    "POST /api/v1/queries/{query_id}/forward": lambda w, r: {**_q(w), "json": {"note": "n"}},
    "POST /api/v1/queries/{query_id}/reask": lambda w, r: {**_q(w), "json": {"comment": "c"}},
    "GET /api/v1/trials/{trial}/workbook": lambda w, r: _t(),
    "POST /api/v1/trials/{trial}/workbook": lambda w, r: {
        **_t(), "files": {"file": ("answers.xlsx", b"PK\x03\x04 not really", "application/zip")}},
    "GET /api/v1/trials": lambda w, r: {},
    "GET /api/v1/trials/{trial}": lambda w, r: _t(),
    "GET /api/v1/status": lambda w, r: {},
    "GET /api/v1/deliveries": lambda w, r: {"params": {"trial": "ALPHA-1"}},
    "POST /api/v1/trials/{trial}/uploads": lambda w, r: {
        **_t(), "files": {"file": (f"{_fresh('walk')}.csv", _csv(), "text/csv")}},
    "GET /api/v1/uploads": lambda w, r: {"params": {"trial": "ALPHA-1"}},
    "POST /api/v1/uploads/{upload_id}/ingest": lambda w, r: {
        "path": {"upload_id": w.extras["upload"]}, "json": {}},
    "POST /api/v1/uploads/{upload_id}/reject": lambda w, r: {
        "path": {"upload_id": w.extras["upload"]}, "json": {"note": "no"}},
    "GET /api/v1/releases": lambda w, r: {},
    "GET /api/v1/releases/{version}": lambda w, r: {"path": {"version": "1.0"}},
    "GET /api/v1/releases/{version}/data": lambda w, r: {"path": {"version": "1.0"}},
    "GET /api/v1/requests": lambda w, r: {},
    "GET /api/v1/requests/{code}": lambda w, r: _r(r),
    "GET /api/v1/requests/{code}/dua": lambda w, r: _r(r),
    "GET /api/v1/requests/{code}/extracts/{extract_id}/files/{name}": lambda w, r: {
        "path": {**_r(r)["path"], "extract_id": w.extras[f"extract:{_code(r)}"],
                 "name": "data.parquet"}},
    "POST /api/v1/requests/{code}/extracts": lambda w, r: {**_r(r), "json": {"release": "1.0"}},
    "POST /api/v1/requests/{code}/members": lambda w, r: {**_r(r), "json": {"user": "ana.ok"}},
    "GET /api/v1/access-log": lambda w, r: {},
    "GET /": lambda w, r: {},
    "POST /sign-out": lambda w, r: {},
    # the web pages (repository/service/web), as forms
    "GET /queries": lambda w, r: {"params": {"status": "all", "trial": "ALPHA-1"}},
    "GET /queries/{query_id}": lambda w, r: _q(w),
    "GET /queries/{query_id}/check": lambda w, r: {
        **_q(w), "params": {"response": "other", "value": "x"}},
    "POST /queries/{query_id}/answer": lambda w, r: {
        **_q(w), "data": {"response": "confirmed_correct", "comment": "checked"}},
    "POST /queries/{query_id}/comment": lambda w, r: {**_q(w), "data": {"text": "a note"}},
    "POST /queries/{query_id}/attach": lambda w, r: {
        **_q(w), "files": {"file": ("page-note.txt", b"a note", "text/plain")}},
    "POST /queries/{query_id}/accept": lambda w, r: {**_q(w), "data": {}},
    "POST /queries/{query_id}/close": lambda w, r: {**_q(w), "data": {"reason": "r"}},
    "POST /queries/{query_id}/reopen": lambda w, r: {**_q(w), "data": {"reason": "r"}},
    "POST /queries/{query_id}/reask": lambda w, r: {**_q(w), "data": {"reason": "r"}},
    "POST /queries/{query_id}/assign": lambda w, r: {**_q(w), "data": {"user": "tri.a"}},
    "POST /queries/{query_id}/forward": lambda w, r: {**_q(w), "data": {"note": "n"}},
    "GET /workbook": lambda w, r: {},
    "POST /trials/{trial}/workbook": lambda w, r: {
        **_t(), "files": {"file": ("answers.xlsx", b"PK\x03\x04 not really",
                                   "application/zip")}},
    "GET /uploads": lambda w, r: {},
    "POST /trials/{trial}/uploads": lambda w, r: {
        **_t(), "files": {"file": (f"{_fresh('page')}.csv", _csv(), "text/csv")}},
    "POST /uploads/{upload_id}/ingest": lambda w, r: {
        "path": {"upload_id": w.extras["upload"]}},
    "POST /uploads/{upload_id}/reject": lambda w, r: {
        "path": {"upload_id": w.extras["upload"]}, "data": {"note": "no"}},
    "GET /users": lambda w, r: {},
    "POST /users": lambda w, r: {"data": {"name": _fresh("page.user"), "role": "analyst"}},
    "POST /users/{name}/reset-link": lambda w, r: {"path": {"name": "victim"}},
    "POST /users/{name}/unlock": lambda w, r: {"path": {"name": "victim"}},
    "POST /users/{name}/tokens": lambda w, r: {"path": {"name": "victim"},
                                               "data": {"token_name": _fresh("page")}},
    "POST /users/{name}/tokens/{token_name}/revoke": lambda w, r: {
        "path": {"name": "victim", "token_name": "no-such-token"}},
    "POST /trials/{trial}/send-questions": lambda w, r: _t(),
    "GET /reports": lambda w, r: {},
    "GET /reports/dashboard": lambda w, r: {},
    "GET /reports/prisma.svg": lambda w, r: {},
    "GET /reports/files/{name}": lambda w, r: {"path": {"name": "index.html"}},
}

def _q(world: World) -> dict[str, Any]:
    return {"path": {"query_id": world.queries["ALPHA-1"]}}


def _code(role: str) -> str:
    """Each analyst asks about their own request (another's is hidden: test_requests.py)."""
    return "REQ-OLD" if role == "ana.old" else "REQ-OK"


def _r(role: str) -> dict[str, Any]:
    return {"path": {"code": _code(role)}}


#: where the table's verdict is refined by the state of a request: REQ-OLD has expired
OVERRIDES = {
    ("GET /api/v1/releases/{version}", "ana.old"): "hidden",
    ("GET /api/v1/requests/{code}/extracts/{extract_id}/files/{name}", "ana.old"): "forbidden",
}


def _t() -> dict[str, Any]:
    return {"path": {"trial": "ALPHA-1"}}


def _csv() -> bytes:
    from tests.service.world import delivery_csv

    return delivery_csv("ALPHA-1", n=5 + next(_unique))


ROLES = ("cur", "tri.a", "tri.b", "ana.ok", "ana.old")


def _routes(world: World) -> list[tuple[str, APIRoute]]:
    from repository.service.app import create_app
    from repository.service.config import ServiceConfig
    from repository.settings import load_settings

    settings = load_settings(world.workspace, env={}, database_url=world.database_url)
    app = create_app(settings, config=ServiceConfig(cookie_secure=False))
    try:
        out = []
        for method, path, route in routes_of(app):
            assert isinstance(route, APIRoute), f"{path}: {route} is not a declared API route"
            out.append((f"{method} {path}", route))
        return out
    finally:
        app.state.service.store.close()


@pytest.fixture(scope="module")
def routes(world: World) -> list[tuple[str, APIRoute]]:
    return _routes(world)


def test_every_route_declares_its_action(routes: list[tuple[str, APIRoute]]) -> None:
    missing = [key for key, route in routes if policy_of(route) is None]
    assert not missing, f"routes without requires()/public(): {missing}"
    public = {key for key, route in routes if (policy_of(route) or RoutePolicy(None)).public}
    assert public == PUBLIC
    for key, route in routes:
        policy = policy_of(route)
        assert policy is not None
        assert policy.public or policy.action in ACTIONS, key
    assert "GET /api/v1/openapi.json" in dict(routes)


def test_every_route_has_a_sample(routes: list[tuple[str, APIRoute]]) -> None:
    missing = sorted(key for key, _ in routes if key not in SAMPLES and key not in PUBLIC)
    assert not missing, f"add a sample request to SAMPLES for: {missing}"


def _request(client: httpx.Client, key: str, sample: dict[str, Any],
             headers: dict[str, str], cookies: dict[str, str] | None = None) -> httpx.Response:
    method, path = key.split(" ", 1)
    sample = dict(sample)
    path = path.format(**sample.pop("path", {}))
    client.cookies.clear()
    if cookies:
        for name, value in cookies.items():
            client.cookies.set(name, value)
    return client.request(method, path, headers={**headers, **sample.pop("headers", {})},
                          follow_redirects=False, **sample)


def _expected(policy: RoutePolicy, role: str, world: World) -> str:
    """allowed | forbidden (role) | hidden (another trial's, answered as not found)."""
    from tests.service.world import USERS

    assert policy.action is not None
    kind, trial = USERS[role]
    if kind not in ACTIONS[policy.action]:
        return "forbidden"
    if kind == "trialist" and (policy.trial or policy.query) and trial != "ALPHA-1":
        return "hidden"
    return "allowed"


def _verdict(response: httpx.Response) -> str:
    if response.status_code == 401:
        return "unauthenticated"
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 404 and "visible to you" in response.text:
        return "hidden"
    assert response.status_code < 500, response.text
    return "allowed"


def test_every_route_as_every_role(routes: list[tuple[str, APIRoute]], world: World,
                                   server: Server) -> None:
    tampered = _tampered_cookie(server)
    problems = []
    with server.client() as client:
        for key, route in routes:
            policy = policy_of(route)
            assert policy is not None
            if policy.public:
                continue
            sample = SAMPLES[key]
            for who, headers, cookies in (("nobody", {}, None),
                                          ("revoked token", bearer(world.revoked_token), None),
                                          ("tampered cookie", {}, tampered)):
                got = _request(client, key, sample(world, "cur"), headers, cookies)
                if got.status_code not in (401, 303) or (
                        got.status_code == 303 and got.headers["location"] != "/sign-in"):
                    problems.append(f"{key} as {who}: {got.status_code} {got.text[:200]}")
            for role in ROLES:
                got = _request(client, key, sample(world, role), bearer(world.tokens[role]))
                want = OVERRIDES.get((key, role)) or _expected(policy, role, world)
                verdict = _verdict(got)
                if verdict != want:
                    problems.append(f"{key} as {role}: expected {want}, got "
                                    f"{got.status_code} {got.text[:300]}")
                _no_other_trial(role, key, got, world, problems)
    assert not problems, "\n".join(problems)


def _no_other_trial(role: str, key: str, response: httpx.Response, world: World,
                    problems: list[str]) -> None:
    other = {"tri.a": "BETA-2", "tri.b": "ALPHA-1"}.get(role)
    if other is None:
        return
    # a refusal repeats the name the caller asked for, and only that
    body = response.text.replace(f"no trial '{other}' visible to you", "no trial visible")
    for secret in world.secrets_of[other]:
        if secret in body:
            problems.append(f"{key} as {role} shows {secret!r} of trial {other}")
    try:
        data = json.loads(body)
    except ValueError:
        return
    if isinstance(data, dict) and data.get("trial") not in (None, world_trial(role)):
        problems.append(f"{key} as {role} shows trial {data.get('trial')}")


def world_trial(role: str) -> str | None:
    from tests.service.world import USERS

    return USERS[role][1]


def _tampered_cookie(server: Server) -> dict[str, str]:
    """A real session cookie with one character changed."""
    with server.client() as client:
        got = sign_in(client, "tri.a")
        assert got.status_code == 200, got.text
        name, value = next(iter(client.cookies.items()))
    flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
    return {name: flipped}


def test_openapi_document_covers_the_api(routes: list[tuple[str, APIRoute]], world: World,
                                         server: Server) -> None:
    """/api/v1/openapi.json (for signed-in users) documents every API route, the query
    workflow, deliveries, releases, extracts, users and tokens among them; no page."""
    with server.client() as client:
        got = client.get("/api/v1/openapi.json", headers=bearer(world.tokens["tri.a"]))
    assert got.status_code == 200 and got.json()["openapi"].startswith("3.")
    documented = {f"{method.upper()} /api/v1{path}" if not path.startswith("/api/v1")
                  else f"{method.upper()} {path}"
                  for path, ops in got.json()["paths"].items() for method in ops}
    api = {key for key, _ in routes if key.split(" ", 1)[1].startswith("/api/v1")
           and key != "GET /api/v1/openapi.json"}
    assert api - documented == set(), api - documented
    assert not {key for key in documented if not key.split(" ", 1)[1].startswith("/api/v1")}
    for needed in ("GET /api/v1/queries", "GET /api/v1/queries/{query_id}",
                   "POST /api/v1/queries/{query_id}/answer",
                   "POST /api/v1/queries/{query_id}/attachments",
                   "POST /api/v1/trials/{trial}/uploads", "GET /api/v1/releases/{version}",
                   "GET /api/v1/requests/{code}/extracts/{extract_id}/files/{name}",
                   "POST /api/v1/users", "GET /api/v1/tokens", "DELETE /api/v1/tokens/{name}"):
        assert needed in documented, needed


def test_questions_on_the_curators_list_are_hidden_from_trialists(
        routes: list[tuple[str, APIRoute]], world: World, server: Server) -> None:
    """Every route about one query, on a question still on the curators' list of ALPHA-1:
    hidden from ALPHA-1's own trialist (and BETA-2's) like a missing one; a curator gets it;
    the listing never shows it to a trialist."""
    held = world.extras["held_query"]
    problems = []
    with server.client() as client:
        for key, route in routes:
            policy = policy_of(route)
            assert policy is not None
            if policy.query is None:
                continue
            for role in ("tri.a", "tri.b"):
                sample = SAMPLES[key](world, role)
                sample["path"] = {**sample.get("path", {}), "query_id": held}
                got = _request(client, key, sample, bearer(world.tokens[role]))
                if _verdict(got) not in ("hidden", "forbidden") or "Q-HELD" in got.text:
                    problems.append(f"{key} as {role}: {got.status_code} {got.text[:200]}")
        for role in ("tri.a", "tri.b"):
            listed = client.get("/api/v1/queries", headers=bearer(world.tokens[role]))
            assert listed.status_code == 200 and "Q-HELD" not in listed.text, role
        mine = client.get(f"/api/v1/queries/{held}", headers=bearer(world.tokens["cur"]))
        assert mine.status_code == 200 and mine.json()["audience"] == "curator"
        listed = client.get("/api/v1/queries", params={"audience": "curator"},
                            headers=bearer(world.tokens["cur"]))
        assert [q["id"] for q in listed.json()] == [held]
    assert not problems, "\n".join(problems)
