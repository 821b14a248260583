"""The follow-up plot of the trial report: the checks' reverse Kaplan-Meier curves drawn as SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from harmonise.checks.integrity import reverse_km
from harmonise.pipeline.followup_plot import HEIGHT, LEFT, TOP, followup_svg, ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("high", [0.4, 1, 7, 99, 100, 101, 1826, 3653.5, 1e6])
def test_ticks_are_round_and_cover_the_range(high: float) -> None:
    values = ticks(high)
    step = values[1] - values[0]
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert values[0] == 0 and values[-1] >= high and values[-2] < high
    assert round(mantissa, 9) in (1, 2, 5) and len(values) <= 9
    assert np.allclose(np.diff(values), step)


def _arms(seed: int = 7) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    curves = {}
    for label, scale in (("Surgery <alone> & co", 900), ("Chemotherapy", 500)):
        time = rng.exponential(scale, 120).round()
        event = rng.integers(0, 2, 120)
        curves[label] = reverse_km(time, event)
    return curves


def test_the_svg_draws_each_curve_and_the_numbers_still_followed() -> None:
    curves = _arms()
    svg = followup_svg(curves, title="Follow-up", xlabel="Days since randomisation")
    root = ET.fromstring(svg)  # well-formed, labels escaped
    assert svg == followup_svg(curves, title="Follow-up", xlabel="Days since randomisation")
    drawn = {p.find(f"{SVG}title").text: p.get("d") for p in root.iter(f"{SVG}path")
             if p.find(f"{SVG}title") is not None}
    assert list(drawn) == list(curves)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    rows = [t.text for t in root.iter(f"{SVG}text") if t.get("fill")]  # at-risk row labels
    high = max(c.time[-1] for c in curves.values())
    xt = ticks(high)
    for label, curve in curves.items():
        # one vertical step per distinct time, down to the curve's value there
        ys = [float(v) for v in re.findall(r"V([-\d.]+)", drawn[label])]
        assert len(ys) == len(curve.time)
        assert drawn[label].startswith(f"M{LEFT:.1f},{TOP:.1f}")  # from (0, 1)
        assert np.allclose(ys, [TOP + (1 - f) * HEIGHT for f in curve.followed], atol=0.06)
        # the row of numbers still followed under the axis, one per tick
        assert label in rows
        start = texts.index(label, texts.index(label) + 1)  # the legend first, then the row
        assert texts[start + 1:start + 1 + len(xt)] == [str(curve.at_risk_at(t)) for t in xt]
    assert "Days since randomisation" in texts and "Proportion still followed" in texts


def test_an_empty_arm_draws_no_curve_and_fails_nothing() -> None:
    svg = followup_svg({"A": reverse_km(np.array([]), np.array([]))}, title="t", xlabel="x")
    assert ET.fromstring(svg) is not None
