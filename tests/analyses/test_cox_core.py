"""The vectorised Cox engine (analyses._cox_core) against a plain loop over risk sets.

The reference below is written straight from the textbook/R ``coxfit6.c`` definitions (Efron
and Breslow, case weights, strata), one death time at a time; hypothesis draws small data sets
with heavy ties. Exact arithmetic results: agreement to a relative 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyses import _cox_core


def reference(time, event, X, strata, w, beta, ties):  # type: ignore[no-untyped-def]
    """Log partial likelihood, score and information by explicit loops."""
    p = X.shape[1]
    ll, u, imat = 0.0, np.zeros(p), np.zeros((p, p))
    eta = X @ beta
    r = w * np.exp(eta)
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(time[ins & (event == 1)]):
            risk = ins & (time >= t)
            dead = ins & (time == t) & (event == 1)
            d = int(dead.sum())
            s0 = r[risk].sum()
            s1 = (r[risk, None] * X[risk]).sum(axis=0)
            s2 = (r[risk, None, None] * X[risk, :, None] * X[risk, None, :]).sum(axis=0)
            a0 = r[dead].sum()
            a1 = (r[dead, None] * X[dead]).sum(axis=0)
            a2 = (r[dead, None, None] * X[dead, :, None] * X[dead, None, :]).sum(axis=0)
            ll += float((w[dead] * eta[dead]).sum())
            u += (w[dead, None] * X[dead]).sum(axis=0)
            meanwt = w[dead].mean()
            ks = range(d) if ties == "efron" else [0] * d
            for k in ks:
                f = k / d
                den = s0 - f * a0
                xbar = (s1 - f * a1) / den
                ll -= meanwt * math.log(den)
                u -= meanwt * xbar
                imat += meanwt * ((s2 - f * a2) / den - np.outer(xbar, xbar))
    return ll, u, imat


@st.composite
def survival_data(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(min_value=3, max_value=40))
    p = draw(st.integers(min_value=1, max_value=3))
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    rng = np.random.default_rng(seed)
    time = rng.integers(1, draw(st.integers(min_value=2, max_value=8)), n).astype(float)
    event = rng.integers(0, 2, n)
    event[0] = 1
    X = rng.normal(size=(n, p))
    strata = rng.integers(0, draw(st.integers(min_value=1, max_value=3)), n)
    weighted = draw(st.booleans())
    w = rng.uniform(0.5, 2.0, n) if weighted else np.ones(n)
    beta = rng.normal(scale=0.5, size=p)
    return time, event, X, strata, w, beta


def _prepared(data):  # type: ignore[no-untyped-def]
    """The strata as codes 0..k-1 and the engine's prepared data of a ``survival_data``."""
    time, event, X, strata, w, _ = data
    codes = np.unique(strata, return_inverse=True)[1]
    return codes, _cox_core.prepare(time, event.astype(bool), X, strata=codes, weights=w)


@settings(max_examples=60, deadline=None)
@given(data=survival_data(), ties=st.sampled_from(["efron", "breslow"]))
def test_engine_equals_loop_reference(data, ties) -> None:  # type: ignore[no-untyped-def]
    time, event, X, _, w, beta = data
    codes, cd = _prepared(data)
    got = _cox_core.evaluate(cd, cd.X @ beta, ties=ties)
    ll, u, imat = reference(time, event, X, codes, w, beta, ties)
    assert math.isclose(got.loglik, ll, rel_tol=1e-9, abs_tol=1e-9)
    np.testing.assert_allclose(got.score, u, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.info, imat, rtol=1e-9, atol=1e-9)
    # the per-stratum split of the last column adds up to the totals
    Z = cd.X
    j = Z.shape[1] - 1
    split = _cox_core.evaluate(cd, cd.X @ beta, ties=ties, Z=Z, stratum_col=j)
    np.testing.assert_allclose(split.score_s.sum(), got.score[j], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(split.info_s.sum(axis=0), got.info[j], rtol=1e-9, atol=1e-9)
    for s in range(cd.n_strata):
        ins = codes == s
        if not (event[ins] == 1).any():
            continue
        _, us, is_ = reference(time[ins], event[ins], X[ins] - cd.x_mean, codes[ins], w[ins],
                               beta, ties)
        assert math.isclose(split.score_s[s], us[j], rel_tol=1e-9, abs_tol=1e-9)
        np.testing.assert_allclose(split.info_s[s], is_[j], rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(data=survival_data(), ties=st.sampled_from(["efron", "breslow"]))
def test_score_residuals_sum_to_score(data, ties) -> None:  # type: ignore[no-untyped-def]
    """Score residuals (unweighted, as R's coxscore2) weighted by w add up to the score."""
    beta = data[-1]
    _, cd = _prepared(data)
    res = _cox_core.score_residuals(cd, cd.X @ beta, ties=ties)
    got = _cox_core.evaluate(cd, cd.X @ beta, ties=ties)
    np.testing.assert_allclose((res * cd.weight[:, None]).sum(axis=0), got.score, rtol=1e-8,
                               atol=1e-9)
