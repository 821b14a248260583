"""Random secrets handed to users (API tokens, one-time links, session ids) and the hashes the
store keeps of them.

A secret is 32 random bytes (256 bits) from the operating system, written URL-safe. The store
keeps only its SHA-256: a database reader learns nothing usable, and with 256 bits of entropy
a fast hash is enough (guessing is hopeless; a slow hash is for low-entropy passwords).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["new_secret", "digest", "same"]


def new_secret(prefix: str = "") -> str:
    """A new random secret: ``prefix`` + 43 URL-safe characters (32 bytes)."""
    return prefix + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def digest(secret: str) -> str:
    """The hex SHA-256 the store keeps of ``secret``."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"),
                               b.encode("utf-8", "surrogateescape"))
