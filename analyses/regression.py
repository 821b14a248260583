"""Within-trial regression engines: ordinary least squares and logistic regression.

Small, dependency-free (numpy) fits used per trial by the two-stage analysis:

* :func:`fit_ols` - ``y ~ X`` with an intercept; coefficients, the classical covariance
  ``s^2 (X'X)^-1`` and residual df, as R's ``lm``;
* :func:`fit_logistic` - ``logit P(y=1) ~ X`` with an intercept by Newton-Raphson (IRLS),
  iterated to full convergence (relative deviance change < 1e-12); covariance from the inverse
  information, as R's ``glm(family = binomial)``.

Both refuse designs they cannot estimate, naming the columns: fewer observations than
parameters, and columns that are constant or linear combinations of others. Logistic
regression also detects separation (an outcome perfectly predicted, e.g. no events in one
arm): the maximum-likelihood estimate is then infinite and an :class:`AnalysisError` with
``reason=Reason.SEPARATION`` says so instead of returning a huge, meaningless number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyses.errors import AnalysisProblem, NotConverged, Reason

__all__ = ["RegressionFit", "fit_ols", "fit_logistic", "design"]

F = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RegressionFit:
    """Coefficients (intercept first), covariance, and fit facts."""

    names: tuple[str, ...]
    coef: F
    var: F
    n: int
    df_resid: int
    iterations: int = 0
    deviance: float | None = None
    sigma2: float | None = None

    @property
    def se(self) -> F:
        return np.sqrt(np.diag(self.var))

    def __getitem__(self, name: str) -> tuple[float, float]:
        """``(estimate, se)`` of the coefficient called ``name``."""
        i = self.names.index(name)
        return float(self.coef[i]), float(math.sqrt(self.var[i, i]))


def design(columns: Sequence[ArrayLike], names: Sequence[str], *, label: str = "",
           droppable: Sequence[str] = ()) -> tuple[F, tuple[str, ...], tuple[str, ...]]:
    """Intercept plus ``columns``; returns (X, names kept, names dropped).

    Columns that are constant or linear combinations of earlier columns cannot be estimated.
    Those named in ``droppable`` (adjustment covariates) are left out, as R's ``lm``/``glm``
    do (their coefficient would be ``NA``; the others are unchanged); any other such column
    raises an :class:`AnalysisError` naming it. The check runs in column order, so it is
    always the later of two collinear columns that is dropped, as in R.
    """
    n = len(np.asarray(columns[0])) if columns else 0
    where = f" in {label}" if label else ""
    kept_cols = [np.ones(n)]
    kept_names = ["(Intercept)"]
    dropped: list[str] = []
    problems: list[str] = []
    rank = 1
    for col, name in zip(columns, names):
        c = np.asarray(col, dtype=float)
        trial_X = np.column_stack(kept_cols + [c])
        if np.ptp(c) > 0 and np.linalg.matrix_rank(trial_X) > rank:
            kept_cols.append(c)
            kept_names.append(name)
            rank += 1
        elif name in droppable:
            dropped.append(name)
        else:
            problems.append(name)
    if problems:
        what = ("does not vary" if all(np.ptp(np.asarray(columns[list(names).index(p)],
                                                           dtype=float)) == 0
                                       for p in problems)
                else "does not vary or is a linear combination of the other covariates")
        raise AnalysisProblem(f"{', '.join(problems)} {what}{where}",
                            reason=Reason.COLLINEAR, variables=problems)
    X = np.column_stack(kept_cols)
    if X.shape[0] <= X.shape[1]:
        raise AnalysisProblem(
            f"{X.shape[0]} participants{where} cannot estimate {X.shape[1]} coefficients "
            f"({', '.join(kept_names)})", reason=Reason.TOO_FEW_PARTICIPANTS, n=X.shape[0])
    return X, tuple(kept_names), tuple(dropped)


def fit_ols(X: F, y: ArrayLike, names: Sequence[str]) -> RegressionFit:
    """Least squares ``y ~ X`` (``X`` from :func:`design`)."""
    yv = np.asarray(y, dtype=float)
    n, p = X.shape
    coef, *_ = np.linalg.lstsq(X, yv, rcond=None)
    resid = yv - X @ coef
    df = n - p
    sigma2 = float(resid @ resid) / df
    xtx_inv = np.linalg.inv(X.T @ X)
    return RegressionFit(names=tuple(names), coef=coef, var=sigma2 * xtx_inv, n=n,
                         df_resid=df, sigma2=sigma2)


def _deviance(y: F, eta: F) -> float:
    # -2 log-likelihood of a Bernoulli model, computed stably
    return float(2 * np.sum(np.logaddexp(0, eta) - y * eta))


def fit_logistic(X: F, y: ArrayLike, names: Sequence[str], *, maxiter: int = 50,
                 tol: float = 1e-12, label: str = "") -> RegressionFit:
    """Logistic regression ``logit P(y=1) ~ X`` (``X`` from :func:`design`; ``y`` 0/1)."""
    yv = np.asarray(y, dtype=float)
    where = f" in {label}" if label else ""
    if not np.isin(yv, (0.0, 1.0)).all():
        raise AnalysisProblem(f"the outcome must be 0/1{where}", reason=Reason.INVALID_DATA)
    if yv.sum() == 0 or yv.sum() == yv.size:
        raise AnalysisProblem(f"{'no' if yv.sum() == 0 else 'every'} participant had the "
                            f"event{where}: the log odds ratio is not estimable",
                            reason=Reason.NO_EVENTS if yv.sum() == 0 else Reason.ALL_EVENTS)
    n, p = X.shape
    beta = np.zeros(p)
    # start where R's glm does: eta from mu = (y + 0.5) / 2
    mu = (yv + 0.5) / 2
    eta = np.log(mu / (1 - mu))
    beta, *_ = np.linalg.lstsq(X * np.sqrt(mu * (1 - mu))[:, None],
                               (eta) * np.sqrt(mu * (1 - mu)), rcond=None)
    dev_old = _deviance(yv, X @ beta)
    for it in range(1, maxiter + 1):
        eta = X @ beta
        mu = 1 / (1 + np.exp(-eta))
        w = mu * (1 - mu)
        info = X.T @ (X * w[:, None])
        score = X.T @ (yv - mu)
        step = np.linalg.solve(info, score)
        new = beta + step
        dev = _deviance(yv, X @ new)
        halvings = 0
        while dev > dev_old + 1e-9 * abs(dev_old) and halvings < 30:
            step /= 2
            new = beta + step
            dev = _deviance(yv, X @ new)
            halvings += 1
        beta = new
        fitted = 1 / (1 + np.exp(-(X @ beta)))
        if np.max(np.abs(X @ beta)) > 30 or np.min(fitted * (1 - fitted)) < 1e-12:
            raise AnalysisProblem(
                f"the outcome is perfectly predicted{where} (separation): the maximum-"
                "likelihood estimate is infinite; leave the covariate out, or use the 2x2 "
                "model with a continuity correction or Peto's method", reason=Reason.SEPARATION)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol and np.max(np.abs(step)) < 1e-8:
            mu = 1 / (1 + np.exp(-(X @ beta)))
            info = X.T @ (X * (mu * (1 - mu))[:, None])
            return RegressionFit(names=tuple(names), coef=beta, var=np.linalg.inv(info),
                                 n=n, df_resid=n - p, iterations=it, deviance=dev)
        dev_old = dev
    raise NotConverged(f"logistic regression did not converge in {maxiter} "
                           f"iterations{where}; check for near-separation",
                           reason=Reason.NO_CONVERGENCE)
