"""``ipdrepo verify``: everything about a workspace that can be checked without trusting it.

* **objects**: every raw delivery of the topic is hashed and compared with the sha256 it was
  ingested with (missing or changed files fail; object files no delivery refers to are noted);
* **audit chain**: the keyed hash chain of :mod:`repository.audit` (and whether it is keyed);
* **audited rows**: every delivery, correction and user row against the digests the chain
  recorded for it (:mod:`repository.audit_rows`);
* **files**: the workspace, its database file, keys and objects are private to their owner, and
  ``ipdrepo.toml`` holds no database password (warnings: they do not make data wrong).

:func:`verify_workspace` returns an :class:`IntegrityReport`; the CLI prints it and exits 8 when
a check failed.
"""

from __future__ import annotations

import html
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from repository import audit, db
from repository.models import Delivery, Trial
from repository.store import Store

__all__ = ["Check", "IntegrityReport", "ObjectPlan", "object_plan", "verify_workspace"]

OK, WARNING, FAILED = "ok", "warning", "failed"


@dataclass(frozen=True)
class Check:
    """One check: its name, status (ok | warning | failed), what it covered and its problems."""

    name: str
    status: str
    summary: str
    checked: int = 0
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "checked": self.checked, "problems": list(self.problems)}


@dataclass(frozen=True)
class IntegrityReport:
    workspace: str
    topic: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != FAILED for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks if c.status == FAILED for p in c.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "topic": self.topic, "ok": self.ok,
                "checks": [c.to_dict() for c in self.checks]}

    def __repr__(self) -> str:
        return (f"IntegrityReport({self.topic!r}, ok={self.ok}, "
                f"{', '.join(f'{c.name}: {c.status}' for c in self.checks)})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(c.name)}</td><td>{c.status}</td>"
                       f"<td>{html.escape(c.summary)}</td></tr>" for c in self.checks)
        return f"<table><tr><th>check</th><th>status</th><th>result</th></tr>{rows}</table>"


@dataclass(frozen=True)
class ObjectPlan:
    """The raw deliveries to hash: (delivery id, trial, file name, sha256, size)."""

    items: tuple[tuple[int, str, str, str, int], ...]
    total_bytes: int


def object_plan(store: Store, topic: str | None = None) -> ObjectPlan:
    with store.reading() as session:
        topic_row = store.topic(session, topic)
        rows = session.execute(
            select(Delivery.id, Trial.acronym, Delivery.file_name, Delivery.sha256,
                   Delivery.size_bytes).join(Trial).where(Trial.topic_id == topic_row.id)
            .order_by(Delivery.id)).tuples().all()
    items = [(int(i), str(t), str(f), str(s), int(n)) for i, t, f, s, n in rows]
    seen = {i[3] for i in items}
    for ident, trial, sha, meta in _package_files(store, topic):
        if sha not in seen:  # a package's metadata file (define.xml), stored with its datasets
            seen.add(sha)
            items.append((ident, trial, str(meta.get("file")), sha, int(meta.get("size_bytes", 0))))
    return ObjectPlan(items=tuple(items), total_bytes=sum(i[4] for i in items))


def _package_files(store: Store, topic: str | None) -> list[tuple[int, str, str, dict[str, Any]]]:
    """(delivery id, trial, sha256, record) of every metadata file packages stored."""
    with store.reading() as session:
        topic_row = store.topic(session, topic)
        rows = session.execute(
            select(Delivery.id, Trial.acronym, Delivery.package).join(Trial)
            .where(Trial.topic_id == topic_row.id, Delivery.package.is_not(None))
            .order_by(Delivery.id)).tuples().all()
    return [(int(i), str(t), str(m["sha256"]), m) for i, t, pkg in rows
            for m in (pkg or {}).get("metadata", []) if m.get("sha256")]


def referenced_objects(session: Any) -> set[str]:
    """The sha256 of every object a row refers to: deliveries, trialists' uploads, query
    attachments, data use agreements, extracts' files."""
    from repository.models import DataRequest, Extract, QueryAttachment, Upload

    known = set(session.scalars(select(Delivery.sha256)))
    for column in (Upload.sha256, QueryAttachment.sha256, DataRequest.dua_sha256):
        known |= {s for s in session.scalars(select(column)) if s}
    for files in session.scalars(select(Extract.files)):
        known |= {f.get("sha256") for f in files or () if isinstance(f, dict) and f.get("sha256")}
    return known


def _objects(store: Store, plan: ObjectPlan, progress: Callable[[int], None] | None) -> Check:
    problems: list[str] = []
    for ident, trial, file_name, sha256, _size in plan.items:
        path = store.objects.path_for(sha256)
        actual = store.objects.actual_sha256(sha256, progress)
        what = f"delivery #{ident} ({file_name}) of trial {trial}"
        if actual is None:
            problems.append(f"{what}: its raw file {path} is missing; restore it from a backup.")
        elif actual != sha256:
            problems.append(f"{what}: {path} should have sha256 {sha256} but has {actual}; it "
                            "was changed after ingest. Restore it from a backup.")
    with store.reading() as session:
        known = referenced_objects(session)
    known |= {i[3] for i in plan.items}
    orphans = [s for s in store.objects.stored() if s not in known]
    n = len(plan.items)
    mb = plan.total_bytes / 1e6
    summary = f"{n - len(problems)} of {n} raw deliveries match their sha256 ({mb:.1f} MB hashed)"
    notes = [f"object {s} belongs to no delivery (left by an interrupted ingest?); it is "
             "never read" for s in orphans]
    if problems:
        return Check("objects", FAILED, summary, n, tuple(problems + notes))
    return Check("objects", WARNING if orphans else OK, summary, n, tuple(notes))


def _audit(store: Store) -> tuple[Check, Check]:
    with store.reading() as session:
        report = audit.verify(session, raise_on_error=False)
    chain_problems = tuple(p for p in report.problems if p not in report.row_problems)
    keyed = f"keyed (key id {report.key_id})" if report.keyed else "NOT keyed"
    chain = Check("audit chain", FAILED if chain_problems else OK,
                  f"{report.events} events, {keyed}", report.events, chain_problems)
    if not report.keyed:
        rows = Check("audited rows", FAILED, "not checked: the chain cannot be checked with "
                     "its key", 0, ("rows can only be checked against a keyed chain; see the "
                                    "audit chain check",))
    else:
        rows = Check("audited rows", FAILED if report.row_problems else OK,
                     f"{report.rows_checked - len(report.row_problems)} of "
                     f"{report.rows_checked} delivery, correction and user rows match the "
                     "audit trail", report.rows_checked, report.row_problems)
    return chain, rows


def _loose(path: Path) -> str | None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        return (f"{path} is mode {oct(mode)[2:]}: other users may read it; "
                f"`chmod go-rwx {path}`")
    return None


def _files(store: Store) -> Check:
    from repository.workspace import url_password

    s = store.settings
    paths = [s.workspace, s.config_file, s.secret_file, s.audit_key_file,
             s.secret_file.parent, s.audit_key_file.parent]
    paths += [s.workspace / f"store.sqlite{x}" for x in ("", "-wal", "-shm")]
    if s.objects_dir.is_dir():
        paths += [s.objects_dir, *s.objects_dir.rglob("*")]
    problems = [p for p in dict.fromkeys(_loose(path) for path in paths) if p]
    config = (s.config_file.read_text() if s.config_file.is_file() else "")
    for line in config.splitlines():
        if line.strip().startswith("database_url") and url_password(line.split("=", 1)[1]
                                                                    .strip().strip('"')):
            problems.append(f"{s.config_file} holds a database password in clear: remove it "
                            "from the URL there and give it in PGPASSWORD, ~/.pgpass (mode "
                            "0600) or IPDREPO_DATABASE_URL instead.")
    summary = (f"{len(paths)} workspace files and directories are private" if not problems
               else f"{len(problems)} file(s) readable by other users or holding a secret")
    return Check("files", WARNING if problems else OK, summary, len(paths), tuple(problems))


def verify_workspace(store: Store, *, plan: ObjectPlan | None = None, topic: str | None = None,
                     progress: Callable[[int], None] | None = None) -> IntegrityReport:
    """Run every check (see the module docstring); ``progress(n)`` after each n bytes hashed."""
    plan = plan or object_plan(store, topic)
    with store.reading() as session:
        slug = store.topic(session, topic).slug
    schema = Check("database schema", OK, f"revision {db.current_revision(store.engine)} "
                   "(current)", 1)
    chain, rows = _audit(store)
    checks = (schema, chain, rows, _objects(store, plan, progress), _files(store))
    return IntegrityReport(workspace=str(store.settings.workspace), topic=slug, checks=checks)

