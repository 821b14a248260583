"""CLI group ``ipdrepo dictionary`` (check, show, export).

The dictionary directory (holding ``dictionary.yaml`` and ``mappings/<version>/<TRIAL>.yaml``)
is ``--dictionary DIR``, else the workspace's ``dictionary`` setting (env IPDREPO_DICTIONARY):
:func:`resolve_dictionary_dir` and :data:`dictionary_option`, which ``ipdrepo mapping`` uses
too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from repository.cli._common import IPDGroup, emit_json, get_settings, json_option, print_table
from repository.cli.access import requires
from repository.errors import ConfigError, MappingError, SpecError, SpecProblem

__all__ = ["dictionary", "dictionary_option", "resolve_dictionary_dir"]

dictionary_option = click.option(
    "--dictionary", "dictionary_dir", type=click.Path(path_type=Path), default=None,
    envvar="IPDREPO_DICTIONARY",
    help="Directory with dictionary.yaml and mappings/ (default: the workspace's dictionary "
         "setting; env IPDREPO_DICTIONARY).")


def resolve_dictionary_dir(given: Path | None) -> Path:
    """``given``, else the workspace's dictionary directory."""
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
    from harmonise.dictionary.spec import dictionary_path, load_dictionary
    from harmonise.mapping.spec import load_mapping

    location = path if path is not None else resolve_dictionary_dir(None)
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
    from harmonise.dictionary.spec import load_dictionary

    d = load_dictionary(path if path is not None else resolve_dictionary_dir(None))
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

    from harmonise.dictionary.exports import to_frictionless, to_html, write_xlsx
    from harmonise.dictionary.spec import load_dictionary

    d = load_dictionary(path if path is not None else resolve_dictionary_dir(None))
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
