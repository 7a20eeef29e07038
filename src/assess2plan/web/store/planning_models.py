"""Database tables of multi-species planning (issue 4): sites and the species at them, site events
and their notifications, stakeholders and their commitments, bucket decisions, re-assessment flags.

Everything belongs to one ``Project``. Species are referred to by their Red List **taxon id as
text** (``taxon_id``), never by a foreign key to ``Taxon``: the taxon id is stable across
downloads, so links, commitments, decisions and flags survive a re-import that replaces the
assessments. Rows are written only through ``assess2plan.web.store.planning`` (one transaction
per call, who and when recorded); records that people rely on are never deleted:

* ``BucketDecision`` is append-only: an undo sets ``undone_by`` / ``undone_at``;
* ``ReassessmentFlag`` is cleared (``cleared_by`` / ``cleared_at``), not deleted;
* ``Subscription`` is switched off (``active=False``), not deleted, so old deliveries keep their target;
* ``SiteLink`` is marked removed (``removed_by`` / ``removed_at``) when a species is unlinked;
* ``Site``, ``Stakeholder`` and ``Commitment`` carry a ``version`` that every update raises by one:
  an update made against an older version is refused (optimistic locking), never overwrites.

This module is star-imported at the end of ``models.py`` (Django finds the app's models there).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .models import Project


def _text() -> models.TextField:
    return models.TextField(null=True, blank=True)


class Site(models.Model):
    """A place that species depend on: a lake, river basin, reef, Key Biodiversity Area, protected area.

    ``site_id`` is the user's short id ("VL01", "lake-mirren"), unique in the project. ``geometry``
    is a GeoJSON geometry (text) or null; ``sensitive`` sites have precise locations that only
    allowed users may see (the geometry is left out of notifications and redacted on request).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sites")
    site_id = models.CharField(max_length=100)
    name = models.TextField()
    #: lake | river | river_basin | reef | kba | protected_area | wetland | other
    kind = models.CharField(max_length=40, default="other")
    #: ISO 3166 alpha-2
    country = models.CharField(max_length=2, null=True, blank=True)
    description = models.TextField(blank=True, default="")
    #: GeoJSON geometry object as text (validated on write)
    geometry = _text()
    sensitive = models.BooleanField(default=False)
    version = models.IntegerField(default=1)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    updated_by = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["site_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "site_id"], name="store_site_project_site_id")
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.name}"


class SiteLink(models.Model):
    """A species (Red List taxon id, text) known at a site, and where that knowledge came from.

    Unlinking keeps the row (``removed_by`` / ``removed_at``); linking the species again reuses it.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="links")
    taxon_id = models.TextField()
    #: import | points | range | manual
    source = models.CharField(max_length=20, default="manual")
    note = models.TextField(blank=True, default="")
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    removed_by = models.TextField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["site_id", "taxon_id"]
        constraints = [models.UniqueConstraint(fields=["site", "taxon_id"], name="store_sitelink_site_taxon")]
        indexes = [models.Index(fields=["taxon_id"], name="store_sitelink_taxon")]

    def __str__(self) -> str:
        return f"{self.taxon_id} at site {self.site_id}"


class SiteEvent(models.Model):
    """Something that happened at a site (lake dried up, reef lost 20 % cover, disease outbreak).

    ``affected`` is the snapshot taken when the event was raised: one dict per species linked to
    the site, with the columns of the affected-species frame (see ``planning.AFFECTED_COLUMNS``).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="site_events")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="events")
    title = models.TextField()
    description = models.TextField(blank=True, default="")
    #: info | warning | critical
    severity = models.CharField(max_length=20, default="warning")
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    affected = models.JSONField(default=list)

    class Meta:
        ordering = ["made_at", "id"]

    def __str__(self) -> str:
        return f"event {self.id} at {self.site_id}: {self.title}"


class Subscription(models.Model):
    """Who is told about site events: an e-mail address or a webhook URL, for one site or (``site``
    null) every site of the project. ``secret`` signs webhook bodies (HMAC-SHA256)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="subscriptions")
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="subscriptions"
    )
    #: email | webhook
    channel = models.CharField(max_length=20)
    target = models.TextField()
    secret = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    ended_by = models.TextField(blank=True, default="")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel} {self.target} ({'all sites' if self.site_id is None else self.site_id})"


class Delivery(models.Model):
    """One notification of one event to one subscription, with every attempt in ``log``
    (``[{"attempt", "at", "outcome", "error"}]``)."""

    event = models.ForeignKey(SiteEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=20)
    target = models.TextField()
    #: pending | sent | failed
    status = models.CharField(max_length=20, default="pending")
    attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    log = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery {self.id} of event {self.event_id} to {self.target}: {self.status}"


class Stakeholder(models.Model):
    """A person or organisation that can take a plan forward.

    ``countries`` (ISO alpha-2), ``sites`` (site ids) and ``expertise`` ("t:7.2" threat, "a:2.1"
    action, "taxon:Cyprinidae", or free words) are ``|``-joined text.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stakeholders")
    stakeholder_id = models.CharField(max_length=100)
    name = models.TextField()
    #: organisation | person
    kind = models.CharField(max_length=20, default="organisation")
    organisation = models.TextField(blank=True, default="")
    role = models.TextField(blank=True, default="")
    email = models.TextField(blank=True, default="")
    webhook = models.TextField(blank=True, default="")
    countries = models.TextField(blank=True, default="")
    sites = models.TextField(blank=True, default="")
    expertise = models.TextField(blank=True, default="")
    #: manual | credits
    source = models.CharField(max_length=20, default="manual")
    version = models.IntegerField(default=1)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    updated_by = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stakeholder_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "stakeholder_id"], name="store_stakeholder_project_sid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stakeholder_id} {self.name}"


class Commitment(models.Model):
    """A stakeholder signs up for a conservation action (scheme 2.0 code) for a taxon and/or a
    cluster of species, at a place, by a date. Progress is kept in ``CommitmentNote`` rows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="commitments")
    #: "C1", "C2", ... per project
    commitment_id = models.CharField(max_length=40)
    stakeholder = models.ForeignKey(Stakeholder, on_delete=models.PROTECT, related_name="commitments")
    taxon_id = _text()
    cluster_id = _text()
    action_code = models.CharField(max_length=20)
    place = models.TextField(blank=True, default="")
    due_date = models.DateField(null=True, blank=True)
    #: proposed | active | done | dropped
    status = models.CharField(max_length=20, default="proposed")
    version = models.IntegerField(default=1)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    updated_by = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "commitment_id"], name="store_commitment_project_cid")
        ]
        indexes = [models.Index(fields=["project", "taxon_id"], name="store_commitment_taxon")]

    def __str__(self) -> str:
        return f"{self.commitment_id}: {self.action_code} ({self.status})"


class CommitmentNote(models.Model):
    """A progress note on a commitment, with the status it left the commitment in."""

    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField(blank=True, default="")
    status_after = models.CharField(max_length=20)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["made_at", "id"]


class BucketDecision(models.Model):
    """A facilitator's decision on a planning bucket of a taxon: accept or reject a suggestion, or
    add the taxon to a bucket by hand. Append-only; the latest decision per (taxon, bucket) that
    was not undone counts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="bucket_decisions")
    taxon_id = models.TextField()
    #: single_species | site_based | threat_based | ex_situ
    bucket = models.CharField(max_length=40)
    #: accept | reject | add
    decision = models.CharField(max_length=20)
    reason = models.TextField()
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    undone_by = models.TextField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["made_at", "id"]
        indexes = [models.Index(fields=["project", "taxon_id"], name="store_bucketdecision_taxon")]

    def __str__(self) -> str:
        return f"{self.decision} {self.bucket} for {self.taxon_id}"


class ReassessmentFlag(models.Model):
    """A taxon whose assessment should be revisited (e.g. after an event at one of its sites)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reassessment_flags")
    taxon_id = models.TextField()
    reason = models.TextField()
    event = models.ForeignKey(
        SiteEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="flags"
    )
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    cleared_by = models.TextField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["made_at", "id"]
        indexes = [models.Index(fields=["project", "taxon_id"], name="store_reassessflag_taxon")]

    def __str__(self) -> str:
        return f"re-assess {self.taxon_id}: {self.reason}"


class SensitiveTaxon(models.Model):
    """A taxon whose precise locations (sites it is linked to, site geometries, subnational
    places) are shown only to users allowed to see sensitive data (flagged on import or by an
    admin). Unflagging keeps the row (``removed_by`` / ``removed_at``); flagging again reuses it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sensitive_taxa")
    taxon_id = models.TextField()
    reason = models.TextField()
    #: import | manual
    source = models.CharField(max_length=20, default="manual")
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    removed_by = models.TextField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    remove_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["taxon_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "taxon_id"], name="store_sensitivetaxon_project_taxon")
        ]

    def __str__(self) -> str:
        return f"sensitive {self.taxon_id}"


__all__ = [
    "SensitiveTaxon",
    "BucketDecision",
    "Commitment",
    "CommitmentNote",
    "Delivery",
    "ReassessmentFlag",
    "Site",
    "SiteEvent",
    "SiteLink",
    "Stakeholder",
    "Subscription",
]
