"""Plan pages: the project dashboard (counts, charts, map), sites, site events with their
notifications and subscriptions, and the downloads (workshop report, datasheets, workbook,
findings).

Every read and write goes through ``assess2plan.store`` and ``assess2plan.web.app.derived`` — the
same functions ``a2p site``, ``a2p event``, ``a2p subscribe``, ``a2p report``, ``a2p datasheet`` and
``a2p export --format xlsx`` call — and every write records the user.

Sensitive locations: a user without ``access.sees_sensitive`` is never shown the geometry of a
sensitive site, nor the site links of a sensitive taxon (``access.hidden_taxa()``): such species
are left out of site pages, event pages, site counts, the dashboard map and every export, as if
they were not linked there. Changing those links or a site's sensitive flag needs a user who
may see them.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.web.app import derived
from assess2plan.web.app.access import Access, require

#: notifications sent while the page waits: one retry, short time-outs (the event page has a
#: retry button for what failed)
WEB_RETRIES = 1
WEB_BACKOFF = 0.5
WEB_TIMEOUT = 5.0
#: bars shown per chart
TOP_BARS = 12
SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("email", "webhook")

# -- a small per-data-version memo (dashboard statistics, planning frames without hidden links) ----
_memo_lock = threading.Lock()
_memo: OrderedDict[tuple, tuple[tuple, Any]] = OrderedDict()
_MEMO_SIZE = 16


def _cached(slug: str, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` kept until the project's data version (imports, edits, site links) moves on."""
    version = derived.data_version(slug)
    key = (slug, name)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None and hit[0] == version:
            _memo.move_to_end(key)
            return hit[1]
    value = compute()
    with _memo_lock:
        _memo[key] = (version, value)
        _memo.move_to_end(key)
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return value


def _ctx(access: Access, **extra: Any) -> dict[str, Any]:
    return {"access": access, "project": access.project, "can_decide": access.can("decide"), **extra}


def _user(request: HttpRequest) -> str:
    return request.user.get_username()


def _hidden(access: Access) -> frozenset[str]:
    return access.hidden_taxa()


def _visible_links(access: Access) -> pl.DataFrame:
    """The project's site links this user may see."""
    from assess2plan.report import visible_site_links

    return visible_site_links(derived.site_links(access.project.slug), _hidden(access))


def _geometry_shown(access: Access, site: dict[str, Any]) -> bool:
    return not site.get("sensitive") or access.sees_sensitive


# =================================================================================================
# dashboard
# =================================================================================================
def _overview(slug: str) -> dict[str, Any]:
    """Statistics of the project's latest Global assessments (as in the workshop report)."""
    from assess2plan.model import THREATENED
    from assess2plan.report import ReportData

    def compute() -> dict[str, Any]:
        data = ReportData(derived.project_set(slug), project=slug)
        sp = data.species
        return {
            "species": sp.height,
            "threatened": sp.filter(pl.col("category").is_in(list(THREATENED))).height,
            "categories": data.category_counts(),
            "threats": data.threat_counts(),
            "actions": data.action_counts(),
            "countries": data.place_counts("country")
            .select("code", "name", "species", "threatened")
            .to_dicts(),
        }

    return _cached(slug, "overview", compute)


def _bars(
    rows: list[dict[str, Any]], value: str, top: int = TOP_BARS, *, by_value: bool = True
) -> list[dict[str, Any]]:
    """Bar rows (largest first, or in the given order) with their width in percent of the largest."""
    rows = [r for r in rows if r.get(value)]
    rows = (sorted(rows, key=lambda r: -r[value]) if by_value else rows)[:top]
    peak = max((r[value] for r in rows), default=0) or 1
    return [
        {
            "code": r.get("code") or "",
            "label": r.get("label") or r.get("name") or "",
            "colour": r.get("colour") or "",
            "value": r[value],
            "width": round(100.0 * r[value] / peak, 1),
        }
        for r in rows
    ]


def _site_features(access: Access) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows for the sites table, GeoJSON features) with the geometry this user may see and the
    number of species linked to each site that this user may know of."""
    from assess2plan.report import maps

    slug = access.project.slug
    sites = store.list_sites(slug, hide_sensitive_geometry=not access.sees_sensitive)
    links = _visible_links(access)
    counts = (
        dict(links.group_by("site_id").agg(pl.col("taxon_id").n_unique()).iter_rows()) if links.height else {}
    )
    rows, features = [], []
    for s in sites.iter_rows(named=True):
        shown = _geometry_shown(access, s)
        geom = maps.parse_geometry(s["geometry"]) if shown else None
        row = {
            "site_id": s["site_id"],
            "name": s["name"],
            "kind": s["kind"],
            "country": s["country"] or "",
            "species": counts.get(s["site_id"], 0),
            "sensitive": bool(s["sensitive"]),
            "withheld": bool(s["sensitive"]) and not shown,
            "location": _location_text(geom),
            "url": reverse("site", args=[slug, s["site_id"]]),
        }
        rows.append(row)
        if geom is not None:
            props = {k: row[k] for k in ("site_id", "name", "kind", "country", "species", "sensitive", "url")}
            features.append({"type": "Feature", "geometry": geom, "properties": props})
    return rows, features


def _location_text(geom: dict[str, Any] | None) -> str:
    """A short text for the no-map table: the point's coordinates, else the geometry's kind."""
    if geom is None:
        return ""
    if geom.get("type") == "Point":
        x, y = geom["coordinates"][:2]
        return f"{y:.3f}, {x:.3f} (lat, lon)"
    return geom.get("type", "")


def _map_data(access: Access) -> dict[str, Any]:
    """What the dashboard map draws: species per country (choropleth classes) and the sites."""
    return _map(access)[0]


def _map(access: Access) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the dashboard map's data, the rows of the sites table beside it)."""
    from assess2plan.report import maps

    slug = access.project.slug
    ov = _overview(slug)
    world = maps.world()
    values = {r["code"]: int(r["species"]) for r in ov["countries"]}
    bins = maps.classes(values.values())
    countries = {
        r["code"]: {
            "name": r["name"],
            "species": int(r["species"]),
            "threatened": int(r["threatened"]),
            "colour": maps.class_colour(int(r["species"]), bins),
            "on_map": r["code"] in world,
        }
        for r in ov["countries"]
    }
    legend = [{"label": "none", "colour": maps.ZERO_COLOUR}] + [
        {"label": f"{lo}" if lo == hi else f"{lo}–{hi}", "colour": col} for lo, hi, col in bins
    ]
    rows, features = _site_features(access)
    data = {
        "world_url": reverse("world-map"),
        "zero_colour": maps.ZERO_COLOUR,
        "ocean_colour": maps.OCEAN_COLOUR,
        "countries": countries,
        "legend": legend,
        "sites": {"type": "FeatureCollection", "features": features},
        "withheld_sites": sum(1 for r in rows if r["withheld"]),
    }
    return data, rows


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Counts, charts and the map of countries and sites (drawn offline; a table without JS)."""
    access = require(request, slug, "read")
    ov = _overview(slug)
    findings = derived.project_findings(slug)
    buckets = derived.project_buckets(slug)
    kept = (
        buckets.filter(pl.col("status").fill_null("suggested") != "rejected") if buckets.height else buckets
    )
    per_bucket = (
        dict(kept.group_by("bucket").agg(pl.col("taxon_id").n_unique()).iter_rows()) if kept.height else {}
    )
    commitments = store.list_commitments(slug)
    open_c = commitments.filter(pl.col("status").is_in(["proposed", "active"]))
    from assess2plan.report.data import BUCKET_TITLES, BUCKETS

    counts = {
        "species": ov["species"],
        "assessments": store.counts(slug).get("assessments", 0),
        "threatened": ov["threatened"],
        "findings": findings.height,
        "sites": store.list_sites(slug).height,
        "events": store.list_events(slug).height,
        "open_commitments": open_c.height,
        "overdue_commitments": open_c.filter(pl.col("overdue")).height,
        "flags": store.list_flags(slug).height,
    }
    severities = dict(findings.group_by("severity").agg(pl.len()).iter_rows()) if findings.height else {}
    map_data, site_rows = _map(access)
    countries = sorted(
        ({"code": c, **v} for c, v in map_data["countries"].items()),
        key=lambda r: (-r["species"], r["code"]),
    )
    ctx = _ctx(
        access,
        counts=counts,
        severities=sorted(severities.items()),
        buckets=[
            {"name": b, "title": BUCKET_TITLES.get(b, b), "species": per_bucket.get(b, 0)} for b in BUCKETS
        ],
        categories=_bars(ov["categories"], "species", top=50, by_value=False),  # Red List order
        threats=_bars(ov["threats"], "major"),
        actions=_bars(ov["actions"], "species"),
        map_data=map_data,
        countries=countries,
        site_rows=site_rows,
    )
    return render(request, "a2p/dashboard.html", ctx)


@login_required
def dashboard_map(request: HttpRequest, slug: str) -> JsonResponse:
    """The dashboard map's data as JSON (what the page embeds)."""
    access = require(request, slug, "read")
    return JsonResponse(_map_data(access))


@login_required
def world_map(request: HttpRequest) -> HttpResponse:
    """The bundled Natural Earth country outlines (public domain), served by the app itself."""
    text = resources.files("assess2plan.report").joinpath("data", "world-110m.geojson").read_bytes()
    resp = HttpResponse(text, content_type="application/geo+json")
    resp["Cache-Control"] = "private, max-age=86400"
    return resp


# =================================================================================================
# sites
# =================================================================================================
def _get_site_or_404(slug: str, site_id: str) -> dict[str, Any]:
    try:
        return store.get_site(slug, site_id)
    except InputError:
        raise Http404("no such site in this project") from None


def _geometry_value(text: str) -> Any:
    """The geometry field of a form: GeoJSON (text starting with ``{``) or WKT, or None when empty.
    WKT is read with shapely and handed to the store as GeoJSON (the store checks both)."""
    s = (text or "").strip()
    if not s:
        return None
    if s.startswith("{"):
        return s
    try:
        from shapely import wkt
        from shapely.geometry import mapping
    except ImportError:  # pragma: no cover - shapely is a dependency
        raise InputError("geometry", "WKT needs the shapely package; give GeoJSON", value=s) from None
    try:
        geom = wkt.loads(s)
    except Exception as e:  # noqa: BLE001 - shapely raises several kinds for bad WKT
        raise InputError(
            "geometry", f"is neither GeoJSON nor WKT ({type(e).__name__}: {e})", value=s
        ) from None
    return json.dumps(mapping(geom), separators=(",", ":"))


def _site_form(site: dict[str, Any] | None, access: Access) -> dict[str, Any]:
    """Initial values of the site form (the geometry of a sensitive site only for those who may see it)."""
    if site is None:
        return {"kind": "other"}
    shown = _geometry_shown(access, site)
    return {
        "site_id": site["site_id"],
        "name": site["name"],
        "kind": site["kind"],
        "country": site["country"] or "",
        "description": site["description"] or "",
        "geometry": (site["geometry"] or "") if shown else "",
        "sensitive": site["sensitive"],
        "version": site["version"],
    }


def _sites_context(access: Access, **extra: Any) -> dict[str, Any]:
    rows, _ = _site_features(access)
    return _ctx(
        access, sites=rows, kinds=store.SITE_KINDS, form=extra.pop("form", {"kind": "other"}), **extra
    )


@login_required
def sites(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's sites with the number of species linked to each (GET); add a site (POST)."""
    if request.method == "POST":
        return _site_add(request, slug)
    access = require(request, slug, "read")
    return render(request, "a2p/sites.html", _sites_context(access))


def _site_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a site (facilitators and up): id, name, kind, country, description, geometry, sensitive."""
    access = require(request, slug, "decide")
    p = request.POST
    try:
        s = store.add_site(
            slug,
            p.get("site_id", ""),
            p.get("name", ""),
            kind=p.get("kind", "") or "other",
            country=p.get("country", "") or None,
            description=p.get("description", ""),
            geometry=_geometry_value(p.get("geometry", "")),
            sensitive="sensitive" in p,
            user=_user(request),
        )
    except A2PError as e:
        ctx = _sites_context(access, form=p, error=f"Not saved: {e}")
        return render(request, "a2p/sites.html", ctx, status=400)
    messages.success(request, f"Site {s['site_id']} ({s['name']}) added.")
    return redirect("site", slug=slug, site_id=s["site_id"])


def _site_context(access: Access, site_id: str, **extra: Any) -> dict[str, Any]:
    from assess2plan.report import maps

    slug = access.project.slug
    site = _get_site_or_404(slug, site_id)
    hidden = _hidden(access)
    species = store.site_species(slug, site["site_id"])
    if hidden:
        species = species.filter(~pl.col("taxon_id").is_in(list(hidden)))
    shown = _geometry_shown(access, site)
    geom = maps.parse_geometry(site["geometry"]) if shown else None
    events = store.list_events(slug, site=site["site_id"]).sort("made_at", descending=True)
    feature = None
    if geom is not None:
        props = {k: site[k] for k in ("site_id", "name", "kind", "country", "sensitive")}
        feature = {"type": "Feature", "geometry": geom, "properties": {**props, "species": species.height}}
    map_data = {
        "world_url": reverse("world-map"),
        "zero_colour": maps.ZERO_COLOUR,
        "ocean_colour": maps.OCEAN_COLOUR,
        "countries": {},
        "legend": [],
        "sites": {"type": "FeatureCollection", "features": [feature] if feature else []},
    }
    return _ctx(
        access,
        site=site,
        geometry_shown=shown,
        geometry_text=site["geometry"] if shown else None,
        location=_location_text(geom),
        species=species.to_dicts(),
        events=_event_rows(access, events),
        severities=SEVERITIES,
        map_data=map_data,
        event_form=extra.pop("event_form", {"severity": "warning"}),
        **extra,
    )


@login_required
def site(request: HttpRequest, slug: str, site_id: str) -> HttpResponse:
    """One site: details, linked species (those this user may know of), events; forms to link /
    unlink species and to raise an event (facilitators and up)."""
    access = require(request, slug, "read")
    return render(request, "a2p/site.html", _site_context(access, site_id))


@login_required
def site_edit(request: HttpRequest, slug: str, site_id: str) -> HttpResponse:
    """Edit a site with optimistic locking: the form carries the version it was made from; when the
    site changed meanwhile the answer is 409 and nothing is written."""
    access = require(request, slug, "decide")
    current = _get_site_or_404(slug, site_id)
    if request.method != "POST":
        ctx = _ctx(access, site=current, form=_site_form(current, access), kinds=store.SITE_KINDS)
        ctx["geometry_shown"] = _geometry_shown(access, current)
        return render(request, "a2p/site.html", {**ctx, "editing": True})
    p = request.POST
    status, error = 400, None
    try:
        seen = int(p.get("version", ""))
    except ValueError:
        seen = None
    if seen is None:
        error = "Not saved: the form lacks the version it was made from; reload the page."
    else:
        changes: dict[str, Any] = {
            "name": p.get("name", ""),
            "kind": p.get("kind", "") or "other",
            "country": p.get("country", "") or None,
            "description": p.get("description", ""),
        }
        try:
            if _geometry_shown(access, current):
                changes["geometry"] = _geometry_value(p.get("geometry", ""))
            if access.sees_sensitive:  # only they may make a site's location public or hide it
                changes["sensitive"] = "sensitive" in p
            s = store.update_site(
                slug, current["site_id"], expected_version=seen, user=_user(request), **changes
            )
        except store.VersionConflict as e:
            status = 409
            error = f"Not saved: someone changed this site meanwhile. {e}"
        except A2PError as e:
            error = f"Not saved: {e}"
        else:
            if s["version"] == seen:
                messages.info(request, "Nothing to change: the site was already like this.")
            else:
                messages.success(request, f"Site {s['site_id']} saved (version {s['version']}).")
            return redirect("site", slug=slug, site_id=s["site_id"])
    latest = _get_site_or_404(slug, site_id)
    ctx = _ctx(
        access, site=latest, form={**_site_form(latest, access), **p.dict(), "version": p.get("version")}
    )
    ctx.update(kinds=store.SITE_KINDS, geometry_shown=_geometry_shown(access, latest), editing=True)
    ctx.update(edit_error=error, latest_version=latest["version"])
    return render(request, "a2p/site.html", ctx, status=status)


def _taxa_field(text: str) -> list[str]:
    """Taxon ids or scientific names, one per line or separated by commas / semicolons."""
    out = []
    for line in (text or "").replace(";", "\n").replace(",", "\n").splitlines():
        if line.strip():
            out.append(line.strip())
    return out


def _refuse_hidden(access: Access, slug: str, values: list[str]) -> dict[str, str]:
    """``{value: taxon_id}``; refuses (A2PError) taxa whose locations this user may not see."""
    resolved = store.resolve_taxa(slug, values)
    hidden = _hidden(access)
    if any(t in hidden for t in resolved.values()):
        raise A2PError(
            "the site links of sensitive species are managed by users allowed to see their locations "
            "(ask a project admin)"
        )
    return resolved


def _site_error(request: HttpRequest, access: Access, site_id: str, error: str, **extra: Any) -> HttpResponse:
    ctx = _site_context(access, site_id, **extra)
    return render(request, "a2p/site.html", {**ctx, "error": error}, status=400)


@login_required
@require_POST
def site_link(request: HttpRequest, slug: str, site_id: str) -> HttpResponse:
    """Link species (taxon ids or scientific names) to a site."""
    access = require(request, slug, "decide")
    site = _get_site_or_404(slug, site_id)
    values = _taxa_field(request.POST.get("taxa", ""))
    try:
        if not values:
            raise InputError("taxa", "give at least one taxon id or scientific name", value="")
        _refuse_hidden(access, slug, values)
        r = store.link_species(
            slug, site["site_id"], values, note=request.POST.get("note") or None, user=_user(request)
        )
    except A2PError as e:
        return _site_error(request, access, site_id, f"Not linked: {e}", link_form=request.POST)
    parts = []
    if r["linked"]:
        parts.append(f"linked {len(r['linked'])} species ({', '.join(r['linked'])})")
    if r["already"]:
        parts.append(f"{len(r['already'])} already linked ({', '.join(r['already'])})")
    messages.success(request, f"Site {site['site_id']}: " + "; ".join(parts) + ".")
    return redirect("site", slug=slug, site_id=site["site_id"])


@login_required
@require_POST
def site_unlink(request: HttpRequest, slug: str, site_id: str) -> HttpResponse:
    """Remove species from a site (the link is kept, marked removed, with who and when)."""
    access = require(request, slug, "decide")
    site = _get_site_or_404(slug, site_id)
    values = _taxa_field(request.POST.get("taxa", ""))
    try:
        if not values:
            raise InputError("taxa", "give at least one taxon id or scientific name", value="")
        _refuse_hidden(access, slug, values)
        ids = store.unlink_species(slug, site["site_id"], values, user=_user(request))
    except A2PError as e:
        return _site_error(request, access, site_id, f"Not unlinked: {e}")
    messages.success(request, f"Site {site['site_id']}: unlinked {', '.join(ids)}.")
    return redirect("site", slug=slug, site_id=site["site_id"])


@login_required
@require_POST
def site_event(request: HttpRequest, slug: str, site_id: str) -> HttpResponse:
    """Raise an event at a site: the species linked to it are recorded as affected and flagged for
    re-assessment, subscribers are notified; then the event's page is shown."""
    access = require(request, slug, "decide")
    site = _get_site_or_404(slug, site_id)
    p = request.POST
    try:
        r = store.raise_event(
            slug,
            site["site_id"],
            p.get("title", ""),
            p.get("description", ""),
            p.get("severity", "") or "warning",
            user=_user(request),
            retries=WEB_RETRIES,
            backoff=WEB_BACKOFF,
            timeout=WEB_TIMEOUT,
        )
    except A2PError as e:
        return _site_error(request, access, site_id, f"Event not raised: {e}", event_form=p)
    eid = r.event["event_id"]
    failed = r.deliveries.filter(pl.col("status") == "failed").height
    messages.success(request, f"Event {eid} raised at {site['name']}.")
    if failed:
        messages.warning(request, f"{failed} notification(s) failed; use 'Retry failed notifications'.")
    return redirect("event", slug=slug, event_id=eid)


# =================================================================================================
# events and subscriptions
# =================================================================================================
def _event_rows(access: Access, events: pl.DataFrame) -> list[dict[str, Any]]:
    """Event rows; for a user who may not see sensitive links, ``species`` counts only the affected
    species they may know of."""
    rows = events.to_dicts()
    hidden = _hidden(access)
    if hidden:
        slug = access.project.slug
        for r in rows:
            if r.get("species"):
                aff = store.event_detail(slug, r["event_id"]).affected
                r["species"] = aff.filter(~pl.col("taxon_id").is_in(list(hidden))).height
    return rows


def _events_context(access: Access, **extra: Any) -> dict[str, Any]:
    slug = access.project.slug
    events = store.list_events(slug).sort(["made_at", "event_id"], descending=True)
    subs = store.list_subscriptions(slug) if access.can("decide") else None
    return _ctx(
        access,
        events=_event_rows(access, events),
        subscriptions=subs.to_dicts() if subs is not None else None,
        site_choices=store.list_sites(slug).select("site_id", "name").to_dicts(),
        channels=CHANNELS,
        sub_form=extra.pop("sub_form", {"channel": "email"}),
        **extra,
    )


@login_required
def events(request: HttpRequest, slug: str) -> HttpResponse:
    """Site events (newest first) with species affected and notifications; subscriptions
    (facilitators and up)."""
    access = require(request, slug, "read")
    return render(request, "a2p/events.html", _events_context(access))


@login_required
def event(request: HttpRequest, slug: str, event_id: str) -> HttpResponse:
    """One event: the affected species as they were when it was raised (threats, actions,
    commitments, stakeholders), their re-assessment flags and the notifications sent."""
    access = require(request, slug, "read")
    try:
        r = store.event_detail(slug, event_id)
    except InputError:
        raise Http404("no such event in this project") from None
    hidden = _hidden(access)
    affected = r.affected
    if hidden:
        affected = affected.filter(~pl.col("taxon_id").is_in(list(hidden)))
    eid = r.event["event_id"]
    flags = store.list_flags(slug, include_cleared=True)
    flags = flags.filter(pl.col("event_id") == eid)
    flag_of = {f["taxon_id"]: f for f in flags.to_dicts()}
    rows = []
    for a in affected.to_dicts():
        f = flag_of.get(a["taxon_id"])
        a["flag"] = "none" if f is None else ("cleared" if f["cleared_at"] else "open")
        for col in ("threats", "major_threats", "actions_needed", "actions_in_place"):
            a[col] = ", ".join((a.get(col) or "").split("|")) if a.get(col) else ""
        rows.append(a)
    deliveries = r.deliveries.to_dicts()
    ctx = _ctx(
        access,
        event=r.event,
        affected=rows,
        deliveries=deliveries,
        retryable=sum(1 for d in deliveries if d["status"] in ("failed", "pending")),
    )
    return render(request, "a2p/event.html", ctx)


@login_required
@require_POST
def event_retry(request: HttpRequest, slug: str, event_id: str) -> HttpResponse:
    """Send the failed (and long-pending) notifications of an event again."""
    require(request, slug, "decide")
    try:
        eid = store.event_detail(slug, event_id).event["event_id"]
    except InputError:
        raise Http404("no such event in this project") from None
    tried = store.retry_deliveries(
        slug, event_id=eid, retries=WEB_RETRIES, backoff=WEB_BACKOFF, timeout=WEB_TIMEOUT
    )
    if tried.height == 0:
        messages.info(request, "No failed notifications to send again.")
    else:
        by = dict(tried.group_by("status").agg(pl.len()).iter_rows())
        what = ", ".join(f"{n} {s}" for s, n in sorted(by.items()))
        messages.success(request, f"Tried {tried.height} notification(s) again: {what}.")
    return redirect("event", slug=slug, event_id=eid)


@login_required
@require_POST
def subscription_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Subscribe an e-mail address or a webhook URL to one site's events, or to every site's."""
    access = require(request, slug, "decide")
    p = request.POST
    try:
        s = store.subscribe(
            slug,
            p.get("channel", ""),
            p.get("target", ""),
            site=p.get("site") or None,
            secret=p.get("secret") or None,
            user=_user(request),
        )
    except A2PError as e:
        ctx = _events_context(access, sub_form=p, sub_error=f"Not subscribed: {e}")
        return render(request, "a2p/events.html", ctx, status=400)
    where = f"site {s['site_id']}" if s["site_id"] else "every site"
    messages.success(
        request, f"Subscription {s['subscription_id']}: {s['target']} gets the events of {where}."
    )
    return redirect("events", slug=slug)


@login_required
@require_POST
def subscription_off(request: HttpRequest, slug: str, subscription_id: str) -> HttpResponse:
    """Switch a subscription off (kept for the delivery log)."""
    access = require(request, slug, "decide")
    try:
        s = store.unsubscribe(slug, subscription_id, user=_user(request))
    except A2PError as e:
        ctx = _events_context(access, sub_error=f"Not switched off: {e}")
        return render(request, "a2p/events.html", ctx, status=400)
    messages.success(request, f"Subscription {s['subscription_id']} ({s['target']}) switched off.")
    return redirect("events", slug=slug)


# =================================================================================================
# reports and downloads
# =================================================================================================
def _conditions(text: str) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError as e:
        raise A2PError(f"cannot read the filters {text!r}: {e}") from None


def _query(access: Access, text: str):  # noqa: ANN202 - SheetQuery | None
    from assess2plan.sheet import parse_query

    conds = _conditions(text)
    if not conds:
        return None
    q = parse_query(conds)
    if access.hidden_taxa() and any(c.field == "subnational" for c in q.conditions):
        raise A2PError(
            "the subnational filter is only for users allowed to see the locations of sensitive species"
        )
    return q


def _planning_frames(access: Access) -> tuple[pl.DataFrame, Any]:
    """(buckets with the decisions applied, threat clusters) as ``a2p report`` computes them; for
    a user who may not see some site links, computed from the links they may see."""
    from assess2plan import planning

    slug = access.project.slug
    hidden = _hidden(access)
    if not hidden:
        return derived.project_buckets(slug), derived.project_clusters(slug)
    links = _visible_links(access)
    aset = derived.project_set(slug)
    key = "planning-hidden:" + hashlib.sha256("\n".join(sorted(hidden)).encode()).hexdigest()
    raw, clusters = _cached(
        slug,
        key,
        lambda: (planning.triage(aset, site_links=links), planning.threat_clusters(aset, site_links=links)),
    )
    buckets = planning.apply_decisions(raw, store.bucket_decisions(slug), taxa=aset.latest())
    return buckets, clusters


def report_data(access: Access, *, filters: str = "", title: str | None = None):  # noqa: ANN201 - ReportData
    """The ``ReportData`` of ``a2p report`` for this user: the same inputs, from the cached project
    frames; without ``sees_sensitive`` the site links of sensitive taxa and the geometry of
    sensitive sites are left out."""
    from assess2plan.report import ReportData
    from assess2plan.sheet import planning_sheet

    slug = access.project.slug
    aset = derived.project_set(slug)
    q = _query(access, filters)
    buckets, clusters = _planning_frames(access)
    return ReportData(
        aset,
        title=title or f"Planning workshop report: {slug}",
        project=slug,
        sheet=planning_sheet(aset, q) if q is not None else None,
        findings=derived.project_findings(slug),
        buckets=buckets,
        clusters=clusters,
        stakeholders=store.list_stakeholders(slug),
        commitments=store.list_commitments(slug),
        exsitu=store.list_exsitu_assessments(slug),
        sites=store.list_sites(slug, hide_sensitive_geometry=not access.sees_sensitive),
        site_links=derived.site_links(slug),
        events=store.list_events(slug),
        show_sensitive=access.sees_sensitive,
        hidden_taxa=_hidden(access),
    )


def _reports_page(
    request: HttpRequest, access: Access, error: str | None = None, status: int = 200
) -> HttpResponse:
    ctx = _ctx(access, error=error, form=request.GET)
    return render(request, "a2p/reports.html", ctx, status=status)


@login_required
def reports(request: HttpRequest, slug: str) -> HttpResponse:
    """Downloads: the workshop report (PDF, HTML), species datasheets, the Excel workbook, findings."""
    access = require(request, slug, "read")
    return _reports_page(request, access)


def _download(body: bytes | str, content_type: str, filename: str, *, inline: bool = False) -> HttpResponse:
    resp = HttpResponse(body, content_type=content_type)
    resp["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    return resp


@login_required
def report_workshop(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The workshop report as PDF or HTML (``?q=`` sheet filters select the species, ``?title=``)."""
    from assess2plan.report import report_html, workshop_report

    access = require(request, slug, "read")
    if fmt not in ("pdf", "html"):
        raise Http404("the report is a PDF or an HTML file")
    try:
        data = report_data(access, filters=request.GET.get("q", ""), title=request.GET.get("title") or None)
        if fmt == "html":
            return _download(
                report_html(data),
                "text/html; charset=utf-8",
                f"{slug}-workshop-report.html",
                inline=bool(request.GET.get("inline")),
            )
        with tempfile.TemporaryDirectory(prefix="a2p-report-") as tmp:
            path = workshop_report(data, Path(tmp) / "report.pdf", format="pdf")
            body = path.read_bytes()
    except A2PError as e:
        return _reports_page(request, access, f"No report: {e}", 400)
    return _download(body, "application/pdf", f"{slug}-workshop-report.pdf")


@login_required
def report_datasheet(request: HttpRequest, slug: str) -> HttpResponse:
    """One species' datasheet (``?taxon=`` id or scientific name, ``?format=`` pdf | html | json)."""
    from assess2plan.report import datasheet, datasheet_record

    access = require(request, slug, "read")
    taxon = (request.GET.get("taxon") or "").strip()
    fmt = (request.GET.get("format") or "pdf").lower()
    try:
        if not taxon:
            raise A2PError("give a taxon id or scientific name for the datasheet")
        if fmt not in ("pdf", "html", "json"):
            raise A2PError(f"unknown format {fmt!r}; a datasheet is pdf, html or json")
        data = report_data(access)
        if fmt == "json":
            rec = datasheet_record(data, taxon)
            body = json.dumps(rec, ensure_ascii=False, indent=2, default=str)
            return _download(body, "application/json", f"{slug}-{rec['taxon_id']}.json", inline=True)
        rec = datasheet_record(data, taxon)
        with tempfile.TemporaryDirectory(prefix="a2p-datasheet-") as tmp:
            path = datasheet(data, rec["taxon_id"], Path(tmp) / f"datasheet.{fmt}", format=fmt)
            body = path.read_bytes()
    except A2PError as e:
        return _reports_page(request, access, f"No datasheet: {e}", 400)
    ctype = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    return _download(body, ctype, f"{slug}-{rec['taxon_id']}.{fmt}")


def _selected_taxa(access: Access, filters: str) -> list[str] | None:
    q = _query(access, filters)
    if q is None:
        return None
    return store.query_sheet(access.project.slug, q)["taxon_id"].to_list()


@login_required
def report_workbook(request: HttpRequest, slug: str) -> HttpResponse:
    """The workshop workbook (``a2p export --format xlsx``): overview, threats and actions
    matrices, findings, legend; ``?q=`` sheet filters select the species."""
    from assess2plan.io.workbook import write_workbook
    from assess2plan.report import withhold_texts
    from assess2plan.sheet import planning_sheet

    access = require(request, slug, "read")
    try:
        taxa = _selected_taxa(access, request.GET.get("q", ""))
        aset = derived.project_set(slug)
        sheet = _cached(slug, "planning-sheet", lambda: planning_sheet(aset))
        findings = derived.project_findings(slug)
        if taxa is not None:
            sheet = sheet.filter(pl.col("taxon_id").is_in(taxa))
            findings = findings.filter(pl.col("taxon_id").is_in(taxa))
        hidden = list(_hidden(access))
        if hidden:
            sheet = sheet.with_columns(
                pl.when(pl.col("taxon_id").is_in(hidden))
                .then(pl.lit([], dtype=sheet.schema["subnational"]))
                .otherwise(pl.col("subnational"))
                .alias("subnational")
            )
            findings = withhold_texts(findings, hidden, ("message", "evidence", "suggested_fix"))
        with tempfile.TemporaryDirectory(prefix="a2p-workbook-") as tmp:
            path = write_workbook(
                Path(tmp) / "workshop.xlsx",
                aset,
                sheet=sheet,
                findings=findings,
                title=f"assess2plan: {slug}",
            )
            body = path.read_bytes()
    except A2PError as e:
        return _reports_page(request, access, f"No workbook: {e}", 400)
    return _download(
        body, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f"{slug}-workshop.xlsx"
    )


@login_required
def report_findings(request: HttpRequest, slug: str) -> HttpResponse:
    """The consistency findings as CSV (``a2p check`` with the default rules)."""
    from assess2plan.report import withhold_texts

    access = require(request, slug, "read")
    findings = derived.project_findings(slug)
    hidden = _hidden(access)
    if hidden:
        findings = withhold_texts(findings, hidden, ("message", "evidence", "suggested_fix"))
    body = findings.write_csv()
    return _download(body, "text/csv; charset=utf-8", f"{slug}-findings.csv")
