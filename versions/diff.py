"""What changed between two releases: rows, cells (with the reason), dictionary.

:func:`diff_frames` is pure (two frames and their manifests); :func:`diff_releases` reads both
releases of a store through DVC. Rows are matched on ``(trial, participant_id)``. Each changed
cell gets a ``cause``, the first that applies:

``correction``
    a correction in the newer manifest (not in the older) for that trial, participant and
    variable (manifests list corrections by id, pseudonym and harmonised variables only; see
    :func:`versions.manifest.correction_records`); ``correction`` and ``query`` give their ids;
``correction withdrawn``
    a correction of the older release that the newer one no longer applies;
``new delivery`` / ``mapping changed`` / ``dictionary changed``
    the trial's delivery or mapping hash differ, or the variable's dictionary entry changed
    in something that can change values (type, unit, categories, range; not its label);
``unexplained``
    none of these: worth a look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.html import Markup, fragment, join, render, table
from repository.store import Store
from versions.dataset import read_parquet_bytes
from versions.inputs import KEY_COLUMNS
from versions.manifest import correction_records
from versions.releases import release_bytes

__all__ = ["ReleaseDiff", "diff_frames", "diff_releases", "dictionary_changes"]

CELL_COLUMNS = ["trial", "participant", "variable", "old", "new", "cause", "correction",
                "query"]
ROW_COLUMNS = ["trial", "rows_old", "rows_new", "added", "removed", "changed_rows",
               "changed_cells"]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if hasattr(value, "item"):
        return value.item()
    return value


def dictionary_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Variables added, removed and changed (field by field), versions and new changelog
    entries, between two manifests' ``dictionary`` blocks."""
    a = {v["name"]: v for v in old.get("variables", [])}
    b = {v["name"]: v for v in new.get("variables", [])}
    changed = []
    for name in [n for n in b if n in a]:
        fields = {k: {"old": a[name].get(k), "new": b[name].get(k)}
                  for k in sorted(set(a[name]) | set(b[name]))
                  if a[name].get(k) != b[name].get(k)}
        if fields:
            changed.append({"variable": name, "fields": fields})
    old_log = {(e.get("version"), e.get("date")) for e in old.get("changelog", [])}
    return {
        "old_version": old.get("version"), "new_version": new.get("version"),
        "old_sha256": old.get("sha256"), "new_sha256": new.get("sha256"),
        "added": [n for n in b if n not in a], "removed": [n for n in a if n not in b],
        "changed": changed,
        "changelog": [e for e in new.get("changelog", [])
                      if (e.get("version"), e.get("date")) not in old_log],
    }


@dataclass(frozen=True, eq=False)
class ReleaseDiff:
    """Differences from release ``old`` to release ``new``.

    ``summary`` (= ``rows``): one row per trial: rows_old, rows_new, added, removed,
    changed_rows, changed_cells. ``added``/``removed``: trial, participant (``removed`` adds
    ``reason``: ``withdrawn`` when the newer manifest lists a withdrawal). ``cells``: trial,
    participant, variable, old, new, cause, correction, query.
    """

    topic: str
    old: str
    new: str
    rows: pd.DataFrame = field(repr=False)
    added: pd.DataFrame = field(repr=False)
    removed: pd.DataFrame = field(repr=False)
    cells: pd.DataFrame = field(repr=False)
    dictionary: Mapping[str, Any] = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        return self.rows

    @property
    def unchanged(self) -> bool:
        d = self.dictionary
        return (self.added.empty and self.removed.empty and self.cells.empty
                and not (d["added"] or d["removed"] or d["changed"]))

    def to_dict(self, *, limit: int | None = None) -> dict[str, Any]:
        cells = self.cells if limit is None else self.cells.head(limit)
        return {
            "topic": self.topic, "old": self.old, "new": self.new,
            "rows": self.rows.to_dict(orient="records"),
            "added": self.added.to_dict(orient="records"),
            "removed": self.removed.to_dict(orient="records"),
            "cells": [{k: _plain(v) for k, v in r.items()}
                      for r in cells.to_dict(orient="records")],
            "cells_total": len(self.cells),
            "causes": {str(k): int(v) for k, v in
                       self.cells["cause"].value_counts().sort_index().items()},
            "dictionary": dict(self.dictionary),
        }

    def __repr__(self) -> str:
        return (f"ReleaseDiff({self.topic} {self.old} -> {self.new}: +{len(self.added)} "
                f"-{len(self.removed)} rows, {len(self.cells)} cells changed)")

    def _dictionary_html(self) -> Markup:
        return fragment("versions/dictionary_changes.html.j2", d=dict(self.dictionary))

    def _repr_html_(self) -> str:
        head = Markup("<p><b>{} {} &rarr; {}</b>: {} rows added, {} removed, {} cells "
                      "changed</p>").format(self.topic, self.old, self.new, len(self.added),
                                            len(self.removed), len(self.cells))
        # pandas escapes the cells of to_html
        return str(join(head, Markup(self.rows.to_html(index=False)), self._dictionary_html()))

    def to_html(self) -> str:
        """A standalone HTML page (``repository/html/templates/versions/diff.html.j2``): rows
        per trial, added/removed rows, changed cells, dictionary changes."""
        return render("versions/diff.html.j2",
                      title=f"{self.topic}: release {self.old} to {self.new}",
                      topic=self.topic, old=self.old, new=self.new, n_added=len(self.added),
                      n_removed=len(self.removed), n_cells=len(self.cells),
                      rows=table(self.rows), added=table(self.added),
                      removed=table(self.removed), cells=table(self.cells),
                      dictionary=self._dictionary_html())


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise equality with missing == missing, tolerant of dtype changes."""
    if a.dtype != b.dtype:
        numeric = pd.api.types.is_numeric_dtype
        if numeric(a) and numeric(b) and not (pd.api.types.is_bool_dtype(a)
                                              or pd.api.types.is_bool_dtype(b)):
            a, b = a.astype("Float64"), b.astype("Float64")
        else:
            a, b = a.astype("string"), b.astype("string")
    both_na = a.isna().to_numpy() & b.isna().to_numpy()
    try:
        eq = (a == b).fillna(False).to_numpy(dtype=bool)
    except (TypeError, ValueError):
        eq = (a.astype("string") == b.astype("string")).fillna(False).to_numpy(dtype=bool)
    return pd.Series(eq | both_na, index=a.index)


def _index(records: Sequence[Mapping[str, Any]], *fields: str) -> dict[tuple[Any, ...], Any]:
    return {tuple(str(r.get(f)) for f in fields): r for r in records}


def _by_cell(records: dict[tuple[Any, ...], Mapping[str, Any]],
             other: dict[tuple[Any, ...], Mapping[str, Any]]
             ) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """The corrections in ``records`` and not in ``other``, by the (trial, participant,
    variable) cells they explain."""
    out: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for key, c in records.items():
        if key in other or c.get("participant") is None:
            continue
        for variable in c.get("variables", []):
            out.setdefault((str(c.get("trial")), str(c.get("participant")), variable), c)
    return out


def _hashes(manifest: Mapping[str, Any], part: str) -> dict[str, Any]:
    return {str(d["trial"]): d.get("sha256") for d in manifest.get(part, [])}


@dataclass(frozen=True)
class _Causes:
    """What can explain a changed cell, read from the two manifests (module docstring)."""

    fresh: dict[tuple[str, str, str], Mapping[str, Any]]
    dropped: dict[tuple[str, str, str], Mapping[str, Any]]
    deliveries: tuple[dict[str, Any], dict[str, Any]]
    mappings: tuple[dict[str, Any], dict[str, Any]]
    dictionary: set[str]

    @classmethod
    def of(cls, old_manifest: Mapping[str, Any], new_manifest: Mapping[str, Any],
           dchanges: Mapping[str, Any]) -> _Causes:
        old_corr = _index(correction_records(old_manifest), "id")
        new_corr = _index(correction_records(new_manifest), "id")
        # a new label or description does not change values; a new type, unit or coding can
        dict_changed = {c["variable"] for c in dchanges["changed"]
                        if set(c["fields"]) - {"label", "description", "group", "role"}}
        return cls(fresh=_by_cell(new_corr, old_corr), dropped=_by_cell(old_corr, new_corr),
                   deliveries=(_hashes(old_manifest, "deliveries"),
                               _hashes(new_manifest, "deliveries")),
                   mappings=(_hashes(old_manifest, "mappings"),
                             _hashes(new_manifest, "mappings")),
                   dictionary=dict_changed)

    def explain(self, trial: str, participant: str, var: str) -> tuple[str, Any, Any]:
        """(cause, correction id, query id) of a changed cell: the first that applies."""
        key = (trial, participant, var)
        if key in self.fresh:
            return "correction", self.fresh[key].get("id"), self.fresh[key].get("query_id")
        if key in self.dropped:
            return ("correction withdrawn", self.dropped[key].get("id"),
                    self.dropped[key].get("query_id"))
        if self.deliveries[0].get(trial) != self.deliveries[1].get(trial):
            return "new delivery", None, None
        if self.mappings[0].get(trial) != self.mappings[1].get(trial):
            return "mapping changed", None, None
        if var in self.dictionary:
            return "dictionary changed", None, None
        return "unexplained", None, None


def _changed_cells(old: pd.DataFrame, new: pd.DataFrame, old_pos: np.ndarray,
                   new_pos: np.ndarray, tb: np.ndarray, pb: np.ndarray,
                   causes: _Causes) -> pd.DataFrame:
    """The changed cells of the matched rows (``CELL_COLUMNS``), each with its cause."""
    records: list[dict[str, Any]] = []
    for var in [c for c in new.columns if c in old.columns and c not in KEY_COLUMNS]:
        ov_all = old[var].take(old_pos).reset_index(drop=True)
        nv_all = new[var].take(new_pos).reset_index(drop=True)
        changed = np.flatnonzero(~_same(ov_all, nv_all).to_numpy())
        if not len(changed):
            continue
        rows_new = new_pos[changed]
        for trial, participant, ov, nv in zip(tb[rows_new], pb[rows_new],
                                              ov_all.take(changed), nv_all.take(changed)):
            cause, corr, query = causes.explain(trial, participant, var)
            records.append({"trial": trial, "participant": participant, "variable": var,
                            "old": _plain(ov), "new": _plain(nv), "cause": cause,
                            "correction": corr, "query": query})
    cells = pd.DataFrame(records, columns=CELL_COLUMNS)
    if not cells.empty:
        cells = cells.sort_values(["trial", "participant", "variable"],
                                  kind="mergesort").reset_index(drop=True)
    return cells


def _row_counts(ta: np.ndarray, tb: np.ndarray, matched: np.ndarray, gone: np.ndarray,
                cells: pd.DataFrame) -> pd.DataFrame:
    """Rows per trial (``ROW_COLUMNS``): old, new, added, removed, changed rows and cells."""
    def count(values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=object).value_counts()

    n_a, n_b = count(ta), count(tb)
    n_add, n_rem = count(tb[~matched]), count(ta[gone])
    per_rows = cells.groupby("trial")["participant"].nunique() if not cells.empty else {}
    per_cells = cells.groupby("trial").size() if not cells.empty else {}
    return pd.DataFrame([{"trial": t, "rows_old": int(n_a.get(t, 0)),
                          "rows_new": int(n_b.get(t, 0)), "added": int(n_add.get(t, 0)),
                          "removed": int(n_rem.get(t, 0)),
                          "changed_rows": int(per_rows.get(t, 0)),
                          "changed_cells": int(per_cells.get(t, 0))}
                         for t in sorted(set(ta) | set(tb))],
                        columns=ROW_COLUMNS)


def diff_frames(old: pd.DataFrame, new: pd.DataFrame, *, old_manifest: Mapping[str, Any],
                new_manifest: Mapping[str, Any]) -> ReleaseDiff:
    """Compare two release frames (pure)."""
    old, new = old.reset_index(drop=True), new.reset_index(drop=True)
    ta, pa_ = (old[c].astype(str).to_numpy(dtype=object) for c in KEY_COLUMNS)
    tb, pb = (new[c].astype(str).to_numpy(dtype=object) for c in KEY_COLUMNS)
    # align rows on the key by hashing: for each new row, its position in the old release
    sep = "\x1f"
    pos = pd.Index(ta + sep + pa_).get_indexer(pd.Index(tb + sep + pb))
    matched = pos >= 0
    new_pos, old_pos = np.flatnonzero(matched), pos[matched]
    gone = np.ones(len(old), dtype=bool)
    gone[old_pos] = False
    withdrawn = {(w["trial"], w["participant"])
                 for w in new_manifest.get("withdrawals", {}).get("applied", [])}
    added = pd.DataFrame({"trial": tb[~matched], "participant": pb[~matched]},
                         columns=["trial", "participant"])
    removed = pd.DataFrame({"trial": ta[gone], "participant": pa_[gone],
                            "reason": ["withdrawn" if (t, p) in withdrawn else ""
                                       for t, p in zip(ta[gone], pa_[gone])]},
                           columns=["trial", "participant", "reason"])
    dchanges = dictionary_changes(old_manifest.get("dictionary", {}),
                                  new_manifest.get("dictionary", {}))
    causes = _Causes.of(old_manifest, new_manifest, dchanges)
    cells = _changed_cells(old, new, old_pos, new_pos, tb, pb, causes)
    rows = _row_counts(ta, tb, matched, gone, cells)
    return ReleaseDiff(topic=str(new_manifest.get("topic")),
                       old=str(old_manifest.get("version")),
                       new=str(new_manifest.get("version")), rows=rows,
                       added=added.sort_values(["trial", "participant"]).reset_index(drop=True),
                       removed=removed.sort_values(["trial", "participant"])
                       .reset_index(drop=True),
                       cells=cells, dictionary=dchanges)


def diff_releases(store: Store, old: str, new: str, *, topic: str | None = None) -> ReleaseDiff:
    """Compare release ``old`` with release ``new`` of the store's topic."""
    info_a, data_a = release_bytes(store, old, topic=topic)
    info_b, data_b = release_bytes(store, new, topic=topic)
    return diff_frames(read_parquet_bytes(data_a), read_parquet_bytes(data_b),
                       old_manifest=info_a.manifest, new_manifest=info_b.manifest)
