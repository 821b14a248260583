"""The top-level DVC pipeline (dvc.yaml) of the example topic."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_pipeline_stages_are_real_commands_with_known_params() -> None:
    from repository.cli import cli

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert list(stages()) == ["example", "ingest", "harmonise", "validate", "release", "analyse"]
    for name, stage in stages().items():
        words = shlex.split(stage["cmd"].replace("${", "").replace("}", ""))
        assert words[0] == "ipdrepo", name
        sub = []
        for word in words[1:]:
            if word.startswith("-") or "/" in word:
                break
            sub.append(word)
        result = CliRunner().invoke(cli, [*sub, "--help"])
        assert result.exit_code == 0, (name, result.output)
        for group in stage.get("params", []):
            assert group in params, (name, group)
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    assert set(lock) == set(stages()), "dvc.lock does not cover every stage: run dvc repro"


@pytest.mark.slow
def test_dvc_repro_in_a_fresh_clone_rebuilds_the_release_byte_for_byte(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env = {k: v for k, v in env.items() if not k.startswith("IPDREPO_")}
    dvc = shutil.which("dvc", path=env["PATH"])
    assert dvc, "dvc is not installed in the environment"
    result = subprocess.run([dvc, "repro"], cwd=clone, env=env, capture_output=True, text=True,
                            timeout=3000)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]["release"]["outs"]
    rebuilt = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["release"]["outs"]
    pick = {o["path"]: o["md5"] for o in committed}
    again = {o["path"]: o["md5"] for o in rebuilt}
    assert again["build/release/data.parquet"] == pick["build/release/data.parquet"]
    metrics = yaml.safe_load((clone / "build" / "metrics" / "validation.json").read_text())
    assert metrics["planted_found"] == metrics["planted_problems"] and metrics["open_findings"] == 0
