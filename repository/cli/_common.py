"""Shared CLI plumbing: the error-handling group, common options, output helpers."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from repository.errors import IPDError, exit_code_for
from repository.names import escape

__all__ = [
    "IPDGroup",
    "ROW_ID",
    "COUNT",
    "MAX_TRIALS",
    "MAX_PARTICIPANTS",
    "workspace_option",
    "json_option",
    "get_settings",
    "emit_json",
    "emit_rows",
    "print_table",
    "private_and_safe_output",
    "raw_stream",
]

F = TypeVar("F", bound=Callable[..., Any])

#: the largest integer the store's databases hold (SQLite INTEGER, PostgreSQL BIGINT)
MAX_STORED_INT = 2**63 - 1
#: the id of a stored row (a query, an extract): click answers 0, a negative number or one
#: no database holds with a usage error (exit 2), not a traceback
ROW_ID = click.IntRange(min=1, max=MAX_STORED_INT)
#: a count (a limit): at least 0 and no larger than a database holds
COUNT = click.IntRange(min=0, max=MAX_STORED_INT)
#: the largest example topic `ipdrepo example create` and `ipdrepo demo` write (the docs'
#: benchmark topic has 100 trials and a million participants); more would run for hours
MAX_TRIALS = 1_000
MAX_PARTICIPANTS = 10_000_000


class IPDGroup(click.Group):
    """A click group that turns domain errors into ``error: ...`` and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IPDError as exc:
            want_json = bool(ctx.find_root().meta.get("ipdrepo.json"))
            if want_json:
                click.echo(json.dumps(exc.to_dict(), indent=2, default=str))
            click.secho(f"error: {escape(exc.message, keep_lines=True)}", err=True, fg="red",
                        file=raw_stream(sys.stderr))
            ctx.exit(exit_code_for(exc))
        except click.UsageError as exc:  # every error the same way: `error: ...`
            if exc.ctx is not None:
                click.echo(exc.ctx.get_usage(), err=True)
                click.echo(f"Try '{exc.ctx.command_path} --help' for help.\n", err=True)
            click.secho(f"error: {exc.format_message()}", err=True, fg="red")
            ctx.exit(exc.exit_code)
        except click.ClickException as exc:
            click.secho(f"error: {exc.format_message()}", err=True, fg="red")
            ctx.exit(exc.exit_code)


def _remember_workspace(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.find_root().meta["ipdrepo.workspace"] = value
    return value


def workspace_option(f: F) -> F:
    return click.option(
        "-w", "--workspace", "workspace", type=click.Path(file_okay=False), default=None,
        expose_value=False, is_eager=True, callback=_remember_workspace,
        envvar="IPDREPO_WORKSPACE",
        help="Workspace directory (default: the one containing the current directory; "
             "env IPDREPO_WORKSPACE).",
    )(f)


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta["ipdrepo.json"] = True
    return value


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, callback=_remember_json,
                        help="Print machine-readable JSON on stdout.")(f)


def get_settings(ctx: click.Context | None = None, *, must_exist: bool = True, **overrides: Any):
    from repository.settings import load_settings

    ctx = ctx or click.get_current_context()
    workspace = ctx.find_root().meta.get("ipdrepo.workspace")
    return load_settings(workspace, must_exist=must_exist, **overrides)


#: characters JSON may carry raw inside strings but a terminal would obey (C1 controls,
#: line separators, bidirectional overrides): written as JSON escapes instead
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    click.echo(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def emit_rows(rows: Sequence[dict[str, Any]], *, as_json: bool) -> None:
    """Print dict rows as JSON (``--json``) or as a plain-text table."""
    if as_json:
        emit_json(rows)
    else:
        print_table(rows)


def print_table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None,
                *, file: Any = None) -> None:
    """Print dict rows as an aligned plain-text table."""
    rows = list(rows)
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if not rows:
        click.echo("(none)", file=file)
        return
    # cells are escaped: a value holding a line break or an escape sequence stays in its cell
    cells = [[("" if r.get(c) is None else escape(str(r.get(c)))) for c in cols] for r in rows]
    cols = [escape(str(c)) for c in cols]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out = file or sys.stdout
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(), file=out)
    click.echo("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=out)


# -- output that cannot drive the terminal, files only the owner can read ----------------------

_CURSOR = re.compile(r"(\x1b\[\?25[lh])")


def _stream_text(text: str) -> str:
    """Escape control characters except line breaks and tabs; keep a leading carriage return
    and the cursor show/hide sequences click's progress bars redraw with."""
    lead = "\r" if text.startswith("\r") else ""
    parts = _CURSOR.split(text[len(lead):])
    return lead + "".join(p if i % 2 else escape(p, keep_lines=True)
                          for i, p in enumerate(parts))


class _SafeText(io.TextIOBase):
    """A text stream that writes through ``raw`` with control characters escaped."""

    def __init__(self, raw: Any) -> None:
        self.ipdrepo_raw = raw

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes writers with b"" to find binary ones
            raise TypeError("write() argument must be str")
        self.ipdrepo_raw.write(_stream_text(text))
        return len(text)

    def flush(self) -> None:
        self.ipdrepo_raw.flush()

    def isatty(self) -> bool:
        return bool(self.ipdrepo_raw.isatty())

    def fileno(self) -> int:
        return int(self.ipdrepo_raw.fileno())

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.ipdrepo_raw, "encoding", "utf-8") or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.ipdrepo_raw, "errors", None)

    @property
    def name(self) -> str:
        return str(getattr(self.ipdrepo_raw, "name", "<stream>"))


def raw_stream(stream: Any) -> Any:
    """The stream under ipdrepo's escaping wrapper: for text ipdrepo itself styles."""
    return getattr(stream, "ipdrepo_raw", stream)


def _umask(workspace: str | None) -> int:
    from repository.settings import load_settings

    try:
        return load_settings(workspace, must_exist=False).umask
    except IPDError:
        return 0o077  # the command itself reports a broken workspace or setting


def private_and_safe_output(ctx: click.Context) -> None:
    """For the rest of the command: files created owner-only (the ``umask`` setting, 077) and
    stdout/stderr escaping any control character a value carries (an escape sequence in a
    delivered file name or cell cannot recolour, retitle or rewrite the terminal)."""
    mask = _umask(ctx.find_root().meta.get("ipdrepo.workspace"))
    before = os.umask(mask)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeText(out), _SafeText(err)

    def restore() -> None:
        sys.stdout, sys.stderr = out, err
        os.umask(before)

    ctx.call_on_close(restore)
