"""CLI groups ``ipdrepo dictionary`` (check, show, export) and ``ipdrepo mapping`` (check, show).

The dictionary directory (holding ``dictionary.yaml`` and ``mappings/<version>/<TRIAL>.yaml``)
is ``--dictionary DIR``, else the workspace's ``dictionary`` setting (env IPDREPO_DICTIONARY).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from repository.cli._common import IPDGroup, emit_json, get_settings, json_option, print_table
from repository.cli.access import requires
from repository.errors import ConfigError, MappingError, SpecError, SpecProblem

__all__ = ["dictionary", "mapping"]

dictionary_option = click.option(
    "--dictionary", "dictionary_dir", type=click.Path(path_type=Path), default=None,
    envvar="IPDREPO_DICTIONARY",
    help="Directory with dictionary.yaml and mappings/ (default: the workspace's dictionary "
         "setting; env IPDREPO_DICTIONARY).")


def _dictionary_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    try:
        settings = get_settings()
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} Or give the dictionary directory with --dictionary "
                          "DIR.") from exc
    assert settings.dictionary_dir is not None
    return settings.dictionary_dir


@click.group(cls=IPDGroup)
def dictionary() -> None:
    """Check, show and export the topic data dictionary."""


@dictionary.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--mappings/--no-mappings", default=True, show_default=True,
              help="Also check every mapping of the dictionary's version against it.")
@json_option
@requires("dictionary.read", options={"mappings": "mappings.check"}, store_free="path")
def dictionary_check(path: Path | None, mappings: bool, as_json: bool) -> None:
    """Check a dictionary (PATH: dictionary.yaml or its directory; default: the workspace's) and
    the mappings of its version; every problem is listed with file, line and key.

    \b
    Example:
      ipdrepo dictionary check dictionaries/gastric-adjuvant
    """
    from harmonise.dictionary import dictionary_path, load_dictionary
    from harmonise.mapping import load_mapping

    location = path if path is not None else _dictionary_dir(None)
    file = dictionary_path(location)
    d = load_dictionary(file)
    checked: list[dict[str, Any]] = []
    problems: list[SpecProblem] = []
    if mappings:
        folder = file.parent / "mappings" / d.version
        for mfile in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                m = load_mapping(mfile, d)
                checked.append({"file": str(mfile), "trial": m.trial, "rules": len(m.rules)})
            except SpecError as exc:
                problems.extend(exc.problems)
    if problems:
        raise MappingError(f"{len({p.file for p in problems})} mapping file(s) of "
                           f"{d.topic} {d.version} have problems; fix them all and run "
                           "`ipdrepo dictionary check` again.", problems)
    result = {"dictionary": str(file), "topic": d.topic, "version": d.version,
              "variables": len(d.variables), "outcomes": len(d.outcomes), "rules": len(d.rules),
              "mappings": checked, "ok": True}
    if as_json:
        emit_json(result)
        return
    click.echo(f"{file}: {d.topic} {d.version} is valid ({len(d.variables)} variables, "
               f"{len(d.outcomes)} outcomes, {len(d.rules)} rules).")
    if mappings:
        click.echo(f"{len(checked)} mapping(s) of version {d.version} are valid" +
                   (": " + ", ".join(c["trial"] for c in checked) if checked else "."))


@dictionary.command("show")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@json_option
@requires("dictionary.read", store_free="path")
def dictionary_show(path: Path | None, as_json: bool) -> None:
    """Print the dictionary's variables (PATH as for `check`)."""
    from harmonise.dictionary import load_dictionary

    d = load_dictionary(path if path is not None else _dictionary_dir(None))
    if as_json:
        emit_json(d.to_dict())
        return
    click.echo(f"{d.title} ({d.topic} {d.version})")
    print_table(d.summary.to_dict("records"), ["name", "type", "role", "unit", "required",
                                               "range", "categories"])


@dictionary.command("export")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--format", "fmt", type=click.Choice(["frictionless", "xlsx", "html"]),
              required=True, help="frictionless: Table Schema JSON; xlsx: spreadsheet for "
                                  "trialists; html: a self-contained page.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write.")
@json_option
@requires("dictionary.read", store_free="path")
def dictionary_export(path: Path | None, fmt: str, output: Path, as_json: bool) -> None:
    """Export the dictionary (PATH as for `check`) as Frictionless Table Schema, xlsx or HTML.

    \b
    Examples:
      ipdrepo dictionary export --format xlsx -o gastric-dictionary.xlsx
      ipdrepo dictionary export dictionaries/gastric-adjuvant --format frictionless -o schema.json
    """
    import json

    from harmonise.dictionary import load_dictionary
    from harmonise.exports import to_frictionless, to_html, write_xlsx

    d = load_dictionary(path if path is not None else _dictionary_dir(None))
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "frictionless":
        output.write_text(json.dumps(to_frictionless(d), indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    elif fmt == "xlsx":
        write_xlsx(d, output)
    else:
        output.write_text(to_html(d), encoding="utf-8")
    if as_json:
        emit_json({"format": fmt, "output": str(output), "topic": d.topic, "version": d.version})
    else:
        click.echo(f"Wrote {output} ({fmt}, {d.topic} {d.version}).")


@click.group(cls=IPDGroup)
def mapping() -> None:
    """Check and show per-trial mappings."""


def _load(trial: str, mapping_file: Path | None, dictionary_dir: Path | None):
    from harmonise.dictionary import load_dictionary
    from harmonise.mapping import load_mapping, mapping_path

    ddir = _dictionary_dir(dictionary_dir) if mapping_file is None or dictionary_dir is None \
        else dictionary_dir
    if mapping_file is not None and dictionary_dir is None:
        try:
            ddir = _dictionary_dir(None)
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
@click.option("--delivery", "delivery_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Check against this file instead of the trial's current delivery in the "
                   "store (e.g. before ingesting it).")
@click.option("--format", "delivery_format", default=None,
              help="Format of --delivery when its extension does not say.")
@click.option("--no-units", is_flag=True, help="Skip the unit plausibility check.")
@dictionary_option
@json_option
@requires("mappings.check", trial="trial", store_free=("mapping_file", "delivery_file"))
def mapping_check(trial: str, mapping_file: Path | None, delivery_file: Path | None,
                  delivery_format: str | None, no_units: bool, dictionary_dir: Path | None,
                  as_json: bool) -> None:
    """Dry run: check TRIAL's mapping against its delivery's columns, types and values.

    Every problem is reported at once with the mapping's file, line and key: missing columns
    (with close matches), date formats that do not parse the values, numbers expected in text
    columns, recodes that miss observed codes (with counts), suspicious units. Exit code 4
    when the mapping does not fit.

    \b
    Examples:
      ipdrepo mapping check MISTRAL
      ipdrepo mapping check MISTRAL --delivery new/MISTRAL.sav --json
    """
    from harmonise.dryrun import check_mapping

    d, m = _load(trial, mapping_file, dictionary_dir)
    if delivery_file is not None:
        from repository.formats import read_delivery

        table = read_delivery(delivery_file, format=delivery_format,
                              options=dict(m.source.read_options), id_column=m.id_column)
        label = str(delivery_file)
    else:
        table, label = _current_delivery(trial, m.source.dataset)
    result = check_mapping(m, d, table, name=label, check_units=not no_units)
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


def _current_delivery(trial: str, dataset: str):
    from repository.deliveries import current_deliveries, load_delivery
    from repository.errors import NotFound
    from repository.store import Store
    from repository.trials import get_trial

    with Store.open(get_settings()) as store, store.reading() as session:
        row = get_trial(session, store.topic(session), trial)
        current = [x for x in current_deliveries(session, row) if x.dataset == dataset]
        if not current:
            raise NotFound(f"{trial} has no current delivery of dataset {dataset!r}; ingest "
                           "one, or check against a file with --delivery FILE.", trial=trial)
        delivery = current[0]
        label = f"delivery {delivery.id} ({delivery.file_name})"
        table = load_delivery(store, delivery)
    return table, label


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
