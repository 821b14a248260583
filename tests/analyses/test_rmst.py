"""Restricted mean survival time against R's ``print(survfit(...), rmean = tau)``
(survival 3.5-3; fixtures by ``fixtures/survival/make_zph_rmst_fixtures.R``), and the
two-stage RMST meta-analysis against ``rma()`` of the per-trial differences (metafor 3.8-1).

Tolerances: RMST and its SE to a relative 1e-10 (closed forms; measured ~1e-15); pooled
estimates, SEs and tau^2 to 1e-8 (measured ~1e-14).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analyses.pooling import PoolResult, pool
from analyses.rmst import rmst, rmst_difference
from analyses.two_stage import two_stage
from repository.cli import cli
from repository.errors import AnalysisError, ConvergenceError
from tests.analyses.conftest import FIXTURES, gastric_path, load_fixture, read_gastric

FIX = load_fixture("survival", "zph_rmst.json")


@pytest.mark.parametrize("case", FIX["rmst"], ids=[c["name"] for c in FIX["rmst"]])
def test_rmst_matches_survfit(case: dict) -> None:
    d = pd.read_csv(FIXTURES / "survival" / f"{case['data']}.csv")
    arms = sorted(d[case["arm"]].unique())
    r = rmst_difference(d[case["time"]], d[case["event"]], (d[case["arm"]] == arms[1]),
                        tau=case["tau"])
    np.testing.assert_allclose([r.control.estimate, r.treated.estimate], case["rmean"],
                               rtol=1e-10)
    np.testing.assert_allclose([r.control.se, r.treated.se], case["se"], rtol=1e-10)
    assert r.estimate == pytest.approx(case["rmean"][1] - case["rmean"][0], rel=1e-10)
    assert r.treated.extrapolated == (case["tau"] > d[case["time"]].max())


def test_tau_before_first_time_is_refused_as_r_does() -> None:
    with pytest.raises(AnalysisError, match="before the first observed time"):
        rmst([5, 6, 7], [1, 0, 1], tau=3)
    with pytest.raises(AnalysisError, match="positive"):
        rmst([5, 6, 7], [1, 0, 1], tau=0)


@pytest.mark.parametrize("case", FIX["gastric"], ids=[c["name"] for c in FIX["gastric"]])
def test_gastric_two_stage_rmst_matches_r(case: dict) -> None:
    d = read_gastric(case["data"])
    per = pd.DataFrame(case["per_trial"])
    res = two_stage(d, trial="trialref", treatment="treated", time=case["time"],
                    event=case["event"], model="rmst", tau=case["tau"], method="DL")
    t = res.per_trial
    assert list(t["trial"]) == list(per["trial"])
    np.testing.assert_allclose(t["rmst_treated"], per["rmst_treated"], rtol=1e-10)
    np.testing.assert_allclose(t["rmst_control_se"], per["rmst_control_se"], rtol=1e-10)
    assert res.measure == "RMSTD" and not res.pooled.is_ratio
    for expected in case["rmst_pooled"]:  # the second stage, as two_stage pools
        def fit(m: str = expected["method"]) -> PoolResult:
            return pool(t["estimate"], t["se"] ** 2, method=m, measure="RMSTD")
        if "error" in expected:  # metafor's Fisher scoring does not converge: neither do we
            with pytest.raises(ConvergenceError, match="did not converge"):
                fit()
            continue
        p = res.pooled if expected["method"] == "DL" else fit()
        np.testing.assert_allclose([p.estimate, p.se, *p.ci, p.Q],
                                   [expected["estimate"], expected["se"], *expected["ci"],
                                    expected["Q"]], rtol=1e-8)
        assert p.tau2 == pytest.approx(expected["tau2"], rel=1e-6, abs=1e-8)


def test_rmst_options_are_checked() -> None:
    d = pd.read_csv(FIXTURES / "two_stage" / "sim_ipd.csv")
    base = dict(trial="trial", treatment="trt", time="time", event="event")
    with pytest.raises(AnalysisError, match="needs the horizon tau"):
        two_stage(d, model="rmst", **base)
    with pytest.raises(AnalysisError, match="tau applies to model='rmst' only"):
        two_stage(d, model="cox", tau=10, **base)
    res = two_stage(d, model="rmst", tau=20, **base)
    assert {"E1", "E2"} <= set(res.excluded["trial"])  # single arm, one participant


def test_cli_two_stage_rmst(tmp_path) -> None:
    case = next(c for c in FIX["gastric"] if c["name"] == "gastadv_os")
    gastric_path("gastadv")
    out = CliRunner().invoke(cli, [
        "analyse", "two-stage", str(gastric_path("gastadv")), "--trial", "trialref",
        "--treatment", "trt", "--treated-value", "0.5", "--time", "timeT", "--event",
        "statusT", "--model", "rmst", "--tau", str(case["tau"]), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    reml = next(p for p in case["rmst_pooled"] if p["method"] == "REML")
    for key in ("estimate", "se", "ci", "tau2", "Q", "I2", "per_trial"):
        assert key in got
    assert got["estimate"] == pytest.approx(reml["estimate"], rel=1e-8)
    assert got["measure"] == "RMSTD" and got["per_trial"][0]["rmst_treated"] > 0
    assert got["source"]["kind"] == "file" and len(got["source"]["sha256"]) == 64
