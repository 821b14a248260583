"""A trial's datasets as the mapping reads them: current deliveries, pivoted qualifiers, pseudonyms.

:func:`load_datasets` reads back, byte for byte from the store, the trial's current delivery of
every dataset a mapping reads (its base dataset and those under ``datasets:``), with each row's
pseudonym. A CDISC domain whose supplemental qualifiers were delivered too (``suppdm`` for
``dm``) gets them as columns (:func:`repository.cdisc.domains.pivot_supplemental`): the mapping
reads ``COMPLT16`` of ``dm`` as if the trial had put it there, labelled with its ``QLABEL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from repository.deliveries import load_delivery, pseudonymised_ids
from repository.errors import NotFound
from repository.formats import ColumnInfo, RawTable
from repository.models import Delivery, Trial
from repository.store import Store

__all__ = ["TrialDatasets", "load_datasets"]


@dataclass(eq=False)
class TrialDatasets:
    """The raw datasets of a trial (name -> table as read), each row's pseudonym, and the
    deliveries they came from."""

    tables: dict[str, RawTable] = field(default_factory=dict)
    pseudonyms: dict[str, list[str | None]] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    #: dataset -> the supplemental dataset pivoted onto it
    supplements: dict[str, str] = field(default_factory=dict)
    #: dataset -> (delivery id, sha256, ID column, row key), read while the session was open
    records: dict[str, tuple[int, str, str, tuple[str, ...] | None]] = field(default_factory=dict)

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: t.frame for k, t in self.tables.items()}


def _current(trial: Trial) -> dict[str, Delivery]:
    return {d.dataset: d for d in trial.deliveries if d.is_current}


def load_datasets(store: Store, topic: str, trial: Trial, names: Sequence[str]) -> TrialDatasets:
    """The trial's current deliveries of ``names`` (see the module docstring); a dataset the
    trial has not delivered raises :class:`NotFound` saying how to ingest it."""
    current = _current(trial)
    out = TrialDatasets()
    for name in dict.fromkeys(names):
        delivery = current.get(name)
        if delivery is None:
            raise NotFound(
                f"trial {trial.acronym} has no {name!r} dataset (its datasets: "
                f"{', '.join(sorted(current)) or 'none'}); ingest it with `ipdrepo ingest "
                f"{trial.acronym} FILE --dataset {name}` or with the other files of the "
                "delivery.", trial=trial.acronym, dataset=name)
        raw = load_delivery(store, delivery)
        supp = current.get(f"supp{name}")
        if supp is not None:
            raw = _with_supplement(store, out, name, raw, delivery, supp)
        out.tables[name] = raw
        out.deliveries[name] = delivery
        out.records[name] = (delivery.id, delivery.sha256, delivery.id_column,
                             None if delivery.row_key is None else tuple(delivery.row_key))
        if delivery.id_column:
            out.pseudonyms[name] = pseudonymised_ids(store, topic, trial.acronym,
                                                     raw.frame[delivery.id_column])
        else:
            out.pseudonyms[name] = [None] * len(raw.frame)
    return out


def _with_supplement(store: Store, out: TrialDatasets, name: str, raw: RawTable,
                     delivery: Delivery, supp: Delivery) -> RawTable:
    """``raw`` (dataset ``name``) with the qualifiers of its supplemental dataset ``supp``
    pivoted in as columns, recorded in ``out``; ``raw`` as it is when ``supp`` is not one.
    (The CDISC module is imported here: a trial without one does not load it.)"""
    from repository.cdisc.domains import is_supplemental, pivot_supplemental

    supp_raw = load_delivery(store, supp)
    if not is_supplemental(supp.dataset, list(supp_raw.frame.columns)):
        return raw
    frame, labels = pivot_supplemental(raw.frame, supp_raw.frame, parent_name=name,
                                       supp_name=supp.file_name, id_column=delivery.id_column)
    added = tuple(ColumnInfo(name=c, dtype="object", label=labels.get(c))
                  for c in frame.columns if c not in raw.frame.columns)
    out.supplements[name] = supp.dataset
    out.records[supp.dataset] = (supp.id, supp.sha256, supp.id_column,
                                 None if supp.row_key is None else tuple(supp.row_key))
    return RawTable(frame=frame, format=raw.format, columns=raw.columns + added,
                    read_options=raw.read_options)
