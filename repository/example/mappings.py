"""Mappings for the example topic, generated from the trials' codebooks.

:func:`mapping_from_codebook` turns one codebook (``codebooks/<ACRONYM>.yaml``, format in the
package docstring) into the trial's mapping onto the topic dictionary
(``dictionaries/gastric-adjuvant/dictionary.yaml``), in the ``ipdrepo-mapping/1`` format of
docs/mapping-format.md; :func:`mapping_yaml` renders it as the committed YAML text and
:func:`write_mappings` writes one file per trial. The committed mappings of the default example
(``ipdrepo example create DIR``) live in ``dictionaries/gastric-adjuvant/mappings/1.0.0/``; a
test regenerates them and compares byte for byte.

Codebook rule -> mapping rule:

======================  ========================================================================
``id``                  ``id_creation``
``constant``            (none: ``trial`` is filled in from the acronym)
``recode``              ``recode`` with the codebook's ``codes`` and the column's missing codes
``date``                ``date`` with the codebook's format (``native`` for typed dates)
``direct``              ``direct``; with ``convert`` a ``unit`` rule from the column's unit,
                        rounded as the codebook says
``age_from_birth_month``  ``derive: age_at`` from the birth month (one text column with its
                        format, or ``make_date(year, month)`` from two columns)
``derive``              the derivation's formula: ``operation`` (bmi), ``derive``
                        (``event_from_date``, ``days_between``, ``date_plus_days``) or
                        ``case_when`` (a death date only for deaths)
``aggregate``           ``aggregate`` as it stands (the trial that delivers several files: a
                        value per participant from its visits or events table)
``not_collected``       ``impossible``
======================  ========================================================================

A codebook with ``delivery.datasets`` (baseline, visits, events) becomes a mapping whose source
is the ``baseline`` dataset, with the long datasets under ``datasets`` (one-to-many, by their
key) and the dictionary's long tables under ``tables`` (their variables' rules as above).
======================  ========================================================================

This module only writes data; it does not import :mod:`harmonise` (the store must not depend on
the harmonisation package).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DERIVED_RULES", "mapping_from_codebook", "mapping_yaml", "write_mappings",
           "MAPPING_FORMAT"]

MAPPING_FORMAT = "ipdrepo-mapping/1"

#: the codebook's named derivations as mapping rules
DERIVED_RULES: Mapping[str, dict[str, Any]] = {
    "bmi": {"rule": "operation", "expression": "weight_kg / (height_cm / 100) ** 2",
            "round": 1},
    "os_event_from_dates": {"rule": "derive", "function": "event_from_date",
                            "date": "death_date"},
    "os_time_from_dates": {"rule": "derive", "function": "days_between", "start": "rand_date",
                           "end": {"coalesce": ["death_date", "last_fu_date"]}},
    "dfs_event_from_dates": {"rule": "derive", "function": "event_from_date",
                             "date": {"coalesce": ["recurrence_date", "death_date"]}},
    "dfs_time_from_dates": {"rule": "derive", "function": "days_between", "start": "rand_date",
                            "end": {"coalesce": [{"earliest": ["recurrence_date", "death_date"]},
                                                 "last_fu_date"]}},
    "death_date_from_os": {"rule": "case_when",
                           "cases": [{"when": "os_event == 1",
                                      "expression": "rand_date + os_time_days"}]},
    "last_fu_date_from_os": {"rule": "derive", "function": "date_plus_days",
                             "start": "rand_date", "days": "os_time_days"},
    "visit_day": {"rule": "operation", "expression": "visit_date - rand_date"},
}

#: dictionary variables whose unit conversions need an analyte (declared in the dictionary)
_TRIAL_VARIABLE = "trial"


def _column_ref(name: str) -> str:
    """``$NAME``, or ``${Name with spaces}`` when the name is not a plain identifier."""
    plain = name.replace("_", "a").isalnum() and name.isascii() and not name[0].isdigit()
    return f"${name}" if plain else "${" + name + "}"


def _missing(rule: Mapping[str, Any]) -> dict[str, Any]:
    codes = list(rule.get("missing") or [])
    return {"missing": codes} if codes else {}


def _rule(variable: str, rule: Mapping[str, Any], trial: str) -> dict[str, Any] | None:
    kind = rule["rule"]
    if kind == "id":
        return {"rule": "id_creation", "column": rule["source"]}
    if kind == "constant":
        return None
    if kind == "recode":
        return {"rule": "recode", "column": rule["source"], "map": dict(rule["codes"]),
                **_missing(rule)}
    if kind == "date":
        return {"rule": "date", "column": rule["source"], "format": rule["format"],
                **_missing(rule)}
    if kind == "direct":
        convert = rule.get("convert")
        if convert:
            out = {"rule": "unit", "column": rule["source"], "from": rule["unit"]}
            out.update(_missing(rule))
            out["round"] = int(convert["round"])
            return out
        out = {"rule": "direct", "column": rule["source"], **_missing(rule)}
        if rule.get("note"):
            out["comment"] = rule["note"]
        return out
    if kind == "age_from_birth_month":
        source = rule["source"]
        if isinstance(source, str):
            birth: Any = {"column": source, "format": rule["format"]}
        else:
            year, month = source
            birth = {"expression": f"make_date({_column_ref(year)}, {_column_ref(month)})"}
        return {"rule": "derive", "function": "age_at", "birth": birth,
                "at": rule.get("reference", "rand_date"),
                "comment": "completed years from the first day of the birth month"}
    return _other_rule(variable, rule, trial)


def _other_rule(variable: str, rule: Mapping[str, Any], trial: str) -> dict[str, Any]:
    kind = rule["rule"]
    if kind == "derive":
        derivation = rule["derivation"]
        if derivation not in DERIVED_RULES:
            raise ValueError(f"{trial}, {variable}: unknown derivation {derivation!r}")
        return dict(DERIVED_RULES[derivation])
    if kind == "aggregate":
        return dict(rule)
    if kind == "not_collected":
        return {"rule": "impossible", "comment": f"not collected by {trial}"}
    raise ValueError(f"{trial}, {variable}: unknown codebook rule {kind!r}")


def mapping_from_codebook(codebook: Mapping[str, Any], *, topic: str = "gastric-adjuvant",
                          version: str = "1.0.0") -> dict[str, Any]:
    """The mapping (as plain data) of the trial a codebook describes."""
    trial = codebook["trial"]
    delivery = codebook.get("delivery", {})
    source: dict[str, Any] = {"dataset": "main"}
    if delivery.get("id_column"):
        source["id_column"] = delivery["id_column"]
    if delivery.get("decimal") and delivery["decimal"] != ".":
        source["decimal"] = delivery["decimal"]
    read_options = {k: delivery[k] for k in ("encoding", "delimiter", "sheet") if delivery.get(k)}
    if read_options:
        source["read_options"] = read_options
    mapping: dict[str, Any] = {
        "format": MAPPING_FORMAT, "trial": trial, "dictionary": topic,
        "dictionary_version": version,
        "description": f"{trial} ({delivery.get('style', delivery.get('format', ''))}), "
                       f"generated from its codebook",
        "source": source}
    if delivery.get("datasets"):
        source["dataset"] = delivery["datasets"][0]["name"]
        mapping["datasets"] = {d["name"]: {"join": "one-to-many", "key": list(d["key"])}
                               for d in delivery["datasets"][1:]}
    mapping["variables"] = _rules(codebook["variables"], trial)
    if codebook.get("tables"):
        mapping["tables"] = {name: {"dataset": t["dataset"],
                                    "variables": _rules(t["variables"], trial)}
                             for name, t in codebook["tables"].items()}
    return mapping


def _rules(rules: Mapping[str, Any], trial: str) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for variable, rule in rules.items():
        if variable == _TRIAL_VARIABLE:
            continue
        out = _rule(variable, rule, trial)
        if out is not None:
            variables[variable] = out
    return variables


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def mapping_yaml(mapping: Mapping[str, Any], *, codebook_file: str | None = None) -> str:
    """The mapping as YAML text: top-level keys in block style, each rule on its own lines with
    short lists and maps inline."""
    header = (f"# Mapping of {mapping['trial']} onto {mapping['dictionary']} "
              f"{mapping['dictionary_version']} (format: docs/mapping-format.md).\n"
              "# Generated by repository.example.mappings from "
              f"{codebook_file or 'the trial codebook'}; regenerate rather than edit.\n")
    head = {k: v for k, v in mapping.items() if k not in ("variables", "tables")}
    text = yaml.dump(head, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    body = ["variables:", *_rendered(mapping["variables"], "  ")]
    if mapping.get("tables"):
        body.append("tables:")
        for name, table in mapping["tables"].items():
            body += [f"  {name}:", f"    dataset: {table['dataset']}", "    variables:",
                     *_rendered(table["variables"], "      ")]
    return header + text + "\n".join(body) + "\n"


def _rendered(rules: Mapping[str, Any], indent: str) -> list[str]:
    """Each rule on its own lines with short lists and maps inline."""
    lines: list[str] = []
    for name, rule in rules.items():
        rendered = yaml.dump({name: rule}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             default_flow_style=None, width=96)
        lines.extend(indent + line for line in rendered.rstrip("\n").split("\n"))
    return lines


def write_mappings(example_dir: Path | str, out_dir: Path | str, *,
                   trials: Sequence[str] | None = None, topic: str = "gastric-adjuvant",
                   version: str = "1.0.0") -> list[Path]:
    """Write ``<out_dir>/<ACRONYM>.yaml`` for every codebook of an example directory."""
    example_dir, out_dir = Path(example_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for cb_file in sorted((example_dir / "codebooks").glob("*.yaml")):
        codebook = yaml.safe_load(cb_file.read_text(encoding="utf-8"))
        if trials is not None and codebook["trial"] not in trials:
            continue
        mapping = mapping_from_codebook(codebook, topic=topic, version=version)
        target = out_dir / f"{codebook['trial']}.yaml"
        target.write_text(mapping_yaml(mapping, codebook_file=f"codebooks/{cb_file.name}"),
                          encoding="utf-8")
        written.append(target)
    return written
