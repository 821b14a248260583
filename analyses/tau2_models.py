"""The two shapes of random-effects model the tau^2 engine (:mod:`analyses.tau2`) fits.

The estimators of tau^2 are written once, in terms of a few quantities of the residual-maker
``P = W - W X (X'WX)^-1 X'W`` with ``W = diag(1/(v + tau^2))`` (metafor 3.8 ``rma.uni``):
``y'Py``, ``(Py)'(Py)``, ``sum w``, ``sum w^2``, ``tr P``, ``tr PP``, the log-determinants in
the likelihood, and the unweighted pieces the Hedges and Sidik-Jonkman estimators start from.
This module computes those quantities for

* :class:`InterceptPools` - the intercept-only model (``X = 1``) for ``n`` independent pools
  at once, as ``(k, n)`` column-layout arrays (sums over studies run down contiguous rows;
  pools of different sizes carry a 0/1 ``mask``). The scalar :func:`analyses.pool` is one
  such pool, :func:`analyses.pool_many` many;
* :class:`ModeratorModel` - one meta-regression with moderators ``X`` (explicit ``P``),
  for :func:`analyses.meta_regression`.

Every method returns arrays of length ``n`` (``n = 1`` for a meta-regression). ``y`` is the
centred estimates (metafor centres them for the tau^2 computations, ``P 1 = 0``); ``raw``
keeps the estimates as given (the Paule-Mandel search range uses their MAD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["Scoring", "Tau2Model", "InterceptPools", "ModeratorModel", "residual_maker",
           "mad"]

F = NDArray[np.float64]


def residual_maker(w: F, X: F) -> F:
    """``P = W - W X (X'WX)^-1 X'W`` for one pool (``X`` of shape ``(k, p)``)."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def mad(y: F) -> float:
    """R's ``mad``: 1.4826 times the median absolute deviation from the median."""
    med = float(np.median(y))
    return 1.4826 * float(np.median(np.abs(y - med)))


@dataclass(frozen=True)
class Scoring:
    """What one Fisher-scoring step needs at the current tau^2, per pool (``trP``/``trPP``
    only when asked for: REML)."""

    sw: F
    yPy: F
    PyPy: F
    sw2: F
    trP: F | None = None
    trPP: F | None = None


class Tau2Model(Protocol):
    """What :func:`analyses.tau2.fit_tau2` asks of a model shape."""

    p: int
    k: F

    def take(self, keep: NDArray[np.bool_]) -> Tau2Model: ...
    def pool(self, j: int) -> tuple[F, F, F]: ...
    def yPy(self, t: F) -> F: ...
    def scoring(self, t: F, traces: bool) -> Scoring: ...
    def at_zero(self) -> tuple[F, F, F]: ...
    def unweighted(self) -> tuple[F, F]: ...
    def sj_start(self) -> F: ...
    def loglik_parts(self, t: F) -> tuple[F, F, F]: ...


class InterceptPools:
    """Intercept-only models for ``n`` pools: ``(k, n)`` arrays and reusable scratch buffers.

    Large numpy temporaries are fresh memory each time (page faults dominate at this size),
    so the hot loops write into the buffers with ``out=``. Absent studies (``mask`` 0) have
    ``y = 0`` and ``v = 1`` and weight 0.
    """

    p = 1

    def __init__(self, y: F, v: F, mask: F | None, k: F, raw: F | None = None) -> None:
        self.y, self.v, self.m, self.k = y, v, mask, k
        self.raw = raw
        self.w = np.empty_like(v)
        self.b1 = np.empty_like(v)
        self.b2 = np.empty_like(v)

    @classmethod
    def centred(cls, y: F, v: F, mask: F | None) -> InterceptPools:
        """Pools of estimates ``y`` (absent ones 0) with variances ``v`` (absent ones 1)."""
        k = np.full(y.shape[1], float(y.shape[0])) if mask is None else mask.sum(axis=0)
        ymc = y - y.sum(axis=0) / k
        if mask is not None:
            ymc *= mask
        return cls(ymc, v, mask, k, raw=y)

    def take(self, keep: NDArray[np.bool_]) -> InterceptPools:
        return InterceptPools(self.y[:, keep], self.v[:, keep],
                              None if self.m is None else self.m[:, keep], self.k[keep],
                              None if self.raw is None else self.raw[:, keep])

    def pool(self, j: int) -> tuple[F, F, F]:
        """Pool ``j`` as 1-D arrays: centred estimates, variances, estimates as given."""
        keep = slice(None) if self.m is None else self.m[:, j] > 0
        raw = self.y if self.raw is None else self.raw
        return self.y[keep, j], self.v[keep, j], raw[keep, j]

    def weights(self, t: F) -> F:
        """``w = m / (v + t)`` into the w buffer."""
        np.add(self.v, t, out=self.w)
        np.reciprocal(self.w, out=self.w)
        if self.m is not None:
            np.multiply(self.w, self.m, out=self.w)
        return self.w

    @staticmethod
    def dot(a: F, b: F) -> F:
        """Column sums of ``a * b`` without a temporary."""
        return np.einsum("ij,ij->j", a, b)

    def wrss(self, w: F, y: F | None = None, mean: F | None = None) -> tuple[F, F, F]:
        """``(sum w, weighted mean, sum w (y - mean)^2)`` for ``y`` (default: the centred
        estimates); leaves ``Py = w (y - mean)`` in ``b1``. ``w`` is 0 for absent studies."""
        y = self.y if y is None else y
        sw = w.sum(axis=0)
        if mean is None:
            mean = self.dot(w, y) / sw
        np.subtract(y, mean, out=self.b2)
        np.multiply(self.b2, w, out=self.b1)
        np.multiply(self.b2, self.b1, out=self.b2)
        return sw, mean, self.b2.sum(axis=0)

    def yPy(self, t: F) -> F:
        return self.wrss(self.weights(t))[2]

    def scoring(self, t: F, traces: bool) -> Scoring:
        w = self.weights(t)
        sw, _, yPy = self.wrss(w)
        PyPy = self.dot(self.b1, self.b1)
        np.multiply(w, w, out=self.b1)
        sw2 = self.b1.sum(axis=0)
        if not traces:
            return Scoring(sw=sw, yPy=yPy, PyPy=PyPy, sw2=sw2)
        sw3 = self.dot(self.b1, w)
        return Scoring(sw=sw, yPy=yPy, PyPy=PyPy, sw2=sw2, trP=sw - sw2 / sw,
                       trPP=sw2 - 2 * sw3 / sw + sw2**2 / sw**2)

    def at_zero(self) -> tuple[F, F, F]:
        """``(y'Py, sum w, tr P)`` at tau^2 = 0 (the common-effect weights)."""
        w = self.weights(np.zeros(self.k.size))
        sw, _, q = self.wrss(w)
        return q, sw, sw - self.dot(w, w) / sw

    def unweighted(self) -> tuple[F, F]:
        """``(y'(I-H)y, tr((I-H)V))`` with ``H`` the unweighted hat matrix (Hedges)."""
        vsum = self.v.sum(axis=0) if self.m is None else self.dot(self.v, self.m)
        return self.dot(self.y, self.y), vsum * (self.k - 1) / self.k

    def sj_start(self) -> F:
        """Sidik-Jonkman's starting value ``mean((y - ybar)^2)``."""
        return self.dot(self.y, self.y) / self.k

    def logdet_v(self, t: F) -> F:
        """``sum log(v + t)`` as the log of a product (one log per pool instead of one per
        study); columns whose product under- or overflows fall back to summing logs."""
        np.add(self.v, t, out=self.b1)
        if self.m is not None:
            np.copyto(self.b1, 1.0, where=self.m == 0)
        prod = np.prod(self.b1, axis=0)
        out = np.log(prod)
        bad = ~np.isfinite(out) | (prod == 0)
        if bad.any():
            out[bad] = np.log(self.b1[:, bad]).sum(axis=0)
        return out

    def loglik_parts(self, t: F) -> tuple[F, F, F]:
        """``(sum log(v + t), log det X'WX, y'Py)`` for the (restricted) likelihood."""
        sw, _, rss = self.wrss(self.weights(t))
        return self.logdet_v(t), np.log(sw), rss


class ModeratorModel:
    """One meta-regression ``y = X beta + u + e`` (``X`` of shape ``(k, p)``), explicit ``P``."""

    def __init__(self, y: F, v: F, X: F, raw: F) -> None:
        self.y, self.v, self.X, self.raw = y, v, X, raw
        self.p = X.shape[1]
        self.k = np.array([float(y.size)])

    def take(self, keep: NDArray[np.bool_]) -> ModeratorModel:
        return self

    def pool(self, j: int) -> tuple[F, F, F]:
        return self.y, self.v, self.raw

    def _P(self, t: F) -> tuple[F, F]:
        w = 1.0 / (self.v + float(t[0]))
        return w, residual_maker(w, self.X)

    def yPy(self, t: F) -> F:
        _, P = self._P(t)
        return np.array([float(self.y @ P @ self.y)])

    def scoring(self, t: F, traces: bool) -> Scoring:
        w, P = self._P(t)
        Py = P @ self.y
        one = np.ones(1)
        return Scoring(sw=one * w.sum(), yPy=one * float(self.y @ Py),
                       PyPy=one * float(Py @ Py), sw2=one * float(np.sum(w**2)),
                       trP=one * float(np.trace(P)), trPP=one * float(np.sum(P * P.T)))

    def at_zero(self) -> tuple[F, F, F]:
        w, P = self._P(np.zeros(1))
        one = np.ones(1)
        return one * float(self.y @ P @ self.y), one * w.sum(), one * float(np.trace(P))

    def unweighted(self) -> tuple[F, F]:
        k = self.y.size
        P = np.eye(k) - self.X @ np.linalg.solve(self.X.T @ self.X, self.X.T)
        one = np.ones(1)
        return one * float(self.y @ P @ self.y), one * float(np.trace(P * self.v[None, :]))

    def sj_start(self) -> F:
        return np.array([float(np.mean((self.y - self.y.mean()) ** 2))])

    def loglik_parts(self, t: F) -> tuple[F, F, F]:
        w = 1.0 / (self.v + float(t[0]))
        WX = self.X * w[:, None]
        XtWX = self.X.T @ WX
        b = np.linalg.solve(XtWX, WX.T @ self.y)
        rss = float(np.sum(w * (self.y - self.X @ b) ** 2))
        one = np.ones(1)
        return (one * float(np.sum(np.log(self.v + float(t[0])))),
                one * float(np.linalg.slogdet(XtWX)[1]), one * rss)
