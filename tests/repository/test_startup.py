"""The command line imports nothing heavy until a command needs it (issue 16: start-up).

Each case runs ``ipdrepo`` in a fresh interpreter (``python -X importtime``, as a user starts
it) and checks the set of modules it imported when it finished: ``ipdrepo --help`` and every
``ipdrepo COMMAND --help`` load no data, database, plotting or versioning library, and the
simple store commands load the database layer only. Assertions are on modules, never on times
(timings are the job of tests/benchmarks/bench_cli.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from repository.cli import LAZY_COMMANDS, SUMMARIES

#: what no --help may import: data frames, arrays, the database, plots, statistics, versioning,
#: readers of delivery formats, the other packages' libraries
HEAVY = {"pandas", "numpy", "scipy", "pyarrow", "matplotlib", "sqlalchemy", "alembic", "dvc",
         "pandera", "statsmodels", "lifelines", "openpyxl", "pyreadstat", "python_calamine",
         "jinja2", "psycopg", "polars"}
#: what a simple store command may import on top of the command line: the database layer
STORE_ONLY = HEAVY - {"sqlalchemy"}

_PROBE = """
import sys
out = sys.argv[1]
try:
    from repository.cli import main
    main(sys.argv[2:])
except SystemExit:
    pass
finally:
    with open(out, "w") as fh:
        fh.write("\\n".join(sorted(sys.modules)))
"""


def imported(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages an ``ipdrepo ARGS`` run had imported when it finished."""
    out = tmp_path / "modules.txt"
    full = {**os.environ, **(env or {})}
    full.pop("IPDREPO_DATABASE_URL", None)  # the workspace's own SQLite store
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _PROBE, str(out), *args],
                          capture_output=True, text=True, timeout=300, env=full)
    assert out.exists(), done.stderr[-3000:]
    return {name.split(".")[0] for name in out.read_text().split()}


def test_root_help_imports_nothing_heavy(tmp_path: Path) -> None:
    assert not (heavy := imported(tmp_path, "--help") & HEAVY), heavy


@pytest.mark.parametrize("command", sorted(LAZY_COMMANDS))
def test_every_command_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    assert not (heavy := imported(tmp_path, command, "--help") & HEAVY), heavy


@pytest.mark.parametrize("command", [["status"], ["deliveries"], ["trial", "list"]])
def test_simple_store_commands_import_only_the_database_layer(tmp_path: Path, command: list[str]
                                                              ) -> None:
    from repository.workspace import init_workspace

    init_workspace(tmp_path / "ws", topic="gastric-adjuvant", actor="curator")
    env = {"IPDREPO_WORKSPACE": str(tmp_path / "ws"), "IPDREPO_USER": "curator"}
    modules = imported(tmp_path, *command, env=env)
    assert "sqlalchemy" in modules  # it did read the store (the probe ran the command)
    assert not modules & STORE_ONLY, modules & STORE_ONLY


def test_the_command_summaries_are_the_commands_own(tmp_path: Path) -> None:
    """``ipdrepo --help`` lists SUMMARIES without importing the commands: each must be the
    first paragraph of its command's help, and every lazy command must have one."""
    import importlib
    import inspect

    import click

    assert set(SUMMARIES) == set(LAZY_COMMANDS)
    for name, target in LAZY_COMMANDS.items():
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and not command.hidden
        first = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert " ".join(first.split()) == SUMMARIES[name], name
        for limit in (30, 45, 80, 200):
            stand_in = click.Command(name, help=SUMMARIES[name])
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit)
