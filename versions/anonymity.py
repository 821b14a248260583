"""k-anonymity and l-diversity on declared quasi-identifiers, with record suppression.

Pure functions on data frames. An *equivalence class* is a set of records sharing the values of
every quasi-identifier (a missing value is a value of its own: it is as visible in the file as
any other). A frame is

* **k-anonymous** when every class holds at least ``k`` records;
* **(distinct) l-diverse** for a sensitive attribute when every class holds at least ``l``
  distinct non-missing values of it (missing values do not count as a value: they disclose
  nothing about the attribute, and counting them would overstate diversity).

:func:`anonymise` enforces both by **suppressing whole records**: first the records of classes
smaller than ``k``, then those of classes (of what is left) with fewer than ``l`` distinct
sensitive values. Quasi-identifier values are never blanked, so every released value is a true
value; the cost is fewer records, which the report states per class. (Generalising
quasi-identifiers -- age bands, years instead of dates -- is the requestor's and the curator's
choice of variables, made before extraction.)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.errors import RequestError

__all__ = ["AnonymityReport", "anonymise", "equivalence_classes", "k_of", "l_of",
           "suppressed_bands", "SIZE_BANDS"]

_SIZE, _DISTINCT = "records", "distinct_sensitive"


def _check(frame: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: str | None) -> None:
    wanted = list(quasi_identifiers) + ([sensitive] if sensitive else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise RequestError(f"the declared quasi-identifiers / sensitive attribute "
                           f"{', '.join(missing)} are not columns of the data; declare only "
                           "variables the request includes.", variables=missing)
    if sensitive and sensitive in quasi_identifiers:
        raise RequestError(f"{sensitive} cannot be both a quasi-identifier and the sensitive "
                           "attribute.", variable=sensitive)


def equivalence_classes(frame: pd.DataFrame, quasi_identifiers: Sequence[str],
                        sensitive: str | None = None) -> pd.DataFrame:
    """One row per class: the quasi-identifier values, ``records`` and (with ``sensitive``)
    ``distinct_sensitive``; sorted by size then values."""
    _check(frame, quasi_identifiers, sensitive)
    qis = list(quasi_identifiers)
    if not qis:
        out = pd.DataFrame({_SIZE: [len(frame)]})
        if sensitive:
            out[_DISTINCT] = [frame[sensitive].nunique(dropna=True)]
        return out
    grouped = frame.groupby(qis, dropna=False, sort=True, observed=True)
    out = grouped.size().rename(_SIZE).to_frame()
    if sensitive:
        out[_DISTINCT] = grouped[sensitive].nunique(dropna=True)
    out = out.reset_index()
    return out.sort_values(_SIZE, kind="mergesort").reset_index(drop=True)


def _class_ids(frame: pd.DataFrame, qis: list[str]) -> pd.Series:
    if not qis:
        return pd.Series(0, index=frame.index)
    return frame.groupby(qis, dropna=False, sort=True, observed=True).ngroup()


def k_of(frame: pd.DataFrame, quasi_identifiers: Sequence[str]) -> int:
    """The k the frame achieves: the size of its smallest class (0 for no records)."""
    if frame.empty:
        return 0
    return int(equivalence_classes(frame, quasi_identifiers)[_SIZE].min())


def l_of(frame: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: str) -> int:
    """The (distinct) l the frame achieves for ``sensitive`` (0 for no records)."""
    if frame.empty:
        return 0
    return int(equivalence_classes(frame, quasi_identifiers, sensitive)[_DISTINCT].min())


def _classes_with_action(frame: pd.DataFrame, qis: list[str], sensitive: str | None,
                         action: pd.Series) -> pd.DataFrame:
    work = frame[qis].copy() if qis else pd.DataFrame(index=frame.index)
    work["_action"] = action
    if sensitive:
        work["_sensitive"] = frame[sensitive]
    grouped = work.groupby(qis if qis else (lambda _i: 0), dropna=False, sort=True,
                           observed=True)
    classes = grouped.size().rename(_SIZE).to_frame()
    if sensitive:
        classes[_DISTINCT] = grouped["_sensitive"].nunique(dropna=True)
    classes["action"] = grouped["_action"].first()
    classes = classes.reset_index(drop=not qis)
    return classes.sort_values(_SIZE, kind="mergesort").reset_index(drop=True)


#: class-size bands of the suppression report: (label, smallest, largest)
SIZE_BANDS: tuple[tuple[str, int, float], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-9", 5, 9), ("10-19", 10, 19),
    ("20-49", 20, 49), ("50+", 50, float("inf")))


def _band(size: int) -> str:
    return next(label for label, low, high in SIZE_BANDS if low <= size <= high)


def suppressed_bands(classes: pd.DataFrame) -> list[dict[str, Any]]:
    """Suppressed classes as counts: ``[{reason (k or l), class_size (band), classes,
    records}]``, without any quasi-identifier value."""
    counts: dict[tuple[str, str], list[int]] = {}
    order = {label: i for i, (label, _, _) in enumerate(SIZE_BANDS)}
    for size, action in zip(classes[_SIZE], classes["action"]):
        reason = "l" if action == "suppressed (l)" else "k"
        entry = counts.setdefault((reason, _band(int(size))), [0, 0])
        entry[0] += 1
        entry[1] += int(size)
    return [{"reason": r, "class_size": b, "classes": n, "records": m}
            for (r, b), (n, m) in sorted(counts.items(), key=lambda i: (i[0][0],
                                                                        order[i[0][1]]))]


@dataclass(frozen=True, eq=False)
class AnonymityReport:
    """What :func:`anonymise` found and did.

    ``summary``: one row per equivalence class *before* suppression: the quasi-identifier
    values, ``records``, ``distinct_sensitive`` (with l), and ``action`` (``kept``,
    ``suppressed (k)`` or ``suppressed (l)``).
    """

    quasi_identifiers: tuple[str, ...]
    k: int | None
    l: int | None  # noqa: E741 - the name of the property
    sensitive: str | None
    records_in: int
    records_out: int
    suppressed_k: int
    suppressed_l: int
    k_before: int
    k_after: int
    l_before: int | None
    l_after: int | None
    classes: pd.DataFrame = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        return self.classes

    @property
    def suppressed(self) -> int:
        return self.suppressed_k + self.suppressed_l

    def to_dict(self) -> dict[str, Any]:
        """What may travel with the data: counts only. The quasi-identifier values of the
        suppressed classes (in :attr:`summary`) are never part of it."""
        small = self.classes[self.classes["action"] != "kept"]
        return {
            "applied": True, "method": "record suppression",
            "quasi_identifiers": list(self.quasi_identifiers), "k": self.k, "l": self.l,
            "sensitive_attribute": self.sensitive,
            "records_in": self.records_in, "records_out": self.records_out,
            "suppressed": {"k": self.suppressed_k, "l": self.suppressed_l,
                           "total": self.suppressed},
            "achieved": {"k_before": self.k_before, "k_after": self.k_after,
                         "l_before": self.l_before, "l_after": self.l_after},
            "classes": {"before": len(self.classes),
                        "after": int((self.classes["action"] == "kept").sum()),
                        "suppressed": len(small)},
            "suppressed_by_class_size": suppressed_bands(small),
        }

    def __repr__(self) -> str:
        return (f"AnonymityReport(k={self.k}, l={self.l}, records {self.records_in} -> "
                f"{self.records_out}, suppressed {self.suppressed})")

    def _repr_html_(self) -> str:
        return (f"<p><b>k-anonymity</b> on {html.escape(', '.join(self.quasi_identifiers))}: "
                f"k={self.k} (achieved {self.k_before} -> {self.k_after}); "
                + (f"l={self.l} on {html.escape(str(self.sensitive))} (achieved "
                   f"{self.l_before} -> {self.l_after}); " if self.l else "")
                + f"{self.suppressed} of {self.records_in} records suppressed.</p>"
                + self.classes.to_html(index=False))


def anonymise(frame: pd.DataFrame, *, quasi_identifiers: Sequence[str], k: int | None = None,
              l: int | None = None, sensitive: str | None = None  # noqa: E741
              ) -> tuple[pd.DataFrame, AnonymityReport]:
    """Suppress the records that keep ``frame`` from being k-anonymous and l-diverse on
    ``quasi_identifiers``; returns the kept records (original order) and the report."""
    qis = list(quasi_identifiers)
    if k is not None and k < 1:
        raise RequestError(f"k must be at least 1 (got {k}).", k=k)
    if l is not None:
        if l < 1:
            raise RequestError(f"l must be at least 1 (got {l}).", l=l)
        if not sensitive:
            raise RequestError("l-diversity needs a sensitive attribute; declare one.", l=l)
    _check(frame, qis, sensitive)
    ids = _class_ids(frame, qis).to_numpy(dtype=np.int64)
    size = np.bincount(ids)[ids] if len(ids) else np.zeros(0, dtype=np.int64)
    keep = np.ones(len(frame), dtype=bool)
    action = np.full(len(frame), "kept", dtype=object)
    if k is not None:
        small = size < k
        keep &= ~small
        action[small] = "suppressed (k)"
    if l is not None and sensitive:
        distinct = frame[sensitive].groupby(ids).nunique(dropna=True)
        # suppression is by whole class, so a kept class keeps all its distinct values
        poor = (distinct.reindex(ids).to_numpy() < l) & keep
        keep &= ~poor
        action[poor] = "suppressed (l)"
    classes = _classes_with_action(frame, qis, sensitive,
                                   pd.Series(action, index=frame.index))
    kept = frame.loc[keep]
    kept_classes = classes[classes["action"] == "kept"]

    def low(table: pd.DataFrame, column: str) -> int:
        return int(table[column].min()) if len(table) else 0

    report = AnonymityReport(
        quasi_identifiers=tuple(qis), k=k, l=l, sensitive=sensitive,
        records_in=len(frame), records_out=len(kept),
        suppressed_k=int((action == "suppressed (k)").sum()),
        suppressed_l=int((action == "suppressed (l)").sum()),
        k_before=low(classes, _SIZE), k_after=low(kept_classes, _SIZE),
        l_before=low(classes, _DISTINCT) if sensitive else None,
        l_after=low(kept_classes, _DISTINCT) if sensitive else None,
        classes=classes)
    return kept, report
