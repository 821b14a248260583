"""The frozen result of a one-stage IPD model (:class:`OneStageResult`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from analyses.results import ResultMixin

__all__ = ["OneStageResult", "SUMMARY_COLUMNS", "FIXED_COLUMNS", "PER_TRIAL_COLUMNS",
           "fixed_table", "per_trial_table"]

#: Columns of :attr:`OneStageResult.summary` (one row: the treatment effect).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "method", "k", "n", "estimate", "se", "ci_low", "ci_high", "statistic", "p",
    "exp_estimate", "exp_ci_low", "exp_ci_high", "tau2", "tau", "boundary")
#: Columns of :attr:`OneStageResult.fixed` and :attr:`OneStageResult.interaction`.
FIXED_COLUMNS: tuple[str, ...] = (
    "term", "estimate", "se", "statistic", "p", "ci_low", "ci_high")
#: Columns of :attr:`OneStageResult.per_trial`.
PER_TRIAL_COLUMNS: tuple[str, ...] = (
    "trial", "n", "n_treated", "events", "random_effect", "trial_effect")

_MEASURE = {"linear": "MD", "logistic": "OR", "cox": "HR"}


def fixed_table(names: tuple[str, ...], est: NDArray[np.float64], se: NDArray[np.float64],
                level: float) -> pd.DataFrame:
    """Wald table of fixed effects with :data:`FIXED_COLUMNS`."""
    q = stats.norm.ppf(0.5 + level / 2)
    z = est / se
    return pd.DataFrame({"term": list(names), "estimate": est, "se": se, "statistic": z,
                         "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": est - q * se,
                         "ci_high": est + q * se}, columns=list(FIXED_COLUMNS))


@dataclass(frozen=True, repr=False, eq=False)
class OneStageResult(ResultMixin):
    """A one-stage IPD meta-analysis model.

    ``estimate``/``se``/``ci``/``z``/``p`` describe the pooled treatment effect (mean difference;
    log odds ratio; log hazard ratio - ``exp_estimate``/``exp_ci`` give OR/HR). ``tau2`` is the
    variance of the random treatment effect across trials (``None`` without one), ``boundary``
    says it was estimated at 0 (reported, not an error). ``fixed`` holds every fixed effect but
    the trial intercepts (which are in ``intercepts`` for linear and logistic models);
    ``interaction`` the within- and across-trial interaction rows when one was asked for;
    ``per_trial`` the trial sizes, events and the predicted random effects (conditional modes)
    and trial-specific effects ``estimate + random_effect``.
    """

    title: ClassVar[str] = "One-stage IPD meta-analysis"

    model: str
    method: str
    estimate: float
    se: float
    k: int
    n: int
    tau2: float | None
    boundary: bool
    fixed: pd.DataFrame
    per_trial: pd.DataFrame
    converged: bool
    iterations: int
    loglik: float
    coding: str
    treatment: str
    level: float = 0.95
    interaction: pd.DataFrame | None = None
    intercepts: pd.DataFrame | None = None
    sigma2: float | None = None
    sigma2_trial: pd.Series | None = None
    criterion: float | None = None
    nagq: int | None = None
    n_events: int | None = None
    notes: tuple[str, ...] = ()
    #: the proportional-hazards test (Cox models; R's cox.zph, see analyses.cox_zph)
    ph: Any = None

    @property
    def measure(self) -> str:
        return _MEASURE[self.model]

    @property
    def is_ratio(self) -> bool:
        return self.model in ("logistic", "cox")

    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    @property
    def statistic(self) -> float:
        """Wald z statistic of the treatment effect."""
        return self.estimate / self.se

    @property
    def z(self) -> float:
        """The same as :attr:`statistic` (kept for existing code)."""
        return self.statistic

    @property
    def ph_test(self) -> dict[str, float] | None:
        """``{chisq, df, p}`` of the proportional-hazards test of treatment (Cox only)."""
        return None if self.ph is None else self.ph.term(self.ph.names[0])

    @property
    def p(self) -> float:
        return float(2 * stats.norm.sf(abs(self.statistic)))

    @property
    def ci(self) -> tuple[float, float]:
        q = float(stats.norm.ppf(0.5 + self.level / 2))
        return (self.estimate - q * self.se, self.estimate + q * self.se)

    @property
    def exp_estimate(self) -> float | None:
        return math.exp(self.estimate) if self.is_ratio else None

    @property
    def exp_ci(self) -> tuple[float, float] | None:
        if not self.is_ratio:
            return None
        lo, hi = self.ci
        return (math.exp(lo), math.exp(hi))

    @property
    def summary(self) -> pd.DataFrame:
        lo, hi = self.ci
        ex = self.exp_ci or (None, None)
        return pd.DataFrame([{
            "model": self.model, "method": self.method, "k": self.k, "n": self.n,
            "estimate": self.estimate, "se": self.se, "ci_low": lo, "ci_high": hi,
            "statistic": self.statistic, "p": self.p, "exp_estimate": self.exp_estimate,
            "exp_ci_low": ex[0], "exp_ci_high": ex[1], "tau2": self.tau2, "tau": self.tau,
            "boundary": self.boundary}], columns=list(SUMMARY_COLUMNS))

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "model", self.model
        yield "measure", self.measure
        yield "method", self.method
        yield "estimate", self.estimate
        yield "se", self.se
        yield "ci", list(self.ci)
        yield "statistic", self.statistic
        yield "p", self.p
        if self.is_ratio:
            yield "exp_estimate", self.exp_estimate
            yield "exp_ci", list(self.exp_ci or ())
        yield "k", self.k
        yield "n", self.n
        if self.n_events is not None:
            yield "n_events", self.n_events
        yield "tau2", self.tau2
        yield "tau", self.tau
        yield "boundary", self.boundary
        yield "coding", self.coding
        yield "level", self.level
        yield "fixed", self.fixed
        if self.interaction is not None:
            yield "interaction", self.interaction
        if self.sigma2 is not None:
            yield "sigma2", self.sigma2
        if self.sigma2_trial is not None:
            yield "sigma2_trial", {str(k): v for k, v in self.sigma2_trial.items()}
        if self.nagq is not None:
            yield "nagq", self.nagq
        yield "loglik", self.loglik
        yield "criterion", self.criterion
        yield "converged", self.converged
        yield "iterations", self.iterations
        if self.ph is not None:
            yield "ph_test", self.ph_test
            yield "ph_test_global", self.ph.term("GLOBAL")
        yield "per_trial", self.per_trial
        yield "notes", list(self.notes)

    def _headline(self) -> str:
        from analyses.formatting import fmt_p, tau2_text
        from analyses.results import effect_line

        text = effect_line(self.measure, self.estimate, self.ci, self.p, 100 * self.level)
        if self.tau2 is not None:
            text += f"; {tau2_text(self.tau2)}"
        if self.ph is not None:
            text += f"; PH test {fmt_p(self.ph_test['p'])}"  # type: ignore[index]
        return text

    def plot(self, *, path: Any = None, **kwargs: Any) -> Any:
        """The trial-specific effects (estimate + predicted random effect) with the pooled
        estimate and its confidence interval."""
        from analyses.estimate_plot import plot_one_stage

        return plot_one_stage(self, path=path, **kwargs)

    def _notes(self) -> tuple[str, ...]:
        extra = []
        if self.interaction is not None:
            for _, r in self.interaction.iterrows():
                extra.append(f"{r['term']}: {r['estimate']:.4g} (SE {r['se']:.4g})")
        return tuple(extra) + tuple(self.notes)


def per_trial_table(base: pd.DataFrame, estimate: float,
                    random_effect: NDArray[np.float64] | None) -> pd.DataFrame:
    """``base`` (trial, n, n_treated[, events]) plus the random effects, in fixed columns."""
    out = base.copy()
    if "events" not in out:
        out["events"] = pd.array([None] * len(out), dtype="Int64")
    if random_effect is None:
        out["random_effect"] = 0.0
    else:
        out["random_effect"] = random_effect
    out["trial_effect"] = estimate + out["random_effect"]
    return out[list(PER_TRIAL_COLUMNS)]
