"""The one exception tree of ipdrepo.

Every error the library raises on purpose derives from :class:`IPDError`; the CLI turns
any of them into a clean message and a meaningful exit code, and never shows a traceback
for them. Each error carries its context as attributes (file, trial, variable, rows, rule,
a reason) as well as a message that says what to do next.

::

    IPDError
    ├── ConfigError              workspace, settings, secret key
    ├── StoreError               database and object store
    │   ├── NotFound             a topic, trial, delivery, query or release that is not there
    │   └── AlreadyExists        a unique thing created twice
    ├── DeliveryError            a trial delivery that cannot be accepted
    │   ├── UnreadableDelivery   empty, truncated, mislabelled or unknown-format file
    │   ├── IdentifierProblem    duplicate or blank participant IDs
    │   └── DirectIdentifiers    the pseudonymisation gate found direct identifiers
    ├── SpecError                a dictionary or mapping file that is not valid
    │   ├── DictionaryError
    │   └── MappingError
    ├── HarmonisationError       applying a mapping to a delivery failed
    ├── ValidationFailed         validation ran and found failures (carries them all)
    ├── QueryError               data queries, workbooks and corrections
    │   └── WorkbookError
    ├── PermissionDenied         the actor's role does not allow the action
    │   └── AuthenticationFailed not signed in: no, wrong, expired or revoked credentials
    │       └── LoginThrottled   too many failed sign-ins: wait, or ask a curator
    ├── AccountError             a password too weak, a one-time link used or expired ...
    ├── ServiceError             the ipdrepo server could not be reached or answered oddly
    ├── AuditError               the audit trail, or the data it covers, does not verify
    │   └── CorruptObject        a raw delivery's bytes no longer match their sha256
    ├── ReleaseError             versioned releases, DVC and git
    │   └── RequestError         data requests and extracts
    └── AnalysisError            invalid input to an analysis
        └── ConvergenceError     an iterative fit did not converge

Exit codes (see :func:`exit_code_for`): 0 success, 1 internal error, 2 usage error
(click), 3 not found, 4 bad input file or spec, 5 refused by a gate or a rule,
6 validation found failures, 7 permission denied, 8 integrity (audit) failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "IPDError",
    "ConfigError",
    "StoreError",
    "NotFound",
    "AlreadyExists",
    "DeliveryError",
    "UnreadableDelivery",
    "IdentifierProblem",
    "DirectIdentifiers",
    "SpecError",
    "SpecProblem",
    "DictionaryError",
    "MappingError",
    "HarmonisationError",
    "ValidationFailed",
    "QueryError",
    "WorkbookError",
    "PermissionDenied",
    "AuthenticationFailed",
    "LoginThrottled",
    "AccountError",
    "ServiceError",
    "AuditError",
    "CorruptObject",
    "ReleaseError",
    "RequestError",
    "AnalysisError",
    "ConvergenceError",
    "exit_code_for",
    "format_rows",
]


def format_rows(rows: Sequence[int], limit: int = 10) -> str:
    """Render row numbers as ``rows 4, 19, 20 and 7 more``; rows are 1-based data rows."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = len(rows) - limit
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


class IPDError(Exception):
    """Root of every error ipdrepo raises on purpose.

    ``message`` says what went wrong and what to do next; ``context`` holds the
    structured facts (file, trial, variable, rows ...) for programs.
    """

    exit_code = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __getattr__(self, name: str) -> Any:
        # context entries read as attributes: err.trial, err.file, err.rows ...
        context = self.__dict__.get("context", {})
        if name in context:
            return context[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **_jsonable(self.context)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class ConfigError(IPDError):
    exit_code = 4


class StoreError(IPDError):
    exit_code = 1


class NotFound(StoreError):
    exit_code = 3


class AlreadyExists(StoreError):
    exit_code = 5


class DeliveryError(IPDError):
    exit_code = 4


class UnreadableDelivery(DeliveryError):
    exit_code = 4


class IdentifierProblem(DeliveryError):
    exit_code = 5


class DirectIdentifiers(DeliveryError):
    exit_code = 5


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a YAML spec file, located by file, line and key."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


class SpecError(IPDError):
    """A spec (dictionary or mapping) has problems; ``problems`` lists every one of them."""

    exit_code = 4

    def __init__(self, message: str, problems: Sequence[SpecProblem] = (), **context: Any):
        self.problems = tuple(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, problems=list(self.problems), **context)


class DictionaryError(SpecError):
    pass


class MappingError(SpecError):
    pass


class HarmonisationError(IPDError):
    exit_code = 4


class ValidationFailed(IPDError):
    exit_code = 6


class QueryError(IPDError):
    exit_code = 5


class WorkbookError(QueryError):
    exit_code = 4


class PermissionDenied(IPDError):
    exit_code = 7


class AuthenticationFailed(PermissionDenied):
    """No credentials, or credentials the service does not accept (HTTP 401)."""

    exit_code = 7


class LoginThrottled(AuthenticationFailed):
    """Too many failed sign-ins for the account or from the address (HTTP 429);
    ``retry_after`` seconds."""

    exit_code = 7


class AccountError(IPDError):
    """Account input that cannot be accepted: a weak password, a used or expired link, a
    wrong second-factor code at enrolment."""

    exit_code = 4


class ServiceError(IPDError):
    """The server could not be reached, or answered something that is not ipdrepo's API."""

    exit_code = 1


class AuditError(IPDError):
    exit_code = 8


class CorruptObject(AuditError):
    """A stored raw delivery was changed after ingest (``expected_sha256``, ``actual_sha256``)."""

    exit_code = 8


class ReleaseError(IPDError):
    exit_code = 5


class RequestError(ReleaseError):
    exit_code = 5


class AnalysisError(IPDError):
    exit_code = 4


class ConvergenceError(AnalysisError):
    exit_code = 6


def exit_code_for(error: BaseException) -> int:
    """The process exit code the CLI uses for ``error``."""
    return getattr(error, "exit_code", 1) if isinstance(error, IPDError) else 1
