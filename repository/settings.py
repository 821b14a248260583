"""Settings: one frozen object built at the edge (CLI, tests, notebooks) and passed in.

Every setting is declared once in :data:`REGISTRY` with its environment variable, default and
help text; the CLI help and the documentation are generated from it. Precedence, highest
first: explicit arguments, environment variables, the workspace's ``ipdrepo.toml``, defaults.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from repository.errors import ConfigError

__all__ = ["Setting", "REGISTRY", "Settings", "load_settings", "WORKSPACE_FILE", "find_workspace"]

WORKSPACE_FILE = "ipdrepo.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    help: str
    default: str | None = None


REGISTRY: tuple[Setting, ...] = (
    Setting("workspace", "IPDREPO_WORKSPACE",
            "Workspace directory (holds ipdrepo.toml, the SQLite store and raw deliveries).", "."),
    Setting("database_url", "IPDREPO_DATABASE_URL",
            "SQLAlchemy URL of the store; default a SQLite file in the workspace. "
            "Use postgresql+psycopg://user@host/db for a team server."),
    Setting("secret_file", "IPDREPO_SECRET_FILE",
            "File holding the repository secret used for keyed pseudonyms; kept outside the "
            "database. Default: <workspace>/keys/pseudonym.key (created by init, mode 0600)."),
    Setting("audit_key_file", "IPDREPO_AUDIT_KEY_FILE",
            "File holding the key of the audit chain (HMAC-SHA256), kept apart from the "
            "database so that whoever can write the database cannot rewrite the trail. "
            "Default: <workspace>/keys/audit.key (created by init or `ipdrepo audit rekey`, "
            "mode 0600)."),
    Setting("umask", "IPDREPO_UMASK",
            "File-creation mask of ipdrepo commands (octal): 077 makes every file and "
            "directory they write readable by their owner only; 027 lets the owner's group "
            "read them.", "077"),
    Setting("actor", "IPDREPO_USER",
            "Who is acting; recorded in the audit trail. Default: the login name."),
    Setting("topic", "IPDREPO_TOPIC",
            "Topic to act on when the store holds several. Default: the workspace's topic."),
    Setting("dictionary", "IPDREPO_DICTIONARY",
            "Directory holding the topic's dictionary.yaml and mappings/<version>/<TRIAL>.yaml. "
            "Relative paths are taken from the workspace. Default: <workspace>/dictionary."),
    Setting("object_store", "IPDREPO_OBJECT_STORE",
            "Where raw deliveries, uploads, extracts and data use agreements are kept: a "
            "directory, or s3://BUCKET/PREFIX for an S3-compatible store (AWS, MinIO; "
            "credentials from the usual AWS_* variables, never from ipdrepo.toml). Default: "
            "<workspace>/objects."),
    Setting("s3_endpoint_url", "IPDREPO_S3_ENDPOINT_URL",
            "Endpoint of an S3-compatible object store that is not AWS (e.g. MinIO: "
            "https://minio.example.org)."),
    # the service (ipdrepo serve)
    Setting("public_url", "IPDREPO_PUBLIC_URL",
            "The address users reach the server at (behind the reverse proxy); one-time "
            "links are made with it.", "http://127.0.0.1:8000"),
    Setting("cookie_secure", "IPDREPO_COOKIE_SECURE",
            "Send the session cookie over HTTPS only (true). Only for a server on "
            "http://127.0.0.1 in development or tests may it be false; the server then says "
            "so loudly at start.", "true"),
    Setting("session_idle_minutes", "IPDREPO_SESSION_IDLE_MINUTES",
            "A signed-in browser session ends after this many minutes without a request.",
            "30"),
    Setting("session_hours", "IPDREPO_SESSION_HOURS",
            "A browser session ends this many hours after sign-in, whatever its activity.",
            "12"),
    Setting("lockout_failures", "IPDREPO_LOCKOUT_FAILURES",
            "Failed sign-ins of one account (or 4x as many from one address) within the "
            "lockout window after which sign-in is refused until the window has passed.", "5"),
    Setting("lockout_minutes", "IPDREPO_LOCKOUT_MINUTES",
            "The lockout window, in minutes.", "15"),
    # e-mail notifications (invitations, questions sent, reminders, the curators' digest)
    Setting("smtp_host", "IPDREPO_SMTP_HOST",
            "SMTP server the service sends its e-mails through; unset: no e-mail is sent "
            "(links are shown on the pages instead)."),
    Setting("smtp_port", "IPDREPO_SMTP_PORT", "Port of the SMTP server.", "25"),
    Setting("smtp_starttls", "IPDREPO_SMTP_STARTTLS",
            "Switch the SMTP connection to TLS (STARTTLS) before sending (true/false).",
            "false"),
    Setting("smtp_user", "IPDREPO_SMTP_USER", "User name for the SMTP server, if it asks."),
    Setting("smtp_password", "IPDREPO_SMTP_PASSWORD",
            "Password for the SMTP server (keep it in the environment, not ipdrepo.toml)."),
    Setting("smtp_from", "IPDREPO_SMTP_FROM", "Sender address of the e-mails.",
            "ipdrepo@localhost"),
    Setting("reminder_days", "IPDREPO_REMINDER_DAYS",
            "A question sent to a trial and unanswered for this many days is overdue: "
            "reminders and the curators' digest list it.", "14"),
    # the clients (--server)
    Setting("server", "IPDREPO_SERVER",
            "URL of an ipdrepo server: commands that support it act through the server with "
            "your token instead of on a local workspace."),
    Setting("token", "IPDREPO_TOKEN",
            "API token for --server (else read from the credentials file)."),
    Setting("credentials_file", "IPDREPO_CREDENTIALS",
            "File holding {server: token} for --server, mode 0600 (a file others may read is "
            "refused). Default: ~/.config/ipdrepo/credentials.json."),
)

#: the settings :class:`Settings` holds itself; the others (the service's, the clients') are
#: read by their own modules from the environment and :attr:`Settings.extra`
_CORE = ("workspace", "database_url", "secret_file", "audit_key_file", "umask", "actor",
         "topic", "dictionary", "object_store", "s3_endpoint_url")


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one workspace."""

    workspace: Path
    database_url: str
    secret_file: Path
    actor: str
    topic: str | None = None
    dictionary_dir: Path | None = None
    audit_key_file: Path = Path("keys/audit.key")
    umask: int = 0o077
    #: None: the directory objects/ in the workspace; else a directory or s3://BUCKET/PREFIX
    object_store: str | None = None
    s3_endpoint_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def objects_dir(self) -> Path:
        """The object store's directory (when it is a directory)."""
        if self.object_store and not self.object_store.startswith("s3://"):
            return Path(self.object_store)
        return self.workspace / "objects"

    def setting(self, name: str, env: Mapping[str, str] | None = None) -> str | None:
        """A setting that :class:`Settings` does not hold itself (the service's): from the
        environment, else ``ipdrepo.toml``, else its default."""
        spec = next(s for s in REGISTRY if s.name == name)
        env = os.environ if env is None else env
        if env.get(spec.env):
            return env[spec.env]
        if self.extra.get(name) is not None:
            return str(self.extra[name])
        return spec.default

    @property
    def config_file(self) -> Path:
        return self.workspace / WORKSPACE_FILE

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def find_workspace(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding an ``ipdrepo.toml``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / WORKSPACE_FILE).is_file():
            return candidate
    return None


def _read_config(workspace: Path) -> dict[str, Any]:
    path = workspace / WORKSPACE_FILE
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or recreate it with "
                          "`ipdrepo init`.", file=str(path)) from exc
    section = data.get("ipdrepo", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [ipdrepo] must be a table.", file=str(path))
    return section


def load_settings(
    workspace: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    must_exist: bool = True,
    **overrides: Any,
) -> Settings:
    """Resolve settings for ``workspace`` (or ``IPDREPO_WORKSPACE``, or the current directory).

    With ``must_exist`` (the default) the workspace must already have been created by
    ``ipdrepo init``; the error says so.
    """
    env = os.environ if env is None else env
    raw = workspace if workspace is not None else env.get("IPDREPO_WORKSPACE")
    if raw is not None:
        ws = Path(raw).expanduser().resolve()
    else:
        ws = find_workspace(Path.cwd()) or Path.cwd().resolve()
    if must_exist and not (ws / WORKSPACE_FILE).is_file():
        raise ConfigError(
            f"{ws} is not an ipdrepo workspace (no {WORKSPACE_FILE}); create one with "
            f"`ipdrepo init {ws}` or point --workspace / IPDREPO_WORKSPACE at an existing one.",
            workspace=str(ws),
        )
    config = _read_config(ws)

    def pick(name: str, env_var: str) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        if env.get(env_var):
            return env[env_var]
        return config.get(name)

    database_url = pick("database_url", "IPDREPO_DATABASE_URL") or f"sqlite:///{ws / 'store.sqlite'}"
    secret = pick("secret_file", "IPDREPO_SECRET_FILE")
    secret_file = Path(secret).expanduser() if secret else ws / "keys" / "pseudonym.key"
    if not secret_file.is_absolute():
        secret_file = (ws / secret_file).resolve()
    audit_key = pick("audit_key_file", "IPDREPO_AUDIT_KEY_FILE")
    audit_key_file = Path(audit_key).expanduser() if audit_key else ws / "keys" / "audit.key"
    if not audit_key_file.is_absolute():
        audit_key_file = (ws / audit_key_file).resolve()
    umask = _umask(pick("umask", "IPDREPO_UMASK"))
    actor = pick("actor", "IPDREPO_USER") or _login_name()
    topic = pick("topic", "IPDREPO_TOPIC")
    dictionary = pick("dictionary", "IPDREPO_DICTIONARY")
    dictionary_dir = Path(dictionary).expanduser() if dictionary else ws / "dictionary"
    if not dictionary_dir.is_absolute():
        dictionary_dir = (ws / dictionary_dir).resolve()
    object_store = pick("object_store", "IPDREPO_OBJECT_STORE")
    if object_store and not str(object_store).startswith("s3://"):
        path = Path(object_store).expanduser()
        object_store = str(path if path.is_absolute() else (ws / path).resolve())
    extra = {k: v for k, v in config.items() if k not in _CORE}
    return Settings(workspace=ws, database_url=str(database_url), secret_file=secret_file,
                    actor=str(actor), topic=topic, dictionary_dir=dictionary_dir,
                    audit_key_file=audit_key_file, umask=umask,
                    object_store=str(object_store) if object_store else None,
                    s3_endpoint_url=pick("s3_endpoint_url", "IPDREPO_S3_ENDPOINT_URL"),
                    extra=extra)


def _umask(value: Any) -> int:
    if value is None or value == "":
        return 0o077
    text = str(value).strip()
    try:
        mask = int(text, 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777 or mask & 0o700:
        raise ConfigError(f"umask {text!r} is not an octal file-creation mask that keeps the "
                          "owner's access, e.g. 077 (owner only) or 027 (group may read).",
                          setting="umask", value=text)
    return mask


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
