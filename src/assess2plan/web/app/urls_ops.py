"""URLs of the ops pages (placeholder until the pages land)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _todo(request, slug: str) -> HttpResponse:  # noqa: ANN001
    return HttpResponse("not built yet", status=501)


urlpatterns = [
    path("p/<slug:slug>/imports/", _todo, name="imports"),
    path("p/<slug:slug>/stakeholders/", _todo, name="stakeholders"),
    path("p/<slug:slug>/commitments/", _todo, name="commitments"),
]
