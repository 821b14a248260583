"""Drawing the true values: pure, vectorised numpy; no files, no codings.

The generating model (documented here and recorded in ``truth/trial_effects.yaml``):

* **Randomisation.** Dates uniform over the trial's accrual period on weekdays only; permuted
  blocks within centre (size 4 for 1:1, size 6 for 2:1 chemotherapy : surgery alone).
* **Baseline.** Age ~ N(60, 10) years (57 in Japan/Korea), truncated to 24-85; 68% male; ECOG
  rises with age; height, BMI and haemoglobin depend on sex (and region); albumin and creatinine
  on ECOG, sex and age; Lauren type on sex and age, grade on Lauren type; pT 6/22/47/25%; nodes
  examined depend on D1/D2; involved nodes on pT, pN from involved nodes (TNM 7th); R1 more
  likely in pT4; total gastrectomy more likely for cardia and whole-stomach tumours.
  Missing completely at random, the same in both arms (ECOG 2%, weight/height 3%, Hb 4%,
  albumin 7%, creatinine 5%, CEA 12%, Lauren 6%, grade 5%, node counts 2%, smoking 8%,
  diabetes 3%, baseline QoL 10%, extent of surgery 1-2%).
* **Survival.** Overall survival and (latent) time to recurrence are Weibull proportional-hazards
  models sharing the prognostic index ``lp = 0.45 (pT - 3) + 0.32 (pN - 1.4) + 0.15 (age - 60)/10
  + 0.25 (ECOG - 0.5) + 0.40 R1 + 0.15 diffuse + 0.15 CEA - 0.15 D2`` plus a trial baseline shift;
  treatment multiplies the hazards by ``exp(theta_os[k])`` and ``exp(theta_dfs[k])``, where per
  trial ``(theta_os, theta_dfs) ~ N((mu_os, mu_dfs), tau^2 [[1, 0.8], [0.8, 1]])``. The two times
  are coupled by a Gaussian copula (rho 0.96); recurrence is observed only if it precedes death.
  DFS is the first of recurrence and death. Administrative censoring at the data cut-off (last
  contact 0-120 days before it) and loss to follow-up at 1.2% a year.
* **Continuous outcome.** ``qol_12m = 22 + 0.62 qol_baseline + delta[k] arm + N(0, 11^2)``,
  rounded and kept in 0-100; recorded for those alive, recurrence-free and under follow-up at 365
  days who return the form (88%); ``delta[k] ~ N(-3, 1)``.
* **Binary outcome.** ``logit P(grade 3+ toxicity) = -2.4 + lor[k] arm + 0.15 (age - 60)/10 +
  0.3 ECOG``, ``lor[k] ~ N(1.8, 0.3^2)`` (an intention-to-treat effect).

The log hazard ratios are conditional on the prognostic index, so an unadjusted Cox model
estimates a slightly attenuated effect (non-collapsibility); a Cox model adjusted for the
prognostic factors and stratified by trial recovers ``mu``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from repository.example.topic import TrialSpec, seed_sequence

__all__ = ["MODEL", "TrialEffects", "draw_effects", "simulate_trial"]

#: fixed parameters of the generating model (recorded in truth/trial_effects.yaml)
MODEL: dict[str, Any] = {
    "mu_os": -0.20, "mu_dfs": -0.25, "tau": 0.10, "rho_os_dfs_effects": 0.8,
    "os_weibull": {"shape": 0.9, "scale_years": 7.5},
    "recurrence_weibull": {"shape": 0.8, "scale_years": 6.0},
    "copula_rho": 0.96,
    "trial_baseline_shift_sd": 0.25,
    "prognostic_index": {"pT-3": 0.45, "pN-1.4": 0.32, "(age-60)/10": 0.15, "ECOG-0.5": 0.25,
                         "R1": 0.40, "diffuse": 0.15, "CEA elevated": 0.15, "D2": -0.15},
    "loss_to_follow_up_per_year": 0.012,
    "qol": {"intercept": 22.0, "baseline_slope": 0.62, "residual_sd": 11.0,
            "mu_delta": -3.0, "tau_delta": 1.0, "response_rate": 0.88},
    "toxicity": {"intercept": -2.4, "mu_log_or": 1.8, "tau_log_or": 0.3,
                 "age_per_10y": 0.15, "ecog": 0.3},
}

_MISSING = {"ecog": 0.02, "weight_kg": 0.03, "height_cm": 0.03, "haemoglobin_gdl": 0.04,
            "albumin_gl": 0.07, "creatinine_umol": 0.05, "cea_elevated": 0.12,
            "histology_lauren": 0.06, "grade": 0.05, "nodes": 0.02, "smoking": 0.08,
            "diabetes": 0.03, "qol_baseline": 0.10, "gastrectomy": 0.01,
            "lymphadenectomy": 0.02}


@dataclass(frozen=True)
class TrialEffects:
    """The true trial-level parameters of one trial."""

    acronym: str
    log_hr_os: float
    log_hr_dfs: float
    baseline_shift_os: float
    baseline_shift_dfs: float
    qol_delta: float
    tox_log_or: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def draw_effects(trials: Sequence[TrialSpec], seed: int) -> list[TrialEffects]:
    """Per-trial true effects: (theta_os, theta_dfs) ~ N(mu, tau^2 R) and the rest."""
    tau, r = MODEL["tau"], MODEL["rho_os_dfs_effects"]
    cov = tau**2 * np.array([[1.0, r], [r, 1.0]])
    out = []
    for spec in trials:
        rng = np.random.default_rng(seed_sequence(seed, 2, spec.index))
        os_, dfs = rng.multivariate_normal([MODEL["mu_os"], MODEL["mu_dfs"]], cov)
        shift = rng.normal(0.0, MODEL["trial_baseline_shift_sd"])
        if spec.country in ("Japan", "Korea"):
            shift -= 0.3
        out.append(TrialEffects(
            acronym=spec.acronym, log_hr_os=float(os_), log_hr_dfs=float(dfs),
            baseline_shift_os=float(shift), baseline_shift_dfs=float(shift + rng.normal(0, 0.1)),
            qol_delta=float(rng.normal(MODEL["qol"]["mu_delta"], MODEL["qol"]["tau_delta"])),
            tox_log_or=float(rng.normal(MODEL["toxicity"]["mu_log_or"],
                                        MODEL["toxicity"]["tau_log_or"]))))
    return out


def _weekdays(start: dt.date, end: dt.date, n: int, rng: np.random.Generator) -> np.ndarray:
    first = np.datetime64(start, "D")
    span = int(np.busday_count(first, np.datetime64(end, "D")))
    offsets = np.sort(rng.integers(0, max(span, 1), n))
    return np.busday_offset(first, offsets, roll="forward")


def _block_arms(centre: np.ndarray, ratio_chemo: int, rng: np.random.Generator) -> np.ndarray:
    """Permuted blocks within centre; participants are in randomisation order."""
    pattern = np.array([0] * 2 + [1] * 2 if ratio_chemo == 1 else [0] * 2 + [1] * 4)
    b = pattern.size
    n = centre.size
    order = np.lexsort((np.arange(n), centre))
    cs = centre[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
    counts = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, counts)
    blocks = -(-counts // b)
    block_offset = np.repeat(np.r_[0, np.cumsum(blocks)[:-1]], counts)
    perms = np.argsort(rng.random((int(blocks.sum()), b)), axis=1)
    arm_sorted = pattern[perms][block_offset + pos // b, pos % b]
    arm = np.empty(n, dtype=np.int64)
    arm[order] = arm_sorted
    return arm


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (n x k), returning codes 0..k-1."""
    cum: np.ndarray = np.cumsum(np.asarray(probs, dtype=np.float64), axis=1)
    cum[:, -1] = 1.0
    u = rng.random((probs.shape[0], 1))
    return (u > cum).sum(axis=1)


def _weibull_time(uniform: np.ndarray, eta: np.ndarray, shape: float, scale: float) -> np.ndarray:
    """Years until the event for S(t) = exp(-(t/scale)^shape exp(eta)) = uniform."""
    return scale * (-np.log(uniform) / np.exp(eta)) ** (1.0 / shape)


def simulate_trial(spec: TrialSpec, effects: TrialEffects, seed: int) -> pd.DataFrame:
    """True harmonised values for every participant of one trial, in randomisation order.

    ``participant_id`` is left empty (the trial's coding makes it); ``_seq`` is the
    randomisation sequence number, ``_birth_year``/``_birth_month`` the month of birth.
    """
    rng = np.random.default_rng(seed_sequence(seed, 3, spec.index))
    d = _design_and_baseline(spec, rng)
    d.update(_tumour_and_surgery(spec, d, rng))
    d.update(_treatment(effects, d, rng))
    d.update(_survival(spec, effects, d, rng))
    return _frame(spec, d, rng)


def _design_and_baseline(spec: TrialSpec, rng: np.random.Generator) -> dict[str, Any]:
    n = spec.n
    asian = spec.country in ("Japan", "Korea")
    rand = _weekdays(spec.accrual_start, spec.accrual_end, n, rng)
    m = spec.n_centres
    centre_p = rng.dirichlet(np.full(m, 1.5))
    centre = rng.choice(m, size=n, p=centre_p) + 1
    arm = _block_arms(centre, spec.ratio_chemo, rng)

    male = rng.random(n) < 0.68
    sex = np.where(male, 1, 2)
    age_c = np.clip(rng.normal(57.0 if asian else 60.0, 10.0, n), 24.0, 84.9)
    rand_months = rand.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    birth_months = rand_months - np.floor(age_c * 12).astype(np.int64)
    age = (rand_months - birth_months) // 12

    latent = 0.04 * (age - 60) + rng.normal(0, 1, n)
    ecog = np.digitize(latent, [0.14, 1.59])
    height = np.clip(np.where(male, rng.normal(167 if asian else 172, 7, n),
                              rng.normal(155 if asian else 160, 6, n)), 145, 198).round()
    bmi_latent = np.clip(rng.normal(22.0 if asian else 23.5, 3.0 if asian else 3.5, n)
                         - 0.5 * ecog, 16.5, 40.0)
    weight = np.clip(np.round(bmi_latent * (height / 100) ** 2, 1), 38.0, 150.0)
    hb = np.round(np.clip(np.where(male, rng.normal(13.4, 1.5, n), rng.normal(12.3, 1.3, n))
                          - 0.3 * ecog, 8.0, 17.5), 1)
    albumin = np.clip(rng.normal(40, 4.5, n) - 1.5 * ecog, 24, 52).round()
    creat = np.clip(np.where(male, rng.normal(85, 17, n), rng.normal(68, 14, n))
                    + 0.4 * (age - 60), 45, 180).round()
    return {"n": n, "asian": asian, "rand": rand, "centre": centre, "arm": arm, "male": male,
            "sex": sex, "age": age, "birth_year": 1970 + birth_months // 12,
            "birth_month": birth_months % 12 + 1, "ecog": ecog, "height": height,
            "weight": weight, "hb": hb, "albumin": albumin, "creat": creat}


def _tumour_and_surgery(spec: TrialSpec, d: dict[str, Any],
                        rng: np.random.Generator) -> dict[str, Any]:
    n, sex, age = d["n"], d["sex"], d["age"]
    site_p = [0.08, 0.40, 0.47, 0.05] if d["asian"] else [0.22, 0.33, 0.40, 0.05]
    site = rng.choice(4, size=n, p=site_p) + 1
    p_diffuse = np.clip(0.33 + 0.10 * (sex == 2) - 0.005 * (age - 60), 0.1, 0.7)
    lauren_p = np.column_stack([0.85 * (1 - p_diffuse), p_diffuse, 0.15 * (1 - p_diffuse)])
    lauren = _categorical(rng, lauren_p) + 1
    grade_table = np.array([[0.25, 0.45, 0.30], [0.02, 0.13, 0.85], [0.08, 0.35, 0.57]])
    grade = _categorical(rng, grade_table[lauren - 1]) + 1
    t_stage = rng.choice(4, size=n, p=[0.06, 0.22, 0.47, 0.25]) + 1
    d2 = rng.random(n) < spec.d2_share
    mean_nodes = np.where(d2, 34.0, 18.0)
    examined = np.clip(rng.poisson(rng.gamma(4.0, mean_nodes / 4.0)), 5, 80)
    node_neg = rng.random(n) < np.array([0.75, 0.50, 0.25, 0.15])[t_stage - 1]
    share = rng.beta(1.1, 3.5, n)
    positive = np.where(node_neg, 0, np.maximum(1, rng.binomial(examined, share)))
    n_stage = np.digitize(positive, [1, 3, 7])
    r1 = rng.random(n) < np.array([0.02, 0.05, 0.10, 0.22])[t_stage - 1]
    total = rng.random(n) < np.array([0.9, 0.6, 0.15, 1.0])[site - 1]
    surgery = np.busday_offset(d["rand"] - rng.integers(8, 41, n).astype("timedelta64[D]"), 0,
                               roll="backward")
    smoking_p = np.where(d["male"][:, None], [[0.30, 0.40, 0.30]], [[0.65, 0.20, 0.15]])
    smoking = _categorical(rng, smoking_p)
    diabetes = rng.random(n) < np.clip(0.11 + 0.004 * (age - 60), 0.02, 0.3)
    cea = rng.random(n) < expit(-1.6 + 0.4 * (t_stage - 3) + 0.3 * n_stage)
    qol0 = np.clip(rng.normal(70 - 7 * d["ecog"], 15, n), 0, 100).round()
    return {"site": site, "lauren": lauren, "grade": grade, "t_stage": t_stage, "d2": d2,
            "examined": examined, "positive": positive, "n_stage": n_stage, "r1": r1,
            "total": total, "surgery": surgery, "smoking": smoking, "diabetes": diabetes,
            "cea": cea, "qol0": qol0}


def _treatment(effects: TrialEffects, d: dict[str, Any],
               rng: np.random.Generator) -> dict[str, Any]:
    n, arm = d["n"], d["arm"]
    chemo_started = (arm == 1) & (rng.random(n) < 0.92)
    tox = MODEL["toxicity"]
    tox_lp = (tox["intercept"] + effects.tox_log_or * arm
              + tox["age_per_10y"] * (d["age"] - 60) / 10 + tox["ecog"] * d["ecog"])
    return {"chemo_started": chemo_started, "toxicity": rng.random(n) < expit(tox_lp)}


def _survival(spec: TrialSpec, effects: TrialEffects, d: dict[str, Any],
              rng: np.random.Generator) -> dict[str, Any]:
    """Weibull PH for death and (latent) recurrence, Gaussian copula; censoring; QoL at 12
    months."""
    n, arm, rand = d["n"], d["arm"], d["rand"]
    pi = MODEL["prognostic_index"]
    lp = (pi["pT-3"] * (d["t_stage"] - 3) + pi["pN-1.4"] * (d["n_stage"] - 1.4)
          + pi["(age-60)/10"] * (d["age"] - 60) / 10 + pi["ECOG-0.5"] * (d["ecog"] - 0.5)
          + pi["R1"] * d["r1"] + pi["diffuse"] * (d["lauren"] == 2) + pi["CEA elevated"] * d["cea"]
          + pi["D2"] * d["d2"])
    z1, z2 = rng.normal(size=(2, n))
    rho = MODEL["copula_rho"]
    u_os = np.clip(ndtr(z1), 1e-12, 1 - 1e-12)
    u_rec = np.clip(ndtr(rho * z1 + np.sqrt(1 - rho**2) * z2), 1e-12, 1 - 1e-12)
    w_os, w_rec = MODEL["os_weibull"], MODEL["recurrence_weibull"]
    t_os = _weibull_time(u_os, effects.baseline_shift_os + lp + effects.log_hr_os * arm,
                         w_os["shape"], w_os["scale_years"])
    t_rec = _weibull_time(u_rec, effects.baseline_shift_dfs + 1.05 * lp
                          + effects.log_hr_dfs * arm, w_rec["shape"], w_rec["scale_years"])
    os_days = np.ceil(t_os * 365.25).astype(np.int64)
    rec_days = np.ceil(t_rec * 365.25).astype(np.int64)
    cutoff = np.datetime64(spec.cutoff, "D")
    admin = (cutoff - rand).astype(np.int64) - rng.integers(0, 121, n)
    ltfu = np.ceil(rng.exponential(1.0 / MODEL["loss_to_follow_up_per_year"], n) * 365.25)
    censor = np.maximum(np.minimum(admin, ltfu).astype(np.int64), 30)
    os_event = os_days <= censor
    os_time = np.where(os_event, os_days, censor)
    recurred = (t_rec < t_os) & (rec_days <= censor)
    day = np.timedelta64(1, "D")
    cause_p = np.where(recurred[:, None], [[0.88, 0.05, 0.07]], [[0.10, 0.70, 0.20]])
    cause = np.where(os_event, _categorical(rng, cause_p), -1)
    q = MODEL["qol"]
    qol12 = np.clip(np.round(q["intercept"] + q["baseline_slope"] * d["qol0"]
                             + effects.qol_delta * arm + rng.normal(0, q["residual_sd"], n)),
                    0, 100)
    qol12_known = ((os_days > 365) & (censor >= 365) & (rec_days > 365)
                   & (rng.random(n) < q["response_rate"]))
    return {"os_event": os_event, "os_time": os_time, "dfs_event": recurred | os_event,
            "dfs_time": np.where(recurred, rec_days, os_time),
            "death_date": np.where(os_event, rand + os_days * day, np.datetime64("NaT")),
            "rec_date": np.where(recurred, rand + rec_days * day, np.datetime64("NaT")),
            "last_fu": rand + os_time * day, "cause": cause, "qol12": qol12,
            "qol12_known": qol12_known}


def _int_col(values: np.ndarray, miss: np.ndarray | None = None) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype=np.int64), dtype="Int64")
    return s.mask(pd.Series(miss)) if miss is not None else s


def _float_col(values: np.ndarray, miss: np.ndarray) -> pd.Series:
    return pd.Series(np.where(miss, np.nan, values), dtype="float64")


def _bool_col(values: np.ndarray, miss: np.ndarray | None = None) -> pd.Series:
    s = pd.Series(values.astype(bool), dtype="boolean")
    return s.mask(pd.Series(miss)) if miss is not None else s


def _str_col(codes: np.ndarray, labels: Sequence[str], miss: np.ndarray) -> pd.Series:
    out = np.asarray(labels, dtype=object)[np.clip(codes, 0, len(labels) - 1)]
    return pd.Series(np.where(miss | (codes < 0), None, out), dtype=object)


def _date_col(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[ns]"))


def _frame(spec: TrialSpec, d: dict[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """The truth frame; missing values drawn completely at random (same order as always)."""
    n = d["n"]

    def missing(name: str) -> np.ndarray:
        return rng.random(n) < _MISSING[name]

    never = np.zeros(n, bool)
    miss_w, miss_h, miss_nodes = missing("weight_kg"), missing("height_cm"), missing("nodes")
    bmi = np.round(d["weight"] / (d["height"] / 100) ** 2, 1)
    frame = pd.DataFrame({
        "participant_id": pd.Series([None] * n, dtype=object),
        "trial": spec.acronym,
        "arm": _int_col(d["arm"]),
        "rand_date": _date_col(d["rand"]),
        "centre": _int_col(d["centre"]),
        "age": _int_col(d["age"]),
        "sex": _int_col(d["sex"]),
        "ecog": _int_col(d["ecog"], missing("ecog")),
        "weight_kg": _float_col(d["weight"], miss_w),
        "height_cm": _int_col(d["height"], miss_h),
        "bmi": _float_col(bmi, miss_w | miss_h),
        "haemoglobin_gdl": _float_col(d["hb"], missing("haemoglobin_gdl")),
        "albumin_gl": _int_col(d["albumin"], missing("albumin_gl")),
        "creatinine_umol": _int_col(d["creat"], missing("creatinine_umol")),
        "cea_elevated": _bool_col(d["cea"], missing("cea_elevated")),
        "tumour_site": _int_col(d["site"]),
        "histology_lauren": _int_col(d["lauren"], missing("histology_lauren")),
        "grade": _int_col(d["grade"], missing("grade")),
        "t_stage": _int_col(d["t_stage"]),
        "n_stage": _int_col(d["n_stage"]),
        "nodes_examined": _int_col(d["examined"], miss_nodes),
        "nodes_positive": _int_col(d["positive"], miss_nodes),
        "resection_margin": _str_col(d["r1"].astype(int), ["R0", "R1"], never),
        "gastrectomy": _str_col((~d["total"]).astype(int), ["total", "subtotal"],
                                missing("gastrectomy")),
        "lymphadenectomy": _str_col(d["d2"].astype(int), ["D1", "D2"],
                                    missing("lymphadenectomy")),
        "surgery_date": _date_col(d["surgery"]),
        "smoking": _str_col(d["smoking"], ["never", "former", "current"], missing("smoking")),
        "diabetes": _bool_col(d["diabetes"], missing("diabetes")),
        "qol_baseline": _int_col(d["qol0"], missing("qol_baseline")),
        "qol_12m": _int_col(d["qol12"], ~d["qol12_known"]),
        "chemo_started": _bool_col(d["chemo_started"]),
        "grade3_toxicity": _bool_col(d["toxicity"]),
        "worst_ae_grade": pd.Series([pd.NA] * n, dtype="Int64"),
        "recurrence_date": _date_col(d["rec_date"]),
        "death_date": _date_col(d["death_date"]),
        "cause_of_death": _str_col(d["cause"], ["gastric_cancer", "other", "unknown"], never),
        "last_fu_date": _date_col(d["last_fu"]),
        "dfs_event": _int_col(d["dfs_event"].astype(int)),
        "dfs_time_days": _int_col(d["dfs_time"]),
        "os_event": _int_col(d["os_event"].astype(int)),
        "os_time_days": _int_col(d["os_time"]),
    })
    frame["_seq"] = np.arange(1, n + 1)
    frame["_birth_year"] = d["birth_year"]
    frame["_birth_month"] = d["birth_month"]
    return frame
