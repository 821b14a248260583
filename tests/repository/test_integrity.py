"""Tampering is found: raw objects are hash-checked on every read, the keyed audit chain covers
deliveries, corrections and users, and `ipdrepo verify` checks everything at once.

Each test plays the attacker (or the careless admin) from outside: it edits the object store or
the database directly, then asks ipdrepo to read, verify or release.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, text

from repository import audit, db
from repository.deliveries import ingest, load_delivery, pseudonymised_ids
from repository.errors import AuditError
from repository.models import AuditEvent, Delivery, Trial
from repository.store import Store
from repository.trials import ArmSpec, TrialSpec, add_trial

from .conftest import write_delivery
from .test_cli import ipdrepo


def register(store: Store, acronym: str = "GAST-01") -> None:
    with store.transaction() as session:
        add_trial(session, store.topic(session), TrialSpec(
            acronym=acronym, id_column="PATNO",
            arms=(ArmSpec("1", "Surgery alone", 1, 3), ArmSpec("2", "Chemo", 1, 2))),
            actor="tester")


def tamper(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes of a read-only object file in place, as an intruder or a careless admin."""
    os.chmod(path, 0o600)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def problems(store: Store) -> list[str]:
    with store.reading() as session:
        return list(audit.verify(session, raise_on_error=False).problems)


# -- A: objects -----------------------------------------------------------------------------

def test_an_edited_raw_delivery_is_refused_when_read(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    result = ingest(store, "GAST-01", write_delivery(tmp_path / "in", "csv", name="gast01"))
    path = store.objects.path_for(result.sha256)
    tamper(path, b"A002,2,2,58", b"A002,2,2,85")  # an age changed by hand
    with store.reading() as session:
        delivery = session.get(Delivery, result.delivery_id)
        with pytest.raises(AuditError) as caught:
            load_delivery(store, delivery)
    message = str(caught.value)
    from repository.objects import sha256_file

    actual = sha256_file(path)[0]
    for fact in ("GAST-01", "gast01.csv", result.sha256, actual, "backup"):
        assert fact in message, (fact, message)
    assert caught.value.context["expected_sha256"] == result.sha256
    assert caught.value.context["actual_sha256"] == actual


def test_cli_refuses_a_tampered_object_and_verify_names_it(tmp_path: Path) -> None:
    ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path)
    ws = tmp_path / "ws"
    ipdrepo("trial", "add", "T1", "--arm", "1=a", "--arm", "2=b", "--id-column", "PATNO", cwd=ws)
    r = ipdrepo("ingest", "T1", str(write_delivery(tmp_path / "in", "csv")), "--json", cwd=ws)
    sha = json.loads(r.stdout)["sha256"]
    r = ipdrepo("verify", "--json", cwd=ws)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["ok"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert {"objects", "audit chain", "audited rows"} <= set(checks)
    assert checks["objects"]["checked"] == 1
    obj = next((ws / "objects").rglob(sha))
    tamper(obj, b"A003,1,2,71", b"A003,1,2,17")
    # a command that reads the delivery stops with the integrity error (exit 8) ...
    r = ipdrepo("participants", "T1", "--map-back", cwd=ws)
    assert r.exit_code == 8 and "error:" in r.stderr and sha in r.stderr
    assert "restore" in r.stderr.lower()
    # ... and `ipdrepo verify` names the delivery, the trial and both hashes
    r = ipdrepo("verify", cwd=ws)
    assert r.exit_code == 8
    assert "T1" in r.output and "delivery.csv" in r.output and sha[:12] in r.output
    r = ipdrepo("audit", "verify", cwd=ws)
    assert "ipdrepo verify" in r.output  # points to the full check of the object store


# -- A: rows covered by the audit chain ---------------------------------------------------------

def _correction(store: Store, tmp_path: Path) -> int:
    from harmonise.queries.corrections import record_correction

    register(store)
    result = ingest(store, "GAST-01", write_delivery(tmp_path / "in", "csv"))
    with store.transaction() as session:
        topic = store.topic(session)
        trial = session.scalar(select(Trial).where(Trial.acronym == "GAST-01"))
        delivery = session.get(Delivery, result.delivery_id)
        frame = load_delivery(store, delivery).frame
        pseudonyms = pseudonymised_ids(store, topic.slug, "GAST-01", frame["PATNO"])
        row = record_correction(session, topic, trial, delivery=delivery, frame=frame,
                                pseudonyms=pseudonyms, participant=pseudonyms[1],
                                source_column="AGE", new_value="59", reason="typo",
                                actor="tester")
        return row.id


def test_an_edited_correction_row_is_detected(make_store, tmp_path: Path) -> None:
    store = make_store()
    cid = _correction(store, tmp_path)
    assert problems(store) == []
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE correction SET new_value = '95' WHERE id = :i"), {"i": cid})
    found = problems(store)
    assert len(found) == 1, found
    assert f"correction #{cid}" in found[0] and "new_value" in found[0]
    assert "changed outside ipdrepo" in found[0]


def test_a_deleted_delivery_row_is_detected(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    ingest(store, "GAST-01", write_delivery(tmp_path / "in", "csv"))
    # a second table of the same participants: nothing else refers to this delivery row
    second = ingest(store, "GAST-01", write_delivery(tmp_path / "in2", "parquet", name="outcomes"),
                    dataset="outcomes")
    assert problems(store) == []
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM delivery WHERE id = :i"), {"i": second.delivery_id})
    found = problems(store)
    assert len(found) == 1, found
    assert f"delivery #{second.delivery_id}" in found[0] and "deleted" in found[0]
    assert "delivery.ingest" in found[0]


def test_a_user_inserted_by_sql_is_detected(make_store) -> None:
    store = make_store()
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (name, role, active, created_at) VALUES "
                          "('mallory', 'curator', :t, :at)"),
                     {"t": True, "at": "2026-01-01 00:00:00"})
    found = problems(store)
    assert len(found) == 1, found
    assert "user 'mallory'" in found[0] and "no audit event" in found[0]


# -- B: the keyed chain ---------------------------------------------------------------------

def _rechain_plain_sha256(store: Store, *, from_seq: int, edit: dict[str, object]) -> None:
    """What an attacker with write access to the database but not the key can do: rewrite an
    event and recompute every hash after it with plain SHA-256, head included."""
    with store.engine.begin() as conn:
        rows = conn.execute(text("SELECT seq FROM audit_event ORDER BY seq")).all()
    with store.transaction() as session:
        prev = audit.GENESIS
        for (seq,) in rows:
            ev = session.scalar(select(AuditEvent).where(AuditEvent.seq == seq))
            if seq < from_seq:
                prev = ev.hash
                continue
            if seq == from_seq:
                ev.details = {**ev.details, **edit}
            ev.prev_hash = prev
            ev.hash = audit.event_hash(seq=ev.seq, at=ev.at, actor=ev.actor, action=ev.action,
                                       topic=ev.topic, entity_type=ev.entity_type,
                                       entity_id=ev.entity_id, details=ev.details,
                                       prev_hash=ev.prev_hash)
            prev = ev.hash
        session.flush()
        session.execute(text("UPDATE audit_head SET seq = :s, last_hash = :h"),
                        {"s": rows[-1][0], "h": prev})


def test_a_rewritten_and_rechained_event_is_detected(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    ingest(store, "GAST-01", write_delivery(tmp_path / "in", "csv"))
    with store.reading() as session:
        seq = session.scalar(select(AuditEvent.seq).where(AuditEvent.action == "trial.add"))
        assert audit.verify(session).ok
    _rechain_plain_sha256(store, from_seq=seq, edit={"acronym": "FORGED"})
    found = problems(store)
    assert any(f"seq {seq} " in p and "edited" in p for p in found), found


def test_erasing_the_key_id_does_not_unkey_the_chain(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    _rechain_plain_sha256(store, from_seq=3, edit={"acronym": "FORGED"})
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET key_id = NULL"))
    found = problems(store)
    assert any("head names no key" in p for p in found), found
    assert any("seq 3 " in p and "edited" in p for p in found), found


def test_an_event_downgraded_to_plain_sha256_is_detected(make_store) -> None:
    store = make_store()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET scheme = 'sha256'"))
    _rechain_plain_sha256(store, from_seq=1, edit={})
    found = problems(store)
    assert found and all("unkeyed" in p or "not keyed" in p for p in found[:1]), found
    assert "restore" in " ".join(found).lower() or "without the audit key" in " ".join(found)


def test_the_chain_key_lives_apart_from_the_database(make_store) -> None:
    store = make_store()
    key = store.settings.audit_key_file
    assert key.is_file() and key.stat().st_mode & 0o777 == 0o600
    assert key.parent == store.settings.workspace / "keys"
    with store.reading() as session:
        report = audit.verify(session)
    assert report.keyed and report.key_id
    # without the key the chain cannot be checked (nor extended): said clearly
    moved = key.with_name("elsewhere.key")
    key.rename(moved)
    reopened = Store.open(store.settings)
    with reopened.reading() as session:
        report = audit.verify(session, raise_on_error=False)
    assert not report.ok and "audit key" in report.problems[0] and str(key) in report.problems[0]
    reopened.close()
    relocated = Store.open(store.settings.with_(audit_key_file=moved))
    with relocated.reading() as session:
        assert audit.verify(session).ok
    relocated.close()


# -- B: upgrading a store whose chain was made by an earlier version --------------------------

def _legacy_store(tmp_path: Path, database_url: str) -> Path:
    """A workspace as ipdrepo made it before the chain was keyed: schema 0003, plain SHA-256."""
    from datetime import UTC, datetime

    from repository.pseudonyms import create_secret

    ws = tmp_path / "old"
    ws.mkdir()
    (ws / "ipdrepo.toml").write_text(f'[ipdrepo]\ntopic = "t1"\ndatabase_url = "{database_url}"\n')
    create_secret(ws / "keys" / "pseudonym.key")
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0003")
    prev = audit.GENESIS
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO topic (slug, title, created_at) VALUES ('t1', 'T', :at)"),
                     {"at": at})
        conn.execute(text("INSERT INTO app_user (name, role, active, created_at) VALUES "
                          "('tester', 'curator', :t, :at)"), {"t": True, "at": at})
        for seq, (action, etype, eid, details) in enumerate([
                ("topic.create", "topic", "1", {"title": "T"}),
                ("user.add", "user", "tester", {"role": "curator", "trial": None})], start=1):
            digest = audit.event_hash(seq=seq, at=at, actor="tester", action=action, topic="t1",
                                      entity_type=etype, entity_id=eid, details=details,
                                      prev_hash=prev)
            conn.execute(text(
                "INSERT INTO audit_event (seq, at, actor, action, topic, entity_type, entity_id, "
                "details, prev_hash, hash) VALUES (:seq, :at, 'tester', :action, 't1', :et, :eid,"
                " :details, :prev, :hash)"),
                {"seq": seq, "at": at, "action": action, "et": etype, "eid": eid,
                 "details": json.dumps(details), "prev": prev, "hash": digest})
            prev = digest
        conn.execute(text("INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 2, :h)"),
                     {"h": prev})
    engine.dispose()
    return ws


def test_db_upgrade_keys_an_existing_chain(tmp_path: Path, database_url: str) -> None:
    ws = _legacy_store(tmp_path, database_url)
    env = {"IPDREPO_USER": "tester"}
    r = ipdrepo("db", "upgrade", cwd=ws, env=env)
    assert r.exit_code == 0, r.output
    assert "keyed" in r.output and (ws / "keys" / "audit.key").is_file()
    r = ipdrepo("audit", "verify", "--json", cwd=ws, env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["ok"] and report["keyed"] and report["events"] == 3
    r = ipdrepo("audit", "log", "--json", cwd=ws, env=env)
    last = json.loads(r.stdout)[-1]
    assert last["action"] == "audit.rekey" and last["details"]["events_rekeyed"] == 2
    # the user that existed before is now covered by the chain
    with db.make_engine(database_url).begin() as conn:
        conn.execute(text("UPDATE app_user SET email = 'mallory@example.org' WHERE name = 'tester'"))
    r = ipdrepo("audit", "verify", cwd=ws, env=env)
    assert r.exit_code == 8 and "user 'tester'" in r.stderr and "email" in r.stderr


def test_an_unkeyed_chain_is_reported_until_rekeyed(tmp_path: Path, database_url: str) -> None:
    ws = _legacy_store(tmp_path, database_url)
    engine = db.make_engine(database_url)
    db.upgrade(engine)  # plain `alembic upgrade head`: the migration cannot reach the key
    engine.dispose()
    env = {"IPDREPO_USER": "tester"}
    r = ipdrepo("audit", "verify", cwd=ws, env=env)
    assert r.exit_code == 8 and "unkeyed" in r.stderr and "ipdrepo audit rekey" in r.stderr
    r = ipdrepo("audit", "rekey", cwd=ws, env=env)
    assert r.exit_code == 0, r.output
    r = ipdrepo("audit", "verify", cwd=ws, env=env)
    assert r.exit_code == 0, r.output
    r = ipdrepo("audit", "rekey", cwd=ws, env=env)
    assert r.exit_code == 0 and "already keyed" in r.output
