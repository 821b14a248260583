"""Benchmark: exporting and importing a query workbook of many queries (SQLite store).

    python3 dev.py bench workbook                    # 1,000 queries
    python3 dev.py bench workbook -- --queries 5000

References measured in the same run on the same machine:

* openpyxl alone writing the same grid (one row of ten cells per query) and reading it back:
  the floor for any workbook written and read with openpyxl;
* the query life cycle alone: marking every query sent (``mark_sent``) and answering every
  one (``respond``) in one transaction each, without any workbook: what the store must do.

ipdrepo's figures are the whole ``export_workbook`` (queries, pseudonyms mapped back over the
delivery, column rules, rendering, the export record, marking sent) and ``import_workbook``
(reading, checking every row, answering every query).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def make_store(root: Path, n: int):
    from harmonise.queries.lifecycle import Finding
    from harmonise.queries.sync import sync_queries
    from repository.deliveries import ingest
    from repository.settings import load_settings
    from repository.store import Store
    from repository.trials import TrialSpec, add_trial, get_trial
    from repository.workspace import init_workspace

    init_workspace(root / "ws", topic="bench", actor="curator")
    store = Store.open(load_settings(root / "ws", actor="curator", env={}))
    with store.transaction() as session:
        add_trial(session, store.topic(session), TrialSpec(acronym="T1", id_column="PATNO"),
                  actor="curator")
    ids = [f"P{i:06d}" for i in range(n)]
    ages = [str(20 + i % 70) for i in range(n)]
    pd.DataFrame({"PATNO": ids, "AGE": ages, "RANDDT": ["03/02/2003"] * n,
                  "SEX": ["M", "F"] * (n // 2) + ["M"] * (n % 2)}).to_csv(
        root / "delivery.csv", index=False)
    delivery = ingest(store, "T1", root / "delivery.csv")
    pseudonymiser = store.pseudonymiser("bench")
    findings = [Finding(trial="T1", check_id="range:age", source="validation",
                        message=f"AGE {ages[i]} looks wrong; please check the CRF.",
                        participant=pseudonymiser.pseudonym("T1", ids[i]), variable="age",
                        value=ages[i], source_columns=("AGE",), raw_values={"AGE": ages[i]},
                        rows=(i + 1,))
                for i in range(n)]
    with store.transaction() as session:
        topic = store.topic(session)
        sync_queries(session, topic, get_trial(session, topic, "T1"), findings,
                     checks_run=["range:age"], actor="curator",
                     delivery_id=delivery.delivery_id)
    return store


def reference_openpyxl(path: Path, n: int) -> float:
    started = time.perf_counter()
    book = openpyxl.Workbook()
    ws = book.active
    ws.append([f"h{c}" for c in range(10)])
    for i in range(n):
        ws.append([i, f"P{i:06d}", "AGE", "42", "42", "AGE 42 looks wrong; please check.",
                   "a number", None, None, None])
    book.save(path)
    back = openpyxl.load_workbook(path, data_only=True)
    rows = sum(1 for _ in back.active.iter_rows(values_only=True))
    assert rows == n + 1
    return time.perf_counter() - started


def reference_life_cycle(root: Path, n: int) -> float:
    from harmonise.queries.lifecycle import mark_sent, respond
    from repository.models import Query

    store = make_store(root, n)
    started = time.perf_counter()
    with store.transaction() as session:
        for q in session.query(Query).order_by(Query.id):
            mark_sent(session, q, actor="curator", topic="bench")
    with store.transaction() as session:
        for q in session.query(Query).order_by(Query.id):
            respond(session, q, actor="curator", topic="bench",
                    response_code="typographical_error", corrected_value="42")
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args([a for a in sys.argv[1:] if a != "--"])
    n = args.queries

    from harmonise.queries.workbook import export_workbook, import_workbook

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "b").mkdir()
        plain = reference_openpyxl(root / "plain.xlsx", n)
        life = reference_life_cycle(root / "b", n)
        store = make_store(root / "a", n)
        started = time.perf_counter()
        result = export_workbook(store, "T1", root / "sent.xlsx", actor="curator")
        exported = time.perf_counter() - started
        book = openpyxl.load_workbook(root / "sent.xlsx")
        ws = book["Queries"]
        for r in range(2, ws.max_row + 1):
            ws.cell(r, 8).value = "Typographical error"
            ws.cell(r, 9).value = "42"
        book.save(root / "answered.xlsx")
        started = time.perf_counter()
        imported = import_workbook(store, root / "answered.xlsx", actor="curator")
        answered = time.perf_counter() - started
        store.close()
    assert result.n_queries == n and len(imported.answered) == n
    total = exported + answered
    print(f"query workbook, {n:,} queries (SQLite store)")
    print(f"  export_workbook           {exported:7.2f} s")
    print(f"  import_workbook           {answered:7.2f} s")
    print(f"  reference: openpyxl write+read of the same grid   {plain:7.2f} s  "
          f"(ipdrepo export+import = {total / plain:5.1f}x)")
    print(f"  reference: mark_sent + respond, no workbook       {life:7.2f} s  "
          f"(ipdrepo export+import = {total / life:5.2f}x)")
    print(f"  per query: {1000 * total / n:.1f} ms for export + import")


if __name__ == "__main__":
    main()
