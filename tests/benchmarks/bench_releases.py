"""Benchmark: releases, consumers, diffs and disclosure control at scale.

    .venv/bin/python tests/benchmarks/bench_releases.py [--rows 200000] [--trials 20]

On a synthetic topic dataset (``--rows`` participants, 30 variables of every dtype), each of
our operations is timed against the plain pandas/pyarrow work it cannot avoid, measured in the
same run:

1. ``build_release`` (validation, withdrawals, deterministic sort, parquet with fixed options,
   manifest) vs ``pyarrow.parquet.write_table`` of the same frame with the same options;
2. ``create_release`` end to end (build + git + ``dvc add`` + ``dvc push`` to a local remote +
   commit + tag + store row) vs ``build_release`` alone: the cost of git/DVC/store;
3. ``versions.load`` from a fresh clone with only the remote (DVC at the tag, sha256 check) vs
   ``pandas.read_parquet`` of the same file on local disk;
4. ``diff_frames`` of two releases (1 % rows removed, 1 % added, 0.5 % with one changed cell)
   vs the minimum in pandas: an inner merge on the key and a count of unequal cells column by
   column (no causes, no added/removed lists);
5. ``anonymise`` on three quasi-identifiers with k = 5 vs one pandas ``groupby().size()``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_frame(rows: int, trials: int, seed: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    trial = np.sort(rng.integers(0, trials, rows))
    frame = pd.DataFrame({
        "trial": pd.array([f"T{t:03d}" for t in trial], dtype="string"),
        "participant_id": pd.array([f"P{i:09d}" for i in rng.permutation(rows)],
                                   dtype="string"),
    })
    variables = [{"name": "trial", "type": "text", "role": "trial"},
                 {"name": "participant_id", "type": "id", "role": "id"},
                 {"name": "arm", "type": "categorical", "role": "treatment",
                  "categories": [{"code": 0, "label": "control"}, {"code": 1, "label": "x"}]}]
    frame["arm"] = pd.array(rng.integers(0, 2, rows), dtype="Int64")
    for i in range(8):
        name = f"int_{i}"
        values = pd.array(rng.integers(0, 100, rows), dtype="Int64")
        values[rng.random(rows) < 0.05] = pd.NA
        frame[name] = values
        variables.append({"name": name, "type": "integer"})
    for i in range(8):
        name = f"dec_{i}"
        values = pd.array(rng.normal(50, 10, rows).round(1), dtype="Float64")
        values[rng.random(rows) < 0.05] = pd.NA
        frame[name] = values
        variables.append({"name": name, "type": "decimal"})
    for i in range(5):
        name = f"date_{i}"
        frame[name] = (pd.Timestamp("2000-01-01")
                       + pd.to_timedelta(rng.integers(0, 7000, rows), unit="D"))
        variables.append({"name": name, "type": "date"})
    for i in range(4):
        name = f"cat_{i}"
        frame[name] = pd.array(rng.choice(["a", "b", "c", "d"], rows), dtype="string")
        variables.append({"name": name, "type": "text"})
    frame["flag"] = pd.array(rng.random(rows) < 0.3, dtype="boolean")
    variables.append({"name": "flag", "type": "boolean"})
    frame["sex"] = pd.array(rng.integers(1, 3, rows), dtype="Int64")
    frame["age"] = pd.array(rng.integers(30, 85, rows), dtype="Int64")
    frame["stage"] = pd.array(rng.integers(1, 5, rows), dtype="Int64")
    variables += [{"name": "sex", "type": "integer"}, {"name": "age", "type": "integer"},
                  {"name": "stage", "type": "integer"}]
    return frame, variables


def inputs_for(frame: pd.DataFrame, variables: list[dict[str, Any]], version: str) -> Any:
    from versions.inputs import ReleaseInputs, software_versions

    trials = sorted(frame["trial"].unique())
    return ReleaseInputs(
        topic="bench-topic", frame=frame,
        dictionary={"name": "bench-topic", "version": version, "sha256": "0" * 64,
                    "variables": variables, "outcomes": [], "changelog": []},
        deliveries=tuple({"trial": t, "delivery_id": i, "file_name": f"{t}.csv",
                          "sha256": f"{i:064x}", "rows": 0} for i, t in enumerate(trials)),
        mappings=tuple({"trial": t, "path": f"{t}.yaml", "sha256": f"{i:064x}"}
                       for i, t in enumerate(trials)),
        checks={}, software=software_versions())


def bench_diff(built: Any, seed: int, rows: list[tuple[str, float, float, str]]) -> Any:
    """Time diff_frames on the release with 1% of rows dropped, 1% added and 0.5% of one
    column changed, against pandas' merge-and-compare; returns the diff."""
    from versions.diff import diff_frames

    rng = np.random.default_rng(seed + 1)
    old = built.frame
    n = len(old)
    drop = rng.choice(n, n // 100, replace=False)
    new = old.drop(index=drop).reset_index(drop=True)
    added = old.sample(n // 100, random_state=1).assign(
        participant_id=lambda f: "N" + f["participant_id"].str[1:])
    new = pd.concat([new, added], ignore_index=True)
    changed = rng.choice(len(new) - len(added), n // 200, replace=False)
    col = new.columns.get_loc("int_0")
    new.iloc[changed, col] = new.iloc[changed, col].fillna(0) + 1
    manifest = dict(built.manifest)
    t_diff, d = timed(lambda: diff_frames(old, new, old_manifest=manifest,
                                          new_manifest=manifest))

    def pandas_minimum() -> int:
        keys = ["trial", "participant_id"]
        m = old.merge(new, on=keys, how="inner", suffixes=("_a", "_b"))
        total = 0
        for c in old.columns.drop(keys):
            x, y = m[f"{c}_a"], m[f"{c}_b"]
            total += int((~((x == y).fillna(False) | (x.isna() & y.isna()))).sum())
        return total

    t_pd, cells = timed(pandas_minimum)
    assert cells == len(d.cells) == n // 200, (cells, len(d.cells))
    rows.append(("diff_frames", t_diff, t_pd, "pandas: merge + count unequal cells"))
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    from repository.settings import load_settings
    from repository.store import Store
    from repository.workspace import init_workspace
    from versions import consumers
    from versions.anonymity import anonymise
    from versions.dataset import PARQUET_OPTIONS
    from versions.releases import build_release, create_release

    frame, variables = make_frame(args.rows, args.trials, args.seed)
    inputs = inputs_for(frame, variables, "1.0")
    print(f"{args.rows:,} rows x {frame.shape[1]} columns, {args.trials} trials")
    rows: list[tuple[str, float, float, str]] = []

    # 1. build vs pyarrow write
    t_build, built = timed(lambda: build_release(inputs, version="1.0", created_by="bench"))

    def write_plain() -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink,
                       **PARQUET_OPTIONS)
        return sink.getvalue().to_pybytes()

    t_write, _ = timed(write_plain)
    rows.append(("build_release", t_build, t_write, "pyarrow write_table, same options"))

    with tempfile.TemporaryDirectory(prefix="bench-releases-") as tmp:
        base = Path(tmp)
        init_workspace(base / "ws", topic="bench-topic", actor="bench")
        store = Store.open(load_settings(base / "ws", actor="bench", env={}))
        # 2. end to end (first release of a new repository pays its creation; time the second)
        create_release(store, inputs_for(frame.head(1000), variables, "0.1"), version="0.1")
        t0 = time.perf_counter()
        result = create_release(store, inputs, version="1.0")
        t_create = time.perf_counter() - t0
        rows.append(("create_release", t_create, t_build, "build_release alone"))

        # 3. fresh clone, cache gone, read from the remote
        repo_root = store.settings.workspace / "releases"
        clone = base / "clone"
        subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
        shutil.rmtree(repo_root / ".dvc" / "cache")
        local = repo_root / result.path / "data.parquet"
        t_load, loaded = timed(lambda: consumers.load("bench-topic", "1.0", repo=str(clone)),
                               repeat=2)
        t_read, _ = timed(lambda: pd.read_parquet(local))
        assert len(loaded) == args.rows
        rows.append(("versions.load (fresh clone)", t_load, t_read,
                     "pandas.read_parquet, local file"))
        store.close()

    # 4. diff
    d = bench_diff(built, args.seed, rows)
    old = built.frame

    # 5. anonymise
    t_anon, (_, report) = timed(lambda: anonymise(old, quasi_identifiers=["sex", "age", "stage"],
                                                  k=5))
    t_group, _ = timed(lambda: old.groupby(["sex", "age", "stage"], dropna=False).size())
    rows.append(("anonymise k=5 (3 QIs)", t_anon, t_group, "pandas groupby().size()"))

    print(f"\n{'operation':<30}{'ours (s)':>10}{'ref (s)':>10}{'ratio':>8}  reference")
    for name, ours, ref, what in rows:
        print(f"{name:<30}{ours:>10.3f}{ref:>10.3f}{ours / ref:>8.1f}  {what}")
    print(f"\ndiff: {len(d.cells)} changed cells, {len(d.added)} added, {len(d.removed)} "
          f"removed; anonymise suppressed {report.suppressed} records")


if __name__ == "__main__":
    main()
