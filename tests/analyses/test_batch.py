"""pool_many gives the scalar pool()'s numbers on every row (and metafor's, via the fixtures)."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.batch import BATCH_METHODS, pool_many
from analyses.pooling import TESTS, pool
from repository.errors import AnalysisError, ConvergenceError
from tests.analyses.conftest import load_fixture

FIX = load_fixture("pooling", "pooling.json")


def _random_pools(seed: int, n: int = 120, k: int = 10):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, size=(n, k))
    tau2 = rng.choice([0.0, 0.02, 0.3], size=(n, 1))
    yi = rng.normal(0.1, np.sqrt(vi + tau2))
    yi[: n // 4, k - 3:] = np.nan  # ragged pools: the first quarter have k-3 studies
    vi[: n // 4, k - 3:] = np.nan
    return yi, vi


@pytest.mark.parametrize("method", BATCH_METHODS)
@pytest.mark.parametrize("test", TESTS)
def test_pool_many_equals_scalar_pool(method, test):
    yi, vi = _random_pools(7)
    try:
        batch = pool_many(yi, vi, method=method, test=test)
        stepadj = 1.0
    except ConvergenceError:
        stepadj = 0.5
        batch = pool_many(yi, vi, method=method, test=test, stepadj=stepadj)
    for i in range(yi.shape[0]):
        keep = ~np.isnan(yi[i])
        one = pool(yi[i][keep], vi[i][keep], method=method, test=test, qprofile=False,
                   stepadj=stepadj)
        got = [batch.estimate[i], batch.se[i], batch.ci_low[i], batch.ci_high[i], batch.p[i],
               batch.Q[i], batch.Q_p[i], batch.I2[i], batch.H2[i]]
        want = [one.estimate, one.se, one.ci[0], one.ci[1], one.p, one.Q, one.Q_p, one.I2,
                one.H2]
        if one.tau2 is not None:
            got += [batch.tau2[i], batch.pi_low[i], batch.pi_high[i]]
            want += [one.tau2, one.pi[0], one.pi[1]]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"pool {i}")
        assert batch.k[i] == keep.sum()


def test_pool_many_on_metafor_datasets():
    rows = [r for r in FIX["rma"] if r["method"] in BATCH_METHODS and r["level"] == 95
            and "error" not in r and r["dataset"] in ("bcg_RR", "hackshaw1998")]
    assert rows
    for row in rows:
        d = FIX["datasets"][row["dataset"]]
        res = pool_many([d["yi"]], [d["vi"]], method=row["method"], test=row["test"])
        np.testing.assert_allclose(res.estimate[0], row["estimate"], rtol=1e-4)
        np.testing.assert_allclose([res.ci_low[0], res.ci_high[0]], row["ci"], rtol=1e-4)
        if row["method"] != "FE":
            np.testing.assert_allclose(res.tau2[0], row["tau2"], rtol=1e-4, atol=1e-10)


def test_pool_many_rejects_half_missing_and_bad_variances():
    with pytest.raises(AnalysisError, match="only one of"):
        pool_many([[0.1, np.nan]], [[0.1, 0.2]])
    with pytest.raises(AnalysisError, match="non-positive"):
        pool_many([[0.1, 0.2], [0.1, 0.3]], [[0.1, 0.2], [0.0, 0.1]])
    with pytest.raises(AnalysisError, match="too few"):
        pool_many([[0.1, np.nan]], [[0.1, np.nan]], method="REML")
    with pytest.raises(AnalysisError, match="pool_2x2"):
        pool_many([[0.1, 0.2]], [[0.1, 0.1]], method="MH")


def test_pool_many_summary_and_dict():
    yi, vi = _random_pools(3, n=5)
    res = pool_many(yi, vi, method="DL")
    assert list(res.summary.columns)[:3] == ["k", "estimate", "se"]
    assert len(res.to_dict()["pools"]) == 5


def test_pool_many_flags_non_converging_pools():
    d = FIX["datasets"]["oscillating"]
    good = FIX["datasets"]["bcg_RR"]
    yi = np.full((2, 13), np.nan)
    vi = np.full((2, 13), np.nan)
    yi[0, :12], vi[0, :12] = d["yi"], d["vi"]
    yi[1, :13], vi[1, :13] = good["yi"], good["vi"]
    with pytest.raises(ConvergenceError, match=r"pools \[1\]"):
        pool_many(yi, vi, method="REML")
    res = pool_many(yi, vi, method="REML", errors="flag")
    assert res.failed == [0]
    assert np.isnan(res.estimate[0]) and not res.converged[0]
    assert res.estimate[1] == pytest.approx(pool(good["yi"], good["vi"]).estimate, rel=1e-10)
