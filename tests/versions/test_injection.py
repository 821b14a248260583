"""Command execution through user text (issue 17, item 1).

``git ls-remote`` used to receive the ``repo`` of ``versions.load`` / ``ipdrepo release get
--repo`` as an option when it started with ``-``: ``--upload-pack=CMD`` then ran ``CMD``
through a shell (git runs the upload-pack of a local remote itself). Each attack here would
create a marker file; now each is refused with a clear error before git or DVC see it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from repository.cli import cli
from repository.errors import ReleaseError
from versions import consumers
from versions.gitdvc import ReleaseRepository

TOPIC = "gastric-adjuvant"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")})


@pytest.fixture
def victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A consumer working inside a clone whose ``origin`` is a local release repository: git
    then runs ``--upload-pack`` for ``origin`` itself. Returns the marker file's path."""
    origin = tmp_path / "releases.git"
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    work = tmp_path / "work"
    _git(tmp_path, "init", "-q", str(work))
    _git(work, "remote", "add", "origin", str(origin))
    monkeypatch.chdir(work)
    return tmp_path / "PWNED"


def _attacks(marker: Path) -> list[str]:
    return [
        f"--upload-pack=touch {marker}; git-upload-pack",
        f"--upload-pack=sh -c 'touch {marker}'",
        f"-u touch {marker};git-upload-pack",
        f"ext::sh -c touch% {marker}",
        "fd::0,1",
        f"transport::{marker}",
    ]


def test_load_refuses_option_and_transport_repos(victim: Path) -> None:
    for repo in _attacks(victim):
        with pytest.raises(ReleaseError, match="not a release repository location") as err:
            consumers.load(TOPIC, "1.0", repo=repo)
        assert repo in err.value.message or repo.split()[0] in err.value.message
        with pytest.raises(ReleaseError, match="not a release repository location"):
            consumers.available_versions(TOPIC, repo=repo)
        with pytest.raises(ReleaseError, match="not a release repository location"):
            consumers.load_manifest(TOPIC, "1.0", repo=repo)
        assert not victim.exists(), f"{repo!r} ran a command"


def test_cli_get_refuses_an_option_as_repo(victim: Path, tmp_path: Path) -> None:
    runner = CliRunner(env={"IPDREPO_WORKSPACE": None})
    for repo in _attacks(victim):
        result = runner.invoke(cli, ["release", "get", "1.0", "--topic", TOPIC,
                                     f"--repo={repo}", "-o", str(tmp_path / "out.parquet")])
        assert result.exit_code == 5, result.output
        assert "not a release repository location" in result.output
        assert not victim.exists(), f"{repo!r} ran a command"


def test_git_never_reads_a_user_value_as_an_option(victim: Path) -> None:
    """Even without the validation, ls-remote ends its options with ``--`` and refuses the
    exotic protocols (GIT_ALLOW_PROTOCOL)."""
    proc = consumers._ls_remote(f"--upload-pack=touch {victim}; git-upload-pack")
    assert proc.returncode != 0 and not victim.exists()
    proc = consumers._ls_remote(f"ext::sh -c touch% {victim}")
    assert proc.returncode != 0 and not victim.exists()


@pytest.mark.parametrize("location", ["/srv/releases", "releases", "./-odd-name",
                                      "file:///srv/releases", "https://git.example.org/r.git",
                                      "ssh://git@example.org/r.git", "git@example.org:r.git",
                                      "git://example.org/r.git"])
def test_ordinary_locations_are_accepted(location: str) -> None:
    from versions.locations import check_repository_location

    assert check_repository_location(location) == location


@pytest.mark.parametrize("location", ["", "-", "--upload-pack=x", "ext::sh -c x", "fd::3",
                                      "foo::bar", "ftp://example.org/r.git",
                                      "https://example.org/r.git\nx", "ssh://-oProxyCommand=x/r",
                                      "ssh://example.org:-1/r", "git@-oProxyCommand=x:r"])
def test_odd_locations_are_refused(location: str) -> None:
    from versions.locations import check_repository_location

    with pytest.raises(ReleaseError, match="not a release repository location"):
        check_repository_location(location)


def test_topic_and_version_cannot_become_options(tmp_path: Path) -> None:
    """The tag ``<topic>/v<version>`` is passed to git and DVC: both parts are validated."""
    with pytest.raises(ReleaseError, match="not a valid topic"):
        consumers.release_tag("--output=/tmp/x", "1.0")
    with pytest.raises(ReleaseError, match="not valid"):
        consumers.release_tag(TOPIC, "1.0 --force")
    repo = ReleaseRepository(tmp_path / "r", actor="tester")
    repo.root.mkdir()
    _git(repo.root, "init", "-q")
    with pytest.raises(ReleaseError, match="not a safe git revision"):
        repo.show("--output=/tmp/pwned", "x")
    with pytest.raises(ReleaseError, match="not a safe git revision"):
        repo.rollback("--hard")
    assert not Path("/tmp/pwned").exists()
