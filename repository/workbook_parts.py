"""What a workbook's sheets hold, learnt from their XML before a sheet is parsed.

:mod:`repository.workbooks` reads sheets with calamine (a Rust reader), which builds a dense grid
from a sheet's first to its last cell: a single stray cell at ``XFD1048576`` would make it
allocate 17 billion cells. So, before a sheet is handed to calamine, its part
(``xl/worksheets/sheetN.xml``, found through the workbook's relationships) is scanned for the
references of its cells (``<c r="AB12">``), which give the grid calamine will build
(:class:`SheetExtent`). The scan is a few byte searches over the uncompressed part (whose size
the archive checks of :mod:`repository.workbooks` have already bounded).

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

__all__ = ["SheetExtent", "sheet_parts", "sheet_extent"]

_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#: a cell reference as spreadsheet programs write it (anything else falls back to openpyxl)
_REF = re.compile(rb'<c r="([A-Z]+[0-9]+)"')
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
#: cell elements written otherwise than ``<c r="..."``: other white space, no attribute, an XML
#: prefix (each a pattern of its own: a literal start keeps the search fast)
_UNUSUAL = (re.compile(rb"<c[\t\n\r>/]"), re.compile(rb":c[\s>/]"))


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
    refs = _cell_refs(xml)
    # every cell element is written "<c r=...": none without a reference, with other white
    # space, an XML prefix (x:c) or the reference elsewhere; no error cells
    plain = (refs is not None and xml.count(b"<c ") == xml.count(b'<c r="')
             and b"<sheetData" in xml and b't="e"' not in xml
             and not any(p.search(xml) for p in _UNUSUAL))
    if refs is None:
        return SheetExtent(0, 0, False)
    columns, rows = refs
    return SheetExtent(rows, columns, plain)


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
    import numpy as np

    # the row numbers as one array of fixed-width byte strings, as wide as the longest
    numbers = np.array(joined.translate(None, _UPPER).split())
    if max(len(c) for c in letters) > 3 or numbers.dtype.itemsize > 7:
        return None
    widest = max(letters, key=lambda c: (len(c), c))
    column = 0
    for ch in widest:
        column = column * 26 + ch - 64
    return column, int(numbers.astype(np.int64).max())
