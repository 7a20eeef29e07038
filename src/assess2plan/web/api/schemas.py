"""What the API answers and accepts (the OpenAPI schema at /api/v1/openapi.json is made from these).

Codes (categories, threat and action codes, country codes) are text, as the Red List publishes
them; times are UTC (ISO 8601 with ``Z``); dates are ``YYYY-MM-DD``. Narrative fields of
assessments (``rationale``, ``threats_text``...) are HTML, sanitised (only harmless tags kept).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import polars as pl
from ninja import Field, Schema
from pydantic import ConfigDict, create_model

from assess2plan.sheet import FIELDS, SHEET_COLUMNS

#: request examples use ids of the bundled fictional example project (``a2p demo``)
EXAMPLE_TAXON = "990000001"

Bucket = Literal["single_species", "site_based", "threat_based", "ex_situ"]
Decision = Literal["accept", "reject", "add"]
Severity = Literal["info", "warning", "critical"]
CommitmentStatus = Literal["proposed", "active", "done", "dropped"]


class ErrorOut(Schema):
    """Every error: what went wrong, in words meant for the person calling."""

    detail: str


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of ``item`` rows: ``count`` (rows matching in all pages), ``next`` / ``previous`` (URLs
    of the neighbouring pages, null at the ends), ``limit``, ``offset`` and the ``results``."""
    return create_model(
        name,
        __base__=Schema,
        __doc__=f"One page of {item.__name__} rows (limit/offset pagination).",
        count=(int, Field(..., description="rows matching, over all pages")),
        next=(str | None, Field(None, description="URL of the next page (null on the last)")),
        previous=(str | None, Field(None, description="URL of the previous page (null on the first)")),
        limit=(int, ...),
        offset=(int, ...),
        results=(list[item], ...),
    )


# -- projects ---------------------------------------------------------------------------------------
class ProjectOut(Schema):
    slug: str
    name: str
    role: str = Field(..., description="your role: viewer | assessor | facilitator | admin")
    sees_sensitive: bool = Field(..., description="you may see the precise locations of sensitive species")
    assessments: int
    datasets: int = Field(..., description="imports made into the project")


# -- species (planning sheet) -----------------------------------------------------------------------
def _sheet_type(dtype: Any) -> Any:
    if isinstance(dtype, pl.List):
        return list[str]
    if dtype == pl.Boolean:
        return bool | None
    if dtype in (pl.Int32, pl.Int64):
        return int | None
    if dtype == pl.Date:
        return date | None
    return str | None


_LABELS = {f.column: f.label for f in FIELDS.values()}
_sheet_fields: dict[str, Any] = {
    c: (
        str if c == "taxon_id" else _sheet_type(t),
        Field(... if c == "taxon_id" else None, description=_LABELS.get(c)),
    )
    for c, t in SHEET_COLUMNS.items()
}
#: One row of the planning sheet: a taxon with its latest assessment (the columns of
#: ``assess2plan.sheet.SHEET_COLUMNS``; list columns are arrays of codes).
SpeciesRow: type[Schema] = create_model(
    "SpeciesRow",
    __base__=Schema,
    __doc__="One planning-sheet row: a taxon and its latest assessment.",
    **_sheet_fields,
)
SpeciesPage = page_of(SpeciesRow, "SpeciesPage")


class SpeciesSite(Schema):
    site_id: str
    name: str
    kind: str | None = None
    source: str | None = None
    note: str | None = None


class SpeciesDetail(Schema):
    """The full record of a species, as its page shows it: taxonomy, latest assessment (with
    narratives), history, and the rows of every child table of the latest assessment."""

    taxon: dict[str, Any]
    assessment: dict[str, Any] | None = None
    revision: int | None = Field(None, description="edit revision of the latest assessment")
    history: list[dict[str, Any]] = []
    common_names: list[dict[str, Any]] = []
    synonyms: list[dict[str, Any]] = []
    threats: list[dict[str, Any]] = []
    actions_in_place: list[dict[str, Any]] = []
    actions_needed: list[dict[str, Any]] = []
    research_needed: list[dict[str, Any]] = []
    habitats: list[dict[str, Any]] = []
    occurrence: list[dict[str, Any]] = []
    use_trade: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    other_fields: list[dict[str, Any]] = []
    sensitive: bool = Field(..., description="the species is flagged sensitive in this project")
    locations_hidden: bool = Field(
        ..., description="its sites and subnational places are left out for you (sensitive species)"
    )
    sites: list[SpeciesSite] = []


# -- assessments ------------------------------------------------------------------------------------
class AssessmentRow(Schema):
    assessment_id: str
    taxon_id: str
    scientific_name: str | None = None
    year_published: int | None = None
    category: str | None = None
    criteria: str | None = None
    latest: bool = Field(..., description="the latest assessment of its taxon for its first scope")
    scopes: list[str] = []


AssessmentPage = page_of(AssessmentRow, "AssessmentPage")


class AssessmentDetail(Schema):
    assessment: dict[str, Any]
    latest: bool
    revision: int
    threats: list[dict[str, Any]] = []
    actions_in_place: list[dict[str, Any]] = []
    actions_needed: list[dict[str, Any]] = []
    research_needed: list[dict[str, Any]] = []
    habitats: list[dict[str, Any]] = []
    occurrence: list[dict[str, Any]] = []
    use_trade: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    other_fields: list[dict[str, Any]] = []
    locations_hidden: bool


# -- findings ---------------------------------------------------------------------------------------
class FindingOut(Schema):
    rule: str
    severity: str = Field(..., description="error | warning | info")
    taxon_id: str | None = None
    assessment_id: str | None = None
    scientific_name: str | None = None
    message: str | None = None
    evidence: str | None = Field(None, description="what the rule saw (JSON text, or plain text)")
    suggested_fix: str | None = None


FindingPage = page_of(FindingOut, "FindingPage")


# -- buckets ----------------------------------------------------------------------------------------
class BucketOut(Schema):
    taxon_id: str
    scientific_name: str | None = None
    category: str | None = None
    bucket: str | None = Field(None, description="single_species | site_based | threat_based | ex_situ")
    rule: str | None = Field(None, description="the triage rules that chose it, |-joined")
    reason: str | None = None
    evidence: str | None = Field(None, description="JSON text: rule -> condition -> values")
    status: str = Field(..., description="suggested | accepted | rejected | added")
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


BucketPage = page_of(BucketOut, "BucketPage")


class DecisionIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "taxon": EXAMPLE_TAXON,
                    "bucket": "ex_situ",
                    "decision": "accept",
                    "reason": "zoo agreed in plenary",
                }
            ]
        }
    )

    taxon: str = Field(..., min_length=1, description="taxon id, assessment id or full scientific name")
    bucket: Bucket
    decision: Decision
    reason: str = Field(..., min_length=1, description="why (required; kept in the decision log)")


class DecisionOut(Schema):
    decision_id: str
    taxon_id: str
    scientific_name: str | None = None
    bucket: str
    decision: str
    reason: str
    made_by: str
    made_at: datetime
    undone_by: str | None = None
    undone_at: datetime | None = None
    undo_reason: str | None = None


# -- sites ------------------------------------------------------------------------------------------
class SiteOut(Schema):
    site_id: str
    name: str
    kind: str
    country: str | None = None
    description: str | None = None
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON geometry (WGS84); null when none, or hidden (sensitive site)"
    )
    sensitive: bool
    species: int = Field(..., description="species linked to the site (that you may see)")
    version: int
    made_by: str | None = None
    made_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


SitePage = page_of(SiteOut, "SitePage")


class SiteSpecies(Schema):
    taxon_id: str
    scientific_name: str | None = None
    category: str | None = None
    source: str | None = None
    note: str | None = None
    made_by: str | None = None
    made_at: datetime | None = None


class SiteDetail(SiteOut):
    linked_species: list[SiteSpecies] = []


# -- events -----------------------------------------------------------------------------------------
class EventOut(Schema):
    event_id: str
    site_id: str
    site_name: str | None = None
    title: str
    description: str | None = None
    severity: str
    made_by: str
    made_at: datetime
    species: int = Field(..., description="species affected (that you may see)")
    sent: int
    failed: int
    pending: int


EventPage = page_of(EventOut, "EventPage")


class AffectedOut(Schema):
    taxon_id: str
    scientific_name: str | None = None
    category: str | None = None
    threats: str | None = None
    major_threats: str | None = None
    actions_needed: str | None = None
    actions_in_place: str | None = None
    commitments: str | None = None
    stakeholders: str | None = None
    reassess: bool | None = None
    reason: str | None = None


class EventDetail(EventOut):
    affected: list[AffectedOut] = []


class EventIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "site": "VL01",
                    "title": "Fish kill after heat wave",
                    "severity": "critical",
                    "notify": False,
                }
            ]
        }
    )

    site: str = Field(..., min_length=1, description="site id (or exact name)")
    title: str = Field(..., min_length=1)
    description: str = ""
    severity: Severity = "warning"
    notify: bool = Field(True, description="send the notifications to the subscribers now")


# -- commitments ------------------------------------------------------------------------------------
class CommitmentOut(Schema):
    commitment_id: str
    stakeholder_id: str
    stakeholder_name: str | None = None
    taxon_id: str | None = None
    cluster_id: str | None = None
    action_code: str
    action_name: str | None = None
    place: str | None = None
    due_date: date | None = None
    status: str
    progress: str | None = Field(None, description="the latest progress note")
    overdue: bool
    version: int = Field(..., description="send it back as expected_version when you update")
    updated_by: str | None = None
    updated_at: datetime | None = None


CommitmentPage = page_of(CommitmentOut, "CommitmentPage")


class NoteOut(Schema):
    text: str | None = None
    status_after: str | None = None
    made_by: str | None = None
    made_at: datetime | None = None


class CommitmentDetail(CommitmentOut):
    notes: list[NoteOut] = []


class SignUpIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stakeholder": "VLT",
                    "action_code": "3.4.1",
                    "taxon": EXAMPLE_TAXON,
                    "due_date": "2027-06-30",
                    "note": "founder stock from Lake Mirren",
                }  # fmt: skip
            ]
        }
    )

    stakeholder: str = Field(..., min_length=1, description="stakeholder id (or exact name)")
    action_code: str = Field(..., min_length=1, description="conservation action (scheme 2.0), e.g. 2.2")
    taxon: str | None = Field(None, description="taxon id, assessment id or full scientific name")
    cluster_id: str | None = None
    place: str | None = None
    due_date: date | None = None
    status: CommitmentStatus = "proposed"
    note: str | None = None


class CommitmentUpdate(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expected_version": 1, "status": "active", "note": "survey booked"}]}
    )

    expected_version: int = Field(
        ..., ge=0, le=2**31 - 1, description="the version you read (stale -> 409, nothing changed)"
    )
    status: CommitmentStatus | None = None
    note: str | None = None
    due_date: date | None = None
    place: str | None = None


# -- ex situ (issue 6) ------------------------------------------------------------------------------
class PrescreenOut(Schema):
    """A species the ex situ pre-screen flags for an ex situ evaluation, and why."""

    taxon_id: str
    scientific_name: str | None = None
    category: str | None = None
    rules: list[str] = Field(..., description="ids of the pre-screen rules that fired, in file order")
    reasons: str = Field(..., description="each rule's reason with the data that made it fire")
    evidence: dict[str, Any] = Field(..., description="rule id -> condition -> the values that fired")


PrescreenPage = page_of(PrescreenOut, "PrescreenPage")


class ExSituListOut(Schema):
    """An ex situ assessment (IUCN SSC 2014 five steps) and how far it has got."""

    taxon_id: str
    scientific_name: str | None = None
    category: str | None = None
    steps_done: str = Field(..., description='the five steps, "1 2 . . ." (a dot: not complete)')
    outcome: Literal["retain", "none"] | None = None
    roles_retained: list[str]
    version: int
    updated_by: str
    updated_at: datetime


ExSituListPage = page_of(ExSituListOut, "ExSituListPage")


class ExSituChangeOut(Schema):
    version: int
    step: str
    made_by: str
    made_at: datetime
    note: str


class ExSituAssessmentOut(Schema):
    """One ex situ assessment: the whole record (schema_version 1, see docs/exsitu.md) and its history."""

    taxon_id: str
    version: int
    made_by: str
    made_at: datetime
    updated_by: str
    updated_at: datetime
    record: dict[str, Any]
    history: list[ExSituChangeOut]
