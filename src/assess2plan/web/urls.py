"""URLs of the assess2plan web application."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from assess2plan.web.app import views
from assess2plan.web.app.auth import LoginView

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("p/<slug:slug>/", views.sheet, name="sheet"),
    path("p/<slug:slug>/species/<str:taxon_id>/", views.species, name="species"),
    path("p/<slug:slug>/species/<str:taxon_id>/actions/", views.species_action, name="species-action"),
    path("", include("assess2plan.web.app.urls_review")),
    path("", include("assess2plan.web.app.urls_plan")),
    path("", include("assess2plan.web.app.urls_ops")),
    path("", include("assess2plan.web.app.urls_exsitu")),
    path("", include("assess2plan.web.api.urls")),
]
