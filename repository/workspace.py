"""Creating a workspace: the directory that holds a topic's store.

::

    WORKSPACE/              mode 0700: nothing in it is readable by other users
      ipdrepo.toml          settings (topic, database URL without its password, dictionary)
      store.sqlite          the database (unless a PostgreSQL URL is configured), mode 0600
      objects/sha256/..     raw deliveries, byte for byte, read-only for the owner (0400)
      keys/pseudonym.key    the repository secret (mode 0600; keep it out of backups of the
                            data and out of git; IPDREPO_SECRET_FILE can point elsewhere)
      keys/audit.key        the key of the audit chain (mode 0600); keep it where the database's
                            users cannot write, e.g. on the curators' server only
                            (IPDREPO_AUDIT_KEY_FILE can point elsewhere)

Files are created 0600 and directories 0700 whatever the umask; ``ipdrepo`` commands also run
under the ``umask`` setting (077) so reports and exports they write are private too. A database
password is never written to ``ipdrepo.toml``: give it in ``IPDREPO_DATABASE_URL``,
``PGPASSWORD`` or a ``~/.pgpass`` file (mode 0600).

:func:`init_workspace` is all or nothing: if any step fails, what it created is removed. The
person creating the workspace becomes its first curator (see :mod:`repository.roles`).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from repository import audit, db
from repository.errors import AlreadyExists, ConfigError
from repository.models import AuditHead, Topic, User
from repository.names import check_name, check_text
from repository.objects import private_dir
from repository.pseudonyms import create_secret
from repository.roles import add_user
from repository.settings import WORKSPACE_FILE, Settings, load_settings

__all__ = ["init_workspace", "rekey_workspace", "InitResult", "SLUG_PATTERN", "without_password",
           "url_password"]

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")

_GITIGNORE = """# ipdrepo workspace: never commit the secret or the raw deliveries
keys/
objects/
store.sqlite*
"""


@dataclass(frozen=True)
class InitResult:
    settings: Settings
    topic: str
    created_secret: bool
    #: what the curator should know but that does not stop the workspace (e.g. no dictionary)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"workspace": str(self.settings.workspace), "topic": self.topic,
                "database_url": _redact(self.settings.database_url),
                "secret_file": str(self.settings.secret_file),
                "dictionary": str(self.settings.dictionary_dir),
                "created_secret": self.created_secret, "warnings": list(self.warnings)}


def _dictionary_warnings(where: Path | None) -> tuple[str, ...]:
    if where is None:
        return ()
    if not where.is_dir():
        return (f"the dictionary directory {where} does not exist: put the topic's "
                "dictionary.yaml and mappings/ there (or set `dictionary` in ipdrepo.toml) "
                "before `ipdrepo harmonise` or `ipdrepo validate`.",)
    if not (where / "dictionary.yaml").is_file():
        return (f"the dictionary directory {where} has no dictionary.yaml: add the topic's "
                "dictionary there before `ipdrepo harmonise` or `ipdrepo validate`.",)
    return ()


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def url_password(url: str) -> str | None:
    """The password in a database URL, if it carries one."""
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def without_password(url: str) -> str:
    """``url`` with its password removed (the form that may be written to ipdrepo.toml)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {_redact(url)!r} is not valid ({exc}); e.g. "
                          "postgresql+psycopg://curator@dbhost/gastric.") from exc
    if parsed.password is None:
        return url
    return parsed._replace(password=None).render_as_string(hide_password=False)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _config_text(directory: Path, topic: str, database_url: str | None,
                 dictionary: Path | None) -> str:
    lines = ["[ipdrepo]", f"topic = {_toml_string(topic)}"]
    if database_url:
        lines.append(f"database_url = {_toml_string(without_password(database_url))}")
    if dictionary is not None:
        where = Path(dictionary).expanduser().resolve()
        # inside the workspace: relative, so that a copied workspace keeps its dictionary
        shown = where.relative_to(directory) if where.is_relative_to(directory) else where
        lines.append(f"dictionary = {_toml_string(str(shown))}")
    return "\n".join(lines) + "\n"


def _check_names(topic: str, title: str | None, description: str | None,
                 actor: str | None) -> None:
    check_name(topic, what="topic", pattern=SLUG_PATTERN,
               rule="a slug of 2-63 lower-case letters, digits and hyphens, e.g. "
                    "gastric-adjuvant")
    if title is not None:
        check_name(title, what="topic title")
    if description is not None:
        check_text(description, what="topic description")
    if actor is not None:
        check_name(actor, what="user name")


def init_workspace(directory: Path, *, topic: str, title: str | None = None,
                   description: str | None = None, database_url: str | None = None,
                   dictionary: Path | None = None, actor: str | None = None) -> InitResult:
    """Create a workspace with an empty store holding one topic (all or nothing)."""
    _check_names(topic, title, description, actor)
    directory = Path(directory).expanduser().resolve()
    if (directory / WORKSPACE_FILE).exists():
        raise AlreadyExists(f"{directory} is already an ipdrepo workspace; use it, or choose "
                            "another directory.", workspace=str(directory))
    created_dir = not directory.exists()
    created: list[Path] = []
    try:
        private_dir(directory)
        config = directory / WORKSPACE_FILE
        _private_file(config, _config_text(directory, topic, database_url, dictionary))
        created.append(config)
        settings = load_settings(directory, actor=actor)
        check_name(settings.actor, what="user name")
        url = database_url or settings.database_url
        created_secret = False
        if not settings.secret_file.exists():
            create_secret(settings.secret_file)
            created.append(settings.secret_file)
            created_secret = True
        gitignore = directory / ".gitignore"
        if not gitignore.exists():
            _private_file(gitignore, _GITIGNORE)
            created.append(gitignore)
        private_dir(settings.objects_dir)
        sqlite_file = directory / "store.sqlite"
        if url.startswith("sqlite") and not sqlite_file.exists():
            created.extend([sqlite_file, directory / "store.sqlite-wal",
                            directory / "store.sqlite-shm"])
            if url == f"sqlite:///{sqlite_file}":
                # SQLite gives its -wal and -shm files the mode of the database file
                _private_file(sqlite_file, "")
        _create_store(settings, url, topic=topic, title=title, description=description,
                      directory=directory, created=created)
    except BaseException:
        for path in reversed(created):
            path.unlink(missing_ok=True)
        for sub in ("objects", "keys"):
            if (directory / sub).is_dir() and not any((directory / sub).iterdir()):
                (directory / sub).rmdir()
        if created_dir and directory.exists() and not any(directory.iterdir()):
            shutil.rmtree(directory)
        raise
    return InitResult(settings=settings, topic=topic, created_secret=created_secret,
                      warnings=_dictionary_warnings(settings.dictionary_dir))


def _audit_key(session: Session, settings: Settings, created: list[Path]) -> audit.AuditKeyFile:
    """The workspace's audit key file; a new key when the database has no keyed chain yet."""
    keyfile = audit.AuditKeyFile(settings.audit_key_file)
    head = session.get(AuditHead, 1)
    if keyfile.exists():
        return keyfile
    if head is not None and head.key_id is not None:
        raise ConfigError(
            f"this database's audit chain is keyed (key id {head.key_id}) but "
            f"{keyfile.path} does not exist: copy the audit key of the workspace that made the "
            "store here, or set IPDREPO_AUDIT_KEY_FILE to it.", file=str(keyfile.path))
    if head is not None and head.seq > 0:
        raise ConfigError(
            "this database's audit chain is still unkeyed (made by an earlier ipdrepo); run "
            "`ipdrepo db upgrade` in the workspace that uses it first.")
    keyfile.create()
    created.append(keyfile.path)
    return keyfile


def _create_store(settings: Settings, url: str, *, topic: str, title: str | None,
                  description: str | None, directory: Path, created: list[Path]) -> None:
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn, Session(conn) as session:
            session.info[audit.KEY_INFO] = _audit_key(session, settings, created)
            if session.scalar(select(Topic).where(Topic.slug == topic)) is not None:
                raise AlreadyExists(
                    f"the database already holds topic {topic!r}; point this workspace "
                    "at it with IPDREPO_DATABASE_URL instead of initialising again.",
                    topic=topic)
            row = Topic(slug=topic, title=title or topic, description=description)
            session.add(row)
            session.flush()
            if session.scalar(select(User).where(User.name == settings.actor)) is None:
                add_user(session, name=settings.actor, role="curator", by=None, topic=topic)
            audit.append(session, actor=settings.actor, action="topic.create",
                         topic=topic, entity_type="topic", entity_id=row.id,
                         details={"title": row.title, "workspace": str(directory)})
            session.commit()
    finally:
        engine.dispose()


def rekey_workspace(settings: Settings, *, use_existing_key: bool = False) -> dict[str, Any]:
    """Key a store's audit chain made by an earlier ipdrepo (after ``alembic upgrade``).

    Creates the audit key file (0600) unless ``use_existing_key``, re-chains every plain
    SHA-256 event under it and records an ``audit.rekey`` event, in one transaction; on any
    failure the key file it created is removed again. Nothing to do when the chain is keyed.
    """
    from repository.store import Store

    with Store.open(settings) as store:
        keyfile = store.audit_key
        with store.reading() as session:
            head = session.get(AuditHead, 1)
            if head is not None and head.key_id is not None:
                return {"rekeyed": False, "key_id": head.key_id,
                        "key_file": str(keyfile.path), "events_rekeyed": 0}
        if keyfile.exists() and not use_existing_key:
            raise ConfigError(
                f"the audit chain is unkeyed but {keyfile.path} already exists. If an earlier "
                "`ipdrepo audit rekey` was interrupted, run it again with --use-existing-key; "
                "otherwise the chain may have been rewritten by someone without the key: "
                "restore the database from a backup.", file=str(keyfile.path))
        created = [] if keyfile.exists() else [keyfile.path]
        if created:
            keyfile.create()
        try:
            with store.transaction() as session:
                result = audit.rekey(session, actor=settings.actor)
        except BaseException:
            for path in created:
                path.unlink(missing_ok=True)
            raise
    return {"rekeyed": True, "key_file": str(keyfile.path), **result.to_dict()}
