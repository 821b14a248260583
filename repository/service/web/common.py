"""What every page module shares: the store as the caller, redirects with a notice, the
HTML error page, and reading form fields."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from repository.errors import IPDError, PermissionDenied
from repository.service.pages import render
from repository.service.policy import Principal

__all__ = ["store_for", "service_of", "go", "error_page", "render", "NOT_VISIBLE"]

#: what a page says for anything the caller may not see (the same for what does not exist)
NOT_VISIBLE = ("There is nothing at this address visible to you. It may not exist, or you may "
               "not have access to it.")


def service_of(request: Request) -> Any:
    return request.app.state.service


def store_for(request: Request, who: Principal) -> Any:
    """The store acting as the signed-in user (the library checks again)."""
    return service_of(request).store_for(who)


def go(path: str, **notice: str) -> RedirectResponse:
    """Redirect after a form (303), with e.g. ``done="answered"`` in the query string."""
    query = urlencode({k: v for k, v in notice.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def error_page(request: Request, error: IPDError, status: int) -> HTMLResponse:
    """A library error as a page (for browsers; API callers get JSON)."""
    if status == 404 and isinstance(error, PermissionDenied) or status == 404:
        title, message = "Not found", NOT_VISIBLE
    elif status == 403:
        title, message = "Not allowed", error.message
    elif status == 401:
        title, message = "Sign in first", error.message
    else:
        title, message = "That did not work", error.message
    response = render(request, "error.html", None, title=title, message=message)
    response.status_code = status
    return response
