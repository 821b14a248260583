"""Benchmark: harmonise and validate the 1,000,000-participant example vs pandas + parquet.

    python3 dev.py bench harmonise                  # 100 trials, 1,000,000 participants
    .venv/bin/python tests/benchmarks/bench_harmonise.py --trials 20 --participants 100000

For every trial of the example topic (deliveries read once beforehand, untimed: reading raw files
is measured by the ingest benchmark), ipdrepo's figure is the whole check of the harmonised data:
the mapping engine (every cell problem collected), Pandera validation compiled from the
dictionary (lazy; every failure collected, nothing truncated) and the trial-integrity checks.
The reference, measured in the same run on the same harmonised tables, is pandas writing them as
Parquet and reading them back; the two alternate over two rounds and are summed, so that the
machine's speed drifting during the run moves both alike. Goal (issue 16): ratio at most 2.5. The CPU time of both sides
(all threads) is printed too, with the load average: on a shared machine the wall-clock ratio
moves with other work, the CPU ratio much less. The generated example is
cached under ``.bench-cache/``.

Memory (issue 16): the peak resident set size of the process during harmonise + validate is
reported (the kernel's peak, VmHWM, reset before the step), with its growth over the resident
size before the step, against the size of the harmonised data in memory (goal: under 3x).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from example_cache import example_arguments, example_topic, single_file_trials

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _status(field: str) -> int:
    """A field of /proc/self/status (kB) in bytes; 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS (VmHWM) of this process; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _load() -> str:
    """The 1-minute load average (other work on the machine slows both sides)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def _work(args: argparse.Namespace) -> tuple[Any, list[tuple[Any, ...]]]:
    """The dictionary and, per trial of the (cached) example, its acronym, raw delivery, mapping
    and integrity context (deliveries read here, untimed)."""
    import yaml

    from harmonise import load_dictionary
    from harmonise.mapping.spec import Mapping
    from harmonise.pipeline.checking import integrity_context
    from repository.example.mappings import mapping_from_codebook
    from repository.formats import read_delivery
    from repository.models import Arm, Trial

    cache = example_topic(args)
    dictionary = load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")
    registry = single_file_trials(cache)
    print(f"reading {len(registry)} deliveries (untimed) ...", flush=True)
    work = []
    for t in registry:
        d = t["delivery"]
        options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
        # as harmonising reads a stored delivery (load_delivery): no missing-cell counts
        raw = read_delivery(cache / d["file"], format=d["format"], options=options,
                            count_missing=False)
        codebook = yaml.safe_load((cache / d["codebook"]).read_text())
        mapping = Mapping.from_dict(mapping_from_codebook(codebook), dictionary=dictionary)
        trial = Trial(acronym=t["acronym"], arms=[
            Arm(code=str(a["code"]), label=a["label"], ratio=a.get("ratio", 1),
                randomised_published=a.get("randomised_published"), harmonised=str(a["arm"]))
            for a in t["arms"]])
        work.append((t["acronym"], raw, mapping, integrity_context(dictionary, trial)))
    return dictionary, work


class _Ours(NamedTuple):
    harmonised: list[Any]
    timings: dict[str, float]
    counts: str  # what was collected
    wall: float
    cpu: float
    data_bytes: int
    rss_before: int
    peak: int  # VmHWM after validation (0: not measurable)


def _ours(dictionary: Any, work: list[tuple[Any, ...]]) -> _Ours:
    """Harmonise, validate and check every trial, timed step by step."""
    import pandas as pd

    from harmonise import apply_mapping
    from harmonise.checks.integrity import run_checks
    from harmonise.checks.validation import validate_by

    timings = {"engine": 0.0, "validation": 0.0, "integrity": 0.0}
    harmonised = []
    problems = integrity_failed = 0
    gc.collect()
    rss_before = _status("VmRSS")
    peak_reset = _reset_peak_rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    for acronym, raw, mapping, _ in work:
        t0 = time.perf_counter()
        result = apply_mapping(raw, mapping, dictionary, trial=acronym,
                               participant_ids=raw.frame[mapping.source.id_column])
        timings["engine"] += time.perf_counter() - t0
        harmonised.append(result.data)
        problems += len(result.problems)
    t0 = time.perf_counter()
    pooled = pd.concat(harmonised, ignore_index=True)
    checked = validate_by(pooled, dictionary, by="trial")  # one pass, per-trial report
    timings["validation"] = time.perf_counter() - t0
    failures = sum(len(r.failures) for r in checked.values())
    peak = _status("VmHWM") if peak_reset else 0
    t0 = time.perf_counter()
    for (_, _, _, context), frame in zip(work, harmonised):
        integrity_failed += sum(f.failed for f in run_checks(frame, context))
    timings["integrity"] = time.perf_counter() - t0
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    counts = (f"{problems} mapping problems, {failures} validation failures, "
              f"{integrity_failed} failed integrity checks")
    return _Ours(harmonised, timings, counts, wall, cpu,
                 int(pooled.memory_usage(deep=True).sum()), rss_before, peak)


def _reference(harmonised: list[Any]) -> tuple[float, float]:
    """Wall and CPU time of pandas writing each harmonised table as Parquet and reading it."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()
        for i, frame in enumerate(harmonised):
            path = Path(tmp) / f"{i}.parquet"
            frame.to_parquet(path, index=False)
            pd.read_parquet(path)
        return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    args = example_arguments(__doc__.splitlines()[0])
    dictionary, work = _work(args)
    rows = sum(raw.n_rows for _, raw, _, _ in work)
    ours = _ours(dictionary, work)
    reference, reference_cpu = _reference(ours.harmonised)
    # a second round, alternating: both sides summed over the two rounds, so that the machine
    # slowing down or speeding up during the run moves both alike (memory: the first round's)
    again = _ours(dictionary, work)
    reference2, reference_cpu2 = _reference(again.harmonised)
    ours = ours._replace(wall=ours.wall + again.wall, cpu=ours.cpu + again.cpu,
                         timings={k: v + again.timings[k] for k, v in ours.timings.items()})
    reference, reference_cpu = reference + reference2, reference_cpu + reference_cpu2

    print(f"\n{len(work)} trials, {rows:,} participants, {len(dictionary.variables)} variables")
    print(f"collected: {ours.counts}")
    for name, seconds in ours.timings.items():
        print(f"  {name:<11} {seconds:8.2f} s")
    print(f"ipdrepo harmonise + validate + integrity: {ours.wall:.2f} s (two rounds)")
    print(f"pandas parquet write + read (reference): {reference:.2f} s (two rounds)")
    print(f"ratio: {ours.wall / reference:.2f} (goal <= 2.5)")
    print(f"CPU time (all threads): ipdrepo {ours.cpu:.2f} s, reference {reference_cpu:.2f} s, "
          f"ratio {ours.cpu / reference_cpu:.2f}; load average {_load()}")
    if ours.peak:
        grown = ours.peak - ours.rss_before
        print(f"peak RSS during harmonise + validate: {ours.peak / 2**20:,.0f} MiB "
              f"({ours.rss_before / 2**20:,.0f} MiB before the step, +{grown / 2**20:,.0f} MiB); "
              f"harmonised data in memory {ours.data_bytes / 2**20:,.0f} MiB; growth / data = "
              f"{grown / ours.data_bytes:.2f} (goal < 3)")
    else:
        print("peak RSS: not measurable on this system (needs /proc/self/clear_refs)")


if __name__ == "__main__":
    main()
