"""The generated example topic that the ingest and harmonise benchmarks run on.

Both take ``--trials``, ``--participants`` and ``--seed``; the example is generated once per
combination and cached under ``.bench-cache/`` so repeated runs skip the generation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def example_arguments(description: str) -> argparse.Namespace:
    """The benchmark's command line: the size and seed of the example."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args([a for a in sys.argv[1:] if a != "--"])


def example_topic(args: argparse.Namespace) -> Path:
    """The folder of the example topic of that size (generated when not cached yet)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from repository.example import create

    cache = ROOT / ".bench-cache" / f"example-{args.trials}-{args.participants}-{args.seed}"
    if not (cache / "topic.yaml").exists():
        print(f"generating the example ({args.trials} trials, {args.participants} participants)"
              " ...", flush=True)
        started = time.perf_counter()
        create(cache, trials=args.trials, participants=args.participants, seed=args.seed,
               force=True)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    return cache


def single_file_trials(cache: Path) -> list[dict]:
    """The example's trials that deliver one file (the registry entries of topic.yaml); a trial
    delivering a package of several datasets (CHINOOK: baseline, visits, events) is left out,
    said so, and measured by bench_relational instead."""
    import yaml

    registry = yaml.safe_load((cache / "topic.yaml").read_text())["trials"]
    single = [t for t in registry if not t["delivery"].get("datasets")]
    for t in registry:
        if t["delivery"].get("datasets"):
            print(f"  {t['acronym']}: delivers several datasets (a package), not measured here "
                  "(see bench_relational)")
    return single
