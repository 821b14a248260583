"""Benchmark: how long the ``ipdrepo`` command line makes people wait.

    python3 dev.py bench cli
    .venv/bin/python tests/benchmarks/bench_cli.py --trials 8 --participants 3000 --runs 5

Each command is run as a new process (as a user runs it), ``--runs`` times; the best time is
reported (the least disturbed by other work on the machine). References measured in the same
run: the Python interpreter starting and doing nothing (``python -c pass``, the floor of any
Python command line), the same interpreter importing SQLAlchemy's ORM with ipdrepo's models
(the floor of any command that reads the store) and ``git --help``. ipdrepo's figures are ``--help`` of the root group and
of every top-level command, simple store commands (``status``, ``deliveries``, ``trial list``)
on a workspace holding the example topic (ingested; generated once under ``.bench-cache/``), and
``report`` (harmonise and validate every trial, write the HTML reports). Goals (issue 16):
``--help`` under 0.3 s, simple store commands under 0.5 s, ``report`` under 2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
IPDREPO = str(BIN / "ipdrepo")


def best_of(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    """The shortest wall time of ``runs`` runs of ``cmd`` (which must succeed)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
        best = min(best, elapsed)
    return best


def _workspace(trials: int, participants: int, seed: int) -> Path:
    """A workspace with the example topic's trials registered and deliveries ingested."""
    from repository.cli.example_pipeline import ingest_stage
    from repository.example import create

    example = ROOT / ".bench-cache" / f"example-{trials}-{participants}-{seed}"
    if not (example / "topic.yaml").exists():
        create(example, trials=trials, participants=participants, seed=seed, force=True)
    out = ROOT / ".bench-cache" / f"cli-workspace-{trials}-{participants}-{seed}"
    if not (out / "workspace" / "ipdrepo.toml").exists():
        print("ingesting the example into a workspace (once) ...", flush=True)
        ingest_stage(example, out)
    return out / "workspace"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--participants", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args([a for a in sys.argv[1:] if a != "--"])

    from repository.cli import LAZY_COMMANDS
    from repository.cli.example_pipeline import ACTOR

    workspace = _workspace(args.trials, args.participants, args.seed)
    env = dict(os.environ, IPDREPO_USER=ACTOR, IPDREPO_WORKSPACE=str(workspace))
    env.pop("IPDREPO_DATABASE_URL", None)

    floor = best_of([sys.executable, "-c", "pass"], args.runs, env)
    orm = best_of([sys.executable, "-c", "import repository.models"], args.runs, env)
    git = best_of(["git", "--help"], args.runs, env) if shutil.which("git") else None
    print(f"references: python -c pass {floor:.3f} s; python -c 'import repository.models' "
          f"(SQLAlchemy ORM + models) {orm:.3f} s"
          + (f"; git --help {git:.3f} s" if git is not None else ""))

    rows: list[tuple[str, float, float]] = []
    root_help = best_of([IPDREPO, "--help"], args.runs, env)
    rows.append(("ipdrepo --help", root_help, 0.3))
    group_help = {name: best_of([IPDREPO, name, "--help"], args.runs, env)
                  for name in sorted(LAZY_COMMANDS)}
    slowest = max(group_help, key=lambda n: group_help[n])
    rows.append((f"ipdrepo <command> --help (slowest: {slowest})", group_help[slowest], 0.3))
    rows.append(("ipdrepo <command> --help (median)",
                 sorted(group_help.values())[len(group_help) // 2], 0.3))
    for cmd in (["status"], ["deliveries"], ["trial", "list"]):
        rows.append((f"ipdrepo {' '.join(cmd)}", best_of([IPDREPO, *cmd], args.runs, env), 0.5))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("ipdrepo report", best_of([IPDREPO, "report", "--output", tmp],
                                               max(1, min(args.runs, 2)), env), 2.0))

    print(f"\n{'command':<52}{'time (s)':>9}{'/ python':>10}{'goal (s)':>10}")
    for name, seconds, goal in rows:
        print(f"{name:<52}{seconds:>9.3f}{seconds / floor:>10.1f}{goal:>10.1f}  "
              f"{'ok' if seconds < goal else 'OVER'}")
    print("\nevery <command> --help (s): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in group_help.items()))


if __name__ == "__main__":
    main()
