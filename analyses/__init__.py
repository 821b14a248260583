"""ipdrepo analyses: per-trial effects, pooling, two-stage and one-stage IPD meta-analysis.

The public API, loaded lazily (``import analyses`` is cheap; matplotlib and the model code
are imported on first use)::

    from analyses import pool, pool_2x2, two_stage, forest_plot

=====================  =====================================================================
pooling                :func:`pool` (common effect, DL/REML/ML/PM/HS/SJ/HE/EB; z/t/knha/adhoc;
                       prediction and Q-profile intervals), :func:`pool_many` (vectorised
                       batches), :func:`pool_2x2` (MH, Peto or inverse variance),
                       :func:`pool_mh`, :func:`pool_peto`, :func:`pool_oe` (log-rank O-E, V),
                       :func:`estimate_tau2`
effect sizes           :func:`effect_2x2` (OR/RR/RD/Peto), :func:`effect_md`
one-stage IPD          :func:`one_stage` (LMM, GLMM, stratified Cox, Cox with a random effect)
two-stage IPD          :func:`two_stage`, :func:`deft_interaction`, :func:`estimate_trial`,
                       :func:`read_aggregate`
survival               :func:`coxph`, :func:`cox_zph` (proportional hazards), :func:`logrank`,
                       :func:`logrank_by_trial`, :func:`kaplan_meier`, :func:`km_by_group`,
                       :func:`stratified_km`, :func:`reverse_km_followup`, :func:`rmst`,
                       :func:`rmst_difference`
diagnostics            :func:`diagnose` (Egger, regtest, leave-one-out, trim and fill,
                       influence, Baujat), :func:`meta_regression`
surrogacy              :func:`surrogacy` (trial-level R^2 and STE, Kendall's tau)
outputs                :func:`forest_plot`, :func:`plot_km`, :func:`plot_km_by_trial`,
                       :func:`plot_km_pooled`, :func:`funnel_plot`, :func:`baujat_plot`,
                       :func:`baseline_table`, :func:`results_table`,
                       :func:`analysis_report`, :func:`write_report`
=====================  =====================================================================
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from repository.lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # pooling
    "pool": "analyses.pooling",
    "PoolResult": "analyses.pooling",
    "POOL_METHODS": "analyses.pooling",
    "pool_many": "analyses.batch",
    "BatchPoolResult": "analyses.batch",
    "pool_2x2": "analyses.binary",
    "pool_mh": "analyses.mh",
    "pool_peto": "analyses.peto",
    "pool_oe": "analyses.peto",
    "estimate_tau2": "analyses.tau2",
    "Tau2Estimate": "analyses.tau2",
    "TAU2_METHODS": "analyses.tau2",
    "qprofile_ci": "analyses.heterogeneity",
    # effect sizes
    "effect_2x2": "analyses.effects",
    "effect_md": "analyses.effects",
    "EffectSizes": "analyses.effects",
    # two-stage
    "two_stage": "analyses.two_stage",
    "TwoStageResult": "analyses.two_stage",
    "deft_interaction": "analyses.interactions",
    "InteractionResult": "analyses.interactions",
    "estimate_trial": "analyses.trial_models",
    "TrialEstimate": "analyses.trial_models",
    "read_aggregate": "analyses.aggregate",
    # survival (analyses.cox, analyses.logrank, analyses.km)
    "coxph": "analyses.cox",
    "CoxFit": "analyses.cox",
    "logrank": "analyses.logrank",
    "logrank_by_trial": "analyses.logrank",
    "LogRankResult": "analyses.logrank",
    "kaplan_meier": "analyses.km",
    "km_by_group": "analyses.km",
    "stratified_km": "analyses.km",
    "reverse_km_followup": "analyses.km",
    "KaplanMeier": "analyses.km",
    "KMByGroup": "analyses.km",
    "cox_zph": "analyses.cox_zph",
    "PHTest": "analyses.cox_zph",
    "rmst": "analyses.rmst",
    "rmst_difference": "analyses.rmst",
    "RMST": "analyses.rmst",
    # diagnostics and surrogacy
    "diagnose": "analyses.diagnostics",
    "Diagnostics": "analyses.diagnostics",
    "meta_regression": "analyses.metareg",
    "MetaRegression": "analyses.metareg",
    "surrogacy": "analyses.surrogacy",
    "SurrogacyResult": "analyses.surrogacy",
    # one-stage (analyses.one_stage)
    "one_stage": "analyses.one_stage",
    "OneStageResult": "analyses.one_stage",
    # outputs
    "forest_plot": "analyses.forest",
    "plot_km": "analyses.km_plot",
    "plot_km_by_trial": "analyses.km_plot",
    "plot_km_pooled": "analyses.km_plot",
    "funnel_plot": "analyses.diagnostic_plots",
    "baujat_plot": "analyses.diagnostic_plots",
    "baseline_table": "analyses.tables",
    "results_table": "analyses.tables",
    "Table": "analyses.tables",
    "analysis_report": "analyses.report",
    "write_report": "analyses.report",
}

__all__ = [
    "BatchPoolResult",
    "CoxFit",
    "Diagnostics",
    "EffectSizes",
    "InteractionResult",
    "KMByGroup",
    "KaplanMeier",
    "LogRankResult",
    "MetaRegression",
    "OneStageResult",
    "PHTest",
    "POOL_METHODS",
    "PoolResult",
    "RMST",
    "SurrogacyResult",
    "TAU2_METHODS",
    "Table",
    "Tau2Estimate",
    "TrialEstimate",
    "TwoStageResult",
    "analysis_report",
    "baseline_table",
    "baujat_plot",
    "cox_zph",
    "coxph",
    "deft_interaction",
    "diagnose",
    "effect_2x2",
    "effect_md",
    "estimate_tau2",
    "estimate_trial",
    "forest_plot",
    "funnel_plot",
    "kaplan_meier",
    "km_by_group",
    "logrank",
    "logrank_by_trial",
    "meta_regression",
    "one_stage",
    "plot_km",
    "plot_km_by_trial",
    "plot_km_pooled",
    "pool",
    "pool_2x2",
    "pool_many",
    "pool_mh",
    "pool_oe",
    "pool_peto",
    "qprofile_ci",
    "read_aggregate",
    "results_table",
    "reverse_km_followup",
    "rmst",
    "rmst_difference",
    "stratified_km",
    "surrogacy",
    "two_stage",
    "write_report",
]


# Three public functions share their name with the submodule that defines them
# (analyses.two_stage, analyses.logrank, analyses.one_stage). The import system binds a
# submodule on its package once it is imported; this package keeps those names for the
# functions (looked up lazily like every other name). Use
# importlib.import_module("analyses.logrank") to get such a module object.
_SHADOWED = frozenset({"logrank", "two_stage", "one_stage"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # a submodule named like its public function: the function keeps the name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from analyses.aggregate import read_aggregate
    from analyses.batch import BatchPoolResult, pool_many
    from analyses.binary import pool_2x2
    from analyses.cox import CoxFit, coxph
    from analyses.cox_zph import PHTest, cox_zph
    from analyses.diagnostic_plots import baujat_plot, funnel_plot
    from analyses.diagnostics import Diagnostics, diagnose
    from analyses.effects import EffectSizes, effect_2x2, effect_md
    from analyses.forest import forest_plot
    from analyses.heterogeneity import qprofile_ci
    from analyses.interactions import InteractionResult, deft_interaction
    from analyses.km import (
        KaplanMeier,
        KMByGroup,
        kaplan_meier,
        km_by_group,
        reverse_km_followup,
        stratified_km,
    )
    from analyses.km_plot import plot_km, plot_km_by_trial, plot_km_pooled
    from analyses.logrank import LogRankResult, logrank, logrank_by_trial
    from analyses.metareg import MetaRegression, meta_regression
    from analyses.mh import pool_mh
    from analyses.one_stage import OneStageResult, one_stage
    from analyses.peto import pool_oe, pool_peto
    from analyses.pooling import POOL_METHODS, PoolResult, pool
    from analyses.report import analysis_report, write_report
    from analyses.rmst import RMST, rmst, rmst_difference
    from analyses.surrogacy import SurrogacyResult, surrogacy
    from analyses.tables import Table, baseline_table, results_table
    from analyses.tau2 import TAU2_METHODS, Tau2Estimate, estimate_tau2
    from analyses.trial_models import TrialEstimate, estimate_trial
    from analyses.two_stage import TwoStageResult, two_stage
