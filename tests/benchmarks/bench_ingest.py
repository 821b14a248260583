"""Benchmark: ingest the 1,000,000-participant example (100 trials) vs the best reader per format.

    python3 dev.py bench ingest                     # 100 trials, 1,000,000 participants
    python3 dev.py bench ingest -- --participants 100000 --trials 20

The reference is reading every delivery into a pandas DataFrame with the fastest reader for its
format alone, measured in the same run on the same files: pyarrow for CSV and Parquet,
pyreadstat for SAS, Stata and SPSS, python-calamine for Excel. ipdrepo's figure is the whole
ingest: hashing, reading, ID checks, the identifier gate, pseudonyms, storing the file and
registering participants in a SQLite store. Goal (issue 16): every format within 2x of its
reader (the CPU time of both, all threads, is printed too: on a shared machine it moves less
with other work than the wall clock). The generated example is cached under ``.bench-cache/`` so repeated runs skip the
generation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyreadstat
import yaml
from python_calamine import CalamineWorkbook

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


#: format -> the reader the reference uses
READERS = {"csv": "pyarrow", "parquet": "pyarrow", "xlsx": "calamine", "sav": "pyreadstat",
           "zsav": "pyreadstat", "dta": "pyreadstat", "xpt": "pyreadstat",
           "sas7bdat": "pyreadstat"}


def reference_read(path: Path, delivery: dict) -> int:
    fmt = delivery["format"]
    if fmt == "csv":
        frame = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(encoding=delivery.get("encoding", "utf-8")),
            parse_options=pacsv.ParseOptions(delimiter=delivery.get("delimiter", ","))
        ).to_pandas()
    elif fmt == "xlsx":
        book = CalamineWorkbook.from_path(str(path))
        sheet = delivery.get("sheet") or book.sheet_names[0]
        rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=True)
        frame = pd.DataFrame(rows[1:], columns=rows[0])
    elif fmt in ("sav", "zsav"):
        frame, _ = pyreadstat.read_sav(str(path))
    elif fmt == "dta":
        frame, _ = pyreadstat.read_dta(str(path))
    elif fmt == "xpt":
        frame, _ = pyreadstat.read_xport(str(path))
    elif fmt == "sas7bdat":
        frame, _ = pyreadstat.read_sas7bdat(str(path))
    elif fmt == "parquet":
        frame = pq.read_table(path).to_pandas()
    else:
        raise ValueError(fmt)
    return len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args([a for a in sys.argv[1:] if a != "--"])

    from repository.deliveries import ingest
    from repository.errors import IdentifierProblem
    from repository.example import create
    from repository.settings import load_settings
    from repository.store import Store
    from repository.trials import add_trial, load_registry_file
    from repository.workspace import init_workspace

    cache = ROOT / ".bench-cache" / f"example-{args.trials}-{args.participants}-{args.seed}"
    if not (cache / "topic.yaml").exists():
        print(f"generating the example ({args.trials} trials, {args.participants} participants)"
              " ...", flush=True)
        started = time.perf_counter()
        create(cache, trials=args.trials, participants=args.participants, seed=args.seed,
               force=True)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    registry = yaml.safe_load((cache / "topic.yaml").read_text())["trials"]
    total_bytes = sum((cache / t["delivery"]["file"]).stat().st_size for t in registry)
    total_rows = sum(t["delivery"]["rows"] for t in registry)
    print(f"{len(registry)} deliveries, {total_rows:,} rows, {total_bytes / 1e6:.0f} MB")

    ref_by_format: dict[str, float] = defaultdict(float)
    ref_cpu: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for t in registry:
        d = t["delivery"]
        t0, c0 = time.perf_counter(), time.process_time()
        reference_read(cache / d["file"], d)
        ref_by_format[d["format"]] += time.perf_counter() - t0
        ref_cpu[d["format"]] += time.process_time() - c0
    reference = time.perf_counter() - started

    work = Path(tempfile.mkdtemp(prefix="ipdrepo-bench-"))
    try:
        init_workspace(work / "ws", topic="gastric-adjuvant", actor="bench")
        ours_by_format: dict[str, float] = defaultdict(float)
        ours_cpu: dict[str, float] = defaultdict(float)
        stages: dict[str, float] = defaultdict(float)
        with Store.open(load_settings(work / "ws", actor="bench", env={})) as store:
            with store.transaction() as session:
                topic = store.topic(session)
                for spec in load_registry_file(cache / "topic.yaml"):
                    add_trial(session, topic, spec, actor="bench")
            started = time.perf_counter()
            for t in registry:
                d = t["delivery"]
                options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
                t0, c0 = time.perf_counter(), time.process_time()
                clock = _StageClock(stages)
                try:
                    ingest(store, t["acronym"], cache / d["file"], format=d["format"],
                           id_column=d["id_column"], read_options=options, on_stage=clock)
                except IdentifierProblem:
                    clock.stop()
                    clock = _StageClock(stages)
                    ingest(store, t["acronym"], cache / d["file"], format=d["format"],
                           id_column=d["id_column"], read_options=options,
                           allow_id_problems="planted duplicate IDs", on_stage=clock)
                clock.stop()
                ours_by_format[d["format"]] += time.perf_counter() - t0
                ours_cpu[d["format"]] += time.process_time() - c0
            ours = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'format':<10}{'reader':<12}{'reader (s)':>11}{'ipdrepo ingest (s)':>20}"
          f"{'ratio':>8}  goal <= 2")
    for fmt in sorted(ref_by_format):
        ratio = ours_by_format[fmt] / ref_by_format[fmt]
        print(f"{fmt:<10}{READERS[fmt]:<12}{ref_by_format[fmt]:>11.2f}"
              f"{ours_by_format[fmt]:>20.2f}{ratio:>8.2f}  {'ok' if ratio <= 2 else 'OVER'}")
    print(f"{'all':<22}{reference:>11.2f}{ours:>20.2f}{ours / reference:>8.2f}")
    print("\nCPU time (all threads), less moved by other work on the machine (load average "
          f"{_load()}):")
    for fmt in sorted(ref_cpu):
        print(f"{fmt:<10}{READERS[fmt]:<12}{ref_cpu[fmt]:>11.2f}{ours_cpu[fmt]:>20.2f}"
              f"{ours_cpu[fmt] / ref_cpu[fmt]:>8.2f}")
    print("\nipdrepo ingest by stage (s): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in stages.items()))
    print(f"ipdrepo ingest / best readers = {ours / reference:.2f} "
          f"({total_rows / ours:,.0f} rows/s ingested)")


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


class _StageClock:
    """Adds the time of each ingest stage (``on_stage`` callbacks) to ``totals``."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals
        self.current: str | None = None
        self.since = time.perf_counter()

    def __call__(self, stage: str) -> None:
        self.stop()
        self.current = stage

    def stop(self) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.totals[self.current] += now - self.since
        self.current, self.since = None, now


if __name__ == "__main__":
    main()
