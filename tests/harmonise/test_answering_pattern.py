"""One answer for every participant of a question about several participants (a pattern),
in a real store (SQLite and PostgreSQL): checked as the workbook checks an answer, recorded as
the corrected cells of each listed participant."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from harmonise.queries.answering import answer_pattern
from repository.errors import QueryError
from repository.models import Query, QueryMessage
from tests.harmonise.test_workbook_factory import build_world


def _pattern(world, rows: dict[str, int]) -> tuple[int, dict[str, str]]:
    """T1's trial-level question, made a pattern over RANDDT of the participants ``rows``."""
    qid = world.qid("T1", None, None)
    pseudo = world.store.pseudonymiser(world.topic)
    who = {own: pseudo.pseudonym("T1", own) for own in rows}
    with world.store.transaction() as session:
        q = session.get(Query, qid)
        q.detail = {"scope": "trial", "columns": ["RANDDT"],
                    "participants": [{"participant": who[own], "row": row}
                                     for own, row in rows.items()]}
    return qid, who


def _responses(store, qid: int) -> list[QueryMessage]:
    with store.reading() as session:
        out = list(session.scalars(select(QueryMessage).where(
            QueryMessage.query_id == qid, QueryMessage.kind == "response")))
        session.expunge_all()
        return out


def test_one_answer_corrects_every_listed_participant(make_store, tmp_path: Path) -> None:
    world = build_world(make_store(), tmp_path)
    qid, who = _pattern(world, {"A001": 1, "A004": 4})
    bad = answer_pattern(world.store, qid, response="Typographical error", value="31/02/2003",
                         comment=None)
    assert not bad.ok and [f for f, _ in bad.problems] == ["corrected"]
    assert _responses(world.store, qid) == []  # nothing recorded
    good = answer_pattern(world.store, qid, response="Typographical error", value="2003-02-05",
                          comment="the centre typed the visit date")
    assert good.ok and good.corrected_value == "05/02/2003"  # the column's own way
    [message] = _responses(world.store, qid)
    assert message.response_code == "typographical_error"
    assert message.cells == [
        {"participant": who["A001"], "row": 1, "dataset": "main", "column": "RANDDT",
         "value": "05/02/2003"},
        {"participant": who["A004"], "row": 4, "dataset": "main", "column": "RANDDT",
         "value": "05/02/2003"}]
    with world.store.reading() as session:
        assert session.get(Query, qid).status == "answered"


def test_a_question_about_one_participant_is_refused(make_store, tmp_path: Path) -> None:
    world = build_world(make_store(), tmp_path)
    with pytest.raises(QueryError, match="not about several participants"):
        answer_pattern(world.store, world.qid("T1", "A002", "AGE"), response="Other",
                       value=None, comment="x")


def test_each_participant_answered_as_the_list_sheet_checks_it(make_store,
                                                                tmp_path: Path) -> None:
    """The bulk form's rows (by list-sheet row: A001 is row 2, A004 row 3) are checked by the
    workbook's list-sheet check; a wrong layout is reported on its row, nothing recorded."""
    world = build_world(make_store(), tmp_path)
    qid, who = _pattern(world, {"A001": 1, "A004": 4})
    bad = answer_pattern(world.store, qid, response="Typographical error", value=None,
                         comment=None, rows={2: ("2003-02-31", None), 3: ("06/02/2003", None)})
    assert not bad.ok
    [(field, message)] = bad.problems
    assert field == "row-2" and "is not valid for your column RANDDT" in message
    assert _responses(world.store, qid) == []
    good = answer_pattern(world.store, qid, response="Typographical error", value="07/02/2003",
                          comment=None, rows={3: ("2003-02-06", "typed the visit date")})
    assert good.ok, good.problems
    [message] = _responses(world.store, qid)
    assert [(c["participant"], c["value"]) for c in message.cells] == [
        (who["A001"], "07/02/2003"), (who["A004"], "06/02/2003")]  # one value fills the rest
    assert message.comment == "A004: typed the visit date"
