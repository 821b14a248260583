"""Encoding true harmonised values the way one trial writes them down, with its codebook rules.

:func:`encode` turns a trial's truth (from :mod:`~repository.example.simulate`) and its
:class:`~repository.example.codings.Coding` into the delivered columns (typed arrays; the writers
turn them into files) and, in the same step, the codebook rule of every harmonised variable, so
the codebook and the data can never disagree. Planting problems happens afterwards, on the
delivered columns (:mod:`~repository.example.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.example import codings as C
from repository.example.codings import Coding, column_label, column_name
from repository.example.longtables import PACKAGE_RULES
from repository.example.topic import VARIABLES, TrialSpec, variable

__all__ = ["Column", "Encoded", "encode", "not_collected_in", "id_strings"]

_NOT_APPLICABLE_BLANK = frozenset({"recurrence_date", "death_date", "cause_of_death"})


@dataclass
class Column:
    """One delivered column.

    ``values`` holds the delivered values with NaN / NaT / None where the cell is missing;
    ``coded_missing`` marks the missing cells written as the missing code ``fill`` (the other
    missing cells are written blank / system-missing). ``kind`` is int, float, str, date or bool.
    """

    name: str
    kind: str
    values: np.ndarray
    label: str
    decimals: int = 0
    fill: Any = None
    coded_missing: np.ndarray | None = None
    value_labels: dict[Any, str] | None = None
    date_format: str | None = None
    used_for: tuple[str, ...] = ()
    extra: bool = False
    unit: str | None = None

    def take(self, rows: np.ndarray) -> Column:
        return Column(self.name, self.kind, self.values[rows].copy(), self.label, self.decimals,
                      self.fill, None if self.coded_missing is None
                      else self.coded_missing[rows].copy(),
                      self.value_labels, self.date_format, self.used_for, self.extra, self.unit)

    def missing_codes(self) -> list[Any]:
        return [] if self.fill is None else [self.fill]

    @property
    def type_name(self) -> str:
        return {"int": "integer", "float": "decimal", "str": "text", "date": "date",
                "bool": "boolean"}[self.kind]


@dataclass
class Encoded:
    """A trial's delivery before planting: columns in delivery order, plus codebook rules."""

    columns: list[Column]
    rules: dict[str, dict[str, Any]]
    order: np.ndarray            # delivery row -> index into the truth (randomisation order)
    participant_ids: np.ndarray  # the trial's own IDs, in randomisation order (text)
    id_column: str
    arms: list[dict[str, Any]] = field(default_factory=list)
    id_values: Column | None = None   # the ID column in truth order (the long files' IDs)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def column_for(self, variable: str) -> Column:
        for c in self.columns:
            if variable in c.used_for:
                return c
        raise KeyError(variable)


def not_collected_in(coding: Coding) -> frozenset[str]:
    """Harmonised variables the trial does not deliver (truth is missing for them)."""
    out = set(coding.not_collected)
    if coding.survival not in ("dates", "events"):
        out.add("recurrence_date")
    if not coding.package:
        out.add("worst_ae_grade")
    if "qol_baseline" in out:
        out.add("qol_12m")
    return frozenset(out)


def _nines(max_value: float) -> int:
    for code in (9, 99, 999, 9999):
        if code > max_value:
            return code
    return 99999


def _fill(coding: Coding, kind: str, max_value: float | None) -> Any:
    """The missing code a trial writes in a column of this kind (None = blank)."""
    style = coding.missing
    if style == "blank":
        return None
    if coding.text or coding.format == "xlsx":  # cells hold text or numbers alike
        if style == "nines":
            return _nines(max_value) if kind in ("int", "float") and max_value is not None \
                else None
        if style == "minus1":
            return -1 if kind in ("int", "float") else None
        return {"NK": "NK", "ND": "ND", "dot": "."}[style]
    # binary formats: numeric codes in numeric columns, text codes in text columns
    if kind in ("int", "float"):
        if style == "nines" and max_value is not None:
            return _nines(max_value)
        if style == "minus1":
            return -1
        return None
    if kind == "str" and style in ("NK", "ND"):
        return style
    return None


def id_strings(coding: Coding, spec: TrialSpec, truth: pd.DataFrame) -> np.ndarray:
    """The trial's own participant IDs (as text) in randomisation order."""
    seq = truth["_seq"].to_numpy()
    n = seq.size
    if coding.id_style == "int":
        return seq.astype(str).astype(object)
    if coding.id_style == "int1000":
        return (seq + 1000).astype(str).astype(object)
    if coding.id_style == "prefixed":
        prefix = spec.acronym.replace("-", "")[:2]
        width = max(4, len(str(n)))
        return np.array([f"{prefix}-{s:0{width}d}" for s in seq], dtype=object)
    centre = truth["centre"].to_numpy(dtype=np.int64)
    order = np.lexsort((seq, centre))
    within = np.empty(n, dtype=np.int64)
    cs = centre[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
    counts = np.diff(np.r_[starts, n])
    within[order] = np.arange(n) - np.repeat(starts, counts) + 1
    cw = max(2, len(str(int(centre.max()))))
    sw = max(3, len(str(int(counts.max()))))
    return np.array([f"{c:0{cw}d}-{w:0{sw}d}" for c, w in zip(centre, within)], dtype=object)


class _Builder:
    def __init__(self, coding: Coding, spec: TrialSpec, truth: pd.DataFrame,
                 rng: np.random.Generator) -> None:
        self.coding = coding
        self.spec = spec
        self.truth = truth
        self.rng = rng
        self.n = len(truth)
        self.columns: list[Column] = []
        self.rules: dict[str, dict[str, Any]] = {}
        self.skip = not_collected_in(coding)

    # -- helpers -----------------------------------------------------------------------------
    def name(self, slot: str, unit: str | None = None) -> str:
        return column_name(self.coding, slot, unit)

    def add(self, column: Column) -> Column:
        self.columns.append(column)
        return column

    def numeric_values(self, var: str) -> np.ndarray:
        return self.truth[var].to_numpy(dtype=np.float64, na_value=np.nan)

    def missing_mask(self, var: str) -> np.ndarray:
        return self.truth[var].isna().to_numpy()

    def coded(self, var: str, kind: str, max_value: float | None) -> tuple[Any, np.ndarray | None]:
        if var in _NOT_APPLICABLE_BLANK:
            return None, None
        fill = _fill(self.coding, kind, max_value)
        if fill is None:
            return None, None
        return fill, self.missing_mask(var)

    def missing_rule(self, column: Column) -> dict[str, Any]:
        return {"missing": column.missing_codes()} if column.fill is not None else {}

    # -- rules ---------------------------------------------------------------------------------
    def recode(self, var: str, slot: str, mapping: Mapping[Any, Any],
               labels: Mapping[Any, str] | None = None,
               truth_values: np.ndarray | None = None) -> Column:
        """A coded variable: harmonised code -> delivered code (a tuple: one drawn at random)."""
        values = self.truth[var].to_numpy(dtype=object, na_value=None) \
            if truth_values is None else truth_values
        delivered_codes = [c for v in mapping.values() for c in (v if isinstance(v, tuple)
                                                                  else (v,))]
        numeric = all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                      for c in delivered_codes)
        native_bool = all(isinstance(c, bool) for c in delivered_codes)
        kind = "int" if numeric else "bool" if native_bool else "str"
        out = np.full(self.n, np.nan if kind == "int" else None,
                      dtype=np.float64 if kind == "int" else object)
        for harmonised, code in mapping.items():
            rows = np.flatnonzero(pd.Series(values).eq(harmonised).fillna(False).to_numpy())
            if isinstance(code, tuple):
                out[rows] = np.asarray(code, dtype=object)[self.rng.integers(len(code),
                                                                             size=rows.size)]
            else:
                out[rows] = code
        max_code = max(abs(c) for c in delivered_codes) if numeric else None
        fill, coded = self.coded(var, kind, max_code)
        value_labels = None
        if numeric and labels is not None and self.coding.format in ("sav", "dta"):
            value_labels = {}
            fine = C.FINE_LABELS.get(var, {})
            for harmonised, code in mapping.items():
                for c in (code if isinstance(code, tuple) else (code,)):
                    value_labels[int(c)] = labels[harmonised] if not isinstance(code, tuple) \
                        else fine.get(c, f"{labels[harmonised]} {c}")
            if isinstance(fill, int):
                value_labels[fill] = "Not known" if self.coding.language == "en" else "Non connu"
        col = self.add(Column(self.name(slot), kind, out, column_label(self.coding, slot),
                              fill=fill, coded_missing=coded, value_labels=value_labels,
                              used_for=(var,)))
        codes: dict[Any, Any] = {}
        for harmonised, code in mapping.items():
            for c in (code if isinstance(code, tuple) else (code,)):
                codes[_plain(c)] = _plain(harmonised)
        self.rules[var] = {"rule": "recode", "source": col.name, "codes": codes,
                           **self.missing_rule(col)}
        return col

    def direct(self, var: str, slot: str | None = None, *, unit: str | None = None) -> Column:
        """A numeric variable, possibly in another unit."""
        spec = variable(var)
        options = {u[0]: u for u in C.UNITS.get(var, ())}
        if unit is None:
            unit = self.coding.unit(var) if var in C.UNITS else spec.unit
        multiply, decimals = (options[unit][1], options[unit][2]) if unit in options \
            else (1.0, 1 if spec.type == "decimal" else 0)
        values = self.numeric_values(var)
        delivered = np.round(values / multiply, decimals) if multiply != 1.0 \
            else np.round(values, decimals)
        kind = "int" if decimals == 0 else "float"
        max_value = spec.range[1] / multiply if spec.range else None
        fill, coded = self.coded(var, kind, max_value)
        slot = slot or var
        col = self.add(Column(self.name(slot, unit), kind, delivered,
                              column_label(self.coding, slot, unit), decimals=decimals,
                              fill=fill, coded_missing=coded, used_for=(var,), unit=unit))
        rule: dict[str, Any] = {"rule": "direct", "source": col.name, "type": col.type_name}
        if unit:
            rule["unit"] = unit
        if multiply != 1.0:
            harmonised_decimals = 1 if spec.type == "decimal" else 0
            rule["convert"] = {"multiply": multiply, "round": harmonised_decimals,
                               "to_unit": spec.unit}
        self.rules[var] = {**rule, **self.missing_rule(col)}
        return col

    def date(self, var: str) -> Column:
        values = self.truth[var].to_numpy(dtype="datetime64[ns]")
        fmt = self.coding.dates
        fill, coded = self.coded(var, "date", None)
        if fill is not None and not (self.coding.text or self.coding.format == "xlsx"):
            fill, coded = None, None
        col = self.add(Column(self.name(var), "date", values, column_label(self.coding, var),
                              fill=fill, coded_missing=coded, date_format=fmt, used_for=(var,)))
        self.rules[var] = {"rule": "date", "source": col.name,
                           "format": "native" if fmt == "native" else fmt,
                           **self.missing_rule(col)}
        return col

    def boolean(self, var: str, slot: str | None = None) -> Column:
        mapping = C.BOOLEAN[self.coding.boolean]
        labels = {True: "Yes", False: "No"} if self.coding.language == "en" \
            else {True: "Oui", False: "Non"}
        return self.recode(var, slot or var, mapping, labels)

    def derive(self, var: str, derivation: str, inputs: Sequence[str]) -> None:
        self.rules[var] = {"rule": "derive", "derivation": derivation, "from": list(inputs)}


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def encode(truth: pd.DataFrame, coding: Coding, spec: TrialSpec,
           rng: np.random.Generator) -> Encoded:
    """Encode one trial's truth (randomisation order) as the trial delivers it."""
    b = _Builder(coding, spec, truth, rng)
    ids, id_name = _encode_ids(b)
    arm_col = _encode_design(b)
    _encode_age(b)
    _encode_clinical(b)
    _encode_survival(b)
    _extras(b, arm_col)
    for spec_var in VARIABLES:
        if spec_var.name in b.skip:
            b.rules[spec_var.name] = {"rule": "not_collected"}
    missing_rules = [v.name for v in VARIABLES if v.name not in b.rules]
    assert not missing_rules, missing_rules

    order = _delivery_order(coding, truth)
    columns = [c.take(order) for c in b.columns]
    arms = _arms(coding, spec, truth)
    return Encoded(columns=columns, rules={v.name: b.rules[v.name] for v in VARIABLES},
                   order=order, participant_ids=ids, id_column=id_name, arms=arms,
                   id_values=b.columns[0])


def _encode_ids(b: _Builder) -> tuple[np.ndarray, str]:
    coding, spec = b.coding, b.spec
    ids = id_strings(coding, spec, b.truth)
    id_name = b.name("participant_id")
    if coding.id_style in ("int", "int1000"):
        id_col = Column(id_name, "int", ids.astype(np.float64), column_label(coding,
                                                                             "participant_id"),
                        used_for=("participant_id",))
    else:
        id_col = Column(id_name, "str", ids.copy(), column_label(coding, "participant_id"),
                        used_for=("participant_id",))
    b.add(id_col)
    b.rules["participant_id"] = {"rule": "id", "source": id_name, "type": id_col.type_name}
    b.rules["trial"] = {"rule": "constant", "value": spec.acronym}
    return ids, id_name


def _encode_design(b: _Builder) -> Column:
    """Centre, randomisation date and arm; returns the arm column."""
    coding, spec, truth = b.coding, b.spec, b.truth
    if coding.centre == "city":
        cities = C.city_names(coding, spec.n_centres)
        b.recode("centre", "centre", {i + 1: c for i, c in enumerate(cities)})
    elif coding.centre == "padded":
        width = max(2, len(str(spec.n_centres)))
        values = np.array([f"{int(c):0{width}d}" for c in truth["centre"]], dtype=object)
        col = b.add(Column(b.name("centre"), "str", values, column_label(coding, "centre"),
                           used_for=("centre",)))
        b.rules["centre"] = {"rule": "direct", "source": col.name, "type": "integer",
                             "note": "zero-padded centre number"}
    else:
        b.direct("centre")
    b.date("rand_date")
    arm_col = b.recode("arm", "arm", C.ARM[coding.arm],
                       {0: "Surgery alone", 1: "Surgery + adjuvant chemotherapy"})
    if "study" in coding.extras:
        b.add(Column(b.name("study"), "str", np.full(b.n, spec.acronym, dtype=object),
                     column_label(coding, "study"), extra=True))
    return arm_col


def _encode_age(b: _Builder) -> None:
    coding, truth = b.coding, b.truth
    if coding.age == "years":
        b.direct("age")
        return
    year = truth["_birth_year"].to_numpy()
    month = truth["_birth_month"].to_numpy()
    if coding.age == "birth_cols":
        cy = b.add(Column(b.name("birth_year"), "int", year.astype(np.float64),
                          column_label(coding, "birth_year"), used_for=("age",)))
        cm = b.add(Column(b.name("birth_month"), "int", month.astype(np.float64),
                          column_label(coding, "birth_month"), used_for=("age",)))
        b.rules["age"] = {"rule": "age_from_birth_month", "source": [cy.name, cm.name],
                          "reference": "rand_date"}
    else:
        fmt = coding.birth_format
        text = np.array([fmt.replace("%Y", f"{y:04d}").replace("%m", f"{m:02d}")
                         for y, m in zip(year, month)], dtype=object)
        col = b.add(Column(b.name("birth_ym"), "str", text,
                           column_label(coding, "birth_ym"), used_for=("age",)))
        b.rules["age"] = {"rule": "age_from_birth_month", "source": col.name,
                          "format": fmt, "reference": "rand_date"}
    b.rules["age"]["definition"] = ("completed years from the first day of the birth month "
                                    "to rand_date")


def _encode_clinical(b: _Builder) -> None:
    """Sex, performance status, measurements, tumour, surgery, history, QoL and treatment."""
    coding = b.coding
    b.recode("sex", "sex", C.SEX[coding.sex], C.SEX_LABELS)
    if coding.ecog == "karnofsky":
        b.recode("ecog", "karnofsky", C.KARNOFSKY,
                 {0: "Karnofsky", 1: "Karnofsky", 2: "Karnofsky"})
    else:
        b.recode("ecog", "ecog", {0: 0, 1: 1, 2: 2}, {0: "ECOG 0", 1: "ECOG 1", 2: "ECOG 2"})
    for var in ("weight_kg", "height_cm"):
        b.direct(var)
    if coding.bmi_delivered:
        b.direct("bmi")
    else:
        b.derive("bmi", "bmi", ["weight_kg", "height_cm"])
    _collected(b, ("haemoglobin_gdl", "albumin_gl", "creatinine_umol"), b.direct)
    _collected(b, ("cea_elevated",), b.boolean)
    style = coding.categorical

    def category(var: str) -> None:
        b.recode(var, var, C.CATEGORIES[var][style], C.CATEGORY_LABELS[var])

    _collected(b, ("tumour_site", "histology_lauren", "grade", "t_stage", "n_stage"), category)
    b.direct("nodes_examined")
    b.direct("nodes_positive")
    for var in ("resection_margin", "gastrectomy", "lymphadenectomy"):
        category(var)
    b.date("surgery_date")
    _collected(b, ("smoking",), category)
    _collected(b, ("diabetes",), b.boolean)
    from_tables = PACKAGE_RULES if coding.package else {}
    _collected(b, [v for v in ("qol_baseline", "qol_12m") if v not in from_tables], b.direct)
    _collected(b, [v for v in ("chemo_started", "grade3_toxicity") if v not in from_tables],
               b.boolean)


def _collected(b: _Builder, names: Sequence[str], encode_one: Any) -> None:
    """Encode each of ``names`` the trial collects."""
    for var in names:
        if var not in b.skip:
            encode_one(var)


def _encode_survival(b: _Builder) -> None:
    coding, style = b.coding, b.coding.categorical
    if coding.package:
        if "cause_of_death" not in b.skip:
            b.recode("cause_of_death", "cause_of_death", C.CATEGORIES["cause_of_death"][style],
                     C.CATEGORY_LABELS["cause_of_death"])
        b.rules.update({k: dict(v) for k, v in PACKAGE_RULES.items()})
        _derive_from_dates(b)
    elif coding.survival == "dates":
        for var in ("recurrence_date", "death_date"):
            b.date(var)
        if "cause_of_death" not in b.skip:
            b.recode("cause_of_death", "cause_of_death", C.CATEGORIES["cause_of_death"][style],
                     C.CATEGORY_LABELS["cause_of_death"])
        b.date("last_fu_date")
        _derive_from_dates(b)
    else:
        if "cause_of_death" not in b.skip:
            b.recode("cause_of_death", "cause_of_death", C.CATEGORIES["cause_of_death"][style],
                     C.CATEGORY_LABELS["cause_of_death"])
        status = {1: C.BOOLEAN[coding.boolean][True], 0: C.BOOLEAN[coding.boolean][False]}
        labels = {1: "Yes", 0: "No"} if coding.language == "en" else {1: "Oui", 0: "Non"}
        unit = "months" if coding.survival == "months" else "days"
        b.direct("os_time_days", "os_time", unit=unit)
        b.recode("os_event", "os_status", status, labels)
        b.direct("dfs_time_days", "dfs_time", unit=unit)
        b.recode("dfs_event", "dfs_status", status, labels)
        b.derive("death_date", "death_date_from_os", ["rand_date", "os_event", "os_time_days"])
        b.derive("last_fu_date", "last_fu_date_from_os", ["rand_date", "os_time_days"])


def _derive_from_dates(b: _Builder) -> None:
    b.derive("os_event", "os_event_from_dates", ["death_date"])
    b.derive("os_time_days", "os_time_from_dates", ["rand_date", "death_date", "last_fu_date"])
    b.derive("dfs_event", "dfs_event_from_dates", ["recurrence_date", "death_date"])
    b.derive("dfs_time_days", "dfs_time_from_dates",
             ["rand_date", "recurrence_date", "death_date", "last_fu_date"])


def _extras(b: _Builder, arm_col: Column) -> None:
    coding, truth, n = b.coding, b.truth, b.n
    for extra in coding.extras:
        if extra == "study":
            continue
        name, label = b.name(extra), column_label(coding, extra)
        if extra == "crf_version":
            mid = np.datetime64(b.spec.accrual_start, "D") + (
                np.datetime64(b.spec.accrual_end, "D") - np.datetime64(b.spec.accrual_start, "D")
            ) // 2
            rand = truth["rand_date"].to_numpy(dtype="datetime64[D]")
            b.add(Column(name, "int", np.where(rand < mid, 1.0, 2.0), label, extra=True))
        elif extra == "bsa":
            w = truth["weight_kg"].to_numpy(dtype=np.float64, na_value=np.nan)
            h = truth["height_cm"].to_numpy(dtype=np.float64, na_value=np.nan)
            b.add(Column(name, "float", np.round(np.sqrt(w * h / 3600.0), 2), label, decimals=2,
                         extra=True))
        elif extra == "cycles":
            started = truth["chemo_started"].to_numpy(dtype=bool, na_value=False)
            arm = truth["arm"].to_numpy(dtype=np.int64)
            cycles = np.where(started, b.rng.integers(1, 7, n), 0).astype(np.float64)
            b.add(Column(name, "int", np.where(arm == 1, cycles, np.nan), label, extra=True))
        elif extra == "eligible":
            yes = C.BOOLEAN[coding.boolean][True]
            kind = "bool" if isinstance(yes, bool) else "int" if isinstance(yes, int) else "str"
            values = np.full(n, float(yes) if kind == "int" else yes,
                             dtype=np.float64 if kind == "int" else object)
            b.add(Column(name, kind, values, label, extra=True))
        elif extra == "region":
            centre = truth["centre"].to_numpy(dtype=np.int64)
            letters = np.array(["N", "S", "E", "O" if coding.language == "fr" else "W", "C"],
                               dtype=object)
            b.add(Column(name, "str", letters[centre % 5], label, extra=True))


def _delivery_order(coding: Coding, truth: pd.DataFrame) -> np.ndarray:
    seq = truth["_seq"].to_numpy()
    if coding.sort == "centre":
        return np.lexsort((seq, truth["centre"].to_numpy(dtype=np.int64)))
    return np.argsort(seq, kind="stable")


_ARM_LABELS = {
    "en": {0: "Surgery alone", 1: "Surgery + adjuvant {regimen}"},
    "fr": {0: "Chirurgie seule", 1: "Chirurgie + {regimen} adjuvant"},
}


def _arms(coding: Coding, spec: TrialSpec, truth: pd.DataFrame) -> list[dict[str, Any]]:
    arm = truth["arm"].to_numpy(dtype=np.int64)
    out = []
    for harmonised in (0, 1):
        code = C.ARM[coding.arm][harmonised]
        out.append({
            "code": str(code),
            "label": _ARM_LABELS[coding.language][harmonised].format(regimen=spec.regimen),
            "arm": harmonised,
            "ratio": 1 if harmonised == 0 else spec.ratio_chemo,
            "randomised_published": int((arm == harmonised).sum()),
        })
    return out
