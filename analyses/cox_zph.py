"""The proportional-hazards test of Grambsch and Therneau, as R's ``survival::cox.zph``.

For a fitted Cox model with coefficients ``beta`` (and linear predictor ``eta``), consider the
extended model with time-varying coefficients ``beta + gamma g(t)``. :func:`cox_zph` computes
the score test of ``gamma = 0`` at ``(beta_hat, 0)`` exactly as survival 3.x does (its C routine
``zph1``): the score ``u = sum_i w_i g(t_i) (x_i - xbar(t_i))`` over the events, and the full
``2p x 2p`` information of ``(beta, gamma)``,

    I = [[sum J_g, sum g J_g], [sum g J_g, sum g^2 J_g]]

with ``J_g`` the information contributed by the event time ``g`` (Efron or Breslow ties). The
test of one term uses the rows of every ``beta`` and of that term's ``gamma``
(``chisq = u' I^{-1} u`` with the ``beta`` part of ``u`` zero; 1 df); the global test uses all.

``g(t)`` is the time transform: ``"km"`` (R's default) is ``1 - S(t-)`` with ``S`` the
Kaplan-Meier curve of all participants (no strata, no weights), left-continuous; ``"rank"``,
``"identity"`` and ``"log"`` as R. The scaled Schoenfeld residuals are R's: the Schoenfeld
residuals times the inverse of the mean information per event (``vmean``), plus ``beta``;
plotted against ``g(t)`` with a natural-spline smooth they show how the log hazard ratio moves
over time (:meth:`PHTest.plot`).

For a Cox model with a random treatment effect (``coxme``), R's ``cox.zph`` tests the fixed
effects with the linear predictor including the predicted random effects; give that linear
predictor as ``offset`` (what :func:`analyses.one_stage.one_stage` does).

Example::

    >>> from analyses.cox_zph import cox_zph
    >>> zph = cox_zph([5, 8, 3, 9, 4, 7, 2, 6], [1, 1, 0, 1, 1, 0, 1, 1],
    ...               [0, 1, 0, 1, 1, 0, 0, 1])
    >>> list(zph.table.index)
    ['x1', 'GLOBAL']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, stats

from analyses.errors import AnalysisProblem, Reason
from analyses.results import ResultMixin

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["PHTest", "cox_zph", "TRANSFORMS", "TABLE_COLUMNS", "spline_smooth"]

FloatArray = NDArray[np.float64]
Transform = Literal["km", "rank", "identity", "log"]
#: Time transforms :func:`cox_zph` knows (R's names).
TRANSFORMS: tuple[str, ...] = ("km", "rank", "identity", "log")
#: Columns of :attr:`PHTest.table` (index: the terms, then ``GLOBAL``).
TABLE_COLUMNS: tuple[str, ...] = ("chisq", "df", "p")


@dataclass(frozen=True, repr=False, eq=False)
class PHTest(ResultMixin):
    """The Grambsch-Therneau test of proportional hazards (R's ``cox.zph`` object).

    ``table`` has :data:`TABLE_COLUMNS` for every term and ``GLOBAL``; ``x`` is the
    transformed time of each event, ``time`` its time, ``y`` the scaled Schoenfeld residuals
    (events x terms, NaN where a term is constant in the event's stratum), ``coef`` the
    coefficients of the model tested.
    """

    title: ClassVar[str] = "Test of proportional hazards (Grambsch-Therneau, cox.zph)"

    table: pd.DataFrame
    names: tuple[str, ...]
    coef: FloatArray
    x: FloatArray
    time: FloatArray
    y: FloatArray
    transform: str
    var: FloatArray
    label: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def term(self, name: str | None = None) -> dict[str, float]:
        """``{chisq, df, p}`` of one term (default: the first, the treatment)."""
        row = self.table.loc[name if name is not None else self.names[0]]
        return {"chisq": float(row["chisq"]), "df": int(row["df"]), "p": float(row["p"])}

    @property
    def statistic(self) -> float:
        """The global chi-square."""
        return float(self.table.loc["GLOBAL", "chisq"])

    @property
    def p(self) -> float:
        return float(self.table.loc["GLOBAL", "p"])

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "transform", self.transform
        yield "terms", {n: self.term(n) for n in self.names}
        yield "global", self.term("GLOBAL")
        if self.label is not None:
            yield "label", self.label

    def plot(self, term: str | None = None, *, path: str | Path | None = None,
             **kwargs: Any) -> Figure:
        """Scaled Schoenfeld residuals of ``term`` against transformed time, with R's
        ``plot.cox.zph`` smooth (natural spline, 4 df) and its +/- 2 SE band."""
        from analyses.zph_plot import plot_zph

        return plot_zph(self, term=term, path=path, **kwargs)


@dataclass(frozen=True, eq=False)
class _Sorted:
    """Rows in (stratum, time) order (R's ``order(istrat, time)``), covariates centred."""

    time: FloatArray
    event: NDArray[np.bool_]
    X: FloatArray
    risk: FloatArray  # w exp(eta)
    weight: FloatArray
    stratum: NDArray[np.intp]
    g: FloatArray  # centred transformed time


def _transform(time: FloatArray, event: NDArray[np.bool_], how: str) -> FloatArray:
    if how == "identity":
        return time.copy()
    if how == "log":
        if np.any(time <= 0):
            raise AnalysisProblem("transform='log' needs positive times", reason=Reason.BAD_OPTION)
        return np.log(time)
    if how == "rank":
        return np.asarray(stats.rankdata(time), dtype=np.float64)
    # km: 1 - S(t-) of the Kaplan-Meier curve of everyone (R: survfitKM, findInterval)
    uniq, inverse = np.unique(time, return_inverse=True)
    n_at = np.bincount(inverse, minlength=uniq.size)[::-1].cumsum()[::-1].astype(float)
    deaths = np.bincount(inverse, weights=event.astype(float), minlength=uniq.size)
    surv = np.cumprod(1.0 - deaths / n_at)
    before = np.concatenate([[1.0], surv[:-1]])
    return 1.0 - before[inverse]


def _sorted(time: FloatArray, event: NDArray[np.bool_], X: FloatArray, eta: FloatArray,
            weight: FloatArray, stratum: NDArray[np.intp], transform: str) -> _Sorted:
    gt = _transform(time, event, transform)
    gt = gt - gt[event].mean()
    o = np.lexsort((time, stratum))
    Xc = X - X.mean(axis=0)
    eta = eta - eta.mean()
    return _Sorted(time=time[o], event=event[o], X=Xc[o], risk=weight[o] * np.exp(eta[o]),
                   weight=weight[o], stratum=stratum[o], g=gt[o])


def _revcum(values: FloatArray, stratum: NDArray[np.intp]) -> FloatArray:
    """Sum of ``values`` from each row to the end of its stratum (rows in stratum order)."""
    tot = np.cumsum(values[::-1], axis=0)[::-1]
    ends = np.flatnonzero(np.append(stratum[1:] != stratum[:-1], True))  # last row per stratum
    after = np.zeros_like(tot)
    nxt = ends + 1
    starts = np.concatenate([[0], nxt[:-1]])
    for a, b in zip(starts, nxt):
        if b < tot.shape[0]:
            after[a:b] = tot[b]
    return tot - after


@dataclass(frozen=True, eq=False)
class _Pieces:
    u: FloatArray  # (p,) score of gamma
    imat: FloatArray  # (2p, 2p)
    resid: FloatArray  # (D, p) Schoenfeld residuals, events in sorted order
    g_event: FloatArray  # (D,) centred g at each event


def _pieces(s: _Sorted, efron: bool) -> _Pieces:
    """Score, information and Schoenfeld residuals (R's zph1), vectorised over tie groups."""
    n, p = s.X.shape
    first = np.append(True, (s.stratum[1:] != s.stratum[:-1]) | (s.time[1:] != s.time[:-1]))
    block = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    r = s.risk
    rx = r[:, None] * s.X
    rxx = rx[:, :, None] * s.X[:, None, :]
    A0 = _revcum(r, s.stratum)[starts]
    A1 = _revcum(rx, s.stratum)[starts]
    A2 = _revcum(rxx, s.stratum)[starts]
    dead = s.event
    nb = starts.size
    D0 = np.bincount(block[dead], r[dead], minlength=nb)
    D1 = np.zeros((nb, p))
    np.add.at(D1, block[dead], rx[dead])
    D2 = np.zeros((nb, p, p))
    np.add.at(D2, block[dead], rxx[dead])
    nd = np.bincount(block[dead], minlength=nb)
    dw = np.bincount(block[dead], s.weight[dead], minlength=nb)
    groups = np.flatnonzero(nd > 0)
    d = nd[groups]
    # one pseudo-death per event: fraction k/d (Efron) or 1 (Breslow) of the deaths at risk
    grp = np.repeat(groups, d)
    kk = np.arange(grp.size) - np.repeat(np.cumsum(d) - d, d) + 1
    frac = kk / np.repeat(d, d) if efron else np.ones(grp.size)
    R0, R1, R2 = A0[grp] - D0[grp], A1[grp] - D1[grp], A2[grp] - D2[grp]
    den = R0 + frac * D0[grp]
    mean = (R1 + frac[:, None] * D1[grp]) / den[:, None]
    second = (R2 + frac[:, None, None] * D2[grp]) / den[:, None, None]
    V = second - mean[:, :, None] * mean[:, None, :]
    wtave = np.repeat(dw[groups] / d, d)
    gidx = np.repeat(np.arange(groups.size), d)
    J = np.zeros((groups.size, p, p))
    np.add.at(J, gidx, wtave[:, None, None] * V)
    mbar = np.zeros((groups.size, p))
    np.add.at(mbar, gidx, mean)
    mbar /= d[:, None]
    g_group = s.g[starts[groups]]
    ev_rows = np.flatnonzero(dead)
    ev_group = np.searchsorted(groups, block[ev_rows])
    resid = s.X[ev_rows] - mbar[ev_group]
    g_event = g_group[ev_group]
    u = (s.weight[ev_rows] * g_event) @ resid
    Ibb = J.sum(axis=0)
    Ibg = np.einsum("g,gij->ij", g_group, J)
    Igg = np.einsum("g,gij->ij", g_group**2, J)
    imat = np.block([[Ibb, Ibg], [Ibg, Igg]])
    return _Pieces(u=u, imat=imat, resid=resid, g_event=g_event)


def _tests(pc: _Pieces, names: Sequence[str]) -> pd.DataFrame:
    p = len(names)
    rows = []
    for j in range(p):
        kk = list(range(p)) + [p + j]
        u = np.zeros(p + 1)
        u[p] = pc.u[j]
        chisq = float(u @ linalg.solve(pc.imat[np.ix_(kk, kk)], u, assume_a="sym"))
        rows.append((chisq, 1))
    u = np.concatenate([np.zeros(p), pc.u])
    rows.append((float(u @ linalg.solve(pc.imat, u, assume_a="sym")), p))
    tab = pd.DataFrame(rows, columns=["chisq", "df"], index=[*names, "GLOBAL"])
    tab["p"] = stats.chi2.sf(tab["chisq"].to_numpy(), tab["df"].to_numpy())
    return tab


def _scaled(pc: _Pieces, s: _Sorted, coef: FloatArray) -> tuple[FloatArray, FloatArray]:
    """R's scaled Schoenfeld residuals: per stratum, solve(vmean[k, k], r[k]) + coef."""
    p = coef.size
    ev_strat = s.stratum[s.event]
    strata = np.unique(s.stratum)
    used = np.zeros((strata.size, p))
    for i, st in enumerate(strata):
        rows = s.stratum == st
        varies = np.ptp(s.X[rows], axis=0) > 0
        used[i] = np.where(varies, s.event[rows].sum(), 0)
    wtmat = sum(np.minimum.outer(u, u) for u in used)
    vmean = pc.imat[:p, :p] / np.where(wtmat == 0, 1, wtmat)
    out = np.full(pc.resid.shape, np.nan)
    for i, st in enumerate(strata):
        k = np.flatnonzero(used[i] > 0)
        rows = ev_strat == st
        if k.size:
            out[np.ix_(rows, k)] = linalg.solve(vmean[np.ix_(k, k)], pc.resid[np.ix_(rows, k)].T,
                                                assume_a="sym").T
    return (np.asarray(out + coef, dtype=np.float64),
            np.asarray(np.linalg.inv(vmean), dtype=np.float64))


def cox_zph(
    time: ArrayLike,
    event: ArrayLike,
    X: Any,
    *,
    strata: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ties: Literal["efron", "breslow"] = "efron",
    transform: Transform = "km",
    names: Sequence[str] | None = None,
    offset: ArrayLike | None = None,
    coef: ArrayLike | None = None,
    label: str | None = None,
) -> PHTest:
    """Test proportional hazards for ``coxph(Surv(time, event) ~ X + strata(strata))``.

    The Cox model is fitted here (:func:`analyses.cox.coxph`) unless ``coef`` gives its
    coefficients; ``offset`` adds a fixed part to the linear predictor (the predicted random
    effects of a ``coxme`` model). ``transform`` is R's (default ``"km"``). Every column of
    ``X`` is one term. Returns :class:`PHTest` (``.table``: chi-square, df, p per term and
    ``GLOBAL``).
    """
    from analyses.cox import _validated, coxph

    if transform not in TRANSFORMS:
        raise AnalysisProblem(f"unknown transform {transform!r}; choose one of "
                            f"{', '.join(TRANSFORMS)}", reason=Reason.BAD_OPTION)
    t, ev, Xm, cols, codes, w = _validated(time, event, X, strata, weights, names, label)
    off = np.zeros(t.size) if offset is None else np.asarray(offset, dtype=np.float64).ravel()
    if coef is None:
        if offset is not None:
            raise AnalysisProblem("give coef with offset (the model's fixed effects)",
                                reason=Reason.BAD_OPTION)
        beta = coxph(t, ev, Xm, strata=codes, ties=ties, weights=w, names=cols,
                     label=label).coef
    else:
        beta = np.asarray(coef, dtype=np.float64).ravel()
        if beta.size != Xm.shape[1]:
            raise AnalysisProblem(f"coef has {beta.size} values for {Xm.shape[1]} covariates",
                                reason=Reason.BAD_OPTION)
    strat = np.zeros(t.size, dtype=np.intp) if codes is None else codes
    weight = np.ones(t.size) if w is None else w
    s = _sorted(t, ev, Xm, Xm @ beta + off, weight, strat, transform)
    pc = _pieces(s, ties == "efron")
    xt = _transform(t, ev, transform)[np.lexsort((t, strat))][s.event]
    y, var = _scaled(pc, s, beta)
    return PHTest(table=_tests(pc, cols), names=cols, coef=beta, x=xt, time=s.time[s.event],
                  y=y, transform=transform, var=var, label=label)


def spline_smooth(x: FloatArray, y: FloatArray, var: float, *, df: int = 4, nsmo: int = 40
                  ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """R's ``plot.cox.zph`` smooth of one term: (grid, fit, half-width of the band).

    As R: ``nsmo`` grid points over the range of ``x``; a natural cubic spline with
    ``df`` columns including the intercept (``ns(c(grid, x), df, intercept = TRUE)``: boundary
    knots at the range, ``df - 2`` interior knots at quantiles of grid and ``x`` together)
    fitted to ``y`` by least squares; band ``2 sqrt(var * diag(G (B'B)^-1 G'))`` with ``var``
    the term's entry of the cox.zph ``var`` matrix. Natural splines with the same knots span
    the same space in any basis, so the fit equals R's; the basis here is the truncated-power
    one of Hastie, Tibshirani and Friedman (ESL, eq. 5.4-5.5).
    """
    grid = np.linspace(float(x.min()), float(x.max()), nsmo)
    knots = np.quantile(np.concatenate([grid, x]), np.linspace(0, 1, df))
    ok = np.isfinite(y)  # residuals of a term constant in a stratum are NaN: left out
    B, G = _ns_basis(x[ok], knots), _ns_basis(grid, knots)
    beta, *_ = np.linalg.lstsq(B, y[ok], rcond=None)
    xtx = np.linalg.pinv(B.T @ B)
    half = 2 * np.sqrt(var * np.einsum("ij,jk,ik->i", G, xtx, G))
    return grid, G @ beta, half


def _ns_basis(x: FloatArray, knots: FloatArray) -> FloatArray:
    k = knots.size
    last = knots[-1]

    def dk(j: int) -> FloatArray:
        return (np.clip(x - knots[j], 0, None) ** 3 - np.clip(x - last, 0, None) ** 3) / (
            last - knots[j])

    cols = [np.ones_like(x), x] + [dk(j) - dk(k - 2) for j in range(k - 2)]
    return np.column_stack(cols)
