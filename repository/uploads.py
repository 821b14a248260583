"""Files trialists upload through the service: checked by the identifier gate before anything
is kept, then held for a curator, who ingests them as a delivery or rejects them.

:func:`upload` reads the file exactly as :func:`repository.deliveries.ingest` would (format,
participant-ID column, duplicate and blank IDs, the pseudonymisation gate with nothing
accepted): a file that would be refused is refused now, with the same message, and nothing is
stored. A file that passes is kept in the object store and recorded as a pending
:class:`~repository.models.Upload`. :func:`ingest_upload` (curators) ingests it under the name
the trialist gave; :func:`reject_upload` records why not.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from repository import audit
from repository.deliveries import (
    IngestResult,
    _check_ids,
    _check_names,
    _choose_id_column,
    _gate,
    ingest,
)
from repository.errors import NotFound, StoreError
from repository.formats import read_delivery
from repository.models import Upload, utcnow
from repository.names import check_file_name, check_text
from repository.objects import sha256_file
from repository.reasons import Reason
from repository.roles import not_visible, require
from repository.store import Store
from repository.trials import visible_trial, visible_trials

__all__ = ["upload", "list_uploads", "ingest_upload", "reject_upload", "upload_to_dict"]


def upload(store: Store, trial: str, path: Path, *, file_name: str, dataset: str = "main",
           id_column: str | None = None, topic: str | None = None) -> dict[str, Any]:
    """Check ``path`` (named ``file_name`` by the uploader) through the gate and keep it for a
    curator; the identifier gate's refusal is raised as :func:`ingest` raises it."""
    check_file_name(file_name)
    _check_names(dataset, None, None, None)
    actor = store.settings.actor
    with store.reading() as session:
        topic_row = store.topic(session, topic)
        trial_row = visible_trial(session, topic_row, trial, actor=actor,
                                  action="deliveries.upload")
        named = Path(file_name)  # for messages: the name the uploader knows
        table = read_delivery(path, all_sheets=True, id_column=id_column)
        id_col = _choose_id_column(named, trial_row, table, id_column)
        _check_ids(named, trial_row.acronym, table, id_col, None)
        _gate(named, trial_row.acronym, table, (), None, id_col)
        trial_id, acronym, slug = trial_row.id, trial_row.acronym, topic_row.slug
    digest, size = sha256_file(path)
    obj = store.objects.put(path, digest)
    try:
        with store.transaction() as session:
            row = Upload(trial_id=trial_id, dataset=dataset, file_name=file_name, sha256=digest,
                         size_bytes=size, n_rows=table.n_rows, n_columns=len(table.columns),
                         id_column=id_col, uploaded_by=actor)
            session.add(row)
            session.flush()
            audit.append(session, actor=actor, action="upload.create", topic=slug,
                         entity_type="upload", entity_id=row.id,
                         details={"trial": acronym, "file_name": file_name, "sha256": digest,
                                  "rows": table.n_rows, "columns": len(table.columns),
                                  "dataset": dataset})
            return upload_to_dict(row, acronym)
    except BaseException:
        if obj.created:
            store.objects.discard(obj)
        raise


def upload_to_dict(row: Upload, trial: str) -> dict[str, Any]:
    return {"id": row.id, "trial": trial, "dataset": row.dataset, "file_name": row.file_name,
            "sha256": row.sha256, "size_bytes": row.size_bytes, "rows": row.n_rows,
            "columns": row.n_columns, "id_column": row.id_column,
            "uploaded_by": row.uploaded_by,
            "uploaded_at": row.uploaded_at.isoformat(timespec="seconds"),
            "status": row.status, "decided_by": row.decided_by, "note": row.note,
            "delivery_id": row.delivery_id}


def list_uploads(store: Store, *, trial: str | None = None, status: str | None = None,
                 topic: str | None = None) -> list[dict[str, Any]]:
    actor = store.settings.actor
    with store.reading() as session:
        topic_row = store.topic(session, topic)
        trials = ([visible_trial(session, topic_row, trial, actor=actor,
                                 action="deliveries.upload")] if trial else
                  visible_trials(session, topic_row, actor=actor, action="deliveries.upload"))
        names = {t.id: t.acronym for t in trials}
        stmt = select(Upload).where(Upload.trial_id.in_(list(names))).order_by(Upload.id)
        if status:
            stmt = stmt.where(Upload.status == status)
        return [upload_to_dict(u, names[u.trial_id]) for u in session.scalars(stmt)]


def _pending(session: Any, store: Store, upload_id: int) -> Upload:
    who = require(session, store.settings.actor, "store.write")
    row = session.get(Upload, upload_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no upload {upload_id}.", upload=upload_id)
    if not who.sees_trial(row.trial_id):
        raise not_visible(who, thing=f"upload {upload_id}")
    if row.status != "pending":
        raise StoreError(f"upload {upload_id} was already {row.status} by {row.decided_by}.",
                         upload=upload_id, reason=Reason.CONFLICT)
    return row


def ingest_upload(store: Store, upload_id: int, *, accept_identifiers: tuple[str, ...] = (),
                  justification: str | None = None,
                  topic: str | None = None) -> IngestResult:
    """Ingest pending upload ``upload_id`` as a delivery of its trial (curators)."""
    from repository.models import Trial

    with store.reading() as session:
        row = _pending(session, store, upload_id)
        trial = session.get(Trial, row.trial_id)
        assert trial is not None
        acronym, sha, name, dataset, id_col = (trial.acronym, row.sha256, row.file_name,
                                               row.dataset, row.id_column)
    with tempfile.TemporaryDirectory(prefix="ipdrepo-upload-") as tmp:
        path = Path(tmp) / check_file_name(name)
        path.write_bytes(store.objects.read_bytes(sha, what=f"upload {upload_id} ({name})"))
        result = ingest(store, acronym, path, id_column=id_col, dataset=dataset,
                        accept_identifiers=accept_identifiers, justification=justification,
                        topic=topic, received_from=None)
    with store.transaction() as session:
        row = _pending(session, store, upload_id)
        row.status, row.decided_by, row.decided_at = "ingested", store.settings.actor, utcnow()
        row.delivery_id = result.delivery_id
        audit.append(session, actor=store.settings.actor, action="upload.ingest",
                     topic=store.topic(session, topic).slug, entity_type="upload",
                     entity_id=upload_id, details={"trial": acronym,
                                                   "delivery": result.delivery_id})
    return result


def reject_upload(store: Store, upload_id: int, *, note: str,
                  topic: str | None = None) -> dict[str, Any]:
    """Record that pending upload ``upload_id`` will not be ingested, and why (curators)."""
    from repository.models import Trial

    check_text(note, what="note")
    with store.transaction() as session:
        row = _pending(session, store, upload_id)
        row.status, row.decided_by, row.decided_at = "rejected", store.settings.actor, utcnow()
        row.note = note
        trial = session.get(Trial, row.trial_id)
        assert trial is not None
        audit.append(session, actor=store.settings.actor, action="upload.reject",
                     topic=store.topic(session, topic).slug, entity_type="upload",
                     entity_id=upload_id, details={"trial": trial.acronym, "note": note})
        return upload_to_dict(row, trial.acronym)
