"""Server-rendered pages. Every read and write goes through ``assess2plan.store``."""

from __future__ import annotations

import shlex
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assess2plan import store
from assess2plan.errors import A2PError
from assess2plan.sheet import FIELDS, NARRATIVE_FIELDS, parse_query
from assess2plan.text import sanitise_html
from assess2plan.web.app.access import refuse_hidden_places, require, visible_projects

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: facet fields in the sidebar, and how many values of each are shown
FACET_FIELDS = (
    "category",
    "trend",
    "system",
    "class",
    "family",
    "country",
    "major_threat",
    "action_needed",
    "research",
)
FACET_VALUES = 12


def warm_up() -> None:
    """Start building the sheet's facet index of every project in a background thread (a server
    calls this at start: at 150,000 species the index takes seconds to read)."""
    import threading

    def run() -> None:
        from django.db import connections

        from assess2plan.web.store.sheet import warm_facets

        try:
            warm_facets(FACET_FIELDS)
        except Exception:  # noqa: BLE001 - a cold index is built on first use instead
            pass
        finally:
            connections.close_all()

    threading.Thread(target=run, name="a2p-warm-facets", daemon=True).start()
SORTS = [
    ("", "name"),
    ("category", "category (most threatened first)"),
    ("-category", "category (least threatened first)"),
    ("-year_published", "year published (newest first)"),
    ("year_published", "year published (oldest first)"),
    ("family", "family"),
    ("-threats", "number of threats"),
]
NARRATIVE_LABELS = {
    "rationale": "Justification",
    "range_text": "Geographic range",
    "population_text": "Population",
    "habitat_text": "Habitat and ecology",
    "threats_text": "Threats",
    "use_trade_text": "Use and trade",
    "conservation_actions_text": "Conservation actions",
    "taxonomic_notes": "Taxonomic notes",
}


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = list(visible_projects(request.user))
    counts = {p["slug"]: p for p in store.list_projects()} if projects else {}
    roles = {m.project_id: m.role for m in request.user.memberships.all()}
    rows = [
        {
            "slug": p.slug,
            "name": p.name,
            "role": "admin" if request.user.is_superuser else roles.get(p.id),
            "assessments": counts.get(p.slug, {}).get("assessments", 0),
            "datasets": counts.get(p.slug, {}).get("datasets", 0),
        }
        for p in projects
    ]
    return render(request, "a2p/projects.html", {"projects": rows})


def _filters(text: str) -> list[str]:
    """The filter box as conditions: whitespace-separated, quotes keep spaces (system="Freshwater ...")."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise A2PError(f"cannot read the filters {text!r}: {e}") from None


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except ValueError:
        n = default
    return max(lo, min(hi, n))


def _join(v) -> str:  # noqa: ANN001
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


@login_required
def sheet(request: HttpRequest, slug: str) -> HttpResponse:
    """The planning sheet: filters (sheet query language), full-text search, sort, pages, facets.

    Answers HTMX requests (``HX-Request``) with the results fragment only."""
    access = require(request, slug, "read")
    filters = request.GET.get("q", "").strip()
    search = request.GET.get("search", "").strip()
    sort = request.GET.get("sort", "").strip()
    size = _int(request.GET.get("size"), PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(request.GET.get("page"), 1, 1, 10**7)
    ctx: dict = {
        "access": access,
        "project": access.project,
        "filters": filters,
        "search": search,
        "sort": sort,
        "sorts": SORTS,
        "size": size,
        "fields": [(f.name, f.label) for f in FIELDS.values()],
        "error": None,
        "rows": [],
        "facets": [],
        "total": 0,
    }
    try:
        conditions = _filters(filters)
        query = parse_query(conditions, text=search or None, sort=sort or None)
        refuse_hidden_places(access, (c.field for c in query.conditions))
    except A2PError as e:
        ctx["error"] = str(e)
        return _render_sheet(request, ctx)
    # the results fragment depends on the question and the data only: rendered once per version
    from django.core.cache import cache
    from django.template.loader import render_to_string

    from assess2plan.web.app.derived import data_version

    version = data_version(slug)
    html_key = _cache_key("html", slug, version, filters, search, sort, size, page)
    html = cache.get(html_key)
    if html is None:
        try:
            _sheet_context(ctx, slug, query, conditions, version, page)
        except A2PError as e:
            ctx["error"] = str(e)
            return _render_sheet(request, ctx)
        html = render_to_string("a2p/_sheet_results.html", ctx, request=request)
        cache.set(html_key, html, SHEET_CACHE_SECONDS)
    return _render_sheet(request, ctx, html)


def _cache_key(*parts: object) -> str:
    import hashlib
    import json

    return "a2p-sheet:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _sheet_context(ctx: dict, slug: str, query, conditions: list[str], version: tuple, page: int) -> None:  # noqa: ANN001
    """Fill ``ctx`` with the results of ``query``: rows of the page, counts, facets, page links."""
    filters, search, sort, size = ctx["filters"], ctx["search"], ctx["sort"], ctx["size"]
    total, page, rows, facets = _sheet_answer(slug, query, size, page, version)
    pages = max(1, -(-total // size))
    base = {"q": filters, "search": search, "sort": sort, "size": size if size != PAGE_SIZE else ""}
    ctx.update(
        total=total,
        page=page,
        pages=pages,
        first=(page - 1) * size + 1 if total else 0,
        last=min(total, page * size),
        prev_url=_url(base, page=page - 1) if page > 1 else None,
        next_url=_url(base, page=page + 1) if page < pages else None,
        rows=rows,
        facets=_facet_groups(facets, conditions, base),
    )


#: how long a computed sheet answer is kept (a new import or edit makes new keys at once)
SHEET_CACHE_SECONDS = 3600


def _sheet_answer(slug: str, query, size: int, page: int, version: tuple) -> tuple[int, int, list[dict], list[tuple]]:  # noqa: ANN001
    """(total, page number, rows of the page, facet counts) of a sheet query.

    Kept in the shared cache under the project's data version: the workshop room asks the same
    questions again and again (the whole sheet, a category, a country), and counting facets over
    150,000 species takes seconds, so each distinct answer is computed once per import or edit."""
    from django.core.cache import cache

    def key(*parts: object) -> str:
        return _cache_key(slug, repr(version), str(query), query.text or "", *parts)

    # the count and the facet counts do not depend on the page or the order: kept once per selection
    selection = cache.get(key("selection"))
    if selection is None:
        selection = (
            store.sheet_count(slug, query),
            [tuple(r) for r in store.sheet_facets(slug, query, FACET_FIELDS).iter_rows()],
        )
        cache.set(key("selection"), selection, SHEET_CACHE_SECONDS)
    total, facets = selection
    pages = max(1, -(-total // size))
    page = min(page, pages)
    page_key = key(list(query.sort), size, page)
    rows = cache.get(page_key)
    if rows is not None:
        return total, page, rows, facets
    df = store.query_sheet(slug, query, limit=size, offset=(page - 1) * size, rows=total)
    rows = [
        {
            "taxon_id": r["taxon_id"],
            "scientific_name": r["scientific_name"],
            "category": r["category"] or "",
            "criteria": r["criteria"] or "",
            "trend": r["population_trend"] or "",
            "year": r["year_published"] or "",
            "countries": _join(r["countries"]),
            "major_threats": _join(r["major_threats"]),
            "actions_needed": _join(r["actions_needed"]),
        }
        for r in df.iter_rows(named=True)
    ]
    cache.set(page_key, rows, SHEET_CACHE_SECONDS)
    return total, page, rows, facets


def _url(base: dict, **extra) -> str:
    params = {k: v for k, v in {**base, **extra}.items() if v not in ("", None)}
    return "?" + urlencode(params)


def _facet_groups(facets: list[tuple], conditions: list[str], base: dict) -> list[dict]:
    """The sidebar: per facet field its most frequent values (``facets``: (field, value, taxa)
    rows, most frequent first within a field) with a link adding or removing that condition."""
    groups = []
    for name in FACET_FIELDS:
        sub = [(v, n) for f, v, n in facets if f == name][:FACET_VALUES]
        if not sub:
            continue
        values = []
        for value, n in sub:
            cond = f"{name}={value}"
            active = cond in conditions
            q = " ".join(shlex.quote(c) for c in (conditions if active else [*conditions, cond]))
            values.append({"value": value, "taxa": n, "active": active, "url": _url({**base, "q": q})})
        groups.append({"field": name, "label": FIELDS[name].label, "values": values})
    return groups


def _render_sheet(request: HttpRequest, ctx: dict, results_html: str | None = None) -> HttpResponse:
    """The page, or for HTMX requests the results fragment only (``results_html`` when rendered)."""
    from django.utils.safestring import mark_safe

    if results_html is None:
        results_html = render(request, "a2p/_sheet_results.html", ctx).content.decode()
    if request.headers.get("HX-Request"):
        return HttpResponse(results_html)
    return render(request, "a2p/sheet.html", {**ctx, "results_html": mark_safe(results_html)})  # noqa: S308 - our template


def _species_context(request: HttpRequest, access, taxon_id: str) -> dict:  # noqa: ANN001
    from django.utils.safestring import mark_safe

    from assess2plan.species import species_record

    slug = access.project.slug
    # a taxon id (the sheet's links), else an assessment id or a full scientific name
    candidates = store.find_taxa(slug, taxon_id)
    tid = taxon_id if taxon_id in candidates else (candidates[0] if len(candidates) == 1 else None)
    if tid is None:
        raise Http404("no such taxon in this project")
    aset = store.load_set(slug, taxon_ids=[tid], latest_only=False)
    try:
        rec = species_record(aset, tid)
    except A2PError as e:
        raise Http404(str(e)) from None
    a = rec["assessment"] or {}
    narratives = [
        {"label": NARRATIVE_LABELS.get(f, f), "html": mark_safe(sanitise_html(a.get(f)))}  # noqa: S308 - nh3 output
        for f in NARRATIVE_FIELDS
        if a.get(f)
    ]
    revision = store.revisions(slug, [a["assessment_id"]]).get(a["assessment_id"]) if a else None
    # sensitive taxa: precise locations (subnational places, sites) only for users allowed to see them
    hidden = tid in access.hidden_taxa()
    if hidden:
        rec["occurrence"] = [o for o in rec.get("occurrence") or [] if o.get("kind") != "subnational"]
        sites = []
    else:
        links = store.site_links(slug, taxon=tid)
        site_rows = {s["site_id"]: s for s in store.list_sites(slug).iter_rows(named=True)}
        sites = [
            {
                "site_id": r["site_id"],
                "name": r["site_name"],
                "kind": (site_rows.get(r["site_id"]) or {}).get("kind") or "",
                "source": r["source"],
                "note": r["note"] or "",
            }
            for r in links.iter_rows(named=True)
        ]
    return {
        "access": access,
        "project": access.project,
        "rec": rec,
        "taxon": rec["taxon"],
        "a": a,
        "revision": revision,
        "narratives": narratives,
        "can_edit": access.can("edit"),
        "locations_hidden": hidden,
        "sensitive": tid in store.sensitive_taxa(slug),
        "sites": sites,
    }


@login_required
def species(request: HttpRequest, slug: str, taxon_id: str) -> HttpResponse:
    """One species' full record; narrative HTML sanitised (nh3) before it is shown."""
    access = require(request, slug, "read")
    return render(request, "a2p/species.html", _species_context(request, access, taxon_id))


@login_required
@require_POST
def species_action(request: HttpRequest, slug: str, taxon_id: str) -> HttpResponse:
    """Add or remove an action needed of one species (assessors and up), with optimistic locking:
    the form carries the revision the page showed; a stale page gets 409 and changes nothing."""
    from assess2plan.web.store.edits import EditConflict

    access = require(request, slug, "edit")
    ctx = _species_context(request, access, taxon_id)
    tid = ctx["taxon"]["taxon_id"]
    p = request.POST
    try:
        seen = int(p.get("revision", ""))
    except ValueError:
        seen = None
    status, error = 400, None
    if seen is None:
        error = "the form lacks the revision it was made from; reload the page"
    else:
        try:
            result = store.edit_actions(
                slug,
                operation=p.get("operation", ""),
                code=p.get("code", ""),
                note=p.get("note") or None,
                taxa=[tid],
                reason=p.get("reason", ""),
                user=request.user.get_username(),
                expected={tid: seen},
            )
        except EditConflict as e:
            status, error = (
                409,
                f"Not saved: someone changed this species meanwhile. {e} Reload the page and try again.",
            )
        except A2PError as e:
            error = f"Not saved: {e}"
        else:
            what = "added" if result.operation == "add" else "removed"
            if result.edit_id is None:
                messages.info(request, f"Nothing to change: action {result.code} was already {what}.")
            else:
                messages.success(request, f"Action {result.code} {what} (edit {result.edit_id}).")
            return redirect("species", slug=slug, taxon_id=tid)
    ctx.update(edit_error=error, form=p)
    return render(request, "a2p/species.html", ctx, status=status)
