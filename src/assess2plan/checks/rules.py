"""The consistency rules. Each is a documented function registered with its id, default severity,
rationale and default on/off state; docs/checks.md describes every one of them.

All rules work on whole tables with polars joins and group-bys (no Python loop over assessment
rows); Python loops run only over distinct codes or distinct criteria strings, which are few.
"""

from __future__ import annotations

import polars as pl

from assess2plan import schemes
from assess2plan.checks import criteria as crit
from assess2plan.checks.core import Context, map_text, related, rule, under, via_distinct

S = pl.Utf8
#: Schema of a rule that finds nothing.
_NONE = {"aid": pl.UInt32, "message": S, "evidence": pl.Struct({"none": S}), "suggested_fix": S}


def _names(scheme: str, codes) -> dict[str, str]:
    return {c: (schemes.name_of(scheme, c) or "") for c in codes}


def _label(code: str, name: str | None) -> str:
    return f"{code} {name}".strip() if name else code


def _map(col: str, mapping: dict, dtype=S) -> pl.Expr:
    return map_text(col, mapping, dtype)


def _codes_in(df: pl.DataFrame, col: str = "code") -> list[str]:
    return sorted((c for c in df.get_column(col).unique().to_list() if c), key=_code_key)


def _cut(code: str, level: int) -> str:
    return ".".join(code.split(".")[:level])


def _ids(codes: list[str]) -> dict[str, int]:
    return {c: i for i, c in enumerate(codes)}


def _code_key(code: str):
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in code.split("."))


# -- completeness ---------------------------------------------------------------------------------
COMPONENTS = {
    "threats": "threats (or a statement that there are none)",
    "actions_needed": "conservation actions needed",
    "research_needed": "research needed",
    "actions_in_place": "conservation actions in place",
    "habitats": "habitats",
    "countries": "countries of occurrence",
}


def completeness_scores(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Per latest assessment: ``aid``, ``assessment_id``, one boolean column per component,
    ``score`` (0-100, null when no component can be judged), ``missing`` and ``not_in_export``."""
    weights = dict(cfg.get("weights", {}))
    unknown = [k for k in weights if k not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown completeness component(s) {unknown}; known: {', '.join(COMPONENTS)}")
    skip_absent = ctx.config.general.get("skip_absent_tables", True)
    occ = ctx.table("occurrence").select("aid", "kind")
    has = {
        "threats": pl.concat([ctx.table("threats").get_column("aid"), ctx.flag("NoThreats").get_column("aid")]),
        "actions_needed": ctx.table("actions_needed").get_column("aid"),
        "research_needed": ctx.table("research_needed").get_column("aid"),
        "actions_in_place": ctx.in_place.get_column("aid"),
        "habitats": ctx.table("habitats").get_column("aid"),
        "countries": occ.filter(pl.col("kind") == "country").get_column("aid"),
    }
    present = {
        "threats": ctx.present("threats") or ctx.present("other_fields"),
        "actions_needed": ctx.present("actions_needed"),
        "research_needed": ctx.present("research_needed"),
        "actions_in_place": ctx.present("actions_in_place"),
        "habitats": ctx.present("habitats"),
        "countries": bool((ctx.aset.tables["occurrence"].get_column("kind") == "country").any()),
    }
    used = [k for k in COMPONENTS if weights.get(k, 0) and (present[k] or not skip_absent)]
    absent = [k for k in COMPONENTS if weights.get(k, 0) and k not in used]
    out = ctx.latest.select("aid", "assessment_id").with_columns(ctx.mark(has[k]).alias(k) for k in COMPONENTS)
    total = sum(float(weights[k]) for k in used)
    if total <= 0:
        score = pl.lit(None, dtype=pl.Int32)
    else:
        score = (sum(pl.col(k).cast(pl.Float64) * float(weights[k]) for k in used) * 100.0 / total).round(0).cast(pl.Int32)
    if used:
        missing = pl.concat_list([pl.when(~pl.col(k)).then(pl.lit(k)).otherwise(None) for k in used]).list.drop_nulls()
    else:
        missing = pl.lit([], dtype=pl.List(S))
    return out.with_columns(
        score.alias("score"),
        missing.alias("missing"),
        pl.lit(absent, dtype=pl.List(S)).alias("not_in_export"),
    )


@rule(
    "completeness_low",
    title="Conservation section incomplete",
    severity="warning",
    config_keys=("threshold", "weights.*", "general.skip_absent_tables"),
    rationale="""The conservation section (threats, actions in place and needed, research needed)
    is optional in SIS and often half-filled (product brief, problem 1); the IUCN 'Documentation
    standards and consistency checks' (2013) list threats, habitats and countries among the
    required supporting information and actions/research as recommended. Planning needs all of
    them.""",
)
def completeness_low(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Completeness score (0-100) of the conservation section of each assessment: weighted share of
    threats recorded (or "no threats" stated), actions needed, research needed, actions in place,
    habitats and countries. Components whose table is absent from the whole export are left out of
    the score. Finds assessments whose score is below the threshold."""
    threshold = cfg.get("threshold", 60)
    df = completeness_scores(ctx, cfg).filter(pl.col("score") < threshold)
    missing_text = pl.col("missing").list.eval(pl.element().replace_strict(COMPONENTS, return_dtype=S)).list.join(", ")
    return df.select(
        "aid",
        pl.format("conservation section {}% complete (threshold {}); missing: {}", "score", pl.lit(threshold), missing_text).alias(
            "message"
        ),
        pl.struct(
            pl.col("score"),
            pl.lit(threshold).alias("threshold"),
            pl.col("missing"),
            pl.col("not_in_export"),
        ).alias("evidence"),
        pl.format("Record the missing parts: {}.", missing_text).alias("suggested_fix"),
    )


# -- threats <-> actions --------------------------------------------------------------------------
def _crosswalk_pairs(ctx: Context) -> list[tuple[str, str]]:
    cw = ctx.config.threat_action_crosswalk
    return list(cw.select("threat_prefix", "action_prefix").unique(maintain_order=True).iter_rows())


def _crosswalk_actions(ctx: Context, threat_codes: list[str], ancestors: bool) -> dict[str, list[str]]:
    """threat code -> action prefixes that address it (empty: the crosswalk says nothing)."""
    pairs = _crosswalk_pairs(ctx)
    return {t: sorted({ap for tp, ap in pairs if related(t, tp, ancestors)}, key=_code_key) for t in threat_codes}


def _crosswalk_threats(ctx: Context, action_codes: list[str], ancestors: bool) -> dict[str, list[str]]:
    """action code -> threat prefixes it addresses (empty: the crosswalk says nothing)."""
    pairs = _crosswalk_pairs(ctx)
    return {a: sorted({tp for tp, ap in pairs if related(a, ap, ancestors)}, key=_code_key) for a in action_codes}


def _pairs(
    by_threat: dict[str, list[str]], tid: dict[str, int], action_ids: dict[str, int], ancestors: bool
) -> list[tuple[int, int]]:
    """(threat id, action id) of the code pairs, among the codes present, where the action
    addresses the threat according to the crosswalk."""
    return [
        (tid[t], j)
        for t, prefixes in by_threat.items()
        for a, j in action_ids.items()
        if any(related(a, ap, ancestors) for ap in prefixes)
    ]


#: bits used per Int64 word by _addressed (63: the sign bit stays clear; tests use fewer)
_WORD_BITS = 63


def _addressed(ctx: Context, left: pl.DataFrame, right: pl.DataFrame, pairs: list[tuple[int, int]], n_right: int) -> pl.Series:
    """For each row (aid, i) of ``left``: whether some row (aid, j) of ``right`` has (i, j) in ``pairs``
    (``j`` < ``n_right``).

    Bit masks rather than a join of every left row with every right row of its assessment (tens
    of millions of rows at Red List scale): per assessment, the right codes it records as Int64
    words of ``_WORD_BITS`` bits; per left code, the right codes that pair with it; a row is
    addressed when the two share a bit."""
    bits = _WORD_BITS
    n_words = max(1, -(-n_right // bits))
    bit = pl.Series([1 << (j % bits) for j in range(n_right)], dtype=pl.Int64)
    word = pl.Series([j // bits for j in range(n_right)], dtype=pl.Int64)
    rj = right.get_column("i")
    per = (
        pl.DataFrame({"key": right.get_column("aid").cast(pl.Int64) * n_words + word.gather(rj), "b": bit.gather(rj)})
        .group_by("key")
        .agg(pl.col("b").bitwise_or())
    )
    left_i, left_aid = left.get_column("i"), left.get_column("aid")
    n_left = int(left_i.max() or 0) + 1 if left.height else 0
    want = [[0] * n_left for _ in range(n_words)]
    for i, j in pairs:
        if i < n_left:
            want[j // bits][i] |= 1 << (j % bits)
    out = pl.repeat(False, left.height, dtype=pl.Boolean, eager=True)
    for w in range(n_words):
        part = per.filter(pl.col("key") % n_words == w)
        mask = pl.zeros(ctx.latest.height, pl.Int64, eager=True).scatter(part.get_column("key") // n_words, part.get_column("b"))
        out = out | ((mask.gather(left_aid) & pl.Series(want[w], dtype=pl.Int64).gather(left_i)) != 0)
    return out


@rule(
    "major_threat_no_action",
    title="Major threat without an action that addresses it",
    severity="warning",
    config_keys=("impacts", "match_ancestors", "general.threat_action_crosswalk"),
    rationale="""Threats with High or Medium impact are the 'major threats' of the threats scheme
    v3.3; the conservation actions needed (scheme 2.0) should say how each is to be countered
    (domain reference §9 item 6: e.g. 8.1 invasive species without 2.2 control). Which actions
    address which threat is the editable crosswalk checks/data/threat_action_crosswalk.csv.""",
)
def major_threat_no_action(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A threat whose impact is High or Medium (configurable) for which no conservation action
    needed addresses it according to the threat -> action crosswalk. Threats the crosswalk says
    nothing about (e.g. 12 Other) are not judged. One finding per assessment and threat."""
    ctx.require("actions_needed")
    impacts = list(cfg.get("impacts", schemes.MAJOR_IMPACTS))
    anc = bool(cfg.get("match_ancestors", True))
    t = ctx.table("threats").filter(pl.col("impact").is_in(impacts) & pl.col("code").is_not_null())
    if t.height == 0:
        return pl.DataFrame(schema=_NONE)
    a = ctx.table("actions_needed").select("aid", "code").filter(pl.col("code").is_not_null())
    tcodes, acodes = _codes_in(t), _codes_in(a)
    cw = _crosswalk_actions(ctx, tcodes, anc)
    tid, aix = _ids(tcodes), _ids(acodes)
    judged = (
        t.filter(pl.col("code").is_in([c for c in tcodes if cw[c]]))
        .with_columns(_map("code", tid, pl.Int64).alias("i"))
        .unique(subset=["aid", "i"], keep="first", maintain_order=True)
    )
    acts = a.select("aid", _map("code", aix, pl.Int64).alias("i"))
    missing = judged.filter(~_addressed(ctx, judged, acts, _pairs(cw, tid, aix, anc), len(acodes)))
    if missing.height == 0:
        return pl.DataFrame(schema=_NONE)
    anames = _names("conservation_actions", {p for v in cw.values() for p in v})
    suggest = {c: ", ".join(_label(p, anames.get(p)) for p in cw[c]) for c in tcodes}
    tnames = _names("threats", tcodes)
    actions_of = (
        a.join(missing.select("aid").unique(), on="aid", how="semi")
        .group_by("aid")
        .agg(pl.col("code").unique().sort().alias("actions_needed"))
    )
    return (
        missing.join(actions_of, on="aid", how="left")
        .with_columns(
            pl.coalesce(pl.col("name"), _map("code", tnames)).alias("name"),
            _map("code", suggest).alias("_suggest"),
            _map("code", {c: cw[c] for c in tcodes}, dtype=pl.List(S)).alias("_prefixes"),
            pl.col("actions_needed").fill_null(pl.lit([], dtype=pl.List(S))),
        )
        .select(
            "aid",
            pl.format(
                "{} threat {} {} has no conservation action needed that addresses it",
                "impact",
                "code",
                pl.col("name").fill_null(""),
            ).alias("message"),
            pl.struct(
                pl.col("code").alias("threat"),
                pl.col("name").alias("threat_name"),
                "timing",
                "scope",
                "severity",
                "impact",
                "impact_score",
                pl.col("_prefixes").alias("addressed_by"),
                "actions_needed",
            ).alias("evidence"),
            pl.format(
                "Add an action needed that addresses it (one of: {}), or revise the threat's timing, scope and severity.",
                "_suggest",
            ).alias("suggested_fix"),
        )
    )


@rule(
    "action_no_threat",
    title="Action needed that addresses no recorded threat",
    severity="info",
    config_keys=("generic_actions", "match_ancestors", "general.threat_action_crosswalk"),
    rationale="""Threats and recommended actions are often disconnected (product brief, problem 2):
    an action needed that answers none of the threats recorded points to a threat missing from the
    threats list, or an action copied from another species. Education & awareness (4), external
    capacity building (7), species recovery (3.2), re-introduction (3.3) and ex situ conservation
    (3.4) do not target one threat and are not judged.""",
)
def action_no_threat(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A conservation action needed that addresses none of the threats recorded for the assessment
    according to the crosswalk. Generic actions (configurable: 4, 7, 3.2, 3.3, 3.4 and their
    sub-codes) and actions the crosswalk says nothing about (e.g. 3.1.3) are not judged. One
    finding per assessment and action."""
    ctx.require("threats")
    anc = bool(cfg.get("match_ancestors", True))
    generic = [str(g) for g in cfg.get("generic_actions", [])]
    a = ctx.table("actions_needed").select("aid", "code", "name").filter(pl.col("code").is_not_null())
    if generic:
        a = a.filter(~under("code", generic))
    if a.height == 0:
        return pl.DataFrame(schema=_NONE)
    t = ctx.table("threats").select("aid", "code").filter(pl.col("code").is_not_null())
    tcodes, acodes = _codes_in(t), _codes_in(a)
    by_action = _crosswalk_threats(ctx, acodes, anc)
    by_threat = _crosswalk_actions(ctx, tcodes, anc)
    tid, aix = _ids(tcodes), _ids(acodes)
    judged = (
        a.filter(pl.col("code").is_in([c for c in acodes if by_action[c]]))
        .with_columns(_map("code", aix, pl.Int64).alias("i"))
        .unique(subset=["aid", "i"], keep="first", maintain_order=True)
    )
    threats = t.select("aid", _map("code", tid, pl.Int64).alias("i"))
    pairs = [(j, i) for i, j in _pairs(by_threat, tid, aix, anc)]  # (action id, threat id)
    missing = judged.filter(~_addressed(ctx, judged, threats, pairs, len(tcodes)))
    if missing.height == 0:
        return pl.DataFrame(schema=_NONE)
    anames = _names("conservation_actions", acodes)
    threats_of = (
        t.join(missing.select("aid").unique(), on="aid", how="semi")
        .group_by("aid")
        .agg(pl.col("code").unique().sort().alias("threats_recorded"))
    )
    return (
        missing.join(threats_of, on="aid", how="left")
        .with_columns(
            pl.coalesce(pl.col("name"), _map("code", anames)).alias("name"),
            _map("code", by_action, dtype=pl.List(S)).alias("_threats"),
            pl.col("threats_recorded").fill_null(pl.lit([], dtype=pl.List(S))),
        )
        .select(
            "aid",
            pl.format("action needed {} {} addresses none of the threats recorded", "code", pl.col("name").fill_null("")).alias(
                "message"
            ),
            pl.struct(
                pl.col("code").alias("action"),
                pl.col("name").alias("action_name"),
                pl.col("_threats").alias("addresses_threats"),
                "threats_recorded",
            ).alias("evidence"),
            pl.format(
                "Record the threat this action answers (one of {}), or remove the action if it was copied by mistake.",
                pl.col("_threats").list.join(", "),
            ).alias("suggested_fix"),
        )
    )


# -- same place, different story ------------------------------------------------------------------
GROUPINGS = ("country_habitat", "country", "lme", "subnational", "fao")
_KIND_OCC = {"country": "country", "lme": "lme", "subnational": "subnational", "fao": "fao"}


def _unique_pairs(df: pl.DataFrame, local: pl.Expr, span: int, order: tuple[pl.Series, pl.Series] | None = None) -> pl.DataFrame:
    """Distinct (aid, local) of ``df`` (0 <= local < span) through one sorted Int64 key: sorting one
    integer column and dropping repeats is several times faster than a frame unique. Rows come
    sorted by aid, or with ``order`` = (rank of each aid, aid of each rank) by that rank."""
    if df.height == 0:
        return pl.DataFrame(schema={"aid": pl.UInt32, "local": pl.Int64})
    rank = pl.col("aid").cast(pl.Int64) if order is None else pl.lit(order[0]).gather(pl.col("aid"))
    top = int(df.get_column("aid").max()) if order is None else order[1].len()
    if (top + 1) * span >= 1 << 62:  # would overflow
        out = df.select("aid", rank.alias("_rank"), local.alias("local")).unique(["aid", "local"])
        return out.sort("_rank", "local").drop("_rank")
    key = df.select((rank * span + local).alias("key")).to_series().sort()
    key = key.filter(key.diff().fill_null(1) != 0)
    if order is None:
        aid = (pl.col("key") // span).cast(pl.UInt32).set_sorted()
    else:
        aid = pl.lit(order[1]).gather(pl.col("key") // span).cast(pl.UInt32)
    return key.to_frame().select(aid.alias("aid"), (pl.col("key") % span).alias("local"))


def _memberships(
    ctx: Context, cfg: dict, keep: pl.DataFrame, order: tuple[pl.Series, pl.Series] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(members: aid, g) and (places: g, kind, place) for the configured groupings; ``g`` is an
    Int64 place id built from code ids (no text in the big joins). A species is a member of a place
    once, however many occurrence or habitat rows put it there. Within a grouping, members come
    sorted by aid, or by ``order`` (see ``_unique_pairs``)."""
    groupings = list(cfg.get("groupings", ["country_habitat", "lme", "subnational"]))
    bad = [g for g in groupings if g not in GROUPINGS]
    if bad:
        raise ValueError(f"unknown grouping(s) {bad}; known: {', '.join(GROUPINGS)}")
    presence = list(cfg.get("presence", []))
    subset = keep.height < ctx.latest.height
    ok = pl.col("code").is_not_null()
    if presence:
        ok = ok & (pl.col("presence").is_null() | pl.col("presence").is_in(presence))
    if subset:
        ok = ok & pl.col("aid").is_in(keep.get_column("aid").implode())
    t = ctx.table("occurrence")
    # code ids over all rows: sorted codes, so ids (and place ids g) keep the order of the codes
    codes = sorted(c for c in t.get_column("code").unique().to_list() if c is not None)
    cid = _ids(codes)
    inv_c = dict(enumerate(codes))
    nc = max(len(codes), 1)
    kinds = {k: i for i, k in enumerate(k for k in t.get_column("kind").unique().to_list() if k is not None)}
    # integers only from here on (filtering text columns of millions of rows costs seconds)
    occ = t.select(
        "aid",
        _map("kind", kinds, pl.Int32).alias("kind"),
        _map("code", cid, pl.Int64).alias("c"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
        ok.alias("ok"),
    ).filter(pl.col("ok"))
    of_kind: dict[str, pl.DataFrame] = {}
    kind_names: dict[str, dict[int, str | None]] = {}

    def rows_of(kind: str) -> pl.DataFrame:
        """aid, c of the occurrence rows of ``kind``; their names (first row per code) in kind_names."""
        if kind not in of_kind:
            rows = occ.filter(pl.col("kind") == kinds.get(kind, -1))
            first = rows.group_by("c").agg(pl.col("row").min())
            name = t.get_column("name").gather(first.get_column("row")).str.strip_chars()
            kind_names[kind] = dict(zip(first.get_column("c").to_list(), name.to_list(), strict=True))
            of_kind[kind] = _unique_pairs(rows, pl.col("c"), nc, order).rename({"local": "c"})
        return of_kind[kind]

    members: list[pl.DataFrame] = []
    places: list[dict] = []
    base = 10**9
    level = int(cfg.get("habitat_level", 1))
    for gi, g in enumerate(groupings, start=1):
        if g == "country_habitat":
            h = ctx.table("habitats").select("aid", "code").filter(pl.col("code").is_not_null())
            if subset:
                h = h.filter(pl.col("aid").is_in(keep.get_column("aid").implode()))
            h = h.select("aid", via_distinct(h, "code", lambda c: _cut(c, level)).alias("h"))
            hcodes = _codes_in(h, "h")
            hid = _ids(hcodes)
            hnames = _names("habitats", hcodes)
            mult = max(1000, len(hcodes))
            h = _unique_pairs(h, _map("h", hid, pl.Int64), mult).rename({"local": "hi"})
            # distinct (aid, c) joined to distinct (aid, hi): distinct (aid, c, hi)
            m = (
                rows_of("country")
                .join(h, on="aid", maintain_order="left")
                .select("aid", (pl.col("c") * mult + pl.col("hi")).alias("local"))
            )
            members.append(m.select("aid", (pl.lit(gi * base, pl.Int64) + pl.col("local")).alias("g")))
            inv_h = dict(enumerate(hcodes))
            for local in m.get_column("local").unique().to_list():
                ci, hi = divmod(local, mult)
                cc, hc = inv_c[ci], inv_h[hi]
                cname = kind_names["country"].get(ci) or cc
                places.append({"g": gi * base + local, "kind": g, "place": f"{cname} ({cc}) x {_label(hc, hnames.get(hc))}"})
        else:
            kind = _KIND_OCC[g]
            m = rows_of(kind).rename({"c": "local"})
            members.append(m.select("aid", (pl.lit(gi * base, pl.Int64) + pl.col("local")).alias("g")))
            for ci in m.get_column("local").unique().to_list():
                cc = inv_c[ci]
                name = kind_names[kind].get(ci)
                places.append({"g": gi * base + ci, "kind": g, "place": f"{name} ({cc})" if name else cc})
    schema = {"g": pl.Int64, "kind": S, "place": S}
    if not members:
        return pl.DataFrame(schema={"aid": pl.UInt32, "g": pl.Int64}), pl.DataFrame(schema=schema)
    return pl.concat(members), pl.DataFrame(places, schema=schema)


@rule(
    "same_place_threat_missing",
    title="Same place, different story: a threat most species there share is missing",
    severity="info",
    config_keys=(
        "groupings",
        "habitat_level",
        "threat_level",
        "min_species",
        "min_share",
        "include_past_threats",
        "presence",
        "exclude_categories",
        "max_examples",
    ),
    rationale="""Species living in the same place face largely the same threats; when most
    species sharing a country and habitat, a large marine ecosystem or a subnational unit have a
    threat recorded and one does not, that assessment deserves a second look (product brief:
    'same-place coherence'; threats scheme v3.3 compared at level 2).""",
)
def same_place_threat_missing(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Groups species by place (country + habitat at level 1 or 2, LME, subnational unit; FAO area
    or country alone on request). Where a threat (at level 2, configurable) is recorded for at
    least ``min_share`` of at least ``min_species`` species, each species there without that threat
    (at any level) gets a finding with the place, the share and example species. A species missing
    the same threat in several places gets one finding: the place with the highest share, the
    others in the evidence."""
    level = int(cfg.get("threat_level", 2))
    n_min = int(cfg.get("min_species", 5))
    share_min = float(cfg.get("min_share", 0.6))
    max_ex = int(cfg.get("max_examples", 3))
    lat = ctx.latest
    exclude = list(cfg.get("exclude_categories", []))
    if exclude:
        lat = lat.filter(~pl.col("category").fill_null("").is_in(exclude))
    keep = lat.select("aid")
    n_lat = ctx.latest.height
    # nr: the rank of a species' name (examples are the first names); members come in that order
    names = (
        lat.select("aid", "scientific_name")
        .sort("scientific_name", nulls_last=False, maintain_order=True)
        .with_row_index("nr")
        .with_columns(pl.col("nr").cast(pl.Int64))
    )
    nr_of = pl.zeros(n_lat, pl.Int64, eager=True).scatter(names.get_column("aid"), names.get_column("nr"))
    members, places = _memberships(ctx, cfg, keep, (nr_of, names.get_column("aid")))
    sizes = members.group_by("g").agg(pl.len().cast(pl.Int64).alias("n")).filter(pl.col("n") >= n_min)
    if sizes.height < places.height:  # places: one row per g
        members = members.filter(pl.col("g").is_in(sizes.get_column("g").implode()))
    threats = ctx.table("threats").select("aid", "code", "timing")
    if keep.height < ctx.latest.height:
        threats = threats.filter(pl.col("aid").is_in(keep.get_column("aid").implode()))
    tcodes = _codes_in(threats)
    if members.height == 0 or not tcodes:
        return pl.DataFrame(schema=_NONE)
    kcodes = sorted({_cut(c, level) for c in tcodes}, key=_code_key)
    kid = _ids(kcodes)
    nk = len(kcodes)
    # Threats as bits: threat k (a level-2 code) is bit k % B of Int64 word k // B (B = _WORD_BITS).
    # Per species: K, the threats it records that count (not past, unless past threats count), and
    # H, those it "has" (any code at, below or above k, past timings included). Counting species
    # per place and threat, and finding who misses a threat, are then sums and ANDs of bits over
    # the memberships, not joins of every membership with every threat of the species.
    bits = _WORD_BITS
    words = range(-(-nk // bits))

    def bit(k: int, w: int) -> int:
        return 1 << (k % bits) if k // bits == w else 0

    counted_k = [kid[_cut(c, level)] for c in tcodes]
    has_k = [[k for k, kc in enumerate(kcodes) if related(c, kc, True)] for c in tcodes]
    if cfg.get("include_past_threats", False):
        counted = pl.lit(True)
    else:  # timing through its few distinct values
        counted = via_distinct(threats, "timing", lambda t: not t.lower().startswith("past"), pl.Boolean).fill_null(True)
    tmask = threats.select(
        "aid", _map("code", _ids(tcodes), pl.Int64).alias("ci"), counted.alias("counted")
    ).filter(pl.col("ci").is_not_null())
    cols = []
    for w in words:
        kb = pl.Series([bit(k, w) for k in counted_k], dtype=pl.Int64)
        hb = pl.Series([sum(bit(k, w) for k in ks) for ks in has_k], dtype=pl.Int64)
        cols += [
            (pl.lit(kb).gather(pl.col("ci")) * pl.col("counted").cast(pl.Int64)).alias(f"K{w}"),
            pl.lit(hb).gather(pl.col("ci")).alias(f"H{w}"),
        ]
    per = tmask.select("aid", *cols).group_by("aid").agg(pl.all().bitwise_or())

    def dense(col: str) -> pl.Series:  # per species (aid indexes ctx.latest), 0 without threats
        return pl.zeros(n_lat, pl.Int64, eager=True).scatter(per.get_column("aid"), per.get_column(col))

    K = [dense(f"K{w}") for w in words]
    H = [dense(f"H{w}") for w in words]
    # places by index gi (their order is the order of g); members with their K bits and name rank
    ranked_places = places.sort("g").with_row_index("gi").with_columns(pl.col("gi").cast(pl.Int64))
    gvals = ranked_places.get_column("g")
    n_places = gvals.len()
    aid_idx = members.get_column("aid")
    members = members.select(
        "aid",
        gvals.search_sorted(members.get_column("g")).cast(pl.Int64).alias("gi"),
        *[K[w].gather(aid_idx).alias(f"K{w}") for w in words],
    )
    # species per (place, K): counted once per distinct K (many species share one), with their
    # first names (members come in name order, and a group keeps the order of its rows)
    kcols = [f"K{w}" for w in words]
    by_k = (
        members.with_columns(nr_of.gather(aid_idx).alias("nr"))
        .group_by("gi", *kcols)
        .agg(pl.len().cast(pl.Int64).alias("cnt"), pl.col("nr").head(max(max_ex, 1)).alias("ex"))
    )
    counts = by_k.group_by("gi").agg(
        [(pl.col("cnt") * ((pl.col(f"K{k // bits}") & bit(k, k // bits)) != 0)).sum().alias(str(k)) for k in range(nk)]
    )
    qual = (
        counts.unpivot(index="gi", variable_name="k", value_name="c")
        .with_columns(pl.col("k").cast(pl.Int64), pl.col("c").cast(pl.Int64))
        .filter(pl.col("c") > 0)
        .join(ranked_places.select("gi", "g"), on="gi")
        .join(sizes, on="g")
        .with_columns((pl.col("c") / pl.col("n")).alias("share"))
        .filter(pl.col("share") >= share_min)
        # r orders the places of a threat: highest share first, then the most species, then g
        .sort(["share", "n", "g"], descending=[True, True, False])
        .with_row_index("r")
        .with_columns(pl.col("r").cast(pl.Int64))
    )
    if qual.height == 0:
        return pl.DataFrame(schema=_NONE)
    # per place Q: its qualifying threats; a member misses k when Q & ~H has bit k
    q_bits = [[0] * n_places for _ in words]
    for gi, k in qual.select("gi", "k").iter_rows():
        q_bits[k // bits][gi] |= bit(k, k // bits)
    Q = [pl.Series(q, dtype=pl.Int64) for q in q_bits]
    full = (1 << bits) - 1
    gi_idx = members.get_column("gi")
    miss = members.select(
        "aid", "gi", *[(Q[w].gather(gi_idx) & (full - H[w].gather(aid_idx))).alias(f"M{w}") for w in words]
    ).filter(pl.any_horizontal([pl.col(f"M{w}") != 0 for w in words]))
    r_of = pl.repeat(-1, n_places * nk, dtype=pl.Int64, eager=True).scatter(
        qual.get_column("gi") * nk + qual.get_column("k"), qual.get_column("r")
    )
    triples = pl.concat(
        [
            miss.filter((pl.col(f"M{k // bits}") & bit(k, k // bits)) != 0).select("aid", "gi", pl.lit(k, pl.Int64).alias("k"))
            for k in sorted(set(qual.get_column("k").to_list()))
        ]
    )
    # per (species, threat): its places in the order r, through one sorted Int64 key
    n_r = qual.height
    best = (
        triples.select(
            (
                (pl.col("aid").cast(pl.Int64) * nk + pl.col("k")) * n_r
                + r_of.gather(triples.get_column("gi") * nk + triples.get_column("k"))
            ).alias("key")
        )
        .sort("key")
        .select((pl.col("key") // n_r).alias("ak"), (pl.col("key") % n_r).alias("r"))
        .group_by("ak", maintain_order=True)
        .agg(
            pl.col("r").first().alias("best"),
            pl.len().alias("places_count"),
            pl.col("r").slice(1, 5).alias("other_r"),
        )
        .select(
            (pl.col("ak") // nk).cast(pl.UInt32).alias("aid"),
            (pl.col("ak") % nk).alias("k"),
            "best",
            "places_count",
            "other_r",
        )
    )
    if best.height == 0:
        return pl.DataFrame(schema=_NONE)
    ranked = qual.join(places, on="g", how="left")
    place_of = ranked.get_column("r"), ranked.get_column("place")
    best = best.join(
        ranked.select(pl.col("r").alias("best"), "gi", "g", "kind", "place", "n", "c", "share"), on="best", how="left"
    ).with_columns(
        pl.col("other_r").list.eval(pl.element().replace_strict(*place_of, return_dtype=S)).alias("other_places")
    )
    # examples: the first max_examples names (sorted) of the species in the place with the threat
    name_of = names.get_column("nr"), names.get_column("scientific_name")
    examples = (
        pl.concat(
            [
                by_k.filter(
                    pl.col("gi").is_in(part.get_column("gi").implode())
                    & ((pl.col(f"K{k // bits}") & bit(k, k // bits)) != 0)
                ).select("gi", pl.lit(k, pl.Int64).alias("k"), "ex")
                for (k,), part in best.select("gi", "k").unique().group_by("k")
            ]
        )
        .explode("ex", empty_as_null=False)
        .group_by("gi", "k")
        .agg(pl.col("ex").sort().head(max(max_ex, 0)))
        .select(
            "gi",
            "k",
            pl.col("ex").list.eval(pl.element().replace_strict(*name_of, return_dtype=S)).alias("examples"),
        )
    )

    kinv = dict(enumerate(kcodes))
    tnames = {i: schemes.name_of("threats", c) or "" for i, c in kinv.items()}
    return (
        best.join(examples, on=["gi", "k"], how="left")
        .with_columns(
            pl.col("k").replace_strict(kinv, return_dtype=S).alias("threat"),
            pl.col("k").replace_strict(tnames, return_dtype=S).alias("threat_name"),
            (pl.col("share") * 100).round(0).cast(pl.Int32).alias("pct"),
        )
        .select(
            "aid",
            pl.format(
                "threat {} {} is recorded for {} of {} species ({}%) in {} but not for this species{}",
                "threat",
                "threat_name",
                "c",
                "n",
                "pct",
                "place",
                pl.when(pl.col("places_count") > 1)
                .then(pl.format(" (and likewise in {} other places)", pl.col("places_count") - 1))
                .otherwise(pl.lit("")),
            ).alias("message"),
            pl.struct(
                "threat",
                "threat_name",
                "kind",
                "place",
                pl.col("n").alias("species_in_place"),
                pl.col("c").alias("species_with_threat"),
                pl.col("share").round(3),
                "examples",
                "places_count",
                "other_places",
            ).alias("evidence"),
            pl.format(
                "Check whether {} {} affects this species too: record it with timing, scope and severity, or note why it does not apply.",
                "threat",
                "threat_name",
            ).alias("suggested_fix"),
        )
    )


# -- criteria -------------------------------------------------------------------------------------
def _distinct_criteria(ctx: Context, with_null: bool) -> pl.DataFrame:
    df = ctx.latest.select("criteria", "criteria_version", "category")
    if not with_null:
        df = df.filter(pl.col("criteria").is_not_null())
    return df.unique()


def _category_code(value: str | None) -> str:
    c = schemes.category(value)
    return c[0] if c else (value or "")


def _by_distinct(ctx: Context, bad: pl.DataFrame) -> pl.DataFrame:
    """Latest assessments joined to findings computed per distinct (criteria, version, category)."""
    return ctx.latest.select("aid", "criteria", "criteria_version", "category").join(
        bad, on=["criteria", "criteria_version", "category"], nulls_equal=True
    )


@rule(
    "criteria_syntax",
    title="Criteria string does not follow the v3.1 syntax",
    severity="error",
    rationale="""IUCN Red List Categories and Criteria v3.1 (IUCN 2012) fix how criteria are cited:
    letter, number, sub-criteria letters, roman numerals in parentheses; '+' within a criterion,
    ';' between criteria (domain reference §6). A string that does not parse can be neither checked
    against the category nor used to filter. v2.3 and older strings follow another grammar and get
    only a light character check.""",
)
def criteria_syntax(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A criteria string of a v3.1 assessment that the v3.1 grammar (checks/criteria.py) rejects;
    the message names the position. For criteria versions before 3.1 only characters outside the
    old syntax are reported. The parser runs once per distinct string."""
    rows = []
    for text, version, category in _distinct_criteria(ctx, False).iter_rows():
        if crit.is_v31(version, _category_code(category)):
            res = crit.try_parse(text)
            if isinstance(res, crit.CriteriaSyntaxError):
                msg = f"criteria {text!r} do not follow the v3.1 syntax: {res.message} (position {res.position + 1})"
                rows.append((text, version, category, msg, res.position + 1, res.message))
        else:
            for p in crit.legacy_problems(text):
                rows.append((text, version, category, p, None, p))
    if not rows:
        return pl.DataFrame(schema=_NONE)
    bad = pl.DataFrame(
        rows,
        schema={"criteria": S, "criteria_version": S, "category": S, "message": S, "position": pl.Int32, "error": S},
        orient="row",
    )
    return _by_distinct(ctx, bad).select(
        "aid",
        "message",
        pl.struct("criteria", "criteria_version", "category", "position", "error").alias("evidence"),
        pl.lit(
            "Correct the criteria string: letter, number, sub-criteria, roman numerals in parentheses, "
            "'+' between numbers of one criterion, '; ' between criteria (e.g. 'A2bd+3d; B1ab(iii)')."
        ).alias("suggested_fix"),
    )


@rule(
    "criteria_coherence",
    title="Criteria do not fit the category",
    severity="error",
    config_keys=("allow_nt_criteria",),
    rationale="""Under v3.1 only CR, EN and VU are assigned by criteria A-E, so they must cite the
    criteria met and other categories must not (NT may cite criteria 'nearly met' by convention);
    D1 and D2 exist only for VU; B1/B2 need at least two of a, b, c; C2 needs a and/or b; A3 cannot
    rest on direct observation (IUCN 2012 Categories & Criteria v3.1; domain reference §6). Not
    applied to v2.3 and older assessments.""",
)
def criteria_coherence(ctx: Context, cfg: dict) -> pl.DataFrame:
    """For v3.1 assessments: LC/DD/NE/NA (and NT unless allowed) with criteria, EX/EW/RE with
    criteria, CR/EN/VU without criteria, D1 or D2 for CR or EN (plain D is right for CR/EN/VU),
    B1/B2 with fewer than two of a/b/c, b or c without roman numerals, C2 without a or b, A without
    a basis or A3 based on (a). One finding per problem."""
    allow_nt = bool(cfg.get("allow_nt_criteria", False))
    rows = []
    for text, version, category in _distinct_criteria(ctx, True).iter_rows():
        cat = _category_code(category)
        if not crit.is_v31(version, cat):
            continue
        for p in crit.coherence(text, cat, allow_nt_criteria=allow_nt):
            rows.append((text, version, category, p))
    if not rows:
        return pl.DataFrame(schema=_NONE)
    bad = pl.DataFrame(rows, schema={"criteria": S, "criteria_version": S, "category": S, "message": S}, orient="row")
    return _by_distinct(ctx, bad).select(
        "aid",
        "message",
        pl.struct("category", "criteria", "criteria_version").alias("evidence"),
        pl.lit("Make category and criteria agree: correct the criteria string or the category.").alias("suggested_fix"),
    )


@rule(
    "criterion_b_no_ongoing_threat",
    title="Listed under criterion B without an ongoing or future threat",
    severity="info",
    enabled=False,
    rationale="""Criterion B needs a continuing decline or extreme fluctuations, which imply a
    threat acting now or projected (domain reference §9 item 6: 'B-criterion listing without any
    ongoing threat'). Off by default: the decline may rest on threats whose timing is Unknown.""",
)
def criterion_b_no_ongoing_threat(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A v3.1 assessment citing criterion B none of whose threats has timing Ongoing or Future."""
    ctx.require("threats")
    uses_b = []
    for text, version, category in _distinct_criteria(ctx, False).iter_rows():
        res = crit.try_parse(text) if crit.is_v31(version, _category_code(category)) else None
        if isinstance(res, crit.Criteria) and res.uses("B"):
            uses_b.append(text)
    t = ctx.table("threats").select("aid", "timing")
    live = ctx.mark(t.filter(pl.col("timing").is_in(["Ongoing", "Future"])).get_column("aid"))
    return (
        ctx.latest.filter(pl.col("criteria").is_in(uses_b) & ~live)
        .select(
            "aid",
            pl.format("listed under {} but no threat is ongoing or future", "criteria").alias("message"),
            pl.struct("category", "criteria").alias("evidence"),
            pl.lit("Record the ongoing threat that drives the continuing decline, or revise criterion B.").alias("suggested_fix"),
        )
    )


# -- category and status --------------------------------------------------------------------------
@rule(
    "possibly_extinct_not_cr",
    title="Possibly extinct but not Critically Endangered",
    severity="error",
    rationale="""The tags 'Possibly Extinct' and 'Possibly Extinct in the Wild' are given only to
    Critically Endangered taxa (IUCN Red List Guidelines, section on CR(PE)/CR(PEW); domain
    reference §6).""",
)
def possibly_extinct_not_cr(ctx: Context, cfg: dict) -> pl.DataFrame:
    """An assessment tagged possibly extinct or possibly extinct in the wild whose category is not CR."""
    pe = pl.col("possibly_extinct").fill_null(False)
    pew = pl.col("possibly_extinct_in_the_wild").fill_null(False)
    return ctx.latest.filter((pe | pew) & (pl.col("category").fill_null("") != "CR")).select(
        "aid",
        pl.format(
            "tagged {} but listed as {}; the tag applies only to CR",
            pl.when(pe).then(pl.lit("possibly extinct")).otherwise(pl.lit("possibly extinct in the wild")),
            pl.col("category").fill_null("no category"),
        ).alias("message"),
        pl.struct("category", "possibly_extinct", "possibly_extinct_in_the_wild").alias("evidence"),
        pl.lit("Either list the taxon as CR (PE/PEW) or remove the possibly-extinct tag.").alias("suggested_fix"),
    )


@rule(
    "threatened_no_action",
    title="Threatened species with no conservation action needed",
    severity="warning",
    config_keys=("categories",),
    rationale="""A threatened species (CR, EN, VU) needs action to recover; an empty list of
    conservation actions needed leaves planners nothing to start from (product brief, problems 1-2;
    domain reference §9 item 6).""",
)
def threatened_no_action(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A latest assessment in a threatened category (CR, EN, VU; configurable) without any
    conservation action needed."""
    ctx.require("actions_needed")
    cats = list(cfg.get("categories", schemes.THREATENED))
    return (
        ctx.latest.filter(pl.col("category").is_in(cats))
        .join(ctx.table("actions_needed").select("aid"), on="aid", how="anti")
        .select(
            "aid",
            pl.format("{} species with no conservation action needed", "category").alias("message"),
            pl.struct("category", "criteria").alias("evidence"),
            pl.lit("Record the conservation actions needed (scheme 2.0) that address its major threats.").alias("suggested_fix"),
        )
    )


def _in_place_rule(ctx: Context, rule_id: str, table: str) -> pl.DataFrame:
    """Rows of ``table`` (research_needed / actions_needed) matched to the InPlace* field the
    in-place crosswalk gives for ``rule_id``, with that field's value (null: not recorded)."""
    cw = ctx.config.in_place_crosswalk.filter(pl.col("rule") == rule_id)
    rows = ctx.table(table).select("aid", "code", "name").filter(pl.col("code").is_not_null())
    parts = [
        rows.filter(under("code", [prefix])).with_columns(pl.lit(fld).alias("field"))
        for prefix, fld in cw.select("code_prefix", "field").iter_rows()
    ]
    if not parts:
        return rows.clear().with_columns(pl.lit(None, S).alias("field"), pl.lit(None, S).alias("value"))
    fields = cw.get_column("field").unique().to_list()
    values = (
        ctx.in_place.filter(pl.col("field").is_in(fields))
        .unique(subset=["aid", "field"], keep="first", maintain_order=True)
    )
    return pl.concat(parts).unique(subset=["aid", "code", "field"]).join(values, on=["aid", "field"], how="left")


def _yes(ctx: Context) -> pl.Expr:
    yes = [str(v).lower() for v in ctx.config.general.get("yes_values", ["Yes"])]
    return pl.col("value").str.to_lowercase().is_in(yes).fill_null(False)


def _field_names() -> dict[str, str]:
    return {r["field"]: r["name"] for r in schemes.actions_in_place_fields()}


@rule(
    "plan_needed_not_in_place",
    title="Plan needed but none in place",
    severity="warning",
    config_keys=("general.in_place_crosswalk", "general.yes_values"),
    rationale="""Research needed 2.1/2.2/2.3 (scheme v2.0) are the assessors' direct statements that
    a species action/recovery plan, an area-based management plan or a harvest & trade management
    plan is needed (domain reference §3d); when the matching 'in place' field is not Yes, the
    species is a candidate for planning.""",
)
def plan_needed_not_in_place(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Research needed 2.1 (recovery plan), 2.2 (area-based plan) or 2.3 (harvest & trade plan)
    while the matching in-place field (InPlaceResearchRecoveryPlan, InPlaceLandWaterProtectionAreaPlanned,
    InPlaceSpeciesManagementHarvestPlan; in-place crosswalk) is not Yes: No, Unknown or not recorded."""
    ctx.require("actions_in_place")
    df = _in_place_rule(ctx, "plan_needed_not_in_place", "research_needed").filter(~_yes(ctx))
    if df.height == 0:
        return pl.DataFrame(schema=_NONE)
    rnames = _names("research", _codes_in(df))
    return df.with_columns(
        pl.coalesce(pl.col("name"), _map("code", rnames)).alias("name"),
        _map("field", _field_names()).fill_null(pl.col("field")).alias("in_place_name"),
        pl.col("value").fill_null("not recorded").alias("shown"),
    ).select(
        "aid",
        pl.format("research needed {} {} but '{}' is {}", "code", pl.col("name").fill_null(""), "in_place_name", "shown").alias(
            "message"
        ),
        pl.struct(
            pl.col("code").alias("research"),
            pl.col("name").alias("research_name"),
            pl.col("field").alias("in_place_field"),
            "in_place_name",
            pl.col("value").alias("in_place_value"),
        ).alias("evidence"),
        pl.format("Start the plan (a candidate for planning), or set '{}' to Yes if one exists.", "in_place_name").alias(
            "suggested_fix"
        ),
    )


@rule(
    "action_already_in_place",
    title="Action needed that is already in place",
    severity="info",
    config_keys=("general.in_place_crosswalk", "general.yes_values"),
    rationale="""An action listed as needed while the matching in-place field says Yes (e.g. 3.4
    ex situ conservation needed while 'Subject to ex-situ conservation' = Yes; domain reference §9
    item 6) is either a call for more of it, which its note should say, or an out-of-date entry.""",
)
def action_already_in_place(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A conservation action needed whose matching in-place field (in-place crosswalk, e.g. 3.4.x and
    InPlaceSpeciesManagementExSitu, 1.1 and InPlaceLandWaterProtectionInPA) is Yes."""
    if ctx.in_place.height == 0:  # nothing is in place: no action can already be
        return pl.DataFrame(schema=_NONE)
    df = _in_place_rule(ctx, "action_already_in_place", "actions_needed").filter(_yes(ctx))
    if df.height == 0:
        return pl.DataFrame(schema=_NONE)
    anames = _names("conservation_actions", _codes_in(df))
    return df.with_columns(
        pl.coalesce(pl.col("name"), _map("code", anames)).alias("name"),
        _map("field", _field_names()).fill_null(pl.col("field")).alias("in_place_name"),
    ).select(
        "aid",
        pl.format("action needed {} {} while '{}' is already {}", "code", pl.col("name").fill_null(""), "in_place_name", "value").alias(
            "message"
        ),
        pl.struct(
            pl.col("code").alias("action"),
            pl.col("name").alias("action_name"),
            pl.col("field").alias("in_place_field"),
            "in_place_name",
            pl.col("value").alias("in_place_value"),
        ).alias("evidence"),
        pl.lit("Say in the action's note what more is needed, or remove the action if it is done.").alias("suggested_fix"),
    )


@rule(
    "assessment_outdated",
    title="Assessment older than 10 years",
    severity="warning",
    config_keys=("max_age_years",),
    rationale="""Taxa on the Red List should be reassessed at least every ten years (IUCN Red List
    Committee; the Red List marks older assessments 'needs updating'); an older assessment may no
    longer reflect the species' status, threats or actions.""",
)
def assessment_outdated(ctx: Context, cfg: dict) -> pl.DataFrame:
    """A latest assessment whose assessment date (else 1 January of the year published) lies more
    than ``max_age_years`` (10) before ``today``."""
    years = int(cfg.get("max_age_years", 10))
    today = ctx.today
    try:
        cutoff = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        cutoff = today.replace(year=today.year - years, day=28)
    ref = pl.coalesce(pl.col("assessment_date"), pl.date(pl.col("year_published"), 1, 1))
    return (
        ctx.latest.with_columns(ref.alias("_ref"))
        .filter(pl.col("_ref") < cutoff)
        .with_columns(  # whole calendar years (days / 365.25 is a year short on some anniversaries)
            (
                pl.lit(today.year, pl.Int32)
                - pl.col("_ref").dt.year().cast(pl.Int32)
                - (pl.col("_ref").dt.month().cast(pl.Int32) * 100 + pl.col("_ref").dt.day() > today.month * 100 + today.day).cast(
                    pl.Int32
                )
            ).alias("age")
        )
        .select(
            "aid",
            pl.format(
                "assessed {}, {} years before {}", pl.col("_ref").dt.to_string("%Y-%m-%d"), "age", pl.lit(today.isoformat())
            ).alias("message"),
            pl.struct(
                pl.col("assessment_date"),
                "year_published",
                pl.col("age").alias("age_years"),
                pl.lit(years).alias("max_age_years"),
                pl.lit(today).alias("today"),
            ).alias("evidence"),
            pl.lit("Schedule a reassessment.").alias("suggested_fix"),
        )
    )


# -- population trend vs threats ------------------------------------------------------------------
@rule(
    "decreasing_no_threats",
    title="Population decreasing but no threats recorded",
    severity="warning",
    config_keys=("respect_threats_unknown",),
    rationale="""A decreasing population has causes; with no threat recorded the threats section is
    incomplete, and a statement that there are no threats (NoThreats) contradicts the trend outright.
    An explicit 'threats unknown' (ThreatsUnknown) is coherent with a decline and not flagged.""",
)
def decreasing_no_threats(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Population trend Decreasing and no threat recorded. Assessments stating that threats are
    unknown (ThreatsUnknown) are not flagged (configurable); those stating that there are no threats
    (NoThreats) are flagged with a stronger message."""
    ctx.require("threats")
    df = ctx.latest.filter(pl.col("population_trend") == "Decreasing").join(
        ctx.table("threats").select("aid"), on="aid", how="anti"
    )
    unknown = ctx.flag("ThreatsUnknown")
    if cfg.get("respect_threats_unknown", True):
        df = df.join(unknown, on="aid", how="anti")
    return df.with_columns(
        pl.col("aid").is_in(ctx.flag("NoThreats").get_column("aid").implode()).alias("no_threats_stated"),
        pl.col("aid").is_in(unknown.get_column("aid").implode()).alias("threats_unknown"),
    ).select(
        "aid",
        pl.when(pl.col("no_threats_stated"))
        .then(pl.lit("population decreasing although the assessment states there are no threats"))
        .otherwise(pl.lit("population decreasing but no threat recorded"))
        .alias("message"),
        pl.struct("population_trend", "no_threats_stated", "threats_unknown").alias("evidence"),
        pl.lit("Record the threats driving the decline (or state that they are unknown), or revise the population trend.").alias(
            "suggested_fix"
        ),
    )


@rule(
    "decreasing_past_threats_only",
    title="Population decreasing but all threats in the past",
    severity="warning",
    rationale="""Threats timed 'Past, Unlikely to Return' or 'Past, Likely to Return' do not act now
    (threats scheme timing); a population that is still decreasing needs a current cause (domain
    reference §9 item 6).""",
)
def decreasing_past_threats_only(ctx: Context, cfg: dict) -> pl.DataFrame:
    """Population trend Decreasing while every threat recorded has a past timing."""
    t = ctx.table("threats").select("aid", "code", "timing")
    past = via_distinct(t, "timing", lambda v: v.lower().startswith("past"), pl.Boolean).fill_null(False)
    recorded = ctx.mark(t.get_column("aid"))
    current = ctx.mark(t.filter(~past).get_column("aid"))  # some threat not past
    dec = ctx.latest.filter((pl.col("population_trend") == "Decreasing") & recorded & ~current)
    per = (
        t.filter(ctx.mark(dec.get_column("aid")).gather(t.get_column("aid")))
        .group_by("aid")
        .agg(
            pl.len().alias("n"),
            pl.format("{} ({})", "code", pl.col("timing").fill_null("no timing")).sort().alias("threats"),
        )
    )
    return dec.join(per, on="aid").select(
        "aid",
        pl.format("population decreasing but all {} threats recorded are in the past", "n").alias("message"),
        pl.struct("population_trend", "threats").alias("evidence"),
        pl.lit("Record the current threat causing the decline, correct the timings, or revise the trend.").alias("suggested_fix"),
    )


@rule(
    "no_threats_flag_with_threats",
    title="'No threats' stated but threats recorded",
    severity="warning",
    rationale="""The SIS field NoThreats.noThreats states that the taxon has no threats; threat rows
    in the same assessment contradict it (domain reference §9 item 6).""",
)
def no_threats_flag_with_threats(ctx: Context, cfg: dict) -> pl.DataFrame:
    """NoThreats.noThreats is true while threat rows are recorded for the same assessment."""
    flagged = ctx.flag("NoThreats")
    t = (
        ctx.table("threats")
        .join(flagged, on="aid", how="semi")
        .group_by("aid")
        .agg(pl.len().alias("n"), pl.col("code").sort().alias("threats"))
    )
    return t.select(
        "aid",
        pl.format("states there are no threats but {} threats are recorded", "n").alias("message"),
        pl.struct("threats").alias("evidence"),
        pl.lit("Clear the 'no threats' statement or remove the threat rows.").alias("suggested_fix"),
    )
