"""The query life cycle in a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from harmonise.queries.lifecycle import (
    Finding,
    close,
    get_query,
    list_queries,
    query_to_dict,
    raise_query,
    reopen,
    resolve,
    respond,
)
from harmonise.queries.sync import sync_queries
from repository.errors import PermissionDenied, QueryError
from repository.models import AuditEvent, Query, QueryMessage
from repository.roles import add_user
from repository.trials import TrialSpec, add_trial, get_trial

RUN = {"range:age", "rule:death-after-randomisation"}


def setup(store):
    with store.transaction() as session:
        topic = store.topic(session)
        t1 = add_trial(session, topic, TrialSpec(acronym="T1"), actor="tester")
        add_trial(session, topic, TrialSpec(acronym="T2"), actor="tester")
        add_user(session, name="tina", role="trialist", trial=t1, by="tester")


def age(value: str, participant: str = "P1") -> Finding:
    row = 3 if participant == "P1" else 4  # each participant on their own delivery row
    return Finding(trial="T1", check_id="range:age", source="validation", participant=participant,
                   variable="age", value=value, message=f"age {value} outside 18-90",
                   rows=(row,), source_columns=("AGE",), raw_values={"AGE": value})


def sync(store, findings, ran=RUN):
    with store.transaction() as session:
        topic = store.topic(session)
        return sync_queries(session, topic, get_trial(session, topic, "T1"), findings,
                            checks_run=ran, actor="tester")


def test_checks_raise_update_close_and_reopen_queries(make_store) -> None:
    store = make_store()
    setup(store)
    first = sync(store, [age("142"), age("7", "P2")])
    assert len(first.opened) == 2
    again = sync(store, [age("142"), age("7", "P2")])  # idempotent: no duplicates
    assert again.opened == () and again.unchanged == 2
    # P2 fixed: its query is closed with the reason; a skipped check closes nothing
    assert sync(store, [age("142")], ran=set()).closed == ()
    report = sync(store, [age("142")])
    assert len(report.closed) == 1
    closed_id = report.closed[0]
    with store.reading() as session:
        closed = session.get(Query, closed_id)
        assert closed.status == "closed" and "passes now" in closed.closed_reason
    # it fails again: reopened, same query
    report = sync(store, [age("142"), age("6", "P2")])
    assert report.reopened == (closed_id,)
    with store.reading() as session:
        assert session.query(Query).count() == 2


def test_answer_resolve_and_confirmed_correct_stays_accepted(make_store) -> None:
    store = make_store()
    setup(store)
    (qid,) = sync(store, [age("95")]).opened
    with store.transaction() as session:
        q = session.get(Query, qid)
        respond(session, q, actor="tina", topic="gastric-adjuvant",
                response_code="confirmed_correct", comment="checked the CRF: 95 is right")
        resolve(session, q, actor="tester", topic="gastric-adjuvant",
                resolution="confirmed_correct")
    report = sync(store, [age("95")])
    assert report.accepted == 1 and report.reopened == ()
    # the value changed on a new delivery: the accepted exception no longer covers it
    report = sync(store, [age("96")])
    assert report.reopened == (qid,)
    with store.reading() as session:
        thread = query_to_dict(session, session.get(Query, qid), thread=True)["thread"]
    assert [m["kind"] for m in thread] == ["raised", "response", "resolve", "auto-reopen"]
    assert thread[1]["author"] == "tina" and thread[1]["response_code"] == "confirmed_correct"


def test_invalid_answers_and_transitions_are_refused(make_store) -> None:
    store = make_store()
    setup(store)
    (qid,) = sync(store, [age("142")]).opened
    with store.transaction() as session:
        q = session.get(Query, qid)
        with pytest.raises(QueryError, match=r"needs the corrected\s+value"):
            respond(session, q, actor="tina", topic="t", response_code="typographical_error")
        with pytest.raises(QueryError, match="not one of"):
            respond(session, q, actor="tina", topic="t", response_code="dunno")
        close(session, q, actor="tester", topic="t", reason="duplicate of another query")
        with pytest.raises(QueryError, match="cannot become answered"):
            respond(session, q, actor="tina", topic="t", response_code="other")
        reopen(session, q, actor="tester", topic="t", reason="not a duplicate after all")
        assert q.status == "reopened"


def test_roles(make_store) -> None:
    store = make_store()
    setup(store)
    sync(store, [age("142")])
    with store.transaction() as session:
        topic = store.topic(session)
        t2 = get_trial(session, topic, "T2")
        other = raise_query(session, topic, t2, question="Where is the follow-up?",
                            actor="tester")
        assert other.source == "manual" and other.participant is None
        with pytest.raises(PermissionDenied):
            raise_query(session, topic, t2, question="x", actor="tina")
        # a trialist sees only their trial's queries, and cannot answer another trial's
        assert {q.trial_id for q in list_queries(session, topic, actor="tina")} == {
            get_trial(session, topic, "T1").id}
        with pytest.raises(PermissionDenied):
            respond(session, other, actor="tina", topic="t", response_code="other")
        with pytest.raises(PermissionDenied):
            list_queries(session, topic, actor="tina", trial="T2")
        with pytest.raises(PermissionDenied):
            resolve(session, get_query(session, topic, 1), actor="tina", topic="t",
                    resolution="corrected")


def test_concurrent_curators_cannot_overwrite_each_other(make_store) -> None:
    store = make_store()
    setup(store)
    (qid,) = sync(store, [age("142")]).opened
    a = store.sessions()
    b = store.sessions()
    try:
        qa = a.get(Query, qid)
        qb = b.get(Query, qid)
        respond(a, qa, actor="tester", topic="t", response_code="typographical_error",
                corrected_value="42")
        a.commit()
        with pytest.raises(QueryError, match="changed by someone else") as lost:
            respond(b, qb, actor="tester", topic="t", response_code="typographical_error",
                    corrected_value="41")
        b.rollback()
        assert lost.value.reason == "conflict"  # the server answers 409 for it (status_for)
    finally:
        a.close()
        b.close()
    with store.reading() as session:
        responses = [m for m in session.query(QueryMessage).filter_by(query_id=qid)
                     if m.kind == "response"]
        assert [m.corrected_value for m in responses] == ["42"]  # the first answer survives
        assert session.query(AuditEvent).filter_by(action="query.response").count() == 1


def test_a_reopened_query_survives_validation_and_takes_the_answer(make_store) -> None:
    """Trap: a curator's reopen was auto-closed by the next validate while the trial had the
    workbook, and the trialist's answer was then refused."""
    store = make_store()
    setup(store)
    (qid,) = sync(store, [age("142")]).opened
    assert sync(store, []).closed == (qid,)  # fixed in the data: closed by the checks
    with store.transaction() as session:
        reopen(session, session.get(Query, qid), actor="tester", topic="t",
               reason="the CRF says 142 was a typo for 42, not for 24: please confirm")
    report = sync(store, [])  # the check still passes: the curator's reopen holds
    assert qid not in report.closed
    with store.transaction() as session:
        q = session.get(Query, qid)
        assert q.status == "reopened"
        respond(session, q, actor="tina", topic="t", response_code="confirmed_correct",
                comment="42 it is")
        assert q.status == "answered"
    assert qid not in sync(store, []).closed  # and it waits for the curator's decision
    with store.transaction() as session:
        q = session.get(Query, qid)
        resolve(session, q, actor="tester", topic="t", resolution="confirmed_correct")
        assert q.status == "resolved"


def test_accepting_answers_is_all_or_nothing_and_says_so(make_store) -> None:
    """Trap: `queries accept --all-answered` accepted 16 answers, failed on the 17th and exited
    without saying 16 were already accepted."""
    from harmonise.queries.answers import accept_answers

    store = make_store()
    setup(store)
    first, second = sync(store, [age("95"), age("7", "P2")]).opened
    with store.transaction() as session:
        respond(session, session.get(Query, first), actor="tina", topic="t",
                response_code="confirmed_correct")
        respond(session, session.get(Query, second), actor="tina", topic="t",
                response_code="other", comment="cannot find the CRF")
    with pytest.raises(QueryError) as caught:
        accept_answers(store, [first, second])
    text = caught.value.message
    assert "1 of 2 answer(s) cannot be accepted, so none was accepted" in text
    assert f"query {second}:" in text and "1 other(s) were fine and are still answered" in text
    with store.reading() as session:
        assert [session.get(Query, q).status for q in (first, second)] == ["answered"] * 2
    (done,) = accept_answers(store, [first])
    assert done.resolution == "confirmed_correct"
