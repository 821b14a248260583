"""Creating, listing and showing releases.

:func:`create_release` turns :class:`~versions.inputs.ReleaseInputs` into release ``V`` of a
topic, all or nothing:

1. build the data (:func:`versions.dataset.release_frame`, withdrawn participants removed),
   its parquet bytes and the manifest (pure; nothing written yet);
2. recover a release that an earlier process left unfinished (:mod:`versions.journal`);
3. if the store already has release ``V``: the same content makes the call a no-op, other
   content is refused (releases are immutable); a git tag ``<topic>/v<V>`` without a store
   record is refused too;
   While data queries of severity ``error`` are still open (open, sent, answered or
   reopened) a new release is refused unless ``allow_open_queries`` gives the reason, which
   the manifest records (``open_queries_allowed``: the reason and the open queries per trial);
   open ``warning`` queries never stop a release and are listed there as ``open_warnings``;
4. refuse a dirty release repository (naming the files) and a missing or unreachable remote;
5. write the journal, then (:func:`versions.writing.write_release`, every byte checked)
   ``<topic>/<V>/data.parquet`` and ``manifest.json``, ``dvc add`` the data, ``dvc push`` it to
   the remote, commit the pointer and the manifest, make the annotated tag carrying both hashes;
6. insert the :class:`~repository.models.Release` row and the audit event, commit, remove the
   journal.

Any failure in 5-6 (including an interruption) rolls the release repository back: the tag is
deleted, the branch reset to the commit before, the new files removed. Objects already copied
to the DVC cache or remote stay there; they are content-addressed and harmless. A process
killed on the way is recovered by the next release (:mod:`versions.journal`). The steps call
``checkpoint`` (see :data:`versions.gitdvc.STEPS`; also ``started`` after the journal and
``db_committed`` after the store commit) so tests can interrupt each of them.
:func:`versions.verify.verify_release` checks a release after the fact.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.values.cells import canonical_text
from repository import audit
from repository.errors import IPDError, NotFound, ReleaseError
from repository.models import Release, Topic, utcnow
from repository.names import check_text
from repository.roles import require
from repository.store import Store
from versions.consumers import check_version, load_bytes, release_dir, release_tag
from versions.dataset import (
    parquet_bytes,
    read_parquet_bytes,
    release_frame,
    release_tables,
    sha256_hex,
)
from versions.gitdvc import Checkpoint, ReleaseRepository, RemoteConfig
from versions.inputs import ReleaseInputs
from versions.journal import Journal, clear_journal, recover, write_journal
from versions.manifest import (
    build_manifest,
    comparable,
    differences,
    manifest_bytes,
    public_manifest,
    upgraded,
)
from versions.withdrawals import withdrawn_participants
from versions.writing import new_paths, write_release

__all__ = [
    "ReleaseResult",
    "ReleaseInfo",
    "ReleaseList",
    "BuiltRelease",
    "build_release",
    "release_repository",
    "configure_remote",
    "create_release",
    "list_releases",
    "show_release",
    "get_release",
    "released_value",
    "release_bytes",
]


def _counts_frame(manifest: Mapping[str, Any]) -> pd.DataFrame:
    counts = manifest.get("counts", {})
    rows = counts.get("by_trial_arm") or [dict(r, arm="") for r in counts.get("by_trial", [])]
    return pd.DataFrame(rows, columns=["trial", "arm", "rows"])


# -- building (pure) -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class BuiltRelease:
    """A release's bytes before anything is written: ``data`` (parquet) and ``manifest``."""

    version: str
    tag: str
    path: str
    frame: pd.DataFrame = field(repr=False)
    data: bytes = field(repr=False)
    manifest: Mapping[str, Any] = field(repr=False)
    #: the long tables: name -> (frame, parquet bytes)
    tables: Mapping[str, tuple[pd.DataFrame, bytes]] = field(default_factory=dict, repr=False)

    @property
    def manifest_bytes(self) -> bytes:
        return manifest_bytes(self.manifest)


def build_release(inputs: ReleaseInputs, *, version: str, withdrawn: Any = (),
                  created_by: str, created_at: Any = None,
                  message: str | None = None,
                  open_queries_allowed: Mapping[str, Any] | None = None) -> BuiltRelease:
    """The data and manifest of release ``version`` (pure: writes nothing)."""
    version = check_version(version)
    withdrawn = list(withdrawn)
    frame, removed = release_frame(inputs, withdrawn)
    tag, path = release_tag(inputs.topic, version), release_dir(inputs.topic, version)
    meta = {"topic": inputs.topic, "version": version,
            "dictionary_version": inputs.dictionary.get("version")}
    data = parquet_bytes(frame, metadata={"release": meta})
    tables = {name: (table, parquet_bytes(table, metadata={"release": {**meta, "table": name}}))
              for name, table in release_tables(inputs, withdrawn).items()}
    manifest = build_manifest(inputs, version=version, tag=tag, path=path, frame=frame,
                              data_sha256=sha256_hex(data), data_bytes=len(data),
                              withdrawn=withdrawn, removed=removed,
                              created_by=created_by, created_at=created_at or utcnow(),
                              message=message, tables=tables)
    if open_queries_allowed is not None:
        manifest["open_queries_allowed"] = dict(open_queries_allowed)
    # JSON round trip: the manifest is exactly what git and the store will give back
    manifest = json.loads(manifest_bytes(manifest))
    return BuiltRelease(version=version, tag=tag, path=path, frame=frame, data=data,
                        manifest=manifest, tables=tables)


# -- results -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ReleaseResult:
    """What :func:`create_release` did. ``status`` is ``created`` or ``unchanged`` (the same
    content was already released). ``summary``: trial, arm, rows."""

    topic: str
    version: str
    tag: str
    commit: str
    status: str
    rows: int
    data_sha256: str
    path: str
    remote: str
    manifest: Mapping[str, Any] = field(repr=False)
    #: what an interrupted earlier release had left, and what was done about it
    recovered: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        return _counts_frame(self.manifest)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "version": self.version, "tag": self.tag,
                "commit": self.commit, "status": self.status, "rows": self.rows,
                "data_sha256": self.data_sha256, "path": self.path, "remote": self.remote,
                "withdrawals_applied": self.manifest.get("withdrawals", {}).get("total", 0),
                "recovered": list(self.recovered)}

    def __repr__(self) -> str:
        return (f"ReleaseResult({self.tag}, {self.status}, rows={self.rows}, "
                f"commit={self.commit[:12]})")

    def _repr_html_(self) -> str:
        return (f"<p><b>Release {html.escape(self.tag)}</b> ({self.status}): {self.rows} rows, "
                f"commit <code>{self.commit[:12]}</code>, data sha256 "
                f"<code>{self.data_sha256[:12]}</code>, remote {html.escape(self.remote)}</p>"
                + self.summary.to_html(index=False))


@dataclass(frozen=True, eq=False)
class ReleaseInfo:
    """One release as the store records it. ``summary``: trial, arm, rows. ``manifest`` is
    what analysts may see (:func:`versions.manifest.public_manifest`); ``manifest_sha256`` is
    the hash of the manifest's bytes as released."""

    topic: str
    version: str
    tag: str
    commit: str
    rows: int
    n_columns: int
    dictionary_version: str
    data_sha256: str
    remote_url: str
    created_by: str
    created_at: str
    message: str | None
    manifest: Mapping[str, Any] = field(repr=False)
    manifest_sha256: str = ""

    @property
    def summary(self) -> pd.DataFrame:
        return _counts_frame(self.manifest)

    def overview(self) -> dict[str, Any]:
        """The manifest in brief: what ``ipdrepo release show`` prints."""
        m = self.manifest
        checks = m.get("checks", {})
        return {
            "topic": self.topic, "version": self.version, "tag": self.tag,
            "commit": self.commit, "created_by": self.created_by, "created_at": self.created_at,
            "message": self.message, "rows": self.rows, "columns": self.n_columns,
            "data_sha256": self.data_sha256, "remote": self.remote_url,
            "dictionary": {k: m["dictionary"].get(k) for k in ("name", "version", "sha256")},
            "trials": len(m.get("counts", {}).get("by_trial", [])),
            "deliveries": len(m.get("deliveries", [])),
            "mappings": len(m.get("mappings", [])),
            "corrections": m.get("corrections", {}).get("total", 0),
            "open_queries": checks.get("open_queries", {}),
            "withdrawals_applied": m.get("withdrawals", {}).get("total", 0),
            "software": m.get("software", {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.overview(), "manifest": dict(self.manifest)}

    def __repr__(self) -> str:
        return f"ReleaseInfo({self.tag}, rows={self.rows}, created {self.created_at})"

    def _repr_html_(self) -> str:
        o = self.overview()
        items = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in o.items() if k != "software")
        return f"<table>{items}</table>" + self.summary.to_html(index=False)


@dataclass(frozen=True, eq=False)
class ReleaseList:
    """A topic's releases, oldest first. ``summary`` columns: version, tag, created_at,
    created_by, rows, columns, dictionary_version, data_sha256 (first 12), commit (first 12)."""

    topic: str
    releases: tuple[ReleaseInfo, ...]

    @property
    def summary(self) -> pd.DataFrame:
        cols = ["version", "tag", "created_at", "created_by", "rows", "columns",
                "dictionary_version", "data_sha256", "commit"]
        return pd.DataFrame([{"version": r.version, "tag": r.tag, "created_at": r.created_at,
                              "created_by": r.created_by, "rows": r.rows,
                              "columns": r.n_columns,
                              "dictionary_version": r.dictionary_version,
                              "data_sha256": r.data_sha256[:12], "commit": r.commit[:12]}
                             for r in self.releases], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "releases": [r.overview() for r in self.releases]}

    def __len__(self) -> int:
        return len(self.releases)

    def __repr__(self) -> str:
        return f"ReleaseList({self.topic!r}, {[r.version for r in self.releases]})"

    def _repr_html_(self) -> str:
        return (f"<p><b>Releases of {html.escape(self.topic)}</b></p>"
                + self.summary.to_html(index=False))


# -- the release repository ----------------------------------------------------------------

def release_repository(store: Store, *, root: str | Path | None = None,
                       checkpoint: Checkpoint | None = None,
                       create: bool = True) -> ReleaseRepository:
    """The workspace's release repository (``release_repo`` in ipdrepo.toml, default
    ``<workspace>/releases``), created on first use with the default remote (``dvc_remote``
    in ipdrepo.toml, default the directory ``<workspace>/dvc-remote``)."""
    extra = store.settings.extra
    ws = store.settings.workspace
    path = Path(root or extra.get("release_repo") or ws / "releases")
    if not path.is_absolute():
        path = ws / path
    repo = ReleaseRepository(path, actor=store.settings.actor, checkpoint=checkpoint)
    if create:
        remote = str(extra.get("dvc_remote") or ws / "dvc-remote")
        repo.ensure(default_remote=remote)
    elif not repo.exists():
        raise NotFound(f"there is no release repository at {path} yet; create a release first "
                       "(`ipdrepo release create`).", repo=str(path))
    return repo


def configure_remote(store: Store, url: str, *, options: Mapping[str, Any] | None = None,
                     secrets: Mapping[str, Any] | None = None,
                     repository: ReleaseRepository | None = None) -> RemoteConfig:
    """Set the release repository's DVC remote (committed to ``.dvc/config``; ``secrets`` go
    to the git-ignored ``.dvc/config.local``) and record it in the audit trail."""
    with store.reading() as session:
        require(session, store.settings.actor, "releases.write")
    repo = repository or release_repository(store)
    remote = repo.set_remote(url, options=options, secrets=secrets)
    with store.transaction() as session:
        topic = store.topic(session)
        audit.append(session, actor=store.settings.actor, action="release.remote",
                     topic=topic.slug, entity_type="release_repository",
                     entity_id=str(repo.root), details=remote.to_dict())
    return remote


# -- create --------------------------------------------------------------------------------

def _existing(session: Session, topic: Topic, version: str) -> Release | None:
    return session.scalar(select(Release).where(Release.topic_id == topic.id,
                                                Release.version == version))


def _recorded_commit(store: Store, journal: Journal) -> str | None:
    """The commit the store records for the journal's release (None: not released)."""
    with store.reading() as session:
        try:
            row = _existing(session, store.topic(session, journal.topic), journal.version)
        except NotFound:
            return None
        return row.commit if row is not None else None


def _recover(store: Store, repo: ReleaseRepository) -> tuple[str, ...]:
    """Recover an interrupted release (:mod:`versions.journal`) and audit what was done."""
    done = repo.recovered + recover(repo, released=lambda j: _recorded_commit(store, j))
    repo.recovered = []
    if done:
        with store.transaction() as session:
            topic = store.topic(session)
            audit.append(session, actor=store.settings.actor, action="release.recover",
                         topic=topic.slug, entity_type="release_repository",
                         entity_id=str(repo.root), details={"recovered": done})
    return tuple(done)


def _preflight(store: Store, repo: ReleaseRepository, built: BuiltRelease, topic: str) -> None:
    """Refuse a tag without a store record, a dirty repository, a missing remote, a
    directory in the way."""
    tag, path, version = built.tag, built.path, built.version
    if repo.tag_commit(tag) is not None:
        raise ReleaseError(
            f"the tag {tag} already exists in the release repository {repo.root} but the "
            f"store has no release {version} of {topic}: it was made from another "
            "store, or by hand. Choose another version, or inspect and delete the tag "
            f"(`git -C {repo.root} tag -d {tag}`) if it should not be there.",
            tag=tag, version=version, repo=str(repo.root))
    dirty = repo.dirty_files()
    if dirty:
        raise ReleaseError(repo._dirty_message(dirty), repo=str(repo.root), files=dirty)
    if (repo.root / path).exists():
        raise ReleaseError(f"{repo.root / path} already exists but is not a release; "
                           "remove it and try again.", path=str(repo.root / path))


def _record(store: Store, inputs: ReleaseInputs, built: BuiltRelease, *, commit: str,
            remote: RemoteConfig, message: str | None, withdrawn: int,
            step: Checkpoint) -> None:
    """Step 5: the store's release row and audit event, in one transaction."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session, inputs.topic)
        row = Release(topic_id=topic.id, version=built.version, tag=built.tag, commit=commit,
                      path=built.path, data_sha256=built.manifest["data"]["sha256"],
                      manifest_sha256=sha256_hex(built.manifest_bytes),
                      rows=len(built.frame), n_columns=built.frame.shape[1],
                      dictionary_version=str(inputs.dictionary.get("version")),
                      remote_url=remote.url, manifest=built.manifest,
                      message=message, created_by=actor)
        session.add(row)
        session.flush()
        audit.append(session, actor=actor, action="release.create",
                     topic=topic.slug, entity_type="release", entity_id=built.version,
                     details={"tag": built.tag, "commit": commit,
                              "data_sha256": row.data_sha256,
                              "manifest_sha256": row.manifest_sha256,
                              "rows": row.rows, "remote": remote.url,
                              "dictionary_version": row.dictionary_version,
                              "withdrawals_applied": withdrawn})
        step("db_commit")


def _open_queries(session: Session, topic: Topic, *, warnings: bool = False) -> dict[str, int]:
    """Data queries still awaiting an answer or a decision, per trial: those of severity
    ``error`` (the ones that stop a release), or with ``warnings`` those of severity warning."""
    from sqlalchemy import func

    from harmonise.queries.lifecycle import ACTIVE
    from repository.models import Query, Trial

    severity = (Query.severity == "warning") if warnings else (Query.severity != "warning")
    rows = session.execute(
        select(Trial.acronym, func.count()).join(Query, Query.trial_id == Trial.id)
        .where(Query.topic_id == topic.id, Query.status.in_(ACTIVE), severity)
        .group_by(Trial.acronym)).all()
    return {str(t): int(n) for t, n in sorted(rows)}


def _open_queries_gate(open_now: Mapping[str, int], reason: str | None, topic: str,
                       version: str) -> dict[str, Any] | None:
    """Refuse a release while queries are open, unless a reason is given (then recorded)."""
    if not open_now:
        return None
    if reason is None or not reason.strip():
        listed = ", ".join(f"{t}: {n}" for t, n in open_now.items())
        raise ReleaseError(
            f"release {version} of topic {topic} refused: {sum(open_now.values())} data "
            f"quer{'y is' if sum(open_now.values()) == 1 else 'ies are'} still open ({listed}). "
            "Settle them first (`ipdrepo queries list --active`), or release anyway with "
            "--allow-open-queries REASON (the reason and the open queries are recorded in the "
            "manifest).", topic=topic, version=version, open_queries=dict(open_now))
    check_text(reason, what="reason for releasing with open queries", error=ReleaseError)
    return {"reason": reason.strip(), "by_trial": dict(open_now),
            "total": sum(open_now.values())}


def create_release(store: Store, inputs: ReleaseInputs, *, version: str,
                   message: str | None = None, repository: ReleaseRepository | None = None,
                   checkpoint: Checkpoint | None = None,
                   allow_open_queries: str | None = None) -> ReleaseResult:
    """Create release ``version`` of ``inputs.topic`` (see the module docstring).
    ``allow_open_queries``: the reason to release while data queries are still open."""
    version = check_version(version)
    if message is not None:
        check_text(message, what="release message", error=ReleaseError)
    actor = store.settings.actor
    step: Checkpoint = checkpoint or (lambda _s: None)
    with store.reading() as session:
        require(session, actor, "releases.write")
    repo = repository or release_repository(store, checkpoint=checkpoint)
    if checkpoint is not None:
        repo.checkpoint = checkpoint
    with store.reading() as session:
        topic_row = store.topic(session, inputs.topic)
        withdrawn = withdrawn_participants(session, topic_row)
        open_now = _open_queries(session, topic_row)
        open_warnings = _open_queries(session, topic_row, warnings=True)
    allowed = _open_queries_gate(open_now, allow_open_queries, inputs.topic, version)
    if open_warnings:  # warnings never stop a release; the manifest says they were open
        allowed = {**(allowed or {}), "open_warnings": open_warnings}
    built = build_release(inputs, version=version, withdrawn=withdrawn, created_by=actor,
                          message=message, open_queries_allowed=allowed)
    tag, path = built.tag, built.path

    with repo.locked(), repo.session():
        recovered = _recover(store, repo)
        with store.reading() as session:
            existing = _existing(session, store.topic(session, inputs.topic), version)
            if existing is not None:
                return _same_or_refuse(existing, built, inputs.topic, recovered)
        _preflight(store, repo, built, inputs.topic)
        remote = repo.require_remote()
        before = repo.head()
        assert before is not None  # ensure() made the first commit
        created = new_paths(repo, path)
        write_journal(repo, Journal(
            topic=inputs.topic, version=version, tag=tag, path=path, before=before,
            created=tuple(p.relative_to(repo.root).as_posix() for p in created),
            started_by=actor, started_at=utcnow().isoformat(timespec="seconds"),
            pid=os.getpid()))
        step("started")
        trials = len(built.manifest["counts"]["by_trial"])
        commit_message = (f"Release {inputs.topic} {version}: {len(built.frame)} records "
                          f"from {trials} trials, dictionary "
                          f"{inputs.dictionary.get('version')}"
                          + (f"\n\n{message}" if message else ""))
        try:
            commit = write_release(repo, tag=tag, path=path, data=built.data,
                                   manifest=built.manifest_bytes, message=commit_message,
                                   step=step, tables={n: b for n, (_f, b) in
                                                      built.tables.items()})
            _record(store, inputs, built, commit=commit, remote=remote, message=message,
                    withdrawn=len(withdrawn), step=step)
        except BaseException as exc:
            _roll_back(repo, exc, before=before, created=created, tag=tag)
            raise ReleaseError(f"release {tag} failed: {type(exc).__name__}: {exc}. Nothing was "
                               "released; the release repository is as it was.",
                               tag=tag) from exc
        step("db_committed")
        clear_journal(repo)
    return ReleaseResult(topic=inputs.topic, version=version, tag=tag, commit=commit,
                         status="created", rows=len(built.frame),
                         data_sha256=built.manifest["data"]["sha256"], path=path,
                         remote=remote.url, manifest=built.manifest, recovered=recovered)


def _roll_back(repo: ReleaseRepository, exc: BaseException, *, before: str,
               created: list[Path], tag: str) -> None:
    """Undo a release that failed in this process; re-raise ``exc`` when it is an IPDError or
    an interruption (the caller wraps other exceptions)."""
    problems = repo.rollback(before, created=created,
                             tag=tag if repo.tag_commit(tag) else None)
    if problems:  # the journal stays: the next release tries again
        raise ReleaseError(
            f"release {tag} failed ({exc}) and the release repository could not be "
            f"fully restored: {'; '.join(problems)}. The next `ipdrepo release create` will "
            "try again; if it cannot, fix it by hand.", tag=tag, problems=problems) from exc
    clear_journal(repo)
    if isinstance(exc, IPDError) or not isinstance(exc, Exception):
        raise exc


def _same_or_refuse(existing: Release, built: BuiltRelease, topic: str,
                    recovered: tuple[str, ...] = ()) -> ReleaseResult:
    if comparable(upgraded(existing.manifest)) == comparable(built.manifest):
        return ReleaseResult(topic=topic, version=existing.version, tag=existing.tag,
                             commit=existing.commit, status="unchanged", rows=existing.rows,
                             data_sha256=existing.data_sha256, path=existing.path,
                             remote=existing.remote_url,
                             manifest=public_manifest(existing.manifest), recovered=recovered)
    changed = differences(upgraded(existing.manifest), built.manifest)
    raise ReleaseError(
        f"release {existing.version} of {topic} already exists (created by "
        f"{existing.created_by} on {existing.created_at.date().isoformat()}) with different "
        f"content ({', '.join(changed[:12])}{' ...' if len(changed) > 12 else ''}); releases "
        "are immutable. Create a new version instead.", version=existing.version,
        differences=changed)


# -- reading -------------------------------------------------------------------------------

def _info(row: Release, topic: str) -> ReleaseInfo:
    return ReleaseInfo(topic=topic, version=row.version, tag=row.tag, commit=row.commit,
                       rows=row.rows, n_columns=row.n_columns,
                       dictionary_version=row.dictionary_version,
                       data_sha256=row.data_sha256, remote_url=row.remote_url,
                       created_by=row.created_by,
                       created_at=row.created_at.isoformat(timespec="seconds"),
                       message=row.message, manifest=public_manifest(row.manifest),
                       manifest_sha256=row.manifest_sha256)


def list_releases(store: Store, *, topic: str | None = None) -> ReleaseList:
    with store.reading() as session:
        require(session, store.settings.actor, "releases.read")
        topic_row = store.topic(session, topic)
        rows = session.scalars(select(Release).where(Release.topic_id == topic_row.id)
                               .order_by(Release.created_at, Release.id)).all()
        return ReleaseList(topic=topic_row.slug,
                           releases=tuple(_info(r, topic_row.slug) for r in rows))


def show_release(store: Store, version: str, *, topic: str | None = None) -> ReleaseInfo:
    version = check_version(version)
    with store.reading() as session:
        require(session, store.settings.actor, "releases.read")
        topic_row = store.topic(session, topic)
        row = _existing(session, topic_row, version)
        if row is None:
            known = session.scalars(select(Release.version).where(
                Release.topic_id == topic_row.id).order_by(Release.id)).all()
            raise NotFound(f"topic {topic_row.slug} has no release {version} (released: "
                           f"{', '.join(known) or 'none'}).", topic=topic_row.slug,
                           version=version)
        return _info(row, topic_row.slug)


def release_bytes(store: Store, version: str, *, topic: str | None = None,
                  remote: str | None = None,
                  table: str | None = None) -> tuple[ReleaseInfo, bytes]:
    """A release's record and its data bytes (or a long ``table``'s), read through DVC from
    the release repository."""
    info = show_release(store, version, topic=topic)
    repo = release_repository(store, create=False)
    data = load_bytes(info.topic, info.version, repo=str(repo.root), remote=remote,
                      manifest=info.manifest, table=table)
    return info, data


def get_release(store: Store, version: str, *, topic: str | None = None,
                remote: str | None = None, table: str | None = None) -> pd.DataFrame:
    """The data frame of a release of this store's topic (the participant table, or the long
    ``table``)."""
    return read_parquet_bytes(release_bytes(store, version, topic=topic, remote=remote,
                                            table=table)[1])


def released_value(store: Store, version: str, *, trial: str, participant: str, variable: str,
                   topic: str | None = None) -> dict[str, Any]:
    """What release ``version`` holds for one cell (``participant``: the repository pseudonym):
    ``{"version", "value"}``, the value as canonical text (None when the release has no such
    participant, or the cell is missing). ``ipdrepo explain --version`` shows it."""
    frame = get_release(store, version, topic=topic)
    match = frame[(frame["trial"] == trial) & (frame["participant_id"] == participant)]
    return {"version": version,
            "value": canonical_text(match[variable].iloc[0]) if len(match) else None}
