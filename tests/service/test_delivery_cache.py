"""The question pages keep what they derive from an immutable delivery (the table, column rules,
pseudonyms, own IDs) between requests, keyed by its content hash: the second question page
reads no file, the results are those of a fresh read, and the first read still checks the
stored bytes' hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harmonise.queries.answering import answer_context
from harmonise.queries.delivery_cache import CACHE, CachedDeliveries, DerivedCache
from harmonise.queries.lifecycle import get_query
from harmonise.queries.workbook_view import Deliveries
from repository.errors import CorruptObject
from repository.models import Delivery, Query, Trial
from tests.service.world import World, build_world


def _context(world: World, query_id: int) -> Any:
    store = world.store()
    try:
        with store.reading() as session:
            query = get_query(session, store.topic(session), query_id, actor="cur")
            return answer_context(store, session, query)
    finally:
        store.close()


def test_second_page_reads_no_file_and_matches_a_fresh_read(
        page_world: tuple[World, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    world, info = page_world
    import harmonise.queries.delivery_cache as module

    reads: list[str] = []
    real = module.load_delivery

    def counted(store: Any, delivery: Delivery) -> Any:
        reads.append(delivery.sha256)
        return real(store, delivery)

    monkeypatch.setattr(module, "load_delivery", counted)
    CACHE.clear()
    first = _context(world, int(info["query"]))
    assert reads  # the first page reads (and hash-checks) the delivery
    seen = len(reads)
    second = _context(world, int(info["query"]))
    assert len(reads) == seen  # the second reads nothing
    assert CACHE.hits > 0
    assert first == second
    assert first.participant_id == info["own_id"]
    assert first.columns[0].delivered == info["bad"] and first.columns[0].now == info["bad"]
    store = world.store()  # the same as the uncached reading
    try:
        with store.reading() as session:
            query = session.get(Query, int(info["query"]))
            assert query is not None
            trial = session.get(Trial, query.trial_id)
            plain, cached = Deliveries(store, session, trial), CachedDeliveries(
                store, session, trial, cache=DerivedCache())
            delivery = plain.delivery_of(query)
            assert plain.rule("randdate", delivery) == cached.rule("randdate", delivery)
            assert plain.own_id(str(query.participant)) == cached.own_id(
                str(query.participant)) == info["own_id"]
            assert plain.now(delivery).equals(cached.now(delivery))
    finally:
        store.close()


def test_first_read_still_checks_the_hash(page_world: tuple[World, dict[str, Any]]) -> None:
    world, info = page_world
    store = world.store()
    try:
        with store.reading() as session:
            query = session.get(Query, int(info["query"]))
            assert query is not None
            trial = session.get(Trial, query.trial_id)
            fresh = CachedDeliveries(store, session, trial, cache=DerivedCache())
            delivery = fresh.delivery_of(query)
            assert delivery is not None
            path = store.objects.path_for(delivery.sha256)
            kept = path.read_bytes()
            path.chmod(0o600)
            path.write_bytes(kept.replace(b"31/02/2020", b"01/02/2020"))
            try:
                with pytest.raises(CorruptObject):
                    fresh.table(delivery)
            finally:
                path.write_bytes(kept)
    finally:
        store.close()


def test_cache_key_holds_the_trial(tmp_path: Path) -> None:
    """The same bytes delivered by two trials give each trial its own pseudonyms."""
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'store.sqlite'}")
    from repository.deliveries import ingest

    csv = tmp_path / "same.csv"
    csv.write_text("patid,arm\nX001,1\nX002,2\n")
    store = world.store()
    try:
        for acronym in ("ALPHA-1", "BETA-2"):
            ingest(store, acronym, csv, id_column="patid")
        cache = DerivedCache()
        with store.reading() as session:
            got = {}
            for acronym in ("ALPHA-1", "BETA-2"):
                trial = session.query(Trial).filter_by(acronym=acronym).one()
                d = CachedDeliveries(store, session, trial, cache=cache)
                delivery = next(x for x in d.ordered if x.file_name == "same.csv")
                got[acronym] = d.pseudonyms(delivery)
                expected = store.pseudonymiser("gastric-adjuvant").many(acronym, ["X001",
                                                                                 "X002"])
                assert list(got[acronym]) == expected
                assert d.own_id(expected[0]) == "X001"
            assert got["ALPHA-1"] != got["BETA-2"]
    finally:
        store.close()
