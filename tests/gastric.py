"""Where the real GASTRIC IPD are, for every test that reads them.

The data are read in place from ``../shared/data/gastric`` next to the repository (override
with ``IPDREPO_GASTRIC_DIR``) and never copied into it. Without them the tests that need them
are skipped, except under ``IPDREPO_REQUIRE_GASTRIC=1`` (set by ``.ci/run``): then missing data
fail those tests, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GASTRIC_DIR = Path(os.environ.get("IPDREPO_GASTRIC_DIR",
                                  ROOT.parent / "shared" / "data" / "gastric"))
REQUIRE_GASTRIC = os.environ.get("IPDREPO_REQUIRE_GASTRIC", "") not in ("", "0")
FILES = ("gastadj", "gastadv")


def find_gastric() -> Path | None:
    """The GASTRIC directory, or None when its files are absent (a test failure instead under
    ``IPDREPO_REQUIRE_GASTRIC=1``)."""
    missing = [f"{name}.csv" for name in FILES if not (GASTRIC_DIR / f"{name}.csv").is_file()]
    if not missing:
        return GASTRIC_DIR
    if REQUIRE_GASTRIC:
        pytest.fail(f"GASTRIC data not found at {GASTRIC_DIR} ({', '.join(missing)} missing); "
                    "IPDREPO_REQUIRE_GASTRIC=1 requires them (set IPDREPO_GASTRIC_DIR)")
    return None


def gastric_path(name: str) -> Path:
    """Path of ``gastadj.csv``/``gastadv.csv`` (``name`` without suffix); skips - or fails
    under ``IPDREPO_REQUIRE_GASTRIC=1`` - when the data are absent."""
    directory = find_gastric()
    if directory is None:
        pytest.skip(f"GASTRIC data not found at {GASTRIC_DIR} (set IPDREPO_GASTRIC_DIR)")
    return directory / f"{name}.csv"
