"""The pilot harmonised from SDTM, released with every long table (one manifest), read back with
``versions.load_tables`` and exported with labels for Stata and as a Frictionless package."""

from __future__ import annotations

import json
from pathlib import Path

import pyreadstat
from click.testing import CliRunner

from repository.cli import cli
from repository.store import Store
from versions.consumers import load_manifest, load_tables


def test_a_release_holds_every_table_and_exports_them(sdtm_store: Store, pilot: Path,
                                                      tmp_path: Path) -> None:
    env = {"IPDREPO_WORKSPACE": str(sdtm_store.settings.workspace), "IPDREPO_USER": "curator"}
    runner = CliRunner()
    made = runner.invoke(cli, ["release", "create", "--version", "1.0.0", "-m", "pilot",
                               "--json"], env=env)
    assert made.exit_code == 0, made.output
    repo = sdtm_store.settings.workspace / "releases"
    manifest = load_manifest("dementia-patches", "1.0.0", repo=str(repo))
    entries = {t["name"]: t for t in manifest["tables"]}
    assert set(entries) == {"adverse_events", "visits"}
    assert entries["adverse_events"]["key"] == ["ae_seq"]
    tables = load_tables("dementia-patches", "1.0.0", repo=str(repo))
    ae, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "ae.xpt"))
    sv, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "sv.xpt"))
    assert len(tables["adverse_events"]) == len(ae)
    assert len(tables["visits"]) == len(sv)
    assert len(tables["participants"]) == 306
    # the long tables carry the participant's pseudonym, never the trial's own ID
    assert not set(tables["adverse_events"]["participant_id"]) & set(ae["USUBJID"])

    out = tmp_path / "stata"
    exported = runner.invoke(cli, ["release", "export", "1.0.0", "--format", "stata", "-o",
                                   str(out), "--json"], env=env)
    assert exported.exit_code == 0, exported.output
    files = json.loads(exported.stdout)["files"]
    assert set(files) == {"participants", "adverse_events", "visits"}
    frame, meta = pyreadstat.read_dta(files["adverse_events"])
    assert len(frame) == len(ae)
    assert meta.variable_value_labels["ae_severity"] == {1: "Mild", 2: "Moderate", 3: "Severe"}
    package = runner.invoke(cli, ["release", "export", "1.0.0", "--format", "frictionless",
                                  "-o", str(tmp_path / "package")], env=env)
    assert package.exit_code == 0, package.output
    described = json.loads((tmp_path / "package" / "datapackage.json").read_text())
    assert {r["name"] for r in described["resources"]} == {"participants", "adverse-events",
                                                            "visits"}
