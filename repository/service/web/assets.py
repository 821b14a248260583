"""The pages' stylesheet (the one every HTML page inlines: repository/html/style.css) and script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from repository.html import stylesheet as style_text
from repository.service.policy import public

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_JS = (Path(__file__).parents[1] / "static" / "pages.js").read_text(encoding="utf-8")
_CACHE = {"Cache-Control": "public, max-age=3600"}


@router.get("/static/ipdrepo.css")
def stylesheet(_: None = Depends(public("the stylesheet holds nothing of the store"))
               ) -> Response:
    return Response(str(style_text()), media_type="text/css", headers=_CACHE)


@router.get("/static/pages.js")
def script(_: None = Depends(public("the pages' script holds nothing of the store"))
           ) -> Response:
    return Response(_JS, media_type="text/javascript", headers=_CACHE)
