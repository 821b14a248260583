"""The README's promises: two commands, CI calls the test command, the demo runs end to end."""

from __future__ import annotations

import json
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
    # CI fails, never skips, tests whose PostgreSQL server or GASTRIC data are missing
    assert "export IPDREPO_REQUIRE_PG=1" in ci
    assert "export IPDREPO_REQUIRE_GASTRIC=1" in ci


@pytest.mark.parametrize("require", ["1", ""])
def test_missing_gastric_data_fail_under_require_and_skip_otherwise(tmp_path: Path,
                                                                   require: str) -> None:
    import subprocess
    import sys

    env = {**os.environ, "IPDREPO_GASTRIC_DIR": str(tmp_path / "nowhere"),
           "IPDREPO_REQUIRE_GASTRIC": require}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs",
                        "tests/harmonise/test_gastric.py",
                        "tests/analyses/test_km_plot.py::test_stratified_curve_says_where_it_stops"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if require:
        assert r.returncode == 1, r.stdout
        assert "IPDREPO_REQUIRE_GASTRIC=1 requires them" in r.stdout
        assert " skipped" not in r.stdout.splitlines()[-1]
    else:
        assert r.returncode == 0, r.stdout
        assert " failed" not in r.stdout.splitlines()[-1]
        assert "skipped" in r.stdout.splitlines()[-1]


def test_demo_runs_end_to_end_and_ends_with_the_true_values(tmp_path: Path) -> None:
    """Planted problems -> queries -> workbooks -> answers -> corrections -> clean validation,
    and the harmonised data equal the generator's true values, cell for cell."""
    from repository.audit import verify
    from repository.cli import cli
    from repository.settings import load_settings
    from repository.status import topic_status
    from repository.store import Store

    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "refused CHINOOK-with-identifiers.csv" in result.output
    assert "findings not explained by a planted problem: 0" in result.output
    assert "all answered 'confirmed correct'" in result.output
    example = tmp_path / "demo" / "example"
    registry = yaml.safe_load((example / "topic.yaml").read_text())
    with Store.open(load_settings(tmp_path / "demo" / "workspace", actor="demo-curator",
                                  env={})) as store:
        with store.reading() as session:
            status = topic_status(session, store.topic(session), actor=store.settings.actor)
            assert verify(session).ok
        pseudonym = store.pseudonymiser("gastric-adjuvant").pseudonym
    assert {t["trial"] for t in status.trials} == {t["acronym"] for t in registry["trials"]}
    # an analyst analyses the released version from the CLI; a trialist may not read releases
    env = {"IPDREPO_WORKSPACE": str(tmp_path / "demo" / "workspace"),
           "IPDREPO_USER": "demo-curator"}
    runner = CliRunner()
    assert runner.invoke(cli, ["user", "add", "ann", "--role", "analyst"], env=env).exit_code == 0
    assert runner.invoke(cli, ["user", "add", "tom", "--role", "trialist", "--trial", "MISTRAL"],
                         env=env).exit_code == 0
    args = ["analyse", "two-stage", "release:1.0.0", "--trial", "trial", "--treatment", "arm",
            "--time", "os_time_days", "--event", "os_event", "--model", "cox", "--json"]
    analysed = runner.invoke(cli, args, env={**env, "IPDREPO_USER": "ann"})
    assert analysed.exit_code == 0, analysed.output
    assert json.loads(analysed.stdout)["k"] == len(registry["trials"])
    refused = runner.invoke(cli, args, env={**env, "IPDREPO_USER": "tom"})
    assert refused.exit_code == 7, refused.output
    # cell-level provenance of a corrected value, in the release too
    planted = yaml.safe_load((example / "truth" / "planted.yaml").read_text())["problems"]
    swapped = next(p for p in planted if p["kind"] == "event_before_randomisation")
    who = str(swapped["participants"][0]["participant_id"])
    explained = runner.invoke(cli, ["explain", swapped["trial"], who, swapped["variable"],
                                    "--version", "1.0.0", "--json"], env=env)
    assert explained.exit_code == 0, explained.output
    story = json.loads(explained.stdout)
    assert story["delivered"][swapped["source_column"]] == swapped["participants"][0][
        "delivered_value"]
    assert [c["status"] for c in story["corrections"]] == ["active"]
    assert story["corrections"][0]["query"]["resolution"] == "corrected"
    assert story["value"] == story["release"]["value"] == str(
        swapped["participants"][0]["true_value"])
    _assert_true_values(tmp_path / "demo" / "workspace" / "harmonised" / "topic.parquet",
                        example / "truth" / "participants.parquet", pseudonym)


def _assert_true_values(harmonised: Path, participants: Path, pseudonym) -> None:
    """The harmonised data equal the generator's true values, cell for cell (after
    pseudonymising the true participant IDs)."""
    import pandas as pd

    data = pd.read_parquet(harmonised)
    truth = pd.read_parquet(participants)
    truth["participant_id"] = [pseudonym(t, str(i)) for t, i in
                               zip(truth["trial"], truth["participant_id"])]
    merged = data.merge(truth, on=["trial", "participant_id"], suffixes=("", "_true"),
                        how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(truth)
    for column in data.columns:
        if column in ("trial", "participant_id", "_row"):
            continue
        got, want = merged[column], merged[f"{column}_true"]
        if pd.api.types.is_datetime64_any_dtype(got):
            want = pd.to_datetime(want)
        same = (got.isna() & want.isna()) | (got.astype(object) == want.astype(object))
        assert same.all(), f"{column}: {int((~same).sum())} values differ from the truth"


def test_demo_replaces_only_its_own_directory(tmp_path: Path) -> None:
    from repository.cli.example_steps import MARKER
    from repository.cli.example_steps import prepare as _prepare

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(Exception, match="was not made by `ipdrepo demo`"):
        _prepare(mine)
    assert (mine / "thesis.docx").exists()
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / MARKER).write_text("")
    (earlier / "old-output.txt").write_text("")
    _prepare(earlier)
    assert not (earlier / "old-output.txt").exists() and (earlier / MARKER).exists()


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
