"""Releases in a real git + DVC repository with a local DVC remote: create, no-op, immutability,
bad input, and failure injection at every step (a release exists completely or not at all)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from repository import audit
from repository.errors import NotFound, ReleaseError
from repository.models import AuditEvent, Release
from tests.versions.conftest import Env, git, snapshot
from versions.consumers import load
from versions.dataset import sha256_hex
from versions.gitdvc import STEPS
from versions.releases import (
    build_release,
    create_release,
    get_release,
    list_releases,
    show_release,
)
from versions.verify import verify_release


def _remote_objects(e: Env) -> list[Path]:
    return sorted(p for p in (e.workspace / "dvc-remote").rglob("*") if p.is_file())


def test_create_list_show_verify(env_any: Env) -> None:
    """On SQLite and PostgreSQL: a release is data + manifest + pointer + commit + tag + row."""
    e = env_any
    inputs = e.inputs()
    result = create_release(e.store, inputs, version="1.0", message="first release")
    assert result.status == "created" and result.rows == len(e.truth)
    repo = e.repo
    # git: one commit with pointer, manifest and .gitignore; an annotated tag at it
    assert git(repo.root, "cat-file", "-t", "gastric-adjuvant/v1.0").strip() == "tag"
    assert repo.tag_commit("gastric-adjuvant/v1.0") == result.commit
    files = git(repo.root, "show", "--name-only", "--format=", result.commit).split()
    assert sorted(files) == ["gastric-adjuvant/1.0/.gitignore",
                             "gastric-adjuvant/1.0/data.parquet.dvc",
                             "gastric-adjuvant/1.0/manifest.json"]
    assert "tester" in git(repo.root, "log", "-1", "--format=%an <%ae>")
    # DVC: the data file is not in git, its content is in the remote
    assert "data.parquet\n" not in git(repo.root, "ls-files")
    data = (repo.root / "gastric-adjuvant/1.0/data.parquet").read_bytes()
    assert sha256_hex(data) == result.data_sha256
    assert any(p.read_bytes() == data for p in _remote_objects(e))
    # the store: row + audit event
    info = show_release(e.store, "1.0")
    assert info.commit == result.commit and info.manifest == result.manifest
    assert info.message == "first release" and info.created_by == "tester"
    assert list_releases(e.store).summary["version"].tolist() == ["1.0"]
    with e.store.reading() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "release.create")).one()
        assert event.details["data_sha256"] == result.data_sha256
        assert audit.verify(session).ok
    check = verify_release(e.store, "1.0")
    assert check.ok, check.summary
    assert check.summary["check"].tolist() == ["store record", "git tag", "tag hashes",
                                               "manifest", "DVC pointer", "data in remote",
                                               "deliveries"]
    frame = get_release(e.store, "1.0")
    assert len(frame) == len(e.truth)
    assert repo.dirty_files() == []


def test_same_content_is_a_no_op_and_other_content_is_refused(env: Env) -> None:
    first = create_release(env.store, env.inputs(), version="1.0")
    before = snapshot(env)
    again = create_release(env.store, env.inputs(), version="1.0", message="other message")
    assert again.status == "unchanged" and again.commit == first.commit
    assert snapshot(env) == before
    changed = env.inputs(edit=lambda f: f.assign(age=f["age"] + 1))
    with pytest.raises(ReleaseError, match="already exists .* with different content") as err:
        create_release(env.store, changed, version="1.0")
    assert "data.sha256" in err.value.differences
    assert "immutable" in err.value.message
    assert snapshot(env) == before
    # a new version is fine, and the first release's bytes are untouched
    second = create_release(env.store, changed, version="1.1")
    assert second.data_sha256 != first.data_sha256
    data = (env.repo.root / "gastric-adjuvant/1.0/data.parquet").read_bytes()
    assert sha256_hex(data) == first.data_sha256
    assert len(load("gastric-adjuvant", "1.0", repo=str(env.repo.root))) == len(env.truth)
    assert list_releases(env.store).summary["version"].tolist() == ["1.0", "1.1"]


def test_byte_identical_rebuild_in_another_workspace(env: Env, tmp_path: Path,
                                                     truth) -> None:
    """A second workspace holding the same deliveries under the same repository secret, its
    release built from its *own* store (its deliveries, its pseudonyms) into its own release
    repository: identical data bytes, manifests equal apart from ``created``."""
    from tests.versions.conftest import new_env
    from versions.manifest import comparable

    a = create_release(env.store, env.inputs(), version="3.0")
    other = new_env(tmp_path / "other", truth, secret_from=env.store.settings.secret_file)
    try:
        assert other.store.settings.workspace != env.store.settings.workspace
        own = other.deliveries()  # read from the second store
        assert [d["sha256"] for d in own] == [d["sha256"] for d in env.deliveries()]
        assert other.pseudonyms == env.pseudonyms  # the second store's own, keyed alike
        b = create_release(other.store, other.inputs(), version="3.0")
        assert other.repo.root != env.repo.root
        assert a.data_sha256 == b.data_sha256
        da = (env.repo.root / a.path / "data.parquet").read_bytes()
        db = (other.repo.root / b.path / "data.parquet").read_bytes()
        assert da == db
        assert comparable(a.manifest) == comparable(b.manifest)
        ma = (env.repo.root / a.path / "manifest.json").read_bytes()
        mb = (other.repo.root / b.path / "manifest.json").read_bytes()
        # the manifests may differ only in the created block's time (equal within a second)
        assert [x for x in ma.splitlines() if b'"at":' not in x] == \
            [x for x in mb.splitlines() if b'"at":' not in x]
    finally:
        other.store.close()


def test_dirty_work_tree_is_refused_naming_the_files(env: Env) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    root = env.repo.root
    (root / "notes.txt").write_text("scratch")
    (root / "README.md").write_text("edited")
    with pytest.raises(ReleaseError, match="uncommitted changes") as err:
        create_release(env.store, env.inputs(version="1.1"), version="1.1")
    assert "notes.txt" in err.value.message and "README.md" in err.value.message
    (root / "notes.txt").unlink()
    git(root, "checkout", "--", "README.md")
    # a released data file changed in place is dirty too (DVC status)
    data = root / "gastric-adjuvant/1.0/data.parquet"
    data.chmod(0o644)
    data.write_bytes(data.read_bytes() + b"x")
    with pytest.raises(ReleaseError, match="uncommitted changes") as err:
        create_release(env.store, env.inputs(version="1.1"), version="1.1")
    assert "gastric-adjuvant/1.0/data.parquet (modified)" in err.value.files
    with env.store.reading() as session:
        assert [r.version for r in session.scalars(select(Release))] == ["1.0"]


def test_existing_tag_without_store_record_is_refused(env: Env) -> None:
    repo = env.repo
    git(repo.root, "tag", "-a", "gastric-adjuvant/v2.0", "-m", "made by hand")
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="tag gastric-adjuvant/v2.0 already exists"):
        create_release(env.store, env.inputs(), version="2.0")
    assert snapshot(env) == before


def test_missing_remote_releases_nothing(env: Env) -> None:
    repo = env.repo
    repo.unset_remote()
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="has no DVC remote") as err:
        create_release(env.store, env.inputs(), version="1.0")
    assert "ipdrepo release remote" in err.value.message
    assert snapshot(env) == before
    repo.set_remote(str(env.root / "no" / "such" / "dir"))
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="does not exist or is not a directory"):
        create_release(env.store, env.inputs(), version="1.0")
    assert snapshot(env) == before
    with pytest.raises(NotFound):
        show_release(env.store, "1.0")


def test_a_real_push_failure_rolls_back(env: Env) -> None:
    """The remote exists but cannot take the object (a file sits where DVC needs a directory):
    the real ``dvc push`` fails half way and nothing is released."""
    remote = env.root / "broken-remote"
    remote.mkdir()
    (remote / "files").write_text("not a directory")
    env.repo.set_remote(str(remote))
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="pushing the release data .* failed"):
        create_release(env.store, env.inputs(), version="1.0")
    assert snapshot(env) == before


#: the steps the issue names run by default; the others with --slow
NAMED_STEPS = ("data_written", "dvc_added", "push", "before_tag", "db_commit")


@pytest.mark.parametrize("step", [s if s in NAMED_STEPS else
                                  pytest.param(s, marks=pytest.mark.slow) for s in STEPS])
def test_failure_at_every_step_leaves_nothing(env: Env, fail_at: Callable, step: str) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    before = snapshot(env)
    with pytest.raises(ReleaseError, match=f"injected failure at {step}") as err:
        create_release(env.store, env.inputs(version="1.1"), version="1.1",
                       checkpoint=fail_at(step))
    assert "Nothing was released" in err.value.message
    assert snapshot(env) == before
    assert env.repo.tag_commit("gastric-adjuvant/v1.1") is None
    # and the same release then goes through
    result = create_release(env.store, env.inputs(version="1.1"), version="1.1")
    assert result.status == "created"
    assert env.repo.tag_commit("gastric-adjuvant/v1.1") == result.commit


def test_interruption_rolls_back_and_is_re_raised(env: Env, fail_at: Callable) -> None:
    """Ctrl-C during the push: the interruption propagates, the repository is restored."""
    assert env.repo.exists()  # creates the repository first
    before = snapshot(env)
    with pytest.raises(KeyboardInterrupt):
        create_release(env.store, env.inputs(), version="1.0",
                       checkpoint=fail_at("push", KeyboardInterrupt))
    assert snapshot(env) == before


def test_build_release_matches_what_was_released(env: Env) -> None:
    result = create_release(env.store, env.inputs(), version="1.0")
    built = build_release(env.inputs(), version="1.0", created_by="someone-else")
    assert sha256_hex(built.data) == result.data_sha256


def test_open_queries_stop_a_release_unless_a_reason_is_given(env: Env) -> None:
    """Trap: a release went out while data queries were still open, and nothing said so."""
    from harmonise.queries.lifecycle import raise_query
    from repository.trials import get_trial

    trial = str(env.truth["trial"].iloc[0])
    with env.store.transaction() as session:
        topic = env.store.topic(session)
        raise_query(session, topic, get_trial(session, topic, trial), actor="tester",
                    question="Where are the follow-up dates of the second centre?")
    before = snapshot(env)
    with pytest.raises(ReleaseError, match=rf"1 data query is still open \({trial}: 1\).*"
                                           "--allow-open-queries REASON") as err:
        create_release(env.store, env.inputs(), version="1.0")
    assert err.value.exit_code == 5 and err.value.open_queries == {trial: 1}
    assert snapshot(env) == before
    result = create_release(env.store, env.inputs(), version="1.0",
                            allow_open_queries="interim analysis for the DMC")
    assert result.manifest["open_queries_allowed"] == {
        "reason": "interim analysis for the DMC", "by_trial": {trial: 1}, "total": 1}
    # a warning never stops a release (the same rule as validate's exit code); it is listed
    with env.store.transaction() as session:
        topic = env.store.topic(session)
        q = raise_query(session, topic, get_trial(session, topic, trial), actor="tester",
                        question="Follow-up looks shorter in one arm: is it?")
        q.severity = "warning"
    with pytest.raises(ReleaseError, match=r"1 data query is still open"):
        create_release(env.store, env.inputs(), version="1.1")  # the error one still is
    from harmonise.queries.lifecycle import close, get_query

    with env.store.transaction() as session:
        topic = env.store.topic(session)
        close(session, get_query(session, topic, 1), actor="tester", topic=topic.slug,
              reason="the DMC data are complete")
    released = create_release(env.store, env.inputs(edit=lambda f: f.assign(age=f["age"] + 1)),
                              version="1.1")
    assert released.manifest["open_queries_allowed"] == {"open_warnings": {trial: 1}}
