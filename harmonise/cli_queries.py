"""CLI group ``ipdrepo queries``: data queries to trialists and their answers.

``export`` writes a trial's query workbook, ``import`` reads an answered one back (all or
nothing). The acting user is ``IPDREPO_USER`` (default: the login name); the library checks
their role.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from repository.cli._common import IPDGroup, emit_json, get_settings, json_option, print_table

__all__ = ["queries"]

topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                            help="Topic slug, when the store holds several.")


@click.group(cls=IPDGroup)
def queries() -> None:
    """Data queries to trialists: workbooks out, answers in."""


@queries.command("export")
@click.argument("trial")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Workbook to write (.xlsx; default TRIAL-queries-YYYYMMDD-HHMMSS.xlsx in the "
                   "current directory). An existing file is never overwritten.")
@topic_option
@json_option
def export_cmd(trial: str, output: Path | None, topic: str | None, as_json: bool) -> None:
    """Write the query workbook of TRIAL for its team (curators only).

    The workbook carries the trial's open, reopened and sent queries, showing participants by
    the trial's own IDs and values in its own columns and coding; each query is marked sent.
    Send the file to the trial; import the answered file with `ipdrepo queries import`.

    \b
    Example:
      ipdrepo queries export GAST-01 -o GAST-01-queries.xlsx
    """
    from harmonise.workbook import export_workbook
    from repository.store import Store

    settings = get_settings(topic=topic)
    path = output or Path(f"{trial}-queries-{dt.datetime.now():%Y%m%d-%H%M%S}.xlsx")
    with Store.open(settings) as store:
        result = export_workbook(store, trial, path, actor=settings.actor, topic=topic)
    if as_json:
        emit_json(result.to_dict())
        return
    noun = "query" if result.n_queries == 1 else "queries"
    click.echo(f"Wrote {result.path}: {result.n_queries} {noun} for trial {result.trial} "
               f"(export {result.export_id}).")
    if result.contact:
        click.echo(f"Send it to {result.contact}.")
    click.echo("Import the answered workbook with `ipdrepo queries import FILE`.")


@queries.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trial", default=None,
              help="The trial the workbook must belong to (a trialist's own trial by default).")
@json_option
def import_cmd(file: Path, trial: str | None, as_json: bool) -> None:
    """Import the answers of an answered query workbook FILE.

    Everything is checked first; if anything is wrong, every problem is listed (sheet, cell,
    what to do) and nothing is imported. Rows left blank stay sent.

    \b
    Example:
      ipdrepo queries import GAST-01-queries-answered.xlsx --trial GAST-01
    """
    from harmonise.workbook import import_workbook
    from repository.store import Store

    settings = get_settings()
    with Store.open(settings) as store:
        result = import_workbook(store, file, actor=settings.actor, trial=trial)
    if as_json:
        emit_json(result.to_dict())
        return
    codes = ", ".join(f"{n} {code.replace('_', ' ')}" for code, n in result.by_code().items())
    click.echo(f"Imported {len(result.answered)} answer(s) from {file.name} (trial "
               f"{result.trial}, export {result.export_id})" + (f": {codes}" if codes else "")
               + ".")
    if result.unchanged:
        click.echo(f"{len(result.unchanged)} answer(s) were already imported, unchanged.")
    if result.not_answered:
        waiting = len(result.not_answered)
        noun = "query is" if waiting == 1 else "queries are"
        click.echo(f"{waiting} {noun} not answered yet (still sent).")
    print_table(result.summary.to_dict("records"))
