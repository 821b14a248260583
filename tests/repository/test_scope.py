"""What each role sees, at the library level (SQLite and PostgreSQL): a trialist sees only their
own trial in every listing, and another trial is refused exactly like a missing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from harmonise.queries.lifecycle import Finding, get_query
from harmonise.queries.sync import sync_queries
from repository.audit_view import audit_log, count_visible_events
from repository.deliveries import ingest, list_deliveries, list_participants
from repository.errors import NotFound, PermissionDenied
from repository.models import Query, Trial
from repository.roles import add_user
from repository.status import topic_status
from repository.store import Store
from repository.trials import TrialSpec, add_trial, get_trial, visible_trial, visible_trials

from .conftest import BASE, write_delivery


@pytest.fixture
def two_trials(make_store, tmp_path: Path) -> Store:
    store = make_store()
    with store.transaction() as session:
        topic = store.topic(session)
        t1 = add_trial(session, topic, TrialSpec(acronym="T1", id_column="PATNO",
                                                 contact_email="one@t1.example.org"),
                       actor="tester")
        add_trial(session, topic, TrialSpec(acronym="T2", id_column="PATNO",
                                            contact_email="two@t2.example.org"), actor="tester")
        add_user(session, name="tina", role="trialist", trial=t1, by="tester")
        add_user(session, name="ann", role="analyst", by="tester")
    ingest(store, "T1", write_delivery(tmp_path / "1", "csv", name="first-trial"))
    other = BASE.assign(PATNO=["Z-91", "Z-92", "Z-93", "Z-94", "Z-95"])
    ingest(store, "T2", write_delivery(tmp_path / "2", "csv", other, name="second-trial"))
    with store.transaction() as session:
        topic = store.topic(session)
        for acronym in ("T1", "T2"):
            sync_queries(session, topic, get_trial(session, topic, acronym), [Finding(
                trial=acronym, check_id="range:age", source="validation", participant="P",
                variable="age", value="142", message="age 142 outside 18-90")],
                checks_run={"range:age"}, actor="tester")
    return store


def _as(store: Store, user: str) -> Store:
    return Store.open(store.settings.with_(actor=user))


def test_listings_show_a_trialist_only_their_trial(two_trials: Store) -> None:
    store = two_trials
    with store.reading() as session:
        topic = store.topic(session)
        assert [t.acronym for t in visible_trials(session, topic, actor="tester")] == ["T1", "T2"]
        assert [t.acronym for t in visible_trials(session, topic, actor="tina")] == ["T1"]
        with pytest.raises(PermissionDenied, match="analyst and may not store.read"):
            visible_trials(session, topic, actor="ann")
        rows = list_deliveries(session, topic, actor="tina", superseded=True)
        assert {r["trial"] for r in rows} == {"T1"}
        assert {r["trial"] for r in list_deliveries(session, topic, actor="tester")} == \
            {"T1", "T2"}
        status = topic_status(session, topic, actor="tina")
        assert [t["trial"] for t in status.trials] == ["T1"]
        assert status.totals()["participants"] == 5
        assert status.audit_events == count_visible_events(session, actor="tina") > 0
        assert status.audit_events < count_visible_events(session, actor="tester")
        text = json.dumps(status.to_dict(), default=str)
        assert "T2" not in text and "second-trial" not in text and "two@t2" not in text
    tina = _as(store, "tina")
    try:
        assert len(list_participants(tina, "T1")) == 5
        with pytest.raises(PermissionDenied, match="may not pseudonyms.map_back"):
            list_participants(tina, "T1", map_back=True)
    finally:
        tina.close()
    assert sorted(p["trial_id"] for p in list_participants(store, "T2", map_back=True)) == \
        ["Z-91", "Z-92", "Z-93", "Z-94", "Z-95"]


def test_another_trial_is_refused_like_a_missing_one(two_trials: Store) -> None:
    store = two_trials
    with store.reading() as session:
        topic = store.topic(session)
        messages = {}
        for acronym in ("T2", "T9"):
            with pytest.raises(PermissionDenied) as refused:
                visible_trial(session, topic, acronym, actor="tina")
            messages[acronym] = refused.value.message.replace(acronym, "X")
            with pytest.raises(PermissionDenied) as listed:
                list_deliveries(session, topic, actor="tina", trial=acronym)
            assert listed.value.message == refused.value.message
        assert messages["T2"] == messages["T9"]
        assert "no trial 'X' visible to you (tina, a trialist of T1)" in messages["T2"]
        # a curator is told what is known
        with pytest.raises(NotFound, match=r"known: T1, T2"):
            visible_trial(session, topic, "T9", actor="tester")
        own, other = (session.scalar(select(Query.id).join(Trial, Trial.id == Query.trial_id)
                                     .where(Trial.acronym == a)) for a in ("T1", "T2"))
    # queries: another trial's is refused like one that is not there
    tina = _as(store, "tina")
    try:
        with tina.reading() as session:
            topic = tina.topic(session)
            assert get_query(session, topic, own, actor="tina").id == own
            texts = []
            for query_id in (other, 999999):
                with pytest.raises(PermissionDenied) as refused:
                    get_query(session, topic, query_id, actor="tina")
                texts.append(refused.value.message.replace(str(query_id), "N"))
            assert texts[0] == texts[1]
    finally:
        tina.close()


def test_the_audit_log_a_trialist_sees(two_trials: Store) -> None:
    store = two_trials
    with store.reading() as session:
        everything = audit_log(session, actor="tester", limit=1000)
        mine = audit_log(session, actor="tina", limit=1000)
        analyst = audit_log(session, actor="ann", limit=1000)
    assert {"seq", "hash", "details"} <= set(everything[0])
    assert any(e["details"].get("file_name") == "second-trial.csv" for e in everything)
    # tina: the events about T1 (its registration, her account, its delivery and query) and
    # her own; nothing of T2, no sequence numbers, hashes or raw details
    assert [e["action"] for e in mine] == ["trial.add", "user.add", "delivery.ingest",
                                           "query.raise"]
    assert all(set(e) == {"at", "actor", "action", "entity", "details"} for e in mine)
    text = json.dumps([{k: v for k, v in e.items() if k != "at"} for e in mine])  # "T20:16"
    for secret in ("T2", "second-trial", "first-trial", "Z-91", "two@t2", "PATNO", "142"):
        assert secret not in text, secret
    assert analyst == []
    with store.reading() as session:
        assert len(audit_log(session, actor="tina", limit=2)) == 2
        assert audit_log(session, actor="tina", action="delivery.ingest", limit=9)[0][
            "details"] == {"trial": "T1", "dataset": "main", "format": "csv", "rows": 5,
                           "columns": 6}
