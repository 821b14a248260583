"""The audit trail's tables: append-only events chained by keyed hashes (see repository.audit)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from repository.models.base import Base, json_doc, sha256_hex, timestamp

__all__ = ["AuditEvent", "AuditHead"]


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
    #: keyed digests of the delivery, correction and user rows this event's transaction wrote:
    #: {"correction:12": {"digest": ..., "columns": {...}}, "delivery:3": null (deleted)}
    row_digests: Mapped[json_doc | None]
    #: how ``hash`` was computed: "hmac-sha256" (under the audit key) or "sha256" (before 0004)
    scheme: Mapped[str] = mapped_column(String(20), default="hmac-sha256")
    prev_hash: Mapped[sha256_hex]
    hash: Mapped[sha256_hex] = mapped_column(unique=True)


class AuditHead(Base):
    """The single row that serialises appends to the audit chain (locked FOR UPDATE)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[sha256_hex]
    #: fingerprint of the audit key the chain is keyed with; NULL while it is unkeyed
    key_id: Mapped[str | None] = mapped_column(String(64))
