"""``ipdrepo ingest-package``: a delivery of several datasets at once (files, a directory, a zip,
a workbook's sheets, a CDISC package with define.xml); see repository.packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from repository.cli._common import emit_json, json_option, print_table
from repository.cli.access import requires
from repository.cli.store_cmds import (
    _delivery_arguments,
    _delivery_options,
    _store,
    topic_option,
)

__all__ = ["ingest_package"]


def _keys(items: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, columns = item.partition("=")
        if not sep or not name or not columns:
            raise click.BadParameter(f"{item!r}: write DATASET=COLUMN[,COLUMN...] (e.g. "
                                     "visits=VISIT)", param_hint="--key")
        out[name.strip().lower()] = [c.strip() for c in columns.split(",") if c.strip()]
    return out


@click.command("ingest-package")
@click.argument("acronym")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--id-column", help="Participant-ID column of every dataset (default: found in "
              "each; CDISC: USUBJID).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME",
              help="Ingest only these datasets of the package (repeatable; e.g. adsl).")
@click.option("--all-sheets", is_flag=True, help="Every sheet of a workbook is a dataset.")
@click.option("--key", "keys", multiple=True, metavar="DATASET=COLUMN[,COLUMN]",
              help="A long dataset (several rows per participant) and the columns that "
                   "identify its rows within a participant (e.g. visits=VISIT).")
@click.option("--long", "long", multiple=True, metavar="DATASET",
              help="A long dataset whose rows have no key (only ordered).")
@click.option("--trial-level", multiple=True, metavar="DATASET",
              help="A dataset about the trial, not its participants (no ID column).")
@_delivery_options(
    sender="Who sent the delivery.", received_on="Date received.",
    accept_metavar="DATASET:COLUMN",
    accept="Accept a column the identifier gate flags (repeatable); needs --justification.",
    id_problems="Accept duplicate keys or blank IDs (recorded) so they are raised as data "
                "queries instead of refusing the delivery.")
@topic_option
@json_option
@requires("store.write", trial="acronym")
def ingest_package(acronym: str, paths: tuple[Path, ...], id_column: str | None,
                   datasets: tuple[str, ...], all_sheets: bool, keys: tuple[str, ...],
                   long: tuple[str, ...], trial_level: tuple[str, ...],
                   received_from: str | None, received_on: Any, accept: tuple[str, ...],
                   justification: str | None, allow_id_problems: str | None,
                   topic: str | None, as_json: bool) -> None:
    """Ingest several datasets of trial ACRONYM at once: files, a directory, a zip.

    Each dataset (file name without extension, or sheet name, lower-cased) is kept byte for
    byte with its hash and supersedes the trial's current delivery of that dataset; datasets
    whose bytes were already delivered are left as they are. SAS transport files with a
    define.xml (CDISC SDTM/ADaM, 1.0 or 2.x) get their labels, types, codelists and row keys
    from it, and SUPPxx qualifiers are pivoted onto their domain when mapped. The identifier
    gate runs on every dataset; all or nothing. See docs/deliveries.md.

    \b
    Examples:
      ipdrepo ingest-package CDISCPILOT01 sdtm/ --allow-id-problems "to be queried"
      ipdrepo ingest-package CDISCPILOT01 adam/ --dataset adsl --dataset adtte
      ipdrepo ingest-package LYON-3 baseline.csv visits.csv events.csv --key visits=VISIT
          --key events=EVENTNO
    """
    from repository.packages import ingest_package as do_ingest

    with _store(topic=topic) as store:
        result = do_ingest(store, acronym, list(paths), id_column=id_column,
                           all_sheets=all_sheets, datasets=[d.lower() for d in datasets] or None,
                           keys=_keys(keys), long=[x.lower() for x in long],
                           trial_level=[x.lower() for x in trial_level],
                           **_delivery_arguments(received_from, received_on, accept,
                                                 justification, allow_id_problems,
                                                 as_json=as_json))
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"{acronym}: {result.package}: {result.status}")
    print_table([{k: d[k] for k in ("dataset", "status", "file_name", "n_rows", "id_column",
                                    "row_key", "delivery_id")}
                 for d in result.to_dict()["datasets"]],
                ["dataset", "status", "file_name", "n_rows", "id_column", "row_key",
                 "delivery_id"])
    for m in result.metadata:
        click.echo(f"  metadata: {m['file']} ({m['kind']} {m.get('version') or ''})")
    for note in result.notes:
        click.echo(f"  note: {note}")
