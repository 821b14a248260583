"""Signing in and out, one-time links, the caller's own account (password, TOTP) and tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from repository.service import accounts, sessions, tokens, totp
from repository.service.policy import Principal, public, requires

__all__ = ["router"]

router = APIRouter(tags=["account"])


class SignInBody(BaseModel):
    user: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    code: str | None = Field(default=None, max_length=12, description="TOTP code, if enabled")


class TokenSignInBody(SignInBody):
    name: str = Field(max_length=64, description="a name for the new token, e.g. laptop")
    expires_days: int = Field(default=90, ge=1, le=tokens.MAX_DAYS)


class RedeemBody(BaseModel):
    token: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class PasswordBody(BaseModel):
    current: str = Field(max_length=1024)
    new: str = Field(max_length=1024)


class CodeBody(BaseModel):
    code: str = Field(max_length=12)


class NewTokenBody(BaseModel):
    name: str = Field(max_length=64)
    expires_days: int | None = Field(default=90, ge=1, le=tokens.MAX_DAYS)
    user: str | None = Field(default=None, max_length=200,
                             description="another user's (curators only)")


def _remote(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _service(request: Request) -> Any:
    return request.app.state.service


def _sign_in(request: Request, body: SignInBody) -> Any:
    """Check the credentials; the attempt is committed before a failure is raised."""
    service = _service(request)
    key = accounts.totp_key(service.store.secret)
    outcome = accounts.sign_in(service.store, name=body.user, password=body.password,
                               code=body.code, remote=_remote(request),
                               config=service.config, key=key)
    if outcome.error is not None:
        raise outcome.error
    return outcome.user_id


def _me(who: Principal) -> dict[str, Any]:
    return {"user": who.name, "role": who.role, "trial": who.trial, "via": who.via,
            "csrf_token": who.csrf_token}


@router.post("/auth/login")
def login(body: SignInBody, request: Request, response: Response,
          _: None = Depends(public("signing in needs no session"))) -> dict[str, Any]:
    """Sign in with user name, password (and TOTP code): sets the session cookie and returns
    the session's CSRF token, required on every state-changing call made with the cookie."""
    service = _service(request)
    user_id = _sign_in(request, body)
    from repository.models import User

    with service.store.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        new = sessions.start_session(session, user, service.config,
                                     previous=request.cookies.get(service.config.cookie_name))
        from repository.models import Trial

        trial = session.get(Trial, user.trial_id) if user.trial_id is not None else None
        who = Principal(name=user.name, role=user.role,
                        trial=trial.acronym if trial is not None else None,
                        trial_id=user.trial_id, via="session", csrf_token=new.csrf_token)
    response.set_cookie(service.config.cookie_name, new.cookie, httponly=True,
                        secure=service.config.cookie_secure, samesite="lax", path="/",
                        max_age=int(service.config.session_max.total_seconds()))
    return _me(who)


@router.post("/auth/token")
def token_login(body: TokenSignInBody, request: Request,
                _: None = Depends(public("signing in needs no session"))) -> dict[str, Any]:
    """Sign in and receive a new API token (shown once), for the command-line and Python
    clients (`ipdrepo login`)."""
    service = _service(request)
    _sign_in(request, body)
    with service.store.transaction() as session:
        new = tokens.create_token(session, by=body.user.strip(), name=body.name,
                                  expires_days=body.expires_days)
    return new.to_dict()


@router.post("/auth/logout")
def logout(request: Request, response: Response,
           who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """End the session (a token is revoked with DELETE /tokens/NAME instead)."""
    service = _service(request)
    if who.session_cookie:
        with service.store.transaction() as session:
            sessions.end_session(session, who.session_cookie)
    response.delete_cookie(service.config.cookie_name, path="/")
    return {"signed_out": who.name}


@router.get("/auth/me")
def me(who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """Who the caller is: user, role, trial, and the session's CSRF token."""
    return _me(who)


@router.post("/auth/links/redeem")
def redeem(body: RedeemBody, request: Request,
           _: None = Depends(public("a one-time link is the credential"))) -> dict[str, Any]:
    """Choose a password with an invitation or password-reset link's token."""
    with _service(request).store.transaction() as session:
        user = accounts.redeem_link(session, body.token, password=body.password)
        return {"user": user.name, "role": user.role}


@router.post("/auth/password")
def change_password(body: PasswordBody, request: Request,
                    who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """Change the caller's password (the current one is required); other sessions end."""
    accounts.change_password(
        _service(request).store, user=who.name, current=body.current, new=body.new,
        keep_csrf=who.csrf_token if who.session_cookie is not None else None)
    return {"user": who.name, "changed": True}


@router.post("/auth/totp")
def totp_enrol(request: Request,
               who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """Start setting up a second factor: the secret for an authenticator app. It is required
    at sign-in once confirmed with POST /auth/totp/confirm."""
    service = _service(request)
    with service.store.transaction() as session:
        secret = accounts.enrol_totp(session, user=who.name,
                                     key=accounts.totp_key(service.store.secret))
    return {"secret": secret, "uri": totp.provisioning_uri(secret, account=who.name)}


@router.post("/auth/totp/confirm")
def totp_confirm(body: CodeBody, request: Request,
                 who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    service = _service(request)
    with service.store.transaction() as session:
        accounts.confirm_totp(session, user=who.name, code=body.code,
                              key=accounts.totp_key(service.store.secret))
    return {"user": who.name, "totp": True}


@router.delete("/auth/totp")
def totp_disable(request: Request, user: str | None = None,
                 who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """Remove the second factor (your own; a curator: ``?user=NAME`` for a lost phone)."""
    with _service(request).store.transaction() as session:
        accounts.disable_totp(session, by=who.name, user=user or who.name)
    return {"user": user or who.name, "totp": False}


@router.get("/tokens")
def list_tokens(request: Request, user: str | None = None, all: bool = False,
                who: Principal = Depends(requires("account.self"))) -> list[dict[str, Any]]:
    """Your API tokens (curators: ``?user=NAME`` or ``?all=true``); never the secrets."""
    with _service(request).store.reading() as session:
        return tokens.list_tokens(session, by=who.name, user=user, all_users=all)


@router.post("/tokens", status_code=201)
def create_token(body: NewTokenBody, request: Request,
                 who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    """A new API token (shown once, only its hash is kept)."""
    with _service(request).store.transaction() as session:
        return tokens.create_token(session, by=who.name, name=body.name, user=body.user,
                                   expires_days=body.expires_days).to_dict()


@router.delete("/tokens/{name}")
def revoke_token(name: str, request: Request, user: str | None = None,
                 who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
    with _service(request).store.transaction() as session:
        tokens.revoke_token(session, by=who.name, name=name, user=user)
    return {"revoked": name, "user": user or who.name}


