"""No function over 80 lines (issue 18, item 4).

Every function and method of the four packages (nested ones too; migrations excepted: Alembic
scripts are generated and never edited) is measured with :mod:`ast` from its ``def`` line to
its last line, docstring included. ``analyses/`` has none over the limit. The other packages'
long functions are listed in :data:`KNOWN` with their length today: the list may only shrink -
a listed function that grows fails, one that got short fails until its entry is removed, and a
new long function fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analyses", "repository", "harmonise", "versions")
LIMIT = 80

#: "path:function" -> its length in lines when it was listed (being shortened by the owners of
#: those packages; never add to this list: split the function instead)
KNOWN: dict[str, int] = {
    "versions/extracts.py:extract": 170,
    "versions/diff.py:diff_frames": 102,
    "repository/deliveries.py:ingest": 99,
}


def function_lengths(package: str) -> dict[str, int]:
    """``"path:name" -> lines`` for every function of ``package`` (the longest of a name)."""
    out: dict[str, int] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{rel.as_posix()}:{node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                out[key] = max(out.get(key, 0), length)
    return out


def long_functions(package: str) -> dict[str, int]:
    return {k: n for k, n in function_lengths(package).items() if n > LIMIT}


def test_the_measure_counts_def_to_last_line(tmp_path: Path) -> None:
    """The measure itself: a 3-line function is 3 lines, decorators are not counted, nested
    and async functions are found."""
    tree = ast.parse("@dec\ndef f(x):\n    '''doc'''\n    return x\n\n"
                     "async def g():\n    def h():\n        pass\n    return h\n")
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)  # type: ignore[operator]
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert lengths == {"f": 3, "g": 4, "h": 2}


def test_no_function_in_analyses_is_over_80_lines() -> None:
    assert long_functions("analyses") == {}


def test_other_packages_long_functions_only_shrink() -> None:
    found: dict[str, int] = {}
    for package in PACKAGES[1:]:
        found.update(long_functions(package))
    new = {k: n for k, n in found.items() if k not in KNOWN}
    grown = {k: (KNOWN[k], n) for k, n in found.items() if k in KNOWN and n > KNOWN[k]}
    gone = sorted(set(KNOWN) - set(found))
    assert not new, f"new functions over {LIMIT} lines (split them): {new}"
    assert not grown, f"listed long functions grew (listed, now): {grown}"
    assert not gone, f"now {LIMIT} lines or shorter (or renamed): remove from KNOWN: {gone}"
