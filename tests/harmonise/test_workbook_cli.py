"""``ipdrepo queries export`` and ``ipdrepo queries import``: output, --json, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from repository.errors import PermissionDenied, WorkbookError
from tests.harmonise.test_workbook_factory import build_world, fill, snapshot


def ipdrepo(*args: str, cwd: Path, user: str) -> Result:
    from repository.cli import cli

    env = {k: None for k in os.environ if k.startswith("IPDREPO_")}
    env["IPDREPO_USER"] = user
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["-w", str(cwd / "ws"), *args], env=env,
                                  catch_exceptions=False)
    finally:
        os.chdir(old)


def test_export_and_import_from_the_command_line(make_store, tmp_path: Path) -> None:
    world = build_world(make_store(), tmp_path)
    age = world.qid("T1", "A002", "AGE")
    r = ipdrepo("queries", "export", "T1", cwd=tmp_path, user="tester")
    assert r.exit_code == 0, r.stderr
    (default,) = tmp_path.glob("T1-queries-*.xlsx")
    assert f"Wrote {default.name}: 5 questions for trial T1 (export 1, due " in r.stdout
    assert "Send it to Dr T. One." in r.stdout
    r = ipdrepo("queries", "export", "T1", "-o", "sent.xlsx", "--json", cwd=tmp_path,
                user="tester")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["trial"], data["export_id"], data["queries"]) == ("T1", 2, 5)
    assert {row["query"] for row in data["rows"]} == set(world.queries[k] for k in world.queries
                                                        if k[0] == "T1")

    r = ipdrepo("queries", "export", "T1", "-o", "mine.xlsx", cwd=tmp_path, user="tina")
    assert r.exit_code == PermissionDenied.exit_code
    assert r.stderr.startswith("error: tina is a trialist")
    assert not (tmp_path / "mine.xlsx").exists()

    answered = fill(tmp_path / "sent.xlsx", {age: ("Typographical error", "42", "CRF p.2")})
    before = snapshot(world.store)
    r = ipdrepo("queries", "import", str(default), cwd=tmp_path, user="tina")
    assert r.exit_code == WorkbookError.exit_code
    assert "this is an older workbook" in r.stderr and "nothing was imported" in r.stderr
    r = ipdrepo("queries", "import", "nothere.xlsx", cwd=tmp_path, user="tina")
    assert r.exit_code == 3 and "does not exist" in r.stderr
    bad = fill(answered, {age: ("Typographical error", "forty-two", None)},
               out=tmp_path / "bad.xlsx")
    r = ipdrepo("queries", "import", str(bad), "--json", cwd=tmp_path, user="tina")
    assert r.exit_code == WorkbookError.exit_code
    error = json.loads(r.stdout)
    assert error["error"] == "WorkbookError" and error["trial"] == "T1"
    (problem,) = error["problems"]
    assert problem["column"] == "Corrected value" and problem["query"] == age
    assert "'forty-two' is not valid for your column AGE" in problem["message"]
    assert snapshot(world.store) == before

    r = ipdrepo("queries", "import", str(answered), cwd=tmp_path, user="tina")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("Imported 1 answer(s) from sent-answered.xlsx (trial T1, export "
                               "2): 1 typographical error.")
    assert "4 queries are not answered yet (still sent)." in r.stdout
    r = ipdrepo("queries", "import", str(answered), "--json", cwd=tmp_path, user="tina")
    assert json.loads(r.stdout)["unchanged"] == 1


def test_help_lists_the_commands(tmp_path: Path) -> None:
    from repository.cli import cli

    r = CliRunner().invoke(cli, ["queries", "--help"])
    assert r.exit_code == 0 and "export" in r.stdout and "import" in r.stdout
    r = CliRunner().invoke(cli, ["queries", "import", "--help"])
    assert "--trial" in r.stdout and "--json" in r.stdout


def test_the_curators_query_commands(make_store, tmp_path: Path) -> None:
    """raise (with the trial's own participant ID), list, show, answer, accept, close,
    reopen and dashboard, through the real CLI."""
    world = build_world(make_store(), tmp_path)
    r = ipdrepo("queries", "raise", "T1", "--participant", "A005", "--variable", "age",
                "--question", "Is the age of 17 right?", "--json", cwd=tmp_path, user="tester")
    assert r.exit_code == 0, r.stderr
    raised = json.loads(r.stdout)
    pseudonym = world.store.pseudonymiser("gastric-adjuvant").pseudonym("T1", "A005")
    assert raised["participant"] == pseudonym and raised["source"] == "manual"
    r = ipdrepo("queries", "raise", "T1", "--participant", "A999", "--question", "?",
                cwd=tmp_path, user="tester")
    assert r.exit_code == 3 and "no participant 'A999'" in r.stderr
    r = ipdrepo("queries", "list", "--trial", "T1", "--active", "--json", cwd=tmp_path,
                user="tina")
    assert raised["id"] in {q["id"] for q in json.loads(r.stdout)}
    r = ipdrepo("queries", "list", "--trial", "T2", cwd=tmp_path, user="tina")
    assert r.exit_code == PermissionDenied.exit_code
    qid = str(raised["id"])
    r = ipdrepo("queries", "answer", qid, "--response", "confirmed_correct", "--comment",
                "checked the CRF", cwd=tmp_path, user="tina")
    assert r.exit_code == 0, r.stderr
    r = ipdrepo("queries", "accept", qid, "--json", cwd=tmp_path, user="tina")
    assert r.exit_code == PermissionDenied.exit_code  # only curators accept
    r = ipdrepo("queries", "accept", qid, "--json", cwd=tmp_path, user="tester")
    assert json.loads(r.stdout) == [{"query": raised["id"], "resolution": "confirmed_correct",
                                     "corrections": []}]
    r = ipdrepo("queries", "close", qid, "--reason", "confirmed on the CRF", cwd=tmp_path,
                user="tester")
    assert r.exit_code == 0, r.stderr
    r = ipdrepo("queries", "reopen", qid, "--reason", "new information", cwd=tmp_path,
                user="tester")
    assert r.exit_code == 0, r.stderr
    r = ipdrepo("queries", "show", qid, "--json", cwd=tmp_path, user="tester")
    thread = json.loads(r.stdout)["thread"]
    assert [m["kind"] for m in thread] == ["raised", "response", "resolve", "close", "reopen"]
    page = tmp_path / "dashboard.html"
    r = ipdrepo("queries", "dashboard", "--html", str(page), "--json", cwd=tmp_path,
                user="tester")
    assert r.exit_code == 0, r.stderr
    tables = json.loads(r.stdout)
    assert {row["trial"] for row in tables["by_trial"]} == {"T1", "T2"}
    assert "Oldest open queries" in page.read_text()
