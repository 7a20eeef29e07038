"""Pages for running a project: imports (background jobs with progress), sensitive taxa,
stakeholders (list, add, edit, CSV import, Red List experts, suggestions) and commitments (sign-up
for an action, progress, export of "actions in place" updates).

Every read and write goes through ``assess2plan.store`` and the same planning functions as the
command line (``a2p import``, ``a2p stakeholder``, ``a2p suggest``, ``a2p commit``). Who may do
what: viewers read; facilitators and admins import, sign stakeholders up for actions and edit
stakeholders and commitments (a stakeholder taking on an action is a planning decision); only
admins see and change the sensitive-taxa list.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from assess2plan import store
from assess2plan.errors import A2PError
from assess2plan.planning.triage import BUCKET_LABELS
from assess2plan.web.app import derived
from assess2plan.web.app import imports as jobs
from assess2plan.web.app.access import Access, require
from assess2plan.web.app.models import ImportJob
from assess2plan.web.store.planning import COMMITMENT_STATUSES, STAKEHOLDER_FIELDS

#: import jobs listed on the imports page
JOBS_SHOWN = 30
#: warnings of an import shown on its page (all are kept in the job's result)
WARNINGS_SHOWN = 200
#: expert rows shown at once on the experts page
EXPERTS_SHOWN = 300
#: taxa offered in the sign-up form's list (larger projects: type the id or name)
TAXA_LISTED = 3000
#: the stakeholder fields a form edits (the store's, but where the record came from)
STAKEHOLDER_FORM_FIELDS = tuple(f for f in STAKEHOLDER_FIELDS if f != "source")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")


def _ctx(access: Access | None, **extra: Any) -> dict[str, Any]:
    return {"access": access, "project": access.project if access else None, **extra}


def _who(request: HttpRequest) -> str:
    return request.user.get_username()


def _conflict_text(e: Exception) -> str:
    return f"Not saved: someone changed this meanwhile. {e}"


# =================================================================================================
# imports
# =================================================================================================
def _job_view(job: ImportJob) -> dict[str, Any]:
    """What the job panel shows: live progress while it runs, counts and warnings when done."""
    status, stage, done, total = job.status, job.stage, job.done, job.total
    live = jobs.live_progress(job.id)
    if live and status in ("queued", "running"):
        status = live.get("status", status) if live.get("status") in ("queued", "running") else status
        stage = live.get("stage", stage)
        done, total = live.get("done", done), live.get("total", total)
    active = status in ("queued", "running")
    # not running in this process and older than it: the server stopped during the import
    orphaned = active and not jobs.is_live(job.id) and job.created_at < jobs.PROCESS_STARTED
    result = jobs.job_result(job)
    options = result.get("options") or {}
    rows = []
    if status == "done":
        read, added, now = result.get("read") or {}, result.get("added") or {}, result.get("counts") or {}
        for table in read:
            rows.append(
                {
                    "table": table,
                    "read": read.get(table, 0),
                    "added": added.get(table, 0),
                    "now": now.get(table),
                }
            )
    issues = result.get("issues") or []
    return {
        "id": job.id,
        "slug": job.project_slug,
        "status": status,
        "stage": stage or status,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else None,
        "active": active,
        "polling": active and not orphaned,
        "orphaned": orphaned,
        "files": [f for f in job.files.splitlines() if f],
        "user": job.user.get_username() if job.user else "",
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "message": job.message,
        "unchanged": result.get("unchanged"),
        "replaced": result.get("replaced") or 0,
        "kept_history": result.get("kept_history") or 0,
        "species": (result.get("counts") or {}).get("species"),
        "rows": rows,
        "issues": issues[:WARNINGS_SHOWN],
        "issues_total": len(issues),
        "new_project": bool(options.get("new_project")),
        "project_name": options.get("project_name") or "",
        "sensitive_given": options.get("sensitive") or [],
        "sensitive_flagged": result.get("sensitive_flagged") or [],
    }


def _source_names(sources: list[dict[str, Any]]) -> list[str]:
    """The files of an import as the user knows them: "download.zip" for its members, else the names."""
    names: list[str] = []
    for src in sources:
        path = str(src.get("path") or "")
        if not path:
            continue
        name = Path(path.split("!/", 1)[0]).name if "!/" in path else Path(path).name
        if name not in names:
            names.append(name)
    return names


def _imports_page(
    request: HttpRequest,
    access: Access,
    *,
    job: ImportJob | None = None,
    error: str | None = None,
    form: Any = None,
    status: int = 200,
) -> HttpResponse:
    slug = access.project.slug
    recent = [
        _job_view(j) for j in ImportJob.objects.filter(project_slug=slug).select_related("user")[:JOBS_SHOWN]
    ]
    datasets = list(reversed(store.list_datasets(slug)))
    for d in datasets:
        d["files"] = ", ".join(_source_names(d.get("sources") or []))
        d["assessments"] = (d.get("counts") or {}).get("assessments", 0)
    ctx = _ctx(
        access,
        job=_job_view(job) if job else None,
        jobs=recent,
        datasets=datasets,
        can_import=access.can("decide"),
        error=error,
        form=form or {},
    )
    return render(request, "a2p/imports.html", ctx, status=status)


@login_required
def imports(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's imports (viewers+) and the upload form (facilitators+): files are saved and
    the import runs as a background job; the browser is sent to the job's page."""
    if request.method == "POST":
        access = require(request, slug, "decide")
        try:
            taxa = jobs.parse_taxa_list(request.POST.get("sensitive", ""))
            job = jobs.create_job(
                slug,
                request.user,
                request.FILES.getlist("files"),
                sensitive=taxa,
                sensitive_reason=request.POST.get("sensitive_reason", ""),
            )
        except A2PError as e:
            return _imports_page(request, access, error=f"Not started: {e}", form=request.POST, status=400)
        jobs.start(job)
        return redirect("import-job", slug=slug, job_id=job.id)
    access = require(request, slug, "read")
    return _imports_page(request, access)


def _job_access(request: HttpRequest, slug: str, job_id: int) -> tuple[Access | None, ImportJob]:
    """(access, job): members who may read the project see its jobs; the staff member who started
    a "new project" job sees it before the project exists (or when it failed)."""
    job = ImportJob.objects.filter(pk=job_id, project_slug=slug).select_related("user").first()
    try:
        access = require(request, slug, "read")
    except Http404:
        own = job is not None and job.user_id == request.user.id
        if (
            own
            and jobs.job_options(job).get("new_project")
            and (request.user.is_staff or request.user.is_superuser)
        ):
            return None, job
        raise
    if job is None:
        raise Http404("no such import in this project")
    return access, job


@login_required
def import_job(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """One import job: the panel alone for HTMX polling (every second while it runs), else the page."""
    access, job = _job_access(request, slug, job_id)
    view = _job_view(job)
    if request.headers.get("HX-Request"):
        return render(
            request, "a2p/_ops_job.html", {"job": view, "project": access.project if access else None}
        )
    if access is None:
        return render(request, "a2p/import_new.html", _new_project_ctx(request, job=view))
    return _imports_page(request, access, job=job)


def _may_create_projects(request: HttpRequest) -> None:
    if not (request.user.is_superuser or request.user.is_staff):
        raise PermissionDenied("only staff members make new projects (ask an administrator)")


def _new_project_ctx(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    mine = [
        _job_view(j)
        for j in ImportJob.objects.filter(user=request.user).select_related("user")[:JOBS_SHOWN]
        if jobs.job_options(j).get("new_project")
    ]
    return {"access": None, "project": None, "jobs": mine, "form": {}, "error": None, "job": None, **extra}


@login_required
def import_new(request: HttpRequest) -> HttpResponse:
    """A new project made by importing Red List data into it (staff and superusers). The maker
    becomes the project's admin."""
    from assess2plan.web.store.models import Project

    _may_create_projects(request)
    if request.method != "POST":
        return render(request, "a2p/import_new.html", _new_project_ctx(request))
    p = request.POST
    slug = p.get("slug", "").strip()
    try:
        if not _SLUG.match(slug):
            raise A2PError(
                f"project id {slug!r}: use 1 to 100 letters, digits, '-' or '_' (no spaces); "
                "it is part of the pages' addresses"
            )
        if Project.objects.filter(slug=slug).exists():
            raise A2PError(f"project {slug!r} exists already; import into it from its Imports page")
        if ImportJob.objects.filter(project_slug=slug, status__in=("queued", "running")).exists():
            raise A2PError(f"an import into {slug!r} is under way already; wait for it to end")
        job = jobs.create_job(
            slug,
            request.user,
            request.FILES.getlist("files"),
            sensitive=jobs.parse_taxa_list(p.get("sensitive", "")),
            sensitive_reason=p.get("sensitive_reason", ""),
            new_project=True,
            project_name=p.get("name", ""),
        )
    except A2PError as e:
        ctx = _new_project_ctx(request, error=f"Not started: {e}", form=p)
        return render(request, "a2p/import_new.html", ctx, status=400)
    jobs.start(job)
    return redirect("import-job", slug=slug, job_id=job.id)


# =================================================================================================
# sensitive taxa (admins)
# =================================================================================================
@login_required
def sensitive(request: HttpRequest, slug: str) -> HttpResponse:
    """The taxa whose precise locations only some members see: list, flag, unflag (with reasons)."""
    access = require(request, slug, "manage")
    error, status = None, 200
    if request.method == "POST":
        p = request.POST
        try:
            if p.get("action") == "flag":
                df = store.flag_sensitive(
                    slug,
                    jobs.parse_taxa_list(p.get("taxa", "")),
                    p.get("reason", ""),
                    source="manual",
                    user=_who(request),
                )
                messages.success(request, f"{df.height} taxa flagged sensitive.")
            elif p.get("action") == "unflag":
                ids = store.unflag_sensitive(
                    slug, [p.get("taxon", "")], p.get("reason", ""), user=_who(request)
                )
                messages.success(request, f"Sensitive flag taken off {', '.join(ids) or 'nothing'}.")
            else:
                raise A2PError("unknown action (flag or unflag)")
            return redirect("sensitive", slug=slug)
        except A2PError as e:
            error, status = f"Not saved: {e}", 400
    df = store.list_sensitive(slug).sort("scientific_name", nulls_last=True)
    ctx = _ctx(access, rows=df.to_dicts(), error=error, form=request.POST if error else {})
    return render(request, "a2p/sensitive.html", ctx, status=status)


# =================================================================================================
# stakeholders
# =================================================================================================
def _stakeholder_rows(slug: str) -> list[dict[str, Any]]:
    rows = store.list_stakeholders(slug, details=True).to_dicts()
    for r in rows:
        for k in ("countries", "sites", "expertise"):
            r[k + "_list"] = [x for x in (r.get(k) or "").split("|") if x]
    return rows


def _stakeholders_page(
    request: HttpRequest,
    access: Access,
    *,
    error: str | None = None,
    import_error: str | None = None,
    form: Any = None,
    status: int = 200,
) -> HttpResponse:
    slug = access.project.slug
    sites = store.list_sites(slug).select("site_id", "name").to_dicts()
    ctx = _ctx(
        access,
        view="list",
        rows=_stakeholder_rows(slug),
        sites=sites,
        buckets=list(BUCKET_LABELS.items()),
        can_edit=access.can("decide"),
        error=error,
        import_error=import_error,
        form=form or {},
    )
    return render(request, "a2p/stakeholders.html", ctx, status=status)


@login_required
def stakeholders(request: HttpRequest, slug: str) -> HttpResponse:
    """The stakeholder list (viewers+) and the form to add one (facilitators+)."""
    if request.method == "POST":
        access = require(request, slug, "decide")
        p = request.POST
        try:
            s = store.add_stakeholder(
                slug,
                p.get("stakeholder_id", ""),
                p.get("name", ""),
                **{k: p.get(k, "") for k in STAKEHOLDER_FORM_FIELDS if k != "name"},
                user=_who(request),
            )
        except A2PError as e:
            return _stakeholders_page(request, access, error=f"Not saved: {e}", form=p, status=400)
        messages.success(request, f"Stakeholder {s['stakeholder_id']} ({s['name']}) added.")
        return redirect("stakeholders", slug=slug)
    return _stakeholders_page(request, require(request, slug, "read"))


def _upload_to_temp(upload: Any) -> Path:
    """An uploaded file saved under ``$A2P_HOME/uploads`` with its own (safe) name, so that error
    messages name the file the user chose."""
    import secrets

    folder = jobs.uploads_root() / f"csv-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    path = folder / jobs.safe_name(upload.name)
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


@login_required
@require_POST
def stakeholder_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Add or update stakeholders from a CSV file (as ``a2p stakeholder import``: all or nothing;
    the first bad row is named with its column and value)."""
    access = require(request, slug, "decide")
    upload = request.FILES.get("file")
    if upload is None:
        return _stakeholders_page(
            request, access, import_error="Not imported: choose a CSV file.", status=400
        )
    path = _upload_to_temp(upload)
    try:
        r = store.import_stakeholders(slug, path, user=_who(request))
    except A2PError as e:
        text = str(e).replace(str(path), upload.name).replace(str(path.parent) + "/", "")
        return _stakeholders_page(
            request,
            access,
            import_error=f"Not imported: {text}. Nothing was imported or changed.",
            status=400,
        )
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    messages.success(
        request,
        f"Stakeholders from {upload.name}: {len(r['added'])} added, {len(r['updated'])} updated, "
        f"{len(r['unchanged'])} unchanged.",
    )
    return redirect("stakeholders", slug=slug)


def _find_stakeholder(slug: str, sid: str) -> dict[str, Any]:
    df = store.list_stakeholders(slug, details=True)
    hit = df.filter(pl.col("stakeholder_id") == sid)
    if hit.height == 0:
        raise Http404("no such stakeholder in this project")
    return hit.row(0, named=True)


@login_required
def stakeholder(request: HttpRequest, slug: str, sid: str) -> HttpResponse:
    """One stakeholder: details, their commitments, and the edit form (facilitators+) with
    optimistic locking (a stale version gets 409 and changes nothing)."""
    access = require(request, slug, "decide" if request.method == "POST" else "read")
    current = _find_stakeholder(slug, sid)
    error, status, form = None, 200, None
    if request.method == "POST":
        p = request.POST
        try:
            seen = int(p.get("version", ""))
        except ValueError:
            seen = None
        if seen is None:
            error, status = "Not saved: the form lacks the version it was made from; reload the page.", 400
        else:
            try:
                s = store.update_stakeholder(
                    slug,
                    sid,
                    expected_version=seen,
                    user=_who(request),
                    **{k: p.get(k, "") for k in STAKEHOLDER_FORM_FIELDS},
                )
            except store.VersionConflict as e:
                error, status = _conflict_text(e), 409
            except A2PError as e:
                error, status = f"Not saved: {e}", 400
            else:
                messages.success(
                    request, f"Stakeholder {s['stakeholder_id']} saved (version {s['version']})."
                )
                return redirect("stakeholder", slug=slug, sid=sid)
        form = p
        current = _find_stakeholder(slug, sid)
    commitments = store.list_commitments(slug, stakeholder=sid)
    ctx = _ctx(
        access,
        view="edit",
        s=current,
        form=form or {k: current.get(k) or "" for k in STAKEHOLDER_FORM_FIELDS},
        form_version=(form or {}).get("version", current["version"]) if form else current["version"],
        commitments=_commitment_rows(commitments, access),
        sites=store.list_sites(slug).select("site_id", "name").to_dicts(),
        can_edit=access.can("decide"),
        error=error,
    )
    return render(request, "a2p/stakeholders.html", ctx, status=status)


_experts_lock = threading.Lock()
_experts_cache: dict[tuple[str, tuple], pl.DataFrame] = {}


def _experts(slug: str) -> pl.DataFrame:
    """``planning.experts_from_credits`` of the project's working set, kept per data version."""
    from assess2plan import planning

    key = (slug, derived.data_version(slug))
    with _experts_lock:
        df = _experts_cache.get(key)
        if df is None:
            df = planning.experts_from_credits(derived.project_set(slug))
            for k in [k for k in _experts_cache if k[0] == slug]:
                del _experts_cache[k]
            _experts_cache[key] = df
        return df


@login_required
def experts(request: HttpRequest, slug: str) -> HttpResponse:
    """The Red List experts of each species (assessors, reviewers, contributors... from the credits of
    its latest assessment), marked when they are on the stakeholder list already."""
    from assess2plan.planning.stakeholders import name_key

    access = require(request, slug, "read")
    q = request.GET.get("q", "").strip()
    df = _experts(slug)
    total_people = df["name"].n_unique() if df.height else 0
    if q:
        low = q.lower()
        df = df.filter(
            pl.col("name").str.to_lowercase().str.contains(low, literal=True)
            | pl.col("scientific_name").str.to_lowercase().str.contains(low, literal=True)
            | (pl.col("taxon_id") == q)
        )
    listed = {
        name_key(n): sid
        for sid, n in store.list_stakeholders(slug).select("stakeholder_id", "name").iter_rows()
        if n
    }
    rows = []
    for r in df.head(EXPERTS_SHOWN).iter_rows(named=True):
        r["stakeholder_id"] = listed.get(name_key(r["name"])) if r["name"] else None
        rows.append(r)
    ctx = _ctx(
        access,
        view="experts",
        q=q,
        rows=rows,
        matched=df.height,
        shown=len(rows),
        taxa=df["taxon_id"].n_unique() if df.height else 0,
        total_people=total_people,
    )
    return render(request, "a2p/stakeholders.html", ctx)


@login_required
def suggest(request: HttpRequest, slug: str) -> HttpResponse:
    """Who should take a planning bucket or a site forward (as ``a2p suggest --bucket/--site``):
    stakeholders by country, site and expertise, and the Red List experts of its species."""
    from assess2plan import planning

    access = require(request, slug, "read")
    bucket = request.GET.get("bucket", "").strip()
    site = request.GET.get("site", "").strip()
    sites = store.list_sites(slug)
    error, rows, what, status = None, None, None, 200
    try:
        limit = max(1, min(100, int(request.GET.get("limit") or 10)))
    except ValueError:
        limit = 10
    if bucket or site:
        try:
            if bucket and site:
                raise A2PError("choose a bucket or a site, not both")
            aset = derived.project_set(slug)
            people = store.list_stakeholders(slug)
            experts_df = _experts(slug)
            if bucket:
                df = planning.suggest_for_bucket(
                    people, derived.project_buckets(slug), bucket, aset, experts_df, limit=limit
                )
                what = f"bucket {BUCKET_LABELS.get(bucket, bucket)}"
            else:
                links = derived.site_links(slug)
                hidden = access.hidden_taxa()
                if hidden:  # the species at a site tell where sensitive species live
                    links = links.filter(~pl.col("taxon_id").is_in(sorted(hidden)))
                df = planning.suggest_for_site(people, site, links, sites, aset, experts_df, limit=limit)
                what = f"site {site}"
            rows = df.to_dicts()
        except A2PError as e:
            error, status = str(e), 400
    ctx = _ctx(
        access,
        view="suggest",
        bucket=bucket,
        site=site,
        limit=limit,
        buckets=list(BUCKET_LABELS.items()),
        sites=sites.select("site_id", "name").to_dicts(),
        rows=rows,
        what=what,
        error=error,
    )
    return render(request, "a2p/stakeholders.html", ctx, status=status)


# =================================================================================================
# commitments
# =================================================================================================
def _names(slug: str, taxon_ids: Iterable[str | None]) -> dict[str, str]:
    """Scientific names of a few taxa (their latest assessments), read from the store."""
    ids = sorted({t for t in taxon_ids if t})
    if not ids:
        return {}
    df = store.load_assessments_frame(slug, taxon_ids=ids, latest_only=True)
    return {t: n for t, n in df.select("taxon_id", "scientific_name").iter_rows() if n}


def _commitment_rows(df: pl.DataFrame, access: Access) -> list[dict[str, Any]]:
    """Commitment rows for a page, with the species' names; the place of a commitment for a
    sensitive species is hidden from members who may not see where it lives."""
    hidden = access.hidden_taxa()
    rows = df.to_dicts()
    names = _names(access.project.slug, (r.get("taxon_id") for r in rows))
    for r in rows:
        r["scientific_name"] = names.get(r.get("taxon_id") or "")
        r["place_hidden"] = bool(r.get("taxon_id") in hidden and r.get("place"))
        if r["place_hidden"]:
            r["place"] = None
    return rows


def _action_choices() -> list[dict[str, Any]]:
    """The conservation actions scheme as option groups: [{code, name, options: [(code, name)]}]."""
    from assess2plan.schemes import scheme

    groups: list[dict[str, Any]] = []
    for code, name, _parent, level in (
        scheme("conservation_actions").select("code", "name", "parent", "level").iter_rows()
    ):
        if level == 1:
            groups.append({"code": code, "name": name, "options": [(code, name)]})
        elif groups:
            groups[-1]["options"].append((code, name))
    return groups


def _in_action(code: str | None, wanted: str) -> bool:
    return bool(code) and (code == wanted or code.startswith(wanted + "."))


@login_required
def commitments(request: HttpRequest, slug: str) -> HttpResponse:
    """The commitments — overdue ones first, then the open ones by due date, then those done or
    dropped — filtered by status, stakeholder, action (a code and the codes under it) and overdue."""
    from assess2plan.schemes import normalise_code

    access = require(request, slug, "read")
    g = request.GET
    f = {k: g.get(k, "").strip() for k in ("status", "stakeholder", "action")}
    f["overdue"] = g.get("overdue", "") == "1"
    error, status = None, 200
    try:
        df = store.list_commitments(
            slug, stakeholder=f["stakeholder"] or None, status=f["status"] or None, overdue_only=f["overdue"]
        )
    except A2PError as e:
        error, status = str(e), 400
        df = store.list_commitments(slug).clear()
    if f["action"]:
        code = normalise_code(f["action"]) or f["action"]
        df = df.filter(
            pl.col("action_code").map_elements(lambda c: _in_action(c, code), return_dtype=pl.Boolean)
        )
    # overdue first, then the open ones by due date, then the done and dropped ones
    df = df.with_columns(
        pl.col("commitment_id").str.extract(r"(\d+)$").cast(pl.Int64, strict=False).alias("_n"),
        pl.col("status").is_in(["done", "dropped"]).alias("_closed"),
    )
    df = df.sort(
        ["overdue", "_closed", "due_date", "_n"], descending=[True, False, False, False], nulls_last=True
    ).drop("_n", "_closed")
    overdue = int(df["overdue"].sum()) if df.height else 0
    ctx = _ctx(
        access,
        rows=_commitment_rows(df, access),
        f=f,
        overdue=overdue,
        statuses=COMMITMENT_STATUSES,
        stakeholders=store.list_stakeholders(slug).select("stakeholder_id", "name").to_dicts(),
        action_groups=_action_choices(),
        can_edit=access.can("decide"),
        error=error,
        today=timezone.now().date(),
    )
    return render(request, "a2p/commitments.html", ctx, status=status)


def _signup_ctx(access: Access, form: Any, error: str | None) -> dict[str, Any]:
    slug = access.project.slug
    taxa = []
    if store.sheet_count(slug) <= TAXA_LISTED:
        taxa = store.query_sheet(slug, limit=TAXA_LISTED).select("taxon_id", "scientific_name").to_dicts()
    return _ctx(
        access,
        view="signup",
        form=form,
        error=error,
        stakeholders=store.list_stakeholders(slug).select("stakeholder_id", "name").to_dicts(),
        action_groups=_action_choices(),
        statuses=COMMITMENT_STATUSES,
        taxa=taxa,
    )


@login_required
def commitment_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Sign a stakeholder up for a conservation action (facilitators+; who and when are recorded).
    The form can be opened with ``?taxon=...&cluster=...&action=...&stakeholder=...`` filled in."""
    access = require(request, slug, "decide")
    if request.method != "POST":
        form = {
            k: request.GET.get(k, "")
            for k in ("stakeholder", "action", "taxon", "cluster", "place", "due", "note")
        }
        return render(request, "a2p/commitment.html", _signup_ctx(access, form, None))
    p = request.POST
    try:
        c = store.sign_up(
            slug,
            p.get("stakeholder", ""),
            p.get("action", ""),
            taxon=p.get("taxon", "").strip() or None,
            cluster_id=p.get("cluster", "").strip() or None,
            place=p.get("place", ""),
            due_date=p.get("due", "").strip() or None,
            status=p.get("status", "") or "proposed",
            note=p.get("note", ""),
            user=_who(request),
        )
    except A2PError as e:
        return render(request, "a2p/commitment.html", _signup_ctx(access, p, f"Not saved: {e}"), status=400)
    messages.success(
        request,
        f"Commitment {c['commitment_id']}: {c['stakeholder_name']} - "
        f"{c['action_code']} {c['action_name'] or ''}.",
    )
    return redirect("commitment", slug=slug, cid=c["commitment_id"])


@login_required
def commitment(request: HttpRequest, slug: str, cid: str) -> HttpResponse:
    """One commitment with its notes history (who, when, status after); facilitators+ change its
    status, add a progress note or move its due date or place, against the version they saw."""
    access = require(request, slug, "decide" if request.method == "POST" else "read")
    try:
        current = store.get_commitment(slug, cid)
    except A2PError:
        raise Http404("no such commitment in this project") from None
    hidden = current.get("taxon_id") in access.hidden_taxa()
    error, status, form = None, 200, None
    if request.method == "POST":
        p = request.POST
        form = p
        try:
            seen = int(p.get("version", ""))
        except ValueError:
            seen = None
        changes: dict[str, Any] = {}
        if p.get("status") and p["status"] != current["status"]:
            changes["status"] = p["status"]
        due = p.get("due", "").strip()
        if due and due != (current["due_date"].isoformat() if current["due_date"] else ""):
            changes["due_date"] = due
        if not hidden and "place" in p and p["place"].strip() != (current["place"] or ""):
            changes["place"] = p["place"]
        if p.get("note", "").strip():
            changes["note"] = p["note"]
        if seen is None:
            error, status = "Not saved: the form lacks the version it was made from; reload the page.", 400
        elif not changes:
            error, status = (
                "Nothing to save: change the status, due date or place, or write a progress note.",
                400,
            )
        else:
            try:
                c = store.update_commitment(
                    slug, current["commitment_id"], expected_version=seen, user=_who(request), **changes
                )
            except store.VersionConflict as e:
                error, status = _conflict_text(e), 409
            except A2PError as e:
                error, status = f"Not saved: {e}", 400
            else:
                messages.success(
                    request, f"Commitment {c['commitment_id']} saved: {c['status']} (version {c['version']})."
                )
                return redirect("commitment", slug=slug, cid=c["commitment_id"])
        current = store.get_commitment(slug, cid)
    row = {**current, "place_hidden": bool(hidden and current.get("place"))}
    if hidden:
        row["place"] = None
    notes = store.commitment_notes(slug, current["commitment_id"]).to_dicts()
    ctx = _ctx(
        access,
        view="detail",
        c=row,
        notes=list(reversed(notes)),
        form=form or {},
        form_version=(form.get("version") if form else None) or current["version"],
        statuses=COMMITMENT_STATUSES,
        can_edit=access.can("decide"),
        place_hidden=hidden,
        error=error,
        taxon_name=_taxon_name(slug, current.get("taxon_id")),
    )
    return render(request, "a2p/commitment.html", ctx, status=status)


def _hide_places(df: pl.DataFrame, slug: str, hidden: frozenset[str]) -> pl.DataFrame:
    """The export rows of sensitive species without the commitment's place in their texts."""
    if not hidden or df.height == 0:
        return df
    places = {
        c: p
        for c, t, p in store.list_commitments(slug).select("commitment_id", "taxon_id", "place").iter_rows()
        if p and t in hidden
    }
    if not places:
        return df
    rows = df.to_dicts()
    for r in rows:
        place = places.get(r.get("commitment_id") or "")
        if place and r.get("taxon_id") in hidden:
            for col in ("note", "progress"):
                if r.get(col):
                    r[col] = r[col].replace(place, "[place hidden]")
    return pl.DataFrame(rows, schema=df.schema)


def _taxon_name(slug: str, taxon_id: str | None) -> str | None:
    return _names(slug, [taxon_id]).get(taxon_id or "")


@login_required
def commitments_export(request: HttpRequest, slug: str) -> HttpResponse:
    """Proposed "conservation actions in place" updates (SIS InPlace fields) from the commitments, as
    CSV for the species' next assessments (``a2p commit export``); ``?status=done&status=active``."""
    access = require(request, slug, "read")
    statuses = tuple(s for s in request.GET.getlist("status") if s) or ("done",)
    bad = [s for s in statuses if s not in COMMITMENT_STATUSES]
    if bad:
        return HttpResponse(
            f"unknown status {bad[0]!r}; use {', '.join(COMMITMENT_STATUSES)}",
            status=400,
            content_type="text/plain",
        )
    include_unchanged = request.GET.get("include_unchanged") == "1"
    df = store.commitments_as_actions_in_place(slug, statuses=statuses, include_unchanged=include_unchanged)
    df = _hide_places(df, slug, access.hidden_taxa())
    resp = HttpResponse(df.write_csv(), content_type="text/csv; charset=utf-8")
    name = f"{slug}-actions-in-place-{date.today():%Y%m%d}.csv"
    resp["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp
