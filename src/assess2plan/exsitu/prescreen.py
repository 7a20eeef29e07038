"""Ex situ pre-screen: which species to take through an ex situ conservation assessment.

The IUCN SSC (2014) Guidelines on the Use of Ex Situ Management for Species Conservation and
the CPSG Ex situ Conservation Assessment (ECA) decide in five steps whether ex situ management
has a role for a species (domain reference §4a, §4b). Before anyone runs those steps, planners
need a short list: the pre-screen flags the species for which an evaluation is worth doing,
each with the reasons, so the list can be explained and argued about. It decides nothing:
a flag means "evaluate", never "breed in captivity".

The rules are data (``exsitu/data/prescreen.toml``, documented inline; docs/exsitu-prescreen.md
explains each one). They use the condition vocabulary of the triage rules
(:data:`assess2plan.planning.triage.CONDITIONS`: category, possibly_extinct, threat,
action_needed, research_needed, in_place, other_field, ...) and add four of their own
(:data:`PRESCREEN_CONDITIONS`):

``criteria``          the Red List criteria cite one of these criteria (``["A", "C1"]``)
``population_trend``  the population trend is one of these (``["Decreasing"]``)
``holdings``          the taxon has ex situ holdings in the imported holdings table
``cites``             the taxon's CITES listing includes one of these appendices (``["I"]``)

``holdings`` and ``cites`` read the frames of :mod:`assess2plan.exsitu.match` (holdings matched
to taxa; ``match_cites`` output); when such a frame is not given, these conditions simply do
not fire. Usage::

    from assess2plan.exsitu.prescreen import prescreen
    flagged = prescreen(aset, holdings=matched_holdings, cites=matched_cites)

Every taxon of the set is evaluated by default (its latest assessment in the scope), whatever
its category: the rules restrict categories themselves (EW, CR, CR(PE), EN are inputs of
different rules, and an action needed 3.4 or an existing ex situ population counts for any
category the rule names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from assess2plan.checks.criteria import NUMBERS, Criteria, is_v31, try_parse
from assess2plan.errors import InputError
from assess2plan.model import CITES_MATCH_SCHEMA, HOLDINGS_SCHEMA, AssessmentSet
from assess2plan.planning.places import latest_assessments
from assess2plan.planning.triage import (
    RuleCondition,
    RuleReader,
    RuleRun,
    TriageRule,
    evaluate_rules,
    load_rules,
    resolve_rules,
    rules_frame,
)
from assess2plan.schemes import category as category_code
from assess2plan.sheet import category_rank

__all__ = [
    "PRESCREEN_COLUMNS",
    "PRESCREEN_CONDITIONS",
    "cited",
    "default_prescreen_path",
    "load_prescreen_rules",
    "prescreen",
    "prescreen_rules_frame",
]

#: The bucket every pre-screen rule belongs to (the pre-screen feeds the triage's ex situ path).
BUCKET = "ex_situ"

#: Columns of :func:`prescreen`.
PRESCREEN_COLUMNS: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "flagged": pl.Boolean,
    "rules": pl.Utf8,
    "reasons": pl.Utf8,
    "evidence": pl.Utf8,
}

#: The conditions the pre-screen adds to the triage vocabulary (key -> what it means).
PRESCREEN_CONDITIONS: dict[str, str] = {
    "criteria": "the Red List criteria cite one of these: a letter (A) or a letter and number (C1)",
    "population_trend": "the population trend is one of these (Increasing, Decreasing, Stable, Unknown)",
    "holdings": "ex situ holdings: >= `min_individuals` individuals in >= `min_institutions` institutions",
    "cites": "the CITES listing includes one of these appendices (I, II, III)",
}

_TRENDS = ("Increasing", "Decreasing", "Stable", "Unknown")
_APPENDICES = ("I", "II", "III", "NC")
_CRITERION = re.compile(r"^([A-E])([0-9])?$")
_HOLDINGS_NEEDS = ("taxon_id", "total")
_CITES_NEEDS = ("taxon_id", "listing")


# -- the pre-screen's own conditions ------------------------------------------------------------------
def _read_criteria(r: RuleReader, key: str, value: object) -> dict[str, Any]:
    out: list[str] = []
    for v in r.strings(key, value):
        m = _CRITERION.match(v.strip()) if isinstance(v, str) else None
        if m is None or (m.group(2) is not None and int(m.group(2)) not in NUMBERS[m.group(1)]):
            r.fail(
                key,
                v,
                "is not a Red List criterion: an upper-case letter A-E, optionally with its number "
                "(A, A2, B1, C1, D2; A1-A4, B1-B2, C1-C2, D1-D2, E has none)",
            )
        out.append(v.strip())
    return {"values": out}


def cited(text: str | None, version: str | None = None, category: str | None = None) -> set[str]:
    """The criteria a criteria string cites, as letters and letter+number codes:
    ``"A2ace; B1ab(iii)"`` -> {"A", "A2", "B", "B1"}.

    v3.1 strings are parsed with :func:`assess2plan.checks.criteria.parse_criteria`. Strings that
    are not v3.1 (v2.3 such as ``"B1+2c"``) or do not parse are read leniently: each part
    between ``;`` opens with its letter, numbers follow the letter or a ``+``.
    """
    if not text or not text.strip():
        return set()
    parsed = try_parse(text) if is_v31(version, category) else None
    if isinstance(parsed, Criteria):
        return {c.letter for c in parsed.items} | {c.code for c in parsed.items}
    out: set[str] = set()
    for part in re.split(r";|,\s*(?=[A-E])", text):
        part = part.strip()
        if not part or part[0] not in NUMBERS:
            continue
        out.add(part[0])
        out.update(part[0] + n for n in re.findall(r"(?:^[A-E]|\+)\s*([0-9])", part))
    return out


def _assessment_fields(run: RuleRun, *columns: str) -> pl.DataFrame:
    a = run.aset.tables["assessments"].select("assessment_id", *columns)
    return run.evaluated.select("taxon_id", "assessment_id", "category").join(a, on="assessment_id")


def _c_criteria(run: RuleRun, c: dict) -> pl.DataFrame:
    t = _assessment_fields(run, "criteria", "criteria_version").filter(pl.col("criteria").is_not_null())
    wanted = set(c["values"])
    keep = [
        r["taxon_id"]
        for r in t.iter_rows(named=True)
        if wanted & cited(r["criteria"], r["criteria_version"], r["category"])
    ]
    return t.filter(pl.col("taxon_id").is_in(keep)).select(
        "taxon_id",
        pl.col("criteria").alias("ev"),
        (pl.lit("criteria ") + pl.col("criteria")).alias("text"),
    )


def _read_trend(r: RuleReader, key: str, value: object) -> dict[str, Any]:
    known = {t.lower(): t for t in _TRENDS}
    out = []
    for v in r.strings(key, value):
        found = known.get(v.strip().lower()) if isinstance(v, str) else None
        if found is None:
            r.fail(key, v, f"is not a population trend; use {', '.join(_TRENDS)}")
        out.append(found)
    return {"values": out}


def _c_population_trend(run: RuleRun, c: dict) -> pl.DataFrame:
    t = _assessment_fields(run, "population_trend").with_columns(pl.col("population_trend").str.strip_chars())
    wanted = [v.lower() for v in c["values"]]
    return t.filter(pl.col("population_trend").str.to_lowercase().is_in(wanted).fill_null(False)).select(
        "taxon_id",
        pl.col("population_trend").alias("ev"),
        (pl.lit("population trend ") + pl.col("population_trend")).alias("text"),
    )


def _read_holdings(r: RuleReader, key: str, value: object) -> dict[str, Any]:
    if value is True:
        value = {}
    t = r.table(key, value, ("min_individuals", "min_institutions"))
    return {
        "min_individuals": r.count(f"{key}.min_individuals", t.get("min_individuals", 1)),
        "min_institutions": r.count(f"{key}.min_institutions", t.get("min_institutions", 1)),
    }


_HOLDINGS_EV = pl.Struct({"individuals": pl.Int64, "institutions": pl.Int64})


def _c_holdings(run: RuleRun, c: dict) -> pl.DataFrame:
    h = run.context.get("holdings")
    if h is None:
        return pl.DataFrame(schema={"taxon_id": pl.Utf8, "ev": _HOLDINGS_EV, "text": pl.Utf8})
    # a newer record of the same institution supersedes an older one (no double counting)
    latest = h.with_columns(pl.col("date").max().over(["taxon_id", "institution"]).alias("_last")).filter(
        pl.col("_last").is_null() | (pl.col("date") == pl.col("_last"))
    )
    per = latest.group_by(["taxon_id", "institution"]).agg(pl.col("total").fill_null(0).sum().alias("_n"))
    counts = per.group_by("taxon_id").agg(
        pl.col("_n").sum().cast(pl.Int64).alias("individuals"),
        (pl.col("_n") > 0).sum().cast(pl.Int64).alias("institutions"),
    )
    rows = counts.join(run.evaluated.select("taxon_id"), on="taxon_id", how="semi").filter(
        (pl.col("individuals") >= c["min_individuals"]) & (pl.col("institutions") >= c["min_institutions"])
    )
    text = pl.format("ex situ holdings: {} individual(s) in {} institution(s)", "individuals", "institutions")
    return rows.select(
        "taxon_id",
        pl.struct("individuals", "institutions").cast(_HOLDINGS_EV).alias("ev"),
        text.alias("text"),
    )


def _read_cites(r: RuleReader, key: str, value: object) -> dict[str, Any]:
    out = []
    for v in r.strings(key, value):
        found = v.strip().upper() if isinstance(v, str) else None
        if found not in _APPENDICES:
            r.fail(key, v, "is not a CITES appendix; use I, II, III (or NC: not listed)")
        out.append(found)
    return {"values": out}


def _appendices(listing: pl.Expr) -> pl.Expr:
    """ "I/II" -> ["I", "II"]."""
    return listing.str.to_uppercase().str.split("/").list.eval(pl.element().str.strip_chars())


def _c_cites(run: RuleRun, c: dict) -> pl.DataFrame:
    m = run.context.get("cites")
    if m is None:
        return pl.DataFrame(schema={"taxon_id": pl.Utf8, "ev": pl.Utf8, "text": pl.Utf8})
    via = pl.col("matched_by").is_in(["genus", "family", "order"]).fill_null(False)
    text = (
        pl.lit("CITES ")
        + pl.col("listing")
        + pl.when(via)
        .then(pl.format(" (listed as {} {})", pl.col("cites_rank").str.to_lowercase(), "cites_name"))
        .otherwise(pl.lit(""))
    )
    return (
        m.filter(pl.col("listing").is_not_null())
        .join(run.evaluated.select("taxon_id"), on="taxon_id", how="semi")
        .filter(_appendices(pl.col("listing")).list.set_intersection(c["values"]).list.len() > 0)
        .unique("taxon_id", keep="first", maintain_order=True)
        .select("taxon_id", pl.col("listing").alias("ev"), text.alias("text"))
    )


EXTRA: dict[str, RuleCondition] = {
    "criteria": RuleCondition(PRESCREEN_CONDITIONS["criteria"], _read_criteria, _c_criteria),
    "population_trend": RuleCondition(
        PRESCREEN_CONDITIONS["population_trend"], _read_trend, _c_population_trend
    ),
    "holdings": RuleCondition(PRESCREEN_CONDITIONS["holdings"], _read_holdings, _c_holdings),
    "cites": RuleCondition(PRESCREEN_CONDITIONS["cites"], _read_cites, _c_cites),
}


# -- the rules file ---------------------------------------------------------------------------------
def default_prescreen_path() -> Path:
    """The bundled pre-screen rules (``exsitu/data/prescreen.toml``; copy it to write your own)."""
    return Path(str(resources.files("assess2plan.exsitu").joinpath("data", "prescreen.toml")))


def load_prescreen_rules(path: str | Path | None = None) -> list[TriageRule]:
    """Read and validate a pre-screen rules file (default: the bundled one).

    The file has the form of the triage rules without ``bucket`` keys; it may use every triage
    condition except ``fallback``, plus :data:`PRESCREEN_CONDITIONS`. Raises
    :class:`~assess2plan.errors.InputError` naming the file, the rule id, the key and the value.
    """
    p = default_prescreen_path() if path is None else Path(path)
    rules = load_rules(p, extra=EXTRA, bucket=BUCKET)
    for r in rules:
        if r.fallback:
            raise InputError(
                str(p),
                f"rule {r.id!r}: a pre-screen has no fallback (it flags only species a rule catches)",
                column="when.fallback",
                value=True,
            )
    return rules


def _resolve(rules: str | Path | Iterable[TriageRule] | None) -> list[TriageRule]:
    return resolve_rules(rules, load_prescreen_rules)


def prescreen_rules_frame(rules: str | Path | Iterable[TriageRule] | None = None) -> pl.DataFrame:
    """The pre-screen rules as a frame: id, enabled, description, conditions, rationale, source."""
    return rules_frame(_resolve(rules)).drop("bucket")


# -- the pre-screen ---------------------------------------------------------------------------------
def _frame(
    frame: pl.DataFrame | None, what: str, needs: tuple[str, ...], schema: Mapping[str, Any]
) -> pl.DataFrame | None:
    if frame is None:
        return None
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise InputError(
            what,
            f"missing column(s) {', '.join(missing)} "
            "(match the table to the taxa first: assess2plan.exsitu.match)",
            column=missing[0],
        )
    cols = [
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
    ]
    return frame.select(cols).filter(pl.col("taxon_id").is_not_null())


def _categories(categories: Iterable[str] | str) -> list[str]:
    values = categories.split(",") if isinstance(categories, str) else list(categories)
    out = []
    for v in values:
        found = category_code(v.strip()) if isinstance(v, str) else None
        if found is None:
            raise InputError("pre-screen", "not a Red List category", column="categories", value=v)
        out.append(found[0])
    return out


def prescreen(
    aset: AssessmentSet,
    rules: str | Path | Iterable[TriageRule] | None = None,
    *,
    holdings: pl.DataFrame | None = None,
    cites: pl.DataFrame | None = None,
    categories: Iterable[str] | str | None = None,
    scope: str | None = None,
    include_unflagged: bool = False,
) -> pl.DataFrame:
    """Flag the species to take through an ex situ evaluation, each with its reasons.

    Evaluates the latest assessment in ``scope`` (None = Global) of every taxon, or only of those
    whose category is in ``categories`` (e.g. ``("CR", "EN")``); the bundled rules restrict the
    categories themselves. ``rules``: a rules file, a list of rules, or None for the bundled
    ``exsitu/data/prescreen.toml``. ``holdings``: ex situ holdings matched to taxa (the holdings
    table with ``taxon_id`` filled, :data:`assess2plan.model.HOLDINGS_SCHEMA`; rows without a
    taxon are ignored); ``cites``: CITES listings matched to taxa
    (:data:`assess2plan.model.CITES_MATCH_SCHEMA`). Without them the ``holdings`` / ``cites``
    conditions do not fire.

    Returns :data:`PRESCREEN_COLUMNS`, one row per flagged taxon: ``rules`` (ids of the rules that
    fired, "|"-joined in file order), ``reasons`` (each rule's description with the species' own
    values, "; "-joined), ``evidence`` (JSON: rule id -> condition -> the codes/values that made
    it fire), ``flagged`` True. With ``include_unflagged`` every evaluated taxon shows; the others
    have ``flagged`` False, rules and reasons null and evidence "{}". Rows come by category (EW,
    CR first), then name.
    """
    rule_list = _resolve(rules)
    context = {
        "holdings": _frame(
            holdings,
            "ex situ holdings",
            _HOLDINGS_NEEDS,
            {k: HOLDINGS_SCHEMA[k] for k in ("taxon_id", "institution", "total", "date")},
        ),
        "cites": _frame(cites, "CITES listings", _CITES_NEEDS, CITES_MATCH_SCHEMA),
    }
    everyone = latest_assessments(aset, scope=scope)
    evaluated = (
        everyone if categories is None else everyone.filter(pl.col("category").is_in(_categories(categories)))
    )
    fired = evaluate_rules(aset, rule_list, evaluated, everyone=everyone, extra=EXTRA, context=context)
    rows = (
        fired.sort(["taxon_id", "order"])
        .group_by("taxon_id", maintain_order=True)
        .agg(
            pl.col("rule").str.join("|").alias("rules"),
            pl.col("reason").str.join("; ").alias("reasons"),
            (pl.lit('"') + pl.col("rule") + pl.lit('":') + pl.col("evidence"))
            .str.join(",")
            .alias("evidence"),
        )
        .with_columns(
            (pl.lit("{") + pl.col("evidence") + pl.lit("}")).alias("evidence"), pl.lit(True).alias("flagged")
        )
    )
    names = evaluated.select("taxon_id", "scientific_name", "category")
    out = names.join(rows, on="taxon_id", how="left" if include_unflagged else "inner")
    out = out.with_columns(pl.col("flagged").fill_null(False), pl.col("evidence").fill_null("{}"))
    return (
        out.select(list(PRESCREEN_COLUMNS))
        .cast(PRESCREEN_COLUMNS)
        .sort([category_rank(pl.col("category")), "scientific_name", "taxon_id"], nulls_last=True)
    )
