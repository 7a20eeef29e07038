"""Per-species datasheets: a printable page (PDF or HTML) and a machine-readable record (JSON).

::

    datasheet(data, "990000001", "mirrenichthys.pdf")              # format from the argument
    datasheet(data, "990000001", "mirrenichthys.json", format="json")
    datasheets_json(data)                                           # every species covered

The JSON record (``datasheet_record``) has stable keys; ``schema_version`` changes when a key is
renamed or removed (adding keys does not change the major version). Codes are always given with
their names (``{"code": "7.2.10", "name": "Large dams"}``); dates are ISO text; lists are empty
when the assessment records nothing and **null when the planning step that fills them was not
computed** (the key is then also listed in ``not_computed``).

=========================  ======================================================================
key                        content
=========================  ======================================================================
schema_version             "1.0"
taxon_id, assessment_id    Red List taxon id (internalTaxonId / sis id) and assessment id
scientific_name            as published
taxonomy                   kingdom, phylum, class, order, family, genus, species, infra_type,
                           infra_name, subpopulation, authority
common_names               [{name, language, main}]
synonyms                   [name]
assessment                 category {code, name}, criteria, criteria_version, year_published,
                           assessment_date, population_trend, possibly_extinct,
                           possibly_extinct_in_the_wild, year_last_seen, scopes [..], systems [..],
                           realms [..]
rationale                  the rationale as plain text (HTML removed)
countries, subnational,    [{code, name, presence, origin, seasonality}] (occurrence by kind)
lmes, fao_areas
habitats                   [{code, name, suitability, major_importance, season}]
threats                    [{code, name, level1 {code, name}, timing, scope, severity, impact,
                           impact_score, major, stresses [{code, name}]}]; ``major``: Medium or
                           High Impact
actions_in_place           [{field, group, name, value, note}] (SIS InPlace* answers)
actions_needed             [{code, name, note}]
research_needed            [{code, name, note}]
buckets                    [{bucket, title, status, rule, reason, decided_by, decided_at,
                           decision_reason}] or null
clusters                   [{cluster_id, basis, code, code_name, place_kind, place, place_name,
                           size, member_code, impact, reason}] or null
sites                      [{site_id, name, kind, country, source, note}] or null (no coordinates)
commitments                [{commitment_id, stakeholder_id, stakeholder_name, action {code, name},
                           place, due_date, status, progress, overdue, via_cluster}] or null
stakeholders               [{stakeholder_id, name, kind, organisation, role, reasons [..]}] or null
experts                    [{name, credit_type}] from the assessment's Red List credits
findings                   [{rule, severity, message, suggested_fix}] or null
locations_withheld         true when the reader may not see this (sensitive) species' precise
                           locations: ``subnational`` is then empty and ``sites`` leaves its
                           links out (``ReportData.hidden_taxa``)
citation                   the published citation, else one built from the assessors, year and ids
                           (``citation_constructed`` says which)
url                        the published URL, else the Red List species page built from the ids
not_computed               the keys above that are null because their step was not computed
=========================  ======================================================================
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.report.data import BUCKET_TITLES, BUCKETS, MAJOR_IMPACTS, ReportData, category_label
from assess2plan.report.render import check_format, check_out_path, render_html, write_pdf, write_text
from assess2plan.text import plain_text

SCHEMA_VERSION = "1.0"
REDLIST_URL = "https://www.iucnredlist.org/species/{taxon_id}/{assessment_id}"
_OCC_KEYS = {"country": "countries", "subnational": "subnational", "lme": "lmes", "fao": "fao_areas"}
_PLANNING_KEYS = ("buckets", "clusters", "sites", "commitments", "stakeholders", "findings")


def _iso(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in (v or "").split("|") if x.strip()]


def _group(df: pl.DataFrame | None, key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if df is None:
        return out
    for r in df.to_dicts():
        out.setdefault(r[key], []).append(r)
    return out


def _code(scheme: str, code: str | None, name: str | None = None) -> dict[str, str | None]:
    return {"code": code, "name": name or schemes.name_of(scheme, code)}


class _Index:
    """The rows of every table for a set of species, grouped once (fast for thousands of species)."""

    def __init__(self, data: ReportData, taxon_ids: Iterable[str] | None) -> None:
        self.data = data
        sp = data.species
        if taxon_ids is not None:
            sp = sp.filter(pl.col("taxon_id").is_in(list(taxon_ids)))
        self.species = sp
        aids = sp.get_column("assessment_id").implode()
        tids = sp.get_column("taxon_id").implode()
        t = data.aset.tables
        self.assessment = {
            r["assessment_id"]: r
            for r in data.aset.assessments.filter(pl.col("assessment_id").is_in(aids)).to_dicts()
        }
        self.taxon = {
            r["taxon_id"]: r
            for r in t["taxa"].filter(pl.col("taxon_id").is_in(tids)).unique("taxon_id").to_dicts()
        }
        self.by_aid = {
            name: _group(t[name].filter(pl.col("assessment_id").is_in(aids)), "assessment_id")
            for name in (
                "threats",
                "actions_needed",
                "actions_in_place",
                "research_needed",
                "habitats",
                "occurrence",
                "credits",
            )
        }
        self.by_tid = {
            name: _group(t[name].filter(pl.col("taxon_id").is_in(tids)), "taxon_id")
            for name in ("common_names", "synonyms")
        }

        def planning(frame: pl.DataFrame | None) -> pl.DataFrame | None:
            return None if frame is None else frame.filter(pl.col("taxon_id").cast(pl.Utf8).is_in(tids))

        self.buckets = _group(planning(data.buckets), "taxon_id") if data.buckets is not None else None
        self.findings = _group(planning(data.findings), "taxon_id") if data.findings is not None else None
        self.experts = _group(planning(data.experts_frame()), "taxon_id")
        # clusters: member rows joined with their cluster
        self.clusters = None
        self.cluster_of: dict[str, list[str]] = {}
        if data.clusters is not None:
            members = data.cluster_members
            if members is None:
                self.clusters = {}
            else:
                m = planning(members).join(
                    data.clusters.select(
                        "cluster_id",
                        "basis",
                        pl.col("code").alias("cluster_code"),
                        "code_name",
                        "place_kind",
                        "place",
                        "place_name",
                        "size",
                    ),
                    on="cluster_id",
                    how="left",
                )
                self.clusters = _group(m, "taxon_id")
                for tid, rows in self.clusters.items():
                    self.cluster_of[tid] = [r["cluster_id"] for r in rows]
        self.sites = None
        if data.site_links is not None:
            links = planning(data.site_links)
            if data.sites is not None:
                links = links.join(
                    data.sites.select("site_id", "kind", "country", pl.col("name").alias("_site_name")),
                    on="site_id",
                    how="left",
                )
            self.sites = _group(links, "taxon_id")
        self.commitments = None
        if data.commitments is not None:
            cm = data.commitments.with_columns(data.overdue().alias("_overdue"))
            self.commitments_by_taxon = _group(cm.filter(pl.col("taxon_id").is_not_null()), "taxon_id")
            self.commitments_by_cluster = _group(cm.filter(pl.col("cluster_id").is_not_null()), "cluster_id")
            self.commitments = True
        self.stakeholders = None
        if data.stakeholders is not None:
            self.stakeholders = {r["stakeholder_id"]: r for r in data.stakeholders.to_dicts()}
        self.suggestions = None
        if data.suggestions is not None:
            self.suggestions = _group(
                data.suggestions.filter(pl.col("target_kind").is_in(["taxon", "cluster", "site"])), "target"
            )

    # -- one record -------------------------------------------------------------------------------
    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        tid, aid = row["taxon_id"], row["assessment_id"]
        a = self.assessment.get(aid, {})
        tx = self.taxon.get(tid, {})
        rec: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "taxon_id": tid,
            "assessment_id": aid,
            "scientific_name": row["scientific_name"],
            "taxonomy": {
                "kingdom": tx.get("kingdom"),
                "phylum": tx.get("phylum"),
                "class": tx.get("class_name"),
                "order": tx.get("order_name"),
                "family": tx.get("family"),
                "genus": tx.get("genus"),
                "species": tx.get("species"),
                "infra_type": tx.get("infra_type"),
                "infra_name": tx.get("infra_name"),
                "subpopulation": tx.get("subpopulation"),
                "authority": tx.get("authority"),
            },
            "common_names": [
                {"name": r["name"], "language": r["language"], "main": bool(r["main"])}
                for r in self.by_tid["common_names"].get(tid, [])
            ],
            "synonyms": [r["name"] for r in self.by_tid["synonyms"].get(tid, []) if r["name"]],
            "assessment": {
                "category": {
                    "code": a.get("category"),
                    "name": a.get("category_label") or category_label(a.get("category")),
                },
                "criteria": a.get("criteria"),
                "criteria_version": a.get("criteria_version"),
                "year_published": a.get("year_published"),
                "assessment_date": _iso(a.get("assessment_date")),
                "population_trend": a.get("population_trend"),
                "possibly_extinct": a.get("possibly_extinct"),
                "possibly_extinct_in_the_wild": a.get("possibly_extinct_in_the_wild"),
                "year_last_seen": a.get("year_last_seen"),
                "scopes": _split(a.get("scopes")),
                "systems": _split(a.get("systems")),
                "realms": _split(a.get("realms")),
            },
            "rationale": plain_text(a.get("rationale")) or None,
        }
        occ = self.by_aid["occurrence"].get(aid, [])
        withheld = tid in self.data.hidden_taxa
        for kind, key in _OCC_KEYS.items():
            rows = [r for r in occ if r["kind"] == kind and not (withheld and kind == "subnational")]
            scheme = {"country": "countries", "fao": "faos"}.get(kind)
            rec[key] = [
                {
                    "code": r["code"],
                    "name": r["name"] or (schemes.name_of(scheme, r["code"]) if scheme else None),
                    "presence": r["presence"],
                    "origin": r["origin"],
                    "seasonality": _split(r["seasonality"]),
                }
                for r in sorted(rows, key=lambda r: r["code"] or "")
            ]
        rec["habitats"] = [
            {
                **_code("habitats", r["code"], r["name"]),
                "suitability": r["suitability"],
                "major_importance": r["major_importance"],
                "season": r["season"],
            }
            for r in self.by_aid["habitats"].get(aid, [])
        ]
        threats = []
        for r in self.by_aid["threats"].get(aid, []):
            l1 = (r["code"] or "").split(".")[0] or None
            codes, names = _split(r["stress_codes"]), (r["stress_names"] or "").split("|")
            threats.append(
                {
                    **_code("threats", r["code"], r["name"]),
                    "level1": _code("threats", l1),
                    "timing": r["timing"],
                    "scope": r["scope"],
                    "severity": r["severity"],
                    "impact": r["impact"],
                    "impact_score": r["impact_score"],
                    "major": r["impact"] in MAJOR_IMPACTS,
                    "stresses": [
                        {
                            "code": c,
                            "name": (
                                names[i].strip()
                                if i < len(names) and names[i].strip()
                                else schemes.name_of("stresses", c)
                            ),
                        }
                        for i, c in enumerate(codes)
                    ],
                }
            )
        rec["threats"] = threats
        rec["actions_in_place"] = [
            {
                "field": r["field"],
                "group": r["group"],
                "name": r["name"],
                "value": r["value"],
                "note": r["note"],
            }
            for r in self.by_aid["actions_in_place"].get(aid, [])
        ]
        rec["actions_needed"] = [
            {**_code("conservation_actions", r["code"], r["name"]), "note": r["note"]}
            for r in self.by_aid["actions_needed"].get(aid, [])
        ]
        rec["research_needed"] = [
            {**_code("research", r["code"], r["name"]), "note": r["note"]}
            for r in self.by_aid["research_needed"].get(aid, [])
        ]
        rec["buckets"] = (
            None
            if self.buckets is None
            else [
                {
                    "bucket": r["bucket"],
                    "title": BUCKET_TITLES.get(r["bucket"], r["bucket"]),
                    "status": r["status"],
                    "rule": r["rule"],
                    "reason": r["reason"],
                    "decided_by": r.get("decided_by"),
                    "decided_at": _iso(r.get("decided_at")),
                    "decision_reason": r.get("decision_reason"),
                }
                for r in sorted(
                    self.buckets.get(tid, []),
                    key=lambda r: (
                        BUCKETS.index(r["bucket"]) if r["bucket"] in BUCKETS else 9,
                        r["bucket"] or "",
                    ),
                )
            ]
        )
        rec["clusters"] = (
            None
            if self.clusters is None
            else [
                {
                    "cluster_id": r["cluster_id"],
                    "basis": r.get("basis"),
                    "code": r.get("cluster_code"),
                    "code_name": r.get("code_name"),
                    "place_kind": r.get("place_kind"),
                    "place": r.get("place"),
                    "place_name": r.get("place_name"),
                    "size": r.get("size"),
                    "member_code": r["code"],
                    "impact": r["impact"],
                    "reason": r["reason"],
                }
                for r in self.clusters.get(tid, [])
            ]
        )
        rec["sites"] = (
            None
            if self.sites is None
            else [
                {
                    "site_id": r["site_id"],
                    "name": r.get("_site_name") or r["site_name"],
                    "kind": r.get("kind"),
                    "country": r.get("country"),
                    "source": r["source"],
                    "note": r["note"],
                }
                for r in self.sites.get(tid, [])
            ]
        )
        rec["commitments"] = None if self.commitments is None else self._commitments(tid)
        rec["stakeholders"] = None if self.stakeholders is None else self._stakeholders(tid, rec)
        rec["experts"] = [
            {"name": r["name"], "credit_type": r["credit_type"]} for r in self.experts.get(tid, [])
        ]
        rec["findings"] = (
            None
            if self.findings is None
            else [
                {
                    "rule": r["rule"],
                    "severity": r["severity"],
                    "message": r["message"],
                    "suggested_fix": r["suggested_fix"],
                }
                for r in self.findings.get(tid, [])
            ]
        )
        rec["locations_withheld"] = withheld
        citation = a.get("citation")
        rec["citation"] = plain_text(citation) if citation else self._citation(rec)
        rec["citation_constructed"] = not citation
        rec["url"] = a.get("url") or REDLIST_URL.format(taxon_id=tid, assessment_id=aid)
        rec["not_computed"] = [k for k in _PLANNING_KEYS if rec[k] is None]
        return rec

    def _commitments(self, tid: str) -> list[dict[str, Any]]:
        rows = [(r, None) for r in self.commitments_by_taxon.get(tid, [])]
        seen = {r["commitment_id"] for r, _ in rows}
        for cid in self.cluster_of.get(tid, []):
            for r in self.commitments_by_cluster.get(cid, []):
                if r["commitment_id"] not in seen:
                    rows.append((r, cid))
                    seen.add(r["commitment_id"])
        return [
            {
                "commitment_id": r["commitment_id"],
                "stakeholder_id": r["stakeholder_id"],
                "stakeholder_name": r["stakeholder_name"],
                "action": _code("conservation_actions", r["action_code"], r["action_name"]),
                "place": r["place"],
                "due_date": _iso(r["due_date"]),
                "status": r["status"],
                "progress": r["progress"],
                "overdue": bool(r["_overdue"]),
                "via_cluster": via,
            }
            for r, via in rows
        ]

    def _stakeholders(self, tid: str, rec: dict[str, Any]) -> list[dict[str, Any]]:
        """Stakeholders for this species: those committed to it (or to a cluster it is in), those
        suggested for it, its clusters or its sites, and those with expertise in its genus or family."""
        reasons: dict[str, list[str]] = {}
        for c in rec["commitments"] or []:
            what = c["action"]["code"] or "an action"
            reasons.setdefault(c["stakeholder_id"], []).append(
                f"committed to {what}" + (f" (cluster {c['via_cluster']})" if c["via_cluster"] else "")
            )
        if self.suggestions is not None:
            targets = [tid, *self.cluster_of.get(tid, []), *[s["site_id"] for s in rec["sites"] or []]]
            for t in targets:
                for s in self.suggestions.get(t, []):
                    if s["stakeholder_id"]:
                        reasons.setdefault(s["stakeholder_id"], []).append(
                            s["reason"] or f"suggested for {t}"
                        )
        names = {(rec["taxonomy"]["genus"] or "").lower(), (rec["taxonomy"]["family"] or "").lower()} - {""}
        for sid, st in self.stakeholders.items():
            for e in _split(st.get("expertise")):
                if e.lower().startswith("taxon:") and e[6:].strip().lower() in names:
                    reasons.setdefault(sid, []).append(f"expertise in {e[6:].strip()}")
        out = []
        for sid, why in reasons.items():
            st = self.stakeholders.get(sid, {})
            out.append(
                {
                    "stakeholder_id": sid,
                    "name": st.get("name"),
                    "kind": st.get("kind"),
                    "organisation": st.get("organisation"),
                    "role": st.get("role"),
                    "reasons": list(dict.fromkeys(why)),
                }
            )
        return sorted(out, key=lambda r: (r["name"] or "", r["stakeholder_id"]))

    def _citation(self, rec: dict[str, Any]) -> str:
        a = rec["assessment"]
        assessors = [
            r["text"]
            for r in self.by_aid["credits"].get(rec["assessment_id"], [])
            if r["credit_type"] == "Assessor" and r["text"]
        ]
        year = a["year_published"]
        parts = []
        if assessors:
            parts.append(plain_text(assessors[0]).rstrip("."))
        if year:
            parts.append(str(year))
        parts.append(rec["scientific_name"])
        ref = f"The IUCN Red List of Threatened Species {year or ''}".strip()
        parts.append(f"{ref}: e.T{rec['taxon_id']}A{rec['assessment_id']}")
        return ". ".join(parts) + "."


def datasheet_record(data: ReportData, taxon_id: str) -> dict[str, Any]:
    """The machine-readable datasheet of one species (keys in the module documentation).

    ``taxon_id`` may also be a scientific name or assessment id; the species must be among those
    ``data`` covers (its latest assessment in ``data.scope``)."""
    from assess2plan.species import find_taxon

    tid = find_taxon(data.aset, str(taxon_id))
    if tid not in data.taxon_ids:
        raise A2PError(
            f"taxon {taxon_id!r} is not among the species of this report "
            f"(latest {data.scope!r} assessments, selection of the sheet)"
        )
    idx = _Index(data, [tid])
    return idx.record(idx.species.row(0, named=True))


def datasheets_json(data: ReportData) -> list[dict[str, Any]]:
    """The datasheet records of every species ``data`` covers, in Red List order (JSON-ready)."""
    idx = _Index(data, None)
    return [idx.record(r) for r in idx.species.iter_rows(named=True)]


def _html(data: ReportData, rec: dict[str, Any]) -> str:
    a = data.aset.assessments.filter(pl.col("assessment_id") == rec["assessment_id"])
    narratives: dict[str, str | None] = {"rationale": None, "threats": None, "conservation": None}
    if a.height:
        row = a.row(0, named=True)
        for key, column in (
            ("rationale", "rationale"),
            ("threats", "threats_text"),
            ("conservation", "conservation_actions_text"),
        ):
            narratives[key] = row.get(column)
    return render_html(
        "datasheet.html",
        {
            "r": rec,
            "narratives": narratives,
            "title": data.title,
            "project": data.project,
            "generated_at": data.generated_at.strftime("%Y-%m-%d")
            if isinstance(data.generated_at, dt.datetime)
            else str(data.generated_at),
        },
    )


def datasheet(data: ReportData, taxon_id: str, out_path: str | Path, format: str = "pdf") -> Path:
    """Write the datasheet of one species to ``out_path`` as ``"pdf"``, ``"html"`` or ``"json"``."""
    fmt = check_format(format, ("pdf", "html", "json"))
    out = check_out_path(out_path)
    rec = datasheet_record(data, taxon_id)
    if fmt == "json":
        return write_text(json.dumps(rec, ensure_ascii=False, indent=2) + "\n", out)
    html = _html(data, rec)
    if fmt == "pdf":
        return write_pdf(html, out)
    return write_text(html, out)
