"""Forest plots and HTML reports: files are written, content reflects the result."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analyses.forest import forest_plot
from analyses.pooling import pool
from analyses.report import analysis_report, describe_methods, write_report
from analyses.two_stage import two_stage
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES

SIM = pd.read_csv(FIXTURES / "two_stage" / "sim_ipd.csv")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_forest_two_stage_png_and_svg(tmp_path):
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic")
    png, svg = tmp_path / "f.png", tmp_path / "f.svg"
    fig = forest_plot(res, path=png, title="logistic")
    forest_plot(res, path=svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()
    texts = _texts(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"  # odds ratios on a log axis
    for trial in res.per_trial["trial"]:
        assert trial in texts
    # weights and N per trial are printed
    w = res.per_trial["weight"].iloc[0]
    assert f"{w:.1f}%" in texts
    assert str(int(res.per_trial["n"].iloc[0])) in texts
    assert "Prediction interval" in texts
    assert any(t.startswith("Random effects (REML)") for t in texts)


def test_forest_subgroups_have_diamonds_and_test(tmp_path):
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                    subgroup="sex")
    fig = forest_plot(res)
    texts = _texts(fig)
    assert "sex = 0" in texts and "sex = 1" in texts
    assert sum(t.startswith("Subtotal") for t in texts) == 2
    assert any(t.startswith("Test for subgroup differences") for t in texts)
    polygons = [p for p in fig.axes[0].patches if p.__class__.__name__ == "Polygon"]
    assert len(polygons) == 3  # two subgroup diamonds and the overall one


def test_forest_many_trials_grows_and_linear_scale():
    rng = np.random.default_rng(5)
    k = 60
    vi = rng.uniform(0.01, 0.2, k)
    res = pool(rng.normal(0, np.sqrt(vi + 0.02)), vi, measure="MD",
               labels=[f"T{i}" for i in range(k)])
    fig = forest_plot(res)
    assert fig.get_size_inches()[1] > 15  # fixed row height: 60 trials give a tall figure
    assert fig.axes[0].get_xscale() == "linear"


def test_forest_rejects_unknown_format(tmp_path):
    res = pool([0.1, 0.2], [0.01, 0.02], method="FE")
    with pytest.raises(AnalysisError, match="png or .svg"):
        forest_plot(res, path=tmp_path / "x.jpg")


def test_report_is_self_contained(tmp_path):
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="y1", model="linear",
                    adjust=["y0"], interaction="age", subgroup="sex")
    path = write_report(res, tmp_path / "r.html", title="ANCOVA")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") >= 2  # main forest plot and the interaction plot
    assert not re.search(r"(src|href)=['\"]https?://", text)  # no external resources
    for section in ("Trials", "Excluded trials", "Methods", "Software", "Heterogeneity",
                    "Interaction"):
        assert section in text
    assert "single arm" in text  # the excluded trial E1 and its reason
    assert "numpy" in text and "scipy" in text


def test_describe_methods_names_the_choices():
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                    method="PM", test="knha")
    text = " ".join(describe_methods(res))
    assert "Paule-Mandel" in text and "Knapp-Hartung" in text and "logistic" in text
    assert "prediction interval" in analysis_report(res).lower()
