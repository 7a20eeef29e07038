"""The workshop report for stakeholders: one self-contained HTML page or an A4 PDF.

::

    from assess2plan.report import ReportData, workshop_report
    data = ReportData(aset, title="Sunda freshwater fishes — planning workshop", project="sunda",
                      findings=check_frame(aset), buckets=assignments, clusters=clusters, ...)
    workshop_report(data, "report.html")                 # charts as inline SVG
    workshop_report(data, "report.pdf", format="pdf")    # WeasyPrint, charts embedded

Sections: summary statistics (species by Red List category, by level-1 threat with the species
whose threat there has a Medium or High Impact, by level-1 action needed, research needed,
countries, large marine ecosystems and FAO areas, completeness of the conservation sections),
maps (threatened species per country; sites), the four planning buckets, clusters, stakeholders
and commitments (overdue ones highlighted), site events, open findings, profiles of the most
threatened species and a species list. A section whose planning frame was not computed says so.
Long lists are capped at ``ReportData.max_rows`` with "… and N more". Narrative HTML from the
assessments is sanitised; the page loads nothing from outside (no scripts, fonts or CDN).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from markupsafe import Markup

from assess2plan import schemes
from assess2plan.model import THREATENED
from assess2plan.report import charts, maps
from assess2plan.report.data import (
    BUCKET_TITLES,
    BUCKETS,
    ReportData,
    category_colour,
    category_rank,
)
from assess2plan.report.render import check_format, check_out_path, render_html, write_pdf, write_text
from assess2plan.sheet import category_rank as sheet_rank

#: Species shown with their rationale in "Most threatened species".
PROFILE_CATEGORIES = ("EX", "EW", "CR")
MAX_PROFILES = 30
MAX_CLUSTERS = 20
MAX_MEMBERS = 30
TOP_PLACES = 20


def _block(rows: Sequence[Any], cap: int) -> dict[str, Any]:
    rows = list(rows)
    return {"rows": rows[:cap], "more": max(len(rows) - cap, 0), "total": len(rows)}


def _frame_block(df: pl.DataFrame, cap: int) -> dict[str, Any]:
    return {"rows": df.head(cap).to_dicts(), "more": max(df.height - cap, 0), "total": df.height}


class _Charts:
    """Charts as inline SVG (HTML) or embedded PNG (PDF), with unique ids per chart."""

    def __init__(self, pdf: bool) -> None:
        self.pdf = pdf
        self.n = 0

    def __call__(self, fig) -> Markup:
        self.n += 1
        if self.pdf:
            uri = charts.png_data_uri(fig, dpi=150)
            return Markup('<img class="chart" alt="" src="{}">').format(uri)
        return Markup(charts.svg(fig, f"c{self.n}"))


def _location(withheld: bool, geom: dict | None, text: object) -> str:
    if withheld:
        return "withheld (sensitive)"
    if geom is not None:
        return "mapped"
    return "geometry unreadable" if text is not None else "no geometry"


def _sites(data: ReportData, draw) -> dict[str, Any] | None:
    if data.sites is None:
        return None
    sites = data.sites
    links = data.site_links
    per_site: dict[str, list[dict]] = {}
    if links is not None:
        cats = dict(zip(*data.species.select("taxon_id", "category").get_columns(), strict=True))
        for r in links.select("taxon_id", "site_id").unique().to_dicts():
            if r["taxon_id"] in cats:
                per_site.setdefault(r["site_id"], []).append(
                    {"taxon_id": r["taxon_id"], "category": cats[r["taxon_id"]]}
                )
    rows, drawable, bad = [], [], []
    has_sensitive = "sensitive" in sites.columns
    for s in sites.to_dicts():
        members = per_site.get(s["site_id"], [])
        top = min((m["category"] for m in members if m["category"]), key=category_rank, default=None)
        threatened = sum(1 for m in members if m["category"] in THREATENED)
        sensitive = bool(s.get("sensitive")) if has_sensitive else False
        geom = maps.parse_geometry(s.get("geometry"))
        if s.get("geometry") is not None and geom is None:
            bad.append(s["name"] or s["site_id"])
        withheld = sensitive and not data.show_sensitive
        if geom is not None and not withheld:
            drawable.append(
                {
                    "geometry": geom,
                    "colour": category_colour(top) if top else "#8a8a8a",
                    "label": s["name"] or s["site_id"],
                }
            )
        rows.append(
            {
                "site_id": s["site_id"],
                "name": s["name"],
                "kind": s["kind"],
                "country": s["country"],
                "species": len(members),
                "threatened": threatened,
                "top": top,
                "location": _location(withheld, geom, s.get("geometry")),
            }
        )
    rows.sort(key=lambda r: (category_rank(r["top"]), -r["species"], r["name"] or ""))
    chart = None
    if drawable:
        present = sorted({d["colour"] for d in drawable})
        legend = []
        for code in sorted({r["top"] for r in rows if r["top"]}, key=category_rank):
            if category_colour(code) in present:
                legend.append((f"most threatened species: {code}", category_colour(code)))
        if "#8a8a8a" in present:
            legend.append(("no linked species", "#8a8a8a"))
        m = maps.sites_map(drawable, legend=legend)
        chart = draw(m.figure) if m else None
    return {
        "chart": chart,
        "block": _block(rows, data.max_rows),
        "links": None if links is None else links.height,
        "unreadable": bad,
        "withheld": sum(1 for r in rows if r["location"].startswith("withheld")),
        "links_withheld": bool(data.hidden_taxa),
    }


def _buckets(data: ReportData) -> list[dict[str, Any]] | None:
    if data.buckets is None:
        return None
    b = data.buckets.with_columns(pl.col("status").fill_null("suggested"))
    names = list(BUCKETS) + sorted(set(b.get_column("bucket").drop_nulls().to_list()) - set(BUCKETS))
    out = []
    for name in names:
        rows = b.filter(pl.col("bucket") == name)
        kept = rows.filter(pl.col("status") != "rejected")
        kept = (
            kept.sort(
                [
                    sheet_rank(pl.col("category")),
                    pl.col("scientific_name"),
                ]
            )
            if kept.height
            else kept
        )
        statuses = dict(rows.group_by("status").agg(pl.len()).sort("status").iter_rows())
        out.append(
            {
                "name": name,
                "title": BUCKET_TITLES.get(name, name.replace("_", " ").capitalize()),
                "species": kept.get_column("taxon_id").n_unique() if kept.height else 0,
                "statuses": statuses,
                "rejected": statuses.get("rejected", 0),
                "block": _frame_block(kept, data.max_rows),
            }
        )
    return out


def _clusters(data: ReportData) -> dict[str, Any] | None:
    if data.clusters is None:
        return None
    cl = data.clusters.sort(["size", "cluster_id"], descending=[True, False])
    members = data.cluster_members
    shown = []
    for c in cl.head(MAX_CLUSTERS).to_dicts():
        if members is not None:
            m = members.filter(pl.col("cluster_id") == c["cluster_id"])
            if m.height:
                m = m.sort(
                    [
                        sheet_rank(pl.col("category")),
                        pl.col("scientific_name"),
                    ]
                )
            c["members"] = _frame_block(m, MAX_MEMBERS)
        else:
            c["members"] = None
        shown.append(c)
    by_basis = dict(cl.group_by("basis").agg(pl.len()).sort("basis").iter_rows()) if cl.height else {}
    return {
        "total": cl.height,
        "shown": shown,
        "more": max(cl.height - MAX_CLUSTERS, 0),
        "by_basis": by_basis,
    }


def _commitments(data: ReportData) -> dict[str, Any] | None:
    if data.commitments is None:
        return None
    c = data.commitments.with_columns(data.overdue().alias("_overdue"))
    c = c.sort(
        [pl.col("_overdue"), pl.col("due_date").cast(pl.Date, strict=False), pl.col("commitment_id")],
        descending=[True, False, False],
        nulls_last=True,
    )
    names = {}
    if c.height:
        names = dict(data.species.select("taxon_id", "scientific_name").iter_rows())
    rows = []
    for r in c.to_dicts():
        r["species"] = names.get(r["taxon_id"]) if r.get("taxon_id") else None
        r["overdue"] = bool(r.pop("_overdue"))
        rows.append(r)
    status = dict(c.group_by("status").agg(pl.len()).sort("status").iter_rows()) if c.height else {}
    return {
        "block": _block(rows, data.max_rows),
        "overdue": sum(1 for r in rows if r["overdue"]),
        "status": status,
    }


def _exsitu(data: ReportData) -> dict[str, Any] | None:
    """Ex situ assessments (IUCN SSC 2014 five steps): decided ones first, with the roles retained."""
    if data.exsitu is None:
        return None
    from assess2plan.exsitu.guidelines import roles

    labels = {r.id: r.label for r in roles()}
    e = data.exsitu.sort(
        [pl.col("outcome").is_null(), sheet_rank(pl.col("category")), "scientific_name"], nulls_last=True
    )
    rows = []
    for r in e.to_dicts():
        ids = [x for x in str(r.get("roles_retained") or "").split("|") if x]
        r["roles"] = [labels.get(x, x) for x in ids]
        rows.append(r)
    outcomes = {
        "retain": sum(1 for r in rows if r["outcome"] == "retain"),
        "none": sum(1 for r in rows if r["outcome"] == "none"),
        "open": sum(1 for r in rows if not r["outcome"]),
    }
    return {"block": _block(rows, data.max_rows), "outcomes": outcomes}


def _stakeholders(data: ReportData) -> dict[str, Any] | None:
    if data.stakeholders is None:
        return None
    st = data.stakeholders
    counts: dict[str, dict[str, int]] = {}
    if data.commitments is not None:
        cm = data.commitments.with_columns(data.overdue().alias("_overdue"))
        for r in cm.select("stakeholder_id", "status", "_overdue").to_dicts():
            d = counts.setdefault(r["stakeholder_id"], {"commitments": 0, "active": 0, "overdue": 0})
            d["commitments"] += 1
            d["active"] += r["status"] in ("proposed", "active")
            d["overdue"] += bool(r["_overdue"])
    rows = []
    for r in st.sort("name").to_dicts():
        r.update(counts.get(r["stakeholder_id"], {"commitments": 0, "active": 0, "overdue": 0}))
        for col in ("countries", "sites", "expertise"):
            r[col] = [v for v in (r.get(col) or "").split("|") if v]
        rows.append(r)
    return {"block": _block(rows, data.max_rows)}


def _events(data: ReportData) -> dict[str, Any] | None:
    if data.events is None:
        return None
    ev = data.events.sort("made_at", descending=True, nulls_last=True)
    names = {}
    if data.sites is not None:
        names = dict(data.sites.select("site_id", "name").iter_rows())
    rows = []
    for r in ev.to_dicts():
        r["site_name"] = names.get(r["site_id"], r["site_id"])
        rows.append(r)
    return {"block": _block(rows, data.max_rows)}


def _findings(data: ReportData) -> dict[str, Any] | None:
    if data.findings is None:
        return None
    from assess2plan.checks import RULES, SEVERITIES

    f = data.findings
    # findings about taxa outside the report's selection are left out; whole-set findings stay
    f = f.filter(pl.col("taxon_id").is_null() | pl.col("taxon_id").is_in(list(data.taxon_ids)))
    by_rule = []
    if f.height:
        piv = f.group_by("rule", "severity").agg(pl.len().alias("n")).to_dicts()
        rules: dict[str, dict[str, Any]] = {}
        for r in piv:
            d = rules.setdefault(
                r["rule"], {"rule": r["rule"], "title": getattr(RULES.get(r["rule"]), "title", r["rule"])}
            )
            d[r["severity"]] = d.get(r["severity"], 0) + r["n"]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        by_rule = sorted(
            rules.values(),
            key=lambda d: (
                min(rank.get(s, 9) for s in SEVERITIES if d.get(s))
                if any(d.get(s) for s in SEVERITIES)
                else 9,
                -sum(d.get(s, 0) for s in SEVERITIES),
                d["rule"],
            ),
        )
    sev = dict(f.group_by("severity").agg(pl.len()).iter_rows()) if f.height else {}
    serious = f.filter(pl.col("severity").is_in(["error", "warning"]))
    serious = serious.with_columns(
        pl.col("severity")
        .replace_strict({"error": 0, "warning": 1}, default=2, return_dtype=pl.Int32)
        .alias("_r")
    ).sort(["_r", "rule", "scientific_name"], nulls_last=True)
    return {
        "by_rule": by_rule,
        "severities": SEVERITIES,
        "by_severity": sev,
        "total": f.height,
        "list": _frame_block(serious.drop("_r"), data.max_rows),
    }


def _sources(data: ReportData) -> list[dict[str, Any]]:
    """The files the set was read from, one line per folder or archive (files and rows summed)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for s in data.aset.sources:
        where, sep, _ = s.path.replace("\\", "/").rpartition("!/" if "!/" in s.path else "/")
        key = (where if sep else s.path, s.format)
        g = groups.setdefault(key, {"path": key[0], "format": s.format, "files": 0, "rows": 0})
        g["files"] += 1
        g["rows"] += s.rows
    return list(groups.values())


def _names(scheme: str, codes: Sequence[str]) -> list[dict[str, str]]:
    return [{"code": c, "name": schemes.name_of(scheme, c) or ""} for c in codes]


def _profiles(data: ReportData) -> dict[str, Any]:
    sp = data.species
    chosen = sp.filter(
        pl.col("category").is_in(list(PROFILE_CATEGORIES)) | pl.col("possibly_extinct").fill_null(False)
    )
    lt = data.latest.select("assessment_id", "rationale")
    chosen = chosen.join(lt, on="assessment_id", how="left")
    rows = []
    country_names = (
        dict(zip(*data.place_counts("country").select("code", "name").get_columns(), strict=True))
        if chosen.height
        else {}
    )
    for r in chosen.head(MAX_PROFILES).to_dicts():
        rows.append(
            {
                "taxon_id": r["taxon_id"],
                "scientific_name": r["scientific_name"],
                "family": r["family"],
                "category": r["category"],
                "criteria": r["criteria"],
                "possibly_extinct": r["possibly_extinct"],
                "population_trend": r["population_trend"],
                "year_published": r["year_published"],
                "countries": [country_names.get(c, c) for c in r["countries"]],
                "major_threats": _names("threats", r["major_threats"]),
                "actions_needed": _names("conservation_actions", r["actions_needed"]),
                "rationale": r["rationale"],
            }
        )
    return {"rows": rows, "more": max(chosen.height - MAX_PROFILES, 0), "total": chosen.height}


def _place_block(data: ReportData, kind: str) -> dict[str, Any] | None:
    pc = data.place_counts(kind)
    if pc.height == 0:
        return None
    cats = [c for c in pc.columns if c not in ("code", "name", "species", "threatened")]
    return {"cats": cats, **_frame_block(pc, TOP_PLACES)}


def report_context(data: ReportData, *, pdf: bool = False) -> dict[str, Any]:
    """Everything the workshop template shows, as plain values (charts already drawn)."""
    draw = _Charts(pdf)
    sp = data.species
    cats = data.category_counts()
    threats = data.threat_counts()
    actions = data.action_counts()
    research = data.research_counts()
    countries = _place_block(data, "country")
    ctx: dict[str, Any] = {
        "title": data.title,
        "project": data.project,
        "generated_at": data.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
        if isinstance(data.generated_at, dt.datetime)
        else str(data.generated_at),
        "scope": data.scope,
        "selection": "the planning sheet's selection"
        if data.sheet is not None
        else f"every taxon's latest {data.scope} assessment",
        "sources": _sources(data),
        "n_species": sp.height,
        "n_threatened": sp.filter(pl.col("category").is_in(list(THREATENED))).height,
        "n_assessments": data.aset.assessments.height,
        "max_rows": data.max_rows,
        "categories": cats,
        "chart_categories": draw(charts.category_bars(cats)) if cats else None,
        "threats": threats,
        "chart_threats": draw(charts.coded_bars(threats, major=True)) if threats else None,
        "threats_recorded": data.aset.threats.height > 0,
        "actions": actions,
        "chart_actions": draw(charts.coded_bars(actions)) if actions else None,
        "actions_recorded": data.aset.actions_needed.height > 0,
        "research": research,
        "research_recorded": data.aset.research_needed.height > 0,
        "countries": countries,
        "chart_countries": draw(charts.country_stack(countries["rows"], countries["cats"]))
        if countries
        else None,
        "lmes": _place_block(data, "lme"),
        "faos": _place_block(data, "fao"),
        "completeness": data.completeness(),
    }
    pc = data.place_counts("country")
    values = dict(zip(pc.get_column("code").to_list(), pc.get_column("threatened").to_list(), strict=True))
    if pc.height:
        m = maps.choropleth(values)
        world = maps.world()
        ctx["map_countries"] = {
            "chart": draw(m.figure),
            "legend": m.legend,
            "unplaced": [r for r in pc.to_dicts() if r["code"] not in world and r["species"]],
            "points": sum(1 for c, v in values.items() if c in world and world[c].kind == "point" and v),
        }
    else:
        ctx["map_countries"] = None
    ctx["sites"] = _sites(data, draw)
    ctx["buckets"] = _buckets(data)
    ctx["bucket_titles"] = BUCKET_TITLES
    ctx["clusters"] = _clusters(data)
    ctx["stakeholders"] = _stakeholders(data)
    ctx["commitments"] = _commitments(data)
    ctx["exsitu"] = _exsitu(data)
    ctx["events"] = _events(data)
    ctx["findings"] = _findings(data)
    ctx["profiles"] = _profiles(data)
    ctx["species_list"] = _frame_block(sp, data.max_rows)
    ctx["pdf"] = pdf
    return ctx


def workshop_report(data: ReportData, out_path: str | Path, format: str = "html") -> Path:
    """Write the workshop report of ``data`` to ``out_path`` as ``"html"`` (one self-contained
    page, charts as inline SVG) or ``"pdf"`` (A4, WeasyPrint). Returns the path written."""
    fmt = check_format(format, ("html", "pdf"))
    out = check_out_path(out_path)
    html = render_html("workshop.html", report_context(data, pdf=fmt == "pdf"))
    if fmt == "pdf":
        return write_pdf(html, out)
    return write_text(html, out)


def report_html(data: ReportData) -> str:
    """The workshop report as an HTML string."""
    return render_html("workshop.html", report_context(data))
