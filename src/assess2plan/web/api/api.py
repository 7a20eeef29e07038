"""The REST API of assess2plan (django-ninja), mounted at ``/api/v1/``.

Everything a project's pages show, for scripts, notebooks and other tools: the planning sheet
(species), assessments, consistency findings, planning buckets (and bucket decisions), sites,
site events and commitments. The OpenAPI schema is at ``/api/v1/openapi.json``, a browsable
page at ``/api/v1/docs`` (served from this server: works offline).

* **Who**: ``Authorization: Bearer <token>`` (make a token on /tokens/ or ``a2p token create``), or
  the browser's logged-in session (with the CSRF token for POST / PATCH). See ``auth.py``.
* **Rights** as on the pages: any member reads; facilitators and admins decide buckets, raise
  events and sign up / update commitments. A project you are not a member of answers 404 (its
  existence is not revealed), a role too weak for the action 403.
* **Sensitive species**: to callers who may not see their precise locations, their site links
  (site species lists, species' sites), their subnational places and the places in their bucket
  and finding reasons are left out, and sensitive sites have ``geometry`` null.
* **Errors** are JSON ``{"detail": "..."}``: 400 bad input (the message says what and where), 401
  no or bad credentials, 403 role too weak, 404 not found, 409 changed meanwhile (reload, redo).
* **Lists** are paginated: ``limit`` (1-500, default 50) and ``offset``; answers carry ``count``
  (rows over all pages) and ``next`` / ``previous`` (URLs, null at the ends).
"""

from __future__ import annotations

import json
import logging
import shlex
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, ValidationError

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.sheet import LIST_COLUMNS, NARRATIVE_FIELDS, parse_query
from assess2plan.species import RECORD_TABLES
from assess2plan.text import sanitise_html
from assess2plan.web.api import schemas as s
from assess2plan.web.api.auth import SessionAuth, TokenAuth
from assess2plan.web.api.docs import OfflineSwagger
from assess2plan.web.app import derived
from assess2plan.web.app.access import Access, access_for, refuse_hidden_places, require, visible_projects
from assess2plan.web.store.edits import EditConflict

try:  # recent django-ninja: an explicit status; older versions take a (status, body) tuple
    from ninja import Status
except ImportError:  # pragma: no cover

    def Status(status_code: int, value: Any) -> tuple[int, Any]:  # noqa: N802
        return status_code, value


log = logging.getLogger(__name__)

#: rows per page unless ``limit`` says otherwise, and the most a page may have
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1
#: the child tables of an assessment, as ``species_record`` gives them
CHILD_TABLES = RECORD_TABLES
#: words in a bucket reason / finding that name a precise place (site links, subnational units)
PLACE_MARKERS = ('"site:', '"subnational:', "(site ", "(subnational ", "subnational")
HIDDEN_NOTE = "not shown: it names places of a sensitive species (ask a project admin)"

api = NinjaAPI(
    title="assess2plan API",
    version="1",
    description=__doc__.split("\n\n", 1)[1] if __doc__ else "",
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    docs=OfflineSwagger(),
    docs_url="/docs",
)

ERRORS: dict[int, Any] = {400: s.ErrorOut, 401: s.ErrorOut, 403: s.ErrorOut, 404: s.ErrorOut}


def _responses(ok: Any, status: int = 200, *extra: int) -> dict[int, Any]:
    return {status: ok, **ERRORS, **{code: s.ErrorOut for code in extra}}


# -- errors -----------------------------------------------------------------------------------------
def _error(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(EditConflict)
def _conflict(request: HttpRequest, exc: EditConflict) -> HttpResponse:
    return _error(request, 409, f"Not saved: {exc}")


@api.exception_handler(A2PError)
def _bad_input(request: HttpRequest, exc: A2PError) -> HttpResponse:
    return _error(request, 400, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, str(exc) or "not found")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "your role in this project does not allow this")


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = exc.message if exc.message != "Unauthorized" else None
    response = _error(
        request,
        401,
        message or "log in, or send the header Authorization: Bearer <token> (make a token at /tokens/)",
    )
    response["WWW-Authenticate"] = 'Bearer realm="assess2plan"'
    return response


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    parts = []
    for e in exc.errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "payload")]
        where = ".".join(loc[1:] if loc and loc[0] in ("query", "path") else loc)
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return _error(request, 400, "; ".join(parts) or "invalid request")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API error on %s %s", request.method, request.path)
    return _error(request, 500, f"internal error ({type(exc).__name__}); it was logged for the administrator")


# -- helpers ----------------------------------------------------------------------------------------
def _who(request: HttpRequest) -> str:
    return request.user.get_username()


def _utc(v: Any) -> Any:
    """Naive datetimes of the store's frames are UTC: make them aware (JSON gets a ``Z``)."""
    if isinstance(v, datetime) and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _utc(v) for k, v in row.items()}


def _page(request: HttpRequest, count: int, results: list, limit: int, offset: int) -> dict[str, Any]:
    """The page envelope: ``next`` / ``previous`` keep every other query parameter of the request."""

    def link(off: int) -> str:
        q = request.GET.copy()
        q["offset"] = str(off)
        q["limit"] = str(limit)
        return request.build_absolute_uri(f"{request.path}?{q.urlencode()}")

    return {
        "count": count,
        "next": link(offset + limit) if offset + limit < count else None,
        "previous": link(max(0, min(offset, count) - limit)) if offset > 0 else None,
        "limit": limit,
        "offset": offset,
        "results": results,
    }


def _frame_page(request: HttpRequest, df: pl.DataFrame, limit: int, offset: int) -> dict[str, Any]:
    rows = [_plain(r) for r in df.slice(offset, limit).iter_rows(named=True)] if offset < df.height else []
    return _page(request, df.height, rows, limit, offset)


def _not_found_from(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a store function whose InputError means "no such record": 404 instead of 400."""
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        raise Http404(str(e)) from None


def _names_places(*texts: Any) -> bool:
    return any(m in str(t) for t in texts if t for m in PLACE_MARKERS)


def _filters(values: list[str]) -> list[str]:
    """Filter conditions: each ``filter`` value may hold several, whitespace-separated; quotes keep
    spaces (``system="Freshwater (=Inland waters)"``)."""
    out: list[str] = []
    for v in values:
        try:
            out += shlex.split(v)
        except ValueError as e:
            raise A2PError(f"cannot read the filter {v!r}: {e}") from None
    return out


def _project_out(user: Any, project: Any, counts: dict[str, dict]) -> dict[str, Any]:
    acc = access_for(user, project)
    c = counts.get(project.slug, {})
    return {
        "slug": project.slug,
        "name": project.name or project.slug,
        "role": acc.role if acc else "",
        "sees_sensitive": bool(acc and acc.sees_sensitive),
        "assessments": c.get("assessments", 0),
        "datasets": c.get("datasets", 0),
    }


# -- projects ---------------------------------------------------------------------------------------
@api.get("/projects", response=_responses(list[s.ProjectOut]), tags=["projects"], summary="Your projects")
def list_projects(request: HttpRequest) -> list[dict[str, Any]]:
    """The projects you are a member of (every project for a superuser), with your role."""
    projects = list(visible_projects(request.user))
    counts = {p["slug"]: p for p in store.list_projects()} if projects else {}
    return [_project_out(request.user, p, counts) for p in projects]


@api.get("/projects/{slug}", response=_responses(s.ProjectOut), tags=["projects"], summary="One project")
def get_project(request: HttpRequest, slug: str) -> dict[str, Any]:
    access = require(request, slug, "read")
    counts = {p["slug"]: p for p in store.list_projects()}
    return _project_out(request.user, access.project, counts)


# -- species ----------------------------------------------------------------------------------------
@api.get(
    "/projects/{slug}/species",
    response=_responses(s.SpeciesPage),
    tags=["species"],
    summary="The planning sheet",
)
def list_species(
    request: HttpRequest,
    slug: str,
    filters: list[str] = Query(  # noqa: B008 - django-ninja's way to declare a parameter
        [],
        alias="filter",
        description="sheet query conditions, e.g. category=CR,EN threat=8.1 country=XA (repeat the "
        "parameter, or separate conditions by spaces)",
    ),
    search: str | None = Query(
        None, description='full-text search of the narratives (words, "phrases", -not)'
    ),
    sort: str | None = Query(
        None, description="columns, comma-separated; -col for descending (e.g. -category)"
    ),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """One row per taxon (its latest assessment), filtered with the sheet's query language, searched
    and sorted like the Sheet page."""
    access = require(request, slug, "read")
    query = parse_query(_filters(filters), text=search or None, sort=sort or None)
    refuse_hidden_places(access, (c.field for c in query.conditions))
    total = store.sheet_count(slug, query)
    df = store.query_sheet(slug, query, limit=limit, offset=offset) if offset < total else None
    hidden = access.hidden_taxa()
    rows = []
    for r in df.iter_rows(named=True) if df is not None else ():
        for c in LIST_COLUMNS:
            if r.get(c) is None:
                r[c] = []
        if r["taxon_id"] in hidden:
            r["subnational"] = []
        rows.append(r)
    return _page(request, total, rows, limit, offset)


def _sanitised(assessment: dict[str, Any] | None) -> dict[str, Any] | None:
    if assessment is None:
        return None
    out = _plain(assessment)
    for f in NARRATIVE_FIELDS:
        if out.get(f):
            out[f] = sanitise_html(out[f])
    return out


def _taxon_in_project(access: Access, taxon_id: str) -> str:
    from assess2plan.web.store.models import Taxon

    if not Taxon.objects.filter(project=access.project, taxon_id=taxon_id).exists():
        raise Http404(f"no taxon {taxon_id!r} in project {access.project.slug!r}")
    return taxon_id


@api.get(
    "/projects/{slug}/species/{taxon_id}",
    response=_responses(s.SpeciesDetail),
    tags=["species"],
    summary="One species' full record",
)
def get_species(request: HttpRequest, slug: str, taxon_id: str) -> dict[str, Any]:
    """Taxonomy, latest assessment (narratives sanitised), history and every child table of the
    latest assessment, the sites the species is linked to, its edit revision."""
    from assess2plan.species import species_record

    access = require(request, slug, "read")
    tid = _taxon_in_project(access, taxon_id)
    aset = store.load_set(slug, taxon_ids=[tid], latest_only=False)
    try:
        rec = species_record(aset, tid)
    except A2PError as e:
        raise Http404(str(e)) from None
    a = rec.get("assessment")
    hidden = tid in access.hidden_taxa()
    if hidden:
        rec["occurrence"] = [o for o in rec.get("occurrence") or [] if o.get("kind") != "subnational"]
        sites: list[dict[str, Any]] = []
    else:
        links = derived.site_links(slug).filter(pl.col("taxon_id") == tid)
        kinds = dict(store.list_sites(slug).select("site_id", "kind").iter_rows())
        sites = [
            {
                "site_id": r["site_id"],
                "name": r["site_name"],
                "kind": kinds.get(r["site_id"]),
                "source": r["source"],
                "note": r["note"],
            }
            for r in links.iter_rows(named=True)
        ]
    out = {k: ([_plain(x) for x in v] if isinstance(v, list) else v) for k, v in rec.items()}
    out["taxon"] = _plain(rec["taxon"])
    out["assessment"] = _sanitised(a)
    out["revision"] = store.revisions(slug, [a["assessment_id"]]).get(a["assessment_id"]) if a else None
    out["sensitive"] = tid in store.sensitive_taxa(slug)
    out["locations_hidden"] = hidden
    out["sites"] = sites
    return out


# -- assessments ------------------------------------------------------------------------------------
def _scopes(text: str | None) -> list[str]:
    return [x for x in (text or "").split("|") if x]


@api.get(
    "/projects/{slug}/assessments",
    response=_responses(s.AssessmentPage),
    tags=["assessments"],
    summary="Assessments (history included)",
)
def list_assessments(
    request: HttpRequest,
    slug: str,
    taxon: str | None = Query(None, description="only this taxon id"),
    category: str | None = Query(None, description="only this category code (e.g. CR)"),
    latest: bool | None = Query(None, description="true: only latest assessments; false: only older ones"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Every stored assessment of the project, by scientific name, newest first per taxon."""
    from assess2plan.web.store.models import Assessment

    access = require(request, slug, "read")
    qs = Assessment.objects.filter(project=access.project)
    if taxon:
        qs = qs.filter(taxon__taxon_id=taxon.strip())
    if category:
        qs = qs.filter(category=category.strip())
    if latest is not None:
        qs = qs.filter(latest=latest)
    count = qs.count()
    rows = (
        [
            {
                "assessment_id": aid,
                "taxon_id": tid,
                "scientific_name": name,
                "year_published": year,
                "category": cat,
                "criteria": crit,
                "latest": lat,
                "scopes": _scopes(scopes),
            }
            for aid, tid, name, year, cat, crit, lat, scopes in qs.order_by(
                "scientific_name", "taxon__taxon_id", "-year_published", "assessment_id"
            ).values_list(
                "assessment_id",
                "taxon__taxon_id",
                "scientific_name",
                "year_published",
                "category",
                "criteria",
                "latest",
                "scopes",
            )[offset : offset + limit]
        ]
        if offset < count
        else []
    )
    return _page(request, count, rows, limit, offset)


@api.get(
    "/projects/{slug}/assessments/{assessment_id}",
    response=_responses(s.AssessmentDetail),
    tags=["assessments"],
    summary="One assessment with its child rows",
)
def get_assessment(request: HttpRequest, slug: str, assessment_id: str) -> dict[str, Any]:
    from assess2plan.web.store.models import Assessment

    access = require(request, slug, "read")
    row = (
        Assessment.objects.filter(project=access.project, assessment_id=assessment_id)
        .values_list("taxon__taxon_id", "latest", "revision")
        .first()
    )
    if row is None:
        raise Http404(f"no assessment {assessment_id!r} in project {slug!r}")
    tid, latest, revision = row
    aset = store.load_set(slug, taxon_ids=[tid], latest_only=False)
    mine = pl.col("assessment_id") == assessment_id
    found = aset.assessments.filter(mine).to_dicts()
    if not found:
        raise Http404(f"no assessment {assessment_id!r} in project {slug!r}")
    hidden = tid in access.hidden_taxa()
    out: dict[str, Any] = {
        "assessment": _sanitised(found[0]),
        "latest": latest,
        "revision": revision,
        "locations_hidden": hidden,
    }
    for t in CHILD_TABLES:
        df = aset.tables[t].filter(mine).drop("assessment_id", "taxon_id", strict=False)
        rows = [_plain(r) for r in df.iter_rows(named=True)]
        if t == "occurrence" and hidden:
            rows = [r for r in rows if r.get("kind") != "subnational"]
        out[t] = rows
    return out


# -- findings ---------------------------------------------------------------------------------------
@api.get(
    "/projects/{slug}/findings",
    response=_responses(s.FindingPage),
    tags=["findings"],
    summary="Consistency findings",
)
def list_findings(
    request: HttpRequest,
    slug: str,
    rule: str | None = Query(None, description="only this rule (its id)"),
    severity: Literal["error", "warning", "info"] | None = Query(None),
    taxon: str | None = Query(None, description="only this taxon id"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """What the consistency checks (default rules) found in the project's latest assessments."""
    access = require(request, slug, "read")
    df = derived.project_findings(slug)
    if rule:
        df = df.filter(pl.col("rule") == rule.strip())
    if severity:
        df = df.filter(pl.col("severity") == severity)
    if taxon:
        df = df.filter(pl.col("taxon_id") == taxon.strip())
    page = _frame_page(request, df, limit, offset)
    hidden = access.hidden_taxa()
    if hidden:
        # a finding about a place (e.g. same-place coherence) may name sensitive species found there
        names = _hidden_names(slug, hidden)
        for r in page["results"]:
            text = f"{r['message']} {r['evidence']}"
            about_hidden = r["taxon_id"] in hidden or any(n in text for n in names)
            if about_hidden and _names_places(r["message"], r["evidence"]):
                r["message"], r["evidence"] = f"{r['rule']}: {HIDDEN_NOTE}", None
    return page


def _hidden_names(slug: str, hidden: frozenset[str]) -> set[str]:
    """Taxon ids and scientific names of the sensitive species hidden from the caller."""
    taxa = derived.project_set(slug).taxa.filter(pl.col("taxon_id").is_in(list(hidden)))
    return set(hidden) | {n for n in taxa["scientific_name"].to_list() if n}


# -- buckets ----------------------------------------------------------------------------------------
@api.get(
    "/projects/{slug}/buckets",
    response=_responses(s.BucketPage),
    tags=["buckets"],
    summary="Planning buckets (triage) with decisions applied",
)
def list_buckets(
    request: HttpRequest,
    slug: str,
    bucket: s.Bucket | None = Query(None),  # noqa: B008
    status: Literal["suggested", "accepted", "rejected", "added"] | None = Query(None),
    taxon: str | None = Query(None, description="only this taxon id"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """One row per taxon and bucket the triage rules suggest (or people added), with its status."""
    access = require(request, slug, "read")
    df = derived.project_buckets(slug)
    if bucket:
        df = df.filter(pl.col("bucket") == bucket)
    if status:
        df = df.filter(pl.col("status") == status)
    if taxon:
        df = df.filter(pl.col("taxon_id") == taxon.strip())
    page = _frame_page(request, df, limit, offset)
    hidden = access.hidden_taxa()
    for r in page["results"]:
        if r["taxon_id"] in hidden and _names_places(r["reason"], r["evidence"]):
            r["reason"], r["evidence"] = HIDDEN_NOTE, None
    return page


@api.post(
    "/projects/{slug}/buckets/decisions",
    response=_responses(s.DecisionOut, 201),
    tags=["buckets"],
    summary="Decide a bucket (facilitator)",
)
def decide_bucket(request: HttpRequest, slug: str, payload: s.DecisionIn) -> Any:
    """Accept or reject a suggested bucket of a taxon, or add it to a bucket by hand; the reason is
    required and kept in the decision log with who and when."""
    require(request, slug, "decide")
    row = store.decide_bucket(
        slug, payload.taxon, payload.bucket, payload.decision, payload.reason, user=_who(request)
    )
    return Status(201, _plain(row))


# -- sites ------------------------------------------------------------------------------------------
def _geometry(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _visible_link_counts(slug: str, hidden: frozenset[str]) -> dict[str, int]:
    links = derived.site_links(slug)
    return dict(
        Counter(sid for tid, sid in links.select("taxon_id", "site_id").iter_rows() if tid not in hidden)
    )


def _site_out(row: dict[str, Any], counts: dict[str, int], access: Access) -> dict[str, Any]:
    r = _plain(row)
    r["geometry"] = None if (r["sensitive"] and not access.sees_sensitive) else _geometry(r["geometry"])
    r["species"] = counts.get(r["site_id"], 0)
    return r


@api.get("/projects/{slug}/sites", response=_responses(s.SitePage), tags=["sites"], summary="Sites")
def list_sites(
    request: HttpRequest,
    slug: str,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The project's sites with their GeoJSON geometry (null for sensitive sites unless you may see
    them) and the number of species linked that you may see."""
    access = require(request, slug, "read")
    df = store.list_sites(slug, details=True, hide_sensitive_geometry=not access.sees_sensitive)
    counts = _visible_link_counts(slug, access.hidden_taxa())
    page = _frame_page(request, df, limit, offset)
    page["results"] = [_site_out(r, counts, access) for r in page["results"]]
    return page


@api.get(
    "/projects/{slug}/sites/{site_id}",
    response=_responses(s.SiteDetail),
    tags=["sites"],
    summary="One site and its species",
)
def get_site(request: HttpRequest, slug: str, site_id: str) -> dict[str, Any]:
    access = require(request, slug, "read")
    site = _not_found_from(store.get_site, slug, site_id)
    hidden = access.hidden_taxa()
    species = store.site_species(slug, site["site_id"])
    linked = [_plain(r) for r in species.iter_rows(named=True) if r["taxon_id"] not in hidden]
    out = _site_out(site, {site["site_id"]: len(linked)}, access)
    out["linked_species"] = linked
    return out


# -- events -----------------------------------------------------------------------------------------
def _visible_affected(affected: list[dict[str, Any]], hidden: frozenset[str]) -> list[dict[str, Any]]:
    return [a for a in affected if a.get("taxon_id") not in hidden]


@api.get("/projects/{slug}/events", response=_responses(s.EventPage), tags=["events"], summary="Site events")
def list_events(
    request: HttpRequest,
    slug: str,
    site: str | None = Query(None, description="only events at this site (id or name)"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Events raised at the project's sites, oldest first, with the number of species affected and
    of notifications sent, failed and pending."""
    from assess2plan.web.store.models import SiteEvent

    access = require(request, slug, "read")
    df = store.list_events(slug, site=site.strip() if site else None)
    page = _frame_page(request, df, limit, offset)
    hidden = access.hidden_taxa()
    if hidden and page["results"]:
        ids = [int(r["event_id"]) for r in page["results"]]
        affected = dict(
            SiteEvent.objects.filter(project=access.project, id__in=ids).values_list("id", "affected")
        )
        for r in page["results"]:
            r["species"] = len(_visible_affected(affected.get(int(r["event_id"])) or [], hidden))
    return page


def _event_out(result: Any, access: Access) -> dict[str, Any]:
    affected = _visible_affected(result.affected.to_dicts(), access.hidden_taxa())
    statuses = Counter(result.deliveries["status"].to_list())
    return {
        **_plain(result.event),
        "species": len(affected),
        "sent": statuses.get("sent", 0),
        "failed": statuses.get("failed", 0),
        "pending": statuses.get("pending", 0),
        "affected": affected,
    }


@api.get(
    "/projects/{slug}/events/{event_id}",
    response=_responses(s.EventDetail),
    tags=["events"],
    summary="One event and the species it affects",
)
def get_event(request: HttpRequest, slug: str, event_id: str) -> dict[str, Any]:
    access = require(request, slug, "read")
    result = _not_found_from(store.event_detail, slug, event_id)
    return _event_out(result, access)


@api.post(
    "/projects/{slug}/events",
    response=_responses(s.EventDetail, 201),
    tags=["events"],
    summary="Raise a site event (facilitator)",
)
def raise_event(request: HttpRequest, slug: str, payload: s.EventIn) -> Any:
    """Record an event at a site: every species linked to the site is flagged for re-assessment
    and the subscribers are notified (unless ``notify`` is false)."""
    access = require(request, slug, "decide")
    result = store.raise_event(
        slug,
        payload.site,
        payload.title,
        payload.description,
        payload.severity,
        user=_who(request),
        notify_subscribers=payload.notify,
    )
    return Status(201, _event_out(result, access))


# -- commitments ------------------------------------------------------------------------------------
@api.get(
    "/projects/{slug}/commitments",
    response=_responses(s.CommitmentPage),
    tags=["commitments"],
    summary="Commitments",
)
def list_commitments(
    request: HttpRequest,
    slug: str,
    status: s.CommitmentStatus | None = Query(None),  # noqa: B008
    taxon: str | None = Query(None, description="taxon id, assessment id or full scientific name"),
    stakeholder: str | None = Query(None, description="stakeholder id or exact name"),
    overdue: bool = Query(False, description="only overdue ones"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Who committed to which conservation action, for which species or cluster, by when."""
    require(request, slug, "read")
    df = store.list_commitments(
        slug,
        status=status,
        taxon=taxon.strip() if taxon and taxon.strip() else None,
        stakeholder=stakeholder.strip() if stakeholder and stakeholder.strip() else None,
        overdue_only=overdue,
    )
    return _frame_page(request, df, limit, offset)


def _commitment_detail(slug: str, commitment: dict[str, Any]) -> dict[str, Any]:
    notes = store.commitment_notes(slug, commitment["commitment_id"])
    return {**_plain(commitment), "notes": [_plain(n) for n in notes.iter_rows(named=True)]}


@api.get(
    "/projects/{slug}/commitments/{commitment_id}",
    response=_responses(s.CommitmentDetail),
    tags=["commitments"],
    summary="One commitment and its progress notes",
)
def get_commitment(request: HttpRequest, slug: str, commitment_id: str) -> dict[str, Any]:
    require(request, slug, "read")
    c = _not_found_from(store.get_commitment, slug, commitment_id)
    return _commitment_detail(slug, c)


@api.post(
    "/projects/{slug}/commitments",
    response=_responses(s.CommitmentDetail, 201),
    tags=["commitments"],
    summary="Sign a stakeholder up for an action (facilitator)",
)
def sign_up(request: HttpRequest, slug: str, payload: s.SignUpIn) -> Any:
    require(request, slug, "decide")
    c = store.sign_up(
        slug,
        payload.stakeholder,
        payload.action_code,
        taxon=payload.taxon,
        cluster_id=payload.cluster_id,
        place=payload.place,
        due_date=payload.due_date,
        status=payload.status,
        note=payload.note,
        user=_who(request),
    )
    return Status(201, _commitment_detail(slug, c))


@api.patch(
    "/projects/{slug}/commitments/{commitment_id}",
    response=_responses(s.CommitmentDetail, 200, 409),
    tags=["commitments"],
    summary="Report progress on a commitment (facilitator)",
)
def update_commitment(
    request: HttpRequest, slug: str, commitment_id: str, payload: s.CommitmentUpdate
) -> dict[str, Any]:
    """Change status, due date or place and/or add a progress note. ``expected_version`` is the
    version you read: when someone changed the commitment since, the answer is 409 and nothing
    is changed (read it again, redo your change)."""
    require(request, slug, "decide")
    current = _not_found_from(store.get_commitment, slug, commitment_id)
    c = store.update_commitment(
        slug,
        current["commitment_id"],
        expected_version=payload.expected_version,
        status=payload.status,
        note=payload.note,
        due_date=payload.due_date,
        place=payload.place,
        user=_who(request),
    )
    return _commitment_detail(slug, c)


# -- ex situ (issue 6) ------------------------------------------------------------------------------
@api.get(
    "/projects/{slug}/exsitu/prescreen",
    response=_responses(s.PrescreenPage),
    tags=["ex situ"],
    summary="Species flagged for an ex situ evaluation",
)
def exsitu_prescreen(
    request: HttpRequest,
    slug: str,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The ex situ pre-screen (bundled rules, docs/exsitu-prescreen.md) with the project's holdings
    and CITES listings: one row per flagged species with the rules that fired and their reasons."""
    require(request, slug, "read")
    from assess2plan.web.app import derived

    df = store.run_prescreen(slug, aset=derived.project_set(slug))
    page = _frame_page(request, df, limit, offset)
    page["results"] = [
        {
            **{k: r[k] for k in ("taxon_id", "scientific_name", "category", "reasons")},
            "rules": [x for x in str(r["rules"] or "").split("|") if x],
            "evidence": json.loads(r["evidence"] or "{}"),
        }
        for r in page["results"]
    ]
    return page


@api.get(
    "/projects/{slug}/exsitu/assessments",
    response=_responses(s.ExSituListPage),
    tags=["ex situ"],
    summary="Ex situ assessments",
)
def exsitu_assessments(
    request: HttpRequest,
    slug: str,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Every ex situ assessment of the project: steps done, outcome, roles retained, version."""
    require(request, slug, "read")
    page = _frame_page(request, store.list_exsitu_assessments(slug), limit, offset)
    for r in page["results"]:
        r["roles_retained"] = [x for x in str(r["roles_retained"] or "").split("|") if x]
    return page


@api.get(
    "/projects/{slug}/exsitu/assessments/{taxon_id}",
    response=_responses(s.ExSituAssessmentOut),
    tags=["ex situ"],
    summary="One ex situ assessment",
)
def exsitu_assessment(request: HttpRequest, slug: str, taxon_id: str) -> dict[str, Any]:
    """The whole five-step record of a species with every saved version (who, when, which step)."""
    require(request, slug, "read")
    try:
        a = _not_found_from(store.get_exsitu_assessment, slug, taxon_id)
        history = store.assessment_history(slug, a["taxon_id"])
    except A2PError as e:  # no assessment of this taxon yet
        raise Http404(str(e)) from None
    return {**a, "history": [{k: v for k, v in h.items() if k != "record"} for h in history]}
