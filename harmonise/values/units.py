"""Units of measurement and conversions between them.

Every unit belongs to one *dimension* (mass, length, time, mass concentration ...) and is a
linear function of its dimension's base unit: ``base = value * factor + offset`` (the offset
is only non-zero for temperatures). Converting within a dimension is always possible.

Converting *between* dimensions is only possible where an analyte declares it: a laboratory
value in mass concentration (g/dL, mg/dL) and in amount-of-substance concentration (mmol/L,
umol/L) differ by the analyte's molar mass, so ``haemoglobin`` declares
``1 g/dL = 0.6206 mmol/L`` and ``creatinine`` declares ``1 mg/dL = 88.42 umol/L``. Any other
cross-dimension conversion is impossible and a spec error.

Unit symbols are looked up among their spellings (``umol/L``, ``µmol/L``, ``micromol/L`` ...),
exactly first, then ignoring case where that cannot confuse two units (``mm`` is millimetres,
``mM`` millimolar; ``G/L`` is 10^9 cells per litre, ``g/l`` grams per litre); :func:`unit`
reports an unknown symbol with the closest known one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.values.reasons import Reason
from repository.errors import SpecError, SpecProblem

__all__ = [
    "Unit",
    "Analyte",
    "Conversion",
    "UNITS",
    "ANALYTES",
    "DIMENSIONS",
    "unit",
    "analyte",
    "conversion",
    "completes_units",
    "convertible",
    "units_in",
    "plausible_units",
]


@dataclass(frozen=True)
class Unit:
    """A unit: ``base = value * factor + offset`` in its dimension's base unit."""

    symbol: str
    dimension: str
    factor: float
    offset: float = 0.0
    aliases: tuple[str, ...] = ()
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "dimension": self.dimension, "factor": self.factor,
                "offset": self.offset, "aliases": list(self.aliases), "label": self.label}


@dataclass(frozen=True)
class Analyte:
    """A substance whose mass and molar concentrations convert by a declared factor.

    ``1 <mass_unit> = factor <molar_unit>``; e.g. haemoglobin: 1 g/dL = 0.6206 mmol/L.
    """

    name: str
    mass_unit: str
    molar_unit: str
    factor: float
    aliases: tuple[str, ...] = ()
    source: str = ""

    @property
    def molar_per_mass_base(self) -> float:
        """mol/L per g/L (base units of the two dimensions)."""
        return self.factor * _UNITS[self.molar_unit].factor / _UNITS[self.mass_unit].factor

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mass_unit": self.mass_unit, "molar_unit": self.molar_unit,
                "factor": self.factor, "aliases": list(self.aliases), "source": self.source}


#: dimension -> (base unit, description)
DIMENSIONS: Mapping[str, tuple[str, str]] = {
    "mass": ("kg", "body weight and other masses"),
    "length": ("m", "height and other lengths"),
    "time": ("days", "durations"),
    "temperature": ("degC", "temperatures"),
    "mass_concentration": ("g/L", "mass of a substance per volume (g/dL, mg/dL ...)"),
    "amount_concentration": ("mol/L", "amount of substance per volume (mmol/L, umol/L ...)"),
    "area_density": ("kg/m2", "mass per area (body-mass index)"),
    "area": ("m2", "body surface area"),
    "fraction": ("1", "proportions and percentages"),
    "score": ("points", "scores on an instrument's own scale (no conversion)"),
    "count": ("count", "counts of things (lymph nodes, cycles)"),
    "cell_concentration": ("10^9/L", "cells per volume (blood counts)"),
    "pressure": ("mmHg", "blood pressure"),
    "rate": ("bpm", "heart rate and other per-minute rates"),
}

_UNIT_LIST: tuple[Unit, ...] = (
    # mass
    Unit("kg", "mass", 1.0, aliases=("kilogram", "kilograms", "kgs"), label="kilograms"),
    Unit("g", "mass", 1e-3, aliases=("gram", "grams"), label="grams"),
    Unit("mg", "mass", 1e-6, aliases=("milligram", "milligrams"), label="milligrams"),
    Unit("lb", "mass", 0.45359237, aliases=("lbs", "pound", "pounds"), label="pounds"),
    Unit("oz", "mass", 0.028349523125, aliases=("ounce", "ounces"), label="ounces"),
    Unit("st", "mass", 6.35029318, aliases=("stone", "stones"), label="stones"),
    # length
    Unit("m", "length", 1.0, aliases=("metre", "metres", "meter", "meters"), label="metres"),
    Unit("cm", "length", 1e-2, aliases=("centimetre", "centimetres", "centimeter",
                                        "centimeters"), label="centimetres"),
    Unit("mm", "length", 1e-3, aliases=("millimetre", "millimetres", "millimeter",
                                        "millimeters"), label="millimetres"),
    Unit("in", "length", 0.0254, aliases=("inch", "inches"), label="inches"),
    Unit("ft", "length", 0.3048, aliases=("foot", "feet"), label="feet"),
    # time (base: days; a month is 1/12 of a Julian year)
    Unit("days", "time", 1.0, aliases=("day", "d"), label="days"),
    Unit("hours", "time", 1.0 / 24.0, aliases=("hour", "h", "hr", "hrs"), label="hours"),
    Unit("weeks", "time", 7.0, aliases=("week", "wk", "wks"), label="weeks"),
    Unit("months", "time", 365.25 / 12.0, aliases=("month", "mo", "mon"),
         label="months (30.4375 days)"),
    Unit("years", "time", 365.25, aliases=("year", "y", "yr", "yrs"),
         label="years (365.25 days)"),
    # temperature
    Unit("degC", "temperature", 1.0, aliases=("°C", "C", "celsius"), label="degrees Celsius"),
    Unit("degF", "temperature", 5.0 / 9.0, offset=-32.0 * 5.0 / 9.0,
         aliases=("°F", "F", "fahrenheit"), label="degrees Fahrenheit"),
    Unit("K", "temperature", 1.0, offset=-273.15, aliases=("kelvin",), label="kelvin"),
    # mass concentration (base g/L)
    Unit("g/L", "mass_concentration", 1.0, aliases=("g/l",), label="grams per litre"),
    Unit("g/dL", "mass_concentration", 10.0, aliases=("g/dl", "g/100mL", "g%"),
         label="grams per decilitre"),
    Unit("mg/dL", "mass_concentration", 1e-2, aliases=("mg/dl", "mg/100mL", "mg%"),
         label="milligrams per decilitre"),
    Unit("mg/L", "mass_concentration", 1e-3, aliases=("mg/l", "ug/mL", "µg/mL"),
         label="milligrams per litre"),
    Unit("ug/L", "mass_concentration", 1e-6, aliases=("µg/L", "ng/mL", "mcg/L"),
         label="micrograms per litre"),
    Unit("mg/mL", "mass_concentration", 1.0, aliases=("mg/ml",),
         label="milligrams per millilitre"),
    # amount concentration (base mol/L)
    Unit("mol/L", "amount_concentration", 1.0, aliases=("mol/l",), label="moles per litre"),
    Unit("mmol/L", "amount_concentration", 1e-3, aliases=("mM", "mmol/l"),
         label="millimoles per litre"),
    Unit("umol/L", "amount_concentration", 1e-6,
         aliases=("µmol/L", "μmol/L", "micromol/L", "umol/l", "uM", "µM"),
         label="micromoles per litre"),
    Unit("nmol/L", "amount_concentration", 1e-9, aliases=("nM", "nmol/l"),
         label="nanomoles per litre"),
    # others
    Unit("kg/m2", "area_density", 1.0, aliases=("kg/m^2", "kg/m²"), label="kilograms per m²"),
    Unit("m2", "area", 1.0, aliases=("m^2", "m²"), label="square metres"),
    Unit("1", "fraction", 1.0, aliases=("fraction", "proportion", "ratio"), label="fraction"),
    Unit("%", "fraction", 0.01, aliases=("percent", "pct"), label="percent"),
    Unit("points", "score", 1.0, aliases=("point", "score"), label="points"),
    Unit("count", "count", 1.0, aliases=("n", "number"), label="count"),
    Unit("10^9/L", "cell_concentration", 1.0, aliases=("x10^9/L", "10*9/L", "G/L", "10^3/uL",
                                                     "10^3/µL"), label="10^9 per litre"),
    Unit("/uL", "cell_concentration", 1e-3, aliases=("/µL", "/mm3", "cells/uL"),
         label="per microlitre"),
    Unit("mmHg", "pressure", 1.0, aliases=("mm Hg",), label="millimetres of mercury"),
    Unit("kPa", "pressure", 7.50061683, aliases=("kpa",), label="kilopascals"),
    Unit("bpm", "rate", 1.0, aliases=("/min", "per minute"), label="per minute"),
)

_UNITS: dict[str, Unit] = {u.symbol: u for u in _UNIT_LIST}
UNITS: Mapping[str, Unit] = _UNITS


def _build_lookup() -> tuple[dict[str, Unit], dict[str, Unit]]:
    exact: dict[str, Unit] = {}
    folded: dict[str, set[str]] = {}
    for u in _UNIT_LIST:
        for spelling in (u.symbol, *u.aliases):
            if spelling in exact and exact[spelling] is not u:
                raise AssertionError(f"unit spelling {spelling!r} is ambiguous")
            exact[spelling] = u
            folded.setdefault(spelling.lower(), set()).add(u.symbol)
    # case-insensitive spellings only where they cannot be confused (mm vs mM, g/L vs G/L ...)
    unique = {k: _UNITS[next(iter(v))] for k, v in folded.items() if len(v) == 1}
    return exact, unique


_EXACT, _FOLDED = _build_lookup()

_ANALYTE_LIST: tuple[Analyte, ...] = (
    Analyte("haemoglobin", "g/dL", "mmol/L", 0.6206, aliases=("hemoglobin", "hb", "hgb"),
            source="haemoglobin monomer (Hb/4), 16,114 g/mol"),
    Analyte("creatinine", "mg/dL", "umol/L", 88.42, aliases=("creat", "scr"),
            source="creatinine, 113.12 g/mol"),
    Analyte("glucose", "mg/dL", "mmol/L", 0.05551, aliases=("glu",),
            source="glucose, 180.16 g/mol"),
    Analyte("bilirubin", "mg/dL", "umol/L", 17.104, aliases=("bili",),
            source="bilirubin, 584.66 g/mol"),
    Analyte("cholesterol", "mg/dL", "mmol/L", 0.02586, aliases=("chol",),
            source="cholesterol, 386.65 g/mol"),
    Analyte("calcium", "mg/dL", "mmol/L", 0.2495, aliases=("ca",), source="calcium, 40.08 g/mol"),
    Analyte("urea", "mg/dL", "mmol/L", 0.1665, aliases=(),
            source="urea, 60.06 g/mol (for BUN, urea nitrogen, use 0.357)"),
)
ANALYTES: Mapping[str, Analyte] = {a.name: a for a in _ANALYTE_LIST}
_ANALYTE_LOOKUP = {s.lower(): a for a in _ANALYTE_LIST for s in (a.name, *a.aliases)}


def _problem(message: str, key: str = "unit") -> SpecError:
    return SpecError(message, [SpecProblem("<units>", None, key, message)], reason=Reason.UNIT)


def unit(symbol: str) -> Unit:
    """The unit spelled ``symbol`` (case-insensitive, any known alias).

    Raises :class:`~repository.errors.SpecError` naming the closest known unit.
    """
    text = str(symbol).strip()
    found = _EXACT.get(text) or _FOLDED.get(text.lower())
    if found is None:
        from harmonise.yamlio import suggest

        raise _problem(f"unknown unit {symbol!r}{suggest(str(symbol), _UNITS)}; known units: "
                       f"{', '.join(_UNITS)}")
    return found


def analyte(name: str) -> Analyte:
    """The analyte ``name`` (or an alias such as ``hb``)."""
    found = _ANALYTE_LOOKUP.get(str(name).strip().lower())
    if found is None:
        from harmonise.yamlio import suggest

        raise _problem(f"unknown analyte {name!r}{suggest(str(name), ANALYTES)}; known analytes "
                       f"(with a declared mass/molar conversion): {', '.join(ANALYTES)}",
                       key="analyte")
    return found


def units_in(dimension: str) -> tuple[Unit, ...]:
    return tuple(u for u in _UNIT_LIST if u.dimension == dimension)


@dataclass(frozen=True)
class Conversion:
    """``to = from * scale + offset`` (vectorised by :meth:`apply`)."""

    source: str
    target: str
    scale: float
    offset: float = 0.0
    analyte: str | None = None

    def apply(self, values: Any) -> Any:
        """Convert a number, a numpy array or a pandas Series (missing stays missing)."""
        if self.scale == 1.0 and self.offset == 0.0:
            return values
        if self.offset == 0.0:
            return values * self.scale
        return values * self.scale + self.offset

    def inverse(self) -> Conversion:
        return Conversion(self.target, self.source, 1.0 / self.scale,
                          -self.offset / self.scale, self.analyte)

    def describe(self) -> str:
        via = f" ({self.analyte})" if self.analyte else ""
        off = f" {'+' if self.offset >= 0 else '-'} {abs(self.offset):g}" if self.offset else ""
        return f"{self.source} -> {self.target}{via}: x {self.scale:.6g}{off}"

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "scale": self.scale,
                "offset": self.offset, "analyte": self.analyte}


def completes_units(source: str, target: str) -> bool:
    """Whether converting ``source`` to ``target`` is a duration to a coarser time unit
    (months -> years, days -> weeks ...): whole target units are then *completed* units
    (a participant aged 60 years and 11 months is 60, not 61)."""
    a, b = unit(source), unit(target)
    return a.dimension == b.dimension == "time" and a.factor < b.factor


def conversion(source: str, target: str, *, analyte_name: str | None = None) -> Conversion:
    """The conversion from unit ``source`` to unit ``target``.

    Within one dimension no analyte is needed (one given is ignored). Between mass and amount
    concentration the analyte is required. Anything else raises
    :class:`~repository.errors.SpecError` explaining why the conversion is impossible.
    """
    a, b = unit(source), unit(target)
    if a.dimension == b.dimension:
        scale = a.factor / b.factor
        offset = (a.offset - b.offset) / b.factor
        return Conversion(a.symbol, b.symbol, scale, offset)
    pair = {a.dimension, b.dimension}
    if pair == {"mass_concentration", "amount_concentration"}:
        if analyte_name is None:
            raise _problem(
                f"converting {a.symbol} ({a.dimension.replace('_', ' ')}) to {b.symbol} "
                f"({b.dimension.replace('_', ' ')}) depends on the substance; add `analyte:` "
                f"(one of {', '.join(ANALYTES)})", key="analyte")
        sub = analyte(analyte_name)
        k = sub.molar_per_mass_base  # mol/L per g/L
        if a.dimension == "mass_concentration":
            scale = a.factor * k / b.factor
        else:
            scale = a.factor / k / b.factor
        return Conversion(a.symbol, b.symbol, scale, 0.0, sub.name)
    raise _problem(f"cannot convert {a.symbol} ({a.dimension.replace('_', ' ')}) to {b.symbol} "
                   f"({b.dimension.replace('_', ' ')}): the units measure different things; "
                   "check the source unit or the dictionary variable")


def convertible(source: str, target: str, *, analyte_name: str | None = None) -> bool:
    try:
        conversion(source, target, analyte_name=analyte_name)
    except SpecError:
        return False
    return True


def plausible_units(values: pd.Series | np.ndarray, *, target: str, low: float, high: float,
                    analyte_name: str | None = None) -> list[tuple[str, float]]:
    """For each unit convertible to ``target``, the share of ``values`` that would land in
    ``[low, high]`` after conversion from that unit; sorted best first (used by the dry run to
    spot a column delivered in another unit than the mapping says)."""
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return []
    t = unit(target)
    candidates = list(units_in(t.dimension))
    if t.dimension in ("mass_concentration", "amount_concentration") and analyte_name:
        other = "amount_concentration" if t.dimension == "mass_concentration" else \
            "mass_concentration"
        candidates += list(units_in(other))
    out = []
    for u in candidates:
        try:
            conv = conversion(u.symbol, t.symbol, analyte_name=analyte_name)
        except SpecError:
            continue
        converted = conv.apply(arr)
        out.append((u.symbol, float(np.mean((converted >= low) & (converted <= high)))))
    out.sort(key=lambda item: -item[1])
    return out
