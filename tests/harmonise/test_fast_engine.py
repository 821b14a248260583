"""The engine's cheaper constructions give the same tables as the plain ones (issue 16)."""

from __future__ import annotations

import pandas as pd

from harmonise.mapping.harmonised import IMPUTED_COLUMNS, empty_frame
from harmonise.values.cells import missing_array
from harmonise.values.problems import PROBLEM_COLUMNS


def test_empty_frames_equal_the_plain_construction_and_are_independent() -> None:
    for columns in (PROBLEM_COLUMNS, IMPUTED_COLUMNS):
        plain = pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object)
                              for c in columns})
        first = empty_frame(columns)
        pd.testing.assert_frame_equal(first, plain)
        first["extra"] = []  # a caller changing its table changes no other
        first.loc[0] = None
        pd.testing.assert_frame_equal(empty_frame(columns), plain)
    dtypes = ["string", "Int64", "Float64", "boolean", "datetime64[ns]", "int64"]
    names = [f"c{i}" for i in range(len(dtypes))]
    plain = pd.DataFrame({n: pd.Series(missing_array(0, t) if t != "int64" else [],
                                       dtype=t if t != "datetime64[ns]" else "datetime64[ns]")
                          for n, t in zip(names, dtypes)})
    pd.testing.assert_frame_equal(empty_frame(names, dtypes), plain)


def test_spreading_distinct_values_to_rows_equals_take() -> None:
    import numpy as np

    from harmonise.mapping.engine import _spread

    codes = np.array([0, 2, -1, 1, 1, 0, -1, 2])
    for uniques in (pd.array([1, None, 3], dtype="Int64"),
                    pd.array([1.5, 2.0, None], dtype="Float64"),
                    pd.array([True, None, False], dtype="boolean"),
                    pd.array(["a", None, "c"], dtype="string")):
        want = uniques.take(np.where(codes >= 0, codes, -1), allow_fill=True)
        pd.testing.assert_extension_array_equal(_spread(uniques, codes), want)
    empty = pd.array([], dtype="Int64")
    pd.testing.assert_extension_array_equal(_spread(empty, np.array([-1, -1])),
                                            pd.array([None, None], dtype="Int64"))


def test_a_repeated_value_is_the_series_pandas_makes_of_the_list() -> None:
    from harmonise.expressions.coercion import _fillable
    from harmonise.values.cells import filled_array

    n = 5
    for value, dtype in ((2, "Float64"), (2.5, "Float64"), (float("inf"), "Float64"),
                         (True, "boolean"), (False, "boolean"), ("x", "string"),
                         ("", "string"), (pd.Timestamp("2020-01-02"), "datetime64[ns]"),
                         (pd.Timestamp("2020-01-02 10:11"), "datetime64[ns]")):
        assert _fillable(value, dtype)
        pd.testing.assert_series_equal(pd.Series(filled_array(n, value, dtype)),
                                       pd.Series([value] * n, dtype=dtype))
    for value, dtype in ((float("nan"), "Float64"), (True, "Float64"), (1, "boolean"),
                         (3, "string"), (pd.Timestamp("2020-01-01", tz="UTC"),
                                         "datetime64[ns]"), (2.5, "Int64")):
        assert not _fillable(value, dtype)


def test_earliest_and_latest_dates_match_the_frame_reduction() -> None:
    """{earliest: [...]} / {latest: [...]} of date references: numpy's fmin/fmax against the
    row-wise min/max of the frame pandas makes (missing dates skipped, all missing: NaT)."""
    import numpy as np

    from harmonise.mapping.engine import _combined_ref
    from harmonise.mapping.rules import CombinedRef, VariableRef

    class Run:
        n = 4
        index = pd.RangeIndex(4)
        values = {
            "a": pd.Series(pd.to_datetime(["2020-01-05", None, "2019-03-01", None])),
            "b": pd.Series(pd.to_datetime(["2020-01-02", "2021-06-01", None, None])),
            "c": pd.Series(pd.to_datetime(["2020-01-03", "2021-05-31", "2019-03-02", None])),
        }

        def variable_value(self, name: str) -> pd.Series:
            return self.values[name]

    run = Run()
    parts = [run.values[k] for k in "abc"]
    frame = pd.concat(parts, axis=1)
    for how, want in (("earliest", frame.min(axis=1)), ("latest", frame.max(axis=1))):
        ref = CombinedRef(how, tuple(VariableRef(k) for k in "abc"))
        got, issues = _combined_ref(ref, "date", run)  # type: ignore[arg-type]
        pd.testing.assert_series_equal(got, want)
        assert not issues
        assert np.isnat(got.to_numpy()[3])


def test_rounding_to_whole_numbers_without_the_checked_cast() -> None:
    """round_half_away to Int64 builds the integer array itself where every value is exact
    (below 2**53); the result equals pandas' cast, which stays in charge of larger values."""
    import numpy as np

    from harmonise.expressions.functions import round_half_away
    from harmonise.values.cells import float_array

    x = pd.Series(pd.array([2.5, -2.5, 0.49999, None, 1e15 + 0.5, -0.0, 7.0], dtype="Float64"))
    huge = pd.Series([1e300, 1e18, -1e18, 3.5])  # beyond 2**53: the checked cast is kept
    for series in (x, huge):
        for digits in (0, -1):
            scale = 10.0 ** digits
            values = series.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = np.round(values * scale, 9)
                want = pd.Series(float_array(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) /
                                             scale)).astype("Int64")
                got = round_half_away(series, digits)
            pd.testing.assert_series_equal(got, want)
    assert round_half_away(x, 0).tolist()[:4] == [3, -3, 0, pd.NA]
    pd.testing.assert_series_equal(round_half_away(pd.Series([1, 2], dtype="Int64"), 0),
                                   pd.Series([1, 2], dtype="Int64"))
