"""The query dashboard: open queries by trial, age, check and response time, as a table and a
self-contained HTML page (in the spirit of REDCap's Resolve Issues page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from repository.html import render, table

__all__ = ["dashboard_tables", "dashboard_html", "AGE_BANDS"]

ACTIVE = ("open", "reopened", "sent", "answered")
#: age bands of open queries, in days
AGE_BANDS = ((0, 7, "under a week"), (7, 30, "1-4 weeks"), (30, 90, "1-3 months"),
             (90, 10**6, "over 3 months"))


def _band(days: int) -> str:
    for low, high, label in AGE_BANDS:
        if low <= days < high:
            return label
    return AGE_BANDS[-1][2]


def dashboard_tables(queries: Sequence[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """by_trial (status counts), by_age (open queries), by_check, response_time (days from
    raising to the first answer, per trial)."""
    q = pd.DataFrame(list(queries))
    if q.empty:
        empty = pd.DataFrame()
        return {"by_trial": empty, "by_age": empty, "by_check": empty, "response_time": empty}
    by_trial = q.pivot_table(index="trial", columns="status", values="id", aggfunc="count",
                             fill_value=0)
    by_trial["total"] = by_trial.sum(axis=1)
    active = q[q["status"].isin(ACTIVE)].copy()
    active["age"] = [_band(int(d)) for d in active["age_days"]]
    by_age = (active.pivot_table(index="trial", columns="age", values="id", aggfunc="count",
                                 fill_value=0)
              .reindex(columns=[b[2] for b in AGE_BANDS], fill_value=0)
              if not active.empty else pd.DataFrame())
    by_check = (q.groupby(["check", "status"]).size().unstack(fill_value=0)
                if "check" in q else pd.DataFrame())
    answered = q[q["first_response_days"].notna()] if "first_response_days" in q else q.iloc[:0]
    response = (answered.groupby("trial")["first_response_days"]
                .agg(["count", "median", "max"]).rename(columns={
                    "count": "answered", "median": "median days", "max": "longest days"})
                if not answered.empty else pd.DataFrame())
    return {"by_trial": by_trial.reset_index(), "by_age": by_age.reset_index(),
            "by_check": by_check.reset_index(), "response_time": response.reset_index()}


def dashboard_html(topic: str, queries: Sequence[Mapping[str, Any]]) -> str:
    """The dashboard page (``repository/html/templates/harmonise/dashboard.html.j2``)."""
    tables = dashboard_tables(queries)
    active = [q for q in queries if q["status"] in ACTIVE]
    oldest = sorted(active, key=lambda q: -q["age_days"])[:25]
    prepared: dict[str, Any] = {name: table(frame) for name, frame in tables.items()}
    return render(
        "harmonise/dashboard.html.j2", title=f"Data queries of {topic}",
        n_queries=len(queries), n_active=len(active), **prepared,
        oldest=table(pd.DataFrame(
            [{k: q[k] for k in ("id", "trial", "status", "age_days", "participant",
                                "variable", "check", "question")} for q in oldest])))
