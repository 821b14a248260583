"""Bad workbooks are refused whole: every problem reported, nothing imported (SQLite, PostgreSQL).

Each case starts from the same answered workbook (one valid answer), breaks it the way people
do, and must be refused with exactly the expected problems, located by cell, while every row
of every table stays as it was. The unbroken workbook imports cleanly at the end, so the
refusals come from the breakage and nothing else.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from harmonise.queries.lifecycle import Finding, close
from harmonise.queries.sync import sync_queries
from harmonise.queries.workbook import META, export_workbook, import_workbook
from repository.errors import WorkbookError
from repository.models import Query
from repository.trials import get_trial
from tests.harmonise.test_workbook_factory import World, build_world, fill, snapshot

Expect = list[tuple[str | None, str]]  # (cell or None, words the message must contain)


@dataclass(frozen=True)
class Sent:
    world: World
    sent: Path  # as exported
    answered: Path  # the age query answered, nothing else
    rows: dict[str, int]  # "age", "weight", "date", "multi", "trial" -> sheet row

    def qid(self, name: str) -> int:
        w = self.world
        return {"age": w.qid("T1", "A002", "AGE"), "weight": w.qid("T1", "A003", "WEIGHT"),
                "date": w.qid("T1", "A004", "RANDDT"), "multi": w.qid("T1", "A001", "SEX"),
                "trial": w.qid("T1", None, None)}[name]


@pytest.fixture
def sent(make_store, tmp_path: Path) -> Sent:
    world = build_world(make_store(), tmp_path)
    path = tmp_path / "T1-queries.xlsx"
    export_workbook(world.store, "T1", path, actor="tester")
    book = openpyxl.load_workbook(path)
    ids = [c.value for (c,) in book["Queries"].iter_rows(min_row=2, max_col=1)]
    s = Sent(world, path, path, {})
    rows = {name: ids.index(s.qid(name)) + 2 for name in ("age", "weight", "date", "multi",
                                                          "trial")}
    answered = fill(path, {s.qid("age"): ("Typographical error", "42", None)},
                    out=tmp_path / "answered.xlsx")
    return Sent(world, path, answered, rows)


def edit(s: Sent, target: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    book = openpyxl.load_workbook(s.answered)
    change(book)
    book.save(target)
    return target


def cells(s: Sent, target: Path, **values: object) -> Path:
    """Set cells of the Queries sheet: ``I_age="x"`` sets column I of the age query's row."""
    def change(book: openpyxl.Workbook) -> None:
        for key, value in values.items():
            column, name = key.split("_", 1)
            book["Queries"][f"{column}{s.rows[name]}"] = value
    return edit(s, target, change)


def as_csv(s: Sent, target: Path) -> Path:
    book = openpyxl.load_workbook(s.answered)
    pd.DataFrame(list(book["Queries"].iter_rows(values_only=True))).to_csv(
        target, index=False, header=False)
    return target


def copied_into_new_workbook(s: Sent, target: Path) -> Path:
    book = openpyxl.load_workbook(s.answered)
    new = openpyxl.Workbook()
    new.active.title = "Queries"
    for row in book["Queries"].iter_rows(values_only=True):
        new.active.append(row)
    new.save(target)
    return target


def meta(s: Sent, target: Path, key: str, value: object) -> Path:
    def change(book: openpyxl.Workbook) -> None:
        for cell_key, cell_value in book[META].iter_rows():
            if cell_key.value == key:
                cell_value.value = value
    return edit(s, target, change)


def add_row(s: Sent, target: Path, values: tuple) -> Path:
    return edit(s, target, lambda book: book["Queries"].append(values))


def cases(s: Sent) -> dict[str, tuple[Callable[[Path], Path], Expect]]:
    r = s.rows
    last = max(r.values())
    return {
        "saved as CSV": (lambda p: as_csv(s, p.with_suffix(".csv")), [(None, "CSV")]),
        "CSV renamed .xlsx": (lambda p: as_csv(s, p), [(None, "is text (CSV)")]),
        "truncated": (lambda p: truncated(s, p), [(None, "may be damaged")]),
        "an OpenDocument zip": (lambda p: _zip(p), [(None, "not an Excel workbook")]),
        "answers copied into a new workbook": (
            lambda p: copied_into_new_workbook(s, p), [(None, "has no hidden _ipdrepo")]),
        "metadata token deleted": (lambda p: meta(s, p, "token", None),
                                   [(None, "hidden _ipdrepo sheet is damaged")]),
        "unknown token": (lambda p: meta(s, p, "token", "x" * 32),
                          [(None, "not exported from this repository")]),
        "metadata says another export": (lambda p: meta(s, p, "export_id", "99"),
                                         [(None, "was edited")]),
        "header renamed": (lambda p: edit(s, p, lambda b: b["Queries"].__setitem__("C1",
                                                                                   "Columns")),
                           [("C1", "header should be 'Your column(s)'")]),
        "column added": (lambda p: edit(s, p, lambda b: b["Queries"].__setitem__("L1", "Notes")),
                         [("L1", "'Notes' was added")]),
        "row added": (lambda p: add_row(s, p, (99, "A005", "AGE", "66", "?", None, "x",
                                               None, "Other", None, "one more")),
                      [(f"A{last + 1}", "query 99 was not in this workbook")]),
        "row added without a query number": (
            lambda p: add_row(s, p, (None,) * 8 + ("Other", None, "also A005")),
            [(f"A{last + 1}", "it has no query number")]),
        "row deleted": (lambda p: edit(s, p, lambda b: b["Queries"].delete_rows(r["weight"])),
                        [(None, f"the row of query {s.qid('weight')}")]),
        "query number changed": (lambda p: cells(s, p, A_weight=s.qid("age")),
                                 [(f"A{max(r['age'], r['weight'])}", "appears twice"),
                                  (None, f"the row of query {s.qid('weight')}")]),
        "protected value edited": (lambda p: cells(s, p, D_age="42"),
                                   [(f"D{r['age']}", "changed from '142' to '42'")]),
        "question edited": (lambda p: cells(s, p, E_trial="never mind"),
                            [(f"E{r['trial']}", "this cell is protected")]),
        "unknown participant ID": (lambda p: cells(s, p, B_age="A999"),
                                   [(f"B{r['age']}",
                                     "'A999' is not a participant ID of trial T1")]),
        "another participant's ID": (lambda p: cells(s, p, B_age="A010"),
                                     [(f"B{r['age']}", "'A010', another participant")]),
        "participant ID deleted": (lambda p: cells(s, p, B_age=None),
                                   [(f"B{r['age']}", "participant ID was deleted")]),
        "response not in the list": (lambda p: cells(s, p, I_age="Fixed it"),
                                     [(f"I{r['age']}", "'Fixed it' is not one of the response")]),
        "answer without a response": (lambda p: cells(s, p, I_age=None),
                                      [(f"I{r['age']}", "no response code")]),
        "typo without the corrected value": (lambda p: cells(s, p, J_age=None),
                                             [(f"J{r['age']}", "needs the right value")]),
        "text in a numeric column": (lambda p: cells(s, p, J_age="forty-two"),
                                     [(f"J{r['age']}", "'forty-two' is not valid for your "
                                                       "column AGE: it is not a number")]),
        "a date Excel made of a number": (
            lambda p: cells(s, p, J_age=dt.datetime(2003, 4, 2)),
            [(f"J{r['age']}", "Excel turned it into the date 2003-04-02")]),
        "an impossible date": (lambda p: cells(s, p, I_date="Typographical error",
                                               J_date="31/02/2003"),
                               [(f"J{r['date']}", "not a valid date in that layout; write a "
                                                  "date as DD/MM/YYYY")]),
        "confirmed correct with a new value": (lambda p: cells(s, p, I_age="Confirmed correct"),
                                               [(f"J{r['age']}", "keeps the value you sent")]),
        "other without a comment": (lambda p: cells(s, p, I_age="Other", J_age=None),
                                    [(f"K{r['age']}", "needs a Comment")]),
        "several columns, one unknown": (
            lambda p: cells(s, p, I_multi="Typographical error", J_multi="SEXX=F"),
            [(f"J{r['multi']}", "'SEXX' is not one of this query's columns (SEX, WEIGHT)")]),
        "several columns, no names": (
            lambda p: cells(s, p, I_multi="Typographical error", J_multi="F; 70"),
            [(f"J{r['multi']}", "'F' does not say which column")]),
        "several columns, wrong type": (
            lambda p: cells(s, p, I_multi="Typographical error", J_multi="SEX=F; WEIGHT=heavy"),
            [(f"J{r['multi']}", "'heavy' is not valid for your column WEIGHT")]),
        "a note right of the table": (lambda p: cells(s, p, L_age="see e-mail"),
                                      [(f"L{r['age']}", "right of the answer columns")]),
    }


def truncated(s: Sent, path: Path) -> Path:
    path.write_bytes(s.answered.read_bytes()[:3000])
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return path


def mismatches(err: WorkbookError, expect: Expect) -> list[str]:
    got = [(p.cell, p.message, str(p)) for p in err.problems]
    out = []
    if len(got) != len(expect):
        out.append(f"expected {len(expect)} problem(s), got {len(got)}: {[g[2] for g in got]}")
    for cell, words in expect:
        if not any(g[0] == cell and words in g[2] for g in got):
            out.append(f"no problem at {cell} saying {words!r}: {[g[2] for g in got]}")
    for line in (str(p) for p in err.problems):
        if line not in err.message:
            out.append(f"the message does not list {line!r}")
    return out


def test_each_bad_workbook_is_refused_whole_and_changes_nothing(sent: Sent,
                                                                 tmp_path: Path) -> None:
    store = sent.world.store
    before = snapshot(store)
    failures: list[str] = []
    for i, (name, (make, expect)) in enumerate(cases(sent).items()):
        path = make(tmp_path / f"case{i}.xlsx")
        try:
            import_workbook(store, path, actor="tina")
        except WorkbookError as err:
            failures += [f"{name}: {m}" for m in mismatches(err, expect)]
            if "nothing was imported" not in err.message.lower():
                failures.append(f"{name}: the message does not say nothing was imported")
        else:
            failures.append(f"{name}: imported")
        if snapshot(store) != before:
            failures.append(f"{name}: the store changed")
            before = snapshot(store)
    assert not failures, "\n".join(failures)
    # the unbroken workbook imports: the refusals came from the breakage alone
    assert import_workbook(store, sent.answered, actor="tina").answered == (sent.qid("age"),)


def test_csv_round_trip_is_refused(sent: Sent, tmp_path: Path) -> None:
    """Open the workbook, save the answered sheet as CSV (as Excel's Save As CSV does), send it:
    refused with a message saying what happened and what to do."""
    store = sent.world.store
    before = snapshot(store)
    path = as_csv(sent, tmp_path / "T1-queries.csv")
    with pytest.raises(WorkbookError, match=r"is text \(CSV\), not the Excel workbook") as err:
        import_workbook(store, path, actor="tina")
    assert "save it as Excel Workbook (.xlsx)" in err.value.message
    assert err.value.reason == "not-xlsx" and err.value.detected == "csv"
    assert snapshot(store) == before


def test_every_problem_is_reported_at_once(sent: Sent, tmp_path: Path) -> None:
    store = sent.world.store
    export_workbook(store, "T1", tmp_path / "newer.xlsx", actor="carl")  # makes ours older
    r = sent.rows
    path = cells(sent, tmp_path / "many.xlsx", D_age="42", J_age="forty-two",
                 I_weight="Typographical error", I_date="Maybe", B_multi="A999")
    before = snapshot(store)
    with pytest.raises(WorkbookError) as err:
        import_workbook(store, path, actor="tina")
    assert snapshot(store) == before
    problems = err.value.problems
    # the file-level problem first, then by row
    assert problems[0].cell is None
    assert "older workbook" in str(problems[0]) and "newer.xlsx" in str(problems[0])
    assert sorted(p.cell for p in problems[1:]) == sorted(
        [f"D{r['age']}", f"J{r['age']}", f"B{r['multi']}", f"I{r['date']}", f"J{r['weight']}"])
    assert [p.row for p in problems[1:]] == sorted(p.row for p in problems[1:])
    message = err.value.message
    assert message.startswith("many.xlsx: 6 problem(s) in the query workbook of trial T1")
    assert "nothing was imported" in message
    assert all(str(p) in message for p in problems)
    data = err.value.to_dict()
    assert data["error"] == "WorkbookError" and len(data["problems"]) == 6
    assert {"sheet", "row", "column", "cell", "query", "message"} <= set(data["problems"][1])


def test_queries_that_moved_on_since_the_export(sent: Sent, tmp_path: Path) -> None:
    store = sent.world.store
    slug = sent.world.topic
    age, weight = sent.qid("age"), sent.qid("weight")
    answered = fill(sent.answered, {weight: ("Data missing", "80", None)},
                    out=tmp_path / "two.xlsx")
    # a curator closes one query meanwhile
    with store.transaction() as session:
        close(session, session.get(Query, weight), actor="tester", topic=slug,
              reason="weight not needed after all")
    # the checks run again on a new value: the age question changes
    with store.transaction() as session:
        topic = store.topic(session)
        q = session.get(Query, age)
        finding = Finding(trial="T1", check_id="range:age", source="validation",
                          message="AGE 142 is outside 18-99 years.", participant=q.participant,
                          variable="age", value="142", rows=tuple(q.rows),
                          source_columns=("AGE",), raw_values=dict(q.raw_values))
        sync_queries(session, topic, get_trial(session, topic, "T1"), [finding],
                     checks_run=["range:age"], actor="tester")
    before = snapshot(store)
    with pytest.raises(WorkbookError) as err:
        import_workbook(store, answered, actor="tina")
    assert snapshot(store) == before
    text = [str(p) for p in err.value.problems]
    assert len(text) == 2
    assert any(f"row {sent.rows['weight']}" in t and "is closed now" in t for t in text)
    assert any(f"query {age} changed after this workbook was sent" in t and "18-99" in t
               for t in text)
    # the curator picks the wrong trial
    with pytest.raises(WorkbookError, match=r"not of the trial you gave \(--trial\) T2"):
        import_workbook(store, sent.answered, actor="carl", trial="T2")
    assert snapshot(store) == before


def test_an_older_export_names_the_newer_one(sent: Sent, tmp_path: Path) -> None:
    store = sent.world.store
    newer = export_workbook(store, "T1", tmp_path / "again.xlsx", actor="carl")
    before = snapshot(store)
    with pytest.raises(WorkbookError) as err:
        import_workbook(store, sent.answered, actor="tina")
    (problem,) = err.value.problems
    assert f"a newer one replaced it: export {newer.export_id}, again.xlsx" in str(problem)
    assert "by carl" in str(problem)
    assert snapshot(store) == before
    shutil.copy(tmp_path / "again.xlsx", tmp_path / "again-answered.xlsx")
    fill(tmp_path / "again-answered.xlsx", {sent.qid("age"): ("Typographical error", "42", None)},
         out=tmp_path / "again-answered.xlsx")
    assert import_workbook(store, tmp_path / "again-answered.xlsx",
                           actor="tina").answered == (sent.qid("age"),)
