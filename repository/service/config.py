"""The service's settings: one frozen object built at start from the settings registry
(:data:`repository.settings.REGISTRY`: environment, then ``ipdrepo.toml``, then defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from repository.errors import ConfigError
from repository.settings import Settings

__all__ = ["ServiceConfig", "LOOPBACK"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServiceConfig:
    public_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool = True
    session_idle: timedelta = timedelta(minutes=30)
    session_max: timedelta = timedelta(hours=12)
    lockout_failures: int = 5
    lockout_window: timedelta = timedelta(minutes=15)
    #: how long an invitation / a password-reset link may be used
    invite_valid: timedelta = timedelta(days=7)
    reset_valid: timedelta = timedelta(hours=2)

    @property
    def cookie_name(self) -> str:
        # the __Host- prefix makes browsers refuse the cookie unless Secure, Path=/, no Domain
        return "__Host-ipdrepo-session" if self.cookie_secure else "ipdrepo-session"

    @property
    def insecure_warning(self) -> str | None:
        if self.cookie_secure:
            return None
        return ("WARNING: session cookies are sent without the Secure flag "
                "(IPDREPO_COOKIE_SECURE=false). This is for a development or test server on "
                "http://127.0.0.1 only; never run a shared server like this.")

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None
                      ) -> ServiceConfig:
        def get(name: str) -> str:
            value = settings.setting(name, env)
            assert value is not None
            return value

        def number(name: str) -> int:
            text = get(name)
            try:
                value = int(text)
            except ValueError:
                value = 0
            if value <= 0:
                raise ConfigError(f"setting {name} must be a positive whole number, not "
                                  f"{text!r}.", setting=name, value=text)
            return value

        secure_text = get("cookie_secure").strip().lower()
        if secure_text not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"setting cookie_secure must be true or false, not "
                              f"{secure_text!r}.", setting="cookie_secure")
        secure = secure_text in ("true", "1", "yes")
        public_url = get("public_url").rstrip("/")
        host = urlsplit(public_url).hostname or ""
        if not secure and host not in LOOPBACK:
            raise ConfigError(
                f"cookie_secure is false but the public URL {public_url} is not on this "
                "machine: session cookies would travel in clear text. Serve over HTTPS (behind "
                "a reverse proxy, see docs/deployment.md) and leave cookie_secure true.",
                setting="cookie_secure")
        return cls(public_url=public_url, cookie_secure=secure,
                   session_idle=timedelta(minutes=number("session_idle_minutes")),
                   session_max=timedelta(hours=number("session_hours")),
                   lockout_failures=number("lockout_failures"),
                   lockout_window=timedelta(minutes=number("lockout_minutes")))
