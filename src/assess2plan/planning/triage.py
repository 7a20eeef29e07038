"""Triage: suggest planning buckets for each threatened species, and apply people's decisions.

The four buckets follow the plan types of the IUCN Global Species Action Plan (GSAP Action 4.2
recovery plans "single species, multi-species, site-based, or threat-based"; Action 4.4 ex situ
programmes) -- see domain reference §1b and docs/planning.md:

``single_species``  a recovery / action plan for the species itself
``site_based``      a plan for a site or habitat shared with other threatened species
``threat_based``    a plan against a threat shared by several species
``ex_situ``         evaluate an ex situ role (IUCN SSC 2014 guidelines, CPSG ECA)

The rules are data (``planning/data/triage.toml``, documented inline): each has an id, a
bucket, a description, a rationale with its source, ``enabled``, and conditions from a small
vocabulary (:data:`CONDITIONS`). A species gets one row per bucket; when several rules point to
the same bucket their ids, reasons and evidence are combined in that row. The bundled rules end
with a fallback rule, so every evaluated species gets at least one planning path::

    from assess2plan.planning import triage, apply_decisions, bucket_summary, load_rules

    a = triage(aset, site_links=links)                 # status "suggested"
    a = apply_decisions(a, decisions)                  # accepted / rejected / added by people
    bucket_summary(a)

Nothing here decides for people: every row is a suggestion with the evidence that made a rule
fire, to be accepted or rejected at the workshop.

The same engine serves other rule sets (the ex situ pre-screen, ``exsitu.prescreen``): a rule set
adds its own conditions (:class:`RuleCondition`) with ``load_rules(path, extra=..., bucket=...)``
and fires its rules with :func:`evaluate_rules`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, reduce
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from assess2plan.errors import A2PError, InputError
from assess2plan.model import THREATENED, AssessmentSet
from assess2plan.planning.clusters import (
    clusters_of_threats,
    code_key,
    impact_threshold,
    threat_rows,
    under,
)
from assess2plan.planning.places import PLACE_KINDS, latest_assessments, places_of
from assess2plan.schemes import actions_in_place_fields, category, looks_like_code, normalise_code, scheme
from assess2plan.sheet import category_rank

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "BUCKETS",
    "CONDITIONS",
    "DECISION_COLUMNS",
    "DEFAULT_CATEGORIES",
    "FIRED_COLUMNS",
    "SUMMARY_COLUMNS",
    "RuleCondition",
    "RuleReader",
    "RuleRun",
    "TriageRule",
    "apply_decisions",
    "bucket_summary",
    "default_rules_path",
    "evaluate_rules",
    "load_rules",
    "orphan_decisions",
    "resolve_rules",
    "rules_frame",
    "triage",
]

#: The planning buckets, in display order.
BUCKETS = ("single_species", "site_based", "threat_based", "ex_situ")
STATUSES = ("suggested", "accepted", "rejected", "added")
DECISIONS = ("accept", "reject", "add")
#: what the buckets are called in pages and reports
BUCKET_LABELS = {
    "single_species": "single-species recovery",
    "site_based": "habitat / site-based",
    "threat_based": "threat-focused",
    "ex_situ": "ex situ evaluation",
}
#: Categories triaged by default (``include`` adds more, e.g. ("NT", "DD")).
DEFAULT_CATEGORIES = ("CR", "EN", "VU", "EW")

_TS = pl.Datetime("us", "UTC")
#: Columns of :func:`triage` and :func:`apply_decisions` (``decided_at`` in UTC).
ASSIGNMENT_COLUMNS: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "bucket": pl.Utf8,
    "rule": pl.Utf8,
    "reason": pl.Utf8,
    "evidence": pl.Utf8,
    "status": pl.Utf8,
    "decided_by": pl.Utf8,
    "decided_at": _TS,
    "decision_reason": pl.Utf8,
}
#: Columns of a bucket decisions frame (the store keeps them; ``made_at`` naive = UTC).
DECISION_COLUMNS: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "bucket": pl.Utf8,
    "decision": pl.Utf8,
    "reason": pl.Utf8,
    "made_by": pl.Utf8,
    "made_at": _TS,
}
#: Columns of :func:`bucket_summary`.
SUMMARY_COLUMNS: dict[str, Any] = {
    "bucket": pl.Utf8,
    "suggested": pl.Int32,
    "accepted": pl.Int32,
    "rejected": pl.Int32,
    "added": pl.Int32,
    "species": pl.Int32,
}

#: The condition vocabulary of ``[rule.when]`` (key -> what it means).
CONDITIONS: dict[str, str] = {
    "category": "latest Red List category is one of the list",
    "possibly_extinct": "true: tagged possibly extinct or possibly extinct in the wild; false: neither",
    "threat": "a threat at or below one of `codes`, not below `exclude`, with impact >= `min_impact`",
    "action_needed": "a conservation action needed at or below one of `codes` (not below `exclude`)",
    "research_needed": "research needed at or below one of `codes` (not below `exclude`)",
    "in_place": "one of the SIS InPlace* fields is answered Yes",
    "other_field": "a number in another SIS field compares with `op` `value` (whole recorded range)",
    "shares_place": "shares a place of `kinds` with >= `min_others` other species of `categories`",
    "shares_threat": "in a threat cluster (threat x place of `kinds`) with >= `min_others` other species",
    "fallback": "no other enabled (non-fallback) rule fired for the species",
}
_OPS = ("<", "<=", ">", ">=", "=")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_RULE_KEYS = ("id", "bucket", "enabled", "description", "rationale", "source", "when")
_TOP_KEYS = ("version", "rule")
_YES = ("yes", "true", "y", "t", "1")


@dataclass(frozen=True)
class TriageRule:
    """One triage rule: its bucket and the conditions (all must hold) that make it fire.

    ``when`` maps each condition key (:data:`CONDITIONS`) to its normalised settings.
    """

    id: str
    bucket: str
    description: str
    when: dict[str, dict[str, Any]] = field(hash=False)
    rationale: str = ""
    source: str = ""
    enabled: bool = True

    @property
    def fallback(self) -> bool:
        return "fallback" in self.when


@dataclass(frozen=True)
class RuleCondition:
    """A condition that another rule set adds to the vocabulary (e.g. ``holdings`` of the ex situ
    pre-screen); pass them as ``extra`` to :func:`load_rules` and :func:`evaluate_rules`.

    ``description`` is its line in the vocabulary. ``read(reader, key, value)`` validates the TOML
    value (``key`` is "when.<name>") and returns the normalised settings; on bad input it calls
    ``reader.fail(key, value, message)``, which raises an InputError naming the file and the rule.
    ``evaluate(run, settings)`` returns the evaluated taxa for which the condition holds: a frame
    with ``taxon_id``, ``ev`` (the evidence, JSON-encodable) and ``text`` (the species' own codes or
    values for the reason, Utf8, may be null).
    """

    description: str
    read: Callable[[RuleReader, str, object], dict[str, Any]]
    evaluate: Callable[[RuleRun, dict[str, Any]], pl.DataFrame]


# -- reading the rules ------------------------------------------------------------------------------
def default_rules_path() -> Path:
    """The bundled rules file (copy it to write your own)."""
    return Path(str(resources.files("assess2plan.planning").joinpath("data", "triage.toml")))


class RuleReader:
    """Validates a rules document; every error names the file, the rule id, the key and the value.

    ``extra``: conditions added to :data:`CONDITIONS`; ``bucket``: when given, every rule gets
    this bucket and a rule may not name one (a rule set without buckets, e.g. the pre-screen).
    """

    def __init__(
        self, source: str, *, extra: Mapping[str, RuleCondition] | None = None, bucket: str | None = None
    ) -> None:
        self.source = source
        self.rid = ""
        self.extra = _check_extra(extra)
        self.bucket = bucket

    def fail(self, key: str, value: object, message: str) -> None:
        who = f"rule {self.rid!r}: " if self.rid else ""
        raise InputError(self.source, who + message, column=key, value=value)

    # basic values
    def text(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, value, "must be non-empty text")
        return value.strip()

    def boolean(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(key, value, "must be true or false")
        return value

    def count(self, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, value, "must be a whole number >= 1")
        return value

    def number(self, key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, value, "must be a number")
        return float(value)

    def strings(self, key: str, value: object) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(key, value, "must be a non-empty list")
        return value

    def codes(self, key: str, value: object) -> list[str]:
        out = []
        for v in self.strings(key, value):
            if not isinstance(v, str):
                self.fail(
                    key, v, 'codes must be quoted text ("5.10", not 5.10, which TOML reads as the number 5.1)'
                )
            code = normalise_code(v)
            if not code or not looks_like_code(code):
                self.fail(key, v, "is not a classification code like 7.2 or 5.4.4")
            out.append(code)
        return out

    def categories(self, key: str, value: object) -> list[str]:
        out = []
        for v in self.strings(key, value):
            found = category(v) if isinstance(v, str) else None
            if found is None:
                self.fail(key, v, "is not a Red List category (CR, EN, VU, NT, LC, DD, EW, EX, LR/nt, ...)")
            out.append(found[0])
        return out

    def kinds(self, key: str, value: object, *, empty_ok: bool) -> list[str]:
        if value == [] and empty_ok:
            return []
        out = []
        for v in self.strings(key, value):
            if v not in PLACE_KINDS:
                self.fail(key, v, f"unknown place kind; use {', '.join(PLACE_KINDS)}")
            out.append(v)
        return out

    def min_impact(self, key: str, value: object) -> str | None:
        try:
            threshold = impact_threshold(value if isinstance(value, str) else "?")
        except A2PError:
            self.fail(key, value, "must be Low, Medium, High or any")
        return (
            None
            if threshold is None
            else str(value).strip().lower().removesuffix(" impact").strip().capitalize()
        )

    def table(self, key: str, value: object, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
        if not isinstance(value, Mapping):
            self.fail(key, value, f"must be a table {{ {', '.join(allowed)} }}")
        for k in value:
            if k not in allowed:
                self.fail(f"{key}.{k}", value[k], f"unknown key {k!r}; allowed: {', '.join(allowed)}")
        for k in required:
            if k not in value:
                self.fail(key, value, f"needs the key {k!r}")
        return dict(value)

    # conditions
    def condition(self, name: str, value: object) -> dict[str, Any]:
        key = f"when.{name}"
        if name in self.extra:
            return self.extra[name].read(self, key, value)
        if name not in CONDITIONS:
            known = ", ".join([*CONDITIONS, *self.extra])
            self.fail(key, value, f"unknown condition {name!r}; known: {known}")
        if name == "category":
            return {"values": self.categories(key, value)}
        if name == "possibly_extinct":
            return {"value": self.boolean(key, value)}
        if name == "fallback":
            if value is not True:
                self.fail(key, value, "must be true (leave it out otherwise)")
            return {"value": True}
        if name in ("threat", "action_needed", "research_needed"):
            allowed = ("codes", "exclude", "min_impact") if name == "threat" else ("codes", "exclude")
            t = (
                self.table(key, value, allowed, ("codes",))
                if isinstance(value, Mapping)
                else {"codes": value}
            )
            out: dict[str, Any] = {
                "codes": self.codes(f"{key}.codes", t["codes"]),
                "exclude": self.codes(f"{key}.exclude", t["exclude"]) if t.get("exclude") else [],
            }
            if name == "threat":
                out["min_impact"] = self.min_impact(f"{key}.min_impact", t.get("min_impact", "any"))
            return out
        if name == "in_place":
            known = {r["field"].lower(): r["field"] for r in actions_in_place_fields()}
            fields = []
            for v in self.strings(key, value):
                f = known.get(str(v).split(".")[0].strip().lower()) if isinstance(v, str) else None
                if f is None:
                    self.fail(key, v, "is not an SIS InPlace* field (e.g. InPlaceSpeciesManagementExSitu)")
                fields.append(f)
            return {"fields": fields}
        if name == "other_field":
            t = self.table(key, value, ("field", "op", "value"), ("field", "op", "value"))
            op = t["op"]
            if op not in _OPS:
                self.fail(f"{key}.op", op, f"unknown operator; use one of {' '.join(_OPS)}")
            return {
                "field": self.text(f"{key}.field", t["field"]),
                "op": op,
                "value": self.number(f"{key}.value", t["value"]),
            }
        if name == "shares_place":
            t = self.table(key, value, ("kinds", "min_others", "categories"), ("kinds", "min_others"))
            return {
                "kinds": self.kinds(f"{key}.kinds", t["kinds"], empty_ok=False),
                "min_others": self.count(f"{key}.min_others", t["min_others"]),
                "categories": self.categories(f"{key}.categories", t["categories"])
                if "categories" in t
                else list(THREATENED),
            }
        # shares_threat
        allowed = ("min_others", "min_impact", "threat_level", "kinds", "categories", "codes", "exclude")
        t = self.table(key, value, allowed, ("min_others",))
        level = t.get("threat_level", 2)
        if level == "recorded":
            level = None
        elif isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
            self.fail(f"{key}.threat_level", level, 'must be a whole number from 1 to 4, or "recorded"')
        return {
            "min_others": self.count(f"{key}.min_others", t["min_others"]),
            "min_impact": self.min_impact(f"{key}.min_impact", t.get("min_impact", "Medium")),
            "threat_level": level,
            "kinds": self.kinds(f"{key}.kinds", t.get("kinds", []), empty_ok=True),
            "categories": self.categories(f"{key}.categories", t["categories"])
            if "categories" in t
            else list(THREATENED),
            "codes": self.codes(f"{key}.codes", t["codes"]) if "codes" in t else None,
            "exclude": self.codes(f"{key}.exclude", t["exclude"]) if t.get("exclude") else [],
        }

    def rules(self, doc: Mapping[str, Any]) -> list[TriageRule]:
        for k in doc:
            if k not in _TOP_KEYS:
                self.fail(
                    k,
                    doc[k],
                    f"unknown top-level key {k!r}; a rules file holds `version = 1` and [[rule]] tables",
                )
        if doc.get("version", 1) != 1:
            self.fail(
                "version", doc.get("version"), "unsupported version; this assess2plan reads version = 1"
            )
        items = doc.get("rule")
        if not isinstance(items, list) or not items:
            self.fail("rule", items, "the file holds no [[rule]] tables")
        out: list[TriageRule] = []
        seen: set[str] = set()
        for n, item in enumerate(items, start=1):
            self.rid = f"#{n}"
            if not isinstance(item, Mapping):
                self.fail("rule", item, "must be a [[rule]] table")
            rid = item.get("id")
            if not isinstance(rid, str) or not _ID.match(rid):
                self.fail("id", rid, "rule ids are lower case letters, digits, '_' or '-'")
            self.rid = rid
            if rid in seen:
                self.fail("id", rid, "the id is used by an earlier rule")
            seen.add(rid)
            keys = _RULE_KEYS if self.bucket is None else tuple(k for k in _RULE_KEYS if k != "bucket")
            for k in item:
                if k not in keys:
                    self.fail(k, item[k], f"unknown key {k!r}; allowed: {', '.join(keys)}")
            for k in ("bucket", "description", "when"):
                if k not in item and k in keys:
                    self.fail(k, None, f"needs the key {k!r}")
            bucket = item["bucket"] if self.bucket is None else self.bucket
            if self.bucket is None and bucket not in BUCKETS:
                self.fail("bucket", bucket, f"unknown bucket; use one of {', '.join(BUCKETS)}")
            when = item["when"]
            if not isinstance(when, Mapping) or not when:
                self.fail("when", when, "must be a [rule.when] table with at least one condition")
            conds = {name: self.condition(name, v) for name, v in when.items()}
            out.append(
                TriageRule(
                    id=rid,
                    bucket=bucket,
                    description=self.text("description", item["description"]),
                    when=conds,
                    rationale=str(item.get("rationale") or "").strip(),
                    source=str(item.get("source") or "").strip(),
                    enabled=self.boolean("enabled", item.get("enabled", True)),
                )
            )
        self.rid = ""
        return out


def _check_extra(extra: Mapping[str, RuleCondition] | None) -> dict[str, RuleCondition]:
    out = dict(extra or {})
    clash = [k for k in out if k in CONDITIONS]
    if clash:
        raise ValueError(f"extra conditions may not redefine {', '.join(clash)}")
    return out


def load_rules(
    path: str | Path | None = None,
    *,
    extra: Mapping[str, RuleCondition] | None = None,
    bucket: str | None = None,
) -> list[TriageRule]:
    """Read and validate a rules file (default: the bundled ``planning/data/triage.toml``).

    Raises :class:`~assess2plan.errors.InputError` naming the file, the rule id, the key and the
    value for a file that is missing or not TOML, an unknown key, bucket, condition, operator,
    place kind or category, a code written as a number, a bad number or a duplicate id.

    Other rule sets pass ``extra`` (their own conditions, :class:`RuleCondition`) and ``bucket``
    (a fixed bucket given to every rule; the file then has no ``bucket`` keys).
    """
    p = default_rules_path() if path is None else Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(str(p), "no such rules file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(str(p), f"is not valid TOML: {e}") from None
    return RuleReader(str(p), extra=extra, bucket=bucket).rules(doc)


def resolve_rules(
    rules: str | Path | Iterable[TriageRule] | None,
    load: Callable[[str | Path | None], list[TriageRule]] | None = None,
) -> list[TriageRule]:
    """Rules given as a file (read with ``load``, default :func:`load_rules`) or as rule objects."""
    if rules is None or isinstance(rules, str | Path):
        return (load or load_rules)(rules)
    out = list(rules)
    for r in out:
        if not isinstance(r, TriageRule):
            raise TypeError(f"rules must be a path or TriageRule objects, not {type(r).__name__}")
    return out


def rules_frame(rules: str | Path | Iterable[TriageRule] | None = None) -> pl.DataFrame:
    """The rules as a frame: id, bucket, enabled, description, conditions, rationale, source."""
    rows = [
        {
            "id": r.id,
            "bucket": r.bucket,
            "enabled": r.enabled,
            "description": r.description,
            "conditions": "; ".join(f"{k} {_cond_text(v)}" for k, v in r.when.items()),
            "rationale": r.rationale,
            "source": r.source,
        }
        for r in resolve_rules(rules)
    ]
    schema = {k: pl.Utf8 for k in ("id", "bucket", "description", "conditions", "rationale", "source")}
    schema["enabled"] = pl.Boolean
    return pl.DataFrame(rows, schema={k: schema[k] for k in rows[0]} if rows else schema)


def _cond_text(v: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={x}" for k, x in v.items() if x not in (None, [], ""))


# -- evaluating conditions --------------------------------------------------------------------------
@cache
def _scheme_names(name: str) -> dict[str, str]:
    s = scheme(name)
    return dict(zip(s["code"].to_list(), s["name"].to_list(), strict=True))


class RuleRun:
    """What the conditions see: the set, the evaluated taxa (latest assessments: taxon_id,
    assessment_id, scientific_name, category, ...), everyone in the scope, the site links and
    ``context`` (anything a rule set's own conditions need, e.g. an ex situ holdings frame)."""

    def __init__(
        self,
        aset: AssessmentSet,
        evaluated: pl.DataFrame,
        everyone: pl.DataFrame,
        site_links: pl.DataFrame | None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.aset = aset
        self.evaluated = evaluated
        self.everyone = everyone
        self.site_links = site_links
        self.context = dict(context or {})
        self.ids = evaluated.select("assessment_id", "taxon_id")

    def child(self, table: str) -> pl.DataFrame:
        return self.aset.tables[table].drop("taxon_id").join(self.ids, on="assessment_id", how="inner")

    def pool(self, categories: Sequence[str]) -> pl.DataFrame:
        """The evaluated taxa and every other taxon of ``categories`` (who counts as 'other')."""
        others = self.everyone.filter(pl.col("category").is_in(list(categories)))
        return pl.concat([self.evaluated, others]).unique("taxon_id", keep="first", maintain_order=True)


Frame = pl.DataFrame  # taxon_id, ev, text


def _c_category(run: RuleRun, c: dict) -> Frame:
    return run.evaluated.filter(pl.col("category").is_in(c["values"])).select(
        "taxon_id", pl.col("category").alias("ev"), (pl.lit("category ") + pl.col("category")).alias("text")
    )


def _c_possibly_extinct(run: RuleRun, c: dict) -> Frame:
    pe = pl.col("possibly_extinct").fill_null(False)
    pew = pl.col("possibly_extinct_in_the_wild").fill_null(False)
    if c["value"]:
        text = (
            pl.when(pe)
            .then(pl.lit("tagged possibly extinct"))
            .otherwise(pl.lit("tagged possibly extinct in the wild"))
        )
        return run.evaluated.filter(pe | pew).select("taxon_id", pl.lit(True).alias("ev"), text.alias("text"))
    return run.evaluated.filter(~(pe | pew)).select(
        "taxon_id", pl.lit(False).alias("ev"), pl.lit("not tagged possibly extinct").alias("text")
    )


def _c_threat(run: RuleRun, c: dict) -> Frame:
    rows = threat_rows(
        run.aset,
        run.evaluated,
        min_impact=c["min_impact"],
        threat_level=None,
        codes=c["codes"],
        exclude=c["exclude"],
    )
    return (
        rows.sort(["taxon_id", code_key(pl.col("code"))])
        .group_by("taxon_id", maintain_order=True)
        .agg(
            (pl.col("code") + " " + pl.col("impact")).alias("ev"),
            pl.col("detail").str.join(", ").alias("_d"),
            pl.len(),
        )
        .select(
            "taxon_id",
            "ev",
            (
                pl.when(pl.col("len") > 1).then(pl.lit("threats ")).otherwise(pl.lit("threat "))
                + pl.col("_d")
            ).alias("text"),
        )
    )


def _coded(table: str, scheme_name: str, noun: str, plural: str) -> Callable[[RuleRun, dict], Frame]:
    def evaluate(run: RuleRun, c: dict) -> Frame:
        names = _scheme_names(scheme_name)
        t = (
            run.child(table)
            .filter(pl.col("code").is_not_null())
            .with_columns(pl.col("code").str.strip_chars())
        )
        t = t.filter(under(pl.col("code"), c["codes"]))
        if c["exclude"]:
            t = t.filter(~under(pl.col("code"), c["exclude"]))
        label = (
            pl.col("code").replace_strict(names, default=None, return_dtype=pl.Utf8).fill_null(pl.col("name"))
        )
        return (
            t.unique(["taxon_id", "code"], keep="first")
            .sort(["taxon_id", code_key(pl.col("code"))])
            .with_columns(
                pl.concat_str([pl.col("code"), label], separator=" ", ignore_nulls=True).alias("_l")
            )
            .group_by("taxon_id", maintain_order=True)
            .agg(pl.col("code").alias("ev"), pl.col("_l").str.join(", ").alias("_d"), pl.len())
            .select(
                "taxon_id",
                "ev",
                (
                    pl.when(pl.col("len") > 1).then(pl.lit(plural + " ")).otherwise(pl.lit(noun + " "))
                    + pl.col("_d")
                ).alias("text"),
            )
        )

    return evaluate


def _c_in_place(run: RuleRun, c: dict) -> Frame:
    wanted = [f.lower() for f in c["fields"]]
    t = run.child("actions_in_place").with_columns(
        pl.col("field").str.split(".").list.first().str.strip_chars()
    )
    t = t.filter(
        pl.col("field").str.to_lowercase().is_in(wanted)
        & pl.col("value").str.strip_chars().str.to_lowercase().is_in(list(_YES)).fill_null(False)
    )
    return (
        t.unique(["taxon_id", "field"], keep="first")
        .sort(["taxon_id", "field"])
        .group_by("taxon_id", maintain_order=True)
        .agg(pl.col("field").alias("ev"))
        .select(
            "taxon_id",
            "ev",
            (pl.lit("in place: ") + pl.col("ev").list.join(", ") + pl.lit(" = Yes")).alias("text"),
        )
    )


_RANGE = r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-\s*(-?\d+(?:\.\d+)?))?\s*$"


def _c_other_field(run: RuleRun, c: dict) -> Frame:
    name, op, value = c["field"], c["op"], c["value"]
    t = (
        run.child("other_fields")
        .filter(pl.col("field").str.strip_chars().str.to_lowercase() == name.lower())
        .filter(pl.col("value").is_not_null())
    )
    parts = pl.col("value").str.replace_all(r"(\d),(\d{3})", "${1}${2}").str.extract_groups(_RANGE)
    t = t.with_columns(
        parts.struct.field("1").cast(pl.Float64, strict=False).alias("_lo"),
        parts.struct.field("2").cast(pl.Float64, strict=False).alias("_hi"),
    ).with_columns(pl.col("_hi").fill_null(pl.col("_lo")))
    lo, hi = pl.col("_lo"), pl.col("_hi")
    test = {
        "<": hi < value,
        "<=": hi <= value,
        ">": lo > value,
        ">=": lo >= value,
        "=": (lo == value) & (hi == value),
    }[op]
    shown = f"{value:g}"
    return (
        t.filter(test.fill_null(False))
        .unique("taxon_id", keep="first", maintain_order=True)
        .select(
            "taxon_id",
            pl.col("value").alias("ev"),
            (pl.lit(f"{name} = ") + pl.col("value") + pl.lit(f" ({op} {shown})")).alias("text"),
        )
    )


def _others_text(items: pl.Expr, n: pl.Expr, prefix: str) -> pl.Expr:
    more = pl.when(n > 3).then(pl.format(" and {} more", n - 3)).otherwise(pl.lit(""))
    return pl.lit(prefix) + items.list.head(3).list.join("; ") + more


def _c_shares_place(run: RuleRun, c: dict) -> Frame:
    cats = c["categories"]
    pool = run.pool(cats)
    places = places_of(run.aset, pool, c["kinds"], site_links=run.site_links).join(
        pool.select("taxon_id", pl.col("category").is_in(cats).cast(pl.Int32).alias("_in")), on="taxon_id"
    )
    counts = places.group_by(["place_kind", "place"]).agg(pl.col("_in").sum().alias("_n"))
    order = {k: i for i, k in enumerate(PLACE_KINDS)}
    rows = (
        places.join(run.evaluated.select("taxon_id"), on="taxon_id", how="semi")
        .join(counts, on=["place_kind", "place"])
        .with_columns((pl.col("_n") - pl.col("_in")).cast(pl.Int32).alias("others"))
        .filter(pl.col("others") >= c["min_others"])
        .sort(
            [
                "taxon_id",
                "others",
                pl.col("place_kind").replace_strict(order, return_dtype=pl.Int32),
                "place",
            ],
            descending=[False, True, False, False],
        )
    )
    label = pl.format("{} ({} {}, {} others)", "place_name", "place_kind", "place", "others")
    return (
        rows.with_columns((pl.col("place_kind") + ":" + pl.col("place")).alias("place_id"), label.alias("_l"))
        .group_by("taxon_id", maintain_order=True)
        .agg(
            pl.struct(pl.col("place_id").alias("place"), pl.col("place_name").alias("name"), "others").alias(
                "ev"
            ),
            pl.col("_l"),
        )
        .select(
            "taxon_id",
            "ev",
            _others_text(
                pl.col("_l"), pl.col("_l").list.len(), f"shares with other {'/'.join(cats)} species: "
            ).alias("text"),
        )
    )


def _c_shares_threat(run: RuleRun, c: dict) -> Frame:
    cats = c["categories"]
    pool = run.pool(cats)
    names = _scheme_names("threats")
    if c["kinds"]:
        cl = clusters_of_threats(
            run.aset,
            pool,
            c["kinds"],
            min_impact=c["min_impact"],
            threat_level=c["threat_level"],
            min_size=2,
            site_links=run.site_links,
            codes=c["codes"],
            exclude=c["exclude"],
            reasons=False,
        )
        m = cl.members.select("cluster_id", "taxon_id").join(
            cl.clusters.select("cluster_id", "code", "code_name", "place_name", "place"), on="cluster_id"
        )
        where = pl.format(" in {} ({})", "place_name", "place")
    else:
        rows = threat_rows(
            run.aset,
            pool,
            min_impact=c["min_impact"],
            threat_level=c["threat_level"],
            codes=c["codes"],
            exclude=c["exclude"],
        )
        m = (
            rows.select("taxon_id", pl.col("ccode").alias("code"))
            .unique()
            .with_columns(
                (pl.lit("threat:") + pl.col("code")).alias("cluster_id"),
                pl.col("code").replace_strict(names, default=None, return_dtype=pl.Utf8).alias("code_name"),
            )
        )
        where = pl.lit(" in the working set")
    m = m.join(
        pool.select("taxon_id", pl.col("category").is_in(cats).cast(pl.Int32).alias("_in")), on="taxon_id"
    )
    counts = m.group_by("cluster_id").agg(pl.col("_in").sum().alias("_n"))
    rows = (
        m.join(run.evaluated.select("taxon_id"), on="taxon_id", how="semi")
        .join(counts, on="cluster_id")
        .with_columns((pl.col("_n") - pl.col("_in")).cast(pl.Int32).alias("others"))
        .filter(pl.col("others") >= c["min_others"])
        .sort(["taxon_id", "others", "cluster_id"], descending=[False, True, False])
    )
    label = (
        pl.concat_str([pl.col("code"), pl.col("code_name")], separator=" ", ignore_nulls=True)
        + where
        + pl.format(" ({} others)", "others")
    )
    return (
        rows.with_columns(label.alias("_l"))
        .group_by("taxon_id", maintain_order=True)
        .agg(pl.struct("cluster_id", "others").alias("ev"), pl.col("_l"))
        .select(
            "taxon_id",
            "ev",
            _others_text(
                pl.col("_l"),
                pl.col("_l").list.len(),
                f"shares with other {'/'.join(cats)} species the threat ",
            ).alias("text"),
        )
    )


_EVALUATORS: dict[str, Callable[[RuleRun, dict], Frame]] = {
    "category": _c_category,
    "possibly_extinct": _c_possibly_extinct,
    "threat": _c_threat,
    "action_needed": _coded("actions_needed", "conservation_actions", "action needed", "actions needed"),
    "research_needed": _coded("research_needed", "research", "research needed", "research needed"),
    "in_place": _c_in_place,
    "other_field": _c_other_field,
    "shares_place": _c_shares_place,
    "shares_threat": _c_shares_threat,
}


def _fire(
    rule: TriageRule,
    run: RuleRun,
    fired: pl.DataFrame | None = None,
    evaluators: Mapping[str, Callable[[RuleRun, dict], Frame]] = _EVALUATORS,
) -> pl.DataFrame:
    """Taxa for which every condition of ``rule`` holds: taxon_id, evidence (JSON), reason."""
    frames = []
    for i, (key, cond) in enumerate(rule.when.items()):
        if key == "fallback":
            f = run.evaluated.select("taxon_id")
            if fired is not None:
                f = f.join(fired, on="taxon_id", how="anti")
            f = f.with_columns(pl.lit(True).alias("ev"), pl.lit(None, dtype=pl.Utf8).alias("text"))
        else:
            if key not in evaluators:
                raise ValueError(f"rule {rule.id!r}: condition {key!r} is unknown here (pass it as extra)")
            f = evaluators[key](run, cond)
        frames.append(f.select("taxon_id", pl.col("ev").alias(key), pl.col("text").alias(f"_t{i}")))
    merged = reduce(lambda a, b: a.join(b, on="taxon_id", how="inner"), frames)
    texts = pl.concat_str([pl.col(f"_t{i}") for i in range(len(frames))], separator="; ", ignore_nulls=True)
    reason = (
        pl.when(texts.str.len_chars() > 0)
        .then(pl.lit(rule.description + " (") + texts + pl.lit(")"))
        .otherwise(pl.lit(rule.description))
    )
    return merged.select(
        "taxon_id",
        pl.struct(list(rule.when)).struct.json_encode().alias("evidence"),
        reason.alias("reason"),
    )


def _empty(columns: Mapping[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(columns))


def _sorted(a: pl.DataFrame) -> pl.DataFrame:
    border = {b: i for i, b in enumerate(BUCKETS)}
    return a.sort(
        [
            category_rank(pl.col("category")),
            "scientific_name",
            "taxon_id",
            pl.col("bucket").replace_strict(border, default=len(border), return_dtype=pl.Int32),
        ],
        nulls_last=True,
    )


#: Columns of :func:`evaluate_rules`.
FIRED_COLUMNS: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "bucket": pl.Utf8,
    "rule": pl.Utf8,
    "order": pl.Int32,
    "evidence": pl.Utf8,
    "reason": pl.Utf8,
}


def evaluate_rules(
    aset: AssessmentSet,
    rules: Iterable[TriageRule],
    evaluated: pl.DataFrame,
    *,
    everyone: pl.DataFrame | None = None,
    site_links: pl.DataFrame | None = None,
    extra: Mapping[str, RuleCondition] | None = None,
    context: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Fire the enabled ``rules`` for the ``evaluated`` taxa (latest assessments, as from
    ``planning.latest_assessments``); fallback rules run last and fire only for taxa no other
    rule caught.

    ``everyone`` (default: ``evaluated``) is who counts as an "other" species for shares_place /
    shares_threat; ``extra`` and ``context`` are a rule set's own conditions and what they read
    (:class:`RuleCondition`, :class:`RuleRun`). Returns one row per taxon and rule that fired
    (:data:`FIRED_COLUMNS`): the rule's bucket, its id, ``order`` (its position among the
    enabled rules), ``evidence`` (JSON: condition -> the codes/values that made it fire) and
    ``reason`` (the description with the species' own codes and values), in rule order.
    """
    evaluators = {**_EVALUATORS, **{k: c.evaluate for k, c in _check_extra(extra).items()}}
    rule_list = [r for r in rules if r.enabled]
    run = RuleRun(aset, evaluated, evaluated if everyone is None else everyone, site_links, context)
    parts: list[pl.DataFrame] = []
    order = {r.id: i for i, r in enumerate(rule_list)}

    def add(rule: TriageRule, fired: pl.DataFrame | None = None) -> None:
        f = _fire(rule, run, fired, evaluators)
        parts.append(
            f.select(
                "taxon_id",
                pl.lit(rule.bucket, dtype=pl.Utf8).alias("bucket"),
                pl.lit(rule.id).alias("rule"),
                pl.lit(order[rule.id], dtype=pl.Int32).alias("order"),
                "evidence",
                "reason",
            )
        )

    for r in rule_list:
        if not r.fallback:
            add(r)
    fired = (
        pl.concat([p.select("taxon_id") for p in parts]).unique()
        if parts
        else evaluated.select("taxon_id").clear()
    )
    for r in rule_list:
        if r.fallback:
            add(r, fired)
    if not parts:
        return _empty(FIRED_COLUMNS)
    return pl.concat(parts).cast(FIRED_COLUMNS)


def triage(
    aset: AssessmentSet,
    rules: str | Path | Iterable[TriageRule] | None = None,
    *,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    include: Iterable[str] = (),
    site_links: pl.DataFrame | None = None,
    scope: str | None = None,
) -> pl.DataFrame:
    """Suggest planning buckets for each taxon whose latest assessment in ``scope`` (None =
    Global) has a category in ``categories`` (default CR, EN, VU, EW) or ``include`` (e.g.
    ``("NT", "DD")``).

    ``rules``: a rules file path, a list of :class:`TriageRule`, or None for the bundled rules.
    ``site_links`` (taxon_id, site_id, site_name) gives the sites for ``shares_place`` with kind
    "site". Returns the assignments (:data:`ASSIGNMENT_COLUMNS`): one row per taxon and bucket
    with ``rule`` (the ids of every rule that chose that bucket, "|"-joined in file order),
    ``reason`` (their descriptions with the species' own codes and values), ``evidence`` (JSON:
    rule id -> condition -> the codes/values that made it fire), status "suggested" and empty
    decision columns. Rows come by category (CR first), name, then bucket.

    A species for which no enabled rule fires (possible only when the fallback rule is disabled)
    still gets one row, with ``bucket`` null and reason "no enabled triage rule applies", so
    every evaluated species shows.
    """
    cats = list(dict.fromkeys([*_list(categories), *_list(include)]))
    everyone = latest_assessments(aset, scope=scope)
    evaluated = everyone.filter(pl.col("category").is_in(cats))
    fired = evaluate_rules(aset, resolve_rules(rules), evaluated, everyone=everyone, site_links=site_links)
    names = evaluated.select("taxon_id", "scientific_name", "category")
    if fired.height:
        rows = (
            fired.sort(["taxon_id", "bucket", "order"])
            .group_by(["taxon_id", "bucket"], maintain_order=True)
            .agg(
                pl.col("rule").str.join("|"),
                pl.col("reason").str.join("; "),
                (pl.lit('"') + pl.col("rule") + pl.lit('":') + pl.col("evidence"))
                .str.join(",")
                .alias("evidence"),
            )
            .with_columns((pl.lit("{") + pl.col("evidence") + pl.lit("}")).alias("evidence"))
        )
    else:
        rows = pl.DataFrame(
            schema={
                "taxon_id": pl.Utf8,
                "bucket": pl.Utf8,
                "rule": pl.Utf8,
                "reason": pl.Utf8,
                "evidence": pl.Utf8,
            }
        )
    none = names.join(rows.select("taxon_id"), on="taxon_id", how="anti").select(
        "taxon_id",
        pl.lit(None, dtype=pl.Utf8).alias("bucket"),
        pl.lit(None, dtype=pl.Utf8).alias("rule"),
        pl.lit("no enabled triage rule applies").alias("reason"),
        pl.lit("{}").alias("evidence"),
    )
    out = pl.concat([rows.select(none.columns), none]).join(names, on="taxon_id", how="left")
    out = out.with_columns(
        pl.lit("suggested").alias("status"),
        pl.lit(None, dtype=pl.Utf8).alias("decided_by"),
        pl.lit(None, dtype=_TS).alias("decided_at"),
        pl.lit(None, dtype=pl.Utf8).alias("decision_reason"),
    )
    return _sorted(out.select(list(ASSIGNMENT_COLUMNS)).cast(ASSIGNMENT_COLUMNS))


def _list(values: Iterable[str] | str) -> list[str]:
    if isinstance(values, str):
        return [v.strip() for v in values.split(",") if v.strip()]
    return list(values)


# -- decisions --------------------------------------------------------------------------------------
def _timestamps(col: pl.Series) -> pl.Series:
    dtype = col.dtype
    if dtype == pl.Null:
        return col.cast(_TS)
    if dtype == pl.Utf8:
        col = col.str.to_datetime(strict=False, time_unit="us")
        dtype = col.dtype
    if dtype == pl.Date:
        col = col.cast(pl.Datetime("us"))
        dtype = col.dtype
    if not isinstance(dtype, pl.Datetime):
        raise InputError(
            "bucket decisions", "made_at must be a date and time", column="made_at", value=str(dtype)
        )
    if dtype.time_zone is None:
        col = col.dt.replace_time_zone("UTC")
    else:
        col = col.dt.convert_time_zone("UTC")
    return col.dt.cast_time_unit("us")


def _decisions(decisions: pl.DataFrame | None) -> pl.DataFrame:
    """Validated decisions, only the latest per (taxon_id, bucket) (by made_at, then row order;
    a decision without made_at counts as the oldest)."""
    if decisions is None or decisions.height == 0:
        return _empty(DECISION_COLUMNS)
    missing = [c for c in ("taxon_id", "bucket", "decision") if c not in decisions.columns]
    if missing:
        raise InputError("bucket decisions", f"missing column(s) {', '.join(missing)}", column=missing[0])
    cols = {}
    for name, dtype in DECISION_COLUMNS.items():
        if name not in decisions.columns:
            cols[name] = pl.repeat(None, decisions.height, dtype=dtype, eager=True).alias(name)
        elif name == "made_at":
            cols[name] = _timestamps(decisions.get_column(name))
        else:
            cols[name] = decisions.get_column(name).cast(pl.Utf8)
    d = pl.DataFrame(list(cols.values())).with_columns(
        pl.col("decision").str.strip_chars().str.to_lowercase(), pl.col("bucket").str.strip_chars()
    )
    for col, allowed in (("decision", DECISIONS), ("bucket", BUCKETS)):
        bad = d.with_row_index("_row", offset=1).filter(~pl.col(col).is_in(list(allowed)).fill_null(False))
        if bad.height:
            r = bad.row(0, named=True)
            raise InputError(
                "bucket decisions",
                f"{col} must be one of {', '.join(allowed)}",
                row=r["_row"],
                column=col,
                value=r[col],
            )
    bad = d.with_row_index("_row", offset=1).filter(pl.col("taxon_id").is_null())
    if bad.height:
        raise InputError("bucket decisions", "taxon_id is empty", row=bad["_row"][0], column="taxon_id")
    return (
        d.with_row_index("_i")
        .sort(["made_at", "_i"], nulls_last=False)
        .unique(["taxon_id", "bucket"], keep="last", maintain_order=True)
        .drop("_i")
    )


def _known(assignments: pl.DataFrame, taxa: pl.DataFrame | None) -> pl.DataFrame:
    frames = [assignments.select("taxon_id", "scientific_name", "category")]
    if taxa is not None:
        cols = [
            c if c in taxa.columns else pl.lit(None, dtype=pl.Utf8).alias(c)
            for c in ("scientific_name", "category")
        ]
        frames.append(taxa.select(pl.col("taxon_id").cast(pl.Utf8), *cols).cast(pl.Utf8))
    return pl.concat(frames).unique("taxon_id", keep="first", maintain_order=True)


def apply_decisions(
    assignments: pl.DataFrame, decisions: pl.DataFrame | None, *, taxa: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Apply people's bucket decisions (taxon_id, bucket, decision, reason, made_by, made_at) to
    triage assignments. Decisions are keyed on the Red List taxon id, so they survive a
    re-import that brings new assessment ids.

    * Only the latest decision per (taxon_id, bucket) counts (by ``made_at``, then row order).
    * ``accept``: the row's status becomes "accepted". If the rules no longer suggest that
      bucket, the row is kept anyway (status "accepted", rule null, reason the decision's).
    * ``reject``: status "rejected"; the row stays so the rejection shows. A rejection of a
      bucket no one suggests adds nothing.
    * ``add``: a row with rule null, status "added" and the decision's reason; when the rules
      already suggest that bucket, the add counts as an accept.
    * ``decided_by``, ``decided_at`` (UTC) and ``decision_reason`` come from the decision.
    * The row with bucket null of a species no rule placed is dropped once the species has an
      accepted or added bucket.

    Decisions about taxa that are neither in ``assignments`` nor in ``taxa`` (optional frame
    with taxon_id, scientific_name, category -- e.g. every latest assessment of the set, so
    that a bucket can be added to a species that was not triaged) are left out here; get them
    with :func:`orphan_decisions` (e.g. a taxon that left the working set).
    """
    a = assignments.select(list(ASSIGNMENT_COLUMNS)).cast(ASSIGNMENT_COLUMNS)
    d = _decisions(decisions)
    known = _known(a, taxa)
    d = d.join(known.select("taxon_id"), on="taxon_id", how="semi")
    dd = d.select(
        "taxon_id",
        "bucket",
        pl.col("decision").alias("_dec"),
        pl.col("reason").alias("_reason"),
        pl.col("made_by").alias("_by"),
        pl.col("made_at").alias("_at"),
    )
    j = a.join(dd, on=["taxon_id", "bucket"], how="left")
    decided = pl.col("_dec").is_not_null()
    j = j.with_columns(
        pl.when(pl.col("_dec") == "reject")
        .then(pl.lit("rejected"))
        .when((pl.col("_dec") == "add") & pl.col("rule").is_null())  # an earlier add, applied again
        .then(pl.lit("added"))
        .when(decided)
        .then(pl.lit("accepted"))
        .otherwise(pl.col("status"))
        .alias("status"),
        pl.when(decided).then(pl.col("_by")).otherwise(pl.col("decided_by")).alias("decided_by"),
        pl.when(decided).then(pl.col("_at")).otherwise(pl.col("decided_at")).alias("decided_at"),
        pl.when(decided)
        .then(pl.col("_reason"))
        .otherwise(pl.col("decision_reason"))
        .alias("decision_reason"),
    ).select(list(ASSIGNMENT_COLUMNS))
    new = (
        d.filter(pl.col("decision").is_in(["accept", "add"]))
        .join(a.filter(pl.col("bucket").is_not_null()), on=["taxon_id", "bucket"], how="anti")
        .join(known, on="taxon_id", how="left")
        .select(
            "taxon_id",
            "scientific_name",
            "category",
            "bucket",
            pl.lit(None, dtype=pl.Utf8).alias("rule"),
            pl.col("reason")
            .fill_null(
                pl.when(pl.col("decision") == "add")
                .then(pl.lit("added by hand"))
                .otherwise(pl.lit("accepted by hand (no rule suggests it now)"))
            )
            .alias("reason"),
            pl.lit(None, dtype=pl.Utf8).alias("evidence"),
            pl.when(pl.col("decision") == "add")
            .then(pl.lit("added"))
            .otherwise(pl.lit("accepted"))
            .alias("status"),
            pl.col("made_by").alias("decided_by"),
            pl.col("made_at").alias("decided_at"),
            pl.col("reason").alias("decision_reason"),
        )
        .cast(ASSIGNMENT_COLUMNS)
    )
    out = pl.concat([j.cast(ASSIGNMENT_COLUMNS), new])
    placed = (
        out.filter(pl.col("bucket").is_not_null() & (pl.col("status") != "rejected"))
        .select("taxon_id")
        .unique()
    )
    out = out.filter(pl.col("bucket").is_not_null() | ~pl.col("taxon_id").is_in(placed["taxon_id"].implode()))
    return _sorted(out)


def orphan_decisions(
    assignments: pl.DataFrame, decisions: pl.DataFrame | None, *, taxa: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The latest decisions (:data:`DECISION_COLUMNS`) about taxa that are neither in
    ``assignments`` nor in ``taxa``: kept by the store but not applied by :func:`apply_decisions`
    (e.g. the taxon left the working set, or its category is no longer triaged)."""
    d = _decisions(decisions)
    known = _known(assignments.select("taxon_id", "scientific_name", "category").cast(pl.Utf8), taxa)
    return d.join(known.select("taxon_id"), on="taxon_id", how="anti")


def bucket_summary(assignments: pl.DataFrame) -> pl.DataFrame:
    """Rows per bucket and status, and ``species``: distinct taxa in the bucket that are not
    rejected. Every bucket is listed (zeros included), in :data:`BUCKETS` order; a last row with
    bucket null counts the species no rule placed, if any."""
    counts = assignments.group_by("bucket").agg(
        *[(pl.col("status") == s).sum().cast(pl.Int32).alias(s) for s in STATUSES],
        pl.col("taxon_id").filter(pl.col("status") != "rejected").n_unique().cast(pl.Int32).alias("species"),
    )
    base = pl.DataFrame({"bucket": list(BUCKETS)}, schema={"bucket": pl.Utf8})
    out = base.join(counts, on="bucket", how="left").with_columns(pl.exclude("bucket").fill_null(0))
    rest = counts.filter(pl.col("bucket").is_null())
    return pl.concat([out.cast(SUMMARY_COLUMNS), rest.select(list(SUMMARY_COLUMNS)).cast(SUMMARY_COLUMNS)])
