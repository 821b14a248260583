"""Corrections applied to raw cells: pure, in order, only where the old value is still there."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harmonise.queries.corrections import apply_corrections, parse_like
from harmonise.values.cells import canonical_text as cell_text


def corr(id, participant, column, old, new, occurrence=1):
    return SimpleNamespace(id=id, participant=participant, source_column=column, old_value=old,
                           new_value=new, occurrence=occurrence)


RAW = pd.DataFrame({
    "id": ["1", "2", "2", "3"],
    "AGE": ["142", "55", "61", "70"],
    "WT": [70.5, np.nan, 80.0, 90.0],
    "DTH": pd.to_datetime(["2004-03-12", None, "2001-02-03", None]),
})
PSEUDO = ["Pa", "Pb", "Pb", "Pc"]


def test_cell_text_is_canonical() -> None:
    assert [cell_text(v) for v in [1.0, 2.5, np.float64(3.0), np.nan, None, "", " x ",
                                   pd.Timestamp("2004-03-12"), pd.NaT]] == \
        ["1", "2.5", "3", None, None, None, "x", "2004-03-12", None]


def test_parse_like_follows_the_column() -> None:
    assert parse_like("42", RAW["AGE"]) == "42"
    assert parse_like("71,5", RAW["WT"]) == 71.5
    assert parse_like("2004-12-03", RAW["DTH"]) == pd.Timestamp("2004-12-03")
    with pytest.raises(ValueError):
        parse_like("seventy", RAW["WT"])


def test_apply_is_pure_and_targets_the_right_cell() -> None:
    before = RAW.copy()
    out, applied = apply_corrections(RAW, PSEUDO, [
        corr(1, "Pa", "AGE", "142", "42"),
        corr(2, "Pb", "DTH", "2001-02-03", "2005-02-03", occurrence=2),
        corr(3, "Pb", "WT", None, "77"),
        corr(4, "Pc", "AGE", "69", "68"),  # the delivery holds 70: not applied
    ])
    pd.testing.assert_frame_equal(RAW, before)
    assert out.loc[0, "AGE"] == "42"
    assert out.loc[2, "DTH"] == pd.Timestamp("2005-02-03") and pd.isna(out.loc[1, "DTH"])
    assert out.loc[1, "WT"] == 77.0
    assert [a.applied for a in applied] == [True, True, True, False]
    assert "now holds '70'" in applied[3].reason and applied[1].row == 3
