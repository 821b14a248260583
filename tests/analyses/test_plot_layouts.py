"""The small plots' layouts are computed apart from drawing: checked here without a figure,
then drawn from the layout alone."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analyses.cox_zph import cox_zph, spline_smooth
from analyses.diagnostic_plots import draw_baujat, draw_funnel
from analyses.diagnostics import diagnose
from analyses.estimate_plot import draw_estimates
from analyses.plot_layouts import (
    axis_limits,
    baujat_layout,
    estimates_layout,
    funnel_layout,
    surrogacy_layout,
    zph_layout,
)
from analyses.pooling import pool
from analyses.surrogacy import surrogacy
from analyses.surrogacy_plot import draw_surrogacy
from analyses.zph_plot import draw_zph
from tests.analyses.conftest import FIXTURES, load_fixture

BCG = load_fixture("pooling", "pooling.json")["datasets"]["bcg_RR"]


@pytest.fixture(scope="module")
def bcg():
    return pool(BCG["yi"], BCG["vi"], labels=BCG["study"], measure="RR", method="REML")


def test_funnel_layout(bcg):
    diag = diagnose(bcg)
    lay = funnel_layout(bcg, trimfill=diag.trimfill)
    se = np.sqrt(BCG["vi"])
    assert lay.log_x and lay.xlabel == "Risk ratio" and lay.ylabel == "Standard error"
    assert lay.x == pytest.approx(np.exp(BCG["yi"])) and lay.se == pytest.approx(se)
    assert lay.top == pytest.approx(1.08 * se.max()) and lay.centre == math.exp(bcg.estimate)
    s = np.array(lay.region_se)
    assert lay.region_low == pytest.approx(np.exp(bcg.estimate - 1.96 * s))
    assert lay.region_high == pytest.approx(np.exp(bcg.estimate + 1.96 * s))
    assert lay.k0 == diag.trimfill["k0"] == len(lay.filled_x)
    shown = [*lay.x, *lay.filled_x, *lay.region_low, *lay.region_high]
    assert 0 < lay.xlim[0] < min(shown) and max(shown) < lay.xlim[1]
    assert lay.xticks and all(lay.xlim[0] <= t <= lay.xlim[1] for t in lay.xticks)
    fig = draw_funnel(lay)
    ax = fig.axes[0]
    assert ax.get_ylim() == (lay.top, 0) and ax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx(lay.xlim)  # drawn where the layout says
    assert list(ax.get_xticks()) == pytest.approx(list(lay.xticks))
    md = funnel_layout(pool(BCG["yi"], BCG["vi"], measure="MD"))
    assert not md.log_x and md.xticks == () and md.xlim[0] < min(md.region_low)


def test_axis_limits_log_and_linear():
    lo, hi, ticks = axis_limits([0.5, 2.0], [-3.0, float("nan")], log=True, pad=0)
    assert (lo, hi) == pytest.approx((0.5, 2.0)) and ticks == (0.5, 1.0, 2.0)
    lo, hi, ticks = axis_limits([-1.0, 1.0], log=False)
    assert (lo, hi, ticks) == (pytest.approx(-1.1), pytest.approx(1.1), ())
    assert axis_limits([], log=True)[:2] == pytest.approx((0.5 * 4 ** -0.05, 2 * 4 ** 0.05))


def test_baujat_layout(bcg):
    diag = diagnose(bcg)
    lay = baujat_layout(diag)
    assert lay.x == pytest.approx(diag.baujat["x"]) and lay.labels == tuple(BCG["study"])
    assert lay.xlabel == "Squared Pearson residual"
    fe = baujat_layout(diagnose(pool(BCG["yi"], BCG["vi"], method="FE")))
    assert fe.xlabel == "Contribution to overall heterogeneity"
    assert len(draw_baujat(lay).axes[0].texts) == len(lay.labels)


def test_zph_layout():
    d = pd.read_csv(FIXTURES / "survival" / "veteran.csv")
    z = cox_zph(d["time"], d["status"], d[["trt", "karno"]])
    lay = zph_layout(z, term="karno")
    grid, fit, half = spline_smooth(z.x, z.y[:, 1], float(z.var[1, 1]))
    assert lay.fit == pytest.approx(fit) and lay.high == pytest.approx(fit + half)
    assert lay.coef == z.coef[1] and "karno" in lay.title and lay.ylabel == "Beta(t) for karno"
    assert lay.xticks is not None and len(lay.xticks) == len(lay.xticklabels)  # km scale
    ident = zph_layout(cox_zph(d["time"], d["status"], d[["trt"]], transform="identity"))
    assert ident.xticks is None and ident.xlabel == "Time"
    assert draw_zph(lay).axes[0].get_title(loc="left") == lay.title


def test_surrogacy_layout():
    data = pd.read_csv(FIXTURES / "surrogacy" / "sim_surrogacy.csv")
    res = surrogacy(data, trial="trial", treatment="arm", surrogate_time="stime",
                    surrogate_event="sevent", time="ttime", event="tevent", individual=False)
    lay = surrogacy_layout(res)
    tl = res.trial_level
    assert lay.x == pytest.approx(np.exp(res.per_trial["log_hr_surrogate"]))
    assert max(lay.sizes) == pytest.approx(600)
    assert (lay.ste is None) == (tl["ste"] is None)
    assert all(lo <= f <= hi for lo, f, hi in zip(lay.low, lay.fit, lay.high))
    assert lay.heading.startswith("R\u00b2 (trial) = ") and f"{tl['k']} trials" in lay.title
    assert lay.xlim[0] <= min(lay.x) and max(lay.x) <= lay.xlim[1]
    assert lay.ylim[0] < min(lay.low) and max(lay.high) < lay.ylim[1]
    ax = draw_surrogacy(lay).axes[0]
    assert len(ax.collections) >= 2
    assert ax.get_xlim() == pytest.approx(lay.xlim) and ax.get_ylim() == pytest.approx(lay.ylim)
    assert list(ax.get_yticks()) == pytest.approx(list(lay.yticks))


def test_estimates_layout():
    lay = estimates_layout(["a", "b"], [0.8, 1.2], [0.6, 0.9], [1.1, 1.6], log=True,
                           xlabel="Hazard ratio", pooled=(1.0, 0.8, 1.25))
    assert lay.null == 1.0 and lay.diamond_row == 3.0 and lay.tick_labels[-1] == "Pooled"
    assert lay.ticks == (0.0, 1.0, 3.0) and lay.height == pytest.approx(0.9 + 0.26 * 4)
    bare = estimates_layout(["a"], [0.1], None, None, log=False, xlabel="MD")
    assert bare.null == 0.0 and bare.low is None and bare.diamond is None
    ax = draw_estimates(lay).axes[0]
    assert ax.get_xscale() == "log" and len(ax.patches) == 1
