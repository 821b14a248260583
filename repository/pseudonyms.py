"""Keyed pseudonyms for participant IDs.

``pseudonym = "P" + base32(HMAC-SHA256(secret, scope, trial, raw ID))[:16]``. The repository
secret is a file outside the database (``Settings.secret_file``); without it nobody can link a
pseudonym to a trial's own ID, with it a curator can map back by recomputing pseudonyms over the
raw IDs of the trial's deliveries (:func:`reidentify`). Pseudonyms are stable across re-deliveries
and file formats because raw IDs are normalised first (``1001``, ``"1001"`` and ``1001.0`` are one
participant). A different ``scope`` (a data request) gives unlinkable pseudonyms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from repository.errors import ConfigError

__all__ = ["normalise_raw_id", "normalise_raw_ids", "Pseudonymiser", "create_secret", "load_secret", "reidentify"]

_SEP = b"\x1f"


def normalise_raw_id(value: Any) -> str | None:
    """A participant ID as text, or None when blank/missing.

    Integral floats lose their ``.0`` (Excel and SPSS store numeric IDs as floats); strings are
    stripped of surrounding white space; nothing else changes (leading zeros are kept).
    """
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return normalise_raw_id(value.item())
    text = str(value).strip()
    return text or None


def normalise_raw_ids(values: Any) -> list[str | None]:
    """:func:`normalise_raw_id` of each value of a column (a pandas Series): a column of text
    or whole numbers at once, any other value by value."""
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    kind = series.dtype.kind
    if kind in ("i", "u"):
        return [str(v) for v in series.tolist()]
    if kind == "f" and isinstance(series.dtype, np.dtype):  # numeric IDs of Excel, SPSS, SAS
        numbers = series.to_numpy()
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers)) & \
            (np.abs(numbers) < 2.0**53)
        if whole.all():
            return numbers.astype(np.int64).astype(str).tolist()
    if series.dtype == np.dtype(object) and \
            pd.api.types.infer_dtype(series, skipna=False) == "string":
        return [v.strip() or None for v in series.tolist()]
    return [normalise_raw_id(v) for v in series.tolist()]


class Pseudonymiser:
    """Computes pseudonyms for one topic (or one data request when ``scope`` differs)."""

    def __init__(self, secret: bytes, scope: str) -> None:
        if len(secret) < 16:
            raise ConfigError("the repository secret is shorter than 16 bytes; recreate it with "
                              "`ipdrepo init` on a new workspace or restore the original key file.")
        self._prefix = b"ipdrepo/v1" + _SEP + scope.encode() + _SEP
        self._base = hmac.new(secret, self._prefix, hashlib.sha256)
        # HMAC (RFC 2104) written out on hashlib's objects, so that :meth:`many` makes no
        # Python-level HMAC object per ID: H((K ^ opad) || H((K ^ ipad) || message))
        key = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(k ^ 0x36 for k in key))
        self._inner.update(self._prefix)
        self._outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))

    def pseudonym(self, trial: str, raw_id: str) -> str:
        h = self._base.copy()
        h.update(trial.encode() + _SEP + raw_id.encode())
        return "P" + base64.b32encode(h.digest()[:10]).decode("ascii")

    def many(self, trial: str, raw_ids: Iterable[str]) -> list[str]:
        """:meth:`pseudonym` of each ID (the same texts, computed in bulk)."""
        inner = self._inner.copy()
        inner.update(trial.encode() + _SEP)
        inner_copy, outer_copy = inner.copy, self._outer.copy
        digests = bytearray()
        for raw in _encoded(list(raw_ids)):
            h = inner_copy()
            h.update(raw)
            o = outer_copy()
            o.update(h.digest())
            digests += o.digest()[:10]
        return _base32_pseudonyms(bytes(digests))


def _encoded(texts: list[str]) -> list[bytes]:
    """Each text as UTF-8: all encoded at once, joined by newlines and split again (each
    one by one when a text holds a newline)."""
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        return [t.encode() for t in texts]
    return joined.encode().split(b"\n")


_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _base32_pseudonyms(digests: bytes) -> list[str]:
    """``"P" + base32(d)`` of each 10-byte digest in ``digests`` (10 bytes are exactly 16
    base32 characters), for all of them at once."""
    import numpy as np

    n = len(digests) // 10
    if n == 0:
        return []
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(n, 10), axis=1)
    index = bits.reshape(n, 16, 5) @ np.array([16, 8, 4, 2, 1], dtype=np.uint8)
    chars = np.empty((n, 17), dtype=np.uint8)
    chars[:, 0] = ord("P")
    chars[:, 1:] = np.frombuffer(_B32, dtype=np.uint8)[index]
    text = chars.tobytes().decode("ascii")
    return [text[i:i + 17] for i in range(0, 17 * n, 17)]


def create_secret(path: Path) -> bytes:
    """Write a new 32-byte secret (hex) to ``path`` with mode 0600; refuse to overwrite."""
    if path.exists():
        raise ConfigError(f"{path} already exists; the repository secret is never overwritten "
                          "(pseudonyms depend on it).", file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def load_secret(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"the repository secret {path} is missing; pseudonyms cannot be computed. Restore "
            "the key file from your backup or set IPDREPO_SECRET_FILE to where it is kept.",
            file=str(path)) from exc
    except PermissionError as exc:
        raise ConfigError(f"cannot read the repository secret {path}: permission denied; only "
                          "curators hold it.", file=str(path)) from exc
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError(f"{path} does not hold a hex secret; restore the original key file.",
                          file=str(path)) from exc


def reidentify(pseudonymiser: Pseudonymiser, trial: str,
               raw_ids: Iterable[Any]) -> Mapping[str, str]:
    """Map pseudonym -> the trial's own ID, over the raw IDs of the trial's deliveries."""
    normalised = [r for r in (normalise_raw_id(v) for v in raw_ids) if r is not None]
    return dict(zip(pseudonymiser.many(trial, normalised), normalised))
