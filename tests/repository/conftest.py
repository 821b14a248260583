"""Fixtures for the store tests: one small delivery written in every format we read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"

BASE = pd.DataFrame({
    "PATNO": ["A001", "A002", "A003", "A004", "A005"],
    "ARM": [1, 2, 1, 2, 1],
    "SEX": [1, 2, 2, 1, 1],
    "AGE": [64, 58, 71, 49, 66],
    "RANDDT": pd.to_datetime(["2003-02-03", "2003-02-10", "2003-03-04", "2003-04-15",
                              "2003-05-20"]),
    "WEIGHT": [70.5, 61.2, None, 88.0, 74.3],
})
SEX_LABELS = {1: "Male", 2: "Female"}


def write_delivery(directory: Path, fmt: str, frame: pd.DataFrame | None = None,
                   name: str = "delivery") -> Path:
    """Write ``frame`` (default BASE) as a real file of format ``fmt``."""
    import pyreadstat

    frame = BASE.copy() if frame is None else frame
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "sas7bdat":
        if frame is not BASE and not frame.equals(BASE):
            raise ValueError("sas7bdat comes from the committed fixture only")
        target = directory / f"{name}.sas7bdat"
        target.write_bytes((FIXTURES / "delivery.sas7bdat").read_bytes())
        return target
    path = directory / f"{name}.{ {'csv-semicolon': 'csv', 'tsv': 'txt'}.get(fmt, fmt) }"
    if fmt == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    elif fmt == "csv-semicolon":
        # what European Excel exports: cp1252, semicolons, decimal commas, dd/mm/yyyy
        frame.to_csv(path, index=False, sep=";", decimal=",", date_format="%d/%m/%Y",
                     encoding="cp1252")
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "xlsx":
        frame.to_excel(path, index=False, sheet_name="data")
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "sav":
        pyreadstat.write_sav(frame, str(path), column_labels={"AGE": "Age at randomisation"},
                             variable_value_labels={"SEX": SEX_LABELS,
                                                    "ARM": {1: "Surgery", 2: "Chemo"}})
    elif fmt == "dta":
        pyreadstat.write_dta(frame, str(path), column_labels={"AGE": "Age at randomisation"},
                             variable_value_labels={"SEX": SEX_LABELS})
    elif fmt == "xpt":
        pyreadstat.write_xport(frame, str(path), column_labels={"AGE": "Age at randomisation"})
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture
def delivery_writer(tmp_path: Path) -> Callable[..., Path]:
    def write(fmt: str, frame: pd.DataFrame | None = None, name: str = "delivery") -> Path:
        return write_delivery(tmp_path / "in", fmt, frame, name)

    return write
