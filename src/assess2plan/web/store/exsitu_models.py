"""Database tables of ex situ conservation assessment (issue 6).

* ``ExSituSource``: one imported file of ex situ holdings (a Species360/ZIMS-style table) or a
  CITES Species+ checklist, with who imported it, when, and its SHA-256. Holdings files add up
  (several zoo associations, a studbook); a new CITES checklist replaces the previous one. A
  replaced source is kept (``replaced_by`` / ``replaced_at``) with its rows, so what an assessment
  was pre-filled from stays on record.
* ``ExSituHolding`` / ``CitesListing``: the rows of a source, as the file gave them. They are
  matched to taxa of the project when read (names and synonyms change with new downloads).
* ``ExSituAssessment``: the five-step assessment of one taxon (``assess2plan.exsitu.assessment``),
  as a JSON record with a ``version`` that every save raises by one; a save made against an older
  version is refused (optimistic locking). ``ExSituAssessmentChange`` keeps every saved version
  (the whole record, the step changed, who, when, note).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .models import Project


class ExSituSource(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exsitu_sources")
    #: holdings | cites
    kind = models.CharField(max_length=20)
    path = models.TextField()
    sha256 = models.CharField(max_length=64)
    rows = models.IntegerField(default=0)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    replaced_by = models.TextField(null=True, blank=True)
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["made_at", "id"]
        indexes = [models.Index(fields=["project", "kind"], name="store_exsitusource_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


class ExSituHolding(models.Model):
    source = models.ForeignKey(ExSituSource, on_delete=models.CASCADE, related_name="holdings")
    row = models.IntegerField()
    name = models.TextField()
    institution = models.TextField(null=True, blank=True)
    country = models.TextField(null=True, blank=True)
    males = models.IntegerField(null=True, blank=True)
    females = models.IntegerField(null=True, blank=True)
    unknown = models.IntegerField(null=True, blank=True)
    total = models.IntegerField(null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    data_source = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["source_id", "row"]


class CitesListing(models.Model):
    source = models.ForeignKey(ExSituSource, on_delete=models.CASCADE, related_name="listings")
    row = models.IntegerField()
    cites_taxon_id = models.TextField(null=True, blank=True)
    name = models.TextField()
    rank = models.TextField(null=True, blank=True)
    kingdom = models.TextField(null=True, blank=True)
    class_name = models.TextField(null=True, blank=True)
    order_name = models.TextField(null=True, blank=True)
    family = models.TextField(null=True, blank=True)
    genus = models.TextField(null=True, blank=True)
    listing = models.TextField(null=True, blank=True)
    annotation = models.TextField(null=True, blank=True)
    synonyms = models.TextField(null=True, blank=True)
    common_names = models.TextField(null=True, blank=True)
    countries = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["source_id", "row"]


class ExSituAssessment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exsitu_assessments")
    taxon_id = models.TextField()
    record = models.JSONField()
    version = models.IntegerField(default=1)
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    updated_by = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taxon_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "taxon_id"], name="store_exsituassessment_taxon")
        ]

    def __str__(self) -> str:
        return f"ex situ assessment of {self.taxon_id} (v{self.version})"


class ExSituAssessmentChange(models.Model):
    assessment = models.ForeignKey(ExSituAssessment, on_delete=models.CASCADE, related_name="changes")
    version = models.IntegerField()
    #: start | status | roles | dimensions | feasibility | decision | translocation | refresh
    step = models.CharField(max_length=20)
    record = models.JSONField()
    note = models.TextField(blank=True, default="")
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["version"]


__all__ = [
    "CitesListing",
    "ExSituAssessment",
    "ExSituAssessmentChange",
    "ExSituHolding",
    "ExSituSource",
]
