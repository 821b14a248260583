"""Checking long tables: validation from the dictionary, and the integrity of their rows.

Validation of a long table is the participant table's (:mod:`harmonise.checks.validation`) run
on the table's view of the dictionary (its variables, ranges, categories and rules; a rule may
read the participant's variables, which are joined to each row first). Beside it, each table is
checked as a whole (:func:`check_table`), every check reporting ``passed``, ``failed`` or
``skipped`` with the rows (the table's dataset rows) and participants concerned:

``table-keys``
    every row has a participant of the trial's participant table, and no two rows share the
    participant and the table's key (``key:`` in the dictionary);
``table-dates``
    for a table marked ``after_origin: true``, its ``date`` is not before the participant's
    origin (``origin:``, by default the randomisation date): events after randomisation;
``visits-in-window``
    the visit's day (its date counted from the origin) is within the table's ``window``: from
    ``planned_day - before`` to ``planned_day + after``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harmonise.checks.integrity import IntegrityFinding
from harmonise.checks.validation import ValidationResult, validate_by
from harmonise.dictionary.spec import Dictionary
from harmonise.dictionary.tables import Table

__all__ = ["TABLE_CHECKS", "TableChecks", "check_table", "validate_table", "with_context",
           "origin_of"]

#: check -> (title, severity, threshold)
TABLE_CHECKS: dict[str, tuple[str, str, str]] = {
    "table-keys": ("Rows of known participants, keys not repeated", "error",
                   "any row whose participant is not in the participant table, without a "
                   "participant, or sharing participant and key with another row"),
    "table-dates": ("Table dates after the origin (randomisation)", "error",
                    "any date of the table before the participant's origin date"),
    "visits-in-window": ("Visits in their window", "warning",
                         "any visit whose day from the origin is outside planned day - before "
                         "to planned day + after"),
}


@dataclass(frozen=True)
class TableChecks:
    """A long table of one trial, checked: its validation and its integrity findings."""

    table: str
    rows: int
    validation: ValidationResult | None = None
    integrity: tuple[IntegrityFinding, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> pd.DataFrame:
        return self.validation.failures if self.validation is not None else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "rows": self.rows,
                               "integrity": [f.to_dict() for f in self.integrity]}
        if self.validation is not None:
            out["validation"] = self.validation.to_dict(failures=False)
            out["validation"]["failures"] = int(len(self.validation.failures))
        return out


def origin_of(dictionary: Dictionary, table: Table) -> str | None:
    """The participant date a table's days count from: its ``origin``, else the randomisation
    date (a time-to-event origin, or a ``design`` date variable)."""
    if table.origin:
        return table.origin
    for o in dictionary.outcomes:
        if o.kind == "time_to_event" and o.origin:
            return o.origin
    for v in dictionary.variables:
        if v.role == "design" and v.type in ("date", "datetime"):
            return v.name
    return None


def with_context(table: pd.DataFrame, participants: pd.DataFrame,
                 names: list[str]) -> pd.DataFrame:
    """``table`` with the participant variables ``names`` joined to each row (by trial and
    participant_id)."""
    names = [n for n in names if n in participants.columns and n not in table.columns]
    if not names:
        return table
    keys = ["trial", "participant_id"]
    right = participants[keys + names].drop_duplicates(keys, keep="first")
    merged = table.merge(right, on=keys, how="left", sort=False)
    merged.index = table.index
    return merged


def validate_table(data: pd.DataFrame, participants: pd.DataFrame, dictionary: Dictionary,
                   name: str) -> dict[Any, ValidationResult]:
    """Validate long table ``name`` (rows of one or several trials) against the dictionary,
    by trial."""
    view = dictionary.view(name)
    context = sorted({v for r in view.rules for v in r.variables if v not in view.names})
    frame = with_context(data, participants, context)
    return validate_by(frame, view, by="trial")


def _finding(trial: str, check: str, status: str, message: str, **kw: Any) -> IntegrityFinding:
    severity = TABLE_CHECKS[check][1] if status == "failed" else "info"
    return IntegrityFinding(check=check, trial=trial, status=status, message=message,
                            severity=severity, **kw)


def _rows(data: pd.DataFrame, mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(r) for r in data.loc[mask, "_row"])


def check_table(data: pd.DataFrame, participants: pd.DataFrame, dictionary: Dictionary,
                name: str, *, trial: str) -> list[IntegrityFinding]:
    """The integrity checks of one trial's long table (see the module docstring)."""
    table = dictionary.table(name)
    out = [_keys(data, participants, table, trial)]
    origin = origin_of(dictionary, table)
    ctx = with_context(data, participants, [origin] if origin else [])
    out.append(_dates(ctx, table, origin, trial))
    out.append(_window(ctx, table, origin, trial))
    return out


def _keys(data: pd.DataFrame, participants: pd.DataFrame, table: Table,
          trial: str) -> IntegrityFinding:
    check = "table-keys"
    if data.empty:
        return _finding(trial, check, "skipped", f"{table.name}: no rows")
    pid = data["participant_id"]
    known = pid.isin(set(participants["participant_id"].dropna())).to_numpy()
    blank = pid.isna().to_numpy()
    orphan = ~blank & ~known
    key = [k for k in table.key if k in data.columns]
    dup = np.zeros(len(data), dtype=bool)
    if key:
        dup = (~blank & data.duplicated(["participant_id", *key], keep=False).to_numpy())
    bad = blank | orphan | dup
    if not bad.any():
        return _finding(trial, check, "passed",
                        f"{table.name}: {len(data)} rows of {pid.nunique()} participants"
                        + (f", one row per participant and {', '.join(key)}" if key else ""),
                        variable="participant_id")
    parts = []
    if orphan.any():
        parts.append(f"{int(orphan.sum())} row(s) of participants not in the participant table")
    if blank.any():
        parts.append(f"{int(blank.sum())} row(s) without a participant")
    if dup.any():
        parts.append(f"{int(dup.sum())} rows sharing participant and {', '.join(key)}")
    return _finding(trial, check, "failed", f"{table.name}: " + "; ".join(parts),
                    variable=key[0] if dup.any() and key else "participant_id",
                    participants=tuple(sorted(set(pid[bad & ~blank].astype(str)))),
                    rows=_rows(data, bad),
                    details={"table": table.name, "orphans": int(orphan.sum()),
                             "blank": int(blank.sum()), "duplicates": int(dup.sum())})


def _dates(data: pd.DataFrame, table: Table, origin: str | None,
           trial: str) -> IntegrityFinding:
    check = "table-dates"
    if not table.after_origin:
        return _finding(trial, check, "skipped", f"{table.name}: the dictionary does not ask "
                                                 "for its dates to follow the origin")
    if table.date is None or origin is None or table.date not in data.columns:
        return _finding(trial, check, "skipped", f"{table.name}: no table date or origin")
    date, start = data[table.date], data.get(origin)
    if start is None or date.notna().sum() == 0 or start.notna().sum() == 0:
        return _finding(trial, check, "skipped", f"{table.name}: no dates to compare")
    before = (date < start).fillna(False).to_numpy(dtype=bool)
    if not before.any():
        return _finding(trial, check, "passed",
                        f"{table.name}: every {table.date} on or after {origin}")
    return _finding(trial, check, "failed",
                    f"{table.name}: {int(before.sum())} row(s) with {table.date} before {origin}",
                    variable=table.date,
                    participants=tuple(sorted(set(data.loc[before, "participant_id"].astype(str)))),
                    rows=_rows(data, before), details={"table": table.name})


def _window(data: pd.DataFrame, table: Table, origin: str | None,
            trial: str) -> IntegrityFinding:
    check = "visits-in-window"
    w = table.window
    if w is None or origin is None or table.date is None or origin not in data.columns:
        return _finding(trial, check, "skipped", f"{table.name}: no visit window declared")
    days = (data[table.date] - data[origin]).dt.days.astype("Float64")
    if w.origin_day:
        days = days.where(days < 0, days + w.origin_day)
    planned = pd.to_numeric(data[w.planned_day], errors="coerce").astype("Float64")
    tested = (days.notna() & planned.notna()).to_numpy(dtype=bool)
    if not tested.any():
        return _finding(trial, check, "skipped", f"{table.name}: no visit with a date and a "
                                                 "planned day")
    outside = tested & ((days < planned - w.before) | (days > planned + w.after)).fillna(
        False).to_numpy(dtype=bool)
    if not outside.any():
        return _finding(trial, check, "passed", f"{table.name}: {int(tested.sum())} visits "
                                                "within their window")
    return _finding(trial, check, "failed",
                    f"{table.name}: {int(outside.sum())} of {int(tested.sum())} visits outside "
                    f"their window ({w.planned_day} -{w.before}/+{w.after} days)",
                    variable=table.date,
                    participants=tuple(sorted(set(data.loc[outside, "participant_id"].astype(str)))),
                    rows=_rows(data, outside), details={"table": table.name})
