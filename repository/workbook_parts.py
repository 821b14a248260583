"""What a workbook's sheets hold, learnt from their XML before a sheet is parsed.

:mod:`repository.workbooks` reads sheets with calamine (a Rust reader), which builds a dense grid
from a sheet's first to its last cell: a single stray cell at ``XFD1048576`` would make it
allocate 17 billion cells. So, before a sheet is handed to calamine, its part
(``xl/worksheets/sheetN.xml``, found through the workbook's relationships) is scanned for the
references of its cells (``<c r="AB12">``), which give the grid calamine will build
(:class:`SheetExtent`). The scan looks at the uncompressed part (whose size the archive checks
of :mod:`repository.workbooks` have already bounded) as an array of bytes: every ``<c r="`` is
found at once and all the references after them are read together, a byte position at a time
(numpy), at a tenth of what parsing the sheet costs; a run of letters or digits longer than a
reference's sends the part to one regular expression instead.

A sheet written unlike the spreadsheet programs write it (cells without references, XML
namespace prefixes on its elements) or holding error cells (``#N/A``, which calamine reads as
blanks) is marked :attr:`SheetExtent.plain` False: such a workbook is read with openpyxl instead.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

import numpy as np

__all__ = ["SheetExtent", "sheet_parts", "sheet_extent"]

_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#: a cell reference as spreadsheet programs write it (anything else falls back to openpyxl)
_REF = re.compile(rb'<c r="([A-Z]+[0-9]+)"')
_UPPER = bytes(range(ord("A"), ord("Z") + 1))


@dataclass(frozen=True)
class SheetExtent:
    """The grid of a sheet from A1 to its last cell: ``rows`` x ``columns`` (0 x 0 when empty)."""

    rows: int
    columns: int
    #: written as spreadsheet programs write sheets, without error cells: calamine reads it as
    #: openpyxl would
    plain: bool

    @property
    def cells(self) -> int:
        return self.rows * self.columns


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the archive member holding it (from the workbook part's relationships);
    sheets whose part cannot be found are left out."""
    try:
        root_rels = ElementTree.fromstring(archive.read("_rels/.rels"))
        book = next((r.get("Target", "") for r in root_rels
                     if r.get("Type", "").endswith("/officeDocument")), "xl/workbook.xml")
        book = book.lstrip("/")
        folder, name = posixpath.split(book)
        rels = ElementTree.fromstring(archive.read(posixpath.join(folder, "_rels",
                                                                  name + ".rels")))
        workbook = ElementTree.fromstring(archive.read(book))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    parts = {}
    for sheet in workbook.iter():
        if not sheet.tag.endswith("}sheet"):
            continue
        target = targets.get(sheet.get(f"{{{_NS_REL}}}id"))
        if target:
            member = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join(folder, target))
            parts[str(sheet.get("name"))] = member
    return parts


def sheet_extent(xml: bytes) -> SheetExtent:
    """The grid calamine builds for a sheet part (see the module docstring)."""
    data = np.frombuffer(xml + bytes(_WINDOW), dtype=np.uint8)  # zeros past the end: no match
    tags = _pairs(data, b"<c")
    follows = data[tags + 2]
    spaced = tags[follows == ord(" ")]
    opened = spaced[(data[spaced + 3] == ord("r")) & (data[spaced + 4] == ord("="))
                    & (data[spaced + 5] == ord('"'))]
    refs: tuple[int, int] | None = _refs_at(data, opened + 6)
    if refs is _TOO_LONG:  # a run longer than a reference's: measured one by one
        refs = _cell_refs(xml)
    # every cell element is written "<c r=...": none without a reference, with other white
    # space, an XML prefix (x:c) or the reference elsewhere; no error cells
    unusual = np.isin(follows, _AFTER_TAG).any() or \
        np.isin(data[_pairs(data, b":c") + 2], _AFTER_PREFIXED).any()
    plain = (refs is not None and spaced.size == opened.size and b"<sheetData" in xml
             and b't="e"' not in xml and not unusual)
    if refs is None:
        return SheetExtent(0, 0, False)
    columns, rows = refs
    return SheetExtent(rows, columns, plain)


#: zero bytes after a part, so that a reference at its very end is looked at like the others
_WINDOW = 12
#: what may follow ``<c`` (``:c``) in the unusual cell elements: other white space, none
_AFTER_TAG = np.frombuffer(b"\t\n\r>/", dtype=np.uint8)
_AFTER_PREFIXED = np.frombuffer(b" \t\n\r\x0b\x0c>/", dtype=np.uint8)
_TOO_LONG = (-1, -1)


def _pairs(data: np.ndarray, pair: bytes) -> np.ndarray:
    """Where the two bytes ``pair`` start in ``data``, in order (compared two bytes at a time,
    at even and at odd offsets)."""
    key = np.frombuffer(pair, dtype=np.uint16)[0]
    end = (data.size - 1) // 2 * 2
    even = np.flatnonzero(data[:end].view(np.uint16) == key) * 2
    odd = np.flatnonzero(data[1:end + 1].view(np.uint16) == key) * 2 + 1
    return np.sort(np.concatenate([even, odd]))


def _refs_at(data: np.ndarray, starts: np.ndarray) -> tuple[int, int]:
    """:func:`_cell_refs` of the references starting at ``starts`` (1-3 letters, 1-7 digits, a
    closing quote; anything else is no reference), all at once, a byte position at a time;
    :data:`_TOO_LONG` for a run of 4 letters or 8 digits (which :func:`_cell_refs` measures)."""
    if starts.size == 0:
        return 0, 0
    letters, column, longer = _run(data, starts, b"AZ", 26, 4)
    if longer.any():
        return _TOO_LONG
    after = starts + letters
    digits, row, longer = _run(data, after, b"09", 10, 8)
    if longer.any():
        return _TOO_LONG
    ref = (letters > 0) & (digits > 0) & (data[after + digits] == ord('"'))
    if not ref.any():
        return 0, 0
    return int(column[ref].max()), int(row[ref].max())


def _run(data: np.ndarray, starts: np.ndarray, span: bytes, base: int, most: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From each of ``starts``: how many bytes in ``span`` follow (up to ``most`` - 1), their
    value as a number in ``base`` (letters: A is 1), and whether the run is longer."""
    length = np.zeros(starts.size, dtype=np.int32)
    value = np.zeros(starts.size, dtype=np.int32)
    running = np.ones(starts.size, dtype=bool)
    for i in range(most):
        digit = data[i:][starts] - np.uint8(span[0])  # wraps around below the span
        running &= digit <= span[1] - span[0]
        if i < most - 1:
            length += running
            value = np.where(running, value * base + digit + (base == 26), value)
    return length, value, running


def _cell_refs(xml: bytes) -> tuple[int, int] | None:
    """The largest column and row numbers among the ``<c r="AB12"`` of a sheet part, (0, 0)
    for none, None when a reference is not 1-3 letters and 1-7 digits. A sheet holds hundreds
    of thousands of cells: the references are found by one regular expression and their
    letters and digits taken apart in bulk."""
    found = _REF.findall(xml)
    if not found:
        return 0, 0
    joined = b" ".join(found)
    letters = set(joined.translate(None, b"0123456789").split())
    # the row numbers as one array of fixed-width byte strings, as wide as the longest
    numbers = np.array(joined.translate(None, _UPPER).split())
    if max(len(c) for c in letters) > 3 or numbers.dtype.itemsize > 7:
        return None
    widest = max(letters, key=lambda c: (len(c), c))
    column = 0
    for ch in widest:
        column = column * 26 + ch - 64
    return column, int(numbers.astype(np.int64).max())
