"""``ipdrepo notify``: the e-mails a team server sends on a schedule (run daily by cron or a
systemd timer): reminders of overdue questions to trialists, the curators' digest."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from repository.cli._common import get_settings
from repository.cli.access import requires

__all__ = ["notify"]


@click.group()
def notify() -> None:
    """E-mail reminders and the curators' digest (SMTP settings: `ipdrepo --help`)."""


def _run(kind: str, dry_run: bool) -> None:
    from repository.service import notifications
    from repository.store import Store

    settings = get_settings()
    mail = notifications.MailSettings.from_settings(settings)
    store = Store.open(settings)
    try:
        make = notifications.reminders if kind == "reminders" else notifications.digest
        messages = make(store, now=datetime.now(UTC), mail=mail)
    finally:
        store.close()
    if dry_run or not mail.enabled:
        for msg in messages:
            click.echo(f"To: {msg['To']}\nSubject: {msg['Subject']}\n\n{msg.get_content()}")
        if not mail.enabled and not dry_run:
            click.echo(f"note: smtp_host is not set; {len(messages)} e-mail(s) shown, none "
                       "sent.", err=True)
        return
    if kind == "reminders":  # recorded, so that a second run today sends none again
        store = Store.open(settings)
        try:
            sent = notifications.send_reminders(store, now=datetime.now(UTC), mail=mail)
        finally:
            store.close()
    else:
        sent = notifications.send(mail, messages)
    click.echo(f"{sent} e-mail(s) sent through {mail.host}:{mail.port}.")


@notify.command("reminders")
@click.option("--dry-run", is_flag=True, help="Show the e-mails instead of sending them.")
@requires("queries.manage")
def reminders_cmd(dry_run: bool) -> None:
    """Remind each trial's trialists of its questions unanswered for more than reminder_days
    (only their own trial's; counts and links, no data)."""
    _run("reminders", dry_run)


@notify.command("digest")
@click.option("--dry-run", is_flag=True, help="Show the e-mails instead of sending them.")
@requires("queries.manage")
def digest_cmd(dry_run: bool) -> None:
    """The curators' daily digest: per trial waiting, overdue, to review, resolved; uploads
    waiting."""
    _run("digest", dry_run)
