"""Multi-species clusters: species that share a threat, or need the same action, in the same place.

The Assess to Plan (A2P) idea (CPSG; domain reference §1a) is to move many species to action
together by "identifying groups of species with characteristics that have overlapping
conservation needs that can be planned for and acted on together" -- species "that inhabit the
same areas ... and/or are impacted by common threats". A cluster here is exactly that, kept
simple and explainable: **one code x one place**, every member with a readable reason::

    from assess2plan.planning import threat_clusters, action_clusters, shared_threats

    c = threat_clusters(aset, by=("country",), min_impact="Medium")
    c.clusters      # cluster_id "threat:7.2|country:ID", code, place, size ... (largest first)
    c.members       # one row per cluster and taxon, with the member's own code and a reason
    action_clusters(aset, by=("site",), site_links=links)        # same action needed, same site
    shared_threats(aset, "Acropora palmata")                      # who shares this species' threats

Codes are rolled up to a level (default 2: threat 7.2.3 and 7.2.10 both count as 7.2 "Dams &
water management/use") so that assessors' different precision does not split a group; the
member keeps its own code(s). Only each taxon's latest assessment in the scope counts (as in the
planning sheet). Places come from :func:`assess2plan.planning.places.species_places`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import polars as pl

from assess2plan.errors import A2PError
from assess2plan.model import THREATENED, AssessmentSet
from assess2plan.planning.places import (
    DEFAULT_ORIGIN,
    DEFAULT_PRESENCE,
    PLACE_KINDS,
    check_kinds,
    check_level,
    latest_assessments,
    places_of,
    roll_up,
)
from assess2plan.schemes import scheme
from assess2plan.sheet import category_rank

__all__ = [
    "CLUSTER_COLUMNS",
    "DEFAULT_BY",
    "IMPACT_RANK",
    "MEMBER_COLUMNS",
    "SHARED_COLUMNS",
    "Clusters",
    "action_clusters",
    "impact_threshold",
    "shared_threats",
    "threat_clusters",
]

#: Place kinds clustered on by default.
DEFAULT_BY = ("country", "lme", "site", "country_habitat")

#: Columns of ``Clusters.clusters``.
CLUSTER_COLUMNS = {
    "cluster_id": pl.Utf8,
    "basis": pl.Utf8,
    "code": pl.Utf8,
    "code_name": pl.Utf8,
    "place_kind": pl.Utf8,
    "place": pl.Utf8,
    "place_name": pl.Utf8,
    "size": pl.Int32,
}
#: Columns of ``Clusters.members``.
MEMBER_COLUMNS = {
    "cluster_id": pl.Utf8,
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "code": pl.Utf8,
    "impact": pl.Utf8,
    "reason": pl.Utf8,
}
#: Columns of :func:`shared_threats`.
SHARED_COLUMNS = {
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "shared_threats": pl.Utf8,
    "shared_places": pl.Utf8,
    "n_shared": pl.Int32,
    "reason": pl.Utf8,
}

#: Threat impact labels (IUCN SIS scoring, domain reference §3b) ranked for ``min_impact``.
#: No/Negligible, Past and Unknown impacts rank 0: they pass only ``min_impact=None``.
IMPACT_RANK = {"High Impact": 3, "Medium Impact": 2, "Low Impact": 1}
_IMPACT_BY_RANK = {v: k for k, v in IMPACT_RANK.items()}
_MIN_IMPACT = {"low": 1, "medium": 2, "high": 3}


@dataclass
class Clusters:
    """Clusters (one code x one place each) and their members.

    ``clusters``: cluster_id, basis ("threat" | "action"), code, code_name, place_kind, place,
    place_name, size -- largest first. ``members``: cluster_id, taxon_id, scientific_name,
    category, code (the member's own code(s), "|"-joined when several roll up to the cluster's
    code), impact (the strongest of them; null for actions), reason -- in cluster order, then
    by Red List category (CR first) and name.
    """

    clusters: pl.DataFrame
    members: pl.DataFrame
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.clusters.height

    def members_of(self, cluster_id: str) -> pl.DataFrame:
        """The members of one cluster."""
        return self.members.filter(pl.col("cluster_id") == cluster_id)

    def of_taxon(self, taxon_id: str) -> pl.DataFrame:
        """The clusters a taxon belongs to (rows of ``clusters``)."""
        ids = self.members.filter(pl.col("taxon_id") == str(taxon_id)).select("cluster_id")
        return self.clusters.join(ids, on="cluster_id", how="semi", maintain_order="left")


# -- helpers ----------------------------------------------------------------------------------------
def impact_threshold(min_impact: str | None) -> int | None:
    """``"Medium"`` -> 2 (Medium or High impact); None or ``"any"`` -> None (every threat, also
    Unknown, Past and No/Negligible impact). Accepts "Low", "Medium", "High" with or without
    " Impact", in any case."""
    if min_impact is None:
        return None
    key = str(min_impact).strip().lower().removesuffix(" impact").strip()
    if key == "any":
        return None
    if key not in _MIN_IMPACT:
        raise A2PError(f"min_impact must be Low, Medium, High or None (any impact), not {min_impact!r}")
    return _MIN_IMPACT[key]


def _impact_rank() -> pl.Expr:
    return pl.col("impact").replace_strict(IMPACT_RANK, default=0, return_dtype=pl.Int32)


def code_key(expr: pl.Expr) -> pl.Expr:
    """Sort key putting codes in scheme order (4.3 before 11.3, 7.2.9 before 7.2.10)."""
    return expr.str.replace_all(r"\b(\d)\b", "0${1}")


@cache
def _names(name: str) -> dict[str, str]:
    s = scheme(name)
    return dict(zip(s["code"].to_list(), s["name"].to_list(), strict=True))


def _check_size(min_size: object) -> int:
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise A2PError(f"min_size must be a whole number of species >= 1, not {min_size!r}")
    return min_size


def _categories(categories: Iterable[str] | str | None) -> list[str] | None:
    if categories is None:
        return None
    if isinstance(categories, str):
        categories = [c.strip() for c in categories.split(",") if c.strip()]
    return list(categories)


def under(expr: pl.Expr, prefixes: Iterable[str]) -> pl.Expr:
    """The code equals one of ``prefixes`` or lies below one of them ("8.1.2" is under "8")."""
    out = pl.lit(False)
    for p in prefixes:
        out = out | (expr == p) | expr.str.starts_with(p + ".")
    return out


def threat_rows(
    aset: AssessmentSet,
    latest: pl.DataFrame,
    *,
    min_impact: str | None,
    threat_level: int | None,
    codes: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Threat rows of the ``latest`` assessments passing ``min_impact``: taxon_id, code, ccode
    (rolled up), impact, rank, detail ("7.2.3 Medium Impact (Ongoing / Majority (50-90%) / ...)").
    ``codes`` / ``exclude`` keep only / drop the codes at or below these prefixes."""
    threshold = impact_threshold(min_impact)
    level = check_level(threat_level, "threat_level")
    t = (
        aset.threats.filter(pl.col("code").is_not_null())
        .select("assessment_id", pl.col("code").str.strip_chars(), "impact", "timing", "scope", "severity")
        .join(latest.select("assessment_id", "taxon_id"), on="assessment_id", how="inner")
        .with_columns(pl.col("impact").fill_null("Unknown"))
        .with_columns(_impact_rank().alias("rank"))
    )
    if threshold is not None:
        t = t.filter(pl.col("rank") >= threshold)
    if codes is not None:
        t = t.filter(under(pl.col("code"), codes))
    if exclude:
        t = t.filter(~under(pl.col("code"), exclude))
    parts = pl.concat_str(
        [pl.col("timing"), pl.col("scope"), pl.col("severity")], separator=" / ", ignore_nulls=True
    )
    detail = (
        pl.col("code")
        + " "
        + pl.col("impact")
        + pl.when(pl.coalesce("timing", "scope", "severity").is_not_null())
        .then(pl.lit(" (") + parts + pl.lit(")"))
        .otherwise(pl.lit(""))
    )
    return (
        t.select(
            "taxon_id",
            "code",
            roll_up(pl.col("code"), level).alias("ccode"),
            "impact",
            "rank",
            detail.alias("detail"),
        )
        .sort("rank", descending=True)
        .unique(["taxon_id", "code"], keep="first")
    )


def _member_codes(rows: pl.DataFrame, noun: str, with_impact: bool) -> pl.DataFrame:
    """Per (taxon, cluster code): the member's own codes, strongest impact, and what it has."""
    rows = rows.sort(["taxon_id", "ccode", code_key(pl.col("code"))])
    aggs = [
        pl.col("code").str.join("|").alias("code"),
        pl.col("detail").str.join(", ").alias("details"),
        pl.len().alias("_n"),
    ]
    if with_impact:
        aggs.append(pl.col("rank").max().alias("_rank"))
        # the label of the strongest impact; below Low the labels differ, so take the first seen
        aggs.append(pl.col("impact").first().alias("_first"))
    g = rows.group_by(["taxon_id", "ccode"], maintain_order=True).agg(aggs)
    impact = pl.lit(None, dtype=pl.Utf8)
    if with_impact:
        impact = (
            pl.col("_rank")
            .replace_strict(_IMPACT_BY_RANK, default=None, return_dtype=pl.Utf8)
            .fill_null(pl.col("_first"))
        )
    word = pl.when(pl.col("_n") > 1).then(pl.lit(noun + "s ")).otherwise(pl.lit(noun + " "))
    return g.select(
        "taxon_id", "ccode", "code", impact.alias("impact"), (word + pl.col("details")).alias("what")
    )


def place_phrase() -> pl.Expr:
    """Readable "occurs in ..." phrase from place_kind, place, place_name."""
    name = pl.col("place_name").fill_null(pl.col("place"))
    code = pl.lit(" (") + pl.col("place") + pl.lit(")")
    ch = pl.col("place_name").fill_null("").str.splitn(" / ", 2)
    country_code = pl.col("place").str.split("|").list.first()
    habitat = ch.struct.field("field_1").fill_null(pl.col("place").str.split("|").list.last())
    return (
        pl.when(pl.col("place_kind") == "country_habitat")
        .then(
            pl.lit("occurs in ")
            + ch.struct.field("field_0")
            + pl.lit(" (")
            + country_code
            + pl.lit(") in habitat ")
            + habitat
        )
        .when(pl.col("place_kind") == "lme")
        .then(pl.lit("occurs in the large marine ecosystem ") + name + code)
        .when(pl.col("place_kind") == "fao")
        .then(pl.lit("occurs in FAO area ") + name + code)
        .when(pl.col("place_kind") == "site")
        .then(pl.lit("is linked to the site ") + name + code)
        .otherwise(pl.lit("occurs in ") + name + code)
    )


def _build(
    basis: str,
    members: pl.DataFrame,
    places: pl.DataFrame,
    latest: pl.DataFrame,
    code_names: dict[str, str],
    recorded_names: pl.DataFrame,
    min_size: int,
    params: dict,
    reasons: bool = True,
) -> Clusters:
    """Clusters of (ccode x place) from per-member codes and per-taxon places (members'
    ``reason`` left null when ``reasons`` is false: triage only counts members).

    Taxa, codes and places are numbered first so that the big join (every member code x every
    place of the taxon) and its group-by run on integers; text is gathered only for the output.
    """
    order = {k: i for i, k in enumerate(PLACE_KINDS)}
    taxa = (
        latest.select("taxon_id", "scientific_name", "category")
        .sort([category_rank(pl.col("category")), "scientific_name", "taxon_id"], nulls_last=True)
        .with_row_index("tix")
    )
    tmap = taxa.select("taxon_id", "tix")
    mem = members.join(tmap, on="taxon_id")
    codes = mem.select("ccode").unique().sort("ccode").with_row_index("cix")
    mem = mem.join(codes, on="ccode").drop("ccode")
    pla = places.join(tmap, on="taxon_id").with_columns(
        (pl.col("place_kind") + pl.lit(":") + pl.col("place")).cast(pl.Categorical).to_physical().alias("pix")
    )
    pairs = mem.select("tix", "cix").join(pla.select("tix", "pix"), on="tix")
    sizes = (
        pairs.group_by(["cix", "pix"])
        .agg(pl.len().cast(pl.Int32).alias("size"))
        .filter(pl.col("size") >= min_size)
    )
    pkeys = pla.select("pix", "place_kind", "place", "place_name").unique("pix", keep="first")
    clusters = (
        sizes.join(codes, on="cix")
        .join(pkeys, on="pix")
        .join(recorded_names, on="ccode", how="left")
        .with_columns(
            pl.col("ccode")
            .replace_strict(code_names, default=None, return_dtype=pl.Utf8)
            .fill_null(pl.col("_rname"))
            .alias("code_name"),
            (
                pl.lit(basis + ":")
                + pl.col("ccode")
                + pl.lit("|")
                + pl.col("place_kind")
                + pl.lit(":")
                + pl.col("place")
            ).alias("cluster_id"),
        )
        .sort(
            [
                pl.col("size"),
                code_key(pl.col("ccode")),
                pl.col("place_kind").replace_strict(order, return_dtype=pl.Int32),
                code_key(pl.col("place")),
            ],
            descending=[True, False, False, False],
        )
        .with_row_index("_corder")
        .with_columns(place_phrase().alias("_phrase"))
    )
    out_clusters = clusters.select(
        "cluster_id",
        pl.lit(basis).alias("basis"),
        pl.col("ccode").alias("code"),
        "code_name",
        "place_kind",
        "place",
        "place_name",
        "size",
    ).cast(CLUSTER_COLUMNS)
    m = (
        pairs.join(clusters.select("cix", "pix", "_corder"), on=["cix", "pix"])
        .sort(pl.col("_corder").cast(pl.UInt64) * (1 << 32) + pl.col("tix").cast(pl.UInt64))
        .join(
            mem.select("tix", "cix", "code", "impact", "what"),
            on=["tix", "cix"],
            how="left",
            maintain_order="left",
        )
    )
    corder, tix = m.get_column("_corder"), m.get_column("tix")
    category_col = taxa.get_column("category").gather(tix)
    out_members = pl.DataFrame(
        [
            clusters.get_column("cluster_id").gather(corder),
            taxa.get_column("taxon_id").gather(tix),
            taxa.get_column("scientific_name").gather(tix),
            category_col,
            m.get_column("code"),
            m.get_column("impact"),
            _reasons(category_col, m.get_column("what"), clusters.get_column("_phrase").gather(corder))
            if reasons
            else pl.repeat(None, m.height, dtype=pl.Utf8, eager=True).alias("reason"),
        ]
    ).cast(MEMBER_COLUMNS)
    return Clusters(out_clusters, out_members, params)


def _reasons(category: pl.Series, what: pl.Series, phrase: pl.Series) -> pl.Series:
    return (
        pl.DataFrame([category, what, phrase])
        .select(
            (
                pl.col("category").fill_null("?")
                + pl.lit("; ")
                + pl.col("what")
                + pl.lit("; ")
                + pl.col("_phrase")
            ).alias("reason")
        )
        .to_series()
    )


def _recorded_names(table: pl.DataFrame, level: int | None) -> pl.DataFrame:
    """ccode -> a recorded label for codes outside the scheme files (``_rname``)."""
    return (
        table.filter(pl.col("code").is_not_null() & pl.col("name").is_not_null())
        .select(pl.col("code").str.strip_chars(), "name")
        .filter(roll_up(pl.col("code"), level) == pl.col("code"))
        .unique("code", keep="first")
        .select(pl.col("code").alias("ccode"), pl.col("name").alias("_rname"))
    )


# -- public functions -------------------------------------------------------------------------------
def threat_clusters(
    aset: AssessmentSet,
    *,
    by: Iterable[str] | str = DEFAULT_BY,
    min_impact: str | None = "Medium",
    threat_level: int | None = 2,
    min_size: int = 2,
    categories: Iterable[str] | str | None = THREATENED,
    site_links: pl.DataFrame | None = None,
    scope: str | None = None,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
    habitat_level: int | None = 2,
) -> Clusters:
    """Species that share a threat in the same place: one cluster per (threat code x place) with
    at least ``min_size`` species.

    * ``by``: place kinds to cluster on (country, subnational, lme, fao, site, country_habitat);
      each kind gives its own clusters. ``site`` needs ``site_links`` (taxon_id, site_id, site_name).
    * ``min_impact``: "Low", "Medium" (default: the Red List's "major threats", Medium or High
      impact), "High", or None for every coded threat including Unknown, Past and
      No/Negligible impact. Impact is the IUCN SIS timing + scope + severity score.
    * ``threat_level``: threat codes are rolled up to this level (default 2: 7.2.3 -> 7.2);
      None keeps the codes as recorded. Codes recorded above the level stay as they are.
    * ``categories``: Red List categories of the species clustered (default CR, EN, VU; add
      "NT", "DD" to look wider; None = every category).
    * ``scope``: assessment scope (None = Global); only each taxon's latest assessment counts.
    * ``presence``, ``origin``, ``habitat_level``: which occurrence records count as places
      (see :func:`~assess2plan.planning.places.species_places`).

    Each member's reason reads "EN; threat 7.2.3 Medium Impact (Ongoing / Majority (50-90%) /
    Slow, Significant Declines); occurs in Indonesia (ID)".
    """
    by = check_kinds(by, "by")
    min_size = _check_size(min_size)
    level = check_level(threat_level, "threat_level")
    latest = latest_assessments(aset, scope=scope, categories=_categories(categories))
    params = {
        "by": by,
        "min_impact": min_impact,
        "threat_level": level,
        "min_size": min_size,
        "categories": _categories(categories),
        "scope": scope,
    }
    return clusters_of_threats(
        aset,
        latest,
        by,
        min_impact=min_impact,
        threat_level=level,
        min_size=min_size,
        site_links=site_links,
        presence=presence,
        origin=origin,
        habitat_level=habitat_level,
        params=params,
    )


def clusters_of_threats(
    aset: AssessmentSet,
    latest: pl.DataFrame,
    by: Sequence[str],
    *,
    min_impact: str | None,
    threat_level: int | None,
    min_size: int,
    site_links: pl.DataFrame | None = None,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
    habitat_level: int | None = 2,
    codes: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    params: dict | None = None,
    reasons: bool = True,
) -> Clusters:
    """:func:`threat_clusters` over the taxa of ``latest`` (validated arguments), optionally only
    for the threat codes under ``codes`` and not under ``exclude`` (used by triage)."""
    rows = threat_rows(
        aset, latest, min_impact=min_impact, threat_level=threat_level, codes=codes, exclude=exclude
    )
    members = _member_codes(rows, "threat", with_impact=True)
    places = places_of(
        aset, latest, by, site_links=site_links, presence=presence, origin=origin, habitat_level=habitat_level
    )
    names = _recorded_names(aset.threats, threat_level)
    return _build(
        "threat", members, places, latest, _names("threats"), names, min_size, params or {}, reasons
    )


def action_clusters(
    aset: AssessmentSet,
    *,
    by: Iterable[str] | str = DEFAULT_BY,
    action_level: int | None = 2,
    min_size: int = 2,
    categories: Iterable[str] | str | None = THREATENED,
    site_links: pl.DataFrame | None = None,
    scope: str | None = None,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
    habitat_level: int | None = 2,
) -> Clusters:
    """Species that need the same conservation action in the same place: one cluster per
    (action needed code x place) with at least ``min_size`` species.

    The actions are the assessors' "conservation actions needed" (scheme 2.0), rolled up to
    ``action_level`` (default 2: 3.4.1 -> 3.4; None = as recorded). The other arguments are those
    of :func:`threat_clusters`. Members' ``impact`` is null. Reason: "VU; action needed 2.1
    Site/area management; occurs in Indonesia (ID)".
    """
    by = check_kinds(by, "by")
    min_size = _check_size(min_size)
    level = check_level(action_level, "action_level")
    latest = latest_assessments(aset, scope=scope, categories=_categories(categories))
    names = _names("conservation_actions")
    a = (
        aset.actions_needed.filter(pl.col("code").is_not_null())
        .select("assessment_id", pl.col("code").str.strip_chars(), "name")
        .join(latest.select("assessment_id", "taxon_id"), on="assessment_id", how="inner")
        .unique(["taxon_id", "code"], keep="first")
    )
    label = pl.col("code").replace_strict(names, default=None, return_dtype=pl.Utf8).fill_null(pl.col("name"))
    rows = a.select(
        "taxon_id",
        "code",
        roll_up(pl.col("code"), level).alias("ccode"),
        pl.concat_str([pl.col("code"), label], separator=" ", ignore_nulls=True).alias("detail"),
    )
    members = _member_codes(rows, "action needed", with_impact=False)
    members = members.with_columns(pl.col("what").str.replace(r"^action neededs ", "actions needed "))
    places = places_of(
        aset, latest, by, site_links=site_links, presence=presence, origin=origin, habitat_level=habitat_level
    )
    params = {
        "by": by,
        "action_level": level,
        "min_size": min_size,
        "categories": _categories(categories),
        "scope": scope,
    }
    return _build(
        "action",
        members,
        places,
        latest,
        names,
        _recorded_names(aset.actions_needed, level),
        min_size,
        params,
    )


def _find_taxon(latest: pl.DataFrame, focal: str) -> pl.DataFrame:
    key = str(focal).strip()
    hit = latest.filter(pl.col("taxon_id") == key)
    if hit.height == 0:
        hit = latest.filter(pl.col("scientific_name").str.to_lowercase() == key.lower())
    if hit.height == 0:
        raise A2PError(f"no taxon {focal!r} (taxon id or scientific name) with an assessment in this scope")
    if hit.height > 1:
        ids = ", ".join(hit["taxon_id"].to_list())
        raise A2PError(f"{focal!r} names several taxa ({ids}); give the taxon id")
    return hit


def shared_threats(
    aset: AssessmentSet,
    focal_taxon: str,
    *,
    same_place: bool = True,
    by: Iterable[str] | str = ("country", "lme", "site"),
    min_impact: str | None = "Medium",
    threat_level: int | None = 2,
    categories: Iterable[str] | str | None = THREATENED,
    site_links: pl.DataFrame | None = None,
    scope: str | None = None,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
) -> pl.DataFrame:
    """Which species share the threats of a focal species (a taxon id or scientific name)?

    Both the focal species' threats and the others' are taken from their latest assessments,
    filtered by ``min_impact`` and rolled up to ``threat_level`` as in :func:`threat_clusters`.
    With ``same_place`` (default) only species that also share a place of the kinds ``by``
    (default country, LME, site) are listed; without it, shared places are still reported.
    ``categories`` restricts the other species (default CR, EN, VU; None = every category); the
    focal species may have any category.

    Returns taxon_id, scientific_name, category, shared_threats ("|"-joined codes),
    shared_places ("|"-joined "country:ID" style), n_shared (number of shared threats), reason --
    most shared threats first, then by category (CR first) and name. The focal species is not listed.
    """
    by = check_kinds(by, "by")
    level = check_level(threat_level, "threat_level")
    everyone = latest_assessments(aset, scope=scope)
    focal = _find_taxon(everyone, focal_taxon)
    fid = focal["taxon_id"][0]
    fname = focal["scientific_name"][0]
    cats = _categories(categories)
    others = everyone.filter(pl.col("taxon_id") != fid)
    if cats is not None:
        others = others.filter(pl.col("category").is_in(cats))
    both = pl.concat([focal, others])
    rows = threat_rows(aset, both, min_impact=min_impact, threat_level=level)
    fcodes = rows.filter(pl.col("taxon_id") == fid).select("ccode").unique()
    names = _names("threats")
    shared = (
        rows.filter(pl.col("taxon_id") != fid)
        .join(fcodes, on="ccode", how="semi")
        .select("taxon_id", "ccode")
        .unique()
        .sort(["taxon_id", code_key(pl.col("ccode"))])
        .with_columns(
            pl.concat_str(
                [pl.col("ccode"), pl.col("ccode").replace_strict(names, default=None, return_dtype=pl.Utf8)],
                separator=" ",
                ignore_nulls=True,
            ).alias("label")
        )
        .group_by("taxon_id", maintain_order=True)
        .agg(
            pl.col("ccode").str.join("|").alias("shared_threats"),
            pl.col("label").str.join(", ").alias("_tlabel"),
            pl.len().cast(pl.Int32).alias("n_shared"),
        )
    )
    places = places_of(aset, both, by, site_links=site_links, presence=presence, origin=origin)
    fplaces = places.filter(pl.col("taxon_id") == fid).select("place_kind", "place")
    order = {k: i for i, k in enumerate(PLACE_KINDS)}
    splaces = (
        places.filter(pl.col("taxon_id") != fid)
        .join(fplaces, on=["place_kind", "place"], how="semi")
        .sort(
            [
                "taxon_id",
                pl.col("place_kind").replace_strict(order, return_dtype=pl.Int32),
                code_key(pl.col("place")),
            ]
        )
        .with_columns(
            pl.concat_str([pl.col("place_name"), pl.lit(" ("), pl.col("place"), pl.lit(")")]).alias("_pl")
        )
        .group_by("taxon_id", maintain_order=True)
        .agg(
            (pl.col("place_kind") + ":" + pl.col("place")).str.join("|").alias("shared_places"),
            pl.col("_pl").head(5).str.join(", ").alias("_plabel"),
            pl.len().alias("_np"),
        )
    )
    out = shared.join(splaces, on="taxon_id", how="inner" if same_place else "left").join(
        others.select("taxon_id", "scientific_name", "category"), on="taxon_id", how="left"
    )
    more = pl.when(pl.col("_np") > 5).then(pl.format(" and {} more", pl.col("_np") - 5)).otherwise(pl.lit(""))
    where = (
        pl.when(pl.col("_plabel").is_not_null())
        .then(pl.lit("; both occur in ") + pl.col("_plabel") + more)
        .otherwise(pl.lit("; no shared place"))
    )
    noun = pl.when(pl.col("n_shared") > 1).then(pl.lit("threats ")).otherwise(pl.lit("threat "))
    reason = (
        pl.col("category").fill_null("?")
        + pl.lit("; shares ")
        + noun
        + pl.col("_tlabel")
        + pl.lit(f" with {fname}")
        + where
    )
    return (
        out.with_columns(reason.alias("reason"))
        .sort(
            [pl.col("n_shared"), category_rank(pl.col("category")), "scientific_name", "taxon_id"],
            descending=[True, False, False, False],
            nulls_last=True,
        )
        .select(list(SHARED_COLUMNS))
        .cast(SHARED_COLUMNS)
    )
