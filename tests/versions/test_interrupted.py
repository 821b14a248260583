"""A release killed at any step is recovered by the next one (issue 17, item 6).

``release create`` runs in a child process that kills itself (SIGKILL: no ``finally``, no
rollback) at one step; the next ordinary ``create_release`` must find what was left, undo it or
finish it by itself, say so, and produce exactly the release an uninterrupted run produces. The
same for a process killed while it creates the release repository.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from repository.errors import ReleaseError
from repository.models import AuditEvent
from tests.versions.conftest import Env, git, snapshot
from versions.gitdvc import INIT_STEPS, STEPS
from versions.inputs import ReleaseInputs
from versions.journal import JOURNAL_FILE
from versions.manifest import comparable
from versions.releases import build_release, create_release
from versions.verify import verify_release

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "gastric-adjuvant"
#: every step at which a release can be killed: before anything is written, each step of
#: versions.gitdvc.STEPS, and after the store commit (only the journal left)
KILL_POINTS = ("started", *STEPS, "db_committed")
#: run by default (one per kind of state left behind); the others with --slow
DEFAULT = {"started", "data_written", "dvc_added", "committed", "tagged", "db_committed",
           "git_initialised", "init_committed"}


def _points(names: tuple[str, ...]) -> list[object]:
    return [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in names]


def _kill_at(e: Env, inputs: ReleaseInputs, version: str, step: str, tmp: Path) -> None:
    directory = inputs.write(tmp / f"inputs-{version}-{step}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDREPO_", "GIT_"))}
    proc = subprocess.run([sys.executable, "-m", "tests.versions.killed_release",
                           str(e.workspace), str(directory), version, step],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, \
        f"the release was not killed at {step}: exit {proc.returncode}\n{proc.stderr[-2000:]}"


def _same_as_uninterrupted(e: Env, inputs: ReleaseInputs, version: str) -> None:
    """The release on disk, in git, in the remote and in the store is exactly what an
    uninterrupted run makes from the same inputs."""
    built = build_release(inputs, version=version, created_by="tester")
    root = e.repo.root
    data = (root / built.path / "data.parquet").read_bytes()
    assert data == built.data
    tagged = git(root, "show", f"{built.tag}:{built.path}/manifest.json")
    assert comparable(json.loads(tagged)) == comparable(built.manifest)
    assert e.repo.read_from_remote(built.tag, f"{built.path}/data.parquet") == built.data
    assert e.repo.dirty_files() == []
    assert not (root / ".git" / JOURNAL_FILE).exists()
    check = verify_release(e.store, version)
    assert check.ok, check.summary.to_dict(orient="records")


def _release_commits(root: Path) -> list[str]:
    return git(root, "log", "--format=%s").splitlines()


@pytest.mark.parametrize("step", _points(KILL_POINTS))
def test_a_release_killed_at_any_step_is_recovered(env: Env, tmp_path: Path,
                                                   step: str) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    root = env.repo.root
    commits = _release_commits(root)
    inputs = env.inputs(version="1.1", edit=lambda f: f.assign(age=f["age"] + 1))
    _kill_at(env, inputs, "1.1", step, tmp_path)

    result = create_release(env.store, inputs, version="1.1")
    assert result.status == ("unchanged" if step == "db_committed" else "created")
    (said,) = result.recovered
    assert "found release gastric-adjuvant/v1.1 interrupted" in said
    assert ("it had completed" in said) if step == "db_committed" else ("rolled it back" in
                                                                          said)
    if step in ("committed", "before_tag", "tagged", "db_commit"):
        assert "reset the branch" in said
    if step in ("tagged", "db_commit"):
        assert "deleted the tag gastric-adjuvant/v1.1" in said
    _same_as_uninterrupted(env, inputs, "1.1")
    # one release commit on top of the earlier ones, two tags, nothing else
    assert _release_commits(root)[1:] == commits
    assert git(root, "tag", "--list").split() == [f"{TOPIC}/v1.0", f"{TOPIC}/v1.1"]
    with env.store.reading() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "release.recover")).all()
        assert [e.details["recovered"] for e in events] == [[said]]


def test_a_killed_release_is_recovered_on_postgresql_too(env_any: Env, tmp_path: Path) -> None:
    """Killed after tagging, before the store commit (the transaction dies with the process)."""
    e = env_any
    inputs = e.inputs()
    assert e.repo.exists()
    _kill_at(e, inputs, "1.0", "db_commit", tmp_path)
    result = create_release(e.store, inputs, version="1.0")
    assert result.status == "created" and "deleted the tag" in result.recovered[0]
    _same_as_uninterrupted(e, inputs, "1.0")


@pytest.mark.parametrize("step", _points(INIT_STEPS))
def test_a_release_killed_while_creating_the_repository(env: Env, tmp_path: Path,
                                                        step: str) -> None:
    inputs = env.inputs()
    releases = env.workspace / "releases"
    assert not releases.exists()
    _kill_at(env, inputs, "1.0", step, tmp_path)
    assert step == "repository_created" or not releases.exists()
    result = create_release(env.store, inputs, version="1.0")
    assert result.status == "created"
    if step != "repository_created":
        assert any("creation was interrupted" in r for r in result.recovered)
    assert not list(env.workspace.glob(".releases.creating-*"))
    _same_as_uninterrupted(env, inputs, "1.0")


def test_a_directory_half_initialised_by_an_older_version_is_rebuilt(env: Env) -> None:
    """An older ipdrepo killed during ``git init`` left ``releases/.git`` without a commit."""
    releases = env.workspace / "releases"
    releases.mkdir()
    git(releases, "init", "-q")
    inputs = env.inputs()
    result = create_release(env.store, inputs, version="1.0")
    assert any("initialisation as a release repository had been interrupted" in r
               for r in result.recovered)
    _same_as_uninterrupted(env, inputs, "1.0")


def test_recovery_leaves_foreign_work_alone(env: Env, tmp_path: Path) -> None:
    """A commit made by hand after the interrupted release is not thrown away."""
    create_release(env.store, env.inputs(), version="1.0")
    root = env.repo.root
    inputs = env.inputs(version="1.1", edit=lambda f: f.assign(age=f["age"] + 1))
    _kill_at(env, inputs, "1.1", "committed", tmp_path)
    (root / "NOTES.md").write_text("by hand")
    git(root, "add", "NOTES.md")
    git(root, "commit", "-q", "-m", "notes")
    before = snapshot(env)
    with pytest.raises(ReleaseError, match="does not look as that release left it") as err:
        create_release(env.store, inputs, version="1.1")
    assert "Nothing was changed" in err.value.message and JOURNAL_FILE in err.value.message
    assert snapshot(env) == before


def test_an_in_process_failure_leaves_no_journal(env: Env, fail_at) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    with pytest.raises(ReleaseError):
        create_release(env.store, env.inputs(version="1.1"), version="1.1",
                       checkpoint=fail_at("pushed"))
    assert not (env.repo.root / ".git" / JOURNAL_FILE).exists()
    assert create_release(env.store, env.inputs(version="1.1"),
                          version="1.1").recovered == ()


def test_the_cli_says_what_it_recovered(env: Env, tmp_path: Path) -> None:
    from tests.versions.conftest import ipdrepo

    create_release(env.store, env.inputs(), version="1.0")
    inputs = env.inputs(version="1.1", edit=lambda f: f.assign(age=f["age"] + 1))
    _kill_at(env, inputs, "1.1", "data_written", tmp_path)
    result = ipdrepo(env, "release", "create", "--version", "1.1", "--inputs",
                     str(tmp_path / "inputs-1.1-data_written"), "--json")
    assert result.exit_code == 0, result.output
    assert "recovered: found release gastric-adjuvant/v1.1 interrupted" in result.stderr
    assert "removed gastric-adjuvant/1.1/" in result.stderr
    assert json.loads(result.stdout)["recovered"][0].startswith("found release")
