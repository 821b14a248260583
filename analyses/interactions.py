"""Treatment-covariate interactions by the within-trial ("deft") approach.

Fisher et al. (BMJ 2017, "meta-analysis of interactions ... deft, not daft"): estimate the
treatment-by-covariate interaction *within* each trial, then pool only those within-trial
estimates. Unlike a meta-regression of trial effects on trial-mean covariates (or a one-stage
model without centring), no across-trial (ecological) information leaks in.

Within each trial (:mod:`analyses.trial_models`):

* ``cox``, ``logistic``, ``linear``: the coefficient of ``treatment x C`` in a model with
  treatment, C, their product and any ``adjust`` covariates (C numeric; per unit of C, on the
  log HR / log OR / mean-difference scale);
* ``logrank``, ``2x2``: C must have two levels; the estimate is the difference between the
  treatment effects in the two levels (higher minus lower), with the sum of their variances.

The within-trial estimates are pooled by inverse variance (:func:`analyses.pooling.pool`,
any tau^2 method and test). Trials where C does not vary, or that give no estimate, are left
out and listed with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from analyses.errors import AnalysisProblem, Reason
from analyses.ipd_frame import PreparedIPD, prepare_ipd
from analyses.pooling import PoolResult, pool
from analyses.results import ResultMixin
from analyses.trial_models import MODEL_MEASURE, first_stage

__all__ = ["InteractionResult", "deft_interaction", "deft_from_prepared", "covariate_roles"]


@dataclass(frozen=True, repr=False, eq=False)
class InteractionResult(ResultMixin):
    """Pooled within-trial interaction; ``per_trial`` columns ``trial, n, estimate, se,
    ci_low, ci_high, weight, note``; ``excluded`` columns ``trial, reason, message``."""

    title: ClassVar[str] = "Treatment-covariate interaction (within-trial, deft)"

    covariate: str
    model: str
    scale: str
    pooled: PoolResult
    per_trial: pd.DataFrame
    excluded: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        return self.pooled.summary.rename(index={"pooled": f"treatment x {self.covariate}"})

    def _headline(self) -> str:
        return f"interaction (per unit of {self.covariate}, {self.scale}): " + \
            self.pooled._headline()

    def plot(self, *, path: Any = None, **kwargs: Any) -> Any:
        """The forest plot of the within-trial interactions."""
        from analyses.forest import forest_plot

        return forest_plot(self, path=path, **kwargs)

    def _notes(self) -> tuple[str, ...]:
        return (f"scale: {self.scale}",) + tuple(f"excluded: {m}" for m in self.excluded["message"])

    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        items = dict(self.pooled._dict_items())
        items.update({"covariate": self.covariate, "model": self.model, "scale": self.scale,
                      "per_trial": self.per_trial, "excluded": self.excluded})
        return items.items()


def covariate_roles(model: str, adjust: Sequence[str], interaction: str | None
                    ) -> tuple[list[str], list[str]]:
    """The columns :func:`~analyses.ipd_frame.prepare_ipd` checks as numbers (the covariates;
    the interaction covariate of a regression model) and those it carries as they are (the
    two-level interaction covariate of a log-rank or 2x2 analysis)."""
    numeric = [adjust] if isinstance(adjust, str) else list(adjust)
    if interaction is None:
        return numeric, []
    if model in ("logrank", "2x2"):
        return numeric, [interaction]
    return numeric + [interaction], []


def deft_from_prepared(
    prepared: PreparedIPD,
    *,
    covariate: str,
    model: str,
    adjust: Sequence[str] = (),
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    ties: str = "efron",
    stepadj: float = 1.0,
) -> InteractionResult:
    """The deft analysis on an already prepared frame (used by :func:`two_stage`)."""
    fs = first_stage(prepared.frame, prepared.trials, model=model, adjust=adjust,
                     measure=measure, interaction=covariate, ties=ties)
    if not fs.estimates:
        raise AnalysisProblem(f"no trial gave a within-trial {covariate} interaction: "
                            + "; ".join(m for _, _, m in fs.excluded), reason=Reason.TOO_FEW_TRIALS)
    labels = [e.trial for e in fs.estimates]
    yi = [e.estimate for e in fs.estimates]
    vi = [e.se**2 for e in fs.estimates]
    res = pool(yi, vi, method=method if len(yi) > 1 else "FE",
               test=test if len(yi) > 1 else "z", level=level, labels=labels,
               measure=None, stepadj=stepadj)
    z = float(stats.norm.isf((1 - level / 100) / 2))
    se = np.sqrt(vi)
    table = pd.DataFrame({
        "trial": labels, "n": [e.n for e in fs.estimates], "estimate": yi, "se": se,
        "ci_low": np.array(yi) - z * se, "ci_high": np.array(yi) + z * se,
        "weight": res.weights, "note": [e.note for e in fs.estimates]})
    meas = measure or MODEL_MEASURE.get(model, "")
    log = "log " if meas in ("HR", "OR", "RR") else ""
    if model in ("logrank", "2x2"):
        scale = f"difference in {log}{meas} between the two levels of {covariate}"
    else:
        scale = f"change in the treatment {log}{meas} per unit of {covariate}"
    return InteractionResult(covariate=covariate, model=model, scale=scale, pooled=res,
                             per_trial=table, excluded=fs.excluded_frame())


def deft_interaction(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    covariate: str,
    model: str,
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    adjust: Sequence[str] = (),
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    treated_value: Any = 1,
    control_value: Any = None,
    missing: str = "error",
    ties: str = "efron",
) -> InteractionResult:
    """Pool within-trial treatment-by-``covariate`` interactions (see the module docstring)."""
    numeric, carried = covariate_roles(model, adjust, covariate)
    prepared = prepare_ipd(data, trial=trial, treatment=treatment, model=model,
                           outcome=outcome, time=time, event=event, adjust=numeric,
                           extra=carried, treated_value=treated_value,
                           control_value=control_value, missing=missing)
    return deft_from_prepared(prepared, covariate=covariate, model=model, adjust=adjust,
                              measure=measure, method=method, test=test, level=level,
                              ties=ties)
