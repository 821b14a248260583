"""Concurrent writers on one trial are serialised (real threads, real SQLite file, real
PostgreSQL server); see tests/interleave.py for how the interleaving is forced."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from repository.deliveries import ingest
from repository.errors import StoreError
from repository.models import AuditEvent, Delivery
from repository.store import Store
from tests.interleave import race

from .conftest import BASE, write_delivery
from .test_ingest import register


def _current_delivery_lookup(statement: str) -> bool:
    return "FROM delivery" in statement and "superseded_by_id IS NULL" in statement


def test_concurrent_ingests_of_one_trial_leave_one_current_delivery(make_store,
                                                                    tmp_path: Path) -> None:
    store = make_store()
    register(store)
    first = ingest(store, "GAST-01", write_delivery(tmp_path / "0", "csv"))
    files = {name: write_delivery(tmp_path / name, "csv", BASE.assign(AGE=BASE["AGE"] + i),
                                  name=f"delivery-{name}")
             for i, name in enumerate(("alice", "bob"), start=1)}
    results, reached = race(_current_delivery_lookup,
                            {name: Store.open(store.settings) for name in files},
                            lambda name, s: ingest(s, "GAST-01", files[name]))
    assert reached, "the checkpoint was never reached"
    with store.reading() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        current = [d.id for d in rows if d.is_current]
        chain = {d.id: d.superseded_by_id for d in rows}
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "delivery.ingest").order_by(AuditEvent.seq)).all()
        supersedes = [e.details["supersedes"] for e in events]
    assert len(rows) == 3 and len(current) == 1, chain
    # one line of succession: first -> x -> y, each delivery superseded at most once
    later = [r for r in (results["alice"], results["bob"])]
    later.sort(key=lambda r: r.delivery_id)
    assert chain == {first.delivery_id: later[0].delivery_id,
                     later[0].delivery_id: later[1].delivery_id, later[1].delivery_id: None}
    assert supersedes == [None, first.delivery_id, later[0].delivery_id]
    assert sorted(r.superseded for r in later) == sorted(supersedes[1:])


def test_concurrent_ingests_of_the_same_new_file_record_it_once(make_store,
                                                                tmp_path: Path) -> None:
    """The second of two ingests of the same bytes is "unchanged", never a unique-key crash."""
    store = make_store()
    register(store)
    ingest(store, "GAST-01", write_delivery(tmp_path / "0", "csv"))
    path = write_delivery(tmp_path / "new", "csv", BASE.assign(AGE=BASE["AGE"] + 1))
    results, _ = race(_current_delivery_lookup,
                      {name: Store.open(store.settings) for name in ("alice", "bob")},
                      lambda name, s: ingest(s, "GAST-01", path))
    assert sorted(r.status for r in results.values()) == ["ingested", "unchanged"]
    with store.reading() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [d.is_current for d in rows] == [False, True]


def test_the_database_refuses_a_second_current_delivery(make_store, tmp_path: Path) -> None:
    """The backstop: whatever code path forgets the lock, the store holds one current delivery
    per trial and dataset (a partial unique index), and the refusal is a clear error."""
    store = make_store()
    register(store)
    first = ingest(store, "GAST-01", write_delivery(tmp_path / "0", "csv"))
    refused = pytest.raises(StoreError, match="conflicts with what it holds.*run the command")
    with refused, store.transaction() as session:
        twin = session.get(Delivery, first.delivery_id)
        session.add(Delivery(
            trial_id=twin.trial_id, dataset=twin.dataset, file_name="twin.csv", format="csv",
            sha256="0" * 64, size_bytes=1, n_rows=1, n_columns=1, columns=[],
            id_column="PATNO", ingested_by="tester"))
    # another dataset of the same trial has its own current delivery
    other = ingest(store, "GAST-01", write_delivery(tmp_path / "1", "csv",
                                                    BASE.assign(AGE=BASE["AGE"] + 1)),
                   dataset="outcomes")
    with store.reading() as session:
        current = session.scalars(select(Delivery.id).where(
            Delivery.superseded_by_id.is_(None)).order_by(Delivery.id)).all()
    assert current == [first.delivery_id, other.delivery_id]


def test_upgrade_puts_earlier_double_current_deliveries_in_line(database_url: str) -> None:
    """A store written before the fix may hold two current deliveries of one trial; the
    migration that adds the index supersedes each by the next one ingested."""
    from repository import db

    engine = db.make_engine(database_url)
    try:
        db.upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO topic (id, slug, title, created_at) VALUES "
                              "(1, 't', 'T', CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO trial (id, topic_id, acronym, registry_ids, "
                              "ipd_status, created_at) VALUES (1, 1, 'A', '[]', 'sought', "
                              "CURRENT_TIMESTAMP)"))
            for i in (1, 2, 3):
                conn.execute(text(
                    "INSERT INTO delivery (id, trial_id, dataset, file_name, format, sha256, "
                    "size_bytes, n_rows, n_columns, columns, read_options, id_column, "
                    "ingested_at, ingested_by) VALUES (:i, 1, 'main', 'f.csv', 'csv', :h, 1, "
                    "1, 1, '[]', '{}', 'id', CURRENT_TIMESTAMP, 'x')"),
                    {"i": i, "h": str(i) * 64})
        db.upgrade(engine)
        with engine.connect() as conn:
            chain = dict(conn.execute(text(
                "SELECT id, superseded_by_id FROM delivery ORDER BY id")).all())
        assert chain == {1: 2, 2: 3, 3: None}
        db.check_models_match(engine)
    finally:
        engine.dispose()
