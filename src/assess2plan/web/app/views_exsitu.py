"""Ex situ pages (issue 6): the pre-screen, the holdings and CITES imports, and the five-step Ex situ
Conservation Assessment of a species (IUCN SSC 2014 guidelines) with the translocation checklist
(IUCN/SSC 2013) and the decision report.

The pages do what ``a2p exsitu ...`` does (``assess2plan.cli_exsitu``) through the same store
functions (``assess2plan.store``) and the same record functions
(``assess2plan.exsitu.assessment``):

* ``p/<slug>/exsitu/`` — the species the pre-screen flags (computed per request from the project's
  data, its current holdings and CITES checklist: never stale), the rules, the assessments and
  how far each has got, the imported holdings files and CITES checklists with their upload forms,
  and the holdings names that matched no taxon;
* ``p/<slug>/exsitu/<taxon>/`` — the five steps, each a form saved on its own
  (``.../step/<step>/``) against the version the page showed: when someone saved in between the
  answer is 409 and nothing is written; bad input is 400 with the message naming the field and
  nothing is written. With HTMX only the saved step is replaced (and the version every other
  form carries moves on with it); without JavaScript the page is posted and reloaded;
* ``.../report.pdf`` and ``.../report.html`` — the decision report.

Who may do what: viewers read; assessors (``edit``) save steps 1-4 and the translocation
checklist; facilitators (``decide``) start assessments, import holdings and CITES files and
record the decision (step 5). Every save records the user and the time.

Ex situ holdings name zoos and aquaria, not where the wild species lives: nothing here is subject
to the sensitive-location rules (no sites, geometries or subnational places are shown).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.web.app import derived
from assess2plan.web.app.access import Access, require

#: the forms of the assessment page, in page order, and what saving each needs
STEP_ACTIONS = {
    "status": "edit",
    "refresh": "edit",
    "roles": "edit",
    "dimensions": "edit",
    "feasibility": "edit",
    "decision": "decide",
    "translocation": "edit",
}
SECTIONS = ("status", "roles", "dimensions", "feasibility", "decision", "translocation")
DIMENSION_INPUTS = (
    ("gene_diversity_goal", "Gene diversity to retain", "0.9 or 90 (%)"),
    ("years", "For how many years", "100"),
    ("generation_length", "Generation length (years)", "e.g. 3"),
    ("ne_n", "Ne/N ratio", "0-1, e.g. 0.3"),
    ("founders", "Effective number of founders", "20"),
)
#: CITES names matching no taxon shown after a checklist import (the real checklist has thousands)
UNMATCHED_CITES_SHOWN = 100


def _ctx(access: Access, **extra: Any) -> dict[str, Any]:
    return {
        "access": access,
        "project": access.project,
        "can_edit": access.can("edit"),
        "can_decide": access.can("decide"),
        **extra,
    }


def _user(request: HttpRequest) -> str:
    return request.user.get_username()


def _htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


# =================================================================================================
# the pre-screen page
# =================================================================================================
def _prescreen_rows(slug: str, aset: Any, h: pl.DataFrame, c: pl.DataFrame) -> list[dict[str, Any]]:
    """The species the pre-screen flags (as ``store.run_prescreen``, with the inputs already read)."""
    from assess2plan.exsitu.prescreen import prescreen

    df = prescreen(aset, holdings=h, cites=c)
    return [
        {
            "taxon_id": r["taxon_id"],
            "scientific_name": r["scientific_name"],
            "category": r["category"] or "",
            "rules": [x for x in (r["rules"] or "").split("|") if x],
            "reasons": r["reasons"] or "",
        }
        for r in df.iter_rows(named=True)
    ]


def _rules_rows() -> list[dict[str, Any]]:
    from assess2plan.exsitu.prescreen import prescreen_rules_frame

    return prescreen_rules_frame().to_dicts()


def _exsitu_page(
    request: HttpRequest,
    access: Access,
    *,
    status: int = 200,
    error: str | None = None,
    import_error: str | None = None,
    imported: dict[str, Any] | None = None,
) -> HttpResponse:
    from assess2plan.exsitu.match import unmatched_holdings

    slug = access.project.slug
    aset, h, c = store.exsitu_inputs(slug, aset=derived.project_set(slug))
    assessments = store.list_exsitu_assessments(slug).to_dicts()
    started = {a["taxon_id"] for a in assessments}
    for a in assessments:
        a["roles_text"] = ", ".join((a["roles_retained"] or "").split("|")).strip(", ")
    rows = _prescreen_rows(slug, aset, h, c)
    for r in rows:
        r["started"] = r["taxon_id"] in started
    sources = store.list_exsitu_sources(slug).to_dicts()
    for s in sources:
        s["file"] = Path(s["path"] or "").name
    ctx = _ctx(
        access,
        flagged=rows,
        rules=_rules_rows(),
        assessments=assessments,
        sources=sources,
        holdings_rows=h.height,
        holdings_matched=int(h["taxon_id"].is_not_null().sum()) if h.height else 0,
        unmatched=unmatched_holdings(h).to_dicts() if h.height else [],
        cites_covered=c.height,
        error=error,
        import_error=import_error,
        imported=imported,
        form=request.POST if request.method == "POST" else {},
    )
    return render(request, "a2p/exsitu.html", ctx, status=status)


@login_required
def exsitu(request: HttpRequest, slug: str) -> HttpResponse:
    """The ex situ pre-screen, the assessments and the holdings / CITES sources of the project."""
    access = require(request, slug, "read")
    return _exsitu_page(request, access)


@login_required
@require_POST
def exsitu_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Start the five-step assessment of a species (taxon id or scientific name); step 1 is
    pre-filled from the data. Opens the existing one when it was started already."""
    access = require(request, slug, "decide")
    taxon = (request.POST.get("taxon") or "").strip()
    try:
        if not taxon:
            raise InputError("taxon", "give the taxon id or scientific name of the species")
        tid = store.resolve_taxa(slug, [taxon])[taxon]
        if _find(slug, tid) is not None:
            messages.info(request, "This species' ex situ assessment was started already: here it is.")
            return redirect("exsitu-assessment", slug=slug, taxon_id=tid)
        a = store.start_exsitu_assessment(slug, tid, user=_user(request))
    except A2PError as e:
        return _exsitu_page(request, access, status=400, error=f"Not started: {e}")
    messages.success(
        request,
        f"Started the ex situ assessment of {a['record'].get('scientific_name') or tid} "
        "(version 1; step 1 pre-filled from the Red List data, holdings and CITES listing).",
    )
    return redirect("exsitu-assessment", slug=slug, taxon_id=a["taxon_id"])


def _save_upload(upload: Any) -> Path:
    """An uploaded file saved under ``$A2P_HOME/uploads`` with its own (safe) name, so that error
    messages name the file the user chose."""
    from assess2plan.web.app import imports as jobs

    folder = Path(tempfile.mkdtemp(prefix="exsitu-", dir=jobs.uploads_root()))
    path = folder / jobs.safe_name(upload.name)
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def _import(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    access = require(request, slug, "decide")
    upload = request.FILES.get("file")
    what = "holdings table" if kind == "holdings" else "CITES checklist"
    if upload is None:
        return _exsitu_page(
            request, access, status=400, import_error=f"Not imported: choose the {what} (a CSV file)."
        )
    path = _save_upload(upload)
    try:
        if kind == "holdings":
            r = store.import_holdings(slug, path, replace="replace" in request.POST, user=_user(request))
        else:
            r = store.import_cites(slug, path, user=_user(request))
    except A2PError as e:
        text = str(e).replace(str(path), upload.name).replace(str(path.parent) + "/", "")
        return _exsitu_page(
            request,
            access,
            status=400,
            import_error=f"Not imported: {text}. Nothing was imported or changed.",
        )
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    if kind == "holdings":
        result = {
            "kind": kind,
            "file": upload.name,
            "rows": r["rows"],
            "matched": r["matched"],
            "unmatched": r["unmatched"].to_dicts(),
            "issues": [str(i) for i in r["issues"]],
        }
        text = f"Imported {r['rows']} holdings rows from {upload.name}; {r['matched']} matched to taxa."
    else:
        un = r["unmatched"]
        result = {
            "kind": kind,
            "file": upload.name,
            "rows": r["rows"],
            "covered": r["covered"].height,
            "unmatched": un.head(UNMATCHED_CITES_SHOWN).to_dicts(),
            "unmatched_total": un.height,
            "issues": [],
        }
        text = (
            f"Imported {r['rows']} CITES checklist rows from {upload.name}; {r['covered'].height} taxa of "
            f"the project are covered by a listing; {un.height} species names of the checklist match no taxon."
        )
    messages.success(request, text)
    return _exsitu_page(request, access, imported=result)


@login_required
@require_POST
def exsitu_holdings(request: HttpRequest, slug: str) -> HttpResponse:
    """Import an ex situ holdings table (as ``a2p exsitu holdings import``; all or nothing)."""
    return _import(request, slug, "holdings")


@login_required
@require_POST
def exsitu_cites(request: HttpRequest, slug: str) -> HttpResponse:
    """Import a CITES Species+ checklist export (as ``a2p exsitu cites import``; replaces the
    previous checklist, which stays on record)."""
    return _import(request, slug, "cites")


# =================================================================================================
# the assessment page: what each step shows (a "view" of the record, overlaid with what was posted
# when a save was refused, so that the user's entries are not lost)
# =================================================================================================
def _resolve_or_404(slug: str, taxon_id: str) -> str:
    try:
        return store.resolve_taxa(slug, [taxon_id])[taxon_id.strip()]
    except (A2PError, KeyError):
        raise Http404("no such taxon in this project") from None


def _find(slug: str, tid: str) -> dict[str, Any] | None:
    """The stored assessment of ``tid``, or None when none was started."""
    try:
        return store.get_exsitu_assessment(slug, tid)
    except InputError:
        raise
    except A2PError:
        return None


def _n(v: Any) -> str:
    """A number as typed: 3 (not 3.0), 0.3; empty for None."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _when(iso: str | None) -> str:
    """An ISO time of the record ("2026-11-21T10:00:00+00:00") as "2026-11-21 10:00 UTC"."""
    from datetime import UTC, datetime

    if not iso:
        return ""
    try:
        t = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _status_view(rec: dict[str, Any], posted: QueryDict | None) -> dict[str, Any]:
    from assess2plan.text import sanitise_html

    s = dict(rec.get("status") or {})
    cites = dict(s.get("cites") or {}) or None
    if cites is not None:
        cites["annotation_html"] = mark_safe(sanitise_html(cites.get("annotation")))  # noqa: S308
    texts = {k: s.get(k) or "" for k in ("in_situ_summary", "ex_situ_summary", "notes")}
    if posted is not None:
        texts = {k: posted.get(k, "") for k in texts}
    holdings = s.get("holdings") or {}
    return {**s, "cites": cites, "texts": texts, "holdings": holdings}


def _roles_view(rec: dict[str, Any], posted: QueryDict | None) -> list[dict[str, Any]]:
    from assess2plan.exsitu import guidelines

    threats = (rec.get("status") or {}).get("threats") or []
    saved = {r["role"]: r for r in rec.get("roles") or []}
    out = []
    for role in guidelines.roles():
        r = saved.get(role.id) or {}
        links = {t["code"]: t["link"] for t in r.get("threats") or []}
        considered = bool(r.get("considered")) if r else False
        rationale = r.get("rationale") or ""
        if posted is not None:
            considered = f"role__{role.id}__considered" in posted
            rationale = posted.get(f"role__{role.id}__rationale", "")
            links = {t["code"]: posted.get(f"role__{role.id}__threat__{t['code']}", "") for t in threats}
        out.append(
            {
                "id": role.id,
                "label": role.label,
                "strategy": role.strategy_label,
                "description": role.description,
                "actions": ", ".join(role.actions),
                "in_record": role.id in saved,
                "considered": considered,
                "rationale": rationale,
                "threats": [
                    {"code": t["code"], "name": t.get("name") or "", "link": links.get(t["code"]) or ""}
                    for t in threats
                ],
            }
        )
    return out


def _dimensions_view(rec: dict[str, Any], posted: QueryDict | None) -> dict[str, Any]:
    d = rec.get("dimensions") or {}
    inputs = [
        {"name": k, "label": label, "hint": hint, "value": _n(d.get(k))}
        for k, label, hint in DIMENSION_INPUTS
    ]
    notes = d.get("notes") or ""
    if posted is not None:
        for i in inputs:
            i["value"] = posted.get(i["name"], "")
        notes = posted.get("notes", "")
    result = d.get("result")
    if result:
        result = {
            **result,
            "goal_pct": _n(round(float(result["goal"]) * 100, 2)),
            "gd_founders_pct": _n(round(float(result["founder_gene_diversity"]) * 100, 2)),
            "gd_end_pct": _n(round(float(result.get("gene_diversity_at_end") or 0) * 100, 2)),
            "generations_text": f"{float(result['generations']):.2f}",
        }
    return {"inputs": inputs, "notes": notes, "result": result}


def _feasibility_view(rec: dict[str, Any], posted: QueryDict | None) -> list[dict[str, Any]]:
    from assess2plan.exsitu import guidelines

    saved = {f["factor"]: f for f in rec.get("feasibility") or []}
    groups: dict[str, dict[str, Any]] = {}
    for f in guidelines.factors():
        s = saved.get(f.id) or {}
        score = str(s.get("score") or "")
        rationale = s.get("rationale") or ""
        if posted is not None:
            score = posted.get(f"score__{f.id}", "")
            rationale = posted.get(f"rationale__{f.id}", "")
        g = groups.setdefault(
            f.kind,
            {"kind": f.kind, "label": guidelines.FACTOR_KIND_LABELS.get(f.kind, f.kind), "factors": []},
        )
        g["factors"].append(
            {
                "id": f.id,
                "label": f.label,
                "question": f.question,
                "score": score,
                "rationale": rationale,
                "options": [(str(k), v) for k, v in sorted(guidelines.SCORE_LABELS[f.kind].items())],
            }
        )
    return list(groups.values())


def _decision_view(rec: dict[str, Any], posted: QueryDict | None) -> dict[str, Any]:
    from assess2plan.exsitu import guidelines

    d = rec.get("decision") or {}
    labels = {r.id: r.label for r in guidelines.roles()}
    considered = [
        {"id": r["role"], "label": labels.get(r["role"], r["role"])}
        for r in rec.get("roles") or []
        if r.get("considered")
    ]
    outcome, retained, rationale = (
        d.get("outcome") or "",
        list(d.get("roles") or []),
        d.get("rationale") or "",
    )
    if posted is not None:
        outcome, retained, rationale = (
            posted.get("outcome", ""),
            posted.getlist("retain"),
            posted.get("rationale", ""),
        )
    return {
        "outcome": outcome,
        "retained": retained,
        "retained_labels": [labels.get(r, r) for r in d.get("roles") or []],
        "rationale": rationale,
        "saved_outcome": d.get("outcome"),
        "saved_rationale": d.get("rationale") or "",
        "decided_by": d.get("decided_by"),
        "decided_at": d.get("decided_at"),
        "decided_at_text": _when(d.get("decided_at")),
        "considered": considered,
    }


def _translocation_view(rec: dict[str, Any], posted: QueryDict | None) -> dict[str, Any]:
    from assess2plan.exsitu import guidelines
    from assess2plan.exsitu.translocation import evaluate_translocation

    tr = rec.get("translocation") or {}
    kind = tr.get("kind") or ""
    answers = tr.get("answers") or {}
    notes = tr.get("notes") or ""
    summary = None
    if kind:
        try:
            summary = evaluate_translocation(kind, answers)
        except A2PError:  # a checklist file changed since: the page still opens
            summary = None
    if posted is not None:
        kind = posted.get("kind", "")
        notes = posted.get("notes", "")
    sections = guidelines.checklist_sections()
    groups: dict[str, dict[str, Any]] = {}
    for item in guidelines.translocation_checklist(kind) if kind in guidelines.TRANSLOCATION_KINDS else []:
        a = answers.get(item.id) or {}
        if isinstance(a, str):
            a = {"answer": a}
        val = {"answer": a.get("answer") or "", "risk": a.get("risk") or "", "note": a.get("note") or ""}
        if posted is not None:
            val = {k: posted.get(f"tr__{item.id}__{k}", "") for k in val}
        g = groups.setdefault(
            item.section, {"section": sections.get(item.section, item.section), "items": []}
        )
        g["items"].append(
            {
                "id": item.id,
                "label": getattr(item, "label", "") or item.id,
                "question": item.question,
                "kind": item.kind,
                "blocking": item.blocking,
                **val,
            }
        )
    return {
        "kind": kind,
        "kinds": [(k, guidelines.TRANSLOCATION_KIND_LABELS[k]) for k in guidelines.TRANSLOCATION_KINDS],
        "answers": [("", "—")] + [(a, guidelines.ANSWER_LABELS[a]) for a in guidelines.ANSWERS],
        "risks": [("", "—")] + [(r, r) for r in guidelines.RISK_LEVELS],
        "groups": list(groups.values()),
        "notes": notes,
        "summary": summary,
    }


_VIEWS = {
    "status": _status_view,
    "roles": _roles_view,
    "dimensions": _dimensions_view,
    "feasibility": _feasibility_view,
    "decision": _decision_view,
    "translocation": _translocation_view,
}


def _history(slug: str, tid: str) -> list[dict[str, Any]]:
    from assess2plan.exsitu.assessment import STEP_LABELS

    rows = [{k: v for k, v in h.items() if k != "record"} for h in store.assessment_history(slug, tid)]
    for h in rows:
        h["label"] = STEP_LABELS.get(h["step"], h["step"])
    return list(reversed(rows))


def _progress(a: dict[str, Any]) -> list[dict[str, Any]]:
    from assess2plan.exsitu.assessment import STEP_LABELS, STEPS, progress

    done = progress(a["record"])
    return [{"step": s, "label": STEP_LABELS[s], "done": done[s]} for s in STEPS]


def _assessment_ctx(
    access: Access,
    a: dict[str, Any],
    *,
    posted_step: str | None = None,
    posted: QueryDict | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    from assess2plan.exsitu.assessment import STEP_LABELS

    rec = a["record"]
    slug = access.project.slug
    section = "status" if posted_step == "refresh" else posted_step
    view = {
        s: fn(rec, posted if (s == section and posted_step != "refresh") else None)
        for s, fn in _VIEWS.items()
    }
    return _ctx(
        access,
        a=a,
        rec=rec,
        tid=a["taxon_id"],
        view=view,
        labels=STEP_LABELS,
        progress=_progress(a),
        history=_history(slug, a["taxon_id"]),
        errors={section: error} if (error and section) else {},
        notices={section: notice} if (notice and section) else {},
        sections=SECTIONS,
        link_options=_link_options(),
    )


def _link_options() -> list[tuple[str, str]]:
    from assess2plan.exsitu import guidelines

    return [("", "—"), *((k, guidelines.THREAT_LINK_LABELS[k]) for k in guidelines.THREAT_LINKS)]


@login_required
def exsitu_assessment(request: HttpRequest, slug: str, taxon_id: str) -> HttpResponse:
    """The five steps of a species' ex situ assessment (or a button to start it)."""
    access = require(request, slug, "read")
    tid = _resolve_or_404(slug, taxon_id)
    if tid != taxon_id:
        return redirect("exsitu-assessment", slug=slug, taxon_id=tid)
    a = _find(slug, tid)
    if a is None:
        t = derived.project_set(slug).tables["taxa"].filter(pl.col("taxon_id") == tid)
        name = t["scientific_name"].first() if t.height else tid
        return render(request, "a2p/exsitu_start.html", _ctx(access, tid=tid, name=name))
    return render(request, "a2p/exsitu_assessment.html", _assessment_ctx(access, a))


# =================================================================================================
# saving a step
# =================================================================================================
def _who_field(rec: dict[str, Any]) -> str:
    return f"ex situ assessment of {rec.get('scientific_name') or rec.get('taxon_id')}"


def _named(change: Any, field: str, ids: list[str]) -> dict[str, Any]:
    """``change()``, with an error's field written as the form shows it: ``feasibility.husbandry.score``
    rather than ``feasibility[3].score`` (the position in the list the form was read into)."""
    try:
        return change()
    except InputError as e:
        col = e.column or ""
        m = re.match(rf"^{field}\[(\d+)\](.*)$", col)
        if m is None or int(m.group(1)) >= len(ids):
            raise
        raise InputError(
            e.file, e.message, column=f"{field}.{ids[int(m.group(1))]}{m.group(2)}", value=e.value
        ) from None


def _apply(step: str, rec: dict[str, Any], p: QueryDict, user: str) -> tuple[dict[str, Any], str]:
    """The record with ``step`` changed as the form says, and a note for the user (may be "")."""
    from assess2plan.exsitu import assessment as ea
    from assess2plan.exsitu import guidelines

    if step == "status":
        return ea.set_notes(
            rec, **{k: p.get(k, "") for k in ("in_situ_summary", "ex_situ_summary", "notes")}
        ), ""
    if step == "roles":
        threats = [t["code"] for t in (rec.get("status") or {}).get("threats") or []]
        ids = [r.id for r in guidelines.roles()]
        for key in p:  # roles the form names that the guidelines do not: refused by validate
            parts = key.split("__")
            if len(parts) >= 3 and parts[0] == "role" and parts[1] not in ids:
                ids.append(parts[1])
        roles = []
        for rid in ids:
            prefix = f"role__{rid}__"
            codes = list(threats)
            codes += [k[len(prefix + "threat__") :] for k in p if k.startswith(prefix + "threat__")]
            links = [
                {"code": c, "link": p.get(prefix + "threat__" + c, "").strip()}
                for c in dict.fromkeys(codes)
                if p.get(prefix + "threat__" + c, "").strip()
            ]
            considered = prefix + "considered" in p
            rationale = p.get(prefix + "rationale", "").strip()
            if considered or rationale or links:
                roles.append(
                    {"role": rid, "considered": considered, "threats": links, "rationale": rationale}
                )
        return _named(lambda: ea.set_step(rec, "roles", roles), "roles", [r["role"] for r in roles]), ""
    if step == "dimensions":
        values: dict[str, Any] = {k: (p.get(k, "").strip() or None) for k, _, _ in DIMENSION_INPUTS}
        values["notes"] = p.get("notes", "")
        return ea.set_step(rec, "dimensions", values), ""
    if step == "feasibility":
        ids = [f.id for f in guidelines.factors()]
        ids += [k[len("score__") :] for k in p if k.startswith("score__") and k[len("score__") :] not in ids]
        rows = []
        for fid in ids:
            score = p.get(f"score__{fid}", "").strip()
            rationale = p.get(f"rationale__{fid}", "").strip()
            if not score and rationale:
                raise InputError(
                    _who_field(rec),
                    f"give a score from 1 to 5 for {fid}, or clear its rationale",
                    column=f"feasibility.{fid}.score",
                    value=score,
                )
            if score:
                rows.append({"factor": fid, "score": score, "rationale": rationale})
        return _named(
            lambda: ea.set_step(rec, "feasibility", rows), "feasibility", [r["factor"] for r in rows]
        ), ""
    if step == "decision":
        outcome = p.get("outcome", "").strip().lower()
        if outcome not in ea.OUTCOMES:
            raise InputError(
                _who_field(rec),
                "choose the outcome: retain (some roles retained) or none (no ex situ role)",
                column="decision.outcome",
                value=outcome,
            )
        return ea.decide(rec, outcome, p.getlist("retain"), p.get("rationale", ""), user=user), ""
    if step == "translocation":
        kind = p.get("kind", "").strip()
        asked = (
            {i.id for i in guidelines.translocation_checklist(kind)}
            if kind in guidelines.TRANSLOCATION_KINDS
            else set()
        )
        known = {i.id for i in guidelines.translocation_checklist()}
        items = dict.fromkeys(k.split("__")[1] for k in p if k.startswith("tr__") and k.count("__") == 2)
        answers, dropped = {}, []
        for item in items:
            a = {f: p.get(f"tr__{item}__{f}", "").strip() for f in ("answer", "risk", "note")}
            if not any(a.values()):
                continue
            if kind and item in known and item not in asked:
                dropped.append(item)  # asked for the kind the form showed, not for the new one
                continue
            answers[item] = a
        note = ""
        if dropped:
            note = (
                f"{len(dropped)} answer{'s' if len(dropped) != 1 else ''} not kept: not asked for "
                f"{guidelines.TRANSLOCATION_KIND_LABELS.get(kind, kind)} ({', '.join(dropped)})."
            )
        return ea.set_translocation(rec, kind, answers, notes=p.get("notes", ""), merge=False), note
    raise Http404("no such step")


def _conflict_text(a: dict[str, Any], seen: int) -> str:
    return (
        f"Not saved: {a['updated_by']} saved this assessment meanwhile (now version {a['version']}, your "
        f"form was made from version {seen}). Nothing was written. The page now shows the saved version: "
        "check it and make your change again."
    )


@login_required
@require_POST
def exsitu_step(request: HttpRequest, slug: str, taxon_id: str, step: str) -> HttpResponse:
    """Save one step of the assessment made against the version the form carries (409 when it is
    stale, 400 for bad input; nothing is written in either case)."""
    if step not in STEP_ACTIONS:
        raise Http404("no such step")
    access = require(request, slug, STEP_ACTIONS[step])
    tid = _resolve_or_404(slug, taxon_id)
    cur = _find(slug, tid)
    if cur is None:
        raise Http404("no ex situ assessment of this species yet")
    p = request.POST
    section = "status" if step == "refresh" else step
    try:
        seen = int(p.get("version", ""))
    except ValueError:
        return _step_answer(
            request,
            access,
            cur,
            step,
            400,
            error="Not saved: the form lacks the version it was made from; reload the page.",
            posted=p,
        )
    if seen != cur["version"]:
        return _step_answer(request, access, cur, step, 409, error=_conflict_text(cur, seen))
    try:
        if step == "refresh":
            saved = store.refresh_exsitu_status(slug, tid, expected_version=seen, user=_user(request))
            note = "Step 1 pre-filled again from the current data, holdings and CITES listing."
        else:
            rec, note = _apply(step, cur["record"], p, _user(request))
            saved = store.save_exsitu_step(slug, tid, step, rec, expected_version=seen, user=_user(request))
    except store.VersionConflict:
        latest = _find(slug, tid) or cur
        return _step_answer(request, access, latest, step, 409, error=_conflict_text(latest, seen))
    except A2PError as e:
        return _step_answer(request, access, cur, step, 400, error=f"Not saved: {e}", posted=p)
    done = f"Saved {section_label(section)} (version {saved['version']})."
    notice = f"{done} {note}".strip()
    if _htmx(request) and step != "refresh":
        return _step_answer(request, access, saved, step, 200, notice=notice)
    messages.success(request, notice)
    return redirect(reverse("exsitu-assessment", args=[slug, tid]) + f"#step-{section}")


def section_label(section: str) -> str:
    from assess2plan.exsitu.assessment import STEP_LABELS

    return STEP_LABELS.get(section, section)


def _step_answer(
    request: HttpRequest,
    access: Access,
    a: dict[str, Any],
    step: str,
    status: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    posted: QueryDict | None = None,
) -> HttpResponse:
    """The answer to a save. HTMX: the step's section (200 and 400; with the version, progress and
    history of the page updated out of band), or every step again (409: the page was stale).
    Without JavaScript: the whole page."""
    ctx = _assessment_ctx(access, a, posted_step=step, posted=posted, error=error, notice=notice)
    section = "status" if step == "refresh" else step
    if not _htmx(request):
        return render(request, "a2p/exsitu_assessment.html", ctx, status=status)
    if status == 409:  # every step again, from the saved version
        ctx.update(section=section, conflict=True, oob=True, oob_versions=[])
        resp = HttpResponse(
            render_to_string("a2p/_exsitu_step_answer.html", ctx, request=request), status=409
        )
        resp["HX-Retarget"] = "#exsitu-steps"
        resp["HX-Reswap"] = "outerHTML"
        return resp
    # saved: the other forms of the page carry the new version (their unsaved entries stay)
    inside = {section, "refresh"} if section == "status" else {section}
    if section == "roles":
        inside.add("decision")  # shown again: the roles it can retain changed
    others = [s for s in STEP_ACTIONS if s not in inside]
    ctx.update(section=section, oob=status == 200, oob_versions=others)
    return HttpResponse(render_to_string("a2p/_exsitu_step_answer.html", ctx, request=request), status=status)


# =================================================================================================
# the decision report
# =================================================================================================
@login_required
def exsitu_report(request: HttpRequest, slug: str, taxon_id: str, fmt: str) -> HttpResponse:
    """The decision report (``report.pdf``: a download; ``report.html``: shown in the browser)."""
    from assess2plan.report.exsitu import decision_report_html
    from assess2plan.report.render import write_pdf

    access = require(request, slug, "read")
    if fmt not in ("pdf", "html"):
        raise Http404("the decision report is a PDF or an HTML file")
    tid = _resolve_or_404(slug, taxon_id)
    a = _find(slug, tid)
    if a is None:
        raise Http404("no ex situ assessment of this species yet")
    history = [{k: v for k, v in h.items() if k != "record"} for h in store.assessment_history(slug, tid)]
    name = access.project.name or slug
    try:
        html = decision_report_html(a["record"], project=name, history=history, generated_by=_user(request))
        if fmt == "html":
            resp = HttpResponse(html, content_type="text/html; charset=utf-8")
            resp["Content-Disposition"] = f'inline; filename="{slug}-{tid}-exsitu-decision.html"'
            return resp
        with tempfile.TemporaryDirectory(prefix="a2p-exsitu-") as tmp:
            body = write_pdf(html, Path(tmp) / "report.pdf").read_bytes()
    except A2PError as e:
        ctx = _assessment_ctx(access, a)
        ctx["report_error"] = f"No report: {e}"
        return render(request, "a2p/exsitu_assessment.html", ctx, status=400)
    resp = HttpResponse(body, content_type="application/pdf")
    resp["Content-Disposition"] = f'attachment; filename="{slug}-{tid}-exsitu-decision.pdf"'
    return resp
