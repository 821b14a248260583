"""The pages of one-time links: an invitation (``/welcome#TOKEN``) or a password reset
(``/reset#TOKEN``) lets the user choose a password, then sign in.

The secret is after ``#``: browsers never send it to the server, in a Referer or a log; the
page's script copies it into the form, which posts it (``POST /welcome``). The token is the
credential; a used, expired or replaced link is refused with what to do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from repository.errors import AccountError
from repository.service.policy import public
from repository.service.web.common import go, render, service_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_PURPOSES = {"welcome": "Welcome: choose your password", "reset": "Choose a new password"}


def _show(request: Request, kind: str, error: str | None = None,
          status: int = 200) -> HTMLResponse:
    response = render(request, "link.html", None, kind=kind, heading=_PURPOSES[kind],
                      error=error)
    response.status_code = status
    return response


@router.get("/welcome")
def welcome_page(request: Request, _: None = Depends(public("a one-time link is the "
                                                            "credential"))) -> HTMLResponse:
    return _show(request, "welcome")


@router.get("/reset")
def reset_page(request: Request, _: None = Depends(public("a one-time link is the "
                                                          "credential"))) -> HTMLResponse:
    return _show(request, "reset")


def _redeem(request: Request, kind: str, token: str, password: str, again: str) -> Any:
    from repository.service import accounts

    if password != again:
        return _show(request, kind, "the two passwords are not the same; type them again.", 422)
    if not token:
        return _show(request, kind, "this page needs the whole link from your e-mail (with the "
                     "part after '#'); open the link again.", 422)
    try:
        with service_of(request).store.transaction() as session:
            accounts.redeem_link(session, token, password=password)
    except (AccountError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        return _show(request, kind, message, 422)
    return go("/sign-in", done="password")


@router.post("/welcome")
def welcome(request: Request, token: str = Form("", max_length=200),
            password: str = Form("", max_length=1024), again: str = Form("", max_length=1024),
            _: None = Depends(public("a one-time link is the credential"))) -> Any:
    return _redeem(request, "welcome", token, password, again)


@router.post("/reset")
def reset(request: Request, token: str = Form("", max_length=200),
          password: str = Form("", max_length=1024), again: str = Form("", max_length=1024),
          _: None = Depends(public("a one-time link is the credential"))) -> Any:
    return _redeem(request, "reset", token, password, again)
