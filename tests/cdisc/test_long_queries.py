"""Queries and corrections on rows of long tables, end to end, on a compact topic of three
delivered files (participants, adverse events keyed by AESEQ, visits keyed by VISITNUM):
ingest -> harmonise -> validate raises questions about the trial's own rows (dataset, row, key,
its columns) -> the workbook is answered -> accepted -> the long tables are corrected (and
``explain`` shows it) -> the release holds the corrected tables -> a re-delivery of the
datasets (rows re-ordered, added, one value changed) carries the corrections forward by key,
or flags them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from harmonise.pipeline.checking import check_trial
from harmonise.pipeline.harmonising import harmonise_trial
from harmonise.pipeline.provenance import explain_cell
from harmonise.queries.answering import answer_context
from harmonise.queries.answers import accept_answers
from harmonise.queries.lifecycle import forward, get_query
from harmonise.queries.workbook import export_workbook, import_workbook
from repository.cli import cli
from repository.models import Correction, Query
from repository.packages import ingest_package
from repository.settings import load_settings
from repository.store import Store
from repository.trials import TrialSpec, add_trial
from repository.workspace import init_workspace
from tests.harmonise.test_workbook_factory import fill, sheet_rows
from versions.consumers import load_tables

TOPIC = Path(__file__).resolve().parent / "longtopic"
KEYS = {"ae": ["AESEQ"], "sv": ["VISITNUM"]}

DM = pd.DataFrame({"SUBJID": ["P01", "P02", "P03"], "ARM": ["A", "B", "A"],
                   "RANDDT": ["01/02/2021", "03/02/2021", "05/02/2021"], "AGE": [54, 61, 47]})
# row 2: grade 7 is no CTCAE grade; row 3: an event three weeks before randomisation; row 4:
# sequence number 150 out of range
AE = pd.DataFrame({"SUBJID": ["P01", "P01", "P02", "P03"], "AESEQ": [1, 2, 1, 150],
                   "AETERM": ["NAUSEA", "RASH", "FATIGUE", "ANAEMIA"],
                   "AESTDT": ["10/02/2021", "20/03/2021", "15/01/2021", "01/03/2021"],
                   "AEGRADE": [2, 7, 1, 3]})
# row 4: P02's visit 2 (planned day 29) on day 76
SV = pd.DataFrame({"SUBJID": ["P01", "P01", "P02", "P02", "P03"], "VISITNUM": [1, 2, 1, 2, 1],
                   "VISITDY": [1, 29, 1, 29, 1],
                   "SVDT": ["01/02/2021", "01/03/2021", "03/02/2021", "20/04/2021",
                            "05/02/2021"]})


def _deliver(store: Store, folder: Path, allow: str | None = None,
             **frames: pd.DataFrame) -> None:
    folder.mkdir()
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    ingest_package(store, "LONG-1", folder, id_column="SUBJID",
                   keys={k: v for k, v in KEYS.items() if k in frames},
                   long=[k for k in KEYS if k in frames], allow_id_problems=allow)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    init_workspace(tmp_path / "ws", topic="long-rows", dictionary=TOPIC, actor="curator")
    store = Store.open(load_settings(tmp_path / "ws", actor="curator", env={}))
    with store.transaction() as session:
        add_trial(session, store.topic(session), TrialSpec(acronym="LONG-1", title="Long rows"),
                  actor="curator")
    _deliver(store, tmp_path / "d1", dm=DM, ae=AE, sv=SV)
    return store


def _queries(store: Store) -> dict[str, SimpleNamespace]:
    """Each question (by check) as plain values, with its findings."""
    out = {}
    with store.reading() as session:
        for q in session.scalars(select(Query).order_by(Query.id)):
            out[q.check_id] = SimpleNamespace(
                id=q.id, question=q.question, rows=q.rows, source_columns=q.source_columns,
                raw_values=q.raw_values, audience=q.audience, status=q.status,
                findings=[SimpleNamespace(dataset=f.dataset, row=f.row, sequence=f.sequence,
                                          cells=f.cells) for f in q.findings])
    return out


def _corrections(store: Store) -> list[SimpleNamespace]:
    with store.reading() as session:
        return [SimpleNamespace(source_column=c.source_column, status=c.status,
                                review_note=c.review_note, carried_from_id=c.carried_from_id)
                for c in session.scalars(select(Correction).order_by(Correction.id))]


def _ask(store: Store) -> dict[str, SimpleNamespace]:
    run = check_trial(store, "LONG-1")
    assert run.queries is not None and run.queries.opened == tuple(range(1, 5))
    queries = _queries(store)
    assert set(queries) == {"adverse_events/mapping:invalid_category",
                            "adverse_events/table-dates", "visits/visits-in-window",
                            "adverse_events/range:ae_seq"}
    before = queries["adverse_events/table-dates"]
    # the trial's own row: dataset, delivered row, key, column and value as written
    assert before.question.startswith("ae, row 3 (SUBJID P02, AESEQ 1): AESTDT 15/01/2021 is "
                                      "before RANDDT 03/02/2021")
    assert (before.rows, before.source_columns, before.raw_values) == (
        [3], ["AESTDT"], {"AESTDT": "15/01/2021"})
    (finding,) = before.findings
    assert (finding.dataset, finding.row, finding.sequence) == ("ae", 3, 1)
    assert finding.cells == [{"dataset": "ae", "row": 3, "column": "AESTDT"}]
    window = queries["visits/visits-in-window"]
    assert window.question.startswith("sv, row 4 (SUBJID P02, VISITNUM 2): SVDT 20/04/2021 is "
                                      "day 76 from RANDDT 03/02/2021, outside the window")
    grade = queries["adverse_events/mapping:invalid_category"]
    assert grade.audience == "curator" and grade.rows == [2]
    assert grade.question.startswith("ae, row 2 (SUBJID P01, AESEQ 2): AEGRADE is 7")
    seq = queries["adverse_events/range:ae_seq"]  # a validation rule of the table
    assert seq.question.startswith("ae, row 4 (SUBJID P03, AESEQ 150): AESEQ is 150")
    assert (seq.rows, seq.raw_values, seq.audience) == ([4], {"AESEQ": "150"}, "trial")
    # the web pages' answer form (the same library) shows the long row's column and values
    with store.reading() as session:
        context = answer_context(store, session, get_query(session, store.topic(session),
                                                           before.id))
    assert context.participant_id == "P02"
    assert [(c.column, c.delivered, c.now) for c in context.columns] == [
        ("AESTDT", "15/01/2021", "15/01/2021")]
    assert context.columns[0].expected.startswith("a date as DD/MM/YYYY")
    # validating again changes nothing: the questions keep their identity
    again = check_trial(store, "LONG-1").queries
    assert again is not None and (again.opened, again.unchanged) == ((), 4)
    return queries


def _answer(store: Store, tmp_path: Path, queries: dict[str, SimpleNamespace]) -> None:
    before, window, grade, seq = (queries[k] for k in (
        "adverse_events/table-dates", "visits/visits-in-window",
        "adverse_events/mapping:invalid_category", "adverse_events/range:ae_seq"))
    # the curator forwards the code question; the trial answers all three in the workbook
    with store.transaction() as session:
        topic = store.topic(session)
        forward(session, get_query(session, topic, grade.id), actor="curator", topic=topic.slug)
    export_workbook(store, "LONG-1", tmp_path / "sent.xlsx", actor="curator")
    rows = {r["Query"]: r for r in sheet_rows(tmp_path / "sent.xlsx")}
    assert rows[before.id]["Participant ID"] == "P02"
    assert (rows[before.id]["Your column(s)"], rows[before.id]["Value(s) in your data"]) == (
        "AESTDT", "15/01/2021")
    assert rows[window.id]["Value(s) in your data"] == "20/04/2021"
    assert rows[grade.id]["Value(s) in your data"] == "7"
    answered = fill(tmp_path / "sent.xlsx", {
        before.id: ("Typographical error", "15/02/2021", "CRF: February"),
        window.id: ("Typographical error", "02/03/2021", None),
        grade.id: ("Typographical error", "3", "grade 3, typed 7"),
        seq.id: ("Typographical error", "1", "P03's first event")})
    assert len(import_workbook(store, answered, actor="curator").answered) == 4
    accepted = accept_answers(store, [before.id, window.id, grade.id, seq.id])
    made = [c for a in accepted for c in a.corrections]
    assert [(c["dataset"], c["row_key"], c["source_column"], c["old_value"], c["new_value"])
            for c in made] == [("ae", {"AESEQ": "1"}, "AESTDT", "15/01/2021", "15/02/2021"),
                               ("sv", {"VISITNUM": "2"}, "SVDT", "20/04/2021", "02/03/2021"),
                               ("ae", {"AESEQ": "2"}, "AEGRADE", "7", "3"),
                               ("ae", {"AESEQ": "150"}, "AESEQ", "150", "1")]


def _corrected(store: Store, before_id: int) -> None:
    # the long tables are harmonised corrected; the questions close
    run = check_trial(store, "LONG-1")
    assert run.queries is not None and sorted(run.queries.closed) == [1, 2, 3, 4]
    assert all(c.applied for c in run.corrections) and len(run.corrections) == 4
    ae = run.tables["adverse_events"].data.set_index("_row")
    assert str(ae.loc[3, "ae_start"].date()) == "2021-02-15" and ae.loc[2, "ae_grade"] == 3
    assert ae.loc[4, "ae_seq"] == 1
    visits = run.tables["visits"].data.set_index("_row")
    assert str(visits.loc[4, "visit_date"].date()) == "2021-03-02"
    assert run.data.set_index("participant_id")["worst_grade"].max() == 3
    shown = explain_cell(store, "LONG-1", "P02", "ae_start", key={"ae_seq": "1"})
    assert [(c["source_column"], c["new_value"], c["query_id"]) for c in shown.corrections] == [
        ("AESTDT", "15/02/2021", before_id)]
    assert shown.delivered == {"AESTDT": "15/01/2021"}
    assert shown.corrected == {"AESTDT": "15/02/2021"} and shown.row == 3
    # P01's other AE row (AESEQ 1) is not corrected: its explanation lists no correction
    assert explain_cell(store, "LONG-1", "P01", "ae_grade", key={"ae_seq": "1"}).corrections \
        == ()


def _released(store: Store) -> None:
    # the release holds the corrected long tables
    env = {"IPDREPO_WORKSPACE": str(store.settings.workspace), "IPDREPO_USER": "curator"}
    made_release = CliRunner().invoke(cli, ["release", "create", "--version", "1.0.0", "-m",
                                            "long rows corrected"], env=env)
    assert made_release.exit_code == 0, made_release.output
    tables = load_tables("long-rows", "1.0.0", repo=str(store.settings.workspace / "releases"))
    released = tables["adverse_events"]
    assert sorted(released["ae_grade"].dropna().astype(int)) == [1, 2, 3, 3]
    assert "2021-01-15" not in set(released["ae_start"].astype(str))
    assert "2021-04-20" not in set(tables["visits"]["visit_date"].astype(str))


def _redelivered(store: Store, tmp_path: Path) -> None:
    # re-delivery: AE rows re-ordered with a new event; P02's visit 2 now holds another date
    ae2 = pd.concat([AE.iloc[[3, 2, 1, 0]], pd.DataFrame({
        "SUBJID": ["P02"], "AESEQ": [2], "AETERM": ["HEADACHE"], "AESTDT": ["01/03/2021"],
        "AEGRADE": [1]})], ignore_index=True)
    sv2 = SV.copy()
    sv2.loc[3, "SVDT"] = "21/04/2021"
    _deliver(store, tmp_path / "d2", ae=ae2, sv=sv2)
    run = check_trial(store, "LONG-1")
    assert len(run.carried["carried"]) == 3 and len(run.carried["needs_review"]) == 1
    by_column = {c.source_column: c for c in _corrections(store)}
    assert by_column["AESTDT"].status == by_column["AEGRADE"].status == "active"
    assert by_column["AESTDT"].carried_from_id is not None
    flagged = by_column["SVDT"]
    assert flagged.status == "needs_review"
    assert flagged.review_note is not None and "'21/04/2021'" in flagged.review_note
    ae = run.tables["adverse_events"].data.set_index("_row")
    # the corrections follow their rows (now rows 2 and 3) by key; the new row is untouched
    assert str(ae.loc[2, "ae_start"].date()) == "2021-02-15" and ae.loc[3, "ae_grade"] == 3
    assert ae.loc[5, "ae_seq"] == 2 and str(ae.loc[5, "ae_start"].date()) == "2021-03-01"
    assert ae.loc[1, "ae_seq"] == 1  # P03's AESEQ 150, first now
    assert {(c.dataset, c.row) for c in run.corrections if c.applied} == {
        ("ae", 1), ("ae", 2), ("ae", 3)}
    # the changed visit date is not silently corrected: its question is asked again
    reopened = _queries(store)["visits/visits-in-window"]
    assert reopened.status == "reopened" and "21/04/2021" in reopened.question

    # the trial corrects the sequence number itself: that correction is no longer needed
    ae3 = ae2.copy()
    ae3.loc[0, "AESEQ"] = 1
    _deliver(store, tmp_path / "d3", ae=ae3)
    run = harmonise_trial(store, "LONG-1", write=False)
    assert len(run.carried["no_longer_needed"]) == 1 and len(run.carried["carried"]) == 2


def test_long_rows_are_queried_corrected_released_and_carried_forward(store: Store,
                                                                      tmp_path: Path) -> None:
    queries = _ask(store)
    _answer(store, tmp_path, queries)
    _corrected(store, queries["adverse_events/table-dates"].id)
    _released(store)
    _redelivered(store, tmp_path)


def test_a_vanished_row_flags_its_correction(store: Store, tmp_path: Path) -> None:
    check_trial(store, "LONG-1")
    queries = _queries(store)
    q = queries["adverse_events/table-dates"]
    export_workbook(store, "LONG-1", tmp_path / "sent.xlsx", actor="curator")
    answered = fill(tmp_path / "sent.xlsx", {q.id: ("Typographical error", "15/02/2021", None)})
    import_workbook(store, answered, actor="curator")
    accept_answers(store, [q.id])
    # the trial re-delivers AE without P02's event (AESEQ 1): the correction has no row
    _deliver(store, tmp_path / "d2", ae=AE.drop(index=2))
    run = harmonise_trial(store, "LONG-1", write=False)
    assert len(run.carried["needs_review"]) == 1 and not run.carried["carried"]
    (flagged,) = _corrections(store)
    assert flagged.status == "needs_review"
    assert flagged.review_note == "ae row AESEQ=1 no longer in delivery " + \
        str(dict((n, i) for n, i, _ in run.inputs.datasets)["ae"])


def test_rows_repeating_a_key_are_asked_about_each(store: Store, tmp_path: Path) -> None:
    sv = pd.concat([SV, SV.iloc[[4]]], ignore_index=True)  # P03's visit 1 twice (rows 5, 6)
    sv.loc[5, "SVDT"] = "06/02/2021"
    _deliver(store, tmp_path / "d2", allow="visit 1 twice; queried", sv=sv)
    run = check_trial(store, "LONG-1")
    keys = sorted(f.key.rsplit("@", 1)[1] for f in run.findings
                  if f.check_id == "visits/table-keys")
    assert keys == ["sv:VISITNUM=1#1", "sv:VISITNUM=1#2"]
    with store.reading() as session:
        asked = session.scalars(select(Query).where(
            Query.check_id == "visits/table-keys")).all()
        assert sorted(r for q in asked for r in q.rows) == [5, 6]
        assert all("repeats VISITNUM" in q.question for q in asked)
