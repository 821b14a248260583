"""analyses.logrank against R's survival::survdiff (fixtures by make_survival_fixtures.R).

R calls, e.g. ``survdiff(Surv(timeT, statusT) ~ treated + strata(trialref), data = gastadj)``;
per trial ``survdiff(Surv(timeT, statusT) ~ treated, data = gastadj[trialref == tr, ])``.
Closed-form: O-E, V, observed, expected and chi-square agree to a relative 1e-9.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.logrank import SUMMARY_COLUMNS, TRIAL_COLUMNS, logrank, logrank_by_trial
from repository.errors import AnalysisError
from tests.analyses.conftest import survival_dataset

SURV = Path(__file__).resolve().parent / "fixtures" / "survival"
FIX = json.loads((SURV / "survival.json").read_text())
REL = 1e-9


@cache
def dataset(name: str) -> pd.DataFrame:
    """:func:`survival_dataset`, with R's ``I(sex == 2)`` term as a column of ``lung``."""
    d = survival_dataset(name)
    if name == "lung":
        d = d.assign(**{"I(sex == 2)": (d["sex"] == 2).astype(int)})
    return d


@pytest.mark.parametrize("case", FIX["survdiff"], ids=[c["name"] for c in FIX["survdiff"]])
def test_logrank_matches_survdiff(case: dict) -> None:
    d = dataset(case["data"])
    res = logrank(d[case["time"]], d[case["event"]], d[case["group"]],
                  strata=d[case["strata"]] if case["strata"] else None)
    assert res.o_minus_e == pytest.approx(case["o_minus_e"], rel=REL)
    assert res.v == pytest.approx(case["v"], rel=REL)
    assert res.chisq == pytest.approx(case["chisq"], rel=REL)
    assert res.p == pytest.approx(case["p"], rel=1e-7)
    assert (res.observed_control, res.observed) == tuple(case["observed"])
    assert res.expected == pytest.approx(case["expected"][1], rel=REL)
    assert res.expected_control == pytest.approx(case["expected"][0], rel=REL)
    assert (res.n_control, res.n_treated) == tuple(case["n"])
    assert res.log_hr == pytest.approx(res.o_minus_e / res.v)
    assert res.se == pytest.approx(1 / math.sqrt(res.v))


@pytest.mark.parametrize("spec", FIX["survdiff_per_trial"], ids=lambda s: f"{s['data']}-{s['time']}")
def test_per_trial_oe_and_v_match_survdiff(spec: dict) -> None:
    d = dataset(spec["data"])
    tab = logrank_by_trial(d[spec["time"]], d[spec["event"]], d["treated"], d["trialref"])
    assert tuple(tab.columns) == TRIAL_COLUMNS
    exp = pd.DataFrame(spec["trials"]).set_index("trial")
    tab = tab.set_index("trial").loc[exp.index]
    np.testing.assert_allclose(tab["o_minus_e"], exp["o_minus_e"], rtol=REL, atol=1e-12)
    np.testing.assert_allclose(tab["v"], exp["v"], rtol=REL)
    np.testing.assert_allclose(tab["expected"], exp["expected"], rtol=REL)
    np.testing.assert_array_equal(tab["observed"], exp["observed"])
    np.testing.assert_array_equal(tab["n"], exp["n"])
    np.testing.assert_array_equal(tab["events"], exp["events"])
    assert tab["usable"].all()
    # each trial's row is the single-trial logrank
    first = exp.index[0]
    sub = d[d["trialref"] == first]
    one = logrank(sub[spec["time"]], sub[spec["event"]], sub["treated"])
    assert tab.loc[first, "log_hr"] == pytest.approx(one.log_hr, rel=1e-12)


def test_stratified_equals_sum_of_per_trial() -> None:
    d = dataset("veteran")
    strat = logrank(d["time"], d["status"], d["trt"], strata=d["celltype"])
    tab = logrank_by_trial(d["time"], d["status"], d["trt"], d["celltype"])
    assert strat.o_minus_e == pytest.approx(tab["o_minus_e"].sum(), rel=1e-12)
    assert strat.v == pytest.approx(tab["v"].sum(), rel=1e-12)


def test_result_outputs() -> None:
    d = dataset("veteran")
    res = logrank(d["time"], d["status"], d["trt"])
    assert tuple(res.summary.columns) == SUMMARY_COLUMNS
    out = res.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["o_minus_e"] == pytest.approx(res.o_minus_e)
    assert "chi-square" in repr(res) and "<table" in res._repr_html_()


def test_invalid_trials_listed_or_flagged() -> None:
    time = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    event = [1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1]
    group = [0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1]
    trial = ["A"] * 4 + ["B"] * 4 + ["C"] * 4
    with pytest.raises(AnalysisError) as err:
        logrank_by_trial(time, event, group, trial)
    assert "trial B: no events" in str(err.value)
    assert "trial C: single arm (no control participants)" in str(err.value)
    assert err.value.trials == ("B", "C")
    tab = logrank_by_trial(time, event, group, trial, invalid="flag")
    assert tab["usable"].tolist() == [True, False, False]
    assert tab.loc[1, "v"] == 0 and tab.loc[1, "o_minus_e"] == 0
    assert tab.loc[2, "reason"].startswith("single arm")


def test_logrank_errors() -> None:
    with pytest.raises(AnalysisError, match="trial X: no control participants"):
        logrank([1, 2, 3], [1, 1, 0], [1, 1, 1], label="trial X")
    with pytest.raises(AnalysisError, match="no events among 3"):
        logrank([1, 2, 3], [0, 0, 0], [0, 1, 1])
    with pytest.raises(AnalysisError, match=r"group: values other than 0 \(control\) / 1 \(treated\) in row 2"):
        logrank([1, 2, 3], [1, 0, 1], [0, 2, 1])
    with pytest.raises(AnalysisError, match="time: missing or non-finite values in row 1"):
        logrank([np.nan, 2, 3], [1, 0, 1], [0, 1, 1])
