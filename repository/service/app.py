"""The application factory of ``ipdrepo serve``: FastAPI on Starlette, served by uvicorn.

:func:`create_app` opens the store once (one connection pool per worker process; workers
share nothing but the database and the object store) and mounts the JSON API under
``/api/v1`` (its OpenAPI document at ``/api/v1/openapi.json``, for signed-in callers) and the
server-rendered pages (:mod:`repository.service.pages`). Library errors become JSON answers
``{"error": ..., "message": ...}`` with the status of :func:`status_for`; anything unexpected
is a 500 that shows no internals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from repository.errors import (
    AccountError,
    AlreadyExists,
    AuditError,
    AuthenticationFailed,
    DeliveryError,
    IPDError,
    LoginThrottled,
    NotFound,
    PermissionDenied,
    QueryError,
    RequestError,
    StoreError,
    ValidationFailed,
)
from repository.reasons import Reason
from repository.service.config import ServiceConfig
from repository.service.policy import Principal, requires
from repository.settings import Settings, load_settings
from repository.store import Store
from versions.reasons import Reason as VersionsReason

__all__ = ["Service", "create_app", "create_app_from_env", "status_for", "API"]

API = "/api/v1"
#: the modules of the JSON API, each with a ``router`` mounted under :data:`API`
ROUTE_MODULES = ("routes_auth", "routes_users", "routes_queries", "routes_deliveries",
                 "routes_releases", "routes_requests")
#: largest request body accepted (an upload); larger ones are refused before they are read
MAX_BODY = 512 * 2**20
log = logging.getLogger("ipdrepo.service")


@dataclass
class Service:
    """What every route reaches through ``request.app.state.service``."""

    store: Store
    config: ServiceConfig

    def store_for(self, who: Principal) -> Store:
        """The store acting as the authenticated caller (the library checks again)."""
        return self.store.as_actor(who.name)


#: (error class, the reasons it applies to (None: any), status), first match wins
_STATUSES: tuple[tuple[type[IPDError], tuple[str, ...] | None, int], ...] = (
    (LoginThrottled, None, 429),
    (AuthenticationFailed, None, 401),
    (PermissionDenied, (Reason.NOT_VISIBLE,), 404),
    (PermissionDenied, None, 403),
    (RequestError, (VersionsReason.EXPIRED, VersionsReason.NOT_APPROVED), 403),
    (NotFound, None, 404),
    (AlreadyExists, None, 409),
    (StoreError, (Reason.CONFLICT,), 409),
    (QueryError, (Reason.CONFLICT,), 409),  # someone changed the query meanwhile
    (AccountError, (Reason.CONFLICT,), 409),  # the password was changed meanwhile
    (DeliveryError, None, 422),
    (QueryError, (Reason.INVALID_ANSWER,), 422),
    (ValidationFailed, None, 422),
    (AuditError, None, 500),
    (StoreError, None, 500),
)


def status_for(error: IPDError) -> int:
    """The HTTP status of a library error (400 for any other, e.g. AccountError)."""
    reason = error.context.get("reason")
    for kind, reasons, status in _STATUSES:
        if isinstance(error, kind) and (reasons is None or reason in reasons):
            return status
    return 400


def _error_response(error: IPDError) -> JSONResponse:
    status = status_for(error)
    body = error.to_dict()
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="ipdrepo"'
    if status == 429:
        headers["Retry-After"] = str(int(error.context.get("retry_after", 60)))
    if status == 404 and isinstance(error, PermissionDenied):
        # the same answer as for something that does not exist: no actor, role or trial
        body = {"error": "NotFound", "message": error.message}
    return JSONResponse(body, status_code=status, headers=headers)


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
_PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _install_middleware(app: FastAPI, config: ServiceConfig) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"error": "TooLarge", "message": f"the request body is larger "
                                 f"than {MAX_BODY // 2**20} MiB."}, status_code=413)
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        api = request.url.path.startswith(API)
        response.headers.setdefault("Content-Security-Policy", _API_CSP if api else _PAGE_CSP)
        response.headers.setdefault("Cache-Control", "no-store")
        if config.cookie_secure:
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=63072000; includeSubDomains")
        return response


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(IPDError)
    async def ipd_error(request: Request, exc: IPDError) -> Response:
        if (isinstance(exc, AuthenticationFailed) and not isinstance(exc, LoginThrottled)
                and request.method == "GET" and not request.url.path.startswith(API)):
            return RedirectResponse("/sign-in", status_code=303)  # a page: sign in first
        if not request.url.path.startswith(API) and "text/html" in request.headers.get(
                "accept", ""):
            from repository.service.web.common import error_page

            return error_page(request, exc, status_for(exc))
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())),
                     "problem": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"error": "InvalidRequest", "message": "the request is not valid: "
                             + "; ".join(f"{p['where']}: {p['problem']}" for p in problems),
                             "problems": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse({"error": "InternalError", "message": "the server failed to answer "
                             "this request; the curators can find the details in its log."},
                            status_code=500)


#: modules the pages import lazily (the CLI must start fast), imported when a worker starts, so
#: that no one's first question page waits for them
_WARM = ("harmonise.queries.answering", "harmonise.queries.answers", "harmonise.queries.metrics",
         "harmonise.queries.assignment", "repository.attachments", "repository.roles")


def create_app(settings: Settings, *, config: ServiceConfig | None = None,
               store: Store | None = None) -> FastAPI:
    """The application over the store of ``settings``."""
    import importlib

    config = config or ServiceConfig.from_settings(settings)
    if config.insecure_warning:
        log.warning(config.insecure_warning)
    app = FastAPI(title="ipdrepo", version=_version(), openapi_url=None, docs_url=None,
                  redoc_url=None, description="The ipdrepo topic repository's API. Every route "
                  "needs a session (cookie + CSRF token) or an API token (Bearer).")
    app.state.service = Service(store=store or Store.open(settings), config=config)
    _install_middleware(app, config)
    _install_errors(app)
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"repository.service.{name}")
        app.include_router(module.router, prefix=API)
    app.include_router(importlib.import_module("repository.service.pages").router)
    app.include_router(importlib.import_module("repository.service.web").router)
    for name in _WARM:  # a worker loads what the pages use once, before the first request
        importlib.import_module(name)

    @app.get(f"{API}/openapi.json", include_in_schema=False)
    def openapi(who: Principal = Depends(requires("account.self"))) -> dict[str, Any]:
        """The OpenAPI document of this API (for signed-in callers)."""
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(title=app.title, version=app.version,
                                             description=app.description, routes=app.routes)
        return app.openapi_schema

    return app


def _version() -> str:
    from repository.software import version_of

    return version_of("ipdrepo", missing="0")


def create_app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker (``ipdrepo serve`` sets IPDREPO_WORKSPACE)."""
    return create_app(load_settings(os.environ.get("IPDREPO_WORKSPACE")))
