"""The release data file: which rows, in which order, written how (pure functions).

A release's ``data.parquet`` is a pure function of its :class:`~versions.inputs.ReleaseInputs`
and the consent withdrawals recorded before it:

* rows of withdrawn participants are removed;
* columns are ``trial``, ``participant_id`` (both as pandas ``string``) and the dictionary
  variables in dictionary order;
* rows are sorted by ``trial`` then ``participant_id`` (stable sort, index dropped);
* the file is written by pyarrow with the fixed options of :data:`PARQUET_OPTIONS`, without
  timestamps. Its key-value metadata holds only the pandas schema (dtypes, so a frame reads
  back as it was written) and ``ipdrepo.release`` (topic, version, dictionary version).

The same inputs and software versions (recorded in the manifest) therefore give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from repository.errors import ReleaseError
from versions.inputs import KEY_COLUMNS, ReleaseInputs

__all__ = [
    "PARQUET_OPTIONS",
    "Withdrawn",
    "release_frame",
    "release_tables",
    "sort_order",
    "parquet_bytes",
    "read_parquet_bytes",
    "parquet_metadata",
    "sha256_hex",
]

#: fixed writer options: same frame, same bytes
PARQUET_OPTIONS: Mapping[str, Any] = {
    "compression": "zstd",
    "compression_level": 9,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 1_048_576,
    "write_page_index": False,
    "write_page_checksum": False,
}


@dataclass(frozen=True)
class Withdrawn:
    """One participant excluded by a consent withdrawal (repository pseudonym)."""

    trial: str
    participant: str
    recorded_on: str

    def to_dict(self) -> dict[str, str]:
        return {"trial": self.trial, "participant": self.participant,
                "recorded_on": self.recorded_on}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def release_frame(inputs: ReleaseInputs,
                  withdrawn: Iterable[Withdrawn] = ()) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows and columns a release holds, and the records removed per trial by withdrawals.

    Raises :class:`ReleaseError` (listing every problem) when the inputs cannot be released.
    """
    inputs.validate()
    frame = inputs.frame.loc[:, list(inputs.columns)].reset_index(drop=True)
    for key in KEY_COLUMNS:  # the row key is text, whatever dtype the pipeline gave it
        frame[key] = frame[key].astype("string")
    removed: dict[str, int] = {}
    gone = {(w.trial, w.participant) for w in withdrawn}
    if gone:
        keys = pd.MultiIndex.from_frame(frame[list(KEY_COLUMNS)].astype("string"))
        mask = keys.isin(list(gone))
        if mask.any():
            counts = frame.loc[mask, "trial"].astype("string").value_counts()
            removed = {str(t): int(n) for t, n in sorted(counts.items())}
            frame = frame.loc[~mask]
    frame = frame.reset_index(drop=True)
    return frame.take(sort_order(frame)).reset_index(drop=True), removed


def release_tables(inputs: ReleaseInputs,
                   withdrawn: Iterable[Withdrawn] = ()) -> dict[str, pd.DataFrame]:
    """The long tables a release holds: each with its columns in dictionary order, the rows of
    withdrawn participants removed, sorted by trial, participant_id and the table's key (a
    stable sort: rows without a key keep their order)."""
    gone = {(w.trial, w.participant) for w in withdrawn}
    out = {}
    for name in inputs.table_names:
        table = inputs.tables.get(name)
        if table is None:
            continue
        frame = table.loc[:, list(inputs.table_columns(name))].reset_index(drop=True)
        for key in KEY_COLUMNS:
            frame[key] = frame[key].astype("string")
        if gone and len(frame):
            keys = pd.MultiIndex.from_frame(frame[list(KEY_COLUMNS)])
            frame = frame.loc[~keys.isin(list(gone))].reset_index(drop=True)
        order = sort_order(frame, inputs.table_key(name))
        out[name] = frame.take(order).reset_index(drop=True)
    return out


def sort_order(frame: pd.DataFrame, extra: Iterable[str] = ()) -> Any:
    """Row positions sorting ``frame`` by ``trial`` then ``participant_id``: a stable sort in
    code-point (UTF-8 byte) order, done by Arrow."""
    keys = pa.table({k: pa.array(frame[k].astype("string"), type=pa.string())
                     for k in KEY_COLUMNS})
    names = list(KEY_COLUMNS)
    for k in extra:
        if k in frame.columns:
            keys = keys.append_column(k, pa.array(frame[k], from_pandas=True))
            names.append(k)
    return pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in names]).to_numpy()


def parquet_bytes(frame: pd.DataFrame, *, metadata: Mapping[str, Any] | None = None) -> bytes:
    """``frame`` as parquet bytes written with :data:`PARQUET_OPTIONS`.

    ``metadata`` goes into the file's key-value metadata as JSON under ``ipdrepo.*`` keys
    (``{"release": {...}}`` -> ``ipdrepo.release``).
    """
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        bad = _unwritable_columns(frame)
        raise ReleaseError(f"cannot write the release data as parquet: {exc}. Columns with "
                           f"mixed or unsupported values: {', '.join(bad) or 'unknown'}; give "
                           "them the dtype their dictionary type implies.",
                           columns=bad) from exc
    if metadata:
        existing = dict(table.schema.metadata or {})
        for key, value in sorted(metadata.items()):
            existing[f"ipdrepo.{key}".encode()] = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        table = table.replace_schema_metadata(existing)
    sink = io.BytesIO()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue()


def _unwritable_columns(frame: pd.DataFrame) -> list[str]:
    bad = []
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
            bad.append(str(name))
    return bad


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    """A frame from release or extract parquet bytes, with the dtypes it was written with.

    The bytes are already in memory, so no read-ahead: ``pre_buffer`` would start Arrow's I/O
    thread pool, whose threads can still be alive when a short script exits and then abort it
    ("terminate called without an active exception", apache/arrow#34314; seen once in the
    analyst's client test under load)."""
    return pq.read_table(pa.BufferReader(data), pre_buffer=False).to_pandas()


def parquet_metadata(data: bytes) -> dict[str, Any]:
    """The ``ipdrepo.*`` key-value metadata of parquet bytes, decoded from JSON."""
    meta = pq.read_schema(io.BytesIO(data)).metadata or {}
    out = {}
    for key, value in meta.items():
        name = key.decode()
        if name.startswith("ipdrepo."):
            out[name.removeprefix("ipdrepo.")] = json.loads(value.decode())
    return out
