"""The registry of reasons harmonise's errors carry (``IPDError.reason``).

The words only harmonise uses; where a problem is the one :mod:`repository` names
(``empty``, ``damaged``, ``too-large``, ``type``, and the YAML limits of
:mod:`harmonise.yamlio`), harmonise raises :class:`repository.reasons.Reason`'s member. It
lives in :mod:`harmonise.values` so that every harmonise sub-package may import it (see the
import table in docs/architecture.md). Values are stable: never change one.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Why harmonise refused a spec, an expression or a query workbook."""

    #: an expression that does not parse or names what is not there
    EXPRESSION = "expression"
    #: arithmetic overflow while evaluating an expression
    OVERFLOW = "overflow"
    #: a unit that is unknown or does not convert
    UNIT = "unit"
    #: a returned query workbook that is not an .xlsx file
    NOT_XLSX = "not-xlsx"
    #: a returned workbook without the hidden metadata sheet
    NO_METADATA = "no-metadata"
    #: a returned workbook whose hidden metadata sheet was changed
    DAMAGED_METADATA = "damaged-metadata"
    #: a returned workbook without its queries sheet
    NO_SHEET = "no-sheet"
    #: a returned workbook whose token matches no workbook we sent
    UNKNOWN_TOKEN = "unknown-token"
