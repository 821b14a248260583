"""Users and roles, data queries with their threads, corrections, and query-workbook exports.

::

    user (curator | trialist of one trial | analyst)
    trial ─< query ─< query_message        never deleted; states as in REDCap's DRW
                ├──< query_attachment      files in the thread (object store)
                └──< correction            attributed, replayable, never overwritten
    trial ─< query_export                  each workbook sent to a trial (token, hash)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repository.models.base import Base, UTCDateTime, intpk, json_doc, sha256_hex, timestamp

__all__ = ["User", "Query", "QueryMessage", "Correction", "QueryExport", "QueryAttachment"]


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    #: curator (all trials), trialist (one trial's queries and data), analyst (releases only)
    role: Mapped[str] = mapped_column(String(20))
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trial.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[timestamp]


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

    messages: Mapped[list[QueryMessage]] = relationship(back_populates="query",
                                                        order_by="QueryMessage.id")

    __mapper_args__ = {"version_id_col": version}


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
