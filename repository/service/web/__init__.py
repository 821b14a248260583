"""The web pages of trialists and curators, over the same sessions, policy and CSRF as the
JSON API (:mod:`repository.service.policy`): Jinja2 templates (autoescaped) in
``repository/service/templates``, one stylesheet shared with the HTML reports, a small script
that only enhances (every form works without it), no build step.

=================  ==============================================================================
module             pages
=================  ==============================================================================
``queries``        the question list (trialists) / resolve-issues list (curators), one question
                   with values, thread, answer form, attachments; curators' decisions
``files``          the query workbook (download, answered upload) and re-deliveries through the
                   identifier gate (trialists upload, curators ingest or reject)
``admin``          users and tokens, the reports and dashboard (curators)
``assets``         the stylesheet and the script (inline answer checks; the one-time link's
                   token into the choose-a-password form of :mod:`repository.service.pages`)
=================  ==============================================================================
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

__all__ = ["router", "MODULES"]

MODULES = ("queries", "files", "admin", "assets")
router = APIRouter(include_in_schema=False)
for _name in MODULES:
    router.include_router(importlib.import_module(f"repository.service.web.{_name}").router)
