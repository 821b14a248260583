"""Data queries with their threads, corrections, and query-workbook exports.

::

    trial ─< query ─< query_message        never deleted; states as in REDCap's DRW
                ├──< query_attachment      files in the thread (object store)
                ├──< query_finding         the check failures the question is about
                └──< correction            attributed, replayable, never overwritten
    trial ─< query_export                  each workbook sent to a trial (token, hash)

A query is one *question* to a trial about one root cause; it keeps every check failure
(finding) behind it, each pointing at a row of a dataset of the trial (``dataset``, ``row``,
``sequence`` for the n-th record of a participant in a long table).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repository.models import store  # noqa: F401 (the tables its foreign keys refer to)
from repository.models.base import Base, UTCDateTime, intpk, json_doc, sha256_hex, timestamp

__all__ = ["Query", "QueryFinding", "QueryMessage", "Correction", "QueryExport",
           "QueryAttachment"]


class Query(Base):
    """A data query about a trial, a participant or a value, raised by a check or by hand."""

    __tablename__ = "query"
    __table_args__ = (UniqueConstraint("topic_id", "key"),)

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    #: stable identity "trial|participant|variable|check": re-running checks never duplicates
    key: Mapped[str] = mapped_column(String(400))
    participant: Mapped[str | None] = mapped_column(String(32))
    variable: Mapped[str | None] = mapped_column(String(100))
    check_id: Mapped[str] = mapped_column(String(200))
    #: validation | integrity | mapping | manual
    source: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10), default="error")
    #: open | sent | answered | resolved | closed | reopened
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    #: corrected | confirmed_correct | cannot_be_resolved
    resolution: Mapped[str | None] = mapped_column(String(30))
    question: Mapped[str] = mapped_column(Text)
    value_received: Mapped[str | None] = mapped_column(Text)
    #: the trial's own columns and raw values behind the variable
    source_columns: Mapped[json_doc] = mapped_column(default=list)
    raw_values: Mapped[json_doc] = mapped_column(default=dict)
    #: 1-based rows of the delivery the query is about
    rows: Mapped[json_doc] = mapped_column(default=list)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))
    assigned_to: Mapped[str | None] = mapped_column(String(200))
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(Text)
    #: optimistic-locking counter: concurrent curators cannot overwrite each other's answers
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: who acts next: "trial" (sent in the workbook) or "curator" (a mapping problem, on the
    #: curator's list until they fix the mapping or forward the question to the trial)
    audience: Mapped[str] = mapped_column(String(10), default="trial", server_default="trial")
    #: the question as the trial reads it: cells it may correct, consequences, the list of
    #: participants of a question about several, the language (see harmonise.queries.questions)
    detail: Mapped[json_doc] = mapped_column(default=dict)
    #: the answer is due on this date (set when a workbook is sent)
    due_on: Mapped[date | None]

    messages: Mapped[list[QueryMessage]] = relationship(back_populates="query",
                                                        order_by="QueryMessage.id")
    findings: Mapped[list[QueryFinding]] = relationship(back_populates="query",
                                                        order_by="QueryFinding.id")

    __mapper_args__ = {"version_id_col": version}


class QueryFinding(Base):
    """One check failure behind a question: the check, the value and the cells it comes from.

    Never deleted: a finding that no longer fails (or moved to another question) is marked
    inactive with the time, so the question keeps its whole story for the audit trail.
    """

    __tablename__ = "query_finding"
    __table_args__ = (UniqueConstraint("query_id", "key"),)

    id: Mapped[intpk]
    query_id: Mapped[int] = mapped_column(ForeignKey("query.id"), index=True)
    #: the finding's stable identity "trial|participant|variable|check[#n]"
    key: Mapped[str] = mapped_column(String(400), index=True)
    check_id: Mapped[str] = mapped_column(String(200))
    #: validation | integrity | mapping
    source: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10), default="error")
    participant: Mapped[str | None] = mapped_column(String(32))
    variable: Mapped[str | None] = mapped_column(String(400))
    #: where the failing record is: the trial's dataset ("main"), its 1-based row, and the
    #: record's sequence number within the participant for long tables (None: one per person)
    dataset: Mapped[str] = mapped_column(String(64), default="main")
    row: Mapped[int | None] = mapped_column(Integer)
    sequence: Mapped[int | None] = mapped_column(Integer)
    #: the raw cells behind the failing values: [{dataset, row, column}]
    cells: Mapped[json_doc] = mapped_column(default=list)
    value: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    #: cause (what the question asks about) or consequence (fails because of it)
    role: Mapped[str] = mapped_column(String(12), default="cause")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen: Mapped[timestamp]
    last_seen: Mapped[timestamp]
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    query: Mapped[Query] = relationship(back_populates="findings")


class QueryMessage(Base):
    """One entry of a query's thread: a question, response, comment or status change."""

    __tablename__ = "query_message"

    id: Mapped[intpk]
    query_id: Mapped[int] = mapped_column(ForeignKey("query.id"), index=True)
    at: Mapped[timestamp]
    author: Mapped[str] = mapped_column(String(200))
    #: raised | sent | response | comment | status | correction
    kind: Mapped[str] = mapped_column(String(20))
    status_from: Mapped[str | None] = mapped_column(String(20))
    status_to: Mapped[str | None] = mapped_column(String(20))
    #: typographical_error | data_missing | confirmed_correct | wrong_source | other
    response_code: Mapped[str | None] = mapped_column(String(30))
    corrected_value: Mapped[str | None] = mapped_column(Text)
    #: corrected values of several cells (a question about several participants or rows):
    #: [{participant, row, dataset, column, value}]
    cells: Mapped[Any] = mapped_column(JSON, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text)
    export_id: Mapped[int | None] = mapped_column(ForeignKey("query_export.id"))

    query: Mapped[Query] = relationship(back_populates="messages")


class Correction(Base):
    """A change to one raw cell of a trial's delivery, accepted by a curator.

    Applied to the raw delivery before the mapping, so the harmonised data are a pure function
    of (raw delivery, mapping, corrections). Never overwritten: a correction that no longer
    applies is marked, and a new one is added.
    """

    __tablename__ = "correction"

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    participant: Mapped[str] = mapped_column(String(32))
    #: which of the participant's rows, when a delivery has several (duplicate IDs): 1-based
    occurrence: Mapped[int] = mapped_column(Integer, default=1)
    source_column: Mapped[str] = mapped_column(String(200))
    variable: Mapped[str | None] = mapped_column(String(100))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    query_id: Mapped[int | None] = mapped_column(ForeignKey("query.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp]
    #: the delivery whose raw value was corrected
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"))
    #: active | needs_review | superseded | withdrawn
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    review_note: Mapped[str | None] = mapped_column(Text)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("correction.id"))
    #: the trial's dataset of the cell ("main": the participant table's own dataset) and, for a
    #: row of a long dataset, the row's key as the trial wrote it (e.g. {"AESEQ": "3"})
    dataset: Mapped[str] = mapped_column(String(64), default="main", server_default="main")
    row_key: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class QueryExport(Base):
    """A query workbook written for a trial; imports must come from the latest one."""

    __tablename__ = "query_export"

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[sha256_hex]
    exported_at: Mapped[timestamp]
    exported_by: Mapped[str] = mapped_column(String(200))
    #: per query: id, version and status at export time
    queries: Mapped[json_doc] = mapped_column(default=list)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: answers are due on this date; the workbook's language (en, fr)
    due_on: Mapped[date | None]
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")


class QueryAttachment(Base):
    """A file attached to a query's thread (by the trial's team or a curator); its bytes are in
    the object store under their sha256. Visible to curators and the query's trial only."""

    __tablename__ = "query_attachment"

    id: Mapped[intpk]
    query_id: Mapped[int] = mapped_column(ForeignKey("query.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[sha256_hex]
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[timestamp]
