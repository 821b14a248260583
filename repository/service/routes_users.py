"""Users (curators): list, invite with a one-time link, reset links, unlock after lockout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from repository.roles import ROLES, list_users
from repository.service import accounts
from repository.service.policy import Principal, requires

__all__ = ["router"]

router = APIRouter(tags=["users"])


class InviteBody(BaseModel):
    name: str = Field(max_length=200)
    role: str = Field(description=" | ".join(ROLES))
    trial: str | None = Field(default=None, max_length=64, description="a trialist's trial")
    email: str | None = Field(default=None, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)


def _link(service: Any, link: accounts.Link) -> dict[str, Any]:
    return {"user": link.user, "purpose": link.purpose, "url": link.url(
        service.config.public_url), "token": link.token,
        "expires_at": link.expires_at.isoformat(timespec="seconds")}


@router.get("/users")
def users(request: Request,
          who: Principal = Depends(requires("users.read"))) -> list[dict[str, Any]]:
    with request.app.state.service.store.reading() as session:
        return list_users(session)


@router.post("/users", status_code=201)
def invite(body: InviteBody, request: Request,
           who: Principal = Depends(requires("users.manage"))) -> dict[str, Any]:
    """Add a user and return their one-time invitation link (send it to them)."""
    from repository.trials import get_trial

    service = request.app.state.service
    with service.store.transaction() as session:
        topic = service.store.topic(session)
        trial = get_trial(session, topic, body.trial) if body.trial else None
        link = accounts.invite(session, by=who.name, name=body.name, role=body.role,
                               trial=trial, email=body.email, display_name=body.display_name,
                               topic=topic.slug, valid=service.config.invite_valid)
    made = _link(service, link)
    if body.email:  # e-mailed too when the service has SMTP settings
        from repository.service.notifications import send_invitation

        send_invitation(service, to=body.email, user=link.user, role=body.role,
                        trial=body.trial, url=made["url"], expires=made["expires_at"])
    return made


@router.post("/users/{name}/reset-link")
def reset(name: str, request: Request,
          who: Principal = Depends(requires("users.manage"))) -> dict[str, Any]:
    """A password-reset link for ``name`` (their sessions end now)."""
    service = request.app.state.service
    with service.store.transaction() as session:
        link = accounts.reset_link(session, by=who.name, name=name,
                                   valid=service.config.reset_valid)
    return _link(service, link)


@router.post("/users/{name}/unlock")
def unlock(name: str, request: Request,
           who: Principal = Depends(requires("users.manage"))) -> dict[str, Any]:
    """Let ``name`` sign in again at once after a lockout."""
    with request.app.state.service.store.transaction() as session:
        accounts.unlock(session, by=who.name, name=name)
    return {"unlocked": name}
