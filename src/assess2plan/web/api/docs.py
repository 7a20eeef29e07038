"""The browsable API page (/api/v1/docs): Swagger UI served from this server, never from a CDN.

django-ninja ships the Swagger UI files (``ninja/static/ninja``) but links them from a CDN unless
``ninja`` is an installed app; here they are served by ``docs_asset`` (a short fixed list of
files) and the page is our own, with Swagger's online validator switched off (it would call
validator.swagger.io), so the page works in a workshop without internet.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template import engines
from django.urls import reverse
from ninja.openapi.docs import Swagger

ASSETS_DIR = Path(ninja.__file__).resolve().parent / "static" / "ninja"
#: the files the page needs (nothing else of that folder is served)
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-init.js", "favicon.svg", "favicon.png")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }} · documentation</title>
<link rel="stylesheet" href="{{ css }}">
<link rel="icon" href="{{ icon }}" type="image/svg+xml">
</head>
<body data-csrf-token="{{ csrf_token }}" data-api-csrf="true">
<script type="application/json" id="swagger-settings">{{ settings|safe }}</script>
<div id="swagger-ui"></div>
<script src="{{ bundle }}"></script>
<script src="{{ init }}"></script>
</body>
</html>
"""


def _asset_url(name: str) -> str:
    return reverse("api-docs-asset", args=[name])


class OfflineSwagger(Swagger):
    """Swagger UI from local files, validator off, CSRF token for session calls from the page."""

    def __init__(self) -> None:
        super().__init__(settings={"validatorUrl": None, "persistAuthorization": False})

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        # "</" cannot end the script element early: the settings are data, not markup
        text = json.dumps(settings).replace("</", "<\\/")
        template = engines["django"].from_string(PAGE)
        html = template.render(
            {
                "title": api.title,
                "settings": text,
                "css": _asset_url("swagger-ui.css"),
                "icon": _asset_url("favicon.svg"),
                "bundle": _asset_url("swagger-ui-bundle.js"),
                "init": _asset_url("swagger-ui-init.js"),
            },
            request,
        )
        return HttpResponse(html)


def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    """One of the Swagger UI files shipped with django-ninja."""
    if name not in ASSETS:
        raise Http404("no such file")
    path = ASSETS_DIR / name
    if not path.is_file():
        raise Http404("no such file")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(path.open("rb"), content_type=kind)
    response["Cache-Control"] = "public, max-age=86400"
    return response
