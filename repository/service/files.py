"""Files in and out of the service: uploads read with a size limit and a checked name;
downloads as attachments, never rendered by the browser."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import UploadFile
from fastapi.responses import Response

from repository.errors import ConfigError
from repository.names import check_file_name
from repository.reasons import Reason

__all__ = ["read_upload", "download"]

_CHUNK = 1 << 20


async def read_upload(file: UploadFile, limit: int) -> tuple[str, bytes]:
    """(checked file name, bytes) of an uploaded file of at most ``limit`` bytes."""
    name = check_file_name(file.filename or "", what="uploaded file name")
    parts, size = [], 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ConfigError(f"{name} is larger than {limit // 2**20} MiB; send a smaller file.",
                              file=name, reason=Reason.TOO_LARGE)
        parts.append(chunk)
    return name, b"".join(parts)


def download(data: bytes, file_name: str, content_type: str) -> Response:
    """``data`` as a download named ``file_name`` (RFC 6266/5987 filename*)."""
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "_")
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(file_name)}",
        "X-Content-Type-Options": "nosniff"})
