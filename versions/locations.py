"""What may be handed to git and DVC: repository locations, remotes, revisions.

User text never reaches git as an option. Every location of a release repository passes
:func:`check_repository_location` (a path, or a URL of an allowed scheme: no leading ``-``, no
``<transport>::`` helpers such as ``ext::``, no host or user starting with ``-``), every DVC
remote :func:`check_remote_url`, every revision and tag :func:`check_revision`; git runs in
:func:`git_environment`, with ``GIT_ALLOW_PROTOCOL`` limited to :data:`GIT_PROTOCOLS`, and the
callers end git's options with ``--`` (or ``--end-of-options``) before any outside value.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse, urlsplit

from repository.errors import ReleaseError

__all__ = ["GIT_PROTOCOLS", "REMOTE_SCHEMES", "check_repository_location", "check_remote_url",
           "check_revision", "git_environment", "has_control_characters", "is_local_url"]

#: the protocols git may speak to reach a release repository (``GIT_ALLOW_PROTOCOL``)
GIT_PROTOCOLS: tuple[str, ...] = ("file", "git", "http", "https", "ssh")
#: the schemes of a DVC remote (a directory path needs none)
REMOTE_SCHEMES: tuple[str, ...] = ("file", "s3", "gs", "gcs", "azure", "az", "http", "https",
                                   "ssh", "webdav", "webdavs", "hdfs", "webhdfs", "oss")
#: a tag, branch or commit id: no leading ``-`` (an option), no spaces, no ``..``-tricks
_REVISION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+@-]{0,199}$")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.*)$")


def has_control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _refuse_location(location: str, why: str) -> ReleaseError:
    return ReleaseError(
        f"{location!r} is not a release repository location ({why}); give a directory path "
        f"or a git URL ({', '.join(p + '://' for p in GIT_PROTOCOLS)} or user@host:path). "
        "A path that starts with '-' can be written ./-name.", repo=location)


def check_repository_location(location: str) -> str:
    """``location`` if it is a directory path or a git URL of an allowed scheme
    (:data:`GIT_PROTOCOLS`, or scp-like ``user@host:path``); else
    :class:`~repository.errors.ReleaseError`. Refused: empty text, control characters, a
    leading ``-`` (git would read an option such as ``--upload-pack=CMD``), git's
    ``<transport>::<address>`` remote helpers (``ext::`` runs commands) and hosts or users
    starting with ``-`` (ssh would read an option)."""
    text = str(location)
    if not text.strip():
        raise _refuse_location(text, "it is empty")
    if has_control_characters(text):
        raise _refuse_location(text, "it holds control characters")
    if text.startswith("-"):
        raise _refuse_location(text, "it starts with '-', so git would read it as an option")
    if "::" in text.split("/", 1)[0] or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", text):
        raise _refuse_location(text, "'<transport>::' remote helpers such as ext:: are not "
                                     "allowed")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in GIT_PROTOCOLS:
            raise _refuse_location(text, f"the scheme {scheme}:// is not allowed")
        parts = urlsplit(text)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise _refuse_location(text, "its port is not a number") from None
        if (parts.hostname or "").startswith("-") or (parts.username or "").startswith("-"):
            raise _refuse_location(text, "its host or user starts with '-'")
        if scheme != "file" and not parts.hostname:
            raise _refuse_location(text, "it names no host")
        return text
    scp = _SCP_LIKE.match(text)  # user@host:path (a drive letter C:/ is a path)
    drive = scp is not None and len(scp["host"]) == 1 and text[1:3] in (":\\", ":/")
    if scp and not drive and (scp["host"].startswith("-") or (scp["user"] or "").startswith("-")):
        raise _refuse_location(text, "its host or user starts with '-'")
    return text


def check_remote_url(url: str, *, what: str = "DVC remote") -> str:
    """``url`` if it is a directory path or a URL with a scheme of :data:`REMOTE_SCHEMES`."""
    text = str(url)
    why = None
    if not text.strip():
        why = "it is empty"
    elif has_control_characters(text):
        why = "it holds control characters"
    elif text.startswith("-"):
        why = "it starts with '-'"
    elif "::" in text.split("/", 1)[0]:
        why = "'<transport>::' addresses are not allowed"
    elif "://" in text and text.split("://", 1)[0].lower() not in REMOTE_SCHEMES:
        why = f"the scheme {text.split('://', 1)[0]}:// is not allowed"
    if why is not None:
        raise ReleaseError(f"{text!r} is not a {what} ({why}); give a directory or a URL "
                           f"({', '.join(s + '://' for s in REMOTE_SCHEMES)}).", remote=text)
    if text.lower().startswith("s3://"):
        from repository.extras import require_extra

        require_extra("s3", needed_for=f"the {what} {text}")
    return text


def check_revision(rev: str) -> str:
    """``rev`` if it is a plain tag, branch or commit name git cannot read as an option."""
    text = str(rev)
    if not _REVISION.match(text) or ".." in text or text.endswith((".", "/", ".lock")) \
            or "//" in text or "@{" in text:
        raise ReleaseError(f"{text!r} is not a safe git revision (tag, branch or commit id of "
                           "letters, digits, '.', '_', '/', '+', '@' and '-', not starting with "
                           "'-'); the release repository was not touched.", rev=text)
    return text


def git_environment(**extra: str) -> dict[str, str]:
    """The environment git runs in: no inherited ``GIT_*`` variables, no prompts, C locale, and
    only the protocols of :data:`GIT_PROTOCOLS` (``ext::`` and other helpers are refused)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C",
               GIT_ALLOW_PROTOCOL=":".join(GIT_PROTOCOLS), **extra)
    return env


def is_local_url(url: str) -> bool:
    """True for a directory path (or ``file://`` URL), False for s3://, gs://, ssh:// ..."""
    parsed = urlparse(url)
    return parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and url[1:3] == ":\\")
