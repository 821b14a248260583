"""CLI of the pipeline: ``ipdrepo harmonise``, ``validate``, ``report`` and ``explain``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from repository.cli._common import emit_json, get_settings, json_option, print_table
from repository.cli.access import requires

__all__ = ["harmonise", "validate", "report", "explain"]


def _store() -> Any:
    from repository.store import Store

    return Store.open(get_settings())


def _trials(store: Any, trials: Sequence[str]) -> list[str]:
    from harmonise.pipeline.harmonising import trials_with_data

    available = trials_with_data(store)
    if not trials:
        if not available:
            from repository.errors import NotFound

            raise NotFound("no trial has a delivery yet; ingest one first (`ipdrepo ingest "
                           "TRIAL FILE`).")
        return available
    return list(trials)


def _progress(items: list[str], label: str, quiet: bool) -> Any:
    return click.progressbar(items, label=label, hidden=quiet,
                             item_show_func=lambda t: t or "")


@click.command()
@click.argument("trials", nargs=-1)
@json_option
@requires("harmonise.run", trial="trials")
def harmonise(trials: tuple[str, ...], as_json: bool) -> None:
    """Harmonise TRIALS (default: every trial with a delivery) onto the topic dictionary.

    For each trial: its current delivery, its mapping
    (<dictionary>/mappings/<version>/<TRIAL>.yaml) and its active corrections give
    harmonised/<TRIAL>.parquet (pseudonymised IDs) and a JSON sidecar with the inputs' hashes
    and every value the mapping could not transform. Then all trials are pooled into
    harmonised/topic.parquet. Re-running with the same inputs gives identical files.

    \b
    Examples:
      ipdrepo harmonise
      ipdrepo harmonise SIROCCO --json
    """
    from harmonise.pipeline.harmonising import pool
    from harmonise.pipeline.run_cache import harmonise_written, trial_keys

    results = []
    with _store() as store:
        names = _trials(store, trials)
        dictionary, keys = trial_keys(store, names)
        known = dict(zip(names, keys))
        with _progress(names, "harmonising", as_json) as bar:
            for name in bar:
                run = harmonise_written(store, name, dictionary=dictionary, known=known[name])
                results.append(run.to_dict())
        pooled = pool(store)
    if as_json:
        emit_json({"trials": results, "pooled_rows": len(pooled)})
        return
    print_table([{"trial": r["trial"], "rows": r["rows"], "problems": r["mapping_problems"],
                  "corrections": r["corrections_applied"], "file": r["path"]} for r in results])
    click.echo(f"pooled {len(pooled)} rows into harmonised/topic.parquet")


@click.command()
@click.argument("trials", nargs=-1)
@click.option("--no-queries", is_flag=True, help="Only report; do not raise or close queries.")
@click.option("--fail-on-findings/--no-fail-on-findings", default=True, show_default=True,
              help="Exit with code 6 when error findings remain that are not accepted as "
                   "'confirmed correct'.")
@click.option("--strict", is_flag=True,
              help="Warnings count too: exit with code 6 when any finding remains.")
@json_option
@requires("harmonise.run", trial="trials")
def validate(trials: tuple[str, ...], no_queries: bool, fail_on_findings: bool, strict: bool,
             as_json: bool) -> None:
    """Validate TRIALS (default: all) and run the trial-integrity checks; raise data queries.

    Harmonises each trial, validates it against the checks compiled from the dictionary
    (types, required, ranges, categories, cross-variable rules), runs the
    PRISMA-IPD integrity checks (randomised N, allocation, balance, dates, follow-up,
    missingness, IDs) and turns every failure into a data query (closing queries whose check
    passes now). Failures answered "confirmed correct" are accepted and not raised again.

    Severity: findings of `error` checks and rules make the exit code 6 and their open
    queries stop `ipdrepo release create`; `warning` findings are reported and raised as
    queries just the same but change no exit code and stop no release (the release manifest
    lists them); --strict makes warnings exit 6 too.

    \b
    Examples:
      ipdrepo validate
      ipdrepo validate MISTRAL --json
    """
    from harmonise.pipeline.harmonising import pool
    from harmonise.pipeline.run_cache import validate_runs
    from harmonise.queries.lifecycle import confirmed_correct_keys

    rows, payload = [], []
    remaining = errors = 0
    with _store() as store:
        names = _trials(store, trials)
        say = None if as_json else (lambda m: click.echo(f"  {m}", err=True))
        runs = validate_runs(store, names, raise_queries=not no_queries, progress=say)
        with store.reading() as session:
            accepted = confirmed_correct_keys(session, store.topic(session))
        for run in runs:
            name = run.trial
            findings = run.findings
            open_findings = [f for f in findings if f.key not in accepted]
            remaining += len(open_findings)
            n_errors = sum(1 for f in open_findings if f.severity == "error")
            errors += n_errors
            payload.append({**run.to_dict(), "findings": len(findings),
                            "accepted_confirmed_correct": len(findings) - len(open_findings),
                            "open_findings": len(open_findings), "open_errors": n_errors,
                            "open_warnings": len(open_findings) - n_errors})
            rows.append({
                "trial": name, "rows": run.harmonised.n_rows,
                "mapping problems": len(run.harmonised.problems),
                "validation failures": len(run.failures),
                "integrity failed": ", ".join(f.check for f in run.integrity if f.failed)
                or "-",
                "accepted": len(findings) - len(open_findings),
                "queries": "" if run.queries is None else
                f"+{len(run.queries.opened)} opened, {len(run.queries.closed)} closed, "
                f"{len(run.queries.reopened)} reopened"})
        pool(store)
    if as_json:
        emit_json({"trials": payload, "open_findings": remaining, "open_errors": errors,
                   "open_warnings": remaining - errors})
    else:
        print_table(rows)
        click.echo(f"{remaining} finding(s) need attention ({errors} error(s), "
                   f"{remaining - errors} warning(s))" if remaining else
                   "clean: no findings apart from values confirmed correct")
    if fail_on_findings and (errors or (strict and remaining)):
        raise SystemExit(6)


@click.command()
@click.argument("trials", nargs=-1)
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the HTML files (default: <workspace>/reports).")
@json_option
@requires("harmonise.run", trial="trials")
def report(trials: tuple[str, ...], output: Path | None, as_json: bool) -> None:
    """Write HTML reports: one per trial and the topic overview (index.html).

    Per trial: inputs, variables by arm, values not in the dictionary, mapping rules and
    problems, validation checks and failures, integrity checks, follow-up plot, queries. The
    overview has the trials x variables availability matrix (mapped / impossible /
    undetermined). Runs the checks without changing any query. A trial's harmonised run is
    re-used from the workspace's cache (.cache/runs) while nothing it depends on has changed.
    """
    from harmonise.pipeline.reports import write_reports
    from harmonise.pipeline.run_cache import report_runs

    with _store() as store:
        runs = report_runs(store, _trials(store, trials))
        written = [str(p) for p in write_reports(store, runs, output)]
    index = written[-1]
    if as_json:
        emit_json({"written": written})
    else:
        click.echo(f"wrote {len(written)} report(s); open {index}")


@click.command()
@click.argument("trial")
@click.argument("participant")
@click.argument("variable")
@click.option("--version", "version", help="Also show the value in this released version.")
@click.option("--key", "keys", multiple=True, metavar="NAME=VALUE",
              help="A variable of a long table: the row's key (e.g. --key ae_seq=3); repeat "
                   "for a key of several variables.")
@click.option("--row", "row", type=int, help="A variable of a long table: the row of the "
                                             "trial's dataset the table row came from.")
@json_option
@requires("explain", trial="trial")
def explain(trial: str, participant: str, variable: str, version: str | None,
            keys: tuple[str, ...], row: int | None, as_json: bool) -> None:
    """Why a harmonised value is what it is: delivered value -> rule -> corrections -> value.

    PARTICIPANT is the trial's own ID (curators, who hold the repository secret) or the
    repository pseudonym. Shows the raw value(s) as delivered, the mapping rule (file and
    line), each correction with its query and author, and the harmonised value. For a value
    derived across tables (an aggregate rule: first event, worst grade, last contact) it lists
    the rows of the other dataset or table it read and the one the value was taken from.

    \b
    Examples:
      ipdrepo explain SIROCCO 22-027 death_date
      ipdrepo explain SIROCCO 22-027 death_date --version 1.0.0
      ipdrepo explain CDISCPILOT01 01-701-1015 ttde_days
      ipdrepo explain CDISCPILOT01 01-701-1015 ae_term --key ae_seq=2
    """
    from dataclasses import replace

    from harmonise.pipeline.provenance import explain_cell

    with _store() as store:
        key = {}
        for item in keys:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise click.BadParameter(f"{item!r}: write NAME=VALUE (e.g. ae_seq=3)",
                                         param_hint="--key")
            key[name] = value
        result = explain_cell(store, trial, participant, variable, key=key or None, row=row)
        if version is not None:
            from versions.releases import released_value

            result = replace(result, release=released_value(
                store, version, trial=trial, participant=result.participant, variable=variable))
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(str(result))
