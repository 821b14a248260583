"""analyses.cox_zph against R's survival::cox.zph (survival 3.5-3), fixtures by
``fixtures/survival/make_zph_rmst_fixtures.R``.

R calls: ``cox.zph(coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung))`` and the
like (each case records its formula); for the Cox model with a random treatment effect,
``cox.zph`` of ``coxph(... + strata(trial) + offset(b[trial] * trt), init = beta,
iter.max = 0)`` with coxme's own beta and b (what ``cox.zph(coxme fit)`` computes).

Tolerances: chi-square statistics and p-values to a relative 1e-7 (in practice 1e-9 or
better; the score test is a closed form at the fitted coefficients, which agree with R's to
~1e-9); scaled Schoenfeld residuals and ``var`` to 1e-6; the plot's spline smooth to 1e-6.
GASTRIC per-trial and one-stage tests to 1e-7 (per trial 1e-6); the random-effect cases to
1e-6 (our coxme-equivalent estimates, not coxme's, are plugged in; measured ~1e-7).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analyses.cox_zph import cox_zph, spline_smooth
from analyses.one_stage import one_stage
from analyses.two_stage import two_stage
from repository.cli import cli
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES, load_fixture, read_gastric

SURV = FIXTURES / "survival"
FIX = load_fixture("survival", "zph_rmst.json")
REL = 1e-7


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(SURV / f"{name}.csv")


def _fit(case: dict):
    d = _data(case["data"])
    return cox_zph(d["time"], d["status"], d[case["covariates"]],
                   strata=d[case["strata"]] if case["strata"] else None, ties=case["ties"],
                   weights=d["w"] if case["weights"] else None, transform=case["transform"])


@pytest.mark.parametrize("case", FIX["zph"], ids=[c["name"] for c in FIX["zph"]])
def test_cox_zph_matches_r(case: dict) -> None:
    z = _fit(case)
    assert list(z.table.index) == case["terms"]
    np.testing.assert_allclose(z.table["chisq"], case["chisq"], rtol=REL)
    np.testing.assert_allclose(z.table["p"], case["p"], rtol=REL)
    assert list(z.table["df"]) == case["df"]


@pytest.mark.parametrize("case", [c for c in FIX["zph"] if "x" in c], ids=lambda c: c["name"])
def test_scaled_residuals_and_smooth_match_r(case: dict) -> None:
    z = _fit(case)
    np.testing.assert_allclose(z.x, case["x"], rtol=1e-12)
    np.testing.assert_allclose(z.time, case["time"], rtol=0)
    y = np.array(case["y"], dtype=float)
    ok = np.isfinite(z.y).all(axis=1)  # R leaves a stratum without variation unscaled
    np.testing.assert_allclose(z.y[ok], y[ok], rtol=1e-6)
    np.testing.assert_allclose(z.var, np.array(case["var"]), rtol=1e-6)
    if ok.all():
        grid, fit, half = spline_smooth(z.x, z.y[:, 0], float(z.var[0, 0]))
        np.testing.assert_allclose(grid, case["smooth"]["grid"], rtol=1e-12)
        np.testing.assert_allclose(fit, case["smooth"]["fit"], rtol=1e-6)
        np.testing.assert_allclose(half, case["smooth"]["half"], rtol=1e-6)


def test_zph_of_random_effect_cox_matches_r_on_coxme_estimates() -> None:
    case = next(c for c in FIX["zph_random"] if c["name"] == "sim_cox")
    d = _data("sim_cox")
    res = one_stage(d, trial="trial", treatment="arm", time="time", event="status",
                    model="cox")
    assert res.ph_test["chisq"] == pytest.approx(case["chisq"][0], rel=1e-6)
    assert res.ph_test["p"] == pytest.approx(case["p"][0], rel=1e-6)


@pytest.mark.parametrize("case", FIX["gastric"], ids=[c["name"] for c in FIX["gastric"]])
def test_gastric_ph_tests_match_r(case: dict) -> None:
    """GASTRIC adjuvant DFS/OS, advanced PFS/OS: one-stage (stratified) and per trial."""
    d = read_gastric(case["data"])
    one = one_stage(d, trial="trialref", treatment="treated", time=case["time"],
                    event=case["event"], model="cox", random_treatment=False)
    np.testing.assert_allclose([one.ph_test["chisq"], one.ph_test["p"]],
                               [case["one_stage"]["chisq"][0], case["one_stage"]["p"][0]],
                               rtol=REL)
    two = two_stage(d, trial="trialref", treatment="treated", time=case["time"],
                    event=case["event"], model="cox")
    per = pd.DataFrame(case["per_trial"])
    assert list(two.per_trial["trial"]) == list(per["trial"])
    np.testing.assert_allclose(two.per_trial["ph_chisq"], per["chisq"], rtol=1e-6)
    np.testing.assert_allclose(two.per_trial["ph_p"], per["p"], rtol=1e-6)


@pytest.mark.parametrize("case", [c for c in FIX["zph_random"] if c["name"] != "sim_cox"],
                         ids=lambda c: c["name"])
def test_gastric_random_effect_ph_test(case: dict) -> None:
    coxme_case = next(c for c in load_fixture("survival", "one_stage_coxme.json")["coxme"]
                      if c["name"] == case["name"])
    d = read_gastric(coxme_case["data"])
    coding = coxme_case["coding"]
    res = one_stage(d, trial="trialref", treatment="treated", time=coxme_case["time"],
                    event=coxme_case["event"], model="cox", coding=coding)
    assert res.ph_test["chisq"] == pytest.approx(case["chisq"][0], rel=1e-6)


def test_cli_one_stage_json_has_ph_test(tmp_path) -> None:
    d = _data("sim_cox")
    path = tmp_path / "sim.csv"
    d.to_csv(path, index=False)
    out = CliRunner().invoke(cli, ["analyse", "one-stage", str(path), "--trial", "trial",
                                   "--treatment", "arm", "--time", "time", "--event", "status",
                                   "--model", "cox", "--json", "--ph-plot",
                                   str(tmp_path / "zph.svg")])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    case = next(c for c in FIX["zph_random"] if c["name"] == "sim_cox")
    assert set(got["ph_test"]) == {"chisq", "df", "p"} and got["ph_test"]["df"] == 1
    assert got["ph_test"]["chisq"] == pytest.approx(case["chisq"][0], rel=1e-4)
    assert "<text" in (tmp_path / "zph.svg").read_text()  # real, editable text


def test_plot_and_errors(tmp_path) -> None:
    d = _data("veteran")
    z = cox_zph(d["time"], d["status"], d[["trt", "karno"]])
    fig = z.plot("karno", path=tmp_path / "zph.png")
    assert "karno" in fig.axes[0].get_title(loc="left") and (tmp_path / "zph.png").stat().st_size > 5000
    assert math.isclose(z.statistic, float(z.table.loc["GLOBAL", "chisq"]))
    with pytest.raises(AnalysisError, match="unknown transform"):
        cox_zph(d["time"], d["status"], d[["trt"]], transform="sqrt")  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="coef with offset"):
        cox_zph(d["time"], d["status"], d[["trt"]], offset=np.zeros(len(d)))
