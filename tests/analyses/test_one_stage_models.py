"""analyses.one_stage against R: lme4 (lmer, glmer), nlme (lme + varIdent) and coxme.

Fixtures: make_one_stage_fixtures.R (lme4 1.1-31, nlme) and make_coxme_fixtures.R (coxme
2.2-22), both in tests/analyses/fixtures/survival/. The R calls are recorded per case in
``formula``, e.g. ``glmer(y ~ 0 + factor(trial) + trt + (0 + trt | trial), binomial,
nAGQ = 5)`` and ``coxme(Surv(timeT, statusT) ~ trt + strata(trial) + (trt | trial))``.

Tolerances (iterative results): estimates, standard errors and tau^2 to a relative 1e-4, as
the issue asks; fits at the boundary must report tau^2 = 0 where R reports 0 (lme4) or a
variance below 1e-6 (coxme cannot reach 0).

* glmer's own optimiser sometimes stops short of the optimum (its deviance ~1e-5 above the
  optimum's); the R script polishes each fit with nlminb on lme4's own deviance function and
  takes lme4's finite-difference Hessian there. We match the polished values, and our
  log-likelihood must be at least glmer's unpolished one.
* nlme's optimiser stops early on the flat criterion of the trial-specific residual model
  (its tau^2 moves by 4e-4 between equally good fits), so there the bounds are 1e-4 on the
  estimate, 5e-4 on its SE and 1e-3 on the variances, and our REML criterion must be at least
  as good as nlme's (evaluated at nlme's variances).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.one_stage import build_design, one_stage
from analyses.one_stage.cox_random import fit_cox_random
from analyses.one_stage.lmm import trial_residual_criterion

SURV = Path(__file__).resolve().parent / "fixtures" / "survival"
LME4 = json.loads((SURV / "one_stage_lme4.json").read_text())
COXME = json.loads((SURV / "one_stage_coxme.json").read_text())
REL = 1e-4


@cache
def dataset(name: str) -> pd.DataFrame:
    if name.startswith("gast"):
        from tests.analyses.conftest import gastric_path

        path = gastric_path(name)
        d = pd.read_csv(path, dtype={"trialref": str, "id": str})
        d["trial"] = d["trialref"]
        d["arm"] = (d["trt"] > 0).astype(int)
        d["logtime"] = np.log(d["timeT"])
        d["death3y"] = ((d["statusT"] == 1) & (d["timeT"] <= 1095)).astype(int)
        d["death1y"] = ((d["statusT"] == 1) & (d["timeT"] <= 365)).astype(int)
        return d
    return pd.read_csv(SURV / f"{name}.csv")


def _check_fixed(res, case: dict) -> None:  # type: ignore[no-untyped-def]
    assert len(res.fixed) == len(case["estimate"] if isinstance(case["estimate"], list)
                                 else [case["estimate"]])
    np.testing.assert_allclose(res.fixed["estimate"], np.atleast_1d(case["estimate"]), rtol=REL)
    np.testing.assert_allclose(res.fixed["se"], np.atleast_1d(case["se"]), rtol=REL)


def _check_tau2(ours: float | None, r: float, singular: bool) -> None:
    if singular:
        assert ours == 0.0
    else:
        assert ours == pytest.approx(r, rel=REL)


@pytest.mark.parametrize("case", LME4["lmer"], ids=[c["name"] for c in LME4["lmer"]])
def test_linear_matches_lmer(case: dict) -> None:
    d = dataset(case["data"])
    res = one_stage(d, trial="trial", treatment="arm", outcome=case["outcome"], model="linear",
                    adjust=case["adjust"], interaction=case["interaction"],
                    coding=case["coding"])
    _check_fixed(res, case)
    _check_tau2(res.tau2, case["tau2"], case["singular"])
    assert res.boundary == case["singular"]
    assert res.sigma2 == pytest.approx(case["sigma2"], rel=REL)
    assert res.criterion == pytest.approx(case["reml_criterion"], rel=1e-8)
    assert res.loglik == pytest.approx(case["loglik"], rel=1e-8)
    np.testing.assert_allclose(res.intercepts["estimate"], case["intercepts"], rtol=REL)
    np.testing.assert_allclose(res.intercepts["se"], case["intercept_se"], rtol=REL)
    assert (res.k, res.n) == (case["k"], case["n"])


@pytest.mark.parametrize("case", LME4["lme_trial_residuals"],
                         ids=[c["name"] for c in LME4["lme_trial_residuals"]])
def test_linear_trial_residual_variances_match_nlme(case: dict) -> None:
    d = dataset(case["data"])
    res = one_stage(d, trial="trial", treatment="arm", outcome=case["outcome"], model="linear",
                    coding=case["coding"], residual="trial")
    assert res.estimate == pytest.approx(case["estimate"], rel=REL)
    assert res.se == pytest.approx(case["se"], rel=5e-4)
    s2 = pd.Series(case["sigma2_trial"])
    np.testing.assert_allclose(res.sigma2_trial.loc[s2.index], s2, rtol=1e-3)
    assert res.tau2 == pytest.approx(case["tau2"], rel=1e-3, abs=1e-6)
    design = build_design(d, model="linear", trial="trial", treatment="arm",
                          outcome=case["outcome"], coding=case["coding"])
    theirs = trial_residual_criterion(design, s2.loc[list(design.trial_labels)].to_numpy(),
                                      case["tau2"])
    assert theirs == pytest.approx(-2 * case["loglik"], rel=1e-9)  # same criterion as nlme
    assert res.criterion <= theirs + 1e-6


GLMER_MAIN = [c for c in LME4["glmer"] if not c["interaction"]]


@pytest.mark.parametrize("case", GLMER_MAIN, ids=[c["name"] for c in GLMER_MAIN])
def test_logistic_matches_glmer(case: dict) -> None:
    d = dataset(case["data"])
    res = one_stage(d, trial="trial", treatment="arm", outcome=case["outcome"],
                    model="logistic", adjust=case["adjust"], coding=case["coding"],
                    nagq=case["nagq"])
    _check_fixed(res, case)
    _check_tau2(res.tau2, case["tau2"], case["singular"])
    assert res.boundary == case["singular"]
    assert res.loglik == pytest.approx(case["loglik"], rel=1e-9)
    assert res.loglik >= case["glmer"]["loglik"] - 1e-9
    np.testing.assert_allclose(res.intercepts["estimate"], case["intercepts"], rtol=REL)
    np.testing.assert_allclose(res.intercepts["se"], case["intercept_se"], rtol=REL)
    assert res.nagq == case["nagq"] and res.n_events == int(d[case["outcome"]].sum())


@pytest.mark.parametrize("case", [c for c in LME4["glmer"] if c["interaction"]],
                         ids=lambda c: c["name"])
def test_logistic_interaction_matches_glmer(case: dict) -> None:
    d = dataset(case["data"])
    res = one_stage(d, trial="trial", treatment="arm", outcome=case["outcome"],
                    model="logistic", adjust=case["adjust"], interaction=case["interaction"],
                    nagq=case["nagq"])
    _check_fixed(res, case)
    assert res.tau2 == pytest.approx(case["tau2"], rel=REL)
    assert res.loglik >= case["glmer"]["loglik"] - 1e-9
    inter = res.interaction.set_index("information")
    assert inter.loc["within-trial", "estimate"] == pytest.approx(case["estimate"][3], rel=REL)
    assert inter.loc["across-trial", "estimate"] == pytest.approx(case["estimate"][4], rel=REL)


@pytest.mark.parametrize("case", COXME["coxme"], ids=[c["name"] for c in COXME["coxme"]])
def test_cox_random_matches_coxme(case: dict) -> None:
    d = dataset(case["data"])
    kw = dict(trial="trial", treatment="arm", time=case["time"], event=case["event"],
              adjust=case["adjust"], interaction=case["interaction"], coding=case["coding"])
    if case["vfixed"] is not None:
        # the integrated likelihood at a fixed variance: no outer optimisation involved
        fit = fit_cox_random(build_design(d, model="cox", **kw), ties=case["ties"],
                             tau2=case["vfixed"])
        np.testing.assert_allclose(fit.beta, np.atleast_1d(case["estimate"]), rtol=1e-7)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), np.atleast_1d(case["se"]),
                                   rtol=1e-7)
        assert fit.ipl == pytest.approx(case["loglik"][1], rel=1e-10)
        assert fit.ppl == pytest.approx(case["loglik"][2], rel=1e-10)
        np.testing.assert_allclose(fit.blup, list(case["ranef"].values()), rtol=1e-6,
                                   atol=1e-10)
        return
    res = one_stage(d, model="cox", ties=case["ties"], **kw)
    if case["tau2"] < 1e-6:  # coxme's "boundary": it cannot reach 0
        assert res.boundary and res.tau2 == 0.0
        np.testing.assert_allclose(res.fixed["estimate"], np.atleast_1d(case["estimate"]),
                                   rtol=1e-5)
        return
    _check_fixed(res, case)
    assert res.tau2 == pytest.approx(case["tau2"], rel=REL)
    assert res.loglik == pytest.approx(case["loglik"][1], rel=1e-9)
    ranef = pd.Series(case["ranef"])
    got = res.per_trial.set_index("trial")["random_effect"].loc[ranef.index]
    np.testing.assert_allclose(got, ranef, rtol=1e-3, atol=1e-6)
    assert res.n_events == int(d[case["event"]].sum())
