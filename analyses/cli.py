"""``ipdrepo analyse``: pooling, two-stage and one-stage IPD meta-analysis from the shell.

The commands only parse options, read the file (CSV or parquet) or the release, call the
library and print; ``--json`` prints the result's ``to_dict()`` (with ``source``: the release
version and data hash, or the file's hash) on stdout. Figures and reports carry the same
provenance line. Reading and writing live in :mod:`analyses.cli_io`. Domain errors become
``error: <message>`` and the exit code of the error class (see :mod:`repository.errors`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from analyses.cli_io import figure_args, figure_options, read_data, read_table, write_outputs
from analyses.errors import AnalysisProblem, Reason
from repository.cli._common import emit_json, json_option, print_table
from repository.cli.access import requires

if TYPE_CHECKING:  # pandas is imported when a command runs, not for --help
    import pandas as pd

__all__ = ["analyse", "read_table"]

_METHODS = ["FE", "EE", "CE", "IV", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB", "MH",
            "Peto"]
_TESTS = ["z", "t", "knha", "adhoc"]


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
    import pandas as pd

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
    # numpy's floating-point warnings ("overflow encountered in multiply", with a line of
    # our code) say nothing a user can act on: every result is checked for finite numbers
    # and ends in error: ... naming the scale problem instead
    ctx = click.get_current_context()
    ctx.with_resource(warnings.catch_warnings())
    warnings.filterwarnings("ignore", category=RuntimeWarning, message=_FLOATING_POINT)


_FLOATING_POINT = r"(overflow|underflow|invalid value|divide by zero) encountered"


def _outputs_options(f: Any) -> Any:
    """--forest, --report, --table, --diagnostics, --funnel, --baujat and the figure options."""
    options = [
        click.option("--forest", type=click.Path(dir_okay=False),
                     help="Write the forest plot (.png, .svg with editable text, or .pdf)."),
        click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report."),
        click.option("--table", type=click.Path(dir_okay=False),
                     help="Write the results table (.csv, .xlsx, .docx, .tex or .html)."),
        click.option("--diagnostics", is_flag=True,
                     help="Add small-study and influence diagnostics (Egger, regtest, "
                          "leave-one-out, trim and fill, influence, Baujat) to the output."),
        click.option("--funnel", type=click.Path(dir_okay=False),
                     help="Write a funnel plot (with trim-and-fill trials)."),
        click.option("--baujat", type=click.Path(dir_okay=False), help="Write a Baujat plot."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return figure_options(f)


def _finish(res: Any, kw: dict[str, Any], *, source: Any, default_title: str,
            as_json: bool) -> Any:
    """Write the outputs; return the diagnostics (or None); print JSON when asked."""
    fig = figure_args(kw)
    diag = None
    if kw["diagnostics"]:
        from analyses.diagnostics import diagnose

        diag = diagnose(res)
    write_outputs(res, fig=fig, source=source, default_title=default_title,
                  forest=kw["forest"], report=kw["report"], table=kw["table"],
                  diagnostics=diag, funnel=kw["funnel"], baujat=kw["baujat"])
    if as_json:
        out = res.to_dict()
        if diag is not None:
            out.update(diag.to_dict())
        out["source"] = source.to_dict()
        emit_json(out)
    return diag


def _echo_result(res: Any, source: Any, *, as_json: bool) -> None:
    """Print a result: its ``to_dict()`` with the data source as JSON, or its repr."""
    if as_json:
        emit_json({**res.to_dict(), "source": source.to_dict()})
    else:
        click.echo(repr(res))


def _print_diagnostics(diag: Any) -> None:
    if diag is None:
        return
    click.echo("")
    click.echo(repr(diag))


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
@_outputs_options
@json_option
@requires("files.analyse")
def pool_cmd(file: str, yi: str | None, vi: str | None, se_col: str | None,
             measure: str | None, events_treated: str | None, n_treated: str | None,
             events_control: str | None, n_control: str | None, label_col: str | None,
             method: str, test: str, level: float, step_adjust: float, as_json: bool,
             **kw: Any) -> None:
    """Pool per-trial estimates (--yi with --vi or --se) or 2x2 tables (four count columns).

    \b
    Examples:
      ipdrepo analyse pool effects.csv --yi yi --vi vi --method REML --test knha --json
      ipdrepo analyse pool bcg.csv --measure RR --events-treated tpos --n-treated n1 \
          --events-control cpos --n-control n2 --method MH --forest bcg.svg
      ipdrepo analyse pool effects.csv --yi loghr --se se --measure HR --diagnostics \
          --funnel funnel.png --json
    """
    from analyses.binary import pool_2x2
    from analyses.checks import numeric_column, require_columns
    from analyses.pooling import pool

    df, source = read_data(file)
    counts = [events_treated, n_treated, events_control, n_control]
    if yi is not None and any(counts):
        raise click.UsageError("give either --yi (with --vi/--se) or the four 2x2 columns")
    require_columns(df, [c for c in [yi, vi, se_col, label_col, *counts] if c], file=file)
    labels = df[label_col].astype(str).tolist() if label_col else None
    if yi is not None:
        if (vi is None) == (se_col is None):
            raise click.UsageError("with --yi give exactly one of --vi or --se")
        res = pool(numeric_column(df, yi, file=file),
                   numeric_column(df, vi, file=file) if vi else None,
                   se=numeric_column(df, se_col, file=file) if se_col else None,
                   method=method, test=test, level=level, labels=labels,
                   measure=measure.upper() if measure else None, stepadj=step_adjust)
    elif all(counts):
        res = pool_2x2(*(numeric_column(df, str(c), file=file) for c in counts),
                       measure=(measure or "OR").upper(), method=method, test=test,
                       level=level, labels=labels)
    else:
        raise click.UsageError("give --yi with --vi or --se, or all of --events-treated, "
                               "--n-treated, --events-control and --n-control")
    diag = _finish(res, kw, source=source, as_json=as_json,
                   default_title=f"Meta-analysis of {Path(file).name}")
    if as_json:
        return
    _print_pool(res)
    click.echo("")
    print_table(_per_trial_rows(res.studies.rename(columns={"study": "trial"}),
                                ["trial", "yi", "se", "ci_low", "ci_high", "weight", "note"]))
    _print_diagnostics(diag)


# ---------------------------------------------------------------------- two-stage
def _ipd_arguments(command: Any) -> Any:
    """FILE, ``--trial`` and ``--treatment``: what every analysis of IPD by trial reads."""
    for option in reversed([
            click.argument("file", metavar="FILE|release:VERSION"),
            click.option("--trial", required=True, help="Column identifying the trial."),
            click.option("--treatment", required=True, help="Column of the randomised arm.")]):
        command = option(command)
    return command


_MODEL_NAMES = {"cox": "Cox model", "logrank": "log-rank (Peto)", "logistic": "logistic model",
                "2x2": "2x2 tables", "linear": "linear model", "rmst": "RMST difference"}


@analyse.command("two-stage")
@_ipd_arguments
@click.option("--time", help="Column of follow-up time (cox, logrank, rmst).")
@click.option("--event", help="Column of the event indicator 0/1 (cox, logrank, rmst).")
@click.option("--outcome", help="Column of the outcome (logistic/2x2: 0/1; linear: numeric).")
@click.option("--model", required=True,
              type=click.Choice(["cox", "logrank", "logistic", "2x2", "linear", "rmst"]),
              help="Per-trial model; rmst: difference in restricted mean survival time up to "
                   "--tau.")
@click.option("--tau", type=float, help="RMST horizon, in the time units of --time (e.g. 1826 "
              "days for 5 years).")
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
@_outputs_options
@json_option
@requires("files.analyse")
def two_stage_cmd(file: str, trial: str, treatment: str, model: str, method: str | None,
                  as_json: bool, **kw: Any) -> None:
    """Two-stage IPD meta-analysis: fit --model in every trial, then pool.

    Cox analyses also test proportional hazards in every trial (R's cox.zph: per_trial
    ph_chisq and ph_p).

    \b
    Examples:
      ipdrepo analyse two-stage gastadj.csv --trial trialref --treatment trt \
          --treated-value 0.5 --time timeT --event statusT --model cox \
          --title "Overall survival" --favours "Favours chemotherapy" "Favours surgery" \
          --forest os.svg --table os.docx --report os.html
      ipdrepo analyse two-stage gastadj.csv --trial trialref --treatment trt \
          --treated-value 0.5 --time timeT --event statusT --model rmst --tau 1826 --json
      ipdrepo analyse two-stage trials.csv --trial study --treatment arm --outcome sbp \
          --adjust sbp0 --model linear --method REML --test knha --diagnostics --json
    """
    from analyses.two_stage import two_stage

    df, source = read_data(file)
    agg = kw.pop("aggregate")
    time, event, outcome = kw.pop("time"), kw.pop("event"), kw.pop("outcome")
    res = two_stage(df, trial=trial, treatment=treatment, outcome=outcome,
                    time=time, event=event, model=model,
                    measure=kw.pop("measure"), adjust=kw.pop("adjust"), method=method,
                    test=kw.pop("test"), level=kw.pop("level"),
                    treated_value=kw.pop("treated_value"),
                    control_value=kw.pop("control_value"), subgroup=kw.pop("subgroup"),
                    interaction=kw.pop("interaction"),
                    aggregate=read_table(agg) if agg else None,
                    missing="drop" if kw.pop("drop_missing") else "error",
                    stepadj=kw.pop("step_adjust"), tau=kw.pop("tau"))
    what = outcome or f"{time} / {event}"
    default = f"{what}: two-stage IPD meta-analysis ({_MODEL_NAMES[model]}, {res.method})"
    diag = _finish(res, kw, source=source, default_title=default, as_json=as_json)
    if not as_json:
        _print_two_stage(res)
        _print_diagnostics(diag)


def _print_two_stage(res: Any) -> None:
    click.echo(f"Two-stage IPD meta-analysis: model {res.model}, measure {res.measure}")
    _print_pool(res.pooled)
    for level_name, sub in res.subgroups.items():
        _print_pool(sub, heading=f"Subgroup {res.subgroup} = {level_name}")
    if res.subgroup_test is not None:
        st = res.subgroup_test
        click.echo(f"Test for subgroup differences: Q = {_fmt(st.Q)} (df {st.df}, "
                   f"p = {_fmt(st.p)})")
    if res.interaction is not None:
        inter = res.interaction
        _print_pool(inter.pooled,
                    heading=f"Interaction treatment x {inter.covariate} ({inter.scale})")
    for note in res.notes:
        click.echo(f"note: {note}")
    click.echo("")
    cols = ["trial", "source", "n", "events", "estimate", "se", "ci_low", "ci_high", "weight"]
    cols += [c for c in ("rmst_treated", "rmst_control", "ph_p") if c in res.per_trial]
    print_table(_per_trial_rows(res.per_trial, cols + ["note"]))
    if len(res.excluded):
        click.echo("\nExcluded trials:")
        for msg in res.excluded["message"]:
            click.echo(f"  {msg}")


# ---------------------------------------------------------------------- one-stage
@analyse.command("one-stage")
@_ipd_arguments
@click.option("--time", help="Column of follow-up time (cox).")
@click.option("--event", help="Column of the event indicator 0/1 (cox).")
@click.option("--outcome", help="Column of the outcome (logistic: 0/1; linear: numeric).")
@click.option("--model", required=True, type=click.Choice(["cox", "logistic", "linear"]),
              help="One-stage model with trial-stratified intercepts / baseline hazards.")
@click.option("--random-treatment/--common-treatment", default=True, show_default=True,
              help="A random treatment effect across trials (as Python's one_stage), or one "
                   "common effect.")
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
@click.option("--ph-plot", type=click.Path(dir_okay=False),
              help="Cox: write the scaled Schoenfeld residual plot of the treatment term.")
@json_option
@requires("files.analyse")
def one_stage_cmd(file: str, trial: str, treatment: str, time: str | None, event: str | None,
                  outcome: str | None, model: str, random_treatment: bool,
                  interaction: str | None, adjust: tuple[str, ...], nagq: int, coding: str,
                  treated_value: str, level: float, ph_plot: str | None,
                  as_json: bool) -> None:
    """One-stage IPD meta-analysis (delegates to analyses.one_stage; the same defaults).

    Cox models report ph_test (chisq, df, p): the Grambsch-Therneau test of proportional
    hazards for the treatment term, as R's cox.zph (Kaplan-Meier time transform).

    \b
    Examples:
      ipdrepo analyse one-stage gastadj.csv --trial trialref --treatment trt \
          --treated-value 0.5 --time timeT --event statusT --model cox --json
      ipdrepo analyse one-stage ipd.csv --trial study --treatment arm --outcome died \
          --model logistic --nagq 7 --json
    """
    from analyses.one_stage import one_stage

    if not 0 < level < 100:  # the library takes a fraction; say it in the CLI's units
        raise AnalysisProblem(f"level must be a percentage between 0 and 100, got {level}",
                              reason=Reason.BAD_OPTION, option="level")
    df, source = read_data(file)
    res = one_stage(df, trial=trial, treatment=treatment, outcome=outcome, time=time,
                    event=event, model=model, random_treatment=random_treatment,  # type: ignore[arg-type]
                    interaction=interaction, adjust=adjust, nagq=nagq,
                    treated_value=treated_value,
                    coding=coding, level=level / 100)  # type: ignore[arg-type]
    if ph_plot:
        if res.ph is None:
            raise click.UsageError("--ph-plot needs --model cox")
        res.ph.plot(path=ph_plot, source=source.caption())
    _echo_result(res, source, as_json=as_json)


# ---------------------------------------------------------------------- surrogacy
@analyse.command("surrogacy")
@_ipd_arguments
@click.option("--surrogate-time", required=True, help="Column of the surrogate's time (e.g. DFS).")
@click.option("--surrogate-event", required=True, help="Column of the surrogate's event 0/1.")
@click.option("--time", required=True, help="Column of the true endpoint's time (e.g. OS).")
@click.option("--event", required=True, help="Column of the true endpoint's event 0/1.")
@click.option("--treated-value", default="1", show_default=True,
              help="Value of --treatment marking the treated arm.")
@click.option("--control-value", default=None, help="Value marking the control arm.")
@click.option("--weights", default="n", show_default=True,
              type=click.Choice(["n", "events", "none"]),
              help="Trial-level regression weights: trial size, true-endpoint events, equal.")
@click.option("--no-individual", is_flag=True,
              help="Skip the individual-level (Clayton copula) association.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write the trial-level plot (bubbles sized by trial).")
@click.option("--title", help="Title of the plot.")
@json_option
@requires("files.analyse")
def surrogacy_cmd(file: str, trial: str, treatment: str, surrogate_time: str,
                  surrogate_event: str, time: str, event: str, treated_value: str,
                  control_value: str | None, weights: str, no_individual: bool,
                  plot_path: str | None, title: str | None, as_json: bool) -> None:
    """Evaluate a surrogate endpoint: trial-level R^2 and surrogate threshold effect,
    individual-level Kendall's tau (Clayton copula).

    \b
    Examples:
      ipdrepo analyse surrogacy gastadj.csv --trial trialref --treatment trt \
          --treated-value 0.5 --surrogate-time timeS --surrogate-event statusS \
          --time timeT --event statusT --plot surrogacy.png --json
    """
    from analyses.surrogacy import surrogacy

    df, source = read_data(file)
    res = surrogacy(df, trial=trial, treatment=treatment, surrogate_time=surrogate_time,
                    surrogate_event=surrogate_event, time=time, event=event,
                    treated_value=treated_value, control_value=control_value,
                    weights=weights, individual=not no_individual)
    if plot_path:
        res.plot(path=plot_path, title=title, source=source.caption())
    _echo_result(res, source, as_json=as_json)


# ---------------------------------------------------------------------- km
@analyse.command("km")
@click.argument("file", metavar="FILE|release:VERSION")
@click.option("--time", required=True, help="Column of follow-up time.")
@click.option("--event", required=True, help="Column of the event indicator 0/1.")
@click.option("--treatment", help="Column of the randomised arm (curves by arm).")
@click.option("--treated-value", default="1", show_default=True,
              help="Value of --treatment marking the treated arm.")
@click.option("--trial", help="Column identifying the trial (with --by-trial or --pooled).")
@click.option("--by-trial", is_flag=True, help="One panel per trial (small multiples).")
@click.option("--pooled", type=click.Choice(["overall", "stratified"]),
              help="Pooled curves across trials: all together, or the trial-weighted "
                   "(stratified) average.")
@click.option("--labels", nargs=2, metavar="CONTROL TREATED", help="Names of the arms.")
@click.option("--time-unit", type=click.Choice(["days", "weeks", "months", "years"]),
              help="Unit of --time.")
@click.option("--display-unit", type=click.Choice(["days", "weeks", "months", "years"]),
              help="Unit the axis shows (needs --time-unit).")
@click.option("--break-every", type=float, help="Axis and table breaks, in the display unit.")
@click.option("--annotate", default="logrank", show_default=True,
              type=click.Choice(["logrank", "hr", "none"]),
              help="Print the log-rank p, or the hazard ratio and the p, on the plot.")
@click.option("--censored", is_flag=True, help="Add the number censored between breaks.")
@click.option("--no-ci", is_flag=True, help="Leave out the confidence bands.")
@click.option("--title", help="Title of the figure.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Figure file (.png, .svg or .pdf).")
@requires("files.analyse")
def km_cmd(file: str, time: str, event: str, treatment: str | None, treated_value: str,
           trial: str | None, by_trial: bool, pooled: str | None, labels: tuple[str, str],
           output: str, **opts: Any) -> None:
    """Kaplan-Meier plots: by arm, per trial, or pooled across trials.

    \b
    Examples:
      ipdrepo analyse km gastadj.csv --time timeT --event statusT --treatment trt \
          --treated-value 0.5 --labels "Surgery alone" Chemotherapy --time-unit days \
          --display-unit years --break-every 2 --annotate hr -o km-os.png
      ipdrepo analyse km gastadj.csv --time timeT --event statusT --treatment trt \
          --treated-value 0.5 --trial trialref --pooled stratified -o km-pooled.svg
    """
    from analyses.checks import numeric_column, require_columns
    from analyses.km_plot import plot_km, plot_km_by_trial, plot_km_pooled

    df, source = read_data(file)
    kw = {"annotate": opts["annotate"], "time_unit": opts["time_unit"],
          "display_unit": opts["display_unit"], "break_every": opts["break_every"],
          "censored": opts["censored"], "source": source.caption()}
    if (by_trial or pooled) and not (trial and treatment):
        raise click.UsageError("--by-trial and --pooled need --trial and --treatment")
    names = tuple(labels) if labels else ("Control", "Treated")
    if by_trial or pooled:
        common = dict(trial=trial, time=time, event=event, treatment=treatment,
                      treated_value=treated_value,
                      labels=names, path=output, **kw)
        if by_trial:
            plot_km_by_trial(df, ci=not opts["no_ci"], title=opts["title"], **common)
        else:
            plot_km_pooled(df, method=str(pooled), title=opts["title"], **common)
        return
    require_columns(df, [time, event, *([treatment] if treatment else [])], file=file)
    group = None
    if treatment:
        from analyses.ipd_frame import matches_value

        group = matches_value(df[treatment], treated_value).astype(int)
    plot_km(numeric_column(df, time, file=file), numeric_column(df, event, file=file), group,
            labels={0: names[0], 1: names[1]}, ci=not opts["no_ci"], title=opts["title"],
            path=output, **kw)


# ---------------------------------------------------------------------- baseline
@analyse.command("baseline")
@click.argument("file", metavar="FILE|release:VERSION")
@click.option("--treatment", required=True, help="Column of the randomised arm.")
@click.option("--variable", "variables", multiple=True, required=True,
              help="A characteristic to describe (repeatable).")
@click.option("--treated-value", default="1", show_default=True,
              help="Value of --treatment marking the treated arm.")
@click.option("--labels", nargs=2, metavar="TREATED CONTROL", help="Names of the arms.")
@click.option("--trial", help="Column identifying the trial (for --by-trial).")
@click.option("--by-trial", is_flag=True, help="Repeat the table within each trial.")
@click.option("--categorical", multiple=True, help="Treat this numeric column as categories.")
@click.option("--median", is_flag=True, help="Median [IQR] instead of mean (SD).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the table (.csv, .xlsx, .docx, .tex or .html).")
@json_option
@requires("files.analyse")
def baseline_cmd(file: str, treatment: str, variables: tuple[str, ...], treated_value: str,
                 labels: tuple[str, str], trial: str | None, by_trial: bool,
                 categorical: tuple[str, ...], median: bool, output: str | None,
                 as_json: bool) -> None:
    """Baseline characteristics by arm (and by trial), for Table 1 of a paper.

    \b
    Examples:
      ipdrepo analyse baseline release:1.0.0 --treatment arm --variable age \
          --variable sex --variable t_stage --labels Chemotherapy "Surgery alone" \
          -o table1.docx
    """
    from analyses.tables import baseline_table

    df, source = read_data(file)
    tab = baseline_table(df, treatment=treatment, variables=variables,
                         treated_value=treated_value,
                         labels=(labels[0], labels[1]) if labels else ("Treatment", "Control"),
                         trial=trial, by_trial=by_trial, categorical=categorical,
                         continuous="median" if median else "mean",
                         title=f"Baseline characteristics by arm ({source.label})")
    if output:
        tab.save(output)
    if as_json:
        emit_json({"title": tab.title, "rows": tab.frame.to_dict(orient="records"),
                   "notes": list(tab.notes), "source": source.to_dict()})
        return
    click.echo(repr(tab))
