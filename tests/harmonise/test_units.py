"""Units: declared factors, conversions that round-trip and respect dimensions, and impossible
conversions reported as spec errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonise.values import units
from repository.errors import SpecError

SYMBOLS = sorted(units.UNITS)
DIMENSION_PAIRS = [(a, b) for a in SYMBOLS for b in SYMBOLS
                   if units.UNITS[a].dimension == units.UNITS[b].dimension]
CROSS_PAIRS = [(a, b) for a in SYMBOLS for b in SYMBOLS
               if units.UNITS[a].dimension != units.UNITS[b].dimension]
CONCENTRATIONS = [u.symbol for u in units.UNITS.values()
                  if u.dimension in ("mass_concentration", "amount_concentration")]


@pytest.mark.parametrize(("source", "target", "analyte", "value", "expected"), [
    ("lb", "kg", None, 100.0, 45.359237),
    ("cm", "m", None, 172.0, 1.72),
    ("months", "days", None, 2.0, 60.875),
    ("years", "days", None, 1.0, 365.25),
    ("g/L", "g/dL", None, 135.0, 13.5),
    ("g/dL", "g/L", None, 3.9, 39.0),
    ("degF", "degC", None, 212.0, 100.0),
    ("K", "degC", None, 273.15, 0.0),
    ("g/dL", "mmol/L", "haemoglobin", 1.0, 0.6206),
    ("mmol/L", "g/dL", "hb", 0.6206, 1.0),
    ("mg/dL", "umol/L", "creatinine", 1.0, 88.42),
    ("umol/L", "mg/dL", "creatinine", 88.42, 1.0),
    ("g/L", "mmol/L", "haemoglobin", 10.0, 0.6206),
    ("%", "1", None, 12.5, 0.125),
])
def test_declared_conversions(source: str, target: str, analyte: str | None, value: float,
                              expected: float) -> None:
    conv = units.conversion(source, target, analyte_name=analyte)
    assert conv.apply(value) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(pair=st.sampled_from(DIMENSION_PAIRS),
       x=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_round_trip_within_a_dimension(pair: tuple[str, str], x: float) -> None:
    a, b = pair
    there = units.conversion(a, b).apply(x)
    back = units.conversion(b, a).apply(there)
    assert back == pytest.approx(x, rel=1e-9, abs=1e-9)
    # the inverse of a conversion is the conversion the other way
    inv = units.conversion(a, b).inverse()
    assert inv.apply(there) == pytest.approx(x, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(a=st.sampled_from(CONCENTRATIONS), b=st.sampled_from(CONCENTRATIONS),
       analyte=st.sampled_from(sorted(units.ANALYTES)),
       x=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
def test_round_trip_through_an_analyte(a: str, b: str, analyte: str, x: float) -> None:
    there = units.conversion(a, b, analyte_name=analyte).apply(x)
    back = units.conversion(b, a, analyte_name=analyte).apply(there)
    assert back == pytest.approx(x, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(pair=st.sampled_from(CROSS_PAIRS))
def test_conversions_across_dimensions_are_impossible(pair: tuple[str, str]) -> None:
    a, b = pair
    dims = {units.UNITS[a].dimension, units.UNITS[b].dimension}
    if dims == {"mass_concentration", "amount_concentration"}:
        with pytest.raises(SpecError, match="analyte"):
            units.conversion(a, b)
        return
    with pytest.raises(SpecError, match="measure different things") as info:
        units.conversion(a, b, analyte_name="haemoglobin")
    assert info.value.problems[0].key == "unit"
    assert not units.convertible(a, b)


def test_spellings_and_unknown_units() -> None:
    assert units.unit("µmol/L").symbol == "umol/L"
    assert units.unit("KG").symbol == "kg"
    assert units.unit("mm").symbol == "mm" and units.unit("mM").symbol == "mmol/L"
    with pytest.raises(SpecError, match=r"unknown unit 'kgs2' \(did you mean"):
        units.unit("kgs2")
    with pytest.raises(SpecError, match="unknown analyte 'haemoglobinx'.*did you mean 'haemoglobin'"):
        units.analyte("haemoglobinx")


def test_apply_keeps_missing_values_missing() -> None:
    s = pd.Series([150.0, None, 200.5], dtype="Float64")
    out = units.conversion("lb", "kg").apply(s)
    assert out.isna().tolist() == [False, True, False]
    assert out[0] == pytest.approx(68.0388555)


def test_plausible_units_spot_another_unit() -> None:
    hb_in_g_per_l = np.array([120.0, 135.0, 142.0, 98.0, 150.0, 110.0])
    shares = dict(units.plausible_units(hb_in_g_per_l, target="g/dL", low=7, high=18))
    assert shares["g/L"] == 1.0 and shares["g/dL"] == 0.0
    assert units.plausible_units(hb_in_g_per_l, target="g/dL", low=7, high=18)[0][1] == 1.0
    assert math.isclose(shares["mg/dL"], 0.0)
