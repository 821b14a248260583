"""Keyed pseudonyms: stable, normalised, secret-dependent, scope-dependent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repository.errors import ConfigError
from repository.pseudonyms import (
    Pseudonymiser,
    create_secret,
    load_secret,
    normalise_raw_id,
    normalise_raw_ids,
    reidentify,
)

SECRET = bytes(range(32))


def test_same_id_same_pseudonym_across_representations() -> None:
    p = Pseudonymiser(SECRET, "gastric")
    forms = [1001, "1001", " 1001 ", 1001.0, np.int64(1001), np.float64(1001.0)]
    pseudonyms = {p.pseudonym("T1", normalise_raw_id(v)) for v in forms}
    assert len(pseudonyms) == 1
    assert normalise_raw_id("007") == "007"  # leading zeros are part of the ID
    assert normalise_raw_id(" ") is None and normalise_raw_id(float("nan")) is None


def test_pseudonyms_depend_on_secret_trial_and_scope() -> None:
    a = Pseudonymiser(SECRET, "gastric").pseudonym("T1", "1")
    assert a != Pseudonymiser(SECRET, "gastric").pseudonym("T2", "1")
    assert a != Pseudonymiser(bytes(32), "gastric").pseudonym("T1", "1")
    assert a != Pseudonymiser(SECRET, "request-7").pseudonym("T1", "1")
    assert a.startswith("P") and len(a) == 17


def test_many_equals_single_and_reidentify_maps_back() -> None:
    p = Pseudonymiser(SECRET, "gastric")
    ids = [str(i) for i in range(100)]
    many = p.many("T1", ids)
    assert many == [p.pseudonym("T1", i) for i in ids]
    assert len(set(many)) == 100
    back = reidentify(p, "T1", [int(i) for i in ids])
    assert all(back[ps] == raw for ps, raw in zip(many, ids))


def test_secret_file_created_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    key = create_secret(path)
    assert load_secret(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="never overwritten"):
        create_secret(path)
    with pytest.raises(ConfigError, match="missing"):
        load_secret(tmp_path / "nope")


@pytest.mark.parametrize("values", [
    pd.Series([" A001", "A002 ", "", "  ", "007"], dtype=object),
    pd.Series([1001, 1002, 7], dtype="int64"),
    pd.Series([1001.0, float("nan"), 12.5, 3.0]),
    pd.Series(["A1", 5, 5.0, None, float("nan"), True], dtype=object),
    pd.Series(pd.to_datetime(["2020-01-02", None])),
    pd.Series(["x", None], dtype="string"),
])
def test_a_column_of_ids_is_normalised_as_each_id_is(values: pd.Series) -> None:
    assert normalise_raw_ids(values) == [normalise_raw_id(v) for v in values.tolist()]


@pytest.mark.parametrize("secret", [SECRET, bytes(range(16)), bytes(range(100))])
def test_bulk_pseudonyms_equal_hmac_for_any_key_length_and_text(secret: bytes) -> None:
    """:meth:`Pseudonymiser.many` computes HMAC-SHA256 without the hmac module: it gives the
    same pseudonyms as :meth:`pseudonym` for short, 64-byte-plus keys and non-ASCII IDs."""
    p = Pseudonymiser(secret, "gastric")
    ids = ["1", "AU-00001", "Numéro 7", "患者-12", "x" * 300, "", " 2 "]
    assert p.many("T1", ids) == [p.pseudonym("T1", i) for i in ids]
    assert p.many("T1", iter(ids)) == [p.pseudonym("T1", i) for i in ids]
    with_newline = [*ids, "7\n8", "\n"]  # texts holding the separator are encoded one by one
    assert p.many("T1", with_newline) == [p.pseudonym("T1", i) for i in with_newline]
    assert p.many("T1", []) == []
    assert p.many("T1", [""]) == [p.pseudonym("T1", "")]


def test_whole_number_columns_of_floats_are_normalised_at_once_as_value_by_value() -> None:
    for values in ([1001.0, -7.0, 0.0, 2.0**52], [1.0, float("nan")], [1.5, 2.0], [1e300]):
        series = pd.Series(values, dtype="float64")
        assert normalise_raw_ids(series) == [normalise_raw_id(v) for v in values]
