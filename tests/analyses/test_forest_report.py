"""Forest plots (layout and drawing) and HTML reports: what each row and column says, the
axis, the files (PNG, SVG with real text, PDF), the provenance line, journal-style tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analyses.forest import forest_plot
from analyses.forest_layout import ForestOptions, forest_layout, linear_ticks, log_ticks
from analyses.pooling import pool
from analyses.report import analysis_report, describe_methods, write_report
from analyses.two_stage import two_stage
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES

SIM = pd.read_csv(FIXTURES / "two_stage" / "sim_ipd.csv")


@pytest.fixture(scope="module")
def logistic():
    return two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic")


def texts(layout) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in layout.rows]


def test_rows_have_per_arm_counts_estimate_and_weight(logistic) -> None:
    lay = forest_layout(logistic)
    t = logistic.per_trial.iloc[0]
    first = texts(lay)[0]
    assert first[0] == t["trial"]
    assert first[1] == f"{t['events_treated']}/{t['n_treated']}"
    assert first[2] == f"{t['events_control']}/{t['n_control']}"
    est, lo, hi = np.exp([t["estimate"], t["ci_low"], t["ci_high"]])
    assert first[3] == f"{est:.2f} [{lo:.2f}, {hi:.2f}]"
    assert first[4] == f"{t['weight']:.1f}%"
    heads = [c.text for line in lay.header for c in line]
    assert "OR [95% CI]" in heads and heads.count("Events/N") == 2 and "Weight" in heads
    diamond = next(r for r in texts(lay) if r and r[0].startswith("Random effects model (REML)"))
    total = logistic.per_trial
    assert diamond[1] == f"{total['events_treated'].sum()}/{total['n_treated'].sum()}"
    joined = " | ".join(" ".join(r) for r in texts(lay))
    assert "Heterogeneity: I² = " in joined and "Test for overall effect: z = " in joined
    assert not re.search(r"\de-\d", joined)  # no 6.234e-07


def test_peto_logrank_has_o_minus_e_and_v() -> None:
    res = two_stage(SIM, trial="trial", treatment="trt", time="time", event="event",
                    model="logrank")
    lay = forest_layout(res)
    heads = [c.text for line in lay.header for c in line]
    assert "O\u2212E" in heads and "V" in heads and "HR [95% CI]" in heads
    oe = res.per_trial["o_minus_e"].iloc[0]
    assert f"{oe:.2f}".replace("-", "\u2212") in texts(lay)[0]
    last = next(r for r in texts(lay) if r and r[0].startswith("Peto method"))
    assert f"{res.per_trial['v'].sum():.2f}" in last


def test_axis_ticks_default_and_at() -> None:
    assert log_ticks(0.3, 1.5) == (0.25, 0.5, 1.0, 2.0)
    assert log_ticks(0.8, 1.2) == (0.5, 1.0, 2.0)
    assert linear_ticks(-3.2, 1.1) == (-4.0, -2.0, 0.0, 2.0)
    res = pool([0.1, -0.4, -0.2], [0.04, 0.05, 0.02], measure="HR")
    lay = forest_layout(res, ForestOptions(at=(0.5, 1, 1.5)))
    assert lay.axis.ticks == (0.5, 1.0, 1.5) and (lay.axis.lo, lay.axis.hi) == (0.5, 1.5)
    assert lay.axis.log and lay.axis.null == 1.0 and lay.axis.label == "Hazard ratio"
    md = pool([1.0, -2.0, 0.5], [0.5, 0.6, 0.4], measure="MD")
    assert not forest_layout(md).axis.log and forest_layout(md).axis.null == 0.0
    with pytest.raises(AnalysisError, match="must be positive"):
        forest_layout(res, ForestOptions(at=(0, 1)))


def test_order_common_diamond_and_subgroup_labels(logistic) -> None:
    by_weight = [r[0] for r in texts(forest_layout(logistic, ForestOptions(order="weight")))
                 if r and r[0] in set(logistic.per_trial["trial"])]
    expected = list(logistic.per_trial.sort_values("weight", ascending=False)["trial"])
    assert by_weight == expected
    given = list(reversed(logistic.per_trial["trial"]))
    rows = texts(forest_layout(logistic, ForestOptions(order=given)))
    assert [r[0] for r in rows[:len(given)]] == given
    with pytest.raises(AnalysisError, match="leaves out"):
        forest_layout(logistic, ForestOptions(order=given[:2]))
    both = forest_layout(logistic, ForestOptions(common=True))
    kinds = [(r.kind, r.cells[0].text) for r in both.rows if r.kind == "diamond"]
    assert [k[1] for k in kinds] == ["Common effect model", "Random effects model (REML)"]
    sub = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                    subgroup="sex")
    lay = forest_layout(sub, ForestOptions(subgroup_labels={"0": "Women", "1": "Men"}))
    headings = [r.cells[0].text for r in lay.rows if r.kind == "heading"]
    assert headings == ["Women", "Men"]
    assert sum(r.kind == "diamond" for r in lay.rows) == 3
    assert any(r.cells and r.cells[0].text.startswith("Test for subgroup differences")
               for r in lay.rows)


def test_files_svg_text_pdf_and_source(logistic, tmp_path) -> None:
    fig = forest_plot(logistic, path=tmp_path / "f.svg", title="Death at two years",
                      favours=("Favours treatment", "Favours control"),
                      source="Data: release demo 1.0.0, SHA-256 abc")
    svg = (tmp_path / "f.svg").read_text()
    assert svg.count("<text") > 50  # text stays text (svg.fonttype = none), editable
    for word in ("Death at two years", "Favours control", "release demo 1.0.0", "OR [95% CI]"):
        assert word in svg, word
    forest_plot(logistic, path=tmp_path / "f.pdf")
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    forest_plot(logistic, path=tmp_path / "f.png", dpi=100)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(AnalysisError, match="use a .png, .svg or .pdf"):
        forest_plot(logistic, path=tmp_path / "x.jpg")


def test_many_trials_grow_the_figure() -> None:
    rng = np.random.default_rng(5)
    k = 60
    vi = rng.uniform(0.01, 0.2, k)
    res = pool(rng.normal(0, np.sqrt(vi + 0.02)), vi, measure="MD",
               labels=[f"T{i}" for i in range(k)])
    fig = forest_plot(res)
    assert fig.get_size_inches()[1] > 12
    assert fig.axes[0].get_xscale() == "linear"


def test_report_is_self_contained_and_journal_style(tmp_path) -> None:
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="y1", model="linear",
                    adjust=["y0"], interaction="age", subgroup="sex")
    path = write_report(res, tmp_path / "r.html", title="ANCOVA",
                        source="Data: release demo 1.0.0, SHA-256 0123abcd")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") >= 2
    assert not re.search(r"(src|href)=['\"]https?://", text)
    for section in ("Trials", "Excluded trials", "Methods", "Software", "Heterogeneity",
                    "Interaction", "Subgroups", "release demo 1.0.0"):
        assert section in text, section
    assert "MD (95% CI)" in text and "events/N" in text
    for internal in ("ci_low", "exp_estimate", "n_treated", "Q_df"):  # no internal names
        assert internal not in text.split("<h2>Methods")[0].split("</svg>")[-1], internal
    assert "single arm" in text


def test_describe_methods_names_the_choices() -> None:
    res = two_stage(SIM, trial="trial", treatment="trt", outcome="yb", model="logistic",
                    method="PM", test="knha")
    text = " ".join(describe_methods(res))
    assert "Paule-Mandel" in text and "Knapp-Hartung" in text and "logistic" in text
    assert "prediction interval" in analysis_report(res).lower()


def test_favours_labels_meet_at_the_null_line_and_the_source_goes_under_them(logistic) -> None:
    """Positions computed by the layout, not the drawing: on a log axis the labels meet at
    OR 1 (its fraction of the axis in log units); the source line sits under them."""
    from analyses.forest_layout import ROW_H

    lay = forest_layout(logistic, ForestOptions(favours=("Treatment", "Control"),
                                                source="Data: x"))
    a = lay.axis
    x, y = lay.favours_at()
    assert x == pytest.approx(a.x0 + a.width * np.log(1 / a.lo) / np.log(a.hi / a.lo))
    assert y == pytest.approx(lay.top + len(lay.rows) * ROW_H + 0.5)
    assert lay.source_y() == pytest.approx(y + 0.2)
    plain = forest_layout(logistic, ForestOptions(source="Data: x"))
    assert plain.source_y() == pytest.approx(plain.top + len(plain.rows) * ROW_H + 0.5)
