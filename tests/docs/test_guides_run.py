"""The guides' commands run as written: every shell line of the fenced blocks of
docs/getting-started.md and docs/guide/*.md is run, in order, through the real CLI, in a fresh
temporary directory set up the way the guide itself says.

Lines that cannot run as they stand are in the tables below, each with its reason:
``SUBSTITUTED`` (what runs instead: a step the guide leaves to the reader's hands, such as
answering a workbook in Excel, after which the guide's line itself runs where it can),
``SKIPPED`` (a server, a browser, a second database), ``BEFORE`` (a step the guide's prose asks
of someone else, e.g. a curator adding the reader's account, run before the line) and
``EXIT_CODES`` (a line the guide itself says ends with another code). Every other line is run
verbatim, and must exit 0. A guide line in neither table that cannot be run, and a table
entry no guide holds any longer, fail the test.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.docs.commands import FENCE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def shell_lines(text: str) -> Iterator[str]:
    """The command lines of the fenced shell blocks (untagged or sh/bash/console/shell; not
    ```python or ```text), continuations joined, comment-only lines left out."""
    inside = False
    python = False
    pending = ""
    for raw in text.splitlines():
        fence = FENCE.match(raw)
        if fence:
            if not inside:  # a block tagged with a language (python, text) is no shell
                python = raw.strip()[3:].strip() not in ("", "sh", "bash", "console", "shell")
            inside = not inside
            pending = ""
            continue
        if not inside or python:
            continue
        line = (pending + " " + raw.strip()) if pending else raw.strip()
        pending = ""
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        yield line


@dataclass
class Session:
    """A reader's shell: a current directory and exported variables."""

    cwd: Path
    env: dict[str, str | None] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    runner: CliRunner = field(default_factory=CliRunner)

    def ipdrepo(self, args: list[str], line: str, expected: int = 0) -> str:
        from repository.cli import cli

        previous = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = self.runner.invoke(cli, args, env=self.env, catch_exceptions=False)
        finally:
            os.chdir(previous)
        assert result.exit_code == expected, \
            f"`{line}` (in {self.cwd}) exited {result.exit_code}:\n{result.output[-3000:]}"
        return result.output

    def shell(self, line: str, expected: int = 0) -> None:
        """``ipdrepo ...``, ``cd DIR``, ``export NAME=VALUE``."""
        tokens = shlex.split(line, comments=True)
        if tokens[0] == "ipdrepo":
            self.ipdrepo(tokens[1:], line, expected)
        elif tokens[0] == "cd" and len(tokens) == 2:
            self.cwd = (self.cwd / tokens[1]).resolve()
            assert self.cwd.is_dir(), line
        elif tokens[0] == "export" and len(tokens) == 2 and "=" in tokens[1]:
            name, _, value = tokens[1].partition("=")
            self.env[name] = value
        else:
            raise AssertionError(f"`{line}` is a command this test cannot run: run it, or list "
                                 f"it in SUBSTITUTED or SKIPPED with the reason")


def clean_env() -> dict[str, str | None]:
    """The reader's environment: no IPDREPO_* of the test run's own (CliRunner's env only
    overrides, so the ones set are unset explicitly)."""
    return {name: None for name in os.environ if name.startswith("IPDREPO_")} | {
        "IPDREPO_GASTRIC_DIR": os.environ.get("IPDREPO_GASTRIC_DIR")}


Action = Callable[[Session], None]


def _demo(s: Session) -> None:
    """What ``python3 dev.py demo`` runs once the virtual environment exists."""
    s.ipdrepo(["demo", "demo-workspace"], "ipdrepo demo demo-workspace")


def _answered(trial: str) -> Action:
    """The trial team's part: the exported workbook answered in Excel and saved as
    TRIAL-queries-answered.xlsx; here the example's simulated trialist fills it in from the
    example's ground truth. Then the guide's import line runs verbatim."""

    def answer_then_import(s: Session) -> None:
        from repository.example.trialist import answer_workbook

        answered = answer_workbook(s.cwd / f"{trial}-queries.xlsx", s.cwd.parent / "example")
        assert answered.answered > 0, answered
        s.shell(f"ipdrepo queries import {trial}-queries-answered.xlsx --trial {trial}")

    return answer_then_import


def _account(name: str, *role: str) -> Action:
    """What the guide's prose leaves to a curator: ``ipdrepo user add NAME --role ...``
    (run as the demo's curator)."""

    def add(s: Session) -> None:
        curator = {**s.env, "IPDREPO_USER": "demo-curator"}
        workspace = s.cwd if (s.cwd / "ipdrepo.toml").is_file() else \
            s.cwd / "demo-workspace" / "workspace"
        line = shlex.join(["ipdrepo", "-w", str(workspace), "user", "add", name, "--role",
                           *role])
        Session(s.cwd, curator, runner=s.runner).shell(line)
        if role[0] == "trialist":  # "from the command line (`IPDREPO_USER=NAME`)"
            s.env["IPDREPO_USER"] = name

    return add


GASTRIC_FOREST = (
    'ipdrepo analyse two-stage gastadj.csv --trial trialref --treatment trt --treated-value 0.5 '
    '--time timeT --event statusT --model cox --title "Overall survival: adjuvant chemotherapy '
    'versus surgery alone" --favours "Favours chemotherapy" "Favours surgery alone" '
    '--arm-labels Chemotherapy Surgery --forest gastric-os-forest.pdf')


def _in_gastric_dir(s: Session) -> None:
    """"run from the directory holding the GASTRIC files": verbatim, in a directory holding
    links to them. The GASTRIC data are not public: without them (and without
    IPDREPO_REQUIRE_GASTRIC=1, which fails instead) the line is reported as not run."""
    from tests.gastric import find_gastric

    source = find_gastric()
    if source is None:
        s.ran.append(f"(not run: GASTRIC data absent) {GASTRIC_FOREST}")
        return
    directory = s.cwd / "gastric-data"
    directory.mkdir()
    for name in ("gastadj.csv", "gastadv.csv"):
        (directory / name).symlink_to(source / name)
    Session(directory, s.env, runner=s.runner).shell(GASTRIC_FOREST)
    assert (directory / "gastric-os-forest.pdf").stat().st_size > 0


def _reopen(query: int) -> Action:
    def reopen(s: Session) -> None:
        curator = {**s.env, "IPDREPO_USER": "demo-curator"}
        Session(s.cwd, curator, runner=s.runner).shell(
            f'ipdrepo queries reopen {query} --reason "please check the value again"')

    return reopen


#: guide line -> (what runs first, why): a step the guide's prose asks of someone else.
BEFORE: dict[tuple[str, str], tuple[Action, str]] = {
    ("meta-analyst.md", "export IPDREPO_USER=ann"): (
        _account("ann", "analyst"),
        "\"a curator gives you an analyst account (`ipdrepo user add ann --role analyst`)\""),
    ("trialist.md", "ipdrepo queries list"): (
        _account("dr.bianchi", "trialist", "--trial", "GREGALE"),
        "\"A curator can give you an account (`ipdrepo user add NAME --role trialist --trial "
        "TRIAL`)\", NAME=dr.bianchi, TRIAL=GREGALE as the guide's own examples"),
    ("trialist.md", 'ipdrepo queries answer 3 --response confirmed_correct --comment '
                    '"checked against the CRF"'): (
        _reopen(3), "the demo's GREGALE query (3) is resolved already: its curator reopens it "
                    "(`queries reopen`), as after an answer that needs another look"),
}


#: guide line -> (what runs instead, why). Keys are the lines as the guide writes them
#: (continuations joined).
SUBSTITUTED: dict[tuple[str, str], tuple[Action, str]] = {
    ("meta-analyst.md", GASTRIC_FOREST): (
        _in_gastric_dir, "run verbatim, from a directory holding the GASTRIC files as the "
                         "guide says (not run when the non-public data are absent)"),
    **{("curator.md", f"ipdrepo queries import {trial}-queries-answered.xlsx --trial {trial}"):
       (_answered(trial), "the trial team answers the workbook in Excel: the example's "
                          "simulated trialist does, then the line runs verbatim")
       for trial in ("MISTRAL", "BOREAS")},
    ("getting-started.md", "python3 dev.py demo"): (
        _demo, "the test runs inside the virtual environment dev.py would create; what remains "
               "of `dev.py demo` is `ipdrepo demo demo-workspace`, run as such"),
}

#: guide line -> the exit code the guide itself says it ends with (run verbatim all the same).
EXIT_CODES: dict[tuple[str, str], tuple[int, str]] = {
    ("curator.md", "ipdrepo validate"): (
        6, "\"It exits with code 6 while findings remain that nobody has confirmed correct\": "
           "the queries it raises are what the next section answers"),
}

#: guide line -> why it is not run.
SKIPPED: dict[tuple[str, str], str] = {
    ("getting-started.md", "source .venv/bin/activate"):
        "the test already runs the virtual environment's ipdrepo",
    ("getting-started.md", "ipdrepo lab demo-workspace/workspace"):
        "starts a JupyterLab server and a browser (the notebooks are run by tests/notebooks)",
    ("getting-started.md", "mkdocs serve       # http://127.0.0.1:8000, rebuilt as you edit "
                           "docs/"): "starts a web server",
    ("getting-started.md", "mkdocs build --strict"): "the site build is tests/docs/test_site.py",
    **{("meta-analyst.md", line): "Python (not a shell line) against a consortium server; the "
                                  "guide's Python blocks are run by tests/notebooks"
       for line in ("import versions", 'frame = versions.load("gastric-adjuvant", "1.0.0", '
                                       'server="https://ipd.example.org")')},
    **{(page, line): "needs a running ipdrepo server at ipd.example.org (the remote commands "
                     "are tested in tests/service)"
       for page, lines in {
           "trialist.md": [
               "ipdrepo login --server https://ipd.example.org --user dr.sato",
               "ipdrepo --server https://ipd.example.org queries list --active",
               "ipdrepo --server https://ipd.example.org queries answer 12 --response "
               "typographical_error --value 14/03/2019",
               "ipdrepo --server https://ipd.example.org upload SIROCCO "
               "sirocco-redelivery.csv"],
           "meta-analyst.md": [
               "ipdrepo login --server https://ipd.example.org --user stats.team",
               "ipdrepo --server https://ipd.example.org request status REQ-0001",
               "ipdrepo --server https://ipd.example.org release get 1.0.0 --request REQ-0001 "
               "-o data.parquet"]}.items()
       for line in lines},
    ("trialist.md", 'ipdrepo queries answer 7 --response typographical_error --value 45 '
                    '--comment "age is 45"'):
        "the example's GREGALE has a single query (3), answered (confirmed correct) on the "
        "line before, and its value is right: there is no typing error to correct (only "
        "checked against the CLI, by tests/docs/test_commands.py)",
    ("trialist.md", "ipdrepo queries import GREGALE-queries-answered.xlsx"):
        "needs a workbook the curator exported and the trial team answered in Excel; the "
        "curator's guide runs that round (export, answer, import) on MISTRAL and BOREAS",
    ("meta-analyst.md", "ipdrepo lab demo-workspace/workspace"):
        "starts a JupyterLab server and a browser (the notebooks are run by tests/notebooks)",
    ("curator.md", "ipdrepo init gastric --topic gastric-adjuvant --database-url "
                   "postgresql+psycopg://curator@dbhost/gastric"):
        "the alternative to the SQLite workspace just made: needs a PostgreSQL server `dbhost` "
        "(init on PostgreSQL is tested in tests/repository with the throw-away server)",
}


def run_guide(page: str, session: Session) -> None:
    """Every shell line of ``page``, in order: run, substituted or skipped."""
    lines = list(shell_lines((DOCS / page).read_text()))
    assert len(lines) >= 3, page
    name = Path(page).name
    for line in lines:
        if (name, line) in BEFORE:
            BEFORE[name, line][0](session)
            session.ran.append(f"(prepared) {BEFORE[name, line][1]}")
        if (name, line) in SKIPPED:
            continue
        if (name, line) in SUBSTITUTED:
            SUBSTITUTED[name, line][0](session)
            session.ran.append(f"(substituted) {line}")
            continue
        started = time.perf_counter()
        session.shell(line, EXIT_CODES.get((name, line), (0, ""))[0])
        session.ran.append(f"{time.perf_counter() - started:5.1f}s {line}")
    print(f"\n{page}:\n  " + "\n  ".join(session.ran))


def test_the_tables_name_only_lines_the_guides_hold() -> None:
    pages = {p.name: set(shell_lines(p.read_text()))
             for p in [DOCS / "getting-started.md", *sorted((DOCS / "guide").glob("*.md"))]}
    stale = [key for key in [*SUBSTITUTED, *SKIPPED, *EXIT_CODES, *BEFORE] if key[1] not in pages.get(key[0], ())]
    assert not stale, f"no longer in the guides: {stale}"


def test_shell_lines() -> None:
    text = ("```\nipdrepo a \\\n   --b c\n# note\ncd x\n```\n\n```python\nimport x\n```\n"
            "prose `ipdrepo d`\n")
    assert list(shell_lines(text)) == ["ipdrepo a --b c", "cd x"]


def test_curator_guide_runs(tmp_path: Path) -> None:
    """From the root of a clone (the guide's `dictionaries/gastric-adjuvant` is the clone's):
    here a fresh directory holding only a link to the clone's dictionaries."""
    (tmp_path / "dictionaries").symlink_to(ROOT / "dictionaries", target_is_directory=True)
    session = Session(tmp_path, clean_env())
    run_guide("guide/curator.md", session)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """docs/getting-started.md run in a fresh directory (its `dev.py demo` makes the
    demo-workspace/ the other guides start from)."""
    session = Session(tmp_path_factory.mktemp("guides"), clean_env())
    run_guide("getting-started.md", session)
    return session


def test_getting_started_runs(started: Session) -> None:
    assert (started.cwd / "demo-workspace" / "workspace" / "ipdrepo.toml").is_file()
    assert any("release show 1.0.0" in line for line in started.ran)


def test_meta_analyst_guide_runs(started: Session) -> None:
    session = Session(started.cwd, clean_env())
    run_guide("guide/meta-analyst.md", session)


def test_trialist_guide_runs(started: Session) -> None:
    """In the example's workspace (section 3: an account in the store), as a trialist of
    GREGALE."""
    session = Session(started.cwd / "demo-workspace" / "workspace", clean_env())
    run_guide("guide/trialist.md", session)



def test_a_line_neither_run_nor_listed_fails(tmp_path: Path) -> None:
    session = Session(tmp_path, clean_env())
    with pytest.raises(AssertionError, match="cannot run"):
        session.shell("open report.html")
    with pytest.raises(AssertionError, match="exited 2"):
        session.shell("ipdrepo no-such-command")
