"""Reducing a participant's matching rows to one value: the arithmetic of ``aggregate`` rules.

:func:`reduce_rows` gets, per source (a dataset, a long table, or the participant's own value),
the rows' participant positions, which rows match, and their values (plus the order of
``first``/``last`` and the time of ``nearest``), and returns one value per participant. Rows
whose value is missing are skipped by every take but ``count`` and ``any`` (which count the
matching rows). Work is vectorised: group-wise reductions (pandas) and one sort for the takes
that pick a row. With ``trace``, the row each participant's value came from is returned too
(``ipdrepo explain`` shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harmonise.dictionary.spec import Variable
from harmonise.mapping.rules import Aggregate
from repository.errors import HarmonisationError
from repository.reasons import Reason

__all__ = ["reduce_rows"]


def _present(value: Any, n: int) -> np.ndarray:
    if value is None:
        return np.ones(n, dtype=bool)
    return ~pd.isna(value).to_numpy() if isinstance(value, pd.Series) else \
        np.full(n, value is not None)


def _sortable(values: pd.Series) -> np.ndarray:
    """Values as a numpy key that sorts like them (dates as integers, text by code point)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    codes, _ = pd.factorize(values.astype(object), sort=True, use_na_sentinel=True)
    return codes.astype(np.int64)


def _pick(pos: np.ndarray, keys: Sequence[np.ndarray], n: int) -> np.ndarray:
    """For each participant, the index (into ``pos``) of its row that sorts first by
    ``keys`` (most significant first); -1 for participants without rows."""
    out = np.full(n, -1, dtype=np.int64)
    if not len(pos):
        return out
    order = np.lexsort(tuple(reversed([pos, *keys])))
    first = np.ones(len(order), dtype=bool)
    sorted_pos = pos[order]
    first[1:] = sorted_pos[1:] != sorted_pos[:-1]
    out[sorted_pos[first]] = order[first]
    return out


def _concat(parts: list[dict[str, Any]], need_value: bool) -> dict[str, Any]:
    """The matching rows of every source, stacked."""
    pos, rows, datasets, values = [], [], [], []
    for p in parts:
        n = len(p["pos"])
        keep = p["mask"] & (p["pos"] >= 0)
        if need_value:
            keep &= _present(p["value"], n)
        idx = np.flatnonzero(keep)
        pos.append(p["pos"][idx])
        rows.append(p["rows"][idx])
        datasets.append(np.full(len(idx), p["dataset"], dtype=object))
        if need_value and p["value"] is not None:
            values.append(p["value"].iloc[idx].reset_index(drop=True))
        p["_idx"] = idx
    out: dict[str, Any] = {"pos": np.concatenate(pos) if pos else np.zeros(0, np.int64),
                           "rows": np.concatenate(rows) if rows else np.zeros(0, np.int64),
                           "datasets": np.concatenate(datasets) if datasets else
                           np.zeros(0, dtype=object)}
    if need_value:
        kinds = {_kind(v) for v in values if len(v)}
        if len(kinds) > 1:
            raise HarmonisationError(f"the sources of an aggregate give {' and '.join(sorted(kinds))}"
                                     " values; give them one kind (dates, numbers or text).",
                                     reason=Reason.TYPE)
        if values:
            out["value"] = pd.concat(values, ignore_index=True) if len(values) > 1 else values[0]
        else:
            out["value"] = pd.Series([], dtype=object)
    return out


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "date"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "number"
    return "text"


def _by_participant(values: pd.Series, picked: np.ndarray) -> pd.Series:
    """``values`` at the picked positions (-1: missing), one per participant."""
    return pd.Series(pd.api.extensions.take(values.array, picked, allow_fill=True))


def _traced(stacked: dict[str, Any], picked: np.ndarray) -> np.ndarray:
    out = np.full(len(picked), None, dtype=object)
    for i in np.flatnonzero(picked >= 0):
        out[i] = (str(stacked["datasets"][picked[i]]), int(stacked["rows"][picked[i]]))
    return out


def reduce_rows(rule: Aggregate, var: Variable, parts: list[dict[str, Any]],
                n: int, *, trace: bool = False) -> tuple[Any, np.ndarray | None]:
    """One value per participant (see the module docstring), and the (dataset, row) each value
    was taken from (None for counts and sums)."""
    take = rule.take
    if take in ("count", "any"):
        stacked = _concat(parts, need_value=False)
        counts = np.bincount(stacked["pos"], minlength=n)[:n] if len(stacked["pos"]) else \
            np.zeros(n, dtype=np.int64)
        if take == "count":
            return pd.arrays.IntegerArray(counts.astype(np.int64), np.zeros(n, dtype=bool)), None
        hit = counts > 0
        if var.type == "boolean":
            return pd.arrays.BooleanArray(hit, np.zeros(n, dtype=bool)), None
        return pd.arrays.IntegerArray(hit.astype(np.int64), np.zeros(n, dtype=bool)), None
    stacked = _concat(parts, need_value=True)
    pos, values = stacked["pos"], stacked["value"]
    if take in ("sum", "mean"):
        numbers = pd.to_numeric(values, errors="coerce").astype("Float64")
        grouped = numbers.groupby(pos).agg(take)
        out = grouped.reindex(range(n))
        if take == "sum":
            out = out.fillna(0.0)
        return _otherwise(rule, out.reset_index(drop=True)), None
    if take in ("min", "max"):
        key = _sortable(values)
        keys = [key if take == "min" else _negate(key), stacked["rows"]]
    elif take in ("first", "last"):
        order = parts[0].get("order")
        idx = parts[0].get("_idx")
        sign = 1 if take == "first" else -1
        rows = stacked["rows"].astype(np.int64)
        if order is not None:
            picked_order = order.iloc[idx].reset_index(drop=True)
            missing = picked_order.isna().to_numpy()
            o = np.where(missing, 0, _sortable(picked_order))
            keys = [missing.astype(np.int8), sign * o, sign * rows]
        else:
            keys = [sign * rows]
    else:  # nearest
        idx = parts[0]["_idx"]
        at = parts[0]["at"].iloc[idx].to_numpy(dtype=float, na_value=np.nan)
        target = float(rule.target if rule.target is not None else 0.0)
        distance = np.abs(at - target)
        ok = ~np.isnan(distance)
        if rule.within is not None:
            ok &= distance <= rule.within
        sel = np.flatnonzero(ok)
        pos, values = pos[sel], values.iloc[sel].reset_index(drop=True)
        stacked = {**stacked, "pos": pos, "rows": stacked["rows"][sel],
                   "datasets": stacked["datasets"][sel]}
        keys = [distance[sel], at[sel], stacked["rows"]]
    picked = _pick(pos, keys, n)
    out = _by_participant(values, picked)
    return _otherwise(rule, out), _traced(stacked, picked) if trace else None


def _negate(key: np.ndarray) -> np.ndarray:
    return -key


def _otherwise(rule: Aggregate, values: pd.Series) -> Any:
    if rule.otherwise is None:
        return values.array
    return values.where(values.notna(), rule.otherwise).array
