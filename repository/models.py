"""The store's typed ORM (SQLAlchemy 2.0).

Tables::

    topic ─< trial ─< arm
               ├──< delivery (self-reference: superseded_by)
               └──< participant (keyed pseudonym, first delivery)
    audit_event   append-only, hash-chained (see repository.audit)
    audit_head    the chain's head, locked while appending

Migrations live in ``repository/migrations``; ``alembic check`` runs in the tests so the models
and the migrations never drift.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Topic",
    "Trial",
    "Arm",
    "Delivery",
    "Participant",
    "AuditEvent",
    "AuditHead",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]
name64 = Annotated[str, mapped_column(String(64))]
sha256_hex = Annotated[str, mapped_column(String(64))]
json_doc = Annotated[Any, mapped_column(JSON)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, date: Date}


class Topic(Base):
    __tablename__ = "topic"

    id: Mapped[intpk]
    slug: Mapped[name64] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]

    trials: Mapped[list[Trial]] = relationship(back_populates="topic", order_by="Trial.acronym")


class Trial(Base):
    __tablename__ = "trial"
    __table_args__ = (UniqueConstraint("topic_id", "acronym"),)

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    acronym: Mapped[name64]
    title: Mapped[str | None] = mapped_column(String(500))
    #: registry identifiers, e.g. [{"registry": "NCT", "id": "NCT01234567"}]
    registry_ids: Mapped[json_doc] = mapped_column(default=list)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    #: default participant-ID column of this trial's deliveries
    id_column: Mapped[str | None] = mapped_column(String(200))
    #: PRISMA-IPD status: sought, obtained, not_obtained, not_sought
    ipd_status: Mapped[str] = mapped_column(String(20), default="sought")
    ipd_status_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]

    topic: Mapped[Topic] = relationship(back_populates="trials")
    arms: Mapped[list[Arm]] = relationship(back_populates="trial", order_by="Arm.position",
                                           cascade="all, delete-orphan")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="trial", order_by="Delivery.id", foreign_keys="Delivery.trial_id")

    @property
    def allocation_ratio(self) -> str:
        return ":".join(str(a.ratio) for a in self.arms)

    @property
    def randomised_published(self) -> int | None:
        counts = [a.randomised_published for a in self.arms]
        return None if any(c is None for c in counts) or not counts else sum(c for c in counts if c)


class Arm(Base):
    __tablename__ = "arm"
    __table_args__ = (UniqueConstraint("trial_id", "code"),)

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: the arm's code as the trial delivers it (e.g. "A", "1", "Surgery alone")
    code: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    #: allocation weight: 1 for 1:1, 2 and 1 for 2:1
    ratio: Mapped[int] = mapped_column(Integer, default=1)
    #: randomised N in this arm as published
    randomised_published: Mapped[int | None] = mapped_column(Integer)

    trial: Mapped[Trial] = relationship(back_populates="arms")


class Delivery(Base):
    """One file a trial delivered, kept byte for byte in the object store."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("trial_id", "sha256"),)

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    #: which table of the trial this is ("main", or e.g. "baseline", "outcomes")
    dataset: Mapped[str] = mapped_column(String(64), default="main")
    file_name: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[sha256_hex] = mapped_column(index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    #: per column: name, dtype, label, value_labels, n_missing
    columns: Mapped[json_doc]
    #: how the file was read (encoding, delimiter, sheet ...), so it reads back the same way
    read_options: Mapped[json_doc] = mapped_column(default=dict)
    id_column: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[date | None]
    received_from: Mapped[str | None] = mapped_column(String(200))
    ingested_at: Mapped[timestamp]
    ingested_by: Mapped[str] = mapped_column(String(200))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))
    #: identifier-gate override: {"columns": [...], "justification": ..., "by": ...}
    identifier_override: Mapped[json_doc | None]
    #: accepted participant-ID problems: {"duplicates": [...], "blank_rows": [...], "justification": ...}
    id_override: Mapped[json_doc | None]
    notes: Mapped[str | None] = mapped_column(Text)

    trial: Mapped[Trial] = relationship(back_populates="deliveries", foreign_keys=[trial_id])
    superseded_by: Mapped[Delivery | None] = relationship(remote_side="Delivery.id")

    @property
    def is_current(self) -> bool:
        return self.superseded_by_id is None


class Participant(Base):
    """A trial participant known only by a keyed pseudonym.

    The trial's own ID is not stored: the pseudonym is HMAC(secret, topic, trial, raw ID), so
    only someone holding the repository secret (a curator) can map it back, by recomputing it
    over the raw IDs in the trial's deliveries (see repository.pseudonyms).
    """

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("trial_id", "pseudonym"),)

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(32))
    first_delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"))
    created_at: Mapped[timestamp]


class AuditEvent(Base):
    """One entry of the append-only, hash-chained audit trail."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[timestamp]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    topic: Mapped[str | None] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[json_doc] = mapped_column(default=dict)
    prev_hash: Mapped[sha256_hex]
    hash: Mapped[sha256_hex] = mapped_column(unique=True)


class AuditHead(Base):
    """The single row that serialises appends to the audit chain (locked FOR UPDATE)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[sha256_hex]
