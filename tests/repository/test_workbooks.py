"""Workbooks are read with calamine as openpyxl reads them, and never parsed past the limits.

repository.workbooks reads sheets with calamine, after measuring from the sheet's XML the grid
calamine would build (repository.workbook_parts); sheets written unusually or holding error cells
are read with openpyxl. These tests compare the two readers on real workbooks (every kind of
cell, several sheets, hidden sheets, the example topic's deliveries) and craft the sheets that
must not reach calamine (a stray cell at XFD1048576 would make it allocate 17 billion cells).
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repository import workbooks
from repository.errors import UnreadableDelivery
from repository.formats import read_delivery
from repository.workbook_parts import sheet_extent

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch, **options):
    """The table as read by default (calamine) and with openpyxl alone."""
    fast = read_delivery(path, all_sheets=True, **options)
    with monkeypatch.context() as m:
        m.setattr(workbooks, "_open", workbooks._OpenpyxlBook)
        slow = read_delivery(path, all_sheets=True, **options)
    return fast, slow


def assert_same(fast, slow) -> None:
    assert list(fast.frame.columns) == list(slow.frame.columns)
    assert list(fast.frame.dtypes) == list(slow.frame.dtypes)
    for column in fast.frame.columns:
        mine, theirs = fast.frame[column].tolist(), slow.frame[column].tolist()
        assert mine == theirs, column
        assert [type(v) for v in mine] == [type(v) for v in theirs], column
    assert fast.columns == slow.columns
    assert fast.hidden_sheets == slow.hidden_sheets
    assert fast.read_options == slow.read_options
    assert fast.other_sheets.keys() == slow.other_sheets.keys()
    for name, frame in fast.other_sheets.items():
        assert frame.fillna("").values.tolist() == slow.other_sheets[name].fillna("").values.tolist()


def every_kind_of_cell(path: Path) -> Path:
    book = openpyxl.Workbook()
    data = book.active
    data.title = "data"
    data.append(["patid", "age", "weight", "randdt", "seen", "clock", "ok", "note", "mixed"])
    data.append(["A1", 64, 70.5, dt.datetime(2003, 2, 3), dt.datetime(2003, 2, 3, 10, 30),
                 dt.time(10, 30), True, "  spaced ", 1])
    data.append(["A2", None, 81.0, dt.date(2004, 5, 6), None, None, False, "", "x"])
    data.append([])  # an empty row inside the data
    data.append(["A3", 58, -3.25, None, dt.datetime(1999, 12, 31, 23, 59, 59), None, None,
                 "é ü 漢字", 2.5])
    data["K1"] = None  # a styled, empty cell beyond the header
    readme = book.create_sheet("readme")
    readme["B3"] = "Contact"
    readme["C3"] = "Dr Jane Smith"
    secret = book.create_sheet("lookup")
    secret.append(["code", "name"])
    secret.append([1, "Mary Jones"])
    secret.sheet_state = "hidden"
    book.save(path)
    return path


def test_every_kind_of_cell_reads_as_openpyxl_reads_it(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = every_kind_of_cell(tmp_path / "kinds.xlsx")
    fast, slow = read_both(path, monkeypatch, options={"sheet": "data"})
    assert_same(fast, slow)
    assert [type(v) for v in fast.frame["mixed"]] == [int, str, float]  # as openpyxl: 1, not 1.0
    assert fast.hidden_sheets == ("lookup",)
    assert set(fast.other_sheets) == {"readme", "lookup"}


def test_the_sheet_with_the_id_column_is_chosen_as_before(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = every_kind_of_cell(tmp_path / "kinds.xlsx")
    fast, slow = read_both(path, monkeypatch, id_column="patid")
    assert fast.read_options["sheet"] == "data"
    assert_same(fast, slow)


def test_the_example_topics_workbooks_read_as_before(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from repository.example import create

    create(tmp_path / "ex", trials=8, participants=1200, seed=3)
    books = sorted((tmp_path / "ex").rglob("*.xlsx"))
    assert books
    for path in books:
        try:
            fast, slow = read_both(path, monkeypatch, options={"sheet": "data"})
        except UnreadableDelivery:
            continue  # a reject of the example: refused alike by the tests of repository.formats
        assert_same(fast, slow)


def sheet_workbook(path: Path, sheet_xml: str) -> Path:
    """A workbook of one sheet 'data' whose XML is ``sheet_xml`` (inside <sheetData>)."""
    book = openpyxl.Workbook()
    book.active.title = "data"
    book.active["A1"] = "x"
    raw = io.BytesIO()
    book.save(raw)
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = (f'<?xml version="1.0"?><worksheet xmlns="{NS}"><sheetData>{sheet_xml}'
                        "</sheetData></worksheet>").encode()
            out.writestr(item, body)
    return path


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_a_stray_cell_at_the_far_corner_is_refused_before_parsing(tmp_path: Path) -> None:
    """Run in a child process: were the sheet handed to calamine, it would abort the process."""
    path = sheet_workbook(tmp_path / "far.xlsx",
                          '<row r="1">' + inline("A1", "id") + inline("B1", "x") + "</row>"
                          '<row r="2">' + inline("A2", "1") + "</row>"
                          '<row r="1048576">' + inline("XFD1048576", "end") + "</row>")
    code = ("import sys; from repository.formats import read_delivery\n"
            "from repository.errors import UnreadableDelivery\n"
            "try:\n    read_delivery(sys.argv[1])\n"
            "except UnreadableDelivery as e:\n    print(e.reason)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "too-many-columns"


def test_a_sheet_spanning_more_cells_than_the_budget_is_refused(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    path = sheet_workbook(tmp_path / "tall.xlsx",
                          '<row r="1">' + inline("A1", "id") + inline("J1", "x") + "</row>"
                          '<row r="900000">' + inline("A900000", "1") + "</row>")
    assert sheet_extent(zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")).cells == 9_000_000
    monkeypatch.setattr(workbooks.limits, "MAX_XLSX_CELLS", 1_000_000)
    with pytest.raises(UnreadableDelivery, match="more than 1,000,000 cells"):
        read_delivery(path)


def test_a_cell_referenced_outside_its_row_counts_where_it_is(tmp_path: Path) -> None:
    xml = '<sheetData><row r="1">' + inline("A1", "id") + inline("C70000", "far") + "</row>"
    extent = sheet_extent(xml.encode())
    assert (extent.rows, extent.columns, extent.plain) == (70000, 3, True)


@pytest.mark.parametrize("xml", [
    '<row r="1"><c t="inlineStr"><is><t>id</t></is></c></row>',           # no reference
    '<row r="1"><c\nr="A1" t="inlineStr"><is><t>id</t></is></c></row>',    # other white space
    '<row r="1"><c s="0" r="A1" t="inlineStr"><is><t>id</t></is></c></row>',  # r not first
])
def test_sheets_written_unusually_are_read_with_openpyxl(tmp_path: Path, xml: str) -> None:
    assert not sheet_extent(f"<sheetData>{xml}</sheetData>".encode()).plain
    path = sheet_workbook(tmp_path / "odd.xlsx", xml + '<row r="2">' + inline("A2", "7") + "</row>")
    table = read_delivery(path)
    assert table.frame["id"].tolist() == ["7"]


def test_error_cells_keep_their_text_as_openpyxl_reads_them(tmp_path: Path) -> None:
    path = sheet_workbook(tmp_path / "errors.xlsx",
                          '<row r="1">' + inline("A1", "id") + inline("B1", "ldh") + "</row>"
                          '<row r="2">' + inline("A2", "1") + '<c r="B2" t="e"><v>#N/A</v></c>'
                          "</row>")
    assert not sheet_extent(zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")).plain
    assert read_delivery(path).frame["ldh"].tolist() == ["#N/A"]


def test_columns_built_from_the_grid_read_as_openpyxl_reads_them(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    """Each kind of column the grid is built into (numbers, numbers with blanks, text, text and
    numbers, booleans, dates, formulas, merged cells), after empty leading rows and columns."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "data"
    sheet.append([])
    sheet.append([None, "id", "n", "n_blank", "x", "flag", "text", "both", "when", "sum"])
    rows = [
        [None, "P1", 1, 1, 0.5, True, "a", 1, dt.date(2001, 1, 2), "=C3+D3"],
        [None, "P2", 2, None, -0.0, False, "  ", "ND", None, "=C4+D4"],
        [None, "P3", 3, 4.0, 1e300, True, None, 2.5, dt.datetime(2001, 1, 2, 3, 4), None],
    ]
    for row in rows:
        sheet.append(row)
    sheet.merge_cells("G3:G4")
    path = tmp_path / "columns.xlsx"
    book.save(path)
    fast, slow = read_both(path, monkeypatch)
    assert_same(fast, slow)
    assert [type(v) for v in fast.frame["n"]] == [int, int, int]
    assert fast.frame["n_blank"].tolist() == [1.0, None, 4.0]
    assert [c.n_missing for c in fast.columns] == [c.n_missing for c in slow.columns]


def plain_extent(xml: bytes) -> tuple[int, int, bool]:
    """The grid of a sheet part as the regular expressions say it, one reference at a time:
    what repository.workbook_parts measures with numpy."""
    import re

    refs = re.findall(rb'<c r="([A-Z]+)([0-9]+)"', xml)
    if any(len(letters) > 3 or len(digits) > 7 for letters, digits in refs):
        return 0, 0, False
    columns = max((sum((ch - 64) * 26 ** k for k, ch in enumerate(reversed(letters)))
                   for letters, _ in refs), default=0)
    rows = max((int(digits) for _, digits in refs), default=0)
    plain = (xml.count(b"<c ") == xml.count(b'<c r="') and b"<sheetData" in xml
             and b't="e"' not in xml and not re.search(rb"<c[\t\n\r>/]|:c[\s>/]", xml))
    return rows, columns, plain


PIECES = ['<c r="', '<c r="A1"', '<c r="XFD1048576"', '<c ', "<c>", "<c\n", "<c/", ":c ", ":c>",
          "x:c", '"', "A", "Z", "ABCD", "1", "9", "12345678", "<sheetData>", 't="e"', "</c>", " ",
          "/", ">", "q", '<c r="AAAAAAAAAAAAA1"', '<c r="B123456789012"', "<v>1</v>", '<row r="2">']


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_the_extent_scan_equals_the_references_read_one_by_one(pieces: list[str]) -> None:
    xml = "".join(pieces).encode()
    extent = sheet_extent(xml)
    assert (extent.rows, extent.columns, extent.plain) == plain_extent(xml)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text("ABCXYZ", max_size=5), st.text("0123456789", max_size=9),
                          st.sampled_from(['"', 'x"', ""])), max_size=20))
def test_the_extent_scan_equals_the_references_read_one_by_one_on_cells(cells) -> None:
    xml = ("<sheetData>" + "".join(f'<c r="{c}{r}{end} t="n"><v>1</v></c>'
                                   for c, r, end in cells)).encode()
    extent = sheet_extent(xml)
    assert (extent.rows, extent.columns, extent.plain) == plain_extent(xml)
