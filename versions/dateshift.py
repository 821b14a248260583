"""Consistent per-participant date shifting for extracts.

Every date of one participant moves by the same whole number of days, so every interval
(randomisation to death, surgery to randomisation ...) is preserved exactly, while calendar
dates no longer match hospital records. The offset is a keyed hash of the scope (the data
request), the trial and the participant's *repository* pseudonym:

``offset = ±(1 + HMAC-SHA256(secret, "dateshift" | scope | trial | pseudonym) mod max_days)``

so it is deterministic (the same request always shifts a participant by the same offset, and a
second extract of the same request is consistent with the first), never zero, at most
``max_days`` either way, and different between requests. Without the secret the offsets cannot
be recomputed. Durations stored as numbers (``os_time_days``) are not dates and do not move.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from repository.errors import RequestError

__all__ = ["DateShiftReport", "offsets", "shift_dates", "date_columns"]

_SEP = b"\x1f"


def offsets(secret: bytes, scope: str, trials: Sequence[str], participants: Sequence[str],
            *, max_days: int) -> np.ndarray:
    """The day offset of each (trial, participant) pair, in order."""
    if max_days < 1:
        raise RequestError(f"the maximum date shift must be at least 1 day (got {max_days}).",
                           max_days=max_days)
    base = hmac.new(secret, b"ipdrepo/dateshift/v1" + _SEP + scope.encode() + _SEP,
                    hashlib.sha256)
    out = np.empty(len(participants), dtype=np.int64)
    for i, (trial, participant) in enumerate(zip(trials, participants)):
        h = base.copy()
        h.update(str(trial).encode() + _SEP + str(participant).encode())
        value = int.from_bytes(h.digest()[:8], "big")
        magnitude = 1 + (value >> 1) % max_days
        out[i] = magnitude if value & 1 else -magnitude
    return out


def date_columns(frame: pd.DataFrame, dictionary_types: dict[str, str] | None = None) -> list[str]:
    """Columns holding dates: datetime dtypes, and variables the dictionary types as date or
    datetime."""
    types = dictionary_types or {}
    return [str(c) for c in frame.columns
            if pd.api.types.is_datetime64_any_dtype(frame[c])
            or types.get(str(c)) in ("date", "datetime")]


@dataclass(frozen=True)
class DateShiftReport:
    """What :func:`shift_dates` did: which columns moved, and the offsets' range."""

    columns: tuple[str, ...]
    max_days: int
    participants: int
    min_offset: int | None
    max_offset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"applied": True, "columns": list(self.columns), "max_days": self.max_days,
                "participants": self.participants,
                "offset_range_days": [self.min_offset, self.max_offset],
                "method": "per-participant offset, keyed by request; intervals preserved"}


def shift_dates(frame: pd.DataFrame, *, secret: bytes, scope: str, max_days: int,
                columns: Sequence[str], trial: str = "trial",
                participant: str = "participant_id") -> tuple[pd.DataFrame, DateShiftReport]:
    """Shift ``columns`` of ``frame`` by each participant's offset (computed from the
    ``trial`` and ``participant`` columns, which must hold the repository pseudonyms)."""
    out = frame.copy()
    shift = offsets(secret, scope, out[trial].astype(str).tolist(),
                    out[participant].astype(str).tolist(), max_days=max_days)
    delta = pd.to_timedelta(shift, unit="D")
    for col in columns:
        values = out[col]
        if not pd.api.types.is_datetime64_any_dtype(values):
            converted = pd.to_datetime(values, errors="coerce")
            bad = values.notna() & converted.isna()
            if bad.any():
                raise RequestError(f"{col} holds values that are not dates (e.g. "
                                   f"{values[bad].iloc[0]!r}); it cannot be date-shifted.",
                                   variable=col)
            values = converted
        out[col] = values + delta
    return out, DateShiftReport(columns=tuple(columns), max_days=max_days,
                                participants=len(out),
                                min_offset=int(shift.min()) if len(shift) else None,
                                max_offset=int(shift.max()) if len(shift) else None)
