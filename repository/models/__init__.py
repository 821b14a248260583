"""The store's typed ORM (SQLAlchemy 2.0), one module per area.

* :mod:`~repository.models.store`: topic, trial, arm, delivery, participant
* :mod:`~repository.models.audit`: the hash-chained audit trail
* :mod:`~repository.models.queries`: users and roles, data queries, their messages,
  corrections and query-workbook exports
* :mod:`~repository.models.releases`: releases, data requests, extracts, consent withdrawals
* :mod:`~repository.models.accounts`: the service's credentials, one-time links, API tokens,
  sessions, login attempts, request members and the access log

Migrations live in ``repository/migrations``; ``alembic check`` runs in the tests so the models
and the migrations never drift.
"""

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
from repository.models.base import Base, UTCDateTime, utcnow
from repository.models.queries import (
    Correction,
    Query,
    QueryAttachment,
    QueryExport,
    QueryFinding,
    QueryMessage,
    User,
)
from repository.models.releases import DataRequest, Extract, Release, Withdrawal
from repository.models.store import Arm, Delivery, Participant, Topic, Trial, Upload

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
    "utcnow",
    "WebSession",
    "Withdrawal",
]
