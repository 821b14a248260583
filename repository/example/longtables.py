"""The trial that delivers several files: its follow-up visits and events as long tables.

A trial whose coding has ``survival: events`` (:attr:`Coding.package`) sends three files: the
baseline file (one row per participant, as every other trial's delivery, without the outcome
dates), a visits file (one row per follow-up visit: visit number, date, global quality of life)
and an events file (one row per adverse event, recurrence or death: sequence number, type, date,
adverse-event term and grade). The participant outcomes are derived across the tables:

* ``recurrence_date`` and ``death_date``: the first event of that type;
* ``last_fu_date``: the latest visit or event date (the date of death for those who died);
* ``qol_12m``: the quality of life at the visit nearest day 365, within +/- 60 days;
* ``grade3_toxicity``: any adverse event of grade 3 or worse; ``worst_ae_grade`` the worst grade
  (0: no adverse event).

The tables are simulated from the participant truth so that these derivations give exactly the
truth: visits are planned at days 90, 180, 270, 365, 545, 730, 910, 1095 and then yearly, each
+/- 14 days, held while the participant is under follow-up; a censored participant's last
contact is a visit on the last follow-up date (quality of life not asked); the form at day 365
carries ``qol_12m`` (the only visit within 60 days of day 365 with a score); adverse events start
within the first 180 days (at least one of grade 3-4 for those with ``grade3_toxicity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.example.topic import TABLES, seed_sequence

__all__ = ["FollowUp", "EncodedTable", "simulate_follow_up", "encode_tables",
           "PACKAGE_RULES", "EVENT_CODES"]

PLANNED_DAYS = np.array([90, 180, 270, 365, 545, 730, 910, 1095, *range(1460, 11000, 365)])
_DAY_365 = 3                      # the position of day 365 in PLANNED_DAYS
_AE_TERMS = np.array(["NEUTROPENIA", "NAUSEA", "DIARRHOEA", "FATIGUE", "STOMATITIS",
                      "HAND-FOOT SYNDROME", "ANAEMIA", "ANOREXIA"], dtype=object)
#: harmonised event type -> the code in the events file, and the order of same-day events
EVENT_CODES: Mapping[str, str] = {"adverse_event": "AE", "recurrence": "REC", "death": "DEATH"}

#: codebook rules of the participant variables derived across the tables (mapping syntax)
PACKAGE_RULES: Mapping[str, dict[str, Any]] = {
    "recurrence_date": {"rule": "aggregate", "take": "min", "table": "events",
                        "value": "event_date", "where": "event_type == 'recurrence'"},
    "death_date": {"rule": "aggregate", "take": "min", "table": "events", "value": "event_date",
                   "where": "event_type == 'death'"},
    "last_fu_date": {"rule": "aggregate", "take": "max",
                     "from": [{"table": "visits", "value": "visit_date"},
                              {"table": "events", "value": "event_date"}]},
    "qol_12m": {"rule": "aggregate", "take": "nearest", "table": "visits",
                "value": "qol_global", "at": "visit_day", "target": 365, "within": 60},
    "grade3_toxicity": {"rule": "aggregate", "take": "any", "table": "events",
                        "where": "event_type == 'adverse_event' and ae_grade >= 3"},
    "worst_ae_grade": {"rule": "aggregate", "take": "max", "table": "events",
                       "value": "ae_grade", "where": "event_type == 'adverse_event'",
                       "else": 0},
}


@dataclass
class FollowUp:
    """The true long tables of one trial; ``_index`` is the participant's row in the truth."""

    visits: pd.DataFrame
    events: pd.DataFrame


def _visits(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n, m = len(truth), PLANNED_DAYS.size
    os_time = truth["os_time_days"].to_numpy(dtype=np.int64)
    censored = truth["os_event"].to_numpy(dtype=np.int64) == 0
    qol12 = truth["qol_12m"].to_numpy(dtype=np.float64, na_value=np.nan)
    known = ~np.isnan(qol12)
    day = PLANNED_DAYS[None, :] + rng.integers(-14, 15, (n, m))
    day[:, _DAY_365] = np.where(known, np.minimum(day[:, _DAY_365], os_time - 1),
                                day[:, _DAY_365])
    base = np.nan_to_num(truth["qol_baseline"].to_numpy(dtype=np.float64, na_value=np.nan),
                         nan=65.0)
    qol = np.clip(np.round(base[:, None] + rng.normal(0, 10, (n, m))), 0, 100)
    qol[rng.random((n, m)) < 0.15] = np.nan
    qol[:, _DAY_365] = qol12
    keep = day < os_time[:, None]
    # the last contact of a censored participant: a visit on the last follow-up date
    day = np.column_stack([day, os_time])
    qol = np.column_stack([qol, np.full(n, np.nan)])
    keep = np.column_stack([keep, censored])
    owner, col = np.nonzero(keep)
    frame = pd.DataFrame({"_index": owner, "visit_day": day[owner, col],
                          "qol_global": pd.array(qol[owner, col], dtype="Float64")})
    frame["qol_global"] = frame["qol_global"].round().astype("Int64")
    return frame


def _events(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(truth)
    rand = truth["rand_date"].to_numpy(dtype="datetime64[D]")
    os_time = truth["os_time_days"].to_numpy(dtype=np.int64)
    started = truth["chemo_started"].to_numpy(dtype=bool, na_value=False)
    severe = truth["grade3_toxicity"].to_numpy(dtype=bool, na_value=False)
    count = rng.poisson(np.where(started, 1.6, 0.4))
    count = np.where(severe, np.maximum(count, 1), count)
    owner = np.repeat(np.arange(n), count)
    first = np.r_[True, owner[1:] != owner[:-1]] if owner.size else np.zeros(0, bool)
    grade = rng.integers(1, 3, owner.size)
    grade = np.where(first & severe[owner], np.where(rng.random(owner.size) < 0.8, 3, 4), grade)
    horizon = np.minimum(180, os_time[owner])
    ae_day = 1 + np.floor(rng.random(owner.size) * horizon).astype(np.int64)
    terms = _AE_TERMS[rng.integers(0, _AE_TERMS.size, owner.size)]
    rec = truth["recurrence_date"].to_numpy(dtype="datetime64[D]")
    recurred = np.flatnonzero(~np.isnat(rec))
    died = np.flatnonzero(truth["os_event"].to_numpy(dtype=np.int64) == 1)
    frame = pd.DataFrame({
        "_index": np.r_[owner, recurred, died],
        "_day": np.r_[ae_day, (rec[recurred] - rand[recurred]).astype(np.int64), os_time[died]],
        "_order": np.r_[np.zeros(owner.size), np.ones(recurred.size), np.full(died.size, 2)],
        "event_type": np.r_[np.full(owner.size, "adverse_event", dtype=object),
                            np.full(recurred.size, "recurrence", dtype=object),
                            np.full(died.size, "death", dtype=object)],
        "ae_term": np.r_[terms, np.full(recurred.size + died.size, None, dtype=object)],
        "ae_grade": pd.array(np.r_[grade, np.full(recurred.size + died.size, -1)],
                             dtype="Int64"),
    })
    frame["ae_grade"] = frame["ae_grade"].mask(frame["ae_grade"] < 0)
    return frame.sort_values(["_index", "_day", "_order"], kind="stable").reset_index(drop=True)


def _dated(frame: pd.DataFrame, rand: np.ndarray, day: str, date: str, seq: str) -> pd.DataFrame:
    owner = frame["_index"].to_numpy()
    frame[date] = pd.Series((rand[owner] + frame[day].to_numpy().astype("timedelta64[D]"))
                            .astype("datetime64[ns]"))
    frame.insert(1, seq, frame.groupby("_index").cumcount() + 1)
    return frame


def simulate_follow_up(truth: pd.DataFrame, seed: int, index: int) -> FollowUp:
    """The trial's visits and events, consistent with its (final) participant truth; sets the
    truth's ``worst_ae_grade``."""
    rng = np.random.default_rng(seed_sequence(seed, 9, index))
    rand = truth["rand_date"].to_numpy(dtype="datetime64[D]")
    visits = _dated(_visits(truth, rng), rand, "visit_day", "visit_date", "visit_num")
    visits = visits[["_index", "visit_num", "visit_date", "visit_day", "qol_global"]]
    events = _dated(_events(truth, rng), rand, "_day", "event_date", "event_seq")
    ae = events[events["event_type"] == "adverse_event"]
    worst = ae.groupby("_index")["ae_grade"].max()
    grades = np.zeros(len(truth), dtype=np.int64)
    grades[worst.index.to_numpy()] = worst.to_numpy(dtype=np.int64)
    truth["worst_ae_grade"] = pd.Series(grades, index=truth.index, dtype="Int64")
    events = events[["_index", "event_seq", "event_type", "event_date", "ae_term", "ae_grade"]]
    return FollowUp(visits=visits.reset_index(drop=True), events=events.reset_index(drop=True))


# ---- encoding -------------------------------------------------------------------------------

@dataclass
class EncodedTable:
    """One long file of the delivery: its columns (``Column`` of :mod:`.encode`), key, and the
    codebook rules of the table's variables."""

    name: str
    columns: list[Any]
    key: list[str]
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)


def _ordered(frame: pd.DataFrame, order: np.ndarray, seq: str) -> pd.DataFrame:
    row_of = np.empty_like(order)
    row_of[order] = np.arange(order.size)
    ranked = frame.assign(_row=row_of[frame["_index"].to_numpy()])
    return ranked.sort_values(["_row", seq], kind="stable").reset_index(drop=True)


def encode_tables(follow_up: FollowUp, *, id_column: Any, order: np.ndarray,
                  date_format: str) -> list[EncodedTable]:
    """The visits and events files: rows in the baseline file's participant order, then by
    sequence; ``id_column`` is the baseline file's ID column in truth order."""
    from repository.example.encode import Column

    def ids(frame: pd.DataFrame) -> Any:
        return Column(id_column.name, id_column.kind, id_column.values[frame["_index"]],
                      id_column.label, used_for=("participant_id",))

    v = _ordered(follow_up.visits, order, "visit_num")
    visits = EncodedTable("visits", [
        ids(v),
        Column("VISIT", "int", v["visit_num"].to_numpy(np.float64), "Visit number",
               used_for=("visit_num",)),
        Column("VISDAT", "date", v["visit_date"].to_numpy("datetime64[ns]"), "Date of visit",
               date_format=date_format, used_for=("visit_date", "visit_day")),
        Column("QOL", "int", v["qol_global"].to_numpy(np.float64, na_value=np.nan),
               "Global health status (QLQ-C30), 0-100", used_for=("qol_global",))],
        key=["VISIT"])
    visits.rules = {
        "visit_num": {"rule": "direct", "source": "VISIT", "type": "integer"},
        "visit_date": {"rule": "date", "source": "VISDAT", "format": date_format},
        "visit_day": {"rule": "derive", "derivation": "visit_day",
                      "from": ["visit_date", "rand_date"]},
        "qol_global": {"rule": "direct", "source": "QOL", "type": "integer"}}
    e = _ordered(follow_up.events, order, "event_seq")
    events = EncodedTable("events", [
        ids(e),
        Column("EVSEQ", "int", e["event_seq"].to_numpy(np.float64), "Event number",
               used_for=("event_seq",)),
        Column("EVTYPE", "str", e["event_type"].map(EVENT_CODES).to_numpy(object),
               "Event type (AE, REC recurrence, DEATH)", used_for=("event_type",)),
        Column("EVDATE", "date", e["event_date"].to_numpy("datetime64[ns]"),
               "Date of event (onset)", date_format=date_format, used_for=("event_date",)),
        Column("AETERM", "str", e["ae_term"].to_numpy(object), "Adverse event term",
               used_for=("ae_term",)),
        Column("AEGRADE", "int", e["ae_grade"].to_numpy(np.float64, na_value=np.nan),
               "CTCAE grade", used_for=("ae_grade",))],
        key=["EVSEQ"])
    events.rules = {
        "event_seq": {"rule": "direct", "source": "EVSEQ", "type": "integer"},
        "event_type": {"rule": "recode", "source": "EVTYPE",
                       "codes": {code: name for name, code in EVENT_CODES.items()}},
        "event_date": {"rule": "date", "source": "EVDATE", "format": date_format},
        "ae_term": {"rule": "direct", "source": "AETERM", "type": "text"},
        "ae_grade": {"rule": "recode", "source": "AEGRADE", "codes": {g: g for g in (1, 2, 3, 4)}}}
    assert [t.name for t in (visits, events)] == list(TABLES)
    return [visits, events]
