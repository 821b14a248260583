"""Which text encoding a delimited-text delivery is written in.

Trials send CSV from Excel and statistics packages all over the world: UTF-8 (with or without
a byte-order mark), UTF-16 (Excel's "Unicode text"), Windows code pages (cp1252 in Western
Europe, cp1250 in Central Europe, cp1251 for Cyrillic), Shift-JIS / cp932 from Japan, GB18030
from China, Big5, cp949 ... Reading such a file in the wrong encoding never fails loudly with
8-bit code pages (every byte means *something* in cp1252), so the answer must be found, not
assumed. :func:`detect_encoding` decides in this order:

1. a byte-order mark (UTF-8, UTF-16, UTF-32), or the NUL-byte pattern of BOM-less UTF-16;
2. UTF-8 if the *whole* file decodes as UTF-8 (plain ASCII included);
3. otherwise `charset-normalizer <https://charset-normalizer.readthedocs.io>`_ on the lines
   that hold non-ASCII bytes (the ASCII lines say nothing about an ASCII-compatible encoding),
   restricted to the encodings data files are really written in (:data:`CANDIDATES`). Its
   candidates that read those lines as plausibly as the best one are compared: if they all
   read them the same way, or one reads them as clearly more coherent language, that one is
   chosen; if they differ only among Latin-script code pages and cp1252 is one of them, cp1252
   (the commonest) is chosen; anything else is *ambiguous* and refused with the two readings
   side by side, asking for ``--encoding``;
4. the chosen encoding must decode the whole file; a file no candidate decodes is refused
   naming the first line that does not decode.

A declared encoding (``--encoding``, or ``read_options.encoding`` of a mapping) is checked the
same way: an unknown name, or a file it does not decode, is refused with the line.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from repository.errors import UnreadableDelivery
from repository.reasons import Reason

__all__ = ["CANDIDATES", "Detection", "check_encoding", "detect_encoding"]

#: the encodings :func:`detect_encoding` considers beyond UTF-8/16/32: what spreadsheets and
#: statistics packages write in practice (rarer code pages are read with ``--encoding``)
CANDIDATES: tuple[str, ...] = (
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_15", "koi8_r", "koi8_u", "cp866",
    "cp437", "cp850", "mac_roman", "cp932", "euc_jp", "iso2022_jp", "gb18030", "big5", "cp949",
    "euc_kr", "cp874")

#: Latin-script single-byte code pages: among these, a tie goes to cp1252
_LATIN = frozenset({"cp1252", "cp1250", "cp1254", "cp1257", "iso8859_2", "iso8859_15",
                    "latin_1", "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13",
                    "iso8859_14", "iso8859_16", "cp437", "cp850", "mac_roman", "cp1258"})

#: an encoding replaced by the superset Windows and modern software actually write
_SUPERSET = {"shift_jis": "cp932", "gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949",
             "latin_1": "cp1252", "iso8859_1": "cp1252", "ascii": "utf-8", "big5hkscs": "big5"}

_CHAOS_MARGIN = 1.0       # percentage points of "mess" within which candidates are as plausible
_COHERENCE_MARGIN = 3.0   # percentage points of language coherence that make one clearly better
_MAX_CHAOS = 20.0         # a best reading messier than this is no reading at all
_MIXED_SHARE = 0.05       # share of UTF-8 lines among non-ASCII ones that makes a file mixed
_SAMPLE_BYTES = 256 * 1024
_CHUNK = 1024 * 1024  # decoded and dropped chunk by chunk: memory stays flat
_NON_ASCII_LINE = re.compile(rb"[^\n]*[\x80-\xff][^\n]*\n?")


@dataclass(frozen=True)
class Detection:
    """The encoding chosen for a file, and why (``how``: bom, utf-8, detected, declared)."""

    encoding: str
    how: str


def detect_encoding(path: Path) -> Detection:
    """The text encoding of ``path`` (see the module docstring); raises
    :class:`~repository.errors.UnreadableDelivery` (reason ``encoding``) when it cannot be told
    or the file is not text in any encoding."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    bom = _bom_encoding(head)
    if bom:
        return Detection(bom, "bom")
    wide = utf16_without_bom(head)
    if wide:
        return check_encoding(path, wide, how="utf-16 pattern")
    if _undecodable_line(path, "utf-8") is None:
        return Detection("utf-8", "utf-8")
    sample = _non_ascii_lines(path)
    _mixed_with_utf8(path, sample)
    encoding = _choose(path, sample)
    bad = _undecodable_line(path, encoding)
    if bad is not None:
        raise UnreadableDelivery(
            f"{path.name} reads as {encoding} text up to line {bad[0]}, which does not decode "
            f"({bad[1]}): the file mixes encodings or is damaged. Ask the trial to export it "
            "again as UTF-8, or ingest it with --encoding NAME if you know its encoding.",
            file=str(path), reason=Reason.ENCODING, encoding=encoding, lines=[bad[0]])
    return Detection(encoding, "detected")


def check_encoding(path: Path, encoding: str, *, how: str = "declared") -> Detection:
    """A declared encoding, checked: known to Python and decoding the whole file."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise UnreadableDelivery(
            f"{path.name}: unknown text encoding {encoding!r}; use a name Python knows, such "
            "as utf-8, cp1252, cp1251, cp932 (Shift-JIS), gb18030, utf-16, or leave --encoding "
            "out to have it detected.", file=str(path), reason=Reason.ENCODING,
            encoding=encoding) from None
    bad = _undecodable_line(path, name)
    if bad is not None:
        raise UnreadableDelivery(
            f"{path.name} is not {encoding} text: line {bad[0]} does not decode ({bad[1]}). "
            "Leave --encoding out to have the encoding detected, or give the file's real one.",
            file=str(path), reason=Reason.ENCODING, encoding=encoding, lines=[bad[0]])
    return Detection(encoding, how)


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when ``head`` has the NUL pattern of UTF-16 text with
    many ASCII characters (a NUL in every other byte of them), else None."""
    pairs = len(head) // 2
    if pairs < 4:
        return None
    even = sum(1 for b in head[0:pairs * 2:2] if b == 0)
    odd = sum(1 for b in head[1:pairs * 2:2] if b == 0)
    # ASCII characters (digits, delimiters, line ends) have a NUL high byte; other scripts
    # rarely have a NUL low byte
    if odd >= 0.3 * pairs and even <= 0.1 * odd:
        return "utf-16-le"
    if even >= 0.3 * pairs and odd <= 0.1 * even:
        return "utf-16-be"
    return None


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _undecodable_line(path: Path, encoding: str) -> tuple[int, str] | None:
    """(line number, reason) of the first line ``encoding`` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines_before = 0
    for chunk in _chunks(path):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return _line_of(chunk, exc, lines_before)
        lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return lines_before + 1, f"the file ends inside a character: {exc.reason}"
    return None


def _line_of(chunk: bytes, exc: UnicodeDecodeError, lines_before: int) -> tuple[int, str]:
    # the incremental decoder reports positions in its buffered input: the chunk, after the
    # few bytes of a character split at the previous chunk's end
    data = exc.object if isinstance(exc.object, bytes) else chunk
    start = max(0, exc.start - (len(data) - len(chunk)))
    line = lines_before + chunk[:start].count(b"\n") + 1
    bad = data[exc.start:exc.start + 4].hex(" ")
    return line, f"bytes {bad}: {exc.reason}"


def _non_ascii_lines(path: Path) -> bytes:
    """The lines holding non-ASCII bytes, up to :data:`_SAMPLE_BYTES`."""
    found: list[bytes] = []
    size = 0
    carry = b""
    for chunk in _chunks(path):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        data, carry = data[:cut], data[cut:]
        for m in _NON_ASCII_LINE.finditer(data):
            found.append(m.group())
            size += len(m.group())
            if size >= _SAMPLE_BYTES:
                return b"".join(found)
    if carry and re.search(rb"[\x80-\xff]", carry):
        found.append(carry)
    return b"".join(found)


def _choose(path: Path, sample: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(sample, cp_isolation=list(CANDIDATES))
               if m.encoding is not None]
    if not matches or min(m.percent_chaos for m in matches) > _MAX_CHAOS:
        raise UnreadableDelivery(
            f"{path.name} is not text in UTF-8 or in any encoding ipdrepo recognises: its "
            "non-ASCII bytes read as garbage in all of them. Check that this is the data file; "
            "if it is, ask the trial to export it as UTF-8 CSV, or ingest it with --encoding "
            "NAME.", file=str(path), reason=Reason.ENCODING)
    best_chaos = min(m.percent_chaos for m in matches)
    readings: dict[str, tuple[float, list[str]]] = {}
    for m in matches:
        if m.percent_chaos > best_chaos + _CHAOS_MARGIN:
            continue
        text = str(m)
        coherence, names = readings.get(text, (0.0, []))
        readings[text] = (max(coherence, m.percent_coherence),
                          names + [_superset(e) for e in m.could_be_from_charset])
    ranked = sorted(readings.items(), key=lambda item: -item[1][0])
    top_text, (top_coherence, top_names) = ranked[0]
    rivals = [r for r in ranked[1:] if r[1][0] > top_coherence - _COHERENCE_MARGIN]
    if not rivals:
        return _preferred(top_names)
    tied = [ranked[0], *rivals]
    if all(_latin_letters(text) for text, _ in tied):
        for _, (_, names) in tied:
            if "cp1252" in names:
                return "cp1252"
    raise _ambiguous(path, [(text, _preferred(names)) for text, (_, names) in tied])


def _latin_letters(text: str) -> bool:
    """True when every non-ASCII letter of ``text`` is a Latin-script letter."""
    return all(unicodedata.name(ch, "").startswith("LATIN") for ch in set(text)
               if ord(ch) > 127 and ch.isalpha())


def _mixed_with_utf8(path: Path, sample: bytes) -> None:
    """Refuse a file whose non-ASCII lines are partly UTF-8 and partly not (two exports pasted
    together, a row edited in another program): no single encoding reads it right.

    A line of a legacy multi-byte encoding can be valid UTF-8 by accident (two or three
    GB18030 characters in a row often are), so it takes at least :data:`_MIXED_SHARE` of the
    non-ASCII lines being UTF-8 to call the file mixed."""
    utf8: list[bytes] = []
    other: list[bytes] = []
    for line in sample.splitlines():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other.append(line)
        else:
            utf8.append(line)
    if utf8 and other and len(utf8) >= _MIXED_SHARE * (len(utf8) + len(other)):
        raise UnreadableDelivery(
            f"{path.name} mixes UTF-8 with another encoding: {len(utf8)} of its lines with "
            f"non-ASCII characters are UTF-8 (e.g. {utf8[0].decode('utf-8').strip()[:60]!r}) "
            f"and {len(other)} are not (e.g. {other[0].decode('latin-1').strip()[:60]!r}), so "
            "no single encoding reads every value right. Ask the trial to export the file "
            "again in one encoding (UTF-8).", file=str(path), reason=Reason.ENCODING_MIXED)


def _superset(encoding: str) -> str:
    name = codecs.lookup(encoding).name.replace("-", "_")
    return _SUPERSET.get(name, name)


def _preferred(names: list[str]) -> str:
    for name in ("cp1252", "cp932", "gb18030", "cp1251", "cp1250", "big5", "cp949"):
        if name in names:
            return name
    return names[0]


def _ambiguous(path: Path, readings: list[tuple[str, str]]) -> UnreadableDelivery:
    first, second = readings[0], readings[1]
    a_lines, b_lines = first[0].splitlines(), second[0].splitlines()
    line_a, line_b = next(((a, b) for a, b in zip(a_lines, b_lines) if a != b),
                          (a_lines[0] if a_lines else "", b_lines[0] if b_lines else ""))
    options = ", ".join(enc for _, enc in readings)
    return UnreadableDelivery(
        f"{path.name}: cannot tell its text encoding; the same bytes read as "
        f"{line_a.strip()[:60]!r} in {first[1]} and as {line_b.strip()[:60]!r} in {second[1]} "
        f"(candidates: {options}). Ingest it again with --encoding NAME (e.g. --encoding "
        f"{first[1]}) after checking which reading is right, or ask the trial to export it as "
        "UTF-8.", file=str(path), reason=Reason.ENCODING_AMBIGUOUS,
        candidates=[enc for _, enc in readings])
