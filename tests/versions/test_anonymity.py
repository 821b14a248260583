"""k-anonymity / l-diversity with record suppression, and per-participant date shifting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repository.errors import RequestError
from versions.anonymity import anonymise, equivalence_classes, k_of, l_of
from versions.dateshift import date_columns, offsets, shift_dates

# A known case, worked by hand. Quasi-identifiers: sex, age_band. Sensitive: diagnosis.
#   (M, 60-69): rows 0,1,2      3 records, diagnoses a, b, c  -> kept
#   (F, 70-79): rows 3,4,5,6    4 records, diagnoses a, a, a, a -> k ok, l = 1 -> suppressed (l)
#   (F, 50-59): row 7           1 record -> suppressed (k)
#   (missing, 60-69): rows 8,9  2 records -> suppressed (k) for k = 3
#   (M, 40-49): rows 10,11,12   3 records, diagnoses b, missing, c -> 2 distinct -> kept
KNOWN = pd.DataFrame({
    "sex": ["M", "M", "M", "F", "F", "F", "F", "F", None, None, "M", "M", "M"],
    "age_band": ["60-69"] * 3 + ["70-79"] * 4 + ["50-59"] + ["60-69"] * 2 + ["40-49"] * 3,
    "diagnosis": ["a", "b", "c", "a", "a", "a", "a", "b", "a", "c", "b", None, "c"],
})


def test_known_case_k3_l2() -> None:
    kept, report = anonymise(KNOWN, quasi_identifiers=["sex", "age_band"], k=3, l=2,
                             sensitive="diagnosis")
    assert kept.index.tolist() == [0, 1, 2, 10, 11, 12]
    assert (report.records_in, report.records_out) == (13, 6)
    assert (report.suppressed_k, report.suppressed_l) == (3, 4)
    assert (report.k_before, report.k_after) == (1, 3)
    assert (report.l_before, report.l_after) == (1, 2)
    classes = report.summary
    got = {(s if isinstance(s, str) else None, a): (n, d, act) for s, a, n, d, act in
           classes[["sex", "age_band", "records", "distinct_sensitive", "action"]]
           .itertuples(index=False)}
    assert got == {("M", "60-69"): (3, 3, "kept"), ("F", "70-79"): (4, 1, "suppressed (l)"),
                   ("F", "50-59"): (1, 1, "suppressed (k)"),
                   (None, "60-69"): (2, 2, "suppressed (k)"),
                   ("M", "40-49"): (3, 2, "kept")}
    d = report.to_dict()
    assert d["suppressed"] == {"k": 3, "l": 4, "total": 7}
    assert d["classes"] == {"before": 5, "after": 2, "suppressed": 3}
    assert d["method"] == "record suppression"


def test_known_case_k_only_and_measures() -> None:
    assert k_of(KNOWN, ["sex", "age_band"]) == 1
    assert k_of(KNOWN, ["age_band"]) == 1
    assert l_of(KNOWN, ["sex"], "diagnosis") == 2  # F: a, b; M: a, b, c; missing: a, c
    kept, report = anonymise(KNOWN, quasi_identifiers=["sex", "age_band"], k=2)
    assert kept.index.tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    assert report.suppressed == 1 and report.l is None
    classes = equivalence_classes(KNOWN, ["sex"])
    assert sorted(classes["records"].tolist()) == [2, 5, 6]


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(RequestError, match="not columns of the data"):
        anonymise(KNOWN, quasi_identifiers=["postcode"], k=2)
    with pytest.raises(RequestError, match="needs a sensitive attribute"):
        anonymise(KNOWN, quasi_identifiers=["sex"], k=2, l=2)
    with pytest.raises(RequestError, match="both a quasi-identifier and the sensitive"):
        anonymise(KNOWN, quasi_identifiers=["sex", "diagnosis"], l=2, sensitive="diagnosis")


frames = st.integers(min_value=0, max_value=60).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["M", "F", None]), min_size=n, max_size=n),
    st.lists(st.integers(min_value=0, max_value=4), min_size=n, max_size=n),
    st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n)))


@settings(max_examples=40, deadline=None)
@given(frames, st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=3))
def test_result_is_k_anonymous_and_l_diverse(data, k, l) -> None:  # noqa: E741
    sex, band, sens = data
    frame = pd.DataFrame({"sex": sex, "band": band, "s": sens})
    kept, report = anonymise(frame, quasi_identifiers=["sex", "band"], k=k, l=l,
                             sensitive="s")
    assert report.records_out + report.suppressed == len(frame) == report.records_in
    if len(kept):
        assert k_of(kept, ["sex", "band"]) >= k
        assert l_of(kept, ["sex", "band"], "s") >= l
    # kept records are unchanged rows of the input, and every kept class was kept whole
    pd.testing.assert_frame_equal(kept, frame.loc[kept.index])
    def sizes(f: pd.DataFrame) -> dict[tuple[str, str], int]:
        return {(str(s), str(b)): int(n) for (s, b), n in
                f.groupby(["sex", "band"], dropna=False).size().items()}

    whole = sizes(frame)
    for key, n in sizes(kept).items():
        assert whole[key] == n


# -- date shifting ---------------------------------------------------------------------------

SECRET = bytes(range(32))


def test_offsets_are_deterministic_bounded_nonzero_and_scoped() -> None:
    trials = ["A"] * 500 + ["B"] * 500
    people = [f"P{i}" for i in range(1000)]
    a = offsets(SECRET, "request:R1", trials, people, max_days=30)
    assert (a == offsets(SECRET, "request:R1", trials, people, max_days=30)).all()
    assert (np.abs(a) >= 1).all() and (np.abs(a) <= 30).all()
    assert set(np.unique(np.sign(a))) == {-1, 1}
    assert len(np.unique(a)) == 60  # every offset in +-1..30 is used
    b = offsets(SECRET, "request:R2", trials, people, max_days=30)
    assert (a != b).mean() > 0.9  # another request, other offsets
    with pytest.raises(RequestError, match="at least 1 day"):
        offsets(SECRET, "x", ["A"], ["P"], max_days=0)


def test_shift_preserves_every_interval_of_a_participant() -> None:
    frame = pd.DataFrame({
        "trial": ["A", "A", "B"], "participant_id": ["P1", "P2", "P1"],
        "rand_date": pd.to_datetime(["2004-01-05", "2004-02-01", "2005-03-03"]),
        "death_date": pd.to_datetime(["2006-01-01", None, "2005-12-31"]),
        "os_time_days": [727, 1500, 303],
    })
    assert date_columns(frame) == ["rand_date", "death_date"]
    out, report = shift_dates(frame, secret=SECRET, scope="request:R1", max_days=100,
                              columns=["rand_date", "death_date"])
    shift = (out["rand_date"] - frame["rand_date"]).dt.days
    assert ((out["death_date"] - frame["death_date"]).dt.days.dropna()
            == shift[frame["death_date"].notna()]).all()
    assert (out["death_date"] - out["rand_date"]).equals(
        frame["death_date"] - frame["rand_date"])
    assert out["os_time_days"].equals(frame["os_time_days"])
    assert out["death_date"].isna().tolist() == [False, True, False]
    assert (shift.abs() <= 100).all() and (shift != 0).all()
    assert report.to_dict()["offset_range_days"] == [int(shift.min()), int(shift.max())]
    # the same trial/participant gets the same offset in another frame of the same request
    again, _ = shift_dates(frame.iloc[[2]], secret=SECRET, scope="request:R1", max_days=100,
                           columns=["rand_date"])
    assert (again["rand_date"] - frame["rand_date"].iloc[[2]]).dt.days.iloc[0] == shift[2]
