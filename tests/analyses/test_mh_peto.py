"""Mantel-Haenszel and Peto pooling against metafor 3.8 ``rma.mh`` and ``rma.peto``.

Expected values: tests/analyses/fixtures/pooling/make_pooling_fixtures.R. All closed form:
relative tolerance 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from analyses.binary import pool_2x2
from analyses.mh import pool_mh
from analyses.peto import pool_oe, pool_peto
from repository.errors import AnalysisError
from tests.analyses.conftest import load_fixture

FIX = load_fixture("pooling", "pooling.json")
RTOL = 1e-6


def _arr(values):
    return np.array([np.nan if x is None else x for x in values], dtype=float)


@pytest.mark.parametrize("row", FIX["mh"], ids=lambda r: f"{r['table']}-{r['measure']}")
def test_mh_matches_rma_mh(row):
    tab = FIX["tables"][row["table"]]
    res = pool_mh(tab["ai"], tab["n1i"], tab["ci"], tab["n2i"], measure=row["measure"],
                  labels=tab["study"])
    for name in ("estimate", "se", "ci", "statistic", "p", "Q", "Q_p", "I2", "H2"):
        np.testing.assert_allclose(getattr(res, name), row[name], rtol=RTOL, atol=1e-12,
                                   err_msg=name)
    assert res.k == row["k"]
    assert res.Q_df == row["k_yi"] - 1
    np.testing.assert_allclose(res.weights, row["weights"], rtol=RTOL)
    np.testing.assert_allclose(res.studies["yi"], _arr(row["yi"]), rtol=RTOL)
    np.testing.assert_allclose(res.studies["vi"], _arr(row["vi"]), rtol=RTOL)
    if row["measure"] == "OR":
        for name in ("CO", "CO_p", "MH", "MH_p", "BD", "BD_p", "TA", "TA_p"):
            np.testing.assert_allclose(res.details[name], row[name], rtol=RTOL, err_msg=name)
    # rows without an estimate say why
    missing = np.isnan(res.studies["yi"].to_numpy())
    assert (res.studies.loc[missing, "note"] != "").all()
    assert (res.studies.loc[~missing, "note"] == "").all()


@pytest.mark.parametrize("row", FIX["peto"], ids=lambda r: r["table"])
def test_peto_matches_rma_peto(row):
    tab = FIX["tables"][row["table"]]
    res = pool_peto(tab["ai"], tab["n1i"], tab["ci"], tab["n2i"], labels=tab["study"])
    for name in ("estimate", "se", "ci", "statistic", "p", "Q", "Q_p", "I2", "H2"):
        np.testing.assert_allclose(getattr(res, name), row[name], rtol=RTOL, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(res.weights, row["weights"], rtol=RTOL)
    np.testing.assert_allclose(res.studies["yi"], _arr(row["yi"]), rtol=RTOL)
    via_dispatch = pool_2x2(tab["ai"], tab["n1i"], tab["ci"], tab["n2i"], method="Peto")
    assert via_dispatch.estimate == res.estimate


def test_pool_oe_is_peto_formula():
    oe = np.array([-5.2, -3.1, 1.0, 2.5])
    v = np.array([20.1, 15.3, 9.8, 12.0])
    res = pool_oe(oe, v, labels=list("abcd"))
    assert res.estimate == pytest.approx(oe.sum() / v.sum(), rel=1e-12)
    assert res.se == pytest.approx(1 / np.sqrt(v.sum()), rel=1e-12)
    q = (oe**2 / v).sum() - oe.sum() ** 2 / v.sum()
    assert res.Q == pytest.approx(q, rel=1e-12)
    assert res.Q_df == 3
    assert res.exp_estimate == pytest.approx(np.exp(oe.sum() / v.sum()))


def test_pool_oe_rejects_zero_variance_naming_trial():
    with pytest.raises(AnalysisError, match="T2"):
        pool_oe([1.0, 0.0], [3.0, 0.0], labels=["T1", "T2"])


def test_mh_or_undefined_without_events_is_an_error():
    with pytest.raises(AnalysisError, match="not defined"):
        pool_mh([0, 0], [10, 10], [0, 0], [10, 10], measure="OR")


def test_iv_pooling_of_tables_reports_left_out_tables():
    res = pool_2x2([0, 4, 6], [10, 50, 60], [0, 8, 9], [10, 50, 60], method="FE",
                   measure="OR", drop00=True, labels=["Z", "A", "B"])
    assert res.k == 2
    assert any("Z" in n for n in res.notes)
