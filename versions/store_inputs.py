"""What a release is made from, built from the store by the harmonisation pipeline:
:func:`release_inputs`.

Every trial with a delivery is harmonised (delivery + mapping + active corrections), validated
and checked - without raising or closing any query - and pooled into the topic dataset; the
dictionary, each delivery's and mapping's hash, the corrections applied, the check summaries
and the open queries come along, as :class:`~versions.inputs.ReleaseInputs` documents. The
curator's decision to release stays separate from the checks: a release says what its data
still fail, it does not refuse them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from harmonise.pipeline.checking import check_trials
from harmonise.pipeline.harmonising import load_topic_dictionary, trials_with_data
from harmonise.queries.corrections import correction_to_dict
from repository.models import Correction, Delivery, Query, Trial
from repository.store import Store
from versions.inputs import ReleaseInputs

__all__ = ["release_inputs"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def release_inputs(store: Store, topic: str | None = None) -> ReleaseInputs:
    """:class:`~versions.inputs.ReleaseInputs` for the topic's current state (every trial with
    a delivery harmonised and checked; no query raised or closed)."""
    dictionary = load_topic_dictionary(store)
    runs = check_trials(store, trials_with_data(store), dictionary=dictionary,
                        raise_queries=False, write=False)
    frame = pd.concat([r.data.drop(columns=["_row"]) for r in runs], ignore_index=True)
    keys = ["trial", "participant_id"]
    frame = frame[keys + [c for c in frame.columns if c not in keys]]
    dictionary_dir = store.settings.dictionary_dir
    assert dictionary_dir is not None
    source = Path(dictionary.source) if dictionary.source else dictionary_dir / "dictionary.yaml"
    described = {**dictionary.to_dict(), "name": dictionary.topic, "sha256": _sha256(source)}
    ids = [r.inputs.delivery_id for r in runs] + [i for r in runs for _, i, _ in r.inputs.datasets]
    with store.reading() as session:
        names: dict[int, tuple[str, int]] = {i: (f, n) for i, f, n in session.execute(
            select(Delivery.id, Delivery.file_name, Delivery.n_rows).where(
                Delivery.id.in_(ids))).all()}
    deliveries, mappings = [], []
    for r in runs:
        if r.inputs.datasets:  # the trial delivered several datasets: each one is listed
            deliveries += [{"trial": r.trial, "dataset": name, "delivery_id": i,
                            "file_name": names[i][0], "sha256": sha, "rows": names[i][1]}
                           for name, i, sha in r.inputs.datasets]
            continue
        deliveries.append({"trial": r.trial, "delivery_id": r.inputs.delivery_id,
                           "file_name": names[r.inputs.delivery_id][0],
                           "sha256": r.inputs.delivery_sha256, "rows": r.harmonised.n_rows})
        path = Path(r.inputs.mapping_file)
        shown = path.relative_to(dictionary_dir) if path.is_relative_to(dictionary_dir) else path
        mappings.append({"trial": r.trial, "path": str(shown), "sha256": r.inputs.mapping_sha256,
                         "version": dictionary.version})
    integrity: Counter[str] = Counter()
    by_check: dict[str, Counter[str]] = {}
    for r in runs:
        for f in r.integrity:
            integrity[f.status] += 1
            by_check.setdefault(f.check, Counter())[f.status] += 1
    with store.reading() as session:
        topic_row = store.topic(session, topic)
        corrections = []
        for c, acronym in session.execute(
                select(Correction, Trial.acronym).join(Trial, Trial.id == Correction.trial_id)
                .where(Correction.topic_id == topic_row.id, Correction.status == "active")
                .order_by(Correction.id)):
            corrections.append(correction_to_dict(c, acronym))
        open_queries: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
            select(Trial.acronym, func.count()).join(Query, Query.trial_id == Trial.id)
            .where(Query.topic_id == topic_row.id,
                   Query.status.in_(["open", "reopened", "sent", "answered"]))
            .group_by(Trial.acronym)).all())
        accepted: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
            select(Trial.acronym, func.count()).join(Query, Query.trial_id == Trial.id)
            .where(Query.topic_id == topic_row.id, Query.status == "resolved",
                   Query.resolution == "confirmed_correct")
            .group_by(Trial.acronym)).all())
        slug = topic_row.slug
    checks = {
        "validation": {r.trial: {"rows": r.harmonised.n_rows,
                                 "failures": int(len(r.failures)),
                                 "confirmed_correct": int(accepted.get(r.trial, 0)),
                                 "mapping_problems": int(len(r.harmonised.problems))}
                       for r in runs},
        "integrity": {"by_status": dict(integrity),
                      "by_check": {k: dict(v) for k, v in sorted(by_check.items())},
                      "failed": {r.trial: [f.check for f in r.integrity if f.failed]
                                 for r in runs}},
        "open_queries": {t: int(n) for t, n in sorted(open_queries.items())},
    }
    tables = _long_tables(runs, dictionary.table_names[1:])
    if any(r.table_checks for r in runs):
        checks["tables"] = _table_checks(runs)
    return ReleaseInputs(topic=slug, frame=frame, dictionary=described,
                         deliveries=tuple(deliveries), mappings=tuple(mappings),
                         corrections=tuple(corrections), checks=checks, tables=tables)


def _long_tables(runs: Sequence[Any], names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Each long table: the trials' rows pooled (without the delivery row numbers)."""
    tables = {}
    for name in names:
        parts = [r.tables[name].data.drop(columns=["_row"]) for r in runs if name in r.tables]
        if parts:
            tables[name] = pd.concat(parts, ignore_index=True)
    return tables


def _table_checks(runs: Sequence[Any]) -> dict[str, Any]:
    return {r.trial: {n: {"rows": c.rows, "failures": int(len(c.failures)),
                          "failed": [f.check for f in c.integrity if f.failed]}
                      for n, c in r.table_checks.items()} for r in runs}
