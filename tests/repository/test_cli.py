"""The ipdrepo CLI, run as a real process: output, --json, exit codes, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from .conftest import BASE, write_delivery


def ipdrepo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """Run the real ``ipdrepo`` command in-process (click's runner) from directory ``cwd``."""
    from repository.cli import cli

    clean = {k: None for k in os.environ if k.startswith("IPDREPO_")}
    clean.update(env or {})
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env=clean, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "repository", "init", "ws", "--topic", "t1",
                        "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["topic"] == "t1"
    r = subprocess.run([sys.executable, "-m", "repository", "status"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 4 and "not an ipdrepo workspace" in r.stderr
    assert "Traceback" not in r.stderr


def test_curator_session_end_to_end(tmp_path: Path) -> None:
    r = ipdrepo("init", "ws", "--topic", "gastric-adjuvant", "--title", "Gastric", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    ws = tmp_path / "ws"
    r = ipdrepo("trial", "add", "GAST-01", "--registry-id", "NCT01234567",
                "--arm", "1=Surgery alone:1:3", "--arm", "2=Chemo:1:2", "--id-column", "PATNO",
                cwd=ws)
    assert r.exit_code == 0, r.stderr
    path = write_delivery(tmp_path / "in", "sav")
    r = ipdrepo("ingest", "GAST-01", str(path), "--received-from", "Dr T", "--json", cwd=ws)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "ingested" and result["n_rows"] == 5
    # same bytes again: exit 0, nothing changes
    r = ipdrepo("ingest", "GAST-01", str(path), "--json", cwd=ws)
    assert json.loads(r.stdout)["status"] == "unchanged"
    # --workspace and IPDREPO_WORKSPACE work from anywhere
    r = ipdrepo("--workspace", str(ws), "deliveries", "--json", cwd=tmp_path)
    rows = json.loads(r.stdout)
    assert [d["format"] for d in rows] == ["sav"] and rows[0]["received_from"] == "Dr T"
    r = ipdrepo("status", "--json", cwd=tmp_path, env={"IPDREPO_WORKSPACE": str(ws)})
    status = json.loads(r.stdout)
    assert status["totals"] == {"trials": 1, "trials_with_data": 1, "deliveries": 1,
                                "participants": 5, "randomised_published": 5}
    r = ipdrepo("status", cwd=ws)
    assert "GAST-01" in r.stdout and r.exit_code == 0
    r = ipdrepo("audit", "verify", "--json", cwd=ws)
    # topic.create, user.add (first curator), trial.add, delivery.ingest
    report = json.loads(r.stdout)
    assert {k: report[k] for k in ("events", "ok", "problems", "keyed", "rows_checked")} == {
        "events": 4, "ok": True, "problems": [], "keyed": True, "rows_checked": 2}
    r = ipdrepo("participants", "GAST-01", "--map-back", "--json", cwd=ws)
    assert sorted(p["trial_id"] for p in json.loads(r.stdout)) == BASE["PATNO"].tolist()


def test_errors_have_messages_and_exit_codes(tmp_path: Path) -> None:
    r = ipdrepo("status", cwd=tmp_path)
    assert r.exit_code == 4 and "not an ipdrepo workspace" in r.stderr
    assert "Traceback" not in r.stderr
    ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path)
    ws = tmp_path / "ws"
    good = write_delivery(tmp_path / "in", "csv")
    r = ipdrepo("ingest", "NOPE", str(good), cwd=ws)
    assert r.exit_code == 3 and "not registered" in r.stderr
    ipdrepo("trial", "add", "T1", "--arm", "1=a", "--arm", "2=b", cwd=ws)
    frame = BASE.assign(PATNO=["A001", "A001", "A003", "A004", "A005"])
    r = ipdrepo("ingest", "T1", str(write_delivery(tmp_path / "d", "csv", frame)), cwd=ws)
    assert r.exit_code == 5 and "duplicated ID" in r.stderr and "rows 1, 2" in r.stderr
    with_mail = BASE.assign(mail=["x@y.org", "", "", "", ""])
    r = ipdrepo("ingest", "T1", str(write_delivery(tmp_path / "e", "csv", with_mail)), "--json",
                cwd=ws)
    assert r.exit_code == 5
    err = json.loads(r.stdout)
    assert err["error"] == "DirectIdentifiers" and err["findings"][0]["column"] == "mail"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = ipdrepo("ingest", "T1", str(empty), cwd=ws)
    assert r.exit_code == 4 and "empty.csv is empty" in r.stderr
    r = ipdrepo("ingest", "T1", "--format", "nope", str(good), cwd=ws)
    assert r.exit_code == 2  # usage error from click
    r = ipdrepo("deliveries", "--json", cwd=ws)
    assert json.loads(r.stdout) == []


def test_help_teaches() -> None:
    root = Path(__file__).parent
    r = ipdrepo("--help", cwd=root)
    for command in ["init", "trial", "ingest", "deliveries", "status", "example", "audit"]:
        assert command in r.stdout
    r = ipdrepo("ingest", "--help", cwd=root)
    assert "Examples:" in r.stdout and "--accept-identifiers" in r.stdout


def test_trial_import_from_registry_file(tmp_path: Path) -> None:
    ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path)
    registry = tmp_path / "topic.yaml"
    registry.write_text("""
trials:
  - acronym: A-1
    title: First
    registry_ids: [NCT00000001]
    arms: [{code: "1", label: Control, ratio: 1, randomised: 100},
           {code: "2", label: Chemo, ratio: 1, randomised: 101}]
    contact: {name: Dr A, email: a@example.org}
    id_column: patid
  - acronym: B-2
    arms: [{code: A, label: Control}, {code: B, label: Chemo, ratio: 2}]
""")
    r = ipdrepo("trial", "import", str(registry), "--json", cwd=tmp_path / "ws")
    assert json.loads(r.stdout) == {"added": ["A-1", "B-2"], "already_registered": []}
    r = ipdrepo("trial", "list", "--json", cwd=tmp_path / "ws")
    trials = {t["acronym"]: t for t in json.loads(r.stdout)}
    assert trials["A-1"]["randomised_published"] == 201
    assert trials["B-2"]["allocation_ratio"] == "1:2"


def test_init_warns_when_the_dictionary_directory_does_not_exist(tmp_path: Path) -> None:
    """Trap: `init --dictionary` with a mistyped directory said nothing until `harmonise`."""
    r = ipdrepo("init", "ws", "--topic", "t1", "--dictionary", str(tmp_path / "dictionray"),
                cwd=tmp_path)
    assert r.exit_code == 0
    assert f"warning: the dictionary directory {tmp_path / 'dictionray'} does not exist" in r.stderr
    (tmp_path / "dict").mkdir()
    r = ipdrepo("init", "ws2", "--topic", "t1", "--dictionary", str(tmp_path / "dict"),
                "--json", cwd=tmp_path)
    assert "has no dictionary.yaml" in r.stderr
    (tmp_path / "dict" / "dictionary.yaml").write_text("name: t1\n")
    r = ipdrepo("init", "ws3", "--topic", "t1", "--dictionary", str(tmp_path / "dict"),
                cwd=tmp_path)
    assert r.exit_code == 0 and "warning" not in r.stderr


def _workspace_with_dictionary(tmp_path: Path) -> None:
    import shutil

    (tmp_path / "dict").mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "dictionaries" / "gastric-adjuvant" /
                "dictionary.yaml", tmp_path / "dict" / "dictionary.yaml")
    assert ipdrepo("init", "ws", "--topic", "gastric-adjuvant", "--dictionary",
                   str(tmp_path / "dict"), cwd=tmp_path).exit_code == 0


def test_arm_codes_are_checked_against_the_dictionary_and_trials_can_be_updated(
        tmp_path: Path) -> None:
    """Traps: arms registered with codes matching no dictionary arm were accepted and later
    reported as "0 delivered vs 126 published"; there was no `trial update` to fix them."""
    import yaml

    _workspace_with_dictionary(tmp_path)
    ws = tmp_path / "ws"
    r = ipdrepo("trial", "add", "GAST-01", "--arm", "A=Surgery alone:1:126",
                "--arm", "B=Surgery + S-1:1:124", cwd=ws)
    assert r.exit_code == 4
    assert "error: arm codes that match no arm of the dictionary" in r.stderr
    assert "trial GAST-01, arm A (Surgery alone): its code (no dictionary code given) 'A' " \
           "is not a code of the dictionary's arm (0 = Surgery alone, 1 = Adjuvant " \
           "chemotherapy)" in r.stderr
    assert "--arm 'CODE=LABEL:RATIO:N:DICTIONARY_CODE'" in r.stderr
    assert "GAST-01" not in ipdrepo("trial", "list", cwd=ws).stdout  # nothing registered
    # with the dictionary codes: accepted
    r = ipdrepo("trial", "add", "GAST-01", "--arm", "A=Surgery alone:1:126:0",
                "--arm", "B=Surgery + S-1:1:124:3", cwd=ws)
    assert r.exit_code == 4 and "arm B (Surgery + S-1): its dictionary code '3'" in r.stderr
    assert ipdrepo("trial", "add", "GAST-01", "--arm", "A=Surgery alone:1:126:0",
                   "--arm", "B=Surgery + S-1:1:124:1", cwd=ws).exit_code == 0
    # a registry file gets the same check
    (tmp_path / "reg.yaml").write_text(yaml.safe_dump({"trials": [{
        "acronym": "GAST-02", "arms": [{"code": "X", "label": "Control"},
                                       {"code": "1", "label": "Chemo"}]}]}))
    r = ipdrepo("trial", "import", str(tmp_path / "reg.yaml"), cwd=ws)
    assert r.exit_code == 4 and "trial GAST-02, arm X (Control)" in r.stderr
    # trial update: change the arms and the contact; audited; checked like add
    r = ipdrepo("trial", "update", "GAST-01", "--arm", "A=Surgery alone:1:130:0",
                "--arm", "B=Surgery + S-1:1:120:1", "--contact-email", "dm@example.org",
                "--json", cwd=ws)
    assert r.exit_code == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert [a["randomised_published"] for a in data["arms"]] == [130, 120]
    assert data["contact_email"] == "dm@example.org" and data["arms"][1]["harmonised"] == "1"
    r = ipdrepo("trial", "update", "GAST-01", "--arm", "A=Surgery alone:1:130:7",
                "--arm", "B=Surgery + S-1:1:120:1", cwd=ws)
    assert r.exit_code == 4 and "its dictionary code '7'" in r.stderr
    r = ipdrepo("trial", "update", "NOPE", "--title", "x", cwd=ws)
    assert r.exit_code != 0 and r.stderr.startswith("error: trial 'NOPE' is not registered")
    events = ipdrepo("audit", "log", "--json", cwd=ws)
    assert "trial.update" in events.stdout


def test_every_error_has_the_error_prefix_and_a_documented_exit_code(tmp_path: Path) -> None:
    """Trap: some errors came out as click's `Error: ...` with exit code 1 (undocumented)."""
    _workspace_with_dictionary(tmp_path)
    ws = tmp_path / "ws"
    cases = [  # (arguments, exit code, message)
        (["harmonise"], 3, "error: no trial has a delivery yet"),          # was exit 1
        (["queries", "accept"], 2, "error: give query ids or --all-answered"),
        (["release", "get", "1.0", "--repo", "x", "--output", "a.parquet"], 2,
         "error: --repo needs --topic"),
        (["trial", "add", "T1", "--arm", "nonsense"], 4, "error: arm 'nonsense' is not"),
    ]
    for args, code, text in cases:
        r = ipdrepo(*args, cwd=ws)
        assert r.exit_code == code, (args, r.exit_code, r.stderr)
        assert text in r.stderr and "Error:" not in r.stderr, (args, r.stderr)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    r = ipdrepo("demo", str(tmp_path / "mine"), cwd=tmp_path)
    assert r.exit_code == 5 and "error: " in r.stderr and "was not made by" in r.stderr
