"""Cox proportional hazards regression that agrees with R's ``survival::coxph``.

:func:`coxph` fits ``Surv(time, event) ~ X (+ strata(s))`` by Newton-Raphson on the log
partial likelihood, with Efron (default, as R) or Breslow handling of tied event times,
optional case weights and separate baseline hazards per stratum. The engine
(:mod:`analyses._cox_core`) is vectorised numpy: it sorts once and computes every risk-set sum
with cumulative sums, so a trial-stratified model on a million participants takes seconds.

The iteration is R's ``coxfit6``: start at 0 (or ``init``), take Newton steps, halve a step
that lowers the log-likelihood, stop when ``|1 - loglik_old / loglik_new| <= eps`` (R's
``eps = 1e-9``, at most ``max_iter = 20`` iterations). Where R stops there, we take up to a few
more Newton steps while they still move a coefficient (never lowering the log-likelihood), so
the estimates are at least as converged as R's and agree with them to ~1e-8 or better.

Problems and how they are reported:

* no events, NaN or infinite values, negative times, events not 0/1, non-positive weights
  -> :class:`~repository.errors.AnalysisError` naming the variable and the (1-based) rows;
* a covariate that does not vary within the risk sets (constant, or constant within every
  stratum), or covariates that are linear combinations of others -> ``AnalysisError`` naming
  them (R would report ``NA`` for them; we never return NaN);
* monotone likelihood (an infinite coefficient, e.g. no events in one arm): as R, the
  log-likelihood converges while the coefficient runs away. R warns "Loglik converged before
  variable ...; coefficient may be infinite"; so do we, with a :class:`InfiniteCoefficientWarning`
  naming the covariates, and the fit lists them in :attr:`CoxFit.infinite` (estimates and SEs
  of those covariates are then meaningless);
* no convergence within ``max_iter`` -> :class:`~repository.errors.ConvergenceError` saying
  what to try.

Example::

    >>> import numpy as np
    >>> from analyses.cox import coxph
    >>> fit = coxph([5, 8, 3, 9, 4, 7], [1, 1, 0, 1, 1, 0], [0, 1, 0, 1, 1, 0])
    >>> fit.names, fit.converged
    (('x1',), True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, stats

from analyses import _cox_core
from analyses.checks import Problems, float_arrays, same_lengths
from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.results import ResultMixin

__all__ = ["coxph", "CoxFit", "InfiniteCoefficientWarning", "SUMMARY_COLUMNS"]

FloatArray = NDArray[np.float64]
Ties = Literal["efron", "breslow"]

#: Columns of :attr:`CoxFit.summary` (one row per covariate; ``ci_*`` on the log scale).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "exp_coef", "exp_ci_low", "exp_ci_high", "p", "coef", "se", "statistic", "ci_low",
    "ci_high")

#: R's ``coxph.control`` defaults.
R_EPS = 1e-9
R_TOLER_CHOL = float(np.finfo(float).eps ** 0.75)
R_ITER_MAX = 20
_POLISH_STEPS = 5


class InfiniteCoefficientWarning(UserWarning):
    """The log partial likelihood converged while a coefficient was still running off to
    +/- infinity (monotone likelihood), as R's "Loglik converged before variable" warning."""


@dataclass(frozen=True, repr=False, eq=False)
class CoxFit(ResultMixin):
    """A fitted Cox model. ``coef``/``se`` are log hazard ratios; ``var`` their covariance
    (the robust one when ``robust``; ``naive_var`` then holds the inverse information).

    ``loglik`` is (log partial likelihood at ``init``, at the estimate) as R's ``fit$loglik``.
    ``score_test`` is R's score (log-rank) test at ``init``; ``lr_test`` and ``wald_test`` are
    (chi-square, df, p). ``infinite`` names covariates whose estimate may be infinite.
    """

    title: ClassVar[str] = "Cox proportional hazards model"

    coef: FloatArray
    var: FloatArray
    names: tuple[str, ...]
    loglik: tuple[float, float]
    n: int
    n_events: int
    n_strata: int
    converged: bool
    iterations: int
    ties: str
    score_test: tuple[float, int, float]
    infinite: tuple[str, ...] = ()
    robust: bool = False
    naive_var: FloatArray | None = None
    level: float = 0.95
    label: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.diag(self.var))

    @property
    def z(self) -> FloatArray:
        return self.coef / self.se

    @property
    def statistic(self) -> FloatArray:
        """Wald z statistics (the same as :attr:`z`)."""
        return self.z

    def _headline(self) -> str:
        from analyses.results import effect_line

        first = effect_line("HR", float(self.coef[0]), (float(self.ci[0, 0]), float(self.ci[0, 1])),
                            float(self.p[0]), 100 * self.level)
        return f"{self.names[0]}: {first}" + (f" (and {len(self.names) - 1} more covariates)"
                                             if len(self.names) > 1 else "")

    def plot(self, *, path: Any = None, **kwargs: Any) -> Any:
        """Hazard ratios of every covariate with their confidence intervals."""
        from analyses.estimate_plot import plot_cox

        return plot_cox(self, path=path, **kwargs)

    @property
    def p(self) -> FloatArray:
        return 2.0 * stats.norm.sf(np.abs(self.z))

    @property
    def ci(self) -> FloatArray:
        """(p, 2) Wald confidence limits on the log scale."""
        q = stats.norm.ppf(0.5 + self.level / 2.0)
        return np.column_stack([self.coef - q * self.se, self.coef + q * self.se])

    @property
    def hazard_ratio(self) -> FloatArray:
        return np.exp(self.coef)

    @property
    def lr_test(self) -> tuple[float, int, float]:
        chisq = 2.0 * (self.loglik[1] - self.loglik[0])
        df = len(self.coef)
        return chisq, df, float(stats.chi2.sf(chisq, df))

    @property
    def wald_test(self) -> tuple[float, int, float]:
        chisq = float(self.coef @ linalg.solve(self.var, self.coef, assume_a="pos"))
        df = len(self.coef)
        return chisq, df, float(stats.chi2.sf(chisq, df))

    def __getitem__(self, name: str) -> tuple[float, float]:
        """``fit["trt"]`` -> (coef, se) of one covariate."""
        i = self.names.index(name)
        return float(self.coef[i]), float(self.se[i])

    @property
    def summary(self) -> pd.DataFrame:
        ci = self.ci
        return pd.DataFrame(
            {
                "exp_coef": np.exp(self.coef),
                "exp_ci_low": np.exp(ci[:, 0]),
                "exp_ci_high": np.exp(ci[:, 1]),
                "p": self.p,
                "coef": self.coef,
                "se": self.se,
                "statistic": self.z,
                "ci_low": ci[:, 0],
                "ci_high": ci[:, 1],
            },
            index=pd.Index(self.names, name="covariate"),
        )

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "names", list(self.names)
        yield "coef", self.coef
        yield "se", self.se
        yield "var", self.var
        yield "robust", self.robust
        yield "loglik", list(self.loglik)
        yield "n", self.n
        yield "n_events", self.n_events
        yield "n_strata", self.n_strata
        yield "ties", self.ties
        yield "converged", self.converged
        yield "iterations", self.iterations
        yield "lr_test", list(self.lr_test)
        yield "wald_test", list(self.wald_test)
        yield "score_test", list(self.score_test)
        yield "infinite", list(self.infinite)
        yield "summary", self.summary.reset_index()
        yield "notes", list(self.notes)


# ---------------------------------------------------------------------------- input checks
def _where(label: str | None) -> str:
    return f"{label}: " if label else ""


def _as_matrix(X: Any, names: Sequence[str] | None) -> tuple[FloatArray, tuple[str, ...]]:
    if isinstance(X, pd.DataFrame):
        cols = tuple(str(c) for c in X.columns)
        try:
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise AnalysisProblem(
                f"covariates must be numeric; columns {list(X.select_dtypes(exclude='number').columns)} "
                "are not (code categories as 0/1 indicator columns)",
                reason=Reason.INVALID_DATA, variables=list(cols)) from exc
    else:
        if isinstance(X, pd.Series):
            cols = (str(X.name),) if X.name is not None else ("x1",)
        else:
            cols = ()
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise AnalysisProblem("covariates must be numeric (code categories as 0/1 indicator "
                                  "columns)", reason=Reason.INVALID_DATA) from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise AnalysisProblem(f"X must be 1-D or 2-D, not {arr.ndim}-D",
                                  reason=Reason.WRONG_TYPE)
        if not cols or len(cols) != arr.shape[1]:
            cols = tuple(f"x{j + 1}" for j in range(arr.shape[1]))
    if names is not None:
        if len(names) != arr.shape[1]:
            raise AnalysisProblem(f"{len(names)} names given for {arr.shape[1]} covariates",
                                  reason=Reason.LENGTH_MISMATCH, option="names")
        cols = tuple(str(n) for n in names)
    if arr.shape[1] == 0:
        raise AnalysisProblem("no covariates: X has no columns", reason=Reason.MISSING_OPTION,
                              option="X")
    return arr, cols


def _validated(
    time: ArrayLike, event: ArrayLike, X: Any, strata: ArrayLike | None,
    weights: ArrayLike | None, names: Sequence[str] | None, label: str | None,
) -> tuple[FloatArray, NDArray[np.bool_], FloatArray, tuple[str, ...], NDArray[np.intp] | None,
           FloatArray | None]:
    where = _where(label)
    arrays = float_arrays(where, time=time, event=event, weights=weights)
    t, e_raw, w = arrays["time"], arrays["event"], arrays.get("weights")
    Xm, cols = _as_matrix(X, names)
    n = t.size
    lengths = {"time": n, "X": Xm.shape[0]}
    if strata is not None:
        strata = np.asarray(strata, dtype=object).ravel() if not isinstance(strata, pd.Series) \
            else strata.to_numpy(dtype=object)
        lengths["strata"] = len(strata)
    same_lengths(where, lengths)
    if n == 0:
        raise AnalysisProblem(f"{where}no participants: the data are empty",
                              reason=Reason.TOO_FEW_PARTICIPANTS)
    problems = Problems()
    problems.survival(t, e_raw)
    for j, c in enumerate(cols):
        problems.mask(c, ~np.isfinite(Xm[:, j]), "missing or non-finite values")
    codes = None
    if strata is not None:
        miss = pd.isna(pd.Series(strata)).to_numpy()
        problems.mask("strata", miss, "missing values")
        if not miss.any():
            codes = pd.factorize(pd.Series(strata), sort=True)[0].astype(np.intp)
    if w is not None:
        problems.mask("weights", ~np.isfinite(w), "missing or non-finite values")
        problems.mask("weights", np.isfinite(w) & (w <= 0),
                      "non-positive values (weights must be > 0)")
    problems.raise_if_any(f"{where}cannot fit a Cox model",
                          "Remove or correct these rows before fitting.", trials=label)
    ev = e_raw == 1
    if not ev.any():
        raise AnalysisProblem(
            f"{where}no events among {n} participants: a Cox model needs at least one event; "
            "check the event coding (1 = event, 0 = censored) or leave this data out",
            reason=Reason.NO_EVENTS, trials=label, n=n)
    return t, ev, Xm, cols, codes, w


def _check_identifiable(info: FloatArray, cols: tuple[str, ...], label: str | None,
                        strata: bool) -> None:
    """Raise for covariates without information (constant) or linearly dependent on others."""
    where = _where(label)
    diag = np.diag(info)
    scale = max(float(np.max(np.abs(diag))), 1e-300)
    flat = [c for c, d in zip(cols, diag) if d <= 1e-10 * scale or d <= 0]
    if flat:
        within = " within strata" if strata else ""
        raise AnalysisProblem(
            f"{where}covariate(s) {', '.join(flat)} do not vary{within} among the participants "
            "at risk at the event times, so their hazard ratio cannot be estimated; drop them"
            + (" (a trial-level covariate is absorbed by stratification by trial)" if strata else ""),
            reason=Reason.COLLINEAR, variables=flat, trials=label)
    # pivoted-free LDL' as R's cholesky2: a pivot below toler * its diagonal means dependence
    p = info.shape[0]
    A = info.copy()
    dependent: list[str] = []
    for j in range(p):
        piv = A[j, j]
        if piv <= 1e-9 * info[j, j]:
            dependent.append(cols[j])
            A[j, :] = 0.0
            A[:, j] = 0.0
            continue
        col = A[j + 1:, j] / piv
        A[j + 1:, j + 1:] -= np.outer(col, A[j, j + 1:])
    if dependent:
        raise AnalysisProblem(
            f"{where}covariate(s) {', '.join(dependent)} are linear combinations of the "
            "covariates before them (collinear), so the model is not identifiable; drop them",
            reason=Reason.COLLINEAR, variables=dependent, trials=label)


def _solve(info: FloatArray, u: FloatArray) -> FloatArray:
    try:
        c = linalg.cho_factor(info, lower=True, check_finite=False)
        out = linalg.cho_solve(c, u, check_finite=False)
    except linalg.LinAlgError:
        out = np.linalg.lstsq(info, u, rcond=None)[0]
    return np.asarray(out, dtype=np.float64)


def _inverse(info: FloatArray) -> FloatArray:
    try:
        c = linalg.cho_factor(info, lower=True, check_finite=False)
        inv = linalg.cho_solve(c, np.eye(info.shape[0]), check_finite=False)
    except linalg.LinAlgError:
        inv = np.linalg.pinv(info)
    return (inv + inv.T) / 2.0


@dataclass(frozen=True, eq=False)
class _Newton:
    beta: FloatArray
    loglik0: float
    loglik: float
    score: FloatArray
    info: FloatArray
    iterations: int
    converged: bool
    score_test: float


@dataclass(frozen=True, eq=False)
class _Point:
    loglik: float
    score: FloatArray
    info: FloatArray


def _at(cd: _cox_core.CoxData, beta: FloatArray, ties: Ties) -> _Point:
    t = _cox_core.evaluate(cd, cd.X @ beta, ties=ties)
    assert t.score is not None and t.info is not None
    return _Point(float(t.loglik), t.score, t.info)


def _newton(cd: _cox_core.CoxData, *, ties: Ties, init: FloatArray, max_iter: int,
            eps: float, on_start: Any = None) -> _Newton:
    """R's ``coxfit6`` Newton-Raphson with step halving (the polish comes after)."""
    beta = init.copy()
    t0 = _at(cd, beta, ties)
    if on_start is not None:
        on_start(t0.info)
    ll0 = t0.loglik
    step = _solve(t0.info, t0.score)
    sctest = float(t0.score @ step)
    if max_iter == 0:
        return _Newton(beta, ll0, ll0, t0.score, t0.info, 0, True, sctest)
    ll, u, info = ll0, t0.score, t0.info
    newbeta = beta + step
    halving = 0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - read after the loop
        tn = _at(cd, newbeta, ties)
        newll = tn.loglik
        finite = math.isfinite(newll) and np.all(np.isfinite(tn.score)) and \
            np.all(np.isfinite(tn.info))
        close = abs(1.0 - ll / newll) <= eps if newll != 0 else ll == 0
        if finite and close:
            beta, ll, u, info = newbeta, newll, tn.score, tn.info
            converged = True
            break
        if not finite or newll < ll:
            halving += 1
            newbeta = (newbeta + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            beta, ll, u, info = newbeta, newll, tn.score, tn.info
            newbeta = beta + _solve(info, u)
    if not converged:
        return _Newton(beta, ll0, ll, u, info, it, False, sctest)
    return _Newton(beta, ll0, ll, u, info, it, True, sctest)


def _polish(cd: _cox_core.CoxData, fit: _Newton, *, ties: Ties) -> _Newton:
    """Extra Newton steps past R's stopping rule while they move a coefficient."""
    beta, ll, u, info = fit.beta, fit.loglik, fit.score, fit.info
    for _ in range(_POLISH_STEPS):
        step = _solve(info, u)
        if np.max(np.abs(step) / np.maximum(1.0, np.abs(beta))) < 1e-12:
            break
        nb = beta + step
        t = _at(cd, nb, ties)
        nll = t.loglik
        if not math.isfinite(nll) or nll < ll - 1e-12 * abs(ll):
            break
        beta, ll, u, info = nb, nll, t.score, t.info
    return _Newton(beta, fit.loglik0, ll, u, info, fit.iterations, True, fit.score_test)


def _finish(cd: Any, fit: Any, cols: tuple[str, ...], *, ties: Ties, eps: float, where: str,
            check_infinite: bool) -> tuple[Any, FloatArray, tuple[str, ...], list[str]]:
    """R's check for infinite coefficients (monotone likelihood: warned and noted), else one
    more polishing step; returns the fit, its variance, the infinite ones and the notes."""
    var = _inverse(fit.info)
    infinite: tuple[str, ...] = ()
    if check_infinite:
        nxt = np.abs(var @ fit.score)
        flag = ~np.isfinite(fit.score) | ((nxt > eps) & (nxt > math.sqrt(eps) * np.abs(fit.beta)))
        infinite = tuple(c for c, f in zip(cols, flag) if f)
    if not infinite:
        fit = _polish(cd, fit, ties=ties)
        return fit, _inverse(fit.info), infinite, []
    msg = (f"{where}log-likelihood converged before covariate(s) {', '.join(infinite)}; "
           "their coefficient may be infinite (monotone likelihood: e.g. no events in one "
           "group); do not use their estimate or standard error")
    warnings.warn(msg, InfiniteCoefficientWarning, stacklevel=3)
    return fit, var, infinite, [msg]


def coxph(
    time: ArrayLike,
    event: ArrayLike,
    X: Any,
    *,
    strata: ArrayLike | None = None,
    ties: Ties = "efron",
    weights: ArrayLike | None = None,
    names: Sequence[str] | None = None,
    init: ArrayLike | None = None,
    max_iter: int = R_ITER_MAX,
    eps: float = R_EPS,
    robust: bool | None = None,
    level: float = 0.95,
    label: str | None = None,
) -> CoxFit:
    """Fit a Cox proportional hazards model, as R's ``coxph(Surv(time, event) ~ X)``.

    ``X`` is a 2-D array or DataFrame (its column names become the covariate names; or pass
    ``names``), or 1-D for one covariate. ``strata`` (any labels) gives each stratum its own
    baseline hazard, as ``+ strata(s)`` in R. ``ties`` is ``"efron"`` (R's default) or
    ``"breslow"``. ``weights`` are case weights (> 0). ``robust`` asks for the sandwich
    (robust) variance from the weighted score residuals (R's ``robust = TRUE``); the default
    ``None`` follows R: robust exactly when some weight is not a whole number (then
    ``naive_var`` keeps the model-based one). ``label`` (e.g. the trial) is used in error
    messages. See the module docstring for how problems are reported.
    """
    if ties not in ("efron", "breslow"):
        raise AnalysisProblem(f"ties must be 'efron' or 'breslow', not {ties!r}",
                              reason=Reason.BAD_OPTION, option="ties")
    if not 0 < level < 1:
        raise AnalysisProblem(f"level must be in (0, 1), not {level}", reason=Reason.BAD_OPTION,
                              option="level")
    t, ev, Xm, cols, codes, w = _validated(time, event, X, strata, weights, names, label)
    cd = _cox_core.prepare(t, ev, Xm, strata=codes, weights=w)
    p = Xm.shape[1]
    b0 = np.zeros(p) if init is None else np.asarray(init, dtype=np.float64).ravel()
    if b0.size != p:
        raise AnalysisProblem(f"init has {b0.size} values for {p} covariates",
                              reason=Reason.LENGTH_MISMATCH, option="init")

    def check(info0: FloatArray) -> None:
        _check_identifiable(info0, cols, label, codes is not None and cd.n_strata > 1)

    fit = _newton(cd, ties=ties, init=b0, max_iter=max_iter, eps=eps, on_start=check)
    where = _where(label)
    if not fit.converged:
        raise NotConverged(
            f"{where}Cox model did not converge in {max_iter} Newton-Raphson iterations "
            f"(log-likelihood {fit.loglik:.6g}); try a larger max_iter, check for a covariate "
            "that separates events from non-events (an infinite hazard ratio), or rescale "
            "covariates with very large values", trials=label, iterations=fit.iterations)
    fit, var, infinite, notes = _finish(cd, fit, cols, ties=ties, eps=eps, where=where,
                                        check_infinite=max_iter > 1)
    sct = (fit.score_test, p, float(stats.chi2.sf(fit.score_test, p)))
    if robust is None:
        robust = w is not None and bool(np.any(w != np.floor(w)))
    naive_var = None
    if robust:
        resid = _cox_core.score_residuals(cd, cd.X @ fit.beta, ties=ties)
        dfbeta = (resid * cd.weight[:, None]) @ var
        naive_var, var = var, dfbeta.T @ dfbeta
        notes.append("robust (sandwich) variance from weighted score residuals, as R's "
                     "coxph with robust = TRUE")
    return CoxFit(
        coef=fit.beta, var=var, naive_var=naive_var, robust=bool(robust), names=cols, loglik=(fit.loglik0, fit.loglik), n=int(t.size),
        n_events=int(ev.sum()), n_strata=cd.n_strata, converged=True,
        iterations=fit.iterations, ties=ties, score_test=sct, infinite=infinite, level=level,
        label=label, notes=tuple(notes))
