"""The one exception tree of ipdrepo.

Every error the library raises on purpose derives from :class:`IPDError`; the CLI turns
any of them into a clean message and a meaningful exit code, and never shows a traceback
for them. Each error carries its context as typed, read-only attributes (``reason``,
``file``, ``trial``, ``variable``, ``rows``, ``rule`` ...: the properties of
:class:`IPDError`, each ``context.get(name)``) as well as a message that says what to do
next. ``reason`` is always a member of the raising package's registry
(:class:`repository.reasons.Reason`, ``harmonise.values.reasons``, ``versions.reasons``,
``analyses.errors``), never a free string.

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

    # The facts errors carry, typed and read-only: each is ``context.get(name)`` (None
    # when the raise site did not give it). ``reason`` is a member of the raising
    # package's registry (repository.reasons, harmonise.reasons, versions.reasons,
    # analyses.errors), itself a ``str``.
    @property
    def reason(self) -> str | None:
        """Why: a stable kebab-case word from the package's registry."""
        return self.context.get("reason")

    @property
    def file(self) -> str | None:
        """The file at fault (a delivery, spec, workbook or output)."""
        return self.context.get("file")

    @property
    def trial(self) -> str | None:
        """The trial's code, e.g. GAST-07."""
        return self.context.get("trial")

    @property
    def variable(self) -> str | None:
        """The dictionary variable."""
        return self.context.get("variable")

    @property
    def column(self) -> str | None:
        """The delivery column."""
        return self.context.get("column")

    @property
    def columns(self) -> Sequence[str] | None:
        """The delivery columns (all of them, e.g. missing)."""
        return self.context.get("columns")

    @property
    def rows(self) -> Sequence[int] | None:
        """1-based data rows."""
        return self.context.get("rows")

    @property
    def rule(self) -> str | None:
        """The mapping rule or validation check."""
        return self.context.get("rule")

    @property
    def dataset(self) -> str | None:
        """The dataset of a package or a release."""
        return self.context.get("dataset")

    @property
    def query(self) -> int | None:
        """The data query's id."""
        return self.context.get("query")

    @property
    def topic(self) -> str | None:
        """The topic's slug."""
        return self.context.get("topic")

    @property
    def participant(self) -> str | None:
        """The participant's (pseudonymised) ID."""
        return self.context.get("participant")

    @property
    def setting(self) -> str | None:
        """The setting at fault, e.g. IPDREPO_SECRET_KEY."""
        return self.context.get("setting")

    @property
    def findings(self) -> Sequence[Any] | None:
        """What a gate found (direct identifiers ...)."""
        return self.context.get("findings")

    @property
    def lines(self) -> Sequence[int] | None:
        """1-based lines of a file."""
        return self.context.get("lines")

    @property
    def files(self) -> Sequence[str] | None:
        """The files at fault."""
        return self.context.get("files")

    @property
    def detected(self) -> str | None:
        """What the file was detected as (format, encoding)."""
        return self.context.get("detected")

    @property
    def candidates(self) -> Sequence[str] | None:
        """The choices the error could not decide between."""
        return self.context.get("candidates")

    @property
    def duplicate_ids(self) -> Sequence[str] | None:
        """Participant IDs given more than once."""
        return self.context.get("duplicate_ids")

    @property
    def duplicate_rows(self) -> Sequence[int] | None:
        """Rows holding a repeated ID."""
        return self.context.get("duplicate_rows")

    @property
    def blank_rows(self) -> Sequence[int] | None:
        """Rows with a blank ID."""
        return self.context.get("blank_rows")

    @property
    def differences(self) -> Sequence[Any] | None:
        """What differs (audit, verification)."""
        return self.context.get("differences")

    @property
    def open_queries(self) -> Sequence[Any] | None:
        """The queries still open."""
        return self.context.get("open_queries")

    @property
    def nodes(self) -> int | None:
        """The YAML nodes an alias expands to."""
        return self.context.get("nodes")

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait before signing in again."""
        return self.context.get("retry_after")

    @property
    def expected_sha256(self) -> str | None:
        """The sha256 recorded at ingest."""
        return self.context.get("expected_sha256")

    @property
    def actual_sha256(self) -> str | None:
        """The sha256 of the bytes found now."""
        return self.context.get("actual_sha256")


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


def _listed_problems(self: IPDError) -> Sequence[Any] | None:
    return self.context.get("problems")


class QueryError(IPDError):
    exit_code = 5

    #: every problem found, when the error lists several (a workbook's cells, a release's
    #: inputs)
    problems = property(_listed_problems)


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

    #: every problem found, when the error lists several (a workbook's cells, a release's
    #: inputs)
    problems = property(_listed_problems)


class RequestError(ReleaseError):
    exit_code = 5


class AnalysisError(IPDError):
    exit_code = 4


class ConvergenceError(AnalysisError):
    exit_code = 6


def exit_code_for(error: BaseException) -> int:
    """The process exit code the CLI uses for ``error``."""
    return getattr(error, "exit_code", 1) if isinstance(error, IPDError) else 1
