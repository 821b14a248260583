"""The reason registries hold: every ``reason=`` an error is raised with is a registry member.

repository, harmonise and versions each keep a :class:`enum.StrEnum` of the reasons their
errors carry (``repository.reasons``, ``harmonise.values.reasons``, ``versions.reasons``);
analyses keeps its own (``analyses.errors.Reason``). Read with :mod:`ast`, the four packages
must pass no string literal or f-string as ``reason=`` (a free word a program cannot rely
on), every member must be raised somewhere (no dead reasons), and no value may be defined
in two registries (a word shared between packages is the one member, imported).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from analyses.errors import Reason as AnalysesReason
from harmonise.values.reasons import Reason as HarmoniseReason
from repository.reasons import Reason as RepositoryReason
from versions.reasons import Reason as VersionsReason

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("repository", "harmonise", "versions", "analyses")
#: registry module -> its enum
REGISTRIES: dict[str, type[StrEnum]] = {
    "repository.reasons": RepositoryReason,
    "harmonise.values.reasons": HarmoniseReason,
    "versions.reasons": VersionsReason,
    "analyses.errors": AnalysesReason,
}
#: callees whose ``reason`` is a sentence for people, not an error's registry word
FREE_TEXT = {
    "IdentifierFinding": "the pseudonymisation gate's finding: why a column looks identifying",
}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def free_reasons(trees: Iterator[tuple[Path, ast.Module]]) -> list[str]:
    found = []
    for path, tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or callee(node) in FREE_TEXT:
                continue
            for kw in node.keywords:
                if kw.arg == "reason" and isinstance(kw.value, (ast.Constant, ast.JoinedStr)):
                    found.append(f"{path}:{node.lineno}: "
                                 f"reason={ast.unparse(kw.value)}")
    return found


def used_members() -> set[tuple[str, str]]:
    """(registry module, member name) for every ``Name.MEMBER`` whose name was imported from
    a registry module (or is the registry itself, in analyses.errors)."""
    used = set()
    for path, tree in sources():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names = {"Reason": module} if module in REGISTRIES else {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in REGISTRIES:
                names.update({a.asname or a.name: node.module for a in node.names
                              if a.name == "Reason"})
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in names):
                used.add((names[node.value.id], node.attr))
    return used


def test_no_free_reason_strings() -> None:
    found = free_reasons(sources())
    assert not found, ("give reason= a member of the package's registry (repository.reasons, "
                       "harmonise.values.reasons, versions.reasons, analyses.errors), "
                       "adding one with a comment if none fits:\n" + "\n".join(found))


@pytest.mark.parametrize("module", sorted(REGISTRIES))
def test_every_reason_is_used(module: str) -> None:
    used = used_members()
    dead = [m.name for m in REGISTRIES[module] if (module, m.name) not in used]
    assert not dead, f"{module}: reasons no error is raised with: {dead}; remove them"


def test_reason_values_are_unique_across_registries() -> None:
    counts = Counter(m.value for registry in REGISTRIES.values() for m in registry)
    twice = sorted(v for v, n in counts.items() if n > 1)
    assert not twice, (f"defined in two registries: {twice}; import the one member instead")


def test_free_strings_are_found() -> None:
    # the scan itself works: a literal and an f-string are caught, a member is not
    tree = ast.parse('E("m", reason="x")\nE("m", reason=f"{y}")\nE("m", reason=Reason.X)\n'
                     'IdentifierFinding(reason=f"the column name is {what}")\n')
    found = free_reasons(iter([(Path("t.py"), tree)]))
    assert found == ["t.py:1: reason='x'", "t.py:2: reason=f'{y}'"]
