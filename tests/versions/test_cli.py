"""The versions CLI end to end: release, request, withdraw/consent, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.versions.conftest import Env, ipdrepo
from versions.dataset import sha256_hex


def _ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_release_and_request_workflow(env: Env, tmp_path: Path) -> None:
    inputs = env.inputs().write(tmp_path / "inputs-1.0")
    created = _ok(ipdrepo(env, "release", "create", "--version", "1.0", "--inputs",
                          str(inputs), "-m", "first", "--json"))
    assert created["status"] == "created" and created["rows"] == len(env.truth)
    again = ipdrepo(env, "release", "create", "--version", "1.0", "--inputs", str(inputs))
    assert again.exit_code == 0 and "Already released (same content)" in again.output

    changed = env.inputs(edit=lambda f: f.assign(bmi=f["bmi"] + 0.1)).write(tmp_path / "bad")
    refused = ipdrepo(env, "release", "create", "--version", "1.0", "--inputs", str(changed))
    assert refused.exit_code == 5
    assert "error: release 1.0 of gastric-adjuvant already exists" in refused.output

    listed = _ok(ipdrepo(env, "release", "list", "--json"))
    assert [r["version"] for r in listed["releases"]] == ["1.0"]
    shown = _ok(ipdrepo(env, "release", "show", "1.0", "--json"))
    assert shown["manifest"]["data"]["sha256"] == created["data_sha256"]
    assert shown["message"] == "first"
    text = ipdrepo(env, "release", "show", "1.0")
    assert "data_sha256" in text.output and "BOREAS" in text.output
    verified = ipdrepo(env, "release", "verify", "1.0")
    assert verified.exit_code == 0 and "data in remote" in verified.output
    out = tmp_path / "r.parquet"
    got = _ok(ipdrepo(env, "release", "get", "1.0", "--output", str(out), "--json"))
    assert sha256_hex(out.read_bytes()) == got["data_sha256"] == created["data_sha256"]
    remote = _ok(ipdrepo(env, "release", "remote", "--json"))
    assert remote["url"] == str(env.workspace / "dvc-remote")

    trial = env.trials[0]
    pid = env.participant(trial)
    w = _ok(ipdrepo(env, "withdraw", trial, pid, "--reason", "letter of 2024-03-01",
                    "--json"))
    assert w["participant"] == pid
    dup = ipdrepo(env, "consent", "withdraw", trial, pid, "--reason", "again")
    assert dup.exit_code == 5 and "already withdrew" in dup.output
    assert _ok(ipdrepo(env, "consent", "list", "--json"))["withdrawals"][0]["trial"] == trial

    _request_workflow(env, tmp_path)
    unknown = ipdrepo(env, "release", "show", "4.0")
    assert unknown.exit_code == 3 and "no release 4.0" in unknown.output


def _request_workflow(env: Env, tmp_path: Path) -> None:
    """A request for two trials after one participant withdrew: refused until approved,
    extracted without the withdrawn participant, refused again once revoked."""
    req = _ok(ipdrepo(env, "request", "add", "--requestor", "B. Jones", "--institution",
                      "Institute Y", "--purpose", "toxicity by age", "--trials",
                      ",".join(env.trials[:2]), "--variables", "age,sex,grade3_toxicity",
                      "--dua", "DUA-9", "--quasi-identifiers", "sex", "--k", "3", "--json"))
    code = req["code"]
    early = ipdrepo(env, "request", "extract", code, "--release", "1.0", "--output",
                    str(tmp_path / "x0"))
    assert early.exit_code == 5 and "not approved" in early.output
    bad_date = ipdrepo(env, "request", "approve", code, "--expires", "next year")
    assert bad_date.exit_code == 2
    _ok(ipdrepo(env, "request", "approve", code, "--expires", "2099-01-01", "--json"))
    ex = _ok(ipdrepo(env, "request", "extract", code, "--release", "1.0", "--output",
                     str(tmp_path / "x1"), "--csv", "--json"))
    assert ex["withdrawn_excluded"] == 1
    frame = pd.read_parquet(tmp_path / "x1" / "data.parquet")
    assert list(frame.columns) == ["trial", "participant_id", "age", "sex", "grade3_toxicity"]
    assert len(frame) == ex["rows"] == int(env.truth["trial"].isin(env.trials[:2]).sum()) - 1
    assert (tmp_path / "x1" / "data.csv").is_file()
    shown = ipdrepo(env, "request", "show", code)
    assert ex["watermark"] in shown.output
    listed = _ok(ipdrepo(env, "request", "list", "--json"))
    assert listed["requests"][0]["status"] == "approved"
    revoked = _ok(ipdrepo(env, "request", "revoke", code, "--note", "ended", "--json"))
    assert revoked["status"] == "revoked"
    after = ipdrepo(env, "request", "extract", code, "--release", "1.0", "--output",
                    str(tmp_path / "x2"))
    assert after.exit_code == 5 and "revoked" in after.output


def test_create_without_inputs_builds_them_with_the_pipeline(env: Env) -> None:
    """Without --inputs the release is built from the store by the harmonisation pipeline; a
    store it cannot build from gets a clear error and its exit code, not a traceback."""
    result = ipdrepo(env, "release", "create", "--version", "1.0")
    assert result.exit_code == 3, result.output
    assert result.output.startswith("error: no topic dictionary at "), result.output


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    from repository.cli import cli

    for args in (["release"], ["release", "create"], ["release", "diff"], ["request"],
                 ["request", "extract"], ["withdraw"], ["consent", "list"], ["prisma"],
                 ["prisma", "show"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output
