"""Imports started from the web page, run in a background thread of the server process.

What the page does is what ``a2p import`` does: the uploaded files (Red List download zips, SIS
Connect CSV files or a zip of them, API v4 JSON files) are saved to a folder under
``$A2P_HOME/uploads``, read with ``assess2plan.io.read_redlist`` and written with
``store.import_set`` — one transaction, so on bad input *nothing* is imported and the job fails
with the message the command line gives (file, row, column and value). The folder is removed when
the job ends, whatever happened.

A job may carry a list of taxa to flag sensitive (taxon ids, assessment ids or scientific names).
The list is checked against the files just read and the taxa already in the project *before* the
import starts: a name that matches no taxon fails the job and nothing is imported. After the
import the taxa are flagged with ``store.flag_sensitive(..., source="import")``.

Progress: the job row (``ImportJob``: stage, done, total) is updated while the files are read and
after the import; while the import's transaction is open the database may not take another
writer (SQLite), so progress is also kept in this process (``live_progress``) and the page's
polling reads it from there.

The runner is chosen by the setting ``A2P_IMPORT_RUNNER``: ``"thread"`` (default; one import at
a time per process, the others wait as "queued") or ``"inline"`` (in the request, for tests and
scripts).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from assess2plan.errors import A2PError, InputError
from assess2plan.web.app.models import ImportJob

log = logging.getLogger(__name__)

#: file kinds the page takes
UPLOAD_SUFFIXES = (".zip", ".csv", ".json")
MAX_FILES = 100
MAX_SENSITIVE = 5000
#: sub-folder of a job folder holding loose CSV files (one SIS Connect set or download)
CSV_FOLDER = "csv"
#: seconds between two writes of the progress to the job row (reading stage)
WRITE_EVERY = 0.5

_run_lock = threading.Lock()  # one import at a time in this process
_state_lock = threading.Lock()
_live: dict[int, dict[str, Any]] = {}
_threads: dict[int, threading.Thread] = {}
#: when this process started: a job still "running" that started before it is not ours
PROCESS_STARTED = timezone.now()


# -- uploads --------------------------------------------------------------------------------------------
def uploads_root() -> Path:
    """``$A2P_HOME/uploads`` (created when absent)."""
    from assess2plan.web.settings import a2p_home

    root = a2p_home() / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    return root


def safe_name(name: str) -> str:
    """A file name without folders or odd characters ("../x y.zip" -> "x_y.zip")."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[:120]


def check_uploads(files: Sequence[Any]) -> None:
    """Refuse an empty upload, too many files, and files that are not .zip, .csv or .json."""
    if not files:
        raise A2PError(
            "choose at least one file to import (Red List download zip, SIS Connect CSV or zip, API v4 JSON)"
        )
    if len(files) > MAX_FILES:
        raise A2PError(f"{len(files)} files: at most {MAX_FILES} at once")
    for f in files:
        suffix = Path(str(f.name)).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise A2PError(
                f"{f.name}: not a file the import reads (give .zip, .csv or .json files: a Red List download "
                "zip, SIS Connect CSV files or a zip of them, API v4 JSON)"
            )


def parse_taxa_list(text: str) -> list[str]:
    """One taxon per line (taxon id, assessment id or scientific name); blank lines and lines
    starting with # are skipped; a value is kept once."""
    out: list[str] = []
    for line in (text or "").splitlines():
        v = line.strip()
        if v and not v.startswith("#") and v not in out:
            out.append(v)
    if len(out) > MAX_SENSITIVE:
        raise A2PError(f"{len(out)} taxa in the sensitive list: at most {MAX_SENSITIVE} at once")
    return out


def create_job(
    project_slug: str,
    user: Any,
    files: Sequence[Any],
    *,
    sensitive: Iterable[str] = (),
    sensitive_reason: str = "",
    new_project: bool = False,
    project_name: str = "",
) -> ImportJob:
    """Save the uploaded files (Django ``UploadedFile``s) to a new folder under ``uploads_root()``
    and record a queued job. Loose CSV files go together into one sub-folder (they are one set)."""
    check_uploads(files)
    taxa = list(sensitive)
    if taxa and not (sensitive_reason or "").strip():
        raise A2PError("give the reason why these taxa are sensitive (it is recorded with the flag)")
    folder = uploads_root() / f"job-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    names: list[str] = []
    try:
        for f in files:
            name = safe_name(f.name)
            target_dir = folder / CSV_FOLDER if name.lower().endswith(".csv") else folder
            target_dir.mkdir(exist_ok=True)
            target = target_dir / name
            n = 1
            while target.exists():
                n += 1
                target = target_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
            with target.open("wb") as out:
                for chunk in f.chunks():
                    out.write(chunk)
            names.append(target.name)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    options = {
        "sensitive": taxa,
        "sensitive_reason": (sensitive_reason or "").strip(),
        "new_project": bool(new_project),
        "project_name": (project_name or "").strip(),
    }
    return ImportJob.objects.create(
        project_slug=project_slug,
        user=user if getattr(user, "is_authenticated", False) else None,
        status="queued",
        folder=str(folder),
        files="\n".join(names),
        stage="queued",
        result=json.dumps({"options": options}),
    )


def job_options(job: ImportJob) -> dict[str, Any]:
    return job_result(job).get("options") or {}


def job_result(job: ImportJob) -> dict[str, Any]:
    """The job's ``result`` JSON as a dict (options given, then the import's summary)."""
    try:
        data = json.loads(job.result or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


# -- running --------------------------------------------------------------------------------------------
def start(job: ImportJob) -> None:
    """Run ``job`` with the configured runner (``A2P_IMPORT_RUNNER``: "thread" or "inline")."""
    runner = getattr(settings, "A2P_IMPORT_RUNNER", "thread")
    if runner == "inline":
        run_job(job.id, close_connections=False)
        return
    t = threading.Thread(target=run_job, args=(job.id,), name=f"a2p-import-{job.id}", daemon=True)
    with _state_lock:
        _threads[job.id] = t
        _live[job.id] = {"status": "queued", "stage": "queued", "done": 0, "total": 0}
    t.start()


def wait(job_id: int, timeout: float | None = None) -> bool:
    """Wait for the thread of job ``job_id`` (started in this process) to end; False on timeout."""
    with _state_lock:
        t = _threads.get(job_id)
    if t is None:
        return True
    t.join(timeout)
    return not t.is_alive()


def is_live(job_id: int) -> bool:
    """Whether job ``job_id`` is waiting or running in this process."""
    with _state_lock:
        t = _threads.get(job_id)
    return t is not None and t.is_alive()


def live_progress(job_id: int) -> dict[str, Any] | None:
    """The latest progress of a job running in this process (status, stage, done, total)."""
    with _state_lock:
        p = _live.get(job_id)
        return dict(p) if p else None


def _set_live(job_id: int, **values: Any) -> None:
    with _state_lock:
        _live.setdefault(job_id, {}).update(values)


class _Progress:
    """The ``progress(stage, done, total)`` callback of the readers and of ``store.import_set``."""

    def __init__(self, job_id: int, prefix: str) -> None:
        self.job_id, self.prefix, self.last = job_id, prefix, 0.0
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        label = stage if stage.startswith("indexing") else f"{self.prefix} {stage}".strip()
        _set_live(self.job_id, stage=label, done=int(done or 0), total=int(total or 0))
        now = time.monotonic()
        # inside the import's transaction the row would only change with the import (and SQLite
        # takes no second writer): the page reads the live progress instead
        if connection.in_atomic_block or (label == self.stage and now - self.last < WRITE_EVERY):
            return
        self.stage, self.last = label, now
        ImportJob.objects.filter(pk=self.job_id).update(
            stage=label, done=int(done or 0), total=int(total or 0)
        )


def _clean_message(text: str, folder: Path) -> str:
    """A reader's message with the job folder taken out of the paths (the user knows the file by
    the name they uploaded)."""
    for base in (folder / CSV_FOLDER, folder):
        for form in {str(base), str(base.resolve())}:
            text = text.replace(form + "/", "").replace(form, "(upload)")
    return text


def failure_message(exc: BaseException, folder: Path) -> str:
    """What the page says when a job fails: the command line's message for the same error."""
    if isinstance(exc, InputError):
        return _clean_message(f"Input error: {exc}", folder) + "\nNothing was imported or changed."
    if isinstance(exc, A2PError):
        return _clean_message(f"Error: {exc}", folder) + "\nNothing was imported or changed."
    return (
        _clean_message(f"Unexpected error: {type(exc).__name__}: {exc}", folder)
        + "\nNothing was imported (the import is one transaction). "
        "Please report it; the server log has the details."
    )


def _inputs(folder: Path) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".zip", ".json"))
    if (folder / CSV_FOLDER).is_dir():
        paths.append(folder / CSV_FOLDER)
    return paths


def resolve_in_set(aset: Any, values: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``({value: taxon_id}, [values not found])`` against the taxa of a read set: taxon ids,
    assessment ids and scientific names (any case; a name two taxa share counts as not found)."""
    import polars as pl

    taxa = aset.tables.get("taxa")
    a = aset.tables.get("assessments")
    ids: set[str] = set()
    by_assessment: dict[str, str] = {}
    by_name: dict[str, set[str]] = {}
    if taxa is not None and taxa.height:
        for tid, name in taxa.select(pl.col("taxon_id").cast(pl.Utf8), "scientific_name").iter_rows():
            if tid:
                ids.add(tid)
                if name:
                    by_name.setdefault(name.strip().lower(), set()).add(tid)
    if a is not None and a.height:
        cols = a.select(
            pl.col("assessment_id").cast(pl.Utf8), pl.col("taxon_id").cast(pl.Utf8), "scientific_name"
        )
        for aid, tid, name in cols.iter_rows():
            if not tid:
                continue
            ids.add(tid)
            if aid:
                by_assessment[aid] = tid
            if name:
                by_name.setdefault(name.strip().lower(), set()).add(tid)
    found: dict[str, str] = {}
    missing: list[str] = []
    for v in values:
        if v in ids:
            found[v] = v
        elif v in by_assessment:
            found[v] = by_assessment[v]
        elif len(by_name.get(v.lower(), ())) == 1:
            found[v] = next(iter(by_name[v.lower()]))
        else:
            missing.append(v)
    return found, missing


def check_sensitive(project_slug: str, aset: Any, values: Sequence[str]) -> list[str]:
    """The taxon ids of the sensitive list, each looked up in the files just read and in the project;
    ``InputError`` naming every value that matches no taxon (or several)."""
    from assess2plan import store
    from assess2plan.web.store.models import Project

    found, missing = resolve_in_set(aset, values)
    unknown: list[str] = []
    if missing and Project.objects.filter(slug=project_slug).exists():
        for v in missing:
            try:
                found[v] = store.resolve_taxa(project_slug, [v])[v]
            except A2PError:
                unknown.append(v)
    else:
        unknown = list(missing)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:20]) + (
            f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        )
        raise InputError(
            "sensitive taxa",
            f"{len(unknown)} of the taxa to flag sensitive match no taxon (or several) in the files or in "
            f"project {project_slug!r}: {shown}; give taxon ids or exact scientific names",
            value=unknown[0],
        )
    return sorted(set(found.values()))


def run_job(job_id: int, *, close_connections: bool = True) -> None:
    """Run one import job to its end (done or failed); never raises. The job folder is removed."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    folder = Path(job.folder)
    try:
        with _run_lock:
            _run(job, folder)
    except Exception as exc:  # noqa: BLE001 - every failure ends up in the job row
        if not isinstance(exc, A2PError):
            log.exception("import job %s failed", job_id)
        message = failure_message(exc, folder)
        _set_live(job_id, status="failed")
        try:
            ImportJob.objects.filter(pk=job_id).update(
                status="failed", message=message, finished_at=timezone.now()
            )
        except Exception:  # noqa: BLE001 - the database itself failed: nothing more to do
            log.exception("import job %s: could not record the failure", job_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with _state_lock:
            _live.pop(job_id, None)
            _threads.pop(job_id, None)
        if close_connections:
            connections.close_all()


def _run(job: ImportJob, folder: Path) -> None:
    from assess2plan import store
    from assess2plan.io import read_redlist
    from assess2plan.web.store.models import Project

    options = job_options(job)
    user = job.user.get_username() if job.user else "web"
    slug = job.project_slug
    now = timezone.now()
    _set_live(job.id, status="running", stage="reading", done=0, total=0)
    ImportJob.objects.filter(pk=job.id).update(status="running", started_at=now, stage="reading")
    if options.get("new_project") and Project.objects.filter(slug=slug).exists():
        raise A2PError(f"project {slug!r} exists already; import into it from its Imports page")
    paths = _inputs(folder) if folder.is_dir() else []
    if not paths:
        raise A2PError("the uploaded files are gone (the job folder was removed); upload them again")
    aset = read_redlist(*paths, progress=_Progress(job.id, "reading"))
    sensitive = options.get("sensitive") or []
    taxon_ids = check_sensitive(slug, aset, sensitive) if sensitive else []
    result = store.import_set(aset, project=slug, user=user, progress=_Progress(job.id, "storing"))
    flagged: list[str] = []
    if options.get("new_project"):
        _set_up_new_project(slug, options.get("project_name") or "", job.user)
    if taxon_ids:
        df = store.flag_sensitive(
            slug, taxon_ids, options.get("sensitive_reason") or "", source="import", user=user
        )
        flagged = df["taxon_id"].to_list()
    read = aset.counts()
    summary = {
        "options": options,
        "dataset_id": result.dataset_id,
        "unchanged": result.unchanged,
        "read": read,
        "added": result.added,
        "replaced": result.replaced,
        "kept_history": result.kept_history,
        "issues": [_clean_message(str(i), folder) for i in result.issues],
        "sensitive_flagged": flagged,
        "sensitive_given": taxon_ids,
        "counts": store.counts(slug),
    }
    ImportJob.objects.filter(pk=job.id).update(
        status="done",
        stage="done",
        done=len(read),
        total=len(read),
        message=(
            "These files were imported before: nothing changed."
            if result.unchanged
            else f"Imported into {slug!r}."
        ),
        result=json.dumps(summary, default=str),
        finished_at=timezone.now(),
    )
    _set_live(job.id, status="done")


def _set_up_new_project(slug: str, name: str, user: Any) -> None:
    """A project made from the "New project" page: its name, and its maker as admin (a superuser
    is admin everywhere already)."""
    from assess2plan.web.app.models import ProjectMembership
    from assess2plan.web.store.models import Project

    project = Project.objects.get(slug=slug)
    if name and project.name != name:
        Project.objects.filter(pk=project.pk).update(name=name[:200])
    if user is not None and not user.is_superuser:
        ProjectMembership.objects.get_or_create(user=user, project=project, defaults={"role": "admin"})
