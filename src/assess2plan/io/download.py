"""Reader of the Red List website "Download search results" (non-spatial) export.

``read_download(paths)`` reads one or several zips or folders (split parts of one download,
overlapping downloads) into one ``AssessmentSet``. Any subset of the files imports; what is absent
is reported as an ``Issue``. Bad input (a missing column, an unreadable value, a duplicate or
orphan row, an unsafe zip) raises ``InputError`` naming file, row, column and value, and nothing
is returned. Codes outside the current schemes and threat values outside the impact scheme are
imported as they stand and reported as ``Issue`` warnings.

The helpers below (``Context``, ``parse_*``, ``map_*``, ``attach_children``, ``wide_fields``)
are shared with the SIS Connect reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assess2plan import schemes
from assess2plan.errors import InputError
from assess2plan.io.files import ROW, CsvTable, Member, open_input, read_csv
from assess2plan.model import AssessmentSet, Issue, Source, conform

FORMAT = "redlist-download"

#: Row-level warnings of one kind kept per file; the rest are summed up in one more warning.
MAX_ROW_ISSUES = 50

PART = "_part"  # index of the download part a row comes from (first part wins on overlap)
SRC = "_src"  # index of the file a row comes from (Context.displays)
AID = "assessment_id"
TID = "taxon_id"

Progress = Callable[[str, int, int], None]

# -- file layouts (exact headers: domain reference §2a) ----------------------------------------
ASSESSMENT_COLUMNS = {
    "assessmentId": AID,
    "internalTaxonId": TID,
    "scientificName": "scientific_name",
    "redlistCategory": "category_label",
    "redlistCriteria": "criteria",
    "yearPublished": "year_published",
    "assessmentDate": "assessment_date",
    "criteriaVersion": "criteria_version",
    "language": "language",
    "rationale": "rationale",
    "habitat": "habitat_text",
    "threats": "threats_text",
    "population": "population_text",
    "populationTrend": "population_trend",
    "range": "range_text",
    "useTrade": "use_trade_text",
    "systems": "systems",
    "conservationActions": "conservation_actions_text",
    "realm": "realms",
    "yearLastSeen": "year_last_seen",
    "possiblyExtinct": "possibly_extinct",
    "possiblyExtinctInTheWild": "possibly_extinct_in_the_wild",
    "scopes": "scopes",
    "url": "url",
    "citation": "citation",
}
TAXON_COLUMNS = {
    "internalTaxonId": TID,
    "scientificName": "scientific_name",
    "kingdomName": "kingdom",
    "phylumName": "phylum",
    "className": "class_name",
    "orderName": "order_name",
    "familyName": "family",
    "genusName": "genus",
    "speciesName": "species",
    "infraType": "infra_type",
    "infraName": "infra_name",
    "infraAuthority": "infra_authority",
    "subpopulationName": "subpopulation",
    "authority": "authority",
    "taxonomicNotes": "taxonomic_notes",
}
SUMMARY_COLUMNS = {
    **TAXON_COLUMNS,
    "assessmentId": AID,
    "redlistCategory": "category_label",
    "redlistCriteria": "criteria",
    "criteriaVersion": "criteria_version",
    "populationTrend": "population_trend",
    "scopes": "scopes",
}
_CHILD_IDS = {"assessmentId": AID, "internalTaxonId": TID, "scientificName": "scientific_name"}
_OCC = {
    "code": "code",
    "name": "name",
    "presence": "presence",
    "origin": "origin",
    "seasonality": "seasonality",
    "formerlyBred": "formerly_bred",
}


@dataclass(frozen=True)
class ChildSpec:
    """How one child file maps to a canonical table."""

    table: str
    columns: dict[str, str]
    scheme: str | None = None  # classification scheme the codes belong to (unknown -> warning)
    kind: str | None = None  # occurrence kind
    label: str = ""  # what the absence warning says is missing


CHILD_FILES: dict[str, ChildSpec] = {
    "threats.csv": ChildSpec(
        "threats",
        {
            "code": "code",
            "name": "name",
            "stressCode": "stress_codes",
            "stressName": "stress_names",
            "ancestry": "ancestry",
            "ias": "ias",
            "internationalTrade": "international_trade",
            "scope": "scope",
            "severity": "severity",
            "text": "text",
            "timing": "timing",
            "virus": "virus",
        },
        "threats",
        label="threats",
    ),
    "conservation_needed.csv": ChildSpec(
        "actions_needed",
        {"code": "code", "name": "name", "note": "note"},
        "conservation_actions",
        label="conservation actions needed",
    ),
    "research_needed.csv": ChildSpec(
        "research_needed",
        {"code": "code", "name": "name", "note": "note"},
        "research",
        label="research needed",
    ),
    "habitats.csv": ChildSpec(
        "habitats",
        {
            "code": "code",
            "name": "name",
            "majorImportance": "major_importance",
            "season": "season",
            "suitability": "suitability",
        },
        "habitats",
        label="habitats",
    ),
    "countries.csv": ChildSpec("occurrence", _OCC, "countries", "country", label="countries"),
    "lme.csv": ChildSpec("occurrence", _OCC, None, "lme", label="large marine ecosystems"),
    "fao.csv": ChildSpec("occurrence", _OCC, "faos", "fao", label="FAO areas"),
    "usetrade.csv": ChildSpec(
        "use_trade",
        {
            "code": "code",
            "name": "name",
            "international": "international",
            "national": "national",
            "other": "other",
            "subsistence": "subsistence",
        },
        "use_and_trade",
        label="use and trade",
    ),
}
CREDIT_COLUMNS = {"type": "credit_type", "text": "text", "full": "full", "value": "value", "order": "order"}
COMMON_NAME_COLUMNS = {
    "internalTaxonId": TID,
    "scientificName": "scientific_name",
    "name": "name",
    "language": "language",
    "main": "main",
}
SYNONYM_COLUMNS = {
    "internalTaxonId": TID,
    "scientificName": "scientific_name",
    "name": "name",
    "genusName": "genus",
    "speciesName": "species",
    "speciesAuthor": "species_author",
    "infraType": "infra_type",
    "infraName": "infra_name",
    "infraRankName": "infra_name",
    "infraRankAuthor": "infra_author",
    "infraAuthor": "infra_author",
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "assessments.csv": ("assessmentId", "internalTaxonId"),
    "simple_summary.csv": ("assessmentId", "internalTaxonId"),
    "taxonomy.csv": ("internalTaxonId",),
    "credits.csv": ("assessmentId", "internalTaxonId"),
    "all_other_fields.csv": ("assessmentId", "internalTaxonId"),
    "common_names.csv": ("internalTaxonId", "name"),
    "synonyms.csv": ("internalTaxonId", "name"),
    **{name: ("assessmentId", "internalTaxonId", "code") for name in CHILD_FILES},
}
KNOWN_COLUMNS: dict[str, dict[str, str]] = {
    "assessments.csv": ASSESSMENT_COLUMNS,
    "simple_summary.csv": SUMMARY_COLUMNS,
    "taxonomy.csv": TAXON_COLUMNS,
    "credits.csv": {**_CHILD_IDS, **CREDIT_COLUMNS},
    "all_other_fields.csv": _CHILD_IDS,
    "common_names.csv": COMMON_NAME_COLUMNS,
    "synonyms.csv": SYNONYM_COLUMNS,
    **{name: {**_CHILD_IDS, **spec.columns} for name, spec in CHILD_FILES.items()},
}
#: Files of the download that are read, and what their absence means.
ABSENT_MEANS = {
    "assessments.csv": "no assessment dates, narrative texts, systems or possibly-extinct flags imported",
    "simple_summary.csv": "taxonomy and categories from the other files only",
    "taxonomy.csv": "no taxonomic notes or subpopulation names imported",
    **{name: f"no {spec.label} imported" for name, spec in CHILD_FILES.items()},
    "credits.csv": "no assessors, reviewers or contributors imported",
    "all_other_fields.csv": "no conservation actions in place or other fields imported",
    "common_names.csv": "no common names imported",
    "synonyms.csv": "no synonyms imported",
}
IGNORED = {"dois.csv", "references.csv"}


# -- context: files read, warnings, errors ------------------------------------------------------
@dataclass
class Context:
    """What a read has seen so far: files (for row locations), sources and warnings."""

    format: str
    displays: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def register(self, table: CsvTable, part: int) -> pl.DataFrame:
        """Record the file's provenance; return its frame with ``PART`` and ``SRC`` columns."""
        src = len(self.displays)
        self.displays.append(table.display)
        self.sources.append(
            Source(path=table.display, format=self.format, sha256=table.sha256, rows=table.rows)
        )
        return table.df.with_columns(pl.lit(part, pl.Int32).alias(PART), pl.lit(src, pl.Int32).alias(SRC))

    def warn(self, file: str, message: str, **kw) -> None:
        self.issues.append(Issue(file, message, **kw))

    def fail(self, bad: pl.DataFrame, message: str, column: str | None, value_col: str | None) -> None:
        """Raise ``InputError`` for the first row of ``bad`` (which has ``SRC`` and ``ROW``)."""
        if bad.height == 0:
            return
        first = bad.sort([SRC, ROW]).row(0, named=True)
        more = bad.height - 1
        suffix = f" ({more:,} more row{'s' if more > 1 else ''} like it)" if more else ""
        raise InputError(
            self.displays[first[SRC]],
            message + suffix,
            row=first[ROW],
            column=column,
            value=first[value_col] if value_col else None,
        )

    def warn_values(self, rows: pl.DataFrame, message: str, column: str, value_col: str) -> None:
        """One ``Issue`` per distinct value per file, naming its first row and how many rows have it."""
        if rows.height == 0:
            return
        grouped = (
            rows.sort([SRC, ROW])
            .group_by([SRC, value_col], maintain_order=True)
            .agg(pl.col(ROW).first().alias("first"), pl.len().alias("n"))
        )
        for src, value, first, n in grouped.iter_rows():
            more = f" ({n:,} rows; first shown)" if n > 1 else ""
            self.issues.append(Issue(self.displays[src], message + more, row=first, column=column, value=value))

    def warn_rows(self, rows: pl.DataFrame, message: str, column: str | None, value_col: str | None) -> None:
        """One ``Issue`` per row of ``rows`` (up to ``MAX_ROW_ISSUES`` per file), then a summary."""
        if rows.height == 0:
            return
        rows = rows.sort([SRC, ROW])
        for (src,), grp in rows.group_by([SRC], maintain_order=True):
            file = self.displays[src]
            cols = [ROW] + ([value_col] if value_col else [])
            for rec in grp.head(MAX_ROW_ISSUES).select(cols).iter_rows(named=True):
                self.issues.append(
                    Issue(
                        file,
                        message,
                        row=rec[ROW],
                        column=column,
                        value=rec[value_col] if value_col else None,
                    )
                )
            rest = grp.height - MAX_ROW_ISSUES
            if rest > 0:
                sample = ""
                if value_col:
                    vals = grp[value_col].drop_nulls().unique(maintain_order=True).head(10).to_list()
                    sample = f" (values: {', '.join(map(str, vals))})"
                self.issues.append(Issue(file, f"{message}: {rest:,} more rows{sample}", column=column))


# -- column helpers -----------------------------------------------------------------------------
def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.strip_chars() == "").then(None).otherwise(expr)


def canonical_columns(df: pl.DataFrame, known: Iterable[str]) -> pl.DataFrame:
    """Rename columns that match a known name case-insensitively to the known spelling."""
    by_lower = {k.lower(): k for k in known}
    renames = {}
    for c in df.columns:
        k = by_lower.get(c.strip().lower())
        if k and k != c and k not in df.columns:
            renames[c] = k
    return df.rename(renames) if renames else df


def select_mapped(
    df: pl.DataFrame, mapping: dict[str, str], keep: Iterable[str] = (PART, SRC, ROW)
) -> pl.DataFrame:
    """Select the mapped columns under their canonical names (first file column wins)."""
    exprs: dict[str, pl.Expr] = {k: pl.col(k) for k in keep if k in df.columns}
    for src, dst in mapping.items():
        if src in df.columns and dst not in exprs:
            exprs[dst] = pl.col(src).alias(dst)
    return df.select(list(exprs.values()))


def apply_unique(df: pl.DataFrame, col: str, func: Callable, out: str | None = None) -> pl.DataFrame:
    """Set ``out`` (default: ``col`` itself) to ``func`` of each value, computed once per distinct value.

    Fast for the low-cardinality columns of big tables (codes, seasons, ids); a no-op when ``func``
    changes nothing and writes in place.
    """
    olds = df[col].drop_nulls().unique().to_list()
    news = [func(v) for v in olds]
    if out is None:
        if all(n == o for n, o in zip(news, olds, strict=True)):
            return df
        out = col
    if not olds:
        return df.with_columns(pl.lit(None, pl.Utf8).alias(out))
    dtype = pl.Utf8 if all(n is None or isinstance(n, str) for n in news) else None
    return df.with_columns(
        pl.col(col).replace_strict(olds, news, default=None, return_dtype=dtype).alias(out)
    )


def clean_id(df: pl.DataFrame, col: str) -> pl.DataFrame:
    """Identifiers as stripped text; blank -> null."""
    if col not in df.columns:
        return df.with_columns(pl.lit(None, pl.Utf8).alias(col))
    distinct = df[col].drop_nulls().unique()
    untidy = distinct.str.contains(r"^\s|\s$") | (distinct.str.len_bytes() == 0)
    if not untidy.any():
        return df
    return df.with_columns(_blank_to_null(pl.col(col).str.strip_chars()).alias(col))


def require_values(ctx: Context, df: pl.DataFrame, col: str, file_col: str, what: str) -> None:
    ctx.fail(df.filter(pl.col(col).is_null()), f"empty {file_col}: every row needs {what}", file_col, None)


def _map_unique(series: pl.Series, func: Callable) -> tuple[list, list]:
    olds = series.drop_nulls().unique().to_list()
    return olds, [func(v) for v in olds]


def parse_year(ctx: Context, df: pl.DataFrame, col: str, file_col: str) -> pl.DataFrame:
    if col not in df.columns:
        return df
    text = _blank_to_null(pl.col(col).str.strip_chars())
    parsed = text.str.replace(r"\.0+$", "").cast(pl.Int32, strict=False)
    df = df.with_columns(text.alias(col), parsed.alias("_parsed"))
    bad = df.filter(
        pl.col(col).is_not_null() & (pl.col("_parsed").is_null() | ~pl.col("_parsed").is_between(1000, 9999))
    )
    ctx.fail(bad, "not a year (expected 4 digits, e.g. 2019)", file_col, col)
    return df.with_columns(pl.col("_parsed").alias(col)).drop("_parsed")


def parse_date(
    ctx: Context, df: pl.DataFrame, col: str, file_col: str, dayfirst: bool = False
) -> pl.DataFrame:
    """ISO dates ("2009-03-11 00:00:00 UTC", "2009-03-11") or, with ``dayfirst``, "27/08/2015"."""
    if col not in df.columns:
        return df
    text = _blank_to_null(pl.col(col).str.strip_chars())
    iso = (
        pl.when(text.str.contains(r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T].*)?$"))
        .then(text.str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})").str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
    )
    candidates = [iso]
    if dayfirst:
        dmy = (
            pl.when(text.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}(?:[ T].*)?$"))
            .then(text.str.extract(r"^(\d{1,2}/\d{1,2}/\d{4})").str.to_date("%d/%m/%Y", strict=False))
            .otherwise(None)
        )
        candidates.append(dmy)
    df = df.with_columns(text.alias(col)).with_columns(pl.coalesce(candidates).alias("_parsed"))
    bad = df.filter(pl.col(col).is_not_null() & pl.col("_parsed").is_null())
    expected = "YYYY-MM-DD" + (" or DD/MM/YYYY" if dayfirst else "")
    ctx.fail(bad, f"not a date (expected {expected})", file_col, col)
    return df.with_columns(pl.col("_parsed").alias(col)).drop("_parsed")


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def parse_bool(ctx: Context, df: pl.DataFrame, col: str, file_col: str) -> pl.DataFrame:
    if col not in df.columns:
        return df
    low = _blank_to_null(pl.col(col).str.strip_chars()).str.to_lowercase()
    parsed = (
        pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False).otherwise(None)
    )
    df = df.with_columns(low.alias("_low"), parsed.alias("_parsed"))
    bad = df.filter(pl.col("_low").is_not_null() & pl.col("_parsed").is_null())
    ctx.fail(bad, "not true/false", file_col, col)
    return df.with_columns(pl.col("_parsed").alias(col)).drop("_parsed", "_low")


def parse_int(ctx: Context, df: pl.DataFrame, col: str, file_col: str) -> pl.DataFrame:
    if col not in df.columns:
        return df
    text = _blank_to_null(pl.col(col).str.strip_chars())
    df = df.with_columns(
        text.alias(col), text.str.replace(r"\.0+$", "").cast(pl.Int32, strict=False).alias("_p")
    )
    ctx.fail(
        df.filter(pl.col(col).is_not_null() & pl.col("_p").is_null()), "not a whole number", file_col, col
    )
    return df.with_columns(pl.col("_p").alias(col)).drop("_p")


def map_category(ctx: Context, df: pl.DataFrame, col: str, file_col: str) -> pl.DataFrame:
    """``col`` holds a label or code; adds ``category`` (code) and sets ``category_label``."""
    if col not in df.columns:
        return df
    df = df.with_columns(_blank_to_null(pl.col(col).str.strip_chars()).alias(col))
    olds, news = _map_unique(df[col], schemes.category)
    codes = [n[0] if n else None for n in news]
    labels = [n[1] if n else o for o, n in zip(olds, news, strict=True)]
    df = df.with_columns(
        pl.col(col).replace_strict(olds, codes, default=None, return_dtype=pl.Utf8).alias("category"),
        pl.col(col).replace_strict(olds, labels, default=None, return_dtype=pl.Utf8).alias("_label"),
    )
    unknown = df.filter(pl.col(col).is_not_null() & pl.col("category").is_null())
    ctx.warn_rows(unknown, "not a Red List category: kept as its label, category left empty", file_col, col)
    return df.drop(col).rename({"_label": "category_label"})


def map_trend(df: pl.DataFrame, col: str = "population_trend") -> pl.DataFrame:
    if col not in df.columns:
        return df
    return apply_unique(df, col, schemes.population_trend)


def normalise_codes(df: pl.DataFrame, col: str = "code") -> pl.DataFrame:
    """Classification codes as dotted text via ``schemes.normalise_code`` ("5_4_4" -> "5.4.4")."""
    if col not in df.columns:
        return df
    return apply_unique(df, col, schemes.normalise_code)


def normalise_code_lists(df: pl.DataFrame, col: str) -> pl.DataFrame:
    """A "|"-joined list of codes, each normalised; stays "|"-joined."""
    if col not in df.columns:
        return df

    def norm(v: str) -> str | None:
        parts = [schemes.normalise_code(p) for p in v.split("|")]
        return "|".join(p for p in parts if p) or None

    return apply_unique(df, col, norm)


def warn_unknown_codes(
    ctx: Context, df: pl.DataFrame, scheme: str | None, file_col: str, col: str = "code"
) -> None:
    if scheme is None or col not in df.columns or df.height == 0:
        return
    olds = df[col].drop_nulls().unique().to_list()
    unknown = [c for c in olds if not schemes.is_known(scheme, c)]
    if unknown:
        rows = df.filter(pl.col(col).is_in(unknown))
        ctx.warn_values(
            rows,
            f"code not in the current {scheme.replace('_', ' ')} scheme ({schemes.VERSIONS[scheme]}): "
            "imported as it stands",
            file_col,
            col,
        )


def warn_unknown_code_lists(ctx: Context, df: pl.DataFrame, scheme: str, file_col: str, col: str) -> None:
    if col not in df.columns or df.height == 0:
        return
    olds = df[col].drop_nulls().unique().to_list()
    unknown = [v for v in olds if any(p and not schemes.is_known(scheme, p) for p in v.split("|"))]
    if unknown:
        ctx.warn_values(
            df.filter(pl.col(col).is_in(unknown)),
            f"code not in the current {scheme} scheme ({schemes.VERSIONS[scheme]}): imported as it stands",
            file_col,
            col,
        )


def fill_names(
    df: pl.DataFrame, scheme: str | None, col: str = "code", name_col: str = "name"
) -> pl.DataFrame:
    """Fill empty names from the scheme's labels (SIS Connect files leave them empty)."""
    if scheme is None or col not in df.columns:
        return df
    if name_col in df.columns and df[name_col].null_count() == 0:
        return df
    df = apply_unique(df, col, lambda c: schemes.name_of(scheme, c), out="_fill")
    if name_col not in df.columns:
        return df.rename({"_fill": name_col})
    return df.with_columns(pl.coalesce(pl.col(name_col), pl.col("_fill")).alias(name_col)).drop("_fill")


def fill_stress_names(df: pl.DataFrame) -> pl.DataFrame:
    if "stress_codes" not in df.columns:
        return df
    if "stress_names" in df.columns and df["stress_names"].null_count() == df["stress_codes"].null_count():
        return df

    def names(v: str) -> str | None:
        out = [schemes.name_of("stresses", p) or "" for p in v.split("|")]
        return "|".join(out) if any(out) else None

    df = apply_unique(df, "stress_codes", names, out="_fill")
    if "stress_names" not in df.columns:
        return df.rename({"_fill": "stress_names"})
    return df.with_columns(pl.coalesce(pl.col("stress_names"), pl.col("_fill")).alias("stress_names")).drop(
        "_fill"
    )


def compute_impact(ctx: Context, df: pl.DataFrame, file_cols: dict[str, str]) -> pl.DataFrame:
    """Add ``impact_score`` and ``impact`` with ``schemes.impact``; unknown values -> "Unknown" + warning."""
    keys = ["timing", "scope", "severity"]
    for k in keys:
        if k not in df.columns:
            df = df.with_columns(pl.lit(None, pl.Utf8).alias(k))
    if df.height == 0:
        return df.with_columns(
            pl.lit(None, pl.Int32).alias("impact_score"), pl.lit(None, pl.Utf8).alias("impact")
        )
    sep, null = "\x1f", "\x00"
    key = pl.concat_str([pl.col(k).fill_null(null) for k in keys], separator=sep)
    df = df.with_columns(key.alias("_key"))
    combos = df["_key"].unique().to_list()
    scores, labels, bads = [], [], []
    for combo in combos:
        timing, scope, severity = (None if v == null else v for v in combo.split(sep))
        try:
            score, label = schemes.impact(timing, scope, severity)
            bad = None
        except schemes.UnknownValue as exc:
            score, label, bad = None, "Unknown", exc.field
        scores.append(score)
        labels.append(label)
        bads.append(bad)
    df = df.with_columns(
        pl.col("_key")
        .replace_strict(combos, scores, default=None, return_dtype=pl.Int32)
        .alias("impact_score"),
        pl.col("_key").replace_strict(combos, labels, default=None, return_dtype=pl.Utf8).alias("impact"),
        pl.col("_key").replace_strict(combos, bads, default=None, return_dtype=pl.Utf8).alias("_bad"),
    ).drop("_key")
    for k in keys:
        bad = df.filter(pl.col("_bad") == k)
        ctx.warn_rows(bad, f"{k} not in the threats scheme: impact set to Unknown", file_cols.get(k, k), k)
    return df.drop("_bad")


def list_value(value: str) -> str | None:
    """'["Resident","Breeding Season"]' -> "Resident|Breeding Season"; other text stays as is."""
    s = value.strip()
    if not s.startswith("["):
        return value
    items = [i.strip().strip("\"'").strip() for i in s.strip("[]").split(",")]
    return "|".join(i for i in items if i) or None


_SUBNATIONAL = re.compile(r"^[A-Z]{2,3}-[A-Z0-9]{2,3}$")


def _occurrence_kind_of(code: str) -> str:
    if not schemes.is_known("countries", code) and _SUBNATIONAL.match(code):
        return "subnational"
    return "country"


def occurrence_kind(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Kind per row: country codes in the countries scheme stay "country"; "YAK-OO" -> "subnational"."""
    if kind != "country":
        return df.with_columns(pl.lit(kind).alias("kind"))
    return apply_unique(df, "code", _occurrence_kind_of, out="kind")


def drop_empty_codes(ctx: Context, df: pl.DataFrame, file_col: str = "code") -> pl.DataFrame:
    if "code" not in df.columns or df["code"].null_count() == 0:
        return df
    empty = df.filter(pl.col("code").is_null())
    ctx.warn_rows(empty, "row without a code: dropped", file_col, None)
    return df.filter(pl.col("code").is_not_null())


# -- attaching child rows to assessments ----------------------------------------------------------
def attach_children(
    ctx: Context,
    df: pl.DataFrame,
    assessments: pl.DataFrame,
    *,
    file_col: str = "assessmentId",
    taxon_col: str = "internalTaxonId",
    what: str = "assessments.csv or simple_summary.csv",
) -> pl.DataFrame:
    """Link child rows to the set's assessments.

    A row with an empty assessment id goes to its taxon's assessment when the taxon has exactly one
    in the set, else it is dropped with a warning; a row whose id matches no assessment is an
    ``InputError``; an assessment's rows come from one part only (the first that has any).
    """
    df = clean_id(df, AID)
    if TID not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Utf8).alias(TID))
    if df.height == 0:
        return df
    if assessments.height == 0:
        first = df.sort([SRC, ROW]).row(0, named=True)
        raise InputError(
            ctx.displays[first[SRC]],
            f"holds {df.height:,} rows but the set has no assessments to attach them to: "
            f"give {what} too (a partial download cannot be imported without them)",
        )
    if df[AID].null_count():
        missing = clean_id(df.filter(pl.col(AID).is_null()), TID)
        per_taxon = assessments.group_by(TID).agg(pl.len().alias("_n"), pl.col(AID).first().alias("_only"))
        m = missing.join(per_taxon, on=TID, how="left")
        ok = m.filter(pl.col("_n") == 1).with_columns(pl.col("_only").alias(AID)).drop("_n", "_only")
        dropped = m.filter(pl.col("_n").is_null() | (pl.col("_n") != 1)).with_columns(
            pl.col("_n").fill_null(0).cast(pl.Utf8).alias("_n")
        )
        ctx.warn_rows(
            dropped,
            "no assessment id, and this taxon does not have exactly one assessment in the set to attach "
            "the row to: row dropped",
            taxon_col,
            TID,
        )
        df = pl.concat([df.filter(pl.col(AID).is_not_null()), ok], how="vertical_relaxed").sort([SRC, ROW])
    # join the id column only (a join gathers every column it carries), then attach the result
    ids = assessments.select(AID, pl.col(TID).alias("_tid"))
    tid = df.select(AID).join(ids, on=AID, how="left", maintain_order="left")["_tid"]
    if tid.null_count():
        ctx.fail(
            df.filter(tid.is_null()),
            "no assessment in the set has this assessment id (orphan row)",
            file_col,
            AID,
        )
    df = df.with_columns(tid.alias(TID))
    return first_part_per(df, AID)


def first_part_per(df: pl.DataFrame, key: str) -> pl.DataFrame:
    """Rows of each ``key`` from the first part that has any (overlapping downloads)."""
    if df.height == 0 or df[PART].n_unique() == 1:
        return df
    return df.filter(pl.col(PART) == pl.col(PART).min().over(key))


# -- wide "all other fields" ----------------------------------------------------------------------
def wide_fields(ctx: Context, df: pl.DataFrame, id_cols: Iterable[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Wide ``Field.subfield`` columns -> (actions_in_place, other_fields) long frames.

    ``InPlace*.value`` / ``.note`` become actions in place (empty values skipped; a lone note goes to
    other_fields); every other non-empty cell becomes an other_fields row (field, value).
    """
    keep = [PART, SRC, ROW, AID, TID]
    skip = set(keep) | set(id_cols)
    value_cols = [c for c in df.columns if c not in skip]
    if not value_cols or df.height == 0:
        return pl.DataFrame(), pl.DataFrame()
    long = (
        df.select([c for c in keep if c in df.columns] + value_cols)
        .unpivot(
            on=value_cols,
            index=[c for c in keep if c in df.columns],
            variable_name="field",
            value_name="value",
        )
        .filter(pl.col("value").is_not_null() & (pl.col("value").str.strip_chars() != ""))
    )
    low = pl.col("field").str.to_lowercase()
    long = long.with_columns(
        pl.col("field").str.split(".").list.first().alias("_base"),
        low.str.split(".").list.get(1, null_on_oob=True).alias("_sub"),
        low.str.starts_with("inplace").alias("_ip"),
    )
    ip = long.filter(pl.col("_ip") & pl.col("_sub").is_in(["value", "note"]))
    others = long.filter(~(pl.col("_ip") & pl.col("_sub").is_in(["value", "note"])))
    acts = ip.group_by([c for c in keep if c in ip.columns] + ["_base"], maintain_order=True).agg(
        pl.col("value").filter(pl.col("_sub") == "value").first().alias("value"),
        pl.col("value").filter(pl.col("_sub") == "note").first().alias("note"),
    )
    lone_notes = acts.filter(pl.col("value").is_null()).select(
        [c for c in keep if c in acts.columns]
        + [(pl.col("_base") + ".note").alias("field"), pl.col("note").alias("value")]
    )
    acts = acts.filter(pl.col("value").is_not_null())
    bases = acts["_base"].unique().to_list()
    info = {b: schemes.action_in_place_by_field(b) for b in bases}
    unknown = [b for b, i in info.items() if i is None]
    acts = acts.with_columns(
        pl.col("_base")
        .replace_strict(bases, [i["field"] if i else b for b, i in info.items()], return_dtype=pl.Utf8)
        .alias("field"),
        pl.col("_base")
        .replace_strict(
            bases, [i["group"] if i else None for i in info.values()], default=None, return_dtype=pl.Utf8
        )
        .alias("group"),
        pl.col("_base")
        .replace_strict(
            bases, [i["name"] if i else None for i in info.values()], default=None, return_dtype=pl.Utf8
        )
        .alias("name"),
    )
    if unknown:
        ctx.warn_rows(
            acts.filter(pl.col("_base").is_in(unknown)).with_columns(
                (pl.col("_base") + ".value").alias("_col")
            ),
            "not a known conservation-action-in-place field: imported without group and name",
            None,
            "_col",
        )
    others = pl.concat(
        [others.select([c for c in keep if c in others.columns] + ["field", "value"]), lone_notes],
        how="vertical_relaxed",
    )
    return acts.drop("_base").sort([SRC, ROW], maintain_order=True), others.sort(
        [SRC, ROW], maintain_order=True
    )


# -- parts ------------------------------------------------------------------------------------------
def find_parts(paths: Iterable[str | Path], ctx: Context) -> list[dict[str, Member]]:
    """Group the CSV files of every path by folder: each folder (in a zip or on disk) is one part."""
    parts: list[dict[str, Member]] = []
    for p in paths:
        members, issues = open_input(p)
        ctx.issues.extend(issues)
        groups: dict[str, dict[str, Member]] = {}
        for m in members:
            if not m.name.endswith(".csv"):
                ctx.warn(m.display, "not a CSV file of a Red List download: ignored")
                continue
            group = groups.setdefault(m.folder, {})
            if m.name in group:
                ctx.warn(m.display, f"a second {m.name} in the same folder: ignored")
                continue
            group[m.name] = m
        if not groups:
            raise InputError(str(p), "holds no CSV files")
        parts.extend(groups[k] for k in sorted(groups))
    return parts


def _read_parts(
    parts: list[dict[str, Member]],
    ctx: Context,
    known: Iterable[str],
    ignored: Iterable[str],
    progress: Progress | None,
    normalise: Callable[[str, pl.DataFrame, str], pl.DataFrame],
) -> dict[str, pl.DataFrame]:
    known = set(known)
    ignored = set(ignored)
    todo = [(i, m) for i, part in enumerate(parts) for name, m in sorted(part.items()) if name in known]
    for part in parts:
        for name, m in sorted(part.items()):
            if name not in known and name not in ignored:
                ctx.warn(m.display, "not a file this format knows: ignored")
    if not todo:
        roots = sorted({m.root for part in parts for m in part.values()})
        raise InputError(
            ", ".join(roots), f"holds none of the files of this format ({', '.join(sorted(known))})"
        )
    frames: dict[str, list[pl.DataFrame]] = {}
    for done, (i, m) in enumerate(todo):
        if progress:
            progress(f"reading {m.display}", done, len(todo))
        table = read_csv(m, issues=ctx.issues)
        df = ctx.register(table, i)
        df = normalise(m.name, df, m.display)
        frames.setdefault(m.name, []).append(df)
    if progress:
        progress("reading done", len(todo), len(todo))
    return {name: pl.concat(fs, how="diagonal_relaxed") for name, fs in frames.items()}


class LazyFiles:
    """The files of the parts, read when first asked for and dropped when done with.

    ``files[name]`` reads every part's file of that name (in part order) into one frame, as
    ``_read_parts`` does, and keeps it until ``release(name)``: a reader that builds its tables
    one file after the other holds one raw file at a time instead of all of them (at full Red List
    scale the raw frames alone take gigabytes).

    What the set records is as if every file had been read up front, in order: each file's
    ``SRC`` index and its place among the sources, and the warnings of reading (non-UTF-8 text)
    before the warnings of building (``finish``); on bad input, ``first_error`` gives the error
    an up-front read would have raised first.
    """

    def __init__(
        self,
        parts: list[dict[str, Member]],
        ctx: Context,
        known: Iterable[str],
        ignored: Iterable[str],
        progress: Progress | None,
        normalise: Callable[[str, pl.DataFrame, str], pl.DataFrame],
    ) -> None:
        known = set(known)
        ignored = set(ignored)
        self.todo = [
            (i, m) for i, part in enumerate(parts) for name, m in sorted(part.items()) if name in known
        ]
        for part in parts:
            for name, m in sorted(part.items()):
                if name not in known and name not in ignored:
                    ctx.warn(m.display, "not a file this format knows: ignored")
        if not self.todo:
            roots = sorted({m.root for part in parts for m in part.values()})
            raise InputError(
                ", ".join(roots), f"holds none of the files of this format ({', '.join(sorted(known))})"
            )
        self.ctx = ctx
        self.progress = progress
        self.normalise = normalise
        self.base = len(ctx.displays)  # SRC of the first file
        ctx.displays.extend(m.display for _, m in self.todo)
        self.issues_at = len(ctx.issues)  # where the warnings of reading go
        self.sources: list[Source | None] = [None] * len(self.todo)
        self.read_issues: list[list[Issue]] = [[] for _ in self.todo]
        self.by_name: dict[str, list[int]] = {}
        for k, (_, m) in enumerate(self.todo):
            self.by_name.setdefault(m.name, []).append(k)
        self.frames: dict[str, pl.DataFrame] = {}
        self.failed: int | None = None  # the file whose reading raised
        self.done = 0

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def _read(self, k: int) -> pl.DataFrame:
        part, m = self.todo[k]
        first = self.sources[k] is None  # (a file asked for again after ``release`` is read again)
        if self.progress and first:
            self.progress(f"reading {m.display}", self.done, len(self.todo))
        self.read_issues[k] = []
        try:
            table = read_csv(m, issues=self.read_issues[k])
            self.sources[k] = Source(
                path=table.display, format=self.ctx.format, sha256=table.sha256, rows=table.rows
            )
            src = self.base + k
            df = table.df.with_columns(pl.lit(part, pl.Int32).alias(PART), pl.lit(src, pl.Int32).alias(SRC))
            del table
            df = self.normalise(m.name, df, m.display)
        except InputError:
            self.failed = k
            raise
        if first:
            self.done += 1
            if self.progress and self.done == len(self.todo):
                self.progress("reading done", self.done, len(self.todo))
        return df

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self.frames:
            frames = [self._read(k) for k in self.by_name[name]]
            self.frames[name] = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        return self.frames[name]

    def release(self, name: str) -> None:
        """Drop the frame of ``name`` (it is read again if asked for again)."""
        self.frames.pop(name, None)

    def finish(self) -> None:
        """Read what was never asked for; record sources and reading warnings in file order."""
        for k, source in enumerate(self.sources):
            if source is None:
                self._read(k)
        self.frames.clear()
        self.ctx.sources.extend(s for s in self.sources if s is not None)
        self.ctx.issues[self.issues_at : self.issues_at] = [i for issues in self.read_issues for i in issues]

    def first_error(self, error: InputError) -> InputError:
        """The error that reading every file up front, then building, would have raised first:
        a reading error of a file not read yet that comes before the one that failed (or before
        every file when building failed), else ``error`` itself."""
        self.frames.clear()
        end = self.failed if self.failed is not None else len(self.todo)
        for k in range(end):
            if self.sources[k] is None:
                try:
                    self._read(k)
                except InputError as exc:
                    return exc
        return error


def _absent_warnings(
    ctx: Context, parts: list[dict[str, Member]], names: dict[str, str], paths: list[str]
) -> None:
    present = [set(part) for part in parts]
    everywhere = set.union(*present) if present else set()
    where = ", ".join(paths)
    for name, means in names.items():
        if name not in everywhere:
            ctx.warn(where, f"{name} absent: {means}")
        elif len(parts) > 1:
            for part in parts:
                if name not in part:
                    some = next(iter(part.values()))
                    folder = some.display.rsplit("/", 1)[0] if "/" in some.display else some.root
                    ctx.warn(folder, f"{name} absent from this part (present in another part)")


# -- the download ---------------------------------------------------------------------------------
def _normalise_download(name: str, df: pl.DataFrame, display: str) -> pl.DataFrame:
    known = KNOWN_COLUMNS.get(name, {})
    df = canonical_columns(df, known)
    from assess2plan.io.files import require_columns

    require_columns(df, display, REQUIRED.get(name, ()))
    return df


def _dedupe_assessments(ctx: Context, df: pl.DataFrame, file_col: str = "assessmentId") -> pl.DataFrame:
    """Refuse a duplicate id within one file; keep the first part's row across parts."""
    firsts = pl.col(AID).is_first_distinct().over(SRC)
    dup = df.filter(~firsts)
    if dup.height:
        first = dup.sort([SRC, ROW]).row(0, named=True)
        earlier = df.filter((pl.col(SRC) == first[SRC]) & (pl.col(AID) == first[AID]))[ROW].min()
        raise InputError(
            ctx.displays[first[SRC]],
            f"duplicate assessment id (already on row {earlier})",
            row=first[ROW],
            column=file_col,
            value=first[AID],
        )
    return df.sort([PART, SRC, ROW]).unique(subset=AID, keep="first", maintain_order=True)


def _assessment_frame(ctx: Context, df: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    out = select_mapped(df, mapping)
    out = clean_id(clean_id(out, AID), TID)
    require_values(ctx, out, AID, "assessmentId", "an assessment id")
    require_values(ctx, out, TID, "internalTaxonId", "a taxon id")
    out = _dedupe_assessments(ctx, out)
    out = map_category(ctx, out, "category_label", "redlistCategory")
    out = parse_year(ctx, out, "year_published", "yearPublished")
    out = parse_date(ctx, out, "assessment_date", "assessmentDate")
    out = parse_bool(ctx, out, "possibly_extinct", "possiblyExtinct")
    out = parse_bool(ctx, out, "possibly_extinct_in_the_wild", "possiblyExtinctInTheWild")
    out = map_trend(out)
    return out


def merge_first(frames: list[pl.DataFrame], key: str) -> pl.DataFrame:
    """One row per ``key``: each column from the first frame (in order) that has a value for it."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame()
    if len(frames) == 1:
        return frames[0]
    out = frames[0]
    for other in frames[1:]:
        common = [c for c in other.columns if c in out.columns and c != key]
        joined = out.join(other, on=key, how="full", coalesce=True, suffix="__r", maintain_order="left_right")
        joined = joined.with_columns([pl.coalesce(c, f"{c}__r").alias(c) for c in common]).drop(
            [f"{c}__r" for c in common]
        )
        out = joined
    return out


def read_download(
    paths: Iterable[str | Path] | str | Path, progress: Progress | None = None
) -> AssessmentSet:
    """Read a Red List website download (zips and/or folders, split parts, overlapping downloads)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise InputError("(no path)", "give at least one zip or folder")
    ctx = Context(FORMAT)
    parts = find_parts(paths, ctx)
    # Files are read as the tables are built (parents first, then one child file at a time) and
    # dropped once their table is built; see ``LazyFiles`` for what stays as if read up front.
    raw = LazyFiles(parts, ctx, KNOWN_COLUMNS, IGNORED, progress, _normalise_download)
    _absent_warnings(ctx, parts, ABSENT_MEANS, [str(p) for p in paths])
    try:
        return build_set(ctx, raw)
    except InputError as exc:
        first = raw.first_error(exc)
        if first is exc:
            raise
        raise first from None


def compacted(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The frames of ``frames`` (same columns) as one, each column in one chunk; empties the list.

    The set's tables are handed over in one chunk per column, as before (polars copies every
    column of a frame whose columns are chunked differently at its next select: a store adding a
    column in one chunk to a table in many would copy the table). A column is made one chunk at
    a time and its chunks are freed at once (``frames`` held the only references to them), so that
    the copy costs little more than one column. A column all null is made anew instead (polars
    holds nulls in next to no memory).
    """
    cols = (frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")).get_columns()
    frames.clear()
    for i, col in enumerate(cols):
        if col.len() and col.null_count() == col.len():  # all null (e.g. threats' "virus")
            cols[i] = pl.repeat(None, col.len(), dtype=col.dtype, eager=True).alias(col.name)
        elif col.n_chunks() > 1:
            cols[i] = col.rechunk()
        del col
    return pl.DataFrame(cols)


def _release(raw: LazyFiles | dict[str, pl.DataFrame], name: str) -> None:
    if isinstance(raw, LazyFiles):
        raw.release(name)


def build_set(ctx: Context, raw: LazyFiles | dict[str, pl.DataFrame]) -> AssessmentSet:
    """The canonical tables from the raw frames of a download's files (by file name)."""
    tables: dict[str, pl.DataFrame] = {}

    # assessments: assessments.csv first, simple_summary.csv fills what it lacks
    a_frames = []
    if "assessments.csv" in raw:
        a = raw["assessments.csv"]
        a_frames.append(_assessment_frame(ctx, a, ASSESSMENT_COLUMNS))
        extra = [c for c in a.columns if c not in ASSESSMENT_COLUMNS and c not in (PART, SRC, ROW)]
        # what the other_fields step needs of the file once the other steps are done with it
        a_extra = a.select([PART, SRC, ROW, "assessmentId", "internalTaxonId", *extra]) if extra else None
        del a
    else:
        extra = []
        a_extra = None
    if "simple_summary.csv" in raw:
        s = raw["simple_summary.csv"]
        a_frames.append(
            _assessment_frame(
                ctx,
                s,
                {
                    k: v
                    for k, v in SUMMARY_COLUMNS.items()
                    if k not in TAXON_COLUMNS or k in ("internalTaxonId", "scientificName")
                },
            )
        )
        del s
    assessments = merge_first([f.drop([PART, SRC, ROW], strict=False) for f in a_frames], AID)
    del a_frames
    if assessments.height == 0:
        assessments = pl.DataFrame(schema={AID: pl.Utf8, TID: pl.Utf8})
    tables["assessments"] = assessments

    # taxa: taxonomy.csv, then simple_summary.csv, then assessments.csv
    t_frames = []
    for name, mapping in (
        ("taxonomy.csv", TAXON_COLUMNS),
        ("simple_summary.csv", TAXON_COLUMNS),
        ("assessments.csv", {"internalTaxonId": TID, "scientificName": "scientific_name"}),
    ):
        if name in raw:
            t = clean_id(select_mapped(raw[name], mapping), TID)
            if name == "taxonomy.csv":
                require_values(ctx, t, TID, "internalTaxonId", "a taxon id")
            t = (
                t.filter(pl.col(TID).is_not_null())
                .sort([PART, SRC, ROW])
                .unique(TID, keep="first", maintain_order=True)
            )
            t_frames.append(t.drop([PART, SRC, ROW]))
    for name in ("taxonomy.csv", "simple_summary.csv", "assessments.csv"):
        _release(raw, name)
    taxa = merge_first(t_frames, TID)
    del t_frames
    if "taxonomic_notes" in taxa.columns and assessments.height:
        assessments = (
            assessments.join(
                taxa.select(TID, pl.col("taxonomic_notes").alias("_notes")),
                on=TID,
                how="left",
                maintain_order="left",
            )
            .with_columns(pl.col("_notes").alias("taxonomic_notes"))
            .drop("_notes")
        )
        tables["assessments"] = assessments

    # classification children
    tables.update(_child_tables(ctx, raw, assessments))

    if "credits.csv" in raw:
        df = select_mapped(
            raw["credits.csv"], {"assessmentId": AID, "internalTaxonId": TID, **CREDIT_COLUMNS}
        )
        _release(raw, "credits.csv")
        df = attach_children(ctx, df, assessments)
        df = parse_int(ctx, df, "order", "order")
        cols = df.columns
        text = pl.coalesce(
            _blank_to_null(pl.col("text")) if "text" in cols else pl.lit(None, pl.Utf8),
            _blank_to_null(pl.col("full")) if "full" in cols else pl.lit(None, pl.Utf8),
        )
        df = df.with_columns(text.alias("text"))
        df = apply_unique(df, "value", list_value, out="names") if "value" in cols else df
        tables["credits"] = df

    other = []
    if "all_other_fields.csv" in raw:
        df = clean_id(
            clean_id(raw["all_other_fields.csv"].rename({"assessmentId": AID, "internalTaxonId": TID}), AID),
            TID,
        )
        _release(raw, "all_other_fields.csv")
        df = attach_children(ctx, df, assessments)
        acts, rest = wide_fields(ctx, df, ["scientificName"])
        if acts.height:
            tables["actions_in_place"] = acts
        other.append(rest)
    if a_extra is not None:
        a = clean_id(a_extra.rename({"assessmentId": AID, "internalTaxonId": TID}), AID)
        del a_extra
        a = first_part_per(a, AID)
        _, rest = wide_fields(ctx, a.select([PART, SRC, ROW, AID, TID, *extra]), [])
        other.append(rest)
    other = [o for o in other if o.height]
    if other:
        tables["other_fields"] = pl.concat(other, how="diagonal_relaxed")

    # taxon-level children
    taxa_extra = []
    for name, mapping, table in (
        ("common_names.csv", COMMON_NAME_COLUMNS, "common_names"),
        ("synonyms.csv", SYNONYM_COLUMNS, "synonyms"),
    ):
        if name not in raw:
            continue
        df = clean_id(select_mapped(raw[name], mapping), TID)
        _release(raw, name)
        ctx.fail(
            df.filter(pl.col(TID).is_null()),
            "empty internalTaxonId: every row needs a taxon id",
            "internalTaxonId",
            None,
        )
        df = first_part_per(df, TID)
        if "main" in df.columns:
            df = parse_bool(ctx, df, "main", "main")
        tables[table] = df
        if "scientific_name" in df.columns:
            taxa_extra.append(
                df.select(TID, "scientific_name").unique(TID, keep="first", maintain_order=True)
            )
    if taxa_extra:
        known = taxa[TID] if taxa.height else pl.Series(TID, [], pl.Utf8)
        new = (
            pl.concat(taxa_extra)
            .unique(TID, keep="first", maintain_order=True)
            .filter(~pl.col(TID).is_in(known.implode()))
        )
        if new.height:
            taxa = pl.concat([taxa, new], how="diagonal_relaxed") if taxa.height else new
    tables["taxa"] = taxa

    if isinstance(raw, LazyFiles):
        raw.finish()
    return AssessmentSet.from_frames(
        {k: v for k, v in tables.items() if v.height or v.width}, sources=ctx.sources, issues=ctx.issues
    )


def _child_table(
    ctx: Context, raw: LazyFiles | dict[str, pl.DataFrame], name: str, assessments: pl.DataFrame
) -> pl.DataFrame:
    """One classification file as its canonical table (its part of the table, for occurrence)."""
    spec = CHILD_FILES[name]
    df = select_mapped(raw[name], {"assessmentId": AID, "internalTaxonId": TID, **spec.columns})
    _release(raw, name)
    # only the canonical columns are kept (row numbers go now); ``compacted`` makes them one
    # chunk each afterwards, freeing the old chunks as it goes
    return conform(spec.table, child_rows(ctx, df, assessments, spec), rechunk=False)


def _child_tables(
    ctx: Context, raw: LazyFiles | dict[str, pl.DataFrame], assessments: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The tables of the classification files (threats, habitats, occurrence, ...).

    The occurrence files are built first: occurrence, the largest table, is put together from
    several files (countries, LMEs, FAO areas) in one copy (``compacted``), which costs least
    while little else is held. What the set records does not depend on that order: the warnings
    of each file are kept apart and recorded in ``CHILD_FILES`` order, and on bad input the error
    raised is the one that building in that order raises first.
    """
    names = [name for name in CHILD_FILES if name in raw]
    order = sorted(names, key=lambda name: CHILD_FILES[name].table != "occurrence")
    last_occurrence = next((n for n in reversed(order) if CHILD_FILES[n].table == "occurrence"), None)
    warnings: dict[str, list[Issue]] = {}
    done: set[str] = set()

    def build(name: str) -> pl.DataFrame:
        issues, ctx.issues = ctx.issues, []
        try:
            return _child_table(ctx, raw, name, assessments)
        finally:
            warnings[name], ctx.issues = ctx.issues, issues
            done.add(name)

    tables: dict[str, pl.DataFrame] = {}
    occurrence: list[pl.DataFrame] = []
    for name in order:
        try:
            pieces = [build(name)]
        except InputError:
            for earlier in names[: names.index(name)]:
                if earlier not in done:
                    try:
                        build(earlier)
                    except InputError as first:
                        raise first from None
            raise
        table = CHILD_FILES[name].table
        if table == "occurrence":
            occurrence.extend(pieces)
            pieces.clear()
            if name == last_occurrence:
                tables[table] = compacted(occurrence)
        else:
            tables[table] = compacted(pieces)
    for name in names:
        ctx.issues.extend(warnings[name])
    return tables


def child_rows(
    ctx: Context,
    df: pl.DataFrame,
    assessments: pl.DataFrame,
    spec: ChildSpec,
    file_cols: dict[str, str] | None = None,
    id_col: str = "assessmentId",
    what: str = "assessments.csv or simple_summary.csv",
    taxon_col: str = "internalTaxonId",
) -> pl.DataFrame:
    """Map, check and link the rows of one classification file (threats, habitats, ...)."""
    file_cols = file_cols or {v: k for k, v in spec.columns.items()}
    code_col = file_cols.get("code", "code")
    df = attach_children(ctx, df, assessments, file_col=id_col, taxon_col=taxon_col, what=what)
    df = normalise_codes(df, "code")
    df = drop_empty_codes(ctx, df, code_col)
    warn_unknown_codes(ctx, df, spec.scheme if spec.kind != "country" else None, code_col)
    df = fill_names(df, spec.scheme)
    if spec.table == "threats":
        df = normalise_code_lists(df, "stress_codes")
        warn_unknown_code_lists(
            ctx, df, "stresses", file_cols.get("stress_codes", "stressCode"), "stress_codes"
        )
        df = fill_stress_names(df)
        df = compute_impact(ctx, df, file_cols)
    if spec.table == "occurrence":
        if "seasonality" in df.columns:
            df = apply_unique(df, "seasonality", list_value)
        df = occurrence_kind(df, spec.kind or "country")
        if spec.kind == "country":
            countries = df.filter(pl.col("kind") == "country")
            warn_unknown_codes(ctx, countries, "countries", code_col)
    return df
