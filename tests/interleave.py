"""Force two transactions to interleave, on a real SQLite file or a real PostgreSQL server.

Two worker threads, each with its own engine, run the code under test. :class:`Interleave`
watches their SQL (SQLAlchemy cursor events) and holds each worker just after it has run the
*checkpoint* statement (e.g. "which delivery is current?") until the other worker has run it
too - the interleaving that loses an update when nothing serialises the two. When the code does
serialise them (a row lock, a write lock), the other worker cannot reach the checkpoint; the
held worker is then released as soon as the other is provably waiting for a lock the held one
owns:

* PostgreSQL: the server says so (``pg_blocking_pids`` of the other worker's backend names the
  held worker's backend), checked on a separate connection while the other is inside a
  statement;
* SQLite: the held worker has written in its open transaction (it owns the database's single
  write lock) and the other has started a write statement, which SQLite makes wait for it.

No sleeps decide anything: a worker goes on only when one of these conditions is true (the
PostgreSQL check is re-asked every few milliseconds while it is false). A worker that never
gets there fails the test after ``timeout`` seconds instead of hanging.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|BEGIN\s+IMMEDIATE|BEGIN\s+EXCLUSIVE)\b", re.I)


@dataclass
class _Worker:
    name: str
    at_checkpoint: bool = False
    done: bool = False
    in_statement: str | None = None
    backend_pid: int | None = None
    wrote: bool = False  # SQLite: holds the write lock (wrote in the open transaction)
    log: list[str] = field(default_factory=list)


class Interleave:
    def __init__(self, checkpoint: Callable[[str], bool], *, admin_url: str | None = None,
                 timeout: float = 60.0) -> None:
        self.checkpoint = checkpoint
        self.timeout = timeout
        self.workers: dict[str, _Worker] = {}
        self.cond = threading.Condition()
        self._admin: Engine | None = create_engine(admin_url) if admin_url else None
        self.reached: list[str] = []  # who went past the checkpoint, in order, and how

    def attach(self, name: str, engine: Engine) -> None:
        """Watch ``engine`` (used only by worker ``name``)."""
        worker = self.workers.setdefault(name, _Worker(name))
        postgres = engine.dialect.name == "postgresql"

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            with self.cond:
                worker.in_statement = statement
                if postgres:
                    worker.backend_pid = cursor.connection.info.backend_pid
                self.cond.notify_all()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            with self.cond:
                worker.in_statement = None
                worker.log.append(statement.split()[0].upper())
                if not postgres and _WRITE.match(statement):
                    worker.wrote = True
                first = self.checkpoint(statement) and not worker.at_checkpoint
                if first:
                    worker.at_checkpoint = True
                self.cond.notify_all()
            if first:
                self._hold(worker, postgres)

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def ended(conn: Any) -> None:
            with self.cond:
                worker.wrote = False
                self.cond.notify_all()

    def finished(self, name: str) -> None:
        with self.cond:
            self.workers[name].done = True
            self.cond.notify_all()

    def _other(self, worker: _Worker) -> _Worker:
        (other,) = [w for w in self.workers.values() if w is not worker]
        return other

    def _blocked_by(self, other: _Worker, worker: _Worker, postgres: bool) -> bool:
        statement = other.in_statement
        if statement is None:
            return False
        if not postgres:
            return worker.wrote and bool(_WRITE.match(statement))
        assert self._admin is not None and other.backend_pid and worker.backend_pid
        with self._admin.connect() as conn:
            blockers = conn.execute(text("SELECT pg_blocking_pids(:pid)"),
                                    {"pid": other.backend_pid}).scalar_one()
        return worker.backend_pid in blockers

    def _hold(self, worker: _Worker, postgres: bool) -> None:
        other = self._other(worker)
        deadline = time.monotonic() + self.timeout
        with self.cond:
            while True:
                if other.at_checkpoint or other.done:
                    self.reached.append(f"{worker.name}: both at the checkpoint")
                    return
                if self._blocked_by(other, worker, postgres):
                    self.reached.append(f"{worker.name}: {other.name} waits for its lock")
                    return
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"{worker.name} waited {self.timeout:.0f} s at the checkpoint for "
                        f"{other.name} (last statement {other.in_statement!r}, log "
                        f"{other.log[-5:]})")
                # PostgreSQL: ask the server again shortly; otherwise an event wakes us
                self.cond.wait(0.005 if postgres and other.in_statement else 1.0)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()


def run_both(interleave: Interleave, jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run the two jobs in threads; each job's result, or the exception it raised."""
    results: dict[str, Any] = {}

    def run(name: str, job: Callable[[], Any]) -> None:
        try:
            results[name] = job()
        except BaseException as exc:  # reported to the test, which asserts on it
            results[name] = exc
        finally:
            interleave.finished(name)

    threads = [threading.Thread(target=run, args=(n, j), name=n) for n, j in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(interleave.timeout * 2)
        assert not t.is_alive(), f"{t.name} is still running"
    return results


def race(lookup: Callable[[str], bool], stores: dict[str, Any],
         job: Callable[[str, Any], Any]) -> tuple[dict[str, Any], list[str]]:
    """Run ``job(name, store)`` for each of the two stores (opened on one database) in its own
    thread, interleaved at the first statement ``lookup`` matches; close the stores, assert
    neither job raised, and return each job's result with the checkpoints reached."""
    url = next(iter(stores.values())).settings.database_url
    interleave = Interleave(lookup, admin_url=url if url.startswith("postgresql") else None)
    for name, s in stores.items():
        interleave.attach(name, s.engine)
    try:
        results = run_both(interleave, {name: (lambda n=name, s=s: job(n, s))
                                        for name, s in stores.items()})
    finally:
        for s in stores.values():
            s.close()
        interleave.close()
    errors = {n: r for n, r in results.items() if isinstance(r, BaseException)}
    assert not errors, errors
    return results, interleave.reached
