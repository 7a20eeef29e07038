"""Store functions of ex situ conservation assessment (issue 6); public through ``assess2plan.store``.

Imports of ex situ holdings and CITES checklists (one transaction each: a file with an error
changes nothing), the matched inputs of the pre-screen, and the five-step assessments, saved
with optimistic locking: every save names the version it was made against and is refused with
``VersionConflict`` when someone saved in between; every saved version is kept with who, when
and which step changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from assess2plan.errors import A2PError, InputError
from assess2plan.model import CITES_SCHEMA, HOLDINGS_SCHEMA, AssessmentSet
from assess2plan.web.store.edits import _lock, _user
from assess2plan.web.store.planning import _naive, _project, _resolve, _stale

__all__ = [
    "EXSITU_LIST_SCHEMA",
    "assessment_history",
    "cites_listings",
    "exsitu_inputs",
    "get_exsitu_assessment",
    "holdings",
    "import_cites",
    "import_holdings",
    "list_exsitu_assessments",
    "list_exsitu_sources",
    "refresh_exsitu_status",
    "run_prescreen",
    "save_exsitu_step",
    "start_exsitu_assessment",
]

_DT = pl.Datetime("us", "UTC")
#: Columns of :func:`list_exsitu_assessments`.
EXSITU_LIST_SCHEMA: dict[str, Any] = {
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "steps_done": pl.Utf8,  # "1 2 3 . ." style: which of the five steps are complete
    "outcome": pl.Utf8,  # retain | none | null (no decision yet)
    "roles_retained": pl.Utf8,
    "version": pl.Int32,
    "updated_by": pl.Utf8,
    "updated_at": _DT,
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _val(v: Any) -> Any:
    return None if v is None or v == "" else v


# -- imports --------------------------------------------------------------------------------------------
def import_holdings(
    project: str,
    path: str | Path,
    *,
    replace: bool = False,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Import an ex situ holdings table (``assess2plan.io.read_holdings``) into ``project``.

    Holdings files add up (``replace=True`` first retires every earlier holdings file); the same
    file (same SHA-256) is refused while it is current. Returns ``source_id``, ``rows``,
    ``matched`` (rows matched to a taxon), ``unmatched`` (frame: name, rows, individuals) and
    ``issues`` (warnings that did not stop the import)."""
    from assess2plan.exsitu.match import match_holdings, unmatched_holdings
    from assess2plan.io.holdings import read_holdings
    from assess2plan.web.store.models import ExSituHolding, ExSituSource

    p = Path(path)
    frame, issues = read_holdings(p)
    who = _user(user)
    sha = _sha256(p)
    with transaction.atomic(using=using):
        proj = _project(project, using)
        _lock(proj.id, using)
        current = ExSituSource.objects.using(using).filter(
            project=proj, kind="holdings", replaced_at__isnull=True
        )
        same = current.filter(sha256=sha).first()
        if same is not None and not replace:
            raise A2PError(
                f"{p}: this file was already imported by {same.made_by} on {same.made_at:%Y-%m-%d %H:%M} "
                "(use --replace to import it again in place of the earlier holdings)"
            )
        now = timezone.now()
        if replace:
            current.update(replaced_by=who, replaced_at=now)
        src = ExSituSource.objects.using(using).create(
            project=proj,
            kind="holdings",
            path=str(p),
            sha256=sha,
            rows=frame.height,
            made_by=who,
            made_at=now,
        )
        ExSituHolding.objects.using(using).bulk_create(
            [
                ExSituHolding(
                    source=src,
                    row=r["row"],
                    name=r["name"],
                    institution=r["institution"],
                    country=r["country"],
                    males=r["males"],
                    females=r["females"],
                    unknown=r["unknown"],
                    total=r["total"],
                    date=r["date"],
                    data_source=r["source"],
                )
                for r in frame.iter_rows(named=True)
            ],
            batch_size=1000,
        )
    aset = _names_set(project, using)
    matched = match_holdings(frame, aset)
    return {
        "source_id": src.id,
        "rows": frame.height,
        "matched": int(matched["taxon_id"].is_not_null().sum()),
        "unmatched": unmatched_holdings(matched),
        "issues": issues,
    }


def import_cites(
    project: str, path: str | Path, *, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Import a CITES Species+ checklist export (``assess2plan.io.read_cites``) into ``project``;
    it replaces the previous checklist (kept on record). Returns ``source_id``, ``rows``,
    ``covered`` (frame: the project's taxa a listing covers, ``CITES_MATCH_SCHEMA``) and
    ``unmatched`` (species-rank names of the checklist that match no taxon of the project)."""
    from assess2plan.exsitu.match import match_cites, unmatched_cites
    from assess2plan.io.cites import read_cites
    from assess2plan.web.store.models import CitesListing, ExSituSource

    p = Path(path)
    frame = read_cites(p)
    who = _user(user)
    sha = _sha256(p)
    with transaction.atomic(using=using):
        proj = _project(project, using)
        _lock(proj.id, using)
        now = timezone.now()
        ExSituSource.objects.using(using).filter(project=proj, kind="cites", replaced_at__isnull=True).update(
            replaced_by=who, replaced_at=now
        )
        src = ExSituSource.objects.using(using).create(
            project=proj, kind="cites", path=str(p), sha256=sha, rows=frame.height, made_by=who, made_at=now
        )
        cols = [c for c in CITES_SCHEMA if c != "row"]
        CitesListing.objects.using(using).bulk_create(
            [
                CitesListing(source=src, row=r["row"], **{c: r[c] for c in cols})
                for r in frame.iter_rows(named=True)
            ],
            batch_size=1000,
        )
    aset = _names_set(project, using)
    return {
        "source_id": src.id,
        "rows": frame.height,
        "covered": match_cites(frame, aset),
        "unmatched": unmatched_cites(frame, aset),
    }


def list_exsitu_sources(project: str, *, using: str = "default") -> pl.DataFrame:
    """Every imported holdings file and CITES checklist, current and replaced."""
    from assess2plan.web.store.models import ExSituSource

    proj = _project(project, using)
    rows = [
        {
            "source_id": s.id,
            "kind": s.kind,
            "path": s.path,
            "rows": s.rows,
            "sha256": s.sha256,
            "made_by": s.made_by,
            "made_at": _naive(s.made_at),
            "current": s.replaced_at is None,
            "replaced_by": s.replaced_by,
        }
        for s in ExSituSource.objects.using(using).filter(project=proj)
    ]
    schema = {
        "source_id": pl.Int64,
        "kind": pl.Utf8,
        "path": pl.Utf8,
        "rows": pl.Int64,
        "sha256": pl.Utf8,
        "made_by": pl.Utf8,
        "made_at": _DT,
        "current": pl.Boolean,
        "replaced_by": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def holdings(project: str, *, using: str = "default") -> pl.DataFrame:
    """The current holdings rows of ``project`` (``HOLDINGS_SCHEMA``; not yet matched to taxa)."""
    from assess2plan.web.store.models import ExSituHolding

    proj = _project(project, using)
    rows = [
        {
            "name": h.name,
            "taxon_id": None,
            "matched_by": None,
            "institution": h.institution,
            "country": h.country,
            "males": h.males,
            "females": h.females,
            "unknown": h.unknown,
            "total": h.total,
            "date": h.date,
            "source": h.data_source,
            "row": h.row,
        }
        for h in ExSituHolding.objects.using(using)
        .filter(source__project=proj, source__kind="holdings", source__replaced_at__isnull=True)
        .order_by("source_id", "row")
    ]
    return pl.DataFrame(rows, schema=HOLDINGS_SCHEMA) if rows else pl.DataFrame(schema=HOLDINGS_SCHEMA)


def cites_listings(project: str, *, using: str = "default") -> pl.DataFrame:
    """The current CITES checklist of ``project`` (``CITES_SCHEMA``), empty when none was imported."""
    from assess2plan.web.store.models import CitesListing

    proj = _project(project, using)
    cols = list(CITES_SCHEMA)
    rows = list(
        CitesListing.objects.using(using)
        .filter(source__project=proj, source__kind="cites", source__replaced_at__isnull=True)
        .order_by("row")
        .values(*cols)
    )
    return pl.DataFrame(rows, schema=CITES_SCHEMA) if rows else pl.DataFrame(schema=CITES_SCHEMA)


def _names_set(project: str, using: str, taxon_ids: Iterable[str] | None = None) -> AssessmentSet:
    from assess2plan import store

    return store.load_set(project, taxon_ids=taxon_ids, using=using)


def exsitu_inputs(
    project: str, *, aset: AssessmentSet | None = None, using: str = "default"
) -> tuple[AssessmentSet, pl.DataFrame, pl.DataFrame]:
    """``(aset, holdings matched to taxa, CITES listings covering taxa)`` of ``project``."""
    from assess2plan.exsitu.match import match_cites, match_holdings

    if aset is None:
        aset = _names_set(project, using)
    h = holdings(project, using=using)
    c = cites_listings(project, using=using)
    return aset, match_holdings(h, aset), match_cites(c, aset)


def run_prescreen(
    project: str,
    *,
    rules: str | Path | None = None,
    aset: AssessmentSet | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """The ex situ pre-screen (``assess2plan.exsitu.prescreen``) of ``project`` with its holdings
    and CITES listings."""
    from assess2plan.exsitu.prescreen import prescreen

    aset, h, c = exsitu_inputs(project, aset=aset, using=using)
    return prescreen(aset, rules, holdings=h, cites=c)


# -- the five-step assessments --------------------------------------------------------------------------
def _one_taxon(project: str, taxon: str, using: str) -> tuple[Any, str]:
    proj = _project(project, using)
    tid = _resolve(proj, [taxon], "taxon", using)[str(taxon).strip()]
    return proj, tid


def _row(a: Any) -> dict[str, Any]:
    return {
        "taxon_id": a.taxon_id,
        "record": a.record,
        "version": a.version,
        "made_by": a.made_by,
        "made_at": a.made_at,
        "updated_by": a.updated_by,
        "updated_at": a.updated_at,
    }


def _inputs_for(project: str, tid: str, using: str) -> tuple[AssessmentSet, pl.DataFrame, pl.DataFrame]:
    aset = _names_set(project, using, [tid])
    return exsitu_inputs(project, aset=aset, using=using)


def start_exsitu_assessment(
    project: str, taxon: str, *, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Start the five-step assessment of ``taxon`` (taxon id, assessment id or scientific name),
    step 1 pre-filled from the project's data, holdings and CITES listing. Refused when one
    exists (open it with :func:`get_exsitu_assessment`)."""
    from assess2plan.exsitu.assessment import new_record
    from assess2plan.web.store.models import ExSituAssessment, ExSituAssessmentChange

    proj, tid = _one_taxon(project, taxon, using)
    aset, h, c = _inputs_for(project, tid, using)
    record = new_record(aset, tid, holdings=h, cites=c)
    who = _user(user)
    with transaction.atomic(using=using):
        _lock(proj.id, using)
        old = ExSituAssessment.objects.using(using).filter(project=proj, taxon_id=tid).first()
        if old is not None:
            raise A2PError(
                f"an ex situ assessment of {record['scientific_name'] or tid} exists already "
                f"(version {old.version}, last saved by {old.updated_by}); open it instead"
            )
        now = timezone.now()
        a = ExSituAssessment.objects.using(using).create(
            project=proj,
            taxon_id=tid,
            record=record,
            version=1,
            made_by=who,
            made_at=now,
            updated_by=who,
            updated_at=now,
        )
        ExSituAssessmentChange.objects.using(using).create(
            assessment=a,
            version=1,
            step="start",
            record=record,
            made_by=who,
            made_at=now,
            note="step 1 pre-filled from the Red List data, holdings and CITES listing",
        )
    return _row(a)


def _get(proj: Any, tid: str, using: str) -> Any:
    from assess2plan.web.store.models import ExSituAssessment

    a = ExSituAssessment.objects.using(using).filter(project=proj, taxon_id=tid).first()
    if a is None:
        raise A2PError(f"no ex situ assessment of taxon {tid} yet (start one: a2p exsitu start {tid})")
    return a


def get_exsitu_assessment(project: str, taxon: str, *, using: str = "default") -> dict[str, Any]:
    """The assessment of ``taxon``: ``record``, ``version``, who started and last saved it, when."""
    proj, tid = _one_taxon(project, taxon, using)
    return _row(_get(proj, tid, using))


def save_exsitu_step(
    project: str,
    taxon: str,
    step: str,
    record: Mapping[str, Any],
    *,
    expected_version: int,
    user: str | None = None,
    note: str = "",
    using: str = "default",
) -> dict[str, Any]:
    """Save ``record`` (the whole assessment, with ``step`` changed — build it with the functions
    of ``assess2plan.exsitu.assessment``) made against ``expected_version``. Refused with
    ``VersionConflict`` when the assessment was saved by someone else since; nothing is written."""
    from assess2plan.exsitu.assessment import STEPS, validate
    from assess2plan.web.store.models import ExSituAssessment, ExSituAssessmentChange

    if step not in (*STEPS, "translocation", "refresh"):
        raise InputError("step", "unknown step", value=step)
    proj, tid = _one_taxon(project, taxon, using)
    rec = validate(record)
    if rec["taxon_id"] != tid:
        raise InputError(
            "ex situ assessment", f"the record is of taxon {rec['taxon_id']}, not {tid}", value=tid
        )
    who = _user(user)
    with transaction.atomic(using=using):
        _lock(proj.id, using)
        a = _get(proj, tid, using)
        if int(expected_version) != a.version:
            raise _stale(
                "ex situ assessment of",
                rec.get("scientific_name") or tid,
                a.version,
                expected_version,
                a.updated_by,
            )
        now = timezone.now()
        n = (
            ExSituAssessment.objects.using(using)
            .filter(pk=a.pk, version=int(expected_version))
            .update(record=rec, version=F("version") + 1, updated_by=who, updated_at=now)
        )
        a.refresh_from_db(using=using)
        if n != 1:
            raise _stale(
                "ex situ assessment of",
                rec.get("scientific_name") or tid,
                a.version,
                expected_version,
                a.updated_by,
            )
        ExSituAssessmentChange.objects.using(using).create(
            assessment=a,
            version=a.version,
            step=step,
            record=rec,
            made_by=who,
            made_at=now,
            note=str(note or ""),
        )
    return _row(a)


def refresh_exsitu_status(
    project: str, taxon: str, *, expected_version: int, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Pre-fill step 1 again from the current data, holdings and CITES listing (the assessors'
    texts are kept); saved as a new version."""
    from assess2plan.exsitu.assessment import refresh_status

    proj, tid = _one_taxon(project, taxon, using)
    a = _get(proj, tid, using)
    aset, h, c = _inputs_for(project, tid, using)
    rec = refresh_status(a.record, aset, holdings=h, cites=c)
    return save_exsitu_step(
        project,
        tid,
        "refresh",
        rec,
        expected_version=expected_version,
        user=user,
        note="step 1 pre-filled again from current data",
        using=using,
    )


def assessment_history(project: str, taxon: str, *, using: str = "default") -> list[dict[str, Any]]:
    """Every saved version of the assessment of ``taxon``: version, step, made_by, made_at, note
    (and ``record``, the whole assessment as saved)."""
    proj, tid = _one_taxon(project, taxon, using)
    a = _get(proj, tid, using)
    return [
        {
            "version": c.version,
            "step": c.step,
            "made_by": c.made_by,
            "made_at": c.made_at,
            "note": c.note,
            "record": c.record,
        }
        for c in a.changes.using(using).order_by("version")
    ]


def list_exsitu_assessments(project: str, *, using: str = "default") -> pl.DataFrame:
    """One row per assessment of ``project`` (``EXSITU_LIST_SCHEMA``)."""
    from assess2plan.exsitu.assessment import STEPS, progress
    from assess2plan.web.store.models import ExSituAssessment

    proj = _project(project, using)
    rows = []
    for a in ExSituAssessment.objects.using(using).filter(project=proj).order_by("taxon_id"):
        rec = a.record
        done = progress(rec)
        d = rec.get("decision") or {}
        rows.append(
            {
                "taxon_id": a.taxon_id,
                "scientific_name": rec.get("scientific_name"),
                "category": (rec.get("status") or {}).get("category"),
                "steps_done": " ".join(str(i + 1) if done[s] else "." for i, s in enumerate(STEPS)),
                "outcome": d.get("outcome"),
                "roles_retained": "|".join(d.get("roles") or []) or None,
                "version": a.version,
                "updated_by": a.updated_by,
                "updated_at": _naive(a.updated_at),
            }
        )
    return pl.DataFrame(rows, schema=EXSITU_LIST_SCHEMA) if rows else pl.DataFrame(schema=EXSITU_LIST_SCHEMA)
