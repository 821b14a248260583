"""The release repository: a small interface over git and DVC.

A topic's releases live in a git + DVC repository (default ``<workspace>/releases``). Release
code talks to it only through :class:`ReleaseRepository`, whose methods are the steps of a
release (write, ``dvc add``, ``dvc push``, commit, tag) and of undoing one (:meth:`rollback`).
Tests point it at real temporary repositories and inject failures with ``checkpoint``: a
callable given the name of each step as it completes (see :data:`STEPS`); raising from it
interrupts the release there.

git runs as a subprocess (``git`` on ``PATH``); DVC runs in-process through ``dvc.repo.Repo``
with its log output silenced. The repository is configured with ``core.analytics false`` and
``core.autostage true``; commits and tags are made as the acting user (local ``user.name`` /
``user.email``). Credentials of a remote go to ``.dvc/config.local``, which git ignores.

User text never reaches git as an option (see :mod:`versions.locations`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from repository.errors import ReleaseError
from versions.locations import (
    GIT_PROTOCOLS,
    REMOTE_SCHEMES,
    check_remote_url,
    check_repository_location,
    check_revision,
    git_environment,
    has_control_characters,
    is_local_url,
)

__all__ = ["ReleaseRepository", "RemoteConfig", "STEPS", "INIT_STEPS", "Checkpoint",
           "REMOTE_NAME",
           "is_local_url", "GIT_PROTOCOLS", "REMOTE_SCHEMES", "check_repository_location",
           "check_remote_url", "check_revision", "git_environment"]

#: the steps of a release, in order, as passed to a checkpoint
STEPS: tuple[str, ...] = ("data_written", "dvc_added", "push", "pushed", "committed",
                          "before_tag", "tagged", "db_commit")
#: the steps of creating the release repository (:meth:`ReleaseRepository.ensure`)
INIT_STEPS: tuple[str, ...] = ("git_initialised", "dvc_initialised", "init_committed",
                               "repository_created")
REMOTE_NAME = "storage"
LOCK_FILE = "ipdrepo-release.lock"

Checkpoint = Callable[[str], None]


def _no_checkpoint(_step: str) -> None:
    return None


@dataclass(frozen=True)
class RemoteConfig:
    """The release repository's default DVC remote. ``options`` are DVC remote options
    (``endpointurl``, ``region`` ...) kept in git; secrets are never read back."""

    name: str
    url: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return is_local_url(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "options": dict(self.options)}


@contextmanager
def _quiet_dvc() -> Iterator[None]:
    """DVC without its progress chatter and its internal deprecation warnings."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dvc\.")
            yield
    finally:
        logger.setLevel(level)


def _email_for(actor: str) -> str:
    return actor if "@" in actor else f"{actor}@ipdrepo.invalid"


class ReleaseRepository:
    """A git + DVC repository holding releases as ``<topic>/<version>/`` directories."""

    def __init__(self, root: str | Path, *, actor: str,
                 checkpoint: Checkpoint | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.actor = actor
        self.checkpoint: Checkpoint = checkpoint or _no_checkpoint
        self._open: Any = None
        #: what :meth:`ensure` found left by an interrupted creation and removed
        self.recovered: list[str] = []

    # -- plumbing --------------------------------------------------------------------------
    def git(self, *args: str, check: bool = True, input: bytes | None = None) -> \
            subprocess.CompletedProcess[bytes]:
        env = git_environment(
            GIT_COMMITTER_NAME=self.actor, GIT_COMMITTER_EMAIL=_email_for(self.actor),
            GIT_AUTHOR_NAME=self.actor, GIT_AUTHOR_EMAIL=_email_for(self.actor))
        proc = subprocess.run(["git", *args], cwd=self.root, env=env, input=input,
                              capture_output=True, check=False)
        if check and proc.returncode != 0:
            raise ReleaseError(
                f"git {' '.join(args)} failed in the release repository {self.root}: "
                f"{proc.stderr.decode(errors='replace').strip()}", repo=str(self.root),
                command=["git", *args])
        return proc

    @contextmanager
    def dvc(self) -> Iterator[Any]:
        """An open ``dvc.repo.Repo`` on this repository, closed afterwards, output silenced
        (inside :meth:`session`, the session's one)."""
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        if self._open is not None:
            with _quiet_dvc():
                yield self._open
            return
        with _quiet_dvc():
            try:
                repo = Repo(str(self.root))
            except DvcException as exc:
                raise ReleaseError(f"{self.root} is not a DVC repository ({exc}); point the "
                                   "release repository at a directory made by ipdrepo.",
                                   repo=str(self.root)) from exc
            try:
                yield repo
            finally:
                repo.close()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep one ``dvc.repo.Repo`` open for several steps (opening one costs ~0.1 s)."""
        if self._open is not None:
            yield
            return
        with self.dvc() as repo:
            self._open = repo
            try:
                yield
            finally:
                self._open = None

    # -- creation --------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.root / ".git").exists() and (self.root / ".dvc").is_dir()

    def ensure(self, *, default_remote: str | None = None) -> ReleaseRepository:
        """Create the repository on first use (git init, dvc init, the default remote, one
        commit); open it otherwise.

        The repository is built in a staging directory next to it and renamed into place, so
        a process killed half way leaves no half-made repository, only a staging directory
        that the next call removes (saying so in :attr:`recovered`). A directory left
        half-initialised by an older version (``.git`` without a commit) is rebuilt too."""
        if self.exists():
            return self
        parent = self.root.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one creator at a time
            if self.exists():
                return self
            for stale in sorted(parent.glob(f".{self.root.name}.creating-*")):
                shutil.rmtree(stale, ignore_errors=True)
                self.recovered.append(f"removed {stale}, a release repository whose creation "
                                      "was interrupted")
            if self.root.exists() and any(self.root.iterdir()):
                self._clear_half_initialised()
            staging = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.creating-", dir=parent))
            try:
                ReleaseRepository(staging, actor=self.actor, checkpoint=self.checkpoint
                                  )._initialise(default_remote)
                if self.root.exists():
                    self.root.rmdir()
                os.rename(staging, self.root)
                self.checkpoint("repository_created")
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return self

    def _clear_half_initialised(self) -> None:
        """Empty ``root`` if an interrupted initialisation left it (``.git`` with no commit
        and nothing but what initialisation writes); refuse any other non-empty directory."""
        names = {p.name for p in self.root.iterdir()}
        unborn = (self.root / ".git").is_dir() and \
            self.git("rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0
        if not unborn or not names <= {".git", ".dvc", ".dvcignore", "README.md"}:
            raise ReleaseError(f"{self.root} exists and is not an ipdrepo release repository "
                               "(no .git and .dvc); choose an empty or new directory for "
                               "releases.", repo=str(self.root))
        for child in self.root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.recovered.append(f"emptied {self.root}: its initialisation as a release repository "
                              "had been interrupted (.git without a commit)")

    def _initialise(self, default_remote: str | None) -> None:
        """git init, dvc init, the default remote, the README, one commit (in ``root``)."""
        from dvc.repo import Repo

        self.git("init", "-q", "-b", "main")
        for key, value in (("user.name", self.actor), ("user.email", _email_for(self.actor)),
                           ("commit.gpgsign", "false"), ("tag.gpgsign", "false")):
            self.git("config", "--", key, value)
        self.checkpoint("git_initialised")
        with _quiet_dvc():
            repo = Repo.init(str(self.root))
        self._open = repo  # one Repo for all the configuration
        try:
            with repo.config.edit() as conf:
                conf["core"]["analytics"] = False
                conf["core"]["autostage"] = True
            if default_remote is not None:
                if is_local_url(default_remote):
                    Path(default_remote).mkdir(parents=True, exist_ok=True)
                self._write_remote(check_remote_url(default_remote), {}, {})
        finally:
            self._open = None
            repo.close()
        self.checkpoint("dvc_initialised")
        (self.root / "README.md").write_text(
            "# ipdrepo release repository\n\nEach release is `<topic>/<version>/` "
            "(`data.parquet` tracked by DVC, `manifest.json`), tagged `<topic>/v<version>`.\n"
            "Read one with `versions.load(topic, version, repo=...)` or "
            "`ipdrepo release get`.\n", encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "Initialise the release repository (git + DVC)")
        self.checkpoint("init_committed")

    # -- remote ----------------------------------------------------------------------------
    def remote(self) -> RemoteConfig | None:
        """The default DVC remote, or None when none is configured."""
        with self.dvc() as repo:
            conf = repo.config  # merged levels, with schema defaults
            name = conf.get("core", {}).get("remote")
            if not name or name not in conf.get("remote", {}):
                return None
            section = dict(conf["remote"][name])
            # options as written (not DVC's defaults); secrets are in the local level
            written = dict(repo.config.load_one("repo").get("remote", {}).get(name, {}))
            section = {k: v for k, v in section.items() if k == "url" or k in written}
        url = str(section.pop("url"))
        options = {k: str(v) for k, v in section.items()
                   if k not in ("access_key_id", "secret_access_key", "session_token",
                                "password", "credentialpath")}
        return RemoteConfig(name=name, url=url, options=options)

    def _write_remote(self, url: str, options: Mapping[str, Any],
                      secrets: Mapping[str, Any]) -> None:
        with self.dvc() as repo:
            with repo.config.edit() as conf:
                conf["remote"][REMOTE_NAME] = {"url": url, **dict(options)}
                conf["core"]["remote"] = REMOTE_NAME
            with repo.config.edit(level="local") as conf:
                if secrets:
                    conf["remote"][REMOTE_NAME] = dict(secrets)
                else:
                    conf.get("remote", {}).pop(REMOTE_NAME, None)

    def set_remote(self, url: str, *, options: Mapping[str, Any] | None = None,
                   secrets: Mapping[str, Any] | None = None) -> RemoteConfig:
        """Make ``url`` the default remote and commit ``.dvc/config``."""
        check_remote_url(url)
        for key, value in {**dict(options or {}), **dict(secrets or {})}.items():
            if has_control_characters(str(value)) or has_control_characters(str(key)):
                raise ReleaseError(f"the DVC remote option {key} holds control characters; "
                                   "nothing was changed.", option=key)
        endpoint = dict(options or {}).get("endpointurl")
        if endpoint:
            check_remote_url(str(endpoint), what="remote endpoint URL")
        dirty = self.dirty_files()
        if dirty:
            raise ReleaseError(self._dirty_message(dirty), repo=str(self.root), files=dirty)
        self._write_remote(url, options or {}, secrets or {})
        self.git("add", ".dvc/config")
        if self.git("diff", "--cached", "--quiet", check=False).returncode != 0:
            self.git("commit", "-q", "-m", f"Set the DVC remote to {url}")
        remote = self.remote()
        assert remote is not None
        return remote

    def unset_remote(self) -> None:
        """Remove the default remote (and commit); releases then refuse to run."""
        with self.dvc() as repo, repo.config.edit() as conf:
            conf["remote"].pop(REMOTE_NAME, None)
            conf["core"].pop("remote", None)
        self.git("add", ".dvc/config")
        if self.git("diff", "--cached", "--quiet", check=False).returncode != 0:
            self.git("commit", "-q", "-m", "Remove the DVC remote")

    def require_remote(self) -> RemoteConfig:
        """The default remote, checked as far as possible without writing to it."""
        remote = self.remote()
        if remote is None:
            raise ReleaseError(
                f"the release repository {self.root} has no DVC remote, so the data could not "
                "be pushed anywhere; nothing was released. Set one with `ipdrepo release "
                "remote URL` (a directory, or e.g. s3://bucket/path --endpoint-url ...).",
                repo=str(self.root))
        check_remote_url(remote.url)  # an s3:// remote needs ipdrepo[s3]
        if remote.is_local:
            path = Path(urlparse(remote.url).path if remote.url.startswith("file:")
                        else remote.url)
            if not path.is_absolute():
                path = (self.root / ".dvc" / path).resolve()
            if not path.is_dir():
                raise ReleaseError(
                    f"the DVC remote {remote.url} of the release repository does not exist or "
                    "is not a directory; nothing was released. Mount or create it, or set "
                    "another with `ipdrepo release remote URL`.", repo=str(self.root),
                    remote=remote.url)
        return remote

    # -- state -----------------------------------------------------------------------------
    def dirty_files(self) -> list[str]:
        """Files changed in the work tree: git's view (tracked changes and untracked files)
        plus DVC-tracked data files whose content no longer matches their pointer."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        files = sorted({entry[3:] for entry in out.decode().split("\0") if len(entry) > 3})
        with self.dvc() as repo:
            status = repo.status()
        for _stage, changes in sorted(status.items()):
            for change in changes:
                if isinstance(change, dict):
                    for outs in change.values():
                        if isinstance(outs, dict):
                            files += [f"{self._relative(name)} ({state})"
                                      for name, state in outs.items() if state == "modified"]
        return files

    def _relative(self, name: str) -> str:
        """DVC reports outputs relative to the repository root (or absolute)."""
        path = Path(name)
        if path.is_absolute():
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                return name
        return path.as_posix()

    @staticmethod
    def _dirty_message(files: Sequence[str]) -> str:
        shown = "\n".join(f"  {f}" for f in files[:20])
        more = f"\n  ... and {len(files) - 20} more" if len(files) > 20 else ""
        return ("the release repository has uncommitted changes, so a release could not be "
                f"made without mixing them in:\n{shown}{more}\nCommit or remove them (a "
                "release repository should only be changed by `ipdrepo release`).")

    def head(self) -> str | None:
        proc = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def tag_commit(self, tag: str) -> str | None:
        proc = self.git("rev-parse", "--verify", "-q",
                        f"refs/tags/{check_revision(tag)}^{{commit}}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def tags(self, pattern: str = "*") -> list[str]:
        out = self.git("tag", "--list", "--", pattern).stdout.decode()
        return [t for t in out.splitlines() if t]

    def show(self, rev: str, path: str) -> bytes:
        """The bytes of a git-tracked file at ``rev``."""
        proc = self.git("show", "--end-of-options", f"{check_revision(rev)}:{path}",
                        check=False)
        if proc.returncode != 0:
            raise ReleaseError(f"{path} is not in the release repository at {rev}: "
                               f"{proc.stderr.decode(errors='replace').strip()}",
                               repo=str(self.root), rev=rev, path=path)
        return proc.stdout

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock: one release at a time per repository (other processes wait)."""
        with open(self.root / ".git" / LOCK_FILE, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- the steps of a release ------------------------------------------------------------
    def write(self, path: str, data: bytes) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def dvc_add(self, path: str) -> str:
        """``dvc add`` one file; returns the path of its ``.dvc`` pointer."""
        from dvc.exceptions import DvcException

        try:
            with self.dvc() as repo:
                repo.add([str(self.root / path)])
        except DvcException as exc:
            raise ReleaseError(f"dvc add {path} failed: {exc}", repo=str(self.root),
                               path=path) from exc
        return f"{path}.dvc"

    def dvc_push(self, paths: Sequence[str]) -> int:
        """Push the data of ``paths`` to the default remote; returns the objects sent."""
        from dvc.exceptions import DvcException

        try:
            with self.dvc() as repo:
                sent = repo.push(targets=[str(self.root / p) for p in paths])
        except (DvcException, OSError) as exc:
            remote = self.remote()
            raise ReleaseError(
                f"pushing the release data to the DVC remote "
                f"{remote.url if remote else '(none)'} failed: {exc}. Check that the remote is "
                "reachable and writable (and its credentials); nothing was released.",
                repo=str(self.root), remote=remote.url if remote else None) from exc
        self.checkpoint("push")
        return int(sent or 0)

    def pointer(self, path: str, rev: str | None = None) -> dict[str, Any]:
        """The first output of the DVC pointer ``path`` (``md5``, ``size``, ``path``), from
        the work tree or, with ``rev``, from git."""
        import yaml

        raw = self.show(rev, path) if rev else (self.root / path).read_bytes()
        try:
            outs = yaml.safe_load(raw)["outs"]
            return dict(outs[0])
        except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
            raise ReleaseError(f"{path} is not a DVC pointer ({exc}).", repo=str(self.root),
                               path=path) from exc

    def read_from_remote(self, rev: str, path: str) -> bytes:
        """The bytes of the DVC-tracked ``path`` at ``rev``, read from the default remote
        through an empty temporary cache (so never from this repository's cache)."""
        from dvc.api import DVCFileSystem

        with tempfile.TemporaryDirectory(prefix="ipdrepo-remote-") as cache:
            fs = DVCFileSystem(str(self.root), rev=check_revision(rev),
                               config={"cache": {"dir": cache}})
            try:
                return bytes(fs.read_bytes(path))
            finally:
                fs.close()

    def commit(self, paths: Sequence[str], message: str) -> str:
        self.git("add", "--", *paths)
        self.git("commit", "-q", "-m", message, "--", *paths)
        head = self.head()
        assert head is not None
        return head

    def tag(self, name: str, message: str) -> None:
        self.git("tag", "-a", "-m", message, "--", check_revision(name))

    def rollback(self, commit: str | None, *, created: Sequence[Path] = (),
                 tag: str | None = None) -> list[str]:
        """Undo a release that did not finish: delete ``tag``, reset to ``commit``, remove
        the ``created`` paths. Returns what could not be undone (empty when all was)."""
        problems = []
        if commit is not None:
            check_revision(commit)
        if tag is not None and self.tag_commit(tag) is not None:
            proc = self.git("tag", "-d", "--", tag, check=False)
            if proc.returncode != 0:
                problems.append(f"could not delete tag {tag}: {proc.stderr.decode().strip()}")
        if commit is not None:
            proc = self.git("reset", "-q", "--hard", commit, check=False)
            if proc.returncode != 0:
                problems.append(f"could not reset to {commit}: {proc.stderr.decode().strip()}")
        for path in created:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
            if path.exists():
                problems.append(f"could not remove {path}")
        left = self.git("status", "--porcelain", "--untracked-files=all", check=False)
        if left.stdout.strip():
            problems.append("the work tree still has changes: "
                            + left.stdout.decode().strip().replace("\n", "; "))
        return problems
