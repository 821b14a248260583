"""Ingesting an example trial's delivery as the registry (``topic.yaml``) describes it: one file,
or the several files of the trial that delivers baseline, visits and events
(:func:`repository.packages.ingest_package`, the long files keyed as the registry says)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ingest_trial"]


def ingest_trial(store: Any, example_dir: Path, trial: Mapping[str, Any], *,
                 allow_id_problems: str | None = None) -> Any:
    """Ingest ``trial``'s delivery (a ``trials`` entry of topic.yaml) from ``example_dir``."""
    from repository.deliveries import ingest
    from repository.packages import ingest_package

    d = trial["delivery"]
    received = dt.date.fromisoformat(str(d["received"])) if d.get("received") else None
    common: dict[str, Any] = dict(id_column=d["id_column"], received_from=d.get("delivered_by"),
                                  received_at=received, allow_id_problems=allow_id_problems)
    if d.get("datasets"):
        files = [Path(example_dir) / ds["file"] for ds in d["datasets"]]
        keys = {ds["name"]: list(ds["key"]) for ds in d["datasets"] if ds.get("key")}
        return ingest_package(store, trial["acronym"], files, keys=keys, **common)
    options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
    return ingest(store, trial["acronym"], Path(example_dir) / d["file"], format=d["format"],
                  read_options=options, **common)
