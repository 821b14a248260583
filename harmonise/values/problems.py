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

__all__ = ["Issue", "REASONS", "NOTES", "PROBLEM_COLUMNS"]

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
    "partial_date": "an ISO 8601 date without its day or month (2014-01, 2014) that the rule "
                    "does not impute (set `impute:` on the rule, or ask the trial)",
    "duplicate_key": "a one-to-one joined dataset has several rows for the participant",
}

#: note code -> what it means: cells the rule completed as documented (not problems; kept in
#: the harmonised trial's ``imputed`` table, the sidecar and ``ipdrepo explain``)
NOTES: dict[str, str] = {
    "imputed_date": "a partial ISO 8601 date completed by the rule's `impute:` setting",
}

#: the columns of a problems table, in order; ``row`` is the 1-based row of ``dataset`` (the
#: trial's dataset the value came from: the table's own, or the one an aggregate rule read)
PROBLEM_COLUMNS: tuple[str, ...] = ("trial", "participant_id", "row", "variable", "rule",
                                    "columns", "value", "reason", "message", "dataset")


@dataclass(frozen=True, eq=False)
class Issue:
    """Rows (a boolean mask over the delivery) that one step could not transform."""

    mask: np.ndarray
    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS and self.reason not in NOTES:
            raise ValueError(f"unknown problem reason {self.reason!r}")

    @property
    def is_note(self) -> bool:
        """A documented completion (an imputed date), not a problem."""
        return self.reason in NOTES

    @property
    def count(self) -> int:
        return int(self.mask.sum())
