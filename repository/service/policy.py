"""How a route declares what it does, and how that is enforced: the service's ``@requires``.

Every route of the application takes its caller from a dependency made by :func:`requires`::

    @router.get("/queries/{query_id}")
    def show(query_id: int, who: Principal = Depends(requires("queries.read",
                                                                query="query_id"))): ...

The dependency authenticates the caller (an ``Authorization: Bearer`` API token, or the
session cookie), requires the session's CSRF token on every state-changing call made with the
cookie, and checks the action against :data:`repository.roles.ACTIONS` - for a trialist also
the trial named by the route's ``trial`` parameter or owning its ``query``. The few routes that
need no credentials (signing in, redeeming a one-time link) declare :func:`public` with the
reason. ``tests/service/test_policy.py`` walks every route of the app and fails for a route
without a declaration, then calls each route as every role.

Refusals: no or bad credentials 401; a role that may not act 403; a trial or query the caller
may not see 404, worded exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from repository.errors import AuthenticationFailed, PermissionDenied
from repository.reasons import Reason
from repository.roles import ACTIONS, require
from repository.service import sessions, tokens
from repository.service.secret_tokens import same

__all__ = ["RoutePolicy", "Principal", "requires", "public", "policy_of", "routes_of",
           "CSRF_HEADER",
           "SAFE_METHODS"]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RoutePolicy:
    action: str | None
    trial: str | None = None
    query: str | None = None
    #: the parameter naming a data request (analysts: only those they are members of)
    request: str | None = None
    #: why the route needs no credentials (only for :func:`public` routes)
    public: str | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a route."""

    name: str
    role: str
    trial: str | None
    trial_id: int | None
    via: str  # "token" | "session"
    csrf_token: str | None = None
    session_cookie: str | None = None

    @property
    def sees_all(self) -> bool:
        return self.role == "curator"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("the Authorization header must be 'Bearer TOKEN'.",
                                   reason=Reason.BAD_HEADER)
    return value.strip()


def _authenticate(request: Request, session: Any, service: Any) -> Principal:
    token = _bearer(request)
    if token is not None:
        user = tokens.authenticate_token(session, token)
        if user is None:
            raise AuthenticationFailed("this API token is not valid: unknown, expired or "
                                       "revoked. Create a new one (`ipdrepo login` or "
                                       "`ipdrepo token create`).", reason=Reason.BAD_TOKEN)
        return _principal(session, user, via="token")
    cookie = request.cookies.get(service.config.cookie_name)
    if cookie:
        found = sessions.load_session(session, cookie, service.config)
        if found is not None:
            row, user = found
            return _principal(session, user, via="session", csrf=row.csrf_token,
                              cookie=cookie)
    raise AuthenticationFailed("sign in first, or send an API token (Authorization: Bearer "
                               "TOKEN).", reason=Reason.NO_CREDENTIALS)


def _principal(session: Any, user: Any, *, via: str, csrf: str | None = None,
               cookie: str | None = None) -> Principal:
    from repository.models import Trial

    trial = session.get(Trial, user.trial_id) if user.trial_id is not None else None
    return Principal(name=user.name, role=user.role, trial=trial.acronym if trial else None,
                     trial_id=user.trial_id, via=via, csrf_token=csrf, session_cookie=cookie)


def _check_csrf(request: Request, who: Principal, form_token: str | None) -> None:
    if who.via != "session" or request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not (who.csrf_token and given and same(given, who.csrf_token)):
        raise PermissionDenied("this request changes data but carries no valid CSRF token; "
                               f"send the session's token in the {CSRF_HEADER} header (from "
                               "GET /api/v1/auth/me) or the csrf_token form field.",
                               reason=Reason.CSRF)


def _check_policy(session: Any, who: Principal, policy: RoutePolicy,
                  request: Request) -> None:
    from repository.cli.access import _trial_of_query

    assert policy.action is not None
    require(session, who.name, policy.action)
    trial = _param(request, policy.trial)
    if trial is not None:
        require(session, who.name, policy.action, trial=trial)
    query = _param(request, policy.query)
    if query is not None:
        try:
            query_id = int(query)
        except ValueError:
            return  # FastAPI refuses the request as invalid input
        acting = require(session, who.name, policy.action)
        owner = _trial_of_query(session, acting, query_id)
        if owner is not None:
            require(session, who.name, policy.action, trial=owner)
    code = _param(request, policy.request)
    if code is not None and not who.sees_all:
        from versions.access import visible_request

        visible_request(session, request.app.state.service.store, code, actor=who.name,
                        action=policy.action)


def _param(request: Request, name: str | None) -> str | None:
    if name is None:
        return None
    value = request.path_params.get(name)
    if value is None:
        value = request.query_params.get(name)
    return None if value in (None, "") else str(value)


def _verify(request: Request, policy: RoutePolicy, form_token: str | None) -> Principal:
    service = request.app.state.service
    with service.store.transaction() as session:
        who = _authenticate(request, session, service)
        _check_csrf(request, who, form_token)
        _check_policy(session, who, policy, request)
    return who


def requires(action: str, *, trial: str | None = None, query: str | None = None,
             request: str | None = None) -> Callable[..., Any]:
    """The dependency of a route performing ``action`` (see the module docstring); ``trial``,
    ``query``, ``request``: the route parameter naming the trial, data query or data request
    acted on (a trialist: their own trial only; an analyst: their own requests only)."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not in repository.roles.ACTIONS")
    policy = RoutePolicy(action=action, trial=trial, query=query, request=request)

    async def caller(request: Request) -> Principal:
        form_token = None
        content_type = request.headers.get("content-type", "")
        if request.method not in SAFE_METHODS and (
                content_type.startswith("application/x-www-form-urlencoded")
                or content_type.startswith("multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            form_token = value if isinstance(value, str) else None
        return await run_in_threadpool(_verify, request, policy, form_token)

    caller.__ipdrepo_policy__ = policy  # type: ignore[attr-defined]
    return caller


def public(reason: str) -> Callable[..., Any]:
    """The dependency of a route anyone may call (it checks what it is given itself)."""
    policy = RoutePolicy(action=None, public=reason)

    def caller() -> None:
        return None

    caller.__ipdrepo_policy__ = policy  # type: ignore[attr-defined]
    return caller


def routes_of(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, route) of every route the app serves, included routers flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 keeps included routes in app.routes
        return [(m, r.path, r) for r in app.routes for m in sorted(getattr(r, "methods", ()))]
    return [(m, str(ctx.path), ctx.original_route)
            for ctx in iter_route_contexts(app.routes) for m in sorted(ctx.methods or ())]


def policy_of(route: Any) -> RoutePolicy | None:
    """The declared policy of a FastAPI route (its first dependency carrying one), or None."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop(0)
        found: RoutePolicy | None = getattr(dep.call, "__ipdrepo_policy__", None)
        if found is not None:
            return found
        stack.extend(dep.dependencies)
    return None
