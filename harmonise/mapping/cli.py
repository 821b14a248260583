"""CLI group ``ipdrepo mapping`` (check, show, draft, confirm): per-trial mappings, and their dry run.

The dictionary directory is found as for ``ipdrepo dictionary`` (``--dictionary DIR``, else the
workspace's ``dictionary`` setting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harmonise.dictionary.cli import dictionary_option, resolve_dictionary_dir
from repository.cli._common import IPDGroup, emit_json, get_settings, json_option, print_table
from repository.cli.access import requires
from repository.errors import ConfigError, MappingError

__all__ = ["mapping"]


@click.group(cls=IPDGroup)
def mapping() -> None:
    """Check, show, draft and confirm per-trial mappings."""


def _load(trial: str, mapping_file: Path | None, dictionary_dir: Path | None):
    from harmonise.dictionary.spec import load_dictionary
    from harmonise.mapping.spec import load_mapping, mapping_path

    ddir = (resolve_dictionary_dir(dictionary_dir)
            if mapping_file is None or dictionary_dir is None else dictionary_dir)
    if mapping_file is not None and dictionary_dir is None:
        try:
            ddir = resolve_dictionary_dir(None)
        except ConfigError:
            # a mapping file given outside a workspace: its dictionary sits two levels up
            ddir = mapping_file.resolve().parents[2]
    d = load_dictionary(ddir)
    mfile = mapping_file or mapping_path(ddir, d.version, trial)
    if not mfile.is_file():
        raise MappingError(f"no mapping for {trial} at {mfile}; write one (see "
                           "docs/mapping-format.md) or give --mapping FILE.",
                           trial=trial, file=str(mfile))
    m = load_mapping(mfile, d)
    if m.trial != trial:
        raise MappingError(f"{mfile} is the mapping of {m.trial}, not {trial}.", trial=trial,
                           file=str(mfile))
    return d, m


@mapping.command("check")
@click.argument("trial")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Mapping file (default: <dictionary>/mappings/<version>/<TRIAL>.yaml).")
@click.option("--delivery", "delivery_files", multiple=True, metavar="[NAME=]FILE",
              help="Check against files instead of the trial's current deliveries in the store "
                   "(e.g. before ingesting them). FILE: the mapping's base dataset; NAME=FILE "
                   "(repeat it): dataset NAME of a mapping that reads several.")
@click.option("--format", "delivery_format", default=None,
              help="Format of the --delivery files when their extension does not say.")
@click.option("--no-units", is_flag=True, help="Skip the unit plausibility check.")
@dictionary_option
@json_option
@requires("mappings.check", trial="trial", store_free=("mapping_file", "delivery_files"))
def mapping_check(trial: str, mapping_file: Path | None, delivery_files: tuple[str, ...],
                  delivery_format: str | None, no_units: bool, dictionary_dir: Path | None,
                  as_json: bool) -> None:
    """Dry run: check TRIAL's mapping against its delivery's columns, types and values.

    Every problem is reported at once with the mapping's file, line and key: missing columns
    (with close matches), date formats that do not parse the values, numbers expected in text
    columns, recodes that miss the codes of most rows (with counts), suspicious units. Exit
    code 4 when the mapping does not fit. Warnings do not change the exit code: a few values
    that will be reported as data problems (unparseable dates or numbers, codes a recode with
    `else: error` does not cover, with their data rows), units that look like another unit.

    A mapping that reads several datasets (`datasets:`, `tables:`, aggregate rules) is checked
    against every one of them: the rules of the participant table and of each long table, and
    the joins, with the dataset's rows: rows of participants not in the base dataset,
    participants with several rows of a one-to-one dataset (an error), rows whose key repeats.

    \b
    Examples:
      ipdrepo mapping check MISTRAL
      ipdrepo mapping check MISTRAL --delivery new/MISTRAL.sav --json
      ipdrepo mapping check CHINOOK --delivery baseline=new/baseline.txt \\
          --delivery visits=new/visits.txt --delivery events=new/events.txt
    """
    from harmonise.mapping.dryrun import check_mapping

    d, m = _load(trial, mapping_file, dictionary_dir)
    if delivery_files:
        tables, label = _delivery_files(m, delivery_files, delivery_format)
    else:
        tables, label = _current_datasets(trial, m)
    base = tables.pop(m.source.dataset)
    result = check_mapping(m, d, base, name=label, check_units=not no_units, datasets=tables)
    ctx = click.get_current_context()
    if as_json:
        emit_json(result.to_dict())
        if not result.ok:
            ctx.exit(4)
        return
    click.echo(f"Mapping {result.file} against {label} ({result.rows} rows):")
    if result.problems:
        print_table([{"severity": p.severity, "line": p.line or "", "key": p.key,
                      "message": p.message} for p in result.problems],
                    ["severity", "line", "key", "message"])
    verdict = "fits" if result.ok else "does NOT fit"
    click.echo(f"{trial}: the mapping {verdict} the delivery: {len(result.errors)} error(s), "
               f"{len(result.warnings)} warning(s).")
    if not result.ok:
        ctx.exit(4)


def _delivery_files(m: Any, given: tuple[str, ...], fmt: str | None) -> tuple[dict[str, Any], str]:
    """The ``--delivery`` files read as the mapping's datasets (``NAME=FILE``, or ``FILE``: the
    base dataset)."""
    from repository.formats import read_delivery

    files: dict[str, Path] = {}
    for value in given:
        name, sep, file = value.partition("=")
        if not sep or not name or "/" in name or "\\" in name or Path(value).is_file():
            name, file = m.source.dataset, value
        if name in files:
            raise click.UsageError(f"--delivery gives dataset {name!r} twice; give each "
                                   "dataset once (NAME=FILE; a plain FILE is the base dataset "
                                   f"{m.source.dataset!r})")
        files[name] = Path(file)
    if m.source.dataset not in files:
        raise click.UsageError(f"--delivery must give the base dataset {m.source.dataset!r} "
                               f"of the mapping ({m.source.dataset}=FILE, or a plain FILE)")
    tables = {}
    for name, path in files.items():
        spec = next((s for s in m.datasets if s.dataset == name), None)
        id_column = (spec.id_column if spec is not None and spec.id_column else m.id_column)
        tables[name] = read_delivery(path, format=fmt, options=dict(m.source.read_options),
                                     id_column=id_column)
    label = ", ".join(str(p) if n == m.source.dataset and len(files) == 1 else f"{n}={p}"
                      for n, p in files.items())
    return tables, label


def _current_datasets(trial: str, m: Any) -> tuple[dict[str, Any], str]:
    """The trial's current delivery of each dataset the mapping reads (as harmonising reads
    them; a dataset not delivered is left out, and the dry run reports it)."""
    from harmonise.pipeline.datasets import load_datasets
    from repository.deliveries import current_deliveries
    from repository.errors import NotFound
    from repository.store import Store
    from repository.trials import get_trial

    with Store.open(get_settings()) as store, store.reading() as session:
        topic = store.topic(session)
        row = get_trial(session, topic, trial)
        current = {x.dataset for x in current_deliveries(session, row)}
        if m.source.dataset not in current:
            raise NotFound(f"{trial} has no current delivery of dataset {m.source.dataset!r}; "
                           "ingest one, or check against a file with --delivery FILE.",
                           trial=trial)
        names = [n for n in m.stored_datasets() if n in current]
        loaded = load_datasets(store, topic.slug, row, names)
        label = ", ".join(f"delivery {d.id} ({d.file_name})" for d in loaded.deliveries.values())
    return dict(loaded.tables), label


@mapping.command("show")
@click.argument("trial")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Mapping file (default: <dictionary>/mappings/<version>/<TRIAL>.yaml).")
@dictionary_option
@json_option
@requires("mappings.read", trial="trial", store_free="mapping_file")
def mapping_show(trial: str, mapping_file: Path | None, dictionary_dir: Path | None,
                 as_json: bool) -> None:
    """Print TRIAL's mapping rules: variable, rule, status, columns and what each does."""
    d, m = _load(trial, mapping_file, dictionary_dir)
    if as_json:
        emit_json(m.to_dict())
        return
    click.echo(f"{m.trial} -> {d.topic} {d.version} ({m.file})")
    print_table(m.summary.to_dict("records"), ["variable", "rule", "status", "description"])


@mapping.command("draft")
@click.argument("trial")
@click.option("--out", "out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the proposed mapping here ('-': print it; default: the trial's "
                   "mapping file, <dictionary>/mappings/<version>/<TRIAL>.yaml).")
@click.option("--force", is_flag=True, help="Replace an existing mapping file.")
@json_option
@requires("mappings.check", trial="trial")
def mapping_draft(trial: str, out: Path | None, force: bool, as_json: bool) -> None:
    """Propose a mapping for TRIAL from its delivery's metadata.

    Reads every current dataset of TRIAL: define.xml labels, types and codelists, value labels,
    column names and values, and proposes a rule for each dictionary variable (the
    participant ID, treatment from TRT01PN/ARM, recodes matched by labels, dates as native or
    ISO 8601, an ADaM time-to-event parameter as the time/event pair, long tables from the
    long datasets). Every proposed rule is marked `draft:` with why it was proposed: harmonise
    refuses the mapping until the curator has checked each rule and deleted its draft line
    (or run `ipdrepo mapping confirm`). Variables nothing matched are `undetermined`.

    \b
    Examples:
      ipdrepo mapping draft CDISCPILOT01
      ipdrepo mapping draft CDISCPILOT01 --out -
    """
    from harmonise.pipeline.drafting import draft_for_trial, write_draft
    from repository.store import Store

    with Store.open(get_settings()) as store:
        draft = draft_for_trial(store, trial)
        if out is not None and str(out) == "-":
            click.echo(draft.to_yaml(), nl=False)
            return
        path = write_draft(store, draft, out, force=force)
    if as_json:
        emit_json({**draft.to_dict(), "file": str(path)})
        return
    click.echo(draft.summary)
    click.echo(f"wrote {path}")


@mapping.command("confirm")
@click.argument("trial")
@click.argument("variables", nargs=-1)
@click.option("--all", "confirm_all", is_flag=True, help="Confirm every rule still marked draft.")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Mapping file (default: <dictionary>/mappings/<version>/<TRIAL>.yaml).")
@json_option
@requires("mappings.check", trial="trial")
def mapping_confirm(trial: str, variables: tuple[str, ...], confirm_all: bool,
                    mapping_file: Path | None, as_json: bool) -> None:
    """Confirm proposed rules of TRIAL's mapping: delete their `draft:` lines.

    Name the VARIABLES you have checked, or give --all. The rest of the file (comments,
    layout) is kept; the mapping must still load.

    \b
    Examples:
      ipdrepo mapping confirm CDISCPILOT01 arm age sex
      ipdrepo mapping confirm CDISCPILOT01 --all
    """
    from harmonise.pipeline.drafting import confirm_mapping
    from repository.store import Store

    if not variables and not confirm_all:
        raise click.UsageError("name the variables you checked, or give --all")
    with Store.open(get_settings()) as store:
        path, confirmed, pending = confirm_mapping(
            store, trial, None if confirm_all else list(variables), mapping_file=mapping_file)
    if as_json:
        emit_json({"file": str(path), "confirmed": confirmed, "still_draft": pending})
        return
    click.echo(f"{trial}: confirmed {len(confirmed)} rule(s) in {path}"
               + (f"; still draft: {', '.join(pending)}" if pending else "") + ".")
