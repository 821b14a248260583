"""Trial-integrity checks: each check fails on the problem it is for, passes on clean data,
and is skipped (never passed) when it cannot run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmonise.checks.integrity import CHECKS, ArmInfo, IntegrityContext, SurvivalSpec, run_checks

N = 400


def clean_trial(seed: int = 1, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.repeat([0, 1], n // 2))
    days = np.sort(rng.choice(pd.bdate_range("2001-01-01", periods=900), n))
    rand = pd.to_datetime(days)
    time = rng.exponential(900, n).round() + 1
    cens = rng.uniform(200, 2500, n).round()
    event = (time <= cens).astype(int)
    t = np.minimum(time, cens)
    return pd.DataFrame({
        "participant_id": [f"P{i:05d}" for i in range(n)],
        "arm": arm,
        "rand_date": rand,
        "age": rng.normal(60, 10, n).round(),
        "sex": rng.choice([1, 2], n),
        "ecog": rng.choice([0, 1, 2], n, p=[.5, .4, .1]),
        "os_time_days": t,
        "os_event": event,
        "death_date": np.where(event == 1, rand + pd.to_timedelta(t, "D"), pd.NaT),
        "last_fu_date": rand + pd.to_timedelta(t, "D"),
        "_row": np.arange(1, n + 1),
    })


def context(**changes) -> IntegrityContext:
    base = dict(trial="T1", arm_variable="arm",
                arms=(ArmInfo(0, "Surgery", 1, N // 2), ArmInfo(1, "Chemo", 1, N // 2)),
                rand_date="rand_date", baseline=(("age", False), ("sex", True), ("ecog", True)),
                later_dates=("death_date", "last_fu_date"), follow_up=("last_fu_date",),
                survival=(SurvivalSpec("os", "os_time_days", "os_event"),))
    base.update(changes)
    return IntegrityContext(**base)


def by_check(findings):
    return {f.check: f for f in findings}


def test_clean_trial_passes_every_check() -> None:
    findings = run_checks(clean_trial(), context())
    assert {f.check for f in findings} == set(CHECKS)
    assert {f.check: f.status for f in findings} == {c: "passed" for c in CHECKS}


def test_duplicate_and_missing_ids() -> None:
    frame = clean_trial()
    frame.loc[5, "participant_id"] = frame.loc[4, "participant_id"]
    frame.loc[9, "participant_id"] = None
    f = by_check(run_checks(frame, context()))["ids"]
    assert f.failed and f.severity == "error"
    assert f.participants == ("P00004",) and f.rows == (5, 6, 10)


def test_randomised_n_against_publication() -> None:
    frame = clean_trial()
    frame = frame.drop(frame.index[frame["arm"] == 0][:30])  # 170 vs 200 published: -15%
    f = by_check(run_checks(frame, context()))["randomised-n"]
    assert f.failed and "Surgery: 170 delivered vs 200 published (-15%)" in f.message
    frame = clean_trial().drop(range(10))  # a few missing: within 10%
    assert by_check(run_checks(frame, context()))["randomised-n"].status == "passed"
    unpublished = context(arms=(ArmInfo(0, "Surgery"), ArmInfo(1, "Chemo")))
    assert by_check(run_checks(clean_trial(), unpublished))["randomised-n"].status == "skipped"


def test_allocation_ratio() -> None:
    frame = clean_trial()
    frame.loc[frame.index[frame["arm"] == 0][:60], "arm"] = 1  # 140:260 for planned 1:1
    assert by_check(run_checks(frame, context()))["allocation-ratio"].failed
    two_to_one = context(arms=(ArmInfo(0, "Surgery", 1), ArmInfo(1, "Chemo", 2)))
    frame = clean_trial()
    frame.loc[frame.index[frame["arm"] == 0][:67], "arm"] = 1  # 133:267 is 1:2
    assert by_check(run_checks(frame, two_to_one))["allocation-ratio"].status == "passed"


def test_baseline_imbalance() -> None:
    frame = clean_trial()
    frame.loc[frame["arm"] == 1, "age"] += 8
    f = by_check(run_checks(frame, context()))["baseline-balance"]
    assert f.failed and f.variable == "age"


def test_weekday_pattern_and_sequence() -> None:
    frame = clean_trial()
    frame.loc[:39, "rand_date"] = pd.Timestamp("2001-03-03")  # a Saturday, 10%
    assert by_check(run_checks(frame, context()))["randomisation-weekday"].failed
    frame = clean_trial().sort_values("rand_date").reset_index(drop=True)
    frame["arm"] = np.repeat([0, 1, 0, 1], N // 4)  # allocations in four batches: few runs
    assert by_check(run_checks(frame, context()))["randomisation-sequence"].failed
    frame["arm"] = np.tile([0, 1], N // 2)  # alternation looks like blocks of two: not flagged
    assert by_check(run_checks(frame, context()))["randomisation-sequence"].status == "passed"


def test_dates_after_randomisation() -> None:
    frame = clean_trial()
    i = frame.index[frame["os_event"] == 1][0]
    frame.loc[i, "death_date"] = frame.loc[i, "rand_date"] - pd.Timedelta(days=40)
    f = by_check(run_checks(frame, context()))["dates-after-randomisation"]
    assert f.failed and f.participants == (frame.loc[i, "participant_id"],)
    assert f.details["by_variable"] == {"death_date": 1}


def test_missing_follow_up_in_one_arm() -> None:
    frame = clean_trial()
    censored_chemo = frame.index[(frame["arm"] == 1) & (frame["os_event"] == 0)]
    frame.loc[censored_chemo[: len(censored_chemo) // 2], ["last_fu_date", "os_time_days"]] = None
    f = by_check(run_checks(frame, context()))["missingness-by-arm"]
    assert f.failed and f.variable == "last_fu_date"


def test_follow_up_by_arm() -> None:
    frame = clean_trial()
    chemo = frame["arm"] == 1
    frame.loc[chemo, "os_time_days"] *= 0.5  # follow-up stopped early in one arm
    f = by_check(run_checks(frame, context()))["follow-up-by-arm"]
    assert f.failed and f.details["ratio"] > 1.25


@pytest.mark.parametrize("change,check", [
    (dict(rand_date=None), "randomisation-weekday"),
    (dict(rand_date=None), "randomisation-sequence"),
    (dict(later_dates=(), survival=()), "dates-after-randomisation"),
    (dict(survival=()), "follow-up-by-arm"),
    (dict(baseline=()), "baseline-balance"),
])
def test_checks_that_cannot_run_are_skipped_not_passed(change, check) -> None:
    f = by_check(run_checks(clean_trial(), context(**change)))[check]
    assert f.status == "skipped" and f.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lean_reverse_km_equals_the_analyses_module(seed: int) -> None:
    """The checks' reverse Kaplan-Meier (the follow-up plot draws it too) is the analyses
    package's Kaplan-Meier of censoring: same times, numbers at risk, curve and median."""
    from analyses.km import kaplan_meier, reverse_km_followup
    from harmonise.checks.integrity import reverse_km

    rng = np.random.default_rng(seed)
    time = rng.integers(1, 60, 300).astype(float)  # many ties
    event = rng.integers(0, 2, 300).astype(float)
    lean = reverse_km(time, event)
    expected = reverse_km_followup(time, event, np.zeros(300))["median_followup"].iloc[0]
    assert lean.median == pytest.approx(expected)
    table = kaplan_meier(time, 1 - event).table
    assert lean.time.tolist() == table["time"].tolist()
    assert lean.at_risk.tolist() == table["n_risk"].tolist()
    assert lean.followed == pytest.approx(table["surv"].to_numpy())
    assert lean.at_risk_at(0) == 300 and lean.at_risk_at(time.max() + 1) == 0


@pytest.mark.parametrize("change,check,why", [
    # every dated allocation in one arm: one run, the runs test cannot say anything
    (lambda f: f.assign(arm=0), "randomisation-sequence", "all in one arm"),
    # no later date known together with a randomisation date
    (lambda f: f.assign(death_date=pd.NaT, last_fu_date=pd.NaT, os_time_days=np.nan),
     "dates-after-randomisation", "no event or follow-up date or time known"),
    # arm codes registered that match none of the harmonised arms
    (lambda f: f.assign(arm=f["arm"] + 5), "randomised-n", "match none of the arms in the data"),
])
def test_checks_on_data_they_cannot_judge_are_skipped_not_passed(change, check, why) -> None:
    """Trap: a check that could not really run (one run, no dates, no arm codes) was *passed*
    (or reported "0 delivered vs 126 published")."""
    f = by_check(run_checks(change(clean_trial()), context()))[check]
    assert f.status == "skipped" and why in f.message, f.message


def test_the_randomisation_date_is_found_as_a_design_variable() -> None:
    """Trap: the integrity checks only knew the randomisation date as the origin of a
    time-to-event outcome; a dictionary defining it as a `design` variable got no date checks."""
    from pathlib import Path

    import yaml

    from harmonise.dictionary.spec import Dictionary
    from harmonise.pipeline.checking import randomisation_date

    path = Path(__file__).resolve().parents[2] / "dictionaries" / "gastric-adjuvant" / \
        "dictionary.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert randomisation_date(Dictionary.from_dict(data)) == "rand_date"
    without_outcomes = {k: v for k, v in data.items() if k != "outcomes"}
    assert randomisation_date(Dictionary.from_dict(without_outcomes)) == "rand_date"
    no_design = dict(without_outcomes, variables=[
        dict(v, role="covariate") if v["name"] == "rand_date" else v
        for v in without_outcomes["variables"]])
    assert randomisation_date(Dictionary.from_dict(no_design)) is None

def test_p_values_from_scipy_special_match_scipy_stats():
    """The tests are computed with scipy.special (scipy.stats takes seconds to import) from
    group summaries made with np.bincount; the p-values are scipy.stats' to the last digits."""
    from scipy import stats

    from harmonise.checks.statistics import (
        anova_p,
        chi2_p,
        group_summaries,
        runs_test,
        welch_p,
    )

    rng = np.random.default_rng(3)
    groups = [rng.normal(0, 1, 40), rng.normal(0.4, 2, 55), rng.normal(0.1, 1, 30)]
    values = np.concatenate(groups)
    which = np.repeat(np.arange(3), [len(g) for g in groups])
    with_missing = np.column_stack([values, np.where(which == 1, np.nan, values)])
    n, mean, squares = (a[0] for a in group_summaries(with_missing, which, 3))
    assert group_summaries(with_missing, which, 3)[0][1].tolist() == [40, 0, 30]
    assert anova_p(n, mean, squares) == pytest.approx(stats.f_oneway(*groups).pvalue, rel=1e-9)
    assert welch_p(n[:2], mean[:2], squares[:2] / (n[:2] - 1)) == pytest.approx(
        stats.ttest_ind(groups[0], groups[1], equal_var=False).pvalue, rel=1e-9)
    table = np.array([[30, 12, 9], [22, 20, 4]])
    assert chi2_p(table) == pytest.approx(
        stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    x = rng.integers(0, 2, 200).astype(bool)
    runs, p = runs_test(x)
    n1, n2 = int(x.sum()), int((~x).sum())
    mean = 1 + 2 * n1 * n2 / (n1 + n2)
    var = 2 * n1 * n2 * (2 * n1 * n2 - n1 - n2) / ((n1 + n2) ** 2 * (n1 + n2 - 1))
    assert p == pytest.approx(stats.norm.cdf((runs - mean) / np.sqrt(var)), rel=1e-9)
