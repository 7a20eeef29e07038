"""The Ex situ Conservation Assessment of one species: the five steps of the IUCN SSC (2014)
Guidelines on the Use of Ex Situ Management for Species Conservation (domain reference §4a, as
applied in CPSG's ECA, §4b), plus the IUCN SSC (2013) translocation feasibility checklist.

The assessment is a plain, JSON-able dict (``schema_version`` 1) so that it can be stored,
versioned, exported and read back without this package::

    record = new_record(aset, "990000001", holdings=matched_holdings, cites=cites_matches)
    record = set_role(record, "insurance_population", threats=[("8.1.2", "buys_time")],
                      rationale="chytrid cannot be removed from the lake within 10 years")
    record = set_dimensions(record, generation_length=3, ne_n=0.3, founders=20)
    record = set_score(record, "husbandry", 4, "bred at Mirren Aquarium since 2019")
    record = decide(record, "retain", ["insurance_population"], "…", user="ana")

The steps (:data:`STEPS`):

1. ``status``      status review, pre-filled from the Red List data (category, criteria, threats,
                   actions and research needed, the SIS "ex situ in place" answer), the imported
                   ex situ holdings and the CITES listing; the assessors add their summaries;
2. ``roles``       the ex situ roles considered (:func:`assess2plan.exsitu.guidelines.roles`),
                   each linked to the species' threats it addresses, offsets or buys time against;
3. ``dimensions``  programme size from a gene-diversity goal (:mod:`assess2plan.exsitu.population`);
4. ``feasibility`` resources, expertise, feasibility and risks, each scored 1-5 with a rationale;
5. ``decision``    the roles retained, or none, with the rationale, who decided and when.

Every function returns a new dict and leaves its input alone; every function validates what it
changes and raises :class:`~assess2plan.errors.InputError` naming the assessment, the field (as
a path such as ``roles[2].threats[0].link``) and the value.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import polars as pl

from assess2plan.errors import InputError
from assess2plan.model import AssessmentSet
from assess2plan.schemes import name_of, normalise_code

__all__ = [
    "SCHEMA_VERSION",
    "STEPS",
    "STEP_LABELS",
    "OUTCOMES",
    "decide",
    "new_record",
    "prefill_status",
    "progress",
    "refresh_status",
    "remove_role",
    "set_dimensions",
    "set_notes",
    "set_role",
    "set_score",
    "set_step",
    "set_translocation",
    "validate",
]

SCHEMA_VERSION = 1
STEPS = ("status", "roles", "dimensions", "feasibility", "decision")
#: what the five steps (and the translocation checklist) are called in pages and reports
STEP_LABELS = {
    "status": "1. Status review",
    "roles": "2. Ex situ roles",
    "dimensions": "3. Programme dimensions",
    "feasibility": "4. Resources, expertise, feasibility and risks",
    "decision": "5. Decision",
    "translocation": "Translocation feasibility and risks",
}
#: decision outcomes: some roles retained, or no ex situ role
OUTCOMES = ("retain", "none")
_NOTE_FIELDS = ("in_situ_summary", "ex_situ_summary", "notes")
_DIMENSION_INPUTS = ("gene_diversity_goal", "years", "generation_length", "ne_n", "founders")
_DEFAULT_DIMENSIONS: dict[str, Any] = {
    "gene_diversity_goal": 0.9,
    "years": 100,
    "generation_length": None,
    "ne_n": None,
    "founders": 20,
    "result": None,
    "notes": "",
}


def _who(record: Mapping[str, Any]) -> str:
    name = record.get("scientific_name") or record.get("taxon_id") or "?"
    return f"ex situ assessment of {name}"


def _fail(record: Mapping[str, Any], field: str, value: object, message: str) -> None:
    raise InputError(_who(record), message, column=field, value=value)


def _text(v: object) -> str:
    return "" if v is None else str(v).strip()


# -- step 1: status review ----------------------------------------------------------------------------
def _latest_assessment(aset: AssessmentSet, taxon_id: str) -> dict[str, Any] | None:
    a = aset.tables["assessments"].filter(pl.col("taxon_id") == taxon_id)
    if a.is_empty():
        return None
    glob = a.filter(pl.col("scopes").fill_null("Global").str.split("|").list.contains("Global"))
    pick = glob if not glob.is_empty() else a
    pick = pick.sort(["year_published", "assessment_date", "assessment_id"], descending=True, nulls_last=True)
    return pick.row(0, named=True)


def _by_code(row: Mapping[str, Any]) -> list[tuple[int, int | str]]:
    """Scheme order of a row's dotted code: 4.3 before 11.3, 7.2.9 before 7.2.10."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in str(row["code"]).split(".")]


def _coded_rows(aset: AssessmentSet, table: str, scheme_name: str, assessment_id: str) -> list[dict]:
    t = aset.tables[table].filter(pl.col("assessment_id") == assessment_id)
    out, seen = [], set()
    for r in t.iter_rows(named=True):
        code = normalise_code(r.get("code"))
        if not code or code in seen:
            continue
        seen.add(code)
        out.append({"code": code, "name": name_of(scheme_name, code) or r.get("name")})
    return sorted(out, key=_by_code)


def _threat_rows(aset: AssessmentSet, assessment_id: str) -> list[dict]:
    t = aset.tables["threats"].filter(pl.col("assessment_id") == assessment_id)
    out: dict[str, dict] = {}
    for r in t.iter_rows(named=True):
        code = normalise_code(r.get("code"))
        if not code or code in out:
            continue
        out[code] = {
            "code": code,
            "name": name_of("threats", code) or r.get("name"),
            "timing": r.get("timing"),
            "scope": r.get("scope"),
            "severity": r.get("severity"),
            "impact": r.get("impact"),
        }
    return sorted(out.values(), key=_by_code)


def _in_place_ex_situ(aset: AssessmentSet, assessment_id: str) -> str | None:
    t = aset.tables["actions_in_place"].filter(
        (pl.col("assessment_id") == assessment_id)
        & pl.col("field").str.to_lowercase().str.starts_with("inplacespeciesmanagementexsitu")
    )
    for v in t["value"].to_list():
        if v:
            return str(v).strip()
    return None


def _cites_of(cites: pl.DataFrame | None, taxon_id: str) -> dict[str, Any] | None:
    if cites is None or cites.is_empty():
        return None
    hit = cites.filter(pl.col("taxon_id") == taxon_id)
    if hit.is_empty():
        return None
    r = hit.row(0, named=True)
    return {
        "listing": r.get("listing"),
        "cites_name": r.get("cites_name"),
        "cites_rank": r.get("cites_rank"),
        "matched_by": r.get("matched_by"),
        "annotation": r.get("annotation"),
    }


def _holdings_of(holdings: pl.DataFrame | None, taxon_id: str) -> dict[str, Any]:
    if holdings is not None and not holdings.is_empty():
        from assess2plan.exsitu.match import holdings_summary

        return holdings_summary(holdings, taxon_id)
    return {
        "institutions": 0,
        "countries": [],
        "males": 0,
        "females": 0,
        "unknown": 0,
        "total": 0,
        "latest_date": None,
        "rows": [],
    }


def prefill_status(
    aset: AssessmentSet,
    taxon_id: str,
    *,
    holdings: pl.DataFrame | None = None,
    cites: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Step 1 as the data give it: the latest global assessment of ``taxon_id`` (category,
    criteria, possibly extinct tags, trend, threats with timing and impact, actions and research
    needed, the SIS "ex situ in place" answer), the existing ex situ populations (``holdings``
    matched to taxa, see :func:`assess2plan.exsitu.match.match_holdings`) and the CITES listing
    (``cites``: :func:`assess2plan.exsitu.match.match_cites`). The summaries are left empty."""
    taxon_id = _text(taxon_id)
    a = _latest_assessment(aset, taxon_id)
    if a is None:
        raise InputError(
            "ex situ assessment", "the working set has no assessment of this taxon", value=taxon_id
        )
    aid = a["assessment_id"]
    return {
        "category": a.get("category"),
        "criteria": a.get("criteria"),
        "possibly_extinct": bool(a.get("possibly_extinct")),
        "possibly_extinct_in_the_wild": bool(a.get("possibly_extinct_in_the_wild")),
        "population_trend": a.get("population_trend"),
        "assessment_id": aid,
        "year_published": a.get("year_published"),
        "threats": _threat_rows(aset, aid),
        "actions_needed": _coded_rows(aset, "actions_needed", "conservation_actions", aid),
        "research_needed": _coded_rows(aset, "research_needed", "research", aid),
        "in_place_ex_situ": _in_place_ex_situ(aset, aid),
        "holdings": _holdings_of(holdings, taxon_id),
        "cites": _cites_of(cites, taxon_id),
        "in_situ_summary": "",
        "ex_situ_summary": "",
        "notes": "",
    }


def new_record(
    aset: AssessmentSet,
    taxon_id: str,
    *,
    holdings: pl.DataFrame | None = None,
    cites: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """A new assessment of ``taxon_id`` with step 1 pre-filled and the other steps empty."""
    status = prefill_status(aset, taxon_id, holdings=holdings, cites=cites)
    a = aset.tables["assessments"].filter(pl.col("taxon_id") == _text(taxon_id))
    name = a["scientific_name"].drop_nulls().first() if not a.is_empty() else None
    if name is None:
        t = aset.tables["taxa"].filter(pl.col("taxon_id") == _text(taxon_id))
        name = t["scientific_name"].first() if not t.is_empty() else None
    return {
        "schema_version": SCHEMA_VERSION,
        "taxon_id": _text(taxon_id),
        "scientific_name": name,
        "status": status,
        "roles": [],
        "dimensions": dict(_DEFAULT_DIMENSIONS),
        "feasibility": [],
        "decision": {"outcome": None, "roles": [], "rationale": "", "decided_by": None, "decided_at": None},
        "translocation": {"kind": None, "answers": {}, "notes": ""},
    }


def refresh_status(
    record: Mapping[str, Any],
    aset: AssessmentSet,
    *,
    holdings: pl.DataFrame | None = None,
    cites: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Step 1 pre-filled again from current data (a new assessment, new holdings or a new CITES
    checklist), keeping the assessors' summaries and notes."""
    out = copy.deepcopy(dict(record))
    fresh = prefill_status(aset, out["taxon_id"], holdings=holdings, cites=cites)
    old = out.get("status") or {}
    for k in _NOTE_FIELDS:
        fresh[k] = old.get(k, "") or ""
    codes = {t["code"] for t in fresh["threats"]}
    dropped = []
    for role in out.get("roles") or []:
        keep = [t for t in role.get("threats") or [] if normalise_code(t.get("code")) in codes]
        dropped += [
            f"{t.get('code')} ({role.get('role')})" for t in role.get("threats") or [] if t not in keep
        ]
        role["threats"] = keep
    if dropped:  # said, never silent: the threat is no longer recorded for the species
        line = "Threat links removed when step 1 was refreshed (threat no longer recorded): " + ", ".join(
            dropped
        )
        fresh["notes"] = (fresh["notes"] + "\n" + line).strip()
    out["status"] = fresh
    return validate(out)


def set_notes(record: Mapping[str, Any], **notes: str | None) -> dict[str, Any]:
    """Set the step 1 texts: ``in_situ_summary``, ``ex_situ_summary``, ``notes`` (None: unchanged)."""
    out = copy.deepcopy(dict(record))
    for k, v in notes.items():
        if k not in _NOTE_FIELDS:
            _fail(out, f"status.{k}", v, f"unknown field; use {', '.join(_NOTE_FIELDS)}")
        if v is not None:
            out["status"][k] = str(v).strip()
    return validate(out)


# -- step 2: roles --------------------------------------------------------------------------------------
def _threat_codes(record: Mapping[str, Any]) -> list[str]:
    return [t["code"] for t in (record.get("status") or {}).get("threats") or []]


def set_role(
    record: Mapping[str, Any],
    role: str,
    *,
    threats: Iterable[tuple[str, str]] = (),
    rationale: str = "",
    considered: bool = True,
) -> dict[str, Any]:
    """Add or replace the role ``role`` (a guidelines role id) with its links to the species'
    threats, as (threat code, link) pairs where link is ``addresses``, ``offsets`` or ``buys_time``."""
    out = copy.deepcopy(dict(record))
    entry = {
        "role": _text(role),
        "considered": bool(considered),
        "threats": [{"code": _text(c), "link": _text(link)} for c, link in threats],
        "rationale": _text(rationale),
    }
    roles = [r for r in out.get("roles") or [] if r.get("role") != entry["role"]]
    roles.append(entry)
    out["roles"] = roles
    return validate(out)


def remove_role(record: Mapping[str, Any], role: str) -> dict[str, Any]:
    """Drop a role from step 2 (refused while the decision retains it)."""
    out = copy.deepcopy(dict(record))
    rid = _text(role)
    if rid not in {r.get("role") for r in out.get("roles") or []}:
        _fail(out, "roles", rid, "this role is not among the roles considered")
    out["roles"] = [r for r in out["roles"] if r.get("role") != rid]
    return validate(out)


# -- step 3: dimensions -----------------------------------------------------------------------------------
def set_dimensions(record: Mapping[str, Any], *, notes: str | None = None, **inputs: float | None) -> dict:
    """Set the programme-dimension inputs (``gene_diversity_goal``, ``years``,
    ``generation_length``, ``ne_n``, ``founders``; None: unchanged) and compute the target
    population (:func:`assess2plan.exsitu.population.population_size`) when all are known."""
    out = copy.deepcopy(dict(record))
    dims = {**_DEFAULT_DIMENSIONS, **(out.get("dimensions") or {})}
    for k, v in inputs.items():
        if k not in _DIMENSION_INPUTS:
            _fail(out, f"dimensions.{k}", v, f"unknown input; use {', '.join(_DIMENSION_INPUTS)}")
        if v is not None:
            dims[k] = v
    if notes is not None:
        dims["notes"] = str(notes).strip()
    out["dimensions"] = dims
    return validate(out)


def _compute(record: Mapping[str, Any], dims: dict[str, Any]) -> dict[str, Any] | None:
    if any(dims.get(k) in (None, "") for k in _DIMENSION_INPUTS):
        return None
    from assess2plan.exsitu.population import population_size

    try:
        result = population_size(
            goal=float(dims["gene_diversity_goal"]),
            years=float(dims["years"]),
            generation_length=float(dims["generation_length"]),
            ne_n=float(dims["ne_n"]),
            founders=float(dims["founders"]),
        )
    except InputError as e:
        raise InputError(
            _who(record), e.message, column=f"dimensions.{e.column or ''}", value=e.value
        ) from None
    return _plain(asdict(result))


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# -- step 4: feasibility ---------------------------------------------------------------------------------
def set_score(record: Mapping[str, Any], factor: str, score: int | None, rationale: str = "") -> dict:
    """Score a step 4 factor 1-5 with its rationale (``score=None`` removes the score)."""
    out = copy.deepcopy(dict(record))
    fid = _text(factor)
    rows = [r for r in out.get("feasibility") or [] if r.get("factor") != fid]
    if score is not None:
        rows.append({"factor": fid, "score": score, "rationale": _text(rationale)})
    out["feasibility"] = rows
    return validate(out)


# -- step 5: decision -------------------------------------------------------------------------------------
def decide(
    record: Mapping[str, Any],
    outcome: str,
    roles: Sequence[str] = (),
    rationale: str = "",
    *,
    user: str,
    when: datetime | None = None,
) -> dict[str, Any]:
    """Record the decision: ``outcome`` "retain" with the roles retained (among those considered
    in step 2) or "none" (no ex situ role), a rationale (required), who and when."""
    out = copy.deepcopy(dict(record))
    out["decision"] = {
        "outcome": _text(outcome).lower() or None,
        "roles": [_text(r) for r in roles if _text(r)],
        "rationale": _text(rationale),
        "decided_by": _text(user) or None,
        "decided_at": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    if not out["decision"]["decided_by"]:
        _fail(out, "decision.decided_by", user, "a decision records who made it")
    return validate(out)


# -- translocation ---------------------------------------------------------------------------------------
def set_translocation(
    record: Mapping[str, Any],
    kind: str | None,
    answers: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    notes: str | None = None,
    merge: bool = True,
) -> dict[str, Any]:
    """Set the translocation kind (reinforcement, reintroduction, assisted_colonisation,
    ecological_replacement) and checklist answers ``{item_id: {"answer", "risk", "note"}}``
    (merged into the earlier answers unless ``merge`` is false)."""
    out = copy.deepcopy(dict(record))
    tr = dict(out.get("translocation") or {"kind": None, "answers": {}, "notes": ""})
    if kind is not None:
        tr["kind"] = _text(kind) or None
    base = dict(tr.get("answers") or {}) if merge else {}
    for item, a in (answers or {}).items():
        base[_text(item)] = {
            "answer": _text(a.get("answer")).lower() or None,
            "risk": _text(a.get("risk")).lower() or None,
            "note": _text(a.get("note")),
        }
    tr["answers"] = base
    if notes is not None:
        tr["notes"] = str(notes).strip()
    out["translocation"] = tr
    return validate(out)


# -- whole steps ----------------------------------------------------------------------------------------
def set_step(record: Mapping[str, Any], step: str, values: Any) -> dict[str, Any]:
    """Replace one step (``status``, ``roles``, ``dimensions``, ``feasibility``, ``decision`` or
    ``translocation``) as a whole, e.g. from a JSON file or a form, and validate the record.

    For ``status`` only the assessors' texts are taken (the rest comes from the data: use
    :func:`refresh_status`); for ``dimensions`` the result is computed, never taken."""
    out = copy.deepcopy(dict(record))
    if step not in (*STEPS, "translocation"):
        _fail(out, "step", step, f"unknown step; use {', '.join((*STEPS, 'translocation'))}")
    if step == "status":
        if not isinstance(values, Mapping):
            _fail(out, "status", values, "must be an object with in_situ_summary, ex_situ_summary, notes")
        extra = [k for k in values if k not in _NOTE_FIELDS]
        if extra:
            _fail(
                out,
                f"status.{extra[0]}",
                values[extra[0]],
                "only the texts of step 1 can be edited "
                f"({', '.join(_NOTE_FIELDS)}); the rest comes from the data",
            )
        return set_notes(out, **values)
    if step == "dimensions":
        if not isinstance(values, Mapping):
            _fail(out, "dimensions", values, "must be an object")
        vals = {k: v for k, v in values.items() if k != "result"}
        notes = vals.pop("notes", None)
        out["dimensions"] = {**_DEFAULT_DIMENSIONS}
        return set_dimensions(out, notes=notes, **vals)
    out[step] = copy.deepcopy(values)
    return validate(out)


# -- validation -----------------------------------------------------------------------------------------
def _as_list(record: Mapping, key: str, value: object) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(record, key, value, "must be a list")
    return value


def _number(record: Mapping, key: str, value: object) -> float | None:
    if value in (None, ""):
        return None
    try:
        x = float(str(value).strip().rstrip("%")) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        _fail(record, key, value, "must be a number")
    if isinstance(value, bool) or not math.isfinite(x):
        _fail(record, key, value, "must be a number")
    return x


def validate(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check a whole record and return it normalised (steps in canonical form, the population
    target recomputed from the step 3 inputs). Raises InputError naming the field and value."""
    from assess2plan.exsitu import guidelines

    r = copy.deepcopy(dict(record))
    if r.get("schema_version") != SCHEMA_VERSION:
        _fail(
            r,
            "schema_version",
            r.get("schema_version"),
            f"this assess2plan reads schema_version {SCHEMA_VERSION}",
        )
    if not _text(r.get("taxon_id")):
        _fail(r, "taxon_id", r.get("taxon_id"), "the assessment names no taxon")
    status = r.get("status")
    if not isinstance(status, Mapping):
        _fail(r, "status", status, "step 1 is missing")
    threat_codes = set(_threat_codes(r))

    # step 2
    known_roles = {x.id for x in guidelines.roles()}
    roles, seen = [], set()
    for i, item in enumerate(_as_list(r, "roles", r.get("roles"))):
        key = f"roles[{i}]"
        if not isinstance(item, Mapping):
            _fail(r, key, item, "must be an object {role, considered, threats, rationale}")
        rid = _text(item.get("role"))
        if rid not in known_roles:
            _fail(r, f"{key}.role", rid, f"unknown ex situ role; use one of {', '.join(sorted(known_roles))}")
        if rid in seen:
            _fail(r, f"{key}.role", rid, "the role is listed twice")
        seen.add(rid)
        links = []
        for j, t in enumerate(_as_list(r, f"{key}.threats", item.get("threats"))):
            tkey = f"{key}.threats[{j}]"
            if not isinstance(t, Mapping):
                _fail(r, tkey, t, "must be an object {code, link}")
            code = normalise_code(t.get("code"))
            if not code or (threat_codes and code not in threat_codes):
                _fail(
                    r,
                    f"{tkey}.code",
                    t.get("code"),
                    "is not one of the species' threats"
                    + (f" ({', '.join(sorted(threat_codes))})" if threat_codes else ""),
                )
            if threat_codes == set() and name_of("threats", code) is None:
                _fail(r, f"{tkey}.code", t.get("code"), "is not a code of the IUCN threats scheme")
            link = _text(t.get("link")).lower().replace(" ", "_").replace("-", "_")
            if link not in guidelines.THREAT_LINKS:
                _fail(r, f"{tkey}.link", t.get("link"), f"use one of {', '.join(guidelines.THREAT_LINKS)}")
            links.append({"code": code, "link": link})
        considered = item.get("considered", True)
        if not isinstance(considered, bool):
            _fail(r, f"{key}.considered", considered, "must be true or false")
        roles.append(
            {
                "role": rid,
                "considered": considered,
                "threats": links,
                "rationale": _text(item.get("rationale")),
            }
        )
    r["roles"] = roles

    # step 3
    dims = {**_DEFAULT_DIMENSIONS, **(r.get("dimensions") or {})}
    for k in list(dims):
        if k not in (*_DIMENSION_INPUTS, "result", "notes"):
            _fail(r, f"dimensions.{k}", dims[k], f"unknown input; use {', '.join(_DIMENSION_INPUTS)}")
    for k in _DIMENSION_INPUTS:
        dims[k] = _number(r, f"dimensions.{k}", dims[k])
    goal = dims["gene_diversity_goal"]
    if goal is not None and 1 < goal < 100:
        dims["gene_diversity_goal"] = goal / 100  # "90" means 90 %
    dims["notes"] = _text(dims.get("notes"))
    dims["result"] = _compute(r, dims)
    r["dimensions"] = dims

    # step 4
    kinds = {f.id: f.kind for f in guidelines.factors()}
    scores, seen = [], set()
    for i, item in enumerate(_as_list(r, "feasibility", r.get("feasibility"))):
        key = f"feasibility[{i}]"
        if not isinstance(item, Mapping):
            _fail(r, key, item, "must be an object {factor, score, rationale}")
        fid = _text(item.get("factor"))
        if fid not in kinds:
            _fail(r, f"{key}.factor", fid, f"unknown factor; use one of {', '.join(kinds)}")
        if fid in seen:
            _fail(r, f"{key}.factor", fid, "the factor is scored twice")
        seen.add(fid)
        score = item.get("score")
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            _fail(r, f"{key}.score", item.get("score"), "must be a whole number from 1 to 5")
        rationale = _text(item.get("rationale"))
        if not rationale:
            _fail(r, f"{key}.rationale", item.get("rationale"), f"give the reason for scoring {fid} {score}")
        scores.append({"factor": fid, "kind": kinds[fid], "score": score, "rationale": rationale})
    order = {f.id: i for i, f in enumerate(guidelines.factors())}
    r["feasibility"] = sorted(scores, key=lambda s: order[s["factor"]])

    # step 5
    d = r.get("decision") or {}
    if not isinstance(d, Mapping):
        _fail(r, "decision", d, "must be an object {outcome, roles, rationale}")
    outcome = _text(d.get("outcome")).lower() or None
    retained = [_text(x) for x in _as_list(r, "decision.roles", d.get("roles")) if _text(x)]
    if outcome is not None:
        if outcome not in OUTCOMES:
            _fail(
                r, "decision.outcome", d.get("outcome"), "use retain (some roles) or none (no ex situ role)"
            )
        considered = {x["role"] for x in roles if x["considered"]}
        if outcome == "retain" and not retained:
            _fail(r, "decision.roles", retained, "name the roles retained (or decide none)")
        if outcome == "none" and retained:
            _fail(r, "decision.roles", retained, "a decision of none retains no role")
        for x in retained:
            if x not in considered:
                _fail(r, "decision.roles", x, "only roles considered in step 2 can be retained")
        if not _text(d.get("rationale")):
            _fail(r, "decision.rationale", d.get("rationale"), "a decision needs its rationale")
        if not _text(d.get("decided_by")):
            _fail(r, "decision.decided_by", d.get("decided_by"), "a decision records who made it")
    r["decision"] = {
        "outcome": outcome,
        "roles": retained,
        "rationale": _text(d.get("rationale")),
        "decided_by": _text(d.get("decided_by")) or None,
        "decided_at": _text(d.get("decided_at")) or None,
    }

    # translocation checklist
    tr = r.get("translocation") or {}
    if not isinstance(tr, Mapping):
        _fail(r, "translocation", tr, "must be an object {kind, answers, notes}")
    kind = _text(tr.get("kind")) or None
    answers = tr.get("answers") or {}
    if not isinstance(answers, Mapping):
        _fail(r, "translocation.answers", answers, "must be an object {item id: {answer, risk, note}}")
    if kind is not None:
        if kind not in guidelines.TRANSLOCATION_KINDS:
            _fail(r, "translocation.kind", kind, f"use one of {', '.join(guidelines.TRANSLOCATION_KINDS)}")
        from assess2plan.exsitu.translocation import evaluate_translocation

        try:
            evaluate_translocation(kind, answers)
        except InputError as e:
            raise InputError(
                _who(r), e.message, column=f"translocation.{e.column or 'answers'}", value=e.value
            ) from None
    elif answers:
        _fail(
            r, "translocation.kind", None, "choose the kind of translocation before answering the checklist"
        )
    r["translocation"] = {"kind": kind, "answers": dict(answers), "notes": _text(tr.get("notes"))}
    return r


def progress(record: Mapping[str, Any]) -> dict[str, bool]:
    """Which steps are complete: status (always, it is pre-filled), roles (at least one role
    considered), dimensions (a target computed), feasibility (every factor scored), decision."""
    from assess2plan.exsitu import guidelines

    scored = {s["factor"] for s in record.get("feasibility") or []}
    return {
        "status": bool(record.get("status")),
        "roles": any(r.get("considered") for r in record.get("roles") or []),
        "dimensions": bool((record.get("dimensions") or {}).get("result")),
        "feasibility": all(f.id in scored for f in guidelines.factors()),
        "decision": bool((record.get("decision") or {}).get("outcome")),
    }
