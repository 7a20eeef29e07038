from __future__ import annotations

from django.apps import AppConfig


class WebAppConfig(AppConfig):
    name = "assess2plan.web.app"
    label = "webapp"
    verbose_name = "assess2plan web application"
    default_auto_field = "django.db.models.BigAutoField"
