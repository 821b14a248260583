"""The README's promises: two commands, CI calls the test command, the demo runs end to end."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def first_code_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```[^\n]*\n(.*?)```", text, re.S)
    assert block, "README has no fenced code block"
    return [ln.strip() for ln in block.group(1).splitlines() if ln.strip()]


def test_readme_starts_with_exactly_two_commands() -> None:
    assert first_code_block() == ["python3 dev.py demo", "python3 dev.py test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert first_code_block()[1] in ci
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    from repository.audit import verify
    from repository.cli import cli
    from repository.settings import load_settings
    from repository.status import topic_status
    from repository.store import Store

    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "refused CHINOOK-with-identifiers.csv" in result.output
    registry = yaml.safe_load((tmp_path / "demo" / "example" / "topic.yaml").read_text())
    with Store.open(load_settings(tmp_path / "demo" / "workspace", env={})) as store, \
            store.reading() as session:
        status = topic_status(session, store.topic(session))
        assert verify(session).ok
    assert {t["trial"] for t in status.trials} == {t["acronym"] for t in registry["trials"]}
    assert all(t["deliveries"] == 1 for t in status.trials)
    # running it again replaces its own directory
    again = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo")], catch_exceptions=False)
    assert again.exit_code == 0
    # but never a directory it did not make
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    refused = CliRunner().invoke(cli, ["demo", str(tmp_path / "mine")])
    assert refused.exit_code != 0 and (tmp_path / "mine" / "thesis.docx").exists()


@pytest.mark.slow
def test_fresh_clone_runs_the_demo_command(tmp_path: Path) -> None:
    """`python3 dev.py demo` on a clean clone with a new virtual environment."""
    if shutil.which("git") is None:
        pytest.fail("git is needed for this test")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDREPO_", "VIRTUAL_ENV"))}
    result = subprocess.run([sys.executable, "dev.py", "demo"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (clone / "demo-workspace" / "workspace" / "store.sqlite").exists()
