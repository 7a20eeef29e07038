"""URLs of the plan pages (placeholder until the pages land)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _todo(request, slug: str) -> HttpResponse:  # noqa: ANN001
    return HttpResponse("not built yet", status=501)


urlpatterns = [
    path("p/<slug:slug>/dashboard/", _todo, name="dashboard"),
    path("p/<slug:slug>/sites/", _todo, name="sites"),
    path("p/<slug:slug>/events/", _todo, name="events"),
    path("p/<slug:slug>/reports/", _todo, name="reports"),
]
