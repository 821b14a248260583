"""What the question pages derive from a trial's raw deliveries, kept between requests.

A raw delivery never changes once stored (its bytes are addressed by their SHA-256), so what is
derived from it alone - the table as read, each column's rule for writing a corrected value,
the participants' pseudonyms and the pseudonym -> own ID map - is the same at every request.
The web pages used to recompute all of it for every question page and every answer (read and
hash the file, parse it, pseudonymise every ID): seconds per request for a large trial.

:class:`CachedDeliveries` is :class:`~harmonise.queries.workbook_view.Deliveries` backed by one
bounded, thread-safe, per-process cache keyed by the delivery's content hash and everything else
the derivation depends on (format, read options, ID column, stored column metadata; for
pseudonyms the topic, trial and a digest of the repository secret, never the secret itself).
The first read of a delivery goes through :func:`repository.deliveries.load_delivery`, which
hashes the stored bytes and refuses a file that changed; later reads reuse that verified
result. Nothing that depends on the database's state (corrections, answers) is cached.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from harmonise.queries.corrections import active_corrections, apply_corrections
from harmonise.queries.workbook_checks import ColumnRule, infer_column_rule
from harmonise.queries.workbook_view import Deliveries
from repository.deliveries import load_delivery, pseudonymised_ids
from repository.formats import ColumnInfo
from repository.models import Delivery
from repository.pseudonyms import normalise_raw_id
from repository.store import Store

__all__ = ["CachedDeliveries", "DerivedCache", "CACHE", "delivery_key"]

T = TypeVar("T")


class DerivedCache:
    """A small least-recently-used map, safe to share between the server's threads."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = make()  # outside the lock: two threads may both make it once
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


#: the process's cache (each server worker has its own)
CACHE = DerivedCache()


def delivery_key(delivery: Delivery) -> tuple[str, ...]:
    """Everything a table read from ``delivery`` depends on: its content hash and how it is
    read (format, read options, ID column, the column metadata recorded at ingest)."""
    how = json.dumps({"format": delivery.format, "options": delivery.read_options or {},
                      "id": delivery.id_column, "columns": delivery.columns},
                     sort_keys=True, default=str)
    return (delivery.sha256, hashlib.sha256(how.encode()).hexdigest())


class CachedDeliveries(Deliveries):
    """:class:`Deliveries` whose delivery-derived results come from :data:`CACHE`."""

    def __init__(self, store: Store, session: Any, trial: Any,
                 cache: DerivedCache | None = None) -> None:
        super().__init__(store, session, trial)
        self.cache = cache or CACHE
        secret = hashlib.sha256(b"ipdrepo derived-cache key\x00" + store.secret).hexdigest()
        self._who = (secret, trial.topic.slug, trial.acronym)

    def table(self, delivery: Delivery) -> Any:
        if delivery.id not in self.tables:
            self.tables[delivery.id] = self.cache.get(
                ("table", *delivery_key(delivery)), lambda: load_delivery(self.store, delivery))
        return self.tables[delivery.id]

    def pseudonyms(self, delivery: Delivery) -> tuple[str | None, ...]:
        """The pseudonym of each row's participant (None for a blank ID), in row order."""
        def make() -> tuple[str | None, ...]:
            raw = self.table(delivery).frame[delivery.id_column].tolist()
            return tuple(pseudonymised_ids(self.store, self._who[1], self._who[2], raw))

        return self.cache.get(("pseudonyms", *delivery_key(delivery), *self._who), make)

    def _own_ids(self, delivery: Delivery) -> dict[str, str]:
        def make() -> dict[str, str]:
            raw = self.table(delivery).frame[delivery.id_column].tolist()
            return {p: str(normalise_raw_id(r)) for r, p in zip(raw, self.pseudonyms(delivery))
                    if p is not None}

        return self.cache.get(("own", *delivery_key(delivery), *self._who), make)

    def own_id(self, pseudonym: str) -> str | None:
        if pseudonym in self.own_ids:
            return self.own_ids[pseudonym]
        for delivery in self.ordered:
            if delivery.id in self._mapped:
                continue
            self.own_ids.update(self._own_ids(delivery))
            self._mapped.add(delivery.id)
            if pseudonym in self.own_ids:
                break
        return self.own_ids.get(pseudonym)

    def now(self, delivery: Delivery) -> Any:
        if delivery.id not in self._now:
            frame = self.table(delivery).frame
            if delivery.is_current:
                frame, _ = apply_corrections(frame, list(self.pseudonyms(delivery)),
                                             active_corrections(self.session, self.trial))
            self._now[delivery.id] = frame
        return self._now[delivery.id]

    def rule(self, column: str, delivery: Delivery | None
             ) -> tuple[ColumnRule, ColumnInfo | None]:
        candidates = ([delivery] if delivery is not None else []) + \
            [d for d in self.ordered if d.is_current]
        found = next((d for d in candidates if any(c.get("name") == column for c in d.columns)),
                     None)
        if found is None:
            return infer_column_rule(column, None), None
        holder = found

        def make() -> tuple[ColumnRule, ColumnInfo | None]:
            table = self.table(holder)
            info = table.column(column)
            return infer_column_rule(column, table.frame[column], info), info

        return self.cache.get(("rule", *delivery_key(found), column), make)
