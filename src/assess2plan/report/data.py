"""What a workshop report or a species datasheet shows: ``ReportData`` and the statistics over it.

``ReportData`` holds the working set (``AssessmentSet``) and, when they have been computed, the
planning frames of the other parts (planning sheet, findings, bucket assignments, clusters,
stakeholders, commitments, sites, site links, site events), with the columns agreed in
``notes/planning_interfaces.md``. Every planning frame is optional: a report section whose frame is
``None`` says "not computed" instead of failing. A frame that is given but lacks a column the
report needs raises :class:`~assess2plan.errors.A2PError` naming the frame and the columns.

The species a report covers are the taxa of ``sheet`` when one is given (the user's selection:
``planning_sheet(aset, parse_query(["category=CR,EN,VU", "country=ID"]))``), else every taxon's
latest assessment in ``scope``. Statistics are computed over those species; threatened means
Critically Endangered, Endangered or Vulnerable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import polars as pl

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.model import THREATENED, AssessmentSet

#: Red List category colours (those of the Red List Index figures); legacy categories take the
#: colour of their current equivalent.
CATEGORY_COLOURS: dict[str, str] = {
    "EX": "#000000",
    "EW": "#542344",
    "RE": "#3a3a3a",
    "CR": "#d81e05",
    "EN": "#fc7f3f",
    "VU": "#f9e814",
    "NT": "#cce226",
    "LR/cd": "#cce226",
    "LR/nt": "#cce226",
    "LC": "#60c659",
    "LR/lc": "#60c659",
    "DD": "#d1d1c6",
    "NE": "#ffffff",
    "NA": "#ffffff",
}
#: Colour of a category code outside the list above.
OTHER_COLOUR = "#9e9e9e"
#: Categories whose colour is dark enough to need white text on it.
DARK_CATEGORIES = frozenset({"EX", "EW", "RE", "CR"})
#: Red List order, most at risk first.
CATEGORY_ORDER = schemes.CATEGORY_ORDER
MAJOR_IMPACTS = schemes.MAJOR_IMPACTS
BUCKETS = ("single_species", "site_based", "threat_based", "ex_situ")
BUCKET_TITLES = {
    "single_species": "Single-species recovery planning",
    "site_based": "Site- and habitat-based planning",
    "threat_based": "Threat-focused planning",
    "ex_situ": "Ex situ management evaluation",
}

#: Columns the report reads from each planning frame (the agreed schemas may hold more).
REQUIRED: dict[str, tuple[str, ...]] = {
    "sheet": ("taxon_id",),
    "findings": ("rule", "severity", "taxon_id", "scientific_name", "message", "suggested_fix"),
    "buckets": ("taxon_id", "scientific_name", "category", "bucket", "rule", "reason", "status"),
    "clusters": ("cluster_id", "basis", "code", "code_name", "place_kind", "place", "place_name", "size"),
    "cluster_members": ("cluster_id", "taxon_id", "scientific_name", "category", "code", "impact", "reason"),
    "stakeholders": (
        "stakeholder_id",
        "name",
        "kind",
        "organisation",
        "role",
        "countries",
        "sites",
        "expertise",
    ),
    "experts": ("taxon_id", "name", "credit_type"),
    "suggestions": ("target_kind", "target", "stakeholder_id", "name", "reason", "score"),
    "commitments": (
        "commitment_id",
        "stakeholder_id",
        "stakeholder_name",
        "taxon_id",
        "cluster_id",
        "action_code",
        "action_name",
        "place",
        "due_date",
        "status",
        "progress",
    ),
    "sites": ("site_id", "name", "kind", "country", "geometry"),
    "site_links": ("taxon_id", "site_id", "site_name", "source", "note"),
    "events": ("event_id", "site_id", "title", "description", "severity", "made_at"),
    # ex situ assessments (store.list_exsitu_assessments): steps done, outcome, roles retained
    "exsitu": ("taxon_id", "scientific_name", "category", "steps_done", "outcome", "roles_retained"),
}
FRAMES = tuple(REQUIRED)
#: Place kinds that are precise locations: withheld for the species in ``ReportData.hidden_taxa``.
PRECISE_PLACES = ("site", "subnational")
#: What a report shows instead of a text that names a precise location of a sensitive species.
WITHHELD = "(withheld: names a precise location of a sensitive species)"
_PRECISE_TEXT = r"(?i)\bsites?\b|site:|subnational"


def category_colour(code: str | None) -> str:
    """The colour of a Red List category code (grey for unknown codes)."""
    return CATEGORY_COLOURS.get(code or "", OTHER_COLOUR)


def category_label(code: str | None) -> str:
    """``"CR"`` -> ``"Critically Endangered"`` (the code itself when unknown; "(none)" for null)."""
    if not code:
        return "(none)"
    c = schemes.category(code)
    return c[1] if c else code


def category_rank(code: str | None) -> int:
    """Position of a category in Red List order (unknown codes last)."""
    try:
        return CATEGORY_ORDER.index(code)  # type: ignore[arg-type]
    except ValueError:
        return len(CATEGORY_ORDER)


def level1(code: str | None) -> str | None:
    """``"7.2.10"`` -> ``"7"``."""
    return code.split(".")[0] if code else None


@dataclass
class ReportData:
    """The working set and planning frames a workshop report or datasheet is made from.

    ``clusters`` takes either the clusters frame (with ``cluster_members`` beside it) or the
    ``Clusters`` object of ``assess2plan.planning.clusters`` (its ``clusters`` and ``members``);
    ``findings`` a findings frame (``checks.check_frame``) or the list of ``run_checks``.
    ``experts`` (Red List credits per taxon) is derived from the set's credits when not given.
    Sensitive sites are neither drawn nor given coordinates unless ``show_sensitive`` is true.
    ``hidden_taxa`` (taxon ids; the sensitive species the reader may not locate) leaves out their
    precise locations: their site links (so neither the sites section nor their datasheets say
    where they live), their membership of clusters at a site or subnational place, their
    subnational places, and the bucket reasons and findings of theirs that name a site or
    subnational place. Empty by default (the CLI's reports, for people who may see everything).
    Frames derived from the site links (buckets, clusters) are best computed from
    ``visible_site_links(links, hidden_taxa)`` so that other species' reasons do not count them.
    ``max_rows`` caps every long list ("and N more"); ``today`` decides which commitments are
    overdue when the commitments frame has no ``overdue`` column.
    """

    aset: AssessmentSet
    title: str = "Workshop report"
    project: str | None = None
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    scope: str = "Global"
    sheet: pl.DataFrame | None = None
    findings: Any = None
    buckets: pl.DataFrame | None = None
    clusters: Any = None
    cluster_members: pl.DataFrame | None = None
    stakeholders: pl.DataFrame | None = None
    experts: pl.DataFrame | None = None
    suggestions: pl.DataFrame | None = None
    commitments: pl.DataFrame | None = None
    sites: pl.DataFrame | None = None
    site_links: pl.DataFrame | None = None
    events: pl.DataFrame | None = None
    exsitu: pl.DataFrame | None = None
    show_sensitive: bool = False
    hidden_taxa: frozenset[str] = frozenset()
    max_rows: int = 200
    today: dt.date | None = None

    def __post_init__(self) -> None:
        self.hidden_taxa = frozenset(str(t) for t in (self.hidden_taxa or ()))
        if not isinstance(self.aset, AssessmentSet):
            raise A2PError(f"ReportData needs an AssessmentSet, not {type(self.aset).__name__}")
        if self.clusters is not None and not isinstance(self.clusters, pl.DataFrame):
            obj = self.clusters
            if not (hasattr(obj, "clusters") and hasattr(obj, "members")):
                raise A2PError(
                    "clusters must be a clusters frame or a Clusters object (with .clusters and .members)"
                )
            self.clusters = obj.clusters
            if self.cluster_members is None:
                self.cluster_members = obj.members
        if self.findings is not None and not isinstance(self.findings, pl.DataFrame):
            from assess2plan.checks import findings_frame

            self.findings = findings_frame(self.findings)
        for name in FRAMES:
            frame = getattr(self, name)
            if frame is None:
                continue
            if not isinstance(frame, pl.DataFrame):
                raise A2PError(f"ReportData.{name} must be a polars DataFrame, not {type(frame).__name__}")
            missing = [c for c in REQUIRED[name] if c not in frame.columns]
            if missing:
                raise A2PError(
                    f"ReportData.{name} lacks the column(s) {', '.join(missing)} "
                    f"(it has: {', '.join(frame.columns) or 'none'})"
                )
        if self.max_rows < 1:
            raise A2PError(f"max_rows must be at least 1, not {self.max_rows}")
        if self.hidden_taxa:
            self._withhold_locations()

    def _withhold_locations(self) -> None:
        """Leave the precise locations of ``hidden_taxa`` out of every frame (see the class doc)."""
        hidden = self.hidden_taxa
        if self.site_links is not None:
            self.site_links = visible_site_links(self.site_links, hidden)
        if self.findings is not None:
            self.findings = withhold_texts(self.findings, hidden, ("message", "evidence", "suggested_fix"))
        if self.buckets is not None:
            self.buckets = withhold_texts(self.buckets, hidden, ("reason", "evidence"))
        if self.clusters is not None and self.cluster_members is not None and self.clusters.height:
            precise = self.clusters.filter(pl.col("place_kind").is_in(list(PRECISE_PLACES)))
            ids = precise.get_column("cluster_id").implode()
            members = self.cluster_members.filter(
                ~(pl.col("cluster_id").is_in(ids) & pl.col("taxon_id").cast(pl.Utf8).is_in(list(hidden)))
            )
            sizes = (
                members.filter(pl.col("cluster_id").is_in(ids))
                .group_by("cluster_id")
                .agg(pl.col("taxon_id").n_unique().alias("_size"))
            )
            clusters = self.clusters.join(sizes, on="cluster_id", how="left")
            is_precise = pl.col("cluster_id").is_in(ids)
            clusters = clusters.filter(~is_precise | pl.col("_size").is_not_null()).with_columns(
                pl.when(is_precise)
                .then(pl.col("_size").cast(self.clusters.schema["size"]))
                .otherwise(pl.col("size"))
                .alias("size")
            )
            self.clusters = clusters.drop("_size")
            self.cluster_members = members

    # -- the species covered ----------------------------------------------------------------------
    @cached_property
    def species(self) -> pl.DataFrame:
        """The planning sheet rows of the species covered (one per taxon), in Red List order."""
        from assess2plan.sheet import SheetQuery, category_rank, planning_sheet

        sheet = planning_sheet(self.aset, SheetQuery(scope=self.scope))
        if self.sheet is not None:
            keep = self.sheet.get_column("taxon_id").cast(pl.Utf8).unique()
            sheet = sheet.filter(pl.col("taxon_id").is_in(keep.implode()))
        return sheet.sort([category_rank(pl.col("category")), pl.col("scientific_name"), pl.col("taxon_id")])

    @cached_property
    def taxon_ids(self) -> set[str]:
        return set(self.species.get_column("taxon_id").to_list())

    @cached_property
    def latest(self) -> pl.DataFrame:
        """Latest assessments (all columns, narratives included) of the species covered."""
        ids = self.species.get_column("assessment_id")
        return self.aset.assessments.filter(pl.col("assessment_id").is_in(ids.implode()))

    def threatened(self) -> pl.Expr:
        return pl.col("category").is_in(list(THREATENED))

    # -- statistics -------------------------------------------------------------------------------
    def category_counts(self) -> list[dict[str, Any]]:
        """Species per category in Red List order: code, label, species, percent, colour."""
        sp = self.species
        counts = sp.group_by("category").agg(pl.len().alias("n")).to_dicts()
        total = sp.height or 1
        rows = [
            {
                "code": r["category"] or "(none)",
                "label": category_label(r["category"]),
                "species": r["n"],
                "percent": 100.0 * r["n"] / total,
                "colour": category_colour(r["category"]),
                "dark": r["category"] in DARK_CATEGORIES,
            }
            for r in counts
        ]
        return sorted(rows, key=lambda r: (category_rank(r["code"]), r["code"]))

    def _coded_counts(self, column: str, scheme: str, major: str | None = None) -> list[dict[str, Any]]:
        sp = self.species.select("taxon_id", "category", column, *([major] if major else []))
        long = (
            sp.select("taxon_id", "category", pl.col(column).alias("code"))
            .explode("code", empty_as_null=True)
            .drop_nulls("code")
            .with_columns(pl.col("code").str.split(".").list.first().alias("code"))
            .unique(["taxon_id", "code"])
        )
        agg = long.group_by("code").agg(
            pl.len().alias("species"), self.threatened().sum().cast(pl.Int64).alias("threatened")
        )
        if major:
            m = (
                sp.select("taxon_id", pl.col(major).alias("code"))
                .explode("code", empty_as_null=True)
                .drop_nulls("code")
                .with_columns(pl.col("code").str.split(".").list.first().alias("code"))
                .unique(["taxon_id", "code"])
                .group_by("code")
                .agg(pl.len().alias("major"))
            )
            agg = agg.join(m, on="code", how="left").with_columns(pl.col("major").fill_null(0))
        rows = agg.to_dicts()
        for r in rows:
            r["name"] = schemes.name_of(scheme, r["code"]) or "(code not in the scheme)"
        return sorted(rows, key=lambda r: _code_key(r["code"]))

    def threat_counts(self) -> list[dict[str, Any]]:
        """Per level-1 threat class: species with a threat in it, threatened ones, and ``major``:
        species with a major threat (Medium or High Impact) in it."""
        return self._coded_counts("threats", "threats", major="major_threats")

    def action_counts(self) -> list[dict[str, Any]]:
        """Per level-1 conservation action class: species needing an action in it, threatened ones."""
        return self._coded_counts("actions_needed", "conservation_actions")

    def research_counts(self) -> list[dict[str, Any]]:
        """Per level-1 research class: species needing research in it, threatened ones."""
        return self._coded_counts("research_needed", "research")

    def place_counts(self, kind: str) -> pl.DataFrame:
        """Species per place of ``kind`` (country, lme, fao, subnational): code, name, species,
        threatened and one column per category present, most threatened species first."""
        column = {"country": "countries", "lme": "lmes", "fao": "fao_areas", "subnational": "subnational"}[
            kind
        ]
        sp = self.species
        if kind in PRECISE_PLACES and self.hidden_taxa:
            sp = sp.filter(~pl.col("taxon_id").is_in(list(self.hidden_taxa)))
        long = (
            sp.select("taxon_id", "category", pl.col(column).alias("code"))
            .explode("code", empty_as_null=True)
            .drop_nulls("code")
            .unique(["taxon_id", "code"])
        )
        schema = {"code": pl.Utf8, "name": pl.Utf8, "species": pl.Int64, "threatened": pl.Int64}
        if long.height == 0:
            return pl.DataFrame(schema=schema)
        agg = long.group_by("code").agg(
            pl.len().cast(pl.Int64).alias("species"),
            self.threatened().sum().cast(pl.Int64).alias("threatened"),
        )
        cats = sorted({c for c in long.get_column("category").to_list() if c}, key=category_rank)
        per = (
            long.filter(pl.col("category").is_not_null())
            .group_by("code", "category")
            .agg(pl.len().alias("n"))
        )
        for c in cats:
            agg = agg.join(
                per.filter(pl.col("category") == c).select("code", pl.col("n").cast(pl.Int64).alias(c)),
                on="code",
                how="left",
            )
        agg = agg.with_columns(pl.col(c).fill_null(0) for c in cats)
        names = self._place_names(kind)
        agg = agg.with_columns(
            pl.col("code").replace_strict(names, default=pl.col("code"), return_dtype=pl.Utf8).alias("name")
        )
        return agg.select("code", "name", "species", "threatened", *cats).sort(
            ["threatened", "species", "code"], descending=[True, True, False]
        )

    def _place_names(self, kind: str) -> dict[str, str]:
        """code -> name: the scheme's name (countries, FAO areas), else the name in the data."""
        occ = self.aset.occurrence.filter((pl.col("kind") == kind) & pl.col("name").is_not_null())
        codes = occ.get_column("code").str.to_uppercase().to_list()
        names = dict(zip(codes, occ.get_column("name").to_list(), strict=True))
        scheme = {"country": "countries", "fao": "faos"}.get(kind)
        if scheme:
            for code in set(codes) | set(names):
                n = schemes.name_of(scheme, code)
                if n:
                    names[code] = n.strip()
        return names

    def completeness(self) -> dict[str, Any] | None:
        """Completeness of the conservation sections (only when findings were computed): per
        component, the share of species (and of threatened species) that have it."""
        if self.findings is None:
            return None
        from assess2plan.checks import completeness

        comp = completeness(self.aset, scope=self.scope)
        cat = self.species.select("assessment_id", "category")
        comp = comp.join(cat, on="assessment_id", how="inner")
        absent = comp.get_column("not_in_export").first() if comp.height else []
        components = (
            "threats",
            "actions_needed",
            "research_needed",
            "actions_in_place",
            "habitats",
            "countries",
        )
        thr = comp.filter(pl.col("category").is_in(list(THREATENED)))
        rows = []
        for c in components:
            rows.append(
                {
                    "component": c.replace("_", " "),
                    "in_export": c not in (absent or []),
                    "species": int(comp.get_column(c).sum()),
                    "percent": 100.0 * comp.get_column(c).sum() / comp.height if comp.height else 0.0,
                    "threatened": int(thr.get_column(c).sum()),
                    "threatened_percent": 100.0 * thr.get_column(c).sum() / thr.height if thr.height else 0.0,
                }
            )
        scores = comp.get_column("score").drop_nulls()
        return {
            "rows": rows,
            "species": comp.height,
            "threatened": thr.height,
            "mean_score": float(scores.mean()) if scores.len() else None,
            "complete": int((comp.get_column("score") == 100).sum()),
            "not_in_export": [c.replace("_", " ") for c in (absent or [])],
        }

    def overdue(self) -> pl.Expr:
        """Whether a commitment is overdue: its ``overdue`` column, else due before ``today`` and
        still proposed or active."""
        today = self.today or dt.date.today()
        computed = (pl.col("due_date").cast(pl.Date, strict=False) < pl.lit(today)) & pl.col("status").is_in(
            ["proposed", "active"]
        )
        if self.commitments is not None and "overdue" in self.commitments.columns:
            return pl.col("overdue").cast(pl.Boolean, strict=False).fill_null(computed).fill_null(False)
        return computed.fill_null(False)

    def experts_frame(self) -> pl.DataFrame:
        """Experts per taxon: the given ``experts`` frame, else the set's Red List credits, one
        row per person (``names`` split) or per published credit line."""
        if self.experts is not None:
            return self.experts
        cr = self.aset.credits
        if cr.height == 0:
            return pl.DataFrame(schema={"taxon_id": pl.Utf8, "name": pl.Utf8, "credit_type": pl.Utf8})
        ids = self.species.get_column("assessment_id")
        cr = cr.filter(pl.col("assessment_id").is_in(ids.implode()))
        return (
            cr.with_columns(
                pl.when(pl.col("names").is_not_null())
                .then(pl.col("names").str.split("|"))
                .otherwise(pl.concat_list(pl.col("text")))
                .alias("name")
            )
            .explode("name", empty_as_null=True)
            .with_columns(pl.col("name").str.strip_chars())
            .filter(pl.col("name").is_not_null() & (pl.col("name") != ""))
            .select("taxon_id", "name", "credit_type", "order")
            .sort("taxon_id", "order", "name")
            .drop("order")
        )


def visible_site_links(links: pl.DataFrame, hidden_taxa: Iterable[str]) -> pl.DataFrame:
    """The site links without those of ``hidden_taxa`` (sensitive species the reader may not
    locate)."""
    hidden = [str(t) for t in hidden_taxa]
    if not hidden:
        return links
    return links.filter(~pl.col("taxon_id").cast(pl.Utf8).is_in(hidden))


def withhold_texts(frame: pl.DataFrame, hidden_taxa: Iterable[str], columns: Iterable[str]) -> pl.DataFrame:
    """``frame`` (findings, bucket assignments: one row per taxon) with the texts of ``hidden_taxa``
    that name a site or a subnational place replaced: ``message`` / ``reason`` by :data:`WITHHELD`,
    the other columns (evidence, suggested fix) by null. Rows of other taxa are unchanged."""
    hidden = [str(t) for t in hidden_taxa]
    cols = [c for c in columns if c in frame.columns]
    if not hidden or not cols or frame.height == 0:
        return frame
    mine = pl.col("taxon_id").cast(pl.Utf8).is_in(hidden)
    names = pl.any_horizontal(
        [pl.col(c).cast(pl.Utf8).str.contains(_PRECISE_TEXT).fill_null(False) for c in cols]
    )
    out = frame.with_columns((mine & names).alias("_withheld"))
    return out.with_columns(
        pl.when(pl.col("_withheld"))
        .then(pl.lit(WITHHELD if c in ("message", "reason") else None, dtype=frame.schema[c]))
        .otherwise(pl.col(c))
        .alias(c)
        for c in cols
    ).drop("_withheld")


def _code_key(code: str | None) -> tuple:
    """Sort key for dotted codes: "2" < "10", "4.3" < "11.3"; non-numeric parts after numbers."""
    if code is None:
        return ((1, ""),)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in code.split("."))


def code_sorted(codes: Iterable[str]) -> list[str]:
    """Codes in classification order."""
    return sorted(codes, key=_code_key)
