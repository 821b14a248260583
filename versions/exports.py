"""A release's tables written for other tools: Frictionless Data Package, Stata, SPSS, and
CDISC-flavoured SAS transport files with a define-like metadata file.

:func:`export_tables` takes every table of a release (``participants`` and the long tables:
visits, events ...) and the topic dictionary, and writes one file per table:

==============  =================================================================================
format          what is written
==============  =================================================================================
``frictionless`` ``<table>.csv`` per table and ``datapackage.json``: one resource per table with
                its Table Schema from the dictionary (types, constraints, categories, primary key:
                trial, participant_id and the table's key); readable by frictionless-py, R's
                ``frictionless`` package, pandas.
``stata``       ``<table>.dta`` (Stata 14+, read by Stata, R ``haven::read_dta``, pandas): variable
                labels from the dictionary, value labels for categorical variables with whole-number
                codes, dates as Stata dates.
``spss``        ``<table>.sav`` (SPSS, R ``haven::read_sav``, PSPP): the same labels.
``cdisc``       ``<TABLE>.xpt`` (SAS transport version 8: names up to 32 characters, labels up to
                256) per table, plus ``define.json``: a define-like description of every dataset
                (its label, structure, key variables) and variable (label, type, length, unit,
                codelist with decodes, origin "Derived" from the harmonised release). It follows
                the content of Define-XML, not its XML schema.
==============  =================================================================================

Codes flagged missing in the dictionary stay codes (with their label). The functions are pure
over the frames and the dictionary; ``ipdrepo release export`` reads the release through DVC
(checked against its manifest) and calls them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harmonise.dictionary.exports import to_frictionless
from harmonise.dictionary.spec import Dictionary, Variable
from repository.errors import ReleaseError
from versions.reasons import Reason

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_tables"]

EXPORT_FORMATS = ("frictionless", "stata", "spss", "cdisc")
_SUFFIX = {"stata": ".dta", "spss": ".sav", "cdisc": ".xpt", "frictionless": ".csv"}


@dataclass(frozen=True)
class ExportResult:
    """The files written (table -> path) and the metadata file, if any."""

    format: str
    directory: Path
    files: Mapping[str, Path]
    metadata: Path | None = None

    @property
    def summary(self) -> str:
        names = ", ".join(f"{t} -> {p.name}" for t, p in self.files.items())
        meta = f"; metadata {self.metadata.name}" if self.metadata else ""
        return f"{self.format} export in {self.directory}: {names}{meta}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "directory": str(self.directory),
                "files": {t: str(p) for t, p in self.files.items()},
                "metadata": str(self.metadata) if self.metadata else None}

    def __str__(self) -> str:
        return self.summary


def _view(dictionary: Dictionary, table: str) -> Dictionary:
    return dictionary if table == "participants" else dictionary.view(table)


def _variables(dictionary: Dictionary, table: str, frame: pd.DataFrame) -> list[Variable]:
    view = _view(dictionary, table)
    return [view.variable(c) for c in frame.columns if c in view.names]


def _plain(frame: pd.DataFrame, variables: list[Variable]) -> pd.DataFrame:
    """Columns as numpy types the readstat writers take: nullable numbers as float (NaN),
    text as object, dates as datetime64; only the dictionary's variables, in its order."""
    out = {}
    for v in variables:
        s = frame[v.name]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[v.name] = s.astype("datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(s.dtype) or str(s.dtype) == "boolean":
            out[v.name] = s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        else:
            out[v.name] = s.astype(object).where(s.notna(), None).map(
                lambda x: "" if x is None else str(x))
    return pd.DataFrame(out, index=frame.index)


def _value_labels(variables: list[Variable]) -> dict[str, dict[float, str]]:
    return {v.name: {float(c.code): c.label for c in v.categories}
            for v in variables if v.categories and v.codes_are_integers}


def export_tables(tables: Mapping[str, pd.DataFrame], dictionary: Dictionary, out: Path, *,
                  fmt: str, title: str | None = None) -> ExportResult:
    """Write ``tables`` (``participants`` and long tables) to directory ``out`` as ``fmt``
    (see the module docstring). An existing file of the export is refused, not overwritten."""
    if fmt not in EXPORT_FORMATS:
        raise ReleaseError(f"unknown export format {fmt!r}; use one of "
                           f"{', '.join(EXPORT_FORMATS)}.", reason=Reason.FORMAT)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    title = title or f"{dictionary.topic} {dictionary.version}"
    names = {t: (t.upper() if fmt == "cdisc" else t) + _SUFFIX[fmt] for t in tables}
    meta_name = {"frictionless": "datapackage.json", "cdisc": "define.json"}.get(fmt)
    clash = [n for n in [*names.values(), *([meta_name] if meta_name else [])]
             if (out / n).exists()]
    if clash:
        raise ReleaseError(f"{out} already holds {', '.join(clash)}; export into an empty "
                           "directory.", reason=Reason.EXISTS)
    files: dict[str, Path] = {}
    for table, frame in tables.items():
        variables = _variables(dictionary, table, frame)
        path = out / names[table]
        label = title if table == "participants" else f"{title}: {_table_label(dictionary, table)}"
        _write(fmt, _plain(frame, variables) if fmt != "frictionless" else frame[
            [v.name for v in variables]], variables, path, label=label, table=table)
        files[table] = path
    metadata = None
    if fmt == "frictionless":
        metadata = out / "datapackage.json"
        metadata.write_text(json.dumps(_datapackage(tables, dictionary, files, title),
                                       indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    elif fmt == "cdisc":
        metadata = out / "define.json"
        metadata.write_text(json.dumps(_define(tables, dictionary, files, title), indent=1,
                                       ensure_ascii=False) + "\n", encoding="utf-8")
    return ExportResult(format=fmt, directory=out, files=files, metadata=metadata)


def _write(fmt: str, frame: pd.DataFrame, variables: list[Variable], path: Path, *,
           label: str, table: str) -> None:
    labels: list[str | None] = [v.label or v.name for v in variables]
    if fmt == "frictionless":
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        return
    import pyreadstat

    if fmt == "stata":
        pyreadstat.write_dta(frame, str(path), file_label=label[:80], column_labels=labels,
                             variable_value_labels=_value_labels(variables), version=15)
    elif fmt == "spss":
        pyreadstat.write_sav(frame, str(path), file_label=label, column_labels=labels,
                             variable_value_labels=_value_labels(variables))
    else:
        pyreadstat.write_xport(frame, str(path), file_label=label[:40], column_labels=labels,
                               table_name=table.upper()[:32], file_format_version=8)


def _table_label(dictionary: Dictionary, table: str) -> str:
    return dictionary.table(table).label or table


def _key(dictionary: Dictionary, table: str) -> list[str]:
    if table == "participants":
        return ["trial", "participant_id"]
    return ["trial", "participant_id", *dictionary.table(table).key]


def _datapackage(tables: Mapping[str, pd.DataFrame], dictionary: Dictionary,
                 files: Mapping[str, Path], title: str) -> dict[str, Any]:
    resources = []
    for table, frame in tables.items():
        schema = to_frictionless(_view(dictionary, table))
        present = set(frame.columns)
        schema["fields"] = [f for f in schema["fields"] if f["name"] in present]
        schema["primaryKey"] = _key(dictionary, table)
        resources.append({"name": table.replace("_", "-"), "path": files[table].name,
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "schema": schema})
    return {"$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
            "name": dictionary.topic, "title": title, "version": dictionary.version,
            "resources": resources}


def _define(tables: Mapping[str, pd.DataFrame], dictionary: Dictionary,
            files: Mapping[str, Path], title: str) -> dict[str, Any]:
    datasets = []
    for table, frame in tables.items():
        items = []
        for v in _variables(dictionary, table, frame):
            kind = "float" if v.type == "decimal" else "integer" if v.type == "integer" or (
                v.type == "categorical" and v.codes_are_integers) else \
                "date" if v.type in ("date", "datetime") else "text"
            item: dict[str, Any] = {"name": v.name, "label": v.label, "data_type": kind,
                                    "origin": "Derived", "mandatory": bool(
                                        v.required or v.role in ("id", "trial"))}
            if kind == "text":
                item["length"] = int(frame[v.name].astype("string").str.len().max() or 1)
            if v.unit:
                item["unit"] = v.unit
            if v.categories:
                item["codelist"] = [{"coded_value": c.code, "decode": c.label}
                                    for c in v.categories]
            items.append(item)
        structure = "one record per participant" if table == "participants" else \
            f"one record per participant and {', '.join(dictionary.table(table).key)}"
        datasets.append({"name": table.upper(), "file": files[table].name,
                         "label": title if table == "participants" else
                         _table_label(dictionary, table),
                         "structure": structure, "keys": _key(dictionary, table),
                         "records": len(frame), "variables": items})
    return {"standard": "define-like metadata (content of Define-XML; JSON)", "study": title,
            "dictionary": {"topic": dictionary.topic, "version": dictionary.version},
            "datasets": datasets}
