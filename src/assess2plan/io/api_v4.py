"""IUCN Red List API v4: read saved JSON responses, and pull them with a polite, resumable client.

``read_api_json(paths)`` turns API v4 responses saved as ``.json`` files (bare bodies, or wrapped
as ``{"uri", "status", "body"}`` the way rredlist records them and ``RedListClient`` caches them)
into an ``AssessmentSet``:

* a full assessment (``GET /assessment/{id}``) fills every canonical table;
* a taxa or code-filtered listing (``/taxa/...``, ``/threats/5_4_4`` ...) holds only *minimal*
  assessments (ids, year, scopes, url, latest): they become assessment rows with what they carry
  and an ``Issue`` says so; a full copy of the same assessment always wins over a summary;
* code lists, Green Status, statistics and version answers are not assessment data: they are
  skipped with an ``Issue``;
* a saved error answer (``status`` 401, 404 ...) or invalid JSON raises ``InputError``.

``RedListClient`` talks to the live API: at least ``min_interval`` seconds between calls, retries
with exponential backoff on 429/5xx/connection errors (honouring ``Retry-After``), and an on-disk
cache so that an interrupted pull resumes where it stopped. The token is sent as
``Authorization: <token>`` and is never logged nor written to the cache.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import polars as pl

from assess2plan import schemes
from assess2plan.errors import ApiError, InputError
from assess2plan.model import SCHEMA, AssessmentSet, Issue, Source

FORMAT = "api-v4"
DEFAULT_BASE_URL = "https://api.iucnredlist.org/api/v4"
TOKEN_ENV_VARS = ("IUCN_REDLIST_KEY", "IUCN_REDLIST_TOKEN")
TAXON_GROUPS = ("kingdom", "phylum", "class", "order", "family")

#: callback(stage, done, total) -- the same shape as ``assess2plan.io.Progress``
Progress = Callable[[str, int, int], None]

# ------------------------------------------------------------------------------------------------
# Reading saved responses
# ------------------------------------------------------------------------------------------------

#: API v4 ``credits[].credit_type_name`` -> the canonical credit type
CREDIT_TYPES = {
    "assessor": "Assessor",
    "assessors": "Assessor",
    "evaluator": "Reviewer",
    "evaluators": "Reviewer",
    "reviewer": "Reviewer",
    "contributor": "Contributor",
    "contributors": "Contributor",
    "facilitator": "Facilitator",
    "facilitators": "Facilitator",
    "compiler": "Compiler",
    "compilers": "Compiler",
    "institution": "Institution",
    "institutions": "Institution",
}

#: documentation.* -> assessments column
DOCUMENTATION = {
    "rationale": "rationale",
    "range": "range_text",
    "population": "population_text",
    "habitats": "habitat_text",
    "threats": "threats_text",
    "use_trade": "use_trade_text",
    "measures": "conservation_actions_text",
    "taxonomic_notes": "taxonomic_notes",
}

#: Child lists checked against a scheme: (key in the assessment, scheme name)
_SCHEME_CHECKS = (
    ("threats", "threats"),
    ("conservation_actions", "conservation_actions"),
    ("researches", "research"),
    ("habitats", "habitats"),
    ("use_and_trade", "use_and_trade"),
    ("stresses", "stresses"),
    ("faos", "faos"),
    ("growth_forms", "growth_forms"),
)

#: Single-purpose answers that are not assessment data: key -> what it is
_NOT_ASSESSMENT_KEYS = {
    "api_version": "the API version",
    "red_list_version": "the Red List version",
    "count": "a statistics answer",
}

_ACCESSED = re.compile(r"Accessed on (\d{1,2} [A-Za-z]+ \d{4})")


def _is_wrapper(obj: Any) -> bool:
    return isinstance(obj, dict) and "body" in obj and "status" in obj and "assessment_id" not in obj


def _is_full(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and "assessment_id" in obj
        and ("taxon" in obj or "red_list_category" in obj or "documentation" in obj)
    )


def _is_minimal(obj: Any) -> bool:
    return isinstance(obj, dict) and "assessment_id" in obj and not _is_full(obj)


def _text(value: Any) -> str | None:
    """A scalar as canonical text: None stays None, booleans become "true"/"false"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def _id(value: Any) -> str | None:
    """An identifier as text: 58307800 -> "58307800" (never "58307800.0")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


def _en(item: Any) -> str | None:
    """``{"description": {"en": "Belize"}}`` -> "Belize"."""
    if not isinstance(item, dict):
        return None
    d = item.get("description")
    if isinstance(d, dict):
        return _text(d.get("en"))
    return _text(d)


def _joined(values: Iterable[Any], *, distinct: bool = False) -> str | None:
    out: list[str] = []
    for v in values:
        t = _text(v)
        if t is None or (distinct and t in out):
            continue
        out.append(t.strip())
    return "|".join(out) if out else None


def _list(obj: dict, key: str) -> list:
    v = obj.get(key)
    return v if isinstance(v, list) else []


def _code(value: Any) -> str | None:
    if isinstance(value, float):  # never seen from the API; refuse to guess 5.1 vs 5.10
        value = repr(value)
    return schemes.normalise_code(value)


def _accessed(record: dict) -> date | None:
    m = _ACCESSED.search(str(record.get("citation") or ""))
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%d %B %Y").date()
    except ValueError:
        return None


@dataclass
class _Full:
    record: dict
    file: str
    accessed: date | None


@dataclass
class _Summary:
    row: dict
    file: str
    taxon: dict | None


@dataclass
class _Reader:
    """Collects the records of every file, then maps them to canonical rows."""

    issues: list[Issue] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    full: dict[str, _Full] = field(default_factory=dict)
    summaries: dict[str, _Summary] = field(default_factory=dict)
    _issued: set = field(default_factory=set)

    # -- collecting -------------------------------------------------------------------------
    def read_file(self, path: Path, shown: str) -> None:
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(
                shown, f"is not UTF-8 text (byte {e.start}): not an API v4 JSON response"
            ) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            err = InputError(shown, f"is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}")
            err.line = e.lineno  # type: ignore[attr-defined]
            err.col = e.colno  # type: ignore[attr-defined]
            raise err from None
        n = self._take(obj, shown, top=True)
        self.sources.append(Source(path=shown, format=FORMAT, sha256=sha, rows=n))

    def _take(self, obj: Any, file: str, *, top: bool = False) -> int:
        """Collect the assessments in one parsed JSON value; returns how many it held."""
        if _is_wrapper(obj):
            obj = self._unwrap(obj, file)
        if isinstance(obj, list):
            n = 0
            for item in obj:
                if isinstance(item, dict | list):
                    n += self._take(item, file)
            if not top or n or not obj:
                return n
            self._skip(file, "a JSON array without assessments")
            return 0
        if not isinstance(obj, dict):
            self._skip(file, f"a JSON {type(obj).__name__}, not an API v4 answer")
            return 0
        if _is_full(obj):
            self._add_full(obj, file)
            return 1
        if _is_minimal(obj):
            self._add_summary(obj, file, None)
            return 1
        items = obj.get("assessments")
        if isinstance(items, list):
            rows = [a for a in items if isinstance(a, dict) and "assessment_id" in a]
            if items and not rows:
                first = items[0] if isinstance(items[0], dict) else {}
                what = (
                    "Green Status of Species records"
                    if any(k.startswith("species_recovery") for k in first)
                    else "a list without assessment ids"
                )
                self._skip(file, what)
                return 0
            taxon = obj.get("taxon") if isinstance(obj.get("taxon"), dict) else None
            for a in rows:
                if _is_full(a):
                    self._add_full(a, file)
                else:
                    self._add_summary(a, file, taxon)
            return len(rows)
        for key, what in _NOT_ASSESSMENT_KEYS.items():
            if key in obj:
                self._skip(file, what)
                return 0
        lists = [k for k, v in obj.items() if isinstance(v, list)]
        if lists:
            self._skip(file, f"a code list ({', '.join(repr(k) for k in lists)})")
        else:
            self._skip(file, f"an answer with keys {', '.join(list(obj)[:8])}")
        return 0

    def _unwrap(self, obj: dict, file: str) -> Any:
        status = str(obj.get("status")).strip()
        body = obj.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError:
                pass
        if status not in ("200", "200.0"):
            msg = None
            if isinstance(body, dict):
                msg = body.get("error") or body.get("message")
            msg = msg or (body if isinstance(body, str) else None) or "no message"
            where = f" for {obj['uri']}" if obj.get("uri") else ""
            hint = " (the API key was refused)" if status in ("401", "403") else ""
            raise InputError(file, f"is a saved error answer: the API said {status} {msg!r}{where}{hint}")
        return body

    def _skip(self, file: str, what: str) -> None:
        self.issues.append(Issue(file, f"not assessment data ({what}); skipped"))

    def _add_full(self, record: dict, file: str) -> None:
        aid = _id(record.get("assessment_id"))
        if aid is None:
            return
        new = _Full(record, file, _accessed(record))
        old = self.full.get(aid)
        if old is None:
            self.full[aid] = new
            return
        if old.record == record:
            return
        keep_new = new.accessed is not None and (old.accessed is None or new.accessed > old.accessed)
        kept, dropped = (new, old) if keep_new else (old, new)
        self.issues.append(
            Issue(
                dropped.file,
                f"assessment {aid} is also in {kept.file} with different content; that copy is kept "
                + (f"(accessed {kept.accessed.isoformat()})" if kept.accessed else "(read first)"),
                column="assessment_id",
                value=aid,
            )
        )
        self.full[aid] = kept

    def _add_summary(self, row: dict, file: str, taxon: dict | None) -> None:
        aid = _id(row.get("assessment_id"))
        if aid is None:
            return
        if taxon is not None and _id(taxon.get("sis_id")) != _id(row.get("sis_taxon_id")):
            taxon = None
        old = self.summaries.get(aid)
        if old is None:
            self.summaries[aid] = _Summary(dict(row), file, taxon)
            return
        for k, v in row.items():  # merge what a later listing adds
            if old.row.get(k) is None and v is not None:
                old.row[k] = v
        if old.taxon is None and taxon is not None:
            old.taxon = taxon

    # -- issues -----------------------------------------------------------------------------
    def _warn_once(
        self, file: str, message: str, column: str | None = None, value: str | None = None
    ) -> None:
        key = (file, message, column, value)
        if key not in self._issued:
            self._issued.add(key)
            self.issues.append(Issue(file, message, column=column, value=value))

    def _check_code(self, file: str, scheme: str, code: str | None, aid: str) -> None:
        if code is None or schemes.is_known(scheme, code):
            return
        version = schemes.VERSIONS.get(scheme, "")
        self._warn_once(
            file,
            f"code {code} is not in the current {scheme} scheme ({version}); imported anyway "
            f"(first seen in assessment {aid})",
            column=scheme,
            value=code,
        )

    # -- mapping ----------------------------------------------------------------------------
    def frames(self) -> dict[str, pl.DataFrame]:
        rows: dict[str, list[dict]] = {t: [] for t in SCHEMA}
        taxa_seen: set[str] = set()
        for aid, f in self.full.items():
            self._map_full(aid, f.record, f.file, rows, taxa_seen)
        summary_files: dict[str, int] = {}
        for aid, s in self.summaries.items():
            if aid in self.full:
                continue
            self._map_summary(aid, s, rows, taxa_seen)
            summary_files[s.file] = summary_files.get(s.file, 0) + 1
        for file, n in summary_files.items():
            self.issues.append(
                Issue(
                    file,
                    f"{n} assessment(s) are summaries from a listing (ids, year, scopes, url only): "
                    "no category, threats, habitats or other details; fetch GET /assessment/{id} "
                    "(RedListClient.pull_assessments) for the full records",
                )
            )
        return {t: pl.DataFrame(r, schema=SCHEMA[t]) if r else None for t, r in rows.items()}

    def _map_summary(self, aid: str, s: _Summary, rows: dict[str, list[dict]], taxa_seen: set[str]) -> None:
        r = s.row
        tid = _id(r.get("sis_taxon_id"))
        taxon = s.taxon or {}
        cat = schemes.category(_text(r.get("red_list_category_code")))
        rows["assessments"].append(
            {
                "assessment_id": aid,
                "taxon_id": tid,
                "scientific_name": _text(taxon.get("scientific_name"))
                or _text(r.get("taxon_scientific_name")),
                "category": cat[0] if cat else None,
                "category_label": cat[1] if cat else None,
                "year_published": self._year(r.get("year_published"), s.file, aid),
                "scopes": _joined(_en(x) for x in _list(r, "scopes")),
                "possibly_extinct": r.get("possibly_extinct")
                if isinstance(r.get("possibly_extinct"), bool)
                else None,
                "possibly_extinct_in_the_wild": r.get("possibly_extinct_in_the_wild")
                if isinstance(r.get("possibly_extinct_in_the_wild"), bool)
                else None,
                "url": _text(r.get("url")),
            }
        )
        if "latest" in r and r["latest"] is not None:
            rows["other_fields"].append(
                {"assessment_id": aid, "taxon_id": tid, "field": "latest", "value": _text(r["latest"])}
            )
        if s.taxon and tid and tid not in taxa_seen:
            taxa_seen.add(tid)
            self._map_taxon(tid, s.taxon, None, rows)

    def _year(self, value: Any, file: str, aid: str) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return int(str(value).strip())
        except ValueError:
            self._warn_once(
                file, f"year_published {value!r} of assessment {aid} is not a year", "year_published"
            )
            return None

    def _map_taxon(self, tid: str, taxon: dict, notes: str | None, rows: dict[str, list[dict]]) -> None:
        rows["taxa"].append(
            {
                "taxon_id": tid,
                "scientific_name": _text(taxon.get("scientific_name")),
                "kingdom": _text(taxon.get("kingdom_name")),
                "phylum": _text(taxon.get("phylum_name")),
                "class_name": _text(taxon.get("class_name")),
                "order_name": _text(taxon.get("order_name")),
                "family": _text(taxon.get("family_name")),
                "genus": _text(taxon.get("genus_name")),
                "species": _text(taxon.get("species_name")),
                "infra_type": _text(taxon.get("infra_type")),
                "infra_name": _text(taxon.get("infra_name")),
                "infra_authority": _text(taxon.get("infra_authority") or taxon.get("infrarank_author")),
                "subpopulation": _text(taxon.get("subpopulation_name")),
                "authority": _text(taxon.get("authority")),
                "taxonomic_notes": notes,
            }
        )
        for cn in _list(taxon, "common_names"):
            if not isinstance(cn, dict):
                continue
            main = cn.get("main")
            rows["common_names"].append(
                {
                    "taxon_id": tid,
                    "name": _text(cn.get("name")),
                    "language": _text(cn.get("language")),
                    "main": main if isinstance(main, bool) else None,
                }
            )
        for sy in _list(taxon, "synonyms"):
            if not isinstance(sy, dict):
                continue
            rows["synonyms"].append(
                {
                    "taxon_id": tid,
                    "name": _text(sy.get("name")),
                    "genus": _text(sy.get("genus_name")),
                    "species": _text(sy.get("species_name")),
                    "species_author": _text(sy.get("species_author") or sy.get("authority")),
                    "infra_type": _text(sy.get("infra_type")),
                    "infra_name": _text(sy.get("infra_name")),
                    "infra_author": _text(sy.get("infrarank_author") or sy.get("infra_author")),
                }
            )

    def _map_full(
        self, aid: str, a: dict, file: str, rows: dict[str, list[dict]], taxa_seen: set[str]
    ) -> None:
        taxon = a.get("taxon") if isinstance(a.get("taxon"), dict) else {}
        tid = _id(a.get("sis_taxon_id")) or _id(taxon.get("sis_id"))
        doc = a.get("documentation") if isinstance(a.get("documentation"), dict) else {}
        sup = a.get("supplementary_info") if isinstance(a.get("supplementary_info"), dict) else {}
        key = {"assessment_id": aid, "taxon_id": tid}

        # -- assessment ---------------------------------------------------------------------
        rlc = a.get("red_list_category") if isinstance(a.get("red_list_category"), dict) else {}
        raw_cat = _text(rlc.get("code")) or _en(rlc)
        cat = schemes.category(raw_cat)
        if raw_cat is not None and cat is None:
            self._warn_once(
                file,
                f"category {raw_cat!r} is not a Red List category; imported as given",
                "category",
                raw_cat,
            )
        trend = a.get("population_trend")
        trend_value = (_en(trend) or _text(trend.get("code"))) if isinstance(trend, dict) else _text(trend)
        assessment = {
            **key,
            "scientific_name": _text(taxon.get("scientific_name")),
            "category": cat[0] if cat else raw_cat,
            "category_label": cat[1] if cat else _en(rlc),
            "criteria": _text(a.get("criteria")),
            "criteria_version": _text(rlc.get("version")),
            "year_published": self._year(a.get("year_published"), file, aid),
            "assessment_date": self._date(a.get("assessment_date"), file, aid),
            "scopes": _joined(_en(x) for x in _list(a, "scopes")),
            "possibly_extinct": a.get("possibly_extinct")
            if isinstance(a.get("possibly_extinct"), bool)
            else None,
            "possibly_extinct_in_the_wild": a.get("possibly_extinct_in_the_wild")
            if isinstance(a.get("possibly_extinct_in_the_wild"), bool)
            else None,
            "population_trend": schemes.population_trend(trend_value),
            "year_last_seen": _text(a.get("year_last_seen") or sup.get("year_last_seen")),
            "systems": _joined(_en(x) for x in _list(a, "systems")),
            "realms": _joined(_en(x) for x in _list(a, "biogeographical_realms")),
            "url": _text(a.get("url")),
            "citation": _text(a.get("citation")),
        }
        for src, col in DOCUMENTATION.items():
            assessment[col] = _text(doc.get(src))
        rows["assessments"].append(assessment)

        # -- scheme checks ------------------------------------------------------------------
        for list_key, scheme in _SCHEME_CHECKS:
            for item in _list(a, list_key):
                if isinstance(item, dict):
                    self._check_code(file, scheme, _code(item.get("code")), aid)

        # -- threats ------------------------------------------------------------------------
        for t in _list(a, "threats"):
            if not isinstance(t, dict):
                continue
            timing, scope, severity = _text(t.get("timing")), _text(t.get("scope")), _text(t.get("severity"))
            score, label = schemes.parse_api_score(_text(t.get("score")))
            if label is None:
                try:
                    score, label = schemes.impact(timing, scope, severity)
                except schemes.UnknownValue as e:
                    self._warn_once(
                        file,
                        f"threat {e.field} {e.value!r} is not in the threats scheme; impact left empty",
                        e.field,
                        e.value,
                    )
                    score, label = None, None
            rows["threats"].append(
                {
                    **key,
                    "code": _code(t.get("code")),
                    "name": _en(t),
                    "timing": timing,
                    "scope": scope,
                    "severity": severity,
                    "impact_score": score,
                    "impact": label,
                    "stress_codes": None,  # API v4 does not link stresses to threats (see other_fields "stresses")
                    "stress_names": None,
                    "ancestry": _text(t.get("ancestry")),
                    "ias": _text(t.get("ias")),
                    "virus": _text(t.get("virus")),
                    "international_trade": _text(t.get("internationalTrade", t.get("international_trade"))),
                    "text": _text(t.get("text")),
                }
            )

        # -- actions, research, habitats -----------------------------------------------------
        for c in _list(a, "conservation_actions"):
            if isinstance(c, dict):
                rows["actions_needed"].append(
                    {**key, "code": _code(c.get("code")), "name": _en(c), "note": _text(c.get("note"))}
                )
        for c in _list(a, "researches"):
            if isinstance(c, dict):
                rows["research_needed"].append(
                    {**key, "code": _code(c.get("code")), "name": _en(c), "note": _text(c.get("note"))}
                )
        for h in _list(a, "habitats"):
            if isinstance(h, dict):
                rows["habitats"].append(
                    {
                        **key,
                        "code": _code(h.get("code")),
                        "name": _en(h),
                        "major_importance": _text(h.get("majorImportance", h.get("major_importance"))),
                        "season": _text(h.get("season")),
                        "suitability": _text(h.get("suitability")),
                    }
                )
        for group in _list(sup, "conservation_actions_in_place"):
            if not isinstance(group, dict):
                continue
            for act in _list(group, "actions"):
                if not isinstance(act, dict):
                    continue
                name = _text(act.get("name"))
                known = schemes.action_in_place_by_name(name) if name else None
                if name and known is None:
                    self._warn_once(
                        file,
                        f"in-place action {name!r} is not a known SIS InPlace* field; imported without field",
                        "actions_in_place",
                        name,
                    )
                rows["actions_in_place"].append(
                    {
                        **key,
                        "field": known["field"] if known else None,
                        "group": _text(group.get("name")),
                        "name": name,
                        "value": _text(act.get("value")),
                        "note": _text(act.get("note")),
                    }
                )

        # -- occurrence -----------------------------------------------------------------------
        endemic: list[str] = []
        for kind_key in ("locations", "lmes", "faos"):
            for o in _list(a, kind_key):
                if not isinstance(o, dict):
                    continue
                code = _text(o.get("code"))
                code = code.strip() if code else None
                if kind_key == "locations":
                    kind = "country" if code and len(code) == 2 and code.isalpha() else "subnational"
                    if kind == "country":
                        self._check_code(file, "countries", code, aid)
                    if o.get("is_endemic") is True and code:
                        endemic.append(code)
                else:
                    kind = "lme" if kind_key == "lmes" else "fao"
                seas = o.get("seasonality")
                rows["occurrence"].append(
                    {
                        **key,
                        "kind": kind,
                        "code": code,
                        "name": _en(o),
                        "presence": _text(o.get("presence")),
                        "origin": _text(o.get("origin")),
                        "seasonality": _joined(seas) if isinstance(seas, list) else _text(seas),
                        "formerly_bred": _text(o.get("formerlyBred", o.get("formerly_bred"))),
                    }
                )

        # -- use and trade, credits -----------------------------------------------------------
        for u in _list(a, "use_and_trade"):
            if isinstance(u, dict):
                rows["use_trade"].append(
                    {
                        **key,
                        "code": _code(u.get("code")),
                        "name": _en(u),
                        "international": _text(u.get("international")),
                        "national": _text(u.get("national")),
                        "other": _text(u.get("other")),
                        "subsistence": _text(u.get("subsistence")),
                    }
                )
        for i, c in enumerate(_list(a, "credits"), start=1):
            if not isinstance(c, dict):
                continue
            raw_type = _text(c.get("credit_type_name")) or ""
            values = c.get("value")
            rows["credits"].append(
                {
                    **key,
                    "credit_type": CREDIT_TYPES.get(
                        raw_type.strip().lower(), raw_type.strip().capitalize() or None
                    ),
                    "text": _text(c.get("full")),
                    "names": _joined(values) if isinstance(values, list) else _text(values),
                    "order": i,
                }
            )

        # -- other fields -----------------------------------------------------------------------
        other: list[tuple[str, str | None]] = []
        for k, v in sup.items():
            if isinstance(v, dict | list):
                continue
            other.append((k, _text(v)))
        for k in ("latest", "assessment_points", "assessment_ranges"):
            other.append((k, _text(a.get(k))))
        other.append(("trend_justification", _text(doc.get("trend_justification"))))
        stresses = [s for s in _list(a, "stresses") if isinstance(s, dict)]
        other.append(("stresses", _joined((_code(s.get("code")) for s in stresses), distinct=True)))
        other.append(("stress_names", _joined((_en(s) for s in stresses), distinct=True)))
        other.append(("endemic_in", _joined(endemic, distinct=True)))
        other.append(
            (
                "growth_forms",
                _joined(_code(g.get("code")) for g in _list(a, "growth_forms") if isinstance(g, dict)),
            )
        )
        other.append(("errata", _joined(e.get("reason") for e in _list(a, "errata") if isinstance(e, dict))))
        for k, v in other:
            if v is not None:
                rows["other_fields"].append({**key, "field": k, "value": v})

        # -- taxon ----------------------------------------------------------------------------
        if tid and tid not in taxa_seen and taxon:
            taxa_seen.add(tid)
            self._map_taxon(tid, taxon, _text(doc.get("taxonomic_notes")), rows)

    def _date(self, value: Any, file: str, aid: str) -> date | None:
        s = _text(value)
        if s is None:
            return None
        try:
            return date.fromisoformat(s.strip()[:10])
        except ValueError:
            self._warn_once(
                file, f"assessment_date {s!r} of assessment {aid} is not a date", "assessment_date", s
            )
            return None


def _expand(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str]]:
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError(str(p), "no such file or folder")
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() == ".json")
            if not files:
                raise InputError(str(p), "holds no .json files")
            for f in files:
                yield f, str(f)
        else:
            yield path, str(p)


def read_api_json(
    paths: list[Path] | list[str] | Path | str, progress: Progress | None = None
) -> AssessmentSet:
    """Read saved Red List API v4 responses (files, or folders searched recursively) into a set.

    Full assessments fill every table; listings add summary assessment rows (with an ``Issue``);
    code lists and other non-assessment answers are skipped with an ``Issue``. A saved error
    answer or invalid JSON raises ``InputError`` naming the file (and line/column for JSON).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files = list(_expand(paths))
    reader = _Reader()
    for i, (path, shown) in enumerate(files):
        if progress:
            progress(f"reading {path.name}", i, len(files))
        reader.read_file(path, shown)
    if progress:
        progress("reading API v4 JSON", len(files), len(files))
    frames = {t: df for t, df in reader.frames().items() if df is not None}
    return AssessmentSet.from_frames(frames, sources=reader.sources, issues=reader.issues)


# ------------------------------------------------------------------------------------------------
# Live client
# ------------------------------------------------------------------------------------------------

_LINK_NEXT = re.compile(r'<[^>]*>\s*;\s*rel="?next"?', re.IGNORECASE)


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # what both IUCN R clients send
    return str(value)


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((k, _param_text(v)) for k, v in params.items() if v is not None)


class RedListClient:
    """A polite client of the IUCN Red List API v4 with an on-disk cache.

    * ``token``: the API key; else the environment variable ``IUCN_REDLIST_KEY`` (or
      ``IUCN_REDLIST_TOKEN``). It is needed only when something must be fetched: a pull whose
      answers are all cached works without one. It is sent as ``Authorization: <token>``
      and never written to the cache, to logs or to error messages.
    * at least ``min_interval`` seconds between the starts of two requests (monotonic clock);
    * 429, 5xx and connection errors are retried up to ``max_retries`` times, waiting
      ``backoff * 2**attempt`` seconds (at most ``max_backoff``) or what ``Retry-After`` asks;
    * 401/403/404 and other 4xx raise ``ApiError`` at once, naming the URL;
    * every successful answer is saved under ``cache_dir`` as ``<sha1 of path+query>.json``
      (``{"uri", "status", "body", "retrieved"}``, readable by ``read_api_json``), with a line in
      ``index.tsv``; a cached answer is never fetched again, so an interrupted pull resumes.

    ``sleep`` and ``clock`` can be replaced (tests); ``transport`` is passed to ``httpx.Client``.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        cache_dir: Path | str,
        min_interval: float = 0.5,
        max_retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 600.0,
        per_page: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if token is None:
            for var in TOKEN_ENV_VARS:
                if os.environ.get(var, "").strip():
                    token = os.environ[var].strip()
                    break
        self._token = token.strip() if token and token.strip() else None
        self.base_url = base_url.rstrip("/")
        self.cache_dir = Path(cache_dir)
        self.min_interval = float(min_interval)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)
        self.per_page = int(per_page)
        self.timeout = timeout
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        self._http: httpx.Client | None = None
        #: requests actually sent (not answered from the cache), including retries
        self.requests_sent = 0

    def __repr__(self) -> str:  # never show the token
        return f"RedListClient(base_url={self.base_url!r}, cache_dir={str(self.cache_dir)!r}, token={'set' if self._token else 'missing'})"

    # -- context management ----------------------------------------------------------------
    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> RedListClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache -----------------------------------------------------------------------------
    @staticmethod
    def cache_key(path: str, params: dict[str, Any] | None = None) -> str:
        """``"taxa/family/Felidae?latest=TRUE&page=1"``: the readable key of a request."""
        q = urlencode(_query(params or {}))
        p = "/" + path.strip().strip("/")
        return p + ("?" + q if q else "")

    def cache_path(self, path: str, **params: Any) -> Path:
        key = self.cache_key(path, params)
        return self.cache_dir / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()}.json"

    def _read_cache(self, file: Path) -> dict | None:
        try:
            with file.open(encoding="utf-8") as fh:
                saved = json.load(fh)
        except (OSError, json.JSONDecodeError):
            return None  # absent, or damaged: fetch again
        if not isinstance(saved, dict) or "body" not in saved or str(saved.get("status")) != "200":
            return None
        return saved

    def _write_cache(self, file: Path, key: str, url: str, body: Any, link: str | None) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        saved = {
            "uri": url,
            "status": 200,
            "retrieved": datetime.now(UTC).isoformat(timespec="seconds"),
            "link": link,
            "body": body,
        }
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".part-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(saved, fh, ensure_ascii=False)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with (self.cache_dir / "index.tsv").open("a", encoding="utf-8") as fh:
            fh.write(f"{file.name}\t{key}\n")

    # -- requests --------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        """The body of ``GET {base_url}/{path}?{params}``, from the cache when it is there."""
        return self._get(path, params)[0]

    def _get(self, path: str, params: dict[str, Any]) -> tuple[Any, Path, str | None]:
        key = self.cache_key(path, params)
        file = self.cache_path(path, **params)
        saved = self._read_cache(file)
        if saved is not None:
            return saved["body"], file, saved.get("link")
        url = self.base_url + key
        body, link = self._fetch(url, key)
        self._write_cache(file, key, url, body, link)
        return body, file, link

    def _throttle(self) -> None:
        if self._last_request is not None:
            wait = self._last_request + self.min_interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request = self._clock()

    def _client(self) -> httpx.Client:
        if self._token is None:
            raise ApiError(
                "no Red List API token: pass token=... or set the environment variable IUCN_REDLIST_KEY "
                "(get a key at https://api.iucnredlist.org/users/sign_up)"
            )
        if self._http is None:
            self._http = httpx.Client(
                headers={
                    "Authorization": self._token,
                    "Accept": "application/json",
                    "User-Agent": "assess2plan",
                },
                timeout=self.timeout,
                transport=self._transport,
                follow_redirects=True,
            )
        return self._http

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return max(0.0, min(seconds, self.max_retry_after))

    def _fetch(self, url: str, key: str) -> tuple[Any, str | None]:
        client = self._client()
        attempt = 0
        while True:
            self._throttle()
            self.requests_sent += 1
            problem: str
            delay: float | None = None
            try:
                response = client.get(url)
            except httpx.TransportError as e:
                problem = f"could not reach the API ({type(e).__name__}: {e})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return response.json(), response.headers.get("Link")
                    except ValueError:
                        raise ApiError(f"{url}: the API answered {status} but not with JSON") from None
                message = self._error_message(response)
                if status in (401, 403):
                    err = ApiError(
                        f"{url}: the Red List API refused the API key ({status} {message}); "
                        "check the token (IUCN_REDLIST_KEY)"
                    )
                    err.status = status  # type: ignore[attr-defined]
                    err.url = url  # type: ignore[attr-defined]
                    raise err
                if status == 404:
                    err = ApiError(f"{url}: not found (404 {message})")
                    err.status, err.url = status, url  # type: ignore[attr-defined]
                    raise err
                if status != 429 and status < 500:
                    err = ApiError(f"{url}: the API answered {status} {message}")
                    err.status, err.url = status, url  # type: ignore[attr-defined]
                    raise err
                problem = f"the API answered {status} {message}"
                delay = self._retry_after(response)
            if attempt >= self.max_retries:
                err = ApiError(f"{url}: {problem}; gave up after {attempt + 1} attempt(s)")
                err.url = url  # type: ignore[attr-defined]
                raise err
            if delay is None:
                delay = min(self.backoff * 2**attempt, self.max_backoff)
            attempt += 1
            if delay > 0:
                self._sleep(delay)

    @staticmethod
    def _error_message(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
            return repr(text[:200]) if text else response.reason_phrase
        if isinstance(body, dict):
            msg = body.get("error") or body.get("message")
            if msg:
                return repr(str(msg))
        return response.reason_phrase

    # -- paging ----------------------------------------------------------------------------
    @staticmethod
    def _items(body: Any) -> list:
        if isinstance(body, list):
            return body
        if not isinstance(body, dict):
            return []
        if isinstance(body.get("assessments"), list):
            return body["assessments"]
        lists = [v for v in body.values() if isinstance(v, list)]
        return max(lists, key=len) if lists else []

    def iter_pages(self, path: str, **params: Any) -> Iterator[tuple[Any, Path]]:
        """Yield ``(body, cache_path)`` for page 1, 2, ... of a listing.

        Stops at an empty page, at a page whose ``Link`` header has no ``rel="next"`` (when the API
        sends one), or at a page shorter than ``per_page``.
        """
        params = dict(params)
        params.setdefault("per_page", self.per_page)
        per_page = int(params["per_page"]) if params["per_page"] else 0
        page = int(params.pop("page", 1))
        previous: list | None = None
        while True:
            body, file, link = self._get(path, {**params, "page": page})
            items = self._items(body)
            if previous is not None and items and items == previous:
                return  # the server ignores ``page``: do not loop for ever
            yield body, file
            if not items:
                return
            if link is not None:
                if not _LINK_NEXT.search(link):
                    return
            elif per_page and len(items) < per_page:
                return
            previous = items
            page += 1

    def get_all_pages(self, path: str, **params: Any) -> list[Any]:
        """The bodies of every page of a listing (see ``iter_pages``)."""
        return [body for body, _ in self.iter_pages(path, **params)]

    # -- pulls -----------------------------------------------------------------------------
    def list_assessments(self, path: str, **params: Any) -> list[dict]:
        """Every minimal assessment of a listing (all pages), without duplicates."""
        out: dict[str, dict] = {}
        for body in self.get_all_pages(path, **params):
            for a in self._items(body):
                if isinstance(a, dict) and _id(a.get("assessment_id")) is not None:
                    out.setdefault(_id(a["assessment_id"]), a)  # type: ignore[arg-type]
        return list(out.values())

    def pull_assessments(self, ids: Iterable[int | str], *, progress: Progress | None = None) -> list[Path]:
        """Fetch ``GET /assessment/{id}`` for each id (cached); returns the cached JSON paths."""
        unique = list(dict.fromkeys(_id(i) for i in ids if _id(i) is not None))
        paths: list[Path] = []
        for n, aid in enumerate(unique):
            if progress:
                progress(f"assessment {aid}", n, len(unique))
            paths.append(self._get(f"assessment/{aid}", {})[1])
        if progress:
            progress("assessments", len(unique), len(unique))
        return paths

    def pull_taxa(
        self,
        group: str,
        name: str,
        *,
        latest: bool = True,
        scope_code: str | int | None = None,
        progress: Progress | None = None,
    ) -> list[Path]:
        """All assessments of a taxon group (``"family", "Felidae"``), fetched in full and cached.

        Lists ``/taxa/{group}/{name}`` page by page, then fetches each assessment (only those
        marked ``latest`` unless ``latest=False``). Returns the cached full-assessment paths:
        ``read_api_json(paths)`` builds the set.
        """
        group = group.strip().lower()
        if group not in TAXON_GROUPS:
            raise ValueError(f"group must be one of {', '.join(TAXON_GROUPS)}, not {group!r}")
        params: dict[str, Any] = {"scope_code": scope_code}
        if latest:
            params["latest"] = True
        if progress:
            progress(f"listing {group} {name}", 0, 0)
        rows = self.list_assessments(f"taxa/{group}/{name.strip()}", **params)
        if latest:
            rows = [a for a in rows if a.get("latest") is not False]
        return self.pull_assessments([a["assessment_id"] for a in rows], progress=progress)
