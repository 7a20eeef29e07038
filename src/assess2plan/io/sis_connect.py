"""Reader of IUCN SIS Connect CSV sets ("working set" exports / imports).

Files are keyed by ``internal_taxon_id``; classification files use SIS field names, in the newer
form ``Threats.ThreatsSubfield.ThreatsLookup`` or the older ``Threats.ThreatsLookup``; columns
are matched on their last dotted part (``...Lookup`` = code, ``...Name`` = name, ``timing``...).
There is no assessment id: one is synthesised as ``sis:<internal_taxon_id>`` unless the files
carry an ``assessment_id`` column. The error and warning rules are those of the website download
(``assess2plan.io.download``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from assess2plan.errors import InputError
from assess2plan.io.download import (
    AID,
    PART,
    SRC,
    TID,
    ChildSpec,
    Context,
    Progress,
    _blank_to_null,
    _read_parts,
    attach_children,
    canonical_columns,
    child_rows,
    clean_id,
    find_parts,
    first_part_per,
    map_category,
    map_trend,
    merge_first,
    parse_bool,
    parse_date,
    parse_int,
    require_values,
    warn_unknown_codes,
    wide_fields,
)
from assess2plan.io.files import ROW, open_input, read_header
from assess2plan.model import AssessmentSet

FORMAT = "sis-connect"
KEY = "internal_taxon_id"
ASSESSMENT_KEY = "assessment_id"

#: File name (and accepted aliases) -> role.
FILES = {
    "assessments.csv": "assessments",
    "taxonomy.csv": "taxonomy",
    "threats.csv": "threats",
    "conservationneeded.csv": "actions_needed",
    "conservation_needed.csv": "actions_needed",
    "researchneeded.csv": "research_needed",
    "research_needed.csv": "research_needed",
    "habitats.csv": "habitats",
    "countries.csv": "countries",
    "lme.csv": "lme",
    "largemarineecosystems.csv": "lme",
    "fao.csv": "fao",
    "faooccurrence.csv": "fao",
    "usetrade.csv": "use_trade",
    "credits.csv": "credits",
    "commonnames.csv": "common_names",
    "common_names.csv": "common_names",
    "synonyms.csv": "synonyms",
    "allfields.csv": "allfields",
    "all_fields.csv": "allfields",
    "plantspecific.csv": "plantspecific",
}
IGNORED = {"references.csv"}

#: Child files by role: canonical table, scheme, occurrence kind, last-dotted-part -> column.
_SUB = {
    "timing": "timing",
    "scope": "scope",
    "severity": "severity",
    "text": "text",
    "ias": "ias",
    "virus": "virus",
    "internationaltrade": "international_trade",
    "ancestry": "ancestry",
    "stress": "stress_codes",
    "stressdesc": "stress_names",
    "note": "note",
    "majorimportance": "major_importance",
    "season": "season",
    "suitability": "suitability",
    "presence": "presence",
    "origin": "origin",
    "seasonality": "seasonality",
    "formerlybred": "formerly_bred",
    "international": "international",
    "national": "national",
    "other": "other",
    "subsistence": "subsistence",
}
CHILD_ROLES = {
    "threats": ChildSpec("threats", {}, "threats", label="threats"),
    "actions_needed": ChildSpec(
        "actions_needed", {}, "conservation_actions", label="conservation actions needed"
    ),
    "research_needed": ChildSpec("research_needed", {}, "research", label="research needed"),
    "habitats": ChildSpec("habitats", {}, "habitats", label="habitats"),
    "countries": ChildSpec("occurrence", {}, "countries", "country", label="countries"),
    "lme": ChildSpec("occurrence", {}, None, "lme", label="large marine ecosystems"),
    "fao": ChildSpec("occurrence", {}, "faos", "fao", label="FAO areas"),
    "use_trade": ChildSpec("use_trade", {}, "use_and_trade", label="use and trade"),
}

#: assessments.csv: lower-case SIS column -> canonical assessment column.
ASSESSMENT_FIELDS = {
    "redlistcriteria.critversion": "criteria_version",
    "redlistassessmentdate.value": "assessment_date",
    "populationtrend.value": "population_trend",
    "system.value": "systems",
    "biogeographicrealm.realm": "realms",
    "redlistrationale.value": "rationale",
    "redlistcriteria.possiblyextinct": "possibly_extinct",
    "redlistcriteria.possiblyextinctinthewild": "possibly_extinct_in_the_wild",
    "redlistcriteria.yearlastseen": "year_last_seen",
    "language.value": "language",
    "taxonomicnotes.value": "taxonomic_notes",
    "regioninformation.regions": "scopes",
    "scientific_name": "scientific_name",
    "url": "url",
    "citation": "citation",
}
#: Several columns that may hold one value, in order of preference.
ASSESSMENT_CHOICES = {
    "category": ("redlistcriteria.manualcategory", "redlistcriteria.generatedcategory"),
    "criteria": (
        "redlistcriteria.manualcriteria",
        "redlistcriteria.manualcriteriastring",
        "redlistcriteria.generatedcriteria",
    ),
}
DOCUMENTATION = {
    "rangedocumentation": "range_text",
    "populationdocumentation": "population_text",
    "habitatdocumentation": "habitat_text",
    "threatsdocumentation": "threats_text",
    "usetradedocumentation": "use_trade_text",
    "conservationactionsdocumentation": "conservation_actions_text",
}
TAXONOMY_FIELDS = {
    "scientific_name": "scientific_name",
    "scientificname": "scientific_name",
    "kingdom": "kingdom",
    "kingdomname": "kingdom",
    "phylum": "phylum",
    "phylumname": "phylum",
    "classname": "class_name",
    "class": "class_name",
    "ordername": "order_name",
    "order": "order_name",
    "family": "family",
    "familyname": "family",
    "genus": "genus",
    "genusname": "genus",
    "species": "species",
    "speciesname": "species",
    "infratype": "infra_type",
    "infra_name": "infra_name",
    "infraname": "infra_name",
    "infra_authority": "infra_authority",
    "infraauthority": "infra_authority",
    "subpopulation": "subpopulation",
    "subpopulationname": "subpopulation",
    "taxonomicauthority": "authority",
    "authority": "authority",
    "taxonomicnotes.value": "taxonomic_notes",
}
SYNONYM_FIELDS = {
    "name": "name",
    "genusname": "genus",
    "genus": "genus",
    "speciesname": "species",
    "species": "species",
    "speciesauthor": "species_author",
    "infratype": "infra_type",
    "infrarankname": "infra_name",
    "infraname": "infra_name",
    "infrarankauthor": "infra_author",
    "infraauthor": "infra_author",
}
COMMON_NAME_FIELDS = {"name": "name", "language": "language", "primary": "main", "main": "main"}
CREDIT_FIELDS = {
    "credit_type": "credit_type",
    "firstname": "first",
    "lastname": "last",
    "initials": "initials",
    "order": "order",
    "text": "text",
}
ABSENT_MEANS = {
    "assessments.csv": "no assessments imported (only taxa)",
    "taxonomy.csv": "no taxonomy imported",
    "threats.csv": "no threats imported",
    "conservationneeded.csv": "no conservation actions needed imported",
    "researchneeded.csv": "no research needed imported",
    "habitats.csv": "no habitats imported",
    "countries.csv": "no countries imported",
    "usetrade.csv": "no use and trade imported",
    "credits.csv": "no assessors, reviewers or contributors imported",
    "commonnames.csv": "no common names imported",
    "synonyms.csv": "no synonyms imported",
    "allfields.csv": "no conservation actions in place or other fields imported",
}

_INFRA_MARKERS = {"subspecies (plantae)": "subsp.", "variety": "var.", "forma": "f.", "form": "f."}
_SEASONS = {
    "resident": "Resident",
    "breeding": "Breeding Season",
    "non-breeding": "Non-Breeding Season",
    "passage": "Passage",
    "seasonal occurrence uncertain": "Seasonal Occurrence Uncertain",
    "unknown": "Unknown",
}


# -- detection ------------------------------------------------------------------------------------
_LOOKUP = re.compile(r"^([A-Za-z]+)\.(?:\1Subfield\.)?\1Lookup$", re.IGNORECASE)
_SIS_FIELD = re.compile(r"^(RedList[A-Za-z]*|[A-Za-z]+Documentation)\.[A-Za-z]+$")


def looks_like_sis_connect(path: str | Path) -> bool:
    """True when the CSV headers look like SIS Connect (``internal_taxon_id``, ``X.XSubfield.XLookup``)."""
    members, _ = open_input(path)
    csvs = [m for m in members if m.name.endswith(".csv")]
    for m in csvs[:30]:
        try:
            header = read_header(m)
        except (InputError, OSError):
            continue
        for col in header:
            if col.lower() == KEY or _LOOKUP.match(col) or _SIS_FIELD.match(col):
                return True
    return False


# -- reading --------------------------------------------------------------------------------------
def _normalise(name: str, df: pl.DataFrame, display: str) -> pl.DataFrame:
    df = canonical_columns(df, [KEY, ASSESSMENT_KEY])
    if KEY not in df.columns and not (name == "assessments.csv" and ASSESSMENT_KEY in df.columns):
        cols = [c for c in df.columns if c not in (ROW,)]
        raise InputError(
            display,
            f"required column {KEY!r} is missing; columns found: {', '.join(cols) or '(none)'}",
            row=0,
            column=KEY,
        )
    role = FILES.get(name)
    if role in CHILD_ROLES or role == "plantspecific":
        if not any(c.lower().endswith("lookup") for c in df.columns):
            cols = [c for c in df.columns if c not in (ROW,)]
            raise InputError(
                display,
                f"required column '<Field>.<Field>Subfield.<Field>Lookup' (the code) is missing; columns found: "
                f"{', '.join(cols)}",
                row=0,
                column="...Lookup",
            )
    return df


def _family_columns(df: pl.DataFrame) -> dict[str, str]:
    """File column -> canonical column for a classification file, on the last dotted part."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for col in df.columns:
        if col in (PART, SRC, ROW, KEY, ASSESSMENT_KEY):
            continue
        last = col.split(".")[-1].lower()
        if last.endswith("lookup"):
            dst = "code"
        elif last.endswith("name") and last != "name":
            dst = "name"
        else:
            dst = _SUB.get(last)
        if dst and dst not in taken:
            out[col] = dst
            taken.add(dst)
    return out


def _by_lower(df: pl.DataFrame, fields: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    taken: set[str] = set()
    for col in df.columns:
        dst = fields.get(col.lower())
        if dst and dst not in taken:
            out[col] = dst
            taken.add(dst)
    return out


def _ids(df: pl.DataFrame) -> pl.DataFrame:
    """Keep the id columns under canonical names (assessment id only when the file has one)."""
    df = df.rename({KEY: TID}) if KEY in df.columns else df.with_columns(pl.lit(None, pl.Utf8).alias(TID))
    if ASSESSMENT_KEY in df.columns:
        df = df.rename({ASSESSMENT_KEY: AID})
    return clean_id(df, TID)


def _to_assessments(ctx: Context, df: pl.DataFrame, assessments: pl.DataFrame) -> pl.DataFrame:
    """Give rows without an assessment id the one of their taxon; an unknown taxon is an error."""
    has_aid = AID in df.columns
    df = clean_id(df, AID) if has_aid else df.with_columns(pl.lit(None, pl.Utf8).alias(AID))
    require_values(ctx, df.filter(pl.col(AID).is_null()), TID, KEY, "a taxon id")
    if assessments.height == 0:
        return df
    per_taxon = assessments.group_by(TID).agg(pl.len().alias("_n"))
    need = df.filter(pl.col(AID).is_null()).join(per_taxon, on=TID, how="anti")
    ctx.fail(need, "no assessment in the set is for this taxon (orphan row)", KEY, TID)
    return df


def _assessments(ctx: Context, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SIS assessments.csv -> (assessments, other_fields rows from its unmapped columns)."""
    df = _ids(df)
    if AID not in df.columns:
        require_values(ctx, df, TID, KEY, "a taxon id")
        df = df.with_columns(pl.when(pl.col(TID).is_not_null()).then(pl.lit("sis:") + pl.col(TID)).alias(AID))
        id_col = KEY
    else:
        df = clean_id(df, AID)
        require_values(ctx, df, AID, ASSESSMENT_KEY, "an assessment id")
        id_col = ASSESSMENT_KEY
    first = pl.col(AID).is_first_distinct().over(SRC)
    dup = df.filter(~first)
    if dup.height:
        row = dup.sort([SRC, ROW]).row(0, named=True)
        earlier = df.filter((pl.col(SRC) == row[SRC]) & (pl.col(AID) == row[AID]))[ROW].min()
        value = row[TID] if id_col == KEY else row[AID]
        raise InputError(
            ctx.displays[row[SRC]],
            f"duplicate assessment (already on row {earlier})",
            row=row[ROW],
            column=id_col,
            value=value,
        )
    df = df.sort([PART, SRC, ROW]).unique(AID, keep="first", maintain_order=True)

    lower = {c.lower(): c for c in df.columns}
    used: set[str] = {PART, SRC, ROW, AID, TID}
    exprs = [pl.col(PART), pl.col(SRC), pl.col(ROW), pl.col(AID), pl.col(TID)]
    file_cols: dict[str, str] = {}
    for low, dst in ASSESSMENT_FIELDS.items():
        if low in lower:
            exprs.append(pl.col(lower[low]).alias(dst))
            used.add(lower[low])
            file_cols[dst] = lower[low]
    for dst, options in ASSESSMENT_CHOICES.items():
        cols = [lower[o] for o in options if o in lower]
        if cols:
            exprs.append(pl.coalesce([_blank_to_null(pl.col(c)) for c in cols]).alias(dst))
            used.update(cols)
            file_cols[dst] = cols[0]
    docs: dict[str, list[str]] = {}
    for c in df.columns:
        base = c.split(".")[0].lower()
        if base in DOCUMENTATION and "." in c:
            docs.setdefault(DOCUMENTATION[base], []).append(c)
    for dst, cols in docs.items():
        exprs.append(pl.coalesce([_blank_to_null(pl.col(c)) for c in cols]).alias(dst))
        used.update(cols)
    out = df.select(exprs)
    if "category" in out.columns:
        out = map_category(ctx, out.rename({"category": "_cat"}), "_cat", file_cols["category"])
    out = parse_date(ctx, out, "assessment_date", file_cols.get("assessment_date", ""), dayfirst=True)
    out = parse_bool(ctx, out, "possibly_extinct", file_cols.get("possibly_extinct", ""))
    out = parse_bool(
        ctx, out, "possibly_extinct_in_the_wild", file_cols.get("possibly_extinct_in_the_wild", "")
    )
    out = map_trend(out)

    rest_cols = [c for c in df.columns if c not in used]
    _, others = wide_fields(ctx, df.select([PART, SRC, ROW, AID, TID, *rest_cols]), [])
    return out, others


def _taxa(ctx: Context, df: pl.DataFrame) -> pl.DataFrame:
    df = _ids(df)
    require_values(ctx, df, TID, KEY, "a taxon id")
    mapping = _by_lower(df, TAXONOMY_FIELDS)
    out = df.select(
        [pl.col(TID)]
        + [pl.col(c).alias(d) for c, d in mapping.items()]
        + [pl.col(PART), pl.col(SRC), pl.col(ROW)]
    )
    out = out.sort([PART, SRC, ROW]).unique(TID, keep="first", maintain_order=True)
    if "scientific_name" not in out.columns and {"genus", "species"} <= set(out.columns):
        infra_type = pl.col("infra_type") if "infra_type" in out.columns else pl.lit(None, pl.Utf8)
        infra_name = pl.col("infra_name") if "infra_name" in out.columns else pl.lit(None, pl.Utf8)
        kinds = out["infra_type"].drop_nulls().unique().to_list() if "infra_type" in out.columns else []
        markers = {k.lower(): _INFRA_MARKERS.get(k.strip().lower()) for k in kinds}
        marker = (
            infra_type.str.to_lowercase().replace_strict(
                list(markers), list(markers.values()), default=None, return_dtype=pl.Utf8
            )
            if markers
            else pl.lit(None, pl.Utf8)
        )
        binomial = pl.concat_str(
            [pl.col("genus").str.strip_chars(), pl.col("species").str.strip_chars()], separator=" "
        )
        infra = pl.concat_str([marker, _blank_to_null(infra_name)], separator=" ", ignore_nulls=True)
        out = out.with_columns(
            pl.when(_blank_to_null(infra_name).is_not_null())
            .then(pl.concat_str([binomial, infra], separator=" "))
            .otherwise(binomial)
            .alias("scientific_name")
        )
    return out.drop([PART, SRC, ROW])


def _season_labels(df: pl.DataFrame, col: str) -> pl.DataFrame:
    if col not in df.columns:
        return df
    olds = df[col].drop_nulls().unique().to_list()
    news = ["|".join(_SEASONS.get(p.strip().lower(), p.strip()) for p in v.split("|")) for v in olds]
    return df.with_columns(pl.col(col).replace_strict(olds, news, default=None, return_dtype=pl.Utf8))


def _none_to_null(df: pl.DataFrame, cols: Iterable[str]) -> pl.DataFrame:
    """SIS Connect files written from Python sometimes hold the text "None" for an empty note."""
    return df.with_columns(
        [
            pl.when(pl.col(c) == "None").then(None).otherwise(pl.col(c)).alias(c)
            for c in cols
            if c in df.columns
        ]
    )


def _initials(first: str | None) -> str | None:
    if not first:
        return None
    parts = [p for p in re.split(r"[\s.]+", first) if p]
    return "".join(f"{p[0].upper()}." for p in parts) or None


def _credits(df: pl.DataFrame) -> pl.DataFrame:
    cols = df.columns

    def col(name: str) -> pl.Expr:
        return _blank_to_null(pl.col(name).str.strip_chars()) if name in cols else pl.lit(None, pl.Utf8)

    first, last = col("first"), col("last")
    olds = df["first"].drop_nulls().unique().to_list() if "first" in cols else []
    derived = (
        first.replace_strict(olds, [_initials(o) for o in olds], default=None, return_dtype=pl.Utf8)
        if olds
        else pl.lit(None, pl.Utf8)
    )
    initials = pl.coalesce(col("initials"), derived)
    text = pl.coalesce(
        col("text"),
        pl.when(last.is_not_null() & initials.is_not_null())
        .then(pl.concat_str([last, initials], separator=", "))
        .otherwise(last),
    )
    names = pl.concat_str([first, last], separator=" ", ignore_nulls=True)
    return df.with_columns(text.alias("text"), _blank_to_null(names).alias("names"))


def read_sis_connect(
    path: str | Path | Iterable[str | Path], progress: Progress | None = None
) -> AssessmentSet:
    """Read a SIS Connect CSV set (a folder or a zip) into an ``AssessmentSet``."""
    paths = [path] if isinstance(path, str | Path) else list(path)
    ctx = Context(FORMAT)
    parts = find_parts(paths, ctx)
    raw = _read_parts(parts, ctx, FILES, IGNORED, progress, _normalise)
    # aliases -> one role each
    by_role: dict[str, pl.DataFrame] = {}
    for name, df in raw.items():
        role = FILES[name]
        by_role[role] = pl.concat([by_role[role], df], how="diagonal_relaxed") if role in by_role else df
    present = {FILES[n] for part in parts for n in part if n in FILES}
    for name, means in ABSENT_MEANS.items():
        if FILES[name] not in present:
            ctx.warn(", ".join(str(p) for p in paths), f"{name} absent: {means}")

    tables: dict[str, pl.DataFrame] = {}
    other: list[pl.DataFrame] = []
    taxa = _taxa(ctx, by_role["taxonomy"]) if "taxonomy" in by_role else pl.DataFrame()
    if "assessments" in by_role:
        assessments, rest = _assessments(ctx, by_role["assessments"])
        other.append(rest)
    else:
        assessments = pl.DataFrame(schema={AID: pl.Utf8, TID: pl.Utf8})
    if taxa.height and assessments.height:
        names = [c for c in ("scientific_name", "taxonomic_notes") if c in taxa.columns]
        if names:
            assessments = assessments.drop([n for n in names if n in assessments.columns]).join(
                taxa.select(TID, *names), on=TID, how="left", maintain_order="left"
            )
    else:
        names = []
    # taxa for assessments missing from taxonomy.csv
    if assessments.height:
        extra = assessments.select(TID).unique(maintain_order=True)
        taxa = merge_first([taxa, extra], TID) if taxa.height else extra
    tables["assessments"] = assessments.drop([PART, SRC, ROW], strict=False)

    occurrence = []
    for role, spec in CHILD_ROLES.items():
        if role not in by_role:
            continue
        df = _ids(by_role[role])
        mapping = _family_columns(df)
        file_cols = {v: k for k, v in mapping.items()}
        keep = [c for c in (PART, SRC, ROW, AID, TID) if c in df.columns]
        df = df.select([pl.col(c) for c in keep] + [pl.col(c).alias(d) for c, d in mapping.items()])
        df = _to_assessments(ctx, df, assessments)
        df = _none_to_null(df, ["note", "text", "name"])
        id_col = ASSESSMENT_KEY if ASSESSMENT_KEY in by_role[role].columns else KEY
        df = child_rows(
            ctx, df, assessments, spec, file_cols, id_col=id_col, what="assessments.csv", taxon_col=KEY
        )
        if spec.table == "habitats":
            df = _season_labels(df, "season")
        if spec.table == "occurrence":
            df = _season_labels(df, "seasonality")
            occurrence.append(df)
        else:
            tables[spec.table] = df
    if occurrence:
        tables["occurrence"] = pl.concat(occurrence, how="diagonal_relaxed")

    if "credits" in by_role:
        df = _ids(by_role["credits"])
        mapping = _by_lower(df, CREDIT_FIELDS)
        keep = [c for c in (PART, SRC, ROW, AID, TID) if c in df.columns]
        df = df.select([pl.col(c) for c in keep] + [pl.col(c).alias(d) for c, d in mapping.items()])
        df = _to_assessments(ctx, df, assessments)
        df = attach_children(ctx, df, assessments, file_col=KEY, taxon_col=KEY, what="assessments.csv")
        df = parse_int(ctx, df, "order", next((c for c, d in mapping.items() if d == "order"), "Order"))
        tables["credits"] = _credits(df).sort([AID, "credit_type", "order", ROW], nulls_last=True)

    if "allfields" in by_role:
        df = _ids(by_role["allfields"])
        df = _to_assessments(ctx, df, assessments)
        df = attach_children(ctx, df, assessments, file_col=KEY, taxon_col=KEY, what="assessments.csv")
        acts, rest = wide_fields(ctx, df, [])
        if acts.height:
            tables["actions_in_place"] = acts
        other.append(rest)

    if "plantspecific" in by_role:
        df = _ids(by_role["plantspecific"])
        code_col = next(c for c in df.columns if c.lower().endswith("lookup"))
        df = df.with_columns(_blank_to_null(pl.col(code_col).str.strip_chars()).alias("code"))
        df = _to_assessments(ctx, df, assessments)
        df = attach_children(ctx, df, assessments, file_col=KEY, taxon_col=KEY, what="assessments.csv")
        df = df.filter(pl.col("code").is_not_null())
        warn_unknown_codes(ctx, df, "growth_forms", code_col)
        forms = (
            df.group_by([PART, AID, TID], maintain_order=True)
            .agg(pl.col(SRC).first(), pl.col(ROW).first(), pl.col("code").str.join("|").alias("value"))
            .with_columns(pl.lit("PlantGrowthForms").alias("field"))
        )
        other.append(forms)

    other = [o for o in other if o.height]
    if other:
        tables["other_fields"] = pl.concat(other, how="diagonal_relaxed").sort([SRC, ROW])

    taxa_extra = []
    for role, fields, table in (
        ("common_names", COMMON_NAME_FIELDS, "common_names"),
        ("synonyms", SYNONYM_FIELDS, "synonyms"),
    ):
        if role not in by_role:
            continue
        df = _ids(by_role[role])
        require_values(ctx, df, TID, KEY, "a taxon id")
        mapping = _by_lower(df, fields)
        df = df.select(
            [pl.col(c) for c in (PART, SRC, ROW, TID)] + [pl.col(c).alias(d) for c, d in mapping.items()]
        )
        df = first_part_per(df, TID)
        if "main" in df.columns:
            df = parse_bool(ctx, df, "main", next(c for c, d in mapping.items() if d == "main"))
        if table == "synonyms" and "genus" not in df.columns and "name" in df.columns:
            df = df.with_columns(pl.col("name").str.strip_chars().str.extract(r"^(\S+)").alias("genus"))
        tables[table] = df
        taxa_extra.append(df.select(TID).unique(maintain_order=True))
    if taxa_extra:
        extra = pl.concat(taxa_extra).unique(maintain_order=True)
        taxa = merge_first([taxa, extra], TID) if taxa.height else extra
    if taxa.height:
        tables["taxa"] = taxa

    return AssessmentSet.from_frames(tables, sources=ctx.sources, issues=ctx.issues)
