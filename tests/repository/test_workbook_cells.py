"""The table built from calamine's grid a column at a time equals the table pandas infers from
the rows (repository.workbook_cells): the same values, of the same Python types, and the same
missing-cell counts, on grids of every kind of cell calamine returns."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from repository.formats import _count_missing
from repository.workbook_cells import as_openpyxl_reads, grid_table, records_table
from repository.workbooks import _sheet_rows

#: cells as calamine returns them (blank is "")
CELLS = st.one_of(
    st.just(""),
    st.sampled_from([" ", "\t", "\u00a0", " x ", "ND", "é 漢字", "0012", "1.5"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -3.0, 2.5, 2.0**53 + 2, 2.0**63, -(2.0**63), 1e300]),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=1000)),
)


@st.composite
def grids(draw: st.DrawFn) -> list[list[object]]:
    width = draw(st.integers(1, 6))
    kinds = [draw(st.lists(CELLS, min_size=1, max_size=4)) for _ in range(width)]
    rows = draw(st.integers(0, 12))
    grid = [[draw(st.sampled_from(kinds[c])) if draw(st.integers(0, 4)) else ""
             for c in range(width)] for _ in range(rows)]
    if draw(st.booleans()):
        grid.insert(0, [f"c{i}" if draw(st.integers(0, 5)) else "" for i in range(width)])
    return grid


def old_table(grid: list[list[object]]) -> tuple[list[str], pd.DataFrame] | None:
    names, data = _sheet_rows(None, as_openpyxl_reads(grid) if grid else [])  # type: ignore[arg-type]
    return (names, records_table(names, data)) if names else None


def same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))  # type: ignore[arg-type]
    return a == b


def check(grid: list[list[object]]) -> None:
    built = grid_table(grid)
    old = old_table(grid)
    if built is None:  # no data rows: read from the rows as before
        assert old is None or old[1].empty
        return
    names, frame, missing, factorised = built
    assert old is not None
    assert names == old[0]
    assert list(frame.columns) == list(old[1].columns)
    assert list(frame.dtypes) == list(old[1].dtypes)
    for i in range(frame.shape[1]):
        mine, theirs = frame.iloc[:, i].tolist(), old[1].iloc[:, i].tolist()
        assert all(same(a, b) for a, b in zip(mine, theirs, strict=True)), (i, mine, theirs)
    assert missing == _count_missing(old[1])
    once = [label for label in frame.columns if list(frame.columns).count(label) == 1]
    assert set(factorised) <= set(once)  # (a repeated name is refused when read)
    for label, (codes, uniques) in factorised.items():  # what the identifier gate reuses
        expected_codes, expected = pd.factorize(frame[label], use_na_sentinel=True)
        assert codes.tolist() == expected_codes.tolist(), label
        assert all(same(a, b) for a, b in zip(uniques.tolist(), expected.tolist(),
                                               strict=True)), label


@settings(max_examples=400, deadline=None)
@given(grids())
def test_the_grid_table_equals_the_table_pandas_infers_from_the_rows(grid) -> None:
    check(grid)


def test_columns_of_each_kind_equal_the_rows_table() -> None:
    far = dt.datetime(9999, 12, 31)
    columns = {
        "whole": [1.0, 2.0, -0.0], "whole_blank": [1.0, "", -0.0], "float": [1.5, 2.0, 3.0],
        "big": [2.0**63, 1.0, 2.0], "text": ["a", " ", ""], "mixed": [1.0, "ND", ""],
        "mixed_float": [-0.0, "x", 2.5], "bool": [True, False, True], "bool_blank": [True, "", False],
        "date": [dt.date(2003, 2, 3), "", dt.date(1999, 1, 1)], "far": [far, far, ""],
        "datetime": [dt.datetime(2003, 2, 3, 10, 30), dt.datetime(2004, 1, 1), ""],
        "time": [dt.time(10, 30), "", dt.time(0, 0)], "duration": [dt.timedelta(hours=5), "", dt.timedelta(0)],
        "date_text": [dt.date(2003, 2, 3), "unknown", ""], "blank": ["", "", ""],
    }
    grid = [list(columns)] + [list(row) for row in zip(*columns.values())]
    grid.insert(2, [""] * len(columns))  # an empty row inside the data
    check(grid)
    names, frame, _, factorised = grid_table(grid)  # type: ignore[misc]
    assert [type(v) for v in frame["whole"]] == [int, int, int]
    assert frame["whole_blank"].tolist() == [1.0, None, 0.0]
    assert [type(v) for v in frame["mixed"]] == [int, str, type(None)]
    assert isinstance(frame["date"][0], pd.Timestamp)
    kinds = {"whole", "whole_blank", "float", "big", "text", "mixed", "mixed_float", "date",
             "far", "datetime", "blank"}  # (the far dates are read as objects: no Timestamps)
    assert set(factorised) == kinds - {"far"}


def test_a_date_and_a_midnight_date_time_are_one_value_so_not_factorised_here() -> None:
    grid = [["d", "n"], [dt.date(2003, 2, 3), 1.0], [dt.datetime(2003, 2, 3), 2.0], ["", 3.0]]
    names, frame, missing, factorised = grid_table(grid)  # type: ignore[misc]
    assert frame["d"].tolist() == [pd.Timestamp(2003, 2, 3)] * 2 + [None] and missing == [1, 0]
    assert list(factorised) == ["n"]  # the gate factorises "d" itself


def test_a_ragged_grid_or_a_grid_without_data_rows_is_left_to_the_rows() -> None:
    assert grid_table([["a", "b"], [1.0]]) is None
    assert grid_table([["", ""], ["a", "b"], ["", ""]]) is None
    assert grid_table([]) is None
    assert np.array_equal(grid_table([["a"], [1.0]])[1].to_numpy(), [[1]])  # type: ignore[index]
