"""The store: a workspace's database, object store, pseudonym secret and audit key, opened from
:class:`Settings`.

Library functions take a :class:`Store` (for files and the secret) and run their writes in
:meth:`Store.transaction`, so a failure leaves the database as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from repository import db
from repository.audit import KEY_INFO, AuditKeyFile
from repository.errors import ConfigError, NotFound, StoreError
from repository.models import Topic
from repository.objects import open_object_store
from repository.pseudonyms import Pseudonymiser, load_secret
from repository.settings import Settings

__all__ = ["Store", "open_store"]


class Store:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.audit_key = AuditKeyFile(settings.audit_key_file)
        # every session carries the audit key file, so that audit.append can key its events
        self.sessions = sessionmaker(engine, expire_on_commit=False,
                                     info={KEY_INFO: self.audit_key})
        self.objects = open_object_store(settings)

    @classmethod
    def open(cls, settings: Settings, *, check_schema: bool = True) -> Store:
        engine = db.make_engine(settings.database_url)
        store = cls(settings, engine)
        if check_schema:
            store.check_schema()
        return store

    def check_schema(self) -> None:
        try:
            current = db.current_revision(self.engine)
        except Exception as exc:
            raise StoreError(f"cannot open the store database ({self.engine.url!r}): {exc}; "
                             "check the database URL and that the server is running.",
                             url=str(self.engine.url)) from exc
        head = db.SCHEMA_HEAD
        if current is None:
            raise StoreError(f"the database {self.engine.url!r} has no ipdrepo schema; create "
                             "the workspace with `ipdrepo init`.", url=str(self.engine.url))
        if current != head:
            raise StoreError(f"the database schema is at revision {current} but this ipdrepo "
                             f"needs {head}; run `ipdrepo db upgrade` (back up first).",
                             url=str(self.engine.url))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error."""
        with db.transaction(self.sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @cached_property
    def secret(self) -> bytes:
        return load_secret(self.settings.secret_file)

    def pseudonymiser(self, topic: str) -> Pseudonymiser:
        return Pseudonymiser(self.secret, topic)

    def topic(self, session: Session, slug: str | None = None) -> Topic:
        """The topic ``slug`` (default: the settings' topic, or the only one in the store)."""
        slug = slug or self.settings.topic
        if slug is not None:
            topic = session.scalar(select(Topic).where(Topic.slug == slug))
            if topic is None:
                known = session.scalars(select(Topic.slug)).all()
                raise NotFound(f"no topic {slug!r} in this store (topics: "
                               f"{', '.join(known) or 'none'}).", topic=slug)
            return topic
        topics = session.scalars(select(Topic).order_by(Topic.id)).all()
        if not topics:
            raise ConfigError("this store has no topic yet; create the workspace with "
                              "`ipdrepo init DIR --topic SLUG`.")
        if len(topics) > 1:
            raise ConfigError("this store holds several topics ("
                              f"{', '.join(t.slug for t in topics)}); choose one with --topic or "
                              "IPDREPO_TOPIC.")
        return topics[0]

    def as_actor(self, name: str) -> Store:
        """The same store (engine, objects, keys) acting as user ``name``: what the service
        hands the library for an authenticated user. Do not close it; close this one."""
        other = copy.copy(self)
        other.settings = self.settings.with_(actor=name)
        return other

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(settings: Settings) -> Store:
    return Store.open(settings)
