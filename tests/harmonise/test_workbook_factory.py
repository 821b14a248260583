"""Building real stores for the query-workbook tests (no tests here).

Two trials with deliveries ingested for real, so that pseudonyms map back to the trials' own
IDs: T1 sends a CSV (text IDs, day/month/year dates, an "NA" in a numeric column), T2 an SPSS
file (numeric IDs, value labels, native dates). Their queries are raised the way the
validation pipeline raises them: :func:`harmonise.queries.lifecycle.sync_queries` with findings
built from the delivered cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from harmonise.queries.lifecycle import Finding
from harmonise.queries.sync import sync_queries
from harmonise.values.cells import canonical_text as cell_text
from repository.deliveries import ingest, load_delivery
from repository.models import Delivery, Query
from repository.pseudonyms import normalise_raw_id
from repository.roles import add_user
from repository.store import Store
from repository.trials import TrialSpec, add_trial, get_trial
from tests.store_snapshot import snapshot as snapshot

T1_CSV = """PATNO,ARM,SEX,AGE,RANDDT,WEIGHT
A001,1,M,64,03/02/2003,70.5
A002,2,F,142,10/02/2003,61.2
A003,1,F,71,04/03/2003,
A004,2,M,NA,15/04/2003,88.0
A005,1,M,66,20/05/2003,74.3
A010,2,F,55,21/05/2003,66.0
"""

T2_FRAME = pd.DataFrame({
    "ID": [1001.0, 1002.0, 1003.0],
    "SEX": [1.0, 2.0, 1.0],
    "AGE": [61.0, 58.0, 70.0],
    "RANDDT": pd.to_datetime(["2004-01-05", "2004-01-12", "2004-02-02"]),
})

CHECKS = ("range:age", "missing:weight", "date:weekend", "cross:sex-weight",
          "integrity:arm-counts", "range:sex")


@dataclass(frozen=True)
class World:
    store: Store
    topic: str
    # (trial, participant's own ID or None, first source column) -> query id
    queries: dict[tuple[str, str | None, str | None], int]

    def qid(self, trial: str, own: str | None, column: str | None) -> int:
        return self.queries[(trial, own, column)]


def _finding(store: Store, topic: str, trial: str, frame: pd.DataFrame, id_column: str,
             own: str | None, columns: tuple[str, ...], check: str, message: str,
             variable: str | None) -> Finding:
    row = None
    participant = None
    raw: dict[str, Any] = {}
    if own is not None:
        ids = [normalise_raw_id(v) for v in frame[id_column]]
        row = ids.index(own)
        participant = store.pseudonymiser(topic).pseudonym(trial, own)
        raw = {c: cell_text(frame.at[row, c]) for c in columns}
    value = raw.get(columns[0]) if columns else None
    return Finding(trial=trial, check_id=check, source="validation", message=message,
                   participant=participant, variable=variable, value=value,
                   rows=(row + 1,) if row is not None else (), source_columns=columns,
                   raw_values=raw)


def build_world(store: Store, tmp_path: Path) -> World:
    """Register T1 and T2, users, ingest their deliveries, raise their queries."""
    with store.transaction() as session:
        topic = store.topic(session)
        t1 = add_trial(session, topic, TrialSpec(acronym="T1", id_column="PATNO",
                                                 contact_name="Dr T. One"), actor="tester")
        t2 = add_trial(session, topic, TrialSpec(acronym="T2", id_column="ID"), actor="tester")
        add_user(session, name="carl", role="curator", by="tester")
        add_user(session, name="tina", role="trialist", trial=t1, by="tester")
        add_user(session, name="tess", role="trialist", trial=t1, by="tester")
        add_user(session, name="tom", role="trialist", trial=t2, by="tester")
        add_user(session, name="ann", role="analyst", by="tester")
        slug = topic.slug
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "t1.csv").write_text(T1_CSV)
    import pyreadstat

    pyreadstat.write_sav(T2_FRAME, str(inbox / "t2.sav"),
                         column_labels={"SEX": "Sex", "AGE": "Age at randomisation"},
                         variable_value_labels={"SEX": {1: "Male", 2: "Female"}})
    d1 = ingest(store, "T1", inbox / "t1.csv")
    d2 = ingest(store, "T2", inbox / "t2.sav")
    with store.reading() as session:
        f1 = load_delivery(store, session.get(Delivery, d1.delivery_id)).frame
        f2 = load_delivery(store, session.get(Delivery, d2.delivery_id)).frame
    findings = {
        "T1": [
            _finding(store, slug, "T1", f1, "PATNO", "A002", ("AGE",), "range:age",
                     "AGE 142 is outside 18-90 years.", "age"),
            _finding(store, slug, "T1", f1, "PATNO", "A003", ("WEIGHT",), "missing:weight",
                     "WEIGHT is missing; it is required.", "weight"),
            _finding(store, slug, "T1", f1, "PATNO", "A004", ("RANDDT",), "date:weekend",
                     "Randomised on a Tuesday but the centre randomised on Mondays only.",
                     "rand_date"),
            _finding(store, slug, "T1", f1, "PATNO", "A001", ("SEX", "WEIGHT"),
                     "cross:sex-weight", "SEX M with WEIGHT 70.5: please check both.",
                     "sex"),
            _finding(store, slug, "T1", f1, "PATNO", None, (), "integrity:arm-counts",
                     "6 participants delivered but 300 published; where are the others?",
                     None),
        ],
        "T2": [
            _finding(store, slug, "T2", f2, "ID", "1002", ("SEX",), "range:sex",
                     "SEX 2 but the trial enrolled men only.", "sex"),
        ],
    }
    queries: dict[tuple[str, str | None, str | None], int] = {}
    with store.transaction() as session:
        topic = store.topic(session)
        for acronym, delivery in (("T1", d1), ("T2", d2)):
            sync_queries(session, topic, get_trial(session, topic, acronym),
                         findings[acronym], checks_run=CHECKS, actor="tester",
                         delivery_id=delivery.delivery_id)
        pseudo = store.pseudonymiser(slug)
        own_of = {pseudo.pseudonym(trial, o): o
                  for trial, frame, col in (("T1", f1, "PATNO"), ("T2", f2, "ID"))
                  for o in (normalise_raw_id(v) for v in frame[col])}
        names = {get_trial(session, topic, a).id: a for a in ("T1", "T2")}
        for q in session.query(Query).all():
            first = q.source_columns[0] if q.source_columns else None
            queries[(names[q.trial_id], own_of.get(q.participant), first)] = q.id
    return World(store=store, topic=slug, queries=queries)


def sheet_rows(path: Path) -> list[dict[str, Any]]:
    """The Queries sheet as a trialist sees it: one dict per row, by header."""
    book = openpyxl.load_workbook(path)
    ws = book["Queries"]
    grid = list(ws.iter_rows(values_only=True))
    header = grid[0]
    return [dict(zip(header, r)) for r in grid[1:]]


def fill(path: Path, answers: dict[int, tuple[Any, Any, Any]], out: Path | None = None) -> Path:
    """Answer queries as a trialist would in Excel: type into the yellow cells, save."""
    book = openpyxl.load_workbook(path)
    ws = book["Queries"]
    for r in range(2, ws.max_row + 1):
        qid = ws.cell(r, 1).value
        if qid in answers:
            for c, value in zip((9, 10, 11), answers[qid]):
                ws.cell(r, c).value = value
    target = out or path.with_name(path.stem + "-answered.xlsx")
    book.save(target)
    return target
