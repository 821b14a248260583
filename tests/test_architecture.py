"""The import direction of docs/architecture.md holds in the code.

Every ``import`` of the four packages (module level, inside functions, under ``TYPE_CHECKING``,
and ``importlib.import_module("...")`` with a literal name) is read with :mod:`ast` and held
against :data:`MAY_IMPORT`, the table that docs/architecture.md shows: a module of a unit may
import its own unit and the units its row names, nothing else of the project. The front ends
(the ``ipdrepo`` CLI: ``repository/cli/``, ``repository/__main__.py`` and every package's
``cli*.py``; the server: ``repository/service/``) are the documented exception: they may reach into every package, and no library
module may import them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("repository", "harmonise", "versions", "analyses")

#: unit -> the other units its modules may import (a unit is a package, a sub-package or a
#: module; a module belongs to the longest unit its name starts with)
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "repository": (),
    "harmonise.schemacheck": (),
    "harmonise.yamlio": ("harmonise.schemacheck", "repository"),
    "harmonise.values": ("harmonise.yamlio", "repository"),
    "harmonise.expressions": ("harmonise.values", "harmonise.yamlio", "repository"),
    "harmonise.dictionary": ("harmonise.expressions", "harmonise.values", "harmonise.yamlio",
                             "repository"),
    "harmonise.mapping": ("harmonise.dictionary", "harmonise.expressions", "harmonise.values",
                          "harmonise.yamlio", "repository"),
    "harmonise.checks": ("harmonise.dictionary", "harmonise.expressions", "harmonise.values",
                         "repository"),
    "harmonise.queries": ("harmonise.dictionary", "harmonise.mapping", "harmonise.values",
                          "repository"),
    "harmonise.pipeline": ("harmonise.checks", "harmonise.dictionary", "harmonise.mapping",
                           "harmonise.queries", "harmonise.values",
                           "repository"),
    "harmonise": ("harmonise.dictionary", "harmonise.expressions", "harmonise.mapping",
                  "harmonise.values", "repository.lazy"),
    "versions": ("harmonise", "repository"),
    "analyses": ("repository.errors", "repository.html", "repository.lazy",
                 "repository.software"),
}


def is_front_end(module: str) -> bool:
    """The ``ipdrepo`` CLI: repository.cli, ``python -m repository`` and every package's cli /
    cli_* modules; the server (``ipdrepo serve``): repository.service."""
    last = module.split(".")[-1]
    return (any(module == f or module.startswith(f + ".")
                for f in ("repository.cli", "repository.service")) or last == "__main__"
            or re.fullmatch(r"cli(_\w+)?", last) is not None)


def unit_of(module: str) -> str | None:
    """The longest unit of the table that ``module`` is, or is inside of."""
    found = [u for u in MAY_IMPORT if module == u or module.startswith(u + ".")]
    return max(found, key=len) if found else None


def allowed(source: str, target: str) -> bool:
    """May a module of unit ``source`` import module ``target``?"""
    if unit_of(target) == source:
        return True
    return any(target == u or target.startswith(u + ".") for u in MAY_IMPORT[source])


def project_modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:  # Alembic scripts: run by alembic, never imported
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of a project module in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import sub" imports the sub-module when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield node.lineno, name


MODULES = project_modules()


def test_every_module_belongs_to_a_unit_and_the_table_has_no_cycle() -> None:
    assert not [m for m in MODULES if unit_of(m) is None]
    for unit, targets in MAY_IMPORT.items():
        assert all(t in MAY_IMPORT or t in MODULES for t in targets), unit
        assert any(m == unit or m.startswith(unit + ".") for m in MODULES), f"no module {unit}"
    seen: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert seen.get(unit) != 1, f"a cycle in the table: {' -> '.join((*path, unit))}"
        if seen.get(unit) == 2:
            return
        seen[unit] = 1
        for target in MAY_IMPORT[unit]:
            if target in MAY_IMPORT:
                visit(target, (*path, unit))
        seen[unit] = 2

    for unit in MAY_IMPORT:
        visit(unit, ())


def test_imports_follow_the_documented_direction() -> None:
    wrong = []
    for module, path in MODULES.items():
        front = is_front_end(module)
        source = unit_of(module)
        assert source is not None
        for line, target in imports(module, path):
            if is_front_end(target) and not front:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} imports the front end "
                             f"{target}")
            elif not front and not allowed(source, target):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} ({source}) imports "
                             f"{target} ({unit_of(target)}); {source} may import "
                             f"{', '.join(MAY_IMPORT[source]) or 'nothing else'}")
    assert not wrong, ("imports against docs/architecture.md (move the code, or change the "
                       "table here and on that page):\n" + "\n".join(wrong))


def _documented_table() -> dict[str, tuple[str, ...]]:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = page.split("## Dependency direction", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w.]+)` \| (.*?) \|$", section, re.M)
    return {unit: tuple(re.findall(r"`([\w.]+)`", targets)) for unit, targets in rows}


def test_the_architecture_page_shows_the_same_table() -> None:
    assert _documented_table() == MAY_IMPORT


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("harmonise.mapping", "harmonise.dictionary.spec", True),
    ("harmonise.dictionary", "harmonise.mapping.spec", False),
    ("harmonise.queries", "harmonise.pipeline.harmonising", False),
    ("harmonise.checks", "analyses.km", False),
    ("analyses", "repository.errors", True),
    ("analyses", "repository.store", False),
    ("versions", "harmonise.pipeline.checking", True),
    ("harmonise.pipeline", "versions.releases", False),
    ("repository", "harmonise.queries.lifecycle", False),
])
def test_the_rule_itself(source: str, target: str, ok: bool) -> None:
    """The check can fail: imports against the table are found."""
    assert allowed(source, target) is ok
