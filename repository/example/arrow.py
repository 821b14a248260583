"""Truth frames as Arrow tables, for the truth parquet files."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["arrow_table"]


def arrow_table(truth: pd.DataFrame, schema: Any) -> Any:
    """``truth`` as a pyarrow table of ``schema`` (dates as date32, missing as null)."""
    import pyarrow as pa

    arrays = []
    for fld in schema:
        s = truth[fld.name]
        if pa.types.is_date32(fld.type):
            arrays.append(pa.array(s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]"),
                                   type=pa.date32(), mask=s.isna().to_numpy()))
        elif pa.types.is_integer(fld.type):
            mask = s.isna().to_numpy()
            values = s.to_numpy(dtype=np.float64, na_value=0.0).astype(np.int64)
            arrays.append(pa.array(values, type=pa.int64(), mask=mask))
        elif pa.types.is_floating(fld.type):
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
            arrays.append(pa.array(values, mask=np.isnan(values)))
        elif pa.types.is_boolean(fld.type):
            arrays.append(pa.array(s.astype(object).where(s.notna(), None).tolist(),
                                   type=pa.bool_()))
        else:
            arrays.append(pa.array(s.astype(object).where(s.notna(), None).tolist(),
                                   type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=schema)
