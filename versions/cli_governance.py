"""CLI: ``ipdrepo governance pack``, and ``request grant|ungrant|access-log``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from repository.cli._common import IPDGroup, emit_json, get_settings, json_option, print_table
from repository.cli.access import requires

__all__ = ["governance", "grant_cmd", "ungrant_cmd", "access_log_cmd"]

topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                            help="Topic slug, when the store holds several.")


def _store(topic: str | None = None) -> Any:
    from repository.store import Store

    return Store.open(get_settings(topic=topic))


@click.group(cls=IPDGroup)
def governance() -> None:
    """Governance documents: the retrieval drill of a data request."""


@governance.command("pack")
@click.argument("code")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A new folder (default governance-CODE in the current directory).")
@topic_option
@json_option
@requires("governance.pack")
def pack_cmd(code: str, output: Path | None, topic: str | None, as_json: bool) -> None:
    """Assemble request CODE's governance pack in one folder (curators).

    Policy, plan, anonymisation reports, the data use agreement, the access log with the
    audit events and the chain's verification, and the outputs handed out, with a SHA256SUMS
    of every file. Add your own documents in the workspace's governance/policy/ and
    governance/outputs/CODE/ folders.

    \b
    Example:
      ipdrepo governance pack REQ-0001 -o drill/REQ-0001
    """
    from versions.governance import pack

    started = time.perf_counter()
    with _store(topic) as store:
        result = pack(store, code, output or Path(f"governance-{code}"), topic=topic)
    seconds = time.perf_counter() - started
    if as_json:
        emit_json({**result.to_dict(), "seconds": round(seconds, 2)})
        return
    click.echo(f"Wrote the governance pack of {code} to {result.path} ({len(result.files)} "
               f"files, {seconds:.1f} s).")


@click.command("grant")
@click.argument("code")
@click.argument("users", nargs=-1, required=True)
@topic_option
@requires("requests.manage")
def grant_cmd(code: str, users: tuple[str, ...], topic: str | None) -> None:
    """Make analysts USERS members of data request CODE: through the server they receive its
    extracts while it is approved and unexpired."""
    from versions.access import grant

    with _store(topic) as store:
        for user in users:
            grant(store, code, user, topic=topic)
    click.echo(f"{', '.join(users)} may receive the extracts of {code}.")


@click.command("ungrant")
@click.argument("code")
@click.argument("user")
@topic_option
@requires("requests.manage")
def ungrant_cmd(code: str, user: str, topic: str | None) -> None:
    """Remove analyst USER from data request CODE."""
    from versions.access import ungrant

    with _store(topic) as store:
        ungrant(store, code, user, topic=topic)
    click.echo(f"{user} is no longer a member of {code}.")


@click.command("access-log")
@click.argument("code", required=False)
@click.option("--user", "users", multiple=True, help="Only these users (repeatable).")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the log as CSV for inspection.")
@json_option
@requires("access_log.read")
def access_log_cmd(code: str | None, users: tuple[str, ...], csv_file: Path | None,
                   as_json: bool) -> None:
    """The access log: every read and download of released data (of request CODE)."""
    from versions.access import access_log, access_log_csv

    with _store() as store:
        rows = access_log(store, request=code, users=users)
    if csv_file is not None:
        csv_file.write_text(access_log_csv(rows))
        click.echo(f"Wrote {len(rows)} entries to {csv_file}.")
    elif as_json:
        emit_json(rows)
    else:
        print_table([{k: r[k] for k in ("at", "user", "request", "kind", "what", "bytes")}
                     for r in rows])
