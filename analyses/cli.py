"""``ipdrepo analyse``: pooling, two-stage and one-stage IPD meta-analysis from the shell.

The commands only parse options, read the file (CSV or parquet), call the library and print;
``--json`` prints the result's ``to_dict()`` on stdout. Domain errors become
``error: <message>`` and the exit code of the error class (see :mod:`repository.errors`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
import pandas as pd

from repository.cli._common import emit_json, json_option, print_table
from repository.cli.access import requires
from repository.errors import AnalysisError

__all__ = ["analyse"]

_METHODS = ["FE", "EE", "CE", "IV", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB", "MH",
            "Peto"]
_TESTS = ["z", "t", "knha", "adhoc"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or parquet file, or a released version given as ``release:VERSION`` (the
    workspace's topic) or ``release:TOPIC@VERSION``, into a data frame."""
    if str(path).startswith("release:"):
        return _read_release(str(path).removeprefix("release:"))
    p = Path(path)
    if not p.is_file():
        raise AnalysisError(f"{p} does not exist; give a .csv or .parquet file, or a released "
                            "version as release:VERSION.", reason="unreadable", file=str(p))
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(p)
        if suffix in (".tsv", ".tab"):
            return pd.read_csv(p, sep="\t")
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"cannot read {p}: {exc}", reason="unreadable", file=str(p)) from exc
    raise AnalysisError(f"{p}: unknown file type {suffix!r}; give a .csv or .parquet file",
                        reason="unreadable", file=str(p))


def _read_release(spec: str) -> pd.DataFrame:
    """A release of the workspace's store (``VERSION`` or ``TOPIC@VERSION``): analysts and
    curators; the bytes are checked against the release manifest."""
    from repository.cli._common import get_settings
    from repository.store import Store
    from versions.releases import get_release

    topic, _, version = spec.rpartition("@")
    with Store.open(get_settings()) as store:
        return get_release(store, version, topic=topic or None)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "NA"
    if isinstance(x, float):
        if math.isnan(x):
            return "NA"
        return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.{digits}e}"
    return str(x)


def _print_pool(res: Any, *, heading: str = "Pooled") -> None:
    ci = f"[{_fmt(res.ci[0])}, {_fmt(res.ci[1])}]"
    click.echo(f"{heading}: method {res.method}, test {res.test}, k = {res.k}")
    stat = "z" if res.df is None else f"t({res.df})"
    click.echo(f"  estimate {_fmt(res.estimate)}  SE {_fmt(res.se)}  {res.level:g}% CI {ci}  "
               f"{stat} = {_fmt(res.statistic)}  p = {_fmt(res.p)}")
    if res.is_ratio:
        eci = res.exp_ci
        click.echo(f"  exp(estimate) {_fmt(res.exp_estimate)}  {res.level:g}% CI "
                   f"[{_fmt(eci[0])}, {_fmt(eci[1])}]  ({res.measure})")
    if res.pi is not None:
        pi = res.exp_pi if res.is_ratio else res.pi
        click.echo(f"  prediction interval [{_fmt(pi[0])}, {_fmt(pi[1])}]"
                   + (" (exponentiated)" if res.is_ratio else ""))
    het = f"  Q = {_fmt(res.Q)} (df {res.Q_df}, p = {_fmt(res.Q_p)})  I2 = {_fmt(res.I2, 3)}%"
    het += f"  H2 = {_fmt(res.H2)}"
    if res.tau2 is not None:
        het += f"  tau2 = {_fmt(res.tau2)}"
        if res.tau2_ci is not None:
            het += f" [{_fmt(res.tau2_ci[0])}, {_fmt(res.tau2_ci[1])}]"
    click.echo(het)
    for note in res.notes:
        click.echo(f"  note: {note}")


def _per_trial_rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in frame.columns]
    rows = []
    for rec in frame[cols].to_dict(orient="records"):
        rows.append({k: (_fmt(v) if isinstance(v, float) else ("" if v is pd.NA else v))
                     for k, v in rec.items()})
    return rows


@click.group("analyse")
def analyse() -> None:
    """Meta-analysis: pool estimates or 2x2 tables, two-stage and one-stage IPD models.

    \b
    Examples:
      ipdrepo analyse pool effects.csv --yi logor --se se --method REML --test knha
      ipdrepo analyse pool tables.csv --measure OR --events-treated ai --n-treated n1 \\
          --events-control ci --n-control n2 --method MH
      ipdrepo analyse two-stage ipd.csv --trial trial --treatment arm \\
          --time months --event died --model cox --method REML --forest forest.svg
    """


# ---------------------------------------------------------------------- pool
@analyse.command("pool")
@click.argument("file", metavar="FILE|release:VERSION")
@click.option("--yi", help="Column of per-trial estimates (log scale for ratio measures).")
@click.option("--vi", help="Column of sampling variances of --yi.")
@click.option("--se", "se_col", help="Column of standard errors of --yi (instead of --vi).")
@click.option("--measure", type=click.Choice(["OR", "RR", "RD", "HR", "MD", "SMD"],
                                             case_sensitive=False),
              help="Effect measure. With 2x2 columns: OR, RR or RD. With --yi: names the "
                   "scale (OR/RR/HR estimates are log ratios; exponentiated values are added).")
@click.option("--events-treated", help="Column: events in the treated arm (2x2 tables).")
@click.option("--n-treated", help="Column: participants in the treated arm.")
@click.option("--events-control", help="Column: events in the control arm.")
@click.option("--n-control", help="Column: participants in the control arm.")
@click.option("--label", "label_col", help="Column of trial labels (default: row numbers).")
@click.option("--method", default="REML", show_default=True,
              type=click.Choice(_METHODS, case_sensitive=False),
              help="FE (common effect), a tau^2 estimator (DL REML ML PM HS SJ HE EB), or for "
                   "2x2 tables MH / Peto.")
@click.option("--test", default="z", show_default=True, type=click.Choice(_TESTS),
              help="z, t, knha (Hartung-Knapp-Sidik-Jonkman) or adhoc (knha truncated at 1).")
@click.option("--level", default=95.0, show_default=True, help="Confidence level in percent.")
@click.option("--step-adjust", default=1.0, show_default=True,
              help="Fisher-scoring step factor for ML/REML/EB (0.5 if they do not converge).")
@click.option("--forest", type=click.Path(dir_okay=False), help="Write a forest plot (.png/.svg).")
@click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report.")
@json_option
@requires("files.analyse")
def pool_cmd(file: str, yi: str | None, vi: str | None, se_col: str | None,
             measure: str | None, events_treated: str | None, n_treated: str | None,
             events_control: str | None, n_control: str | None, label_col: str | None,
             method: str, test: str, level: float, step_adjust: float, forest: str | None,
             report: str | None, as_json: bool) -> None:
    """Pool per-trial estimates (--yi with --vi or --se) or 2x2 tables (four count columns).

    \b
    Examples:
      ipdrepo analyse pool effects.csv --yi yi --vi vi --method REML --test knha --json
      ipdrepo analyse pool bcg.csv --measure RR --events-treated tpos --n-treated n1 \\
          --events-control cpos --n-control n2 --method MH --forest bcg.svg
    """
    from analyses.binary import pool_2x2
    from analyses.pooling import pool

    df = read_table(file)
    counts = [events_treated, n_treated, events_control, n_control]
    if yi is not None and any(counts):
        raise click.UsageError("give either --yi (with --vi/--se) or the four 2x2 columns")
    wanted = [c for c in [yi, vi, se_col, label_col, *counts] if c]
    absent = [c for c in wanted if c not in df.columns]
    if absent:
        raise AnalysisError(f"column(s) not in {file}: {', '.join(absent)}; available: "
                            f"{', '.join(map(str, df.columns))}", reason="missing_column")
    labels = df[label_col].astype(str).tolist() if label_col else None
    if yi is not None:
        if (vi is None) == (se_col is None):
            raise click.UsageError("with --yi give exactly one of --vi or --se")
        res = pool(df[yi].to_numpy(dtype=float),
                   df[vi].to_numpy(dtype=float) if vi else None,
                   se=df[se_col].to_numpy(dtype=float) if se_col else None,
                   method=method, test=test, level=level, labels=labels,
                   measure=measure.upper() if measure else None, stepadj=step_adjust)
    elif all(counts):
        res = pool_2x2(*(df[c].to_numpy(dtype=float) for c in counts),
                       measure=(measure or "OR").upper(), method=method, test=test,
                       level=level, labels=labels)
    else:
        raise click.UsageError("give --yi with --vi or --se, or all of --events-treated, "
                               "--n-treated, --events-control and --n-control")
    _outputs(res, forest=forest, report=report, title=f"Meta-analysis of {Path(file).name}")
    if as_json:
        emit_json(res.to_dict())
        return
    _print_pool(res)
    click.echo("")
    print_table(_per_trial_rows(res.studies.rename(columns={"study": "trial"}),
                                ["trial", "yi", "se", "ci_low", "ci_high", "weight", "note"]))


def _outputs(res: Any, *, forest: str | None, report: str | None, title: str) -> None:
    if forest:
        from analyses.forest import forest_plot

        forest_plot(res, path=forest, title=title)
    if report:
        from analyses.report import write_report

        write_report(res, report, title=title)


# ---------------------------------------------------------------------- two-stage
@analyse.command("two-stage")
@click.argument("file", metavar="FILE|release:VERSION")
@click.option("--trial", required=True, help="Column identifying the trial.")
@click.option("--treatment", required=True, help="Column of the randomised arm.")
@click.option("--time", help="Column of follow-up time (cox, logrank).")
@click.option("--event", help="Column of the event indicator 0/1 (cox, logrank).")
@click.option("--outcome", help="Column of the outcome (logistic/2x2: 0/1; linear: numeric).")
@click.option("--model", required=True,
              type=click.Choice(["cox", "logrank", "logistic", "2x2", "linear"]),
              help="Per-trial model.")
@click.option("--measure", type=click.Choice(["OR", "RR", "RD"], case_sensitive=False),
              help="For --model 2x2: OR (default), RR or RD.")
@click.option("--adjust", multiple=True, help="Covariate to adjust for (repeatable); for "
              "ANCOVA give the baseline value of the outcome.")
@click.option("--interaction", help="Covariate for a within-trial (deft) treatment interaction.")
@click.option("--subgroup", help="Column defining subgroups (pooled separately, with a test "
              "for subgroup differences).")
@click.option("--method", default=None, type=click.Choice(_METHODS, case_sensitive=False),
              help="Pooling method: FE, DL, REML (default; Peto for logrank), ML, PM, HS, SJ, "
                   "HE, EB; MH or Peto for 2x2; Peto for logrank.")
@click.option("--test", default="z", show_default=True, type=click.Choice(_TESTS))
@click.option("--level", default=95.0, show_default=True, help="Confidence level in percent.")
@click.option("--treated-value", default="1", show_default=True,
              help="Value of --treatment marking the treated arm.")
@click.option("--control-value", default=None,
              help="Value marking the control arm (needed when --treatment has >2 values).")
@click.option("--aggregate", type=click.Path(exists=True, dir_okay=False),
              help="CSV/parquet of aggregate-data trials (trial, yi+vi|se, or 2x2 counts, or "
                   "o_minus_e+v) to pool with the IPD.")
@click.option("--drop-missing", is_flag=True,
              help="Complete-case analysis: leave out rows with missing values (reported).")
@click.option("--step-adjust", default=1.0, show_default=True,
              help="Fisher-scoring step factor for ML/REML/EB (0.5 if they do not converge).")
@click.option("--forest", type=click.Path(dir_okay=False), help="Write a forest plot (.png/.svg).")
@click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report.")
@json_option
@requires("files.analyse")
def two_stage_cmd(file: str, trial: str, treatment: str, time: str | None, event: str | None,
                  outcome: str | None, model: str, measure: str | None, adjust: tuple[str, ...],
                  interaction: str | None, subgroup: str | None, method: str | None, test: str,
                  level: float, treated_value: str, control_value: str | None,
                  aggregate: str | None, drop_missing: bool, step_adjust: float,
                  forest: str | None, report: str | None, as_json: bool) -> None:
    """Two-stage IPD meta-analysis: fit --model in every trial, then pool.

    \b
    Examples:
      ipdrepo analyse two-stage gastadj.csv --trial trialref --treatment trt \\
          --treated-value 0.5 --time timeT --event statusT --model logrank --method Peto
      ipdrepo analyse two-stage trials.csv --trial study --treatment arm --outcome sbp \\
          --adjust sbp0 --model linear --method REML --test knha --report report.html --json
    """
    from analyses.two_stage import two_stage

    df = read_table(file)
    ad = read_table(aggregate) if aggregate else None
    res = two_stage(df, trial=trial, treatment=treatment, outcome=outcome, time=time,
                    event=event, model=model, measure=measure, adjust=adjust,
                    method=method, test=test, level=level, treated_value=treated_value,
                    control_value=control_value, subgroup=subgroup, interaction=interaction,
                    aggregate=ad, missing="drop" if drop_missing else "error",
                    stepadj=step_adjust)
    _outputs(res, forest=forest, report=report,
             title=f"Two-stage IPD meta-analysis of {Path(file).name} ({model})")
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(f"Two-stage IPD meta-analysis: model {model}, measure {res.measure}")
    _print_pool(res.pooled)
    for level_name, sub in res.subgroups.items():
        _print_pool(sub, heading=f"Subgroup {subgroup} = {level_name}")
    if res.subgroup_test is not None:
        st = res.subgroup_test
        click.echo(f"Test for subgroup differences: Q = {_fmt(st.Q)} (df {st.df}, "
                   f"p = {_fmt(st.p)})")
    if res.interaction is not None:
        _print_pool(res.interaction.pooled,
                    heading=f"Interaction treatment x {interaction} ({res.interaction.scale})")
    for note in res.notes:
        click.echo(f"note: {note}")
    click.echo("")
    print_table(_per_trial_rows(res.per_trial, ["trial", "source", "n", "events", "estimate",
                                                "se", "ci_low", "ci_high", "weight", "note"]))
    if len(res.excluded):
        click.echo("\nExcluded trials:")
        for msg in res.excluded["message"]:
            click.echo(f"  {msg}")


# ---------------------------------------------------------------------- one-stage
@analyse.command("one-stage")
@click.argument("file", metavar="FILE|release:VERSION")
@click.option("--trial", required=True, help="Column identifying the trial.")
@click.option("--treatment", required=True, help="Column of the randomised arm.")
@click.option("--time", help="Column of follow-up time (cox).")
@click.option("--event", help="Column of the event indicator 0/1 (cox).")
@click.option("--outcome", help="Column of the outcome (logistic: 0/1; linear: numeric).")
@click.option("--model", required=True, type=click.Choice(["cox", "logistic", "linear"]),
              help="One-stage model with trial-stratified intercepts / baseline hazards.")
@click.option("--random-treatment", is_flag=True,
              help="Add a random treatment effect across trials (default: common effect).")
@click.option("--interaction", help="Covariate for a treatment interaction, split into "
              "within-trial (trial-centred) and across-trial parts.")
@click.option("--adjust", multiple=True, help="Covariate to adjust for (repeatable).")
@click.option("--nagq", default=1, show_default=True,
              help="Adaptive Gauss-Hermite points for the logistic GLMM (1 = Laplace).")
@click.option("--coding", default="binary", show_default=True,
              type=click.Choice(["binary", "plusminus", "centred"]),
              help="Treatment coding: 0/1, -/+0.5, or arm minus trial mean.")
@click.option("--treated-value", default="1", show_default=True,
              help="Value of --treatment marking the treated arm (others are control).")
@click.option("--level", default=95.0, show_default=True, help="Confidence level in percent.")
@json_option
@requires("files.analyse")
def one_stage_cmd(file: str, trial: str, treatment: str, time: str | None, event: str | None,
                  outcome: str | None, model: str, random_treatment: bool,
                  interaction: str | None, adjust: tuple[str, ...], nagq: int, coding: str,
                  treated_value: str, level: float, as_json: bool) -> None:
    """One-stage IPD meta-analysis (delegates to analyses.one_stage).

    \b
    Examples:
      ipdrepo analyse one-stage gastadj.csv --trial trialref --treatment trt \\
          --treated-value 0.5 --time timeT --event statusT --model cox --random-treatment
      ipdrepo analyse one-stage ipd.csv --trial study --treatment arm --outcome died \\
          --model logistic --random-treatment --nagq 7 --json
    """
    from analyses.one_stage import one_stage

    df = read_table(file)
    res = one_stage(df, trial=trial, treatment=treatment, outcome=outcome, time=time,
                    event=event, model=model, random_treatment=random_treatment,  # type: ignore[arg-type]
                    interaction=interaction, adjust=adjust, nagq=nagq,
                    treated_value=_typed_value(df[treatment], treated_value),
                    coding=coding, level=level / 100)  # type: ignore[arg-type]
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(repr(res))


def _typed_value(column: pd.Series, value: str) -> Any:
    """The CLI's text value converted to the column's type (so "0.5" matches 0.5)."""
    if pd.api.types.is_numeric_dtype(column):
        try:
            return float(value)
        except ValueError:
            return value
    return value
