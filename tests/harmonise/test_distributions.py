"""The integrity checks' tail probabilities (harmonise.checks.distributions, plain Python so
that no check or report imports scipy) against scipy.special, over the range of degrees of
freedom and statistics trials give: relative difference below 1e-8 (below 1e-10 for up to
10,000 degrees of freedom), tails down to 1e-300 included."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scipy import special

from harmonise.checks.distributions import chi2_sf, f_sf, normal_cdf, t_cdf


def close(mine: float, reference: float, rel: float) -> bool:
    return mine == reference or abs(mine - reference) <= rel * abs(reference)


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 7, 10, 19, 30, 99, 500, 5000])
def test_chi_square_tail(dof: int) -> None:
    for x in [1e-6, 0.01, 0.5, 1, 2, 3.84, 10, 30, 100, 300, 1000, 1400, 5000]:
        assert close(chi2_sf(dof, x), float(special.chdtrc(dof, x)), 1e-11), (dof, x)
    assert chi2_sf(dof, 0) == 1.0 and chi2_sf(dof, float("inf")) == 0.0


@pytest.mark.parametrize("df", [1, 1.5, 2, 3.7, 10, 57.3, 200, 1e4, 1e6])
def test_t_distribution(df: float) -> None:
    rel = 1e-10 if df <= 1e4 else 1e-8
    for t in [-1e3, -50, -30, -10, -5, -3, -2, -1, -0.5, -1e-3, 0, 0.7, 3]:
        assert close(t_cdf(df, t), float(special.stdtr(df, t)), rel), (df, t)


@pytest.mark.parametrize("dfn", [1, 2, 3, 5, 10])
def test_f_tail(dfn: int) -> None:
    for dfd in [5, 10, 50, 300, 10_000, 200_000]:
        for f in [1e-4, 0.3, 1, 2.5, 10, 100, 1000, 1e5]:
            rel = 1e-10 if dfd <= 10_000 else 1e-8
            assert close(f_sf(dfn, dfd, f), float(special.fdtrc(dfn, dfd, f)), rel), (dfd, f)


def test_normal_and_the_edges() -> None:
    for z in [-37, -20, -8, -3, -1, 0, 1, 3, 8]:
        assert close(normal_cdf(z), float(special.ndtr(z)), 1e-12), z
    nan = float("nan")
    assert all(x != x for x in (chi2_sf(2, nan), t_cdf(3, nan), f_sf(1, 2, nan)))
    assert f_sf(1, 2, float("inf")) == 0.0 and t_cdf(3, float("-inf")) == 0.0


def test_the_checks_import_no_scipy() -> None:
    """scipy.special costs ~0.2 s CPU to import on every check and report; only the rare
    Fisher's exact test imports scipy.stats, inside the function."""
    code = ("import sys, harmonise.checks.integrity, harmonise.checks.validation; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
