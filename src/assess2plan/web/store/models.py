"""Database tables of the store, one model per canonical table of ``assess2plan.model.SCHEMA``.

Column names are the canonical ones, with this single mapping (``MODELS`` and ``RENAMED`` below
are its machine-readable form, used by the loader):

=====================  ==============================  ============================================
canonical table        canonical column                model field (database column)
=====================  ==============================  ============================================
assessments            taxon_id (text)                 ``taxon`` -> Taxon (``taxon_id``, the Taxon pk);
                                                       the text id is ``Taxon.taxon_id``
every assessment       assessment_id (text)            ``assessment`` -> Assessment (``assessment_id``,
child table                                            the Assessment pk); the text id is
                                                       ``Assessment.assessment_id``
every assessment       taxon_id (text)                 not stored: it is the assessment's taxon
child table
common_names, synonyms taxon_id (text)                 ``taxon`` -> Taxon (``taxon_id``, the Taxon pk)
actions_in_place       group                           ``group_name``
credits                order                           ``position``
=====================  ==============================  ============================================

Every other canonical column keeps its name. Text columns (identifiers and codes included) are
``TextField``: codes stay text ("5.10"), and no length limit can make an import fail on one
database but not the other. Child tables refer to their assessment / taxon through an indexed
ForeignKey without a database constraint (see ``_AssessmentChild``). Besides the canonical columns:
``Assessment.latest`` (the most recent assessment of its taxon for its first scope),
``Assessment.content_hash`` and ``Assessment.dataset`` (the import that first brought it).
Rows are written and read by ``assess2plan.web.store.load`` with raw SQL; the ORM is for the web
app and the admin.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


def _text() -> models.TextField:
    return models.TextField(null=True, blank=True)


class Project(models.Model):
    """A working store of Red List data (one planning project); imports go into one project."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    #: version of the planning-sheet index (``SheetFacet`` rows) built for this project; the
    #: store rebuilds the index when it is older than ``assess2plan.web.store.sheet.INDEX_VERSION``
    sheet_index_version = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.slug


class Dataset(models.Model):
    """One import: the files it read and what it changed."""

    STATUS_IMPORTED = "imported"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    format = models.CharField(max_length=40, blank=True, default="")
    #: [{"path": ..., "format": ..., "sha256": ..., "rows": ...}, ...]
    sources = models.JSONField(default=list, blank=True)
    #: sha256 over the sorted source sha256s (over the content when the set has no sources)
    fingerprint = models.CharField(max_length=80, db_index=True)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.TextField(blank=True, default="")
    #: rows added per canonical table
    counts = models.JSONField(default=dict, blank=True)
    #: warnings (strings), capped
    issues = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, default=STATUS_IMPORTED)

    class Meta:
        ordering = ["imported_at", "id"]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.id} {self.format} {self.imported_at:%Y-%m-%d %H:%M}"


class Taxon(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="taxa")
    taxon_id = models.TextField()
    scientific_name = _text()
    kingdom = _text()
    phylum = _text()
    class_name = _text()
    order_name = _text()
    family = _text()
    genus = _text()
    species = _text()
    infra_type = _text()
    infra_name = _text()
    infra_authority = _text()
    subpopulation = _text()
    authority = _text()
    taxonomic_notes = _text()

    class Meta:
        verbose_name_plural = "taxa"
        constraints = [
            models.UniqueConstraint(fields=["project", "taxon_id"], name="store_taxon_project_taxon_id")
        ]

    def __str__(self) -> str:
        return f"{self.scientific_name} ({self.taxon_id})"


class Assessment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assessments")
    taxon = models.ForeignKey(Taxon, on_delete=models.CASCADE, related_name="assessments")
    #: the first import that brought this assessment
    dataset = models.ForeignKey(Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    assessment_id = models.TextField()
    scientific_name = _text()
    category = _text()
    category_label = _text()
    criteria = _text()
    criteria_version = _text()
    year_published = models.IntegerField(null=True, blank=True)
    assessment_date = models.DateField(null=True, blank=True)
    scopes = _text()
    language = _text()
    possibly_extinct = models.BooleanField(null=True, blank=True)
    possibly_extinct_in_the_wild = models.BooleanField(null=True, blank=True)
    population_trend = _text()
    year_last_seen = _text()
    systems = _text()
    realms = _text()
    rationale = _text()
    range_text = _text()
    population_text = _text()
    habitat_text = _text()
    threats_text = _text()
    use_trade_text = _text()
    conservation_actions_text = _text()
    taxonomic_notes = _text()
    url = _text()
    citation = _text()
    #: the most recent assessment of its taxon for its first scope
    latest = models.BooleanField(default=True)
    #: sha256 over the assessment row and all its child rows (order-independent), as imported
    content_hash = models.CharField(max_length=64)
    #: number of workshop edits applied to this assessment (optimistic concurrency: an edit
    #: made against an older revision is refused instead of silently overwriting)
    revision = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "assessment_id"], name="store_assessment_project_aid")
        ]
        indexes = [
            models.Index(fields=["project", "latest"], name="store_assessment_latest"),
            models.Index(fields=["category"], name="store_assessment_category"),
            # planning-sheet filters, default sort and taxon join without reading the rows (0004)
            models.Index(
                fields=["project", "latest", "scientific_name", "category", "scopes", "year_published", "taxon", "assessment_id", "id"],
                name="store_assessment_sheet",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scientific_name} {self.category} {self.year_published} ({self.assessment_id})"


class _AssessmentChild(models.Model):
    # No database-level FOREIGN KEY constraint (db_constraint=False; the column is indexed): the
    # loader writes child rows only for assessments it has just written, and a constraint would
    # make PostgreSQL check and lock the parent row once per child row (10 million times for a
    # full Red List). Deleting through the ORM still cascades.
    assessment = models.ForeignKey(
        Assessment, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )

    class Meta:
        abstract = True


class Threat(_AssessmentChild):
    code = _text()
    name = _text()
    timing = _text()
    scope = _text()
    severity = _text()
    impact_score = models.IntegerField(null=True, blank=True)
    impact = _text()
    stress_codes = _text()
    stress_names = _text()
    ancestry = _text()
    ias = _text()
    virus = _text()
    international_trade = _text()
    text = _text()

    class Meta:
        indexes = [models.Index(fields=["code", "assessment"], name="store_threat_code_a")]


class ActionNeeded(_AssessmentChild):
    code = _text()
    name = _text()
    note = _text()

    class Meta:
        verbose_name_plural = "actions needed"
        indexes = [models.Index(fields=["code", "assessment"], name="store_actionneeded_code_a")]


class ActionInPlace(_AssessmentChild):
    field = _text()
    group_name = _text()  # canonical "group"
    name = _text()
    value = _text()
    note = _text()

    class Meta:
        verbose_name_plural = "actions in place"


class ResearchNeeded(_AssessmentChild):
    code = _text()
    name = _text()
    note = _text()

    class Meta:
        verbose_name_plural = "research needed"
        indexes = [models.Index(fields=["code", "assessment"], name="store_researchneeded_code_a")]


class Habitat(_AssessmentChild):
    code = _text()
    name = _text()
    major_importance = _text()
    season = _text()
    suitability = _text()

    class Meta:
        indexes = [models.Index(fields=["code", "assessment"], name="store_habitat_code_a")]


class Occurrence(_AssessmentChild):
    kind = _text()
    code = _text()
    name = _text()
    presence = _text()
    origin = _text()
    seasonality = _text()
    formerly_bred = _text()

    class Meta:
        indexes = [models.Index(fields=["kind", "code", "assessment"], name="store_occurrence_kind_code_a")]


class UseTrade(_AssessmentChild):
    code = _text()
    name = _text()
    international = _text()
    national = _text()
    other = _text()
    subsistence = _text()

    class Meta:
        verbose_name_plural = "use and trade"


class Credit(_AssessmentChild):
    credit_type = _text()
    text = _text()
    names = _text()
    position = models.IntegerField(null=True, blank=True)  # canonical "order"


class OtherField(_AssessmentChild):
    field = _text()
    value = _text()


class _TaxonChild(models.Model):
    taxon = models.ForeignKey(Taxon, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        abstract = True


class CommonName(_TaxonChild):
    name = _text()
    language = _text()
    main = models.BooleanField(null=True, blank=True)


class Synonym(_TaxonChild):
    name = _text()
    genus = _text()
    species = _text()
    species_author = _text()
    infra_type = _text()
    infra_name = _text()
    infra_author = _text()


class SheetFacet(models.Model):
    """Planning-sheet index: one coded value of one assessment (derived; rebuilt from the tables).

    ``field`` is a sheet filter field (``threat``, ``major_threat``, ``country``, ``lme``,
    ``action_needed``, ...; see ``assess2plan.sheet.FIELDS``), ``value`` a code as recorded. A
    coded filter such as "threat=7.2" looks up 7.2 and every code below it that the store holds
    (``SheetValue``). ``ancestor`` is kept for stores indexed before version 2 (always false now).
    """

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    field = models.CharField(max_length=20)
    value = models.TextField()
    ancestor = models.BooleanField(default=False)

    class Meta:
        # covering: filters and facet counts read assessment ids from the index alone (0004)
        indexes = [models.Index(fields=["field", "value", "assessment"], name="store_sheetfacet_lookup")]


class SheetValue(models.Model):
    """Every distinct (field, value) of ``SheetFacet`` ever written (a few thousand rows): expands
    a coded filter ("threat=7") into the recorded codes below it (7.1.1, 7.2, 7.2.10, ...)."""

    field = models.CharField(max_length=20)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "value"], name="store_sheetvalue_unique")]


class TsVectorField(models.TextField):
    """PostgreSQL ``tsvector`` (plain text elsewhere, where the column stays empty)."""

    def db_type(self, connection):  # noqa: ANN001, ANN201
        return "tsvector" if connection.vendor == "postgresql" else "text"


class TextPending(models.Model):
    """Assessments whose narrative text is not in the full-text index yet.

    An import writes the assessments and lists them here; ``search.index_text`` then indexes them
    in batches of their own transactions (resumable), and a text search finishes whatever is left
    first. Tokenising the narrative texts is the costliest part of a Red List-scale import."""

    assessment = models.OneToOneField(
        Assessment, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )


class AssessmentText(models.Model):
    """PostgreSQL's full-text index: the ``tsvector`` of an assessment's narrative fields (GIN
    index ``store_assessmenttext_search``, migration 0004). Unused on SQLite (FTS5 there)."""

    assessment = models.OneToOneField(
        Assessment, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    search_vector = TsVectorField(null=True)


class Edit(models.Model):
    """One workshop edit of the stored assessments (a bulk edit or the undo of one).

    ``changes``: ``[{"assessment_id", "taxon_id", "scientific_name", "revision", "before": [rows],
    "after": [rows]}]`` where rows are the edited table's canonical rows of that assessment
    (for ``actions_needed``: ``{"code", "name", "note"}``) before and after the edit.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="edits")
    table = models.CharField(max_length=40, default="actions_needed")
    operation = models.CharField(max_length=40)  # add | remove | undo
    code = models.TextField(blank=True, default="")
    note = models.TextField(blank=True, default="")
    #: the selection as the user gave it ("category=CR,EN site=Lake X threat=7.2")
    selection = models.TextField(blank=True, default="")
    reason = models.TextField()
    made_by = models.TextField()
    made_at = models.DateTimeField(default=timezone.now)
    changes = models.JSONField(default=list)
    #: for an undo: the edit it undoes
    undoes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by"
    )

    class Meta:
        ordering = ["made_at", "id"]

    def __str__(self) -> str:
        return f"edit {self.id}: {self.operation} {self.code} ({len(self.changes)} assessments) by {self.made_by}"


#: canonical table -> model
MODELS: dict[str, type[models.Model]] = {
    "taxa": Taxon,
    "assessments": Assessment,
    "threats": Threat,
    "actions_needed": ActionNeeded,
    "actions_in_place": ActionInPlace,
    "research_needed": ResearchNeeded,
    "habitats": Habitat,
    "occurrence": Occurrence,
    "use_trade": UseTrade,
    "credits": Credit,
    "other_fields": OtherField,
    "common_names": CommonName,
    "synonyms": Synonym,
}

#: canonical column -> model field, where they differ (see the module docstring)
RENAMED: dict[tuple[str, str], str] = {
    ("actions_in_place", "group"): "group_name",
    ("credits", "order"): "position",
}


def field_name(table: str, column: str) -> str:
    """The model field holding canonical ``column`` of ``table`` (identity except ``RENAMED``)."""
    return RENAMED.get((table, column), column)


from .exsitu_models import *  # noqa: E402,F401,F403
from .planning_models import *  # noqa: E402,F401,F403
