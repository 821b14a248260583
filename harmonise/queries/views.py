"""Displayable views of a topic's data queries and corrections (for notebooks and scripts).

:func:`query_view` and :func:`correction_view` read the store once and return frozen objects
with ``.summary`` (a DataFrame with the columns below), ``to_dict()``, ``_repr_html_`` (counts
by status, then the table) and a plain ``__repr__``. They change nothing.

Example::

    from harmonise.queries.views import query_view
    query_view(store, status=["open", "sent"])      # in JupyterLab: a table of open queries
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["QueryView", "CorrectionView", "query_view", "correction_view", "QUERY_COLUMNS",
           "CORRECTION_COLUMNS"]

#: columns of :attr:`QueryView.summary`
QUERY_COLUMNS = ("id", "trial", "participant", "variable", "check", "source", "status",
                 "resolution", "value", "question", "age_days")
#: columns of :attr:`CorrectionView.summary`
CORRECTION_COLUMNS = ("id", "trial", "participant", "source_column", "variable", "old_value",
                      "new_value", "query_id", "reason", "created_by", "status")


def _blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values shown as empty cells (``na_rep`` does not reach ``None`` in objects)."""
    return frame.astype(object).where(frame.notna(), "")


def _counts_html(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {html.escape(k)}" for k, n in counts.items()) or "none"


@dataclass(frozen=True, eq=False)
class QueryView:
    """Data queries of a topic as read by :func:`query_view` (one dict per query, as
    :func:`harmonise.queries.lifecycle.query_to_dict` gives them)."""

    topic: str
    queries: tuple[Mapping[str, Any], ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(int(q["id"]) for q in self.queries)

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for q in self.queries:
            counts[q["status"]] = counts.get(q["status"], 0) + 1
        return dict(sorted(counts.items()))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per query: :data:`QUERY_COLUMNS`."""
        return pd.DataFrame([{c: q.get(c) for c in QUERY_COLUMNS} for q in self.queries],
                            columns=list(QUERY_COLUMNS))

    def by_trial(self) -> pd.DataFrame:
        """Queries per trial (rows) and status (columns), with a total."""
        frame = self.summary
        if frame.empty:
            return pd.DataFrame(columns=["trial", "total"])
        table = frame.pivot_table(index="trial", columns="status", values="id",
                                  aggfunc="count", fill_value=0)
        table["total"] = table.sum(axis=1)
        return table.reset_index().rename_axis(columns=None)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "n": len(self.queries), "by_status": self.by_status(),
                "queries": [dict(q) for q in self.queries]}

    def __len__(self) -> int:
        return len(self.queries)

    def __repr__(self) -> str:
        return f"<QueryView {self.topic}: {len(self.queries)} queries {self.by_status()}>"

    def _repr_html_(self) -> str:
        head = (f"<p><b>Data queries of {html.escape(self.topic)}</b>: {len(self.queries)} "
                f"({_counts_html(self.by_status())})</p>")
        if not self.queries:
            return head
        return (head + self.by_trial().to_html(index=False)
                + _blank(self.summary).to_html(index=False, max_rows=200))


@dataclass(frozen=True, eq=False)
class CorrectionView:
    """Corrections of a topic as read by :func:`correction_view` (one dict per correction, as
    :func:`harmonise.queries.corrections.correction_to_dict` gives them)."""

    topic: str
    corrections: tuple[Mapping[str, Any], ...]

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.corrections:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        return dict(sorted(counts.items()))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per correction: :data:`CORRECTION_COLUMNS`."""
        return pd.DataFrame([{c: r.get(c) for c in CORRECTION_COLUMNS}
                             for r in self.corrections], columns=list(CORRECTION_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "n": len(self.corrections), "by_status": self.by_status(),
                "corrections": [dict(c) for c in self.corrections]}

    def __len__(self) -> int:
        return len(self.corrections)

    def __repr__(self) -> str:
        return (f"<CorrectionView {self.topic}: {len(self.corrections)} corrections "
                f"{self.by_status()}>")

    def _repr_html_(self) -> str:
        head = (f"<p><b>Corrections of {html.escape(self.topic)}</b>: {len(self.corrections)} "
                f"({_counts_html(self.by_status())})</p>")
        if not self.corrections:
            return head
        return head + _blank(self.summary).to_html(index=False, max_rows=200)


def query_view(store: Any, *, trial: str | None = None,
               status: Sequence[str] | None = None) -> QueryView:
    """The queries the store's actor may see (a trialist: their trial's), optionally of one
    ``trial`` and with the given ``status`` values (see
    :data:`harmonise.queries.lifecycle.STATUSES`)."""
    from harmonise.queries.lifecycle import list_queries, query_to_dict

    with store.reading() as session:
        topic = store.topic(session)
        rows = tuple(query_to_dict(session, q) for q in
                     list_queries(session, topic, actor=store.settings.actor, trial=trial,
                                  status=status))
        return QueryView(topic=topic.slug, queries=rows)


def correction_view(store: Any, *, trial: str | None = None,
                    status: Sequence[str] | None = None) -> CorrectionView:
    """The topic's corrections (of ``trial``; with ``status`` among active, needs_review,
    superseded, withdrawn), oldest first. A trialist sees only their own trial's."""
    from sqlalchemy import select

    from harmonise.queries.corrections import correction_to_dict
    from repository.models import Correction, Trial
    from repository.roles import require

    with store.reading() as session:
        who = require(session, store.settings.actor, "queries.read", trial=trial)
        if who.role == "trialist":  # a trialist sees only their own trial's corrections
            trial = who.trial
        topic = store.topic(session)
        stmt = (select(Correction, Trial.acronym).join(Trial, Trial.id == Correction.trial_id)
                .where(Correction.topic_id == topic.id).order_by(Correction.id))
        if trial:
            stmt = stmt.where(Trial.acronym == trial)
        if status:
            stmt = stmt.where(Correction.status.in_(list(status)))
        rows = tuple(correction_to_dict(c, acronym) for c, acronym in session.execute(stmt))
        return CorrectionView(topic=topic.slug, corrections=rows)
