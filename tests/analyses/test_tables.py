"""Tables for papers: baseline characteristics and results, written as CSV, Excel, Word,
LaTeX and HTML and read back; the CLI's km and baseline commands; provenance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analyses.formatting import fmt_p, fmt_tau2
from analyses.provenance import file_source
from analyses.tables import baseline_table, results_table
from analyses.two_stage import two_stage
from repository.cli import cli
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES

SIM_CSV = FIXTURES / "two_stage" / "sim_ipd.csv"
SIM = pd.read_csv(SIM_CSV)


def test_p_and_tau2_formats() -> None:
    assert [fmt_p(p) for p in (0.0004, 0.0123, 0.34, 1.0)] == [
        "p < 0.001", "p = 0.012", "p = 0.34", "p = 1"]
    assert [fmt_tau2(t) for t in (0.0, 6.234e-07, 0.01234, 250.0)] == [
        "0", "< 0.0001", "0.0123", "250"]


def test_baseline_table_counts() -> None:
    tab = baseline_table(SIM, treatment="trt", variables=["age", "sex"],
                         labels=("Treated", "Control"))
    f = tab.frame
    assert list(f.columns) == ["Characteristic", "Treated", "Control", "Total"]
    assert f.iloc[0].tolist() == ["Participants, n", str((SIM.trt == 1).sum()),
                                  str((SIM.trt == 0).sum()), str(len(SIM))]
    age = f[f["Characteristic"] == "age, mean (SD)"].iloc[0]
    t = SIM.loc[SIM.trt == 1, "age"]
    assert age["Treated"] == f"{t.mean():.1f} ({t.std():.1f})"
    women = f[f["Characteristic"] == "  0"].iloc[0]
    n0 = int(((SIM.trt == 0) & (SIM.sex == 0)).sum())
    assert women["Control"] == f"{n0} ({100 * n0 / (SIM.trt == 0).sum():.1f})"
    by = baseline_table(SIM, treatment="trt", variables=["age"], trial="trial", by_trial=True)
    assert len(by.sections) == SIM["trial"].nunique()
    with pytest.raises(AnalysisError, match="not in the data"):
        baseline_table(SIM, treatment="trt", variables=["shoe_size"])


def test_results_table_in_every_format(tmp_path) -> None:
    res = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                    model="cox")
    tab = results_table(res, labels=("New", "Old"))
    first = tab.frame.iloc[0]
    t = res.per_trial.iloc[0]
    est, lo, hi = np.exp([t["estimate"], t["ci_low"], t["ci_high"]])
    assert first["HR (95% CI)"] == f"{est:.2f} ({lo:.2f} to {hi:.2f})"
    assert first["New, events/N"] == f"{t['events_treated']}/{t['n_treated']}"
    assert tab.frame.iloc[-1]["Trial"].startswith("Pooled: Random effects (REML)")
    assert any(n.startswith("Heterogeneity: I² = ") for n in tab.notes)
    for suffix in (".csv", ".xlsx", ".docx", ".tex", ".html"):
        tab.save(tmp_path / f"t{suffix}")
    assert pd.read_csv(tmp_path / "t.csv").shape == tab.frame.shape
    xl = pd.read_excel(tmp_path / "t.xlsx", header=None)
    assert xl.iloc[0, 0] == tab.title and xl.iloc[2, 3] == "HR (95% CI)"
    import docx

    doc = docx.Document(str(tmp_path / "t.docx"))
    cells = [c.text for c in doc.tables[0].rows[1].cells]
    assert cells == [str(v) for v in first.tolist()]
    tex = (tmp_path / "t.tex").read_text()
    assert "\\toprule" in tex and "HR (95\\% CI)" in tex
    assert "<table class='journal'>" in (tmp_path / "t.html").read_text()
    with pytest.raises(AnalysisError, match="cannot write a table"):
        tab.save(tmp_path / "t.odt")


def test_cli_baseline_and_km(tmp_path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["analyse", "baseline", str(SIM_CSV), "--treatment", "trt",
                              "--variable", "age", "--variable", "sex", "-o",
                              str(tmp_path / "t1.docx"), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert got["rows"][0]["Total"] == str(len(SIM))
    assert got["source"]["sha256"] == file_source(SIM_CSV).sha256
    assert (tmp_path / "t1.docx").stat().st_size > 1000
    out = runner.invoke(cli, ["analyse", "km", str(SIM_CSV), "--time", "time", "--event",
                              "event", "--treatment", "trt", "--labels", "Control", "New",
                              "--annotate", "hr", "-o", str(tmp_path / "km.svg")])
    assert out.exit_code == 0, out.output
    svg = (tmp_path / "km.svg").read_text()
    assert "Number at risk" in svg and "sim_ipd.csv" in svg and "HR " in svg
    out = runner.invoke(cli, ["analyse", "km", str(SIM_CSV), "--time", "time", "--event",
                              "event", "--pooled", "stratified", "-o", str(tmp_path / "x.png")])
    assert out.exit_code == 2 and "need --trial and --treatment" in out.output
