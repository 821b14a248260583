"""Realistic release inputs for the versions tests.

The topic dataset comes from the example generator's ground truth (``truth/participants.parquet``:
true harmonised values of fictional gastric-adjuvant trials); its participants are registered in
a real store by ingesting one small delivery per trial, so ``participant_id`` holds the store's
real keyed pseudonyms.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from repository.deliveries import ingest
from repository.example.topic import VARIABLES
from repository.store import Store
from repository.trials import TrialSpec, add_trial, parse_arm
from versions.inputs import ReleaseInputs, software_versions

_DTYPES = {"integer": "Int64", "decimal": "Float64", "boolean": "boolean",
           "date": "datetime64[ns]", "text": "string", "id": "string"}
OUTCOMES = [
    {"name": "os", "kind": "time_to_event", "label": "Overall survival",
     "time": "os_time_days", "event": "os_event"},
    {"name": "dfs", "kind": "time_to_event", "label": "Disease-free survival",
     "time": "dfs_time_days", "event": "dfs_event"},
    {"name": "toxicity", "kind": "binary", "label": "Grade 3+ toxicity",
     "variable": "grade3_toxicity"},
    {"name": "qol", "kind": "continuous", "label": "Quality of life at 12 months",
     "variable": "qol_12m", "baseline": "qol_baseline"},
]


def dictionary_variables() -> list[dict[str, Any]]:
    out = []
    for v in VARIABLES:
        if v.name == "participant_id":
            vtype, role = "id", "id"
        elif v.name == "trial":
            vtype, role = "text", "trial"
        elif v.codes and v.type in ("integer", "string"):
            vtype, role = "categorical", None
        else:
            vtype, role = {"string": "text"}.get(v.type, v.type), None
        if v.name == "arm":
            role = "treatment"
        elif v.group == "outcome":
            role = "outcome"
        elif role is None:
            role = "covariate"
        item: dict[str, Any] = {"name": v.name, "type": vtype, "label": v.label, "role": role}
        if v.unit:
            item["unit"] = v.unit
        if vtype == "categorical":
            item["categories"] = [{"code": c, "label": lab} for c, lab in v.codes.items()]
        if v.range:
            item["range"] = {"min": v.range[0], "max": v.range[1]}
        out.append(item)
    return out


def harmonised_dtype(item: Mapping[str, Any]) -> str:
    if item["type"] == "categorical":
        codes = [c["code"] for c in item["categories"]]
        return "Int64" if all(isinstance(c, int) for c in codes) else "string"
    return _DTYPES[item["type"]]


def dictionary(version: str = "1.0", variables: list[dict[str, Any]] | None = None,
               changelog: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    variables = variables if variables is not None else dictionary_variables()
    return {"name": "gastric-adjuvant", "version": version,
            "sha256": hashlib.sha256(json.dumps([version, variables], sort_keys=True)
                                     .encode()).hexdigest(),
            "variables": variables, "outcomes": OUTCOMES,
            "changelog": list(changelog) or [{"version": version, "date": "2024-01-15",
                                               "changes": ["first version"]}]}


def harmonise(truth: pd.DataFrame, variables: list[dict[str, Any]]) -> pd.DataFrame:
    """The truth with the dtypes the dictionary gives each variable."""
    frame = pd.DataFrame(index=truth.index)
    for item in variables:
        col = truth[item["name"]]
        dtype = harmonised_dtype(item)
        if dtype == "datetime64[ns]":
            frame[item["name"]] = pd.to_datetime(col).astype("datetime64[ns]")
        elif dtype in ("Int64", "Float64"):
            frame[item["name"]] = pd.to_numeric(col).astype(dtype)
        elif dtype == "boolean":
            frame[item["name"]] = col.astype("boolean")
        else:
            frame[item["name"]] = col.astype("string")
    return frame


def register(store: Store, truth: pd.DataFrame, directory: Path) -> dict[str, dict[str, str]]:
    """Register the truth's trials and ingest one delivery (patid, arm) per trial; returns
    trial -> {own ID -> pseudonym}."""
    pseudonyms: dict[str, dict[str, str]] = {}
    directory.mkdir(parents=True, exist_ok=True)
    for trial, rows in truth.groupby("trial", sort=True):
        with store.transaction() as session:
            add_trial(session, store.topic(session),
                      TrialSpec(acronym=str(trial), arms=(parse_arm("0=Surgery alone"),
                                                          parse_arm("1=Chemotherapy"))),
                      actor="tester")
        path = directory / f"{trial}.csv"
        rows[["participant_id", "arm"]].rename(columns={"participant_id": "patid"}).to_csv(
            path, index=False)
        ingest(store, str(trial), path, id_column="patid")
        ids = [str(i) for i in rows["participant_id"]]
        mapped = store.pseudonymiser(store.settings.topic or "gastric-adjuvant").many(
            str(trial), ids)
        pseudonyms[str(trial)] = dict(zip(ids, mapped))
    return pseudonyms


def make_inputs(truth: pd.DataFrame, pseudonyms: Mapping[str, Mapping[str, str]], *,
                version: str = "1.0", variables: list[dict[str, Any]] | None = None,
                corrections: Iterable[Mapping[str, Any]] = (),
                edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                changelog: Sequence[Mapping[str, Any]] = (),
                open_queries: Mapping[str, int] | None = None,
                deliveries: Sequence[Mapping[str, Any]] | None = None) -> ReleaseInputs:
    variables = variables if variables is not None else dictionary_variables()
    frame = harmonise(truth, variables)
    frame["participant_id"] = pd.array([pseudonyms[t][str(i)] for t, i in
                               zip(truth["trial"], truth["participant_id"])], dtype="string")
    if edit is not None:
        frame = edit(frame)
    trials = sorted(pseudonyms)
    return ReleaseInputs(
        topic="gastric-adjuvant",
        frame=frame,
        dictionary=dictionary(version, variables, changelog),
        deliveries=tuple(deliveries) if deliveries is not None else tuple(
            {"trial": t, "delivery_id": i + 1, "file_name": f"{t}.csv",
             "sha256": f"{i + 1:064x}", "rows": int((truth['trial'] == t).sum())}
            for i, t in enumerate(trials)),
        mappings=tuple({"trial": t, "path": f"mappings/{version}/{t}.yaml",
                        "sha256": f"{i + 101:064x}"} for i, t in enumerate(trials)),
        corrections=tuple(corrections),
        checks={"validation": {"rules": 57, "failed": 0, "skipped": 2},
                "integrity": {"by_status": {"pass": 40, "flag": 3, "skipped": 1},
                              "by_severity": {"error": 0, "warning": 3}},
                "open_queries": dict(open_queries or {t: 0 for t in trials})},
        software=software_versions(),
    )
