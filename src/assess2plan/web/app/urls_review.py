"""URLs of the review pages: findings (bulk fixes), clusters, triage board, audit log."""

from __future__ import annotations

from django.urls import path

from assess2plan.web.app import views_review as v

urlpatterns = [
    path("p/<slug:slug>/findings/", v.findings, name="findings"),
    path("p/<slug:slug>/findings/fix/", v.findings_fix, name="findings-fix"),
    path("p/<slug:slug>/clusters/", v.clusters, name="clusters"),
    path("p/<slug:slug>/triage/", v.triage, name="triage"),
    path("p/<slug:slug>/triage/decide/", v.triage_decide, name="triage-decide"),
    path("p/<slug:slug>/triage/undo/", v.triage_undo, name="triage-undo"),
    path("p/<slug:slug>/audit/", v.audit, name="audit"),
    path("p/<slug:slug>/audit/undo/", v.audit_undo, name="audit-undo"),
]
