"""The example topic looks like adjuvant gastric cancer data and carries the stated effects.

The ranges come from the GASTRIC adjuvant meta-analysis (JAMA 2010;303:1729-37: 5-year overall
survival about 50% after surgery alone, HR 0.82 for chemotherapy) and the generating model in
``repository/example/simulate.py``; tolerances are stated per check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from lifelines import CoxPHFitter, KaplanMeierFitter

from repository.example import create


def _truth(directory: Path) -> pd.DataFrame:
    truth = pd.read_parquet(directory / "truth" / "participants.parquet")
    truth["rand_date"] = pd.to_datetime(truth["rand_date"])
    return truth


@pytest.fixture(scope="module")
def topic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model") / "topic"
    create(directory, trials=8, participants=6000, seed=2024)
    return directory


def test_baseline_distributions_are_plausible(topic: Path) -> None:
    t = _truth(topic)
    assert 55 <= t["age"].mean() <= 62
    assert 0.62 <= (t["sex"] == 1).mean() <= 0.74
    assert 0.45 <= (t["ecog"] == 0).mean() <= 0.65
    assert 0.22 <= (t["t_stage"] == 4).mean() <= 0.28
    assert 0.25 <= (t["n_stage"] == 0).mean() <= 0.36
    assert 21 <= t["bmi"].mean() <= 25
    assert (t.groupby("trial")["rand_date"].agg(lambda s: (s.max() - s.min()).days) > 800).all()
    centres = t.groupby("trial")["centre"].nunique()
    assert (centres >= 3).all()
    # 1:1 trials are balanced by permuted blocks within centre
    share = t.groupby("trial")["arm"].mean()
    assert ((share - 0.5).abs() < 0.03).sum() == len(share) - 1
    assert ((share - 2 / 3).abs() < 0.03).sum() == 1


def test_outcomes_have_the_stated_effects(topic: Path) -> None:
    t = _truth(topic)
    km = {arm: KaplanMeierFitter().fit(g["os_time_days"], g["os_event"]).predict(5 * 365.25)
          for arm, g in t.groupby("arm")}
    assert 0.40 <= km[0] <= 0.62 and km[1] > km[0]
    tox = t.groupby("arm")["grade3_toxicity"].mean()
    assert tox[0] < 0.15 and 0.25 < tox[1] < 0.45
    chemo = t[t["arm"] == 1]["chemo_started"].mean()
    assert 0.88 < chemo < 0.96
    # qol_12m: true delta about -3 points (SE of the adjusted difference about 0.6 here)
    q = t.dropna(subset=["qol_12m", "qol_baseline"])
    x = np.column_stack([np.ones(len(q)), q["arm"], q["qol_baseline"]]).astype(float)
    beta = np.linalg.lstsq(x, q["qol_12m"].astype(float), rcond=None)[0]
    assert -6 < beta[1] < 0 and 0.5 < beta[2] < 0.75
    # crude stratified Cox on OS: near mu = -0.20 (SE about 0.05 at this size, plus the spread
    # of eight trial effects with tau = 0.1, plus slight attenuation of an unadjusted HR)
    cox = CoxPHFitter().fit(t[["os_time_days", "os_event", "arm", "trial"]].astype(
        {"os_time_days": float, "os_event": float, "arm": float}), "os_time_days", "os_event",
        strata=["trial"])
    assert -0.40 < cox.params_["arm"] < 0.0


@pytest.mark.slow
def test_adjusted_cox_recovers_the_true_log_hazard_ratios(tmp_path: Path) -> None:
    """A Cox model stratified by trial and adjusted for the prognostic factors estimates the
    event-weighted mean of the true per-trial log HRs within 0.05 for OS (SE about 0.015 at
    30,000 participants) and 0.06 for DFS (DFS also counts deaths without recurrence, which
    carry the smaller OS effect)."""
    create(tmp_path / "big", trials=30, participants=30000, seed=11)
    t = _truth(tmp_path / "big")
    effects = pd.DataFrame(yaml.safe_load(
        (tmp_path / "big" / "truth" / "trial_effects.yaml").read_text())["trials"])
    assert abs(effects["log_hr_os"].mean() + 0.20) < 0.1
    for endpoint, tolerance in (("os", 0.05), ("dfs", 0.06)):
        x = t[[f"{endpoint}_time_days", f"{endpoint}_event", "arm", "trial", "t_stage",
               "n_stage", "age"]].copy()
        x["r1"] = (t["resection_margin"] == "R1").astype(float)
        x = x.astype({c: float for c in x.columns if c != "trial"})
        fit = CoxPHFitter().fit(x, f"{endpoint}_time_days", f"{endpoint}_event",
                                strata=["trial"])
        events = t.groupby("trial")[f"{endpoint}_event"].sum()
        target = np.average(effects[f"log_hr_{endpoint}"],
                            weights=effects["acronym"].map(events))
        assert abs(fit.params_["arm"] - target) < tolerance, (endpoint, fit.params_["arm"],
                                                              target)


@pytest.mark.slow
def test_scales_to_100_trials_and_200000_participants(tmp_path: Path) -> None:
    result = create(tmp_path / "scale", trials=100, participants=200_000, seed=5)
    assert result.summary["randomised"].sum() == 200_000
    truth = pd.read_parquet(tmp_path / "scale" / "truth" / "participants.parquet",
                            columns=["trial", "delivery_row"])
    assert len(truth) == 200_000 and truth["trial"].nunique() == 100
    assert len(list((tmp_path / "scale" / "deliveries").iterdir())) == 100
