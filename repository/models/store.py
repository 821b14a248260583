"""Topics, trials, arms, deliveries and participants.

::

    topic ─< trial ─< arm
               ├──< delivery (self-reference: superseded_by)
               ├──< participant (keyed pseudonym, first delivery)
               └──< upload (a trialist's file through the service, awaiting a curator)
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repository.models.base import (
    Base,
    UTCDateTime,
    intpk,
    json_doc,
    name64,
    sha256_hex,
    timestamp,
)

__all__ = ["Topic", "Trial", "Arm", "Delivery", "Participant", "Upload", "add_partial_indexes"]


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
    #: language of the trial's codebook (ISO 639-1, e.g. "fr"): its query workbooks are
    #: written in it where ipdrepo has the words (English otherwise)
    language: Mapped[str | None] = mapped_column(String(8))
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
    #: the arm's code in the topic dictionary's treatment variable (e.g. "0" for control)
    harmonised: Mapped[str | None] = mapped_column(String(100))

    trial: Mapped[Trial] = relationship(back_populates="arms")


class Delivery(Base):
    """One file a trial delivered, kept byte for byte in the object store."""

    __tablename__ = "delivery"
    __table_args__ = (
        # the same bytes may be two datasets of one trial (two sheets of one workbook)
        UniqueConstraint("trial_id", "dataset", "sha256"),
        # and one current delivery per trial and dataset: add_partial_indexes()
    )

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
    #: a long dataset (several rows per participant): the columns that identify a row within a
    #: participant (e.g. ["AESEQ"]; [] when rows are only ordered); NULL: one row per participant
    row_key: Mapped[json_doc | None]
    #: the delivery this dataset came in with others (repository.packages): {"id", "file",
    #: "sha256", "member" | "sheet", "datasets", "metadata"}; NULL for a single-file delivery
    package: Mapped[json_doc | None]
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
    # the unique constraint's index serves lookups by trial too (trial_id leads): no second
    # index on trial_id (migration 0011)
    __table_args__ = (UniqueConstraint("trial_id", "pseudonym"),)

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"))
    pseudonym: Mapped[str] = mapped_column(String(32))
    first_delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"))
    created_at: Mapped[timestamp]


class Upload(Base):
    """A file a trialist uploaded through the service: it passed the identifier gate and waits
    for a curator, who ingests it as a delivery (or rejects it). Its bytes are in the object
    store under their sha256."""

    __tablename__ = "upload"

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(64), default="main")
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[sha256_hex]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    id_column: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[timestamp]
    #: pending | ingested | rejected
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))


def add_partial_indexes() -> None:
    """Add the store's partial index to the metadata: one current delivery per trial and dataset
    (``uq_delivery_current``, the backstop of the per-trial lock in ingest; migration 0004).

    A partial index needs each dialect's own keyword (``sqlite_where``, ``postgresql_where``),
    and naming one makes SQLAlchemy import that dialect (with asyncio and every driver module:
    ~50 ms of every command's start-up). The database has the index whatever the models say, so
    it joins the metadata only where the schema is compared with the migrations or created:
    :func:`repository.models.load_all` does it. Adding it twice adds it once.
    """
    table = Delivery.__table__
    assert isinstance(table, Table)
    if any(index.name == "uq_delivery_current" for index in table.indexes):
        return
    current = text("superseded_by_id IS NULL")
    Index("uq_delivery_current", table.c.trial_id, table.c.dataset, unique=True,
          sqlite_where=current, postgresql_where=current)
