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
    _migrated.add(key)


def import_set(
    aset: AssessmentSet,
    project: str = "default",
    *,
    user: str | None = None,
    progress: Progress | None = None,
    using: str = "default",
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
    """
    migrate(using)
    from assess2plan.web.store.load import import_set as _import

    return _import(aset, project, user=user, progress=progress, using=using)


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
    using: str = "default",
) -> pl.DataFrame:
    """The planning sheet of ``project`` (``assess2plan.sheet.SHEET_COLUMNS``) filtered, searched
    (SQLite FTS5 / PostgreSQL full-text search, with stemming) and sorted by ``query``."""
    migrate(using)
    from assess2plan.web.store import sheet

    return sheet.sheet_page(project, query or SheetQuery(), limit=limit, offset=offset, using=using)


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


def find_taxa(project: str, text: str, *, limit: int = 50, using: str = "default") -> list[str]:
    """Taxon ids ``text`` can mean in ``project``: a taxon id, an assessment id, a scientific name
    (case-insensitive), else taxa whose name contains it (at most ``limit``)."""
    migrate(using)
    from assess2plan.web.store.models import Assessment, Taxon

    t = text.strip()
    taxa = Taxon.objects.using(using).filter(project__slug=project)
    exact = list(taxa.filter(taxon_id=t).values_list("taxon_id", flat=True))
    exact += list(
        Assessment.objects.using(using)
        .filter(project__slug=project, assessment_id=t)
        .values_list("taxon__taxon_id", flat=True)
    )
    exact += list(taxa.filter(scientific_name__iexact=t).values_list("taxon_id", flat=True))
    if exact:
        return sorted(set(exact))
    return sorted(set(taxa.filter(scientific_name__icontains=t).values_list("taxon_id", flat=True)[:limit]))
