"""Inverse-variance pooling: common effect and random effects (metafor ``rma.uni`` without
moderators).

:func:`pool` combines per-trial estimates ``yi`` with sampling variances ``vi`` (or standard
errors ``se``):

* ``method="FE"`` (aliases ``"EE"``, ``"CE"``, ``"IV"``): common (fixed) effect, weights 1/v;
* ``method`` one of :data:`~analyses.tau2.TAU2_METHODS` (``"REML"`` by default): random effects
  with weights ``1/(v + tau^2)``, tau^2 from :mod:`analyses.tau2`;
* ``test="z"`` normal-theory Wald test and interval; ``test="t"`` the same with a t(k-1)
  reference distribution; ``test="knha"`` Knapp-Hartung / Hartung-Knapp-Sidik-Jonkman: the
  variance is multiplied by ``s^2 = sum w (y - mu)^2 / (k-1)`` and t(k-1) is used, **without**
  truncation (metafor's ``test="knha"``: ``s^2`` may be below 1 and narrow the interval);
  ``test="adhoc"`` is the same with ``s^2`` truncated below at 1 (metafor's ``test="adhoc"``,
  the "ad hoc" variant of Knapp & Hartung 2003 / Roever et al. 2015);
* prediction interval (random effects only), metafor's ``predict`` default:
  ``mu +/- c sqrt(SE^2 + tau^2)`` with ``c`` the same critical value as the confidence
  interval (normal for ``z``; t with k-1 df for ``t``, ``knha`` and ``adhoc``, where SE is the
  scaled one);
* Q, its p-value, I^2 and H^2 (:mod:`analyses.heterogeneity`) and Q-profile confidence
  intervals for tau^2, tau, I^2 and H^2.

Example::

    >>> from analyses import pool
    >>> res = pool([-0.89, -1.59, -1.35], [0.33, 0.19, 0.42], method="DL", measure="RR")
    >>> round(res.estimate, 4), res.k
    (-1.3377, 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analyses.checks import as_floats
from analyses.distributions import z_quantile
from analyses.errors import AnalysisProblem, Reason
from analyses.heterogeneity import qprofile_ci
from analyses.results import ResultMixin
from analyses.rma import (
    COMMON_EFFECT_METHODS,
    TESTS,
    PooledArrays,
    check_test,
    normalise_method,
    pool_columns,
)
from analyses.tau2 import TAU2_METHODS, check_pool, se_tau2

__all__ = [
    "PoolResult",
    "pool",
    "COMMON_EFFECT_METHODS",
    "POOL_METHODS",
    "TESTS",
    "RATIO_MEASURES",
    "normalise_method",
    "study_arrays",
]

#: Every method :func:`pool` accepts.
POOL_METHODS: tuple[str, ...] = COMMON_EFFECT_METHODS + TAU2_METHODS
#: Measures analysed on the log scale (results carry exponentiated values alongside).
RATIO_MEASURES: frozenset[str] = frozenset({"OR", "RR", "HR", "PETO", "IRR", "ROM"})

#: Columns of :attr:`PoolResult.summary`.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "k", "method", "test", "estimate", "se", "ci_low", "ci_high", "statistic", "p",
    "pi_low", "pi_high", "tau2", "tau", "I2", "H2", "Q", "Q_df", "Q_p")
#: Columns of :attr:`PoolResult.studies`.
STUDY_COLUMNS: tuple[str, ...] = ("study", "yi", "vi", "se", "ci_low", "ci_high", "weight")


@dataclass(frozen=True, repr=False, eq=False)
class PoolResult(ResultMixin):
    """A pooled estimate with its heterogeneity statistics.

    All estimates are on the analysis scale (log scale for ratio measures; see
    :attr:`is_ratio` and the ``exp_*`` properties). ``tau2``/``tau``/``pi`` and the Q-profile
    intervals are ``None`` for common-effect models (and for Mantel-Haenszel and Peto);
    ``df`` is ``None`` for ``test="z"``. ``studies`` is the per-study table
    (:data:`STUDY_COLUMNS`, plus any columns the caller supplied), with ``weight`` in percent.
    ``details`` holds method-specific statistics (e.g. the Knapp-Hartung scale factor, the
    Mantel-Haenszel and Breslow-Day tests).
    """

    title: ClassVar[str] = "Meta-analysis"

    estimate: float
    se: float
    ci: tuple[float, float]
    statistic: float
    p: float
    k: int
    method: str
    test: str
    level: float
    df: int | None
    Q: float
    Q_df: int
    Q_p: float
    I2: float
    H2: float
    studies: pd.DataFrame
    measure: str | None = None
    tau2: float | None = None
    se_tau2: float | None = None
    tau2_ci: tuple[float, float] | None = None
    tau_ci: tuple[float, float] | None = None
    I2_ci: tuple[float, float] | None = None
    H2_ci: tuple[float, float] | None = None
    pi: tuple[float, float] | None = None
    iterations: int | None = None
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a pooled result never carries a silent NaN: numbers beyond floating point (estimates
        # or variances near 1e308, or 1e-320) overflow in the weighted sums
        if not (math.isfinite(self.estimate) and math.isfinite(self.se) and self.se > 0):
            raise AnalysisProblem(
                f"the pooled estimate cannot be computed in floating point (estimate "
                f"{self.estimate}, standard error {self.se}): the estimates or variances are "
                "too large or too small; check their scale (e.g. units, log scale for ratios)",
                reason=Reason.OUT_OF_RANGE, k=self.k)

    # ------------------------------------------------------------------ derived
    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    @property
    def is_random(self) -> bool:
        return self.tau2 is not None

    @property
    def is_ratio(self) -> bool:
        return (self.measure or "").upper() in RATIO_MEASURES

    @property
    def exp_estimate(self) -> float | None:
        return math.exp(self.estimate) if self.is_ratio else None

    @property
    def exp_ci(self) -> tuple[float, float] | None:
        return (math.exp(self.ci[0]), math.exp(self.ci[1])) if self.is_ratio else None

    @property
    def exp_pi(self) -> tuple[float, float] | None:
        if not self.is_ratio or self.pi is None:
            return None
        return (math.exp(self.pi[0]), math.exp(self.pi[1]))

    @property
    def weights(self) -> NDArray[np.float64]:
        """Per-study weights in percent, in the order of :attr:`studies`."""
        return self.studies["weight"].to_numpy(dtype=float)

    # ------------------------------------------------------------------ outputs
    def _headline(self) -> str:
        from analyses.formatting import fmt_i2, tau2_text
        from analyses.results import effect_line

        text = effect_line(self.measure, self.estimate, self.ci, self.p, self.level)
        het = f"; k = {self.k}; I\u00b2 = {fmt_i2(self.I2)}"
        if self.tau2 is not None:
            het += f", {tau2_text(self.tau2)}"
        return text + het

    def plot(self, *, path: str | None = None, **kwargs: Any) -> Any:
        """The forest plot (:func:`analyses.forest.forest_plot`; same options)."""
        from analyses.forest import forest_plot

        return forest_plot(self, path=path, **kwargs)

    @property
    def summary(self) -> pd.DataFrame:
        """One row: ``k, method, test, estimate, se, ci_low, ci_high, statistic, p, pi_low,
        pi_high, tau2, tau, I2, H2, Q, Q_df, Q_p`` and, for ratio measures, ``exp_estimate,
        exp_ci_low, exp_ci_high, exp_pi_low, exp_pi_high``."""
        row: dict[str, Any] = {
            "k": self.k, "method": self.method, "test": self.test,
            "estimate": self.estimate, "se": self.se, "ci_low": self.ci[0], "ci_high": self.ci[1],
            "statistic": self.statistic, "p": self.p,
            "pi_low": self.pi[0] if self.pi else np.nan,
            "pi_high": self.pi[1] if self.pi else np.nan,
            "tau2": self.tau2 if self.tau2 is not None else np.nan,
            "tau": self.tau if self.tau is not None else np.nan,
            "I2": self.I2, "H2": self.H2, "Q": self.Q, "Q_df": self.Q_df, "Q_p": self.Q_p,
        }
        if self.is_ratio:
            exp_ci = self.exp_ci or (np.nan, np.nan)
            exp_pi = self.exp_pi or (np.nan, np.nan)
            row.update({"exp_estimate": self.exp_estimate, "exp_ci_low": exp_ci[0],
                        "exp_ci_high": exp_ci[1], "exp_pi_low": exp_pi[0],
                        "exp_pi_high": exp_pi[1]})
        return pd.DataFrame([row], index=["pooled"])

    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        items: dict[str, Any] = {
            "estimate": self.estimate, "se": self.se, "ci": self.ci,
            "statistic": self.statistic, "p": self.p, "k": self.k,
            "method": self.method, "test": self.test, "level": self.level, "df": self.df,
            "measure": self.measure,
            "tau2": self.tau2, "tau": self.tau, "se_tau2": self.se_tau2,
            "tau2_ci": self.tau2_ci, "tau_ci": self.tau_ci,
            "I2": self.I2, "I2_ci": self.I2_ci, "H2": self.H2, "H2_ci": self.H2_ci,
            "Q": self.Q, "Q_df": self.Q_df, "Q_p": self.Q_p, "pi": self.pi,
        }
        if self.is_ratio:
            items.update({"exp_estimate": self.exp_estimate, "exp_ci": self.exp_ci,
                          "exp_pi": self.exp_pi})
        items.update({"iterations": self.iterations, "notes": list(self.notes),
                      "details": dict(self.details), "per_trial": self.studies})
        return items.items()


# ---------------------------------------------------------------------- input checks
def study_arrays(
    yi: ArrayLike,
    vi: ArrayLike | None,
    se: ArrayLike | None,
    labels: Sequence[Any] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Validate estimates and variances (or SEs); return float arrays and study labels.

    Collects every problem (NaN, non-positive variance, length mismatch) before raising one
    :class:`~repository.errors.AnalysisError` that names the studies.
    """
    y = as_floats(yi, "yi")
    if (vi is None) == (se is None):
        raise AnalysisProblem("give exactly one of vi (sampling variances) or se (standard "
                              "errors)", reason=Reason.MISSING_OPTION, option="vi")
    if vi is not None:
        v = as_floats(vi, "vi")
    else:
        s = as_floats(se, "se")
        v = s**2
        if s.shape == y.shape:
            v = np.where(s <= 0, np.minimum(s, 0.0), v)  # keep non-positive SEs non-positive
    names = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(y.size)]
    if not (y.size == v.size == len(names)):
        raise AnalysisProblem(
            f"estimates ({y.size}), variances ({v.size}) and labels ({len(names)}) differ in "
            "length", reason=Reason.LENGTH_MISMATCH)
    if y.size == 0:
        raise AnalysisProblem("no studies to pool", reason=Reason.TOO_FEW_TRIALS, k=0)
    problems = []
    bad_nan = [names[i] for i in np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v))]
    if bad_nan:
        problems.append(f"missing or infinite estimate/variance for {', '.join(bad_nan)}")
    bad_v = [names[i] for i in np.flatnonzero(np.isfinite(v) & (v <= 0))]
    if bad_v:
        problems.append(f"non-positive sampling variance for {', '.join(bad_v)}")
    with np.errstate(divide="ignore", over="ignore"):
        tiny = [names[i] for i in np.flatnonzero((v > 0) & ~np.isfinite(1.0 / v))]
    if tiny:
        problems.append(f"a sampling variance too small to weight (1/vi overflows) for "
                        f"{', '.join(tiny)}")
        bad_v += tiny
    if problems:
        raise AnalysisProblem(
            "cannot pool: " + "; ".join(problems) + ". Remove these studies or correct their "
            "estimates and variances.", reason=Reason.INVALID_DATA, trials=bad_nan + bad_v)
    return y, v, names


# ---------------------------------------------------------------------- pooling
def _check_options(method: str, test: str, level: float) -> str:
    m = normalise_method(method)
    if m not in POOL_METHODS:
        hint = (" (Mantel-Haenszel and Peto pool 2x2 tables: use pool_2x2)"
                if m in ("MH", "Peto") else "")
        raise AnalysisProblem(f"unknown pooling method {method!r}{hint}; choose one of "
                              f"{', '.join(POOL_METHODS)}", reason=Reason.BAD_OPTION,
                              option="method")
    check_test(test)
    if not 0 < level < 100:
        raise AnalysisProblem(f"level must be a percentage between 0 and 100, got {level}",
                              reason=Reason.BAD_OPTION, option="level")
    return m


def _notes(res: PooledArrays, k: int) -> list[str]:
    notes = res.fits.notes() if res.fits is not None else []
    if res.knha_raw is not None:
        if res.tau2 is None:
            notes.append("the Knapp-Hartung adjustment is meant for random-effects models")
        if res.test == "adhoc" and res.knha_raw[0] < 1:
            notes.append(f"Knapp-Hartung scale factor {res.knha_raw[0]:.4g} truncated at 1 "
                         "(ad hoc variant)")
    if k == 1:
        notes.append("a single study: no heterogeneity can be estimated (Q = 0, I^2 = 0)")
    return notes


def _studies(y: NDArray[np.float64], v: NDArray[np.float64], names: list[str], tau2: float,
             level: float, extra_columns: Mapping[str, Sequence[Any] | NDArray[Any]] | None
             ) -> pd.DataFrame:
    z = z_quantile((1 - level / 100) / 2)
    sv = np.sqrt(v)
    w = 1.0 / (v + tau2)
    studies = pd.DataFrame({"study": names, "yi": y, "vi": v, "se": sv, "ci_low": y - z * sv,
                            "ci_high": y + z * sv, "weight": w / w.sum() * 100})
    for name, values in (extra_columns or {}).items():
        studies[name] = list(values)
    return studies


def pool(
    yi: ArrayLike,
    vi: ArrayLike | None = None,
    *,
    se: ArrayLike | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    labels: Sequence[Any] | None = None,
    measure: str | None = None,
    qprofile: bool = True,
    extra_columns: Mapping[str, Sequence[Any] | NDArray[Any]] | None = None,
    stepadj: float = 1.0,
) -> PoolResult:
    """Pool estimates ``yi`` with sampling variances ``vi`` (or standard errors ``se``).

    ``method``: ``"FE"`` (common effect) or a tau^2 estimator (``"REML"``, ``"DL"``, ``"ML"``,
    ``"PM"``, ``"HS"``, ``"SJ"``, ``"HE"``, ``"EB"``). ``test``: ``"z"``, ``"t"``, ``"knha"``
    or ``"adhoc"``. ``level``: confidence level in percent. ``measure`` names the effect
    measure (``"OR"``, ``"RR"``, ``"HR"`` ... are ratio measures analysed on the log scale).
    ``extra_columns`` are added to the per-study table (e.g. ``n``, ``events``, ``source``).
    ``stepadj`` scales the Fisher-scoring steps of ML/REML/EB (metafor's ``control=list(
    stepadj=...)``); 0.5 is the remedy when the default steps oscillate and do not converge.

    The numbers come from the engine :func:`analyses.pool_many` runs (a batch of one pool).
    Raises :class:`~repository.errors.AnalysisError` for NaN inputs, non-positive variances,
    fewer than two studies for a random-effects model or a t-type test, unknown methods.
    """
    m = _check_options(method, test, level)
    y, v, names = study_arrays(yi, vi, se, labels)
    k = y.size
    if test != "z" and k < 2:
        raise AnalysisProblem(f"test={test!r} needs at least two studies (t with k-1 df); "
                              "use test='z'", reason=Reason.TOO_FEW_TRIALS, k=k)
    if m != "FE":
        check_pool(y, v)
    res = pool_columns(y[:, None], v[:, None], None, method=m, test=test, level=level,
                       stepadj=stepadj)
    random = res.tau2 is not None
    tau2 = float(res.tau2[0]) if res.tau2 is not None else 0.0
    notes = _notes(res, k)
    q_ci = None
    if random and qprofile:
        q_ci = qprofile_ci(y, v, tau2=tau2, level=level)
        notes.extend(q_ci.notes)
    fits = res.fits
    return PoolResult(
        estimate=float(res.estimate[0]), se=float(res.se[0]),
        ci=(float(res.ci_low[0]), float(res.ci_high[0])), statistic=float(res.statistic[0]),
        p=float(res.p[0]), k=k, method=m, test=test, level=level,
        df=None if res.df is None else k - 1, Q=float(res.Q[0]), Q_df=max(k - 1, 0),
        Q_p=float(res.Q_p[0]), I2=float(res.I2[0]), H2=float(res.H2[0]),
        studies=_studies(y, v, names, tau2, level, extra_columns), measure=measure,
        tau2=tau2 if random else None,
        se_tau2=None if fits is None else se_tau2(
            m, v, tau2, start=None if fits.start is None else float(fits.start[0])),
        tau2_ci=q_ci.tau2 if q_ci else None, tau_ci=q_ci.tau if q_ci else None,
        I2_ci=q_ci.I2 if q_ci else None, H2_ci=q_ci.H2 if q_ci else None,
        pi=None if res.pi_low is None or res.pi_high is None
        else (float(res.pi_low[0]), float(res.pi_high[0])),
        iterations=None if fits is None else int(fits.iterations[0]),
        notes=tuple(notes),
        details={} if res.knha_used is None else {"knha_scale": float(res.knha_used[0])},
    )
