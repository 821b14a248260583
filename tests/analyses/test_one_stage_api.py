"""analyses.one_stage: the API, its checks and its fallbacks (no R needed).

Common-effect models are checked against independent fits: statsmodels OLS/GLM with trial
dummies (closed form / ML, relative 1e-6) and analyses.cox.coxph stratified by trial.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analyses.cox import coxph
from analyses.one_stage import (
    FIXED_COLUMNS,
    PER_TRIAL_COLUMNS,
    SUMMARY_COLUMNS,
    build_design,
    one_stage,
)
from analyses.one_stage.glmm import fit_glmm
from repository.errors import AnalysisError, ConvergenceError

SURV = Path(__file__).resolve().parent / "fixtures" / "survival"


@pytest.fixture(scope="module")
def lmm_data() -> pd.DataFrame:
    return pd.read_csv(SURV / "sim_lmm.csv")


@pytest.fixture(scope="module")
def glmm_data() -> pd.DataFrame:
    return pd.read_csv(SURV / "sim_glmm.csv")


@pytest.fixture(scope="module")
def cox_data() -> pd.DataFrame:
    return pd.read_csv(SURV / "sim_cox.csv")


def _dummies(d: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return pd.concat([pd.get_dummies(d["trial"], dtype=float), d[cols].astype(float)], axis=1)


def test_common_effect_linear_equals_ols(lmm_data: pd.DataFrame) -> None:
    res = one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", adjust=["x"],
                    random_treatment=False)
    ols = sm.OLS(lmm_data["y"], _dummies(lmm_data, ["arm", "x"])).fit()
    assert res.estimate == pytest.approx(ols.params["arm"], rel=1e-9)
    assert res.se == pytest.approx(ols.bse["arm"], rel=1e-9)
    assert res.tau2 is None and not res.boundary
    assert res.sigma2 == pytest.approx(ols.scale, rel=1e-9)


def test_common_effect_logistic_equals_glm(glmm_data: pd.DataFrame) -> None:
    res = one_stage(glmm_data, trial="trial", treatment="arm", outcome="y", model="logistic",
                    adjust=["x"], random_treatment=False)
    glm = sm.GLM(glmm_data["y"], _dummies(glmm_data, ["arm", "x"]),
                 family=sm.families.Binomial()).fit(tol=1e-12)
    assert res.estimate == pytest.approx(glm.params["arm"], rel=1e-6)
    assert res.se == pytest.approx(glm.bse["arm"], rel=1e-6)
    assert res.loglik == pytest.approx(glm.llf, rel=1e-10)
    assert res.exp_estimate == pytest.approx(np.exp(res.estimate))


def test_common_effect_cox_equals_stratified_coxph(cox_data: pd.DataFrame) -> None:
    res = one_stage(cox_data, trial="trial", treatment="arm", time="time", event="status",
                    model="cox", random_treatment=False, ties="breslow")
    fit = coxph(cox_data["time"], cox_data["status"], cox_data["arm"], strata=cox_data["trial"],
                ties="breslow")
    assert res.estimate == pytest.approx(fit.coef[0], rel=1e-12)
    assert res.se == pytest.approx(fit.se[0], rel=1e-12)
    assert res.method.startswith("Cox partial likelihood")


def test_cox_without_heterogeneity_reports_boundary(cox_data: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    d = cox_data.copy()
    # same treatment effect everywhere, exponential times: no between-trial variation
    rate = np.exp(-6 - 0.3 * d["arm"])
    d["time"] = np.ceil(rng.exponential(1 / rate))
    d["status"] = (d["time"] < 900).astype(int)
    d.loc[d["status"] == 0, "time"] = 900
    res = one_stage(d, trial="trial", treatment="arm", time="time", event="status", model="cox")
    common = coxph(d["time"], d["status"], d["arm"], strata=d["trial"])
    if res.boundary:
        assert res.tau2 == 0.0
        assert res.estimate == pytest.approx(common.coef[0], rel=1e-12)
        assert any("boundary" in n for n in res.notes)
        assert (res.per_trial["random_effect"] == 0).all()
    else:  # a tiny positive estimate is legitimate too; then it is close to the common one
        assert res.tau2 < 0.01
        assert res.estimate == pytest.approx(common.coef[0], abs=0.02)


def test_treatment_codings(lmm_data: pd.DataFrame) -> None:
    d = lmm_data.assign(group=np.where(lmm_data["arm"] == 1, "chemo", "surgery"))
    design = build_design(d, model="linear", trial="trial", treatment="group", outcome="y",
                          treated_value="chemo", coding="centred")
    share = d.groupby("trial")["arm"].transform("mean").to_numpy()
    np.testing.assert_allclose(design.t, d["arm"] - share)
    pm = build_design(d, model="linear", trial="trial", treatment="group", outcome="y",
                      treated_value="chemo", coding="plusminus")
    assert set(np.unique(pm.t)) == {-0.5, 0.5}
    a = one_stage(d, trial="trial", treatment="group", outcome="y", treated_value="chemo")
    b = one_stage(lmm_data, trial="trial", treatment="arm", outcome="y")
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)


def test_interaction_within_and_across(lmm_data: pd.DataFrame) -> None:
    res = one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", interaction="z")
    tab = res.interaction
    assert tab["term"].tolist() == ["arm:z_within", "arm:z_trial_mean"]
    assert tab["information"].tolist() == ["within-trial", "across-trial"]
    assert tuple(c for c in tab.columns if c != "information") == FIXED_COLUMNS
    assert any("ecological" in n for n in res.notes)
    z = lmm_data["z"] - lmm_data.groupby("trial")["z"].transform("mean")
    design = build_design(lmm_data, model="linear", trial="trial", treatment="arm",
                          outcome="y", interaction="z")
    np.testing.assert_allclose(design.X[:, design.names.index("arm:z_within")],
                               lmm_data["arm"] * z)


def test_result_outputs(glmm_data: pd.DataFrame) -> None:
    res = one_stage(glmm_data, trial="trial", treatment="arm", outcome="y", model="logistic",
                    nagq=5)
    assert tuple(res.summary.columns) == SUMMARY_COLUMNS
    assert tuple(res.fixed.columns) == FIXED_COLUMNS
    assert tuple(res.per_trial.columns) == PER_TRIAL_COLUMNS
    assert len(res.per_trial) == res.k == 15
    np.testing.assert_allclose(res.per_trial["trial_effect"],
                               res.estimate + res.per_trial["random_effect"])
    out = res.to_dict()
    text = json.dumps(out, allow_nan=False)
    for key in ("estimate", "se", "ci", "k", "tau2", "tau", "per_trial", "exp_estimate"):
        assert key in out
    assert out["ci"][0] < out["estimate"] < out["ci"][1]
    assert out["measure"] == "OR" and "adaptive Gauss-Hermite" in out["method"]
    assert "One-stage" in repr(res) and "<table" in res._repr_html_()
    assert len(text) > 100


def test_boundary_is_reported_not_raised() -> None:
    d = pd.read_csv(SURV / "sim_lmm_boundary.csv")
    res = one_stage(d, trial="trial", treatment="arm", outcome="y")
    assert res.boundary and res.tau2 == 0.0 and res.tau == 0.0
    ols = sm.OLS(d["y"], _dummies(d, ["arm"])).fit()
    assert res.estimate == pytest.approx(ols.params["arm"], rel=1e-9)


# ---------------------------------------------------------------------------- bad input
def test_missing_values_and_columns_are_listed(lmm_data: pd.DataFrame) -> None:
    d = lmm_data.head(50).copy()
    d.loc[[3, 7], "y"] = np.nan
    d.loc[5, "x"] = np.nan
    with pytest.raises(AnalysisError) as err:
        one_stage(d, trial="trial", treatment="arm", outcome="y", adjust=["x"])
    assert "y: missing values in rows 4, 8" in str(err.value)
    assert "x: missing values in row 6" in str(err.value)
    with pytest.raises(AnalysisError, match=r"column\(s\) not in the data: nope"):
        one_stage(d, trial="trial", treatment="arm", outcome="nope")


def test_single_arm_and_eventless_trials_are_listed(glmm_data: pd.DataFrame) -> None:
    d = glmm_data.copy()
    first, second = sorted(d["trial"].unique())[:2]
    d.loc[d["trial"] == first, "arm"] = 1
    d.loc[d["trial"] == second, "y"] = 0
    with pytest.raises(AnalysisError) as err:
        one_stage(d, trial="trial", treatment="arm", outcome="y", model="logistic")
    msg = str(err.value)
    assert f"trial {first}: single arm (no control participants" in msg
    assert f"trial {second}: no events (y = 1)" in msg
    assert err.value.trials == (str(first), str(second))


def test_cox_trial_without_events(cox_data: pd.DataFrame) -> None:
    d = cox_data.copy()
    d.loc[d["trial"] == "S03", "status"] = 0
    with pytest.raises(AnalysisError, match="trial S03: no events"):
        one_stage(d, trial="trial", treatment="arm", time="time", event="status", model="cox")


def test_fewer_than_two_trials(lmm_data: pd.DataFrame) -> None:
    one = lmm_data[lmm_data["trial"] == "T01"]
    with pytest.raises(AnalysisError, match="at least two trials"):
        one_stage(one, trial="trial", treatment="arm", outcome="y")
    res = one_stage(one, trial="trial", treatment="arm", outcome="y", random_treatment=False)
    assert res.k == 1 and res.tau2 is None


def test_option_errors(lmm_data: pd.DataFrame) -> None:
    with pytest.raises(AnalysisError, match="nagq applies to the logistic model only"):
        one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", nagq=5)
    with pytest.raises(AnalysisError, match="coding must be one of"):
        one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", coding="effect")  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="3 distinct values"):
        one_stage(lmm_data.assign(arm=lmm_data.index % 3), trial="trial", treatment="arm",
                  outcome="y")
    with pytest.raises(AnalysisError, match="no participant has the treated value 'yes'"):
        one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", treated_value="yes")
    with pytest.raises(AnalysisError, match="values other than 0/1"):
        one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", model="logistic")
    with pytest.raises(AnalysisError, match="needs the time and event column"):
        one_stage(lmm_data, trial="trial", treatment="arm", outcome="y", model="cox")


def test_glmm_non_convergence_raises(glmm_data: pd.DataFrame) -> None:
    d = build_design(glmm_data, model="logistic", trial="trial", treatment="arm", outcome="y")
    with pytest.raises(ConvergenceError, match="did not converge in 1 Newton iterations"):
        fit_glmm(d, max_iter=1)
    with pytest.raises(AnalysisError, match="nagq must be an integer"):
        fit_glmm(d, nagq=0)
