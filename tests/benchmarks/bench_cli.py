"""Benchmark: how long the ``ipdrepo`` command line makes people wait.

    python3 dev.py bench cli
    .venv/bin/python tests/benchmarks/bench_cli.py --trials 8 --participants 3000 --runs 5

Each command is run as a new process (as a user runs it), once untimed and then ``--runs``
times; the best time is reported (the least disturbed by other work on the machine). The
untimed run writes the bytecode of ipdrepo's modules (``__pycache__``), as pip does when it
installs a package: ``PYTHONDONTWRITEBYTECODE`` is removed from the commands' environment, or
each run would compile every module of ours from source again (~0.1 s). References measured in
the same run: the Python interpreter starting and doing nothing (``python -c pass``, the floor
of any Python command line), the same interpreter importing SQLAlchemy's ORM (the floor of any
command that reads the store), importing it with every model of ipdrepo
(``repository.models.load_all()``; a command builds only the model areas it uses) and
``git --help``. ipdrepo's figures are ``--help`` of the root group and
of every top-level command, simple store commands (``status``, ``deliveries``, ``trial list``)
on a workspace holding the example topic (ingested; generated once under ``.bench-cache/``), and
``report`` (validate every trial, write the HTML reports; each trial's harmonised run comes from
the workspace's run cache, which the untimed run fills, as a curator's second report finds it)
and ``report`` with the run cache emptied before each run (harmonise every trial too: the first
report, or one after every input changed). Goals (issue 16):
``--help`` under 0.3 s, simple store commands under 0.5 s, ``report`` under 2 s. The least CPU
time (user + system) of each command's runs is printed beside (a child's peak RSS is not: the
kernel counts the forking parent's memory in it).
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
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
IPDREPO = str(BIN / "ipdrepo")


class Timing(NamedTuple):
    wall: float  # the shortest wall time of the runs, s
    cpu: float  # the least CPU time (user + system) of the runs, s


def best_of(cmd: list[str], runs: int, env: dict[str, str]) -> Timing:
    """The shortest wall time of ``runs`` runs of ``cmd`` (which must succeed), with the least
    CPU time of the process."""
    walls, cpus = [], []
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(runs):
        with tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - started)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): "
                                 f"{err.read().decode(errors='replace')}")
        cpus.append(usage.ru_utime + usage.ru_stime)
    return Timing(min(walls), min(cpus))


def _workspace(trials: int, participants: int, seed: int) -> Path:
    """A workspace with the example topic's trials registered and deliveries ingested."""
    from repository.cli.example_pipeline import ingest_stage
    from repository.example import create

    example = ROOT / ".bench-cache" / f"example-{trials}-{participants}-{seed}"
    if not (example / "topic.yaml").exists():
        create(example, trials=trials, participants=participants, seed=seed, force=True)
    from repository.db import SCHEMA_HEAD

    # the schema revision is in the name: a workspace made before a migration is not re-used
    out = ROOT / ".bench-cache" / f"cli-workspace-{trials}-{participants}-{seed}-{SCHEMA_HEAD}"
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
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    floor = best_of([sys.executable, "-c", "pass"], args.runs, env)
    orm = best_of([sys.executable, "-c", "import sqlalchemy.orm"], args.runs, env)
    models = best_of([sys.executable, "-c", "import repository.models as m; m.load_all()"],
                     args.runs, env)
    git = best_of(["git", "--help"], args.runs, env) if shutil.which("git") else None
    print(f"references: python -c pass {floor.wall:.3f} s; import sqlalchemy.orm {orm.wall:.3f} s "
          f"(CPU {orm.cpu:.3f} s); SQLAlchemy ORM + every model {models.wall:.3f} s (CPU "
          f"{models.cpu:.3f} s)" + (f"; git --help {git.wall:.3f} s" if git is not None else ""))

    rows: list[tuple[str, Timing, float]] = []
    rows.append(("ipdrepo --help", best_of([IPDREPO, "--help"], args.runs, env), 0.3))
    group_help = {name: best_of([IPDREPO, name, "--help"], args.runs, env)
                  for name in sorted(LAZY_COMMANDS)}
    slowest = max(group_help, key=lambda n: group_help[n].wall)
    rows.append((f"ipdrepo <command> --help (slowest: {slowest})", group_help[slowest], 0.3))
    rows.append(("ipdrepo <command> --help (median)",
                 sorted(group_help.values())[len(group_help) // 2], 0.3))
    for cmd in (["status"], ["deliveries"], ["trial", "list"]):
        rows.append((f"ipdrepo {' '.join(cmd)}", best_of([IPDREPO, *cmd], args.runs, env), 0.5))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("ipdrepo report", best_of([IPDREPO, "report", "--output", tmp],
                                               max(1, min(args.runs, 2)), env), 2.0))
        cold = f"rm -rf '{workspace / '.cache' / 'runs'}' && exec '{IPDREPO}' report --output '{tmp}'"
        rows.append(("ipdrepo report (no cached runs: harmonises all)",
                     best_of(["sh", "-c", cold], max(1, min(args.runs, 2)), env), 2.0))

    print(f"\n{'command':<52}{'time (s)':>9}{'/ python':>10}{'goal (s)':>10}"
          f"{'CPU (s)':>10}")
    for name, t, goal in rows:
        print(f"{name:<52}{t.wall:>9.3f}{t.wall / floor.wall:>10.1f}{goal:>10.1f}  "
              f"{'ok  ' if t.wall < goal else 'OVER'}{t.cpu:>8.3f}")
    print("\nevery <command> --help (s): " + ", ".join(
        f"{name} {t.wall:.2f}" for name, t in group_help.items()))
    print(f"load average {_load()} (CPU time, user + system, moves less with other work on the "
          "machine than the wall clock)")


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"

if __name__ == "__main__":
    main()
