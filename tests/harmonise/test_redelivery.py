"""Corrections survive re-deliveries: carried forward where the raw value is still the one
corrected, dropped where the trial fixed it, flagged for review where the trial's new value
differs. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from harmonise.pipeline.checking import check_trial
from harmonise.pipeline.harmonising import harmonise_trial
from harmonise.queries.answers import accept_answer
from harmonise.queries.lifecycle import respond
from repository.deliveries import ingest
from repository.example.planted import load_planted
from repository.models import Correction, Query
from tests.example_topic import register_trials, write_example


@pytest.fixture
def mistral(tmp_path: Path, make_store):
    # trial 1: MISTRAL, CSV, an age of 145
    example, dictionary = write_example(tmp_path, trials=1, participants=120)
    store = make_store(dictionary=dictionary)
    register_trials(store, example)
    (problem,) = [p for p in load_planted(example) if p["variable"] == "age"]
    planted = problem["participants"][0]
    return store, example / "deliveries" / "MISTRAL.csv", str(planted["participant_id"]), \
        str(planted["response"]["value"])


def deliver(store, source: Path, folder: Path, own_id: str, age: str | None,
            extra: str) -> None:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    if age is not None:
        frame.loc[frame["subjid"] == own_id, "age"] = age
    frame.loc[0, "site"] = extra  # some other change, so the bytes differ
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "MISTRAL.csv"
    frame.to_csv(path, index=False)
    ingest(store, "MISTRAL", path)


def age_of(store, who: str) -> int:
    run = harmonise_trial(store, "MISTRAL")
    data = run.data
    return int(data.loc[data["participant_id"] == who, "age"].iloc[0])


def correct_age(store, source: Path, own_id: str, true_age: str) -> str:
    """Ingest MISTRAL, check it, answer its age query with the true age and accept the
    answer (a correction); the participant's pseudonym."""
    ingest(store, "MISTRAL", source)
    check_trial(store, "MISTRAL")
    who = store.pseudonymiser("gastric-adjuvant").pseudonym("MISTRAL", own_id)
    with store.transaction() as session:
        query = session.scalar(select(Query).where(Query.check_id == "range:age"))
        qid = query.id
        respond(session, query, actor="tester", topic="gastric-adjuvant",
                response_code="typographical_error", corrected_value=true_age)
    accept_answer(store, qid)
    return who


def test_corrections_are_carried_forward_or_flagged(mistral, tmp_path: Path) -> None:
    store, source, own_id, true_age = mistral
    who = correct_age(store, source, own_id, true_age)
    assert age_of(store, who) == int(true_age)
    original = pd.read_csv(source, dtype=str, keep_default_na=False)
    site = original.loc[0, "site"]

    # A: the trial delivers again, still with 145: the correction is carried forward
    deliver(store, source, tmp_path / "a", own_id, age=None, extra=str(int(site) + 1))
    assert age_of(store, who) == int(true_age)
    with store.reading() as session:
        rows = session.scalars(select(Correction).order_by(Correction.id)).all()
        assert [c.status for c in rows] == ["superseded", "active"]
        assert rows[1].carried_from_id == rows[0].id and rows[1].new_value == true_age

    # B: the trial fixed it: the correction is no longer needed
    deliver(store, source, tmp_path / "b", own_id, age=true_age, extra=str(int(site) + 2))
    assert age_of(store, who) == int(true_age)
    with store.reading() as session:
        latest = session.scalars(select(Correction).order_by(Correction.id)).all()[-1]
        assert latest.status == "superseded" and "already holds" in latest.review_note

    # C: a third value arrives: nothing to carry, and nothing is flagged (no active correction)
    deliver(store, source, tmp_path / "c", own_id, age="50", extra=str(int(site) + 3))
    assert age_of(store, who) == 50


def test_a_changed_value_under_a_correction_is_flagged_for_review(mistral,
                                                                   tmp_path: Path) -> None:
    store, source, own_id, true_age = mistral
    who = correct_age(store, source, own_id, true_age)
    site = pd.read_csv(source, dtype=str).loc[0, "site"]
    deliver(store, source, tmp_path / "d", own_id, age="54", extra=str(int(site) + 1))
    assert age_of(store, who) == 54  # the trial's new value, not an old correction
    with store.reading() as session:
        (c,) = session.scalars(select(Correction)).all()
        assert c.status == "needs_review" and "'54'" in c.review_note
