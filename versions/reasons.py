"""The registry of reasons versions' errors carry (``IPDError.reason``).

Values are stable kebab-case words (the server answers ``expired`` and ``not-approved`` with
HTTP 403; clients compare the strings): never change one.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Why versions refused a release, an export or a download."""

    #: a data request that has expired: downloads are refused (HTTP 403)
    EXPIRED = "expired"
    #: a data request not approved (yet, or any more): downloads are refused (HTTP 403)
    NOT_APPROVED = "not-approved"
    #: an export format that does not exist
    FORMAT = "format"
    #: an export directory that already holds the files
    EXISTS = "exists"
    #: a release made with another dictionary version than the workspace holds
    DICTIONARY = "dictionary"
    #: a long table the server does not send
    TABLE = "table"
