"""Every ``ipdrepo ...`` command written in the README, the docs and the commands' own --help
examples exists, with options it has and values it accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.commands import check_line, command_lines, markdown_files

ROOT = Path(__file__).resolve().parents[2]
FILES = markdown_files(ROOT)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_are_valid(path: Path) -> None:
    lines = list(command_lines(path.read_text()))
    problems = [p for line in lines for p in check_line(line)]
    assert not problems, "\n".join(problems)


def test_the_guide_and_readme_have_commands_to_check() -> None:
    counts = {p.name: len(list(command_lines(p.read_text()))) for p in FILES}
    assert counts["README.md"] >= 5
    for page in ("curator.md", "trialist.md", "meta-analyst.md", "getting-started.md"):
        assert counts[page] >= 3, page


def test_help_examples_are_valid() -> None:
    """The "Example(s):" lines of every command's --help (as docs/cli.md holds them)."""
    text = (ROOT / "docs" / "cli.md").read_text()
    lines = list(command_lines(text))
    assert len(lines) > 40
    problems = [p for line in lines for p in check_line(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("line, problem", [
    ("ipdrepo trail list", "has no command 'trail'"),
    ("ipdrepo -w ws trial add GAST-01 --arms 1=a:1:2", "unknown option --arms"),
    ("ipdrepo queries list --status pending", "'pending' is not one of"),
    ("ipdrepo ingest GAST-01", "needs 2"),
    ("ipdrepo release show 1.0 2.0", "takes at most 1"),
    ("ipdrepo release create --version", "--version needs a value"),
    ("ipdrepo queries frobnicate", "has no command 'frobnicate'"),
    ("ipdrepo request approve|reopen REQ-1", "has no command 'reopen'"),
])
def test_the_check_finds_bad_commands(line: str, problem: str) -> None:
    problems = check_line(line)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("line", [
    "ipdrepo --help",
    "ipdrepo -w demo-workspace/workspace status --json",
    "ipdrepo release show 1.0 [--json]",
    "ipdrepo request reject|revoke CODE --note x",
    "ipdrepo request list | show CODE",
    "ipdrepo analyse two-stage release:1.0.0 --trial t --treatment a --model cox --method=reml",
    "ipdrepo lab demo-workspace/workspace --no-browser --port 8890",
])
def test_the_check_accepts_good_commands(line: str) -> None:
    assert check_line(line) == []


def test_commands_found_in_code_blocks_only() -> None:
    text = "Run `ipdrepo nonsense` in prose.\n\n```\nipdrepo status \\\n    --json\n```\n"
    assert list(command_lines(text)) == ["ipdrepo status --json"]
    assert re.search("nonsense", " ".join(command_lines(text))) is None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_parse(path: Path) -> None:
    """Python blocks in the docs are valid Python (the meta-analyst's guide is also run, in
    tests/notebooks/test_guide_code.py)."""
    import ast

    for block in re.findall(r"^```python\n(.*?)^```", path.read_text(), re.S | re.M):
        ast.parse(block)
