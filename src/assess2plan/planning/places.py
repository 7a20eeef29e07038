"""Where each species occurs, as planning places: countries, subnational units, large marine
ecosystems (LMEs), FAO areas, sites and country x habitat pairs.

Multi-species planning groups species "that inhabit the same areas, and/or rely on the same,
specific habitats and/or are impacted by common threats" (CPSG A2P, domain reference §1a). This
module turns the distribution and habitat sections of each taxon's **latest assessment in a
scope** into one long frame of places that clustering (:mod:`assess2plan.planning.clusters`) and
triage (:mod:`assess2plan.planning.triage`) join on::

    from assess2plan.planning import species_places
    species_places(aset, kinds=("country", "country_habitat"))
    # taxon_id | place_kind      | place   | place_name
    # 162627   | country         | AU      | Australia
    # 162627   | country_habitat | AU|9.4  | Australia / 9.4 Marine Neritic - Subtidal Sandy

Which occurrence records count as "the species is there" is a choice: by default only records
whose presence is *Extant* or *Possibly Extant* and whose origin is *Native* or *Reintroduced*
(a place where the species is extinct, introduced or vagrant is not where its wild population
needs planning). Records without a presence or origin value are kept (older downloads leave
them blank). Both lists can be changed (``presence=``, ``origin=``; ``None`` keeps every record).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import polars as pl

from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet
from assess2plan.schemes import scheme

__all__ = [
    "DEFAULT_ORIGIN",
    "DEFAULT_PRESENCE",
    "OCCURRENCE_KINDS",
    "PLACE_COLUMNS",
    "PLACE_KINDS",
    "latest_assessments",
    "roll_up",
    "species_places",
]

#: Every kind of place, in display order.
PLACE_KINDS = ("country", "subnational", "lme", "fao", "site", "country_habitat")
#: Place kinds read from the ``occurrence`` table (its ``kind`` column).
OCCURRENCE_KINDS = ("country", "subnational", "lme", "fao")
#: Presence values that count as "occurs there" by default (compared without case).
DEFAULT_PRESENCE = ("Extant", "Possibly Extant")
#: Origin values that count by default (compared without case).
DEFAULT_ORIGIN = ("Native", "Reintroduced")

#: Columns of :func:`species_places`.
PLACE_COLUMNS = {"taxon_id": pl.Utf8, "place_kind": pl.Utf8, "place": pl.Utf8, "place_name": pl.Utf8}

_LATEST_COLUMNS = (
    "taxon_id",
    "assessment_id",
    "scientific_name",
    "category",
    "possibly_extinct",
    "possibly_extinct_in_the_wild",
)


def latest_assessments(
    aset: AssessmentSet, *, scope: str | None = None, categories: Iterable[str] | None = None
) -> pl.DataFrame:
    """The latest assessment of each taxon in ``scope`` (the same choice as the planning sheet:
    ``AssessmentSet.latest``), optionally only those whose category is in ``categories``.

    ``scope`` None means ``"Global"``; ``""`` takes the latest assessment in any scope.
    Columns: taxon_id, assessment_id, scientific_name, category, possibly_extinct,
    possibly_extinct_in_the_wild.
    """
    latest = aset.latest("Global" if scope is None else scope).select(_LATEST_COLUMNS)
    if categories is not None:
        latest = latest.filter(pl.col("category").is_in(list(categories)))
    return latest


def roll_up(expr: pl.Expr, level: int | None) -> pl.Expr:
    """A dotted code cut to ``level`` parts ("7.2.10" at level 2 -> "7.2"); codes already at or
    above that level stay as they are; ``level`` None keeps the code as recorded."""
    if level is None:
        return expr
    return expr.str.extract(rf"^([^.]*(?:\.[^.]*){{0,{level - 1}}})", 1)


def check_level(level: object, what: str) -> int | None:
    """Validate a roll-up level (None or a whole number from 1 to 4)."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
        raise A2PError(
            f"{what} must be a whole number from 1 to 4 (or None for codes as recorded), not {level!r}"
        )
    return level


def check_kinds(kinds: Iterable[str] | str, what: str = "kinds") -> tuple[str, ...]:
    """Validate place kinds; a single string is one kind."""
    if isinstance(kinds, str):
        kinds = (kinds,)
    out = tuple(kinds)
    bad = [k for k in out if k not in PLACE_KINDS]
    if bad:
        raise A2PError(
            f"unknown place kind(s) {', '.join(map(repr, bad))} in {what}; known: {', '.join(PLACE_KINDS)}"
        )
    return out


def _allowed(col: str, values: Sequence[str] | None) -> pl.Expr:
    if values is None:
        return pl.lit(True)
    low = [v.lower() for v in values]
    return pl.col(col).is_null() | pl.col(col).str.strip_chars().str.to_lowercase().is_in(low)


@cache
def _habitat_names() -> dict[str, str]:
    h = scheme("habitats")
    return dict(zip(h["code"].to_list(), h["name"].to_list(), strict=True))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=PLACE_COLUMNS)


def site_link_places(site_links: pl.DataFrame | None, taxa: pl.DataFrame) -> pl.DataFrame:
    """Sites of ``site_links`` (taxon_id, site_id, site_name) for the taxa in ``taxa``."""
    if site_links is None or site_links.height == 0:
        return _empty()
    missing = [c for c in ("taxon_id", "site_id") if c not in site_links.columns]
    if missing:
        raise A2PError(f"site links need the columns taxon_id and site_id; missing: {', '.join(missing)}")
    name = pl.col("site_name") if "site_name" in site_links.columns else pl.lit(None, dtype=pl.Utf8)
    links = site_links.select(
        pl.col("taxon_id").cast(pl.Utf8),
        pl.lit("site").alias("place_kind"),
        pl.col("site_id").cast(pl.Utf8).alias("place"),
        name.cast(pl.Utf8).alias("place_name"),
    ).filter(pl.col("place").is_not_null())
    links = links.with_columns(pl.col("place_name").fill_null(pl.col("place")))
    return links.join(taxa.select("taxon_id"), on="taxon_id", how="semi").unique(
        ["taxon_id", "place"], keep="first"
    )


def places_of(
    aset: AssessmentSet,
    latest: pl.DataFrame,
    kinds: Sequence[str],
    *,
    site_links: pl.DataFrame | None = None,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
    habitat_level: int | None = 2,
) -> pl.DataFrame:
    """:func:`species_places` for the assessments in ``latest`` (one row per taxon, with
    ``taxon_id`` and ``assessment_id``), unsorted: the building block of the other planning
    functions."""
    ids = latest.select("assessment_id", "taxon_id")
    frames: list[pl.DataFrame] = []
    occ_kinds = [k for k in OCCURRENCE_KINDS if k in kinds or (k == "country" and "country_habitat" in kinds)]
    occ = _empty()
    if occ_kinds:
        occ = (
            aset.occurrence.filter(
                pl.col("kind").is_in(occ_kinds)
                & pl.col("code").is_not_null()
                & _allowed("presence", presence)
            )
            .filter(_allowed("origin", origin))
            .select("assessment_id", "kind", "code", "name")
            .join(ids, on="assessment_id", how="inner")
            .select(
                "taxon_id",
                pl.col("kind").alias("place_kind"),
                pl.col("code").str.strip_chars().str.to_uppercase().alias("place"),
                pl.col("name").alias("place_name"),
            )
            .with_columns(pl.col("place_name").fill_null(pl.col("place")))
            .unique(["taxon_id", "place_kind", "place"], keep="first", maintain_order=True)
        )
        frames.append(occ.filter(pl.col("place_kind").is_in(list(kinds))))
    if "site" in kinds:
        frames.append(site_link_places(site_links, latest))
    if "country_habitat" in kinds:
        names = _habitat_names()
        hab = (
            aset.habitats.filter(pl.col("code").is_not_null())
            .join(ids, on="assessment_id", how="inner")
            .select(
                "taxon_id",
                roll_up(pl.col("code").str.strip_chars(), habitat_level).alias("hcode"),
                "code",
                "name",
            )
        )
        hab = (
            hab.with_columns(
                pl.col("hcode")
                .replace_strict(names, default=None, return_dtype=pl.Utf8)
                .fill_null(pl.when(pl.col("hcode") == pl.col("code")).then(pl.col("name")))
                .alias("hname")
            )
            .sort("hname", nulls_last=True)
            .unique(["taxon_id", "hcode"], keep="first")
        )
        countries = occ.filter(pl.col("place_kind") == "country")
        ch = countries.join(hab, on="taxon_id", how="inner").select(
            "taxon_id",
            pl.lit("country_habitat").alias("place_kind"),
            (pl.col("place") + "|" + pl.col("hcode")).alias("place"),
            pl.concat_str(
                [
                    pl.col("place_name"),
                    pl.lit(" / "),
                    pl.col("hcode"),
                    pl.lit(" "),
                    pl.col("hname").fill_null(""),
                ]
            )
            .str.strip_chars()
            .alias("place_name"),
        )
        frames.append(ch)
    if not frames:
        return _empty()
    return pl.concat([f.select(list(PLACE_COLUMNS)).cast(PLACE_COLUMNS) for f in frames], how="vertical")


def species_places(
    aset: AssessmentSet,
    *,
    site_links: pl.DataFrame | None = None,
    scope: str | None = None,
    kinds: Iterable[str] | str = PLACE_KINDS,
    presence: Sequence[str] | None = DEFAULT_PRESENCE,
    origin: Sequence[str] | None = DEFAULT_ORIGIN,
    habitat_level: int | None = 2,
    categories: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The places of each taxon's latest assessment in ``scope`` (None = Global).

    Returns ``taxon_id, place_kind, place, place_name``, one row per taxon and place:

    * ``country``, ``subnational``, ``lme``, ``fao``: the occurrence records (ISO alpha-2 country
      codes, SIS subnational codes, LME and FAO area codes), kept when their presence is one of
      ``presence`` and their origin one of ``origin`` (defaults: Extant / Possibly Extant;
      Native / Reintroduced; blank values are kept; ``None`` keeps every record);
    * ``site``: the sites of ``site_links`` (columns taxon_id, site_id, site_name), linked by the
      store from imports, points, ranges or by hand;
    * ``country_habitat``: every country (filtered as above) x every habitat of the same
      assessment, the habitat code rolled up to ``habitat_level`` (default 2, "5.1.1" -> "5.1";
      None keeps the recorded code), written ``"ID|5.1"``.

    ``categories`` restricts the taxa to those whose latest category is in it (default: all).
    """
    kinds = check_kinds(kinds)
    habitat_level = check_level(habitat_level, "habitat_level")
    latest = latest_assessments(aset, scope=scope, categories=categories)
    out = places_of(
        aset,
        latest,
        kinds,
        site_links=site_links,
        presence=presence,
        origin=origin,
        habitat_level=habitat_level,
    )
    order = {k: i for i, k in enumerate(PLACE_KINDS)}
    return out.sort(["taxon_id", pl.col("place_kind").replace_strict(order, return_dtype=pl.Int32), "place"])
