"""A trial's own codebook, as a plain dict ready for YAML (format: see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repository.example.codings import Coding
from repository.example.encode import Column, Encoded
from repository.example.topic import TrialSpec

__all__ = ["CODEBOOK_FORMAT", "build_codebook", "column_entry", "STYLE_DESCRIPTION"]

CODEBOOK_FORMAT = 1

STYLE_DESCRIPTION: Mapping[str, str] = {
    "csv": "CSV, UTF-8, comma-separated",
    "csv-eu": "CSV, Windows-1252, semicolon-separated, decimal comma",
    "tsv": "tab-delimited text, UTF-8",
    "xlsx": "Excel workbook (.xlsx), data on sheet 'data'",
    "sav": "SPSS data file (.sav) with variable and value labels, user-missing codes",
    "dta": "Stata 14 data set (.dta) with variable and value labels",
    "xpt": "SAS transport file, version 5 (.xpt)",
    "parquet": "Apache Parquet",
}


def column_entry(column: Column) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": column.name, "label": column.label,
                             "type": column.type_name}
    if column.kind == "date":
        entry["format"] = column.date_format or "native"
    if column.kind == "float":
        entry["decimals"] = column.decimals
    if column.unit:
        entry["unit"] = column.unit
    entry["missing"] = column.missing_codes()
    if column.value_labels:
        entry["value_labels"] = {k: v for k, v in sorted(column.value_labels.items())}
    if column.extra:
        entry["used_for"] = []
        entry["note"] = "trial-specific; not used by the topic"
    else:
        entry["used_for"] = list(column.used_for)
    return entry


def build_codebook(spec: TrialSpec, coding: Coding, encoded: Encoded,
                   columns: Sequence[Column], *, file: str, rows: int,
                   sheet: str | None) -> dict[str, Any]:
    """The codebook of one delivery: its layout, every column, and every harmonised variable."""
    delivery: dict[str, Any] = {
        "file": file,
        "format": coding.format,
        "style": STYLE_DESCRIPTION[coding.style],
        "rows": rows,
        "header_rows": 1 if coding.format in ("csv", "xlsx") else 0,
        "id_column": encoded.id_column,
        "sorted_by": ["centre", "participant_id"] if coding.sort == "centre"
        else ["participant_id"],
    }
    if coding.text:
        delivery.update(coding.layout)
    if sheet:
        delivery["sheet"] = sheet
    survival: dict[str, Any] = {"delivered_as": coding.survival}
    if coding.survival == "months":
        survival["days_per_month"] = 30.4375
    if coding.package:
        survival["note"] = ("recurrences, deaths and adverse events are rows of the events "
                            "file, follow-up visits rows of the visits file; the outcome "
                            "dates, times and quality of life at 12 months are derived from "
                            "them (variables with rule aggregate)")
    elif coding.survival == "dates":
        survival["note"] = ("last_fu_date is the date of death for participants who died; "
                            "times and events are derived from the dates")
    else:
        survival["note"] = ("times run from randomisation to death or last follow-up (OS) and "
                            "to recurrence, death or last follow-up (DFS)")
    return {
        "codebook_format": CODEBOOK_FORMAT,
        "trial": spec.acronym,
        "title": spec.title,
        "language": coding.language,
        "delivery": delivery,
        "missing_values": "blank cells (system-missing in SPSS/Stata/SAS, null in Parquet) "
                          "always mean missing; each column lists its own missing codes",
        "missing_codes": sorted({c.fill for c in columns if c.fill is not None}, key=str),
        "survival": survival,
        "arms": encoded.arms,
        "columns": [column_entry(c) for c in columns],
        "variables": encoded.rules,
    }
