"""analyses.cox.coxph against R's survival::coxph (fixtures by make_survival_fixtures.R).

R calls, e.g. ``coxph(Surv(time, status) ~ age + sex + strata(ph.ecog), data = lung,
ties = "breslow", control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))``;
each fixture case records its formula in ``call``.

Tolerances: coefficients and standard errors to a relative 1e-6 (the issue's bound; in
practice we agree to ~1e-9) against R run to eps = 1e-12, and also against R's default
control (eps = 1e-9); log partial likelihoods to a relative 1e-9.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.cox import SUMMARY_COLUMNS, CoxFit, InfiniteCoefficientWarning, coxph
from repository.errors import AnalysisError, ConvergenceError
from tests.analyses.conftest import survival_dataset

HERE = Path(__file__).resolve().parent
SURV = HERE / "fixtures" / "survival"
FIX = json.loads((SURV / "survival.json").read_text())
REL = 1e-6


dataset = survival_dataset


def _fit_case(case: dict) -> CoxFit:
    d = dataset(case["data"])
    return coxph(
        d[case["time"]], d[case["event"]], d[case["covariates"]],
        strata=d[case["strata"]] if case["strata"] else None, ties=case["ties"],
        weights=d[case["weights"]] if case["weights"] else None)


@pytest.mark.parametrize("case", FIX["coxph"], ids=[c["name"] for c in FIX["coxph"]])
def test_coxph_matches_r(case: dict) -> None:
    fit = _fit_case(case)
    np.testing.assert_allclose(fit.coef, case["coef"], rtol=REL, atol=0)
    np.testing.assert_allclose(fit.se, case["se"], rtol=REL, atol=0)
    np.testing.assert_allclose(fit.var, np.array(case["var"]).reshape(fit.var.shape), rtol=1e-5,
                               atol=1e-12)
    np.testing.assert_allclose(fit.loglik, case["loglik"], rtol=1e-9)
    np.testing.assert_allclose(fit.score_test[0], case["score"], rtol=1e-6)
    # R at its default eps = 1e-9 is less converged; we still agree to 1e-6
    np.testing.assert_allclose(fit.coef, case["coef_default_control"], rtol=REL)
    np.testing.assert_allclose(fit.se, case["se_default_control"], rtol=REL)
    assert fit.n == case["n"] and fit.n_events == case["nevent"]
    assert fit.converged and fit.ties == case["ties"]
    assert fit.names == tuple(case["covariates"])
    # R uses the robust variance when weights are not whole numbers; so do we
    assert fit.robust == case["robust"]
    if fit.robust:
        np.testing.assert_allclose(np.sqrt(np.diag(fit.naive_var)), case["naive_se"], rtol=REL)


@pytest.mark.parametrize("spec", FIX["coxph_per_trial"], ids=lambda s: f"{s['data']}-{s['time']}")
def test_per_trial_cox_matches_r(spec: dict) -> None:
    d = dataset(spec["data"])
    for row in spec["trials"]:
        sub = d[d["trialref"] == row["trial"]]
        fit = coxph(sub[spec["time"]], sub[spec["event"]], sub["trt"], label=f"trial {row['trial']}")
        assert fit.coef[0] == pytest.approx(row["coef"], rel=REL)
        assert fit.se[0] == pytest.approx(row["se"], rel=REL)
        assert fit.n_events == row["nevent"]


def test_monotone_likelihood_warns_like_r() -> None:
    """R: 'Loglik converged before variable 1; coefficient may be infinite.'"""
    m = FIX["monotone"]
    d = dataset("monotone")
    with pytest.warns(InfiniteCoefficientWarning, match="trt"):
        fit = coxph(d["time"], d["status"], d[m["covariates"]])
    assert fit.infinite == ("trt",)
    assert fit.coef[0] < -15 and m["coef"][0] < -15
    # the finite covariate is estimated as R does (same Newton path: rel 1e-4)
    assert fit.coef[1] == pytest.approx(m["coef"][1], rel=1e-4)
    assert fit.loglik[1] == pytest.approx(m["loglik"][1], rel=1e-6)
    assert any("infinite" in n for n in fit.notes)


def test_agrees_with_lifelines_on_lung() -> None:
    """lifelines' CoxPHFitter (Efron ties) on the same data, to a relative 1e-5."""
    from lifelines import CoxPHFitter

    d = dataset("lung")[["time", "status", "age", "sex", "ph.ecog"]]
    cph = CoxPHFitter().fit(d, duration_col="time", event_col="status")
    fit = coxph(d["time"], d["status"], d[["age", "sex", "ph.ecog"]])
    np.testing.assert_allclose(fit.coef, cph.params_.loc[list(fit.names)].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(fit.se, cph.standard_errors_.loc[list(fit.names)].to_numpy(),
                               rtol=1e-5)
    assert fit.loglik[1] == pytest.approx(cph.log_likelihood_, rel=1e-8)


def test_summary_and_dict() -> None:
    d = dataset("lung")
    fit = coxph(d["time"], d["status"], d[["age", "sex"]])
    s = fit.summary
    assert tuple(s.columns) == SUMMARY_COLUMNS and list(s.index) == ["age", "sex"]
    assert s.loc["sex", "exp_coef"] == pytest.approx(math.exp(fit.coef[1]))
    q = 1.959963984540054
    assert s.loc["sex", "ci_low"] == pytest.approx(fit.coef[1] - q * fit.se[1])
    out = fit.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["names"] == ["age", "sex"] and out["lr_test"][1] == 2
    assert fit["sex"] == (pytest.approx(fit.coef[1]), pytest.approx(fit.se[1]))
    assert "<table" in fit._repr_html_() and "CoxFit" in repr(fit)


def test_one_dimensional_inputs_and_numpy() -> None:
    d = dataset("veteran")
    a = coxph(d["time"].to_numpy(), d["status"].to_numpy(), d["trt"].to_numpy())
    b = coxph(d["time"], d["status"].astype(bool), d[["trt"]])
    assert a.names == ("x1",) and b.names == ("trt",)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)


def test_invariant_to_row_order_and_covariate_scale() -> None:
    rng = np.random.default_rng(11)
    d = dataset("sim_ties")
    perm = rng.permutation(len(d))
    a = coxph(d["time"], d["status"], d[["x1", "x3"]], strata=d["s"])
    b = coxph(d["time"].iloc[perm], d["status"].iloc[perm], d[["x1", "x3"]].iloc[perm],
              strata=d["s"].iloc[perm])
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    c = coxph(d["time"], d["status"], d[["x1", "x3"]].assign(x3=d["x3"] * 10), strata=d["s"])
    np.testing.assert_allclose(c.coef, a.coef / [1, 10], rtol=1e-8)
    np.testing.assert_allclose(c.se, a.se / [1, 10], rtol=1e-8)


def test_integer_weights_equal_replicated_rows() -> None:
    """Under Breslow, whole-number case weights are the same as replicated rows (Efron's
    weighted form, like R's, treats a weight as one death, not as tied copies)."""
    d = dataset("veteran").iloc[::2].head(60)
    w = np.tile([1, 2, 3], 20)
    a = coxph(d["time"], d["status"], d[["trt", "karno"]], weights=w, ties="breslow")
    assert not a.robust and a.naive_var is None
    rep = d.loc[d.index.repeat(w)]
    b = coxph(rep["time"], rep["status"], rep[["trt", "karno"]], ties="breslow")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-9)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-9)


# ---------------------------------------------------------------------------- problems
def test_no_events_is_a_clear_error() -> None:
    with pytest.raises(AnalysisError, match=r"trial T9: no events among 4 participants"):
        coxph([1, 2, 3, 4], [0, 0, 0, 0], [0, 1, 0, 1], label="trial T9")


def test_nan_inputs_name_rows_and_variables() -> None:
    X = pd.DataFrame({"age": [50, np.nan, 60, 70, 65], "sex": [0, 1, 1, np.nan, 0]})
    with pytest.raises(AnalysisError) as err:
        coxph([5, 6, np.nan, 8, 9], [1, 0, 1, 1, 7], X)
    msg = str(err.value)
    assert "time: missing or non-finite values in row 3" in msg
    assert "event: values other than 0/1 in row 5" in msg
    assert "age: missing or non-finite values in row 2" in msg
    assert "sex: missing or non-finite values in row 4" in msg
    assert err.value.cells == {"time": (3,), "event": (5,), "age": (2,), "sex": (4,)}
    assert err.value.rows == (2, 3, 4, 5)


def test_other_invalid_inputs() -> None:
    with pytest.raises(AnalysisError, match="negative times in row 2"):
        coxph([1, -2, 3], [1, 1, 0], [0, 1, 1])
    with pytest.raises(AnalysisError, match="weights: non-positive values"):
        coxph([1, 2, 3], [1, 1, 0], [0, 1, 1], weights=[1, 0, 1])
    with pytest.raises(AnalysisError, match="strata: missing values in row 1"):
        coxph([1, 2, 3], [1, 1, 0], [0, 1, 1], strata=[None, "a", "b"])
    with pytest.raises(AnalysisError, match="different lengths"):
        coxph([1, 2, 3], [1, 1], [0, 1, 1])
    with pytest.raises(AnalysisError, match="ties must be"):
        coxph([1, 2, 3], [1, 1, 0], [0, 1, 1], ties="exact")  # type: ignore[arg-type]


def test_constant_and_collinear_covariates_are_named() -> None:
    d = dataset("lung")
    with pytest.raises(AnalysisError, match=r"covariate\(s\) one do not vary"):
        coxph(d["time"], d["status"], d[["age"]].assign(one=1.0))
    with pytest.raises(AnalysisError, match=r"covariate\(s\) age2 are linear combinations"):
        coxph(d["time"], d["status"], d[["age", "sex"]].assign(age2=2 * d["age"] - d["sex"]))
    # a covariate constant within every stratum carries no information (absorbed by strata)
    with pytest.raises(AnalysisError, match="absorbed by stratification"):
        coxph(d["time"], d["status"], d[["age", "ph.ecog"]], strata=d["ph.ecog"])


def test_non_convergence_raises() -> None:
    d = dataset("colon_death")
    with pytest.raises(ConvergenceError, match="did not converge in 1 Newton-Raphson"):
        coxph(d["time"], d["status"], d[["lev", "lev5fu", "nodes"]], max_iter=1)
