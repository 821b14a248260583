"""Benchmark: relational harmonisation (issue 15) vs pandas + parquet on the same tables.

    python3 dev.py bench relational                       # 100 trials, 1,000,000 participants
    .venv/bin/python tests/benchmarks/bench_relational.py --trials 20 --participants 100000

Each trial delivers three datasets: a baseline (one row per participant), visits (10 per
participant: visit number, planned and actual day, date, weight) and events (3 per participant:
sequence, term, grade, start date). The mapping joins them: three long tables' rules (visits,
events) and per-participant derivations across tables (number of events, worst grade, the date
of the first grade >= 3 event after randomisation, its time-to-event pair censored at the last
contact, the last contact as the latest visit or event date, the weight at the visit nearest
day 365 within +/- 60 days). ipdrepo's figure is the mapping engine on every trial (every cell
problem collected) plus validation compiled from the dictionary of the participant table and
of both long tables (one pass each, per-trial report) and the long tables' integrity checks
(keys unique, events not before randomisation, visits in their window). The reference,
measured in the same run, is pandas writing the same raw tables (baseline, visits, events of
every trial) as Parquet and reading them back. Data are generated in memory (seeded), untimed.
The CPU time of both sides (all threads) is printed too, with the load average: on a shared
machine the wall-clock ratio moves with other work, the CPU ratio much less.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DICTIONARY = {
    "format": "ipdrepo-dictionary/1", "topic": "bench-relational", "title": "Relational benchmark",
    "version": "1.0.0",
    "changelog": [{"version": "1.0.0", "date": "2026-12-04", "changes": ["benchmark"]}],
    "tables": [
        {"name": "visits", "kind": "repeated", "key": ["visit_num"], "date": "visit_date",
         "window": {"planned_day": "planned_day", "before": 14, "after": 14, "origin_day": 0}},
        {"name": "events", "kind": "events", "key": ["event_seq"], "date": "event_date",
         "after_origin": True}],
    "variables": [
        {"name": "participant_id", "label": "ID", "type": "id", "role": "id", "required": True},
        {"name": "trial", "label": "Trial", "type": "text", "role": "trial", "required": True},
        {"name": "arm", "label": "Arm", "type": "categorical", "role": "treatment",
         "categories": [{"code": 0, "label": "Control"}, {"code": 1, "label": "Experimental"}]},
        {"name": "age", "label": "Age", "type": "integer", "role": "covariate", "unit": "years",
         "range": {"min": 18, "max": 100}},
        {"name": "sex", "label": "Sex", "type": "categorical", "role": "covariate",
         "categories": [{"code": 1, "label": "Male"}, {"code": 2, "label": "Female"}]},
        {"name": "rand_date", "label": "Randomisation date", "type": "date", "role": "design"},
        {"name": "n_events", "label": "Events", "type": "integer", "role": "outcome",
         "range": {"min": 0, "max": 100}},
        {"name": "worst_grade", "label": "Worst grade", "type": "integer", "role": "outcome",
         "range": {"min": 1, "max": 5}},
        {"name": "severe_date", "label": "First grade >= 3 event", "type": "date",
         "role": "outcome"},
        {"name": "last_contact", "label": "Last contact", "type": "date", "role": "outcome"},
        {"name": "severe_days", "label": "Time to grade >= 3", "type": "integer",
         "role": "outcome", "unit": "days", "range": {"min": 0, "max": 4000}},
        {"name": "severe_event", "label": "Grade >= 3 event", "type": "categorical",
         "role": "outcome", "categories": [{"code": 0, "label": "Censored"},
                                           {"code": 1, "label": "Event"}]},
        {"name": "weight_1y", "label": "Weight at 1 year", "type": "decimal",
         "role": "outcome", "unit": "kg", "range": {"min": 30, "max": 250}},
        {"name": "visit_num", "label": "Visit", "type": "integer", "table": "visits",
         "required": True},
        {"name": "planned_day", "label": "Planned day", "type": "integer", "table": "visits"},
        {"name": "visit_day", "label": "Day", "type": "integer", "table": "visits"},
        {"name": "visit_date", "label": "Visit date", "type": "date", "table": "visits"},
        {"name": "weight", "label": "Weight", "type": "decimal", "table": "visits", "unit": "kg",
         "range": {"min": 30, "max": 250}},
        {"name": "event_seq", "label": "Sequence", "type": "integer", "table": "events",
         "required": True},
        {"name": "event_term", "label": "Term", "type": "text", "table": "events"},
        {"name": "grade", "label": "Grade", "type": "integer", "table": "events",
         "range": {"min": 1, "max": 5}},
        {"name": "event_date", "label": "Start", "type": "date", "table": "events"}],
    "outcomes": [{"name": "severe", "label": "Time to grade >= 3", "kind": "time_to_event",
                  "time": "severe_days", "event": "severe_event"}],
}


def mapping(trial: str) -> dict:
    return {
        "format": "ipdrepo-mapping/1", "trial": trial, "dictionary": "bench-relational",
        "dictionary_version": "1.0.0", "source": {"dataset": "baseline", "id_column": "PATID"},
        "datasets": {"visits": {"join": "one-to-many", "key": ["VISIT"]},
                     "events": {"join": "one-to-many", "key": ["SEQ"]}},
        "variables": {
            "participant_id": {"rule": "id_creation", "column": "PATID"},
            "arm": {"rule": "direct", "column": "ARM"},
            "age": {"rule": "direct", "column": "AGE"},
            "sex": {"rule": "recode", "column": "SEX", "map": {"M": 1, "F": 2}},
            "rand_date": {"rule": "date", "column": "RANDDT", "format": "native"},
            "n_events": {"rule": "aggregate", "take": "count", "table": "events"},
            "worst_grade": {"rule": "aggregate", "take": "max", "table": "events",
                            "value": "grade"},
            "severe_date": {"rule": "aggregate", "take": "min", "table": "events",
                            "value": "event_date", "where": "grade >= 3",
                            "on_or_after": "rand_date"},
            "last_contact": {"rule": "aggregate", "take": "max", "from": [
                {"table": "visits", "value": "visit_date"},
                {"table": "events", "value": "event_date"}]},
            "severe_days": {"rule": "derive", "function": "time_to_event",
                            "origin": "rand_date", "event": "severe_date",
                            "censor": "last_contact"},
            "severe_event": {"rule": "derive", "function": "time_to_event",
                             "origin": "rand_date", "event": "severe_date",
                             "censor": "last_contact", "output": "event"},
            "weight_1y": {"rule": "aggregate", "take": "nearest", "table": "visits",
                          "value": "weight", "at": "visit_day", "target": 365, "within": 60}},
        "tables": {
            "visits": {"dataset": "visits", "variables": {
                "visit_num": {"rule": "direct", "column": "VISIT"},
                "planned_day": {"rule": "direct", "column": "PLANDY"},
                "visit_date": {"rule": "date", "column": "VISDT", "format": "native"},
                "visit_day": {"rule": "operation", "expression": "visit_date - rand_date"},
                "weight": {"rule": "direct", "column": "WEIGHT"}}},
            "events": {"dataset": "events", "variables": {
                "event_seq": {"rule": "direct", "column": "SEQ"},
                "event_term": {"rule": "direct", "column": "TERM"},
                "grade": {"rule": "direct", "column": "GRADE"},
                "event_date": {"rule": "date", "column": "STDT", "format": "native"}}}},
    }


def make_trial(rng, n: int, offset: int, visits: int, events: int):
    import numpy as np
    import pandas as pd

    ids = np.array([f"P{offset + i:07d}" for i in range(n)], dtype=object)
    rand = np.datetime64("2015-01-01") + rng.integers(0, 2000, n).astype("timedelta64[D]")
    baseline = pd.DataFrame({
        "PATID": ids, "ARM": rng.integers(0, 2, n), "AGE": rng.integers(25, 90, n),
        "SEX": np.where(rng.random(n) < 0.5, "M", "F").astype(object),
        "RANDDT": pd.to_datetime(rand)})
    planned = np.arange(visits) * 60
    vday = np.repeat(planned[None, :], n, axis=0) + rng.integers(-10, 11, (n, visits))
    vday[:, 0] = 0
    visit = pd.DataFrame({
        "PATID": np.repeat(ids, visits), "VISIT": np.tile(np.arange(1, visits + 1), n),
        "PLANDY": np.tile(planned, n),
        "VISDT": pd.to_datetime(np.repeat(rand, visits) + vday.ravel().astype("timedelta64[D]")),
        "WEIGHT": np.round(rng.normal(75, 12, n * visits).clip(35, 200), 1)})
    eday = rng.integers(1, visits * 60, n * events)
    event = pd.DataFrame({
        "PATID": np.repeat(ids, events), "SEQ": np.tile(np.arange(1, events + 1), n),
        "TERM": rng.choice(np.array(["NAUSEA", "RASH", "FATIGUE", "NEUTROPENIA"], dtype=object),
                           n * events),
        "GRADE": rng.integers(1, 6, n * events),
        "STDT": pd.to_datetime(np.repeat(rand, events) + eday.astype("timedelta64[D]"))})
    return baseline, visit, event


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=10)
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--seed", type=int, default=15)
    return parser.parse_args([a for a in sys.argv[1:] if a != "--"])


def _generate(args: argparse.Namespace, dictionary: Any) -> list[tuple[str, Any, Any]]:
    """Every trial's mapping and raw tables (baseline, visits, events), untimed."""
    import numpy as np

    from harmonise.mapping.spec import Mapping

    rng = np.random.default_rng(args.seed)
    per = args.participants // args.trials
    print(f"generating {args.trials} trials x {per:,} participants ({args.visits} visits, "
          f"{args.events} events each; untimed) ...", flush=True)
    work = []
    for t in range(args.trials):
        name = f"T{t:03d}"
        frames = make_trial(rng, per, t * per, args.visits, args.events)
        work.append((name, Mapping.from_dict(mapping(name), dictionary=dictionary), frames))
    return work


def _ours(work: list[tuple[str, Any, Any]], dictionary: Any) -> dict[str, Any]:
    """Harmonise, validate and check every trial, timed by phase."""
    import pandas as pd

    from harmonise.checks.tables import check_table, validate_table
    from harmonise.checks.validation import validate_by
    from harmonise.mapping.engine import apply_mapping

    timings = {"engine": 0.0, "validation": 0.0, "integrity": 0.0}
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    results, problems = [], 0
    for name, m, (baseline, visit, event) in work:
        t0 = time.perf_counter()
        h = apply_mapping(baseline, m, dictionary, trial=name,
                          datasets={"visits": visit, "events": event})
        timings["engine"] += time.perf_counter() - t0
        problems += len(h.problems) + sum(len(x.problems) for x in h.tables.values())
        results.append(h)
    t0 = time.perf_counter()
    pooled = pd.concat([h.data for h in results], ignore_index=True)
    failures = sum(len(r.failures) for r in validate_by(pooled, dictionary, by="trial").values())
    long_tables = {}
    for table in ("visits", "events"):
        long_tables[table] = pd.concat([h.tables[table].data for h in results], ignore_index=True)
        checked = validate_table(long_tables[table], pooled, dictionary, table)
        failures += sum(len(r.failures) for r in checked.values())
    timings["validation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    failed_checks = 0
    for h in results:
        for table in ("visits", "events"):
            findings = check_table(h.tables[table].data, h.data, dictionary, table,
                                   trial=h.trial)
            failed_checks += sum(f.status == "failed" for f in findings)
    timings["integrity"] = time.perf_counter() - t0
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu_started,
            "timings": timings, "pooled": pooled, "long": long_tables, "problems": problems,
            "failures": failures, "failed_checks": failed_checks}


def _reference(work: list[tuple[str, Any, Any]]) -> tuple[float, float]:
    """pandas writing and reading the same raw tables as parquet: (wall, CPU) seconds."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()
        for name, _, frames in work:
            for label, frame in zip(("baseline", "visits", "events"), frames):
                path = Path(tmp) / f"{name}.{label}.parquet"
                frame.to_parquet(path, index=False)
                pd.read_parquet(path)
        return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    from harmonise.dictionary.spec import Dictionary

    args = _arguments()
    dictionary = Dictionary.from_dict(DICTIONARY)
    work = _generate(args, dictionary)
    n_rows = sum(len(b) + len(v) + len(e) for _, _, (b, v, e) in work)
    ours = _ours(work, dictionary)
    reference, reference_cpu = _reference(work)
    pooled, long_tables = ours["pooled"], ours["long"]
    severe = int((pooled["severe_event"] == 1).sum())
    with_weight = int(pooled["weight_1y"].notna().sum())
    print(f"\n{args.trials} trials, {len(pooled):,} participants, "
          f"{len(long_tables['visits']):,} visits, {len(long_tables['events']):,} events "
          f"({n_rows:,} delivered rows)")
    print(f"collected: {ours['problems']} mapping problems, {ours['failures']} validation "
          f"failures, {ours['failed_checks']} failed integrity checks; {severe:,} grade >= 3 "
          f"events, {with_weight:,} weights at 1 year")
    for name, seconds in ours["timings"].items():
        print(f"  {name:<11} {seconds:8.2f} s")
    print(f"ipdrepo harmonise (3 datasets, 2 long tables, cross-table rules) + validate + "
          f"integrity: {ours['wall']:.2f} s")
    print(f"pandas parquet write + read of the same raw tables (reference): {reference:.2f} s")
    print(f"ratio: {ours['wall'] / reference:.2f} (wall clock)")
    print(f"CPU time: ipdrepo {ours['cpu']:.2f} s, reference {reference_cpu:.2f} s, ratio "
          f"{ours['cpu'] / reference_cpu:.2f}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
