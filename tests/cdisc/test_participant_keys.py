"""The relational engine's participant keys: the vectorised paths (pseudonyms, text or integer
IDs) give exactly what normalising each raw ID does (repository.pseudonyms.normalise_raw_id)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmonise.mapping.tables import participant_keys
from repository.pseudonyms import normalise_raw_id


@pytest.mark.parametrize("values", [
    [" A1", "B2 ", "", "  ", "007", None, "B2"],
    [1, 22, 3, 22],
    [1.0, 2.5, float("nan"), 3.0],
    ["a", 3, None, 4.0],
    [np.int64(5), np.int64(6)],
])
def test_keys_are_the_normalised_raw_ids(values: list[object]) -> None:
    frame = pd.DataFrame({"ID": pd.Series(values, dtype=object)})
    assert list(participant_keys(frame, "ID")) == [normalise_raw_id(v) for v in values]


def test_given_pseudonyms_are_kept_as_text_and_blanks_as_none() -> None:
    frame = pd.DataFrame({"ID": ["x", "y", "z"]})
    assert list(participant_keys(frame, "ID", ["P1", None, "P2"])) == ["P1", None, "P2"]
    assert list(participant_keys(frame, "ID", [1, float("nan"), "p"])) == ["1", None, "p"]
    assert list(participant_keys(frame, "NOPE")) == [None, None, None]
