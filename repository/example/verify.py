"""Does a release of the example topic equal the truth? Every table, every cell.

:func:`compare_with_truth` matches the released participant table and long tables with
``truth/participants.parquet`` and ``truth/<table>.parquet`` (the trial's own participant IDs
turned into the repository's pseudonyms), and reports the rows each side lacks and the cells
that differ. The demo ends with it: after the data queries are answered and the re-delivery
ingested, the harmonised, corrected release must be exactly the simulated truth.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repository.example.package import TABLE_TRUTH
from repository.example.topic import TABLES

__all__ = ["TableAgreement", "compare_with_truth"]


@dataclass(frozen=True)
class TableAgreement:
    """One table: rows compared, rows only in the release or only in the truth, and the
    differing cells as (trial, participant, key, variable, released, true)."""

    table: str
    rows: int
    cells: int
    only_released: int
    only_true: int
    differences: tuple[tuple[Any, ...], ...]

    @property
    def equal(self) -> bool:
        return not (self.only_released or self.only_true or self.differences)

    @property
    def summary(self) -> str:
        return (f"{self.table}: {self.rows} rows, {self.cells} cells compared, "
                f"{len(self.differences)} differ, "
                f"{self.only_released} rows only released, {self.only_true} only in the truth")


def _canon(value: Any) -> Any:
    """A cell as comparable plain data: None for missing, dates as dates, whole numbers as int."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (pd.Timestamp, np.datetime64, dt.datetime)):
        return pd.Timestamp(value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, np.integer, float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        return int(f) if f.is_integer() else round(f, 6)
    return str(value)


def _agreement(table: str, released: pd.DataFrame, truth: pd.DataFrame,
               key: list[str]) -> TableAgreement:
    index = ["trial", "participant_id", *key]
    variables = [c for c in truth.columns if c in released.columns and c not in index]
    merged = released.merge(truth, on=index, how="outer", suffixes=("", "__true"),
                            indicator=True)
    both = merged[merged["_merge"] == "both"]
    differences = []
    for v in variables:
        got = [_canon(x) for x in both[v].astype(object)]
        want = [_canon(x) for x in both[f"{v}__true"].astype(object)]
        for row, a, b in zip(both[index].itertuples(index=False), got, want):
            if a != b:
                differences.append((*row, v, a, b))
    return TableAgreement(table=table, rows=len(both), cells=len(both) * len(variables),
                          only_released=int((merged["_merge"] == "left_only").sum()),
                          only_true=int((merged["_merge"] == "right_only").sum()),
                          differences=tuple(differences))


def compare_with_truth(released: Mapping[str, pd.DataFrame], example_dir: Path | str,
                       pseudonym: Callable[[str, str], str]) -> list[TableAgreement]:
    """Compare every released table (``participants`` and each long table) with the truth;
    ``pseudonym(trial, own_id)`` is the store's pseudonymiser."""
    example_dir = Path(example_dir)
    files = {"participants": "truth/participants.parquet", **TABLE_TRUTH}
    keys: dict[str, list[str]] = {"participants": [], **{k: list(v) for k, v in TABLES.items()}}
    out = []
    for name, file in files.items():
        truth = pd.read_parquet(example_dir / file)
        truth = truth.drop(columns=[c for c in ("delivery_row", "redelivery_row")
                                    if c in truth.columns])
        truth["participant_id"] = [pseudonym(t, str(p)) for t, p in
                                   zip(truth["trial"], truth["participant_id"])]
        frame = released.get(name)
        if frame is None:
            frame = truth.iloc[0:0]
        out.append(_agreement(name, frame, truth, keys[name]))
    return out
