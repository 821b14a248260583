"""No function over 80 lines (issue 18, item 4).

Every function and method of the four packages (nested ones too; migrations excepted: Alembic
scripts are generated and never edited) is measured with :mod:`ast` from its ``def`` line to
its last line, docstring included. None may be longer: split it into functions named for what
they do.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analyses", "repository", "harmonise", "versions")
LIMIT = 80

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


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_over_80_lines(package: str) -> None:
    assert long_functions(package) == {}, f"functions over {LIMIT} lines (split them)"
