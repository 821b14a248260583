"""Database engine, sessions and migrations.

SQLite (a file in the workspace) by default; PostgreSQL via a ``postgresql+psycopg://`` URL.
Schema changes go through Alembic only (``repository/migrations``); :func:`upgrade` brings a
database to head and :func:`check_models_match` runs ``alembic check``. Opening a store only
compares the database's revision with :data:`SCHEMA_HEAD` (a test keeps it equal to the
migrations' head), so that everyday commands do not load Alembic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from repository.errors import StoreError
from repository.reasons import Reason

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "SCHEMA_HEAD",
    "make_engine",
    "alembic_config",
    "upgrade",
    "current_revision",
    "head_revision",
    "check_models_match",
    "transaction",
]

#: the revision of the newest migration (``repository/migrations/versions``); bump it with each
#: new migration (tests/repository/test_store.py checks it against Alembic's head)
SCHEMA_HEAD = "0011"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "repository:migrations")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` in one transaction."""
    from alembic import command

    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StoreError(f"cannot migrate the database at {engine.url!r}: {exc.orig}; check that "
                         "the server is reachable and the URL is right.",
                         url=str(engine.url)) from exc


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (Alembic's version table), None when it has none."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise StoreError(f"the database records several schema revisions ({', '.join(versions)}); "
                         "run `ipdrepo db upgrade`.", url=str(engine.url))
    return versions[0] if versions else None


def head_revision() -> str:
    """The newest revision of the migrations, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def check_models_match(engine: Engine) -> None:
    """``alembic check``: raise if the ORM models and the migrations disagree."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    session = factory()
    try:
        with session.begin():
            yield session
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StoreError(f"the store refused a write that conflicts with what it holds "
                         f"({reason}); nothing was changed. If someone else was changing the "
                         "same thing at the same moment, run the command again.",
                         reason=Reason.CONFLICT) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"the store refused a write ({type(exc).__name__}: {exc}); nothing was "
                         "changed.") from exc
    finally:
        session.close()
