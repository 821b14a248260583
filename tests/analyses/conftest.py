"""Shared fixtures for the analyses tests: R fixture loading and the GASTRIC data location.

The real GASTRIC IPD are found by :mod:`tests.gastric` (shared with every other suite):
skipped when absent, failed under ``IPDREPO_REQUIRE_GASTRIC=1`` (CI sets it).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.gastric import gastric_path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]


@cache
def read_gastric(name: str) -> pd.DataFrame:
    """The GASTRIC data set ``name`` with ``treated`` = 1 for the experimental arm."""
    d = pd.read_csv(gastric_path(name), dtype={"trialref": str, "id": str})
    d["treated"] = (d["trt"] > 0).astype(int)
    return d


@cache
def survival_dataset(name: str) -> pd.DataFrame:
    """A survival test data set: GASTRIC ``gast*`` (:func:`read_gastric`), else the CSV of R's
    data set ``name`` under fixtures/survival/ (cached: do not change the frame)."""
    if name.startswith("gast"):
        return read_gastric(name)
    return pd.read_csv(FIXTURES / "survival" / f"{name}.csv")


@cache
def load_fixture(*parts: str) -> Any:
    """Parse a JSON fixture under tests/analyses/fixtures/ (cached)."""
    with open(FIXTURES.joinpath(*parts), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def gastric_adj() -> pd.DataFrame:
    """The real GASTRIC adjuvant IPD, read in place (see :func:`gastric_path`)."""
    return pd.read_csv(gastric_path("gastadj"), dtype={"trialref": str, "id": str})


@pytest.fixture(scope="session")
def gastric_adv() -> pd.DataFrame:
    """The real GASTRIC advanced-disease IPD, read in place (see :func:`gastric_path`)."""
    return pd.read_csv(gastric_path("gastadv"), dtype={"trialref": str, "id": str})
