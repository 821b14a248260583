"""The store's typed ORM (SQLAlchemy 2.0), one module per area.

* :mod:`~repository.models.store`: topic, trial, arm, delivery, participant, upload
* :mod:`~repository.models.users`: users and their roles
* :mod:`~repository.models.audit`: the hash-chained audit trail
* :mod:`~repository.models.queries`: data queries, their messages, corrections and
  query-workbook exports
* :mod:`~repository.models.releases`: releases, data requests, extracts, consent withdrawals
* :mod:`~repository.models.accounts`: the service's credentials, one-time links, API tokens,
  sessions, login attempts, request members and the access log

An area is imported when one of its classes is first asked for (``from repository.models
import Trial`` builds the store's mappings, not those of queries, releases and accounts):
building a mapped class costs SQLAlchemy about a millisecond per column, and a command that
lists trials should not pay for the 26 tables (issue 16: start-up). Each area imports the areas
its foreign keys refer to. :func:`load_all` imports every area and returns the complete
metadata, partial indexes included, for Alembic and for anything that walks every table.

Migrations live in ``repository/migrations``; ``alembic check`` runs in the tests so the models
and the migrations never drift.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData

from repository.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from repository.models.accounts import (
        AccessLog,
        ApiToken,
        Credential,
        LoginAttempt,
        OneTimeLink,
        RequestMember,
        WebSession,
    )
    from repository.models.audit import AuditEvent, AuditHead
    from repository.models.queries import (
        Correction,
        Query,
        QueryAttachment,
        QueryExport,
        QueryFinding,
        QueryMessage,
    )
    from repository.models.releases import DataRequest, Extract, Release, Withdrawal
    from repository.models.store import Arm, Delivery, Participant, Topic, Trial, Upload
    from repository.models.users import User

__all__ = [
    "AccessLog",
    "ApiToken",
    "Arm",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Correction",
    "Credential",
    "DataRequest",
    "Delivery",
    "Extract",
    "LoginAttempt",
    "OneTimeLink",
    "Participant",
    "Query",
    "QueryAttachment",
    "QueryExport",
    "QueryFinding",
    "QueryMessage",
    "Release",
    "RequestMember",
    "Topic",
    "Trial",
    "UTCDateTime",
    "Upload",
    "User",
    "load_all",
    "utcnow",
    "WebSession",
    "Withdrawal",
]

#: area module -> the mapped classes it defines
AREAS: dict[str, tuple[str, ...]] = {
    "store": ("Topic", "Trial", "Arm", "Delivery", "Participant", "Upload"),
    "users": ("User",),
    "audit": ("AuditEvent", "AuditHead"),
    "queries": ("Query", "QueryFinding", "QueryMessage", "Correction", "QueryExport",
                "QueryAttachment"),
    "releases": ("Release", "DataRequest", "Extract", "Withdrawal"),
    "accounts": ("Credential", "OneTimeLink", "ApiToken", "WebSession", "LoginAttempt",
                 "RequestMember", "AccessLog"),
}
_AREA_OF = {name: area for area, names in AREAS.items() for name in names}


def __getattr__(name: str) -> Any:
    """A mapped class, its area imported on first use."""
    area = _AREA_OF.get(name)
    if area is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{area}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_all() -> MetaData:
    """Every area imported: the metadata with every table and index of the store (what the
    migrations build; ``alembic check`` compares the two)."""
    from repository.models.store import add_partial_indexes

    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")
    add_partial_indexes()
    return Base.metadata
