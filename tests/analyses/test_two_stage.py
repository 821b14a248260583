"""Two-stage IPD meta-analysis against R (lm, glm, survival::coxph/survdiff, metafor::rma).

Expected values: tests/analyses/fixtures/two_stage/make_two_stage_fixtures.R, run on the
committed synthetic IPD (sim_ipd.csv) and on the real GASTRIC data (read in place).
Tolerances: relative 1e-6 for closed-form per-trial estimates (least squares, 2x2 tables,
Mantel-Haenszel, Peto) and closed-form pools (FE, DL); 1e-4 for iterative ones (logistic
regression, Cox, REML, PM).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses.two_stage import two_stage
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES, load_fixture

SIM = pd.read_csv(FIXTURES / "two_stage" / "sim_ipd.csv")
EXPECTED = load_fixture("two_stage", "two_stage_sim.json")["results"]


def _per_trial_matches(res_table, expected, rtol):
    exp = pd.DataFrame(expected).set_index("trial")
    got = res_table.set_index("trial").loc[exp.index]
    np.testing.assert_allclose(got["estimate"], exp["estimate"], rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(got["se"], exp["se"], rtol=rtol)


def _pools_match(res_fn, pooled_rows, closed_inputs=False):
    """1e-6 for closed-form pools of closed-form inputs, else 1e-4."""
    for row in pooled_rows:
        res = res_fn(row["method"], row["test"])
        rtol = 1e-6 if closed_inputs and row["method"] in ("FE", "DL") else 1e-4
        np.testing.assert_allclose(res.estimate, row["estimate"], rtol=rtol, err_msg=str(row))
        np.testing.assert_allclose(res.se, row["se"], rtol=rtol)
        np.testing.assert_allclose(res.ci, row["ci"], rtol=rtol)
        np.testing.assert_allclose(res.Q, row["Q"], rtol=rtol)
        if row["method"] != "FE":
            np.testing.assert_allclose(res.tau2, row["tau2"], rtol=rtol, atol=1e-10)
            np.testing.assert_allclose(res.pi, row["pi"], rtol=rtol)


SIM_CASES = {
    # name: (kwargs, per-trial tolerance)
    "linear_md": (dict(model="linear", outcome="y1"), 1e-6),
    "linear_ancova": (dict(model="linear", outcome="y1", adjust=["y0"]), 1e-6),
    "logistic": (dict(model="logistic", outcome="yb"), 1e-4),
    "logistic_adj": (dict(model="logistic", outcome="yb", adjust=["age", "sex"]), 1e-4),
    "cox": (dict(model="cox", time="time", event="event"), 1e-4),
    "cox_adj": (dict(model="cox", time="time", event="event", adjust=["age"]), 1e-4),
}


def assert_logrank_matches(res, exp: dict) -> None:  # type: ignore[no-untyped-def]
    """Each trial's O-E and V, and the pooled estimate, as R's (relative 1e-6)."""
    pt = pd.DataFrame(exp["per_trial"]).set_index("trial")
    got = res.per_trial.set_index("trial").loc[pt.index]
    np.testing.assert_allclose(got["o_minus_e"], pt["o_minus_e"], rtol=1e-6)
    np.testing.assert_allclose(got["v"], pt["v"], rtol=1e-6)
    np.testing.assert_allclose(res.pooled.estimate, exp["estimate"], rtol=1e-6)


@pytest.mark.parametrize("name", list(SIM_CASES))
def test_two_stage_sim_matches_r(name):
    kwargs, rtol = SIM_CASES[name]
    exp = EXPECTED[name]

    def run(method, test):
        return two_stage(SIM, trial="trial", treatment="trt", method=method, test=test,
                         **kwargs)

    res = run("REML", "z")
    _per_trial_matches(res.per_trial, exp["per_trial"], rtol)
    assert set(res.per_trial["trial"]) == set(exp["per_trial"]["trial"])
    _pools_match(lambda m, t: run(m, t).pooled, exp["pooled"], closed_inputs=rtol == 1e-6)
    reasons = dict(zip(res.excluded["trial"], res.excluded["reason"]))
    assert reasons["E1"] == "single_arm"
    assert reasons["E2"] == "too_few_participants"
    if kwargs["model"] in ("logistic", "cox"):
        assert reasons["E3"] == "no_events_arm"  # no events in the control arm
        assert "control arm" in res.excluded.set_index("trial").loc["E3", "message"]


def test_two_stage_logrank_peto_matches_survdiff():
    exp = EXPECTED["logrank"]
    res = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                    model="logrank")
    assert res.method == "Peto"
    assert_logrank_matches(res, exp)
    np.testing.assert_allclose(res.pooled.se, exp["se"], rtol=1e-6)
    np.testing.assert_allclose(res.pooled.Q, exp["Q"], rtol=1e-6)
    assert res.pooled.Q_df == exp["df"]


@pytest.mark.parametrize("name,kwargs,rtol", [
    ("deft_linear_age", dict(model="linear", outcome="y1", adjust=["y0"], interaction="age"), 1e-6),
    ("deft_logistic_sex", dict(model="logistic", outcome="yb", interaction="sex"), 1e-4),
    pytest.param("deft_cox_age", dict(model="cox", time="time", event="event",
                                      interaction="age"), 1e-4),
])
def test_deft_interaction_matches_r(name, kwargs, rtol):
    exp = EXPECTED[name]
    res = two_stage(SIM, trial="trial", treatment="trt", **kwargs)
    inter = res.interaction
    assert inter is not None and inter.covariate == kwargs["interaction"]
    _per_trial_matches(inter.per_trial, exp["per_trial"], rtol)
    for row in exp["pooled"]:
        if row["test"] != "z" or row["method"] not in ("REML", "FE", "DL"):
            continue
        r = two_stage(SIM, trial="trial", treatment="trt", method=row["method"],
                      **kwargs).interaction.pooled
        tol = 1e-6 if row["method"] != "REML" and rtol == 1e-6 else 1e-4
        np.testing.assert_allclose(r.estimate, row["estimate"], rtol=tol)
        np.testing.assert_allclose(r.se, row["se"], rtol=tol)


def test_subgroups_and_test_for_differences_match_r():
    exp = EXPECTED["subgroup_sex"]
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                    subgroup="sex")
    assert set(res.subgroups) == {"0", "1"}
    for level in ("0", "1"):
        e = exp["levels"][level]
        got = res.subgroups[level]
        np.testing.assert_allclose(got.estimate, e["estimate"], rtol=1e-4)
        np.testing.assert_allclose(got.se, e["se"], rtol=1e-4)
        _per_trial_matches(res.subgroup_tables[level], e["per_trial"], 1e-4)
    np.testing.assert_allclose(res.subgroup_test.Q, exp["Q"], rtol=1e-4)
    np.testing.assert_allclose(res.subgroup_test.p, exp["p"], rtol=1e-4)
    d = res.to_dict()
    assert d["subgroup_test"]["df"] == 1 and set(d["subgroups"]) == {"0", "1"}


def test_aggregate_data_pooled_with_ipd():
    exp = EXPECTED["logistic_plus_ad"]
    ad = pd.DataFrame(exp["aggregate"])
    for row in exp["pooled"]:
        res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                        method=row["method"], test=row["test"], aggregate=ad)
        rtol = 1e-4
        np.testing.assert_allclose(res.pooled.estimate, row["estimate"], rtol=rtol)
        np.testing.assert_allclose(res.pooled.se, row["se"], rtol=rtol)
        src = dict(zip(res.per_trial["trial"], res.per_trial["source"]))
        assert src["P1"] == "AD" and src["S01"] == "IPD"
        np.testing.assert_allclose(res.per_trial["weight"].sum(), 100)


# ---------------------------------------------------------------------- GASTRIC (real data)
def _gastric_2y(df):
    d = df[(df.timeT > 730) | (df.statusT == 1)].copy()
    d["death2y"] = ((d.statusT == 1) & (d.timeT <= 730)).astype(int)
    return d


@pytest.mark.parametrize("dataset", ["gastadj", "gastadv"])
def test_gastric_two_year_mortality(dataset, gastric_adj, gastric_adv):
    exp = load_fixture("two_stage", "two_stage_gastric.json")["results"][dataset]
    d = _gastric_2y(gastric_adj if dataset == "gastadj" else gastric_adv)
    common = dict(trial="trialref", treatment="trt", treated_value=0.5, outcome="death2y")
    res = two_stage(d, model="logistic", **common)
    _per_trial_matches(res.per_trial, exp["logistic_2y"]["per_trial"], 1e-4)
    assert sorted(res.excluded["trial"]) == sorted(exp["logistic_2y"]["excluded"])
    _pools_match(lambda m, t: two_stage(d, model="logistic", method=m, test=t, **common).pooled,
                 exp["logistic_2y"]["pooled"])
    counts = exp["counts_2y"]
    for measure in ("OR", "RR", "RD"):
        mh = two_stage(d, model="2x2", measure=measure, method="MH", **common).pooled
        np.testing.assert_allclose(mh.estimate, counts[measure]["mh"]["estimate"], rtol=1e-6)
        np.testing.assert_allclose(mh.se, counts[measure]["mh"]["se"], rtol=1e-6)
        np.testing.assert_allclose(mh.Q, counts[measure]["mh"]["Q"], rtol=1e-6)
        reml = two_stage(d, model="2x2", measure=measure, method="REML", **common)
        np.testing.assert_allclose(reml.pooled.estimate, counts[measure]["reml"]["estimate"],
                                   rtol=1e-4)
        yi = reml.per_trial.set_index("trial").loc[counts["trials"], "estimate"]
        np.testing.assert_allclose(yi, counts[measure]["yi"], rtol=1e-6)
    peto = two_stage(d, model="2x2", method="Peto", **common).pooled
    np.testing.assert_allclose(peto.estimate, counts["peto"]["estimate"], rtol=1e-6)
    np.testing.assert_allclose(peto.Q, counts["peto"]["Q"], rtol=1e-6)


@pytest.mark.parametrize("dataset", ["gastadj", "gastadv"])
def test_gastric_cox(dataset, gastric_adj, gastric_adv):
    exp = load_fixture("two_stage", "two_stage_gastric.json")["results"][dataset]["cox"]
    d = gastric_adj if dataset == "gastadj" else gastric_adv
    common = dict(trial="trialref", treatment="trt", treated_value=0.5, time="timeT",
                  event="statusT", model="cox")
    res = two_stage(d, **common)
    _per_trial_matches(res.per_trial, exp["per_trial"], 1e-4)
    _pools_match(lambda m, t: two_stage(d, method=m, test=t, **common).pooled, exp["pooled"])
    assert res.pooled.exp_estimate == pytest.approx(np.exp(res.pooled.estimate))


@pytest.mark.parametrize("dataset", ["gastadj", "gastadv"])
def test_gastric_logrank(dataset, gastric_adj, gastric_adv):
    exp = load_fixture("two_stage", "two_stage_gastric.json")["results"][dataset]["logrank"]
    d = gastric_adj if dataset == "gastadj" else gastric_adv
    res = two_stage(d, trial="trialref", treatment="trt", treated_value=0.5, time="timeT",
                    event="statusT", model="logrank")
    assert_logrank_matches(res, exp)
    np.testing.assert_allclose(res.pooled.Q, exp["Q"], rtol=1e-6)


# ---------------------------------------------------------------------- invalid input
def test_missing_values_are_listed_or_dropped():
    d = SIM.copy()
    d.loc[[3, 10], "y1"] = np.nan
    with pytest.raises(AnalysisError) as err:
        two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear")
    assert "y1: missing values in rows 4, 11" in str(err.value)
    res = two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear",
                    missing="drop")
    assert any("S01: 2 row(s)" in n for n in res.notes)


def test_unknown_columns_and_ambiguous_treatment():
    with pytest.raises(AnalysisError, match="not in the data: nope"):
        two_stage(SIM, trial="trial", treatment="nope", outcome="y1", model="linear")
    d = SIM.copy()
    d.loc[0, "trt"] = 2
    with pytest.raises(AnalysisError, match="control_value"):
        two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear")
    # declaring the arm codes does not hide a third value, even with missing="drop"
    with pytest.raises(AnalysisError, match="trt: values other than 1 and 0 in row 1"):
        two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear",
                  treated_value=1, control_value=0, missing="drop")


def test_non_binary_outcome_for_logistic():
    with pytest.raises(AnalysisError, match="values other than 0/1"):
        two_stage(SIM, trial="trial", treatment="trt", outcome="y1", model="logistic")


def test_all_trials_excluded_is_an_error():
    d = SIM[SIM.trial.isin(["E1", "E2"])]
    with pytest.raises(AnalysisError, match="no trial gave an estimate"):
        two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear")


def test_single_trial_random_effects_is_an_error_with_advice():
    d = SIM[SIM.trial == "S01"]
    with pytest.raises(AnalysisError, match="at least two trials"):
        two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear")
    res = two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear",
                    method="FE")
    assert res.pooled.k == 1


def test_result_outputs():
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic")
    d = res.to_dict()
    for key in ("estimate", "se", "ci", "k", "tau2", "tau", "I2", "H2", "Q", "Q_p", "pi",
                "tau2_ci", "per_trial", "exp_estimate", "exp_ci", "exp_pi", "excluded"):
        assert key in d, key
    assert d["per_trial"][0]["source"] == "IPD"
    html = res._repr_html_()
    assert "<table" in html and "excluded" in html
    assert "Two-stage" in repr(res)


# ---------------------------------------------------------------------- other paths
def test_logrank_with_aggregate_and_iv_pooling():
    ad = pd.DataFrame({"trial": ["P1", "P2"], "o_minus_e": [-3.0, None], "v": [12.0, None],
                       "yi": [None, -0.2], "vi": [None, 0.05]})
    res = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                    model="logrank", aggregate=ad)
    rows = res.per_trial.set_index("trial")
    assert rows.loc["P2", "o_minus_e"] == pytest.approx(-0.2 / 0.05)
    assert rows.loc["P2", "v"] == pytest.approx(1 / 0.05)
    assert any("P2" in n and "O-E" in n for n in res.notes)
    oe = rows["o_minus_e"].to_numpy(dtype=float)
    v = rows["v"].to_numpy(dtype=float)
    assert res.pooled.estimate == pytest.approx(oe.sum() / v.sum(), rel=1e-12)
    iv = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                   model="logrank", method="FE")
    w = 1 / iv.per_trial["se"].to_numpy() ** 2
    est = iv.per_trial["estimate"].to_numpy()
    assert iv.pooled.estimate == pytest.approx((w * est).sum() / w.sum(), rel=1e-12)


def test_binary_interaction_by_difference_for_logrank_and_2x2():
    res = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                    model="logrank", interaction="sex")
    s01 = SIM[SIM.trial == "S01"]
    by_level = [two_stage(s01[s01.sex == lev], trial="trial", treatment="trt", time="time",
                          event="event", model="logrank", method="FE").per_trial.iloc[0]
                for lev in (0, 1)]
    row = res.interaction.per_trial.set_index("trial").loc["S01"]
    assert row["estimate"] == pytest.approx(by_level[1]["estimate"] - by_level[0]["estimate"])
    assert row["se"] == pytest.approx(np.hypot(by_level[0]["se"], by_level[1]["se"]))
    tab = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="2x2",
                    measure="RR", method="MH", interaction="sex")
    assert tab.interaction.pooled.k >= 8
    with pytest.raises(AnalysisError, match="two"):
        result = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="2x2",
                           interaction="age")
        assert result.interaction.pooled is not None


def test_subgroup_with_a_single_trial_falls_back_to_common_effect():
    d = SIM[SIM.trial.str.startswith("S")].copy()
    d["region"] = np.where(d.trial == "S01", "north", "south")
    res = two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear",
                    subgroup="region")
    assert res.subgroups["north"].method == "FE" and res.subgroups["north"].k == 1
    assert res.subgroups["south"].method == "REML"
    assert any("single trial" in n for n in res.notes)


def test_cox_and_logistic_exclude_trials_without_events():
    d = SIM[SIM.trial.str.startswith("S")].copy()
    d.loc[d.trial == "S02", "yb"] = 0
    res = two_stage(d, trial="trial", treatment="trt", outcome="yb", model="logistic")
    reasons = dict(zip(res.excluded["trial"], res.excluded["reason"]))
    assert reasons == {"S02": "no_events"}
    assert "S02" not in set(res.per_trial["trial"])
    # the 2x2 route keeps it with the documented continuity correction
    tab = two_stage(d, trial="trial", treatment="trt", outcome="yb", model="2x2")
    assert "S02" in set(tab.per_trial["trial"])
    note = tab.per_trial.set_index("trial").loc["S02", "note"]
    assert note == "continuity correction added"


def test_constant_adjustment_covariate_is_dropped_in_that_trial_only():
    d = SIM[SIM.trial.str.startswith("S")].copy()
    d.loc[d.trial == "S03", "sex"] = 1
    res = two_stage(d, trial="trial", treatment="trt", outcome="y1", model="linear",
                    adjust=["y0", "sex"])
    notes = res.per_trial.set_index("trial")["note"]
    assert "sex left out" in notes["S03"] and notes["S01"] == ""


def test_2x2_without_correction_excludes_tables_with_zero_cells_for_iv_only():
    d = SIM[SIM.trial.str.startswith("S")].copy()
    d.loc[(d.trial == "S02") & (d.trt == 1), "yb"] = 0  # no events in the treated arm
    iv = two_stage(d, trial="trial", treatment="trt", outcome="yb", model="2x2", to="none",
                   method="FE")
    assert dict(zip(iv.excluded["trial"], iv.excluded["reason"])) == {"S02": "no_estimate"}
    mh = two_stage(d, trial="trial", treatment="trt", outcome="yb", model="2x2", to="none",
                   method="MH")
    assert "S02" in set(mh.per_trial["trial"]) and mh.pooled.k == 8
