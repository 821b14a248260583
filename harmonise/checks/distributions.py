"""Tail probabilities of the chi-square, t, F and normal distributions, for the integrity
checks' p-values, in plain Python (``math``).

Importing ``scipy.special`` costs about 0.2 s of CPU (0.7 s on a busy machine) on every
``ipdrepo check`` and ``report``, for four functions. These are the textbook forms: the
regularised incomplete gamma function by its series or its continued fraction, the regularised
incomplete beta function by its continued fraction (modified Lentz), as in Press et al.,
*Numerical Recipes*, 3rd ed., sections 6.2 and 6.4, evaluated to double precision. A test holds
each to ``scipy.special`` (relative difference below 1e-10 up to 10,000 degrees of freedom,
1e-8 beyond; tails down to 1e-300).
"""

from __future__ import annotations

import math

__all__ = ["chi2_sf", "t_cdf", "f_sf", "normal_cdf"]

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 10_000


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _gamma_series(a: float, x: float) -> float:
    """The regularised lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITERATIONS):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _lentz(a_n: float, b_n: float, c: float, d: float) -> tuple[float, float, float]:
    """One step of the modified Lentz method for a continued fraction with partial numerator
    ``a_n`` and denominator ``b_n``: the new ``c``, ``d`` and the factor the value changes by."""
    d = b_n + a_n * d
    d = _TINY if abs(d) < _TINY else d
    c = b_n + a_n / c
    c = _TINY if abs(c) < _TINY else c
    d = 1.0 / d
    return c, d, c * d


def _gamma_fraction(a: float, x: float) -> float:
    """The regularised upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        b += 2.0
        c, d, step = _lentz(-i * (i - a), b, c, d)
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(dof: float, x: float) -> float:
    """P(X > x) for X chi-square with ``dof`` degrees of freedom (``scipy.special.chdtrc``)."""
    if math.isnan(x) or math.isnan(dof):
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half = dof / 2.0, x / 2.0
    return 1.0 - _gamma_series(a, half) if half < a + 1.0 else _gamma_fraction(a, half)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        c, d, even = _lentz(m * (b - m) * x / ((qam + m2) * (a + m2)), 1.0, c, d)
        c, d, step = _lentz(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), 1.0, c, d)
        h *= even * step
        if abs(step - 1.0) < _EPS:
            break
    return h


def _beta_regularised(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(df: float, t: float) -> float:
    """P(T <= t) for T Student-t with ``df`` degrees of freedom (``scipy.special.stdtr``)."""
    if math.isnan(t) or math.isnan(df):
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _beta_regularised(df / 2.0, 0.5, df / (df + t * t))
    return tail if t < 0 else 1.0 - tail


def f_sf(dfn: float, dfd: float, f: float) -> float:
    """P(F > f) for F with (``dfn``, ``dfd``) degrees of freedom (``scipy.special.fdtrc``)."""
    if math.isnan(f) or math.isnan(dfn) or math.isnan(dfd):
        return math.nan
    if f <= 0:
        return 1.0
    if math.isinf(f):
        return 0.0
    return _beta_regularised(dfd / 2.0, dfn / 2.0, dfd / (dfd + dfn * f))
