"""Many independent meta-analyses at once: :func:`pool_many`.

Simulation studies, leave-one-out and cumulative analyses, and per-outcome / per-subgroup
sweeps need thousands of small pools. :func:`pool_many` runs them as 2-D numpy arrays of shape
``(n_pools, k)`` and gives the same numbers as :func:`analyses.pooling.pool` on each row (the
same estimator definitions, starting values, Fisher-scoring steps with step halving,
convergence rule and truncation; every pool iterates until its own change is below the
threshold, exactly as the scalar path does).

Pools of different sizes: pad the short rows with NaN in both ``yi`` and ``vi``. A NaN in only
one of them is an error, as is a non-positive variance.

Both run the one engine (:func:`analyses.rma.pool_columns` with :mod:`analyses.tau2`):
:func:`~analyses.pooling.pool` is a batch of one pool plus its per-study table, Q-profile
intervals and notes.

Supported methods: ``"FE"``, ``"DL"``, ``"HE"``, ``"HS"``, ``"SJ"``, ``"ML"``, ``"REML"``,
``"EB"`` and ``"PM"`` (a root search per pool, so much slower than the others).
Tests: ``"z"``, ``"t"``, ``"knha"``, ``"adhoc"``. Q-profile intervals are not computed here.

When Fisher scoring (or the Paule-Mandel search) fails in some pools, ``errors="raise"``
(default) raises :class:`~repository.errors.ConvergenceError` naming them; ``errors="flag"``
returns the batch with ``converged`` false and NaN results for exactly those pools (listed in
``failed``), so that one awkward pool does not stop a simulation.

Example::

    >>> import numpy as np
    >>> from analyses import pool_many
    >>> rng = np.random.default_rng(1)
    >>> vi = rng.uniform(0.01, 0.1, size=(1000, 20))
    >>> yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    >>> res = pool_many(yi, vi, method="REML")
    >>> res.estimate.shape
    (1000,)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analyses.errors import AnalysisProblem, Reason
from analyses.results import ResultMixin
from analyses.rma import PoolColumns, check_test, normalise_method, pool_columns
from analyses.tau2 import MAXITER, THRESHOLD

__all__ = ["BatchPoolResult", "pool_many", "BATCH_METHODS"]

BATCH_METHODS: tuple[str, ...] = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")

F = NDArray[np.float64]


@dataclass(frozen=True, repr=False, eq=False)
class BatchPoolResult(PoolColumns, ResultMixin):
    """Arrays of length ``n_pools`` (the fields of :class:`analyses.rma.PoolColumns`, then
    ``iterations``, ``truncated``, ``converged``); ``tau2`` and ``pi_*`` are ``None`` for
    ``method="FE"``."""

    title: ClassVar[str] = "Batch of meta-analyses"

    iterations: NDArray[np.int64]
    truncated: NDArray[np.bool_]
    converged: NDArray[np.bool_]

    @property
    def failed(self) -> list[int]:
        """0-based indices of the pools whose tau^2 iteration did not converge."""
        return np.flatnonzero(~self.converged).tolist()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per pool: ``k, estimate, se, ci_low, ci_high, statistic, p, tau2, pi_low,
        pi_high, Q, Q_p, I2, H2, iterations`` (tau2/pi columns absent for FE)."""
        cols: dict[str, object] = {
            "k": self.k, "estimate": self.estimate, "se": self.se, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "statistic": self.statistic, "p": self.p}
        if self.tau2 is not None:
            cols.update({"tau2": self.tau2, "pi_low": self.pi_low, "pi_high": self.pi_high})
        cols.update({"Q": self.Q, "Q_p": self.Q_p, "I2": self.I2, "H2": self.H2,
                     "iterations": self.iterations, "converged": self.converged})
        return pd.DataFrame(cols)

    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        return [("method", self.method), ("test", self.test), ("level", self.level),
                ("pools", self.summary)]


def _inputs(yi: ArrayLike, vi: ArrayLike) -> tuple[F, F, F | None]:
    """Validate; return y, v in (k, n_pools) column layout and the 0/1 mask of present
    studies (``None`` when every pool has every study)."""
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim == 1:
        y, v = y[np.newaxis, :], v[np.newaxis, :] if v.ndim == 1 else v
    if y.ndim != 2 or y.shape != v.shape:
        raise AnalysisProblem(f"yi and vi must be 2-D arrays of the same shape (n_pools, k); "
                              f"got {y.shape} and {v.shape}", reason=Reason.LENGTH_MISMATCH)
    # column layout: sums over studies run down contiguous rows, which numpy vectorises well
    y = np.ascontiguousarray(y.T)
    v = np.ascontiguousarray(v.T)
    if np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all():
        return y, v, None
    ny, nv = np.isnan(y), np.isnan(v)
    bad = np.flatnonzero((ny != nv).any(axis=0))
    if bad.size:
        raise AnalysisProblem(f"pools {(bad[:10] + 1).tolist()} have a NaN in only one of yi "
                              "and vi; pad missing studies with NaN in both",
                              reason=Reason.INVALID_DATA, rows=(bad + 1).tolist())
    mask = ~ny
    if not (np.isfinite(y[mask]).all() and np.isfinite(v[mask]).all()):
        raise AnalysisProblem("yi or vi contain infinite values; remove those studies",
                              reason=Reason.INVALID_DATA)
    with np.errstate(divide="ignore", over="ignore"):
        badv = np.flatnonzero((mask & ((v <= 0) | ~np.isfinite(1.0 / v))).any(axis=0))
    if badv.size:
        raise AnalysisProblem(f"pools {(badv[:10] + 1).tolist()} have non-positive (or too small "
                              "to invert) sampling variances", reason=Reason.INVALID_DATA,
                              rows=(badv + 1).tolist())
    y[~mask] = 0.0
    v[~mask] = 1.0
    return y, v, mask.astype(float)


def pool_many(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    threshold: float = THRESHOLD,
    maxiter: int = MAXITER,
    stepadj: float = 1.0,
    errors: str = "raise",
) -> BatchPoolResult:
    """Pool every row of ``yi``/``vi`` (shape ``(n_pools, k)``) independently."""
    m = normalise_method(method)
    if m not in BATCH_METHODS:
        raise AnalysisProblem(f"pool_many supports {', '.join(BATCH_METHODS)}, not "
                              f"{method!r}; pool 2x2 tables with pool_2x2",
                              reason=Reason.BAD_OPTION, option="method")
    check_test(test)
    if errors not in ("raise", "flag"):
        raise AnalysisProblem(f"errors must be 'raise' or 'flag', not {errors!r}",
                              reason=Reason.BAD_OPTION, option="errors")
    y, v, mask = _inputs(yi, vi)
    k = np.full(y.shape[1], y.shape[0]) if mask is None else mask.sum(axis=0)
    few = np.flatnonzero(k < (2 if (m != "FE" or test != "z") else 1))
    if few.size:
        raise AnalysisProblem(f"pools {(few[:10] + 1).tolist()} have too few studies for "
                              f"method={m!r}, test={test!r}", reason=Reason.TOO_FEW_TRIALS,
                              rows=(few + 1).tolist())
    res = pool_columns(y, v, mask, method=m, test=test, level=level, threshold=threshold,
                       maxiter=maxiter, stepadj=stepadj, strict=errors == "raise")
    fits = res.fits
    n = k.size
    return BatchPoolResult(
        **{f.name: getattr(res, f.name) for f in fields(PoolColumns)},
        iterations=fits.iterations if fits is not None else np.zeros(n, dtype=np.int64),
        truncated=fits.truncated if fits is not None else np.zeros(n, dtype=bool),
        converged=fits.converged if fits is not None else np.ones(n, dtype=bool))
