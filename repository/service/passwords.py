"""Password hashes: argon2id (RFC 9106), with the argon2-cffi defaults (time cost 3, 64 MiB,
parallelism 4); a hash made with older parameters is re-hashed at the next sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from repository.errors import AccountError
from repository.reasons import Reason

__all__ = ["MIN_LENGTH", "hash_password", "verify_password", "needs_rehash", "check_strength",
           "burn_time"]

MIN_LENGTH = 12
_HASHER = PasswordHasher(type=Type.ID)
#: verified against when the user does not exist, so that the answer takes as long
_DUMMY = _HASHER.hash("not a password of anyone: " + "x" * 16)


def check_strength(password: str, *, user: str) -> None:
    """Refuse passwords that are short, the user's name, or one repeated character."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters (it has {len(password)})")
    if password.strip().lower() == user.lower() or user.lower() in password.lower():
        problems.append("not containing the user name")
    if len(set(password)) < 5:
        problems.append("at least 5 different characters")
    if len(password) > 1024:
        problems.append("at most 1024 characters")
    if problems:
        raise AccountError("the password is too weak: it must have " + ", ".join(problems)
                           + ". A passphrase of four or more words works well.",
                           reason=Reason.WEAK_PASSWORD)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (None: no password set; the check then
    takes as long as a real one)."""
    try:
        if stored is None:
            _HASHER.verify(_DUMMY, password + "\x00")
            return False
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    """Spend the time of one verification (for a user name that does not exist)."""
    verify_password(None, password)


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
