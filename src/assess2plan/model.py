"""The canonical tables of a Red List working set (``AssessmentSet``) and their schema.

Every reader (website download, SIS Connect, API v4) produces an ``AssessmentSet``; every
consumer (store, checks, planning, exports) reads one. Rules that hold for every table:

* identifiers (``assessment_id``, ``taxon_id``) and classification codes are **text**
  ("5.10" never becomes 5.1; codes always use dots, never the API's underscores);
* multi-valued fields are ``|``-joined text ("Terrestrial|Marine", stress codes "1.2|2.1");
* narrative text keeps its HTML as published (it is sanitised only when shown);
* missing values are null, never "" (readers turn empty cells into null).

Child tables are keyed by ``assessment_id`` (and carry ``taxon_id`` for convenience);
``common_names`` and ``synonyms`` belong to the taxon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import polars as pl

S = pl.Utf8
I = pl.Int32  # noqa: E741
B = pl.Boolean

#: Column name -> dtype, per canonical table, in display order.
SCHEMA: dict[str, dict[str, Any]] = {
    "taxa": {
        "taxon_id": S,
        "scientific_name": S,
        "kingdom": S,
        "phylum": S,
        "class_name": S,
        "order_name": S,
        "family": S,
        "genus": S,
        "species": S,
        "infra_type": S,
        "infra_name": S,
        "infra_authority": S,
        "subpopulation": S,
        "authority": S,
        "taxonomic_notes": S,
    },
    "assessments": {
        "assessment_id": S,
        "taxon_id": S,
        "scientific_name": S,
        "category": S,  # code: CR, EN, VU, NT, LC, DD, EX, EW, RE, NE, LR/cd, LR/nt, LR/lc, ...
        "category_label": S,  # "Critically Endangered", "Lower Risk/near threatened", ...
        "criteria": S,  # "B1ab(iii)+2ab(iii)"; null when none
        "criteria_version": S,  # "3.1", "2.3", ...
        "year_published": I,
        "assessment_date": pl.Date,
        "scopes": S,  # "|"-joined labels: "Global", "Europe|Mediterranean"
        "language": S,
        "possibly_extinct": B,
        "possibly_extinct_in_the_wild": B,
        "population_trend": S,  # Increasing, Decreasing, Stable, Unknown
        "year_last_seen": S,
        "systems": S,  # "|"-joined: Terrestrial|Freshwater (=Inland waters)|Marine
        "realms": S,  # "|"-joined biogeographic realms
        "rationale": S,
        "range_text": S,
        "population_text": S,
        "habitat_text": S,
        "threats_text": S,
        "use_trade_text": S,
        "conservation_actions_text": S,
        "taxonomic_notes": S,
        "url": S,
        "citation": S,
    },
    "threats": {
        "assessment_id": S,
        "taxon_id": S,
        "code": S,  # threats scheme 3.3, "5.4.4"
        "name": S,
        "timing": S,  # Ongoing, Future, "Past, Unlikely to Return", "Past, Likely to Return", Unknown
        "scope": S,  # "Whole (>90%)", "Majority (50-90%)", "Minority (<50%)", Unknown
        "severity": S,
        "impact_score": I,  # SIS timing+scope+severity total; null when unknown or past
        "impact": S,  # "High Impact", "Medium Impact", "Low Impact", "No/Negligible Impact", "Past Impact", "Unknown"
        "stress_codes": S,  # "|"-joined: "1.2|2.1"
        "stress_names": S,
        "ancestry": S,
        "ias": S,
        "virus": S,
        "international_trade": S,
        "text": S,
    },
    "actions_needed": {  # conservation actions needed (conservation_needed.csv)
        "assessment_id": S,
        "taxon_id": S,
        "code": S,  # conservation actions scheme 2.0, "3.4.1"
        "name": S,
        "note": S,
    },
    "actions_in_place": {  # all_other_fields InPlace* / API supplementary_info.conservation_actions_in_place
        "assessment_id": S,
        "taxon_id": S,
        "field": S,  # SIS field name: "InPlaceResearchRecoveryPlan"
        "group": S,  # "In-place research and monitoring"
        "name": S,  # "Action Recovery Plan"
        "value": S,  # Yes / No / Unknown / Not Applicable / free text for percentages
        "note": S,
    },
    "research_needed": {
        "assessment_id": S,
        "taxon_id": S,
        "code": S,
        "name": S,
        "note": S,
    },
    "habitats": {
        "assessment_id": S,
        "taxon_id": S,
        "code": S,  # habitats scheme 3.1, "5.10"
        "name": S,
        "major_importance": S,
        "season": S,
        "suitability": S,
    },
    "occurrence": {  # countries, subnational units, large marine ecosystems, FAO areas
        "assessment_id": S,
        "taxon_id": S,
        "kind": S,  # country | subnational | lme | fao
        "code": S,  # ISO alpha-2 for countries; SIS codes ("YAK-OO") for subnational units
        "name": S,
        "presence": S,
        "origin": S,
        "seasonality": S,  # "|"-joined
        "formerly_bred": S,
    },
    "use_trade": {
        "assessment_id": S,
        "taxon_id": S,
        "code": S,
        "name": S,
        "international": S,
        "national": S,
        "other": S,
        "subsistence": S,
    },
    "credits": {
        "assessment_id": S,
        "taxon_id": S,
        "credit_type": S,  # Assessor, Reviewer, Contributor, Facilitator, Compiler
        "text": S,  # "Smith, A. & Jones, B." as published
        "names": S,  # "|"-joined individual names where known
        "order": I,
    },
    "common_names": {
        "taxon_id": S,
        "name": S,
        "language": S,
        "main": B,
    },
    "synonyms": {
        "taxon_id": S,
        "name": S,
        "genus": S,
        "species": S,
        "species_author": S,
        "infra_type": S,
        "infra_name": S,
        "infra_author": S,
    },
    "other_fields": {  # every other SIS field, long form (all_other_fields.csv / allfields.csv)
        "assessment_id": S,
        "taxon_id": S,
        "field": S,  # "LocationsNumber.range"
        "value": S,
    },
}

#: Tables whose rows belong to an assessment (have ``assessment_id``).
ASSESSMENT_CHILDREN = (
    "threats",
    "actions_needed",
    "actions_in_place",
    "research_needed",
    "habitats",
    "occurrence",
    "use_trade",
    "credits",
    "other_fields",
)
TAXON_CHILDREN = ("common_names", "synonyms")
TABLES = tuple(SCHEMA)

THREATENED = ("CR", "EN", "VU")


def empty(table: str) -> pl.DataFrame:
    """An empty frame with the canonical schema of ``table``."""
    return pl.DataFrame(schema=SCHEMA[table])


def conform(table: str, df: pl.DataFrame, *, rechunk: bool = True) -> pl.DataFrame:
    """Return ``df`` with exactly the canonical columns of ``table``, in order, cast to their dtypes.

    Missing columns are added as nulls; extra columns are dropped; empty strings become null
    (readers turn blank, whitespace-only cells into null themselves).

    A column that already has its dtype and holds no empty string is taken as it is, without a
    copy: at full Red List scale a copy of every text column takes gigabytes. When the columns
    are chunked differently (a frame read from a CSV comes in chunks, a joined column in one),
    the columns in several chunks are made one chunk each, one at a time (``select`` would copy
    every column at once), unless ``rechunk`` is false: then they are left as they are.
    """
    schema = SCHEMA[table]
    have = df.schema
    if not any(name in have for name in schema):
        return df.select([pl.lit(None, dtype=dtype).alias(name) for name, dtype in schema.items()])
    cols: dict[str, pl.Series] = {}
    for name, dtype in schema.items():
        if name not in have:
            continue
        col = df.get_column(name)
        if have[name] == pl.Utf8 and (col.str.len_bytes() == 0).any():
            col = col.to_frame().select(
                pl.when(pl.col(name).str.len_bytes() == 0).then(None).otherwise(pl.col(name)).alias(name)
            ).to_series()
        if have[name] != dtype:
            col = col.cast(dtype, strict=False)
        if table == "occurrence" and name == "code" and col.str.contains("[a-z]").any():
            col = col.str.to_uppercase()  # ISO and SIS place codes are upper case ("id" -> "ID")
        cols[name] = col
    layouts = {tuple(col.chunk_lengths()) for col in cols.values()}
    lengths = list(layouts.pop()) if len(layouts) == 1 else [df.height]
    if len(layouts) > 1 and rechunk:
        for name, col in cols.items():
            if col.n_chunks() > 1:
                cols[name] = col.rechunk()
    out = []
    for name, dtype in schema.items():
        if name in cols:
            out.append(cols[name])
            continue
        nulls = pl.repeat(None, df.height, dtype=dtype, eager=True).alias(name)
        if len(lengths) > 1:  # chunked like the other columns (slices: no copy)
            offsets = accumulate(lengths[:-1], initial=0)
            slices = [nulls.slice(o, n) for o, n in zip(offsets, lengths, strict=True)]
            nulls = pl.concat(slices, rechunk=False)
        out.append(nulls)
    # a frame of the series as they are (``select`` would copy them, as said)
    return pl.DataFrame(out)


@dataclass
class Issue:
    """A warning about the input that did not stop the import (e.g. a code outside the schemes)."""

    file: str
    message: str
    row: int | None = None  # 1-based data row (the header is row 0); None for whole-file issues
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        if self.value is not None:
            where += f", value {self.value!r}"
        return f"{where}: {self.message}"


@dataclass
class Source:
    """Provenance of one file that went into a set."""

    path: str  # as given by the user (zip member paths as "archive.zip!/member.csv")
    format: str  # "redlist-download" | "sis-connect" | "api-v4"
    sha256: str
    rows: int


@dataclass
class AssessmentSet:
    """A Red List working set as canonical polars tables.

    Construct through the readers (``assess2plan.read_redlist``) or ``AssessmentSet.from_frames``.
    """

    tables: dict[str, pl.DataFrame] = field(default_factory=lambda: {t: empty(t) for t in TABLES})
    sources: list[Source] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        frames: dict[str, pl.DataFrame],
        sources: list[Source] | None = None,
        issues: list[Issue] | None = None,
    ) -> AssessmentSet:
        tables = {t: conform(t, frames[t]) if t in frames else empty(t) for t in TABLES}
        return cls(tables=tables, sources=list(sources or []), issues=list(issues or []))

    # -- access -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> pl.DataFrame:
        tables = self.__dict__.get("tables")
        if tables is not None and name in tables:
            return tables[name]
        raise AttributeError(name)

    def counts(self) -> dict[str, int]:
        """Number of rows per table, plus ``species`` (distinct taxa with an assessment)."""
        out = {t: self.tables[t].height for t in TABLES}
        out["species"] = self.tables["assessments"]["taxon_id"].n_unique()
        return out

    def latest(self, scope: str = "Global") -> pl.DataFrame:
        """One assessment per taxon: the most recent one whose scopes include ``scope``."""
        a = self.tables["assessments"]
        if scope:
            a = a.filter(pl.col("scopes").fill_null("Global").str.split("|").list.contains(scope))
        return (
            a.sort(["year_published", "assessment_date", "assessment_id"], descending=True, nulls_last=True)
            .unique(subset="taxon_id", keep="first", maintain_order=True)
            .sort("taxon_id")
        )

    # -- combination ------------------------------------------------------------------------
    @staticmethod
    def combine(sets: list[AssessmentSet]) -> AssessmentSet:
        """Merge several sets (split download parts, overlapping downloads) without duplicates.

        An assessment present in several sets is taken, with all its child rows, from the first
        set that has it; a taxon's names and synonyms likewise from the first set that has the taxon.
        """
        if not sets:
            return AssessmentSet()
        if len(sets) == 1:
            return sets[0]
        frames: dict[str, list[pl.DataFrame]] = {t: [] for t in TABLES}
        seen_a: pl.Series = pl.Series("assessment_id", [], dtype=S)
        seen_t: pl.Series = pl.Series("taxon_id", [], dtype=S)
        for s in sets:
            t = s.tables
            new_a = t["assessments"].filter(~pl.col("assessment_id").is_in(seen_a.implode()))
            frames["assessments"].append(new_a)
            for child in ASSESSMENT_CHILDREN:
                frames[child].append(t[child].filter(pl.col("assessment_id").is_in(new_a["assessment_id"].implode())))
            new_t = t["taxa"].filter(~pl.col("taxon_id").is_in(seen_t.implode()))
            frames["taxa"].append(new_t)
            for child in TAXON_CHILDREN:
                frames[child].append(t[child].filter(pl.col("taxon_id").is_in(new_t["taxon_id"].implode())))
            seen_a = pl.concat([seen_a, new_a["assessment_id"]])
            seen_t = pl.concat([seen_t, new_t["taxon_id"]])
        tables = {name: pl.concat(parts, how="vertical") for name, parts in frames.items()}
        return AssessmentSet(
            tables=tables,
            sources=[src for s in sets for src in s.sources],
            issues=[i for s in sets for i in s.issues],
        )


# -- ex situ inputs (not part of an AssessmentSet: they come from zoos, botanic gardens, CITES) ------
#: Ex situ holdings, one row per taxon x institution x date (a Species360/ZIMS-style holdings
#: table). ``name`` is the name as written in the file; ``taxon_id`` / ``matched_by`` are filled
#: when the name is matched to a taxon of the working set ("name" | "synonym"), else null.
#: ``row`` is the 1-based data row in the file. Counts are null when the file leaves them blank.
HOLDINGS_SCHEMA: dict[str, Any] = {
    "name": S,
    "taxon_id": S,
    "matched_by": S,
    "institution": S,
    "country": S,  # ISO alpha-2 when the file gives one (upper case), else the name as written
    "males": I,
    "females": I,
    "unknown": I,
    "total": I,  # males + females + unknown (or the file's total when no split is given)
    "date": pl.Date,  # the date the holding was recorded
    "source": S,  # "Species360 ZIMS 2026-10", "studbook", "survey" ...
    "row": I,
}

#: CITES listings, one row per taxon of a CITES Species+ checklist export (any rank: species,
#: subspecies, genus, family, order listings). ``listing`` is Species+'s CurrentListing
#: ("I", "II", "III", "I/II", "NC" ...); ``synonyms`` and ``countries`` are "|"-joined (synonyms
#: without their authors; countries as ISO alpha-2 codes).
CITES_SCHEMA: dict[str, Any] = {
    "cites_taxon_id": S,
    "name": S,
    "rank": S,  # SPECIES | SUBSPECIES | GENUS | FAMILY | ORDER | ...
    "kingdom": S,
    "class_name": S,
    "order_name": S,
    "family": S,
    "genus": S,
    "listing": S,
    "annotation": S,  # AnnotationEnglish, as published (may hold <i> tags)
    "synonyms": S,
    "common_names": S,  # English names, "|"-joined
    "countries": S,
    "row": I,
}

#: A CITES listing matched to a taxon of the working set (see ``exsitu.match``): one row per taxon
#: that a listing covers, directly ("name", "synonym") or through a higher-taxon listing
#: ("genus", "family", "order"); the most specific listing wins.
CITES_MATCH_SCHEMA: dict[str, Any] = {
    "taxon_id": S,
    "scientific_name": S,
    "listing": S,
    "annotation": S,
    "cites_name": S,
    "cites_rank": S,
    "matched_by": S,  # name | synonym | genus | family | order
}
