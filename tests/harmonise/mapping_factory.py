"""Builders for the harmonisation spec and engine tests: small dictionaries and mappings, raw
frames, and the default example topic (generated once per test session and cached)."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import pandas as pd

from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.spec import Mapping
from harmonise.yamlio import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE_DICTIONARY = ROOT / "dictionaries" / "gastric-adjuvant"

BASE_VARIABLES: list[dict[str, Any]] = [
    {"name": "participant_id", "type": "id", "role": "id", "required": True},
    {"name": "trial", "type": "text", "role": "trial", "required": True},
]


def dictionary_data(*variables: MappingABC[str, Any], rules: list[dict[str, Any]] | None = None,
                    outcomes: list[dict[str, Any]] | None = None,
                    version: str = "1.0.0") -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": "ipdrepo-dictionary/1", "topic": "test-topic", "title": "Test topic",
        "version": version,
        "changelog": [{"version": version, "date": "2026-11-23", "changes": ["test"]}],
        "variables": [*BASE_VARIABLES, *[dict(v) for v in variables]],
    }
    if outcomes:
        data["outcomes"] = outcomes
    if rules:
        data["rules"] = rules
    return data


def make_dictionary(*variables: MappingABC[str, Any], **kwargs: Any) -> Dictionary:
    return Dictionary.from_dict(dictionary_data(*variables, **kwargs))


def mapping_data(rules: MappingABC[str, Any], *, trial: str = "T1", id_column: str = "ID",
                 source: MappingABC[str, Any] | None = None,
                 version: str = "1.0.0",
                 datasets: MappingABC[str, Any] | None = None) -> dict[str, Any]:
    out = {"format": "ipdrepo-mapping/1", "trial": trial, "dictionary": "test-topic",
           "dictionary_version": version, "source": dict(source or {"dataset": "main"}),
           "variables": {"participant_id": {"rule": "id_creation", "column": id_column},
                         **{k: dict(v) for k, v in rules.items()}}}
    if datasets:
        out["datasets"] = {k: dict(v) for k, v in datasets.items()}
    return out


def make_mapping(dictionary: Dictionary, rules: MappingABC[str, Any], **kwargs: Any) -> Mapping:
    return Mapping.from_dict(mapping_data(rules, **kwargs), dictionary=dictionary)


def from_yaml_text(text: str, *, file: str = "spec.yaml") -> tuple[Any, Any]:
    doc = parse_yaml(text, file=file)
    return doc.data, doc.lines


def raw_frame(n_ids: int | None = None, **columns: list[Any]) -> pd.DataFrame:
    """A delivery as read from a CSV: every value text (None for a blank cell)."""
    n = len(next(iter(columns.values()))) if columns else (n_ids or 0)
    data = {"ID": [f"P{i + 1}" for i in range(n)]}
    data.update({k: pd.Series(v, dtype=object) for k, v in columns.items()})
    return pd.DataFrame(data)


_EXAMPLE: dict[str, Path] = {}


def default_example(base: Path) -> Path:
    """``ipdrepo example create`` with default options, made once per test session."""
    if "dir" not in _EXAMPLE:
        from repository.example import create

        target = base / "example"
        create(target)
        _EXAMPLE["dir"] = target
    return _EXAMPLE["dir"]
