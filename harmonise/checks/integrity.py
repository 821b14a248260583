"""Trial-integrity checks (PRISMA-IPD item A1; EBCTCG / MRC CTU practice).

Each check looks at one trial's harmonised data as a whole and returns one
:class:`IntegrityFinding` with status ``passed``, ``failed`` or ``skipped`` (a check that
cannot run - say, no randomisation dates - is reported as skipped with the reason, never as
passed). Participant-level anomalies (ranges, categories, date order) are the dictionary's job
(:mod:`harmonise.checks.validation`); these checks judge the trial: its numbers, balance, patterns
and follow-up. Every check, its severity and its threshold are listed in :data:`CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

__all__ = [
    "ArmInfo",
    "SurvivalSpec",
    "IntegrityContext",
    "CheckSpec",
    "CHECKS",
    "IntegrityFinding",
    "run_checks",
    "ReverseKM",
    "reverse_km",
]


@dataclass(frozen=True)
class ArmInfo:
    code: Any  # harmonised arm code
    label: str
    ratio: int = 1
    published_n: int | None = None


@dataclass(frozen=True)
class SurvivalSpec:
    name: str
    time: str
    event: str


@dataclass(frozen=True)
class IntegrityContext:
    """What the checks need to know about a trial and the dictionary."""

    trial: str
    arm_variable: str
    arms: tuple[ArmInfo, ...]
    id_variable: str = "participant_id"
    rand_date: str | None = None
    #: baseline covariates (measured before randomisation) and whether each is categorical
    baseline: tuple[tuple[str, bool], ...] = ()
    #: dates that must not precede randomisation (events, follow-up)
    later_dates: tuple[str, ...] = ()
    #: follow-up variables whose missingness must not depend on the arm
    follow_up: tuple[str, ...] = ()
    survival: tuple[SurvivalSpec, ...] = ()


@dataclass(frozen=True)
class CheckSpec:
    """One integrity check. ``scope``: ``participant`` when each participant it lists has a
    problem of their own (one question each, grouped with their other findings), ``trial``
    when it judges the trial as a whole (one question, with the participants it lists, if
    any). ``topic``: checks of one topic that fail together share a cause (arm counts,
    follow-up) and are asked as one question."""

    id: str
    title: str
    severity: str
    threshold: str
    scope: str = "trial"
    topic: str = ""


CHECKS: dict[str, CheckSpec] = {c.id: c for c in [
    CheckSpec("ids", "Duplicate or missing participant IDs", "error",
              "any participant ID that is blank or occurs on more than one row",
              scope="participant", topic="ids"),
    CheckSpec("randomised-n", "Randomised N per arm vs the publication", "error",
              "an arm's delivered N differs from the published N by more than 10% of the "
              "published N (PRIME-IPD)", topic="arm-counts"),
    CheckSpec("allocation-ratio", "Allocation ratio", "warning",
              "the delivered arm sizes are incompatible with the planned ratio: chi-square "
              "goodness-of-fit p < 0.001", topic="arm-counts"),
    CheckSpec("baseline-balance", "Baseline balance by arm", "warning",
              "a baseline covariate differs between arms with p < 0.001 / k (Bonferroni over the "
              "k covariates tested; Welch t-test or ANOVA for numbers, chi-square for categories)",
              topic="balance"),
    CheckSpec("randomisation-weekday", "Randomisation weekday pattern", "warning",
              "more than 5% of randomisations on a Saturday or Sunday", topic="weekday"),
    CheckSpec("randomisation-sequence", "Randomisation sequence", "warning",
              "runs test on the arm sequence in randomisation-date order, one-sided: too few "
              "runs (allocations clustered in time) with p < 0.001; two-arm trials. Blocked "
              "randomisation gives more runs than chance and is not flagged",
              topic="sequence"),
    CheckSpec("dates-after-randomisation", "Events and follow-up after randomisation", "error",
              "any event or follow-up date before the randomisation date, or a negative "
              "time-to-event", scope="participant", topic="dates"),
    CheckSpec("follow-up-by-arm", "Follow-up by arm (reverse Kaplan-Meier)", "warning",
              "the arms' reverse Kaplan-Meier median follow-up differ by a ratio outside 0.8-1.25",
              topic="follow-up"),
    CheckSpec("missingness-by-arm", "Missingness by arm", "warning",
              "a baseline or follow-up variable's missing share differs between arms by at least "
              "10 percentage points with Fisher's exact / chi-square p < 0.001",
              topic="missing"),
]}


@dataclass(frozen=True)
class IntegrityFinding:
    check: str
    trial: str
    status: str  # passed | failed | skipped
    message: str
    severity: str = "info"
    variable: str | None = None
    participants: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "trial": self.trial, "status": self.status,
                "severity": self.severity, "message": self.message, "variable": self.variable,
                "participants": list(self.participants), "rows": list(self.rows),
                "details": self.details}


def _finding(ctx: IntegrityContext, check: str, status: str, message: str,
             **kw: Any) -> IntegrityFinding:
    severity = CHECKS[check].severity if status == "failed" else "info"
    return IntegrityFinding(check=check, trial=ctx.trial, status=status, message=message,
                            severity=severity, **kw)


def _contingency(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Counts of (a, b) pairs, rows and columns without any count dropped (np.bincount; much
    faster than pd.crosstab on the many small tables the checks build)."""
    ca, ua = pd.factorize(a, sort=True)
    cb, ub = pd.factorize(b, sort=True)
    ok = (ca >= 0) & (cb >= 0)
    table = np.bincount(ca[ok] * len(ub) + cb[ok], minlength=len(ua) * len(ub))
    table = table.reshape(len(ua), len(ub))
    return table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]


@dataclass(frozen=True, eq=False)
class ReverseKM:
    """The reverse Kaplan-Meier curve of one group: censoring as the event, so the curve is the
    proportion of participants still followed. At each distinct ``time`` (ascending):
    ``at_risk`` just before it and ``followed``, the curve just after it."""

    time: np.ndarray
    at_risk: np.ndarray
    followed: np.ndarray

    @property
    def median(self) -> float | None:
        """Median follow-up (None when the curve does not reach 0.5), as
        ``analyses.km.reverse_km_followup`` reports it (tests compare the two)."""
        below = np.flatnonzero(self.followed <= 0.5 + 1e-12)
        if not below.size:
            return None
        i = below[0]
        # R's quantile rule: where the curve is flat at exactly 0.5, the midpoint of the flat part
        if abs(self.followed[i] - 0.5) < 1e-12 and i + 1 < len(self.time):
            return float((self.time[i] + self.time[i + 1]) / 2)
        return float(self.time[i])

    def at_risk_at(self, when: float) -> int:
        """Participants still at risk at time ``when`` (followed at least that long)."""
        i = int(np.searchsorted(self.time, when, side="left"))
        return int(self.at_risk[i]) if i < len(self.time) else 0


def reverse_km(time: np.ndarray, event: np.ndarray) -> ReverseKM:
    """The reverse Kaplan-Meier curve of ``time`` and ``event`` (1 = event, 0 = censored); a
    lean version for the many trials the checks visit (the follow-up plot of the trial report
    draws it too)."""
    time = np.asarray(time, dtype=float)
    censored = np.asarray(event) == 0
    order = np.argsort(time, kind="stable")
    t, c = time[order], censored[order].astype(float)
    unique, first = np.unique(t, return_index=True)
    at_risk = len(t) - first
    d = np.add.reduceat(c, first) if len(t) else np.zeros(0)
    return ReverseKM(time=unique, at_risk=at_risk, followed=np.cumprod(1.0 - d / at_risk))


def _dates(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce")


def _chi2_p(table: np.ndarray) -> float:
    """Pearson's chi-square test of independence (no continuity correction)."""
    table = np.asarray(table, dtype=float)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return float(special.chdtrc(dof, stat))


def _rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> tuple[int, ...]:
    mask = np.asarray(mask, dtype=bool)
    if "_row" in frame.columns:
        return tuple(int(r) for r in frame.loc[mask, "_row"])
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def _arm_series(frame: pd.DataFrame, ctx: IntegrityContext) -> pd.Series:
    return frame[ctx.arm_variable]


def check_ids(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    if ctx.id_variable not in frame.columns:
        return _finding(ctx, "ids", "skipped", f"no {ctx.id_variable} column")
    ids = frame[ctx.id_variable]
    blank = ids.isna()
    dup = ids.notna() & ids.duplicated(keep=False)
    if not blank.any() and not dup.any():
        return _finding(ctx, "ids", "passed", f"{len(ids)} distinct participant IDs")
    parts = []
    if dup.any():
        parts.append(f"{ids[dup].nunique()} ID(s) on more than one row")
    if blank.any():
        parts.append(f"{int(blank.sum())} row(s) without an ID")
    return _finding(ctx, "ids", "failed", "; ".join(parts),
                    participants=tuple(sorted(set(ids[dup].astype(str)))),
                    rows=_rows(frame, dup | blank),
                    details={"duplicated": int(ids[dup].nunique()), "blank": int(blank.sum())})


def check_randomised_n(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    published = {a.code: a.published_n for a in ctx.arms}
    if not ctx.arms or any(n is None for n in published.values()):
        return _finding(ctx, "randomised-n", "skipped",
                        "published randomised N per arm not registered for this trial")
    counts = _arm_series(frame, ctx).value_counts(dropna=False)
    present = [v for v in counts.index if not pd.isna(v)]
    if present and not any(a.code in present or str(a.code) in map(str, present)
                           for a in ctx.arms):
        return _finding(ctx, "randomised-n", "skipped",
                        f"the registered arm codes ({', '.join(str(a.code) for a in ctx.arms)}) "
                        f"match none of the arms in the data "
                        f"({', '.join(map(str, sorted(present, key=str)))}); register each arm's "
                        "dictionary code (`ipdrepo trial update`)")
    rows = []
    bad = []
    for arm in ctx.arms:
        n = int(counts.get(arm.code, 0))
        diff = (n - arm.published_n) / arm.published_n if arm.published_n else float("inf")
        rows.append({"arm": arm.label, "delivered": n, "published": arm.published_n,
                     "difference": round(diff, 4)})
        if abs(diff) > 0.10:
            bad.append(f"{arm.label}: {n} delivered vs {arm.published_n} published "
                       f"({diff:+.0%})")
    missing_arm = int(_arm_series(frame, ctx).isna().sum())
    details = {"arms": rows, "arm_missing": missing_arm}
    if bad:
        return _finding(ctx, "randomised-n", "failed", "; ".join(bad), variable=ctx.arm_variable,
                        details=details)
    return _finding(ctx, "randomised-n", "passed",
                    "delivered N per arm within 10% of the published N", details=details)


def check_allocation_ratio(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    if len(ctx.arms) < 2:
        return _finding(ctx, "allocation-ratio", "skipped", "fewer than two arms registered")
    counts = _arm_series(frame, ctx).value_counts()
    observed = np.array([counts.get(a.code, 0) for a in ctx.arms], dtype=float)
    ratios = np.array([a.ratio for a in ctx.arms], dtype=float)
    if observed.sum() == 0:
        return _finding(ctx, "allocation-ratio", "skipped", "no participant has an arm")
    expected = observed.sum() * ratios / ratios.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())  # Pearson's goodness of fit
    p = float(special.chdtrc(len(observed) - 1, chi2))
    details = {"observed": observed.astype(int).tolist(), "planned_ratio": ratios.astype(int).tolist(),
               "chi2": float(chi2), "p": float(p)}
    ratio_text = ":".join(str(int(r)) for r in ratios)
    if p < 0.001:
        return _finding(ctx, "allocation-ratio", "failed",
                        f"arm sizes {observed.astype(int).tolist()} are incompatible with the "
                        f"planned {ratio_text} allocation (chi-square p = {p:.2g})",
                        variable=ctx.arm_variable, details=details)
    return _finding(ctx, "allocation-ratio", "passed",
                    f"arm sizes compatible with {ratio_text} (p = {p:.2g})", details=details)


def _arm_codes(frame: pd.DataFrame, ctx: IntegrityContext) -> np.ndarray:
    """Each row's arm as an index into ctx.arms (-1 when missing or not a registered arm)."""
    arm = _arm_series(frame, ctx)
    codes = np.full(len(frame), -1, dtype=np.int64)
    for i, a in enumerate(ctx.arms):
        codes[(arm == a.code).to_numpy(dtype=bool, na_value=False)] = i
    return codes


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return 1.0
    t = (b.mean() - a.mean()) / se
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(2 * special.stdtr(df, -abs(t)))


def _anova_p(groups: list[np.ndarray]) -> float:
    """One-way ANOVA F test of equal means."""
    values = np.concatenate(groups)
    k, n = len(groups), len(values)
    between = sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups) / (k - 1)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = between / within
    return float(special.fdtrc(k - 1, n - k, f))


def check_baseline_balance(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    arm = _arm_codes(frame, ctx)
    randomised = arm >= 0
    tested: list[dict[str, Any]] = []
    for name, categorical in ctx.baseline:
        if name not in frame.columns:
            continue
        column = frame[name]
        if categorical:
            # codes of the whole column (sorted; -1 where missing), kept for the rows tested:
            # values of other rows only add empty table rows, which are dropped below
            all_codes, uniques = pd.factorize(column, sort=True)
            present = (all_codes >= 0) & randomised
        else:
            present = column.notna().to_numpy() & randomised
        arms_seen = arm[present]
        if len(arms_seen) < 10 or np.bincount(arms_seen).astype(bool).sum() < 2:
            continue
        if categorical:
            codes = all_codes[present]
            table = np.bincount(codes * len(ctx.arms) + arms_seen,
                                minlength=len(uniques) * len(ctx.arms))
            table = table.reshape(len(uniques), len(ctx.arms))
            table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
            if table.shape[0] < 2 or table.shape[1] < 2:
                continue
            p = float(_chi2_p(table))
            smd = None
        else:
            x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            usable = present & ~np.isnan(x)
            groups = [x[usable & (arm == i)] for i in range(len(ctx.arms))]
            groups = [g for g in groups if len(g)]
            if len(groups) < 2 or any(len(g) < 2 for g in groups) or \
                    all(g.var() == 0 for g in groups):
                continue
            if len(groups) == 2:
                p = _welch_p(groups[0], groups[1])
                pooled = np.sqrt((groups[0].var(ddof=1) + groups[1].var(ddof=1)) / 2)
                smd = float((groups[1].mean() - groups[0].mean()) / pooled) if pooled > 0 \
                    else None
            else:
                p = _anova_p(groups)
                smd = None
        tested.append({"variable": name, "p": p, "smd": smd})
    if not tested:
        return _finding(ctx, "baseline-balance", "skipped",
                        "no baseline covariate with enough data in two arms")
    k = len(tested)
    flagged = [t for t in tested if t["p"] < 0.001 / k]
    details = {"tested": tested, "alpha": 0.001 / k}
    if flagged:
        worst = min(flagged, key=lambda t: t["p"])
        return _finding(ctx, "baseline-balance", "failed",
                        f"{len(flagged)} of {k} baseline covariates differ between arms beyond "
                        f"chance (worst: {worst['variable']}, p = {worst['p']:.2g})",
                        variable=worst["variable"], details=details)
    return _finding(ctx, "baseline-balance", "passed",
                    f"{k} baseline covariates balanced (all p >= {0.001 / k:.2g})",
                    details=details)


def check_weekday(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.rand_date or ctx.rand_date not in frame.columns:
        return _finding(ctx, "randomisation-weekday", "skipped", "no randomisation dates")
    dates = _dates(frame[ctx.rand_date]).dropna()
    if dates.empty:
        return _finding(ctx, "randomisation-weekday", "skipped", "randomisation dates all missing")
    weekend = dates.dt.dayofweek >= 5
    share = float(weekend.mean())
    by_day = dates.dt.day_name().value_counts().to_dict()
    if share > 0.05:
        mask = _dates(frame[ctx.rand_date]).dt.dayofweek >= 5
        return _finding(ctx, "randomisation-weekday", "failed",
                        f"{int(weekend.sum())} of {len(dates)} randomisations ({share:.0%}) on a "
                        "weekend", variable=ctx.rand_date, rows=_rows(frame, mask.fillna(False)),
                        details={"by_weekday": by_day})
    return _finding(ctx, "randomisation-weekday", "passed",
                    f"{share:.1%} of randomisations on a weekend", details={"by_weekday": by_day})


def _runs_test(x: np.ndarray) -> tuple[int, float]:
    """Wald-Wolfowitz runs test, one-sided for too few runs (normal approximation)."""
    n1 = int(x.sum())
    n2 = int(len(x) - n1)
    runs = int(1 + np.count_nonzero(x[1:] != x[:-1]))
    n = n1 + n2
    mean = 1 + 2 * n1 * n2 / n
    var = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    if var <= 0:
        return runs, 1.0
    z = (runs - mean) / np.sqrt(var)
    return runs, float(special.ndtr(z))


def check_sequence(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.rand_date or ctx.rand_date not in frame.columns:
        return _finding(ctx, "randomisation-sequence", "skipped", "no randomisation dates")
    if len(ctx.arms) != 2:
        return _finding(ctx, "randomisation-sequence", "skipped", "runs test needs two arms")
    data = pd.DataFrame({"d": _dates(frame[ctx.rand_date]),
                         "a": _arm_series(frame, ctx)}).dropna()
    if len(data) < 20:
        return _finding(ctx, "randomisation-sequence", "skipped",
                        "fewer than 20 participants with a date and an arm")
    order = data.sort_values("d", kind="stable")
    known = order["a"].isin([a.code for a in ctx.arms]).to_numpy()
    x = (order["a"] == ctx.arms[1].code).to_numpy()[known]
    if x.all() or not x.any():
        return _finding(ctx, "randomisation-sequence", "skipped",
                        "the dated allocations are all in one arm (one run): the sequence cannot "
                        "be tested")
    runs, p = _runs_test(x)
    details = {"runs": runs, "n": int(len(x)), "p": p}
    if p < 0.001:
        return _finding(ctx, "randomisation-sequence", "failed",
                        f"only {runs} runs in {len(x)} allocations ordered by date: the arms are "
                        f"clustered in time, not randomly allocated (p = {p:.2g})",
                        variable=ctx.arm_variable,
                        details=details)
    return _finding(ctx, "randomisation-sequence", "passed",
                    f"arm sequence compatible with random allocation (runs test p = {p:.2g})",
                    details=details)


def check_dates_after_randomisation(frame: pd.DataFrame,
                                    ctx: IntegrityContext) -> IntegrityFinding:
    """Later dates before the randomisation date, negative times. ``details["by_row"]``: for
    each failing row, the variables that fail on it. A date is only checked where it and the
    randomisation date are both known: with none such, the check is skipped."""
    checked = []
    bad = pd.Series(False, index=frame.index)
    by_variable: dict[str, int] = {}
    failing: dict[str, pd.Series] = {}
    if ctx.rand_date and ctx.rand_date in frame.columns:
        rand = _dates(frame[ctx.rand_date])
        for name in ctx.later_dates:
            if name in frame.columns:
                later = _dates(frame[name])
                if not (later.notna() & rand.notna()).any():
                    continue
                before = (later < rand).fillna(False)
                checked.append(name)
                if before.any():
                    by_variable[name] = int(before.sum())
                    failing[name] = before
                    bad |= before
    for spec in ctx.survival:
        if spec.time in frame.columns:
            times = pd.to_numeric(frame[spec.time], errors="coerce")
            if not times.notna().any():
                continue
            negative = (times < 0).fillna(False)
            checked.append(spec.time)
            if negative.any():
                by_variable[spec.time] = int(negative.sum())
                failing[spec.time] = negative
                bad |= negative
    if not checked:
        return _finding(ctx, "dates-after-randomisation", "skipped",
                        "no event or follow-up date or time known together with a "
                        "randomisation date")
    if bad.any():
        ids = frame.loc[bad, ctx.id_variable].astype(str) if ctx.id_variable in frame else []
        text = ", ".join(f"{v}: {n}" for v, n in by_variable.items())
        rows = _rows(frame, bad)
        masks = {name: np.asarray(mask, dtype=bool)[np.asarray(bad, dtype=bool)]
                 for name, mask in failing.items()}
        by_row = {str(row): [name for name, m in masks.items() if m[i]]
                  for i, row in enumerate(rows)}
        return _finding(ctx, "dates-after-randomisation", "failed",
                        f"{int(bad.sum())} participant(s) with an event or follow-up before "
                        f"randomisation ({text})", participants=tuple(sorted(set(ids))),
                        rows=rows, details={"by_variable": by_variable, "by_row": by_row})
    return _finding(ctx, "dates-after-randomisation", "passed",
                    f"all of {', '.join(checked)} on or after randomisation")


def check_follow_up(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.survival or len(ctx.arms) < 2:
        return _finding(ctx, "follow-up-by-arm", "skipped",
                        "no time-to-event outcome or fewer than two arms")
    spec = ctx.survival[0]
    if spec.time not in frame.columns or spec.event not in frame.columns:
        return _finding(ctx, "follow-up-by-arm", "skipped", f"{spec.name}: time or event missing")
    arm = _arm_series(frame, ctx)
    # negative times are the dates check's business; they cannot enter a Kaplan-Meier curve
    times = pd.to_numeric(frame[spec.time], errors="coerce")
    usable = (arm.notna() & (times >= 0).fillna(False) & frame[spec.event].notna()).to_numpy()
    t_all = times.to_numpy(dtype=float, na_value=np.nan)
    e_all = pd.to_numeric(frame[spec.event], errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
    medians: dict[str, float | None] = {}
    for a in ctx.arms:
        mask = usable & (arm == a.code).to_numpy(dtype=bool, na_value=False)
        if mask.sum() < 5:
            return _finding(ctx, "follow-up-by-arm", "skipped",
                            f"fewer than 5 participants with {spec.name} data in arm {a.label}")
        medians[a.label] = reverse_km(t_all[mask], e_all[mask]).median
    if any(m is None for m in medians.values()):
        return _finding(ctx, "follow-up-by-arm", "skipped",
                        "median follow-up not reached in an arm", details={"medians": medians})
    values = [m for m in medians.values() if m is not None]
    ratio = max(values) / min(values) if min(values) > 0 else float("inf")
    details = {"outcome": spec.name, "median_follow_up": medians, "ratio": ratio}
    text = ", ".join(f"{k} {v:.0f}" for k, v in medians.items())
    if ratio > 1.25:
        return _finding(ctx, "follow-up-by-arm", "failed",
                        f"median follow-up differs between arms ({text}; ratio {ratio:.2f})",
                        variable=spec.time, details=details)
    return _finding(ctx, "follow-up-by-arm", "passed", f"median follow-up {text}",
                    details=details)


def check_missingness(frame: pd.DataFrame, ctx: IntegrityContext) -> IntegrityFinding:
    arm = _arm_series(frame, ctx)
    names = [n for n, _ in ctx.baseline] + list(ctx.follow_up)
    flagged: list[dict[str, Any]] = []
    tested = 0
    known = arm.notna().to_numpy()
    codes, arms_seen = pd.factorize(arm[known], sort=True)
    for name in names:
        if name not in frame.columns:
            continue
        missing = frame[name].isna().to_numpy()
        if missing.all() or not missing.any():
            tested += 1
            continue
        tested += 1
        if len(arms_seen) < 2:
            continue
        miss = missing[known]
        n_arm = np.bincount(codes, minlength=len(arms_seen))
        n_missing = np.bincount(codes[miss], minlength=len(arms_seen))
        table = np.vstack([n_arm - n_missing, n_missing])
        share = n_missing / n_arm
        spread = float(share.max() - share.min())
        if spread < 0.10:  # below the threshold whatever the p-value: skip the test
            continue
        expected_small = (np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum() < 5).any()
        if table.shape == (2, 2) and expected_small:
            from scipy import stats  # only here: scipy.stats takes seconds to import

            p = float(stats.fisher_exact(table)[1])
        else:
            p = float(_chi2_p(table))
        if p < 0.001:
            labels = {a.code: a.label for a in ctx.arms}
            flagged.append({"variable": name, "p": p,
                            "missing_share": {labels.get(k, str(k)): round(float(v), 4)
                                              for k, v in zip(arms_seen, share)}})
    if tested == 0:
        return _finding(ctx, "missingness-by-arm", "skipped", "no baseline or follow-up variables")
    if flagged:
        text = "; ".join(f"{f['variable']} missing " + ", ".join(
            f"{k} {v:.0%}" for k, v in f["missing_share"].items()) for f in flagged)
        return _finding(ctx, "missingness-by-arm", "failed", text,
                        variable=flagged[0]["variable"], details={"flagged": flagged})
    return _finding(ctx, "missingness-by-arm", "passed",
                    f"missingness of {tested} variables does not depend on the arm")


_RUNNERS: dict[str, Callable[[pd.DataFrame, IntegrityContext], IntegrityFinding]] = {
    "ids": check_ids,
    "randomised-n": check_randomised_n,
    "allocation-ratio": check_allocation_ratio,
    "baseline-balance": check_baseline_balance,
    "randomisation-weekday": check_weekday,
    "randomisation-sequence": check_sequence,
    "dates-after-randomisation": check_dates_after_randomisation,
    "follow-up-by-arm": check_follow_up,
    "missingness-by-arm": check_missingness,
}


def run_checks(frame: pd.DataFrame, ctx: IntegrityContext,
               only: Sequence[str] | None = None) -> list[IntegrityFinding]:
    """Run every check (or ``only`` those) on one trial's harmonised frame."""
    ids = list(only) if only else list(_RUNNERS)
    out = []
    for check_id in ids:
        if ctx.arm_variable not in frame.columns and check_id != "ids":
            out.append(_finding(ctx, check_id, "skipped", f"no {ctx.arm_variable} column"))
            continue
        out.append(_RUNNERS[check_id](frame, ctx))
    return out
