"""Versioned releases, data requests and their extracts, consent withdrawals.

::

    topic ─< release                 immutable; one per (topic, version); its bytes live in the
                                     release repository (git + DVC), this row points at them
    topic ─< data_request ─< extract ─> release
    trial ─< withdrawal              one per (trial, participant pseudonym); never deleted

See :mod:`versions` for the code that writes these rows (always together with an audit event).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repository.models import store  # noqa: F401 (the tables its foreign keys refer to)
from repository.models.base import Base, UTCDateTime, intpk, json_doc, sha256_hex, timestamp

__all__ = ["Release", "DataRequest", "Extract", "Withdrawal"]


class Release(Base):
    """One released version of a topic's dataset (see :mod:`versions.releases`)."""

    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("topic_id", "version"),)

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    #: the annotated git tag in the release repository, e.g. ``gastric-adjuvant/v1.0``
    tag: Mapped[str] = mapped_column(String(200))
    #: the git commit the tag points at
    commit: Mapped[str] = mapped_column(String(64))
    #: path of the release directory inside the release repository (``<topic>/<version>``)
    path: Mapped[str] = mapped_column(String(300))
    data_sha256: Mapped[sha256_hex]
    manifest_sha256: Mapped[sha256_hex]
    rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    dictionary_version: Mapped[str] = mapped_column(String(64))
    #: the DVC remote the data were pushed to (credentials never stored)
    remote_url: Mapped[str] = mapped_column(String(1000))
    #: the manifest as released (also in git at the tag)
    manifest: Mapped[json_doc]
    message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp]


class DataRequest(Base):
    """A request for data by a later research team, and its approval."""

    __tablename__ = "data_request"
    __table_args__ = (UniqueConstraint("topic_id", "code"),)

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    #: e.g. ``REQ-0001``; also the scope of the request's pseudonyms
    code: Mapped[str] = mapped_column(String(64))
    requestor: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    #: approved trial acronyms and dictionary variables (lists of text)
    trials: Mapped[json_doc]
    variables: Mapped[json_doc]
    dua_reference: Mapped[str] = mapped_column(String(300))
    #: the version of the data use agreement the approval accepted, and the document itself
    #: (in the object store under its sha256)
    dua_version: Mapped[str | None] = mapped_column(String(64))
    dua_sha256: Mapped[str | None] = mapped_column(String(64))
    dua_file_name: Mapped[str | None] = mapped_column(String(300))
    #: declared quasi-identifiers, k, l and the sensitive attribute for l-diversity
    quasi_identifiers: Mapped[json_doc] = mapped_column(default=list)
    k: Mapped[int | None] = mapped_column(Integer)
    l_diversity: Mapped[int | None] = mapped_column(Integer)
    sensitive_attribute: Mapped[str | None] = mapped_column(String(100))
    #: why the request may go without k-anonymity (required when ``k`` is not set)
    anonymity_justification: Mapped[str | None] = mapped_column(Text)
    date_shift: Mapped[bool] = mapped_column(Boolean, default=False)
    max_shift_days: Mapped[int] = mapped_column(Integer, default=182)
    #: submitted | approved | rejected | revoked
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[timestamp]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_on: Mapped[date | None]
    expires_on: Mapped[date | None]
    notes: Mapped[str | None] = mapped_column(Text)

    extracts: Mapped[list[Extract]] = relationship(back_populates="request",
                                                   order_by="Extract.id")


class Extract(Base):
    """One extract written for an approved request from one release."""

    __tablename__ = "extract"

    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("data_request.id"), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("release.id"), index=True)
    #: the watermark written into the extract's manifest and file metadata
    watermark: Mapped[str] = mapped_column(String(64), unique=True)
    output: Mapped[str] = mapped_column(String(1000))
    #: per file: name, format, sha256, rows
    files: Mapped[json_doc]
    rows: Mapped[int] = mapped_column(Integer)
    #: disclosure-control report: k-anonymity / l-diversity, suppression, date shifting
    report: Mapped[json_doc]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp]

    request: Mapped[DataRequest] = relationship(back_populates="extracts")
    release: Mapped[Release] = relationship()


class Withdrawal(Base):
    """A participant's withdrawal of consent: excluded from every later release and extract."""

    __tablename__ = "withdrawal"
    __table_args__ = (UniqueConstraint("trial_id", "participant"),)

    id: Mapped[intpk]
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), index=True)
    #: the repository pseudonym of the participant
    participant: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    #: when the participant (or the trial on their behalf) asked, if known
    requested_on: Mapped[date | None]
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[timestamp]
