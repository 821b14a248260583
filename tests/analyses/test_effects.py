"""Effect sizes from summary data against metafor 3.8 ``escalc``.

Expected values: tests/analyses/fixtures/pooling/make_pooling_fixtures.R. Closed form:
relative tolerance 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from analyses.effects import effect_2x2, effect_md
from repository.errors import AnalysisError
from tests.analyses.conftest import load_fixture

FIX = load_fixture("pooling", "pooling.json")


@pytest.mark.parametrize(
    "row", FIX["escalc"],
    ids=lambda r: f"{r['table']}-{r['measure']}-{r['to']}-drop00={r['drop00']}")
def test_effect_2x2_matches_escalc(row):
    tab = FIX["tables"][row["table"]]
    es = effect_2x2(tab["ai"], tab["n1i"], tab["ci"], tab["n2i"], measure=row["measure"],
                    add=row["add"], to=row["to"], drop00=row["drop00"], labels=tab["study"])
    expected_y = np.array([np.nan if x is None else x for x in row["yi"]], dtype=float)
    expected_v = np.array([np.nan if x is None else x for x in row["vi"]], dtype=float)
    np.testing.assert_allclose(es.yi, expected_y, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(es.vi, expected_v, rtol=1e-6, atol=1e-12)
    # every missing estimate is explained, and only those
    assert set(es.dropped) == set(np.flatnonzero(np.isnan(expected_y)).tolist())
    assert all(es.dropped.values())


def test_effect_md_matches_escalc():
    nm = FIX["normand1999"]
    es = effect_md(nm["m1i"], nm["sd1i"], nm["n1i"], nm["m2i"], nm["sd2i"], nm["n2i"])
    np.testing.assert_allclose(es.yi, nm["yi"], rtol=1e-6)
    np.testing.assert_allclose(es.vi, nm["vi"], rtol=1e-6)


def test_double_zero_table_is_reported_not_silent():
    es = effect_2x2([0, 3], [10, 20], [0, 5], [12, 20], measure="OR", drop00=True,
                    labels=["T1", "T2"])
    assert es.dropped == {0: "no events in either arm"}
    frame = es.to_frame()
    assert frame.loc[0, "dropped"] == "no events in either arm"
    assert np.isfinite(es.yi[1])


def test_invalid_counts_name_every_trial():
    with pytest.raises(AnalysisError) as err:
        effect_2x2([5, 3, np.nan], [4, 0, 10], [1, 1, 1], [10, 10, 10], labels=["A", "B", "C"])
    msg = str(err.value)
    assert "A:" in msg and "B:" in msg and "C:" in msg
    assert err.value.trials == ("A", "B", "C")
