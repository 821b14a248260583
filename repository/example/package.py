"""Writing the delivery of the trial that sends several files (baseline, visits, events).

``deliveries/<ACRONYM>/`` holds ``baseline<ext>``, ``visits<ext>`` and ``events<ext>`` in the
trial's own format; the registry's ``delivery`` names the directory as ``file`` and lists
``datasets`` (``name``, ``file``, ``rows``, ``key``: the columns identifying a row within a
participant); the codebook gains the same list under ``delivery.datasets`` and a ``tables``
section (per long table: ``dataset``, ``key``, ``columns``, ``variables`` with their rules).
The true long tables are ``truth/visits.parquet`` and ``truth/events.parquet``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repository.example.codings import EXTENSION, Coding
from repository.example.longtables import encode_tables, simulate_follow_up
from repository.example.topic import TABLE_VARIABLES, TrialSpec
from repository.example.writers import write_delivery

__all__ = ["Package", "TABLE_TRUTH", "table_truth_schema", "write_package"]

#: long table -> its truth file
TABLE_TRUTH = {"visits": "truth/visits.parquet", "events": "truth/events.parquet"}


@dataclass
class Package:
    """What :func:`write_package` wrote: the directory, its datasets and the true tables."""

    directory: str
    datasets: list[dict[str, Any]]
    truth: dict[str, pd.DataFrame]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_to(self, codebook: dict[str, Any]) -> None:
        """Add the package's datasets and long tables to the trial's codebook."""
        codebook["delivery"]["datasets"] = [dict(d) for d in self.datasets]
        codebook["tables"] = self.tables


def _column_entry(column: Any) -> dict[str, Any]:
    from repository.example.codebooks import column_entry

    return column_entry(column)


def write_package(spec: TrialSpec, coding: Coding, truth: pd.DataFrame, encoded: Any,
                  columns: list[Any], seed: int, directory: Path, *, label: str,
                  stamp: dt.datetime) -> Package:
    """Simulate the trial's visits and events from its truth, write the three files."""
    follow_up = simulate_follow_up(truth, seed, spec.index)
    tables = encode_tables(follow_up, id_column=encoded.id_values, order=encoded.order,
                           date_format=coding.dates)
    folder = f"deliveries/{spec.acronym}"
    (directory / folder).mkdir(parents=True, exist_ok=True)
    ext = EXTENSION[coding.style]
    base_file = f"{folder}/baseline{ext}"
    write_delivery(columns, directory / base_file, coding, label=f"{label} (baseline)",
                   stamp=stamp)
    datasets: list[dict[str, Any]] = [{"name": "baseline", "file": base_file,
                                       "rows": int(columns[0].values.size)}]
    described: dict[str, dict[str, Any]] = {}
    for table in tables:
        file = f"{folder}/{table.name}{ext}"
        write_delivery(table.columns, directory / file, coding,
                       label=f"{label} ({table.name})", stamp=stamp)
        rows = int(table.columns[0].values.size)
        datasets.append({"name": table.name, "file": file, "rows": rows, "key": table.key})
        described[table.name] = {"dataset": table.name, "file": file, "rows": rows,
                                 "key": table.key,
                                 "columns": [_column_entry(c) for c in table.columns],
                                 "variables": table.rules}
    ids = pd.Series(truth["participant_id"].to_numpy(dtype=object))
    true_tables = {}
    for name, frame in (("visits", follow_up.visits), ("events", follow_up.events)):
        out = frame.drop(columns="_index")
        out.insert(0, "participant_id", ids.to_numpy()[frame["_index"].to_numpy()])
        out.insert(0, "trial", spec.acronym)
        true_tables[name] = out
    return Package(directory=folder, datasets=datasets, truth=true_tables, tables=described)


def table_truth_schema(name: str) -> Any:
    """The pyarrow schema of ``truth/<name>.parquet``."""
    import pyarrow as pa

    types = {"string": pa.string(), "integer": pa.int64(), "date": pa.date32()}
    fields = [pa.field("trial", pa.string()), pa.field("participant_id", pa.string())]
    fields += [pa.field(v.name, types[v.type]) for v in TABLE_VARIABLES if v.group == name]
    return pa.schema(fields)


def write_table_truth(directory: Path, name: str, frames: list[pd.DataFrame]) -> int:
    """Write ``truth/<name>.parquet`` (every trial's rows; empty without a package trial)."""
    import pyarrow.parquet as pq

    from repository.example.arrow import arrow_table

    schema = table_truth_schema(name)
    frame = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame({f.name: pd.Series([], dtype=object) for f in schema})
    pq.write_table(arrow_table(frame, schema), directory / TABLE_TRUTH[name], compression="zstd")
    return len(frame)
