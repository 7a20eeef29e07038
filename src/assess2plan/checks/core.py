"""The machinery of the consistency checks: findings, the rule registry, configuration, running.

Rules themselves live in :mod:`assess2plan.checks.rules`; each is a function
``fn(ctx: Context, cfg: dict) -> pl.DataFrame`` registered with :func:`rule`. It returns one row per
finding with the columns ``aid`` (or ``assessment_id``), ``message``, ``evidence`` (a struct, becomes a dict),
``suggested_fix`` and optionally ``severity`` (else the rule's); ``taxon_id`` and
``scientific_name`` are added from the assessment. A rule that cannot judge the set (a table it
needs is absent from the whole export) raises :class:`RuleSkipped`, which becomes one ``info``
finding without a taxon.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any

import polars as pl

from assess2plan.errors import InputError
from assess2plan.model import AssessmentSet

SEVERITIES = ("error", "warning", "info")
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: Columns of :func:`findings_frame` / :func:`check_frame`.
FINDING_SCHEMA: dict[str, Any] = {
    "rule": pl.Utf8,
    "severity": pl.Utf8,
    "taxon_id": pl.Utf8,
    "assessment_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "message": pl.Utf8,
    "evidence": pl.Utf8,  # JSON text for dict evidence; plain text otherwise
    "suggested_fix": pl.Utf8,
}

TRUE_VALUES = ("true", "yes", "y", "t", "1")


# -- findings -------------------------------------------------------------------------------------
@dataclass(slots=True)
class Finding:
    """One thing a rule found about one assessment (or, without taxon, about the whole set)."""

    rule: str
    severity: str  # "error" | "warning" | "info"
    taxon_id: str | None
    assessment_id: str | None
    scientific_name: str | None
    message: str
    evidence: dict[str, Any] | str | None = None
    suggested_fix: str | None = None

    def __str__(self) -> str:
        who = self.scientific_name or self.taxon_id or "(whole set)"
        return f"[{self.severity}] {self.rule}: {who}: {self.message}"


def findings_frame(findings: Iterable[Finding]) -> pl.DataFrame:
    """Findings as a polars frame (columns ``FINDING_SCHEMA``; dict evidence as compact JSON text)."""
    rows = []
    for f in findings:
        ev = f.evidence
        if isinstance(ev, Mapping):
            ev = json.dumps(ev, ensure_ascii=False, separators=(",", ":"), default=str)
        rows.append(
            {
                "rule": f.rule,
                "severity": f.severity,
                "taxon_id": f.taxon_id,
                "assessment_id": f.assessment_id,
                "scientific_name": f.scientific_name,
                "message": f.message,
                "evidence": ev,
                "suggested_fix": f.suggested_fix,
            }
        )
    return pl.DataFrame(rows, schema=FINDING_SCHEMA) if rows else pl.DataFrame(schema=FINDING_SCHEMA)


class RuleSkipped(Exception):
    """Raised by a rule that cannot judge this set; the message says why."""


# -- registry -------------------------------------------------------------------------------------
RuleFunc = Callable[["Context", dict], pl.DataFrame]


@dataclass(frozen=True)
class Rule:
    """A registered check: its id, default severity, rationale and whether it is on by default."""

    id: str
    title: str
    severity: str
    rationale: str
    enabled: bool
    func: RuleFunc = field(repr=False, compare=False)
    config_keys: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """What the rule finds (the function's docstring)."""
        return " ".join((self.func.__doc__ or "").split())


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    *,
    title: str,
    severity: str,
    rationale: str,
    enabled: bool = True,
    config_keys: Iterable[str] = (),
) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under ``id`` (decorator)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")

    def register(func: RuleFunc) -> RuleFunc:
        if id in RULES:
            raise ValueError(f"rule {id!r} is registered twice")
        RULES[id] = Rule(id, title, severity, " ".join(rationale.split()), enabled, func, tuple(config_keys))
        return func

    return register


def rules_frame() -> pl.DataFrame:
    """The registry as a frame: id, title, severity, enabled (by default), description, rationale."""
    return pl.DataFrame(
        [
            {
                "id": r.id,
                "title": r.title,
                "severity": r.severity,
                "enabled": r.enabled,
                "description": r.description,
                "rationale": r.rationale,
                "config_keys": ", ".join(r.config_keys),
            }
            for r in RULES.values()
        ]
    )


# -- configuration --------------------------------------------------------------------------------
def _data(name: str):
    return resources.files("assess2plan.checks").joinpath("data", name)


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_settings() -> dict:
    """The bundled ``checks/data/config.toml`` as a dict."""
    with _data("config.toml").open("rb") as fh:
        return tomllib.load(fh)


class CheckConfig:
    """Settings (bundled defaults merged with the user's) and the crosswalk tables they name.

    ``CheckConfig.load(None)`` gives the defaults; a path loads a TOML file (relative data-file
    paths in it are read relative to the file); a dict is merged as is.
    """

    def __init__(self, settings: dict, base_dir: Path | None = None, source: str = "<defaults>") -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.source = source
        self._validate()

    @classmethod
    def load(cls, config: CheckConfig | str | Path | Mapping | None = None) -> CheckConfig:
        if isinstance(config, CheckConfig):
            return config
        defaults = default_settings()
        if config is None:
            return cls(defaults)
        if isinstance(config, str | Path):
            path = Path(config)
            try:
                with path.open("rb") as fh:
                    user = tomllib.load(fh)
            except FileNotFoundError:
                raise InputError(str(path), "no such configuration file") from None
            except tomllib.TOMLDecodeError as e:
                raise InputError(str(path), f"is not valid TOML: {e}") from None
            return cls(_merge(defaults, user), path.resolve().parent, str(path))
        if isinstance(config, Mapping):
            return cls(_merge(defaults, config), None, "<dict>")
        raise TypeError(f"config must be a path, a dict or a CheckConfig, not {type(config).__name__}")

    def _validate(self) -> None:
        rules = self.settings.get("rules", {})
        if not isinstance(rules, Mapping):
            raise InputError(self.source, "[rules] must be a table")
        for rid, cfg in rules.items():
            if rid not in RULES:
                raise InputError(self.source, f"unknown rule {rid!r}; known: {', '.join(RULES)}", column=f"rules.{rid}")
            sev = cfg.get("severity") if isinstance(cfg, Mapping) else None
            if sev is not None and sev not in SEVERITIES:
                raise InputError(
                    self.source, f"severity must be one of {', '.join(SEVERITIES)}", column=f"rules.{rid}.severity", value=sev
                )

    @property
    def general(self) -> dict:
        return self.settings.get("general", {})

    def rule_settings(self, rule_id: str) -> dict:
        return dict(self.settings.get("rules", {}).get(rule_id, {}))

    def enabled(self, rule_id: str) -> bool:
        return bool(self.rule_settings(rule_id).get("enabled", RULES[rule_id].enabled))

    def severity(self, rule_id: str) -> str | None:
        """The severity the configuration forces on a rule, or None (the rule decides)."""
        return self.rule_settings(rule_id).get("severity")

    def _path(self, key: str, default: str) -> tuple[Any, str]:
        value = (self.general.get(key) or "").strip()
        if not value:
            return _data(default), default
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        if not p.exists():
            raise InputError(str(p), f"no such file (configuration key general.{key})")
        return p, str(p)

    def _read_csv(self, key: str, default: str, required: tuple[str, ...]) -> list[dict[str, str]]:
        path, name = self._path(key, default)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(name, f"missing column(s) {', '.join(missing)}; expected {', '.join(required)}")
            rows = []
            for i, row in enumerate(reader, start=1):
                for c in required:
                    if not (row.get(c) or "").strip() and c != "rationale":
                        raise InputError(name, "empty value", row=i, column=c)
                rows.append({k: (v or "").strip() for k, v in row.items() if k is not None})
            return rows

    @cached_property
    def threat_action_crosswalk(self) -> pl.DataFrame:
        """threat_prefix -> action_prefix (one row per pair), with the rationale of the row."""
        rows = self._read_csv(
            "threat_action_crosswalk", "threat_action_crosswalk.csv", ("threat_prefix", "action_prefixes", "rationale")
        )
        out = [
            {"threat_prefix": r["threat_prefix"], "action_prefix": a.strip(), "rationale": r.get("rationale")}
            for r in rows
            for a in r["action_prefixes"].split("|")
            if a.strip()
        ]
        return pl.DataFrame(out, schema={"threat_prefix": pl.Utf8, "action_prefix": pl.Utf8, "rationale": pl.Utf8})

    @cached_property
    def in_place_crosswalk(self) -> pl.DataFrame:
        """rule, code_prefix (research or action code), field (InPlace* SIS field), rationale."""
        rows = self._read_csv("in_place_crosswalk", "in_place_crosswalk.csv", ("rule", "code_prefix", "field", "rationale"))
        schema = {"rule": pl.Utf8, "code_prefix": pl.Utf8, "field": pl.Utf8, "rationale": pl.Utf8}
        return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


# -- codes ----------------------------------------------------------------------------------------
def related(code: str, prefix: str, ancestors: bool = True) -> bool:
    """``code`` lies at or below ``prefix`` ("5.4.4" ~ "5.4"); with ``ancestors`` also above it ("5" ~ "5.4")."""
    if code == prefix or code.startswith(prefix + "."):
        return True
    return ancestors and prefix.startswith(code + ".")


def under(col: str | pl.Expr, prefixes: Iterable[str]) -> pl.Expr:
    """Expression: the code equals one of ``prefixes`` or lies below one of them."""
    c = pl.col(col) if isinstance(col, str) else col
    expr = pl.lit(False)
    for p in prefixes:
        expr = expr | (c == p) | c.str.starts_with(p + ".")
    return expr


def truthy(col: str | pl.Expr) -> pl.Expr:
    c = pl.col(col) if isinstance(col, str) else col
    return c.str.strip_chars().str.to_lowercase().is_in(list(TRUE_VALUES)).fill_null(False)


# -- context --------------------------------------------------------------------------------------
_LATEST_COLUMNS = (
    "assessment_id",
    "taxon_id",
    "scientific_name",
    "category",
    "criteria",
    "criteria_version",
    "year_published",
    "assessment_date",
    "possibly_extinct",
    "possibly_extinct_in_the_wild",
    "population_trend",
)


class Context:
    """What a rule sees: the latest assessment per taxon in scope and their child rows.

    ``latest`` and every ``table(name)`` carry ``aid``, a UInt32 row number of the latest
    assessment: rules join on it (integer joins are several times faster than joins on the text
    ``assessment_id``) and may return it instead of ``assessment_id``.
    """

    def __init__(self, aset: AssessmentSet, config: CheckConfig, scope: str, today: dt.date) -> None:
        self.aset = aset
        self.config = config
        self.scope = scope
        self.today = today
        self._tables: dict[str, pl.DataFrame] = {}
        self._flags: dict[str, pl.DataFrame] = {}

    @cached_property
    def latest(self) -> pl.DataFrame:
        return self.aset.latest(self.scope).select(_LATEST_COLUMNS).with_row_index("aid")

    @cached_property
    def _ids(self) -> pl.DataFrame:
        return self.latest.select("assessment_id", "aid")

    def table(self, name: str) -> pl.DataFrame:
        """Child table ``name`` restricted to the latest assessments, with their ``aid``."""
        if name not in self._tables:
            self._tables[name] = self._restrict(self.aset.tables[name])
        return self._tables[name]

    def _restrict(self, t: pl.DataFrame) -> pl.DataFrame:
        """Rows of ``t`` whose ``assessment_id`` is a latest one, in their order, with ``aid``.

        The text ids are looked up once per run of equal ids rather than once per row: child rows
        come grouped by assessment (readers write them so), and a join on 6 million text keys takes
        seconds, the run lookup a tenth of that. Any order gives the same rows as an inner join on
        ``assessment_id``.
        """
        ids = self._ids
        if t.height == 0 or ids.get_column("assessment_id").n_unique() != ids.height:
            return t.join(ids, on="assessment_id", how="inner", maintain_order="left")
        col = t.get_column("assessment_id")
        runs = col.rle().struct.field("value").to_frame("assessment_id")
        per_run = runs.join(ids, on="assessment_id", how="left", maintain_order="left").get_column("aid")
        aid = per_run.gather(col.rle_id()).alias("aid")
        lens = col.chunk_lengths()
        if len(lens) > 1:  # same chunks as the other columns, or every later select realigns them
            starts = [0, *accumulate(lens)]
            aid = pl.concat([aid.slice(s, n) for s, n in zip(starts, lens, strict=False)], rechunk=False)
        out = t.with_columns(aid)
        if out.get_column("aid").null_count():
            out = out.filter(pl.col("aid").is_not_null())
        return out

    def mark(self, aids: pl.Series) -> pl.Series:
        """Boolean Series aligned with ``latest`` (``aid`` is the row number): true at ``aids``.
        Cheaper than ``is_in`` or a join when ``aids`` has millions of (repeated) values."""
        return pl.repeat(False, self.latest.height, dtype=pl.Boolean, eager=True).scatter(aids, True)

    def present(self, name: str) -> bool:
        """Whether the whole set has any row in table ``name`` (was it exported at all?)."""
        return self.aset.tables[name].height > 0

    def require(self, *names: str) -> None:
        """Skip the rule (RuleSkipped) when a table it needs is empty in the whole set."""
        if not self.config.general.get("skip_absent_tables", True):
            return
        absent = [n for n in names if not self.present(n)]
        if absent:
            raise RuleSkipped(
                f"not checked: the set has no {' and no '.join(absent)} rows at all "
                "(the export probably does not include them)"
            )

    def flag(self, field_prefix: str) -> pl.DataFrame:
        """``aid`` of latest assessments whose other_fields ``<field_prefix>.*`` is true
        (``flag("NoThreats")`` for NoThreats.noThreats)."""
        if field_prefix not in self._flags:
            o = self.table("other_fields")
            key = field_prefix.lower()
            fields = [f for f in o.get_column("field").unique().to_list() if f and f.split(".")[0].strip().lower() == key]
            self._flags[field_prefix] = (
                o.filter(pl.col("field").is_in(fields) & truthy("value")).select("aid").unique()
            )
        return self._flags[field_prefix]

    @cached_property
    def in_place(self) -> pl.DataFrame:
        """aid, field (SIS name without ".value"), value: the answered InPlace* fields."""
        t = self.table("actions_in_place")
        return t.select(
            "aid",
            via_distinct(t, "field", lambda f: f.split(".")[0].strip()).alias("field"),
            pl.col("value").str.strip_chars(),
        ).filter(pl.col("value").is_not_null() & (pl.col("value") != ""))


def via_distinct(df: pl.DataFrame, col: str, fn: Callable[[str], Any], dtype: Any = pl.Utf8) -> pl.Expr:
    """Expression applying the Python function ``fn`` to column ``col`` of ``df`` through its
    distinct values (codes, field names: few distinct values in many rows). Nulls stay null."""
    mapping = {v: fn(v) for v in df.get_column(col).unique().to_list() if v is not None}
    return map_text(col, mapping, dtype)


def map_text(col: str, mapping: Mapping[Any, Any], dtype: Any = pl.Utf8) -> pl.Expr:
    """Expression: text column ``col`` mapped through ``mapping`` (values not in it become null),
    named ``col``. Text keys go through an Enum cast and a gather by its index, about three times
    faster than ``replace_strict`` on millions of rows."""
    keys = [k for k in mapping if isinstance(k, str)]
    if not keys or len(keys) != len(mapping):
        return pl.col(col).replace_strict(dict(mapping), default=None, return_dtype=dtype)
    values = pl.Series([mapping[k] for k in keys], dtype=dtype)
    return pl.lit(values).gather(pl.col(col).cast(pl.Enum(keys), strict=False).to_physical()).alias(col)


# -- running --------------------------------------------------------------------------------------
_OUT = ("message", "evidence", "suggested_fix")


def _select_rules(rules: Iterable[str] | str | None, config: CheckConfig) -> list[Rule]:
    if rules is None:
        return [r for r in RULES.values() if config.enabled(r.id)]
    if isinstance(rules, str):
        rules = [x.strip() for x in rules.split(",") if x.strip()]
    wanted = list(rules)
    unknown = [r for r in wanted if r not in RULES]
    if unknown:
        raise KeyError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return [RULES[r] for r in RULES if r in wanted]


def _execute(
    aset: AssessmentSet,
    rules: Iterable[str] | str | None,
    config: CheckConfig | str | Path | Mapping | None,
    scope: str,
    today: dt.date | None,
) -> list[pl.DataFrame]:
    """Run the rules; one frame per rule with FINDING_SCHEMA columns (evidence still a struct)."""
    from assess2plan.checks import rules as _rules  # noqa: F401  (registers the rules)

    cfg = CheckConfig.load(config)
    if isinstance(today, dt.datetime):
        today = today.date()
    ctx = Context(aset, cfg, scope, today or dt.date.today())
    # pos: the order of findings within a rule and severity (species name, then assessment id),
    # one integer instead of two text columns to sort on
    names = (
        ctx.latest.select("aid", "assessment_id", "taxon_id", "scientific_name")
        .sort(["scientific_name", "assessment_id"], nulls_last=True, maintain_order=True)
        .with_row_index("_pos")
    )
    out: list[pl.DataFrame] = []
    for r in _select_rules(rules, cfg):
        forced = cfg.severity(r.id)
        try:
            df = r.func(ctx, cfg.rule_settings(r.id))
        except RuleSkipped as e:
            out.append(
                pl.DataFrame(
                    {
                        "rule": [r.id],
                        "severity": ["info"],
                        "taxon_id": [None],
                        "assessment_id": [None],
                        "scientific_name": [None],
                        "message": [str(e)],
                        "evidence": [{"skipped": True}],
                        "suggested_fix": [None],
                    },
                    schema_overrides={k: pl.Utf8 for k in ("taxon_id", "assessment_id", "scientific_name", "suggested_fix")},
                )
            )
            continue
        if df.height == 0:
            continue
        missing = [c for c in _OUT if c not in df.columns]
        if missing or not ({"aid", "assessment_id"} & set(df.columns)):
            raise RuntimeError(f"rule {r.id} returned no {', '.join(missing) or 'aid or assessment_id'} column")
        key = "aid" if "aid" in df.columns else "assessment_id"
        sev = pl.lit(forced or r.severity)
        if "severity" in df.columns and not forced:
            sev = pl.col("severity").fill_null(r.severity)
        df = (
            df.with_columns(pl.lit(r.id).alias("rule"), sev.alias("severity"))
            .select(key, "rule", "severity", "message", "evidence", "suggested_fix")
            .join(names.drop("aid") if key == "assessment_id" else names, on=key, how="left")
            .with_columns(pl.col("severity").replace_strict(_SEVERITY_RANK, default=9).alias("_rank"))
            .sort(["_rank", "_pos", "message"], nulls_last=True, maintain_order=True)
            .select("rule", "severity", "taxon_id", "assessment_id", "scientific_name", "message", "evidence", "suggested_fix")
        )
        out.append(df)
    return out


def _ordered(frames: list[pl.DataFrame]):
    """Split the per-rule frames by severity so that errors come first, then warnings, then info."""
    for sev in SEVERITIES:
        for df in frames:
            part = df.filter(pl.col("severity") == sev)
            if part.height:
                yield part


def run_checks(
    aset: AssessmentSet,
    *,
    rules: Iterable[str] | str | None = None,
    config: CheckConfig | str | Path | Mapping | None = None,
    scope: str = "Global",
    today: dt.date | None = None,
) -> list[Finding]:
    """Run the consistency checks on each taxon's latest assessment in ``scope``.

    ``rules``: rule ids to run (default: those enabled in the configuration); ``config``: a TOML
    path, a dict or a :class:`CheckConfig` merged over the bundled defaults; ``today``: the date
    ages are measured from (default: today). Findings come errors first, then warnings, then info.
    """
    findings: list[Finding] = []
    for part in _ordered(_execute(aset, rules, config, scope, today)):
        ev = part.get_column("evidence").struct.unnest()  # per-field lists: faster than struct.to_list()
        keys = ev.columns
        evidence = [dict(zip(keys, v, strict=True)) for v in zip(*(ev.get_column(k).to_list() for k in keys), strict=True)]
        cols = [evidence if c == "evidence" else part.get_column(c).to_list() for c in FINDING_SCHEMA]
        findings.extend(map(Finding, *cols))
    return findings


def check_frame(
    aset: AssessmentSet,
    *,
    rules: Iterable[str] | str | None = None,
    config: CheckConfig | str | Path | Mapping | None = None,
    scope: str = "Global",
    today: dt.date | None = None,
) -> pl.DataFrame:
    """:func:`run_checks` straight to a frame: the rows of ``findings_frame(run_checks(...))``, built without Python objects."""
    parts = [p.with_columns(pl.col("evidence").struct.json_encode()) for p in _ordered(_execute(aset, rules, config, scope, today))]
    if not parts:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    return pl.concat([p.cast(FINDING_SCHEMA) for p in parts], how="vertical")
