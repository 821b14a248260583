"""Benchmark: generate the 1,000,000-participant example topic (100 trials).

    python3 dev.py bench example                     # 100 trials, 1,000,000 participants
    python3 dev.py bench example -- --participants 200000 --trials 20

Reference, measured in the same run: pandas writing the same true data (the ground-truth frame
the generator also writes, one row per participant, ~45 columns) once as CSV and once as
Parquet, i.e. the bare cost of putting that many values on disk. The generator's figure is
everything ``ipdrepo example create`` does: simulating, encoding each trial in its own coding,
planting problems, writing eight file formats, codebooks, truth, re-delivery and reject.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from _shared_example import example_parser


def main() -> None:
    args = example_parser(__doc__, seed=7).parse_args([a for a in sys.argv[1:] if a != "--"])

    from repository.example import create

    with tempfile.TemporaryDirectory(prefix="ipdrepo-bench-example-") as tmp:
        out = Path(tmp) / "topic"
        started = time.perf_counter()
        result = create(out, trials=args.trials, participants=args.participants, seed=args.seed)
        generate = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        formats = Counter(t.format for t in result.trials)

        truth = pd.read_parquet(out / "truth" / "participants.parquet")
        started = time.perf_counter()
        truth.to_csv(Path(tmp) / "reference.csv", index=False)
        truth.to_parquet(Path(tmp) / "reference.parquet", index=False)
        reference = time.perf_counter() - started

    print(f"example topic: {args.trials} trials, {args.participants:,} participants, "
          f"seed {args.seed}")
    print(f"  formats: {', '.join(f'{k} {v}' for k, v in sorted(formats.items()))}; "
          f"{size / 1e6:.0f} MB written")
    print(f"  ipdrepo example create : {generate:8.1f} s "
          f"({args.participants / generate:,.0f} participants/s)")
    print(f"  pandas to_csv+to_parquet of the truth (reference): {reference:8.1f} s")
    print(f"  ratio generate / reference: {generate / reference:.1f}x")


if __name__ == "__main__":
    main()
