"""Contract test: every pooling method x test x dataset agrees with metafor 3.8 ``rma``.

Expected values: tests/analyses/fixtures/pooling/make_pooling_fixtures.R (metafor 3.8-1).
Tolerances (relative, with an absolute floor of 1e-10 for values at 0): 1e-6 for closed-form
estimators (FE, DL, HE, HS, SJ) and for Q, Q_p, I^2 and H^2; 1e-4 for the iterative ones
(ML, REML, EB, PM) and for Q-profile intervals, which come from a root search.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses.pooling import pool
from repository.errors import ConvergenceError
from tests.analyses.conftest import load_fixture

FIX = load_fixture("pooling", "pooling.json")
CLOSED_FORM = {"FE", "DL", "HE", "HS", "SJ"}


def _close(actual, expected, rtol, what):
    if expected is None:
        assert actual is None or (isinstance(actual, float) and math.isnan(actual)), what
        return
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-10, err_msg=what)


def _case_id(row):
    return f"{row['dataset']}-{row['method']}-{row['test']}-{row['level']:g}"


@pytest.mark.parametrize("row", FIX["rma"], ids=_case_id)
def test_pool_matches_metafor(row):
    data = FIX["datasets"][row["dataset"]]
    if "error" in row:  # metafor stops (Fisher scoring does not converge): so do we
        with pytest.raises(ConvergenceError, match="stepadj=0.5"):
            pool(data["yi"], data["vi"], method=row["method"], test=row["test"],
                 level=row["level"])
        return
    res = pool(data["yi"], data["vi"], method=row["method"], test=row["test"],
               level=row["level"], labels=data["study"], measure=data["measure"])
    tol = 1e-6 if row["method"] in CLOSED_FORM else 1e-4
    for name in ("estimate", "se", "statistic", "p", "ci"):
        _close(getattr(res, name), row[name], tol, name)
    for name in ("Q", "Q_p", "I2", "H2"):
        _close(getattr(res, name), row[name], tol, name)
    _close(res.weights, row["weights"], tol, "weights")
    assert res.k == row["k"]
    if row["method"] == "FE":
        assert res.tau2 is None and res.pi is None and res.tau2_ci is None
        return
    _close(res.tau2, row["tau2"], tol, "tau2")
    _close(res.se_tau2, row["se_tau2"], tol, "se_tau2")
    _close(res.pi, row["pi"], tol, "pi")
    for name in ("tau2_ci", "tau_ci", "I2_ci", "H2_ci"):
        _close(getattr(res, name), row[name], 1e-4, name)


@pytest.mark.parametrize("row", FIX["stepadj"], ids=lambda r: f"{r['dataset']}-{r['method']}")
def test_halved_fisher_step_matches_metafor(row):
    """The documented remedy for non-convergence: metafor's control=list(stepadj=0.5)."""
    data = FIX["datasets"][row["dataset"]]
    res = pool(data["yi"], data["vi"], method=row["method"], stepadj=row["stepadj"])
    for name in ("estimate", "se", "tau2"):
        _close(getattr(res, name), row[name], 1e-4, name)


def test_boundary_tau2_is_reported():
    data = FIX["datasets"]["homogeneous"]
    for method in ("DL", "REML", "PM", "HE"):
        res = pool(data["yi"], data["vi"], method=method)
        assert res.tau2 == 0.0
        assert any("0" in note for note in res.notes), method
        assert res.tau2_ci == (0.0, 0.0)
        assert any("null set" in note for note in res.notes)
