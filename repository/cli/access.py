"""Which action of the policy table each CLI command performs, checked before it runs.

Every command of the ``ipdrepo`` CLI is declared with :func:`requires`::

    @trial.command("show")
    @click.argument("acronym")
    @requires("store.read", trial="acronym")
    def trial_show(acronym: str, ...) -> None: ...

The declaration names an action of :data:`repository.roles.ACTIONS`, the parameter holding the
trial the command is about (a trialist may act on their own trial only), options that need a
further action when given (``participants --map-back`` needs ``pseudonyms.map_back``), and
options with which the command works only on files the user gives and needs no account
(``release get --repo``). Before the command runs, the acting user (``IPDREPO_USER``) is looked
up in the workspace's store and refused (exit 7) unless the table allows the action; the
library checks again, and filters what it shows, where it reads the store. A test walks the
whole command tree: a command without a declaration fails it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["Policy", "requires", "policy_of"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    """What a command needs; see :func:`requires`."""

    action: str
    trial: str | None = None
    query: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    store_free: tuple[str, ...] = ()
    workspace: str | None = None

    def actions(self, params: Mapping[str, Any]) -> list[str]:
        """The actions a call with ``params`` needs."""
        return [self.action, *(a for p, a in self.options.items() if params.get(p))]

    def trials(self, params: Mapping[str, Any]) -> list[str]:
        return [str(v) for v in _values(params, self.trial)]

    def queries(self, params: Mapping[str, Any]) -> list[int]:
        return [int(v) for v in _values(params, self.query)]

    def needs_account(self, params: Mapping[str, Any]) -> bool:
        from repository.actions import ACTIONS, ANYONE

        if self.store_free and all(params.get(p) for p in self.store_free):
            return False
        return any(ANYONE not in ACTIONS[a] for a in self.actions(params))


def _values(params: Mapping[str, Any], name: str | None) -> list[Any]:
    value = params.get(name) if name else None
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def requires(action: str, *, trial: str | None = None, query: str | None = None,
             options: Mapping[str, str] | None = None, store_free: str | Sequence[str] = (),
             workspace: str | None = None) -> Callable[[F], F]:
    """Declare that a command performs ``action`` and check it before the command runs.

    ``trial``: the parameter naming the trial (or trials) acted on; ``query``: the parameter
    naming the data query (or queries) acted on, whose trial counts. ``options``: parameter ->
    a further action needed when the parameter is given. ``store_free``: parameters that,
    all given, make the command work on the user's own files only (no account needed).
    ``workspace``: the parameter naming the workspace, when the command takes it as an
    argument rather than from ``--workspace``.
    """
    from repository.actions import ACTIONS

    policy = Policy(action=action, trial=trial, query=query, options=dict(options or {}),
                    store_free=(store_free,) if isinstance(store_free, str) else
                    tuple(store_free), workspace=workspace)
    for needed in (action, *policy.options.values()):
        if needed not in ACTIONS:
            raise ValueError(f"action {needed!r} is not in repository.roles.ACTIONS")

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if policy.needs_account(kwargs):
                _check(policy, kwargs)
            return f(*args, **kwargs)

        checked.__ipdrepo_policy__ = policy  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def policy_of(command: click.Command) -> Policy | None:
    """The declared policy of a (leaf) command, or None."""
    return getattr(command.callback, "__ipdrepo_policy__", None)


def _check(policy: Policy, params: Mapping[str, Any]) -> None:
    from repository.errors import ConfigError
    from repository.roles import require
    from repository.settings import load_settings
    from repository.store import Store

    ctx = click.get_current_context()
    given = params.get(policy.workspace) if policy.workspace else None
    workspace = given if given is not None else ctx.find_root().meta.get("ipdrepo.workspace")
    try:
        settings = load_settings(Path(workspace) if workspace is not None else None)
    except ConfigError:
        # no workspace, so no store to protect: the command says what is missing itself
        return
    # schema migrations are checked on a store whose schema is not current yet
    store = Store.open(settings, check_schema=policy.action != "store.admin")
    try:
        with store.reading() as session:
            actions = policy.actions(params)
            for action in actions:  # the role first: "an analyst may not ..."
                who = require(session, settings.actor, action)
            trials: list[str | None] = [*policy.trials(params)]
            trials += [_trial_of_query(session, who, q) for q in policy.queries(params)]
            for action in actions:
                for trial in trials:
                    require(session, settings.actor, action, trial=trial)
    finally:
        store.close()


def _trial_of_query(session: Any, who: Any, query_id: int) -> str | None:
    """The trial of a data query; a query a trialist may not see (another trial's, or one still
    on the curators' list) is refused like one that does not exist."""
    from repository.models import Query, Trial
    from repository.roles import not_visible

    query = session.get(Query, query_id)
    trial = session.get(Trial, query.trial_id) if query is not None else None
    hidden = query is not None and not who.sees_all and query.audience != "trial"
    if trial is None or hidden or not who.sees_trial(trial.id):
        if who.sees_all:
            return None  # a curator: the command says the query is not there
        raise not_visible(who, thing=f"query {query_id}")
    return str(trial.acronym)
