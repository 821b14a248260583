"""Names and free text people give ipdrepo: checked once, where they are created.

A name (topic, trial acronym, user, dataset, request code, version, title, arm label ...) is
one line of printable text; free text (descriptions, notes, purposes, justifications) may also
hold line breaks and tabs. Neither may hold other control characters: a newline in a trial
acronym, a carriage return or an ANSI escape sequence in a title would let whoever typed it
rewrite what a curator sees in a terminal, a log or a report. Bidirectional overrides
(U+202A-U+202E, U+2066-U+2069) are refused for the same reason: they reorder what is shown.

Text that reaches the store by other routes (delivered cell values, file names, trialists'
answers) is kept as it was and escaped when printed (:func:`escape`).
"""

from __future__ import annotations

import re
import unicodedata

from repository.errors import ConfigError, IPDError
from repository.reasons import Reason

__all__ = ["check_name", "check_text", "check_file_name", "escape", "first_control",
           "spreadsheet_text"]

#: characters that reorder or hide what follows them on screen
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_SEPARATORS = frozenset("\u2028\u2029")


def _unsafe(char: str) -> bool:
    return (unicodedata.category(char) == "Cc" or char in _BIDI or char in _LINE_SEPARATORS)


def first_control(value: str, *, allow: str = "") -> tuple[int, str] | None:
    """(0-based position, character) of the first control character not in ``allow``."""
    for i, char in enumerate(value):
        if char not in allow and _unsafe(char):
            return i, char
    return None


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") or {"\n": "LINE FEED", "\r": "CARRIAGE RETURN",
                                         "\t": "TAB", "\x1b": "ESCAPE"}.get(char, "control")
    return f"U+{ord(char):04X} {name}"


def _check(value: str, what: str, allow: str, error: type[IPDError]) -> str:
    found = first_control(value, allow=allow)
    if found is not None:
        pos, char = found
        raise error(f"{what} {value!r} contains a control character ({_describe(char)}) at "
                    f"position {pos + 1}; names and text may not hold line breaks (in names), "
                    "escape sequences or other control characters: type it again without it.",
                    field=what, value=value, position=pos + 1)
    return value


def check_name(value: str, *, what: str, pattern: re.Pattern[str] | None = None,
               rule: str | None = None, error: type[IPDError] = ConfigError) -> str:
    """``value`` if it is a one-line name free of control characters (and matching
    ``pattern`` in full, when given: ``rule`` says what the pattern asks for); else ``error``."""
    _check(value, what, "", error)
    if pattern is not None and not pattern.fullmatch(value):
        raise error(f"{what} {value!r} must be {rule or 'a valid name'}.", field=what,
                    value=value)
    return value


_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def check_file_name(value: str, *, what: str = "file name",
                    error: type[IPDError] = ConfigError) -> str:
    """``value`` if it is a plain file name someone may choose for an upload: no directory
    parts (``/``, ``\\``, ``..``), not hidden, no control characters, no device names, at
    most 255 characters; else ``error`` - never silently rewritten, so what is stored is what
    the person chose."""
    _check(value, what, "", error)
    problems = []
    if not value.strip() or value in (".", ".."):
        problems.append("is empty")
    if "/" in value or "\\" in value or ":" in value:
        problems.append("holds a directory or drive part ('/', '\\' or ':')")
    if value.startswith(".") or value.startswith("-"):
        problems.append("starts with '.' or '-'")
    if value != value.strip():
        problems.append("starts or ends with a space")
    if len(value) > 255:
        problems.append("is longer than 255 characters")
    if _RESERVED.fullmatch(value.split(".")[0] if value else value):
        problems.append("is a reserved device name")
    if problems:
        raise error(f"{what} {value!r} " + " and ".join(problems) + "; rename the file (e.g. "
                    "gast01-delivery-2.csv) and send it again.", field=what, value=value,
                    reason=Reason.BAD_FILE_NAME)
    return value


def check_text(value: str, *, what: str, error: type[IPDError] = ConfigError) -> str:
    """``value`` if it is free text (line breaks and tabs allowed) without other control
    characters; else ``error``."""
    return _check(value, what, "\n\t", error)


def _escape_char(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_ESCAPE_ALL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ESCAPE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                                "\u2066-\u2069]")


def escape(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control character written out (``\\x1b``, ``\\n``, ``\\u202e``), so
    that printing it cannot move the cursor, recolour, retitle or reorder a terminal. With
    ``keep_lines`` line breaks and tabs are printed as they are."""
    pattern = _ESCAPE_KEEP_LINES if keep_lines else _ESCAPE_ALL
    return pattern.sub(lambda m: _escape_char(m.group()), text)


_FORMULA = re.compile(r"[=@\t\r]|[+-].*([A-Za-z_][A-Za-z0-9_.]*\s*\(|!)", re.DOTALL)


def spreadsheet_text(value: str) -> str:
    """``value`` as text a spreadsheet program will not run as a formula when it opens a CSV
    file: a cell starting with ``=``, ``@``, a tab or a carriage return, or with ``+``/``-``
    and holding a function call or a sheet reference, gets a leading apostrophe (OWASP's
    advice against CSV/formula injection). Numbers and ``-3 (-5 to -1)`` stay as they are."""
    return "'" + value if _FORMULA.match(value) else value
