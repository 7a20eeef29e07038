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
    #: may see the precise locations of sensitive taxa (admins always may)
    sees_sensitive = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="webapp_membership_user_project"),
            models.CheckConstraint(condition=models.Q(role__in=ROLES), name="webapp_membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} in {self.project}"


class ApiToken(models.Model):
    """A token for the REST API (``Authorization: Bearer <token>``). Only a SHA-256 hash of the
    token is stored; the token itself is shown once when it is made. The token acts as its user,
    with the user's roles in each project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    #: first characters of the token, to tell tokens apart in lists
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user}"


IMPORT_STATUSES = ("queued", "running", "done", "failed")


class ImportJob(models.Model):
    """An import started from the web page: the uploaded files (kept in ``folder`` until the job
    ends), its progress (``stage``, ``done`` of ``total``) and its outcome (``message``; ``result``
    is the import's summary as JSON)."""

    project_slug = models.SlugField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="import_jobs"
    )
    status = models.CharField(max_length=10, default="queued")
    folder = models.TextField(blank=True, default="")
    files = models.TextField(blank=True, default="")
    stage = models.TextField(blank=True, default="")
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    message = models.TextField(blank=True, default="")
    result = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.id} into {self.project_slug}: {self.status}"
