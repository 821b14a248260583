"""Creating a workspace: the directory that holds a topic's store.

::

    WORKSPACE/
      ipdrepo.toml          settings (topic, database URL when not the default SQLite file)
      store.sqlite          the database (unless a PostgreSQL URL is configured)
      objects/sha256/..     raw deliveries, byte for byte, read-only
      keys/pseudonym.key    the repository secret (mode 0600; keep it out of backups of the
                            data and out of git; IPDREPO_SECRET_FILE can point elsewhere)

:func:`init_workspace` is all or nothing: if any step fails, what it created is removed. The
person creating the workspace becomes its first curator (see :mod:`repository.roles`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from repository import audit, db
from repository.errors import AlreadyExists, ConfigError
from repository.models import Topic
from repository.pseudonyms import create_secret
from repository.roles import add_user
from repository.settings import WORKSPACE_FILE, Settings, load_settings

__all__ = ["init_workspace", "InitResult", "SLUG_PATTERN"]

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

    def to_dict(self) -> dict[str, object]:
        return {"workspace": str(self.settings.workspace), "topic": self.topic,
                "database_url": _redact(self.settings.database_url),
                "secret_file": str(self.settings.secret_file),
                "dictionary": str(self.settings.dictionary_dir),
                "created_secret": self.created_secret}


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_workspace(directory: Path, *, topic: str, title: str | None = None,
                   description: str | None = None, database_url: str | None = None,
                   dictionary: Path | None = None, actor: str | None = None) -> InitResult:
    """Create a workspace with an empty store holding one topic."""
    if not SLUG_PATTERN.match(topic):
        raise ConfigError(f"topic {topic!r} is not a valid slug: use 2-63 lower-case letters, "
                          "digits and hyphens, e.g. gastric-adjuvant.", topic=topic)
    directory = Path(directory).expanduser().resolve()
    if (directory / WORKSPACE_FILE).exists():
        raise AlreadyExists(f"{directory} is already an ipdrepo workspace; use it, or choose "
                            "another directory.", workspace=str(directory))
    created_dir = not directory.exists()
    created: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["[ipdrepo]", f"topic = {_toml_string(topic)}"]
        if database_url:
            lines.append(f"database_url = {_toml_string(database_url)}")
        if dictionary is not None:
            where = Path(dictionary).expanduser().resolve()
            # inside the workspace: relative, so that a copied workspace keeps its dictionary
            shown = where.relative_to(directory) if where.is_relative_to(directory) else where
            lines.append(f"dictionary = {_toml_string(str(shown))}")
        config = directory / WORKSPACE_FILE
        config.write_text("\n".join(lines) + "\n")
        created.append(config)
        settings = load_settings(directory, actor=actor)
        created_secret = False
        if not settings.secret_file.exists():
            create_secret(settings.secret_file)
            created.append(settings.secret_file)
            created_secret = True
        gitignore = directory / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text(_GITIGNORE)
            created.append(gitignore)
        settings.objects_dir.mkdir(exist_ok=True)
        is_sqlite = settings.database_url.startswith("sqlite")
        sqlite_file = directory / "store.sqlite"
        if is_sqlite and not sqlite_file.exists():
            created.extend([sqlite_file, directory / "store.sqlite-wal",
                            directory / "store.sqlite-shm"])
        engine = db.make_engine(settings.database_url)
        try:
            db.upgrade(engine)
            with engine.begin() as conn:
                from sqlalchemy.orm import Session

                with Session(conn) as session:
                    if session.scalar(select(Topic).where(Topic.slug == topic)) is not None:
                        raise AlreadyExists(
                            f"the database already holds topic {topic!r}; point this workspace "
                            "at it with IPDREPO_DATABASE_URL instead of initialising again.",
                            topic=topic)
                    row = Topic(slug=topic, title=title or topic, description=description)
                    session.add(row)
                    session.flush()
                    from repository.models import User

                    if session.scalar(select(User).where(User.name == settings.actor)) is None:
                        add_user(session, name=settings.actor, role="curator", by=None,
                                 topic=topic)
                    audit.append(session, actor=settings.actor, action="topic.create",
                                 topic=topic, entity_type="topic", entity_id=row.id,
                                 details={"title": row.title, "workspace": str(directory)})
                    session.commit()
        finally:
            engine.dispose()
    except BaseException:
        for path in reversed(created):
            path.unlink(missing_ok=True)
        if (directory / "objects").is_dir() and not any((directory / "objects").iterdir()):
            (directory / "objects").rmdir()
        if (directory / "keys").is_dir() and not any((directory / "keys").iterdir()):
            (directory / "keys").rmdir()
        if created_dir and directory.exists() and not any(directory.iterdir()):
            shutil.rmtree(directory)
        raise
    return InitResult(settings=settings, topic=topic, created_secret=created_secret)
