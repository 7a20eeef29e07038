"""Who belongs to which project, with which role.

Roles, weakest first (each includes the rights of the ones before it):

``viewer``       reads the project's pages (sheet, species, findings, reports);
``assessor``     also edits assessments (actions needed, ...);
``facilitator``  also takes planning decisions (buckets, sites, events, commitments);
``admin``        also manages the project's members.

A Django superuser is ``admin`` of every project without a membership row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from assess2plan.web.store.models import Project

ROLES = ("viewer", "assessor", "facilitator", "admin")
ROLE_CHOICES = [(r, r) for r in ROLES]


class ProjectMembership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="viewer")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="webapp_membership_user_project"),
            models.CheckConstraint(condition=models.Q(role__in=ROLES), name="webapp_membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} in {self.project}"
