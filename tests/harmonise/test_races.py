"""Two `validate`s of one trial at once (real threads, real SQLite file, real PostgreSQL): both
finish with the serialised result; no shared temporary file, no unique-key crash."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from harmonise.pipeline.checking import check_trials
from harmonise.pipeline.harmonising import harmonise_trial
from harmonise.queries.lifecycle import SyncReport
from harmonise.queries.sync import sync_queries
from repository.deliveries import ingest
from repository.models import Query
from repository.store import Store
from repository.trials import get_trial
from tests.example_topic import register_trials, write_example
from tests.interleave import race


@pytest.fixture
def mistral(tmp_path: Path, make_store) -> Store:
    # MISTRAL, with planted problems
    example, dictionary = write_example(tmp_path, trials=1, participants=120)
    store = make_store(dictionary=dictionary)
    register_trials(store, example)
    ingest(store, "MISTRAL", example / "deliveries" / "MISTRAL.csv")
    return store


def _two_stores(store: Store) -> dict[str, Store]:
    return {name: Store.open(store.settings) for name in ("alice", "bob")}


def test_concurrent_harmonise_writes_do_not_share_a_temporary_file(
        mistral: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runs write the trial's parquet at the same moment: each through its own temporary
    file, renamed into place; the result is the one file both would write.

    The runs take turns up to their first write (``computing``): parsing mapping expressions in
    two threads of one process at once trips a CPython 3.11 bug ("AST constructor recursion
    depth mismatch"); two `validate`s are two processes, and it is the writes that must meet.
    """
    written = threading.Barrier(2, timeout=60)
    computing = threading.Lock()
    real = pq.write_table
    seen: set[str] = set()

    def write_then_meet(table: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        real(table, where, *args, **kwargs)
        me = threading.current_thread().name
        if me in ("alice", "bob") and me not in seen:  # both files written, neither renamed
            seen.add(me)
            computing.release()
            written.wait()

    monkeypatch.setattr(pq, "write_table", write_then_meet)
    stores = _two_stores(mistral)
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            assert computing.acquire(timeout=60)
            results[name] = harmonise_trial(stores[name], "MISTRAL")
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for s in stores.values():
        s.close()
    errors = {n: r for n, r in results.items() if isinstance(r, BaseException)}
    assert not errors, errors
    out = mistral.settings.workspace / "harmonised"
    # the participant table, and the dictionary's long tables (MISTRAL delivers no rows of them)
    assert sorted(p.name for p in out.iterdir()) == ["MISTRAL.events.parquet", "MISTRAL.json",
                                                     "MISTRAL.parquet", "MISTRAL.visits.parquet"]
    concurrent = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.undo()
    harmonise_trial(mistral, "MISTRAL")  # alone: the same bytes
    assert {p.name: p.read_bytes() for p in out.iterdir()} == concurrent


def _existing_queries_lookup(statement: str) -> bool:
    # SQLite quotes the table name "query", PostgreSQL does not
    return re.search(r'FROM "?query"?\s.*"?query"?\.source IN', statement, re.S) is not None


def test_concurrent_validates_raise_each_query_once(mistral: Store) -> None:
    """Both validates look for the trial's queries before either has written them; the second
    must see the first's (serialised per trial), not insert them again. The threads run the
    query step of `validate` (the transaction of ``check_trials``) on findings computed once:
    harmonising in two threads of one process trips a CPython 3.11 bug in ``ast`` (see above)."""
    (run,) = check_trials(mistral, ["MISTRAL"], write=False, raise_queries=False)
    ran = [f.check_id for f in run.findings]
    def sync(name: str, store: Store) -> SyncReport:
        with store.transaction() as session:
            topic = store.topic(session)
            return sync_queries(session, topic, get_trial(session, topic, "MISTRAL"),
                                run.findings, checks_run=ran, actor=store.settings.actor,
                                delivery_id=run.inputs.delivery_id)

    results, reached = race(_existing_queries_lookup, _two_stores(mistral), sync)
    assert reached, "the checkpoint was never reached"
    reports = sorted(results.values(), key=lambda q: -len(q.opened))
    assert len(reports[0].opened) > 0 and reports[1].opened == ()
    assert reports[1].unchanged == len(reports[0].opened)
    with mistral.reading() as session:
        assert session.scalar(select(func.count()).select_from(Query)) == len(reports[0].opened)
