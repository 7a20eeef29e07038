"""URLs of the review pages (placeholder until the pages land)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _todo(request, slug: str) -> HttpResponse:  # noqa: ANN001
    return HttpResponse("not built yet", status=501)


urlpatterns = [
    path("p/<slug:slug>/findings/", _todo, name="findings"),
    path("p/<slug:slug>/clusters/", _todo, name="clusters"),
    path("p/<slug:slug>/triage/", _todo, name="triage"),
    path("p/<slug:slug>/audit/", _todo, name="audit"),
]
