"""Reading trial deliveries in the formats trials send.

Supported: CSV / delimited text (encoding detected by :mod:`repository.charsets`, delimiter
sniffed), Excel (.xlsx), SAS (.sas7bdat, transport .xpt), Stata (.dta), SPSS (.sav, .zsav) and
Parquet. A file's format is
recognised from its leading bytes and checked against its extension, so a workbook renamed
``.csv`` is reported instead of being read as garbage.

Readers keep what the trial sent: delimited text is read as text (no type guessing, leading
zeros and missing-value codes intact); statistical formats keep their variable labels and value
labels in :class:`ColumnInfo`. Typing and recoding are the mapping's job (``harmonise``).

The limits of :mod:`repository.limits` (documented in docs/deliveries.md) are checked *before* a
file is parsed: at most :data:`~repository.limits.MAX_COLUMNS` columns in any format (a CSV header
is counted as it is read, and reading stops at the first field over the limit; SPSS, Stata, SAS
and Parquet files are checked from their metadata); workbooks as :mod:`repository.workbooks`
says.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repository import limits
from repository.charsets import check_encoding, detect_encoding, utf16_without_bom
from repository.errors import UnreadableDelivery, format_rows
from repository.reasons import Reason

__all__ = [
    "FORMATS",
    "ColumnInfo",
    "RawTable",
    "detect_format",
    "read_delivery",
    "sniff_format",
]

#: format name -> file extensions it is normally delivered with
FORMATS: Mapping[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt", ".tsv", ".tab", ".dat"),
    "xlsx": (".xlsx", ".xlsm"),
    "sas7bdat": (".sas7bdat",),
    "xpt": (".xpt", ".xport"),
    "dta": (".dta",),
    "sav": (".sav", ".zsav"),
    "parquet": (".parquet", ".pq"),
}
_LABELS = {"csv": "delimited text (CSV)", "xlsx": "an Excel workbook (xlsx)",
           "sas7bdat": "a SAS data set (sas7bdat)", "xpt": "a SAS transport file (xpt)",
           "dta": "a Stata data set (dta)", "sav": "an SPSS data file (sav)",
           "parquet": "a Parquet file", "xls": "a legacy Excel 97-2003 workbook (xls)",
           "zip": "a zip archive", "gzip": "a gzip archive", "pdf": "a PDF document",
           "binary": "binary data of an unknown kind"}

_SAS7BDAT_MAGIC = bytes(12) + bytes.fromhex("c2ea8160b31411cfbd92080009c7318c181f1011")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    dtype: str
    label: str | None = None
    value_labels: Mapping[str, str] = field(default_factory=dict)
    n_missing: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype,
                               "n_missing": self.n_missing}
        if self.label:
            out["label"] = self.label
        if self.value_labels:
            out["value_labels"] = dict(self.value_labels)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnInfo:
        return cls(name=data["name"], dtype=data["dtype"], label=data.get("label"),
                   value_labels=dict(data.get("value_labels", {})),
                   n_missing=int(data.get("n_missing", 0)))


@dataclass(frozen=True)
class RawTable:
    """A delivery as read: the data, per-column metadata, and how it was read."""

    frame: pd.DataFrame
    format: str
    columns: tuple[ColumnInfo, ...]
    read_options: Mapping[str, Any]
    #: the other sheets of a workbook (read with ``all_sheets=True``): name -> its table (first
    #: non-empty row as header); kept for the identifier gate, never harmonised
    other_sheets: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    #: names of the workbook's hidden and very hidden sheets
    hidden_sheets: tuple[str, ...] = ()
    #: value-label sets of a Stata/SPSS file that no variable uses: set name -> code -> label
    label_sets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: the file label and notes of a Stata/SPSS/SAS file
    file_notes: tuple[str, ...] = ()
    #: per column of objects factorised while it was read (its missing cells counted, or a
    #: workbook's column built): codes (-1 for a null) and the distinct values, which the
    #: identifier gate reuses instead of factorising the column again; true of the frame as
    #: read only
    distinct: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


#: leading bytes -> format, for the formats a fixed signature tells
_SIGNATURES: tuple[tuple[bytes | tuple[bytes, ...], str], ...] = (
    (bytes.fromhex("d0cf11e0a1b11ae1"), "xls"),
    ((b"$FL2", b"$FL3"), "sav"),
    (_SAS7BDAT_MAGIC, "sas7bdat"),
    (b"HEADER RECORD*******LIB", "xpt"),
    (b"\x1f\x8b", "gzip"),
    (b"%PDF", "pdf"),
)


def sniff_format(head: bytes, tail: bytes = b"") -> str:
    """Recognise a format from the first (and last) bytes of a file."""
    if head.startswith(b"PAR1"):
        return "parquet" if not tail or tail.endswith(b"PAR1") else "parquet-truncated"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if b"[Content_Types].xml" in head or b"xl/" in head else "zip"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head.startswith(b"<stata_dta>") or (len(head) > 1 and head[0] in range(104, 116)
                                           and head[1] in (1, 2)):
        return "dta"
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or \
            b"\x00" not in head[:4096] or utf16_without_bom(head[:4096]):
        return "csv"
    return "binary"


def _format_for_extension(path: Path) -> str | None:
    suffix = path.suffix.lower()
    for name, exts in FORMATS.items():
        if suffix in exts:
            return name
    return None


def detect_format(path: Path, declared: str | None = None) -> str:
    """The format of ``path``: the declared one if the bytes agree, else what the bytes say.

    Raises :class:`UnreadableDelivery` for empty files, unknown formats and files whose
    content contradicts their extension or the declared format.
    """
    size = path.stat().st_size
    if size == 0:
        raise UnreadableDelivery(f"{path.name} is empty (0 bytes); ask the trial to send the file "
                                 "again.", file=str(path), reason=Reason.EMPTY)
    with path.open("rb") as fh:
        head = fh.read(8192)
        fh.seek(max(0, size - 8))
        tail = fh.read(8)
    sniffed = sniff_format(head, tail)
    if sniffed == "parquet-truncated":
        raise UnreadableDelivery(f"{path.name} starts like a Parquet file but its footer is "
                                 "missing: the file is truncated. Ask the trial for a complete "
                                 "copy.", file=str(path), reason=Reason.TRUNCATED)
    if declared is not None:
        declared = declared.lower().lstrip(".")
        if declared not in FORMATS:
            raise UnreadableDelivery(f"unknown format {declared!r} for {path.name}; use one of "
                                     f"{', '.join(FORMATS)}.", file=str(path),
                                     reason=Reason.UNKNOWN_FORMAT)
        if declared != sniffed:
            raise UnreadableDelivery(
                f"{path.name} was declared as {_LABELS[declared]} but its content is "
                f"{_LABELS.get(sniffed, sniffed)}; check that this is the right file, or give "
                f"--format {sniffed if sniffed in FORMATS else '...'}.",
                file=str(path), reason=Reason.MISLABELLED, declared=declared, detected=sniffed)
        return declared
    by_extension = _format_for_extension(path)
    if sniffed not in FORMATS:
        raise UnreadableDelivery(
            f"{path.name} is {_LABELS.get(sniffed, sniffed)}, which ipdrepo does not read; ask "
            f"the trial for one of: CSV, Excel (.xlsx), SAS (.sas7bdat, .xpt), Stata (.dta), "
            f"SPSS (.sav) or Parquet" + (" (for .xls: save as .xlsx)." if sniffed == "xls"
                                         else "."),
            file=str(path), reason=Reason.UNKNOWN_FORMAT, detected=sniffed)
    if by_extension is None:
        if sniffed == "csv" and path.suffix:
            raise UnreadableDelivery(
                f"{path.name}: unknown extension {path.suffix!r}; if it is delimited text pass "
                "--format csv.", file=str(path), reason=Reason.UNKNOWN_FORMAT)
        return sniffed
    if by_extension != sniffed:
        raise UnreadableDelivery(
            f"{path.name} is named like {_LABELS[by_extension]} but its content is "
            f"{_LABELS[sniffed]}; rename it, or pass --format {sniffed} if that is what the "
            "trial meant to send.", file=str(path), reason=Reason.MISLABELLED,
            extension=by_extension, detected=sniffed)
    return sniffed


def read_delivery(path: Path, *, format: str | None = None,
                  options: Mapping[str, Any] | None = None,
                  id_column: str | None = None, all_sheets: bool = False,
                  count_missing: bool = True) -> RawTable:
    """Read a delivery file into a :class:`RawTable` (see the module docstring).

    With ``all_sheets``, the other sheets of a workbook are read too (into
    :attr:`RawTable.other_sheets`), for the identifier gate. Without ``count_missing`` the
    columns' :attr:`ColumnInfo.n_missing` are left 0 (a stored delivery read again has them in
    its metadata already).
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableDelivery(f"{path} does not exist or is not a file.", file=str(path),
                                 reason=Reason.MISSING)
    fmt = detect_format(path, format)
    options = dict(options or {})
    if all_sheets:
        options["_all_sheets"] = True
    reader = _READERS[fmt]
    try:
        frame, labels, value_labels, read_options, *more = reader(path, options, id_column)
    except UnreadableDelivery:
        raise
    except Exception as exc:  # the readers' own errors: damaged / truncated files
        raise UnreadableDelivery(
            f"{path.name} could not be read as {_LABELS[fmt]}: {exc}. The file may be truncated "
            "or damaged; ask the trial for a new copy.", file=str(path), reason=Reason.DAMAGED,
            format=fmt) from exc
    _check_shape(path, frame, fmt)
    extras: dict[str, Any] = dict(more[0]) if more else {}
    missing = extras.pop("missing", None)
    distinct: dict[str, tuple[np.ndarray, np.ndarray]] = extras.pop("distinct", None) or {}
    if not count_missing:  # (a workbook's counts come with its cells: dropped)
        missing = [0] * frame.shape[1]
    elif not missing:
        missing = _count_missing(frame, distinct)
    columns = tuple(
        ColumnInfo(name=str(c), dtype=str(dtype), label=labels.get(c) or None,
                   value_labels={_label_key(k): str(v) for k, v in value_labels.get(c, {}).items()},
                   n_missing=n)
        for c, dtype, n in zip(frame.columns, frame.dtypes, missing))
    return RawTable(frame=frame, format=fmt, columns=columns, read_options=read_options,
                    distinct=distinct, **extras)


def _label_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _count_missing(frame: pd.DataFrame,
                   distinct: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> list[int]:
    """Missing cells per column: nulls, and blank text (what ``str.strip`` empties). A column
    of objects or text is measured once per distinct value (:func:`factorised_missing`); its
    factorisation is kept in ``distinct`` (by column name) when given."""
    counts = []
    for name, column in frame.items():
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            n, codes, uniques = factorised_missing(column.to_numpy(dtype=object))
            counts.append(n)
            if distinct is not None and column.dtype == object:
                distinct[str(name)] = codes, uniques
        else:
            counts.append(int(column.isna().sum()))
    return counts


def factorised_missing(values: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """How many of ``values`` are missing (None, NaN, NA, NaT) or blank text (empty or white
    space only), with the factorisation that told it (``pandas.factorize``: codes, -1 for a
    null, and the distinct values): each distinct text is looked at once. Cheaper than writing
    the texts into Arrow to measure them there, and the identifier gate reuses it."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    nulls = int(np.count_nonzero(codes < 0))
    blank = [i for i, v in enumerate(uniques.tolist())
             if isinstance(v, str) and (not v or v.isspace())]
    if not blank:
        return nulls, codes, uniques
    present = codes[codes >= 0] if nulls else codes
    return nulls + int(np.bincount(present, minlength=len(uniques))[blank].sum()), codes, uniques


def _check_shape(path: Path, frame: pd.DataFrame, fmt: str) -> None:
    if frame.shape[1] == 0:
        raise UnreadableDelivery(f"{path.name} has no columns; ask the trial for the data file.",
                                 file=str(path), reason=Reason.EMPTY)
    if len(frame) == 0:
        raise UnreadableDelivery(f"{path.name} has a header but no data rows; ask the trial for "
                                 "the complete file.", file=str(path), reason=Reason.NO_ROWS)
    limits.check_width(path, frame.shape[1])
    dupes = _duplicates(str(c) for c in frame.columns)
    if dupes:
        raise UnreadableDelivery(f"{path.name} has duplicate column names: {', '.join(dupes)}; "
                                 "ask the trial to rename them.", file=str(path),
                                 reason=Reason.DUPLICATE_COLUMNS, columns=dupes)


def _duplicates(names: Any) -> list[str]:
    counts = Counter(names)
    return sorted(n for n, k in counts.items() if k > 1 and n != "")


# --- delimited text ---------------------------------------------------------------------------

def _detect_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv(path: Path, options: dict[str, Any], _id: str | None):
    with path.open("rb") as fh:
        sample = fh.read(1 << 16)
    declared = options.get("encoding")
    encoding = (check_encoding(path, declared) if declared else detect_encoding(path)).encoding
    delimiter = options.get("delimiter") or _detect_delimiter(
        sample.decode(encoding, errors="replace"))
    _count_header_fields(path, encoding, delimiter)
    header = _header_fields(path, encoding, delimiter)
    dupes = _duplicates(header)
    if dupes:
        raise UnreadableDelivery(f"{path.name} has duplicate column names: {', '.join(dupes)}; "
                                 "ask the trial to rename them.", file=str(path),
                                 reason=Reason.DUPLICATE_COLUMNS, columns=dupes)
    table = _parse_delimited(path, encoding, delimiter, header)
    frame = drop_empty_unnamed(path, table.to_pandas())
    frame.columns = [str(c).strip() for c in frame.columns]
    # (missing cells are counted by read_delivery, whose factorisation the gate reuses)
    return frame, {}, {}, {"encoding": encoding, "delimiter": delimiter}


def _parse_delimited(path: Path, encoding: str, delimiter: str, header: list[str]) -> Any:
    """Parse with pyarrow, every column as text; rows with the wrong number of fields are
    collected (by line) and reported together."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad: list[tuple[int | None, str]] = []

    def on_invalid(row: Any) -> str:
        bad.append((row.number, f"expected {row.expected_columns} fields, saw {row.actual_columns}"))
        return "skip"

    names = [h if h else f"Unnamed: {i}" for i, h in enumerate(header)]

    def parse(threads: bool) -> Any:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, column_names=names,
                                           skip_rows=_leading_lines(path, encoding),
                                           use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))

    try:
        table = parse(threads=True)
        if bad:  # line numbers are only known to the single-threaded parser
            bad.clear()
            parse(threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise UnreadableDelivery(f"{path.name} is not readable as {encoding} text with "
                                 f"delimiter {delimiter!r} ({exc}); pass --encoding / --delimiter "
                                 "with the file's real settings.", file=str(path),
                                 reason=Reason.ENCODING) from exc
    if bad:
        lines = [n for n, _ in bad if n is not None]
        rows = [n - 1 for n in lines]
        what = bad[0][1]
        raise UnreadableDelivery(
            f"{path.name}: {len(bad)} row(s) do not have as many fields as the header "
            f"({format_rows(rows)}, file lines {', '.join(map(str, lines[:10]))}; first: {what}); "
            "the file may be truncated, or a value holds an unquoted delimiter. Ask the trial "
            "for a complete copy exported with quoting.", file=str(path), reason=Reason.RAGGED,
            rows=rows, lines=lines)
    return table


def _leading_lines(path: Path, encoding: str) -> int:
    """Lines up to and including the header (blank lines before it are skipped)."""
    with path.open("r", encoding=encoding, newline="") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                return i
    return 0


def _count_header_fields(path: Path, encoding: str, delimiter: str) -> int:
    """The number of fields of the first non-blank line, counted as the text streams in; stops
    (and refuses the file) at the first field over :data:`~repository.limits.MAX_COLUMNS`, so a
    header of
    millions of fields costs no more than reading the limit's worth of it."""
    fields, quoted, blank = 1, False, True
    with path.open("r", encoding=encoding, newline="") as fh:
        while chunk := fh.read(1 << 16):
            i = 0
            while i < len(chunk):
                if not quoted and chunk.find('"', i) < 0:
                    # fast path: no quotes left in this chunk
                    end = min((p for p in (chunk.find("\n", i), chunk.find("\r", i)) if p >= 0),
                              default=len(chunk))
                    part = chunk[i:end]
                    fields += part.count(delimiter)
                    blank = blank and not part.replace(delimiter, "").strip()
                    _check_fields(path, fields)
                    if end < len(chunk):
                        if not blank:
                            return fields
                        fields = 1
                    i = end + 1
                    continue
                ch = chunk[i]
                if ch == '"':
                    quoted = not quoted
                    blank = False
                elif quoted:
                    pass
                elif ch == delimiter:
                    fields += 1
                    _check_fields(path, fields)
                elif ch in "\r\n":
                    if not blank:
                        return fields
                    fields = 1
                elif not ch.isspace():
                    blank = False
                i += 1
    return fields


def _check_fields(path: Path, fields: int) -> None:
    if fields > limits.MAX_COLUMNS:
        limits.check_width(path, fields, at_least=True)


def _header_fields(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as fh:
        for row in csv.reader(fh, delimiter=delimiter):
            if any(cell.strip() for cell in row):
                return [c.strip() for c in row]
    return []


def drop_empty_unnamed(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed:") or str(c).strip() == ""]
    if not unnamed:
        return frame  # (drop would copy every column)
    keep = []
    for c in unnamed:
        col = frame[c]
        if col.isna().all() or (col.astype("string").str.strip().fillna("") == "").all():
            continue
        keep.append(c)
    if keep:
        position = {c: i + 1 for i, c in enumerate(frame.columns)}
        raise UnreadableDelivery(f"{path.name} has data in column(s) without a name "
                                 f"(positions {', '.join(str(position[c]) for c in keep)}); "
                                 "ask the trial to add the header.", file=str(path),
                                 reason=Reason.UNNAMED_COLUMNS)
    return frame.drop(columns=unnamed)


# --- SAS, Stata, SPSS -------------------------------------------------------------------------

def _read_readstat(kind: str):
    def reader(path: Path, options: dict[str, Any], _id: str | None):
        from repository.statfiles import read_statfile, statfile_head

        kwargs: dict[str, Any] = {}
        if options.get("encoding"):
            kwargs["encoding"] = options["encoding"]
        head = statfile_head(kind, path, kwargs)
        try:
            frame, meta = read_statfile(kind, path, kwargs, head)
        except UnicodeDecodeError:
            if kind not in ("xpt", "sas7bdat") or "encoding" in kwargs:
                raise
            # SAS files written on Windows hold cp1252 text without saying so (CDISC TS.xpt)
            kwargs["encoding"] = "cp1252"
            frame, meta = read_statfile(kind, path, kwargs, head)
            options = {**options, "encoding": "cp1252"}
        labels = dict(zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)))
        value_labels = dict(meta.variable_value_labels or {})
        read_options: dict[str, Any] = {}
        if getattr(meta, "file_encoding", None):
            read_options["file_encoding"] = meta.file_encoding
        if options.get("encoding"):
            read_options["encoding"] = options["encoding"]
        used = set((getattr(meta, "variable_to_label", None) or {}).values())
        label_sets = {str(name): {_label_key(k): str(v) for k, v in labels_.items()}
                      for name, labels_ in (getattr(meta, "value_labels", None) or {}).items()
                      if name not in used}
        notes = [getattr(meta, "file_label", None), *(getattr(meta, "notes", None) or [])]
        extras = {"label_sets": label_sets,
                  "file_notes": tuple(str(n) for n in notes if n and str(n).strip())}
        return frame, labels, value_labels, read_options, extras

    return reader


def _read_parquet(path: Path, options: dict[str, Any], _id: str | None):
    import pyarrow.parquet as pq

    limits.check_width(path, pq.read_metadata(path).num_columns)
    table = pq.read_table(path)
    frame = table.to_pandas()
    labels: dict[str, str] = {}
    for fld in table.schema:
        if fld.metadata and b"label" in fld.metadata:
            labels[fld.name] = fld.metadata[b"label"].decode()
    # (missing cells are counted by read_delivery, whose factorisation the gate reuses)
    return frame, labels, {}, {}


def _workbook(path: Path, options: dict[str, Any], id_column: str | None) -> tuple[Any, ...]:
    from repository.workbooks import read_xlsx

    return read_xlsx(path, options, id_column)


_READERS = {
    "csv": _read_csv,
    "xlsx": _workbook,
    "sav": _read_readstat("sav"),
    "dta": _read_readstat("dta"),
    "sas7bdat": _read_readstat("sas7bdat"),
    "xpt": _read_readstat("xpt"),
    "parquet": _read_parquet,
}
