"""Shared fixtures for the analyses tests: R fixture loading and the GASTRIC data location."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]
GASTRIC_DIR = Path(os.environ.get("IPDREPO_GASTRIC_DIR",
                                  REPO_ROOT / ".." / "shared" / "data" / "gastric"))


@cache
def load_fixture(*parts: str) -> Any:
    """Parse a JSON fixture under tests/analyses/fixtures/ (cached)."""
    with open(FIXTURES.joinpath(*parts), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def gastric_adj() -> pd.DataFrame:
    """The real GASTRIC adjuvant IPD, read in place; skips when absent."""
    path = GASTRIC_DIR / "gastadj.csv"
    if not path.exists():
        pytest.skip(f"GASTRIC data not found at {path} (set IPDREPO_GASTRIC_DIR)")
    return pd.read_csv(path, dtype={"trialref": str, "id": str})


@pytest.fixture(scope="session")
def gastric_adv() -> pd.DataFrame:
    """The real GASTRIC advanced-disease IPD, read in place; skips when absent."""
    path = GASTRIC_DIR / "gastadv.csv"
    if not path.exists():
        pytest.skip(f"GASTRIC data not found at {path} (set IPDREPO_GASTRIC_DIR)")
    return pd.read_csv(path, dtype={"trialref": str, "id": str})
