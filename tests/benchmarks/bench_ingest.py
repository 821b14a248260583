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

import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyreadstat
from example_cache import example_arguments, example_topic, single_file_trials
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


Seconds = dict[str, float]

#: format -> stage -> CPU seconds, filled by _StageClock
FORMAT_STAGES: defaultdict[str, Seconds] = defaultdict(lambda: defaultdict(float))


def main() -> None:
    args = example_arguments(__doc__.splitlines()[0])
    cache = example_topic(args)
    registry = single_file_trials(cache)
    total_bytes = sum((cache / t["delivery"]["file"]).stat().st_size for t in registry)
    total_rows = sum(t["delivery"]["rows"] for t in registry)
    print(f"{len(registry)} deliveries, {total_rows:,} rows, {total_bytes / 1e6:.0f} MB")
    ref_wall, ref_cpu, reference = _references(cache, registry)
    ours_wall, ours_cpu, stages, ours = _ingest_all(cache, registry)
    print(f"\n{'format':<10}{'reader':<12}{'reader (s)':>11}{'ipdrepo ingest (s)':>20}"
          f"{'ratio':>8}  goal <= 2")
    for fmt in sorted(ref_wall):
        ratio = ours_wall[fmt] / ref_wall[fmt]
        print(f"{fmt:<10}{READERS[fmt]:<12}{ref_wall[fmt]:>11.2f}"
              f"{ours_wall[fmt]:>20.2f}{ratio:>8.2f}  {'ok' if ratio <= 2 else 'OVER'}")
    print(f"{'all':<22}{reference:>11.2f}{ours:>20.2f}{ours / reference:>8.2f}")
    print("\nCPU time (all threads), less moved by other work on the machine (load average "
          f"{_load()}):")
    for fmt in sorted(ref_cpu):
        print(f"{fmt:<10}{READERS[fmt]:<12}{ref_cpu[fmt]:>11.2f}{ours_cpu[fmt]:>20.2f}"
              f"{ours_cpu[fmt] / ref_cpu[fmt]:>8.2f}")
    print("\nipdrepo ingest by stage (s): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in stages.items()
        if not name.startswith("cpu ")))
    print("  CPU: " + ", ".join(f"{name[4:]} {seconds:.2f}" for name, seconds in stages.items()
                                if name.startswith("cpu ")))
    print("\nCPU per format and stage (s), the reader's CPU in brackets:")
    for fmt in sorted(ref_cpu):
        print(f"  {fmt:<8}({ref_cpu[fmt]:.2f}) " + ", ".join(
            f"{name} {seconds:.2f}" for name, seconds in FORMAT_STAGES[fmt].items()))
    print(f"ipdrepo ingest / best readers = {ours / reference:.2f} "
          f"({total_rows / ours:,.0f} rows/s ingested)")


def _references(cache: Path, registry: list[dict]) -> tuple[Seconds, Seconds, float]:
    """Wall and CPU seconds per format of the best readers, and the wall total."""
    wall: Seconds = defaultdict(float)
    cpu: Seconds = defaultdict(float)
    started = time.perf_counter()
    for t in registry:
        d = t["delivery"]
        t0, c0 = time.perf_counter(), time.process_time()
        reference_read(cache / d["file"], d)
        wall[d["format"]] += time.perf_counter() - t0
        cpu[d["format"]] += time.process_time() - c0
    return wall, cpu, time.perf_counter() - started


def _ingest_all(cache: Path, registry: list[dict]) -> tuple[Seconds, Seconds, Seconds, float]:
    """Wall and CPU seconds per format of ipdrepo's ingest into a new SQLite store, seconds
    per stage, and the wall total."""
    from repository.settings import load_settings
    from repository.store import Store
    from repository.trials import add_trial, load_registry_file
    from repository.workspace import init_workspace

    wall: Seconds = defaultdict(float)
    cpu: Seconds = defaultdict(float)
    stages: Seconds = defaultdict(float)
    work = Path(tempfile.mkdtemp(prefix="ipdrepo-bench-"))
    try:
        init_workspace(work / "ws", topic="gastric-adjuvant", actor="bench")
        with Store.open(load_settings(work / "ws", actor="bench", env={})) as store:
            with store.transaction() as session:
                topic = store.topic(session)
                for spec in load_registry_file(cache / "topic.yaml"):
                    add_trial(session, topic, spec, actor="bench")
            started = time.perf_counter()
            for t in registry:
                d = t["delivery"]
                t0, c0 = time.perf_counter(), time.process_time()
                _ingest_one(store, cache, t, stages)
                wall[d["format"]] += time.perf_counter() - t0
                cpu[d["format"]] += time.process_time() - c0
            return wall, cpu, stages, time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ingest_one(store: Any, cache: Path, trial: dict, stages: Seconds) -> None:
    """Ingest a trial's delivery (again accepting planted duplicate IDs when refused)."""
    from repository.deliveries import ingest
    from repository.errors import IdentifierProblem

    d = trial["delivery"]
    options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
    clock = _StageClock(stages, FORMAT_STAGES[d["format"]])
    try:
        ingest(store, trial["acronym"], cache / d["file"], format=d["format"],
               id_column=d["id_column"], read_options=options, on_stage=clock)
    except IdentifierProblem:
        clock.stop()
        clock = _StageClock(stages, FORMAT_STAGES[d["format"]])
        ingest(store, trial["acronym"], cache / d["file"], format=d["format"],
               id_column=d["id_column"], read_options=options,
               allow_id_problems="planted duplicate IDs", on_stage=clock)
    clock.stop()


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


class _StageClock:
    """Adds the wall time of each ingest stage (``on_stage`` callbacks) to ``totals``, its CPU
    time to ``totals["cpu " + stage]`` and to ``format_cpu[stage]``."""

    def __init__(self, totals: dict[str, float], format_cpu: dict[str, float]) -> None:
        self.totals = totals
        self.format_cpu = format_cpu
        self.current: str | None = None
        self.since = time.perf_counter()
        self.cpu_since = time.process_time()

    def __call__(self, stage: str) -> None:
        self.stop()
        self.current = stage

    def stop(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.current is not None:
            self.totals[self.current] += now - self.since
            self.totals["cpu " + self.current] += cpu - self.cpu_since
            self.format_cpu[self.current] += cpu - self.cpu_since
        self.current, self.since, self.cpu_since = None, now, cpu


if __name__ == "__main__":
    main()
