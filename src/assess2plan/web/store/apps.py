from __future__ import annotations

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "assess2plan.web.store"
    label = "store"
    verbose_name = "Red List store"
    default_auto_field = "django.db.models.BigAutoField"
