"""URLs of the REST API (placeholder until the API lands)."""

from __future__ import annotations

urlpatterns: list = []
