"""URLs of the plan pages: dashboard, sites, site events and subscriptions, reports.

``p/<slug>/sites/`` lists the sites (GET) and adds one (POST, facilitators and up)."""

from __future__ import annotations

from django.urls import path

from assess2plan.web.app import views_plan as v

urlpatterns = [
    path("p/<slug:slug>/dashboard/", v.dashboard, name="dashboard"),
    path("p/<slug:slug>/dashboard/map.json", v.dashboard_map, name="dashboard-map"),
    path("map/world-110m.geojson", v.world_map, name="world-map"),
    # sites
    path("p/<slug:slug>/sites/", v.sites, name="sites"),
    path("p/<slug:slug>/sites/<str:site_id>/", v.site, name="site"),
    path("p/<slug:slug>/sites/<str:site_id>/edit/", v.site_edit, name="site-edit"),
    path("p/<slug:slug>/sites/<str:site_id>/link/", v.site_link, name="site-link"),
    path("p/<slug:slug>/sites/<str:site_id>/unlink/", v.site_unlink, name="site-unlink"),
    path("p/<slug:slug>/sites/<str:site_id>/event/", v.site_event, name="site-event"),
    # events and subscriptions
    path("p/<slug:slug>/events/", v.events, name="events"),
    path("p/<slug:slug>/events/subscriptions/add/", v.subscription_add, name="subscription-add"),
    path(
        "p/<slug:slug>/events/subscriptions/<str:subscription_id>/off/",
        v.subscription_off,
        name="subscription-off",
    ),
    path("p/<slug:slug>/events/<str:event_id>/", v.event, name="event"),
    path("p/<slug:slug>/events/<str:event_id>/retry/", v.event_retry, name="event-retry"),
    # reports and downloads
    path("p/<slug:slug>/reports/", v.reports, name="reports"),
    path("p/<slug:slug>/reports/workshop.xlsx", v.report_workbook, name="report-workbook"),
    path("p/<slug:slug>/reports/workshop.<str:fmt>", v.report_workshop, name="report-workshop"),
    path("p/<slug:slug>/reports/datasheet/", v.report_datasheet, name="report-datasheet"),
    path("p/<slug:slug>/reports/findings.csv", v.report_findings, name="report-findings"),
]
