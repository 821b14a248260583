"""The ``ipdrepo analyse`` commands, through the real CLI group and the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analyses.pooling import pool
from repository.cli import cli
from tests.analyses.conftest import FIXTURES, load_fixture

FIX = load_fixture("pooling", "pooling.json")
SIM_CSV = FIXTURES / "two_stage" / "sim_ipd.csv"


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


@pytest.fixture()
def bcg_csv(tmp_path):
    t = FIX["tables"]["bcg"]
    d = FIX["datasets"]["bcg_RR"]
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"study": t["study"], "ai": t["ai"], "n1": t["n1i"], "ci": t["ci"],
                  "n2": t["n2i"], "yi": d["yi"], "vi": d["vi"],
                  "se": np.sqrt(d["vi"])}).to_csv(path, index=False)
    return path


def test_pool_yi_vi_json_matches_metafor(bcg_csv):
    exp = next(r for r in FIX["rma"] if r["dataset"] == "bcg_RR" and r["method"] == "REML"
               and r["test"] == "knha" and r["level"] == 95)
    out = run("analyse", "pool", str(bcg_csv), "--yi", "yi", "--vi", "vi", "--method", "REML",
              "--test", "knha", "--measure", "RR", "--label", "study", "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    np.testing.assert_allclose(d["estimate"], exp["estimate"], rtol=1e-4)
    np.testing.assert_allclose(d["ci"], exp["ci"], rtol=1e-4)
    np.testing.assert_allclose(d["pi"], exp["pi"], rtol=1e-4)
    np.testing.assert_allclose(d["tau2_ci"], exp["tau2_ci"], rtol=1e-4)
    for key in ("se", "k", "tau2", "tau", "I2", "H2", "Q", "Q_p", "exp_estimate", "exp_ci",
                "exp_pi", "per_trial"):
        assert key in d, key
    assert d["per_trial"][0]["study"] == "Aronson"


def test_pool_se_column_equals_vi_column(bcg_csv):
    a = json.loads(run("analyse", "pool", str(bcg_csv), "--yi", "yi", "--se", "se",
                       "--method", "DL", "--json").output)
    b = json.loads(run("analyse", "pool", str(bcg_csv), "--yi", "yi", "--vi", "vi",
                       "--method", "DL", "--json").output)
    assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12)


def test_pool_counts_mh(bcg_csv):
    exp = next(r for r in FIX["mh"] if r["table"] == "bcg" and r["measure"] == "RR")
    out = run("analyse", "pool", str(bcg_csv), "--measure", "RR", "--events-treated", "ai",
              "--n-treated", "n1", "--events-control", "ci", "--n-control", "n2",
              "--method", "MH", "--json")
    d = json.loads(out.output)
    np.testing.assert_allclose(d["estimate"], exp["estimate"], rtol=1e-6)
    assert d["exp_estimate"] == pytest.approx(np.exp(exp["estimate"]), rel=1e-6)
    assert d["tau2"] is None and d["pi"] is None  # not defined for MH


def test_pool_text_output_and_plots(bcg_csv, tmp_path):
    out = run("analyse", "pool", str(bcg_csv), "--yi", "yi", "--vi", "vi", "--measure", "RR",
              "--forest", str(tmp_path / "f.svg"), "--report", str(tmp_path / "r.html"))
    assert out.exit_code == 0
    assert "exp(estimate)" in out.output and "prediction interval" in out.output
    assert (tmp_path / "f.svg").exists() and (tmp_path / "r.html").exists()


def test_pool_usage_errors(bcg_csv):
    out = CliRunner().invoke(cli, ["analyse", "pool", str(bcg_csv), "--yi", "yi"])
    assert out.exit_code == 2 and "--vi or --se" in out.output
    out = CliRunner().invoke(cli, ["analyse", "pool", str(bcg_csv), "--yi", "nope", "--vi", "vi"])
    assert out.exit_code == 4 and "not in" in out.output


def test_pool_random_effects_with_one_study_is_a_clean_error(tmp_path):
    p = tmp_path / "one.csv"
    pd.DataFrame({"yi": [0.2], "vi": [0.01]}).to_csv(p, index=False)
    out = CliRunner().invoke(cli, ["analyse", "pool", str(p), "--yi", "yi", "--vi", "vi"])
    assert out.exit_code == 4
    assert "at least two trials" in out.output


def test_two_stage_json_and_outputs(tmp_path):
    out = run("analyse", "two-stage", str(SIM_CSV), "--trial", "trial", "--treatment", "trt",
              "--outcome", "yb", "--model", "logistic", "--subgroup", "sex",
              "--method", "REML", "--json", "--forest", str(tmp_path / "f.png"),
              "--report", str(tmp_path / "r.html"))
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    expected = load_fixture("two_stage", "two_stage_sim.json")["results"]["logistic"]
    reml = next(r for r in expected["pooled"] if r["method"] == "REML" and r["test"] == "z")
    np.testing.assert_allclose(d["estimate"], reml["estimate"], rtol=1e-4)
    assert {r["trial"] for r in d["excluded"]} == {"E1", "E2", "E3"}
    assert set(d["subgroups"]) == {"0", "1"}
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_two_stage_interaction_and_text(tmp_path):
    out = run("analyse", "two-stage", str(SIM_CSV), "--trial", "trial", "--treatment", "trt",
              "--outcome", "y1", "--model", "linear", "--adjust", "y0", "--interaction", "age")
    assert out.exit_code == 0, out.output
    assert "Interaction treatment x age" in out.output
    assert "Excluded trials:" in out.output and "single arm" in out.output


def test_two_stage_help_has_example():
    out = run("analyse", "two-stage", "--help")
    assert "Examples:" in out.output and "--treated-value" in out.output


def test_every_command_has_json_and_example():
    for cmd in ("pool", "two-stage", "one-stage"):
        out = run("analyse", cmd, "--help")
        assert "--json" in out.output and "Examples:" in out.output, cmd


def test_entry_point_subprocess(bcg_csv):
    exe = str(Path(sys.executable).parent / "ipdrepo")  # installed by dev.py setup
    proc = subprocess.run([exe, "analyse", "pool", str(bcg_csv), "--yi", "yi", "--vi", "vi",
                           "--method", "DL", "--json"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    ref = pool(FIX["datasets"]["bcg_RR"]["yi"], FIX["datasets"]["bcg_RR"]["vi"], method="DL")
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    bad_csv = bcg_csv.with_name("bad.csv")
    frame = pd.read_csv(bcg_csv)
    frame.loc[2, "vi"] = 0.0
    frame.to_csv(bad_csv, index=False)
    bad = subprocess.run([exe, "analyse", "pool", str(bad_csv), "--yi", "yi", "--vi", "vi",
                          "--label", "study", "--method", "DL"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 4
    assert bad.stderr.startswith("error:") and "non-positive sampling variance" in bad.stderr
    assert frame.loc[2, "study"] in bad.stderr  # names the trial


def test_two_stage_with_aggregate_file(tmp_path):
    ad = tmp_path / "ad.csv"
    exp = load_fixture("two_stage", "two_stage_sim.json")["results"]["logistic_plus_ad"]
    pd.DataFrame(exp["aggregate"]).to_csv(ad, index=False)
    out = run("analyse", "two-stage", str(SIM_CSV), "--trial", "trial", "--treatment", "trt",
              "--outcome", "yb", "--model", "logistic", "--aggregate", str(ad),
              "--method", "DL", "--json")
    d = json.loads(out.output)
    dl = next(r for r in exp["pooled"] if r["method"] == "DL" and r["test"] == "z")
    np.testing.assert_allclose(d["estimate"], dl["estimate"], rtol=1e-4)
    assert {r["trial"]: r["source"] for r in d["per_trial"]}["P2"] == "AD"


@pytest.mark.parametrize("args,kwargs", [
    (["--outcome", "y1", "--model", "linear", "--random-treatment"],
     dict(outcome="y1", model="linear", random_treatment=True)),
    (["--outcome", "yb", "--model", "logistic", "--adjust", "age", "--common-treatment"],
     dict(outcome="yb", model="logistic", random_treatment=False, adjust=("age",))),
    (["--time", "time", "--event", "event", "--model", "cox", "--interaction", "age",
      "--common-treatment"],
     dict(time="time", event="event", model="cox", random_treatment=False,
          interaction="age")),
    (["--time", "time", "--event", "event", "--model", "cox"],  # the default: as Python's
     dict(time="time", event="event", model="cox")),
])
def test_one_stage_cli_delegates_to_library(args, kwargs, tmp_path):
    from analyses.one_stage import one_stage

    sim = pd.read_csv(SIM_CSV)
    sim = sim[sim.trial.str.startswith("S")]  # the edge trials E1-E3 are not estimable
    path = tmp_path / "sim.csv"
    sim.to_csv(path, index=False)
    out = run("analyse", "one-stage", str(path), "--trial", "trial", "--treatment", "trt",
              *args, "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    ref = one_stage(sim, trial="trial", treatment="trt", **kwargs)
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-10)
    assert d["se"] == pytest.approx(ref.se, rel=1e-10)
    assert d["k"] == ref.k == 8


def test_one_stage_cli_errors_cleanly():
    out = CliRunner().invoke(cli, ["analyse", "one-stage", str(SIM_CSV), "--trial", "trial",
                                   "--treatment", "trt", "--model", "linear"])
    assert out.exit_code == 4 and out.output.startswith("error:")


def test_two_stage_figure_options_reach_the_plot(tmp_path):
    out = run("analyse", "two-stage", str(SIM_CSV), "--trial", "trial", "--treatment", "trt",
              "--time", "time", "--event", "event", "--model", "cox",
              "--title", "Overall survival", "--favours", "Favours new", "Favours old",
              "--order", "weight", "--at", "0.25,0.5,1,2,4", "--common",
              "--arm-labels", "New", "Old", "--forest", str(tmp_path / "f.svg"),
              "--table", str(tmp_path / "t.csv"), "--json")
    assert out.exit_code == 0, out.output
    svg = (tmp_path / "f.svg").read_text()
    for text in ("Overall survival", "Favours new", "Favours old", "Common effect model",
                 "New", "HR [95% CI]", "sim_ipd.csv", "SHA-256"):
        assert text in svg, text
    d = json.loads(out.output)
    assert d["source"] == {"kind": "file", "name": "sim_ipd.csv", "sha256": d["source"]["sha256"],
                           "topic": None, "version": None}
    assert {"ph_chisq", "ph_p"} <= set(d["per_trial"][0])
    assert list(pd.read_csv(tmp_path / "t.csv").columns)[1] == "New, events/N"
    bad = CliRunner().invoke(cli, ["analyse", "two-stage", str(SIM_CSV), "--trial", "trial",
                                   "--treatment", "trt", "--time", "time", "--event", "event",
                                   "--model", "cox", "--at", "a,b"])
    assert bad.exit_code == 2 and "--at takes numbers" in bad.output
