"""The harmonisation pipeline on the example topic: every planted problem is found, nothing
else is flagged; harmonised files are reproducible; the CLI commands work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harmonise.pipeline.checking import check_trials
from harmonise.pipeline.harmonising import (
    harmonise_trial,
    load_topic_dictionary,
    pool,
    trials_with_data,
)
from repository.example.planted import load_planted, match_planted
from repository.settings import load_settings
from repository.store import Store
from repository.workspace import init_workspace
from tests.example_topic import ingest_deliveries, register_trials, write_example


def build_workspace(base: Path) -> tuple[Path, Path]:
    """The example topic, ingested into a fresh workspace with generated mappings."""
    example, dictionary = write_example(base)
    init_workspace(base / "ws", topic="gastric-adjuvant", dictionary=dictionary, actor="curator")
    with Store.open(load_settings(base / "ws", actor="curator", env={})) as store:
        register_trials(store, example, actor="curator")
        ingest_deliveries(store, example)
    return base / "ws", example


@pytest.fixture(scope="module")
def example_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_workspace(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture
def store(example_workspace: tuple[Path, Path]):
    with Store.open(load_settings(example_workspace[0], actor="curator", env={})) as s:
        yield s


def test_every_planted_problem_is_found_and_nothing_else(store: Store,
                                                         example_workspace: tuple[Path, Path]) -> None:
    pseudonymiser = store.pseudonymiser("gastric-adjuvant")
    findings = []
    for run in check_trials(store, trials_with_data(store), raise_queries=False, write=False):
        findings += list(run.findings)
    assert findings, "the checks found nothing at all"
    matches, unexplained = match_planted(load_planted(example_workspace[1]), findings,
                                         pseudonymiser.pseudonym)
    missed = [m.problem for m in matches if not m.found]
    assert not missed, "planted problems not found: " + ", ".join(
        f"{p['id']} {p['kind']} in {p['trial']}" for p in missed)
    assert unexplained == [], "flagged beyond the planted problems:\n" + "\n".join(
        f"{findings[i].trial} {findings[i].check_id} {findings[i].participant} "
        f"{findings[i].message}" for i in unexplained)


def test_harmonised_files_are_reproducible(store: Store) -> None:
    trial = trials_with_data(store)[0]
    first = harmonise_trial(store, trial)
    data1 = first.path.read_bytes()
    side1 = first.path.with_suffix(".json").read_text()
    second = harmonise_trial(store, trial)
    assert second.path.read_bytes() == data1
    assert second.path.with_suffix(".json").read_text() == side1
    inputs = json.loads(side1)["inputs"]
    assert inputs["delivery_sha256"] == first.inputs.delivery_sha256
    assert inputs["dictionary_version"] == "1.0.0"


def test_pooled_topic_dataset(store: Store) -> None:
    names = trials_with_data(store)
    for name in names:
        harmonise_trial(store, name)
    data = pool(store)
    assert sorted(data["trial"].unique()) == sorted(names)
    # documented columns only (trap: an undocumented `_row` reached the pooled file)
    written = pd.read_parquet(store.settings.workspace / "harmonised" / "topic.parquet")
    variables = [v.name for v in load_topic_dictionary(store).variables]
    assert list(written.columns) == list(data.columns)
    assert "_row" not in data.columns
    assert set(data.columns) == {"trial", "participant_id", *variables}
    assert data["participant_id"].str.match(r"^P[A-Z2-7]{16}$").all()
    assert (store.settings.workspace / "harmonised" / "topic.parquet").is_file()


def test_cli_validate_report_explain(example_workspace: tuple[Path, Path]) -> None:
    from repository.cli import cli

    env = {"IPDREPO_WORKSPACE": str(example_workspace[0]), "IPDREPO_USER": "curator"}
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--json"], env=env)
    assert result.exit_code == 6, result.output  # findings remain: exit code 6
    out = json.loads(result.stdout)
    assert out["open_findings"] > 0
    assert {t["trial"] for t in out["trials"]} >= {"MISTRAL", "SIROCCO"}
    again = runner.invoke(cli, ["validate", "--json"], env=env)
    queries = [t["queries"] for t in json.loads(again.stdout)["trials"]]
    assert all(q["opened"] == 0 for q in queries), "re-validating raised duplicate queries"
    # severity gates the same way everywhere: a trial with warnings only exits 0 (--strict: 6)
    by_trial = {t["trial"]: t for t in out["trials"]}
    assert out["open_errors"] + out["open_warnings"] == out["open_findings"]
    warned = sorted(n for n, t in by_trial.items() if t["open_warnings"] and not t["open_errors"])
    assert warned, by_trial
    only = runner.invoke(cli, ["validate", *warned, "--json", "--no-queries"], env=env)
    assert only.exit_code == 0, only.output
    assert json.loads(only.stdout)["open_warnings"] > 0
    strict = runner.invoke(cli, ["validate", *warned, "--strict", "--no-queries"], env=env)
    assert strict.exit_code == 6 and "0 error(s)" in strict.stdout
    result = runner.invoke(cli, ["report", "MISTRAL", "--json"], env=env)
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]
    page = Path(written[0]).read_text()
    assert "range:age" in page and "<svg" in page and "Variables by arm" in page
    assert "availability" in Path(written[-1]).read_text().lower()
    result = runner.invoke(cli, ["explain", "MISTRAL", "1003", "age", "--json"], env=env)
    assert result.exit_code == 0, result.output
    exp = json.loads(result.stdout)
    assert exp["delivered"] == {"age": "145"} and exp["rule"]["type"] == "direct"
    assert os.path.basename(exp["rule"]["file"]) == "MISTRAL.yaml" and exp["rule"]["line"]
    # a derived value is traced back to every raw column behind it (trap: "(no columns)")
    sirocco = next(p for p in load_planted(example_workspace[1]) if p["trial"] == "SIROCCO")
    who = sirocco["participants"][0]["participant_id"]
    result = runner.invoke(cli, ["explain", "SIROCCO", who, "os_time_days", "--json"], env=env)
    assert result.exit_code == 0, result.output
    derived = json.loads(result.stdout)
    assert derived["rule"]["type"] == "derive" and len(derived["delivered"]) == 3, derived
    assert set(derived["derived_from"]) == {"rand_date", "death_date", "last_fu_date"}
    assert set(derived["after_corrections"]) == set(derived["delivered"])
