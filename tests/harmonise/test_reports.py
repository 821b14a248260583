"""The trial report's variable summary: per variable and arm, n, missing and the summary text,
computed from numpy arrays split by arm (checked against the same figures from pandas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harmonise import load_dictionary
from harmonise.pipeline.reports import variable_summary

ROOT = Path(__file__).resolve().parents[2]


def _frame(dictionary, n: int = 300, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for v in dictionary.variables:
        if v.dtype == "datetime64[ns]":
            values = pd.Series(pd.to_datetime("2001-01-01") +
                               pd.to_timedelta(rng.integers(0, 900, n), unit="D"))
        elif v.type == "categorical" or v.type == "boolean":
            codes = [c.code for c in v.categories] or [True, False]
            p = np.arange(1, len(codes) + 1, dtype=float) ** 2  # counts without ties
            values = pd.Series([codes[i] for i in rng.choice(len(codes), n, p=p / p.sum())],
                               dtype=v.dtype)
        elif v.dtype in ("Int64", "Float64"):
            values = pd.Series(rng.integers(0, 100, n), dtype=v.dtype)
        else:
            values = pd.Series([f"t{i % 17}" for i in range(n)], dtype="string")
        values[rng.random(n) < 0.1] = None
        columns[v.name] = values
    frame = pd.DataFrame(columns)
    frame["arm"] = pd.Series(rng.choice([0, 1, 2], n), dtype="Int64")
    frame.loc[:4, "arm"] = None
    return frame


def test_variable_summary_matches_pandas_per_arm():
    dictionary = load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")
    frame = _frame(dictionary)
    labels = {0: "Control", 1: "Chemo", 2: "Chemoradiation"}
    table = variable_summary(frame, dictionary, "arm", labels).set_index("variable")
    checked = set()
    for v in dictionary.variables:
        if v.role in ("id", "trial") or v.name == "arm":
            continue
        for code, label in labels.items():
            col = frame.loc[(frame["arm"] == code).fillna(False), v.name]
            assert table.loc[v.name, f"{label}: n"] == col.notna().sum()
            assert table.loc[v.name, f"{label}: missing"] == col.isna().sum()
            col = col.dropna()
            if v.type in ("integer", "decimal"):
                x = col.astype(float)
                want = (f"{x.mean():.1f} ({x.std():.1f}); median {x.median():g} "
                        f"[{x.min():g}, {x.max():g}]")
            elif v.type == "date":
                want = f"{col.min().date()} to {col.max().date()}"
            elif v.type in ("categorical", "boolean"):
                names = {c.code: c.label for c in v.categories}
                want = "; ".join(f"{names.get(k, k)}: {n}" for k, n in col.value_counts().items())
            else:
                want = f"{col.nunique()} distinct"
            assert table.loc[v.name, f"{label}: summary"] == want, (v.name, label)
            checked.add(v.type)
    assert checked >= {"integer", "decimal", "date", "categorical", "boolean"}


def test_variable_summary_of_an_empty_arm_is_blank():
    dictionary = load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")
    frame = _frame(dictionary, n=40)
    table = variable_summary(frame, dictionary, "arm", {0: "A", 9: "Nobody"})
    assert (table["Nobody: n"] == 0).all() and (table["Nobody: summary"] == "").all()
    assert (table["Nobody: missing"] == 0).all()


def test_variable_summary_reads_dates_held_as_text_or_as_dates_alike():
    """A date column already of datetime64[ns] is read as it is; one held as text is parsed:
    both give the same summary (and the same n and missing)."""
    dictionary = load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")
    frame = _frame(dictionary, n=120)
    dates = [v.name for v in dictionary.variables
             if v.type == "date" and v.role not in ("id", "trial")]
    assert dates
    as_text = frame.copy()
    for name in dates:
        as_text[name] = frame[name].dt.strftime("%Y-%m-%d").astype(object)
        assert as_text[name].dtype == object
    labels = {0: "Control", 1: "Chemo", 2: "Chemoradiation"}
    native = variable_summary(frame, dictionary, "arm", labels).set_index("variable")
    parsed = variable_summary(as_text, dictionary, "arm", labels).set_index("variable")
    assert native.loc[dates].equals(parsed.loc[dates])
    assert all(" to " in s for s in native.loc[dates, "Chemo: summary"])
