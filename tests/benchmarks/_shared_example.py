"""What the benchmarks on a generated example topic share (bench_example,
bench_mapping_engine): the repository on ``sys.path`` and their size options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def example_parser(doc: str, *, seed: int) -> argparse.ArgumentParser:
    """A parser with ``--trials`` (100), ``--participants`` (1,000,000) and ``--seed``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=seed)
    return parser
