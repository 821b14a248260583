"""The release manifest: a machine-readable account of what a release holds (pure functions).

``<topic>/<version>/manifest.json`` in the release repository, committed with the DVC pointer of
the data file. Format ``ipdrepo-release-manifest/1``; keys:

``format``, ``topic``, ``version``, ``tag``, ``path``
    What and where: the git tag and the release directory in the release repository.
``data``
    ``file`` (``data.parquet``), ``sha256``, ``bytes``, ``rows``, ``columns`` (``[{name,
    dtype}]``), ``order`` (the sort key), ``parquet`` (writer options).
``tables``
    The long tables (visits, events ...), one entry each: ``name``, ``file``
    (``tables/<name>.parquet``), ``sha256``, ``bytes``, ``rows``, ``columns``, ``key`` and
    ``order``; absent when the dictionary has none. Their bytes are checked like the data's
    (the manifest, whose hash the tag carries, states them).
``dictionary``
    ``name``, ``version``, ``sha256``, ``variables``, ``outcomes``, ``changelog`` and, with long
    tables, ``tables``.
``deliveries``, ``mappings``
    Every delivery's and mapping's hash (see :class:`~versions.inputs.ReleaseInputs`).
``corrections``
    What the curators corrected, without anything that links a pseudonym to the trial's own
    records (see :func:`public_corrections`): ``total``, ``by_trial_variable`` (``[{trial,
    variable, corrections}]``) and ``applied`` (``[{id, query_id, trial, participant,
    variables}]``: the correction and query ids, the repository pseudonym -- ``null`` when the
    correction changed the participant's ID itself -- and the harmonised variables). Raw values,
    the trial's own IDs and column names, reasons and authors stay in the store, for curators
    (``ipdrepo corrections list``). Format 1 listed them; :func:`public_manifest` shows such an
    older manifest in the format-2 form.
``checks``
    Validation and integrity-check summaries and the queries still open per trial.
``counts``
    ``by_trial`` (``[{trial, rows}]``) and ``by_trial_arm`` (``[{trial, arm, rows}]``; the arm
    is the dictionary's ``treatment`` variable, else ``arm``).
``withdrawals``
    ``applied`` (``[{trial, participant, recorded_on}]``: every withdrawal recorded before the
    release, by pseudonym), ``by_trial`` (count of withdrawals per trial), ``records_removed``
    (rows removed per trial), ``total``.
``software``
    Versions of the software that wrote the bytes.
``created``
    ``by``, ``at`` (UTC, ISO 8601) and ``message``.

``format`` is ``ipdrepo-release-manifest/2``; format 1 (corrections listed with their raw
values) is still read. Only ``created`` varies between two builds from the same inputs (:data:`VARYING_FIELDS`);
:func:`comparable` drops it, so ``comparable(a) == comparable(b)`` means "the same release".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from repository.errors import ReleaseError
from versions.dataset import PARQUET_OPTIONS, Withdrawn
from versions.inputs import KEY_COLUMNS, TABLES_DIR, ReleaseInputs

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_FORMATS",
    "MANIFEST_FILE",
    "DATA_FILE",
    "VARYING_FIELDS",
    "arm_variable",
    "row_counts",
    "build_manifest",
    "table_entries",
    "public_corrections",
    "correction_records",
    "public_manifest",
    "upgraded",
    "manifest_bytes",
    "parse_manifest",
    "comparable",
    "differences",
]

MANIFEST_FORMAT = "ipdrepo-release-manifest/2"
#: the formats read: 1 listed each correction's raw values (shown in the format-2 form)
MANIFEST_FORMATS: tuple[str, ...] = ("ipdrepo-release-manifest/1", MANIFEST_FORMAT)
CORRECTIONS_NOTE = ("raw values, the trials' own IDs and columns, reasons and authors of the "
                    "corrections are kept in the store for curators (ipdrepo corrections list)")
MANIFEST_FILE = "manifest.json"
DATA_FILE = "data.parquet"
#: the manifest keys that differ between two builds of the same release
VARYING_FIELDS: tuple[str, ...] = ("created",)


def arm_variable(dictionary: Mapping[str, Any], columns: Sequence[str]) -> str | None:
    """The randomised-arm variable: the first with role ``treatment``, else ``arm``."""
    for v in dictionary.get("variables", ()):
        if isinstance(v, Mapping) and v.get("role") == "treatment" and v.get("name") in columns:
            return str(v["name"])
    return "arm" if "arm" in columns else None


def _labels(values: pd.Series) -> pd.Series:
    """Arm values as text: whole numbers without ``.0``, missing as ``"missing"``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("Float64")
        present = numbers.dropna()
        if bool(((present % 1) == 0).all()):
            values = numbers.astype("Int64")
    return values.astype("string").fillna("missing")


def row_counts(frame: pd.DataFrame, arm: str | None) -> dict[str, Any]:
    """Rows per trial and per trial and arm (a missing arm counts as ``"missing"``)."""
    by_trial = frame.groupby("trial", sort=True, dropna=False).size()
    out: dict[str, Any] = {"by_trial": [{"trial": str(t), "rows": int(n)}
                                        for t, n in by_trial.items()]}
    if arm is not None:
        pairs = pd.DataFrame({"trial": frame["trial"].astype("string"),
                              "arm": _labels(frame[arm])})
        counts = pairs.groupby(["trial", "arm"], sort=True, dropna=False).size()
        out["arm_variable"] = arm
        out["by_trial_arm"] = [{"trial": str(t), "arm": a, "rows": int(n)}
                               for (t, a), n in counts.items()]
    else:
        out["arm_variable"] = None
        out["by_trial_arm"] = []
    return out


def _variables(value: Any) -> list[str]:
    """A correction's harmonised variables (``"death_date, rand_date"`` names two)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def public_corrections(corrections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest's ``corrections`` block made from full correction records (see the module
    docstring): ids, trial, pseudonym and harmonised variables, never a raw value, the trial's
    own ID or column, a reason or an author. A correction of the participant's ID itself gets
    no pseudonym (it would point at another record)."""
    applied = []
    counts: dict[tuple[str, str], int] = {}
    for c in corrections:
        variables = _variables(c.get("variables", c.get("variable")))
        trial = str(c.get("trial"))
        applied.append({"id": c.get("id"), "query_id": c.get("query_id"), "trial": trial,
                        "participant": None if "participant_id" in variables
                        else c.get("participant"),
                        "variables": variables})
        for v in variables or ["(unmapped)"]:
            counts[(trial, v)] = counts.get((trial, v), 0) + 1
    return {"total": len(applied),
            "by_trial_variable": [{"trial": t, "variable": v, "corrections": n}
                                  for (t, v), n in sorted(counts.items())],
            "applied": applied, "note": CORRECTIONS_NOTE}


def correction_records(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The corrections a manifest (format 1 or 2) applies: ``[{id, query_id, trial,
    participant, variables}]``."""
    block = manifest.get("corrections") or []
    if isinstance(block, Mapping):
        return [dict(c) for c in block.get("applied", [])]
    return public_corrections(block)["applied"]


def public_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` as analysts may see it: a format-1 manifest's corrections in the format-2
    form (a format-2 manifest is returned as it is)."""
    out = dict(manifest)
    if not isinstance(out.get("corrections", {}), Mapping):
        out["corrections"] = public_corrections(out["corrections"])
    return out


def upgraded(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` in the current format (what the same release would be made as now)."""
    return {**public_manifest(manifest), "format": MANIFEST_FORMAT}


def table_entries(inputs: ReleaseInputs,
                  tables: Mapping[str, tuple[pd.DataFrame, bytes]]) -> list[dict[str, Any]]:
    """The manifest's ``tables`` entries of the long tables' frames and parquet bytes."""
    import hashlib

    out = []
    for name, (frame, data) in tables.items():
        out.append({"name": name, "file": f"{TABLES_DIR}/{name}.parquet",
                    "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                    "rows": len(frame),
                    "columns": [{"name": str(c), "dtype": str(frame[c].dtype)}
                                for c in frame.columns],
                    "key": list(inputs.table_key(name)),
                    "order": list(KEY_COLUMNS) + list(inputs.table_key(name)),
                    "by_trial": [{"trial": str(t), "rows": int(n)} for t, n in
                                 frame.groupby("trial", sort=True).size().items()]})
    return out


def build_manifest(inputs: ReleaseInputs, *, version: str, tag: str, path: str,
                   frame: pd.DataFrame, data_sha256: str, data_bytes: int,
                   withdrawn: Sequence[Withdrawn], removed: Mapping[str, int],
                   created_by: str, created_at: datetime,
                   message: str | None = None,
                   tables: Mapping[str, tuple[pd.DataFrame, bytes]] | None = None
                   ) -> dict[str, Any]:
    """The manifest of one release (see the module docstring)."""
    d = inputs.dictionary
    applied = sorted((w.to_dict() for w in withdrawn),
                     key=lambda w: (w["trial"], w["participant"]))
    by_trial: dict[str, int] = {}
    for w in applied:
        by_trial[w["trial"]] = by_trial.get(w["trial"], 0) + 1
    return {
        "format": MANIFEST_FORMAT,
        "topic": inputs.topic,
        "version": version,
        "tag": tag,
        "path": path,
        "data": {
            "file": DATA_FILE,
            "sha256": data_sha256,
            "bytes": data_bytes,
            "rows": len(frame),
            "columns": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
            "order": list(KEY_COLUMNS),
            "parquet": dict(PARQUET_OPTIONS),
        },
        "dictionary": {
            "name": d.get("name"),
            "version": d.get("version"),
            "sha256": d.get("sha256"),
            "variables": d.get("variables", []),
            "outcomes": d.get("outcomes", []),
            "changelog": d.get("changelog", []),
            **({"tables": d["tables"]} if d.get("tables") else {}),
        },
        **({"tables": table_entries(inputs, tables)} if tables else {}),
        "deliveries": list(inputs.deliveries),
        "mappings": list(inputs.mappings),
        "corrections": public_corrections(inputs.corrections),
        "checks": dict(inputs.checks),
        "counts": row_counts(frame, arm_variable(d, list(frame.columns))),
        "withdrawals": {"applied": applied, "by_trial": by_trial,
                        "records_removed": dict(sorted(removed.items())),
                        "total": len(applied)},
        "software": dict(inputs.software),
        "created": {"by": created_by, "at": created_at.isoformat(timespec="seconds"),
                    "message": message},
        "varying_fields": list(VARYING_FIELDS),
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, two-space indent, UTF-8, final newline."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False,
                       default=str) + "\n").encode("utf-8")


def parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReleaseError(f"the release manifest is not valid JSON ({exc}); the release "
                           "repository may be damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") not in MANIFEST_FORMATS:
        raise ReleaseError(f"not an ipdrepo release manifest (expected format "
                           f"{MANIFEST_FORMAT}); the release repository may be damaged.")
    return manifest


def comparable(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest without the fields that vary between builds (:data:`VARYING_FIELDS`)."""
    return {k: v for k, v in manifest.items() if k not in VARYING_FIELDS}


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted paths (two levels deep) where two manifests differ, ignoring ``created``."""
    a, b = comparable(old), comparable(new)
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += [f"{key}.{k}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
        else:
            out.append(key)
    return out
