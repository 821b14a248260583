"""Planting the data problems that later checks must find (and one that only looks wrong).

One kind per trial, in this order (trial 1 gets the first, trial 2 the second ...; a topic with
fewer trials gets the first ones only, trials after the seventh are clean):

1. ``out_of_range``: an age typed with a stray leading 1 (42 -> 142) and a haemoglobin typed
   in g/L in a g/dL trial (13.5 -> 135); answered ``typographical_error`` with the value.
2. ``event_before_randomisation``: a death date with day and month swapped so that it falls
   before randomisation (fallbacks, in order: the year typed one too low; the year typed as the
   year before randomisation; the same on a last follow-up date when nobody died); answered
   ``typographical_error``.
3. ``duplicate_id``: a participant's ID typed as another participant's ID (one character
   wrong); the truth has the right one; answered ``typographical_error`` with the right ID.
4. ``arm_imbalance``: the control-arm participants randomised last (20%, rounded up) are missing
   from the first delivery, so the delivered control arm is >10% short of the published N;
   answered ``redelivery`` (``redeliveries/<ACRONYM>.<ext>`` has everyone).
5. ``missing_follow_up``: the last follow-up (date, or the survival times when survival is
   delivered as durations) left blank for 35% of the censored participants of the chemotherapy
   arm only; answered ``data_missing`` with the value.
6. ``confirmed_correct``: a true weight of 182 kg (a tall man), outside the usual range but
   real; answered ``confirmed_correct``. The truth itself carries 182 kg (and the BMI it implies,
   under 60). (In a trial with nobody 176 cm or taller: the weight giving a BMI of 58.)
7. ``nodes_inconsistent``: nodes examined typed with a digit dropped or two digits swapped so
   that fewer nodes are examined than are involved; answered ``typographical_error``
   (fallback when no such typo fits: the involved count typed too high).

Nothing else in any delivery breaks a range, date or cross-variable rule of the topic.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.example.codings import Coding
from repository.example.encode import Column, Encoded
from repository.example.writers import render_cell

__all__ = ["PROBLEM_ORDER", "CHECKS", "Planted", "problem_for", "prepare_truth", "plant"]

PROBLEM_ORDER: tuple[str, ...] = ("out_of_range", "event_before_randomisation", "duplicate_id",
                                  "arm_imbalance", "missing_follow_up", "confirmed_correct",
                                  "nodes_inconsistent")
#: kind -> the check that should find it
CHECKS: dict[str, str] = {
    "out_of_range": "value outside the variable's plausible range",
    "event_before_randomisation": "event or follow-up date before the randomisation date",
    "duplicate_id": "participant ID not unique within the delivery",
    "arm_imbalance": "delivered N per arm differs from the published N by more than 10%",
    "missing_follow_up": "follow-up missing for censored participants in one arm only",
    "confirmed_correct": "value outside the variable's plausible range",
    "nodes_inconsistent": "nodes_positive greater than nodes_examined",
}
CONFIRMED_WEIGHT = 182.0


def problem_for(index: int) -> str | None:
    return PROBLEM_ORDER[index] if index < len(PROBLEM_ORDER) else None


@dataclass
class Planted:
    """What planting did to one trial: problem entries, and the columns to write."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    columns: list[Column] | None = None            # the first delivery (None: as encoded)
    delivery_rows: np.ndarray | None = None        # truth index -> 1-based row (0: absent)
    redelivery: list[Column] | None = None


def prepare_truth(kind: str | None, truth: pd.DataFrame, rng: np.random.Generator) -> \
        list[dict[str, Any]]:
    """Change the truth where a problem needs a true-but-odd value (before encoding)."""
    if kind != "confirmed_correct":
        return []
    height = truth["height_cm"].to_numpy(dtype=np.float64, na_value=np.nan)
    weight_known = truth["weight_kg"].notna().to_numpy()
    male = truth["sex"].to_numpy(dtype=np.int64) == 1
    ok = weight_known & ~np.isnan(height)
    candidates = np.flatnonzero(ok & male & (height >= 180))
    if candidates.size == 0:
        candidates = np.flatnonzero(ok & (height >= 176))
    weight = CONFIRMED_WEIGHT
    if candidates.size == 0:  # nobody tall enough for 182 kg at a BMI under 60
        candidates = np.flatnonzero(ok & (height == np.nanmax(np.where(ok, height, np.nan))))
        weight = float(np.floor(58.0 * (height[candidates[0]] / 100) ** 2))
    i = int(rng.choice(candidates))
    truth.loc[i, "weight_kg"] = weight
    truth.loc[i, "bmi"] = round(weight / (height[i] / 100) ** 2, 1)
    return [{"truth_index": i, "weight": weight}]


class _Context:
    def __init__(self, kind: str, acronym: str, coding: Coding, encoded: Encoded,
                 truth: pd.DataFrame, rng: np.random.Generator) -> None:
        self.kind = kind
        self.acronym = acronym
        self.coding = coding
        self.encoded = encoded
        self.truth = truth            # randomisation order, already masked and with IDs
        self.rng = rng
        self.order = encoded.order    # delivery row (0-based) -> truth index
        self.row_of = np.empty_like(self.order)
        self.row_of[self.order] = np.arange(self.order.size)

    def entry(self, variable: str, column: Column, participants: list[dict[str, Any]],
              **extra: Any) -> dict[str, Any]:
        return {"kind": self.kind, "trial": self.acronym, "check": CHECKS[self.kind],
                "variable": variable, "source_column": column.name, **extra,
                "participants": participants}

    def cell(self, column: Column, row: int) -> Any:
        return render_cell(column, row, self.coding)

    def participant(self, row: int, column: Column, true: Any, response: dict[str, Any],
                    *, delivered: Any = "cell") -> dict[str, Any]:
        index = int(self.order[row])
        return {"participant_id": str(self.truth["participant_id"].iat[index]),
                "delivery_row": row + 1,
                "delivered_value": self.cell(column, row) if delivered == "cell" else delivered,
                "true_value": _jsonable(true), "response": response}

    def choose(self, candidates: np.ndarray) -> int:
        return int(candidates[int(self.rng.integers(candidates.size))])


def _jsonable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()
    if isinstance(value, (dt.date,)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _typo(ctx: _Context, column: Column, row: int, value: Any, true: Any,
          comment: str) -> dict[str, Any]:
    """Set a cell to ``value``; the answer gives the true delivered value back."""
    original = ctx.cell(column, row)
    column.values[row] = value
    return ctx.participant(row, column, true, {"code": "typographical_error",
                                               "value": original, "comment": comment})


def _out_of_range(ctx: _Context) -> Planted:
    enc = ctx.encoded
    age_col, hb_col = enc.column_for("age"), enc.column_for("haemoglobin_gdl")
    assert age_col.unit == "years" and hb_col.unit == "g/dL", "trial coding cannot host P1"
    age = age_col.values
    rows = np.flatnonzero((age >= 40) & (age <= 49))
    rows = rows if rows.size else np.flatnonzero(~np.isnan(age))
    r_age = ctx.choose(rows)
    true_age = int(age[r_age])
    typed_age = float(f"1{true_age}")
    p_age = _typo(ctx, age_col, r_age, typed_age, true_age,
                  f"typing error: the age is {true_age}")
    hb = hb_col.values
    rows = np.flatnonzero(~np.isnan(hb) & (np.arange(hb.size) != r_age))
    r_hb = ctx.choose(rows)
    true_hb = float(hb[r_hb])
    p_hb = _typo(ctx, hb_col, r_hb, round(true_hb * 10, 0), true_hb,
                 f"entered in g/L by mistake: {true_hb} g/dL")
    return Planted(entries=[ctx.entry("age", age_col, [p_age]),
                            ctx.entry("haemoglobin_gdl", hb_col, [p_hb])])


def _swap_day_month(day: dt.date) -> dt.date | None:
    if day.day > 12 or day.day == day.month:
        return None
    try:
        return dt.date(day.year, day.day, day.month)
    except ValueError:
        return None


def _with_year(day: dt.date, year: int) -> dt.date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def _event_before_randomisation(ctx: _Context) -> Planted:
    enc = ctx.encoded
    rand = pd.Series(enc.column_for("rand_date").values).dt.date.to_numpy()
    for variable in ("death_date", "last_fu_date"):
        col = enc.column_for(variable)
        dates = pd.Series(col.values)
        known = np.flatnonzero(dates.notna().to_numpy())
        if known.size == 0:
            continue
        days = dates.dt.date.to_numpy()
        how = "day and month swapped"
        candidates: list[tuple[int, dt.date]] = []
        for r in known.tolist():
            swapped = _swap_day_month(days[r])
            if swapped is not None and swapped < rand[r]:
                candidates.append((r, swapped))
        if not candidates:
            how = "year typed one too low"
            for r in known.tolist():
                typed = _with_year(days[r], days[r].year - 1)
                if typed < rand[r]:
                    candidates.append((r, typed))
        if not candidates:
            how = "year typed as the year before randomisation"
            r = int(known[0])
            candidates.append((r, _with_year(days[r], rand[r].year - 1)))
        row, day = candidates[int(ctx.rng.integers(len(candidates)))]
        true = days[row]
        p = _typo(ctx, col, row, np.datetime64(day, "ns"), true,
                  f"typing error ({how}): the date is {true.isoformat()}")
        return Planted(entries=[ctx.entry(variable, col, [p], how=how)])
    raise AssertionError("no date to plant an event before randomisation on")


def _one_off(value: str, existing: set[str]) -> list[str]:
    out = []
    for i, ch in enumerate(value):
        if not ch.isdigit():
            continue
        for d in "0123456789":
            if d != ch:
                candidate = value[:i] + d + value[i + 1:]
                if candidate in existing:
                    out.append(candidate)
    return out


def _duplicate_id(ctx: _Context) -> Planted:
    enc = ctx.encoded
    col = enc.column(enc.id_column)
    ids = np.array([str(x) for x in ctx.truth["participant_id"].to_numpy()[ctx.order]],
                   dtype=object)
    existing = set(ids)
    rows = ctx.rng.permutation(ids.size)
    for r_b in rows:
        options = sorted(_one_off(ids[r_b], existing))
        if options:
            typed = options[int(ctx.rng.integers(len(options)))]
            break
    else:
        r_b = int(rows[0])
        typed = ids[(r_b + 1) % ids.size]
    r_b = int(r_b)
    r_a = int(np.flatnonzero(ids == typed)[0])
    true_b = ids[r_b]
    value: Any = float(typed) if col.kind == "int" else typed
    p_a = ctx.participant(r_a, col, typed, {"code": "confirmed_correct", "value": ctx.cell(
        col, r_a), "comment": "this participant's ID is right"})
    p_b = _typo(ctx, col, r_b, value, true_b, f"typing error: this participant is {true_b}")
    return Planted(entries=[ctx.entry("participant_id", col, [p_a, p_b])])


def _arm_imbalance(ctx: _Context, redelivery_file: str) -> Planted:
    enc = ctx.encoded
    arm_col = enc.column_for("arm")
    arm_true = ctx.truth["arm"].to_numpy(dtype=np.int64)[ctx.order]
    control_rows = np.flatnonzero(arm_true == 0)  # delivery order
    seq = ctx.truth["_seq"].to_numpy()[ctx.order]
    by_time = control_rows[np.argsort(seq[control_rows], kind="stable")]
    n_drop = max(2, math.ceil(0.20 * control_rows.size))
    dropped = np.sort(by_time[-n_drop:])
    keep = np.setdiff1d(np.arange(ctx.order.size), dropped)
    redelivery = [c.take(np.arange(ctx.order.size)) for c in enc.columns]
    first = [c.take(keep) for c in enc.columns]
    delivery_rows = np.zeros(ctx.order.size, dtype=np.int64)
    delivery_rows[ctx.order[keep]] = np.arange(1, keep.size + 1)
    published = int((arm_true == 0).sum())
    participants = []
    for r in dropped:
        index = int(ctx.order[r])
        participants.append({
            "participant_id": str(ctx.truth["participant_id"].iat[index]),
            "delivery_row": None, "redelivery_row": int(r) + 1, "delivered_value": None,
            "true_value": 0, "response": {"code": "redelivery", "value": redelivery_file,
                                    "comment": "missing from the first export; included in "
                                               "the corrected re-delivery"}})
    entry = ctx.entry("arm", arm_col, participants, arm_code=str(ctx.cell(arm_col, int(
        control_rows[0]))) if control_rows.size else None, published_n=published,
        delivered_n=published - n_drop, redelivery=redelivery_file)
    return Planted(entries=[entry], columns=first, delivery_rows=delivery_rows,
                   redelivery=redelivery)


def _missing_follow_up(ctx: _Context) -> Planted:
    enc = ctx.encoded
    arm = ctx.truth["arm"].to_numpy(dtype=np.int64)[ctx.order]
    censored = ctx.truth["os_event"].to_numpy(dtype=np.int64)[ctx.order] == 0
    rows = np.flatnonzero((arm == 1) & censored)
    n = max(1, math.ceil(0.35 * rows.size)) if rows.size else 0
    chosen = np.sort(ctx.rng.choice(rows, size=n, replace=False)) if n else rows
    if "last_fu_date" in enc.rules and enc.rules["last_fu_date"]["rule"] == "date":
        variables = ["last_fu_date"]
    else:
        variables = ["os_time_days", "dfs_time_days"]
    entries = []
    for variable in variables:
        col = enc.column_for(variable)
        participants = []
        for r in chosen:
            value = ctx.cell(col, int(r))
            true = ctx.truth[variable].iat[int(ctx.order[r])]
            participants.append(ctx.participant(int(r), col, true, {
                "code": "data_missing", "value": value,
                "comment": "follow-up was not exported for this arm"}, delivered=None))
        blank = np.datetime64("NaT") if col.kind == "date" else np.nan
        col.values[chosen] = blank
        if col.coded_missing is not None:
            col.coded_missing[chosen] = False
        entries.append(ctx.entry(variable, col, participants, arm=1))
    return Planted(entries=entries)


def _confirmed_correct(ctx: _Context, truth_index: int) -> Planted:
    col = ctx.encoded.column_for("weight_kg")
    row = int(ctx.row_of[truth_index])
    p = ctx.participant(row, col, ctx.truth["weight_kg"].iat[truth_index], {
        "code": "confirmed_correct", "value": ctx.cell(col, row),
        "comment": "checked against the source record: the weight is correct"})
    bmi = ctx.truth["bmi"].iat[truth_index]
    return Planted(entries=[ctx.entry("weight_kg", col, [p], related={"bmi": _jsonable(bmi)})])


def _typo_candidates(examined: int, positive: int) -> list[int]:
    text = str(examined)
    options = set()
    if len(text) == 2:
        options.add(int(text[::-1]))
    for i in range(len(text)):
        dropped = text[:i] + text[i + 1:]
        if dropped:
            options.add(int(dropped))
    return sorted(v for v in options if 5 <= v < positive and v != examined)


def _nodes_inconsistent(ctx: _Context) -> Planted:
    enc = ctx.encoded
    ex_col, pos_col = enc.column_for("nodes_examined"), enc.column_for("nodes_positive")
    ex, pos = ex_col.values, pos_col.values
    candidates: list[tuple[int, int]] = []
    for r in np.flatnonzero(~np.isnan(ex) & ~np.isnan(pos) & (pos >= 6)).tolist():
        for typed in _typo_candidates(int(ex[r]), int(pos[r])):
            candidates.append((r, typed))
    if candidates:
        row, typed = candidates[int(ctx.rng.integers(len(candidates)))]
        true = int(ex[row])
        p = _typo(ctx, ex_col, row, float(typed), true,
                  f"typing error: {true} nodes were examined")
        return Planted(entries=[ctx.entry("nodes_examined", ex_col, [p])])
    rows = np.flatnonzero(~np.isnan(ex) & ~np.isnan(pos))
    row = int(rows[np.argmax(pos[rows])])
    true = int(pos[row])
    p = _typo(ctx, pos_col, row, float(ex[row] + 10), true,
              f"typing error: {true} nodes were involved")
    return Planted(entries=[ctx.entry("nodes_positive", pos_col, [p])])


def plant(kind: str | None, *, acronym: str, coding: Coding, encoded: Encoded,
          truth: pd.DataFrame, rng: np.random.Generator, prepared: list[dict[str, Any]],
          redelivery_file: str) -> Planted:
    """Plant problem ``kind`` in a trial's encoded delivery (changes ``encoded`` in place)."""
    if kind is None:
        return Planted()
    ctx = _Context(kind, acronym, coding, encoded, truth, rng)
    handlers: dict[str, Callable[[], Planted]] = {
        "out_of_range": lambda: _out_of_range(ctx),
        "event_before_randomisation": lambda: _event_before_randomisation(ctx),
        "duplicate_id": lambda: _duplicate_id(ctx),
        "arm_imbalance": lambda: _arm_imbalance(ctx, redelivery_file),
        "missing_follow_up": lambda: _missing_follow_up(ctx),
        "confirmed_correct": lambda: _confirmed_correct(ctx, prepared[0]["truth_index"]),
        "nodes_inconsistent": lambda: _nodes_inconsistent(ctx),
    }
    return handlers[kind]()
