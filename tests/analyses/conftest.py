"""Shared fixtures for the analyses tests: R fixture loading and the GASTRIC data location.

The real GASTRIC IPD are read in place (``IPDREPO_GASTRIC_DIR``, default
``../shared/data/gastric`` beside the repository). Tests that need them skip when they are
absent, unless ``IPDREPO_REQUIRE_GASTRIC=1``: then they fail (CI sets it, so a missing data
directory can never pass as skipped checks).
"""

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


REQUIRE_GASTRIC = os.environ.get("IPDREPO_REQUIRE_GASTRIC", "") not in ("", "0")


def gastric_path(name: str) -> Path:
    """Path of ``gastadj.csv``/``gastadv.csv`` (``name`` without suffix); skips - or fails
    under ``IPDREPO_REQUIRE_GASTRIC=1`` - when it is absent."""
    path = GASTRIC_DIR / f"{name}.csv"
    if not path.exists():
        message = f"GASTRIC data not found at {path} (set IPDREPO_GASTRIC_DIR)"
        if REQUIRE_GASTRIC:
            pytest.fail(message + "; IPDREPO_REQUIRE_GASTRIC=1 requires them")
        pytest.skip(message)
    return path


@cache
def read_gastric(name: str) -> pd.DataFrame:
    """The GASTRIC data set ``name`` with ``treated`` = 1 for the experimental arm."""
    d = pd.read_csv(gastric_path(name), dtype={"trialref": str, "id": str})
    d["treated"] = (d["trt"] > 0).astype(int)
    return d


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
