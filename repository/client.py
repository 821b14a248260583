"""The client of an ipdrepo server: what the ``--server`` commands and
``versions.load(..., server=URL)`` use. It needs no database, key or workspace: only the
server's URL and an API token.

The token comes from, in order: the ``token`` argument, ``IPDREPO_TOKEN``, or the credentials
file (``IPDREPO_CREDENTIALS``, default ``~/.config/ipdrepo/credentials.json``: a JSON object
``{server URL: token}``). The file must be readable by its owner only (mode 0600): one that
others may read is refused, as ssh refuses an open private key. ``ipdrepo login`` writes it.

Errors the server reports come back as the library's own exceptions (a 404 as NotFound, a
refusal as PermissionDenied ...) with the server's message.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repository import errors
from repository.errors import AuthenticationFailed, ConfigError, IPDError, ServiceError
from repository.reasons import Reason

__all__ = ["Client", "credentials_file", "find_token", "save_token", "forget_token"]

API = "/api/v1"


def credentials_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    given = env.get("IPDREPO_CREDENTIALS")
    return Path(given).expanduser() if given else Path.home() / ".config" / "ipdrepo" / \
        "credentials.json"


def _normalise(server: str) -> str:
    return server.rstrip("/")


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & 0o077:
        raise ConfigError(f"{path} may be read by other users (mode "
                          f"{stat.S_IMODE(info.st_mode):04o}); it holds API tokens. Make it "
                          f"private with `chmod 600 {path}` and try again.", file=str(path),
                          reason=Reason.OPEN_CREDENTIALS)
    if os.name == "posix" and info.st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user; it is not used.", file=str(path))
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not a JSON object of server -> token; remove it and run "
                          "`ipdrepo login` again.", file=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object of server -> token.", file=str(path))
    return {_normalise(str(k)): str(v) for k, v in data.items()}


def find_token(server: str, *, token: str | None = None,
               env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if token:
        return token
    if env.get("IPDREPO_TOKEN"):
        return env["IPDREPO_TOKEN"]
    path = credentials_file(env)
    found = _read_credentials(path).get(_normalise(server))
    if not found:
        raise AuthenticationFailed(f"no API token for {server}: sign in with `ipdrepo login "
                                   f"--server {server}` (stores one in {path}), or set "
                                   "IPDREPO_TOKEN.", reason=Reason.NO_CREDENTIALS)
    return found


def save_token(server: str, token: str, env: Mapping[str, str] | None = None) -> Path:
    """Keep ``token`` for ``server`` in the credentials file (created 0600, folder 0700)."""
    path = credentials_file(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = _read_credentials(path)
    data[_normalise(server)] = token
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def forget_token(server: str, env: Mapping[str, str] | None = None) -> bool:
    path = credentials_file(env)
    data = _read_credentials(path)
    if data.pop(_normalise(server), None) is None:
        return False
    save_all = path.with_name(f".{path.name}.tmp")
    fd = os.open(save_all, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(save_all, path)
    return True


def _error(response: Any) -> IPDError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "message" not in body:
        return ServiceError(f"the server answered {response.status_code} to "
                            f"{response.request.method} {response.request.url.path} with "
                            "something that is not ipdrepo's API; check the --server URL.",
                            status=response.status_code)
    name = str(body.get("error", ""))
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, IPDError)):
        cls = {401: AuthenticationFailed, 403: errors.PermissionDenied,
               404: errors.NotFound, 409: errors.AlreadyExists}.get(response.status_code,
                                                                   ServiceError)
    context = {k: v for k, v in body.items() if k not in ("error", "message")}
    return cls(str(body["message"]), status=response.status_code, **context)


class Client:
    """A session with one server, acting with one API token."""

    def __init__(self, server: str, *, token: str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 300.0) -> None:
        import httpx

        self.server = _normalise(server)
        if not self.server.startswith(("https://", "http://")):
            raise ConfigError(f"--server {server!r} must be an http(s):// URL.")
        self._token = find_token(self.server, token=token, env=env)
        self._http = httpx.Client(base_url=self.server, timeout=timeout,
                                  headers={"Authorization": f"Bearer {self._token}",
                                           "User-Agent": "ipdrepo-client"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response of ``method path`` (under /api/v1); raises the server's error."""
        import httpx

        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach the ipdrepo server at {self.server}: {exc}; "
                               "check the URL and your network.", server=self.server) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def get_bytes(self, path: str, **kwargs: Any) -> bytes:
        return bytes(self.request("GET", path, **kwargs).content)

    @staticmethod
    def sign_in(server: str, *, user: str, password: str, code: str | None, name: str,
                expires_days: int = 90) -> dict[str, Any]:
        """A new token for ``user`` (POST /auth/token), without a token yet."""
        import httpx

        server = _normalise(server)
        try:
            response = httpx.post(f"{server}{API}/auth/token", timeout=60, json={
                "user": user, "password": password, "code": code, "name": name,
                "expires_days": expires_days})
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach the ipdrepo server at {server}: {exc}.",
                               server=server) from exc
        if response.status_code >= 400:
            raise _error(response)
        return dict(response.json())
