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
#: the model areas (repository.models.*) a simple store command may build: topic, trials,
#: deliveries and participants, users, the audit trail (not queries, releases or accounts)
STORE_AREAS = {"repository.models.base", "repository.models.store", "repository.models.users",
               "repository.models.audit"}
#: budgets on the number of modules loaded (Python, site, click, SQLAlchemy's core and ORM and
#: ours), counted rather than timed so that a busy machine cannot fail them. When they were
#: set: `ipdrepo status` 400 (419 before the SQL dialects and the unused model areas were left
#: out), `ipdrepo --help` 122, the largest `ipdrepo COMMAND --help` 196 (analyse). Raise one
#: only for a module a command cannot start without, and say which.
STORE_BUDGET = 410
HELP_BUDGET = 130
COMMAND_HELP_BUDGET = 205

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


def loaded(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module an ``ipdrepo ARGS`` run had imported when it finished."""
    out = tmp_path / "modules.txt"
    full = {**os.environ, **(env or {})}
    full.pop("IPDREPO_DATABASE_URL", None)  # the workspace's own SQLite store
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _PROBE, str(out), *args],
                          capture_output=True, text=True, timeout=300, env=full)
    assert out.exists(), done.stderr[-3000:]
    return set(out.read_text().split())


def imported(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages an ``ipdrepo ARGS`` run had imported when it finished."""
    return {name.split(".")[0] for name in loaded(tmp_path, *args, env=env)}


def test_root_help_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "--help")
    assert not (heavy := {m.split(".")[0] for m in modules} & HEAVY), heavy
    assert len(modules) <= HELP_BUDGET, f"{len(modules)} modules: {sorted(modules)}"


@pytest.mark.parametrize("command", sorted(LAZY_COMMANDS))
def test_every_command_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    modules = loaded(tmp_path, command, "--help")
    assert not (heavy := {m.split(".")[0] for m in modules} & HEAVY), heavy
    assert len(modules) <= COMMAND_HELP_BUDGET, f"{len(modules)} modules: {sorted(modules)}"


@pytest.mark.parametrize("command", [["status"], ["deliveries"], ["trial", "list"]])
def test_simple_store_commands_import_only_the_database_layer(tmp_path: Path, command: list[str]
                                                              ) -> None:
    from repository.workspace import init_workspace

    init_workspace(tmp_path / "ws", topic="gastric-adjuvant", actor="curator")
    env = {"IPDREPO_WORKSPACE": str(tmp_path / "ws"), "IPDREPO_USER": "curator"}
    full = loaded(tmp_path, *command, env=env)
    modules = {name.split(".")[0] for name in full}
    assert "sqlalchemy" in modules  # it did read the store (the probe ran the command)
    assert not modules & STORE_ONLY, modules & STORE_ONLY
    # the workspace's SQLite store needs the SQLite dialect only, and three model areas
    assert not {m for m in full if m.startswith("sqlalchemy.dialects.postgresql")}
    areas = {m for m in full if m.startswith("repository.models.")}
    assert areas <= STORE_AREAS, areas - STORE_AREAS
    assert len(full) <= STORE_BUDGET, (f"{len(full)} modules (budget {STORE_BUDGET}): "
                                       f"{sorted(full)}")


def test_model_areas_load_on_first_use_and_load_all_loads_every_table() -> None:
    """``from repository.models import Trial`` builds the store's area only; ``load_all()``
    every area (what Alembic compares with the migrations) and the partial index."""
    probe = ("import sys\n"
             "from repository.models import Trial\n"
             "before = sorted(m for m in sys.modules if m.startswith('repository.models.'))\n"
             "from repository.models import load_all\n"
             "tables = sorted(load_all().tables)\n"
             "after = sorted(m for m in sys.modules if m.startswith('repository.models.'))\n"
             "print(before, tables, after, sep='\\n')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    before, tables, after = done.stdout.splitlines()
    assert before == str(["repository.models.base", "repository.models.store"])
    assert after == str(sorted(f"repository.models.{a}" for a in (
        "base", "store", "users", "audit", "queries", "releases", "accounts")))
    from repository.models import load_all

    assert tables == str(sorted(load_all().tables)) and len(load_all().tables) == 26


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
