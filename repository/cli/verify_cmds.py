"""``ipdrepo verify``: check every raw object, the keyed audit chain and the rows it covers."""

from __future__ import annotations

import sys

import click

from repository.cli._common import emit_json, get_settings, json_option
from repository.cli.access import requires

__all__ = ["verify"]

_MARK = {"ok": "ok", "warning": "warning", "failed": "FAILED"}


@click.command()
@click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
              help="Topic whose deliveries to hash, when the store holds several.")
@json_option
@requires("audit.verify")
@click.pass_context
def verify(ctx: click.Context, topic: str | None, as_json: bool) -> None:
    """Check the workspace against tampering and loss; exit 8 if anything fails.

    \b
    Checks, in order:
      database schema  the store is at the current revision
      audit chain      every event's HMAC under the audit key, and the links between them
      audited rows     every delivery, correction and user row against the digests the
                       chain recorded (rows edited, deleted or inserted with SQL are named)
      objects          every raw delivery's bytes against the sha256 it was ingested with
      files            workspace, database, keys and objects private to their owner, and no
                       database password in ipdrepo.toml (warnings only)

    Reads every raw delivery once (a progress bar shows the bytes hashed on stderr). Run it
    after restoring a backup, before a release, and on a schedule.

    \b
    Examples:
      ipdrepo verify
      ipdrepo verify --json
    """
    from repository.integrity import object_plan, verify_workspace
    from repository.store import Store

    with Store.open(get_settings(ctx, topic=topic)) as store:
        plan = object_plan(store, topic)
        with click.progressbar(length=max(plan.total_bytes, 1), label="hashing raw deliveries",
                               file=sys.stderr, hidden=as_json or not sys.stderr.isatty()) as bar:
            report = verify_workspace(store, plan=plan, topic=topic, progress=bar.update)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"Workspace {report.workspace}, topic {report.topic}:")
        for check in report.checks:
            click.echo(f"  {_MARK[check.status]:<8} {check.name:<16} {check.summary}")
            for problem in check.problems:
                click.echo(f"           - {problem}")
        if report.ok:
            click.echo("Everything that can be checked verifies.")
    if not report.ok:
        click.echo(f"error: the workspace does not verify ({len(report.problems)} problem(s) "
                   "above); restore what changed from a backup and find out who changed it.",
                   err=True)
        ctx.exit(8)
