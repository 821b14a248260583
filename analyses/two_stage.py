"""Two-stage IPD meta-analysis: estimate the treatment effect in every trial, then pool.

:func:`two_stage` is the one entry point:

1. the data are checked and standardised (:mod:`analyses.ipd_frame`);
2. the same model is fitted in every trial (:mod:`analyses.trial_models`: Cox, log-rank,
   logistic, 2x2, linear/ANCOVA); trials that give no estimate are left out and listed with
   the reason in :attr:`TwoStageResult.excluded`;
3. aggregate-data trials (:mod:`analyses.aggregate`) join the IPD trials;
4. the estimates are pooled: inverse variance with any tau^2 estimator and test
   (:func:`analyses.pooling.pool`), Mantel-Haenszel or Peto for 2x2 tables
   (:func:`analyses.binary.pool_2x2`), Peto's O-E method for log-rank statistics
   (:func:`analyses.peto.pool_oe`; the default for ``model="logrank"``);
5. optionally per subgroup (``subgroup=``; with the test for subgroup differences, Cochran's
   Q between the subgroup estimates) and for a treatment-covariate interaction by the
   within-trial "deft" approach (``interaction=``; :mod:`analyses.interactions`).

Example (GASTRIC, Peto log-rank)::

    res = two_stage(df, trial="trialref", treatment="trt", treated_value=0.5,
                    time="timeT", event="statusT", model="logrank")
    res.pooled.exp_estimate, res.per_trial
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from analyses.aggregate import AggregateTrial, read_aggregate
from analyses.binary import pool_2x2
from analyses.effects import effect_2x2
from analyses.errors import AnalysisProblem, Reason
from analyses.interactions import InteractionResult, covariate_roles, deft_from_prepared
from analyses.ipd_frame import PreparedIPD, prepare_ipd
from analyses.peto import pool_oe
from analyses.pooling import PoolResult, normalise_method, pool
from analyses.results import ResultMixin
from analyses.trial_models import MODEL_MEASURE, MODELS, FirstStage, first_stage

__all__ = ["TwoStageResult", "two_stage", "PER_TRIAL_COLUMNS", "SubgroupTest"]

#: Columns of :attr:`TwoStageResult.per_trial` (``exp_*`` only for ratio measures,
#: ``o_minus_e``/``v`` only for log-rank analyses, ``rmst_*`` only for RMST analyses,
#: ``ph_chisq``/``ph_p`` (the proportional-hazards test of treatment) only for Cox analyses).
PER_TRIAL_COLUMNS: tuple[str, ...] = (
    "trial", "source", "n", "n_treated", "n_control", "events", "events_treated",
    "events_control", "estimate", "se", "ci_low", "ci_high", "weight", "exp_estimate",
    "exp_ci_low", "exp_ci_high", "o_minus_e", "v", "rmst_treated", "rmst_treated_se",
    "rmst_control", "rmst_control_se", "ph_chisq", "ph_p", "note")
_MODEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "logrank": ("o_minus_e", "v"),
    "rmst": ("rmst_treated", "rmst_treated_se", "rmst_control", "rmst_control_se"),
    "cox": ("ph_chisq", "ph_p"),
}


@dataclass(frozen=True)
class SubgroupTest:
    """Cochran's Q between subgroup estimates (test for subgroup differences)."""

    Q: float
    df: int
    p: float

    def to_dict(self) -> dict[str, Any]:
        return {"Q": self.Q, "df": self.df, "p": self.p}


@dataclass(frozen=True, repr=False, eq=False)
class TwoStageResult(ResultMixin):
    """A two-stage IPD meta-analysis.

    ``pooled`` is the overall :class:`~analyses.pooling.PoolResult`; ``per_trial`` has the
    :data:`PER_TRIAL_COLUMNS` (source ``"IPD"`` or ``"AD"``; ``weight`` in percent);
    ``excluded`` lists trials without an estimate (columns ``trial, reason, message``);
    ``subgroups`` maps each subgroup level to its pooled result, with ``subgroup_test``;
    ``interaction`` is the deft interaction analysis when requested.
    """

    title: ClassVar[str] = "Two-stage IPD meta-analysis"

    model: str
    measure: str
    method: str
    pooled: PoolResult
    per_trial: pd.DataFrame
    excluded: pd.DataFrame
    subgroup: str | None = None
    subgroups: Mapping[str, PoolResult] = field(default_factory=dict)
    subgroup_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    subgroup_test: SubgroupTest | None = None
    interaction: InteractionResult | None = None
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """The pooled row (:attr:`PoolResult.summary` columns), then one row per subgroup."""
        frames = [self.pooled.summary.rename(index={"pooled": "overall"})]
        for level, res in self.subgroups.items():
            frames.append(res.summary.rename(index={"pooled": f"{self.subgroup}={level}"}))
        return pd.concat(frames)

    def _notes(self) -> tuple[str, ...]:
        excl = tuple(self.excluded["message"]) if len(self.excluded) else ()
        return self.notes + tuple(f"excluded: {m}" for m in excl)

    def _headline(self) -> str:
        return self.pooled._headline()

    def plot(self, *, path: Any = None, **kwargs: Any) -> Any:
        """The forest plot (:func:`analyses.forest.forest_plot`; same options)."""
        from analyses.forest import forest_plot

        return forest_plot(self, path=path, **kwargs)

    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        items = dict(self.pooled._dict_items())
        items["per_trial"] = self.per_trial
        items.update({"model": self.model, "measure": self.measure,
                      "excluded": self.excluded, "notes": list(self.notes)
                      + list(self.pooled.notes)})
        if self.subgroup is not None:
            items["subgroup"] = self.subgroup
            items["subgroups"] = {level: {**r.to_dict(),
                                          "per_trial": self.subgroup_tables.get(level)}
                                  for level, r in self.subgroups.items()}
            items["subgroup_test"] = self.subgroup_test
        if self.interaction is not None:
            items["interaction"] = self.interaction
        return items.items()


@dataclass
class _Row:
    trial: str
    source: str
    yi: float
    vi: float
    n: int | None = None
    n_treated: int | None = None
    n_control: int | None = None
    events: int | None = None
    events_treated: int | None = None
    events_control: int | None = None
    table: tuple[float, float, float, float] | None = None
    oe: float | None = None
    v: float | None = None
    note: str = ""
    rmst: tuple[float, float, float, float] | None = None
    ph: tuple[float, int, float] | None = None


def _ipd_rows(fs: FirstStage) -> list[_Row]:
    return [_Row(trial=e.trial, source="IPD", yi=e.estimate, vi=e.se**2, n=e.n,
                 n_treated=e.n_treated, n_control=e.n_control, events=e.events,
                 events_treated=e.events_treated, events_control=e.events_control,
                 table=e.table, oe=e.o_minus_e, v=e.v, note=e.note, rmst=e.rmst,
                 ph=e.ph_test) for e in fs.estimates]


def _ad_rows(ad: Sequence[AggregateTrial], *, model: str, measure: str, add: float,
             to: str) -> tuple[list[_Row], list[str]]:
    rows: list[_Row] = []
    notes: list[str] = []
    for a in ad:
        if a.kind == "estimate":
            assert a.yi is not None and a.vi is not None
            r = _Row(trial=a.trial, source="AD", yi=a.yi, vi=a.vi, n=a.n, events=a.events)
            if model == "logrank":
                r.oe, r.v = a.yi / a.vi, 1 / a.vi
                notes.append(f"AD trial {a.trial}: O-E and V derived from yi and vi "
                             "(O-E = yi/vi, V = 1/vi)")
        elif a.kind == "oe":
            if model != "logrank":
                raise AnalysisProblem(f"AD trial {a.trial} gives log-rank O-E and V, which only "
                                    "a model='logrank' analysis can use", reason=Reason.BAD_AGGREGATE)
            assert a.o_minus_e is not None and a.v is not None
            r = _Row(trial=a.trial, source="AD", yi=a.o_minus_e / a.v, vi=1 / a.v,
                     oe=a.o_minus_e, v=a.v, n=a.n, events=a.events)
        else:
            if model not in ("2x2", "logistic"):
                raise AnalysisProblem(f"AD trial {a.trial} gives a 2x2 table, which a "
                                    f"model={model!r} analysis cannot use; give yi and vi",
                                    reason=Reason.BAD_AGGREGATE)
            assert a.table is not None
            ai, n1, ci, n2 = a.table
            es = effect_2x2([ai], [n1], [ci], [n2], measure=measure, add=add, to=to,
                            labels=[a.trial])
            if es.dropped:
                raise AnalysisProblem(f"AD trial {a.trial}: {es.dropped[0]}",
                                    reason=Reason.BAD_AGGREGATE)
            r = _Row(trial=a.trial, source="AD", yi=float(es.yi[0]), vi=float(es.vi[0]),
                     n=a.n, n_treated=int(n1), n_control=int(n2), events=a.events,
                     events_treated=int(ai), events_control=int(ci), table=a.table)
            if model == "logistic":
                notes.append(f"AD trial {a.trial}: log odds ratio from its 2x2 table (escalc)")
        rows.append(r)
    return rows, notes


def _pool_rows(rows: list[_Row], *, model: str, measure: str, method: str, test: str,
               level: float, stepadj: float, add: float, to: str) -> PoolResult:
    labels = [r.trial for r in rows]
    if not rows:
        raise AnalysisProblem("no trial gave an estimate; see the excluded trials",
                            reason=Reason.TOO_FEW_TRIALS, k=0)
    if method == "Peto" and model == "logrank":
        return pool_oe([float("nan") if r.oe is None else r.oe for r in rows],
                       [float("nan") if r.v is None else r.v for r in rows], level=level,
                       labels=labels)
    if method in ("MH", "Peto"):
        if model != "2x2":
            raise AnalysisProblem(f"method={method!r} pools 2x2 tables (model='2x2')"
                                + (" or log-rank O-E (model='logrank')" if method == "Peto"
                                   else ""), reason=Reason.BAD_OPTION)
        missing = [r.trial for r in rows if r.table is None]
        if missing:
            raise AnalysisProblem(f"{method} needs 2x2 counts for every trial; missing for "
                                f"{', '.join(missing)}", reason=Reason.BAD_AGGREGATE)
        tabs = np.array([r.table for r in rows], dtype=float)
        return pool_2x2(tabs[:, 0], tabs[:, 1], tabs[:, 2], tabs[:, 3], measure=measure,
                        method=method, test=test, level=level, labels=labels, add=add, to=to)
    return pool([r.yi for r in rows], [r.vi for r in rows], method=method, test=test,
                level=level, labels=labels, measure=measure, stepadj=stepadj)


def _table(rows: list[_Row], res: PoolResult, *, model: str, ratio: bool) -> pd.DataFrame:
    z = float(stats.norm.isf((1 - res.level / 100) / 2))
    weight = dict(zip(res.studies["study"], res.studies["weight"]))
    recs = []
    for r in rows:
        se = math.sqrt(r.vi)
        rec = {"trial": r.trial, "source": r.source, "n": r.n, "n_treated": r.n_treated,
               "n_control": r.n_control, "events": r.events,
               "events_treated": r.events_treated, "events_control": r.events_control,
               "estimate": r.yi, "se": se, "ci_low": r.yi - z * se, "ci_high": r.yi + z * se,
               "weight": weight.get(r.trial, float("nan"))}
        if ratio:
            rec.update(exp_estimate=math.exp(r.yi), exp_ci_low=math.exp(r.yi - z * se),
                       exp_ci_high=math.exp(r.yi + z * se))
        if model == "logrank":
            rec.update(o_minus_e=r.oe, v=r.v)
        if model == "rmst" and r.rmst is not None:
            rec.update(zip(_MODEL_COLUMNS["rmst"], r.rmst))
        if model == "cox" and r.ph is not None:
            rec.update(ph_chisq=r.ph[0], ph_p=r.ph[2])
        rec["note"] = r.note
        recs.append(rec)
    other = {c for m, cs in _MODEL_COLUMNS.items() if m != model for c in cs}
    cols = [c for c in PER_TRIAL_COLUMNS
            if (ratio or not c.startswith("exp_")) and c not in other]
    frame = pd.DataFrame(recs, columns=cols)
    for c in ("n", "n_treated", "n_control", "events", "events_treated", "events_control"):
        frame[c] = frame[c].astype("Int64")
    return frame


def _subgroup_test(results: Mapping[str, PoolResult]) -> SubgroupTest | None:
    if len(results) < 2:
        return None
    est = np.array([r.estimate for r in results.values()])
    w = 1 / np.array([r.se for r in results.values()]) ** 2
    mean = float(np.sum(w * est) / np.sum(w))
    Q = float(np.sum(w * (est - mean) ** 2))
    df = len(results) - 1
    return SubgroupTest(Q=Q, df=df, p=float(stats.chi2.sf(Q, df)))


def _check_model(model: str, measure: str | None, adjust: Sequence[str], tau: float | None,
                 interaction: str | None) -> str:
    """The options that go with ``model``; returns its measure."""
    if model not in MODELS:
        raise AnalysisProblem(f"unknown model {model!r}; choose one of {', '.join(MODELS)}",
                            reason=Reason.BAD_OPTION)
    if model == "2x2":
        meas = (measure or "OR").upper()
        if meas not in ("OR", "RR", "RD"):
            raise AnalysisProblem(f"model='2x2' estimates OR, RR or RD, not {measure!r}",
                                reason=Reason.BAD_OPTION)
    else:
        meas = MODEL_MEASURE[model]
        if measure is not None and measure.upper() != meas:
            raise AnalysisProblem(f"model={model!r} estimates {meas}, not {measure!r}",
                                reason=Reason.BAD_OPTION)
    if adjust and model in ("logrank", "2x2", "rmst"):
        raise AnalysisProblem(f"model={model!r} cannot adjust for covariates; use 'cox' or "
                            "'logistic'", reason=Reason.BAD_OPTION)
    if model == "rmst" and tau is None:
        raise AnalysisProblem("model='rmst' needs the horizon tau (CLI --tau), in the time "
                            "units of the data", reason=Reason.MISSING_OPTION)
    if tau is not None and not (math.isfinite(tau) and tau > 0):
        raise AnalysisProblem(f"the RMST horizon tau must be a positive number of time units, "
                              f"not {tau:g}", reason=Reason.BAD_OPTION, option="tau")
    if tau is not None and model != "rmst":
        raise AnalysisProblem(f"tau applies to model='rmst' only, not {model!r}",
                            reason=Reason.BAD_OPTION)
    if model == "rmst" and interaction is not None:
        raise AnalysisProblem("model='rmst' has no interaction analysis", reason=Reason.BAD_OPTION)
    return meas


def two_stage(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    model: str = "cox",
    measure: str | None = None,
    adjust: Sequence[str] = (),
    method: str | None = None,
    test: str = "z",
    level: float = 95.0,
    treated_value: Any = 1,
    control_value: Any = None,
    subgroup: str | None = None,
    interaction: str | None = None,
    aggregate: pd.DataFrame | None = None,
    missing: str = "error",
    ties: str = "efron",
    add: float = 0.5,
    to: str = "only0",
    stepadj: float = 1.0,
    tau: float | None = None,
    ph_test: bool = True,
) -> TwoStageResult:
    """Two-stage IPD meta-analysis (see the module docstring).

    ``model``: ``"cox"``, ``"logrank"``, ``"logistic"``, ``"2x2"``, ``"linear"`` or
    ``"rmst"`` (difference in restricted mean survival time up to ``tau``, in the time units
    of the data; :mod:`analyses.rmst`).
    ``measure``: for ``"2x2"`` ``"OR"`` (default), ``"RR"`` or ``"RD"``; implied otherwise
    (HR, OR, MD, RMSTD). ``ph_test`` (Cox): add each trial's proportional-hazards test of
    treatment (R's ``cox.zph``) as ``ph_chisq``/``ph_p`` columns of ``per_trial``. ``method``: a :func:`~analyses.pooling.pool` method, ``"MH"`` or ``"Peto"``
    for ``2x2``, ``"Peto"`` for ``logrank``; default ``"Peto"`` for ``logrank`` and ``"REML"``
    otherwise. ``adjust``: covariates for the regression models (ANCOVA: the baseline value).
    ``treated_value``/``control_value``: the treatment coding (0/1 by default).
    ``aggregate``: aggregate-data trials (:func:`analyses.aggregate.read_aggregate`).
    ``missing="drop"`` runs a complete-case analysis (rows lost are reported per trial).
    """
    meas = _check_model(model, measure, adjust, tau, interaction)
    plan = _Plan(model=model, measure=meas, adjust=tuple(adjust), test=test, level=level,
                 method=normalise_method(method) if method else
                 ("Peto" if model == "logrank" else "REML"),
                 ties=ties, add=add, to=to, tau=tau, stepadj=stepadj,
                 ph_test=ph_test and model == "cox")
    numeric, carried = covariate_roles(model, adjust, interaction)
    prepared = prepare_ipd(data, trial=trial, treatment=treatment, model=model,
                           outcome=outcome, time=time, event=event, adjust=numeric,
                           extra=carried + ([subgroup] if subgroup else []),
                           treated_value=treated_value, control_value=control_value,
                           missing=missing)
    notes = prepared.notes()
    if model == "rmst":
        notes.append(f"restricted mean survival time up to tau = {tau:g} time units; "
                     "estimate = treated minus control")
    fs = plan.first_stage(prepared.frame, prepared.trials)
    rows = _ipd_rows(fs) + _aggregate_rows(plan, aggregate, prepared.trials, notes)
    pooled = plan.pool(rows)
    subgroups: dict[str, PoolResult] = {}
    sub_tables: dict[str, pd.DataFrame] = {}
    if subgroup is not None:
        subgroups, sub_tables = _subgroups(plan, prepared, subgroup, aggregate, notes)
    inter = None
    if interaction is not None:
        inter = deft_from_prepared(
            prepared, covariate=interaction, model=model, adjust=plan.adjust, measure=meas,
            method=plan.method if plan.method not in ("MH", "Peto") else "REML", test=test,
            level=level, ties=ties, stepadj=stepadj)
    return TwoStageResult(
        model=model, measure=meas, method=plan.method, pooled=pooled,
        per_trial=plan.table(rows, pooled), excluded=fs.excluded_frame(), subgroup=subgroup,
        subgroups=subgroups, subgroup_tables=sub_tables,
        subgroup_test=_subgroup_test(subgroups) if subgroup is not None else None,
        interaction=inter, notes=tuple(notes))


def _aggregate_rows(plan: _Plan, aggregate: pd.DataFrame | None, ipd_trials: Sequence[str],
                    notes: list[str]) -> list[_Row]:
    """The aggregate-data trials as rows to pool (notes added to ``notes``)."""
    if aggregate is None:
        return []
    ad = read_aggregate(aggregate, trial="trial")
    clash = sorted(set(a.trial for a in ad) & set(ipd_trials))
    if clash:
        raise AnalysisProblem(f"trial(s) {', '.join(clash)} appear both as IPD and as aggregate "
                              "data; keep one source per trial", reason=Reason.DUPLICATE_TRIAL,
                              trials=clash)
    rows, ad_notes = _ad_rows(ad, model=plan.model, measure=plan.measure, add=plan.add,
                              to=plan.to)
    notes.extend(ad_notes)
    return rows


@dataclass(frozen=True)
class _Plan:
    """The settings every stage of one two-stage analysis shares."""

    model: str
    measure: str
    method: str
    adjust: tuple[str, ...]
    test: str
    level: float
    ties: str
    add: float
    to: str
    tau: float | None
    stepadj: float
    ph_test: bool

    def first_stage(self, frame: pd.DataFrame, trials: Sequence[str]) -> FirstStage:
        """Every trial's estimate; for inverse-variance pooling a trial without one (a 2x2
        table with zero cells and to="none") is left out with its reason (MH and Peto use
        the counts instead)."""
        fs = first_stage(frame, trials, model=self.model, adjust=self.adjust,
                         measure=self.measure, ties=self.ties, add=self.add, to=self.to,
                         tau=self.tau, ph_test=self.ph_test)
        bad = [e for e in fs.estimates if not (math.isfinite(e.estimate) and e.se > 0)]
        if self.method in ("MH", "Peto") or not bad:
            return fs
        return FirstStage(
            estimates=tuple(e for e in fs.estimates if e not in bad),
            excluded=fs.excluded + tuple(
                (e.trial, str(Reason.NO_ESTIMATE), f"trial {e.trial}: {e.note}") for e in bad))

    def pool(self, rows: list[_Row], *, single: bool = False) -> PoolResult:
        """Pool ``rows``; ``single``: a subgroup with one trial (common effect, z test)."""
        method = "FE" if single and self.method not in ("FE", "MH", "Peto") else self.method
        return _pool_rows(rows, model=self.model, measure=self.measure, method=method,
                          test="z" if single else self.test, level=self.level,
                          stepadj=self.stepadj, add=self.add, to=self.to)

    def table(self, rows: list[_Row], res: PoolResult) -> pd.DataFrame:
        return _table(rows, res, model=self.model, ratio=self.measure in ("HR", "OR", "RR"))


def _subgroups(plan: _Plan, prepared: PreparedIPD, subgroup: str,
               aggregate: pd.DataFrame | None, notes: list[str]
               ) -> tuple[dict[str, PoolResult], dict[str, pd.DataFrame]]:
    """The analysis within each level of ``subgroup`` (notes added to ``notes``)."""
    results: dict[str, PoolResult] = {}
    tables: dict[str, pd.DataFrame] = {}
    by_level = aggregate is not None and subgroup in aggregate.columns
    levels = sorted(pd.unique(prepared.frame[subgroup]), key=lambda x: (str(type(x)), x))
    for lev in levels:
        part = prepared.frame[prepared.frame[subgroup] == lev]
        rows = _ipd_rows(plan.first_stage(part, prepared.trials))
        if by_level:
            assert aggregate is not None
            sub_ad = aggregate[aggregate[subgroup].astype(str) == str(lev)]
            rows += _ad_rows(read_aggregate(sub_ad), model=plan.model, measure=plan.measure,
                             add=plan.add, to=plan.to)[0]
        if not rows:
            notes.append(f"subgroup {subgroup}={lev}: no trial gave an estimate")
            continue
        single = len(rows) == 1
        if single and plan.method not in ("FE", "MH", "Peto"):
            notes.append(f"subgroup {subgroup}={lev}: a single trial, so the common-effect "
                         "model is used (tau^2 cannot be estimated)")
        results[str(lev)] = res = plan.pool(rows, single=single)
        tables[str(lev)] = plan.table(rows, res)
    if aggregate is not None and not by_level and len(aggregate):
        notes.append(f"aggregate-data trials have no {subgroup} column and are left out "
                     "of the subgroup analyses")
    return results, tables
