"""Review pages: consistency findings (with bulk fixes), threat clusters, the triage board and the
audit log of a project.

Every page reads through the functions the CLI uses: the findings are ``checks.check_frame`` (``a2p
check``), the clusters ``planning.threat_clusters`` / ``action_clusters`` (``a2p clusters``), the
buckets ``planning.triage`` with the facilitators' decisions applied (``a2p triage``), all kept per
data version by ``web.app.derived``; writes go through ``assess2plan.store`` (``edit_actions`` /
``undo_edit`` as ``a2p edit``, ``decide_bucket`` / ``undo_decision`` as ``a2p decide``) with the
user's login as the author.

Sensitive species (``Access.hidden_taxa()``): a user who may not see their precise locations never
sees the sites they are linked to — site-based reasons and evidence are redacted, their memberships
of site and subnational clusters are left out (and a cluster left too small disappears), site-link
entries of the audit log leave them out.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import polars as pl
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assess2plan import store
from assess2plan.checks.fixes import FIXABLE, evidence_of, fix_of, proposed_actions
from assess2plan.errors import A2PError
from assess2plan.planning.triage import BUCKET_LABELS, BUCKETS, DECISIONS, STATUSES
from assess2plan.web.app import derived
from assess2plan.web.app.access import Access, require

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: rows of each bucket shown on the board before "show all"
BUCKET_PREVIEW = 30
#: latest decisions listed under the board
DECISION_LOG_ROWS = 100
SEVERITIES = ("error", "warning", "info")
IMPACTS = ("Medium", "High", "Low", "any")
HIDDEN = "[hidden]"


class Refused(Exception):
    """A write the page refuses before calling the store (bad input 400, stale page 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- small helpers ------------------------------------------------------------------------------------
def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        n = default
    return max(lo, min(hi, n))


def _query(params: Mapping[str, Any], **extra: Any) -> str:
    """``?a=1&b=2`` of the non-empty values (lists repeat the key)."""
    pairs: list[tuple[str, Any]] = []
    for k, v in {**params, **extra}.items():
        if isinstance(v, list | tuple):
            pairs += [(k, x) for x in v if x not in ("", None)]
        elif v not in ("", None, False):
            pairs.append((k, v))
    return "?" + urlencode(pairs) if pairs else "?"


def _pages(total: int, page: int, size: int = PAGE_SIZE) -> dict[str, int]:
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    return {
        "page": page,
        "pages": pages,
        "first": (page - 1) * size + 1 if total else 0,
        "last": min(total, page * size),
        "offset": (page - 1) * size,
    }


def _aware(dt: datetime | None) -> datetime | None:
    """Times from the store's frames are naive UTC; from its models aware: all aware UTC here."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _htmx(request: HttpRequest) -> bool:
    """An HTMX request that wants a fragment (a history restore after "back" wants the whole page)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _who(request: HttpRequest) -> str:
    return request.user.get_username()


def _taxon_names(slug: str, taxon_ids: Iterable[str]) -> dict[str, str]:
    """Scientific names of taxa of the project (read straight from the store's taxon table)."""
    from assess2plan.web.store.models import Taxon

    ids = sorted({str(t) for t in taxon_ids if t})
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        out.update(
            Taxon.objects.filter(project__slug=slug, taxon_id__in=ids[i : i + 500])
            .exclude(scientific_name=None)
            .values_list("taxon_id", "scientific_name")
        )
    return out


class Redactor:
    """Replaces the sites of the project, and the subnational places of the hidden taxa, in texts
    about hidden taxa (site-based reasons and evidence name the sites a species is linked to)."""

    def __init__(self, slug: str, hidden: frozenset[str]) -> None:
        self.hidden = hidden
        self._re: re.Pattern[str] | None = None
        if not hidden:
            return
        words: set[str] = set()
        sites = store.list_sites(slug)
        for sid, name in sites.select("site_id", "name").iter_rows():
            words |= {w for w in (sid, name) if w and len(w) >= 2}
        occ = derived.project_set(slug).occurrence
        if occ.height:
            sub = occ.filter((pl.col("kind") == "subnational") & pl.col("taxon_id").is_in(list(hidden)))
            for code, name in sub.select("code", "name").iter_rows():
                words |= {w for w in (code, name) if w and len(w) >= 2}
        if words:
            alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            self._re = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")

    def text(self, value: str | None) -> str | None:
        if value is None or self._re is None:
            return value
        return self._re.sub(HIDDEN, value)

    def about(self, taxon_id: str | None, value: str | None) -> str | None:
        """``value`` redacted when it is about a hidden taxon."""
        return self.text(value) if taxon_id in self.hidden else value


# =====================================================================================================
# findings
# =====================================================================================================
def _evidence_items(ev: Any) -> list[tuple[str, str]]:
    """Evidence as (key, readable value) pairs; plain-text evidence as one pair."""
    if ev is None:
        return []
    if not isinstance(ev, dict):
        return [("", str(ev))]
    out = []
    for k, v in ev.items():
        if v is None or v == [] or v == "":
            continue
        if isinstance(v, list):
            text = ", ".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else str(x) for x in v)
        elif isinstance(v, dict):
            text = json.dumps(v, ensure_ascii=False)
        else:
            text = str(v)
        out.append((k, text))
    return out


def _finding_key(rule: str, taxon_id: str, ev: Any) -> str:
    """A stable id of a fixable finding: rule, taxon and the code it is about."""
    key = ""
    if isinstance(ev, dict):
        key = str(ev.get("threat") or ev.get("action") or "")
    return f"{rule}|{taxon_id}|{key}"


def _hide_places(
    row: dict[str, Any], ev: Any, hidden: frozenset[str], hidden_names: set[str], red: Redactor
) -> Any:
    """Same-place findings name places: a subnational place of a hidden taxon is hidden, and hidden
    taxa are left out of the examples of subnational places."""
    if row["rule"] != "same_place_threat_missing" or not isinstance(ev, dict):
        if row["taxon_id"] in hidden:
            row["message"] = red.text(row["message"])
        return ev
    if row["taxon_id"] in hidden:
        ev.pop("other_places", None)
        if ev.get("kind") == "subnational":
            row["message"] = row["message"].replace(str(ev.get("place")), HIDDEN)
            ev["place"] = HIDDEN
        row["message"] = red.text(row["message"])
    if ev.get("kind") == "subnational" and isinstance(ev.get("examples"), list):
        ev["examples"] = [x for x in ev["examples"] if x not in hidden_names]
    return ev


def _findings_context(access: Access, params: Mapping[str, Any]) -> dict[str, Any]:
    """The findings page: counts per rule and severity, the filtered page of findings, what the bulk
    fix would do for each fixable one and the revision of each species shown (optimistic locking)."""
    from assess2plan.checks import RULES

    slug = access.project.slug
    rule = str(params.get("rule") or "").strip()
    severity = str(params.get("severity") or "").strip()
    q = str(params.get("q") or "").strip()
    fixable = str(params.get("fixable") or "") in ("1", "on", "true")
    page = _int(params.get("page"), 1, 1, 10**7)
    size = _int(params.get("size"), PAGE_SIZE, 1, MAX_PAGE_SIZE)
    filters = {
        "rule": rule,
        "severity": severity,
        "q": q,
        "fixable": "1" if fixable else "",
        "size": str(size) if size != PAGE_SIZE else "",
    }
    ctx: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "filters": filters,
        "rules": sorted(RULES),
        "severities": SEVERITIES,
        "can_fix": access.can("edit"),
        "error": None,
        "rows": [],
        "total": 0,
        "selected": set(),
    }
    df = derived.project_findings(slug)
    skipped = df.filter(pl.col("taxon_id").is_null())
    ctx["skipped"] = skipped.select("rule", "message").to_dicts()
    df = df.filter(pl.col("taxon_id").is_not_null())
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    counts = (
        df.group_by("rule", "severity")
        .agg(pl.len().alias("findings"), pl.col("taxon_id").n_unique().alias("species"))
        .with_columns(pl.col("severity").replace_strict(rank, default=9, return_dtype=pl.Int32).alias("_r"))
        .sort(["_r", "findings", "rule"], descending=[False, True, False])
    )
    ctx["counts"] = [
        {
            **r,
            "title": getattr(RULES.get(r["rule"]), "title", ""),
            "fixable": r["rule"] in FIXABLE,
            "url": _query({**filters, "rule": r["rule"], "severity": "", "page": ""}),
        }
        for r in counts.drop("_r").iter_rows(named=True)
    ]
    ctx["all_findings"] = df.height
    ctx["all_species"] = df["taxon_id"].n_unique() if df.height else 0
    if rule and rule not in RULES:
        ctx["error"] = f"unknown rule {rule!r}; rules: {', '.join(sorted(RULES))}"
        return ctx
    if severity and severity not in SEVERITIES:
        ctx["error"] = f"unknown severity {severity!r}; use {', '.join(SEVERITIES)}"
        return ctx
    sel = df
    if rule:
        sel = sel.filter(pl.col("rule") == rule)
    if severity:
        sel = sel.filter(pl.col("severity") == severity)
    if q:
        sel = sel.filter(
            (pl.col("taxon_id") == q)
            | pl.col("scientific_name").str.to_lowercase().str.contains(q.lower(), literal=True)
        )
    if fixable:
        sel = sel.filter(pl.col("rule").is_in(list(FIXABLE)))
    paging = _pages(sel.height, page, size)
    shown = sel.slice(paging["offset"], size)
    hidden = access.hidden_taxa()
    red = Redactor(slug, hidden)
    hidden_names = set(_taxon_names(slug, hidden).values()) if hidden else set()
    fix_taxa = shown.filter(pl.col("rule").is_in(list(FIXABLE)))
    addressing = proposed_actions(df, fix_taxa["taxon_id"].to_list()) if fix_taxa.height else {}
    revisions: dict[str, int] = {}
    if fix_taxa.height:
        by_aid = store.revisions(slug, fix_taxa["assessment_id"].unique().to_list())
        tid_of = dict(fix_taxa.select("assessment_id", "taxon_id").iter_rows())
        revisions = {tid_of[a]: r for a, r in by_aid.items()}
    rows = []
    for r in shown.iter_rows(named=True):
        ev = evidence_of(r["evidence"])
        ev = _hide_places(r, ev, hidden, hidden_names, red)
        fix = fix_of(r["rule"], ev, addressing.get(r["taxon_id"], [])) if r["rule"] in FIXABLE else None
        if fix is not None and r["taxon_id"] not in revisions:
            fix = None  # no stored assessment to edit (should not happen)
        rows.append(
            {
                **r,
                "evidence_items": _evidence_items(ev),
                "fix": fix,
                "fid": _finding_key(r["rule"], r["taxon_id"], ev) if fix else "",
            }
        )
    ctx.update(
        rows=rows,
        total=sel.height,
        revisions=sorted(revisions.items()),
        prev_url=_query(filters, page=paging["page"] - 1) if paging["page"] > 1 else None,
        next_url=_query(filters, page=paging["page"] + 1) if paging["page"] < paging["pages"] else None,
        self_query=_query(filters, page=paging["page"] if paging["page"] > 1 else ""),
        **paging,
    )
    return ctx


def _render_findings(request: HttpRequest, ctx: dict[str, Any], status: int = 200) -> HttpResponse:
    template = "a2p/_findings_results.html" if _htmx(request) else "a2p/findings.html"
    return render(request, template, ctx, status=status if not ctx.get("error") else 400)


@login_required
def findings(request: HttpRequest, slug: str) -> HttpResponse:
    """The consistency findings of the project (``a2p check``), with counts per rule and severity,
    filters (rule, severity, species), pages; HTMX requests get the results fragment only."""
    access = require(request, slug, "read")
    return _render_findings(request, _findings_context(access, request.GET))


def _fix_plan(
    slug: str, post: Mapping[str, Any], fids: list[str]
) -> tuple[dict[tuple[str, str], list[str]], dict[str, int]]:
    """The edits a bulk fix makes: ``{(operation, code): [taxon ids]}`` and the revision of each
    species the page showed. Raises ``Refused`` (400 bad input, 409 stale page)."""
    if not fids:
        raise Refused(400, "Not saved: select at least one finding to fix.")
    wanted: dict[str, tuple[str, str]] = {}
    for fid in fids:
        parts = fid.split("|")
        if len(parts) != 3 or parts[0] not in FIXABLE or not parts[1]:
            raise Refused(400, f"Not saved: {fid!r} is not a finding this page can fix.")
        wanted[fid] = (parts[0], parts[1])
    df = derived.project_findings(slug)
    taxa = sorted({t for _, t in wanted.values()})
    current = df.filter(pl.col("rule").is_in(list(FIXABLE)) & pl.col("taxon_id").is_in(taxa))
    addressing = proposed_actions(df, taxa)
    index: dict[str, dict[str, Any]] = {}
    for r in current.iter_rows(named=True):
        ev = evidence_of(r["evidence"])
        index[_finding_key(r["rule"], r["taxon_id"], ev)] = {
            **r,
            "fix": fix_of(r["rule"], ev, addressing.get(r["taxon_id"], [])),
        }
    code_all = str(post.get("code_all") or "").strip()
    groups: dict[tuple[str, str], list[str]] = {}
    for fid, (_rule, tid) in wanted.items():
        f = index.get(fid)
        if f is None or f["fix"] is None:
            raise Refused(
                409,
                f"Not saved: the finding {fid.replace('|', ' ')} no longer stands — someone changed the "
                "data since the page was shown. Reload the page and select again.",
            )
        if f["fix"]["op"] == "remove":
            op, code = "remove", f["fix"]["code"]
        else:
            op, code = "add", code_all or str(post.get(f"code__{fid}") or "").strip()
            if not code:
                raise Refused(
                    400,
                    f"Not saved: say which action needed to add for {f['scientific_name'] or tid} "
                    f"({f['rule']}); or give one code for all selected additions.",
                )
        groups.setdefault((op, code), [])
        if tid not in groups[(op, code)]:
            groups[(op, code)].append(tid)
    for (op, code), tids in groups.items():
        if op == "add":
            both = set(tids) & set(groups.get(("remove", code), []))
            if both:
                raise Refused(
                    400,
                    f"Not saved: the selection both adds and removes {code} for {', '.join(sorted(both))}.",
                )
    expected: dict[str, int] = {}
    for tid in taxa:
        try:
            expected[tid] = int(str(post.get(f"rev__{tid}", "")))
        except ValueError:
            raise Refused(
                400, "Not saved: the form lacks the revision of the species it showed; reload the page."
            ) from None
    return groups, expected


@login_required
@require_POST
def findings_fix(request: HttpRequest, slug: str) -> HttpResponse:
    """Apply the suggested fixes of the selected findings (assessors and up): add or remove actions
    needed through ``store.edit_actions`` with the reason given, one edit per (operation, code),
    all in one transaction. The form carries the revision of each species the page showed: if any
    changed meanwhile the answer is 409 and nothing is saved."""
    from assess2plan.web.store.edits import EditConflict

    access = require(request, slug, "edit")
    post = request.POST
    fids = post.getlist("fix")
    reason = str(post.get("reason") or "").strip()
    note = str(post.get("note") or "").strip() or None
    status, error = 400, None
    results = []
    try:
        if not reason:
            raise Refused(400, "Not saved: a bulk fix needs a reason (it is recorded with the edit).")
        groups, expected = _fix_plan(slug, post, fids)
        with transaction.atomic():
            for (op, code), tids in groups.items():
                res = store.edit_actions(
                    slug,
                    operation=op,
                    code=code,
                    note=note if op == "add" else None,
                    taxa=tids,
                    reason=reason,
                    user=_who(request),
                    expected={t: expected[t] for t in tids},
                )
                for t in {c["taxon_id"] for c in res.changed}:
                    expected[t] += 1
                results.append(res)
    except Refused as e:
        status, error = e.status, str(e)
    except EditConflict as e:
        status, error = 409, f"Not saved: someone changed these species since the page was shown. {e}"
    except A2PError as e:
        status, error = 400, f"Not saved: {e}"
    if error is None:
        done = [r for r in results if r.edit_id is not None]
        verbs = {"add": "added", "remove": "removed"}
        parts = [
            f"edit {r.edit_id}: {r.code} {verbs[r.operation]} for {len(r.changed)} species" for r in done
        ]
        unchanged = sum(len(r.unchanged) for r in results)
        if parts:
            messages.success(
                request,
                "Fixes applied — "
                + "; ".join(parts)
                + (f" ({unchanged} already as asked)" if unchanged else "")
                + ". They can be undone from the audit log.",
            )
        else:
            messages.info(request, "Nothing to change: every selected species was already as asked.")
        return redirect(f"{_url('findings', slug)}{_query(_filters_of(post))}")
    ctx = _findings_context(access, post)
    ctx.update(
        fix_error=error,
        selected=set(fids),
        form_reason=reason,
        form_note=note or "",
        form_code_all=post.get("code_all", ""),
    )
    return render(request, "a2p/findings.html", ctx, status=status)


def _filters_of(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(params.get(k) or "") for k in ("rule", "severity", "q", "fixable", "size", "page")}


def _url(name: str, slug: str) -> str:
    from django.urls import reverse

    return reverse(name, args=[slug])


# =====================================================================================================
# clusters
# =====================================================================================================
def _hide_cluster_members(
    clusters: pl.DataFrame, members: pl.DataFrame, hidden: frozenset[str], min_size: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Without the hidden taxa's memberships of site and subnational clusters (they would tell
    where those species live); sizes recounted, clusters left too small dropped."""
    if not hidden or clusters.height == 0:
        return clusters, members
    precise = clusters.filter(pl.col("place_kind").is_in(["site", "subnational"]))["cluster_id"]
    drop = pl.col("cluster_id").is_in(precise.implode()) & pl.col("taxon_id").is_in(list(hidden))
    members = members.filter(~drop)
    sizes = members.group_by("cluster_id").agg(pl.len().cast(pl.Int32).alias("_n"))
    clusters = (
        clusters.join(sizes, on="cluster_id", how="left", maintain_order="left")
        .with_columns(pl.col("_n").fill_null(0).alias("size"))
        .drop("_n")
        .filter(pl.col("size") >= min_size)
        .with_row_index("_o")
        .sort(["size", "_o"], descending=[True, False])
        .drop("_o")
    )
    members = members.filter(pl.col("cluster_id").is_in(clusters["cluster_id"].implode()))
    return clusters, members


def _clusters_context(access: Access, params: Any) -> dict[str, Any]:
    from assess2plan.planning.clusters import DEFAULT_BY
    from assess2plan.planning.places import PLACE_KINDS

    slug = access.project.slug
    actions = str(params.get("actions") or "") in ("1", "on", "true")
    min_impact = str(params.get("min_impact") or "Medium").strip()
    by = [b for b in (params.getlist("by") if hasattr(params, "getlist") else params.get("by") or []) if b]
    if not by:
        by = list(DEFAULT_BY)
    level = _int(params.get("level"), 2, 0, 4)
    min_size = _int(params.get("min_size"), 2, 1, 10**6)
    categories = str(params.get("categories") if params.get("categories") is not None else "CR,EN,VU").strip()
    q = str(params.get("q") or "").strip()
    cluster = str(params.get("cluster") or "").strip()
    page = _int(params.get("page"), 1, 1, 10**7)
    options = {
        "actions": "1" if actions else "",
        "min_impact": min_impact,
        "by": by,
        "level": str(level),
        "min_size": str(min_size),
        "categories": categories,
        "q": q,
    }
    ctx: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "options": options,
        "kinds": PLACE_KINDS,
        "impacts": IMPACTS,
        "error": None,
        "rows": [],
        "members": None,
        "total": 0,
    }
    if min_impact not in IMPACTS:
        ctx["error"] = f"unknown impact {min_impact!r}; use {', '.join(IMPACTS)}"
        return ctx
    cats = tuple(c.strip() for c in categories.split(",") if c.strip()) or None
    kwargs: dict[str, Any] = {"by": tuple(by), "min_size": min_size, "categories": cats}
    try:
        if actions:
            c = derived.project_clusters(
                slug, actions=True, min_impact=None, action_level=level or None, **kwargs
            )
        else:
            c = derived.project_clusters(
                slug,
                min_impact=None if min_impact == "any" else min_impact,
                threat_level=level or None,
                **kwargs,
            )
    except A2PError as e:
        ctx["error"] = str(e)
        return ctx
    clusters, members = _hide_cluster_members(c.clusters, c.members, access.hidden_taxa(), min_size)
    if q:
        low = q.lower()
        clusters = clusters.filter(
            pl.any_horizontal(
                pl.col(k).fill_null("").str.to_lowercase().str.contains(low, literal=True)
                for k in ("cluster_id", "code", "code_name", "place", "place_name")
            )
        )
    paging = _pages(clusters.height, page)
    rows = clusters.slice(paging["offset"], PAGE_SIZE).to_dicts()
    for r in rows:
        r["url"] = _query(options, cluster=r["cluster_id"], page=paging["page"] if paging["page"] > 1 else "")
    ctx.update(
        rows=rows,
        total=clusters.height,
        species=members.filter(pl.col("cluster_id").is_in(clusters["cluster_id"].implode()))[
            "taxon_id"
        ].n_unique()
        if clusters.height
        else 0,
        prev_url=_query(options, page=paging["page"] - 1) if paging["page"] > 1 else None,
        next_url=_query(options, page=paging["page"] + 1) if paging["page"] < paging["pages"] else None,
        **paging,
    )
    if cluster:
        info = clusters.filter(pl.col("cluster_id") == cluster)
        if info.height == 0:
            ctx["members_error"] = f"no cluster {cluster!r} with these settings"
        else:
            ctx["cluster"] = info.row(0, named=True)
            ctx["members"] = members.filter(pl.col("cluster_id") == cluster).to_dicts()
    return ctx


@login_required
def clusters(request: HttpRequest, slug: str) -> HttpResponse:
    """Threat clusters (or, with ``actions``, action clusters) of the project as ``a2p clusters``
    gives them: options min impact, place kinds (by), level, min size, categories; a cluster's
    members with their reasons."""
    access = require(request, slug, "read")
    ctx = _clusters_context(access, request.GET)
    template = "a2p/_clusters_results.html" if _htmx(request) else "a2p/clusters.html"
    return render(request, template, ctx, status=400 if ctx["error"] else 200)


# =====================================================================================================
# triage
# =====================================================================================================
def _decision_rows(log: pl.DataFrame, names: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for d in log.iter_rows(named=True):
        d = dict(d)
        d["made_at"] = _aware(d["made_at"])
        d["undone_at"] = _aware(d["undone_at"])
        d["scientific_name"] = d["scientific_name"] or names.get(d["taxon_id"]) or d["taxon_id"]
        rows.append(d)
    return rows


def _in_effect(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The decision that counts (the latest not undone) of one taxon and bucket, oldest-first list."""
    live = [d for d in history if d["undone_at"] is None]
    return live[-1] if live else None


def _triage_context(access: Access, params: Mapping[str, Any]) -> dict[str, Any]:
    slug = access.project.slug
    q = str(params.get("q") or "").strip()
    status = str(params.get("status") or "").strip()
    bucket = str(params.get("bucket") or "").strip()
    page = _int(params.get("page"), 1, 1, 10**7)
    filters = {"q": q, "status": status, "bucket": bucket}
    ctx: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "filters": filters,
        "buckets": [(b, BUCKET_LABELS[b]) for b in BUCKETS],
        "statuses": STATUSES,
        "can_decide": access.can("decide"),
        "error": None,
        "sections": [],
        "page": page if bucket else "",
    }
    if status and status not in STATUSES:
        ctx["error"] = f"unknown status {status!r}; use {', '.join(STATUSES)}"
        status = filters["status"] = ""
    if bucket and bucket not in BUCKETS:
        ctx["error"] = f"unknown bucket {bucket!r}; use {', '.join(BUCKETS)}"
        bucket = filters["bucket"] = ""
    df = derived.project_buckets(slug)
    hidden = access.hidden_taxa()
    red = Redactor(slug, hidden)
    log = store.decision_log(slug)
    decisions = _decision_rows(log, {})
    history: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for d in decisions:
        history[(d["taxon_id"], d["bucket"])].append(d)
    summary = {b: {s: 0 for s in STATUSES} for b in BUCKETS}
    for b, s, n in df.group_by("bucket", "status").len().iter_rows():
        if b in summary and s in summary[b]:
            summary[b][s] = n
    sel = df
    if q:
        sel = sel.filter(
            (pl.col("taxon_id") == q)
            | pl.col("scientific_name").fill_null("").str.to_lowercase().str.contains(q.lower(), literal=True)
        )
    if status:
        sel = sel.filter(pl.col("status") == status)
    for b in BUCKETS if not bucket else (bucket,):
        part = sel.filter(pl.col("bucket") == b)
        n = part.height
        if bucket:
            paging = _pages(n, page)
            part = part.slice(paging["offset"], PAGE_SIZE)
        else:
            paging = None
            part = part.head(BUCKET_PREVIEW)
        rows = []
        for r in part.iter_rows(named=True):
            h = history.get((r["taxon_id"], b), [])
            current = _in_effect(h)
            rows.append(
                {
                    **r,
                    "rules": (r["rule"] or "").split("|") if r["rule"] else [],
                    "reason": red.about(r["taxon_id"], r["reason"]),
                    "evidence": red.about(r["taxon_id"], r["evidence"]),
                    "decided_at": _aware(r["decided_at"]),
                    "history": list(reversed(h)),
                    "seen": current["decision_id"] if current else "",
                    "others": [(o, BUCKET_LABELS[o]) for o in BUCKETS if o != b],
                }
            )
        section = {
            "bucket": b,
            "label": BUCKET_LABELS[b],
            "count": n,
            "summary": " · ".join(f"{k} {v}" for k, v in summary[b].items() if v),
            "rows": rows,
            "more_url": _query({**filters, "bucket": b}) if not bucket and n > len(rows) else None,
        }
        if paging:
            section.update(
                paging,
                prev_url=_query(filters, page=paging["page"] - 1) if paging["page"] > 1 else None,
                next_url=_query(filters, page=paging["page"] + 1)
                if paging["page"] < paging["pages"]
                else None,
            )
        ctx["sections"].append(section)
    ctx["log"] = list(reversed(decisions))[:DECISION_LOG_ROWS]
    ctx["log_total"] = len(decisions)
    ctx["species"] = df["taxon_id"].n_unique() if df.height else 0
    return ctx


def _render_triage(
    request: HttpRequest, access: Access, params: Mapping[str, Any], status: int = 200, **extra: Any
) -> HttpResponse:
    ctx = _triage_context(access, params)
    ctx.update(extra)
    if ctx["error"] and status == 200:
        status = 400
    template = "a2p/_triage_board.html" if _htmx(request) else "a2p/triage.html"
    return render(request, template, ctx, status=status)


@login_required
def triage(request: HttpRequest, slug: str) -> HttpResponse:
    """The triage board: the four planning buckets (``a2p triage``) with their species, rule,
    reason and status (facilitators' decisions applied), the history of each decision and the
    decision log. Facilitators accept, reject or add with a reason (HTMX)."""
    access = require(request, slug, "read")
    return _render_triage(request, access, request.GET)


def _filter_params(post: Mapping[str, Any]) -> dict[str, str]:
    """The board's filters sent along with an action (``f_q``, ``f_status``, ``f_bucket``, ``f_page``)."""
    return {k: str(post.get(f"f_{k}") or "") for k in ("q", "status", "bucket", "page")}


def _after_write(
    request: HttpRequest,
    access: Access,
    ok: str | None,
    error: str | None,
    status: int,
    note: str | None = None,
) -> HttpResponse:
    params = _filter_params(request.POST)
    if _htmx(request):
        return _render_triage(
            request, access, params, status=status, ok_message=ok, action_error=error, note=note
        )
    if error is None:
        messages.success(request, ok)
        if note:
            messages.warning(request, note)
        return redirect(f"{_url('triage', access.project.slug)}{_query(params)}")
    return _render_triage(request, access, params, status=status, action_error=error)


@login_required
@require_POST
def triage_decide(request: HttpRequest, slug: str) -> HttpResponse:
    """Record a bucket decision (facilitators and up): ``decision`` accept | reject (of ``bucket``)
    or add (to ``to_bucket``), with a required ``reason`` (empty: 400, nothing saved). Decisions are
    append-only: if someone else decided the same species and bucket since the page was shown, both
    are kept and the answer says so."""
    access = require(request, slug, "decide")
    p = request.POST
    taxon = str(p.get("taxon") or "").strip()
    decision = str(p.get("decision") or "").strip()
    bucket = str((p.get("to_bucket") if decision == "add" else p.get("bucket")) or "").strip()
    reason = str(p.get("reason") or "").strip()
    if not taxon or decision not in DECISIONS or bucket not in BUCKETS:
        return _after_write(
            request,
            access,
            None,
            "Not saved: say which species, which bucket and accept, reject or add.",
            400,
        )
    if not reason:
        return _after_write(
            request, access, None, "Not saved: give a reason — it is recorded with the decision.", 400
        )
    note = None
    try:
        before = _decision_rows(store.decision_log(slug, taxon=taxon), {})
        d = store.decide_bucket(slug, taxon, bucket, decision, reason, user=_who(request))
    except A2PError as e:
        return _after_write(request, access, None, f"Not saved: {e}", 400)
    current = _in_effect([x for x in before if x["bucket"] == d["bucket"]])
    seen = str(p.get("seen") or "")
    if "seen" in p and current is not None and current["decision_id"] != seen:
        note = (
            f"{current['made_by']} had decided “{current['decision']}” on this meanwhile "
            f"({current['reason']}); both decisions are kept in the history, yours is the latest."
        )
    who = d["scientific_name"] or d["taxon_id"]
    ok = f"Decision {d['decision_id']}: {d['decision']} {BUCKET_LABELS[d['bucket']]} for {who}."
    return _after_write(request, access, ok, None, 200, note)


@login_required
@require_POST
def triage_undo(request: HttpRequest, slug: str) -> HttpResponse:
    """Undo a bucket decision (facilitators and up): marked undone with who, when and why, never
    deleted; the previous decision on that species and bucket counts again."""
    from assess2plan.web.store.edits import EditConflict

    access = require(request, slug, "decide")
    p = request.POST
    try:
        d = store.undo_decision(
            slug,
            str(p.get("decision_id") or ""),
            reason=str(p.get("reason") or "").strip(),
            user=_who(request),
        )
    except EditConflict as e:
        return _after_write(request, access, None, f"Not undone: {e}", 409)
    except A2PError as e:
        return _after_write(request, access, None, f"Not undone: {e}", 400)
    who = d["scientific_name"] or d["taxon_id"]
    label = BUCKET_LABELS.get(d["bucket"], d["bucket"])
    ok = f"Decision {d['decision_id']} ({d['decision']} {label} for {who}) undone."
    return _after_write(request, access, ok, None, 200)


# =====================================================================================================
# audit log
# =====================================================================================================
AUDIT_KINDS = {
    "import": "Import",
    "edit": "Edit",
    "decision": "Bucket decision",
    "site": "Site",
    "event": "Site event",
    "stakeholder": "Stakeholder",
    "commitment": "Commitment",
    "sensitive": "Sensitive flag",
    "flag": "Re-assessment flag",
    "exsitu": "Ex situ",
}
#: species named in one grouped entry (a bulk link, flag...)
NAMED = 8


def _entry(
    kind: str, at: datetime | None, user: str | None, what: str, why: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "label": AUDIT_KINDS[kind],
        "at": _aware(at),
        "user": user or "unknown",
        "what": what,
        "why": why or "",
        **extra,
    }


def _named(ids: list[str], names: Mapping[str, str]) -> str:
    shown = [names.get(t) or t for t in ids[:NAMED]]
    more = len(ids) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _audit_entries(slug: str, hidden: frozenset[str], red: Redactor) -> list[dict[str, Any]]:
    """Everything people did in the project, newest first: imports, edits and undos, bucket
    decisions and their undos, sites and site links, site events, stakeholders, commitments and
    their progress notes, sensitive flags, re-assessment flags (made and cleared). Rows made
    together (a file of site links, the flags of one event) form one entry."""
    from assess2plan.web.store.models import (
        CommitmentNote,
        ReassessmentFlag,
        SensitiveTaxon,
        Site,
        SiteLink,
        Stakeholder,
    )

    out: list[dict[str, Any]] = []
    for d in store.list_datasets(slug):
        files = ", ".join(s.get("path", "").rsplit("/", 1)[-1] for s in d["sources"][:4])
        counts = d["counts"] or {}
        what = f"Import {d['id']} ({d['format'] or 'set'}): {counts.get('assessments', 0)} assessments added"
        if files:
            what += f" from {files}" + (
                f" and {len(d['sources']) - 4} more files" if len(d["sources"]) > 4 else ""
            )
        out.append(_entry("import", d["imported_at"], d["imported_by"], what, ref=f"import-{d['id']}"))
    for e in store.list_edits(slug):
        names = [c.get("scientific_name") or c.get("taxon_id") for c in e["changes"]]
        species = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
        if e["operation"] == "undo":
            what = f"Edit {e['id']}: undo of edit {e['undoes']} (action needed {e['code']}) for {species}"
        else:
            verb = "added" if e["operation"] == "add" else "removed"
            what = f"Edit {e['id']}: action needed {e['code']} {verb} for {len(names)} species: {species}"
            if e["undone_by"]:
                what += f" (undone by edit {e['undone_by']})"
        out.append(
            _entry(
                "edit",
                e["made_at"],
                e["made_by"],
                what,
                e["reason"],
                ref=f"edit-{e['id']}",
                edit_id=e["id"],
                undoable=e["operation"] != "undo" and not e["undone_by"],
            )
        )
    for d in _decision_rows(store.decision_log(slug), {}):
        desc = f"{d['decision']} {BUCKET_LABELS.get(d['bucket'], d['bucket'])} for {d['scientific_name']}"
        out.append(
            _entry(
                "decision",
                d["made_at"],
                d["made_by"],
                f"Decision {d['decision_id']}: {desc}",
                d["reason"],
                ref=f"decision-{d['decision_id']}",
            )
        )
        if d["undone_at"] is not None:
            out.append(
                _entry(
                    "decision",
                    d["undone_at"],
                    d["undone_by"],
                    f"Decision {d['decision_id']} undone ({desc})",
                    d["undo_reason"] or "",
                )
            )
    sites = list(Site.objects.filter(project__slug=slug).order_by("id"))
    for s in sites:
        out.append(_entry("site", s.made_at, s.made_by, f"Site {s.site_id} {s.name} added ({s.kind})"))
        if s.updated_at is not None:
            out.append(
                _entry(
                    "site",
                    s.updated_at,
                    s.updated_by,
                    f"Site {s.site_id} {s.name} changed (now version {s.version})",
                )
            )
    links = SiteLink.objects.filter(site__project__slug=slug).select_related("site")
    made: dict[tuple, list[str]] = defaultdict(list)
    removed: dict[tuple, list[str]] = defaultdict(list)
    for link in links.order_by("made_at", "id"):
        if link.taxon_id in hidden:
            continue
        made[(link.site.site_id, link.site.name, link.made_by, link.made_at, link.source)].append(
            link.taxon_id
        )
        if link.removed_at is not None:
            removed[(link.site.site_id, link.site.name, link.removed_by, link.removed_at)].append(
                link.taxon_id
            )
    taxa = {t for v in (*made.values(), *removed.values()) for t in v}
    flags = ReassessmentFlag.objects.filter(project__slug=slug)
    flag_rows = list(
        flags.values_list(
            "taxon_id", "reason", "event_id", "made_by", "made_at", "cleared_by", "cleared_at", "clear_reason"
        )
    )
    sens_rows = list(
        SensitiveTaxon.objects.filter(project__slug=slug).values_list(
            "taxon_id", "reason", "made_by", "made_at", "removed_by", "removed_at", "remove_reason"
        )
    )
    taxa |= {r[0] for r in flag_rows} | {r[0] for r in sens_rows}
    names = _taxon_names(slug, taxa)
    for (sid, sname, by, at, source), ids in made.items():
        out.append(
            _entry(
                "site",
                at,
                by,
                f"{len(ids)} species linked to site {sid} {sname} ({source}): {_named(ids, names)}",
            )
        )
    for (sid, sname, by, at), ids in removed.items():
        out.append(
            _entry(
                "site", at, by, f"{len(ids)} species unlinked from site {sid} {sname}: {_named(ids, names)}"
            )
        )
    for e in store.list_events(slug).iter_rows(named=True):
        what = (
            f"Event {e['event_id']} at site {e['site_id']} {e['site_name']}: {e['title']} ({e['severity']}); "
            f"{e['species']} species affected, {e['sent']} notifications sent, {e['failed']} failed"
        )
        out.append(_entry("event", e["made_at"], e["made_by"], what, e["description"] or ""))
    for s in Stakeholder.objects.filter(project__slug=slug).order_by("id"):
        out.append(
            _entry("stakeholder", s.made_at, s.made_by, f"Stakeholder {s.stakeholder_id} {s.name} added")
        )
        if s.updated_at is not None:
            out.append(
                _entry(
                    "stakeholder",
                    s.updated_at,
                    s.updated_by,
                    f"Stakeholder {s.stakeholder_id} {s.name} changed (now version {s.version})",
                )
            )
    notes = (
        CommitmentNote.objects.filter(commitment__project__slug=slug)
        .select_related("commitment", "commitment__stakeholder")
        .order_by("commitment_id", "made_at", "id")
    )
    first: set[int] = set()
    for n in notes:
        c = n.commitment
        target = " and ".join(
            x
            for x in (
                f"taxon {c.taxon_id}" if c.taxon_id else "",
                f"cluster {c.cluster_id}" if c.cluster_id else "",
            )
            if x
        )
        place = red.about(c.taxon_id, c.place) if c.place else ""
        if c.id not in first:
            first.add(c.id)
            what = (
                f"Commitment {c.commitment_id}: {c.stakeholder.name} signs up for action {c.action_code} "
                f"for {target}"
                + (f" at {place}" if place else "")
                + (f", due {c.due_date}" if c.due_date else "")
                + f" ({n.status_after})"
            )
        else:
            what = f"Commitment {c.commitment_id}: progress, now {n.status_after}"
        out.append(_entry("commitment", n.made_at, n.made_by, what, red.about(c.taxon_id, n.text) or ""))
    for tid, reason, by, at, rby, rat, rreason in sens_rows:
        who = names.get(tid) or tid
        out.append(
            _entry("sensitive", at, by, f"{who} flagged sensitive (precise locations restricted)", reason)
        )
        if rat is not None:
            out.append(_entry("sensitive", rat, rby, f"{who}: sensitive flag removed", rreason))
    grouped: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    cleared: dict[tuple, list[str]] = defaultdict(list)
    for tid, reason, event_id, by, at, cby, cat, creason in flag_rows:
        kind = (
            "outdated"
            if (reason or "").startswith("assessment outdated")
            else ("event" if event_id else "hand")
        )
        key = (by, at, event_id, kind if kind != "hand" else f"hand:{reason}")
        grouped[key].append((tid, reason))
        if cat is not None:
            cleared[(cby, cat, creason)].append(tid)
    for (by, at, event_id, kind), items in grouped.items():
        ids = [t for t, _ in items]
        if len(items) == 1:
            what = f"{names.get(ids[0]) or ids[0]} flagged for re-assessment"
            why = red.about(ids[0], items[0][1]) or ""
        else:
            what = f"{len(ids)} species flagged for re-assessment: {_named(ids, names)}"
            why = {"outdated": "assessment outdated", "event": f"site event {event_id}"}.get(
                kind, items[0][1]
            )
        if event_id and len(items) == 1:
            why = f"site event {event_id}: {why}"
        out.append(_entry("flag", at, by, what, why))
    for (by, at, reason), ids in cleared.items():
        out.append(
            _entry(
                "flag",
                at,
                by,
                f"Re-assessment flag cleared for {len(ids)} species: {_named(ids, names)}",
                reason,
            )
        )
    out += _exsitu_entries(slug)
    epoch = datetime.min.replace(tzinfo=UTC)
    out.sort(key=lambda e: e["at"] or epoch, reverse=True)
    return out


#: what a saved step of an ex situ assessment is called in the audit log
_EXSITU_STEPS = {
    "start": "started (step 1 pre-filled from the data)",
    "status": "step 1 (status review) saved",
    "roles": "step 2 (ex situ roles) saved",
    "dimensions": "step 3 (programme dimensions) saved",
    "feasibility": "step 4 (resources, expertise, feasibility, risks) saved",
    "decision": "step 5 decision recorded",
    "translocation": "translocation checklist saved",
    "refresh": "step 1 pre-filled again from current data",
}


def _exsitu_entries(slug: str) -> list[dict[str, Any]]:
    """Ex situ holdings / CITES imports and every saved version of an ex situ assessment."""
    from assess2plan.web.store.models import ExSituAssessmentChange, ExSituSource

    out: list[dict[str, Any]] = []
    for s in ExSituSource.objects.filter(project__slug=slug):
        name = s.path.rsplit("/", 1)[-1]
        what = (
            "Ex situ holdings" if s.kind == "holdings" else "CITES checklist"
        ) + f" imported: {s.rows} rows from {name}"
        out.append(_entry("exsitu", s.made_at, s.made_by, what))
        if s.replaced_at is not None:
            out.append(_entry("exsitu", s.replaced_at, s.replaced_by, f"{name} replaced by a newer file"))
    changes = ExSituAssessmentChange.objects.filter(assessment__project__slug=slug).select_related(
        "assessment"
    )
    for c in changes:
        rec = c.record or {}
        name = rec.get("scientific_name") or c.assessment.taxon_id
        what = f"Ex situ assessment of {name}: {_EXSITU_STEPS.get(c.step, c.step)} (version {c.version})"
        why = c.note
        if c.step == "decision":
            d = rec.get("decision") or {}
            roles = ", ".join(d.get("roles") or []) or "no ex situ role"
            why = (
                f"{'retain ' + roles if d.get('outcome') == 'retain' else roles}: {d.get('rationale') or ''}"
            )
        out.append(_entry("exsitu", c.made_at, c.made_by, what, why))
    return out


def _audit_context(access: Access, params: Mapping[str, Any]) -> dict[str, Any]:
    slug = access.project.slug
    kind = str(params.get("kind") or "").strip()
    user = str(params.get("user") or "").strip()
    page = _int(params.get("page"), 1, 1, 10**7)
    size = _int(params.get("size"), PAGE_SIZE, 1, MAX_PAGE_SIZE)
    filters = {"kind": kind, "user": user, "size": str(size) if size != PAGE_SIZE else ""}
    hidden = access.hidden_taxa()
    entries = _audit_entries(slug, hidden, Redactor(slug, hidden))
    users = sorted({e["user"] for e in entries})
    ctx: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "filters": filters,
        "kinds": list(AUDIT_KINDS.items()),
        "users": users,
        "can_undo": access.can("edit"),
        "error": None,
    }
    if kind and kind not in AUDIT_KINDS:
        ctx["error"] = f"unknown kind {kind!r}; use {', '.join(AUDIT_KINDS)}"
        kind = filters["kind"] = ""
    sel = [e for e in entries if (not kind or e["kind"] == kind) and (not user or e["user"] == user)]
    paging = _pages(len(sel), page, size)
    ctx.update(
        entries=sel[paging["offset"] : paging["offset"] + size],
        total=len(sel),
        prev_url=_query(filters, page=paging["page"] - 1) if paging["page"] > 1 else None,
        next_url=_query(filters, page=paging["page"] + 1) if paging["page"] < paging["pages"] else None,
        self_query=_query(filters, page=paging["page"] if paging["page"] > 1 else ""),
        **paging,
    )
    return ctx


@login_required
def audit(request: HttpRequest, slug: str) -> HttpResponse:
    """The audit log: one time-ordered list (newest first) of everything people did in the
    project, with who, when, what and why; filters by kind and user; HTMX gets the list only."""
    access = require(request, slug, "read")
    ctx = _audit_context(access, request.GET)
    template = "a2p/_audit_results.html" if _htmx(request) else "a2p/audit.html"
    return render(request, template, ctx, status=400 if ctx["error"] else 200)


@login_required
@require_POST
def audit_undo(request: HttpRequest, slug: str) -> HttpResponse:
    """Undo an edit (assessors and up) with a reason, through ``store.undo_edit``: refused (409,
    message shown, nothing changed) when it was undone already or a later edit changed the same
    species."""
    from assess2plan.web.store.edits import EditConflict

    access = require(request, slug, "edit")
    p = request.POST
    reason = str(p.get("reason") or "").strip()
    back = {k: str(p.get(f"f_{k}") or "") for k in ("kind", "user", "size", "page")}
    status, error = 400, None
    try:
        edit_id = int(str(p.get("edit_id") or ""))
    except ValueError:
        edit_id, error = None, "Not undone: which edit? (the form lacks its number)"
    if error is None and not reason:
        error = "Not undone: give a reason — it is recorded with the undo."
    if error is None:
        try:
            res = store.undo_edit(slug, edit_id, reason=reason, user=_who(request))
        except EditConflict as e:
            status, error = 409, f"Not undone: {e}"
        except A2PError as e:
            error = f"Not undone: {e}"
        else:
            messages.success(
                request,
                f"Edit {edit_id} undone by edit {res.edit_id}: {len(res.changed)} assessments restored.",
            )
            return redirect(f"{_url('audit', slug)}{_query(back)}")
    ctx = _audit_context(access, back)
    ctx.update(undo_error=error, undo_edit=edit_id)
    return render(request, "a2p/audit.html", ctx, status=status)
