"""URLs of the REST API (``/api/v1/``: operations, ``openapi.json``, ``docs``) and of the tokens page."""

from __future__ import annotations

from django.urls import path

from assess2plan.web.api import views
from assess2plan.web.api.api import api
from assess2plan.web.api.docs import docs_asset

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/revoke/", views.revoke_token, name="token-revoke"),
    path("api/v1/docs/assets/<str:name>", docs_asset, name="api-docs-asset"),
    path("api/v1/", api.urls),
]
