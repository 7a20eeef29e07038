"""Matching ex situ holdings and CITES listings to the taxa of a working set, by name and synonym.

Names are compared in the form of ``assess2plan.io.cites.name_key``: without authors and year,
without rank words ("ssp.", "var."), lower case, single spaces; "Grus canadensis ssp. pulla"
(Red List) meets "Grus canadensis pulla" (CITES) and "mirrenichthys  auratus Ødegård, 1958" (a
holdings file) meets "Mirrenichthys auratus".

* ``match_holdings``: a holdings name is matched to the taxon whose scientific name it is, else
  to the taxon of which it is a synonym (the working set's ``synonyms`` table). A synonym shared
  by several taxa is not guessed: the rows stay unmatched with ``matched_by = "ambiguous"``.
* ``match_cites``: which taxa of the set a CITES listing covers, and through which row of the
  checklist: the taxon's own name ("name"), a synonym ("synonym": the taxon's name among the
  CITES synonyms, or the CITES name among the set's synonyms of the taxon), for a subspecies or
  subpopulation the listing of its species ("species"), else the listing of its genus, family or
  order ("genus", "family", "order"; Red List higher taxa are upper case, compared without case).
  The most specific listing wins, so a species that CITES marks "NC" (not covered) inside a listed
  genus, family or order is not covered, and does not appear.
* ``holdings_summary``: the "holdings" part of step 1 of the five-step ex situ assessment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from assess2plan.io.cites import name_key
from assess2plan.model import CITES_MATCH_SCHEMA, HOLDINGS_SCHEMA, AssessmentSet

__all__ = [
    "holdings_summary",
    "match_cites",
    "match_holdings",
    "unmatched_cites",
    "unmatched_holdings",
]

#: Ranks of the checklist that name one species or infraspecific taxon.
SPECIES_RANKS = ("SPECIES", "SUBSPECIES", "VARIETY", "FORM")
#: Higher ranks a CITES listing may cover as a whole, most specific first, with the taxa column
#: that holds the taxon's name at that rank.
HIGHER_RANKS = (("GENUS", "genus"), ("FAMILY", "family"), ("ORDER", "order_name"))
#: How specific each way of matching is (lower wins).
_LEVEL = {"name": 0, "synonym": 1, "species": 2, "genus": 3, "family": 4, "order": 5}


# -- the names of a working set -----------------------------------------------------------------------
def _taxa(aset: AssessmentSet) -> pl.DataFrame:
    """taxon_id, scientific_name, genus, species, family, order_name, subpopulation of every taxon
    of the set (taxa table, completed by the assessments of taxa it lacks)."""
    cols = ["taxon_id", "scientific_name", "genus", "species", "family", "order_name", "subpopulation"]
    taxa = aset.tables["taxa"].select(cols)
    a = aset.tables["assessments"].select("taxon_id", "scientific_name").unique("taxon_id", keep="first")
    extra = a.filter(~pl.col("taxon_id").is_in(taxa["taxon_id"].implode()))
    if extra.height:
        taxa = pl.concat([taxa, extra], how="diagonal_relaxed")
    return taxa.filter(pl.col("taxon_id").is_not_null()).unique("taxon_id", keep="first", maintain_order=True)


def _own_key(name: str | None, subpopulation: str | None) -> str | None:
    """The key of a taxon's own name; a subpopulation ("Delphinapterus leucas Cook Inlet
    subpopulation") keeps its whole name, so it is not mistaken for its species."""
    if subpopulation:
        return " ".join(str(name).casefold().split()) if name else None
    return name_key(name)


def _synonym_key(name: str | None, genus: str | None, species: str | None, infra: str | None) -> str | None:
    if name:
        return name_key(name)
    if genus and species:
        return name_key(" ".join(x for x in (genus, species, infra) if x))
    return None


def _name_index(aset: AssessmentSet) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(name key -> taxon ids, synonym key -> taxon ids) of the set, ids in first-seen order."""
    names: dict[str, list[str]] = {}
    for tid, name, sub in _taxa(aset).select("taxon_id", "scientific_name", "subpopulation").iter_rows():
        key = _own_key(name, sub)
        if key and tid not in names.setdefault(key, []):
            names[key].append(tid)
    syns: dict[str, list[str]] = {}
    s = aset.tables["synonyms"]
    for tid, name, genus, species, infra in s.select(
        "taxon_id", "name", "genus", "species", "infra_name"
    ).iter_rows():
        key = _synonym_key(name, genus, species, infra)
        if tid and key and tid not in syns.setdefault(key, []):
            syns[key].append(tid)
    return names, syns


# -- holdings -----------------------------------------------------------------------------------------
def match_holdings(holdings: pl.DataFrame, aset: AssessmentSet) -> pl.DataFrame:
    """The holdings with ``taxon_id`` and ``matched_by`` filled in.

    ``matched_by`` is "name" when the name (authors dropped, case and spacing ignored) is a
    taxon's scientific name, "synonym" when it is a synonym of exactly one taxon of the set, and
    "ambiguous" (``taxon_id`` null) when it is a synonym of several taxa: such rows are listed by
    ``unmatched_holdings`` rather than given to one of them. Otherwise both stay null.
    """
    h = holdings.select(
        [pl.col(c) if c in holdings.columns else pl.lit(None).alias(c) for c in HOLDINGS_SCHEMA]
    )
    h = h.cast(HOLDINGS_SCHEMA)  # type: ignore[arg-type]
    if h.is_empty():
        return h
    names, syns = _name_index(aset)
    cache: dict[str, tuple[str | None, str | None]] = {}
    ids: list[str | None] = []
    how: list[str | None] = []
    for raw in h["name"].to_list():
        if raw not in cache:
            key = name_key(raw)
            hit: tuple[str | None, str | None] = (None, None)
            if key:
                if len(names.get(key, ())) == 1:
                    hit = (names[key][0], "name")
                elif len(names.get(key, ())) > 1:
                    hit = (None, "ambiguous")
                elif len(syns.get(key, ())) == 1:
                    hit = (syns[key][0], "synonym")
                elif len(syns.get(key, ())) > 1:
                    hit = (None, "ambiguous")
            cache[raw] = hit
        ids.append(cache[raw][0])
        how.append(cache[raw][1])
    return h.with_columns(
        pl.Series("taxon_id", ids, dtype=pl.Utf8), pl.Series("matched_by", how, dtype=pl.Utf8)
    ).select(list(HOLDINGS_SCHEMA))


def unmatched_holdings(matched: pl.DataFrame, aset: AssessmentSet | None = None) -> pl.DataFrame:
    """The names of ``match_holdings``' output that no taxon took: ``name``, ``rows`` (the file's
    data rows, "3, 7"), ``individuals`` (sum of totals) and ``reason``; most individuals first.

    The reason says "not a name or synonym of any taxon of the working set" or, for a synonym of
    several taxa, names them when ``aset`` is given.
    """
    schema = {"name": pl.Utf8, "rows": pl.Utf8, "individuals": pl.Int64, "reason": pl.Utf8}
    if matched.is_empty() or "taxon_id" not in matched.columns:
        return pl.DataFrame(schema=schema)
    un = matched.filter(pl.col("taxon_id").is_null())
    if un.is_empty():
        return pl.DataFrame(schema=schema)
    _, syns = _name_index(aset) if aset is not None else ({}, {})
    rows = []
    for (name,), g in un.group_by("name", maintain_order=True):
        how = g["matched_by"].drop_nulls().first() if "matched_by" in g.columns else None
        if how == "ambiguous":
            tids = syns.get(name_key(name) or "", [])
            reason = "a synonym of several taxa" + (
                f" ({', '.join(tids)}): not guessed" if tids else ": not guessed"
            )
        else:
            reason = "not a name or synonym of any taxon of the working set"
        rows.append(
            {
                "name": name,
                "rows": ", ".join(str(r) for r in sorted(g["row"].drop_nulls().to_list())),
                "individuals": int(g["total"].fill_null(0).sum()),
                "reason": reason,
            }
        )
    out = pl.DataFrame(rows, schema=schema)
    return out.sort(["individuals", "name"], descending=[True, False])


def _institution_key(institution: str | None, country: str | None) -> tuple[str, str] | None:
    if institution is None:
        return None
    return (" ".join(institution.casefold().split()), (country or "").casefold())


def holdings_summary(matched_holdings: pl.DataFrame, taxon_id: str) -> dict[str, Any]:
    """The existing ex situ populations of ``taxon_id`` (the "holdings" of step 1).

    Each institution (name and country, case ignored) counts with its LATEST census only: a newer
    record replaces an older one (rows of the same latest date add up, e.g. two groups; rows
    without a date count only when the institution has no dated row). Rows without an
    institution are all kept and count in the sums, not as institutions. Blank counts add 0.

    Returns ``{"institutions", "countries" (sorted), "males", "females", "unknown", "total",
    "latest_date" (ISO text or None), "rows": [{"institution", "country", "males", "females",
    "unknown", "total", "date" (ISO text or None), "source"}]}``; ``rows`` are the counted rows.
    """
    tid = str(taxon_id)
    h = matched_holdings
    if h.is_empty() or "taxon_id" not in h.columns:
        h = pl.DataFrame(schema=HOLDINGS_SCHEMA)
    h = h.filter(pl.col("taxon_id") == tid)
    groups: dict[tuple[str, str] | int, list[dict[str, Any]]] = {}
    for i, r in enumerate(h.iter_rows(named=True)):
        key = _institution_key(r["institution"], r["country"])
        groups.setdefault(key if key is not None else i, []).append(r)
    kept: list[dict[str, Any]] = []
    for rs in groups.values():
        dates = [r["date"] for r in rs if r["date"] is not None]
        latest = max(dates) if dates else None
        kept.extend(r for r in rs if r["date"] == latest)
    kept.sort(key=lambda r: ((r["institution"] or "").casefold(), r["country"] or "", str(r["date"] or "")))

    def total(field: str) -> int:
        return int(sum(r[field] or 0 for r in kept))

    dates = [r["date"] for r in kept if r["date"] is not None]
    return {
        "institutions": len({k for k in groups if not isinstance(k, int)}),
        "countries": sorted({r["country"] for r in kept if r["country"]}),
        "males": total("males"),
        "females": total("females"),
        "unknown": total("unknown"),
        "total": total("total"),
        "latest_date": max(dates).isoformat() if dates else None,
        "rows": [
            {
                "institution": r["institution"],
                "country": r["country"],
                "males": r["males"],
                "females": r["females"],
                "unknown": r["unknown"],
                "total": r["total"],
                "date": r["date"].isoformat() if r["date"] is not None else None,
                "source": r["source"],
            }
            for r in kept
        ],
    }


# -- CITES --------------------------------------------------------------------------------------------
def _split(value: str | None) -> Iterable[str]:
    return [v for v in (value or "").split("|") if v]


def _checklist_index(
    cites: pl.DataFrame,
) -> tuple[dict[str, list[dict]], dict[str, list[dict]], dict[str, dict[str, list[dict]]]]:
    """(name key -> species-rank rows, synonym key -> species-rank rows, rank -> name key -> rows)."""
    by_name: dict[str, list[dict]] = {}
    by_syn: dict[str, list[dict]] = {}
    higher: dict[str, dict[str, list[dict]]] = {rank: {} for rank, _ in HIGHER_RANKS}
    for r in cites.sort("row", nulls_last=True).iter_rows(named=True):
        rank = (r["rank"] or "").upper()
        if rank in higher:
            key = " ".join((r["name"] or "").casefold().split())
            if key:
                higher[rank].setdefault(key, []).append(r)
            continue
        if rank not in SPECIES_RANKS:
            continue
        key = name_key(r["name"])
        if key:
            by_name.setdefault(key, []).append(r)
        for syn in _split(r["synonyms"]):
            skey = name_key(syn)
            if skey and skey != key:
                by_syn.setdefault(skey, []).append(r)
    return by_name, by_syn, higher


def match_cites(cites: pl.DataFrame, aset: AssessmentSet) -> pl.DataFrame:
    """Every taxon of ``aset`` that a CITES listing covers (``model.CITES_MATCH_SCHEMA``).

    Tried in this order, the first that finds a row of the checklist wins: the taxon's name
    ("name"); a synonym ("synonym": the taxon's name among the CITES synonyms, or the CITES name
    among the set's synonyms of the taxon); for a subspecies or subpopulation, its species
    ("species"); then the listing of its genus, family or order. When several rows match at the
    same step, the first in the checklist is taken. A taxon whose winning listing is "NC" (not
    covered: e.g. a species that the Convention excludes from the listing of its family) is left
    out, as are taxa no listing covers.
    """
    if cites.is_empty():
        return pl.DataFrame(schema=CITES_MATCH_SCHEMA)
    by_name, by_syn, higher = _checklist_index(cites)
    taxa = _taxa(aset)
    syn_of: dict[str, list[str]] = {}
    for tid, name, genus, species, infra in (
        aset.tables["synonyms"].select("taxon_id", "name", "genus", "species", "infra_name").iter_rows()
    ):
        key = _synonym_key(name, genus, species, infra)
        if tid and key:
            syn_of.setdefault(tid, []).append(key)
    out: list[dict[str, Any]] = []
    for t in taxa.iter_rows(named=True):
        tid = t["taxon_id"]
        key = _own_key(t["scientific_name"], t["subpopulation"])
        best: tuple[dict, str] | None = None
        if key and key in by_name:
            best = (by_name[key][0], "name")
        if best is None:
            cands = list(by_syn.get(key, [])) if key else []
            for skey in syn_of.get(tid, []):
                cands.extend(by_name.get(skey, []))
            if cands:
                best = (min(cands, key=lambda r: r["row"] if r["row"] is not None else 1 << 31), "synonym")
        if best is None:
            genus = t["genus"] or (t["scientific_name"] or "").split(" ")[0] or None
            species_key = name_key(f"{genus} {t['species']}") if genus and t["species"] else None
            if species_key and species_key != key and species_key in by_name:
                best = (by_name[species_key][0], "species")
        if best is None:
            for rank, column in HIGHER_RANKS:
                value = t[column]
                if column == "genus" and not value:
                    value = (t["scientific_name"] or "").split(" ")[0] or None
                hk = " ".join(str(value).casefold().split()) if value else ""
                if hk and hk in higher[rank]:
                    best = (higher[rank][hk][0], rank.lower())
                    break
        if best is None:
            continue
        row, how = best
        if row["listing"] == "NC":
            continue
        out.append(
            {
                "taxon_id": tid,
                "scientific_name": t["scientific_name"],
                "listing": row["listing"],
                "annotation": row["annotation"],
                "cites_name": row["name"],
                "cites_rank": row["rank"],
                "matched_by": how,
            }
        )
    return pl.DataFrame(out, schema=CITES_MATCH_SCHEMA) if out else pl.DataFrame(schema=CITES_MATCH_SCHEMA)


def unmatched_cites(cites: pl.DataFrame, aset: AssessmentSet) -> pl.DataFrame:
    """Species and subspecies of the checklist that match no taxon of the set: ``name``, ``rank``,
    ``listing``, in checklist order.

    A row matches when its name or one of its synonyms is a taxon's name, or its name is one of
    the set's synonyms. (For a checklist of a whole group and a regional working set this is
    most of the checklist; it shows what did not match, e.g. a name spelled differently.)
    """
    schema = {"name": pl.Utf8, "rank": pl.Utf8, "listing": pl.Utf8}
    if cites.is_empty():
        return pl.DataFrame(schema=schema)
    names, syns = _name_index(aset)
    rows = []
    for r in cites.sort("row", nulls_last=True).iter_rows(named=True):
        if (r["rank"] or "").upper() not in SPECIES_RANKS:
            continue
        key = name_key(r["name"])
        if key and (key in names or key in syns):
            continue
        if any(name_key(s) in names for s in _split(r["synonyms"])):
            continue
        rows.append({"name": r["name"], "rank": r["rank"], "listing": r["listing"]})
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
