"""Kaplan-Meier plot layout (survminer-style): numbers at risk and censored per arm at the
breaks, medians, the log-rank p and hazard ratio printed, time units and breaks, where the
stratified pooled curve stops; and the drawn files. The numbers come from curves already
checked against R's survfit (test_km.py) and the log-rank test against survdiff
(test_logrank.py); here they must be the same numbers, exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.cox import coxph
from analyses.km import kaplan_meier
from analyses.km_layout import KMOptions, km_panel, stratified_panel, unit_factor
from analyses.km_plot import plot_km, plot_km_by_trial, plot_km_pooled
from analyses.logrank import logrank
from repository.errors import AnalysisError
from tests.analyses.conftest import FIXTURES, read_gastric

VET = pd.read_csv(FIXTURES / "survival" / "veteran.csv")
NAMES = {0: "standard", 1: "test"}


def test_risk_and_censored_tables_at_breaks() -> None:
    panel = km_panel(VET["time"], VET["status"], VET["trt"], NAMES,
                     KMOptions(break_every=100, censored=True))
    assert panel.breaks[:4] == (0.0, 100.0, 200.0, 300.0)
    for arm, row, cens in zip((0, 1), panel.at_risk, panel.censored):
        t = VET.loc[VET["trt"] == arm, "time"].to_numpy()
        s = VET.loc[VET["trt"] == arm, "status"].to_numpy()
        assert row.label == NAMES[arm]
        assert row.values == tuple(int((t >= b).sum()) for b in panel.breaks)
        prev = [-np.inf, *panel.breaks[:-1]]
        expected = tuple(0 if i == 0 else int(((t > a) & (t <= b) & (s == 0)).sum())
                         for i, (a, b) in enumerate(zip(prev, panel.breaks)))
        assert cens.values == expected
        assert row.color == panel.curves[arm].color  # coloured by arm
    assert panel.at_risk[0].color != panel.at_risk[1].color


def test_medians_annotations_and_units() -> None:
    panel = km_panel(VET["time"], VET["status"], VET["trt"], NAMES, KMOptions(annotate="hr"))
    for arm, curve in zip((0, 1), panel.curves):
        m = VET["trt"] == arm
        assert curve.median == kaplan_meier(VET["time"][m], VET["status"][m]).median
    p = logrank(VET["time"], VET["status"], VET["trt"]).p
    hr = math.exp(coxph(VET["time"], VET["status"], VET["trt"]).coef[0])
    assert panel.annotation is not None
    assert f"HR {hr:.2f}" in panel.annotation and f"p = {p:.2f}" in panel.annotation
    months = km_panel(VET["time"], VET["status"], VET["trt"], NAMES,
                      KMOptions(time_unit="days", display_unit="months", break_every=3))
    assert months.curves[0].x[-1] == pytest.approx(VET.loc[VET.trt == 0, "time"].max()
                                                   / 30.4375)
    assert months.breaks[1] == 3.0
    assert unit_factor("days", "years") == 365.25
    with pytest.raises(AnalysisError, match="give the unit of the data"):
        unit_factor(None, "years")


def test_stratified_curve_says_where_it_stops() -> None:
    d = read_gastric("gastadj")
    panel = stratified_panel(d["timeT"], d["statusT"], d["treated"], d["trialref"],
                             {0: "Surgery", 1: "Chemotherapy"},
                             KMOptions(time_unit="days", display_unit="years"))
    last = d.groupby(["trialref", "treated"])["timeT"].max()
    stop = last.min() / 365.25
    assert panel.stop == pytest.approx(stop)
    assert panel.xmax == pytest.approx(stop)
    assert panel.note is not None and f"trial {last.idxmin()[0]}" in panel.note
    assert max(c.x[-1] for c in panel.curves) <= stop + 1e-9
    lr = logrank(d["timeT"], d["statusT"], d["treated"], strata=d["trialref"])
    assert panel.annotation == f"Log-rank p = {lr.p:.3f} (stratified by trial)"


def test_files(tmp_path: Path) -> None:
    plot_km(VET["time"], VET["status"], VET["trt"], labels=NAMES, path=tmp_path / "km.svg",
            source="Data: file veteran.csv", censored=True)
    svg = (tmp_path / "km.svg").read_text()
    assert "<text" in svg and "Number censored" in svg and "veteran.csv" in svg
    plot_km_by_trial(VET, trial="celltype", time="time", event="status", treatment="trt",
                     path=tmp_path / "t.pdf")
    assert (tmp_path / "t.pdf").read_bytes()[:4] == b"%PDF"
    fig = plot_km_pooled(VET, trial="celltype", time="time", event="status", treatment="trt",
                         method="stratified")
    assert any("Curves stop at" in t.get_text() for t in fig.texts)


def test_page_places_panels_tables_and_small_print_without_drawing() -> None:
    """km_page: panels on the grid, inside the figure, not overlapping; each table under its
    curves with one row height per row; notes, then the source, at the bottom; and draw_km
    puts the axes exactly there."""
    from analyses.km_layout import ROW_INCHES, km_layout, km_page
    from analyses.km_plot import draw_km

    opts = KMOptions(censored=True, title="Four trials", source="Data: test")
    panels = [km_panel(VET["time"], VET["status"], VET["trt"], NAMES, opts) for _ in range(3)]
    panels.append(stratified_panel(VET["time"], VET["status"], VET["trt"],
                                   VET["celltype"].to_numpy(), NAMES, opts))
    layout = km_layout(panels, opts, ncols=2)
    page = km_page(layout)
    assert len(page.axes) == len(page.tables) == 4
    for left, bottom, width, height in page.axes:
        assert 0 < left and left + width < 1 and 0 < bottom and bottom + height < 1
    (l0, b0, w0, _), (l1, b1, _, _), (_, b2, _, h2) = page.axes[:3]
    assert b0 == b1 and l1 > l0 + w0  # same row, side by side
    assert b2 + h2 < b0  # second row below the first
    for (_, bottom, _, _), (_, top, _, row) in zip(page.axes, page.tables):
        assert top < bottom and row == pytest.approx(ROW_INCHES / page.height)
    notes = [p.note for p in layout.panels if p.note]
    assert len(page.notes) == len(notes) >= 1
    assert page.source is not None and page.source[1] < page.notes[-1][1]
    assert page.title_at is not None and page.title_at[1] > max(b + h for _, b, _, h in
                                                                page.axes)
    fig = draw_km(layout)
    assert tuple(fig.get_size_inches()) == pytest.approx((page.width, page.height))
    for ax, box in zip(fig.axes, page.axes):
        assert tuple(ax.get_position().bounds) == pytest.approx(box)
    single = km_page(km_layout(panels[:1], KMOptions()))
    assert single.source is None and single.title_at is None and single.notes == ()
