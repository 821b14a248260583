"""The significance tests of the integrity checks. Their tail probabilities come from
:mod:`harmonise.checks.distributions` (plain Python: scipy takes a noticeable time to import on
every check and report); a test holds each p-value to scipy.stats'.

The tests of means take each group's summary (size, mean, variance with ddof=1), so a check
can compute the summaries of every arm and every variable at once (:func:`group_summaries`).
"""

from __future__ import annotations

import numpy as np

from harmonise.checks.distributions import chi2_sf, f_sf, normal_cdf, t_cdf

__all__ = ["chi2_p", "welch_p", "anova_p", "runs_test", "group_summaries"]


def chi2_p(table: np.ndarray) -> float:
    """Pearson's chi-square test of independence (no continuity correction)."""
    table = np.asarray(table, dtype=float)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return chi2_sf(dof, stat)


def group_summaries(values: np.ndarray, groups: np.ndarray, k: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Size, mean and sum of squared deviations from the mean of each column of ``values``
    (rows x variables, NaN where missing) in each of ``k`` groups (``groups``: each row's
    group, 0..k-1): arrays of variables x groups, by two products with the rows' group
    indicators (two passes, as numpy's ``var`` does)."""
    indicator = (groups[:, None] == np.arange(k)).astype(float)
    known = ~np.isnan(values)
    n = known.T.astype(float) @ indicator
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (np.where(known, values, 0.0).T @ indicator) / n
        deviations = np.where(known, values - mean.T[groups], 0.0)
    return n, mean, (deviations ** 2).T @ indicator


def welch_p(n: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    """Welch's two-sample t-test of two groups' means (sizes, means, variances with ddof=1)."""
    va, vb = var[0] / n[0], var[1] / n[1]
    se = np.sqrt(va + vb)
    if se == 0:
        return 1.0
    t = (mean[1] - mean[0]) / se
    df = (va + vb) ** 2 / (va ** 2 / (n[0] - 1) + vb ** 2 / (n[1] - 1))
    return 2 * t_cdf(float(df), -abs(float(t)))


def anova_p(n: np.ndarray, mean: np.ndarray, squares: np.ndarray) -> float:
    """One-way ANOVA F test of equal means (group sizes, means, sums of squared deviations)."""
    k, total = len(n), int(n.sum())
    grand = float((n * mean).sum() / total)
    between = float((n * (mean - grand) ** 2).sum()) / (k - 1)
    within = float(squares.sum()) / (total - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.float64(between) / np.float64(within)
    return f_sf(k - 1, total - k, float(f))


def runs_test(x: np.ndarray) -> tuple[int, float]:
    """Wald-Wolfowitz runs test, one-sided for too few runs (normal approximation)."""
    n1 = int(x.sum())
    n2 = int(len(x) - n1)
    runs = int(1 + np.count_nonzero(x[1:] != x[:-1]))
    n = n1 + n2
    mean = 1 + 2 * n1 * n2 / n
    var = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    if var <= 0:
        return runs, 1.0
    z = (runs - mean) / np.sqrt(var)
    return runs, normal_cdf(float(z))
