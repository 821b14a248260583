"""Surrogate endpoint evaluation against the reference written in base R + survival
(``fixtures/surrogacy/make_surrogacy_fixtures.R``; surrosurv is not in Debian, so that
script writes out the computation the module docstring of analyses/surrogacy.py describes:
per-trial coxph, ``lm(weights)``, ``predict(interval = "prediction")`` + ``uniroot`` for the
STE; Kaplan-Meier margins, ``optimize`` and ``optimHess`` on the Clayton likelihood).

Tolerances: trial level (closed forms on our Cox estimates, which agree with R's to ~1e-9)
relative 1e-6, measured at most 8e-8 (the advanced intercept, -0.015); Kendall's tau and theta relative 1e-6 (both optimisers stop
at ~1e-10 in log theta; measured ~1e-8); the SE of log theta relative 1e-5 (numerical second
derivatives on both sides; measured ~3e-7).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analyses.surrogacy import surrogacy, trial_level
from repository.cli import cli
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES, gastric_path, load_fixture, read_gastric

FIX = load_fixture("surrogacy", "surrogacy.json")
SIM = FIXTURES / "surrogacy" / "sim_surrogacy.csv"
SIM_KW = dict(trial="trial", treatment="arm", surrogate_time="stime", surrogate_event="sevent",
              time="ttime", event="tevent")
GASTRIC_KW = dict(trial="trialref", treatment="treated", surrogate_time="timeS",
                  surrogate_event="statusS", time="timeT", event="statusT")
TL_KEYS = ("r2", "slope", "slope_se", "intercept", "intercept_se", "ste")


def _case(name: str) -> dict:
    return next(c for c in FIX["cases"] if c["name"] == name)


def check_trial_level(res, expected: dict) -> None:
    tl = res.trial_level
    for key in TL_KEYS:
        assert tl[key] == pytest.approx(expected[key], rel=1e-6), key
    np.testing.assert_allclose(tl["r2_ci"], expected["r2_ci"], rtol=1e-6)
    assert tl["k"] == expected["k"]
    np.testing.assert_allclose(res.per_trial["log_hr_true"], expected["log_hr_true"], rtol=1e-7,
                               atol=1e-8)


def check_individual(res, expected: dict) -> None:
    il = res.individual_level
    for key in ("kendall_tau", "theta"):
        assert il[key] == pytest.approx(expected[key], rel=1e-6), key
    np.testing.assert_allclose(il["ci"], expected["ci"], rtol=1e-6)
    assert il["log_theta_se"] == pytest.approx(expected["log_theta_se"], rel=1e-5)


@pytest.mark.parametrize("weights", ["n", "events", "none"])
def test_simulated_trial_level(weights: str) -> None:
    expected = next(t for t in _case("sim")["trial_level"] if t["weights"] == weights)
    res = surrogacy(pd.read_csv(SIM), weights=weights, individual=False, **SIM_KW)
    check_trial_level(res, expected)


def test_simulated_individual_level() -> None:
    res = surrogacy(pd.read_csv(SIM), **SIM_KW)
    check_individual(res, _case("sim")["individual_level"])
    assert 0 < res.individual_level["kendall_tau"] < 1


@pytest.mark.parametrize("name", ["gastadj", "gastadv"])
def test_gastric_trial_level(name: str) -> None:
    """Adjuvant (DFS for OS, 14 trials) and advanced (PFS for OS, 20 trials)."""
    res = surrogacy(read_gastric(name), individual=False, **GASTRIC_KW)
    check_trial_level(res, next(t for t in _case(name)["trial_level"] if t["weights"] == "n"))


@pytest.mark.slow  # gastadj's tau is also checked by the CLI test below
@pytest.mark.parametrize("name", ["gastadj", "gastadv"])
def test_gastric_individual_level(name: str) -> None:
    res = surrogacy(read_gastric(name), **GASTRIC_KW)
    check_individual(res, _case(name)["individual_level"])


def test_cli_surrogacy_json_and_plot(tmp_path) -> None:
    out = CliRunner().invoke(cli, [
        "analyse", "surrogacy", str(gastric_path("gastadj")), "--trial", "trialref",
        "--treatment", "trt", "--treated-value", "0.5", "--surrogate-time", "timeS",
        "--surrogate-event", "statusS", "--time", "timeT", "--event", "statusT",
        "--plot", str(tmp_path / "tl.png"), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    tl, il = got["trial_level"], got["individual_level"]
    assert set(tl) >= {"r2", "r2_ci", "slope", "intercept", "k", "ste"}
    assert set(il) >= {"kendall_tau", "ci"}
    expected = _case("gastadj")
    assert tl["r2"] == pytest.approx(expected["trial_level"][0]["r2"], rel=1e-7)
    assert il["kendall_tau"] == pytest.approx(expected["individual_level"]["kendall_tau"],
                                              rel=1e-6)
    assert (tmp_path / "tl.png").stat().st_size > 10000


def test_threshold_effect_absent_and_errors() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.2, 8)
    tl = trial_level(x, rng.normal(0, 0.3, 8), np.ones(8))  # no association: no STE
    assert tl["ste"] is None and tl["r2"] < 0.5
    with pytest.raises(AnalysisError, match="at least four trials"):
        trial_level(x[:3], x[:3], np.ones(3))
    with pytest.raises(AnalysisError, match="weights must be"):
        surrogacy(pd.read_csv(SIM), weights="size", **SIM_KW)
