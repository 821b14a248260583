"""Consumers: a pinned release read through DVC from a FRESH clone of the release repository
with only the DVC remote available (local directory here; S3 via a real moto server below)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from repository.cli import cli
from repository.errors import NotFound, ReleaseError
from tests.versions.conftest import Env, git, snapshot
from versions import consumers
from versions.dataset import read_parquet_bytes, sha256_hex
from versions.releases import configure_remote, create_release
from versions.verify import verify_release

TOPIC = "gastric-adjuvant"


def _fresh_clone(e: Env, target: Path) -> Path:
    """Clone the release repository elsewhere and make the original DVC cache unreachable."""
    root = e.repo.root
    subprocess.run(["git", "clone", "-q", str(root), str(target)], check=True,
                   env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")})
    shutil.rmtree(root / ".dvc" / "cache")
    for data in root.rglob("data.parquet"):
        data.unlink()
    assert not (target / ".dvc" / "cache").exists()
    assert not list(target.rglob("data.parquet"))
    return target


@pytest.fixture
def two_releases(env: Env) -> tuple[Env, dict[str, bytes]]:
    trial = env.trials[0]
    pid = env.participant(trial, 1)

    def correct(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        f.loc[f["participant_id"] == pid, "weight_kg"] = 71.5
        return f

    a = create_release(env.store, env.inputs(), version="1.0")
    b = create_release(env.store, env.inputs(edit=correct), version="1.1")
    data = {v: (env.repo.root / r.path / "data.parquet").read_bytes()
            for v, r in (("1.0", a), ("1.1", b))}
    assert sha256_hex(data["1.0"]) == a.data_sha256
    return env, data


def test_load_pinned_versions_from_a_fresh_clone(two_releases, tmp_path: Path) -> None:
    env, data = two_releases
    clone = _fresh_clone(env, tmp_path / "elsewhere" / "clone")
    for version in ("1.0", "1.1"):
        frame = consumers.load(TOPIC, version, repo=str(clone))
        pd.testing.assert_frame_equal(frame, read_parquet_bytes(data[version]))
        assert sha256_hex(consumers.load_bytes(TOPIC, version, repo=str(clone))) == \
            sha256_hex(data[version])
    assert consumers.available_versions(TOPIC, repo=str(clone)) == ["1.0", "1.1"]
    manifest = consumers.load_manifest(TOPIC, "1.1", repo=str(clone))
    assert manifest["tag"] == f"{TOPIC}/v1.1"
    # also by git URL (DVC clones it itself)
    frame = consumers.load(TOPIC, "1.0", repo=f"file://{clone}")
    assert len(frame) == len(env.truth)


def test_cli_get_without_a_workspace(two_releases, tmp_path: Path, monkeypatch) -> None:
    env, data = two_releases
    clone = _fresh_clone(env, tmp_path / "clone")
    monkeypatch.delenv("IPDREPO_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "gastric-1.0.parquet"
    result = CliRunner().invoke(cli, ["release", "get", "1.0", "--repo", str(clone),
                                      "--topic", TOPIC, "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data["1.0"]  # byte for byte the released file
    csv = tmp_path / "gastric-1.1.csv"
    result = CliRunner().invoke(cli, ["release", "get", "1.1", "--repo", str(clone),
                                      "--topic", TOPIC, "--output", str(csv)])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert len(pd.read_csv(csv)) == len(env.truth)


def test_unreachable_remote_and_remote_override(two_releases, tmp_path: Path) -> None:
    env, data = two_releases
    clone = _fresh_clone(env, tmp_path / "clone")
    moved = tmp_path / "moved-remote"
    shutil.move(env.workspace / "dvc-remote", moved)
    with pytest.raises(ReleaseError, match="neither in the local DVC cache nor in the DVC "
                                           "remote"):
        consumers.load(TOPIC, "1.0", repo=str(clone))
    frame = consumers.load(TOPIC, "1.0", repo=str(clone), remote=str(moved))
    pd.testing.assert_frame_equal(frame, read_parquet_bytes(data["1.0"]))


def test_unknown_version_and_damaged_bytes(two_releases, tmp_path: Path) -> None:
    env, data = two_releases
    clone = _fresh_clone(env, tmp_path / "clone")
    with pytest.raises(NotFound, match=r"no release 9\.9 .*released: 1\.0, 1\.1"):
        consumers.load(TOPIC, "9.9", repo=str(clone))
    with pytest.raises(ReleaseError, match="cannot read the release repository"):
        consumers.load(TOPIC, "1.0", repo=str(tmp_path / "not-a-repo"))
    # damage the object of 1.0 in the remote: the manifest hash catches it
    objects = [p for p in (env.workspace / "dvc-remote").rglob("*") if p.is_file()
               and p.read_bytes() == data["1.0"]]
    assert len(objects) == 1
    objects[0].chmod(0o644)
    objects[0].write_bytes(data["1.0"][:-10] + b"0123456789")
    with pytest.raises(ReleaseError, match="do not match its manifest"):
        consumers.load(TOPIC, "1.0", repo=str(clone))
    check = verify_release(env.store, "1.0")
    assert not check.ok
    assert check.summary.set_index("check")["ok"].to_dict() == {
        "store record": True, "git tag": True, "tag hashes": True, "manifest": True,
        "DVC pointer": True, "data in remote": False, "deliveries": True}
    assert verify_release(env.store, "1.1").ok


# -- S3 through a real (moto) server ---------------------------------------------------------

@pytest.fixture
def s3_server(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's moto S3 server (tests/conftest.py), with test credentials set."""
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    return moto_endpoint


def test_s3_remote_release_and_fresh_clone_load(env: Env, s3_server: str,
                                                tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="ipd-releases")
    remote = configure_remote(env.store, "s3://ipd-releases/gastric",
                              options={"endpointurl": s3_server},
                              secrets={"access_key_id": "testing",
                                       "secret_access_key": "testing"})
    assert remote.url == "s3://ipd-releases/gastric"
    root = env.repo.root
    committed = git(root, "show", "HEAD:.dvc/config")
    assert "endpointurl" in committed and "secret" not in committed
    assert "secret_access_key" in (root / ".dvc" / "config.local").read_text()
    assert ".dvc/config.local" not in git(root, "ls-files")

    result = create_release(env.store, env.inputs(), version="1.0")
    assert result.remote == "s3://ipd-releases/gastric"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ipd-releases")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("gastric/files/md5/")
    body = s3.get_object(Bucket="ipd-releases", Key=keys[0])["Body"].read()
    assert sha256_hex(body) == result.data_sha256

    clone = _fresh_clone(env, tmp_path / "clone")  # credentials only from the environment
    frame = consumers.load(TOPIC, "1.0", repo=str(clone))
    assert sha256_hex(consumers.load_bytes(TOPIC, "1.0", repo=str(clone))) == \
        result.data_sha256
    assert len(frame) == len(env.truth)

    # a bucket that does not exist: the real push fails and nothing is released
    configure_remote(env.store, "s3://no-such-bucket/x", options={"endpointurl": s3_server})
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="pushing the release data"):
        create_release(env.store, env.inputs(version="1.1"), version="1.1")
    assert snapshot(env) == before
