"""Curators' pages: users (invite with a one-time link, reset link, unlock) and API tokens
(list, create for a user, revoke); the reports (topic overview and trial reports written by
``ipdrepo report``), the query dashboard and the PRISMA flow, linked together.

A report file is served only if it is one of those listed in the workspace's ``reports``
folder (no name a caller types reaches the file system), under a policy that lets its inline
style apply and runs no script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from repository.errors import IPDError, NotFound
from repository.roles import ROLES
from repository.service.policy import Principal, requires
from repository.service.web.common import render, service_of, store_for

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
#: reports are self-contained HTML with inline CSS and SVG and no script
_REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _users_page(request: Request, who: Principal, status: int = 200,
                **context: Any) -> HTMLResponse:
    from repository.roles import list_users
    from repository.service import tokens
    from repository.trials import visible_trials

    service = service_of(request)
    with service.store.reading() as session:
        users = list_users(session)
        all_tokens = tokens.list_tokens(session, by=who.name, all_users=True)
        trials = [t.acronym for t in visible_trials(session, service.store.topic(session),
                                                   actor=who.name)]
    context.setdefault("link", None)
    context.setdefault("new_token", None)
    context.setdefault("error", None)
    response = render(request, "users.html", who, users=users, tokens=all_tokens,
                      trials=trials, roles=ROLES, **context)
    response.status_code = status
    return response


@router.get("/users")
def users_page(request: Request, who: Principal = Depends(requires("users.manage"))
               ) -> HTMLResponse:
    return _users_page(request, who)


def _link(request: Request, link: Any) -> dict[str, str]:
    return {"user": link.user, "purpose": link.purpose,
            "url": link.url(service_of(request).config.public_url),
            "expires_at": link.expires_at.isoformat(timespec="minutes")}


def _act(request: Request, who: Principal, run: Any) -> HTMLResponse:
    try:
        return _users_page(request, who, **run())
    except (IPDError, ValueError) as exc:
        from repository.service.app import status_for

        if isinstance(exc, IPDError) and status_for(exc) in (401, 403):
            raise
        return _users_page(request, who, 422, error=getattr(exc, "message", str(exc)))


@router.post("/users")
def invite_page(request: Request, name: str = Form("", max_length=200),
                role: str = Form("", max_length=20), trial: str = Form("", max_length=64),
                email: str = Form("", max_length=200),
                who: Principal = Depends(requires("users.manage"))) -> HTMLResponse:
    """Invite a user: their one-time link is shown once (and e-mailed when mail is set up)."""
    from repository.service import accounts
    from repository.trials import get_trial

    def run() -> dict[str, Any]:
        service = service_of(request)
        with service.store.transaction() as session:
            topic = service.store.topic(session)
            row = get_trial(session, topic, trial) if trial else None
            link = accounts.invite(session, by=who.name, name=name.strip(), role=role,
                                   trial=row, email=email.strip() or None, topic=topic.slug,
                                   valid=service.config.invite_valid)
        made = _link(request, link)
        _notify_invitation(request, made, email.strip() or None, role, trial or None)
        return {"link": made}

    return _act(request, who, run)


def _notify_invitation(request: Request, link: dict[str, str], email: str | None, role: str,
                       trial: str | None) -> None:
    """E-mail the invitation when the service has SMTP settings."""
    from repository.service.notifications import send_invitation

    if email:
        send_invitation(service_of(request), to=email, user=link["user"], role=role,
                        trial=trial, url=link["url"], expires=link["expires_at"])


@router.post("/users/{name}/reset-link")
def reset_link_page(name: str, request: Request,
                    who: Principal = Depends(requires("users.manage"))) -> HTMLResponse:
    from repository.service import accounts

    def run() -> dict[str, Any]:
        service = service_of(request)
        with service.store.transaction() as session:
            link = accounts.reset_link(session, by=who.name, name=name,
                                       valid=service.config.reset_valid)
        return {"link": _link(request, link)}

    return _act(request, who, run)


@router.post("/users/{name}/unlock")
def unlock_page(name: str, request: Request,
                who: Principal = Depends(requires("users.manage"))) -> HTMLResponse:
    from repository.service import accounts

    def run() -> dict[str, Any]:
        with service_of(request).store.transaction() as session:
            accounts.unlock(session, by=who.name, name=name)
        return {"done": f"{name} may sign in again"}

    return _act(request, who, run)


@router.post("/users/{name}/tokens")
def token_page(name: str, request: Request, token_name: str = Form("", max_length=64),
               days: int = Form(90, ge=1, le=3650),
               who: Principal = Depends(requires("tokens.manage"))) -> HTMLResponse:
    """A new API token for a user (shown once; give it to them by a safe channel)."""
    from repository.service import tokens

    def run() -> dict[str, Any]:
        with service_of(request).store.transaction() as session:
            made = tokens.create_token(session, by=who.name, name=token_name.strip(),
                                       user=name, expires_days=days)
        return {"new_token": made.to_dict()}

    return _act(request, who, run)


@router.post("/users/{name}/tokens/{token_name}/revoke")
def revoke_page(name: str, token_name: str, request: Request,
                who: Principal = Depends(requires("tokens.manage"))) -> HTMLResponse:
    from repository.service import tokens

    def run() -> dict[str, Any]:
        with service_of(request).store.transaction() as session:
            tokens.revoke_token(session, by=who.name, name=token_name, user=name)
        return {"done": f"token {token_name} of {name} revoked"}

    return _act(request, who, run)


# --- reports ------------------------------------------------------------------------------------

def _report_files(request: Request) -> dict[str, Path]:
    folder = Path(service_of(request).store.settings.workspace) / "reports"
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.glob("*.html")) if p.is_file()}


@router.get("/reports")
def reports_page(request: Request, who: Principal = Depends(requires("harmonise.run"))
                 ) -> HTMLResponse:
    """The topic overview, trial reports, the query dashboard and the PRISMA flow."""
    files = _report_files(request)
    stamps = {name: datetime.fromtimestamp(p.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
              for name, p in files.items()}
    return render(request, "reports.html", who, files=stamps,
                  overview="index.html" in files)


@router.get("/reports/dashboard")
def dashboard_page(request: Request, who: Principal = Depends(requires("queries.manage"))
                   ) -> Response:
    """The query dashboard, made now."""
    from harmonise.queries.dashboard import dashboard_html
    from harmonise.queries.lifecycle import list_queries, query_to_dict

    store = store_for(request, who)
    with store.reading() as session:
        topic = store.topic(session)
        queries = [query_to_dict(session, q) for q in list_queries(session, topic,
                                                                  actor=who.name)]
        slug = topic.slug
    return _report(dashboard_html(slug, queries))


@router.get("/reports/prisma.svg")
def prisma_page(request: Request, who: Principal = Depends(requires("releases.read"))
                ) -> Response:
    """The PRISMA-IPD flow of the topic (from the latest release)."""
    from versions.prisma import prisma_flow

    svg = prisma_flow(store_for(request, who)).to_svg()
    return Response(svg, media_type="image/svg+xml",
                    headers={"Content-Security-Policy": _REPORT_CSP})


@router.get("/reports/files/{name}")
def report_file(name: str, request: Request,
                who: Principal = Depends(requires("harmonise.run"))) -> Response:
    """One report written by ``ipdrepo report`` (only a file listed in the reports folder)."""
    files = _report_files(request)
    if name not in files:
        raise NotFound(f"no report {name!r}; write the reports with `ipdrepo report`.",
                       report=name)
    return _report(files[name].read_text(encoding="utf-8"))


def _report(html: str) -> Response:
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": _REPORT_CSP})
