"""Hostile and broken delivery files are refused early, in little memory, by documented limits
(repository.limits: MAX_COLUMNS, MAX_XLSX_*), and refusing them leaves the store unchanged.

Each file is crafted in the test: a CSV header of millions of columns, zip bombs dressed as
workbooks (a member that expands thousands of times, a member that declares 400 MB, an archive
of 20,000 members), a sheet of more cells than the limit. Memory is measured with tracemalloc
(peak of Python allocations while the file is refused), never with timings.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from repository import limits
from repository.deliveries import ingest
from repository.errors import UnreadableDelivery
from repository.formats import read_delivery
from repository.limits import MAX_COLUMNS

from .conftest import BASE, write_delivery
from .test_ingest import register, snapshot

MB = 2**20


def peak_while(fn: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """Run ``fn``; the exception it raised (if any) and the peak traced memory in bytes."""
    tracemalloc.start()
    error: BaseException | None = None
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


# --- crafted files --------------------------------------------------------------------------

def wide_csv(path: Path, columns: int, *, named: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        if named:
            fh.write(",".join(f"c{i}" for i in range(columns)) + "\n")
            fh.write(",".join("1" for _ in range(columns)) + "\n")
        else:  # five million empty names: 5 MB on disk
            fh.write("," * (columns - 1) + "\n1\n")
    return path


def base_workbook() -> bytes:
    book = openpyxl.Workbook()
    data = book.active
    data.title = "data"
    data.append(list(BASE.columns))
    for row in BASE.astype(object).where(BASE.notna(), None).itertuples(index=False):
        data.append([v.to_pydatetime() if hasattr(v, "to_pydatetime") else v for v in row])
    extra = book.create_sheet("extra")
    extra.append(["note"])
    extra.sheet_state = "hidden"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rebuilt_workbook(path: Path, member: str, chunks: Iterator[bytes]) -> Path:
    """A copy of the base workbook whose ``member`` is streamed from ``chunks``."""
    with zipfile.ZipFile(io.BytesIO(base_workbook())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if item.filename == member:
                with out.open(item.filename, "w", force_zip64=True) as fh:
                    for chunk in chunks:
                        fh.write(chunk)
            else:
                out.writestr(item, src.read(item.filename))
    return path


def hidden_sheet_bomb(path: Path, megabytes: int = 40) -> Path:
    """A hidden sheet of 40 MB of names, deflated to a few tens of kB."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    block = b'<row><c t="inlineStr"><is><t>Pemberton</t></is></c></row>' * 2000
    n = megabytes * MB // len(block)

    def chunks() -> Iterator[bytes]:
        yield f'<?xml version="1.0"?><worksheet xmlns="{ns}"><sheetData>'.encode()
        for _ in range(n):
            yield block
        yield b"</sheetData></worksheet>"

    return rebuilt_workbook(path, "xl/worksheets/sheet2.xml", chunks())


def declared_size_bomb(path: Path) -> Path:
    """A workbook whose hidden sheet declares 400 MB in the zip directory."""
    path.write_bytes(base_workbook())
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet2.xml"
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        length = struct.unpack("<H", data[at + 28:at + 30])[0]
        if bytes(data[at + 46:at + 46 + length]) == name:
            data[at + 24:at + 28] = struct.pack("<I", 400 * MB)
        at += 4
    path.write_bytes(bytes(data))
    return path


def many_members(path: Path, n: int = 20_000) -> Path:
    path.write_bytes(base_workbook())
    with zipfile.ZipFile(path, "a") as out:
        for i in range(n):
            out.writestr(f"customXml/item{i}.xml", b"")
    return path


# --- tests ----------------------------------------------------------------------------------

def test_a_header_of_five_million_columns_is_refused_reading_little(tmp_path: Path) -> None:
    path = wide_csv(tmp_path / "wide.csv", 5_000_000, named=False)
    error, peak = peak_while(lambda: read_delivery(path))
    assert isinstance(error, UnreadableDelivery) and error.reason == "too-many-columns"
    assert f"at most {MAX_COLUMNS:,}" in error.message and "wide.csv" in error.message
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MiB"


def test_one_column_over_the_limit_is_refused_and_the_limit_itself_is_read(tmp_path: Path) -> None:
    error, _ = peak_while(lambda: read_delivery(wide_csv(tmp_path / "over.csv", MAX_COLUMNS + 1)))
    assert isinstance(error, UnreadableDelivery) and error.reason == "too-many-columns"
    table = read_delivery(wide_csv(tmp_path / "at.csv", MAX_COLUMNS))
    assert table.frame.shape == (1, MAX_COLUMNS)
    # quoted delimiters are not columns
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"a,b",' + ",".join(f"c{i}" for i in range(MAX_COLUMNS - 1)) + "\n" +
                      ",".join("1" for _ in range(MAX_COLUMNS)) + "\n")
    assert read_delivery(quoted).frame.shape == (1, MAX_COLUMNS)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "sav", "dta", "xpt", "sas7bdat", "parquet"])
def test_the_column_limit_holds_in_every_format(tmp_path: Path, fmt: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_delivery(tmp_path, fmt)  # 6 columns
    monkeypatch.setattr(limits, "MAX_COLUMNS", 5)
    with pytest.raises(UnreadableDelivery) as err:
        read_delivery(path)
    assert err.value.reason == "too-many-columns" and path.name in err.value.message


@pytest.mark.parametrize("craft,why", [
    (hidden_sheet_bomb, "expands"),
    (declared_size_bomb, "once uncompressed"),
    (many_members, "members"),
])
def test_zip_bombs_dressed_as_workbooks_are_refused_before_parsing(
        tmp_path: Path, craft: Callable[[Path], Path], why: str) -> None:
    path = craft(tmp_path / "bomb.xlsx")
    assert path.stat().st_size < 4 * MB
    error, peak = peak_while(lambda: read_delivery(path, options={"sheet": "data"},
                                                   all_sheets=True))
    assert isinstance(error, UnreadableDelivery), error
    assert error.reason == "too-large" and why in error.message and "bomb.xlsx" in error.message
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MiB"


def test_the_cell_limit_counts_every_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = openpyxl.load_workbook(io.BytesIO(base_workbook()))
    for i in range(200):
        book["extra"].append([f"row {i}", i, i * 2])
    path = tmp_path / "cells.xlsx"
    book.save(path)
    monkeypatch.setattr(limits, "MAX_XLSX_CELLS", 300)
    assert read_delivery(path, options={"sheet": "data"}).n_rows == 5  # the data sheet alone
    with pytest.raises(UnreadableDelivery, match="more than 300 cells .*'extra'"):
        read_delivery(path, options={"sheet": "data"}, all_sheets=True)


def test_a_stray_cell_far_away_does_not_make_a_sheet_huge(tmp_path: Path) -> None:
    """A workbook may declare (or hold a stray cell that gives) a sheet of 1,048,576 rows and
    16,384 columns: rows are read as they are, and a width over the limit is refused."""
    book = openpyxl.load_workbook(io.BytesIO(base_workbook()))
    book["extra"]["A1048576"] = "end"
    path = tmp_path / "far.xlsx"
    book.save(path)
    table = read_delivery(path, options={"sheet": "data"}, all_sheets=True)
    assert table.n_rows == 5 and table.other_sheets["extra"].shape == (1, 1)
    book["data"]["XFD3"] = 1
    book.save(path)
    with pytest.raises(UnreadableDelivery) as err:
        read_delivery(path, options={"sheet": "data"})
    assert err.value.reason == "too-many-columns"


def test_refusals_leave_the_store_unchanged(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    before = snapshot(store)
    for path in (wide_csv(tmp_path / "wide.csv", MAX_COLUMNS + 1),
                 hidden_sheet_bomb(tmp_path / "bomb.xlsx", megabytes=8),
                 declared_size_bomb(tmp_path / "declared.xlsx")):
        with pytest.raises(UnreadableDelivery) as err:
            ingest(store, "GAST-01", path, read_options={"sheet": "data"}
                   if path.suffix == ".xlsx" else None)
        assert path.name in err.value.message
    assert snapshot(store) == before


def test_the_limits_and_the_gate_are_documented() -> None:
    from repository.identifiers import RULES

    page = (Path(__file__).resolve().parents[2] / "docs" / "deliveries.md").read_text()
    for name in ("MAX_COLUMNS", "MAX_XLSX_UNCOMPRESSED_BYTES", "MAX_XLSX_COMPRESSION_RATIO",
                 "MAX_XLSX_MEMBERS", "MAX_XLSX_CELLS"):
        value = getattr(limits, name)
        shown = f"{value // MB:,} MiB" if name.endswith("BYTES") else f"{value:,}"
        assert f"| `{name}` | {shown}" in page, name
    for kind in RULES:
        assert f"| `{kind}` |" in page, kind
