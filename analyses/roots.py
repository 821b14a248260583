"""A bracketing root finder that takes the same steps as R's ``uniroot``.

metafor finds the Paule-Mandel estimate and the Q-profile confidence limits with ``uniroot``
at a loose tolerance (``.Machine$double.eps^0.25``, about 1.2e-4). A tighter root finder would
land on the exact root, which can differ from metafor's answer in the fourth significant
digit; to agree with metafor we take the very same steps: Brent's method as published by
Forsythe, Malcolm and Moler (Computer Methods for Mathematical Computations, 1977), the
algorithm R's ``uniroot`` uses, with the same acceptance rules, tolerance and iteration count.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Root", "uniroot", "R_UNIROOT_TOL"]

_EPS = sys.float_info.epsilon

#: R's default ``uniroot`` tolerance, ``.Machine$double.eps^0.25``.
R_UNIROOT_TOL = _EPS**0.25


@dataclass(frozen=True)
class Root:
    """Result of :func:`uniroot`: the root, iterations used, estimated precision."""

    root: float
    iterations: int
    precision: float
    converged: bool


def uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    f_lower: float | None = None,
    f_upper: float | None = None,
    tol: float = R_UNIROOT_TOL,
    maxiter: int = 1000,
) -> Root:
    """Find a root of ``f`` in ``[lower, upper]``; ``f(lower)`` and ``f(upper)`` must differ in sign.

    Raises :class:`ValueError` when the end points do not bracket a root (callers check the
    bracket themselves and turn the situation into a domain error).
    """
    fa = f(lower) if f_lower is None else f_lower
    fb = f(upper) if f_upper is None else f_upper
    if math.isnan(fa) or math.isnan(fb):
        raise ValueError("function value at an end point is NaN")
    if fa * fb > 0:
        raise ValueError("f() values at end points not of opposite sign")
    a, b = lower, upper
    c, fc = a, fa
    if fa == 0.0:
        return Root(a, 0, 0.0, True)
    if fb == 0.0:
        return Root(b, 0, 0.0, True)
    left = maxiter + 1
    while left > 0:
        left -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return Root(b, maxiter + 1 - left, abs(c - b), True)
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            new_step = _interpolate(a, b, c, fa, fb, fc, new_step, prev_step, tol_act)
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return Root(b, maxiter, abs(c - b), False)


def _interpolate(a: float, b: float, c: float, fa: float, fb: float, fc: float,
                 bisect: float, prev_step: float, tol_act: float) -> float:
    """R's zeroin interpolation step from ``b``: linear (secant) when ``a == c``, else inverse
    quadratic; the bisection step ``bisect`` when the interpolation would leave the bracket or
    not shrink fast enough."""
    cb = c - b
    if a == c:
        t1 = fb / fa
        p = cb * t1
        q = 1.0 - t1
    else:
        q = fa / fc
        t1 = fb / fc
        t2 = fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
        return p / q
    return bisect
