"""Recovering a release that was interrupted by a process killed or a machine that stopped.

:func:`versions.releases.create_release` rolls its work back when an exception reaches it, but a
killed process runs no rollback. So before it changes the release repository it writes a
*journal* (:class:`Journal`, ``.git/ipdrepo-release.json``, written atomically): which release,
the commit the branch was at, the directory it creates. The journal is removed when the release
is complete (store row committed) or rolled back.

The next release (any version) finds a journal under the repository's lock and calls
:func:`recover`:

* the store holds the release and its tag is at the recorded commit: the run had finished, only
  the journal was left; it is removed;
* otherwise the partial work is rolled back: the tag is deleted, the branch reset to the commit
  before (only when the commits since are the interrupted release's own: one commit, touching
  only its directory), the files it created removed, a stale ``.git/index.lock`` removed.

Every action is described in the messages returned (and printed by ``ipdrepo release create``),
and recorded in the audit trail as ``release.recover``. A state that does not match the journal
(foreign commits since, files changed outside the release's directory) is not touched: the error
says what was found and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repository.errors import ReleaseError
from versions.gitdvc import ReleaseRepository
from versions.locations import check_revision

__all__ = ["JOURNAL_FILE", "Journal", "write_journal", "read_journal", "clear_journal",
           "recover"]

JOURNAL_FILE = "ipdrepo-release.json"


@dataclass(frozen=True)
class Journal:
    """What an unfinished release had set out to do (paths relative to the repository)."""

    topic: str
    version: str
    tag: str
    path: str
    before: str
    created: tuple[str, ...]
    started_by: str
    started_at: str
    pid: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created": list(self.created)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Journal:
        return cls(topic=str(data["topic"]), version=str(data["version"]),
                   tag=check_revision(str(data["tag"])), path=str(data["path"]),
                   before=check_revision(str(data["before"])),
                   created=tuple(str(p) for p in data["created"]),
                   started_by=str(data["started_by"]), started_at=str(data["started_at"]),
                   pid=int(data["pid"]))


def _file(repo: ReleaseRepository) -> Path:
    return repo.root / ".git" / JOURNAL_FILE


def write_journal(repo: ReleaseRepository, journal: Journal) -> None:
    """Write the journal atomically (a temporary file, flushed, renamed)."""
    target = _file(repo)
    tmp = target.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(journal.to_dict(), fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def read_journal(repo: ReleaseRepository) -> Journal | None:
    target = _file(repo)
    if not target.is_file():
        return None
    try:
        return Journal.from_dict(json.loads(target.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, ReleaseError) as exc:
        raise ReleaseError(
            f"the release journal {target} is damaged ({exc}); an interrupted release could not "
            "be recovered automatically. Inspect the release repository (git status, git tag), "
            "undo what the interrupted release left, then delete the journal.",
            file=str(target)) from exc


def clear_journal(repo: ReleaseRepository) -> None:
    _file(repo).unlink(missing_ok=True)
    _file(repo).with_suffix(".tmp").unlink(missing_ok=True)


def _refuse(journal: Journal, found: str) -> ReleaseError:
    return ReleaseError(
        f"release {journal.tag} was interrupted (started by {journal.started_by} at "
        f"{journal.started_at}) and the release repository does not look as that release "
        f"left it: {found}. Nothing was changed. Inspect it (git log, git status), undo the "
        f"interrupted release by hand, then delete .git/{JOURNAL_FILE}.", tag=journal.tag)


def _reset_own_commit(repo: ReleaseRepository, journal: Journal, head: str) -> str:
    """Reset the branch from the interrupted release's own commit to ``journal.before``."""
    count = repo.git("rev-list", "--count", f"{journal.before}..{head}", check=False)
    parent = repo.git("rev-parse", "--verify", "-q", f"{head}^", check=False)
    if count.returncode != 0 or count.stdout.decode().strip() != "1" or \
            parent.stdout.decode().strip() != journal.before:
        raise _refuse(journal, f"the branch is at {head[:12]}, which is not one release commit "
                               f"on top of {journal.before[:12]}")
    changed = repo.git("diff", "--name-only", journal.before, head).stdout.decode().split()
    stray = [f for f in changed if not f.startswith(journal.path + "/")]
    if stray:
        raise _refuse(journal, f"the commit {head[:12]} also changes {', '.join(stray[:5])}")
    repo.git("reset", "-q", "--hard", journal.before)
    return f"reset the branch from the release commit {head[:12]} to {journal.before[:12]}"


def _remove_created(repo: ReleaseRepository, journal: Journal) -> list[str]:
    """Remove the files and directories the interrupted release created; what was removed."""
    actions = []
    for rel in journal.created:
        target = repo.root / rel
        if not target.resolve().is_relative_to(repo.root) or target == repo.root:
            raise _refuse(journal, f"the journal names {rel} outside the release directories")
        if target.is_dir():
            shutil.rmtree(target)
            actions.append(f"removed {rel}/")
        elif target.exists():
            target.unlink()
            actions.append(f"removed {rel}")
    return actions


def recover(repo: ReleaseRepository, *,
            released: Callable[[Journal], str | None]) -> list[str]:
    """Finish off an interrupted release (see the module docstring); ``released(journal)`` is
    the commit the store records for the journal's release, or None. Returns what was found and
    done (empty when there was no journal). Call it holding :meth:`ReleaseRepository.locked`."""
    journal = read_journal(repo)
    if journal is None:
        return []
    found = (f"found release {journal.tag} interrupted (started by {journal.started_by} at "
             f"{journal.started_at}, process {journal.pid})")
    recorded = released(journal)
    at = repo.tag_commit(journal.tag)
    if recorded is not None:
        if at != recorded:
            raise _refuse(journal, f"the store records it at {recorded[:12]} but the tag is at "
                                   f"{at[:12] if at else 'nothing'}")
        clear_journal(repo)
        return [f"{found}: it had completed (store record, tag at {recorded[:12]}); removed "
                "its journal"]
    actions = []
    lock = repo.root / ".git" / "index.lock"
    if lock.exists():
        lock.unlink()
        actions.append("removed the stale .git/index.lock")
    if at is not None:
        repo.git("tag", "-d", "--", journal.tag)
        actions.append(f"deleted the tag {journal.tag} (at {at[:12]})")
    head = repo.head()
    if head is not None and head != journal.before:
        actions.append(_reset_own_commit(repo, journal, head))
    elif repo.git("diff", "--cached", "--quiet", "--", journal.path,
                  check=False).returncode != 0:
        repo.git("reset", "-q", "--", journal.path)  # what DVC's autostage had staged
        actions.append(f"unstaged {journal.path}/")
    actions += _remove_created(repo, journal)
    left = repo.git("status", "--porcelain", "--untracked-files=all").stdout.decode().strip()
    if left:
        raise ReleaseError(
            f"{found}; rolled back what it could ({'; '.join(actions) or 'nothing'}), but the "
            f"work tree still has changes: {left.replace(chr(10), '; ')}. Commit or remove "
            f"them, then delete .git/{JOURNAL_FILE} and release again.", tag=journal.tag)
    clear_journal(repo)
    return [f"{found}; rolled it back: " + ("; ".join(actions) if actions
                                            else "it had not written anything yet")]
