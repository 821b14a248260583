"""Named derivations for the ``derive`` mapping rule.

Each derivation declares its parameters (what kind of value each takes), what it produces and
how; the mapping loader checks a rule's parameters against the declaration, the engine
evaluates the parameters (harmonised variables, raw columns, ``coalesce``/``earliest``/
``latest`` combinations or expressions) and calls :attr:`Derivation.compute` with Series.

=====================  ============================  ===========================================
name                   parameters                    result
=====================  ============================  ===========================================
``days_between``       ``start``, ``end`` (dates)    whole days from start to end
``years_between``      ``start``, ``end`` (dates)    decimal years (days / 365.25)
``age_at``             ``birth``, ``at`` (dates)     completed years at ``at`` (a birth
                                                     year-month gives the 1st of the month)
``months_to_days``     ``value`` (number)            months x 30.4375, rounded to whole days
``to_days``            ``value`` (number), ``unit``  a duration in weeks/months/years ... as
                                                     whole days
``event_from_date``    ``date`` (date)               1 where the date is known, else 0
``date_plus_days``     ``start`` (date), ``days``    the date ``days`` after ``start``
``time_to_event``      ``origin``, ``event``,        time, event flag or date of a time-to-event
                       ``censor`` (dates),           pair: the event where its date is known
                       ``cutoff``, ``output``,       (and not after ``cutoff``), else censored
                       ``origin_day``                at ``censor`` (or ``cutoff`` if earlier)
=====================  ============================  ===========================================

``time_to_event`` takes its dates from anywhere a date can come from: an ``aggregate`` variable
(the first matching event of an event table), ``{earliest|latest: [...]}`` of several tables,
a raw column. ``output: time`` (default) gives whole days from ``origin`` to the event or
censoring date, plus ``origin_day`` (0, or 1 when the origin is counted as day 1, as ADaM's
``AVAL = ADT - STARTDT + 1``); ``output: event`` gives 1 (event) or 0 (censored); ``output:
date`` the event or censoring date (ADaM's ``ADT``). A participant without a censoring date and
without an event is missing; an event after ``cutoff`` is censored at ``cutoff``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.expressions.functions import round_half_away
from harmonise.values.dates import add_days, age_at, days_between
from harmonise.values.problems import Issue

__all__ = ["Param", "Derivation", "DERIVATIONS"]

Compute = Callable[[Mapping[str, Any]], tuple[pd.Series, list[Issue]]]


@dataclass(frozen=True)
class Param:
    """A derivation parameter: ``kind`` is ``date``, ``number``, ``unit`` (a literal unit),
    ``option`` (one of ``choices``, literal) or ``integer`` (a literal whole number)."""

    name: str
    kind: str
    doc: str
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Derivation:
    name: str
    params: tuple[Param, ...]
    output: str  # number | date | event
    doc: str
    compute: Compute

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


def _days_between(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    return days_between(a["start"], a["end"]), []


def _years_between(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    days = days_between(a["start"], a["end"]).astype("Float64")
    return days / 365.25, []


def _age_at(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    return age_at(a["birth"], a["at"]), []


def _months_to_days(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    return round_half_away(a["value"].astype("Float64") * (365.25 / 12.0), 0), []


def _to_days(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    from harmonise.values.units import conversion

    conv = conversion(a["unit"], "days")
    return round_half_away(conv.apply(a["value"].astype("Float64")), 0), []


def _event_from_date(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    known = a["date"].notna().to_numpy()
    return pd.Series(pd.arrays.IntegerArray(known.astype("int64"), np.zeros(len(known), bool)),
                     index=a["date"].index), []


def _time_to_event(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    origin = pd.Series(a["origin"]).to_numpy(dtype="datetime64[ns]")
    event = pd.Series(a["event"]).to_numpy(dtype="datetime64[ns]")
    index = pd.Series(a["origin"]).index
    censor = (pd.Series(a["censor"]).to_numpy(dtype="datetime64[ns]") if "censor" in a
              else np.full(len(origin), np.datetime64("NaT"), dtype="datetime64[ns]"))
    if "cutoff" in a:
        cutoff = pd.Series(a["cutoff"]).to_numpy(dtype="datetime64[ns]")
        late = ~np.isnat(event) & ~np.isnat(cutoff) & (event > cutoff)
        event = np.where(late, np.datetime64("NaT"), event)
        censor = np.where(np.isnat(censor) | (~np.isnat(cutoff) & (cutoff < censor)), cutoff,
                          censor)
    happened = ~np.isnat(event)
    when = np.where(happened, event, censor).astype("datetime64[ns]")
    output = a.get("output", "time")
    if output == "date":
        return pd.Series(when, index=index), []
    known = ~np.isnat(when)
    if output == "event":
        return pd.Series(pd.arrays.IntegerArray(happened.astype("int64"), ~known), index=index), []
    days = days_between(pd.Series(origin, index=index), pd.Series(when, index=index))
    return days + int(a.get("origin_day", 0)), []


def _date_plus_days(a: Mapping[str, Any]) -> tuple[pd.Series, list[Issue]]:
    out, _fractional = add_days(a["start"], a["days"])
    return out, []


DERIVATIONS: Mapping[str, Derivation] = {d.name: d for d in (
    Derivation("days_between",
               (Param("start", "date", "the first date"), Param("end", "date", "the later date")),
               "number", "whole days from start to end (negative if end is earlier)",
               _days_between),
    Derivation("years_between",
               (Param("start", "date", "the first date"), Param("end", "date", "the later date")),
               "number", "decimal years from start to end (days / 365.25)", _years_between),
    Derivation("age_at",
               (Param("birth", "date", "date (or year-month) of birth"),
                Param("at", "date", "the date the age is taken at, e.g. rand_date")),
               "number", "completed years from birth to at", _age_at),
    Derivation("months_to_days", (Param("value", "number", "a duration in months"),),
               "number", "months x 30.4375, rounded half away from zero to whole days",
               _months_to_days),
    Derivation("to_days",
               (Param("value", "number", "a duration"),
                Param("unit", "unit", "its unit: hours, days, weeks, months or years")),
               "number", "the duration in whole days (rounded half away from zero)", _to_days),
    Derivation("event_from_date", (Param("date", "date", "the event's date"),),
               "event", "1 where the date is known, 0 where it is missing (combine several "
                        "dates with {coalesce: [...]})", _event_from_date),
    Derivation("time_to_event",
               (Param("origin", "date", "the start of follow-up, e.g. rand_date"),
                Param("event", "date", "the date of the event (missing: no event)"),
                Param("censor", "date", "the censoring date, e.g. the last contact",
                      required=False),
                Param("cutoff", "date", "events after it are censored at it", required=False),
                Param("output", "option", "time (default), event (1/0) or date",
                      required=False, choices=("time", "event", "date")),
                Param("origin_day", "integer", "the day number of the origin: 0 (default) or "
                                               "1 (ADaM: ADT - STARTDT + 1)", required=False)),
               "tte", "a time-to-event pair's time, event flag or date", _time_to_event),
    Derivation("date_plus_days",
               (Param("start", "date", "the start date"),
                Param("days", "number", "days to add (rounded to whole days)")),
               "date", "the date `days` after `start`", _date_plus_days),
)}


def output_kind(derivation: Derivation, args: Mapping[str, Any] | None = None) -> str:
    """The expression kind a derivation gives (``time_to_event`` by its ``output``)."""
    if derivation.output == "tte":
        out = dict(args or {}).get("output", "time")
        return "date" if out == "date" else "number"
    return {"number": "number", "date": "date", "event": "number"}[derivation.output]
