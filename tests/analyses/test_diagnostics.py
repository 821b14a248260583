"""Small-study and influence diagnostics against metafor 3.8-1 (fixtures by
``fixtures/diagnostics/make_diagnostics_fixtures.R``): ``regtest(fit, model = "lm")``
(Egger), ``regtest(fit)``, ``leave1out``, ``trimfill``, ``influence`` and ``baujat`` of
``rma(yi, vi, method, test)`` fits of dat.bcg, dat.hackshaw1998 and dat.raudenbush1985
(FE, DL, REML, PM; z and knha), ``rma.mh`` (leave1out and baujat), the meta-regression on
``sei`` for every tau^2 estimator and test, and the GASTRIC per-trial Cox estimates (adjuvant
DFS/OS, advanced PFS/OS) pooled by REML.

Tolerances: relative 1e-8 on every statistic (closed forms and metafor's own iterations;
measured ~1e-12); GASTRIC cases, whose per-trial estimates come from our Cox fits, 1e-6
relative with 1e-6 absolute (tau^2 near its boundary 0 is ~1e-7 there, so leave-one-out
tau^2 and I^2 differ by up to ~2e-8 absolute; everything else ~1e-9 relative). Trim-and-fill k0, side and the influential flags must be equal.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from analyses.binary import pool_2x2
from analyses.diagnostics import diagnose
from analyses.metareg import meta_regression
from analyses.pooling import pool
from analyses.two_stage import two_stage
from repository.cli import cli
from repository.errors import AnalysisError
from tests.analyses.conftest import gastric_path, load_fixture, read_gastric

FIX = load_fixture("diagnostics", "diagnostics.json")
INF = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight",
       "dfbetas")


def check(dg, case: dict, rel: float, atol: float = 1e-12) -> None:
    eg, rt = case["egger"], case["regtest"]
    np.testing.assert_allclose([dg.egger["statistic"], dg.egger["p"], dg.egger["limit_estimate"],
                                *dg.egger["limit_ci"]],
                               [eg["statistic"], eg["p"], eg["limit_estimate"], *eg["limit_ci"]],
                               rtol=rel)
    assert dg.egger["df"] == eg["df"]
    np.testing.assert_allclose([dg.regtest["statistic"], dg.regtest["p"]],
                               [rt["statistic"], rt["p"]], rtol=rel)
    assert dg.regtest["df"] == rt["df"]
    keys = ["estimate", "se", "ci_low", "ci_high", "p", "I2", "Q"]
    keys += ["tau2"] if case["method"] != "FE" else []
    for k in keys:
        np.testing.assert_allclose(dg.leave1out[k].astype(float), case["leave1out"][k],
                                   rtol=rel, atol=atol, err_msg=k)
    tf, rtf = dg.trimfill, case["trimfill"]
    assert (tf["k0"], tf["side"]) == (rtf["k0"], rtf["side"])
    np.testing.assert_allclose([tf["estimate"], tf["se"], tf["p"], tf["se_k0"]],
                               [rtf["estimate"], rtf["se"], rtf["p"], rtf["se_k0"]], rtol=rel)
    np.testing.assert_allclose([f["yi"] for f in tf["filled"]], rtf["filled_yi"], rtol=rel)
    for k in INF:
        np.testing.assert_allclose(dg.influence[k], case["influence"][k], rtol=rel, atol=atol,
                                   err_msg=k)
    assert list(dg.influence["influential"]) == case["influence"]["influential"]
    np.testing.assert_allclose(dg.baujat["x"], case["baujat"]["x"], rtol=rel, atol=atol)
    np.testing.assert_allclose(dg.baujat["y"], case["baujat"]["y"], rtol=rel, atol=atol)


@pytest.mark.parametrize("case", FIX["cases"], ids=[c["name"] for c in FIX["cases"]])
def test_diagnostics_match_metafor(case: dict) -> None:
    res = pool(case["yi"], case["vi"], method=case["method"], test=case["test"],
               labels=case["trial"])
    check(diagnose(res), case, 1e-8)


def test_mantel_haenszel_refits_as_metafor() -> None:
    m = FIX["mh"]
    res = pool_2x2(m["ai"], m["n1i"], m["ci"], m["n2i"], measure="RR", method="MH",
                   labels=m["trial"])
    dg = diagnose(res)
    np.testing.assert_allclose(dg.leave1out["estimate"], m["leave1out"]["estimate"], rtol=1e-8)
    np.testing.assert_allclose(dg.leave1out["Q"], m["leave1out"]["Q"], rtol=1e-8)
    np.testing.assert_allclose(dg.baujat["y"], m["baujat"]["y"], rtol=1e-8)
    assert any("MH result" in n for n in dg.notes)


@pytest.mark.parametrize("data", ["bcg_RR", "hackshaw1998", "raudenbush1985"])
def test_meta_regression_matches_rma_with_moderator(data: str) -> None:
    """Every tau^2 estimator (FE DL HE HS SJ ML REML EB PM) with every test (z t knha adhoc)."""
    s = next(c for c in FIX["cases"] if c["name"].startswith(data))
    X = np.column_stack([np.ones(len(s["yi"])), np.sqrt(s["vi"])])
    cases = [c for c in FIX["metareg"] if c["data"] == data]
    assert len(cases) == 36
    for case in cases:
        f = meta_regression(s["yi"], s["vi"], X, method=case["method"], test=case["test"])
        np.testing.assert_allclose([*f.beta, *f.se, *f.statistic, *f.p, f.QE],
                                   [*case["beta"], *case["se"], *case["statistic"],
                                    *case["p"], case["QE"]], rtol=1e-8,
                                   err_msg=f"{case['method']} {case['test']}")
        assert f.tau2 == pytest.approx(case["tau2"], rel=1e-8, abs=1e-12), case["method"]


@pytest.mark.parametrize("case", FIX["gastric"], ids=[c["name"] for c in FIX["gastric"]])
def test_gastric_diagnostics_from_ipd(case: dict) -> None:
    """From the IPD: our per-trial Cox fits, REML pooling, then every diagnostic."""
    d = read_gastric(case["data"])
    res = two_stage(d, trial="trialref", treatment="treated", time=case["time"],
                    event=case["event"], model="cox", method="REML", ph_test=False)
    assert list(res.per_trial["trial"]) == case["trial"]
    check(diagnose(res), case, 1e-6, atol=1e-6)


def test_cli_diagnostics_keys_and_plots(tmp_path) -> None:
    case = next(c for c in FIX["gastric"] if c["name"] == "gastadj_os")
    out = CliRunner().invoke(cli, [
        "analyse", "two-stage", str(gastric_path("gastadj")), "--trial", "trialref",
        "--treatment", "trt", "--treated-value", "0.5", "--time", "timeT", "--event",
        "statusT", "--model", "cox", "--diagnostics", "--json",
        "--funnel", str(tmp_path / "funnel.svg"), "--baujat", str(tmp_path / "baujat.pdf")])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert set(got["egger"]) >= {"statistic", "df", "p"}
    assert set(got["regtest"]) >= {"statistic", "p"}
    assert set(got["trimfill"]) >= {"k0", "side", "estimate", "se"}
    assert set(got["leave1out"][0]) >= {"trial", "estimate", "se", "tau2", "I2"}
    assert set(got["influence"][0]) >= {"cook_d", "dffits", "hat"}
    assert got["egger"]["statistic"] == pytest.approx(case["egger"]["statistic"], rel=1e-6)
    assert got["trimfill"]["k0"] == case["trimfill"]["k0"]
    svg = (tmp_path / "funnel.svg").read_text()
    assert "<text" in svg and "gastadj.csv" in svg  # editable text, and the data's provenance
    assert (tmp_path / "baujat.pdf").read_bytes()[:4] == b"%PDF"


def test_too_few_trials() -> None:
    dg = diagnose(pool([0.1, 0.3], [0.01, 0.02], method="FE"))
    assert dg.egger is None and dg.regtest is None
    assert any("at least three" in n for n in dg.notes)
    with pytest.raises(AnalysisError, match="at least two"):
        diagnose(pool([0.1], [0.01], method="FE"))
    with pytest.raises(AnalysisError, match="cannot diagnose"):
        diagnose("not a result")
