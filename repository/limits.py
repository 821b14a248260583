"""Limits a delivery file must stay within (documented in docs/deliveries.md).

They are checked *before* a file is parsed, from what can be known cheaply, so that a hostile or
broken file is refused in little time and memory (:mod:`repository.formats` for the column count of
every format, :mod:`repository.workbooks` for Excel workbooks). Readers look the values up here at
call time, so a test or a deployment can change them on this module.
"""

from __future__ import annotations

from pathlib import Path

from repository.errors import UnreadableDelivery
from repository.reasons import Reason

__all__ = ["MAX_COLUMNS", "MAX_XLSX_CELLS", "MAX_XLSX_COMPRESSION_RATIO", "MAX_XLSX_MEMBERS",
           "MAX_XLSX_UNCOMPRESSED_BYTES", "check_width"]

#: most columns a delivery may have (any format)
MAX_COLUMNS = 10_000
#: most bytes an Excel workbook may hold once uncompressed (all members together)
MAX_XLSX_UNCOMPRESSED_BYTES = 200 * 2**20
#: highest uncompressed/compressed ratio of a workbook member larger than 1 MiB
MAX_XLSX_COMPRESSION_RATIO = 100
#: most members (files) in a workbook's zip archive
MAX_XLSX_MEMBERS = 10_000
#: most cells read from a workbook, over all its sheets (empty cells inside rows, and empty
#: rows, count too)
MAX_XLSX_CELLS = 10_000_000


def check_width(path: Path, n_columns: int, *, at_least: bool = False) -> None:
    """Refuse a table of more than :data:`MAX_COLUMNS` columns (``at_least``: counting stopped
    there)."""
    if n_columns > MAX_COLUMNS:
        count = f"more than {MAX_COLUMNS:,}" if at_least else f"{n_columns:,}"
        raise UnreadableDelivery(
            f"{path.name} has {count} columns; ipdrepo reads at most {MAX_COLUMNS:,} (a wider "
            "file is almost always an "
            "export error, e.g. a transposed table or a wrong delimiter). Check the delimiter "
            "(--delimiter) or ask the trial to deliver one row per participant.",
            file=str(path), reason=Reason.TOO_MANY_COLUMNS, limit=MAX_COLUMNS)
