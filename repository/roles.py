"""Users and roles, enforced by the library (the CLI only passes the actor along).

======== ============================================================================
role     may
======== ============================================================================
curator  everything, on every trial: ingest, harmonise, raise/answer/accept queries,
         corrections, releases, data requests, user management
trialist their own trial only: its registry entry, deliveries and participants (by
         pseudonym), its queries (list, answer, import their workbook), explain its values,
         their own and their trial's audit events; never other trials, never releases
analyst  released data only: list, show, load and analyse releases; their own audit events;
         through the service, only the extracts (and the releases they come from) of the
         approved, unexpired data requests they are members of, every read logged
======== ============================================================================

The service (:mod:`repository.service`) authenticates its users (passwords, TOTP, tokens,
sessions) and enforces this same table: every route declares its action, like the CLI's
commands, and a test walks every route as every role.

Every command of the ``ipdrepo`` CLI declares one action of :data:`ACTIONS`
(:func:`repository.cli.access.requires`), and a test runs every command as every role.
Actions open to :data:`ANYONE` work on files the user already holds (a new workspace, the
dictionary, a file to analyse) and need no account.

A trialist asking for another trial, or for one that does not exist, gets the same refusal
("no trial X visible to you"), so refusals tell nothing about which trials exist.

The person who creates a workspace is its first curator. An actor the store does not know is
refused with a message saying how a curator adds them. The actor is ``IPDREPO_USER`` (default:
the login name): a convenience that names who is acting in the audit trail, not
authentication - anyone who can run ipdrepo on the workspace can set it. Identities become
real with the server, which authenticates its users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository import audit
from repository.actions import ACTIONS, ANYONE, ROLES
from repository.errors import AlreadyExists, ConfigError, NotFound, PermissionDenied
from repository.models import Trial, User
from repository.names import check_name
from repository.reasons import Reason

__all__ = ["ROLES", "ANYONE", "ACTIONS", "Actor", "add_user", "actor", "require", "list_users",
           "not_visible"]


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    trial: str | None = None  # a trialist's trial acronym
    trial_id: int | None = None

    @property
    def sees_all(self) -> bool:
        """Curators see every trial; the others see only what is theirs."""
        return self.role == "curator"

    def can(self, action: str, trial: str | None = None) -> bool:
        roles = ACTIONS[action]
        if ANYONE in roles:
            return True
        if self.role not in roles:
            return False
        return not (self.role == "trialist" and trial is not None and trial != self.trial)

    def sees_trial(self, trial_id: int) -> bool:
        return self.sees_all or (self.role == "trialist" and trial_id == self.trial_id)


def actor(session: Session, name: str) -> Actor:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or not user.active:
        raise PermissionDenied(
            f"{name!r} is not a user of this store; a curator can add you with `ipdrepo user add "
            f"{name} --role curator|trialist|analyst [--trial ACRONYM]` (set IPDREPO_USER to act "
            "as another user).", actor=name)
    trial = _acronym(session, user.trial_id)
    return Actor(name=user.name, role=user.role, trial=trial, trial_id=user.trial_id)


def _acronym(session: Session, trial_id: int | None) -> str | None:
    if trial_id is None:
        return None
    trial = session.get(Trial, trial_id)
    return trial.acronym if trial is not None else None


def require(session: Session, name: str, action: str, *, trial: str | None = None) -> Actor:
    """The acting user, if their role allows ``action`` (on ``trial``); else PermissionDenied."""
    who = actor(session, name)
    if who.role not in ACTIONS[action] and ANYONE not in ACTIONS[action]:
        mine = f" (their trial is {who.trial})" if who.role == "trialist" else ""
        raise PermissionDenied(f"{who.name} is {_article(who.role)} {who.role}{mine} and may not "
                               f"{action}; ask a curator.", actor=who.name, role=who.role,
                               action=action)
    if not who.can(action, trial):
        assert trial is not None
        raise not_visible(who, trial, action=action)
    return who


def not_visible(who: Actor, trial: str | None = None, *, thing: str | None = None,
                action: str | None = None) -> PermissionDenied:
    """The one refusal for a trial (or ``thing``, e.g. "query 12") the actor may not see,
    whether it exists or not."""
    what = thing or f"trial {trial!r}"
    mine = f", a trialist of {who.trial}" if who.role == "trialist" else f", {who.role}"
    return PermissionDenied(f"no {what} visible to you ({who.name}{mine}); if you need it, ask "
                            "a curator.", actor=who.name, role=who.role, action=action,
                            trial=trial, reason=Reason.NOT_VISIBLE)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def add_user(session: Session, *, name: str, role: str, by: str | None,
             trial: Trial | None = None, email: str | None = None,
             display_name: str | None = None, topic: str | None = None) -> User:
    """Add a user (``by`` must be a curator, except for the workspace's first user)."""
    check_name(name, what="user name")
    for what, value in (("display name", display_name), ("e-mail address", email)):
        if value is not None:
            check_name(value, what=what)
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}.", role=role)
    if role == "trialist" and trial is None:
        raise ConfigError("a trialist belongs to one trial; give --trial ACRONYM.")
    if role != "trialist" and trial is not None:
        raise ConfigError("only trialists are tied to a trial.")
    first = session.scalar(select(User.id).limit(1)) is None
    if not first:
        if by is None:
            raise PermissionDenied("adding users needs a curator.")
        require(session, by, "users.manage")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise AlreadyExists(f"user {name!r} already exists.", user=name)
    user = User(name=name, role=role, trial_id=trial.id if trial else None, email=email,
                display_name=display_name)
    session.add(user)
    session.flush()
    audit.append(session, actor=by or name, action="user.add", topic=topic, entity_type="user",
                 entity_id=name, details={"role": role, "trial": trial.acronym if trial else None})
    return user


def list_users(session: Session) -> list[dict[str, Any]]:
    rows = []
    for u in session.scalars(select(User).order_by(User.name)):
        trial = _acronym(session, u.trial_id)
        rows.append({"name": u.name, "role": u.role, "trial": trial, "email": u.email,
                     "active": u.active})
    return rows


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}.", user=name)
    return user
