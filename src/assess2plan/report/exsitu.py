"""The decision report of an ex situ conservation assessment (HTML or PDF).

The report follows the five-step process of the IUCN SSC (2014) Guidelines on the Use of Ex Situ
Management for Species Conservation (domain reference §4a, as applied in CPSG's Ex situ
Conservation Assessment, §4b) and adds the IUCN SSC (2013) translocation feasibility and risk
checklist when a translocation kind was chosen::

    from assess2plan.report import decision_report, decision_report_html
    decision_report(record, "mirrenichthys-exsitu.pdf", project="Lakeland fishes",
                    history=history, generated_by="ana")
    html = decision_report_html(record, project="Lakeland fishes")

``record`` is the five-step record of :mod:`assess2plan.exsitu.assessment` (``schema_version``
1); ``history`` is the store's list of saves (``version``, ``step``, ``made_by``, ``made_at``,
``note``). A record without a decision renders as a draft: every page says
"DRAFT — no decision recorded". Partially filled records render: a missing step says what is
missing instead of failing.

What the assessors typed (summaries, rationales, notes) is shown as plain text, escaped, with its
line breaks kept; the CITES annotation, published as HTML, is sanitised (scripts, event handlers
and styles removed). Labels of roles, strategies, threat links, factors and scores come from
:mod:`assess2plan.exsitu.guidelines`; the translocation verdict is computed again with
:func:`assess2plan.exsitu.translocation.evaluate_translocation`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from assess2plan.errors import A2PError, InputError
from assess2plan.report.data import category_label
from assess2plan.report.render import check_format, check_out_path, render_html, write_pdf, write_text

__all__ = ["decision_report", "decision_report_html", "report_context"]

RECORD_SCHEMA_VERSION = 1
GUIDELINES_2014 = (
    "IUCN/SSC (2014). Guidelines on the Use of Ex Situ Management for Species Conservation. "
    "Version 2.0. Gland: IUCN Species Survival Commission."
)
GUIDELINES_2013 = (
    "IUCN/SSC (2013). Guidelines for Reintroductions and Other Conservation Translocations. "
    "Version 1.0. Gland: IUCN Species Survival Commission."
)
_MATCHED_BY = {
    "name": "by its accepted name",
    "synonym": "by a synonym",
    "genus": "through the listing of its genus",
    "family": "through the listing of its family",
    "order": "through the listing of its order",
    "species": "through the listing of its species (the subspecies or subpopulation is not listed itself)",
}


# -- small helpers -----------------------------------------------------------------------------------
def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: Any) -> list[Any]:
    if v is None or isinstance(v, str | bytes | Mapping):
        return []
    return list(v) if isinstance(v, Iterable) else []


def _num(v: Any, digits: int = 2) -> str:
    """A number as a reader wants it: 20 (not 20.0), 0.3, 1,234; text is kept as given."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        if v.is_integer():
            return f"{int(v):,}"
        return f"{v:,.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _pct(v: Any) -> str:
    """A gene-diversity goal (0.9 or 90) as "90 %"."""
    if v is None or v == "":
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if x <= 1:
        x *= 100
    return f"{_num(round(x, 2))} %"


def _when(v: Any, *, date_only: bool = False) -> str:
    """An ISO date-time (text or datetime) as "2026-11-21 10:00 UTC"; other text as given."""
    if v is None or v == "":
        return ""
    if isinstance(v, dt.datetime):
        t = v
    elif isinstance(v, dt.date):
        return v.isoformat()
    else:
        try:
            t = dt.datetime.fromisoformat(str(v).strip())
        except ValueError:
            return str(v)
    if date_only:
        return t.date().isoformat()
    if len(str(v).strip()) == 10 and not isinstance(v, dt.datetime):  # a plain date
        return t.date().isoformat()
    out = t.strftime("%Y-%m-%d %H:%M")
    off = t.utcoffset()
    if off is not None:
        out += " UTC" if off == dt.timedelta(0) else t.strftime(" UTC%z")
    return out


def _code_key(code: str) -> list[int]:
    return [int(p) if p.isdigit() else 0 for p in code.split(".")]


# -- labels from the guidelines ----------------------------------------------------------------------
def _guidelines():
    from assess2plan.exsitu import guidelines

    return guidelines


def _role_view(rid: str) -> dict[str, str]:
    g = _guidelines()
    try:
        r = g.role(rid)
    except InputError:  # a role no longer in the guidelines list: show its id, say so
        return {"label": f"{rid} (not in the guidelines' list of roles)", "strategy": ""}
    strategy = getattr(r, "strategy", "") or ""
    return {"label": r.label, "strategy": g.STRATEGY_LABELS.get(strategy, strategy)}


def _link_label(link: str) -> str:
    g = _guidelines()
    return g.THREAT_LINK_LABELS.get(link, link.replace("_", " "))


def _score_label(kind: str, score: Any) -> str:
    labels = _guidelines().SCORE_LABELS.get(kind) or {}
    return labels.get(score, "") if isinstance(score, int) else ""


def _flagged(kind: str, score: Any) -> bool:
    """A score a decision must weigh: a high risk (4-5) or a poor resource, expertise or
    feasibility score (1-2)."""
    if not isinstance(score, int) or isinstance(score, bool):
        return False
    return score >= 4 if kind == "risk" else score <= 2


# -- the view of each step ---------------------------------------------------------------------------
def _status(rec: Mapping[str, Any]) -> dict[str, Any]:
    s = _map(rec.get("status"))
    threats = [
        {
            "code": _text(t.get("code")),
            "name": _text(t.get("name")),
            "timing": _text(t.get("timing")),
            "impact": _text(t.get("impact")),
        }
        for t in map(_map, _list(s.get("threats")))
        if _text(t.get("code")) or _text(t.get("name"))
    ]

    def coded(key: str) -> list[dict[str, str]]:
        return [
            {"code": _text(x.get("code")), "name": _text(x.get("name"))}
            for x in map(_map, _list(s.get(key)))
            if _text(x.get("code")) or _text(x.get("name"))
        ]

    h = _map(s.get("holdings"))
    rows = [
        {
            "institution": _text(r.get("institution")),
            "country": _text(r.get("country")),
            "males": _num(r.get("males")),
            "females": _num(r.get("females")),
            "unknown": _num(r.get("unknown")),
            "total": _num(r.get("total")),
            "date": _when(r.get("date"), date_only=True),
            "source": _text(r.get("source")),
        }
        for r in map(_map, _list(h.get("rows")))
    ]
    total = h.get("total")
    has_holdings = bool(rows) or (isinstance(total, int | float) and total > 0)
    holdings = {
        "present": has_holdings,
        "institutions": _num(h.get("institutions") or 0),
        "countries": ", ".join(_text(c) for c in _list(h.get("countries")) if _text(c)),
        "males": _num(h.get("males") or 0),
        "females": _num(h.get("females") or 0),
        "unknown": _num(h.get("unknown") or 0),
        "total": _num(total or 0),
        "latest_date": _when(h.get("latest_date"), date_only=True),
        "rows": rows,
    }
    c = s.get("cites")
    cites = None
    if isinstance(c, Mapping) and any(_text(v) for v in c.values()):
        mb = _text(c.get("matched_by")).lower()
        cites = {
            "listing": _text(c.get("listing")),
            "cites_name": _text(c.get("cites_name")),
            "cites_rank": _text(c.get("cites_rank")).lower(),
            "matched_by": _MATCHED_BY.get(mb, f"by {mb}" if mb else ""),
            "annotation": _text(c.get("annotation")),
        }
    code = _text(s.get("category")) or None
    return {
        "category": code,
        "category_name": category_label(code) if code else "",
        "criteria": _text(s.get("criteria")),
        "possibly_extinct": bool(s.get("possibly_extinct")),
        "possibly_extinct_in_the_wild": bool(s.get("possibly_extinct_in_the_wild")),
        "population_trend": _text(s.get("population_trend")),
        "year_published": _text(s.get("year_published")),
        "assessment_id": _text(s.get("assessment_id")),
        "threats": sorted(threats, key=lambda t: _code_key(t["code"])),
        "actions_needed": coded("actions_needed"),
        "research_needed": coded("research_needed"),
        "in_place_ex_situ": _text(s.get("in_place_ex_situ")),
        "holdings": holdings,
        "cites": cites,
        "in_situ_summary": _text(s.get("in_situ_summary")),
        "ex_situ_summary": _text(s.get("ex_situ_summary")),
        "notes": _text(s.get("notes")),
        "present": bool(s),
    }


def _roles(rec: Mapping[str, Any], threat_names: Mapping[str, str], retained: set[str]) -> dict[str, Any]:
    considered, not_considered = [], []
    for r in map(_map, _list(rec.get("roles"))):
        rid = _text(r.get("role"))
        if not rid:
            continue
        view = _role_view(rid)
        if r.get("considered", True) is False:
            not_considered.append(view["label"])
            continue
        links = []
        for t in map(_map, _list(r.get("threats"))):
            code = _text(t.get("code"))
            link = _text(t.get("link"))
            links.append(
                {
                    "code": code,
                    "name": threat_names.get(code, "(not among the species' threats in step 1)"),
                    "link": _link_label(link) if link else "",
                }
            )
        considered.append(
            {
                "id": rid,
                **view,
                "threats": links,
                "rationale": _text(r.get("rationale")),
                "retained": rid in retained,
            }
        )
    return {"considered": considered, "not_considered": not_considered}


_DIMENSION_INPUTS = (
    ("gene_diversity_goal", "Gene-diversity goal", _pct),
    ("years", "Duration (years)", _num),
    ("generation_length", "Generation length (years)", _num),
    ("ne_n", "Ne/N (effective / census size)", _num),
    ("founders", "Founders", _num),
)


def _dimensions(rec: Mapping[str, Any]) -> dict[str, Any]:
    d = _map(rec.get("dimensions"))
    inputs = [
        {"key": k, "label": label, "value": fmt(d.get(k)) or "not given"}
        for k, label, fmt in _DIMENSION_INPUTS
    ]
    r = d.get("result")
    result = None
    if isinstance(r, Mapping) and r:
        result = {
            "formula": _text(r.get("formula")),
            "steps": [_text(x) for x in _list(r.get("steps")) if _text(x)],
            "ne": _num(r.get("ne"), 1),
            "n": _num(r.get("n"), 1),
            "generations": _num(r.get("generations"), 2),
            "founder_gene_diversity": _pct(r.get("founder_gene_diversity"))
            if r.get("founder_gene_diversity") is not None
            else "",
            "goal": _pct(r.get("goal")),
            "years": _num(r.get("years")),
        }
    return {"inputs": inputs, "result": result, "notes": _text(d.get("notes"))}


def _feasibility(rec: Mapping[str, Any]) -> dict[str, Any]:
    factors = {f.id: f for f in _guidelines().factors()}
    order = {fid: i for i, fid in enumerate(factors)}
    groups: dict[str, list[dict[str, Any]]] = {}
    scored = set()
    for s in map(_map, _list(rec.get("feasibility"))):
        fid = _text(s.get("factor"))
        if not fid:
            continue
        f = factors.get(fid)
        kind = _text(s.get("kind")) or (f.kind if f else "")
        score = s.get("score")
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        scored.add(fid)
        groups.setdefault(kind, []).append(
            {
                "id": fid,
                "label": f.label if f else f"{fid} (not in the guidelines' list of factors)",
                "question": _text(getattr(f, "question", "")) if f else "",
                "kind": kind,
                "score": score if isinstance(score, int) else _text(score),
                "score_label": _score_label(kind, score),
                "flag": _flagged(kind, score),
                "rationale": _text(s.get("rationale")),
                "_order": order.get(fid, len(order)),
            }
        )
    kind_labels = _guidelines().FACTOR_KIND_LABELS
    kinds = list(kind_labels) + sorted(k for k in groups if k not in kind_labels)
    out = []
    for k in kinds:
        rows = sorted(groups.get(k, []), key=lambda x: x["_order"])
        if rows:
            out.append({"kind": k, "label": kind_labels.get(k, k or "Other"), "rows": rows})
    unscored = [f.label for fid, f in factors.items() if fid not in scored]
    flagged = sum(r["flag"] for g in out for r in g["rows"])
    return {"groups": out, "unscored": unscored, "flagged": flagged}


def _decision(rec: Mapping[str, Any], role_labels: Mapping[str, str]) -> dict[str, Any]:
    d = _map(rec.get("decision"))
    outcome = _text(d.get("outcome")).lower() or None
    roles = [_text(r) for r in _list(d.get("roles")) if _text(r)]
    labels = [role_labels.get(r) or _role_view(r)["label"] for r in roles]
    if outcome == "retain":
        text = "Roles retained: " + (", ".join(labels) if labels else "(none named)")
    elif outcome == "none":
        text = "No ex situ role retained"
    elif outcome:
        text = f"Outcome {outcome!r}"
    else:
        text = ""
    return {
        "outcome": outcome,
        "text": text,
        "roles": labels,
        "rationale": _text(d.get("rationale")),
        "decided_by": _text(d.get("decided_by")),
        "decided_at": _when(d.get("decided_at")),
    }


def _translocation(rec: Mapping[str, Any]) -> dict[str, Any] | None:
    tr = _map(rec.get("translocation"))
    kind = _text(tr.get("kind"))
    if not kind:
        return None
    from assess2plan.exsitu.translocation import evaluate_translocation

    g = _guidelines()
    answers = {_text(k): _map(v) for k, v in _map(tr.get("answers")).items()}
    try:
        items = g.translocation_checklist(kind)
    except InputError:  # an unknown kind: the evaluation below says so
        items = []
    section_names = g.checklist_sections()
    sections: dict[str, list[dict[str, Any]]] = {}
    listed = set()
    for it in items:
        a = answers.get(it.id, {})
        ans = _text(a.get("answer")).lower()
        listed.add(it.id)
        sections.setdefault(section_names.get(it.section, it.section), []).append(
            {
                "id": it.id,
                "question": it.question,
                "kind": it.kind,
                "blocking": bool(it.blocking),
                "answer": g.ANSWER_LABELS.get(ans, ans) if ans else "not answered",
                "answered": bool(ans),
                "risk": _text(a.get("risk")).lower(),
                "note": _text(a.get("note")),
                "alert": (ans == "no" and bool(it.blocking))
                or _text(a.get("risk")).lower() == "high"
                or ans == "unknown",
            }
        )
    other = [
        {
            "id": k,
            "answer": _text(v.get("answer")),
            "risk": _text(v.get("risk")),
            "note": _text(v.get("note")),
        }
        for k, v in answers.items()
        if k not in listed
    ]
    summary, error = None, ""
    try:
        s = evaluate_translocation(kind, answers)
        summary = {
            "verdict": s.verdict,
            "reasons": [_text(x) for x in s.reasons],
            "total": s.total,
            "answered": s.answered,
        }
    except A2PError as exc:  # a draft with an answer the checklist refuses: say so, render the rest
        error = str(exc)
    return {
        "kind": kind,
        "kind_label": g.TRANSLOCATION_KIND_LABELS.get(kind, kind.replace("_", " ")),
        "sections": [{"section": k, "questions": v} for k, v in sections.items()],
        "other": other,
        "summary": summary,
        "error": error,
        "notes": _text(tr.get("notes")),
    }


def _history(history: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for h in map(_map, _list(history)):
        out.append(
            {
                "version": _num(h.get("version")),
                "step": _text(h.get("step")),
                "who": _text(h.get("made_by") or h.get("who")),
                "when": _when(h.get("made_at") or h.get("when")),
                "note": _text(h.get("note")),
            }
        )
    return out


def report_context(
    record: Mapping[str, Any],
    *,
    project: str,
    history: Iterable[Mapping[str, Any]] = (),
    generated_by: str | None = None,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """What the decision report shows, as plain values (labels looked up, dates formatted)."""
    if not isinstance(record, Mapping):
        raise A2PError(f"an ex situ assessment record is a dict (JSON object), not {type(record).__name__}")
    version = record.get("schema_version", RECORD_SCHEMA_VERSION)
    if version != RECORD_SCHEMA_VERSION:
        raise A2PError(
            f"ex situ assessment of {record.get('scientific_name') or record.get('taxon_id') or '?'}: "
            f"schema_version {version!r}; this assess2plan reads schema_version {RECORD_SCHEMA_VERSION}"
        )
    status = _status(record)
    threat_names = {t["code"]: t["name"] for t in status["threats"]}
    decision_roles = {_text(r) for r in _list(_map(record.get("decision")).get("roles"))}
    roles = _roles(record, threat_names, decision_roles)
    decision = _decision(record, {r["id"]: r["label"] for r in roles["considered"]})
    when = generated_at or dt.datetime.now(dt.UTC)
    from assess2plan.exsitu.assessment import STEP_LABELS

    return {
        "name": _text(record.get("scientific_name")) or _text(record.get("taxon_id")) or "(unnamed taxon)",
        "taxon_id": _text(record.get("taxon_id")),
        "project": _text(project),
        "generated_by": _text(generated_by),
        "generated_at": _when(when, date_only=True),
        "draft": decision["outcome"] is None,
        "steps": STEP_LABELS,
        "status": status,
        "roles": roles,
        "dimensions": _dimensions(record),
        "feasibility": _feasibility(record),
        "decision": decision,
        "translocation": _translocation(record),
        "history": _history(history),
        "guidelines_2014": GUIDELINES_2014,
        "guidelines_2013": GUIDELINES_2013,
    }


def decision_report_html(
    record: Mapping[str, Any],
    *,
    project: str,
    history: Iterable[Mapping[str, Any]] = (),
    generated_by: str | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    """The decision report of one ex situ assessment as a self-contained HTML page.

    ``record``: the five-step record (schema_version 1), complete or a draft; ``history``: the
    saves of the record (version, step, made_by, made_at, note); ``project``: the project name
    shown in the heading; ``generated_by`` / ``generated_at``: who made the report and when
    (default: now)."""
    ctx = report_context(
        record, project=project, history=history, generated_by=generated_by, generated_at=generated_at
    )
    return render_html("exsitu_decision.html", {"x": ctx})


def decision_report(
    record: Mapping[str, Any],
    out_path: str | Path,
    *,
    format: Literal["pdf", "html"] = "pdf",
    project: str,
    history: Iterable[Mapping[str, Any]] = (),
    generated_by: str | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write the decision report of one ex situ assessment to ``out_path`` as ``"pdf"`` (A4,
    WeasyPrint) or ``"html"``; returns the path. See :func:`decision_report_html`."""
    fmt = check_format(format, ("pdf", "html"))
    out = check_out_path(out_path)
    html = decision_report_html(
        record, project=project, history=history, generated_by=generated_by, generated_at=generated_at
    )
    if fmt == "pdf":
        return write_pdf(html, out)
    return write_text(html, out)
