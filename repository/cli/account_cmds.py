"""CLI commands for the service's accounts: ``user invite|reset-link|unlock`` (added to the
``user`` group) and the ``token`` group (API tokens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from repository.cli._common import (
    IPDGroup,
    emit_json,
    emit_rows,
    get_settings,
    json_option,
)
from repository.cli.access import requires

if TYPE_CHECKING:
    from repository.service.accounts import Link
    from repository.service.config import ServiceConfig
    from repository.store import Store

__all__ = ["invite_cmd", "reset_link_cmd", "unlock_cmd", "token"]

topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                            help="Topic slug, when the store holds several.")


def _store(topic: str | None = None) -> Store:
    from repository.store import Store


    return Store.open(get_settings(topic=topic))


def _config(store: Store) -> ServiceConfig:
    from repository.service.config import ServiceConfig

    return ServiceConfig.from_settings(store.settings)


def _show_link(link: Link, public_url: str, as_json: bool, what: str) -> None:
    url = link.url(public_url)
    if as_json:
        emit_json({"user": link.user, "purpose": link.purpose, "url": url,
                   "expires_at": link.expires_at.isoformat(timespec="seconds")})
        return
    click.echo(f"{what} for {link.user} (valid once, until "
               f"{link.expires_at:%Y-%m-%d %H:%M} UTC):\n  {url}\n"
               "Send it to them by a channel you trust; it is shown only now.")


@click.command("invite")
@click.argument("name")
@click.option("--role", type=click.Choice(["curator", "trialist", "analyst"]), required=True)
@click.option("--trial", "trial_acronym", help="The trialist's trial.")
@click.option("--email", help="Their e-mail address.")
@click.option("--display-name")
@topic_option
@json_option
@requires("users.manage")
def invite_cmd(name: str, role: str, trial_acronym: str | None, email: str | None,
               display_name: str | None, topic: str | None, as_json: bool) -> None:
    """Add user NAME and print their one-time invitation link (curators).

    The link opens the server's welcome page, where they choose a password (and may set up a
    one-time-code app). It works once, for 7 days; the link is printed only now, and the
    store keeps only its hash. The link's address comes from the public_url setting
    (IPDREPO_PUBLIC_URL).

    \b
    Example:
      ipdrepo user invite dr.sato --role trialist --trial SIROCCO --email y.sato@example.org
    """
    from repository.service.accounts import invite
    from repository.trials import get_trial

    with _store(topic) as store:
        config = _config(store)
        with store.transaction() as session:
            topic_row = store.topic(session)
            trial = get_trial(session, topic_row, trial_acronym) if trial_acronym else None
            link = invite(session, by=store.settings.actor, name=name, role=role, trial=trial,
                          email=email, display_name=display_name, topic=topic_row.slug,
                          valid=config.invite_valid)
    _show_link(link, config.public_url, as_json, "Invitation")


@click.command("reset-link")
@click.argument("name")
@json_option
@requires("users.manage")
def reset_link_cmd(name: str, as_json: bool) -> None:
    """Print a one-time password-reset link for user NAME (curators); their sessions end.

    The link works once, for 2 hours.
    """
    from repository.service.accounts import reset_link

    with _store() as store:
        config = _config(store)
        with store.transaction() as session:
            link = reset_link(session, by=store.settings.actor, name=name,
                              valid=config.reset_valid)
    _show_link(link, config.public_url, as_json, "Password-reset link")


@click.command("unlock")
@click.argument("name")
@requires("users.manage")
def unlock_cmd(name: str) -> None:
    """Let user NAME sign in again at once after too many failed sign-ins (curators)."""
    from repository.service.accounts import unlock

    with _store() as store, store.transaction() as session:
        unlock(session, by=store.settings.actor, name=name)
    click.echo(f"{name} may sign in again.")


@click.group(cls=IPDGroup)
def token() -> None:
    """API tokens for the server's API and the --server clients.

    A token is shown once when created; the store keeps only its hash. It acts as its user
    (with their role and trial) until it expires or is revoked.
    """


@token.command("create")
@click.argument("name")
@click.option("--expires", "days", type=click.IntRange(1, 366), default=90, show_default=True,
              help="Days until the token stops working.")
@click.option("--user", "for_user", help="Another user's token (curators only).")
@json_option
@requires("account.self", options={"for_user": "tokens.manage"})
def token_create(name: str, days: int, for_user: str | None, as_json: bool) -> None:
    """Create API token NAME and print it (once).

    \b
    Example:
      ipdrepo token create laptop --expires 30
      export IPDREPO_TOKEN=ipdrepo_...      # or keep it in the credentials file (mode 0600)
    """
    from repository.service.tokens import create_token

    with _store() as store, store.transaction() as session:
        new = create_token(session, by=store.settings.actor, name=name, user=for_user,
                           expires_days=days)
    if as_json:
        emit_json(new.to_dict())
        return
    click.echo(f"Token {new.name} of {new.user} (expires {new.expires_at:%Y-%m-%d}):")
    click.echo(new.token)
    click.echo("It is shown only now; keep it like a password.")


@token.command("list")
@click.option("--user", "for_user", help="Another user's tokens (curators only).")
@click.option("--all", "all_users", is_flag=True, help="Every user's tokens (curators only).")
@json_option
@requires("account.self", options={"for_user": "tokens.manage", "all_users": "tokens.manage"})
def token_list(for_user: str | None, all_users: bool, as_json: bool) -> None:
    """List API tokens (never the tokens themselves)."""
    from repository.service.tokens import list_tokens

    with _store() as store, store.reading() as session:
        rows = list_tokens(session, by=store.settings.actor, user=for_user,
                           all_users=all_users)
    emit_rows(rows, as_json=as_json)


@token.command("revoke")
@click.argument("name")
@click.option("--user", "for_user", help="Another user's token (curators only).")
@requires("account.self", options={"for_user": "tokens.manage"})
def token_revoke(name: str, for_user: str | None) -> None:
    """Revoke API token NAME: it stops working at once."""
    from repository.service.tokens import revoke_token

    with _store() as store, store.transaction() as session:
        revoke_token(session, by=store.settings.actor, name=name, user=for_user)
    click.echo(f"Revoked token {name}.")
