"""analyses.km against R's survfit (conf.type = "log", the default), quantile() and
summary(fit, times = ...) (fixtures by make_survival_fixtures.R).

R calls, e.g. ``survfit(Surv(timeT, statusT) ~ 1, data = gastadj[gastadj$treated == 1, ])``
and ``quantile(fit, c(.25, .5, .75))``; reverse KM: ``survfit(Surv(time, 1 - status) ~ 1)``.
Closed form: survival, standard errors and limits to a relative 1e-6 (in practice ~1e-12);
quantiles are times and must be equal (1e-9).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from analyses.km import (
    FOLLOWUP_COLUMNS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    kaplan_meier,
    km_by_group,
    plot_km,
    plot_km_by_trial,
    plot_km_pooled,
    reverse_km_followup,
    stratified_km,
)
from repository.errors import AnalysisError
from tests.analyses.conftest import survival_dataset

SURV = Path(__file__).resolve().parent / "fixtures" / "survival"
FIX = json.loads((SURV / "survival.json").read_text())
REL = 1e-6


dataset = survival_dataset


def _num(v: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _same_q(ours: float | None, r: float | None) -> None:
    if r is None:
        assert ours is None
    else:
        assert ours == pytest.approx(r, rel=1e-9)


KM_CASES = [c for c in FIX["survfit"] if not c["reverse"]]


@pytest.mark.parametrize("case", KM_CASES, ids=[c["name"] for c in KM_CASES])
def test_km_matches_survfit(case: dict) -> None:
    d = dataset(case["data"])
    for cur in case["curves"]:
        sub = d if case["group"] is None else d[d[case["group"]] == cur["level"]]
        km = kaplan_meier(sub[case["time"]], sub[case["event"]])
        tab = km.table
        assert tuple(tab.columns) == TABLE_COLUMNS
        np.testing.assert_allclose(tab["time"], cur["time"], rtol=1e-12)
        np.testing.assert_array_equal(tab["n_risk"], cur["n_risk"])
        np.testing.assert_array_equal(tab["n_event"], cur["n_event"])
        np.testing.assert_array_equal(tab["n_censor"], cur["n_censor"])
        np.testing.assert_allclose(tab["surv"], cur["surv"], rtol=REL, atol=1e-14)
        se = _num(cur["std_err"])
        np.testing.assert_allclose(tab["std_err"].where(np.isfinite(tab["std_err"])), se, rtol=REL)
        np.testing.assert_allclose(tab["lower"], _num(cur["lower"]), rtol=REL)
        np.testing.assert_allclose(tab["upper"], _num(cur["upper"]), rtol=REL)
        for i, p in enumerate((0.25, 0.5, 0.75)):
            q, lo, hi = km.quantile(p)
            _same_q(q, cur["quantile"][i])
            _same_q(lo, cur["quantile_lower"][i])
            _same_q(hi, cur["quantile_upper"][i])
        if "at_times" in cur:
            at = cur["at_times"]
            s = km.survival_at(at["times"])
            np.testing.assert_allclose(s["time"], at["times"])
            np.testing.assert_allclose(s["surv"], at["surv"], rtol=REL)
            np.testing.assert_allclose(s["lower"], _num(at["lower"]), rtol=REL)
            np.testing.assert_allclose(s["upper"], _num(at["upper"]), rtol=REL)
            np.testing.assert_allclose(s["std_err"], _num(at["std_err"]), rtol=REL)
            np.testing.assert_array_equal(s["n_risk"], at["n_risk"])


def test_flat_median_uses_midpoint_rule() -> None:
    """S = 0.5 exactly from t = 3 to t = 5: R reports the midpoint, 4 (lifelines says 5)."""
    km = kaplan_meier([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1])
    assert km.median == 4.0
    assert km.fitter.median_survival_time_ == 5.0
    assert km.median_ci == (2.0, None)
    assert np.isinf(km.table["std_err"].iloc[-1]) and np.isnan(km.table["lower"].iloc[-1])


REV_CASES = [c for c in FIX["survfit"] if c["reverse"]]


@pytest.mark.parametrize("case", REV_CASES, ids=[c["name"] for c in REV_CASES])
def test_reverse_km_followup_matches_r(case: dict) -> None:
    d = dataset(case["data"])
    fu = reverse_km_followup(d[case["time"]], d[case["event"]], d[case["group"]])
    assert tuple(fu.columns) == FOLLOWUP_COLUMNS
    for cur, (_, row) in zip(case["curves"], fu.iterrows()):
        assert row["group"] == cur["level"]
        _same_q(row["median_followup"], cur["quantile"][1])
        _same_q(row["ci_low"], cur["quantile_lower"][1])
        _same_q(row["ci_high"], cur["quantile_upper"][1])
        assert row["n_censored"] == sum(cur["n_event"])
        assert row["max_followup"] == max(cur["time"])


def test_by_group_summary_and_dict() -> None:
    d = dataset("veteran")
    res = km_by_group(d["time"], d["status"], d["trt"], labels={0: "standard", 1: "test"})
    s = res.summary
    assert tuple(s.columns) == SUMMARY_COLUMNS and s["group"].tolist() == [0, 1]
    assert res[1].label == "test"
    json.dumps(res.to_dict(), allow_nan=False)
    assert "<table" in res._repr_html_()


def test_stratified_km_is_weighted_average() -> None:
    d = dataset("veteran")
    strat = stratified_km(d["time"], d["status"], d["trt"], d["celltype"])
    assert set(strat["group"]) == {0, 1}
    # at a time both arms of every cell type are still followed, check the weighted average
    t = 20.0
    w = d["celltype"].value_counts(normalize=True)
    expected = sum(
        w[c] * kaplan_meier(d.time[(d.celltype == c) & (d.trt == 1)],
                            d.status[(d.celltype == c) & (d.trt == 1)]).survival_at([t])["surv"].iloc[0]
        for c in w.index)
    got = strat[(strat.group == 1) & (strat.time <= t)]["surv"].iloc[-1]
    assert got == pytest.approx(expected, rel=1e-12)
    with pytest.raises(AnalysisError, match="trial b has no participants in group 1"):
        stratified_km([1, 2, 3, 4], [1, 1, 0, 1], [0, 1, 0, 0], ["a", "a", "b", "b"])


def test_plots_write_png_and_svg(tmp_path: Path) -> None:
    d = dataset("veteran")
    fig = plot_km(d["time"], d["status"], d["trt"], labels=["standard", "test"],
                  path=tmp_path / "km.png")
    assert (tmp_path / "km.png").stat().st_size > 5000
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in fig.axes[0].texts]
    assert "Number at risk" in texts and any(t.startswith("Log-rank p") for t in texts)
    plot_km_by_trial(d, trial="celltype", time="time", event="status", treatment="trt",
                     ncols=2, path=tmp_path / "trials.svg")
    assert (tmp_path / "trials.svg").read_text().lstrip().startswith("<?xml")
    for method in ("overall", "stratified"):
        plot_km_pooled(d, trial="celltype", time="time", event="status", treatment="trt",
                       method=method, path=tmp_path / f"pooled_{method}.png")
        assert (tmp_path / f"pooled_{method}.png").exists()
    with pytest.raises(AnalysisError, match="use a .png, .svg or .pdf"):
        plot_km(d["time"], d["status"], path=tmp_path / "km.jpg")


def test_km_input_errors() -> None:
    with pytest.raises(AnalysisError, match="event: values other than 0/1 in row 2"):
        kaplan_meier([1, 2, 3], [1, 2, 0])
    with pytest.raises(AnalysisError, match="group: missing values in row 3"):
        km_by_group([1, 2, 3], [1, 0, 1], [0, 1, None])
    with pytest.raises(AnalysisError, match=r"column\(s\) not in the data: arm"):
        plot_km_by_trial(pd.DataFrame({"t": [1], "e": [1], "k": [1]}), trial="k", time="t",
                         event="e", treatment="arm")
