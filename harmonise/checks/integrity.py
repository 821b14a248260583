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

from harmonise.checks.columns import TrialColumns
from harmonise.checks.distributions import chi2_sf
from harmonise.checks.statistics import anova_p, chi2_p, group_summaries, runs_test, welch_p

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


def _arms_in_data(cols: TrialColumns) -> tuple[np.ndarray, list[Any]]:
    """Rows per distinct arm value in the data (sorted) and those values."""
    codes, uniques = cols.arm_values
    return np.bincount(codes[codes >= 0], minlength=len(uniques)), list(uniques)


def _arm_counts(cols: TrialColumns, ctx: IntegrityContext) -> np.ndarray:
    """Rows per registered arm."""
    arm = cols.arm
    return np.bincount(arm[arm >= 0], minlength=len(ctx.arms))


def check_ids(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if ctx.id_variable not in cols:
        return _finding(ctx, "ids", "skipped", f"no {ctx.id_variable} column")
    ids = cols.frame[ctx.id_variable]
    blank = ~cols.known(ctx.id_variable)
    dup = ~blank & ids.duplicated(keep=False).to_numpy(dtype=bool)
    if not blank.any() and not dup.any():
        return _finding(ctx, "ids", "passed", f"{len(ids)} distinct participant IDs")
    repeated = sorted(set(ids[dup].astype(str)))
    parts = []
    if dup.any():
        parts.append(f"{len(repeated)} ID(s) on more than one row")
    if blank.any():
        parts.append(f"{int(blank.sum())} row(s) without an ID")
    return _finding(ctx, "ids", "failed", "; ".join(parts), participants=tuple(repeated),
                    rows=cols.rows(dup | blank),
                    details={"duplicated": len(repeated), "blank": int(blank.sum())})


def check_randomised_n(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.arms or any(a.published_n is None for a in ctx.arms):
        return _finding(ctx, "randomised-n", "skipped",
                        "published randomised N per arm not registered for this trial")
    _, present = _arms_in_data(cols)
    if present and not any(a.code in present or str(a.code) in map(str, present)
                           for a in ctx.arms):
        return _finding(ctx, "randomised-n", "skipped",
                        f"the registered arm codes ({', '.join(str(a.code) for a in ctx.arms)}) "
                        f"match none of the arms in the data "
                        f"({', '.join(map(str, sorted(present, key=str)))}); register each arm's "
                        "dictionary code (`ipdrepo trial update`)")
    rows = []
    bad = []
    for arm, n in zip(ctx.arms, _arm_counts(cols, ctx).tolist()):
        published = int(arm.published_n or 0)
        diff = (n - published) / published if published else float("inf")
        rows.append({"arm": arm.label, "delivered": n, "published": arm.published_n,
                     "difference": round(diff, 4)})
        if abs(diff) > 0.10:
            bad.append(f"{arm.label}: {n} delivered vs {arm.published_n} published "
                       f"({diff:+.0%})")
    missing_arm = int((~cols.known(ctx.arm_variable)).sum())
    details = {"arms": rows, "arm_missing": missing_arm}
    if bad:
        return _finding(ctx, "randomised-n", "failed", "; ".join(bad), variable=ctx.arm_variable,
                        details=details)
    return _finding(ctx, "randomised-n", "passed",
                    "delivered N per arm within 10% of the published N", details=details)


def check_allocation_ratio(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if len(ctx.arms) < 2:
        return _finding(ctx, "allocation-ratio", "skipped", "fewer than two arms registered")
    observed = _arm_counts(cols, ctx).astype(float)
    ratios = np.array([a.ratio for a in ctx.arms], dtype=float)
    if observed.sum() == 0:
        return _finding(ctx, "allocation-ratio", "skipped", "no participant has an arm")
    expected = observed.sum() * ratios / ratios.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())  # Pearson's goodness of fit
    p = chi2_sf(len(observed) - 1, chi2)
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


def _categorical_balance(cols: TrialColumns, name: str, k: int) -> float | None:
    """Chi-square p of a categorical covariate by arm (None: too little data to test)."""
    arm = cols.arm
    codes, n_codes = cols.codes(name)
    present = (codes >= 0) & (arm >= 0)
    arms_seen = arm[present]
    if len(arms_seen) < 10 or np.count_nonzero(np.bincount(arms_seen, minlength=k)) < 2:
        return None
    table = np.bincount(codes[present] * k + arms_seen, minlength=n_codes * k).reshape(n_codes, k)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    return chi2_p(table)


def _numeric_balances(cols: TrialColumns, names: list[str], k: int
                      ) -> dict[str, tuple[float, float | None]]:
    """Welch (two arms) or ANOVA p of each numeric covariate by arm, and for two arms the
    standardised mean difference; covariates with too little data to test are left out. The
    arms' summaries of all covariates are computed at once."""
    arm = cols.arm
    randomised = arm >= 0
    if not names or not randomised.any():
        return {}
    values = np.column_stack([cols.numbers(name) for name in names])[randomised]
    known = np.column_stack([cols.known(name) for name in names])[randomised]
    sizes, means, squares = group_summaries(values, arm[randomised], k)
    out: dict[str, tuple[float, float | None]] = {}
    for j, name in enumerate(names):
        seen = sizes[j] > 0
        if np.count_nonzero(known[:, j]) < 10 or np.count_nonzero(seen) < 2:
            continue
        n, mean, ss = sizes[j][seen], means[j][seen], squares[j][seen]
        if (n < 2).any() or (ss == 0).all():
            continue
        if len(n) > 2:
            out[name] = (anova_p(n, mean, ss), None)
            continue
        var = ss / (n - 1)
        pooled = np.sqrt(var.sum() / 2)
        out[name] = (welch_p(n, mean, var),
                     float((mean[1] - mean[0]) / pooled) if pooled > 0 else None)
    return out


def check_baseline_balance(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    k = len(ctx.arms)
    baseline = [(name, categorical) for name, categorical in ctx.baseline if name in cols]
    numeric = _numeric_balances(cols, [n for n, c in baseline if not c], k) if k else {}
    tested: list[dict[str, Any]] = []
    for name, categorical in baseline:
        p = _categorical_balance(cols, name, k) if categorical and k else None
        if p is not None:
            tested.append({"variable": name, "p": p, "smd": None})
        elif name in numeric:
            tested.append({"variable": name, "p": numeric[name][0], "smd": numeric[name][1]})
    if not tested:
        return _finding(ctx, "baseline-balance", "skipped",
                        "no baseline covariate with enough data in two arms")
    alpha = 0.001 / len(tested)
    flagged = [t for t in tested if t["p"] < alpha]
    details = {"tested": tested, "alpha": alpha}
    if flagged:
        worst = min(flagged, key=lambda t: t["p"])
        return _finding(ctx, "baseline-balance", "failed",
                        f"{len(flagged)} of {len(tested)} baseline covariates differ between "
                        f"arms beyond chance (worst: {worst['variable']}, p = {worst['p']:.2g})",
                        variable=worst["variable"], details=details)
    return _finding(ctx, "baseline-balance", "passed",
                    f"{len(tested)} baseline covariates balanced (all p >= {alpha:.2g})",
                    details=details)




_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def check_weekday(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.rand_date or ctx.rand_date not in cols:
        return _finding(ctx, "randomisation-weekday", "skipped", "no randomisation dates")
    dates = cols.dates(ctx.rand_date)
    known = ~np.isnat(dates)
    if not known.any():
        return _finding(ctx, "randomisation-weekday", "skipped", "randomisation dates all missing")
    # 1970-01-01 was a Thursday (Monday = 0)
    weekday = (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7
    weekend = known & (weekday >= 5)
    n_weekend, n_known = int(weekend.sum()), int(known.sum())
    share = n_weekend / n_known
    counts = np.bincount(weekday[known], minlength=7)
    by_day = {_WEEKDAYS[d]: int(counts[d]) for d in np.argsort(-counts, kind="stable")
              if counts[d]}
    if share > 0.05:
        return _finding(ctx, "randomisation-weekday", "failed",
                        f"{n_weekend} of {n_known} randomisations ({share:.0%}) on a "
                        "weekend", variable=ctx.rand_date, rows=cols.rows(weekend),
                        details={"by_weekday": by_day})
    return _finding(ctx, "randomisation-weekday", "passed",
                    f"{share:.1%} of randomisations on a weekend", details={"by_weekday": by_day})


def check_sequence(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.rand_date or ctx.rand_date not in cols:
        return _finding(ctx, "randomisation-sequence", "skipped", "no randomisation dates")
    if len(ctx.arms) != 2:
        return _finding(ctx, "randomisation-sequence", "skipped", "runs test needs two arms")
    dates = cols.dates(ctx.rand_date)
    dated = ~np.isnat(dates) & cols.known(ctx.arm_variable)
    if np.count_nonzero(dated) < 20:
        return _finding(ctx, "randomisation-sequence", "skipped",
                        "fewer than 20 participants with a date and an arm")
    arm = cols.arm[dated][np.argsort(dates[dated], kind="stable")]
    x = arm[arm >= 0] == 1
    if x.all() or not x.any():
        return _finding(ctx, "randomisation-sequence", "skipped",
                        "the dated allocations are all in one arm (one run): the sequence cannot "
                        "be tested")
    runs, p = runs_test(x)
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


def _too_early(cols: TrialColumns, ctx: IntegrityContext
               ) -> tuple[list[str], dict[str, np.ndarray]]:
    """The later dates and times checked (known on some row together with the randomisation
    date; any time) and, of those that fail somewhere, the rows that fail."""
    checked: list[str] = []
    failing: dict[str, np.ndarray] = {}
    if ctx.rand_date and ctx.rand_date in cols:
        rand = cols.dates(ctx.rand_date)
        for name in (n for n in ctx.later_dates if n in cols):
            later = cols.dates(name)
            if not (~np.isnat(later) & ~np.isnat(rand)).any():
                continue
            checked.append(name)
            before = later < rand  # NaT compares False
            if before.any():
                failing[name] = before
    for spec in ctx.survival:
        if spec.time in cols:
            times = cols.numbers(spec.time)
            if np.isnan(times).all():
                continue
            checked.append(spec.time)
            with np.errstate(invalid="ignore"):
                negative = times < 0
            if negative.any():
                failing[spec.time] = negative
    return checked, failing


def check_dates_after_randomisation(cols: TrialColumns,
                                    ctx: IntegrityContext) -> IntegrityFinding:
    """Later dates before the randomisation date, negative times. ``details["by_row"]``: for
    each failing row, the variables that fail on it. A date is only checked where it and the
    randomisation date are both known: with none such, the check is skipped."""
    checked, failing = _too_early(cols, ctx)
    if not checked:
        return _finding(ctx, "dates-after-randomisation", "skipped",
                        "no event or follow-up date or time known together with a "
                        "randomisation date")
    if not failing:
        return _finding(ctx, "dates-after-randomisation", "passed",
                        f"all of {', '.join(checked)} on or after randomisation")
    bad = np.logical_or.reduce(list(failing.values()))
    frame = cols.frame
    ids = frame.loc[bad, ctx.id_variable].astype(str) if ctx.id_variable in cols else []
    by_variable = {name: int(mask.sum()) for name, mask in failing.items()}
    text = ", ".join(f"{v}: {n}" for v, n in by_variable.items())
    rows = cols.rows(bad)
    masks = {name: mask[bad] for name, mask in failing.items()}
    by_row = {str(row): [name for name, m in masks.items() if m[i]]
              for i, row in enumerate(rows)}
    return _finding(ctx, "dates-after-randomisation", "failed",
                    f"{int(bad.sum())} participant(s) with an event or follow-up before "
                    f"randomisation ({text})", participants=tuple(sorted(set(ids))),
                    rows=rows, details={"by_variable": by_variable, "by_row": by_row})


def check_follow_up(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    if not ctx.survival or len(ctx.arms) < 2:
        return _finding(ctx, "follow-up-by-arm", "skipped",
                        "no time-to-event outcome or fewer than two arms")
    spec = ctx.survival[0]
    if spec.time not in cols or spec.event not in cols:
        return _finding(ctx, "follow-up-by-arm", "skipped", f"{spec.name}: time or event missing")
    # negative times are the dates check's business; they cannot enter a Kaplan-Meier curve
    times, events = cols.numbers(spec.time), cols.numbers(spec.event)
    with np.errstate(invalid="ignore"):
        usable = (times >= 0) & cols.known(spec.event)
    medians: dict[str, float | None] = {}
    for i, a in enumerate(ctx.arms):
        mask = usable & (cols.arm == i)
        if mask.sum() < 5:
            return _finding(ctx, "follow-up-by-arm", "skipped",
                            f"fewer than 5 participants with {spec.name} data in arm {a.label}")
        medians[a.label] = reverse_km(times[mask], events[mask]).median
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


def _missingness_p(table: np.ndarray) -> float:
    """Fisher's exact test for a 2 x 2 table with a small expected count, else chi-square."""
    expected_small = (np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum() < 5).any()
    if table.shape == (2, 2) and expected_small:
        from scipy import stats  # only here: scipy.stats takes seconds to import

        return float(stats.fisher_exact(table)[1])
    return chi2_p(table)


def check_missingness(cols: TrialColumns, ctx: IntegrityContext) -> IntegrityFinding:
    names = [n for n, _ in ctx.baseline] + list(ctx.follow_up)
    flagged: list[dict[str, Any]] = []
    tested = 0
    codes, _ = cols.arm_values
    n_arm, arms_seen = _arms_in_data(cols)
    known = codes >= 0
    codes = codes[known]
    labels = {a.code: a.label for a in ctx.arms}
    for name in (n for n in names if n in cols):
        tested += 1
        missing = ~cols.known(name)
        if missing.all() or not missing.any() or len(arms_seen) < 2:
            continue
        n_missing = np.bincount(codes[missing[known]], minlength=len(arms_seen))
        share = n_missing / n_arm
        if float(share.max() - share.min()) < 0.10:  # below the threshold whatever the p
            continue
        p = _missingness_p(np.vstack([n_arm - n_missing, n_missing]))
        if p < 0.001:
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


_RUNNERS: dict[str, Callable[[TrialColumns, IntegrityContext], IntegrityFinding]] = {
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
    """Run every check (or ``only`` those) on one trial's harmonised frame. The checks share
    the frame's columns, each extracted once (:class:`~harmonise.checks.columns.TrialColumns`)."""
    cols = TrialColumns(frame, ctx.arm_variable, tuple(a.code for a in ctx.arms))
    out = []
    for check_id in list(only) if only else list(_RUNNERS):
        if ctx.arm_variable not in frame.columns and check_id != "ids":
            out.append(_finding(ctx, check_id, "skipped", f"no {ctx.arm_variable} column"))
            continue
        out.append(_RUNNERS[check_id](cols, ctx))
    return out
