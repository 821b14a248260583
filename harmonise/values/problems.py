"""Cell-level problems found while transforming a delivery.

A mapping rule that meets a value it cannot transform (an unmatched recode code, text where a
number should be, an unparseable date, a division by zero ...) does not guess: the cell becomes
missing *and* an :class:`Issue` records which rows failed and why. The engine turns issues into
the rows of :attr:`harmonise.mapping.harmonised.HarmonisedTrial.problems` (columns
:data:`PROBLEM_COLUMNS`), which the query workflow later raises with the trialist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Issue", "REASONS", "PROBLEM_COLUMNS"]

#: reason code -> what it means (documented in docs/mapping-format.md)
REASONS: dict[str, str] = {
    "unmatched_code": "a recode met a value that is neither in its map nor a declared "
                      "missing code",
    "not_a_number": "text where a number was expected",
    "not_a_date": "a value that does not parse with the rule's date format",
    "not_whole_number": "a fractional value for an integer variable (add `round:` to the rule "
                        "if rounding is intended)",
    "not_boolean": "a value that is not one of the accepted true/false spellings",
    "invalid_category": "a code that is not one of the dictionary variable's categories",
    "division_by_zero": "a division (or modulo) by zero",
    "invalid_operation": "an operation outside its domain (log or square root of a negative "
                         "number, a non-finite result)",
    "missing_id": "a row without a participant ID",
}

#: the columns of a problems table, in order
PROBLEM_COLUMNS: tuple[str, ...] = ("trial", "participant_id", "row", "variable", "rule",
                                    "columns", "value", "reason", "message")


@dataclass(frozen=True, eq=False)
class Issue:
    """Rows (a boolean mask over the delivery) that one step could not transform."""

    mask: np.ndarray
    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown problem reason {self.reason!r}")

    @property
    def count(self) -> int:
        return int(self.mask.sum())
