"""Time-based one-time passwords, RFC 6238 (on HOTP, RFC 4226): what authenticator apps show.

30-second steps, 6 digits, HMAC-SHA1 by default (what every app supports); SHA-256 and
SHA-512 for the RFC's test vectors. A code is accepted for the current step and one step either
side (clock drift), and never twice (:func:`verify` returns the step it matched, which the
caller stores).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from urllib.parse import quote

__all__ = ["new_secret", "hotp", "totp", "verify", "provisioning_uri", "STEP"]

STEP = 30
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def new_secret() -> str:
    """A new random TOTP secret (160 bits), base32 as apps expect it."""
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    text = secret_b32.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> str:
    """RFC 4226 HOTP value of ``counter`` under ``key``."""
    mac = hmac.new(key, struct.pack(">Q", counter), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def totp(key: bytes, at: float, *, digits: int = 6, algorithm: str = "sha1",
         step: int = STEP) -> str:
    """RFC 6238 TOTP value at Unix time ``at``."""
    return hotp(key, int(at) // step, digits=digits, algorithm=algorithm)


def verify(secret_b32: str, code: str, *, at: float | None = None,
           last_step: int | None = None, window: int = 1) -> int | None:
    """The time step ``code`` is valid for (now, or ``window`` steps either side), or None;
    a step at or before ``last_step`` (already used) is never accepted."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    key = _key(secret_b32)
    now = int(time.time() if at is None else at) // STEP
    for step in range(now - window, now + window + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret_b32: str, *, account: str, issuer: str = "ipdrepo") -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
    return (f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret_b32}"
            f"&issuer={quote(issuer)}&algorithm=SHA1&digits=6&period={STEP}")
