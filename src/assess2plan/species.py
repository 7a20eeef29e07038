"""Listing, filtering and showing species of an ``AssessmentSet`` (pure functions over the tables).

These are what ``a2p species`` / ``a2p show`` print and what a notebook user calls::

    s = assess2plan.read_redlist("redlist_species_data.zip")
    assess2plan.species(s, category=["CR", "EN"], country="ID", threat="7.2")
    assess2plan.species_record(s, "Acropora palmata")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from assess2plan.errors import A2PError, InputError
from assess2plan.model import AssessmentSet

TAXONOMY_RANKS = ("kingdom", "phylum", "class_name", "order_name", "family", "genus")


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    else:
        items = [str(v).strip() for v in value]
    items = [v for v in items if v]
    return items or None


def _code_match(col: str, codes: list[str]) -> pl.Expr:
    """A code equals one of ``codes`` or lies below one of them ("7.2" matches "7.2.10")."""
    expr = pl.lit(False)
    for c in codes:
        expr = expr | (pl.col(col) == c) | pl.col(col).str.starts_with(c + ".")
    return expr


def species(
    aset: AssessmentSet,
    *,
    category: str | Iterable[str] | None = None,
    country: str | Iterable[str] | None = None,
    threat: str | Iterable[str] | None = None,
    action: str | Iterable[str] | None = None,
    scope: str | None = "Global",
    name: str | None = None,
    **taxonomy: str | Iterable[str] | None,
) -> pl.DataFrame:
    """One row per taxon (its latest assessment in ``scope``), filtered.

    Filters combine with AND; values within a filter with OR. ``category`` takes codes
    ("CR,EN"), ``country`` ISO codes (or any occurrence code: LME, FAO, subnational),
    ``threat`` / ``action`` classification codes matched with their sub-codes, ``name`` a
    case-insensitive part of the scientific name, and ``kingdom``, ``phylum``, ``class_name``,
    ``order_name``, ``family``, ``genus`` taxonomy names (case-insensitive).
    """
    unknown = set(taxonomy) - set(TAXONOMY_RANKS)
    if unknown:
        raise A2PError(f"unknown filter {', '.join(sorted(unknown))}; taxonomy filters: {', '.join(TAXONOMY_RANKS)}")
    a = aset.latest(scope or "")
    taxa = aset.taxa.select(["taxon_id", *TAXONOMY_RANKS])
    rows = a.join(taxa, on="taxon_id", how="left")
    for rank, value in taxonomy.items():
        values = _as_list(value)
        if values:
            rows = rows.filter(pl.col(rank).str.to_lowercase().is_in([v.lower() for v in values]))
    cats = _as_list(category)
    if cats:
        rows = rows.filter(pl.col("category").str.to_uppercase().is_in([c.upper() for c in cats]))
    if name:
        rows = rows.filter(pl.col("scientific_name").str.to_lowercase().str.contains(name.lower(), literal=True))
    ids = rows["assessment_id"].implode()
    countries = _as_list(country)
    if countries:
        occ = aset.occurrence.filter(pl.col("assessment_id").is_in(ids))
        hit = occ.filter(pl.col("code").str.to_uppercase().is_in([c.upper() for c in countries]))
        rows = rows.filter(pl.col("assessment_id").is_in(hit["assessment_id"].implode()))
    threats = _as_list(threat)
    if threats:
        hit = aset.threats.filter(pl.col("assessment_id").is_in(ids) & _code_match("code", threats))
        rows = rows.filter(pl.col("assessment_id").is_in(hit["assessment_id"].implode()))
    actions = _as_list(action)
    if actions:
        hit = aset.actions_needed.filter(pl.col("assessment_id").is_in(ids) & _code_match("code", actions))
        rows = rows.filter(pl.col("assessment_id").is_in(hit["assessment_id"].implode()))
    counts = _child_counts(aset, rows["assessment_id"])
    out = rows.select(
        "taxon_id",
        "scientific_name",
        "family",
        "category",
        "criteria",
        "year_published",
        "population_trend",
        "assessment_id",
    ).join(counts, on="assessment_id", how="left")
    return out.with_columns(pl.col(c).fill_null(0) for c in ("threats", "actions_needed", "countries")).sort(
        "scientific_name"
    )


def _child_counts(aset: AssessmentSet, ids: pl.Series) -> pl.DataFrame:
    base = pl.DataFrame({"assessment_id": ids})
    for table, label, filt in (
        ("threats", "threats", None),
        ("actions_needed", "actions_needed", None),
        ("occurrence", "countries", pl.col("kind") == "country"),
    ):
        df = aset.tables[table]
        if filt is not None:
            df = df.filter(filt)
        c = df.group_by("assessment_id").agg(pl.len().cast(pl.Int64).alias(label))
        base = base.join(c, on="assessment_id", how="left")
    return base


def find_taxon(aset: AssessmentSet, taxon: str) -> str:
    """Resolve a taxon id, a scientific name (case-insensitive) or an assessment id to a taxon id."""
    t = taxon.strip()
    a = aset.assessments
    if t in set(aset.taxa["taxon_id"].to_list()) | set(a["taxon_id"].to_list()):
        return t
    by_assessment = a.filter(pl.col("assessment_id") == t)
    if by_assessment.height:
        return by_assessment["taxon_id"][0]
    names = pl.concat(
        [aset.taxa.select("taxon_id", "scientific_name"), a.select("taxon_id", "scientific_name")]
    ).unique()
    hit = names.filter(pl.col("scientific_name").str.to_lowercase() == t.lower())
    if hit.height == 0:
        hit = names.filter(pl.col("scientific_name").str.to_lowercase().str.contains(t.lower(), literal=True))
    ids = hit["taxon_id"].unique().to_list()
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise A2PError(f"no taxon matches {taxon!r}")
    shown = ", ".join(sorted(hit["scientific_name"].unique().to_list())[:8])
    raise A2PError(f"{taxon!r} matches {len(ids)} taxa ({shown}); give a taxon id or the full name")


#: the child tables of an assessment in a species record (``species_record``), in the order shown
RECORD_TABLES = (
    "threats",
    "actions_in_place",
    "actions_needed",
    "research_needed",
    "habitats",
    "occurrence",
    "use_trade",
    "credits",
    "other_fields",
)


def read_taxa_list(path: str | Path) -> list[tuple[int, str]]:
    """A list of taxa, one per line (taxon id, assessment id or full scientific name; a CSV's first
    column; ``#`` starts a comment; blank lines skipped) as (line number, value)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(p), f"cannot read the list of taxa: {e}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"').strip()
        if value and not (n == 1 and value.lower() in ("taxon", "taxon_id", "internaltaxonid", "name")):
            out.append((n, value))
    return out


def taxa_in_set(aset: AssessmentSet, values: Iterable[tuple[int, str]], *, source: str = "list") -> list[str]:
    """Taxon ids of ``values`` ((line, value): taxon id, assessment id or exact scientific name) in
    ``aset``; the first one that names no taxon, or more than one, raises ``InputError`` naming
    ``source``, the line and the value."""
    ids: list[str] = []
    taxa = set(aset.taxa["taxon_id"].to_list()) | set(aset.assessments["taxon_id"].to_list())
    by_assessment = dict(
        zip(aset.assessments["assessment_id"].to_list(), aset.assessments["taxon_id"].to_list(), strict=True)
    )
    names: dict[str, set[str]] = {}
    for frame in (aset.taxa, aset.assessments):
        for tid, name in frame.select("taxon_id", "scientific_name").iter_rows():
            if name:
                names.setdefault(name.strip().lower(), set()).add(tid)
    for line, value in values:
        v = value.strip()
        if v in taxa:
            ids.append(v)
        elif v in by_assessment:
            ids.append(by_assessment[v])
        elif len(names.get(v.lower(), ())) == 1:
            ids.append(next(iter(names[v.lower()])))
        else:
            why = "names more than one taxon" if names.get(v.lower()) else "is no taxon id, assessment id or full scientific name of the data"
            raise InputError(source, why, line=line, value=v)
    return list(dict.fromkeys(ids))


def species_record(aset: AssessmentSet, taxon: str, *, scope: str | None = "Global") -> dict[str, Any]:
    """The full record of one species: taxonomy, latest assessment and every child table.

    ``taxon`` is a taxon id, a scientific name or an assessment id. Returns plain Python
    values (JSON-ready except dates, which are ``datetime.date``).
    """
    tid = find_taxon(aset, taxon)
    latest = aset.latest(scope or "").filter(pl.col("taxon_id") == tid)
    if latest.height == 0:
        latest = aset.latest("").filter(pl.col("taxon_id") == tid)
    taxon_rows = aset.taxa.filter(pl.col("taxon_id") == tid).to_dicts()
    record: dict[str, Any] = {"taxon": taxon_rows[0] if taxon_rows else {"taxon_id": tid}}
    history = (
        aset.assessments.filter(pl.col("taxon_id") == tid)
        .select("assessment_id", "year_published", "category", "criteria", "scopes")
        .sort("year_published", descending=True, nulls_last=True)
    )
    record["history"] = history.to_dicts()
    record["common_names"] = aset.common_names.filter(pl.col("taxon_id") == tid).drop("taxon_id").to_dicts()
    record["synonyms"] = aset.synonyms.filter(pl.col("taxon_id") == tid).drop("taxon_id").to_dicts()
    if latest.height == 0:
        record["assessment"] = None
        return record
    aid = latest["assessment_id"][0]
    record["assessment"] = latest.to_dicts()[0]
    for table in RECORD_TABLES:
        df = aset.tables[table].filter(pl.col("assessment_id") == aid).drop("assessment_id", "taxon_id")
        record[table] = df.to_dicts()
    return record
