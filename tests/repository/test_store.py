"""Workspace creation, migrations (alembic check), the audit chain, trial registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from repository import audit, db
from repository.errors import AlreadyExists, AuditError, ConfigError, NotFound, StoreError
from repository.settings import load_settings
from repository.trials import ArmSpec, TrialSpec, add_trial, get_trial, parse_arm, parse_registry_id
from repository.workspace import init_workspace


def test_migrations_match_models(make_store) -> None:
    store = make_store()
    assert db.current_revision(store.engine) == db.head_revision()
    db.check_models_match(store.engine)  # alembic check: raises on drift


def test_schema_head_constant_is_the_migrations_head() -> None:
    """Opening a store compares with db.SCHEMA_HEAD (no Alembic); a new migration must bump it."""
    assert db.SCHEMA_HEAD == db.head_revision()


def test_store_with_an_old_schema_is_refused(make_store) -> None:
    store = make_store()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(StoreError, match="ipdrepo db upgrade"):
        store.check_schema()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    assert db.current_revision(store.engine) is None
    with pytest.raises(StoreError, match="no ipdrepo schema"):
        store.check_schema()


def test_init_refuses_existing_workspace_and_bad_slug(tmp_path: Path) -> None:
    init_workspace(tmp_path / "w", topic="gastric", actor="t")
    with pytest.raises(AlreadyExists):
        init_workspace(tmp_path / "w", topic="gastric", actor="t")
    with pytest.raises(ConfigError, match="slug"):
        init_workspace(tmp_path / "v", topic="Bad Topic!", actor="t")
    assert not (tmp_path / "v").exists()


def test_failed_init_removes_what_it_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot migrate"):
        init_workspace(tmp_path / "w", topic="gastric", actor="t",
                       database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not (tmp_path / "w").exists()


def test_settings_come_from_workspace_env_and_arguments(tmp_path: Path) -> None:
    init_workspace(tmp_path / "w", topic="gastric", actor="t")
    s = load_settings(tmp_path / "w", env={"IPDREPO_USER": "curator1"})
    assert s.actor == "curator1" and s.topic == "gastric"
    assert s.database_url == f"sqlite:///{tmp_path / 'w' / 'store.sqlite'}"
    assert load_settings(tmp_path / "w", env={}, actor="x").actor == "x"
    with pytest.raises(ConfigError, match="not an ipdrepo workspace"):
        load_settings(tmp_path / "elsewhere", env={})


def test_audit_chain_detects_edits_deletions_and_truncation(make_store) -> None:
    store = make_store()
    with store.transaction() as session:
        for i in range(4):
            audit.append(session, actor="a", action="test.event", details={"i": i})
    with store.reading() as session:
        report = audit.verify(session)
    assert report.ok and report.events == 6  # topic.create, user.add + 4
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET details = '{\"i\": 99}' WHERE seq = 4"))
    with store.reading() as session, pytest.raises(AuditError, match="seq 4.*edited"):
        audit.verify(session)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 4"))
    with store.reading() as session:
        report = audit.verify(session, raise_on_error=False)
    assert not report.ok and any("seq 4 is missing" in p for p in report.problems)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 3"))
    with store.reading() as session:
        report = audit.verify(session, raise_on_error=False)
    assert any("removed at the end" in p for p in report.problems)


def test_trial_registry(make_store) -> None:
    store = make_store()
    spec = TrialSpec(acronym="GAST-01", title="t", registry_ids=("NCT01234567", "ISRCTN12345678"),
                     arms=(parse_arm("A=Surgery alone:1:100"), parse_arm("B=Chemo:2:200")))
    with store.transaction() as session:
        trial = add_trial(session, store.topic(session), spec, actor="tester")
        assert trial.allocation_ratio == "1:2" and trial.randomised_published == 300
    with store.transaction() as session, pytest.raises(AlreadyExists):
        add_trial(session, store.topic(session), spec, actor="tester")
    with store.reading() as session, pytest.raises(NotFound, match="GAST-01"):
        get_trial(session, store.topic(session), "GAST-99")
    assert parse_registry_id("2004-001234-56") == {"registry": "EudraCT", "id": "2004-001234-56"}
    with pytest.raises(ConfigError, match="not in a known form"):
        parse_registry_id("NCT123")
    with pytest.raises(ConfigError):
        parse_arm("no label")
    assert parse_arm("1=Surgery alone") == ArmSpec("1", "Surgery alone", 1, None)


def test_roles_are_enforced(make_store, tmp_path: Path) -> None:
    from repository.deliveries import ingest
    from repository.errors import PermissionDenied
    from repository.roles import add_user, require

    from .conftest import write_delivery

    store = make_store()  # "tester" created the workspace: the first curator
    with store.transaction() as session:
        topic = store.topic(session)
        trial = add_trial(session, topic, TrialSpec(acronym="T1", id_column="PATNO"), actor="tester")
        add_user(session, name="tina", role="trialist", trial=trial, by="tester")
        add_user(session, name="ann", role="analyst", by="tester")
        add_trial(session, topic, TrialSpec(acronym="T2"), actor="tester")
    with store.reading() as session:
        assert require(session, "tina", "queries.answer", trial="T1").trial == "T1"
        with pytest.raises(PermissionDenied, match="no trial 'T2' visible to you") as other:
            require(session, "tina", "queries.answer", trial="T2")
        # a trial that does not exist is refused in the same words: no existence oracle
        with pytest.raises(PermissionDenied) as missing:
            require(session, "tina", "queries.answer", trial="T9")
        assert missing.value.message == other.value.message.replace("T2", "T9")
        with pytest.raises(PermissionDenied, match="analyst"):
            require(session, "ann", "queries.read", trial="T1")
        assert require(session, "ann", "releases.read").role == "analyst"
        with pytest.raises(PermissionDenied, match="not a user"):
            require(session, "mallory", "releases.read")
    with store.transaction() as session, pytest.raises(PermissionDenied):
        add_user(session, name="eve", role="curator", by="tina")
    trialist_store = store.__class__.open(store.settings.with_(actor="tina"))
    with pytest.raises(PermissionDenied):
        ingest(trialist_store, "T1", write_delivery(tmp_path / "in", "csv"))
    trialist_store.close()
