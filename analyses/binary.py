"""Pooling 2x2 tables by any method: Mantel-Haenszel, Peto, or inverse variance.

:func:`pool_2x2` is the one entry point for aggregate binary data (and for two-stage IPD
analyses that reduce each trial to a 2x2 table):

* ``method="MH"`` - :func:`analyses.mh.pool_mh` (OR, RR, RD);
* ``method="Peto"`` - :func:`analyses.peto.pool_peto` (OR only);
* any :func:`analyses.pooling.pool` method (``"FE"``, ``"REML"``, ``"DL"`` ...) - per-table
  effect sizes by :func:`analyses.effects.effect_2x2` (escalc conventions: 1/2 added to
  tables with a zero cell; ``drop00`` leaves out tables with no events in either arm), then
  inverse-variance pooling. Tables without an estimate are left out with a note naming them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analyses.effects import effect_2x2
from analyses.errors import AnalysisProblem, Reason
from analyses.mh import pool_mh
from analyses.peto import pool_peto
from analyses.pooling import POOL_METHODS, PoolResult, normalise_method, pool

__all__ = ["pool_2x2", "BINARY_METHODS"]

#: Methods :func:`pool_2x2` accepts.
BINARY_METHODS: tuple[str, ...] = ("MH", "Peto") + POOL_METHODS


def pool_2x2(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    *,
    measure: str = "OR",
    method: str = "MH",
    test: str = "z",
    level: float = 95.0,
    labels: Sequence[Any] | None = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
) -> PoolResult:
    """Pool 2x2 tables (treated: ``ai`` events of ``n1i``; control: ``ci`` of ``n2i``).

    >>> res = pool_2x2([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220],
    ...                measure="RR", method="MH")
    >>> round(res.exp_estimate, 4)
    0.259
    """
    m = normalise_method(method)
    measure = measure.upper()
    if m == "MH":
        if test != "z":
            raise AnalysisProblem("Mantel-Haenszel pooling uses a z test only",
                                reason=Reason.BAD_OPTION)
        return pool_mh(ai, n1i, ci, n2i, measure=measure, level=level, labels=labels)
    if m == "Peto":
        if measure not in ("OR", "PETO"):
            raise AnalysisProblem(f"Peto's method estimates an odds ratio, not {measure!r}; use "
                                "measure='OR' or method='MH'", reason=Reason.BAD_OPTION)
        if test != "z":
            raise AnalysisProblem("Peto pooling uses a z test only", reason=Reason.BAD_OPTION)
        return pool_peto(ai, n1i, ci, n2i, level=level, labels=labels)
    if m not in POOL_METHODS:
        raise AnalysisProblem(f"unknown method {method!r}; choose one of "
                            f"{', '.join(BINARY_METHODS)}", reason=Reason.BAD_OPTION)
    es = effect_2x2(ai, n1i, ci, n2i, measure=measure, add=add, to=to, drop00=drop00,
                    labels=labels)
    keep = es.kept
    if not keep.any():
        raise AnalysisProblem("no table has an estimate: " + "; ".join(
            f"{es.labels[i]}: {r}" for i, r in es.dropped.items()), reason=Reason.TOO_FEW_TRIALS)
    counts = {name: np.asarray(x, dtype=float).ravel()[keep]
              for name, x in (("events_treated", ai), ("n_treated", n1i),
                              ("events_control", ci), ("n_control", n2i))}
    labels_kept = [es.labels[i] for i in np.flatnonzero(keep)]
    res = pool(es.yi[keep], es.vi[keep], method=m, test=test, level=level,
               labels=labels_kept, measure=measure, extra_columns=counts)
    notes = [f"{es.labels[i]}: {r}; left out" for i, r in es.dropped.items()]
    if es.corrected:
        notes.append(f"{add:g} added to every cell of tables with a zero cell: "
                     + ", ".join(es.labels[i] for i in es.corrected))
    if notes:
        from dataclasses import replace
        res = replace(res, notes=res.notes + tuple(notes))
    return res
