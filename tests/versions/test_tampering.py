"""Tampering with a release is noticed (issue 17, item 4, release side).

* ``versions.load_manifest`` checks the manifest against its tag: an edited manifest under a
  moved tag, a lightweight tag put in place of the release's, a manifest copied from another
  release are refused; the data must have the manifest's sha256;
* ``release verify`` reports a raw delivery edited in the object store after the release (the
  manifest's sha256 no longer matches the bytes), and a tag whose hashes are not the store's;
* ``release create`` checks every byte it wrote (files, DVC pointer, commit, the remote) and
  never records a manifest whose hashes do not match what it stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from repository.errors import ReleaseError
from tests.versions.conftest import Env, git, snapshot
from versions import consumers
from versions.dataset import sha256_hex
from versions.releases import create_release
from versions.verify import verify_release

TOPIC = "gastric-adjuvant"
TAG = f"{TOPIC}/v1.0"


def _retag(repo: Path, tag: str, message: str | None) -> None:
    """Move ``tag`` to HEAD, annotated with ``message`` (lightweight when None)."""
    git(repo, "tag", "-d", tag)
    if message is None:
        git(repo, "tag", tag)
    else:
        (repo.parent / "msg.txt").write_text(message)
        git(repo, "tag", "-a", tag, "-F", str(repo.parent / "msg.txt"))


def _edit_manifest(repo: Path, rel: str, change: Callable[[dict], None]) -> bytes:
    path = repo / rel
    manifest = json.loads(path.read_text())
    change(manifest)
    raw = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    path.write_bytes(raw)
    git(repo, "commit", "-q", "-am", "edit the manifest")
    return raw


def test_an_edited_manifest_under_a_moved_tag_is_refused(env: Env) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    repo = env.repo.root
    assert consumers.load_manifest(TOPIC, "1.0", repo=str(repo))["tag"] == TAG
    message = git(repo, "tag", "-l", "--format=%(contents)", TAG)

    def fewer(m: dict) -> None:
        m["counts"]["by_trial"][0]["rows"] += 1

    _edit_manifest(repo, f"{TOPIC}/1.0/manifest.json", fewer)
    _retag(repo, TAG, message)
    with pytest.raises(ReleaseError, match="was changed after the release") as err:
        consumers.load_manifest(TOPIC, "1.0", repo=str(repo))
    assert "sha256" in err.value.message and "report it to the curators" in err.value.message
    with pytest.raises(ReleaseError, match="was changed after the release"):
        consumers.load(TOPIC, "1.0", repo=str(repo))
    check = verify_release(env.store, "1.0").summary.set_index("check")["ok"].to_dict()
    assert not check["git tag"] and not check["manifest"]


def test_a_replaced_tag_or_a_copied_manifest_is_refused(env: Env) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    create_release(env.store, env.inputs(version="1.1"), version="1.1")
    repo = env.repo.root
    # a lightweight tag in place of the release's annotated one
    _retag(repo, TAG, None)
    with pytest.raises(ReleaseError, match="not an annotated release tag"):
        consumers.load_manifest(TOPIC, "1.0", repo=str(repo))
    # 1.1's manifest replaced by 1.0's, with the tag's hashes recomputed to match
    old = (repo / f"{TOPIC}/1.0/manifest.json").read_bytes()
    (repo / f"{TOPIC}/1.1/manifest.json").write_bytes(old)
    git(repo, "commit", "-q", "-am", "copy")
    manifest = json.loads(old)
    _retag(repo, f"{TOPIC}/v1.1", consumers.tag_message(
        "Release", manifest_sha256=sha256_hex(old), data_sha256=manifest["data"]["sha256"]))
    with pytest.raises(ReleaseError, match="describes another release"):
        consumers.load_manifest(TOPIC, "1.1", repo=str(repo))


def test_the_data_must_have_the_manifest_hash(env: Env) -> None:
    """Even a manifest edited together with its tag's hashes cannot vouch for other data."""
    create_release(env.store, env.inputs(), version="1.0")
    repo = env.repo.root

    def other_hash(m: dict) -> None:
        m["data"]["sha256"] = "0" * 64

    raw = _edit_manifest(repo, f"{TOPIC}/1.0/manifest.json", other_hash)
    _retag(repo, TAG, consumers.tag_message("Release", manifest_sha256=sha256_hex(raw),
                                            data_sha256="0" * 64))
    assert consumers.load_manifest(TOPIC, "1.0", repo=str(repo))["data"]["sha256"] == "0" * 64
    with pytest.raises(ReleaseError, match="do not match its manifest"):
        consumers.load(TOPIC, "1.0", repo=str(repo))


def test_an_older_tag_without_hashes_is_read_with_a_warning(env: Env) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    repo = env.repo.root
    _retag(repo, TAG, "Release made before tags carried hashes\n")
    with pytest.warns(consumers.UnverifiedRelease, match="carries no hashes"):
        assert consumers.load_manifest(TOPIC, "1.0", repo=str(repo))["version"] == "1.0"
    check = verify_release(env.store, "1.0").summary.set_index("check")
    assert not check.loc["tag hashes", "ok"]
    assert "could not be checked" in check.loc["tag hashes", "detail"]


def test_verify_reports_a_delivery_edited_in_the_object_store(env: Env) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    assert verify_release(env.store, "1.0").ok
    delivery = env.deliveries()[0]
    stored = env.store.objects.path_for(delivery["sha256"])
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b",0\n", b",1\n", 1))
    check = verify_release(env.store, "1.0")
    assert not check.ok
    row = check.summary.set_index("check").loc["deliveries"]
    assert not row["ok"] and delivery["trial"] in row["detail"]
    assert "edited after it was stored" in row["detail"]


@pytest.mark.parametrize("step, damage", [
    ("data_written", "data"), ("dvc_added", "manifest"), ("pushed", "remote")])
def test_create_checks_every_byte_it_wrote(env: Env, step: str, damage: str) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    before = snapshot(env)
    root = env.repo.root
    inputs = env.inputs(version="1.1", edit=lambda f: f.assign(age=f["age"] + 1))
    remote = env.workspace / "dvc-remote"

    def corrupt(name: str) -> None:
        if name != step:
            return
        if damage == "remote":
            known = {p for p in remote.rglob("*") if p.is_file()} - original
            (target,) = known
        else:
            target = root / f"{TOPIC}/1.1/{'data.parquet' if damage == 'data' else 'manifest.json'}"
        target.chmod(0o644)
        target.write_bytes(target.read_bytes()[:-1] + b"!")

    original = {p for p in remote.rglob("*") if p.is_file()}
    with pytest.raises(ReleaseError, match="is not what was built|Nothing was released") as err:
        create_release(env.store, inputs, version="1.1", checkpoint=corrupt)
    assert "Nothing was released" in err.value.message
    assert snapshot(env) == before
    # the same release then goes through (DVC pushes the object again), every byte checked
    result = create_release(env.store, inputs, version="1.1")
    assert result.status == "created" and verify_release(env.store, "1.1").ok
    assert sha256_hex((root / f"{TOPIC}/1.1/data.parquet").read_bytes()) == result.data_sha256


def test_a_relative_repository_path_is_read(env: Env, monkeypatch) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    monkeypatch.chdir(env.workspace)
    assert consumers.load_manifest(TOPIC, "1.0", repo="releases")["version"] == "1.0"
    assert len(consumers.load(TOPIC, "1.0", repo="releases")) == len(env.truth)
