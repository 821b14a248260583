"""The query workbook in a real store (SQLite and PostgreSQL): export, answer, import.

Workbooks are real .xlsx files, opened and filled with openpyxl the way a trialist fills them
in Excel; deliveries are ingested for real so that pseudonyms map back to the trials' IDs.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from harmonise.queries.answers import parse_corrected_values
from harmonise.queries.lifecycle import close
from harmonise.queries.workbook import (
    COLUMNS,
    META,
    WorkbookMeta,
    apply_import,
    check_import,
    export_workbook,
    import_workbook,
    read_workbook,
    render_workbook,
)
from repository.errors import PermissionDenied, QueryError, WorkbookError
from repository.models import AuditEvent, Participant, Query, QueryExport, QueryMessage
from tests.harmonise.test_workbook_factory import build_world, fill, sheet_rows, snapshot


@pytest.fixture
def world(make_store, tmp_path: Path):
    return build_world(make_store(), tmp_path)


def export(world, tmp_path: Path, trial: str = "T1", name: str = "sent.xlsx"):
    return export_workbook(world.store, trial, tmp_path / name, actor="tester")


@dataclass(frozen=True)
class Response:
    author: str
    response_code: str | None
    corrected_value: str | None
    comment: str | None
    export_id: int | None


def responses(store, qid: int) -> list[Response]:
    with store.reading() as session:
        return [Response(m.author, m.response_code, m.corrected_value, m.comment, m.export_id)
                for m in session.scalars(select(QueryMessage).where(
                    QueryMessage.query_id == qid).order_by(QueryMessage.id))
                if m.kind == "response"]


def status(store, qid: int) -> str:
    with store.reading() as session:
        return session.get(Query, qid).status


def test_round_trip_answers_reach_the_queries(world, tmp_path: Path) -> None:
    result = export(world, tmp_path)
    assert result.n_queries == 5 and list(result.summary.columns) == [
        "row", "query", "check", "columns", "status_before", "participants"]
    rows = {r["Query"]: r for r in sheet_rows(tmp_path / "sent.xlsx")}
    age, weight, date, multi, trial_level = (
        world.qid("T1", "A002", "AGE"), world.qid("T1", "A003", "WEIGHT"),
        world.qid("T1", "A004", "RANDDT"), world.qid("T1", "A001", "SEX"),
        world.qid("T1", None, None))
    # the trial's own IDs, columns and values as delivered; the question; how to answer
    assert rows[age]["Participant ID"] == "A002"
    assert rows[age]["Your column(s)"] == "AGE" and rows[age]["Value(s) in your data"] == "142"
    assert rows[age]["How to write a corrected value"] == "a number; or NA if not known"
    assert rows[weight]["Value(s) in your data"] == "(blank)"
    assert rows[date]["How to write a corrected value"].startswith("a date as DD/MM/YYYY")
    assert rows[multi]["Your column(s)"] == "SEX\nWEIGHT"
    assert rows[multi]["Value(s) in your data"] == "SEX = M\nWEIGHT = 70.5"
    assert rows[trial_level]["Participant ID"] == "(whole trial)"
    # whole-trial questions first, then by participant ID
    assert [r["Participant ID"] for r in sheet_rows(tmp_path / "sent.xlsx")] == [
        "(whole trial)", "A001", "A002", "A003", "A004"]
    assert all(status(world.store, q) == "sent" for q in rows)

    answered = fill(tmp_path / "sent.xlsx", {
        age: ("Typographical error", "42", "CRF page 2 says 42"),
        weight: ("Data missing", 68, None),  # Excel stores a typed number as a number
        date: ("Confirmed correct", None, "randomised on a Tuesday after a holiday"),
        multi: ("typographical_error", "sex=F; WEIGHT =", "weight belongs to A005"),
    })
    imported = import_workbook(world.store, answered, actor="tina")
    assert (imported.answered, imported.not_answered) == ((multi, age, weight, date),
                                                          (trial_level,))
    assert imported.by_code() == {"confirmed_correct": 1, "data_missing": 1,
                                  "typographical_error": 2}
    expected = {age: ("typographical_error", "42", "CRF page 2 says 42"),
                weight: ("data_missing", "68", None),
                date: ("confirmed_correct", None, "randomised on a Tuesday after a holiday"),
                multi: ("typographical_error", "SEX=F; WEIGHT=", "weight belongs to A005")}
    for qid, (code, value, comment) in expected.items():
        (msg,) = responses(world.store, qid)
        assert (msg.response_code, msg.corrected_value, msg.comment) == (code, value, comment)
        assert msg.author == "tina" and msg.export_id == result.export_id
        assert status(world.store, qid) == "answered"
    assert status(world.store, trial_level) == "sent"  # left blank: not answered yet
    # the curator's side reads the corrected values back in the trial's columns
    assert parse_corrected_values("SEX=F; WEIGHT=", ["SEX", "WEIGHT"]) == {"SEX": "F",
                                                                          "WEIGHT": None}
    assert parse_corrected_values("68", ["WEIGHT"]) == {"WEIGHT": "68"}
    with world.store.reading() as session:
        record = session.get(QueryExport, result.export_id)
        assert record.imported_at is not None
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "queries.import")).one()
        assert event.actor == "tina" and event.details["answered"] == 4
        assert event.details["not_answered"] == 1


def test_reimporting_the_same_answers_changes_nothing(world, tmp_path: Path) -> None:
    export(world, tmp_path)
    age = world.qid("T1", "A002", "AGE")
    answered = fill(tmp_path / "sent.xlsx", {age: ("Typographical error", "42", None)})
    import_workbook(world.store, answered, actor="tina")
    again = import_workbook(world.store, answered, actor="tina")
    assert again.answered == () and again.unchanged == (age,)
    assert len(responses(world.store, age)) == 1
    # a changed answer in the same workbook is a new entry in the thread; none is lost
    fill(answered, {age: ("Typographical error", "43", "sorry, 43")}, out=answered)
    changed = import_workbook(world.store, answered, actor="tina")
    assert changed.answered == (age,)
    assert [m.corrected_value for m in responses(world.store, age)] == ["42", "43"]


def test_value_labels_and_codes(world, tmp_path: Path) -> None:
    """SPSS value labels are shown with the code; a label typed as the answer becomes the
    code, so the correction speaks the trial's own coding."""
    export(world, tmp_path, trial="T2")
    (row,) = sheet_rows(tmp_path / "sent.xlsx")
    assert row["Participant ID"] == "1002"
    assert row["Value(s) in your data"] == "2 (Female)"
    assert row["How to write a corrected value"].startswith("a code: 1 = Male, 2 = Female")
    sex = world.qid("T2", "1002", "SEX")
    answered = fill(tmp_path / "sent.xlsx", {sex: ("Typographical error", "male", None)})
    import_workbook(world.store, answered, actor="tom")
    (msg,) = responses(world.store, sex)
    assert msg.corrected_value == "1"


def test_workbook_layout_protection_and_instructions(world, tmp_path: Path) -> None:
    result = export(world, tmp_path)
    book = openpyxl.load_workbook(tmp_path / "sent.xlsx")
    assert book.sheetnames == ["Queries", "Instructions", META]
    assert book.active.title == "Queries"
    assert book[META].sheet_state == "veryHidden" and book.security.lockStructure
    ws = book["Queries"]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert ws.freeze_panes == "C2" and ws.protection.sheet
    for r in range(2, ws.max_row + 1):
        for c, col in enumerate(COLUMNS, start=1):
            assert ws.cell(r, c).protection.locked is not col.answer, (r, col.key)
    (validation,) = ws.data_validations.dataValidation
    assert validation.type == "list" and str(validation.sqref) == f"I2:I{ws.max_row}"
    names = book.defined_names["ResponseCodes"].attr_text
    sheet, cells = names.split("!")
    choices = [c.value for (c,) in book[sheet.strip("'")][cells.replace("$", "")]]
    assert choices == ["Typographical error", "Data missing", "Confirmed correct",
                       "Wrong source", "Other"]
    text = " ".join(str(c.value) for row in book["Instructions"].iter_rows() for c in row
                    if c.value)
    assert "Do not save it as CSV" in text and "SEX=2; AGE=64" in text and "PATNO" in text
    meta = {k: v for k, v in book[META].iter_rows(values_only=True)}
    assert meta["trial"] == "T1" and meta["export_id"] == str(result.export_id)
    assert meta["created_by"] == "tester"
    assert meta["queries"] == ",".join(str(q) for q in result.summary["query"])
    # exported again (the queries are sent now): the same rows, a new export
    again = export(world, tmp_path, name="again.xlsx")
    assert sheet_rows(tmp_path / "again.xlsx") == sheet_rows(tmp_path / "sent.xlsx")
    assert again.export_id == result.export_id + 1 and again.sha256 != result.sha256
    assert set(again.summary["status_before"]) == {"sent"}


def test_the_file_holds_no_pseudonyms_and_no_secret(world, tmp_path: Path) -> None:
    export(world, tmp_path)
    with zipfile.ZipFile(tmp_path / "sent.xlsx") as archive:
        xml = "".join(archive.read(n).decode("utf-8") for n in archive.namelist())
    with world.store.reading() as session:
        pseudonyms = session.scalars(select(Participant.pseudonym)).all()
    assert pseudonyms and not [p for p in pseudonyms if p in xml]
    assert world.store.secret.hex() not in xml
    with world.store.reading() as session:
        record = session.scalars(select(QueryExport)).one()
        # the export record keeps the pseudonym, never the trial's own ID
        rows = {q["id"]: q for q in record.queries}
        age = rows[world.qid("T1", "A002", "AGE")]
        assert age["participant"] in pseudonyms and age["shown"]["participant"] is None
        assert not [own for own in ("A001", "A002", "A003", "A004")
                    if own in str(record.queries)]
        assert rows[world.qid("T1", None, None)]["shown"]["participant"] == "(whole trial)"


def test_render_is_deterministic(tmp_path: Path) -> None:
    import datetime as dt

    rows = [{"query": "3", "participant": "A001", "columns": "AGE", "delivered": "142",
             "question": "=AGE out of range?", "expected": "a number"}]
    meta = WorkbookMeta(token="tok", topic="t", trial="T1", export_id=7,
                        created_at=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
                        created_by="cur", id_column="PATNO", query_ids=(3,))
    first, second = render_workbook(rows, meta), render_workbook(rows, meta)
    assert first == second
    other = render_workbook(rows, WorkbookMeta(**{**meta.__dict__, "token": "tok2"}))
    assert other != first
    book = openpyxl.load_workbook(io.BytesIO(first))
    assert book["Queries"]["E2"].value == "=AGE out of range?"  # text, not a formula


def test_roles(world, tmp_path: Path) -> None:
    store = world.store
    before = snapshot(store)
    # an analyst, and the trialist of another trial, get no workbook of T1
    for who in ("tom", "ann"):
        with pytest.raises(PermissionDenied):
            export_workbook(store, "T1", tmp_path / f"{who}.xlsx", actor=who)
    assert snapshot(store) == before and not list(tmp_path.glob("*.xlsx"))
    # the trial's own trialist may download it (through the server, without the key)
    export_workbook(store, "T1", tmp_path / "own.xlsx", actor="tina")
    (tmp_path / "own.xlsx").unlink()
    export(world, tmp_path)
    age = world.qid("T1", "A002", "AGE")
    answered = fill(tmp_path / "sent.xlsx", {age: ("Typographical error", "42", None)})
    before = snapshot(store)
    with pytest.raises(WorkbookError, match="workbook of trial T1, not of your trial T2") as err:
        import_workbook(store, answered, actor="tom")
    assert len(err.value.problems) == 1  # nothing of T1's rows is shown to T2's trialist
    with pytest.raises(PermissionDenied):
        import_workbook(store, answered, actor="ann")
    assert snapshot(store) == before
    import_workbook(store, answered, actor="tina")
    assert responses(store, age)[0].author == "tina"
    # a curator may import for the trial (and names it)
    other = fill(tmp_path / "sent.xlsx", {age: ("Other", None, "will check the CRF")},
                 out=tmp_path / "by-carl.xlsx")
    assert import_workbook(store, other, actor="carl", trial="T1").answered == (age,)
    assert [m.author for m in responses(store, age)] == ["tina", "carl"]


def test_concurrent_imports_of_the_same_query_lose_no_answer(world, tmp_path: Path) -> None:
    """Two trialists import answers to the same query at once: the second import fails as a
    whole (optimistic locking), the first answer stays, nothing of the second is kept."""
    store = world.store
    export(world, tmp_path)
    age, weight = world.qid("T1", "A002", "AGE"), world.qid("T1", "A003", "WEIGHT")
    mine = fill(tmp_path / "sent.xlsx", {age: ("Typographical error", "42", None)},
                out=tmp_path / "tina.xlsx")
    theirs = fill(tmp_path / "sent.xlsx", {age: ("Typographical error", "24", None),
                                           weight: ("Data missing", "80", None)},
                  out=tmp_path / "tess.xlsx")
    a, b = store.sessions(), store.sessions()
    try:
        plan_a = check_import(store, a, read_workbook(mine), actor="tina")
        plan_b = check_import(store, b, read_workbook(theirs), actor="tess")
        apply_import(a, plan_a, actor="tina")
        a.commit()
        with pytest.raises(QueryError, match="changed by someone else"):
            apply_import(b, plan_b, actor="tess")
        b.rollback()
    finally:
        a.close()
        b.close()
    assert [(m.author, m.corrected_value) for m in responses(store, age)] == [("tina", "42")]
    assert responses(store, weight) == [] and status(store, weight) == "sent"
    with store.reading() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "queries.import")).all()
        assert [e.actor for e in events] == ["tina"]
    # the second trialist imports again and sees the first answer was kept beside theirs
    import_workbook(store, theirs, actor="tess")
    assert [m.corrected_value for m in responses(store, age)] == ["42", "24"]


def test_exporting_needs_queries_and_refuses_to_overwrite(world, tmp_path: Path) -> None:
    export(world, tmp_path)
    with pytest.raises(WorkbookError, match="already exists"):
        export(world, tmp_path)
    with pytest.raises(WorkbookError, match=r"ending in \.xlsx"):
        export_workbook(world.store, "T1", tmp_path / "q.csv", actor="tester")
    with world.store.transaction() as session:
        topic = world.store.topic(session)
        q = session.get(Query, world.qid("T2", "1002", "SEX"))
        close(session, q, actor="tester", topic=topic.slug, reason="men only: a typo, fixed")
    before = snapshot(world.store)
    with pytest.raises(QueryError, match="no open, reopened or sent questions"):
        export(world, tmp_path, trial="T2", name="t2.xlsx")
    assert snapshot(world.store) == before and not (tmp_path / "t2.xlsx").exists()
