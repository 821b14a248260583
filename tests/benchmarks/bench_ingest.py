"""Benchmark: ingest the 1,000,000-participant example (100 trials) vs reading it with pandas.

    python3 dev.py bench ingest                     # 100 trials, 1,000,000 participants
    python3 dev.py bench ingest -- --participants 100000 --trials 20

The reference is reading every delivery with pandas / pyarrow / pyreadstat alone (the natural
reader for each format), measured in the same run on the same files. ipdrepo's figure is the
whole ingest: hashing, reading, ID checks, the identifier gate, pseudonyms, storing the file and
registering participants in a SQLite store. The generated example is cached under
``.bench-cache/`` so repeated runs skip the generation.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyreadstat
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def reference_read(path: Path, delivery: dict) -> int:
    fmt = delivery["format"]
    if fmt == "csv":
        frame = pd.read_csv(path, sep=delivery.get("delimiter", ","),
                            encoding=delivery.get("encoding", "utf-8"), dtype=str,
                            keep_default_na=False)
    elif fmt == "xlsx":
        frame = pd.read_excel(path, sheet_name=delivery.get("sheet", 0))
    elif fmt == "sav":
        frame, _ = pyreadstat.read_sav(str(path))
    elif fmt == "dta":
        frame, _ = pyreadstat.read_dta(str(path))
    elif fmt == "xpt":
        frame = pd.read_sas(path, format="xport")
    elif fmt == "parquet":
        frame = pd.read_parquet(path)
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
    started = time.perf_counter()
    for t in registry:
        d = t["delivery"]
        t0 = time.perf_counter()
        reference_read(cache / d["file"], d)
        ref_by_format[d["format"]] += time.perf_counter() - t0
    reference = time.perf_counter() - started

    work = Path(tempfile.mkdtemp(prefix="ipdrepo-bench-"))
    try:
        init_workspace(work / "ws", topic="gastric-adjuvant", actor="bench")
        ours_by_format: dict[str, float] = defaultdict(float)
        with Store.open(load_settings(work / "ws", actor="bench", env={})) as store:
            with store.transaction() as session:
                topic = store.topic(session)
                for spec in load_registry_file(cache / "topic.yaml"):
                    add_trial(session, topic, spec, actor="bench")
            started = time.perf_counter()
            for t in registry:
                d = t["delivery"]
                options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
                t0 = time.perf_counter()
                try:
                    ingest(store, t["acronym"], cache / d["file"], format=d["format"],
                           id_column=d["id_column"], read_options=options)
                except IdentifierProblem:
                    ingest(store, t["acronym"], cache / d["file"], format=d["format"],
                           id_column=d["id_column"], read_options=options,
                           allow_id_problems="planted duplicate IDs")
                ours_by_format[d["format"]] += time.perf_counter() - t0
            ours = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'format':<10}{'pandas read (s)':>16}{'ipdrepo ingest (s)':>20}{'ratio':>8}")
    for fmt in sorted(ref_by_format):
        print(f"{fmt:<10}{ref_by_format[fmt]:>16.2f}{ours_by_format[fmt]:>20.2f}"
              f"{ours_by_format[fmt] / ref_by_format[fmt]:>8.2f}")
    print(f"{'all':<10}{reference:>16.2f}{ours:>20.2f}{ours / reference:>8.2f}")
    print(f"\nipdrepo ingest / pandas read = {ours / reference:.2f} "
          f"({total_rows / ours:,.0f} rows/s ingested)")


if __name__ == "__main__":
    main()
