"""The planning sheet: one row per taxon (its latest assessment in a scope), filters, search, facets.

This replaces the spreadsheet template facilitators fill by hand at multi-species workshops::

    from assess2plan import read_redlist
    from assess2plan.sheet import planning_sheet, parse_query, facet_counts

    s = read_redlist("download.zip")
    q = parse_query(["category=CR,EN", "country=ID", "threat=7.2", "action_needed!=2"], text="bleaching")
    sheet = planning_sheet(s, q)           # polars frame, list columns for the coded fields
    facet_counts(sheet, ["category", "threat"])

The same query runs in the store (``assess2plan.store.query_sheet``) with SQLite FTS5 /
PostgreSQL full-text search; tests check both give the same taxa.

Query language (one condition per item, conditions combine with AND, values within one with OR):

``field=v1,v2``
    the taxon has one of the values. Coded fields (threat, action_needed, research, habitat,
    major_threat) match sub-codes too: ``threat=7.2`` matches 7.2.1 and 7.2.10.
``field!=v1,v2``
    the taxon has none of them ("with no action in 2.x": ``action_needed!=2``).
``field=none`` / ``field!=none``
    the field is empty / not empty (``action_needed=none``: no action needed recorded).
``year<2015``, ``year>=2010`` (also ``>``, ``<=``)
    numeric comparison on the year published.
``name=acropora``, ``criteria=B1``
    a case-insensitive part of the scientific name / criteria string.

``text`` is a full-text search over the narrative fields (rationale, range, population, habitat,
threats, use and trade, conservation): words are AND-ed, ``"a phrase"`` kept together, ``-word``
excluded, ``word*`` a prefix; matching ignores case and, in the store, word endings (stemming).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet
from assess2plan.schemes import CATEGORY_ORDER, MAJOR_IMPACTS, normalise_code

__all__ = [
    "FIELDS",
    "NARRATIVE_FIELDS",
    "SHEET_COLUMNS",
    "Condition",
    "SheetQuery",
    "facet_counts",
    "filter_sheet",
    "parse_query",
    "planning_sheet",
    "search_terms",
]

Kind = Literal["scalar", "list", "tree", "contains", "number"]


@dataclass(frozen=True)
class Field:
    """A filterable field of the sheet: its column and how values match."""

    name: str
    column: str
    kind: Kind
    label: str
    facet: bool = True  # counts per value make sense


#: Filterable fields by name. ``tree`` fields match sub-codes; ``list`` fields are exact
#: (case-insensitive); ``scalar`` compares one value; ``contains`` a case-insensitive part.
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("category", "category", "scalar", "Red List category code (CR, EN, VU, NT, LC, DD, LR/cd, ...)"),
        Field("trend", "population_trend", "scalar", "population trend"),
        Field("criteria_version", "criteria_version", "scalar", "criteria version (3.1, 2.3)"),
        Field("kingdom", "kingdom", "scalar", "kingdom"),
        Field("phylum", "phylum", "scalar", "phylum"),
        Field("class", "class_name", "scalar", "class"),
        Field("order", "order_name", "scalar", "order"),
        Field("family", "family", "scalar", "family"),
        Field("genus", "genus", "scalar", "genus"),
        Field("name", "scientific_name", "contains", "part of the scientific name", facet=False),
        Field("criteria", "criteria", "contains", "part of the criteria string", facet=False),
        Field("year", "year_published", "number", "year published"),
        Field("system", "systems", "list", "system (Terrestrial, Freshwater, Marine)"),
        Field("country", "countries", "list", "country (ISO alpha-2)"),
        Field("subnational", "subnational", "list", "subnational unit (SIS code)"),
        Field("lme", "lmes", "list", "large marine ecosystem"),
        Field("fao", "fao_areas", "list", "FAO fishing area"),
        Field("habitat", "habitats", "tree", "habitat code (3.1)"),
        Field("threat", "threats", "tree", "threat code (3.3)"),
        Field("major_threat", "major_threats", "tree", "threat with medium or high impact"),
        Field("action_needed", "actions_needed", "tree", "conservation action needed (2.0)"),
        Field("action_in_place", "actions_in_place", "list", "action in place answered Yes (SIS field)"),
        Field("research", "research_needed", "tree", "research needed code"),
    )
}
ALIASES = {
    "action": "action_needed",
    "actions_needed": "action_needed",
    "in_place": "action_in_place",
    "actions_in_place": "action_in_place",
    "research_needed": "research",
    "class_name": "class",
    "order_name": "order",
    "population_trend": "trend",
    "countries": "country",
    "lmes": "lme",
    "fao_area": "fao",
    "threats": "threat",
    "habitats": "habitat",
    "major_threats": "major_threat",
    "year_published": "year",
    "scientific_name": "name",
    "systems": "system",
}

#: Narrative fields of an assessment searched by ``text``.
NARRATIVE_FIELDS = (
    "rationale",
    "range_text",
    "population_text",
    "habitat_text",
    "threats_text",
    "use_trade_text",
    "conservation_actions_text",
    "taxonomic_notes",
)

#: Columns of the planning sheet, in order.
SHEET_COLUMNS: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "assessment_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "kingdom": pl.Utf8,
    "phylum": pl.Utf8,
    "class_name": pl.Utf8,
    "order_name": pl.Utf8,
    "family": pl.Utf8,
    "genus": pl.Utf8,
    "category": pl.Utf8,
    "category_label": pl.Utf8,
    "criteria": pl.Utf8,
    "criteria_version": pl.Utf8,
    "possibly_extinct": pl.Boolean,
    "population_trend": pl.Utf8,
    "year_published": pl.Int32,
    "assessment_date": pl.Date,
    "systems": pl.List(pl.Utf8),
    "countries": pl.List(pl.Utf8),
    "subnational": pl.List(pl.Utf8),
    "lmes": pl.List(pl.Utf8),
    "fao_areas": pl.List(pl.Utf8),
    "habitats": pl.List(pl.Utf8),
    "threats": pl.List(pl.Utf8),
    "major_threats": pl.List(pl.Utf8),
    "threat_impacts": pl.List(pl.Utf8),  # "7.2.1: Medium Impact", aligned with ``threats``
    "actions_in_place": pl.List(pl.Utf8),
    "actions_needed": pl.List(pl.Utf8),
    "research_needed": pl.List(pl.Utf8),
}
LIST_COLUMNS = tuple(c for c, t in SHEET_COLUMNS.items() if isinstance(t, pl.List))

_OCCURRENCE_COLUMNS = {"country": "countries", "subnational": "subnational", "lme": "lmes", "fao": "fao_areas"}
TRUE_VALUES = ("yes", "true", "y", "t", "1")


# -- query ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One filter: ``field`` ``op`` ``values`` (values OR-ed; ``!=`` means none of them)."""

    field: str
    op: str  # "=", "!=", "<", "<=", ">", ">="
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.field}{self.op}{','.join(self.values)}"

    @property
    def spec(self) -> Field:
        return FIELDS[self.field]

    @property
    def none(self) -> bool:
        """``field=none`` / ``field!=none``: the field is empty / not empty."""
        return self.values == ("none",)


@dataclass
class SheetQuery:
    """Filters (AND-ed), a full-text search, a sort order and a scope."""

    conditions: list[Condition] = field(default_factory=list)
    text: str | None = None
    sort: list[str] = field(default_factory=list)  # column names, "-col" for descending
    scope: str = "Global"

    def __str__(self) -> str:
        parts = [str(c) for c in self.conditions]
        if self.text:
            parts.append(f"text:{self.text!r}")
        return " ".join(parts) or "(all)"


_COND = re.compile(r"^\s*([A-Za-z_]+)\s*(!=|<=|>=|=|<|>|:)\s*(.*?)\s*$")


_SYSTEMS = ("Terrestrial", "Freshwater (=Inland waters)", "Marine")


def _normalise_value(f: Field, value: str) -> str:
    """The stored spelling of a filter value (codes normalised, country codes upper case, SIS
    in-place fields and systems in their published spelling, whatever case the user typed)."""
    if f.kind == "tree":
        return normalise_code(value) or value
    if f.name in ("country", "lme", "fao", "subnational"):
        return value.upper()
    low = value.lower()
    if f.name == "category":
        from assess2plan.schemes import category

        found = category(value)
        return found[0] if found else value
    if f.name == "trend":
        from assess2plan.schemes import population_trend

        return population_trend(value) or value
    if f.name == "action_in_place":
        from assess2plan.schemes import actions_in_place_fields

        for name in (r["field"] for r in actions_in_place_fields()):
            if low in (name.lower(), name.lower().removeprefix("inplace")):
                return name
    if f.name == "system":
        for name in _SYSTEMS:
            if name.lower().startswith(low):
                return name
    return value


def parse_condition(text: str) -> Condition:
    """``"threat=7.2"`` -> Condition; raises A2PError naming the bad part."""
    m = _COND.match(text)
    if not m:
        raise A2PError(f"cannot read filter {text!r}: write field=value[,value...] (e.g. category=CR,EN)")
    name, op, raw = m.group(1).lower(), m.group(2), m.group(3)
    if op == ":":
        op = "="
    name = ALIASES.get(name, name)
    if name not in FIELDS:
        raise A2PError(f"unknown filter field {m.group(1)!r} in {text!r}; fields: {', '.join(FIELDS)}")
    f = FIELDS[name]
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        raise A2PError(f"filter {text!r} has no value")
    if op in ("<", "<=", ">", ">="):
        if f.kind != "number" or len(values) != 1 or not values[0].lstrip("-").isdigit():
            raise A2PError(f"filter {text!r}: {op} needs the field 'year' and one whole number")
    elif f.kind == "number":
        if not all(v.isdigit() or v.lower() == "none" for v in values):
            raise A2PError(f"filter {text!r}: year values must be whole numbers")
    if any(v.lower() == "none" for v in values):
        if len(values) > 1:
            raise A2PError(f"filter {text!r}: 'none' cannot be combined with other values")
        values = ("none",)
    else:
        values = tuple(_normalise_value(f, v) for v in values)
    return Condition(name, op, values)


def parse_query(
    conditions: Iterable[str] | str | None = None,
    *,
    text: str | None = None,
    sort: Iterable[str] | str | None = None,
    scope: str = "Global",
) -> SheetQuery:
    """Build a SheetQuery from filter strings (a list, or one string of whitespace-separated items)."""
    if isinstance(conditions, str):
        conditions = conditions.split()
    conds = [parse_condition(c) for c in (conditions or []) if c.strip()]
    if isinstance(sort, str):
        sort = [s for s in re.split(r"[,\s]+", sort) if s]
    sort_list = list(sort or [])
    for s in sort_list:
        col = s.lstrip("-+")
        col = FIELDS[ALIASES.get(col, col)].column if ALIASES.get(col, col) in FIELDS else col
        if col not in SHEET_COLUMNS:
            raise A2PError(f"cannot sort by {s!r}; columns: {', '.join(SHEET_COLUMNS)}")
    return SheetQuery(conds, text.strip() if text and text.strip() else None, sort_list, scope)


def sort_columns(sort: Sequence[str]) -> list[tuple[str, bool]]:
    """``["-year", "name"]`` -> ``[("year_published", True), ("scientific_name", False)]``."""
    out = []
    for s in sort:
        desc = s.startswith("-")
        col = s.lstrip("-+")
        key = ALIASES.get(col, col)
        out.append((FIELDS[key].column if key in FIELDS else col, desc))
    return out


# -- full text --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    text: str  # a word or a phrase (several words)
    negate: bool = False
    prefix: bool = False


_TERM = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(text: str) -> list[Term]:
    """Split a search into terms: words, ``"phrases"``, ``-excluded``, ``prefix*``."""
    terms: list[Term] = []
    for m in _TERM.finditer(text or ""):
        if m.group(2) is not None:
            words = _WORD.findall(m.group(2))
            if words:
                terms.append(Term(" ".join(words), negate=bool(m.group(1))))
            continue
        raw = m.group(4)
        if raw.upper() in ("AND", "OR"):  # AND is implicit; OR is not supported on both stores
            continue
        prefix = raw.endswith("*")
        words = _WORD.findall(raw)
        if not words:
            continue
        if len(words) > 1:  # "sea-level" -> the phrase "sea level"
            terms.append(Term(" ".join(words), negate=bool(m.group(3))))
        else:
            terms.append(Term(words[0], negate=bool(m.group(3)), prefix=prefix))
    if terms and all(t.negate for t in terms):
        raise A2PError(f"search {text!r} only excludes words; give at least one word to find")
    return terms


def _plain(col: str) -> pl.Expr:
    """Narrative text without HTML tags and entities, lower case, words separated by one space."""
    return (
        pl.col(col)
        .fill_null("")
        .str.replace_all(r"<[^>]*>", " ")
        .str.replace_all(r"&[A-Za-z#0-9]+;", " ")
        .str.to_lowercase()
        .str.replace_all(r"[^\w]+", " ")
    )


def text_match(assessments: pl.DataFrame, text: str) -> pl.Series:
    """``assessment_id`` of assessments whose narrative fields match the search.

    Without a database there is no stemming: a word matches words that start with it ("coral"
    finds "corals" and "coralline"), which is close to the store's stemmed search."""
    terms = search_terms(text)
    cols = [c for c in NARRATIVE_FIELDS if c in assessments.columns]
    body = pl.concat_str([_plain(c) for c in cols], separator=" ")
    df = assessments.select("assessment_id", (pl.lit(" ") + body + pl.lit(" ")).alias("_body"))
    expr = pl.lit(True)
    for t in terms:
        pattern = " " + t.text.lower()  # words match at their start: "coral" finds "corals"
        hit = pl.col("_body").str.contains(pattern, literal=True)
        expr = expr & (~hit if t.negate else hit)
    return df.filter(expr)["assessment_id"]


# -- building ---------------------------------------------------------------------------------------
def _codes_per_assessment(df: pl.DataFrame, name: str, col: str = "code") -> pl.DataFrame:
    return (
        df.filter(pl.col(col).is_not_null())
        .select("assessment_id", pl.col(col))
        .unique(maintain_order=True)
        .sort(["assessment_id", col])
        .group_by("assessment_id", maintain_order=True)
        .agg(pl.col(col).alias(name))
    )


def planning_sheet(aset: AssessmentSet, query: SheetQuery | None = None) -> pl.DataFrame:
    """The planning sheet of ``aset`` (columns ``SHEET_COLUMNS``), filtered and sorted by ``query``.

    One row per taxon: its latest assessment in ``query.scope`` (default Global). List columns
    hold the sorted distinct codes; ``actions_in_place`` the SIS InPlace* fields answered Yes;
    ``major_threats`` the threats with medium or high impact.
    """
    query = query or SheetQuery()
    latest = aset.latest(query.scope or "")
    if query.text:
        latest = latest.filter(pl.col("assessment_id").is_in(text_match(latest, query.text).implode()))
    sheet = sheet_rows(aset.tables, latest)
    sheet = filter_sheet(sheet, query.conditions)
    return sort_sheet(sheet, query.sort)


def sheet_rows(tables: Mapping[str, pl.DataFrame], assessments: pl.DataFrame) -> pl.DataFrame:
    """One sheet row per row of ``assessments`` (any assessments, not only the latest), built from
    the canonical ``tables`` (``taxa`` and the assessment child tables)."""
    ids = assessments.select("assessment_id")
    taxa = tables["taxa"].select("taxon_id", "kingdom", "phylum", "class_name", "order_name", "family", "genus")
    rows = assessments.select(
        "taxon_id",
        "assessment_id",
        "scientific_name",
        "category",
        "category_label",
        "criteria",
        "criteria_version",
        "possibly_extinct",
        "population_trend",
        "year_published",
        "assessment_date",
        pl.col("systems").str.split("|").alias("systems"),
    ).join(taxa.unique("taxon_id"), on="taxon_id", how="left")

    def child(table: str) -> pl.DataFrame:
        return tables[table].join(ids, on="assessment_id", how="semi")

    occ = child("occurrence")
    for kind, col in _OCCURRENCE_COLUMNS.items():
        codes = occ.filter(pl.col("kind") == kind).with_columns(pl.col("code").str.to_uppercase())
        rows = rows.join(_codes_per_assessment(codes, col), on="assessment_id", how="left")
    th = child("threats")
    rows = rows.join(_codes_per_assessment(child("habitats"), "habitats"), on="assessment_id", how="left")
    rows = rows.join(_codes_per_assessment(th, "threats"), on="assessment_id", how="left")
    rows = rows.join(
        _codes_per_assessment(th.filter(pl.col("impact").is_in(list(MAJOR_IMPACTS))), "major_threats"),
        on="assessment_id",
        how="left",
    )
    impacts = (
        th.filter(pl.col("code").is_not_null())
        .unique(["assessment_id", "code"], keep="first", maintain_order=True)
        .sort(["assessment_id", "code"])
        .group_by("assessment_id", maintain_order=True)
        .agg((pl.col("code") + ": " + pl.col("impact").fill_null("Unknown")).alias("threat_impacts"))
    )
    rows = rows.join(impacts, on="assessment_id", how="left")
    ip = child("actions_in_place")
    ip = ip.with_columns(pl.col("field").str.split(".").list.first().str.strip_chars().alias("field")).filter(
        pl.col("value").str.strip_chars().str.to_lowercase().is_in(list(TRUE_VALUES))
    )
    rows = rows.join(_codes_per_assessment(ip, "actions_in_place", "field"), on="assessment_id", how="left")
    rows = rows.join(_codes_per_assessment(child("actions_needed"), "actions_needed"), on="assessment_id", how="left")
    rows = rows.join(_codes_per_assessment(child("research_needed"), "research_needed"), on="assessment_id", how="left")
    rows = rows.with_columns(pl.col(c).fill_null(pl.lit([], dtype=pl.List(pl.Utf8))) for c in LIST_COLUMNS)
    return ordered_lists(rows.select([pl.col(c).cast(t) for c, t in SHEET_COLUMNS.items()]))


def ordered_lists(sheet: pl.DataFrame) -> pl.DataFrame:
    """Sort the values of the list columns in code order (4.3 before 11.3; names alphabetically)."""
    key = pl.element().str.replace_all(r"\b(\d)\b", "0${1}")
    return sheet.with_columns(
        pl.col(c).list.eval(pl.element().sort_by(key)) for c in LIST_COLUMNS if c in sheet.columns
    )


#: list columns stored in the store's sheet index (field -> column); ``threat_impact`` is shown, not filtered
INDEXED_LISTS: dict[str, str] = {
    **{n: f.column for n, f in FIELDS.items() if f.kind in ("list", "tree")},
    "threat_impact": "threat_impacts",
}


def facet_rows(sheet: pl.DataFrame, *, ancestors: bool = True, fields: Iterable[str] | None = None) -> pl.DataFrame:
    """The list columns of ``sheet`` in long form: ``assessment_id``, ``field``, ``value``,
    ``ancestor`` (with ``ancestors``, coded fields add one row per ancestor code not itself
    recorded). ``fields``: the ``INDEXED_LISTS`` names to include (default all)."""
    frames = []
    for name, col in INDEXED_LISTS.items():
        if fields is not None and name not in fields:
            continue
        v = sheet.select("assessment_id", pl.col(col).alias("value")).explode("value", empty_as_null=True).drop_nulls("value")
        v = v.with_columns(pl.lit(name).alias("field"), pl.lit(False).alias("ancestor"))
        if ancestors and name in FIELDS and FIELDS[name].kind == "tree":
            parts = v.with_columns(pl.col("value").str.split(".").alias("_p"))
            anc = []
            for level in range(1, 4):
                a = parts.filter(pl.col("_p").list.len() > level).select(
                    "assessment_id", pl.col("_p").list.head(level).list.join(".").alias("value")
                )
                anc.append(a)
            a = pl.concat(anc).unique().join(v.select("assessment_id", "value"), on=["assessment_id", "value"], how="anti")
            a = a.with_columns(pl.lit(name).alias("field"), pl.lit(True).alias("ancestor"))
            v = pl.concat([v.select("assessment_id", "field", "value", "ancestor"), a.select("assessment_id", "field", "value", "ancestor")])
        frames.append(v.select("assessment_id", "field", "value", "ancestor"))
    return pl.concat(frames)


def index_rows(
    tables: Mapping[str, pl.DataFrame], assessments: pl.DataFrame, fields: Iterable[str] | None = None
) -> pl.DataFrame:
    """``facet_rows(sheet_rows(tables, assessments), ancestors=False)`` without ``threat_impact``,
    read straight from the child tables (``assessment_id``, ``field``, ``value``, ``ancestor``):
    what the store's sheet index holds, without building list columns first."""
    ids = assessments.select("assessment_id")
    parts: list[pl.DataFrame] = []
    wanted = set(fields) if fields is not None else None

    def add(df: pl.DataFrame, name: str, col: str = "code") -> None:
        if wanted is not None and name not in wanted:
            return
        parts.append(
            df.select("assessment_id", pl.col(col).alias("value"))
            .drop_nulls("value")
            .unique()
            .select("assessment_id", pl.lit(name).alias("field"), "value")
        )

    def child(table: str, keep: pl.Expr | None = None) -> pl.DataFrame:
        # filter first, then keep the rows of these assessments (no copy of a whole table)
        lf = tables[table].lazy()
        if keep is not None:
            lf = lf.filter(keep)
        return lf.join(ids.lazy(), on="assessment_id", how="semi").collect()

    def want(*names: str) -> bool:
        return wanted is None or any(n in wanted for n in names)

    if want("system"):
        systems = assessments.select("assessment_id", pl.col("systems").str.split("|")).explode(
            "systems", empty_as_null=True
        )
        add(systems, "system", "systems")
    for kind in _OCCURRENCE_COLUMNS:
        if want(kind):
            occ = child("occurrence", pl.col("kind") == kind).select("assessment_id", pl.col("code").str.to_uppercase())
            add(occ, kind)
    if want("habitat"):
        add(child("habitats").select("assessment_id", "code"), "habitat")
    if want("threat"):
        add(child("threats").select("assessment_id", "code"), "threat")
    if want("major_threat"):
        add(child("threats", pl.col("impact").is_in(list(MAJOR_IMPACTS))).select("assessment_id", "code"), "major_threat")
    if want("action_needed"):
        add(child("actions_needed").select("assessment_id", "code"), "action_needed")
    if want("action_in_place"):
        yes = pl.col("value").str.strip_chars().str.to_lowercase().is_in(list(TRUE_VALUES))
        ip = child("actions_in_place", yes).select(
            "assessment_id", pl.col("field").str.split(".").list.first().str.strip_chars().alias("field")
        )
        add(ip, "action_in_place", "field")
    if want("research"):
        add(child("research_needed").select("assessment_id", "code"), "research")
    if not parts:
        return pl.DataFrame(schema={"assessment_id": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8, "ancestor": pl.Boolean})
    return pl.concat(parts).with_columns(pl.lit(False).alias("ancestor"))


def sort_sheet(sheet: pl.DataFrame, sort: Sequence[str]) -> pl.DataFrame:
    """Sort by the given columns (``-col`` descending; ``category`` by Red List order), then name."""
    keys: list[pl.Expr] = []
    desc: list[bool] = []
    for col, d in sort_columns(sort):
        if col == "category":
            keys.append(category_rank(pl.col("category")))
        elif isinstance(SHEET_COLUMNS.get(col), pl.List):
            keys.append(pl.col(col).list.len())
        else:
            keys.append(pl.col(col))
        desc.append(d)
    keys += [pl.col("scientific_name"), pl.col("taxon_id")]
    desc += [False, False]
    return sheet.sort(keys, descending=desc, nulls_last=True)


def category_rank(expr: pl.Expr) -> pl.Expr:
    """Red List order of a category code (EX first ... NE last; unknown codes after)."""
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return expr.replace_strict(order, default=len(order), return_dtype=pl.Int32)


# -- filtering --------------------------------------------------------------------------------------
def _tree_match(values: Sequence[str]) -> pl.Expr:
    e = pl.lit(False)
    for v in values:
        e = e | (pl.element() == v) | pl.element().str.starts_with(v + ".")
    return e


def condition_expr(c: Condition) -> pl.Expr:
    """The polars filter expression of one condition over the sheet's columns."""
    f = c.spec
    col = pl.col(f.column)
    if f.kind in ("list", "tree"):
        if c.none:
            hit = col.list.len() == 0
        elif f.kind == "tree":
            hit = col.list.eval(_tree_match(c.values)).list.any()
        else:
            hit = col.list.eval(pl.element().is_in(list(c.values))).list.any()
        return ~hit if c.op == "!=" else hit
    if c.none:
        hit = col.is_null()
        return ~hit if c.op == "!=" else hit
    if f.kind == "number":
        n = int(c.values[0]) if c.op not in ("=", "!=") else None
        ops = {
            "<": col < n,
            "<=": col <= n,
            ">": col > n,
            ">=": col >= n,
        }
        if c.op in ops:
            return ops[c.op].fill_null(False)
        hit = col.is_in([int(v) for v in c.values]).fill_null(False)
        return ~hit if c.op == "!=" else hit
    if f.kind == "contains":
        hit = pl.lit(False)
        for v in c.values:
            hit = hit | col.str.to_lowercase().str.contains(v.lower(), literal=True).fill_null(False)
        return ~hit if c.op == "!=" else hit
    hit = col.str.to_lowercase().is_in([v.lower() for v in c.values]).fill_null(False)
    return ~hit if c.op == "!=" else hit


def filter_sheet(sheet: pl.DataFrame, conditions: Iterable[Condition] | SheetQuery) -> pl.DataFrame:
    """Rows of ``sheet`` meeting every condition (a SheetQuery's text search is not applied here)."""
    if isinstance(conditions, SheetQuery):
        conditions = conditions.conditions
    expr = pl.lit(True)
    for c in conditions:
        expr = expr & condition_expr(c)
    return sheet.filter(expr)


def facet_counts(sheet: pl.DataFrame, fields: Iterable[str] | None = None, *, level: int | None = None) -> pl.DataFrame:
    """Number of taxa per value of each field (``field``, ``value``, ``taxa``), most frequent first.

    ``level`` cuts coded values to that many levels (``level=1``: threat 7.2.1 counts under 7).
    """
    names = [ALIASES.get(f, f) for f in (fields or [n for n, f in FIELDS.items() if f.facet])]
    frames = []
    for name in names:
        if name not in FIELDS:
            raise A2PError(f"unknown facet {name!r}; fields: {', '.join(FIELDS)}")
        f = FIELDS[name]
        col = pl.col(f.column)
        if f.kind in ("list", "tree"):
            v = sheet.select("taxon_id", col.alias("value")).explode("value", empty_as_null=True)
        else:
            v = sheet.select("taxon_id", col.cast(pl.Utf8).alias("value"))
        if level and f.kind == "tree":
            v = v.with_columns(pl.col("value").str.split(".").list.head(level).list.join("."))
        v = v.filter(pl.col("value").is_not_null()).unique()
        frames.append(
            v.group_by("value").agg(pl.len().cast(pl.Int64).alias("taxa")).select(pl.lit(name).alias("field"), "value", "taxa")
        )
    if not frames:
        return pl.DataFrame(schema={"field": pl.Utf8, "value": pl.Utf8, "taxa": pl.Int64})
    out = pl.concat(frames)
    return out.sort(["field", "taxa", "value"], descending=[False, True, False])


def sheet_for_export(sheet: pl.DataFrame, separator: str = "|") -> pl.DataFrame:
    """The sheet with list columns joined by ``separator`` (for CSV and spreadsheets)."""
    return sheet.with_columns(pl.col(c).list.join(separator) for c in LIST_COLUMNS if c in sheet.columns)
