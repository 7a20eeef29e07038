"""URLs of the ops pages: imports (jobs, new project), sensitive taxa, stakeholders, commitments."""

from __future__ import annotations

from django.urls import path

from assess2plan.web.app import views_ops as v

urlpatterns = [
    path("imports/new/", v.import_new, name="import-new"),
    path("p/<slug:slug>/imports/", v.imports, name="imports"),
    path("p/<slug:slug>/imports/<int:job_id>/", v.import_job, name="import-job"),
    path("p/<slug:slug>/sensitive/", v.sensitive, name="sensitive"),
    path("p/<slug:slug>/stakeholders/", v.stakeholders, name="stakeholders"),
    path("p/<slug:slug>/stakeholders/import/", v.stakeholder_import, name="stakeholder-import"),
    path("p/<slug:slug>/stakeholders/experts/", v.experts, name="experts"),
    path("p/<slug:slug>/stakeholders/suggest/", v.suggest, name="suggest-stakeholders"),
    # "s/" keeps stakeholder ids apart from the pages above (an id may be "experts")
    path("p/<slug:slug>/stakeholders/s/<str:sid>/", v.stakeholder, name="stakeholder"),
    path("p/<slug:slug>/commitments/", v.commitments, name="commitments"),
    path("p/<slug:slug>/commitments/new/", v.commitment_new, name="commitment-new"),
    path("p/<slug:slug>/commitments/export/", v.commitments_export, name="commitments-export"),
    path("p/<slug:slug>/commitments/<str:cid>/", v.commitment, name="commitment"),
]
