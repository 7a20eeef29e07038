"""The store: Red List working sets kept in a database (SQLite by default, PostgreSQL by URL).

Used by the CLI, the web app and notebooks::

    from assess2plan import read_redlist, store

    store.setup()                                   # $A2P_DATABASE_URL or $A2P_HOME/a2p.sqlite3
    result = store.import_set(read_redlist("download.zip"), project="pacific")
    aset = store.load_set("pacific")                # latest assessment per taxon and scope
    store.counts("pacific")

An import is one transaction: it is written completely or not at all. Importing the same files
again changes nothing; an assessment already stored with the same content is skipped; a newer
assessment of a taxon is added next to the older ones (history is kept, ``latest`` moves); an
assessment stored with different content (a corrected re-export) is replaced with all its rows.

The tables and the canonical-column -> database-column mapping are described in
``assess2plan.web.store.models``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from assess2plan.errors import StoreError
from assess2plan.model import SCHEMA, AssessmentSet, Source
from assess2plan.sheet import SheetQuery

__all__ = [
    "ImportResult",
    "counts",
    "edit_actions",
    "find_taxa",
    "revisions",
    "list_edits",
    "query_sheet",
    "sheet_count",
    "sheet_facets",
    "undo_edit",
    "import_set",
    "list_datasets",
    "list_projects",
    "load_assessments_frame",
    "load_set",
    "migrate",
    "setup",
]

SETTINGS_MODULE = "assess2plan.web.settings"

#: progress(stage, done, total), e.g. ("threats", 5, 17)
Progress = Callable[[str, int, int], None]

_migrated: set[tuple[str, str]] = set()


@dataclass
class ImportResult:
    """What ``import_set`` did.

    ``dataset_id``: the Dataset row of this import (for an unchanged import: the earlier import
    of the same files, or None); ``added``: rows written per canonical table (the rows of replaced
    assessments included); ``replaced``: stored assessments whose content changed (a corrected
    re-export), rewritten with all their child rows; ``kept_history``: stored assessments of taxa
    that got a new assessment in this import (kept as the taxon's history); ``issues``: warnings
    (the set's own issues first), capped at 1000.
    """

    project: str
    dataset_id: int | None
    unchanged: bool
    added: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    kept_history: int = 0
    issues: list[str] = field(default_factory=list)


def setup(database_url: str | None = None) -> None:
    """Configure Django for the store (idempotent; cheap when already done).

    ``database_url`` (``sqlite:///path`` or ``postgres://user:pass@host:port/db``) overrides
    ``$A2P_DATABASE_URL`` for the ``default`` database; calling ``setup`` again with another URL
    switches the ``default`` database of this process.
    """
    import django
    from django.apps import apps
    from django.conf import settings

    if database_url:
        os.environ["A2P_DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if not apps.ready:
        django.setup()
    if database_url:
        from django.db import connections

        from assess2plan.web.settings import parse_database_url

        wanted = parse_database_url(database_url)
        current = settings.DATABASES.get("default", {})
        if (current.get("ENGINE"), current.get("NAME"), current.get("HOST"), current.get("PORT")) != (
            wanted["ENGINE"],
            wanted["NAME"],
            wanted["HOST"] if "HOST" in wanted else current.get("HOST"),
            wanted["PORT"] if "PORT" in wanted else current.get("PORT"),
        ):
            connections["default"].close()
            settings.DATABASES["default"] = wanted
            connections.settings["default"] = connections.configure_settings({"default": wanted})["default"]
            del connections["default"]


def _ready(using: str) -> None:
    setup()
    from django.conf import settings

    if using not in settings.DATABASES:
        raise StoreError(f"no database {using!r} configured (known: {', '.join(settings.DATABASES)})")


def migrate(using: str = "default") -> None:
    """Create or upgrade the store's tables in database ``using`` (quiet; a no-op when up to date)."""
    _ready(using)
    from django.core.management import call_command
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    conn = connections[using]
    key = (using, str(conn.settings_dict.get("NAME")))
    if key in _migrated:
        return
    executor = MigrationExecutor(conn)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", database=using, verbosity=0, interactive=False, skip_checks=True)
    # the shared cache table (web app: log-in rate limit, facet counts); a no-op when it exists
    call_command("createcachetable", database=using, verbosity=0)
    _migrated.add(key)


def import_set(
    aset: AssessmentSet,
    project: str = "default",
    *,
    user: str | None = None,
    progress: Progress | None = None,
    using: str = "default",
    index_text: bool = True,
) -> ImportResult:
    """Write ``aset`` into ``project`` (created when absent) in one transaction; returns an ``ImportResult``.

    * the same download twice (same source fingerprint, or the same content for sets without
      sources) -> ``unchanged=True``, nothing written, no new Dataset;
    * an assessment id already stored with the same content -> skipped;
    * a new assessment id for a stored taxon -> added, the older ones kept as history; ``latest``
      is recomputed per (taxon, first scope) by year published, assessment date, assessment id;
    * an assessment id stored with different content -> that assessment and all its child rows
      are replaced (``replaced``);
    * taxa are upserted (the new non-null values win); a taxon's common names / synonyms are
      replaced by the set's when the set has some and they differ.

    ``progress(stage, done, total)`` is called once per stage (one per table). Raises
    ``InputError`` for rows that cannot be stored (an assessment without id or taxon id);
    nothing is written then, nor when anything else fails.

    The narrative texts of the new assessments are then indexed for full-text search, after the
    commit, in batches (``index_text``; ``index_text=False`` leaves that to a later call of
    ``index_text(project)`` or to the first text search).
    """
    migrate(using)
    from assess2plan.web.store.load import import_set as _import

    return _import(aset, project, user=user, progress=progress, using=using, index_text=index_text)


def index_text(project: str = "default", *, progress: Progress | None = None, using: str = "default") -> int:
    """Index the narrative texts of the assessments of ``project`` not yet in the full-text index
    (SQLite FTS5 / PostgreSQL ``tsvector``); returns how many. Resumable: batches commit one by one."""
    migrate(using)
    from assess2plan.web.store import search

    return search.index_text(project, using, progress)


def load_assessments_frame(
    project: str = "default",
    *,
    taxon_ids: Iterable[str] | None = None,
    latest_only: bool = False,
    scope: str | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """The stored assessments of ``project`` (canonical columns plus ``latest``), history included by default."""
    migrate(using)
    from assess2plan.web.store.load import read_frames

    frames = read_frames(project, taxon_ids=taxon_ids, latest_only=latest_only, scope=scope, using=using)
    return frames["assessments"].drop("_pk")


def load_set(
    project: str = "default",
    *,
    taxon_ids: Iterable[str] | None = None,
    latest_only: bool = True,
    scope: str | None = None,
    using: str = "default",
) -> AssessmentSet:
    """Read ``project`` back as an ``AssessmentSet`` (canonical tables, ``model.SCHEMA`` dtypes).

    ``latest_only``: only the latest assessment per (taxon, first scope) (False: the history too);
    ``scope``: only assessments whose scopes include it (e.g. "Global"; null scopes count as
    Global); ``taxon_ids``: only these taxa. Child rows follow their assessments; taxa, common
    names and synonyms follow the selected assessments (without ``scope``, taxa that have no
    assessment at all are included too). ``sources`` lists the files of every import.
    """
    migrate(using)
    from assess2plan.web.store.load import read_frames

    frames = read_frames(project, taxon_ids=taxon_ids, latest_only=latest_only, scope=scope, using=using)
    frames["assessments"] = frames["assessments"].select(list(SCHEMA["assessments"]))
    sources = [
        Source(
            path=s.get("path", ""),
            format=s.get("format", ""),
            sha256=s.get("sha256", ""),
            rows=s.get("rows", 0),
        )
        for d in list_datasets(project, using=using)
        for s in d["sources"]
    ]
    return AssessmentSet(tables=frames, sources=sources)


def list_projects(using: str = "default") -> list[dict]:
    """Projects in the store: ``slug``, ``name``, ``created_at``, ``datasets``, ``assessments``."""
    migrate(using)
    from django.db.models import Count

    from assess2plan.web.store.models import Assessment, Dataset, Project

    ds = dict(
        Dataset.objects.using(using).values("project").annotate(n=Count("id")).values_list("project", "n")
    )
    na = dict(
        Assessment.objects.using(using).values("project").annotate(n=Count("id")).values_list("project", "n")
    )
    return [
        {
            "slug": p.slug,
            "name": p.name,
            "created_at": p.created_at,
            "datasets": ds.get(p.id, 0),
            "assessments": na.get(p.id, 0),
        }
        for p in Project.objects.using(using).order_by("slug")
    ]


def list_datasets(project: str = "default", using: str = "default") -> list[dict]:
    """Imports into ``project``, oldest first: ``id``, ``format``, ``imported_at``, ``imported_by``,
    ``counts``, ``sources``, ``fingerprint``, ``status``, ``issues``."""
    migrate(using)
    from assess2plan.web.store.models import Dataset

    rows = Dataset.objects.using(using).filter(project__slug=project).order_by("imported_at", "id")
    return [
        {
            "id": d.id,
            "format": d.format,
            "imported_at": d.imported_at,
            "imported_by": d.imported_by,
            "counts": d.counts,
            "sources": d.sources,
            "fingerprint": d.fingerprint,
            "status": d.status,
            "issues": d.issues,
        }
        for d in rows
    ]


def counts(project: str = "default", using: str = "default") -> dict[str, int]:
    """Rows per canonical table stored for ``project``, plus ``species`` (distinct taxa with an assessment)."""
    migrate(using)
    from assess2plan.web.store.load import project_counts

    return project_counts(project, using=using)


# -- planning sheet ---------------------------------------------------------------------------------
def query_sheet(
    project: str = "default",
    query: SheetQuery | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
    rows: int | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """The planning sheet of ``project`` (``assess2plan.sheet.SHEET_COLUMNS``) filtered, searched
    (SQLite FTS5 / PostgreSQL full-text search, with stemming) and sorted by ``query``.

    ``rows``: how many rows the query matches, when the caller has counted them (``sheet_count``)
    for a page: it lets the store pick the faster plan for a page of a small selection."""
    migrate(using)
    from assess2plan.web.store import sheet

    return sheet.sheet_page(project, query or SheetQuery(), limit=limit, offset=offset, rows=rows, using=using)


def sheet_count(project: str = "default", query: SheetQuery | None = None, *, using: str = "default") -> int:
    """Number of sheet rows (taxa) matching ``query``."""
    migrate(using)
    from assess2plan.web.store import sheet

    return sheet.count(project, query or SheetQuery(), using=using)


def sheet_facets(
    project: str = "default",
    query: SheetQuery | None = None,
    fields: Iterable[str] | None = None,
    *,
    using: str = "default",
) -> pl.DataFrame:
    """Number of taxa per value of each field among the rows matching ``query``."""
    migrate(using)
    from assess2plan.web.store import sheet

    return sheet.facets(project, query or SheetQuery(), fields, using=using)


# -- edits ------------------------------------------------------------------------------------------
def __getattr__(name: str):  # EditConflict / EditResult without importing Django at module import
    if name in ("EditConflict", "EditResult"):
        from assess2plan.web.store import edits

        return getattr(edits, name)
    raise AttributeError(name)


def edit_actions(project: str = "default", **kwargs):  # noqa: ANN201 - EditResult
    """Add or remove an action needed for a selection of species; see ``web.store.edits.edit_actions``.

    ``operation`` "add" | "remove", ``code``, ``note``, ``query`` (SheetQuery) and/or ``taxa``,
    ``reason`` (required), ``user``, ``expected`` ({taxon_id: revision}), ``dry_run``.
    """
    migrate(kwargs.get("using", "default"))
    from assess2plan.web.store import edits

    return edits.edit_actions(project, **kwargs)


def undo_edit(project: str, edit_id: int, *, reason: str | None = None, user: str | None = None, using: str = "default"):  # noqa: ANN201
    """Undo an edit (refused when a later change touched the same assessments)."""
    migrate(using)
    from assess2plan.web.store import edits

    return edits.undo_edit(project, edit_id, reason=reason, user=user, using=using)


def list_edits(project: str = "default", using: str = "default") -> list[dict]:
    """The edit log of ``project``, oldest first."""
    migrate(using)
    from assess2plan.web.store import edits

    return edits.list_edits(project, using=using)


def revisions(project: str, assessment_ids: Iterable[str], *, using: str = "default") -> dict[str, int]:
    """``{assessment_id: revision}`` of stored assessments of ``project`` (the revision goes up by one
    with each workshop edit). A page reads it with the record it shows and sends it back with an
    edit as ``edit_actions(..., expected={taxon_id: revision})``: an edit against a stale page is
    refused (``EditConflict``) instead of silently overwriting someone else's change."""
    migrate(using)
    from assess2plan.web.store.models import Assessment

    ids = [str(a) for a in assessment_ids]
    rows = Assessment.objects.using(using).filter(project__slug=project, assessment_id__in=ids)
    return dict(rows.values_list("assessment_id", "revision"))


def find_taxa(project: str, text: str, *, limit: int = 50, using: str = "default") -> list[str]:
    """Taxon ids ``text`` can mean in ``project``: a taxon id, an assessment id, a scientific name
    (case-insensitive), else taxa whose name contains it (at most ``limit``)."""
    migrate(using)
    from assess2plan.web.store.models import Assessment, Taxon

    t = text.strip()
    taxa = Taxon.objects.using(using).filter(project__slug=project)
    # a taxon id or an assessment id answers from an index: the name searches (which read every
    # taxon of the project) only when neither matches
    exact = list(taxa.filter(taxon_id=t).values_list("taxon_id", flat=True))
    exact += list(
        Assessment.objects.using(using)
        .filter(project__slug=project, assessment_id=t)
        .values_list("taxon__taxon_id", flat=True)
    )
    if not exact:
        exact = list(taxa.filter(scientific_name__iexact=t).values_list("taxon_id", flat=True))
    if exact:
        return sorted(set(exact))
    return sorted(set(taxa.filter(scientific_name__icontains=t).values_list("taxon_id", flat=True)[:limit]))


# -- planning (issue 4) -----------------------------------------------------------------------------
# Sites and the species at them, site events (affected species, re-assessment flags, notifications),
# subscriptions, stakeholders, commitments, bucket decisions. Each function migrates the database and
# calls ``assess2plan.web.store.planning`` (imported lazily: no Django import at module import);
# arguments and results are documented there.
_PLANNING_FUNCTIONS = (
    "flag_sensitive",
    "unflag_sensitive",
    "sensitive_taxa",
    "list_sensitive",
    "add_site",
    "update_site",
    "get_site",
    "list_sites",
    "import_sites",
    "link_species",
    "import_site_links",
    "unlink_species",
    "site_links",
    "site_species",
    "resolve_taxa",
    "raise_event",
    "retry_deliveries",
    "list_events",
    "event_detail",
    "event_message",
    "list_deliveries",
    "subscribe",
    "unsubscribe",
    "list_subscriptions",
    "add_stakeholder",
    "update_stakeholder",
    "list_stakeholders",
    "import_stakeholders",
    "sign_up",
    "get_commitment",
    "update_commitment",
    "list_commitments",
    "commitment_notes",
    "commitments_as_actions_in_place",
    "decide_bucket",
    "undo_decision",
    "bucket_decisions",
    "decision_log",
    "list_flags",
    "flag_for_reassessment",
    "clear_flag",
)
_PLANNING_NAMES = ("VersionConflict", "EventResult", "BUCKETS", "SITE_KINDS")


def _planning_call(name: str, project: str, args: tuple, kwargs: dict):  # noqa: ANN202
    migrate(kwargs.get("using", "default"))
    from assess2plan.web.store import planning

    return getattr(planning, name)(project, *args, **kwargs)


def flag_sensitive(project: str, taxa, reason: str, **kwargs) -> pl.DataFrame:  # noqa: ANN001
    """Mark taxa sensitive: their precise locations are shown only to users allowed to see them."""
    return _planning_call("flag_sensitive", project, (taxa, reason), kwargs)


def unflag_sensitive(project: str, taxa, reason: str, **kwargs) -> list:  # noqa: ANN001
    return _planning_call("unflag_sensitive", project, (taxa, reason), kwargs)


def sensitive_taxa(project: str = "default", **kwargs) -> set:
    """Taxon ids flagged sensitive in the project."""
    return _planning_call("sensitive_taxa", project, (), kwargs)


def list_sensitive(project: str = "default", **kwargs) -> pl.DataFrame:
    return _planning_call("list_sensitive", project, (), kwargs)


def add_site(project: str = "default", *args, **kwargs) -> dict:
    """Add a site (site_id, name, kind, country, description, GeoJSON geometry, sensitive)."""
    return _planning_call("add_site", project, args, kwargs)


def update_site(project: str, site_id: str, **kwargs) -> dict:
    """Change a site; ``expected_version`` required (``VersionConflict`` when stale)."""
    return _planning_call("update_site", project, (site_id,), kwargs)


def get_site(project: str, site: str, **kwargs) -> dict:
    """One site (by id or name) with its number of linked species and version."""
    return _planning_call("get_site", project, (site,), kwargs)


def list_sites(project: str = "default", **kwargs) -> pl.DataFrame:
    """The sites frame (``details=True``: species, version, who/when)."""
    return _planning_call("list_sites", project, (), kwargs)


def import_sites(project: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Add / update sites from a CSV file (all or nothing; errors name file, row, column, value)."""
    return _planning_call("import_sites", project, (path,), kwargs)


def link_species(project: str, site: str, taxa=None, **kwargs) -> dict:  # noqa: ANN001
    """Link taxa (ids or names) and/or a sheet selection (``query``) to a site."""
    return _planning_call("link_species", project, (site, taxa), kwargs)


def link_species_from_points(project: str, site: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Link the species with occurrence points in a site (see web.store.planning)."""
    return _planning_call("link_species_from_points", project, (site, path), kwargs)


def import_site_links(project: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Link species to sites from a CSV file (site_id + taxon_id / internalTaxonId / scientific_name)."""
    return _planning_call("import_site_links", project, (path,), kwargs)


def unlink_species(project: str, site: str, taxa, **kwargs) -> list:  # noqa: ANN001
    """Remove species from a site."""
    return _planning_call("unlink_species", project, (site, taxa), kwargs)


def site_links(project: str = "default", **kwargs) -> pl.DataFrame:
    """The site-links frame (``site=``, ``taxon=`` to narrow it)."""
    return _planning_call("site_links", project, (), kwargs)


def site_species(project: str, site: str, **kwargs) -> pl.DataFrame:
    """The species linked to a site with their latest category."""
    return _planning_call("site_species", project, (site,), kwargs)


def resolve_taxa(project: str, values, **kwargs) -> dict:  # noqa: ANN001
    """``{value: taxon_id}`` for taxon ids, assessment ids or exact scientific names."""
    return _planning_call("resolve_taxa", project, (values,), kwargs)


def raise_event(project: str, site: str, title: str, *args, **kwargs):  # noqa: ANN201 - EventResult
    """Record a site event: affected species snapshot, re-assessment flags, notifications."""
    return _planning_call("raise_event", project, (site, title, *args), kwargs)


def retry_deliveries(project: str = "default", **kwargs) -> pl.DataFrame:
    """Send failed (and stale pending) notifications again."""
    return _planning_call("retry_deliveries", project, (), kwargs)


def list_events(project: str = "default", **kwargs) -> pl.DataFrame:
    """Site events with the number of species affected and deliveries sent / failed / pending."""
    return _planning_call("list_events", project, (), kwargs)


def event_detail(project: str, event_id, **kwargs):  # noqa: ANN001, ANN201 - EventResult
    """One event: its affected-species snapshot, deliveries and delivery logs."""
    return _planning_call("event_detail", project, (event_id,), kwargs)


def event_message(project: str, *args, **kwargs):  # noqa: ANN201 - notify.Message
    """The notification (subject, text, HTML, webhook payload) of an event."""
    setup()
    from assess2plan.web.store import planning

    return planning.event_message(project, *args, **kwargs)


def list_deliveries(project: str = "default", **kwargs) -> pl.DataFrame:
    """The delivery log (``event_id=``, ``status=`` to narrow it)."""
    return _planning_call("list_deliveries", project, (), kwargs)


def subscribe(project: str, channel: str, target: str, **kwargs) -> dict:
    """Subscribe an e-mail address or webhook URL to one site's (``site=``) or every site's events."""
    return _planning_call("subscribe", project, (channel, target), kwargs)


def unsubscribe(project: str, subscription_id, **kwargs) -> dict:  # noqa: ANN001
    """Switch a subscription off (kept for the delivery log)."""
    return _planning_call("unsubscribe", project, (subscription_id,), kwargs)


def list_subscriptions(project: str = "default", **kwargs) -> pl.DataFrame:
    """Active subscriptions (``include_inactive=True``: all)."""
    return _planning_call("list_subscriptions", project, (), kwargs)


def add_stakeholder(project: str, stakeholder_id: str, name: str, **kwargs) -> dict:
    """Add a stakeholder (person or organisation; countries, sites, expertise)."""
    return _planning_call("add_stakeholder", project, (stakeholder_id, name), kwargs)


def update_stakeholder(project: str, stakeholder_id: str, **kwargs) -> dict:
    """Change a stakeholder; ``expected_version`` required."""
    return _planning_call("update_stakeholder", project, (stakeholder_id,), kwargs)


def list_stakeholders(project: str = "default", **kwargs) -> pl.DataFrame:
    """The stakeholders frame."""
    return _planning_call("list_stakeholders", project, (), kwargs)


def import_stakeholders(project: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Add / update stakeholders from a CSV file (all or nothing)."""
    return _planning_call("import_stakeholders", project, (path,), kwargs)


def sign_up(project: str, stakeholder: str, action_code: str, **kwargs) -> dict:
    """A stakeholder commits to a conservation action for a taxon and/or cluster."""
    return _planning_call("sign_up", project, (stakeholder, action_code), kwargs)


def get_commitment(project: str, commitment_id: str, **kwargs) -> dict:
    """One commitment by id."""
    return _planning_call("get_commitment", project, (commitment_id,), kwargs)


def update_commitment(project: str, commitment_id: str, **kwargs) -> dict:
    """Progress on a commitment (status, note, due date, place); ``expected_version`` required."""
    return _planning_call("update_commitment", project, (commitment_id,), kwargs)


def list_commitments(project: str = "default", **kwargs) -> pl.DataFrame:
    """The commitments frame with ``overdue`` (``today=`` to fix the date)."""
    return _planning_call("list_commitments", project, (), kwargs)


def commitment_notes(project: str, commitment_id: str, **kwargs) -> pl.DataFrame:
    """The progress notes of a commitment."""
    return _planning_call("commitment_notes", project, (commitment_id,), kwargs)


def commitments_as_actions_in_place(project: str = "default", **kwargs) -> pl.DataFrame:
    """Proposed "actions in place" (SIS InPlace fields) updates from the commitments."""
    return _planning_call("commitments_as_actions_in_place", project, (), kwargs)


def decide_bucket(project: str, taxon: str, bucket: str, decision: str, reason: str, **kwargs) -> dict:
    """Record a bucket decision (accept | reject | add) with its reason."""
    return _planning_call("decide_bucket", project, (taxon, bucket, decision, reason), kwargs)


def undo_decision(project: str, decision_id, **kwargs) -> dict:  # noqa: ANN001
    """Mark a bucket decision undone (never deleted)."""
    return _planning_call("undo_decision", project, (decision_id,), kwargs)


def bucket_decisions(project: str = "default", **kwargs) -> pl.DataFrame:
    """The bucket decisions in effect, for ``planning.triage.apply_decisions``."""
    return _planning_call("bucket_decisions", project, (), kwargs)


def decision_log(project: str = "default", **kwargs) -> pl.DataFrame:
    """Every bucket decision, undone ones included."""
    return _planning_call("decision_log", project, (), kwargs)


def list_flags(project: str = "default", **kwargs) -> pl.DataFrame:
    """Re-assessment flags (open ones unless ``include_cleared=True``)."""
    return _planning_call("list_flags", project, (), kwargs)


def flag_for_reassessment(project: str, taxon: str, reason: str, **kwargs) -> dict:
    """Flag a taxon for re-assessment by hand."""
    return _planning_call("flag_for_reassessment", project, (taxon, reason), kwargs)


def flag_outdated(project: str = "default", **kwargs) -> pl.DataFrame:
    """Flag species whose latest assessment is more than ``years`` (10) old (see web.store.planning)."""
    return _planning_call("flag_outdated", project, (), kwargs)


def clear_flag(project: str, flag_id=None, **kwargs) -> list:  # noqa: ANN001
    """Clear a re-assessment flag (or every open flag of ``taxon=``)."""
    return _planning_call("clear_flag", project, (flag_id,), kwargs)


# -- ex situ (issue 6): assess2plan.web.store.exsitu ---------------------------------------------------
_EXSITU_FUNCTIONS = (
    "import_holdings",
    "import_cites",
    "list_exsitu_sources",
    "holdings",
    "cites_listings",
    "exsitu_inputs",
    "run_prescreen",
    "start_exsitu_assessment",
    "get_exsitu_assessment",
    "save_exsitu_step",
    "refresh_exsitu_status",
    "assessment_history",
    "list_exsitu_assessments",
)


def _exsitu_call(name: str, project: str, args: tuple, kwargs: dict):  # noqa: ANN202
    migrate(kwargs.get("using", "default"))
    from assess2plan.web.store import exsitu

    return getattr(exsitu, name)(project, *args, **kwargs)


def import_holdings(project: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Import an ex situ holdings table (Species360-style CSV); see ``web.store.exsitu``."""
    return _exsitu_call("import_holdings", project, (path,), kwargs)


def import_cites(project: str, path, **kwargs) -> dict:  # noqa: ANN001
    """Import a CITES Species+ checklist export (replaces the previous checklist)."""
    return _exsitu_call("import_cites", project, (path,), kwargs)


def list_exsitu_sources(project: str = "default", **kwargs) -> pl.DataFrame:
    """Imported holdings files and CITES checklists, current and replaced."""
    return _exsitu_call("list_exsitu_sources", project, (), kwargs)


def holdings(project: str = "default", **kwargs) -> pl.DataFrame:
    """The current ex situ holdings rows (``model.HOLDINGS_SCHEMA``, not matched)."""
    return _exsitu_call("holdings", project, (), kwargs)


def cites_listings(project: str = "default", **kwargs) -> pl.DataFrame:
    """The current CITES checklist rows (``model.CITES_SCHEMA``)."""
    return _exsitu_call("cites_listings", project, (), kwargs)


def exsitu_inputs(project: str = "default", **kwargs) -> tuple:
    """``(aset, matched holdings, CITES listings covering taxa)`` of the project."""
    return _exsitu_call("exsitu_inputs", project, (), kwargs)


def run_prescreen(project: str = "default", **kwargs) -> pl.DataFrame:
    """The ex situ pre-screen of the project with its holdings and CITES listings."""
    return _exsitu_call("run_prescreen", project, (), kwargs)


def start_exsitu_assessment(project: str, taxon: str, **kwargs) -> dict:
    """Start the five-step ex situ assessment of a taxon (step 1 pre-filled)."""
    return _exsitu_call("start_exsitu_assessment", project, (taxon,), kwargs)


def get_exsitu_assessment(project: str, taxon: str, **kwargs) -> dict:
    """The ex situ assessment of a taxon: record, version, who and when."""
    return _exsitu_call("get_exsitu_assessment", project, (taxon,), kwargs)


def save_exsitu_step(project: str, taxon: str, step: str, record: dict, **kwargs) -> dict:
    """Save a step of an ex situ assessment against ``expected_version`` (VersionConflict if stale)."""
    return _exsitu_call("save_exsitu_step", project, (taxon, step, record), kwargs)


def refresh_exsitu_status(project: str, taxon: str, **kwargs) -> dict:
    """Pre-fill step 1 again from current data (texts kept)."""
    return _exsitu_call("refresh_exsitu_status", project, (taxon,), kwargs)


def assessment_history(project: str, taxon: str, **kwargs) -> list:
    """Every saved version of an ex situ assessment (version, step, who, when, note, record)."""
    return _exsitu_call("assessment_history", project, (taxon,), kwargs)


def list_exsitu_assessments(project: str = "default", **kwargs) -> pl.DataFrame:
    """One row per ex situ assessment of the project."""
    return _exsitu_call("list_exsitu_assessments", project, (), kwargs)


_edits_getattr = __getattr__


def __getattr__(name: str):  # noqa: F811 - extends the edits one above (VersionConflict, EventResult, ...)
    if name in _PLANNING_NAMES:
        from assess2plan.web.store import planning

        return getattr(planning, name)
    return _edits_getattr(name)


__all__ += [*_PLANNING_FUNCTIONS, *_PLANNING_NAMES, *_EXSITU_FUNCTIONS]
