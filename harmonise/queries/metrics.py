"""Response-time figures of the query workflow, per trial (the curators' resolve-issues list and
daily digest): pure over :func:`harmonise.queries.lifecycle.query_to_dict` records with their
thread.

* **waiting**: sent or reopened, no answer yet; **overdue**: waiting for longer than
  ``overdue_days`` since it was sent (or raised);
* **to review**: answered, waiting for a curator;
* **days to first answer**: median over queries answered at least once;
* **days to resolution**: median over resolved queries, raised to resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

__all__ = ["OVERDUE_DAYS", "TrialMetrics", "query_metrics", "waiting_days", "is_overdue"]

#: a sent question unanswered for this many days is overdue (reminders, the digest)
OVERDUE_DAYS = 14


@dataclass(frozen=True)
class TrialMetrics:
    trial: str
    total: int
    waiting: int
    overdue: int
    to_review: int
    resolved: int
    closed: int
    median_days_to_answer: float | None
    median_days_to_resolution: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def waiting_days(q: Mapping[str, Any], now: datetime) -> float | None:
    """Days the query has waited for the trial's answer (None: it is not waiting)."""
    if q["status"] not in ("sent", "reopened", "open"):
        return None
    since = _at(q["raised_at"])
    for m in q.get("thread") or ():
        if m["kind"] in ("sent", "reopen"):
            since = _at(m["at"])
    return (now - since).total_seconds() / 86400


def is_overdue(q: Mapping[str, Any], now: datetime, overdue_days: int = OVERDUE_DAYS) -> bool:
    days = waiting_days(q, now)
    return q["status"] in ("sent", "reopened") and days is not None and days > overdue_days


def _resolution_days(q: Mapping[str, Any]) -> float | None:
    if q["status"] != "resolved":
        return None
    done = [m for m in q.get("thread") or () if m["kind"] == "resolve"]
    if not done:
        return None
    return (_at(done[-1]["at"]) - _at(q["raised_at"])).total_seconds() / 86400


def query_metrics(queries: Sequence[Mapping[str, Any]], *, now: datetime,
                  overdue_days: int = OVERDUE_DAYS) -> list[TrialMetrics]:
    """One :class:`TrialMetrics` per trial, by acronym."""
    out = []
    for trial in sorted({q["trial"] for q in queries}):
        mine = [q for q in queries if q["trial"] == trial]
        answered = [q["first_response_days"] for q in mine
                    if q.get("first_response_days") is not None]
        resolution = [d for d in (_resolution_days(q) for q in mine) if d is not None]
        out.append(TrialMetrics(
            trial=trial, total=len(mine),
            waiting=sum(q["status"] in ("open", "sent", "reopened") for q in mine),
            overdue=sum(is_overdue(q, now, overdue_days) for q in mine),
            to_review=sum(q["status"] == "answered" for q in mine),
            resolved=sum(q["status"] == "resolved" for q in mine),
            closed=sum(q["status"] == "closed" for q in mine),
            median_days_to_answer=round(median(answered), 1) if answered else None,
            median_days_to_resolution=round(median(resolution), 1) if resolution else None))
    return out
