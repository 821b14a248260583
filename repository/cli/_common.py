"""Shared CLI plumbing: the error-handling group, common options, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from repository.errors import IPDError, exit_code_for

__all__ = [
    "IPDGroup",
    "workspace_option",
    "json_option",
    "get_settings",
    "emit_json",
    "print_table",
]

F = TypeVar("F", bound=Callable[..., Any])


class IPDGroup(click.Group):
    """A click group that turns domain errors into ``error: ...`` and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IPDError as exc:
            want_json = bool(ctx.find_root().meta.get("ipdrepo.json"))
            if want_json:
                click.echo(json.dumps(exc.to_dict(), indent=2, default=str))
            click.secho(f"error: {exc.message}", err=True, fg="red")
            ctx.exit(exit_code_for(exc))


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


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def print_table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None,
                *, file: Any = None) -> None:
    """Print dict rows as an aligned plain-text table."""
    rows = list(rows)
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if not rows:
        click.echo("(none)", file=file)
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out = file or sys.stdout
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(), file=out)
    click.echo("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=out)
