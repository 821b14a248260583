"""Writing a delivery in its trial's file format, byte for byte reproducibly.

Text (CSV in UTF-8 or cp1252 with ``;`` and decimal commas, tab-delimited), Excel (a streaming
writer, :mod:`repository.example.xlsx`; openpyxl was too slow at scale), SPSS .sav and Stata
.dta (pyreadstat, with variable and value labels; SPSS also
declares the missing-value codes as user-missing), SAS transport v5 .xpt (pyreadstat) and
Parquet (pyarrow, variable labels in the field metadata). Every timestamp a format stores
(zip entries and document properties in xlsx, the creation time in sav/dta/xpt headers) is set
to the trial's export date, so the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repository.example.codings import Coding
from repository.example.encode import Column
from repository.example.xlsx import SheetColumn, write_workbook

__all__ = ["write_delivery", "render_text", "render_cell", "to_frame"]


# ---- text ------------------------------------------------------------------------------------

def render_text(column: Column, coding: Coding) -> np.ndarray:
    """The column's cells as the text a trial's export writes (missing: blank or its code)."""
    values = column.values
    n = values.size
    out = np.full(n, "", dtype=object)
    if column.kind in ("int", "float"):
        present = ~np.isnan(values)
        if column.kind == "int" or column.decimals == 0:
            out[present] = values[present].astype(np.int64).astype(str)
        else:
            text = np.char.mod(f"%.{column.decimals}f", values[present])
            if coding.layout.get("decimal") == ",":
                text = np.char.replace(text, ".", ",")
            out[present] = text
    elif column.kind == "date":
        series = pd.Series(values)
        present = series.notna().to_numpy()
        fmt = column.date_format if column.date_format not in (None, "native") else "%Y-%m-%d"
        out[present] = series[present].dt.strftime(fmt).to_numpy(dtype=object)
    elif column.kind == "bool":
        present = pd.notna(values)
        out[present] = np.where(values[present].astype(bool), "true", "false")
    else:
        present = pd.notna(values)
        out[present] = values[present]
    if column.coded_missing is not None and column.fill is not None:
        out[column.coded_missing & ~present] = _fill_text(column.fill)
    return out


def _fill_text(fill: Any) -> str:
    if isinstance(fill, float) and fill.is_integer():
        return str(int(fill))
    return str(fill)


def render_cell(column: Column, row: int, coding: Coding) -> Any:
    """One delivered cell as it appears in the file (text for text formats, else the value)."""
    single = column.take(np.array([row]))
    if coding.text:
        return str(render_text(single, coding)[0])
    if single.coded_missing is not None and single.coded_missing[0] \
            and single.fill is not None and pd.isna(single.values[0]):
        return single.fill
    value = _native(single)[0]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer() and column.kind == "int":
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _write_text(columns: Sequence[Column], path: Path, coding: Coding) -> None:
    layout = coding.layout
    frame = pd.DataFrame({c.name: render_text(c, coding) for c in columns})
    frame.to_csv(path, sep=layout["delimiter"], index=False, encoding=layout["encoding"],
                 lineterminator="\r\n" if layout["encoding"] == "cp1252" else "\n")


# ---- native values -----------------------------------------------------------------------------

def _native(column: Column) -> np.ndarray:
    """Values for binary formats: numeric codes filled in, dates as datetime.date or None."""
    values = column.values
    if column.kind in ("int", "float"):
        out = values.astype(np.float64, copy=True)
        if column.coded_missing is not None and isinstance(column.fill, (int, float)):
            out[column.coded_missing & np.isnan(out)] = float(column.fill)
        return out
    if column.kind == "date":
        return np.array(values.astype("datetime64[D]").tolist(), dtype=object)
    out = values.astype(object, copy=True)
    if column.kind == "str":
        missing = pd.isna(out)
        if column.coded_missing is not None and isinstance(column.fill, str):
            out[column.coded_missing & missing] = column.fill
            missing = pd.isna(out)
        out[missing] = ""
    return out


def to_frame(columns: Sequence[Column]) -> pd.DataFrame:
    """A pandas frame of the native values (as written to sav/dta/xpt)."""
    return pd.DataFrame({c.name: _native(c) for c in columns})


# ---- SPSS / Stata / SAS transport ------------------------------------------------------------

def _write_readstat(columns: Sequence[Column], path: Path, coding: Coding, *, label: str,
                    stamp: dt.datetime) -> None:
    import pyreadstat

    frame = to_frame(columns)
    labels: list[str | None] = [c.label for c in columns]
    value_labels: dict[str, dict[int | float, str]] = {
        c.name: {int(k): v for k, v in c.value_labels.items()}
        for c in columns if c.value_labels}
    if coding.format == "sav":
        missing: dict[str, list[Any]] = {c.name: [float(c.fill)] for c in columns
                   if c.kind in ("int", "float") and isinstance(c.fill, (int, float))}
        pyreadstat.write_sav(frame, str(path), file_label=label, column_labels=labels,
                             variable_value_labels=value_labels, missing_ranges=missing)
        _patch_sav(path, stamp)
    elif coding.format == "dta":
        pyreadstat.write_dta(frame, str(path), file_label=label, column_labels=labels,
                             variable_value_labels=value_labels, version=14)
        _patch_dta(path, stamp)
    else:
        table = re.sub(r"[^A-Z0-9]", "", label.split()[0].upper())[:8] or "TRIAL"
        pyreadstat.write_xport(frame, str(path), file_label=label[:40],
                               column_labels=[(lab or "")[:40] for lab in labels],
                               table_name=table, file_format_version=5)
        _patch_xpt(path, stamp)


def _patch_sav(path: Path, stamp: dt.datetime) -> None:
    # header: "$FL2" + product (60) + 5 int32 + bias (8) = 92 bytes, then date (9) and time (8)
    with path.open("r+b") as fh:
        head = fh.read(109)
        assert head[:4] in (b"$FL2", b"$FL3"), "not an SPSS file"
        fh.seek(92)
        fh.write(stamp.strftime("%d %b %y").encode("ascii") + stamp.strftime("%H:%M:%S")
                 .encode("ascii"))


def _patch_dta(path: Path, stamp: dt.datetime) -> None:
    data = bytearray(path.read_bytes()[:4096])
    text = stamp.strftime("%d %b %Y %H:%M").encode("ascii")
    match = re.search(rb"<timestamp>\x11(.{17})</timestamp>", bytes(data), re.S)
    assert match, "no Stata timestamp"
    with path.open("r+b") as fh:
        fh.seek(match.start(1))
        fh.write(text)


_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _patch_xpt(path: Path, stamp: dt.datetime) -> None:
    with path.open("rb") as fh:
        head = fh.read(80 * 16)
    end = head.find(b"HEADER RECORD*******NAMESTR")
    assert end > 0, "no SAS transport NAMESTR header"
    text = stamp.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")
    with path.open("r+b") as fh:
        for match in _XPT_STAMP.finditer(head[:end]):
            fh.seek(match.start())
            fh.write(text)


# ---- Excel -------------------------------------------------------------------------------------

def _write_xlsx(columns: Sequence[Column], path: Path, *, label: str,
                stamp: dt.datetime) -> None:
    sheet_columns = []
    for c in columns:
        if c.kind == "date":
            values = c.values.astype("datetime64[D]").tolist()
        elif c.kind in ("int", "float"):
            values = [None if v != v else (int(v) if c.kind == "int" else v)
                      for v in c.values.tolist()]
        else:
            values = [None if v is None or v != v else v for v in c.values.tolist()]
        if c.coded_missing is not None and c.fill is not None:
            for i in np.flatnonzero(c.coded_missing).tolist():
                if values[i] is None:
                    values[i] = c.fill
        sheet_columns.append(SheetColumn(c.name, values))
    write_workbook(path, sheet_columns, sheet="data",
                   notes=[f"{label}. One row per randomised participant; see the codebook.",
                          f"Exported {stamp.date().isoformat()}."],
                   title=label, creator="trial data management system", stamp=stamp)


# ---- Parquet -----------------------------------------------------------------------------------

def _write_parquet(columns: Sequence[Column], path: Path, *, label: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for c in columns:
        if c.kind == "int":
            values = _native(c)
            mask = np.isnan(values)
            arr = pa.array(np.where(mask, 0, values).astype(np.int64), mask=mask)
        elif c.kind == "float":
            values = _native(c)
            arr = pa.array(values, mask=np.isnan(values))
        elif c.kind == "date":
            arr = pa.array(c.values.astype("datetime64[D]"), type=pa.date32(),
                           mask=pd.isna(c.values))
        elif c.kind == "bool":
            arr = pa.array(list(c.values), type=pa.bool_())
        else:
            values = c.values.astype(object, copy=True)
            if c.coded_missing is not None and isinstance(c.fill, str):
                values[c.coded_missing & pd.isna(values)] = c.fill
            arr = pa.array(list(values), type=pa.string())
        arrays.append(arr)
        fields.append(pa.field(c.name, arr.type, metadata={"label": c.label}))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={"title": label}))
    pq.write_table(table, path, compression="snappy")


# ---- entry point -------------------------------------------------------------------------------

def write_delivery(columns: Sequence[Column], path: Path, coding: Coding, *, label: str,
                   stamp: dt.datetime) -> None:
    """Write ``columns`` to ``path`` in ``coding``'s format."""
    path = Path(path)
    if coding.text:
        _write_text(columns, path, coding)
    elif coding.format == "xlsx":
        _write_xlsx(columns, path, label=label, stamp=stamp)
    elif coding.format in ("sav", "dta", "xpt"):
        _write_readstat(columns, path, coding, label=label, stamp=stamp)
    elif coding.format == "parquet":
        _write_parquet(columns, path, label=label)
    else:  # pragma: no cover - STYLES is closed
        raise AssertionError(coding.format)
