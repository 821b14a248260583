"""Server-rendered pages (Jinja2, autoescaped), sharing the API's sessions, policy and CSRF.

The pages of the web interface are added here: each page route declares its action with
:func:`repository.service.policy.requires` like an API route; forms that change data carry the
session's CSRF token in a hidden ``csrf_token`` field (``{{ csrf_field() }}``). A page asked for
without a session redirects to the sign-in page.

Sign-in itself is protected against login CSRF by a double-submit value: the form carries the
value of a short-lived cookie set when the form was shown.

A one-time link opens ``/welcome#TOKEN`` (an invitation) or ``/reset#TOKEN`` (a password
reset): the token is the credential, and it travels in the address's fragment, which browsers
never send to a server, a Referer or a proxy's log; ``/static/pages.js``
(:mod:`repository.service.web.assets`, allowed by the pages' ``script-src 'self'``) copies it
into the form and removes it from the address bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from markupsafe import Markup, escape

from repository.errors import AccountError, AuthenticationFailed
from repository.service import sessions
from repository.service.policy import Principal, public, requires
from repository.service.secret_tokens import new_secret, same

__all__ = ["router", "templates", "render"]

router = APIRouter(include_in_schema=False)



def _environment() -> Environment:
    """The pages' templates, which extend the reports' frame (``page.html.j2``)."""
    from repository.html import TEMPLATES, stylesheet

    env = Environment(loader=ChoiceLoader([
        FileSystemLoader(str(Path(__file__).parent / "templates")),
        FileSystemLoader(str(TEMPLATES))]), autoescape=True)
    env.globals["stylesheet"] = stylesheet
    return env


templates = Jinja2Templates(env=_environment())
_SIGN_IN_COOKIE = "ipdrepo-sign-in"
#: the pages one-time links open: path -> (heading, button)
_LINK_PAGES = {"/welcome": ("Welcome: choose your password", "Set my password"),
               "/reset": ("Choose a new password", "Set my new password")}


def render(request: Request, name: str, who: Principal | None = None,
           **context: Any) -> HTMLResponse:
    """Render template ``name``; ``csrf_field()`` in it writes the session's CSRF field."""
    token = who.csrf_token if who is not None else context.get("form_token")

    def csrf_field() -> Markup:
        return Markup(f'<input type="hidden" name="csrf_token" value="{escape(token or "")}">')

    return templates.TemplateResponse(request, name, {"who": who, "csrf_field": csrf_field,
                                                      **context})


@router.get("/sign-in")
def sign_in_page(request: Request, _: None = Depends(public("the sign-in page"))
                 ) -> HTMLResponse:
    form_token = new_secret()
    response = render(request, "sign_in.html", form_token=form_token, error=None)
    service = request.app.state.service
    response.set_cookie(_SIGN_IN_COOKIE, form_token, httponly=True,
                        secure=service.config.cookie_secure, samesite="strict", max_age=900)
    return response


@router.post("/sign-in")
def sign_in(request: Request, user: str = Form(max_length=200),
            password: str = Form(max_length=1024), code: str = Form("", max_length=12),
            csrf_token: str = Form(max_length=100),
            _: None = Depends(public("signing in needs no session"))) -> Any:
    from repository.models import User
    from repository.service.routes_auth import SignInBody, _sign_in

    service = request.app.state.service
    expected = request.cookies.get(_SIGN_IN_COOKIE, "")
    if not (expected and same(expected, csrf_token)):
        return render(request, "sign_in.html", form_token=expected or new_secret(),
                      error="The form has expired; please sign in again.")
    try:
        user_id = _sign_in(request, SignInBody(user=user, password=password, code=code or None))
    except AuthenticationFailed as exc:
        refused = render(request, "sign_in.html", form_token=expected, error=exc.message)
        refused.status_code = 429 if exc.context.get("reason") == "locked" else 401
        return refused
    with service.store.transaction() as session:
        row = session.get(User, user_id)
        new = sessions.start_session(session, row, service.config,
                                     previous=request.cookies.get(service.config.cookie_name))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(service.config.cookie_name, new.cookie, httponly=True,
                        secure=service.config.cookie_secure, samesite="lax", path="/",
                        max_age=int(service.config.session_max.total_seconds()))
    response.delete_cookie(_SIGN_IN_COOKIE)
    return response


def _link_page(request: Request, *, error: str | None = None, status: int = 200
               ) -> HTMLResponse:
    heading, button = _LINK_PAGES[request.url.path]
    response = render(request, "set_password.html", error=error, heading=heading,
                      button=button, action=request.url.path)
    response.status_code = status
    return response


@router.get("/welcome")
@router.get("/reset")
def link_page(request: Request, _: None = Depends(public("a one-time link is the credential"))
              ) -> HTMLResponse:
    """The page an invitation or password-reset link opens: choose a password."""
    return _link_page(request)


@router.post("/welcome")
@router.post("/reset")
def redeem_link(request: Request, token: str = Form("", max_length=200),
                password: str = Form("", max_length=1024), again: str = Form("", max_length=1024),
                _: None = Depends(public("a one-time link is the credential"))) -> Any:
    """Set the password with the link's token; then sign in."""
    from repository.service import accounts

    if password != again:
        return _link_page(request, status=422,
                          error="The two passwords are not the same; type them again.")
    if not token:
        return _link_page(request, status=422,
                          error="This page needs the whole link you were sent (with the part "
                                "after '#'); open the link again.")
    try:
        with request.app.state.service.store.transaction() as session:
            accounts.redeem_link(session, token, password=password)
    except AccountError as exc:
        return _link_page(request, status=422, error=exc.message)
    return RedirectResponse("/sign-in?done=password", status_code=303)


@router.get("/")
def home(request: Request, who: Principal = Depends(requires("account.self"))) -> HTMLResponse:
    from repository.service.web.queries import waiting

    todo = waiting(request, who) if who.role == "trialist" else []
    return render(request, "home.html", who, waiting=todo)


@router.post("/sign-out")
def sign_out(request: Request, who: Principal = Depends(requires("account.self"))) -> Any:
    service = request.app.state.service
    if who.session_cookie:
        with service.store.transaction() as session:
            sessions.end_session(session, who.session_cookie)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(service.config.cookie_name, path="/")
    return response
