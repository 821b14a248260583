"""The integrity checks share each trial's columns as numpy arrays extracted once
(harmonise.checks.columns): their answers must be those of plain pandas and scipy.stats on every
kind of column a harmonised frame holds (nullable integers, floats, booleans, strings, objects,
missing values, arm values that are no registered arm), and every planted problem row must be
reported, none dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harmonise.checks.integrity import ArmInfo, IntegrityContext, SurvivalSpec, run_checks

N = 3000


def _with_missing(values: pd.Series, rng: np.random.Generator, share: float) -> pd.Series:
    return values.mask(rng.random(len(values)) < share)


def mixed_frame(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = pd.Series(rng.choice([1, 2, 3, 9], N, p=[.33, .33, .32, .02]), dtype="Int64")
    shift = (arm.to_numpy(dtype=float, na_value=0) == 2) * 0.3  # a real difference in arm 2
    return pd.DataFrame({
        "participant_id": pd.array([f"P{i:05d}" for i in range(N)], dtype="string"),
        "arm": _with_missing(arm, rng, 0.01),
        "age": _with_missing(pd.Series(rng.normal(60, 9, N) + 10 * shift,
                                       dtype="Float64"), rng, 0.05),
        "nodes": _with_missing(pd.Series(rng.poisson(4, N), dtype="Int64"), rng, 0.1),
        "stage": _with_missing(pd.Series(rng.choice([1, 2, 3], N), dtype="Int64"), rng, 0.03),
        "centre": _with_missing(pd.Series(rng.choice([101, 20_000, 77_777], N), dtype="Int64"),
                                rng, 0.02),
        "smoking": _with_missing(pd.Series(rng.choice(["never", "former", "current"], N),
                                           dtype="string"), rng, 0.04),
        "diabetes": _with_missing(pd.Series(rng.random(N) < 0.2 + shift, dtype="boolean"),
                                  rng, 0.06),
        "score": pd.Series(np.where(rng.random(N) < 0.05, "n/a",
                                    rng.integers(0, 100, N).astype(str)), dtype=object),
        "grade": rng.choice([1, 2, 3], N),
    })


BASELINE = (("age", False), ("nodes", False), ("stage", True), ("centre", True),
            ("smoking", True), ("diabetes", True), ("score", False), ("grade", True))
ARMS = (ArmInfo(1, "A"), ArmInfo(2, "B"), ArmInfo(3, "C"))


def expected_p(frame: pd.DataFrame, name: str, categorical: bool, arms: list[int]) -> float:
    """The p-value by pandas and scipy.stats on the rows with a registered arm and a value."""
    arm = frame["arm"]
    registered = arm.isin(arms).fillna(False).to_numpy(dtype=bool)
    if categorical:
        keep = registered & frame[name].notna().to_numpy(dtype=bool)
        table = pd.crosstab(frame.loc[keep, name].astype(str), arm[keep].astype(int))
        return float(stats.chi2_contingency(table.to_numpy(), correction=False).pvalue)
    x = pd.to_numeric(frame[name], errors="coerce").astype(float)
    groups = [x[registered & (arm == a).fillna(False).to_numpy(dtype=bool)].dropna().to_numpy()
              for a in arms]
    if len(arms) == 2:
        return float(stats.ttest_ind(groups[0], groups[1], equal_var=False).pvalue)
    return float(stats.f_oneway(*groups).pvalue)


@pytest.mark.parametrize("arms", [ARMS, ARMS[:2]], ids=["three arms", "two arms"])
def test_baseline_balance_matches_scipy_stats_on_every_kind_of_column(arms) -> None:
    frame = mixed_frame()
    ctx = IntegrityContext(trial="T", arm_variable="arm", arms=arms, baseline=BASELINE)
    finding = run_checks(frame, ctx, only=["baseline-balance"])[0]
    tested = {t["variable"]: t["p"] for t in finding.details["tested"]}
    assert set(tested) == {name for name, _ in BASELINE}
    for name, categorical in BASELINE:
        want = expected_p(frame, name, categorical, [a.code for a in arms])
        assert tested[name] == pytest.approx(want, rel=1e-9, abs=1e-300), name
    flagged = {t["variable"] for t in finding.details["tested"] if t["p"] < 0.001 / len(tested)}
    assert finding.failed and flagged == {"age", "diabetes"}  # the planted differences


def test_missingness_by_arm_matches_pandas_on_every_kind_of_column() -> None:
    frame = mixed_frame()
    arm2 = (frame["arm"] == 2).fillna(False).to_numpy(dtype=bool)
    for name in ("age", "smoking", "diabetes", "centre"):  # missing in arm 2 far more often
        frame.loc[arm2 & (np.arange(N) % 4 == 0), name] = pd.NA
    ctx = IntegrityContext(trial="T", arm_variable="arm", arms=ARMS, baseline=BASELINE)
    finding = run_checks(frame, ctx, only=["missingness-by-arm"])[0]
    flagged = {f["variable"]: f["missing_share"] for f in finding.details["flagged"]}
    assert set(flagged) == {"age", "smoking", "diabetes", "centre"}
    known_arm = frame["arm"].notna()
    for name, shares in flagged.items():
        want = frame.loc[known_arm, name].isna().groupby(frame.loc[known_arm, "arm"]).mean()
        labels = {1: "A", 2: "B", 3: "C", 9: "9"}
        assert shares == {labels[int(k)]: round(float(v), 4) for k, v in want.items()}


def test_every_planted_problem_row_is_reported() -> None:
    """Hundreds of planted rows per check: all of them come back, none truncated."""
    rng = np.random.default_rng(11)
    n = 5000
    rand = pd.Series(pd.to_datetime("2010-01-04") + pd.to_timedelta(
        rng.integers(0, 2000, n) // 5 * 7 + rng.integers(0, 5, n), "D"))  # weekdays only
    weekend = rng.choice(n, 400, replace=False)
    rand[weekend] = pd.to_datetime("2010-01-09") + pd.to_timedelta(
        rng.integers(0, 200, 400) * 7, "D")  # Saturdays
    death = rand + pd.to_timedelta(rng.integers(1, 900, n), "D")
    early = rng.choice(n, 350, replace=False)
    death[early] = rand[early] - pd.to_timedelta(3, "D")
    time = pd.Series(rng.integers(1, 900, n), dtype="Int64")
    negative = rng.choice(n, 150, replace=False)
    time[negative] = -5
    ids = pd.Series([f"P{i}" for i in range(n)], dtype="string")
    ids[1:401:2] = ids[0:400:2].to_numpy()  # 200 IDs on two rows each
    ids[4000:4060] = pd.NA
    frame = pd.DataFrame({"participant_id": ids, "arm": rng.integers(0, 2, n),
                          "rand_date": rand, "death_date": death, "os_time_days": time,
                          "os_event": 1, "_row": np.arange(n) + 10})
    ctx = IntegrityContext(trial="T", arm_variable="arm", arms=(ArmInfo(0, "A"), ArmInfo(1, "B")),
                           rand_date="rand_date", later_dates=("death_date",),
                           survival=(SurvivalSpec("os", "os_time_days", "os_event"),))
    found = {f.check: f for f in run_checks(frame, ctx)}
    assert set(found["randomisation-weekday"].rows) == set(weekend + 10)
    dates = found["dates-after-randomisation"]
    assert set(dates.rows) == set(early + 10) | set(negative + 10)
    assert dates.details["by_variable"] == {"death_date": 350, "os_time_days": 150}
    assert set(found["ids"].rows) == set(range(10, 410)) | set(range(4010, 4070))
    assert len(found["ids"].participants) == 200 and found["ids"].details["blank"] == 60
