"""URLs of the ex situ pages (issue 6): the pre-screen with the holdings and CITES imports, the
five-step assessment of a species, its step saves and its decision report."""

from __future__ import annotations

from django.urls import path

from assess2plan.web.app import views_exsitu as v

urlpatterns = [
    path("p/<slug:slug>/exsitu/", v.exsitu, name="exsitu"),
    # fixed paths before the taxon paths (a taxon id is any text)
    path("p/<slug:slug>/exsitu/start/", v.exsitu_start, name="exsitu-start"),
    path("p/<slug:slug>/exsitu/holdings/", v.exsitu_holdings, name="exsitu-holdings"),
    path("p/<slug:slug>/exsitu/cites/", v.exsitu_cites, name="exsitu-cites"),
    path("p/<slug:slug>/exsitu/<str:taxon_id>/", v.exsitu_assessment, name="exsitu-assessment"),
    path("p/<slug:slug>/exsitu/<str:taxon_id>/step/<str:step>/", v.exsitu_step, name="exsitu-step"),
    path("p/<slug:slug>/exsitu/<str:taxon_id>/report.<str:fmt>", v.exsitu_report, name="exsitu-report"),
]
