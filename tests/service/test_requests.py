"""Data requests with teeth, from the outside: members only, refused after expiry or
revocation, every read and download in the access log (covered by the keyed audit chain),
exportable; the governance pack (the retrieval drill) timed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update

from repository.errors import RequestError
from repository.models import AccessLog
from tests.service.world import Server, World, bearer

FILES = "/api/v1/requests/{code}/extracts/{extract}/files/{name}"


def _file(world: World, code: str, name: str = "data.parquet") -> str:
    return FILES.format(code=code, extract=world.extras[f"extract:{code}"], name=name)


def test_download_is_logged_with_who_what_purpose_bytes_and_hash(world: World,
                                                                 server: Server) -> None:
    with server.client() as client:
        got = client.get(_file(world, "REQ-OK"), headers=bearer(world.tokens["ana.ok"]))
        assert got.status_code == 200, got.text
        assert got.headers["content-disposition"].startswith("attachment")
        log = client.get("/api/v1/access-log", params={"code": "REQ-OK"},
                         headers=bearer(world.tokens["cur"])).json()
    entry = log[-1]
    assert entry["user"] == "ana.ok" and entry["request"] == "REQ-OK"
    assert entry["purpose"].startswith("Purpose of REQ-OK") and entry["kind"] == "download"
    assert entry["bytes"] == len(got.content)
    assert entry["sha256"] == hashlib.sha256(got.content).hexdigest()
    assert "data.parquet" in entry["what"] and entry["via"].startswith("GET /api/v1/requests")


def test_members_only_and_expiry(world: World, server: Server) -> None:
    with server.client() as client:
        for path in (_file(world, "REQ-OLD"), "/api/v1/requests/REQ-OLD",
                     "/api/v1/requests/REQ-OLD/dua"):
            got = client.get(path, headers=bearer(world.tokens["ana.ok"]))
            assert got.status_code == 404 and "visible to you" in got.text, path
        expired = client.get(_file(world, "REQ-OLD"), headers=bearer(world.tokens["ana.old"]))
        assert expired.status_code == 403 and "expired on 2021-01-01" in expired.text
        # the DUA and the request itself stay readable to the member
        dua = client.get("/api/v1/requests/REQ-OLD/dua", headers=bearer(world.tokens["ana.old"]))
        assert dua.status_code == 200 and dua.content.startswith(b"%PDF")
        mine = client.get("/api/v1/requests", headers=bearer(world.tokens["ana.ok"])).json()
        assert [r["code"] for r in mine] == ["REQ-OK"]
        assert mine[0]["dua_version"] == "2" and "members" not in mine[0]
        assert client.get("/api/v1/access-log",
                          headers=bearer(world.tokens["ana.ok"])).status_code == 403


def test_expiry_is_checked_on_the_day() -> None:
    from types import SimpleNamespace

    from versions.access import check_active

    row = SimpleNamespace(code="R", status="approved", expires_on=date(2030, 6, 30))
    check_active(row, today=date(2030, 6, 30))  # the last day still counts
    with pytest.raises(RequestError, match="expired"):
        check_active(row, today=date(2030, 7, 1))
    with pytest.raises(RequestError, match="revoked"):
        check_active(SimpleNamespace(code="R", status="revoked", expires_on=None))


def test_revoked_request_refuses_downloads(world: World, server: Server, tmp_path: Path
                                           ) -> None:
    from versions.access import grant
    from versions.extracts import extract
    from versions.requests import add_request, approve_request, revoke_request

    store = world.store()
    try:
        add_request(store, code="REQ-REV", requestor="R", institution="I", purpose="P",
                    trials=["ALPHA-1"], variables=["age"], dua_reference="DUA-1",
                    anonymity_justification="test")
        approve_request(store, "REQ-REV", expires_on=date(2099, 1, 1), dua_version="1")
        grant(store, "REQ-REV", "ana.ok")
        made = extract(store, "REQ-REV", release="1.0", output=tmp_path / "x")
        with store.reading() as session:
            from repository.models import DataRequest, Extract

            ident = session.scalar(select(Extract.id).join(DataRequest).where(
                DataRequest.code == "REQ-REV"))
        path = FILES.format(code="REQ-REV", extract=ident, name="data.parquet")
        with server.client() as client:
            ok = client.get(path, headers=bearer(world.tokens["ana.ok"]))
            assert ok.status_code == 200 and made.rows > 0
            revoke_request(store, "REQ-REV", note="breach of terms")
            refused = client.get(path, headers=bearer(world.tokens["ana.ok"]))
            assert refused.status_code == 403 and "revoked" in refused.text
    finally:
        store.close()


def test_access_log_is_covered_by_the_audit_chain(world: World, server: Server) -> None:
    from repository import audit

    with server.client() as client:  # a download of its own, whichever tests ran before
        assert client.get(_file(world, "REQ-OK"),
                          headers=bearer(world.tokens["ana.ok"])).status_code == 200
    store = world.store()
    try:
        with store.reading() as session:
            assert audit.verify(session, raise_on_error=False).ok
            last = session.scalar(select(AccessLog.id).order_by(AccessLog.id.desc()).limit(1))
        assert last is not None
        # someone with database access shrinks what a download took
        with store.engine.begin() as conn:
            conn.execute(update(AccessLog).where(AccessLog.id == last).values(bytes=1))
        with store.reading() as session:
            report = audit.verify(session, raise_on_error=False)
        assert not report.ok
        assert any(f"access log entry #{last}" in p and "bytes" in p for p in report.problems)
    finally:
        with store.engine.begin() as conn:  # put it back for the other tests

            with store.reading() as session:
                event = session.scalar(select(audit.AuditEvent).where(
                    audit.AuditEvent.entity_type == "access_log",
                    audit.AuditEvent.entity_id == str(last)))
                original = event.details["bytes"] if event else 0
            conn.execute(update(AccessLog).where(AccessLog.id == last).values(bytes=original))
        store.close()


def test_access_log_exports_as_csv(world: World, server: Server) -> None:
    with server.client() as client:
        # a download of its own: the log is not empty whichever tests ran before on this world
        assert client.get(_file(world, "REQ-OK"),
                          headers=bearer(world.tokens["ana.ok"])).status_code == 200
        got = client.get("/api/v1/access-log", params={"format": "csv"},
                         headers=bearer(world.tokens["cur"]))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert rows and set(rows[0]) == {"at", "user", "role", "request", "purpose", "kind", "what",
                                     "bytes", "sha256", "via"}


def test_governance_pack_retrieval_drill(world: World, server: Server, tmp_path: Path,
                                         record_property: object) -> None:
    from versions.governance import SECTIONS, pack

    with server.client() as client:  # something to find in the log
        assert client.get(_file(world, "REQ-OK", "manifest.json"),
                          headers=bearer(world.tokens["ana.ok"])).status_code == 200
    store = world.store()
    try:
        started = time.perf_counter()
        result = pack(store, "REQ-OK", tmp_path / "drill")
        seconds = time.perf_counter() - started
    finally:
        store.close()
    print(f"\nretrieval drill (governance pack of REQ-OK): {seconds:.2f} s, "
          f"{len(result.files)} files")
    record_property("drill_seconds", round(seconds, 3))  # type: ignore[operator]
    root = result.path
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == list(SECTIONS)
    assert (root / "4-dua" / "DUA-v2-signed.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((root / "4-dua" / "dua.json").read_text())["dua_version"] == "2"
    log = json.loads((root / "5-access-log" / "access-log.json").read_text())
    assert any(e["user"] == "ana.ok" and "manifest.json" in e["what"] for e in log)
    assert json.loads((root / "5-access-log" / "audit-chain.json").read_text())["ok"]
    assert list((root / "3-anonymisation").glob("extract-*-report.json"))
    assert list((root / "3-anonymisation").glob("extract-*-manifest.json"))
    assert "REQ-OK" in (root / "2-plan" / "plan.md").read_text()
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest
