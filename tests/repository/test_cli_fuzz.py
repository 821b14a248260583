"""Fuzz every numeric input of the ``ipdrepo`` CLI: awkward numbers end in ``error: ...``
(click's ``Error:`` for usage) and a documented exit code, never a traceback.

The test walks every command of :data:`repository.cli.cli` (through its groups) and finds
each option or argument of type INT, FLOAT, IntRange or FloatRange. Every one of them must
have an invocation in :data:`CASES` (``{v}`` is the fuzzed value, ``{new}`` a fresh
directory) or a reason in :data:`SKIPPED`, so a new numeric option cannot go unfuzzed.
Hypothesis (derandomized: the same examples every run; no example database) draws the
values - 0, -1, huge, NaN/inf for floats, text, empty - and runs each command, as the
workspace's curator, in a small workspace with one trial. Exit codes must be in
:data:`DOCUMENTED` (``repository.errors``: 1 means an unexpected exception).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from repository.cli import cli

from .test_cli import ipdrepo

#: the exit codes of repository.errors' docstring, except 1 (an unexpected exception)
DOCUMENTED = {0, 2, 3, 4, 5, 6, 7, 8}
NUMERIC = (click.types.IntParamType, click.types.FloatParamType)
INTS = ["0", "-1", "1", "99999999999999999999", "-99999999999999999999", "1.5", "abc", ""]
FLOATS = [*INTS, "nan", "inf", "-inf", "1e308", "-1e308"]
#: values that run a whole (valid) demo or example: minutes, not the point here
SLOW = {"0", "1", "99999999999999999999"}

#: command -> parameter -> argv with ``{v}`` for the fuzzed value
CASES: dict[str, dict[str, list[str]]] = {
    "audit log": {"limit": ["audit", "log", "--limit", "{v}"]},
    "demo": {"trials": ["demo", "{new}", "--trials", "{v}"],
             "participants": ["demo", "{new}", "--participants", "{v}"],
             "seed": ["demo", "{new}", "--seed", "{v}"]},
    "example create": {
        "trials": ["example", "create", "{new}", "--trials", "{v}", "--participants", "60"],
        "participants": ["example", "create", "{new}", "--trials", "1", "--participants", "{v}"],
        "seed": ["example", "create", "{new}", "--trials", "1", "--participants", "30",
                 "--seed", "{v}"]},
    "explain": {"row": ["explain", "GAST-01", "P1", "age", "--row", "{v}"]},
    "queries accept": {"query_ids": ["queries", "accept", "{v}"]},
    "queries answer": {"query_id": ["queries", "answer", "{v}", "--response", "other"]},
    "queries close": {"query_id": ["queries", "close", "{v}", "--reason", "done"]},
    "queries forward": {"query_id": ["queries", "forward", "{v}"]},
    "queries reask": {"query_id": ["queries", "reask", "{v}", "--comment", "look again"]},
    "queries reopen": {"query_id": ["queries", "reopen", "{v}", "--reason", "again"]},
    "queries show": {"query_id": ["queries", "show", "{v}"]},
    "release diff": {"limit": ["release", "diff", "1.0", "1.1", "--limit", "{v}"]},
    "request add": {
        name: ["request", "add", "--requestor", "A", "--institution", "U", "--purpose", "p",
               "--trials", "GAST-01", "--variables", "age", "--dua", "D-1", "--sensitive",
               "age", option, "{v}"]
        for name, option in (("k", "--k"), ("l_div", "--l"),
                             ("max_shift_days", "--max-shift-days"))},
    "token create": {"days": ["token", "create", "fuzz", "--expires", "{v}"]},
}
#: command -> why it is not fuzzed here
SKIPPED = {
    "serve": "starts a web server",
    "lab": "starts JupyterLab",
    "login": "signs in to a server over the network",
    "analyse km": "fuzzed with spoiled data by tests/analyses/test_cli_fuzz.py",
    "analyse one-stage": "fuzzed with spoiled data by tests/analyses/test_cli_fuzz.py",
    "analyse pool": "fuzzed with spoiled data by tests/analyses/test_cli_fuzz.py",
    "analyse two-stage": "fuzzed with spoiled data by tests/analyses/test_cli_fuzz.py",
}


def commands(group: click.Group, ctx: click.Context,
             prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from commands(command, click.Context(command, parent=ctx, info_name=name),
                                (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def numeric_parameters() -> dict[str, dict[str, click.Parameter]]:
    """command -> name -> its numeric parameters."""
    found: dict[str, dict[str, click.Parameter]] = {}
    for name, command in commands(cli, click.Context(cli, info_name="ipdrepo")):
        for p in command.params:
            if isinstance(p.type, NUMERIC) and p.name:
                found.setdefault(name, {})[p.name] = p
    return found


FOUND = numeric_parameters()
TARGETS = sorted((c, p) for c, params in FOUND.items() if c not in SKIPPED for p in params)


def test_every_numeric_input_is_fuzzed_or_skipped_with_a_reason() -> None:
    assert TARGETS, "no numeric inputs found: the walk is broken"
    missing = [f"{c} {p}" for c, p in TARGETS if p not in CASES.get(c, {})]
    assert not missing, f"add an invocation to CASES (or a reason to SKIPPED): {missing}"
    stale = [c for c in [*CASES, *SKIPPED] if c not in FOUND]
    assert not stale, f"no such command with numeric inputs any more: {stale}"
    # an option's value follows one of its own flags (else click refuses the flag, not it)
    wrong = [f"{c} {p}" for c, p in TARGETS if isinstance(FOUND[c][p], click.Option)
             and CASES[c][p][CASES[c][p].index("{v}") - 1] not in FOUND[c][p].opts]
    assert not wrong, f"the flag before {{v}} is not the option's: {wrong}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    assert ipdrepo("init", "ws", "--topic", "t1", cwd=root).exit_code == 0
    ws = root / "ws"
    r = ipdrepo("trial", "add", "GAST-01", "--arm", "1=Surgery:1:1", "--arm", "2=Chemo:1:1",
                cwd=ws)
    assert r.exit_code == 0, r.stderr
    return ws


COUNTER = itertools.count()


@pytest.mark.parametrize(("command", "parameter"), TARGETS, ids=[" ".join(t) for t in TARGETS])
def test_numeric_input(workspace: Path, command: str, parameter: str) -> None:
    is_float = isinstance(FOUND[command][parameter].type, click.types.FloatParamType)
    values = FLOATS if is_float else INTS
    if command == "demo":
        values = [v for v in values if v not in SLOW]

    drawn = st.floats().map(repr) if is_float else st.integers().map(str)

    @settings(derandomize=True, database=None, deadline=None, max_examples=len(values) + 5,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=st.sampled_from(values) if command == "demo" else st.sampled_from(values) | drawn)
    def check(value: str) -> None:
        new = str(workspace.parent / f"new{next(COUNTER)}")
        args = [a.replace("{v}", value).replace("{new}", new)
                for a in CASES[command][parameter]]
        # an unexpected exception propagates (catch_exceptions=False) and fails the test
        r = ipdrepo(*args, cwd=workspace)
        assert r.exit_code in DOCUMENTED, (args, r.exit_code, r.stderr)
        assert "Traceback" not in r.stderr
        if r.exit_code:
            lines = [x for x in r.stderr.splitlines() if x.startswith(("error:", "Error:"))]
            assert lines, (args, r.exit_code, r.stderr)

    for value in values:  # every awkward value, whatever Hypothesis draws besides
        check = example(value=value)(check)
    check()
