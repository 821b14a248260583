"""Invariants of pooling that hold for any data (Hypothesis), and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from analyses.errors import Reason
from analyses.pooling import pool
from repository.errors import AnalysisError, ConvergenceError

finite = st.floats(min_value=-5, max_value=5, allow_nan=False)
variance = st.floats(min_value=1e-3, max_value=2.0, allow_nan=False)
studies = st.integers(min_value=2, max_value=12).flatmap(
    lambda k: st.tuples(st.lists(finite, min_size=k, max_size=k),
                        st.lists(variance, min_size=k, max_size=k)))
METHODS = ["FE", "DL", "HE", "HS", "SJ", "REML", "ML", "EB", "PM"]


@settings(max_examples=60, deadline=None)
@given(studies, st.sampled_from(METHODS), finite)
def test_shift_equivariance_and_bounds(data, method, shift):
    yi, vi = np.array(data[0]), np.array(data[1])
    try:
        a = pool(yi, vi, method=method, qprofile=False)
        b = pool(yi + shift, vi, method=method, qprofile=False)
    except ConvergenceError as exc:  # Fisher scoring oscillation: reported, never a silent NaN
        assert exc.message
        reject()  # not an example of the property: Hypothesis draws another (and counts it)
    # shifting every estimate shifts the pooled estimate and nothing else
    assert b.estimate == pytest.approx(a.estimate + shift, abs=1e-7)
    assert b.se == pytest.approx(a.se, rel=1e-6, abs=1e-9)
    assert (b.tau2 or 0) == pytest.approx(a.tau2 or 0, rel=1e-5, abs=1e-7)
    # a weighted mean lies within the range of the estimates; weights sum to 100
    assert yi.min() - 1e-9 <= a.estimate <= yi.max() + 1e-9
    assert a.weights.sum() == pytest.approx(100)
    assert a.tau2 is None or a.tau2 >= 0
    assert 0 <= a.I2 <= 100
    assert a.H2 >= (1 - 1e-12 if a.tau2 is not None else 0)  # FE: H2 = Q/(k-1) may be < 1
    assert a.ci[0] <= a.estimate <= a.ci[1]
    if a.pi is not None:
        assert a.pi[0] <= a.ci[0] + 1e-12 and a.pi[1] >= a.ci[1] - 1e-12


@settings(max_examples=40, deadline=None)
@given(studies, st.sampled_from(METHODS))
def test_order_of_studies_does_not_matter(data, method):
    yi, vi = np.array(data[0]), np.array(data[1])
    perm = np.arange(yi.size)[::-1]
    try:
        a = pool(yi, vi, method=method, qprofile=False)
        b = pool(yi[perm], vi[perm], method=method, qprofile=False)
    except ConvergenceError as exc:
        assert exc.message
        reject()
    assert b.estimate == pytest.approx(a.estimate, abs=1e-7)
    assert (b.tau2 or 0) == pytest.approx(a.tau2 or 0, rel=1e-5, abs=1e-7)


def test_nan_inputs_name_the_studies():
    with pytest.raises(AnalysisError) as err:
        pool([0.1, np.nan, 0.3], [0.1, 0.1, np.nan], labels=["A", "B", "C"])
    assert "B, C" in str(err.value)
    assert err.value.reason is Reason.INVALID_DATA and err.value.trials == ("B", "C")


def test_non_positive_variance_names_study():
    with pytest.raises(AnalysisError, match="non-positive sampling variance for B"):
        pool([0.1, 0.2], [0.1, -0.1], labels=["A", "B"])
    with pytest.raises(AnalysisError, match="non-positive"):
        pool([0.1, 0.2], se=[0.1, 0.0])


def test_fewer_than_two_trials_for_random_effects():
    with pytest.raises(AnalysisError, match="at least two trials") as err:
        pool([0.1], [0.1], method="REML")
    assert err.value.reason is Reason.TOO_FEW_TRIALS and err.value.k == 1
    one = pool([0.1], [0.04], method="FE")
    assert one.estimate == 0.1 and one.se == pytest.approx(0.2) and one.Q == 0


def test_unknown_method_and_test():
    with pytest.raises(AnalysisError, match="pool_2x2"):
        pool([0.1, 0.2], [0.1, 0.1], method="MH")
    with pytest.raises(AnalysisError, match="unknown test"):
        pool([0.1, 0.2], [0.1, 0.1], test="hksj")


def test_knha_with_identical_estimates_is_explained():
    with pytest.raises(AnalysisError, match="identical"):
        pool([0.2, 0.2, 0.2], [0.1, 0.2, 0.1], method="DL", test="knha")
    res = pool([0.2, 0.2, 0.2], [0.1, 0.2, 0.1], method="DL", test="adhoc")
    assert res.details["knha_scale"] == 1.0
