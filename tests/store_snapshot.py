"""What a store holds, to show that a refused or failed operation changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from repository.models import load_all
from repository.store import Store


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the store holds: every row of every table and every object file."""
    out: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for table in load_all().sorted_tables:
            rows = conn.execute(text(f"SELECT * FROM {table.name} ORDER BY 1")).all()
            out[table.name] = [tuple(map(str, r)) for r in rows]
    root = store.objects.root
    out["objects"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return out
