"""Multi-species planning in the store (issue 4): sites and their species, site events with
notifications and re-assessment flags, stakeholders, commitments, bucket decisions.

Every function takes the project name and ``using`` (the database alias). Every write is one
transaction that records who (``user``, default: the login name) and when; bad input raises
``InputError`` naming the field (or file, row and column) and the value, and changes nothing.
Records people rely on are never deleted or silently overwritten:

* sites, stakeholders and commitments have a ``version``; an update names the version it was made
  against (``expected_version``) and is refused with ``VersionConflict`` when someone changed the
  record since;
* bucket decisions are append-only (an undo marks the decision, ``undone_by`` / ``undone_at``);
  re-assessment flags are cleared, not deleted; subscriptions are switched off, not deleted.

Species are referred to by their Red List taxon id (text), so links, commitments, decisions and
flags survive a re-import that replaces the assessments. Where a function takes taxa, each may be
a taxon id, an assessment id or an exact scientific name (case-insensitive).

Frames are polars with the columns agreed in ``notes/planning_interfaces.md`` (ids and codes as
text, times as UTC ``Datetime`` without time zone). The public API is ``assess2plan.store``.
"""

from __future__ import annotations

import csv
import html
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from assess2plan import notify
from assess2plan.errors import A2PError, InputError
from assess2plan.model import AssessmentSet
from assess2plan.planning.commitments import COMMITMENT_COLUMNS
from assess2plan.planning.stakeholders import STAKEHOLDER_COLUMNS
from assess2plan.schemes import is_known, name_of, normalise_code
from assess2plan.sheet import SheetQuery
from assess2plan.web.store.edits import EditConflict, _lock, _user

# -- vocabularies -----------------------------------------------------------------------------------
SITE_KINDS = ("lake", "river", "river_basin", "reef", "kba", "protected_area", "wetland", "other")
#: other words for site kinds, accepted on input (wetlands in the Ramsar sense include deltas,
#: estuaries, marshes, swamps, bogs, fens, peatlands and mangroves)
SITE_KIND_SYNONYMS = {
    "key_biodiversity_area": "kba",
    "basin": "river_basin",
    "catchment": "river_basin",
    "watershed": "river_basin",
    "stream": "river",
    "creek": "river",
    "coral_reef": "reef",
    "pa": "protected_area",
    "mpa": "protected_area",
    "marine_protected_area": "protected_area",
    "national_park": "protected_area",
    "nature_reserve": "protected_area",
    "reserve": "protected_area",
    "delta": "wetland",
    "estuary": "wetland",
    "marsh": "wetland",
    "marshes": "wetland",
    "swamp": "wetland",
    "bog": "wetland",
    "fen": "wetland",
    "peatland": "wetland",
    "mangrove": "wetland",
    "reservoir": "lake",
    "tarn": "lake",
    "pond": "lake",
}
LINK_SOURCES = ("import", "points", "range", "manual")
SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("email", "webhook")
STAKEHOLDER_KINDS = ("organisation", "person")
STAKEHOLDER_SOURCES = ("manual", "credits")
COMMITMENT_STATUSES = ("proposed", "active", "done", "dropped")
BUCKETS = ("single_species", "site_based", "threat_based", "ex_situ")
DECISIONS = ("accept", "reject", "add")

# -- frame schemas ----------------------------------------------------------------------------------
S, DT = pl.Utf8, pl.Datetime("us")
SITES_SCHEMA = {
    "site_id": S,
    "name": S,
    "kind": S,
    "country": S,
    "description": S,
    "geometry": S,
    "sensitive": pl.Boolean,
}
SITE_DETAIL_SCHEMA = {
    "species": pl.Int32,
    "version": pl.Int32,
    "made_by": S,
    "made_at": DT,
    "updated_by": S,
    "updated_at": DT,
}
SITE_LINKS_SCHEMA = {
    "taxon_id": S,
    "site_id": S,
    "site_name": S,
    "source": S,
    "note": S,
    "made_by": S,
    "made_at": DT,
}
EVENT_SCHEMA = {
    "event_id": S,
    "site_id": S,
    "title": S,
    "description": S,
    "severity": S,
    "made_by": S,
    "made_at": DT,
}
AFFECTED_SCHEMA = {
    "taxon_id": S,
    "scientific_name": S,
    "category": S,
    "threats": S,
    "major_threats": S,
    "actions_needed": S,
    "actions_in_place": S,
    "commitments": S,
    "stakeholders": S,
    "reassess": pl.Boolean,
    "reason": S,
}
DELIVERY_SCHEMA = {
    "delivery_id": S,
    "event_id": S,
    "channel": S,
    "target": S,
    "status": S,
    "attempts": pl.Int32,
    "last_error": S,
    "delivered_at": DT,
}
SUBSCRIPTION_SCHEMA = {
    "subscription_id": S,
    "site_id": S,
    "channel": S,
    "target": S,
    "signed": pl.Boolean,
    "active": pl.Boolean,
    "made_by": S,
    "made_at": DT,
}
STAKEHOLDERS_SCHEMA = dict(STAKEHOLDER_COLUMNS)  # the frame the pure planning functions take
STAKEHOLDER_DETAIL_SCHEMA = {
    "version": pl.Int32,
    "made_by": S,
    "made_at": DT,
    "updated_by": S,
    "updated_at": DT,
}
COMMITMENTS_SCHEMA = {**COMMITMENT_COLUMNS, "updated_at": DT}
COMMITMENT_NOTES_SCHEMA = {"commitment_id": S, "text": S, "status_after": S, "made_by": S, "made_at": DT}
DECISIONS_SCHEMA = {"taxon_id": S, "bucket": S, "decision": S, "reason": S, "made_by": S, "made_at": DT}
DECISION_LOG_SCHEMA = {
    "decision_id": S,
    "taxon_id": S,
    "scientific_name": S,
    "bucket": S,
    "decision": S,
    "reason": S,
    "made_by": S,
    "made_at": DT,
    "undone_by": S,
    "undone_at": DT,
    "undo_reason": S,
}
FLAGS_SCHEMA = {
    "flag_id": S,
    "taxon_id": S,
    "scientific_name": S,
    "reason": S,
    "event_id": S,
    "made_by": S,
    "made_at": DT,
    "cleared_by": S,
    "cleared_at": DT,
    "clear_reason": S,
}


class VersionConflict(EditConflict):
    """The record changed since the caller read it (its version moved on); nothing was written."""


class _Invalid(ValueError):
    """A value that does not pass validation (the caller adds file / row / field)."""


# -- small helpers ----------------------------------------------------------------------------------
def _naive(dt: datetime | None) -> datetime | None:
    """Aware -> naive UTC (frames carry UTC times without a time zone)."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _frame(rows: Iterable[Mapping[str, Any]], schema: Mapping[str, Any]) -> pl.DataFrame:
    data = [{k: r.get(k) for k in schema} for r in rows]
    if not data:
        return pl.DataFrame(schema=dict(schema))
    return pl.DataFrame(data, schema=dict(schema))


def _project(project: str, using: str, *, lock: bool = False):  # noqa: ANN202 - Project
    from assess2plan.web.store.models import Project

    p = Project.objects.using(using).filter(slug=project).first()
    if p is None:
        raise A2PError(
            f"no project {project!r} in the store (import Red List data into it first: "
            f"a2p import PATH --project {project})"
        )
    if lock:
        _lock(p.id, using)
    return p


def _field_error(name: str, e: _Invalid, value: object) -> InputError:
    return InputError(name, str(e), value=value)


def _check(name: str, value: Any, fn: Callable[[Any], Any]) -> Any:
    try:
        return fn(value)
    except _Invalid as e:
        raise _field_error(name, e, value) from None


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def _slug(value: Any) -> str:
    s = _clean(value)
    if not s:
        raise _Invalid("is required")
    if not _SLUG.match(s):
        raise _Invalid(
            "must be a short id of letters, digits, '-', '_', '.' or ':' (no spaces), at most 100 characters"
        )
    return s


def _required(value: Any) -> str:
    s = _clean(value)
    if not s:
        raise _Invalid("is required")
    return s


def _choice(options: Sequence[str], synonyms: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        s = _clean(value).lower().replace("-", "_").replace(" ", "_")
        s = (synonyms or {}).get(s, s)
        if s not in options:
            raise _Invalid(f"must be one of {', '.join(options)}")
        return s

    return check


def _country(value: Any) -> str | None:
    s = _clean(value).upper()
    if not s:
        return None
    if not re.fullmatch(r"[A-Z]{2}", s):
        raise _Invalid("must be an ISO 3166 alpha-2 country code (two letters, e.g. ID)")
    return s


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = _clean(value).lower()
    if s in ("", "0", "no", "n", "false", "f"):
        return False
    if s in ("1", "yes", "y", "true", "t"):
        return True
    raise _Invalid("must be yes or no (true/false, 1/0)")


_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


def _email(value: Any) -> str:
    s = _clean(value)
    if s and not _EMAIL.match(s):
        raise _Invalid("is not an e-mail address (name@example.org)")
    return s


def _url(value: Any) -> str:
    s = _clean(value)
    if not s:
        return ""
    m = re.match(r"^(https?)://([^/\s?#]+)", s)
    if not m:
        raise _Invalid("is not an http(s) URL")
    return s


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    s = _clean(value)
    if not s:
        return None
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise _Invalid("is not a date (YYYY-MM-DD)") from None


def _action_code(value: Any) -> str:
    code = normalise_code(_clean(value) or None)
    if not code:
        raise _Invalid("is required (a conservation action code of scheme 2.0, e.g. 2.2 or 3.4.1)")
    if not re.fullmatch(r"\d+(\.\d+)*", code):
        raise _Invalid("is not a conservation action code (e.g. 2.2 or 3.4.1)")
    if not is_known("conservation_actions", code):
        raise _Invalid("is not in the conservation actions classification scheme 2.0")
    return code


def _split(value: Any) -> list[str]:
    """A multi-valued field given as a list or as text joined by | ; or ,."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = re.split(r"[|;,]", value)
    else:
        parts = [str(v) for v in value]
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if p and p not in out:
            out.append(p)
    return out


def _countries(value: Any) -> str:
    return "|".join(_country(c) or "" for c in _split(value))


def _expertise(value: Any) -> str:
    items = (
        _split(value)
        if not isinstance(value, str)
        else [p.strip() for p in re.split(r"[|;]", value) if p.strip()]
    )
    for item in items:
        kind, _, code = item.partition(":")
        if kind == "t" and not is_known("threats", normalise_code(code)):
            raise _Invalid(f"{item!r}: {code!r} is not a threat code of the threats scheme 3.3")
        if kind == "a" and not is_known("conservation_actions", normalise_code(code)):
            raise _Invalid(f"{item!r}: {code!r} is not a code of the conservation actions scheme 2.0")
    return "|".join(dict.fromkeys(items))


def _geometry(value: Any) -> str | None:
    """GeoJSON geometry (text or dict; a Feature gives its geometry) -> normalised text, checked
    with shapely when installed (shape, validity, longitude/latitude ranges)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            obj = json.loads(value)
        except json.JSONDecodeError as e:
            raise _Invalid(f"is not GeoJSON (JSON error: {e.msg} at character {e.pos})") from None
    else:
        obj = value
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    types = (
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    )
    if not isinstance(obj, dict) or obj.get("type") not in types:
        raise _Invalid(f"is not a GeoJSON geometry (an object whose type is one of {', '.join(types)})")
    try:
        from shapely.geometry import mapping, shape
    except ImportError:  # pragma: no cover - shapely is a dependency; keep working without it
        return json.dumps(obj, separators=(",", ":"))
    try:
        geom = shape(obj)
    except Exception as e:  # noqa: BLE001 - shapely raises several kinds for bad coordinates
        raise _Invalid(f"is not a valid {obj.get('type')} ({type(e).__name__}: {e})") from None
    return _checked_geometry(geom, mapping)


def _checked_geometry(geom: Any, mapping: Callable[[Any], Any]) -> str:
    from shapely.validation import explain_validity

    if geom.is_empty:
        raise _Invalid("is an empty geometry")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise _Invalid(
            "has coordinates outside longitude -180..180 / latitude -90..90 "
            "(GeoJSON is longitude, latitude in WGS84)"
        )
    if not geom.is_valid:
        raise _Invalid(f"is not a valid geometry: {explain_validity(geom)}")
    return json.dumps(mapping(geom), separators=(",", ":"))


def _wkt(value: Any) -> str | None:
    s = _clean(value)
    if not s:
        return None
    try:
        from shapely import wkt
        from shapely.geometry import mapping
    except ImportError:  # pragma: no cover
        raise _Invalid("WKT needs the shapely package (pip install shapely)") from None
    try:
        geom = wkt.loads(s)
    except Exception as e:  # noqa: BLE001 - shapely.errors.WKTReadingError and friends
        raise _Invalid(f"is not WKT ({type(e).__name__}: {e})") from None
    return _checked_geometry(geom, mapping)


def _point(lat: Any, lon: Any) -> str | None:
    if not _clean(lat) and not _clean(lon):
        return None
    try:
        y, x = float(_clean(lat)), float(_clean(lon))
    except ValueError:
        raise _Invalid("latitude and longitude must both be decimal degrees") from None
    if not (-90 <= y <= 90 and -180 <= x <= 180):
        raise _Invalid("latitude must be within -90..90 and longitude within -180..180")
    return json.dumps({"type": "Point", "coordinates": [x, y]}, separators=(",", ":"))


def _read_csv(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header (lower-case, stripped) and rows of a UTF-8 CSV file (BOM allowed)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "no such file")
    try:
        with p.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            rows = list(reader)
    except UnicodeDecodeError as e:
        raise InputError(str(p), f"not UTF-8 text (byte {e.start}); save the file as UTF-8 CSV") from None
    except csv.Error as e:
        raise InputError(str(p), f"not a readable CSV file: {e}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError(str(p), "empty file (a header line is needed)")
    header = [c.strip().lower() for c in rows[0]]
    out = []
    for i, r in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in r):
            out.append({})
            continue
        if len(r) > len(header):
            raise InputError(str(p), f"{len(r)} fields but the header has {len(header)}", row=i)
        out.append({h: (r[j] if j < len(r) else "") for j, h in enumerate(header)})
    return header, out


def _first(row: Mapping[str, str], *names: str) -> tuple[str | None, str]:
    for n in names:
        if n in row:
            return n, row[n]
    return None, ""


# -- taxa -------------------------------------------------------------------------------------------
def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def resolve_taxa(
    project: str, values: Iterable[str], *, field: str = "taxon", using: str = "default"
) -> dict[str, str]:
    """``{value: taxon_id}`` for taxon ids, assessment ids or exact scientific names (any case) of
    ``project``. Raises ``InputError`` naming the first value that matches no taxon or several."""
    proj = _project(project, using)
    return _resolve(proj, values, field, using)


def _resolve(proj: Any, values: Iterable[str], field: str, using: str) -> dict[str, str]:
    from assess2plan.web.store.models import Assessment, Taxon

    wanted = list(dict.fromkeys(_clean(v) for v in values if _clean(v)))
    out: dict[str, str] = {}
    taxa = Taxon.objects.using(using).filter(project=proj)
    for chunk in _chunks(wanted):
        for tid in taxa.filter(taxon_id__in=chunk).values_list("taxon_id", flat=True):
            out[tid] = tid
    rest = [v for v in wanted if v not in out]
    for chunk in _chunks(rest):
        for aid, tid in (
            Assessment.objects.using(using)
            .filter(project=proj, assessment_id__in=chunk)
            .values_list("assessment_id", "taxon__taxon_id")
        ):
            out[aid] = tid
    rest = [v for v in rest if v not in out]
    by_name: dict[str, set[str]] = {}
    for chunk in _chunks([v.lower() for v in rest]):
        for name, tid in (
            taxa.annotate(_lname=Lower("scientific_name"))
            .filter(_lname__in=chunk)
            .values_list("_lname", "taxon_id")
        ):
            by_name.setdefault(name, set()).add(tid)
        # the name on the assessments (what the sheet shows) may differ from the taxon record's
        for name, tid in (
            Assessment.objects.using(using)
            .filter(project=proj)
            .annotate(_lname=Lower("scientific_name"))
            .filter(_lname__in=chunk)
            .values_list("_lname", "taxon__taxon_id")
        ):
            by_name.setdefault(name, set()).add(tid)
    for v in rest:
        hits = sorted(by_name.get(v.lower(), ()))
        if len(hits) == 1:
            out[v] = hits[0]
        elif len(hits) > 1:
            raise InputError(
                field,
                f"{len(hits)} taxa have this name (taxon ids {', '.join(hits)}); give the taxon id",
                value=v,
            )
        else:
            like = sorted(
                set(
                    Assessment.objects.using(using)
                    .filter(project=proj, scientific_name__icontains=v)
                    .values_list("scientific_name", flat=True)[:3]
                )
            )
            hint = f" (did you mean {', '.join(repr(x) for x in like)}?)" if like else ""
            raise InputError(
                field,
                f"no taxon in project {proj.slug!r} has this taxon id, assessment id or "
                f"scientific name{hint}",
                value=v,
            )
    return {v: out[v] for v in wanted}


def _names(proj: Any, taxon_ids: Iterable[str], using: str) -> dict[str, str | None]:
    """Scientific name of each taxon as its latest assessment gives it (the name the sheet shows),
    else as the taxon record gives it."""
    from assess2plan.web.store.models import Assessment, Taxon

    ids = sorted({t for t in taxon_ids if t})
    out: dict[str, str | None] = {}
    for chunk in _chunks(ids):
        for tid, name in (
            Assessment.objects.using(using)
            .filter(project=proj, latest=True, taxon__taxon_id__in=chunk)
            .order_by("-year_published", "-assessment_id")
            .values_list("taxon__taxon_id", "scientific_name")
        ):
            if name and not out.get(tid):
                out[tid] = name
        for tid, name in (
            Taxon.objects.using(using)
            .filter(project=proj, taxon_id__in=chunk)
            .values_list("taxon_id", "scientific_name")
        ):
            if not out.get(tid):
                out[tid] = name
    return out


# =================================================================================================
# sites
# =================================================================================================
SITE_FIELDS = ("name", "kind", "country", "description", "geometry", "sensitive")


def _site_values(
    *, name: Any, kind: Any, country: Any, description: Any, geometry: Any, sensitive: Any
) -> dict[str, Any]:
    return {
        "name": _check("name", name, _required),
        "kind": _check("kind", kind if _clean(kind) else "other", _choice(SITE_KINDS, SITE_KIND_SYNONYMS)),
        "country": _check("country", country, _country),
        "description": _clean(description),
        "geometry": _check("geometry", geometry, _geometry),
        "sensitive": _check("sensitive", sensitive, _bool),
    }


def _site_row(s: Any, species: int | None = None) -> dict[str, Any]:
    return {
        "site_id": s.site_id,
        "name": s.name,
        "kind": s.kind,
        "country": s.country,
        "description": s.description,
        "geometry": s.geometry,
        "sensitive": s.sensitive,
        "species": species,
        "version": s.version,
        "made_by": s.made_by,
        "made_at": _naive(s.made_at),
        "updated_by": s.updated_by or None,
        "updated_at": _naive(s.updated_at),
    }


def _get_site(proj: Any, site: str, using: str, *, field: str = "site"):  # noqa: ANN202 - Site
    from assess2plan.web.store.models import Site

    s = Site.objects.using(using).filter(project=proj, site_id=_clean(site)).first()
    if s is None:
        s = Site.objects.using(using).filter(project=proj, name__iexact=_clean(site)).first()
    if s is None:
        raise InputError(
            field, f"no site with this id (or name) in project {proj.slug!r} (see a2p site list)", value=site
        )
    return s


def add_site(
    project: str,
    site_id: str,
    name: str,
    *,
    kind: str = "other",
    country: str | None = None,
    description: str = "",
    geometry: str | Mapping[str, Any] | None = None,
    sensitive: bool = False,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Add a site. ``kind``: one of ``SITE_KINDS`` (common other words are accepted, see
    ``SITE_KIND_SYNONYMS``); ``country``: ISO alpha-2; ``geometry``: a GeoJSON geometry (text or
    dict; longitude, latitude in WGS84). Returns the site as a dict (``version`` 1)."""
    from assess2plan.web.store.models import Site

    sid = _check("site_id", site_id, _slug)
    values = _site_values(
        name=name, kind=kind, country=country, description=description, geometry=geometry, sensitive=sensitive
    )
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        old = Site.objects.using(using).filter(project=proj, site_id=sid).first()
        if old is not None:
            raise A2PError(
                f"site {sid!r} exists already in project {project!r} (version {old.version}); "
                "update it instead"
            )
        s = Site.objects.using(using).create(
            project=proj, site_id=sid, made_by=who, made_at=timezone.now(), **values
        )
        return _site_row(s, 0)


def update_site(
    project: str,
    site_id: str,
    *,
    expected_version: int,
    user: str | None = None,
    using: str = "default",
    **changes: Any,
) -> dict[str, Any]:
    """Change fields of a site (``name``, ``kind``, ``country``, ``description``, ``geometry``,
    ``sensitive``). ``expected_version`` is the version the caller read: when the site has moved
    on since, ``VersionConflict`` is raised and nothing is written. Returns the site."""
    from assess2plan.web.store.models import Site

    unknown = sorted(set(changes) - set(SITE_FIELDS))
    if unknown:
        raise A2PError(f"unknown site field(s) {', '.join(unknown)}; fields: {', '.join(SITE_FIELDS)}")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_site(proj, site_id, using, field="site_id")
        current = {k: getattr(s, k) for k in SITE_FIELDS}
        merged = {**current, **changes}
        values = _site_values(**merged)
        values = {k: v for k, v in values.items() if k in changes}
        diff = {k: v for k, v in values.items() if v != current[k]}
        if int(expected_version) != s.version:
            raise _stale("site", s.site_id, s.version, expected_version, s.updated_by or s.made_by)
        if not diff:
            return _site_row(s)
        n = (
            Site.objects.using(using)
            .filter(pk=s.pk, version=int(expected_version))
            .update(**diff, version=F("version") + 1, updated_by=who, updated_at=timezone.now())
        )
        if n != 1:  # changed between our read and the update
            s.refresh_from_db(using=using)
            raise _stale("site", s.site_id, s.version, expected_version, s.updated_by or s.made_by)
        s.refresh_from_db(using=using)
        return _site_row(s)


def _stale(what: str, ident: str, now: int, seen: int, by: str) -> VersionConflict:
    return VersionConflict(
        f"{what} {ident!r} was changed by {by} since you read it "
        f"(now version {now}, you saw version {seen}); "
        "nothing was written (reload it and make your change again)"
    )


def get_site(project: str, site: str, *, using: str = "default") -> dict[str, Any]:
    """One site (by id or name) as a dict, with ``species`` (number linked) and ``version``."""
    proj = _project(project, using)
    s = _get_site(proj, site, using)
    return _site_row(s, s.links.using(using).filter(removed_at__isnull=True).count())


def list_sites(
    project: str, *, details: bool = False, hide_sensitive_geometry: bool = False, using: str = "default"
) -> pl.DataFrame:
    """The sites frame (``SITES_SCHEMA``); ``details`` adds species (number linked), version,
    made/updated by/at. ``hide_sensitive_geometry`` blanks the geometry of sensitive sites (for
    users who may not see precise locations)."""
    from django.db.models import Count, Q

    from assess2plan.web.store.models import Site

    proj = _project(project, using)
    rows = []
    n = Count("links", filter=Q(links__removed_at__isnull=True))
    for s in Site.objects.using(using).filter(project=proj).annotate(_n=n).order_by("site_id"):
        r = _site_row(s, s._n)
        if hide_sensitive_geometry and s.sensitive:
            r["geometry"] = None
        rows.append(r)
    schema = {**SITES_SCHEMA, **(SITE_DETAIL_SCHEMA if details else {})}
    return _frame(rows, schema)


SITE_CSV_COLUMNS = {
    "site_id": ("site_id",),
    "name": ("name",),
    "kind": ("kind", "type"),
    "country": ("country", "country_code"),
    "description": ("description",),
    "geometry": ("geometry", "geojson"),
    "geometry_wkt": ("geometry_wkt", "wkt"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng"),
    "sensitive": ("sensitive",),
}


def import_sites(
    project: str, path: str | Path, *, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Add or update sites from a CSV file (UTF-8) with the columns ``site_id``, ``name`` and
    optionally ``kind`` (or ``type``), ``country`` (or ``country_code``), ``description``, one
    geometry: ``geometry`` / ``geojson`` (GeoJSON text), ``geometry_wkt`` / ``wkt`` (WKT) or
    ``latitude`` + ``longitude`` (a point), and ``sensitive`` (yes/no).

    All or nothing: the first bad row raises ``InputError`` naming file, row, column and value,
    and no site is written. A site id already stored is updated (its version goes up) when a
    value differs. Returns ``{"added": [...], "updated": [...], "unchanged": [...]}`` (site ids).
    """
    from assess2plan.web.store.models import Site

    fname = str(path)
    header, rows = _read_csv(path)
    known = {alias: col for col, aliases in SITE_CSV_COLUMNS.items() for alias in aliases}
    unknown = [h for h in header if h and h not in known]
    if unknown:
        raise InputError(
            fname,
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; site files have "
            "site_id, name, kind, country, description, geometry (GeoJSON) or geometry_wkt or "
            "latitude+longitude, sensitive",
            row=0,
            column=unknown[0],
        )
    for col in ("site_id", "name"):
        if not any(known[h] == col for h in header):
            raise InputError(fname, f"the required column {col!r} is missing", row=0, column=col)
    parsed: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows, start=1):
        if not r:
            continue

        def get(col: str, row: Mapping[str, str] = r) -> tuple[str, str]:
            name, value = _first(row, *SITE_CSV_COLUMNS[col])
            return name or col, value

        def cell(col: str, fn: Callable[[Any], Any], row_no: int = i) -> Any:
            name, value = get(col)
            try:
                return fn(value)
            except _Invalid as e:
                raise InputError(fname, str(e), row=row_no, column=name, value=value) from None

        sid = cell("site_id", _slug)
        if sid in parsed:
            raise InputError(
                fname,
                f"site id {sid!r} appears twice (first in row {parsed[sid]['_row']})",
                row=i,
                column="site_id",
                value=sid,
            )
        geoms = []
        if _clean(get("geometry")[1]):
            geoms.append(cell("geometry", _geometry))
        if _clean(get("geometry_wkt")[1]):
            geoms.append(cell("geometry_wkt", _wkt))
        lat_col, lat = get("latitude")
        _, lon = get("longitude")
        if _clean(lat) or _clean(lon):
            try:
                geoms.append(_point(lat, lon))
            except _Invalid as e:
                raise InputError(fname, str(e), row=i, column=lat_col, value=f"{lat}, {lon}") from None
        if len(geoms) > 1:
            raise InputError(
                fname, "give one geometry per site (GeoJSON, WKT or latitude/longitude), not several", row=i
            )
        kind_col, kind = get("kind")
        parsed[sid] = {
            "_row": i,
            "name": cell("name", _required),
            "kind": cell("kind", _choice(SITE_KINDS, SITE_KIND_SYNONYMS)) if _clean(kind) else "other",
            "country": cell("country", _country),
            "description": _clean(get("description")[1]),
            "geometry": geoms[0] if geoms else None,
            "sensitive": cell("sensitive", _bool),
        }
    if not parsed:
        raise InputError(fname, "no sites in the file (only a header)")
    who = _user(user)
    now = timezone.now()
    out: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        values = {sid: {k: v for k, v in vals.items() if k != "_row"} for sid, vals in parsed.items()}
        _upsert(Site, "site_id", proj, values, out, who, now, using)
    return out


def _upsert(
    model: Any,
    key: str,
    proj: Any,
    values: Mapping[str, dict[str, Any]],
    out: dict[str, list[str]],
    who: str,
    now: datetime,
    using: str,
) -> None:
    """Add or update the ``model`` rows (sites, stakeholders) of a file import, by ``key``: a row
    whose values differ is updated and its version goes up (so open forms see a conflict)."""
    stored = {getattr(r, key): r for r in model.objects.using(using).filter(project=proj, **{f"{key}__in": list(values)})}
    for sid, vals in values.items():
        r = stored.get(sid)
        if r is None:
            model.objects.using(using).create(project=proj, made_by=who, made_at=now, **{key: sid}, **vals)
            out["added"].append(sid)
            continue
        diff = {k: v for k, v in vals.items() if getattr(r, k) != v}
        if not diff:
            out["unchanged"].append(sid)
            continue
        model.objects.using(using).filter(pk=r.pk).update(**diff, version=F("version") + 1, updated_by=who, updated_at=now)
        out["updated"].append(sid)


# -- site links -------------------------------------------------------------------------------------
def link_species(
    project: str,
    site: str,
    taxa: Iterable[str] | None = None,
    *,
    query: SheetQuery | None = None,
    source: str = "manual",
    note: str | None = None,
    user: str | None = None,
    using: str = "default",
) -> dict[str, list[str]]:
    """Link species to a site: ``taxa`` (taxon ids, assessment ids or scientific names) and/or
    every taxon whose latest assessment matches ``query`` (e.g. ``parse_query(["subnational=XA-01"])``
    or ``lme=37``: "every species recorded in this place"). ``source``: import | points | range |
    manual. Returns ``{"linked": [taxon ids], "already": [taxon ids already linked]}``."""
    from assess2plan.web.store.models import SiteLink
    from assess2plan.web.store.sheet import matching_ids

    src = _check("source", source, _choice(LINK_SOURCES))
    if taxa is None and query is None:
        raise A2PError("say which species to link: taxa and/or a selection (query)")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_site(proj, site, using)
        wanted: list[str] = []
        if taxa is not None:
            values = [t for t in taxa if _clean(t)]
            if not values and query is None:
                raise InputError("taxa", "no taxon given", value="")
            wanted += list(dict.fromkeys(_resolve(proj, values, "taxa", using).values()))
        if query is not None:
            wanted += [
                t
                for t in matching_ids(project, query, using)["taxon_id"].unique().sort().to_list()
                if t not in wanted
            ]
        links = SiteLink.objects.using(using).filter(site=s)
        have = set(links.filter(removed_at__isnull=True).values_list("taxon_id", flat=True))
        removed = set(links.filter(removed_at__isnull=False).values_list("taxon_id", flat=True))
        new = [t for t in wanted if t not in have]
        now = timezone.now()
        again = [t for t in new if t in removed]
        links.filter(taxon_id__in=again).update(
            source=src, note=_clean(note), made_by=who, made_at=now, removed_by=None, removed_at=None
        )
        SiteLink.objects.using(using).bulk_create(
            [
                SiteLink(site=s, taxon_id=t, source=src, note=_clean(note), made_by=who, made_at=now)
                for t in new
                if t not in removed
            ]
        )
        return {"linked": new, "already": [t for t in wanted if t in have]}


def link_species_from_points(
    project: str,
    site: str,
    path: str | Path,
    *,
    buffer_km: float = 0.0,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Link to a site every species of the project with occurrence points in it (a points CSV, see
    ``assess2plan.spatial.points``): inside the site's polygon, or within ``buffer_km`` of a point
    site. Source "points", note "N points". Species of the file that are not in the project are
    returned as ``unmatched`` (names); a site without geometry is refused.
    Returns ``{"linked": [...], "already": [...], "unmatched": [...], "points": {taxon_id: n}}``."""
    from assess2plan.spatial.points import points_in_site, read_points
    from assess2plan.web.store.models import Assessment, Taxon

    proj = _project(project, using)
    s = _get_site(proj, site, using)
    if not s.geometry:
        raise A2PError(f"site {s.site_id!r} has no geometry: add one (a2p site add ... --geojson/--wkt/--lat --lon)")
    found = points_in_site(read_points(path), s.geometry, buffer_km=buffer_km)
    names = {n.lower(): n for n in found["scientific_name"].to_list()}
    tids: dict[str, set[str]] = {}
    for chunk in _chunks(list(names)):
        for model, column in ((Taxon, "taxon_id"), (Assessment, "taxon__taxon_id")):
            rows = (
                model.objects.using(using)
                .filter(project=proj)
                .annotate(_lname=Lower("scientific_name"))
                .filter(_lname__in=chunk)
                .values_list("_lname", column)
            )
            for lname, tid in rows:
                tids.setdefault(lname, set()).add(tid)
    counts = dict(zip((n.lower() for n in found["scientific_name"]), found["points"].to_list(), strict=True))
    matched = {next(iter(t)): counts[n] for n, t in tids.items() if len(t) == 1}
    unmatched = sorted(names[n] for n in names if len(tids.get(n, ())) != 1)
    out: dict[str, Any] = {"linked": [], "already": []}
    for tid, n in sorted(matched.items()):
        r = link_species(project, s.site_id, [tid], source="points", note=f"{n} points", user=user, using=using)
        out["linked"] += r["linked"]
        out["already"] += r["already"]
    out["unmatched"] = unmatched
    out["points"] = matched
    return out


def import_site_links(
    project: str, path: str | Path, *, source: str = "import", user: str | None = None, using: str = "default"
) -> dict[str, int]:
    """Link species to sites from a CSV file with a ``site_id`` column, a taxon column
    (``taxon_id``, ``internalTaxonId`` or ``scientific_name``) and optionally ``note`` and
    ``source``. All or nothing (errors name file, row, column, value). Returns counts
    ``{"linked": n, "already": n}``."""
    from assess2plan.web.store.models import Site, SiteLink

    fname = str(path)
    src_default = _check("source", source, _choice(LINK_SOURCES))
    header, rows = _read_csv(path)
    taxon_cols = [
        c
        for c in ("taxon_id", "internaltaxonid", "scientific_name", "scientificname", "taxon")
        if c in header
    ]
    if "site_id" not in header:
        raise InputError(fname, "the required column 'site_id' is missing", row=0, column="site_id")
    if not taxon_cols:
        raise InputError(
            fname, "a taxon column is needed: taxon_id, internalTaxonId or scientific_name", row=0
        )
    tcol = taxon_cols[0]
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        sites = {s.site_id: s for s in Site.objects.using(using).filter(project=proj)}
        pending: list[tuple[int, Any, str, str, str]] = []
        for i, r in enumerate(rows, start=1):
            if not r:
                continue
            sid = _clean(r.get("site_id"))
            if sid not in sites:
                raise InputError(
                    fname,
                    f"no site with this id in project {project!r} (import the sites first)",
                    row=i,
                    column="site_id",
                    value=sid,
                )
            value = _clean(r.get(tcol))
            if not value:
                raise InputError(fname, "no taxon given", row=i, column=tcol, value=value)
            src = src_default
            if _clean(r.get("source")):
                try:
                    src = _choice(LINK_SOURCES)(r["source"])
                except _Invalid as e:
                    raise InputError(fname, str(e), row=i, column="source", value=r["source"]) from None
            pending.append((i, sites[sid], value, _clean(r.get("note")), src))
        try:
            resolved = _resolve(proj, [p[2] for p in pending], tcol, using)
        except InputError as e:
            row = next(p[0] for p in pending if p[2] == e.value)
            raise InputError(fname, e.message, row=row, column=tcol, value=e.value) from None
        stored = {
            (sid, tid): removed_at is None
            for sid, tid, removed_at in SiteLink.objects.using(using)
            .filter(site__project=proj)
            .values_list("site__site_id", "taxon_id", "removed_at")
        }
        have = {k for k, active in stored.items() if active}
        now = timezone.now()
        new: dict[tuple[str, str], Any] = {}
        already = 0
        for _, s, value, note, src in pending:
            key = (s.site_id, resolved[value])
            if key in have or key in new:
                already += 1
                continue
            new[key] = SiteLink(site=s, taxon_id=key[1], source=src, note=note, made_by=who, made_at=now)
        for key, link in new.items():
            if key in stored:  # unlinked earlier: link again
                SiteLink.objects.using(using).filter(site=link.site, taxon_id=key[1]).update(
                    source=link.source,
                    note=link.note,
                    made_by=who,
                    made_at=now,
                    removed_by=None,
                    removed_at=None,
                )
        SiteLink.objects.using(using).bulk_create([x for k, x in new.items() if k not in stored])
        return {"linked": len(new), "already": already}


def unlink_species(
    project: str, site: str, taxa: Iterable[str], *, user: str | None = None, using: str = "default"
) -> list[str]:
    """Remove the links of ``taxa`` (ids or names) from a site; returns the taxon ids unlinked.
    A taxon that is not linked there raises ``InputError`` (nothing is removed). The links are
    kept, marked removed (who, when); linking the species again brings them back."""
    from assess2plan.web.store.models import SiteLink

    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_site(proj, site, using)
        links = SiteLink.objects.using(using).filter(site=s, removed_at__isnull=True)
        linked = set(links.values_list("taxon_id", flat=True))
        values = [_clean(t) for t in taxa if _clean(t)]
        if not values:
            raise InputError("taxa", "no taxon given", value="")
        ids: list[str] = []
        for v in values:
            tid = v if v in linked else _resolve(proj, [v], "taxa", using)[v]
            if tid not in linked:
                raise InputError("taxa", f"this taxon ({tid}) is not linked to site {s.site_id!r}", value=v)
            ids.append(tid)
        links.filter(taxon_id__in=ids).update(removed_by=who, removed_at=timezone.now())
        return sorted(set(ids))


def site_links(
    project: str, *, site: str | None = None, taxon: str | None = None, using: str = "default"
) -> pl.DataFrame:
    """The site-links frame (``SITE_LINKS_SCHEMA``), optionally for one site and/or one taxon."""
    from assess2plan.web.store.models import SiteLink

    proj = _project(project, using)
    qs = (
        SiteLink.objects.using(using)
        .filter(site__project=proj, removed_at__isnull=True)
        .select_related("site")
    )
    if site is not None:
        qs = qs.filter(site=_get_site(proj, site, using))
    if taxon is not None:
        tid = _clean(taxon)
        if not qs.filter(taxon_id=tid).exists():
            tid = _resolve(proj, [tid], "taxon", using)[tid]
        qs = qs.filter(taxon_id=tid)
    rows = [
        {
            "taxon_id": link.taxon_id,
            "site_id": link.site.site_id,
            "site_name": link.site.name,
            "source": link.source,
            "note": link.note or None,
            "made_by": link.made_by,
            "made_at": _naive(link.made_at),
        }
        for link in qs.order_by("site__site_id", "taxon_id")
    ]
    return _frame(rows, SITE_LINKS_SCHEMA)


def site_species(project: str, site: str, *, using: str = "default") -> pl.DataFrame:
    """The species linked to a site with their latest category: taxon_id, scientific_name,
    category, source, note, made_by, made_at (threatened first)."""
    from assess2plan.sheet import category_rank

    links = site_links(project, site=site, using=using)
    if links.height == 0:
        return pl.DataFrame(
            schema={
                "taxon_id": S,
                "scientific_name": S,
                "category": S,
                "source": S,
                "note": S,
                "made_by": S,
                "made_at": DT,
            }
        )
    sheet = _latest_rows(project, links["taxon_id"].to_list(), using)
    proj = _project(project, using)
    names = _names(proj, links["taxon_id"].to_list(), using)
    info = (
        sheet.select("taxon_id", "scientific_name", "category")
        if sheet.height
        else pl.DataFrame(schema={"taxon_id": S, "scientific_name": S, "category": S})
    )
    out = links.join(info, on="taxon_id", how="left").with_columns(
        pl.coalesce(
            pl.col("scientific_name"), pl.col("taxon_id").replace_strict(names, default=None, return_dtype=S)
        ).alias("scientific_name")
    )
    out = out.with_columns(category_rank(pl.col("category")).alias("_rank")).sort(
        ["_rank", "scientific_name"], nulls_last=True
    )
    return out.select("taxon_id", "scientific_name", "category", "source", "note", "made_by", "made_at")


# =================================================================================================
# site events, notifications, re-assessment flags
# =================================================================================================
@dataclass
class EventResult:
    """A site event: ``event`` (dict, ``EVENT_SCHEMA`` keys plus ``site_name``), the ``affected``
    species frame (``AFFECTED_SCHEMA``), the ``deliveries`` frame (``DELIVERY_SCHEMA``) and the
    attempt-by-attempt log of each delivery (``delivery_logs[delivery_id]``)."""

    event: dict[str, Any]
    affected: pl.DataFrame
    deliveries: pl.DataFrame
    delivery_logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _latest_rows(project: str, taxon_ids: list[str], using: str) -> pl.DataFrame:
    """Planning-sheet rows (``assess2plan.sheet.sheet_rows``) of the latest assessment of each
    taxon: its latest Global assessment, else its latest assessment of any scope."""
    from assess2plan.sheet import sheet_rows
    from assess2plan.web.store.load import read_frames

    frames = read_frames(project, taxon_ids=taxon_ids, latest_only=True, using=using)
    a = frames["assessments"]
    if a.height == 0:
        return pl.DataFrame()
    a = (
        a.with_columns(
            pl.col("scopes").fill_null("Global").str.split("|").list.contains("Global").alias("_global")
        )
        .sort(
            ["_global", "year_published", "assessment_date", "assessment_id"],
            descending=True,
            nulls_last=True,
        )
        .unique("taxon_id", keep="first", maintain_order=True)
    )
    return sheet_rows(frames, a)


def _commitment_text(c: Any) -> str:
    due = f", due {c.due_date.isoformat()}" if c.due_date else ""
    name = name_of("conservation_actions", c.action_code)
    action = f"{c.action_code} {name}" if name else c.action_code
    return f"{c.commitment_id} {c.stakeholder.name}: {action} ({c.status}{due})"


def _stakeholder_text(s: Any) -> str:
    out = s.name
    if s.organisation and s.organisation != s.name:
        out += f" ({s.organisation})"
    if s.email:
        out += f" <{s.email}>"
    return out


def _affected(proj: Any, site: Any, severity: str, title: str, using: str) -> list[dict[str, Any]]:
    """The species linked to ``site`` with what planners need to act (``AFFECTED_SCHEMA``)."""
    from assess2plan.sheet import category_rank
    from assess2plan.web.store.models import Commitment, SiteLink, Stakeholder

    links = SiteLink.objects.using(using).filter(site=site, removed_at__isnull=True)
    taxa = sorted(set(links.values_list("taxon_id", flat=True)))
    if not taxa:
        return []
    linked = set(taxa)
    sheet = _latest_rows(proj.slug, taxa, using)
    by_taxon = {r["taxon_id"]: r for r in sheet.iter_rows(named=True)} if sheet.height else {}
    names = _names(proj, taxa, using)
    commitments: dict[str, list[Any]] = {}
    at_site = [site.site_id.lower(), site.name.lower()]
    for c in (
        Commitment.objects.using(using)
        .filter(project=proj)
        .exclude(status="dropped")
        .select_related("stakeholder")
        .order_by("id")
    ):
        if c.taxon_id in linked:
            commitments.setdefault(c.taxon_id, []).append(c)
        elif c.taxon_id is None and c.place and c.place.strip().lower() in at_site:
            commitments.setdefault("*", []).append(c)  # a commitment at this site, for no one taxon
    site_people = [
        s
        for s in Stakeholder.objects.using(using).filter(project=proj).order_by("stakeholder_id")
        if site.site_id in s.sites.split("|")
    ]
    reason = f"{severity} event at site {site.site_id} ({site.name}): {title}"
    rows = []
    for t in taxa:
        r = by_taxon.get(t)
        mine = commitments.get(t, []) + commitments.get("*", [])
        people: list[Any] = []
        for p in [c.stakeholder for c in mine] + site_people:
            if all(p.pk != q.pk for q in people):
                people.append(p)
        rows.append(
            {
                "taxon_id": t,
                "scientific_name": (r or {}).get("scientific_name") or names.get(t),
                "category": (r or {}).get("category"),
                "threats": "|".join(r["threats"]) if r else None,
                "major_threats": "|".join(r["major_threats"]) if r else None,
                "actions_needed": "|".join(r["actions_needed"]) if r else None,
                "actions_in_place": "|".join(r["actions_in_place"]) if r else None,
                "commitments": "; ".join(_commitment_text(c) for c in mine) or None,
                "stakeholders": "; ".join(_stakeholder_text(p) for p in people) or None,
                "reassess": True,
                "reason": reason if r else reason + " (no assessment of this taxon is stored)",
            }
        )
    df = _frame(rows, AFFECTED_SCHEMA)
    df = df.with_columns(category_rank(pl.col("category")).alias("_rank")).sort(
        ["_rank", "scientific_name", "taxon_id"], nulls_last=True
    )
    return df.drop("_rank").to_dicts()


def _event_row(e: Any) -> dict[str, Any]:
    return {
        "event_id": str(e.id),
        "site_id": e.site.site_id,
        "site_name": e.site.name,
        "title": e.title,
        "description": e.description,
        "severity": e.severity,
        "made_by": e.made_by,
        "made_at": _naive(e.made_at),
    }


def _delivery_row(d: Any) -> dict[str, Any]:
    return {
        "delivery_id": str(d.id),
        "event_id": str(d.event_id),
        "channel": d.channel,
        "target": d.target,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error or None,
        "delivered_at": _naive(d.delivered_at),
    }


def event_message(
    project: str, event: Mapping[str, Any], site: Mapping[str, Any], affected: list[dict[str, Any]]
) -> notify.Message:
    """The notification of an event: e-mail subject, text and HTML listing every affected species
    with its category, threats, actions and stakeholders; the webhook payload (JSON) with the same.
    The site's geometry is never included (sensitive sites)."""
    n = len(affected)
    when = event["made_at"].strftime("%Y-%m-%d %H:%M UTC") if event.get("made_at") else ""
    subject = f"[assess2plan] {event['severity']}: {event['title']} at {site['name']} ({n} species affected)"
    lines = [
        f"Site event at {site['name']} ({site['site_id']}), project {project!r}",
        f"Severity: {event['severity']}",
        f"Title: {event['title']}",
        f"Raised by {event['made_by']} on {when}",
        "",
    ]
    if event.get("description"):
        lines += [event["description"], ""]
    if not affected:
        lines.append("No species are linked to this site.")
    else:
        lines.append(f"{n} species affected (each is flagged for re-assessment):")
        lines.append("")
    labels = [
        ("threats", "threats"),
        ("major_threats", "major threats"),
        ("actions_needed", "actions needed"),
        ("actions_in_place", "actions in place"),
        ("commitments", "commitments"),
        ("stakeholders", "stakeholders"),
    ]
    for a in affected:
        lines.append(
            f"- {a['scientific_name'] or a['taxon_id']} ({a['category'] or 'no assessment'}), "
            f"taxon {a['taxon_id']}"
        )
        for key, label in labels:
            lines.append(f"    {label}: {a.get(key) or 'none recorded'}")
    text = "\n".join(lines) + "\n"
    esc = html.escape
    cells = "".join(f"<th>{esc(h)}</th>" for h in ["species", "category", *[lbl for _, lbl in labels]])
    body_rows = "".join(
        "<tr>"
        + f"<td><i>{esc(a['scientific_name'] or '')}</i> ({esc(a['taxon_id'])})</td>"
        + f"<td>{esc(a['category'] or '')}</td>"
        + "".join(f"<td>{esc(a.get(k) or '')}</td>" for k, _ in labels)
        + "</tr>"
        for a in affected
    )
    html_body = (
        f"<html><body><h2>{esc(event['title'])}</h2>"
        f"<p>Site event at <b>{esc(site['name'])}</b> ({esc(site['site_id'])}), project {esc(project)}; "
        f"severity <b>{esc(event['severity'])}</b>; raised by {esc(event['made_by'])} on {esc(when)}.</p>"
        + (f"<p>{esc(event['description'])}</p>" if event.get("description") else "")
        + (
            f"<p>{n} species affected (each is flagged for re-assessment):</p>"
            f"<table border='1' cellpadding='4' cellspacing='0'><tr>{cells}</tr>{body_rows}</table>"
            if affected
            else "<p>No species are linked to this site.</p>"
        )
        + "</body></html>"
    )
    payload = {
        "type": "site_event",
        "project": project,
        "event": {k: (v.isoformat() + "Z" if isinstance(v, datetime) else v) for k, v in event.items()},
        "site": {k: site.get(k) for k in ("site_id", "name", "kind", "country")},
        "affected": affected,
    }
    return notify.Message(subject=subject, text=text, html=html_body, payload=payload)


def raise_event(
    project: str,
    site: str,
    title: str,
    description: str = "",
    severity: str = "warning",
    *,
    user: str | None = None,
    notify_subscribers: bool = True,
    smtp_url: str | None = None,
    mail_from: str | None = None,
    retries: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
    using: str = "default",
) -> EventResult:
    """Record an event at a site (``severity``: info | warning | critical) and act on it.

    In one transaction: the event, a snapshot of the affected species (every taxon linked to the
    site: latest category, threats, major threats (medium/high impact), actions needed, actions in
    place answered Yes, commitments and stakeholders), one re-assessment flag per affected taxon
    and one pending delivery per active subscription of the site (or of all sites). Then,
    outside the transaction, each delivery is sent (``assess2plan.notify.deliver``: e-mail via
    ``smtp_url`` / ``$A2P_SMTP_URL``, signed webhooks) and its outcome recorded; a failed
    delivery is kept for ``retry_deliveries``. ``notify_subscribers=False`` leaves them pending.
    """
    from assess2plan.web.store.models import Delivery, ReassessmentFlag, SiteEvent, Subscription

    title_ = _check("title", title, _required)
    sev = _check("severity", severity, _choice(SEVERITIES))
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_site(proj, site, using)
        affected = _affected(proj, s, sev, title_, using)
        e = SiteEvent.objects.using(using).create(
            project=proj,
            site=s,
            title=title_,
            description=_clean(description),
            severity=sev,
            made_by=who,
            made_at=timezone.now(),
            affected=affected,
        )
        ReassessmentFlag.objects.using(using).bulk_create(
            [
                ReassessmentFlag(
                    project=proj,
                    taxon_id=a["taxon_id"],
                    reason=a["reason"],
                    event=e,
                    made_by=who,
                    made_at=e.made_at,
                )
                for a in affected
            ]
        )
        subs = (
            Subscription.objects.using(using)
            .filter(project=proj, active=True)
            .filter(models_q_site(s))
            .order_by("id")
        )
        for sub in subs:
            Delivery.objects.using(using).create(
                event=e, subscription=sub, channel=sub.channel, target=sub.target
            )
    if notify_subscribers:
        _send_pending(
            project,
            Delivery.objects.using(using)
            .filter(event=e, status="pending")
            .select_related("event", "event__site", "subscription")
            .order_by("id"),
            smtp_url=smtp_url,
            mail_from=mail_from,
            retries=retries,
            backoff=backoff,
            sleep=sleep,
            timeout=timeout,
            using=using,
        )
    return event_detail(project, e.id, using=using)


def models_q_site(site: Any):  # noqa: ANN201 - Q
    """Subscriptions that cover ``site``: those of the site and those of every site (site null)."""
    from django.db.models import Q

    return Q(site=site) | Q(site__isnull=True)


def _send_pending(
    project: str,
    deliveries: Iterable[Any],
    *,
    smtp_url: str | None,
    mail_from: str | None,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    timeout: float,
    using: str,
) -> None:
    """Send each delivery (already claimed: status pending) and record the outcome, one small
    transaction per delivery (no database lock is held while talking to a mail server)."""
    from assess2plan.web.store.models import Delivery

    messages: dict[int, notify.Message] = {}
    for d in deliveries:
        e = d.event
        if e.id not in messages:
            messages[e.id] = event_message(project, _event_row(e), _site_row(e.site), e.affected)
        secret = d.subscription.secret if d.subscription_id else ""
        result = notify.deliver(
            d.channel,
            d.target,
            messages[e.id],
            retries=retries,
            backoff=backoff,
            sleep=sleep,
            secret=secret or None,
            smtp_url=smtp_url,
            sender=mail_from,
            timeout=timeout,
        )
        offset = d.attempts
        log = list(d.log or []) + [
            {**x, "attempt": x["attempt"] + offset if x["attempt"] else offset} for x in result.log
        ]
        with transaction.atomic(using=using):
            Delivery.objects.using(using).filter(pk=d.pk).update(
                status=result.status,
                attempts=offset + result.attempts,
                last_error=result.last_error,
                delivered_at=result.delivered_at,
                log=log,
            )


def retry_deliveries(
    project: str,
    *,
    event_id: int | str | None = None,
    stale_after: timedelta = timedelta(minutes=15),
    smtp_url: str | None = None,
    mail_from: str | None = None,
    retries: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
    using: str = "default",
) -> pl.DataFrame:
    """Send again the failed deliveries of ``project`` (of one event with ``event_id``) and the
    ones left pending for longer than ``stale_after`` (a sender that stopped half-way), as long as
    their subscription is still active. Returns the deliveries tried (``DELIVERY_SCHEMA``), with
    their new status; attempts add up and the log keeps every attempt."""
    from django.db.models import Q

    from assess2plan.web.store.models import Delivery

    proj = _project(project, using)
    qs = Delivery.objects.using(using).filter(event__project=proj, subscription__active=True)
    if event_id is not None:
        qs = qs.filter(event_id=_event_pk(event_id))
    cutoff = timezone.now() - stale_after
    todo = list(qs.filter(Q(status="failed") | Q(status="pending", created_at__lt=cutoff)).order_by("id"))
    claimed = []
    for d in todo:
        with transaction.atomic(using=using):
            # claim: a concurrent retry of the same failed delivery finds it pending and skips it
            n = (
                Delivery.objects.using(using)
                .filter(pk=d.pk, status=d.status, attempts=d.attempts)
                .update(status="pending")
            )
        if n == 1:
            claimed.append(d.pk)
    _send_pending(
        project,
        Delivery.objects.using(using)
        .filter(pk__in=claimed)
        .select_related("event", "event__site", "subscription")
        .order_by("id"),
        smtp_url=smtp_url,
        mail_from=mail_from,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
        timeout=timeout,
        using=using,
    )
    return _frame(
        [_delivery_row(d) for d in Delivery.objects.using(using).filter(pk__in=claimed).order_by("id")],
        DELIVERY_SCHEMA,
    )


def _event_pk(event_id: int | str) -> int:
    try:
        return int(str(event_id).strip().lstrip("#"))
    except ValueError:
        raise InputError("event_id", "is not an event number (see a2p event list)", value=event_id) from None


def event_detail(project: str, event_id: int | str, *, using: str = "default") -> EventResult:
    """One event with its affected-species snapshot and its deliveries."""
    from assess2plan.web.store.models import Delivery, SiteEvent

    proj = _project(project, using)
    e = (
        SiteEvent.objects.using(using)
        .filter(project=proj, id=_event_pk(event_id))
        .select_related("site")
        .first()
    )
    if e is None:
        raise InputError(
            "event_id",
            f"no event with this number in project {project!r} (see a2p event list)",
            value=event_id,
        )
    ds = list(Delivery.objects.using(using).filter(event=e).order_by("id"))
    return EventResult(
        event=_event_row(e),
        affected=_frame(e.affected, AFFECTED_SCHEMA),
        deliveries=_frame([_delivery_row(d) for d in ds], DELIVERY_SCHEMA),
        delivery_logs={str(d.id): list(d.log or []) for d in ds},
    )


def list_events(project: str, *, site: str | None = None, using: str = "default") -> pl.DataFrame:
    """Events of ``project`` (oldest first): ``EVENT_SCHEMA`` plus ``site_name``, ``species``
    (number affected) and the number of deliveries ``sent``, ``failed`` and ``pending``."""
    from assess2plan.web.store.models import Delivery, SiteEvent

    proj = _project(project, using)
    qs = SiteEvent.objects.using(using).filter(project=proj).select_related("site")
    if site is not None:
        qs = qs.filter(site=_get_site(proj, site, using))
    counts: dict[tuple[int, str], int] = {}
    for eid, status in (
        Delivery.objects.using(using).filter(event__project=proj).values_list("event_id", "status")
    ):
        counts[(eid, status)] = counts.get((eid, status), 0) + 1
    rows = [
        {
            **_event_row(e),
            "species": len(e.affected or []),
            **{k: counts.get((e.id, k), 0) for k in ("sent", "failed", "pending")},
        }
        for e in qs.order_by("made_at", "id")
    ]
    extra = {"site_name": S, "species": pl.Int32, "sent": pl.Int32, "failed": pl.Int32, "pending": pl.Int32}
    return _frame(rows, {**EVENT_SCHEMA, **extra})


def list_deliveries(
    project: str, *, event_id: int | str | None = None, status: str | None = None, using: str = "default"
) -> pl.DataFrame:
    """The delivery log (``DELIVERY_SCHEMA``) of ``project``, optionally of one event / status."""
    from assess2plan.web.store.models import Delivery

    proj = _project(project, using)
    qs = Delivery.objects.using(using).filter(event__project=proj)
    if event_id is not None:
        qs = qs.filter(event_id=_event_pk(event_id))
    if status is not None:
        qs = qs.filter(status=status)
    return _frame([_delivery_row(d) for d in qs.order_by("id")], DELIVERY_SCHEMA)


# -- subscriptions ----------------------------------------------------------------------------------
def _subscription_row(s: Any) -> dict[str, Any]:
    return {
        "subscription_id": str(s.id),
        "site_id": s.site.site_id if s.site_id else None,
        "channel": s.channel,
        "target": s.target,
        "signed": bool(s.secret),
        "active": s.active,
        "made_by": s.made_by,
        "made_at": _naive(s.made_at),
    }


def subscribe(
    project: str,
    channel: str,
    target: str,
    *,
    site: str | None = None,
    secret: str | None = None,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Subscribe an e-mail address (``channel="email"``) or a webhook URL (``"webhook"``, signed
    with ``secret`` when given) to the events of one site, or of every site when ``site`` is None."""
    from assess2plan.web.store.models import Subscription

    ch = _check("channel", channel, _choice(CHANNELS))
    tgt = _check("target", target, _required)
    _check("target", tgt, _email if ch == "email" else _url)
    if secret and ch != "webhook":
        raise InputError(
            "secret", "only webhooks are signed; an e-mail subscription takes no secret", value="***"
        )
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_site(proj, site, using) if site else None
        dup = (
            Subscription.objects.using(using)
            .filter(project=proj, site=s, channel=ch, target=tgt, active=True)
            .first()
        )
        if dup is not None:
            raise A2PError(
                f"{tgt} is already subscribed to {('site ' + s.site_id) if s else 'all sites'} "
                f"(subscription {dup.id})"
            )
        sub = Subscription.objects.using(using).create(
            project=proj,
            site=s,
            channel=ch,
            target=tgt,
            secret=secret or "",
            made_by=who,
            made_at=timezone.now(),
        )
        return _subscription_row(sub)


def unsubscribe(
    project: str, subscription_id: int | str, *, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Switch a subscription off (it is kept, with who ended it and when, for the delivery log)."""
    from assess2plan.web.store.models import Subscription

    who = _user(user)
    try:
        pk = int(str(subscription_id).strip())
    except ValueError:
        raise InputError(
            "subscription_id", "is not a subscription number (see a2p subscribe list)", value=subscription_id
        ) from None
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        sub = Subscription.objects.using(using).filter(project=proj, id=pk).select_related("site").first()
        if sub is None:
            raise InputError(
                "subscription_id",
                f"no subscription with this number in project {project!r}",
                value=subscription_id,
            )
        if not sub.active:
            raise A2PError(
                f"subscription {pk} was ended already (by {sub.ended_by} on {sub.ended_at:%Y-%m-%d})"
            )
        sub.active = False
        sub.ended_by = who
        sub.ended_at = timezone.now()
        sub.save(using=using, update_fields=["active", "ended_by", "ended_at"])
        return _subscription_row(sub)


def list_subscriptions(
    project: str, *, include_inactive: bool = False, using: str = "default"
) -> pl.DataFrame:
    """Subscriptions (``SUBSCRIPTION_SCHEMA``; ``signed``: a webhook secret is set, never shown)."""
    from assess2plan.web.store.models import Subscription

    proj = _project(project, using)
    qs = Subscription.objects.using(using).filter(project=proj).select_related("site")
    if not include_inactive:
        qs = qs.filter(active=True)
    return _frame([_subscription_row(s) for s in qs.order_by("id")], SUBSCRIPTION_SCHEMA)


# -- re-assessment flags ----------------------------------------------------------------------------
def _flag_row(f: Any, names: Mapping[str, str | None]) -> dict[str, Any]:
    return {
        "flag_id": str(f.id),
        "taxon_id": f.taxon_id,
        "scientific_name": names.get(f.taxon_id),
        "reason": f.reason,
        "event_id": str(f.event_id) if f.event_id else None,
        "made_by": f.made_by,
        "made_at": _naive(f.made_at),
        "cleared_by": f.cleared_by,
        "cleared_at": _naive(f.cleared_at),
        "clear_reason": f.clear_reason or None,
    }


def list_flags(
    project: str, *, include_cleared: bool = False, taxon: str | None = None, using: str = "default"
) -> pl.DataFrame:
    """Re-assessment flags (``FLAGS_SCHEMA``), open ones only unless ``include_cleared``."""
    from assess2plan.web.store.models import ReassessmentFlag

    proj = _project(project, using)
    qs = ReassessmentFlag.objects.using(using).filter(project=proj)
    if not include_cleared:
        qs = qs.filter(cleared_at__isnull=True)
    if taxon is not None:
        tid = _clean(taxon)
        if not qs.filter(taxon_id=tid).exists():
            tid = _resolve(proj, [tid], "taxon", using)[tid]
        qs = qs.filter(taxon_id=tid)
    flags = list(qs.order_by("made_at", "id"))
    names = _names(proj, [f.taxon_id for f in flags], using)
    return _frame([_flag_row(f, names) for f in flags], FLAGS_SCHEMA)


def flag_for_reassessment(
    project: str, taxon: str, reason: str, *, user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Flag one taxon for re-assessment by hand (``reason`` required)."""
    from assess2plan.web.store.models import ReassessmentFlag

    why = _check("reason", reason, _required)
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        tid = _resolve(proj, [taxon], "taxon", using)[_clean(taxon)]
        f = ReassessmentFlag.objects.using(using).create(
            project=proj, taxon_id=tid, reason=why, made_by=who, made_at=timezone.now()
        )
        return _flag_row(f, _names(proj, [tid], using))


def flag_outdated(
    project: str,
    *,
    years: int = 10,
    today: date | None = None,
    user: str | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """Flag for re-assessment every species whose latest assessment is more than ``years`` old
    (the ``assessment_outdated`` check, same dates and thresholds); a species that already has an
    open "assessment outdated" flag is left as it is. Returns the new flags (``FLAGS_SCHEMA``)."""
    from assess2plan.checks import check_frame
    from assess2plan.web.store.load import read_frames
    from assess2plan.web.store.models import ReassessmentFlag

    who = _user(user)
    frames = read_frames(project, using=using)
    aset = AssessmentSet.from_frames(frames)
    found = check_frame(
        aset,
        rules=["assessment_outdated"],
        config={"rules": {"assessment_outdated": {"max_age_years": int(years)}}},
        today=today,
    ).filter(pl.col("taxon_id").is_not_null())
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        open_ = set(
            ReassessmentFlag.objects.using(using)
            .filter(project=proj, cleared_at__isnull=True, reason__startswith="assessment outdated")
            .values_list("taxon_id", flat=True)
        )
        now = timezone.now()
        made = [
            ReassessmentFlag.objects.using(using).create(
                project=proj, taxon_id=r["taxon_id"], reason=f"assessment outdated: {r['message']}", made_by=who, made_at=now
            )
            for r in found.iter_rows(named=True)
            if r["taxon_id"] not in open_
        ]
        names = _names(proj, [f.taxon_id for f in made], using)
        return _frame([_flag_row(f, names) for f in made], FLAGS_SCHEMA)


def clear_flag(
    project: str,
    flag_id: int | str | None = None,
    *,
    taxon: str | None = None,
    reason: str = "",
    user: str | None = None,
    using: str = "default",
) -> list[str]:
    """Clear one open flag (``flag_id``) or every open flag of a ``taxon`` (e.g. once it was
    re-assessed); the flags are kept with who cleared them, when and why. Returns the flag ids."""
    from assess2plan.web.store.models import ReassessmentFlag

    if (flag_id is None) == (taxon is None):
        raise A2PError("say which flag to clear: a flag number or a taxon (one of the two)")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        qs = ReassessmentFlag.objects.using(using).filter(project=proj)
        if flag_id is not None:
            try:
                pk = int(str(flag_id).strip())
            except ValueError:
                raise InputError(
                    "flag_id", "is not a flag number (see a2p flags list)", value=flag_id
                ) from None
            f = qs.filter(id=pk).first()
            if f is None:
                raise InputError("flag_id", f"no flag with this number in project {project!r}", value=flag_id)
            if f.cleared_at is not None:
                raise A2PError(f"flag {pk} was cleared already by {f.cleared_by} on {f.cleared_at:%Y-%m-%d}")
            ids = [pk]
        else:
            tid = _clean(taxon)
            if not qs.filter(taxon_id=tid).exists():
                tid = _resolve(proj, [tid], "taxon", using)[tid]
            ids = list(qs.filter(taxon_id=tid, cleared_at__isnull=True).values_list("id", flat=True))
            if not ids:
                raise A2PError(f"taxon {taxon!r} has no open re-assessment flag")
        qs.filter(id__in=ids).update(cleared_by=who, cleared_at=timezone.now(), clear_reason=_clean(reason))
        return [str(i) for i in sorted(ids)]


# =================================================================================================
# stakeholders
# =================================================================================================
STAKEHOLDER_FIELDS = (
    "name",
    "kind",
    "organisation",
    "role",
    "email",
    "webhook",
    "countries",
    "sites",
    "expertise",
    "source",
)


def _stakeholder_values(
    proj: Any, using: str, values: Mapping[str, Any], err: Callable[[str, str, Any], Exception]
) -> dict[str, Any]:
    from assess2plan.web.store.models import Site

    def cell(name: str, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(values.get(name))
        except _Invalid as e:
            raise err(name, str(e), values.get(name)) from None

    out = {
        "name": cell("name", _required),
        "kind": cell(
            "kind",
            lambda v: _choice(STAKEHOLDER_KINDS, {"organization": "organisation", "org": "organisation"})(
                v or "organisation"
            ),
        ),
        "organisation": _clean(values.get("organisation")),
        "role": _clean(values.get("role")),
        "email": cell("email", _email),
        "webhook": cell("webhook", _url),
        "countries": cell("countries", _countries),
        "sites": "|".join(_split(values.get("sites"))),
        "expertise": cell("expertise", _expertise),
        "source": cell("source", lambda v: _choice(STAKEHOLDER_SOURCES)(v or "manual")),
    }
    if out["sites"]:
        known = set(Site.objects.using(using).filter(project=proj).values_list("site_id", flat=True))
        missing = [s for s in out["sites"].split("|") if s not in known]
        if missing:
            raise err(
                "sites",
                f"no site {missing[0]!r} in project {proj.slug!r} (add the site first)",
                values.get("sites"),
            )
    return out


def _stakeholder_row(s: Any) -> dict[str, Any]:
    return {
        "stakeholder_id": s.stakeholder_id,
        **{k: (getattr(s, k) or None) for k in STAKEHOLDER_FIELDS},
        "version": s.version,
        "made_by": s.made_by,
        "made_at": _naive(s.made_at),
        "updated_by": s.updated_by or None,
        "updated_at": _naive(s.updated_at),
    }


def _get_stakeholder(proj: Any, stakeholder: str, using: str, field: str = "stakeholder"):  # noqa: ANN202
    from assess2plan.web.store.models import Stakeholder

    v = _clean(stakeholder)
    s = Stakeholder.objects.using(using).filter(project=proj, stakeholder_id=v).first()
    if s is None:
        hits = list(Stakeholder.objects.using(using).filter(project=proj, name__iexact=v)[:2])
        s = hits[0] if len(hits) == 1 else None
    if s is None:
        raise InputError(
            field,
            f"no stakeholder with this id (or name) in project {proj.slug!r} (see a2p stakeholder list)",
            value=stakeholder,
        )
    return s


def add_stakeholder(
    project: str,
    stakeholder_id: str,
    name: str,
    *,
    kind: str = "organisation",
    organisation: str = "",
    role: str = "",
    email: str = "",
    webhook: str = "",
    countries: str | Sequence[str] = (),
    sites: str | Sequence[str] = (),
    expertise: str | Sequence[str] = (),
    source: str = "manual",
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Add a stakeholder (a person or an organisation). ``countries`` (ISO alpha-2), ``sites``
    (site ids of the project) and ``expertise`` ("t:7.2" threat code, "a:2.1" action code,
    "taxon:Cyprinidae", free words) are lists or text joined by | (or ;)."""
    from assess2plan.web.store.models import Stakeholder

    sid = _check("stakeholder_id", stakeholder_id, _slug)
    given = dict(
        name=name,
        kind=kind,
        organisation=organisation,
        role=role,
        email=email,
        webhook=webhook,
        countries=countries,
        sites=sites,
        expertise=expertise,
        source=source,
    )
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        values = _stakeholder_values(proj, using, given, lambda f, m, v: InputError(f, m, value=v))
        old = Stakeholder.objects.using(using).filter(project=proj, stakeholder_id=sid).first()
        if old is not None:
            raise A2PError(
                f"stakeholder {sid!r} exists already in project {project!r} (version {old.version}); "
                "update it instead"
            )
        s = Stakeholder.objects.using(using).create(
            project=proj, stakeholder_id=sid, made_by=who, made_at=timezone.now(), **values
        )
        return _stakeholder_row(s)


def update_stakeholder(
    project: str,
    stakeholder_id: str,
    *,
    expected_version: int,
    user: str | None = None,
    using: str = "default",
    **changes: Any,
) -> dict[str, Any]:
    """Change fields of a stakeholder (see ``add_stakeholder``); refused with ``VersionConflict``
    when the stakeholder changed since the caller read ``expected_version``."""
    from assess2plan.web.store.models import Stakeholder

    unknown = sorted(set(changes) - set(STAKEHOLDER_FIELDS))
    if unknown:
        raise A2PError(
            f"unknown stakeholder field(s) {', '.join(unknown)}; fields: {', '.join(STAKEHOLDER_FIELDS)}"
        )
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        s = _get_stakeholder(proj, stakeholder_id, using, "stakeholder_id")
        current = {k: getattr(s, k) for k in STAKEHOLDER_FIELDS}
        values = _stakeholder_values(
            proj, using, {**current, **changes}, lambda f, m, v: InputError(f, m, value=v)
        )
        diff = {k: v for k, v in values.items() if k in changes and v != current[k]}
        if int(expected_version) != s.version:
            raise _stale(
                "stakeholder", s.stakeholder_id, s.version, expected_version, s.updated_by or s.made_by
            )
        if not diff:
            return _stakeholder_row(s)
        n = (
            Stakeholder.objects.using(using)
            .filter(pk=s.pk, version=int(expected_version))
            .update(**diff, version=F("version") + 1, updated_by=who, updated_at=timezone.now())
        )
        s.refresh_from_db(using=using)
        if n != 1:
            raise _stale(
                "stakeholder", s.stakeholder_id, s.version, expected_version, s.updated_by or s.made_by
            )
        return _stakeholder_row(s)


def list_stakeholders(project: str, *, details: bool = False, using: str = "default") -> pl.DataFrame:
    """The stakeholders frame (``STAKEHOLDERS_SCHEMA``); ``details`` adds version and made/updated by/at."""
    from assess2plan.web.store.models import Stakeholder

    proj = _project(project, using)
    rows = [
        _stakeholder_row(s)
        for s in Stakeholder.objects.using(using).filter(project=proj).order_by("stakeholder_id")
    ]
    return _frame(rows, {**STAKEHOLDERS_SCHEMA, **(STAKEHOLDER_DETAIL_SCHEMA if details else {})})


STAKEHOLDER_CSV_COLUMNS = ("stakeholder_id", *STAKEHOLDER_FIELDS)


def import_stakeholders(
    project: str, path: str | Path, *, user: str | None = None, using: str = "default"
) -> dict[str, list[str]]:
    """Add or update stakeholders from a CSV file (UTF-8) with the columns ``stakeholder_id``,
    ``name`` and optionally kind, organisation, role, email, webhook, countries, sites, expertise,
    source (multi-valued cells joined by | or ;). All or nothing: the first bad row raises
    ``InputError`` naming file, row, column and value. Returns added / updated / unchanged ids."""
    from assess2plan.web.store.models import Stakeholder

    fname = str(path)
    header, rows = _read_csv(path)
    aliases = {
        "organization": "organisation",
        "id": "stakeholder_id",
        "country": "countries",
        "site": "sites",
        "type": "kind",
    }
    header = [aliases.get(h, h) for h in header]
    unknown = [h for h in header if h and h not in STAKEHOLDER_CSV_COLUMNS]
    if unknown:
        raise InputError(
            fname,
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"stakeholder files have {', '.join(STAKEHOLDER_CSV_COLUMNS)}",
            row=0,
            column=unknown[0],
        )
    for col in ("stakeholder_id", "name"):
        if col not in header:
            raise InputError(fname, f"the required column {col!r} is missing", row=0, column=col)
    rows = [{aliases.get(k, k): v for k, v in r.items()} for r in rows]
    who = _user(user)
    now = timezone.now()
    out: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        parsed: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, r in enumerate(rows, start=1):
            if not r:
                continue
            try:
                sid = _slug(r.get("stakeholder_id"))
            except _Invalid as e:
                raise InputError(
                    fname, str(e), row=i, column="stakeholder_id", value=r.get("stakeholder_id")
                ) from None
            if sid in parsed:
                raise InputError(
                    fname,
                    f"stakeholder id {sid!r} appears twice (first in row {parsed[sid][0]})",
                    row=i,
                    column="stakeholder_id",
                    value=sid,
                )
            given = {k: r.get(k) for k in STAKEHOLDER_FIELDS}
            values = _stakeholder_values(
                proj, using, given, lambda f, m, v, row=i: InputError(fname, m, row=row, column=f, value=v)
            )
            parsed[sid] = (i, values)
        if not parsed:
            raise InputError(fname, "no stakeholders in the file (only a header)")
        _upsert(Stakeholder, "stakeholder_id", proj, {sid: v for sid, (_, v) in parsed.items()}, out, who, now, using)
    return out


# =================================================================================================
# commitments
# =================================================================================================
def _commitment_row(c: Any, today: date) -> dict[str, Any]:
    notes = list(c.notes.all())
    progress = next((n.text for n in reversed(notes) if n.text), None)
    return {
        "commitment_id": c.commitment_id,
        "stakeholder_id": c.stakeholder.stakeholder_id,
        "stakeholder_name": c.stakeholder.name,
        "taxon_id": c.taxon_id,
        "cluster_id": c.cluster_id,
        "action_code": c.action_code,
        "action_name": name_of("conservation_actions", c.action_code),
        "place": c.place or None,
        "due_date": c.due_date,
        "status": c.status,
        "progress": progress,
        "overdue": bool(c.due_date and c.due_date < today and c.status not in ("done", "dropped")),
        "version": c.version,
        "updated_by": c.updated_by,
        "updated_at": _naive(c.updated_at),
    }


def _get_commitment(proj: Any, commitment_id: str, using: str):  # noqa: ANN202
    from assess2plan.web.store.models import Commitment

    v = _clean(commitment_id)
    c = (
        Commitment.objects.using(using)
        .filter(project=proj, commitment_id__iexact=v)
        .select_related("stakeholder")
        .first()
    )
    if c is None and v.isdigit():
        c = (
            Commitment.objects.using(using)
            .filter(project=proj, commitment_id=f"C{v}")
            .select_related("stakeholder")
            .first()
        )
    if c is None:
        raise InputError(
            "commitment_id",
            f"no commitment with this id in project {proj.slug!r} (see a2p commit list)",
            value=commitment_id,
        )
    return c


def get_commitment(
    project: str, commitment_id: str, *, today: date | None = None, using: str = "default"
) -> dict[str, Any]:
    """One commitment (``COMMITMENTS_SCHEMA`` keys) by id ("C3"; "3" and "c3" work too)."""
    proj = _project(project, using)
    return _commitment_row(_get_commitment(proj, commitment_id, using), today or timezone.now().date())


def sign_up(
    project: str,
    stakeholder: str,
    action_code: str,
    *,
    taxon: str | None = None,
    cluster_id: str | None = None,
    place: str | None = None,
    due_date: date | str | None = None,
    status: str = "proposed",
    note: str | None = None,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """A stakeholder signs up for a conservation action (scheme 2.0 code, checked) for a ``taxon``
    (id or name) and/or a ``cluster_id`` (from ``assess2plan.planning.clusters``), at a ``place``,
    by ``due_date``. Returns the commitment (``COMMITMENTS_SCHEMA`` keys; id "C1", "C2", ...)."""
    from assess2plan.web.store.models import Commitment, CommitmentNote

    code = _check("action_code", action_code, _action_code)
    st = _check("status", status, _choice(COMMITMENT_STATUSES))
    due = _check("due_date", due_date, _date)
    cluster = _clean(cluster_id) or None
    if not _clean(taxon) and not cluster:
        raise A2PError("a commitment is for a taxon and/or a cluster: give one")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        sh = _get_stakeholder(proj, stakeholder, using)
        tid = _resolve(proj, [taxon], "taxon", using)[_clean(taxon)] if _clean(taxon) else None
        numbers = [
            int(c[1:])
            for c in Commitment.objects.using(using)
            .filter(project=proj)
            .values_list("commitment_id", flat=True)
            if re.fullmatch(r"C\d+", c)
        ]
        now = timezone.now()
        c = Commitment.objects.using(using).create(
            project=proj,
            commitment_id=f"C{max(numbers, default=0) + 1}",
            stakeholder=sh,
            taxon_id=tid,
            cluster_id=cluster,
            action_code=code,
            place=_clean(place),
            due_date=due,
            status=st,
            made_by=who,
            made_at=now,
            updated_by=who,
            updated_at=now,
        )
        CommitmentNote.objects.using(using).create(
            commitment=c, text=_clean(note), status_after=st, made_by=who, made_at=now
        )
        return _commitment_row(c, timezone.now().date())


def update_commitment(
    project: str,
    commitment_id: str,
    *,
    expected_version: int,
    status: str | None = None,
    note: str | None = None,
    due_date: date | str | None = None,
    place: str | None = None,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Report progress on a commitment: a new ``status`` (proposed | active | done | dropped),
    a progress ``note``, a new ``due_date`` or ``place``. Every update adds a note row (text and
    the status after it). ``VersionConflict`` when the commitment changed since ``expected_version``."""
    from assess2plan.web.store.models import Commitment, CommitmentNote

    st = _check("status", status, _choice(COMMITMENT_STATUSES)) if status is not None else None
    due = _check("due_date", due_date, _date) if due_date is not None else None
    if st is None and not _clean(note) and due is None and place is None:
        raise A2PError("nothing to update: give a status, a note, a due date or a place")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        c = _get_commitment(proj, commitment_id, using)
        if int(expected_version) != c.version:
            raise _stale("commitment", c.commitment_id, c.version, expected_version, c.updated_by)
        now = timezone.now()
        vals: dict[str, Any] = {"updated_by": who, "updated_at": now}
        if st is not None:
            vals["status"] = st
        if due is not None:
            vals["due_date"] = due
        if place is not None:
            vals["place"] = _clean(place)
        n = (
            Commitment.objects.using(using)
            .filter(pk=c.pk, version=int(expected_version))
            .update(**vals, version=F("version") + 1)
        )
        c.refresh_from_db(using=using)
        if n != 1:
            raise _stale("commitment", c.commitment_id, c.version, expected_version, c.updated_by)
        CommitmentNote.objects.using(using).create(
            commitment=c, text=_clean(note), status_after=c.status, made_by=who, made_at=now
        )
        return _commitment_row(c, now.date())


def list_commitments(
    project: str,
    *,
    today: date | None = None,
    stakeholder: str | None = None,
    taxon: str | None = None,
    status: str | None = None,
    overdue_only: bool = False,
    using: str = "default",
) -> pl.DataFrame:
    """The commitments frame (``COMMITMENTS_SCHEMA``). ``overdue``: due before ``today`` (default:
    the current date) and neither done nor dropped; ``progress``: the latest progress note."""
    from django.db.models import Prefetch

    from assess2plan.web.store.models import Commitment, CommitmentNote

    proj = _project(project, using)
    when = today or timezone.now().date()
    qs = (
        Commitment.objects.using(using)
        .filter(project=proj)
        .select_related("stakeholder")
        .prefetch_related(
            Prefetch("notes", queryset=CommitmentNote.objects.using(using).order_by("made_at", "id"))
        )
    )
    if stakeholder is not None:
        qs = qs.filter(stakeholder=_get_stakeholder(proj, stakeholder, using))
    if taxon is not None:
        tid = _clean(taxon)
        if not qs.filter(taxon_id=tid).exists():
            tid = _resolve(proj, [tid], "taxon", using)[tid]
        qs = qs.filter(taxon_id=tid)
    if status is not None:
        qs = qs.filter(status=_check("status", status, _choice(COMMITMENT_STATUSES)))
    df = _frame([_commitment_row(c, when) for c in qs.order_by("id")], COMMITMENTS_SCHEMA)
    return df.filter(pl.col("overdue")) if overdue_only else df


def commitment_notes(project: str, commitment_id: str, *, using: str = "default") -> pl.DataFrame:
    """The progress notes of a commitment, oldest first (``COMMITMENT_NOTES_SCHEMA``)."""
    proj = _project(project, using)
    c = _get_commitment(proj, commitment_id, using)
    rows = [
        {
            "commitment_id": c.commitment_id,
            "text": n.text or None,
            "status_after": n.status_after,
            "made_by": n.made_by,
            "made_at": _naive(n.made_at),
        }
        for n in c.notes.using(using).order_by("made_at", "id")
    ]
    return _frame(rows, COMMITMENT_NOTES_SCHEMA)


def commitments_as_actions_in_place(
    project: str,
    *,
    members: Any = None,
    statuses: Iterable[str] = ("done",),
    include_unchanged: bool = False,
    scope: str = "Global",
    using: str = "default",
) -> pl.DataFrame:
    """Proposed updates of the "conservation actions in place" (SIS ``InPlace*`` fields) for the
    species' next assessments, from the stored commitments whose status is in ``statuses``
    (default done; add "active" for ongoing programmes such as an existing ex situ population).

    The commitments frame and the latest assessments of the species it names are read from the
    store and handed to ``assess2plan.planning.commitments.actions_in_place_updates`` (the action
    -> InPlace field crosswalk ``planning/data/inplace_crosswalk.csv`` and the rules live there);
    columns ``INPLACE_UPDATE_COLUMNS`` of that module (taxon_id, scientific_name, assessment_id,
    field, current_value, proposed_value, action_code, action_name, status, progress, stakeholder,
    commitment_id, note). Commitments for a cluster are proposed for each member species when
    ``members`` (the clusters' members frame: cluster_id, taxon_id) is given.
    """
    from assess2plan.model import SCHEMA, AssessmentSet
    from assess2plan.planning.commitments import actions_in_place_updates
    from assess2plan.web.store.load import read_frames

    cm = list_commitments(project, using=using)
    taxa = {t for t in cm["taxon_id"].to_list() if t}
    frame = members if isinstance(members, pl.DataFrame) else getattr(members, "members", None)
    if isinstance(frame, pl.DataFrame) and {"cluster_id", "taxon_id"} <= set(frame.columns):
        clusters = {c for c in cm["cluster_id"].to_list() if c}
        taxa |= {
            str(t) for c, t in frame.select("cluster_id", "taxon_id").iter_rows() if c in clusters and t is not None
        }
    frames = read_frames(project, taxon_ids=sorted(taxa), latest_only=True, using=using)
    frames["assessments"] = frames["assessments"].select(list(SCHEMA["assessments"]))
    return actions_in_place_updates(
        cm,
        AssessmentSet(tables=frames),
        members=members,
        statuses=statuses,
        scope=scope,
        include_unchanged=include_unchanged,
    )


# =================================================================================================
# bucket decisions
# =================================================================================================
def _decision_row(d: Any, names: Mapping[str, str | None]) -> dict[str, Any]:
    return {
        "decision_id": str(d.id),
        "taxon_id": d.taxon_id,
        "scientific_name": names.get(d.taxon_id),
        "bucket": d.bucket,
        "decision": d.decision,
        "reason": d.reason,
        "made_by": d.made_by,
        "made_at": _naive(d.made_at),
        "undone_by": d.undone_by,
        "undone_at": _naive(d.undone_at),
        "undo_reason": d.undo_reason or None,
    }


def decide_bucket(
    project: str,
    taxon: str,
    bucket: str,
    decision: str,
    reason: str,
    *,
    user: str | None = None,
    using: str = "default",
) -> dict[str, Any]:
    """Record a facilitator's decision on a planning bucket of a taxon: ``accept`` or ``reject``
    the suggested bucket, or ``add`` the taxon to a bucket by hand. ``reason`` is required.
    Decisions are keyed on the taxon id, so they survive a re-import; the latest decision per
    (taxon, bucket) that is not undone counts (``planning.triage.apply_decisions``)."""
    from assess2plan.web.store.models import BucketDecision

    b = _check(
        "bucket",
        bucket,
        _choice(
            BUCKETS,
            {"single": "single_species", "site": "site_based", "threat": "threat_based", "exsitu": "ex_situ"},
        ),
    )
    d = _check("decision", decision, _choice(DECISIONS))
    why = _check("reason", reason, _required)
    who = _user(user)
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        tid = _resolve(proj, [taxon], "taxon", using)[_clean(taxon)]
        row = BucketDecision.objects.using(using).create(
            project=proj, taxon_id=tid, bucket=b, decision=d, reason=why, made_by=who, made_at=timezone.now()
        )
        return _decision_row(row, _names(proj, [tid], using))


def undo_decision(
    project: str, decision_id: int | str, *, reason: str = "", user: str | None = None, using: str = "default"
) -> dict[str, Any]:
    """Undo a bucket decision: it is marked undone (who, when, why), never deleted; the previous
    decision on the same taxon and bucket (if any) counts again. Refused when undone already."""
    from assess2plan.web.store.models import BucketDecision

    who = _user(user)
    try:
        pk = int(str(decision_id).strip().lstrip("#"))
    except ValueError:
        raise InputError(
            "decision_id", "is not a decision number (see a2p decide log)", value=decision_id
        ) from None
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        d = BucketDecision.objects.using(using).filter(project=proj, id=pk).first()
        if d is None:
            raise InputError(
                "decision_id",
                f"no bucket decision with this number in project {project!r}",
                value=decision_id,
            )
        if d.undone_at is not None:
            raise EditConflict(
                f"decision {pk} was undone already by {d.undone_by} on {d.undone_at:%Y-%m-%d %H:%M}"
            )
        n = (
            BucketDecision.objects.using(using)
            .filter(pk=pk, undone_at__isnull=True)
            .update(undone_by=who, undone_at=timezone.now(), undo_reason=_clean(reason))
        )
        if n != 1:
            raise EditConflict(f"decision {pk} was undone already")
        d.refresh_from_db(using=using)
        return _decision_row(d, _names(proj, [d.taxon_id], using))


def bucket_decisions(project: str, *, using: str = "default") -> pl.DataFrame:
    """The bucket decisions in effect (undone ones left out), oldest first, in the frame that
    ``planning.triage.apply_decisions`` takes (``DECISIONS_SCHEMA``)."""
    from assess2plan.web.store.models import BucketDecision

    proj = _project(project, using)
    qs = (
        BucketDecision.objects.using(using)
        .filter(project=proj, undone_at__isnull=True)
        .order_by("made_at", "id")
    )
    return _frame([_decision_row(d, {}) for d in qs], DECISIONS_SCHEMA)


def decision_log(project: str, *, taxon: str | None = None, using: str = "default") -> pl.DataFrame:
    """Every bucket decision, undone ones included, oldest first (``DECISION_LOG_SCHEMA``)."""
    from assess2plan.web.store.models import BucketDecision

    proj = _project(project, using)
    qs = BucketDecision.objects.using(using).filter(project=proj)
    if taxon is not None:
        tid = _clean(taxon)
        if not qs.filter(taxon_id=tid).exists():
            tid = _resolve(proj, [tid], "taxon", using)[tid]
        qs = qs.filter(taxon_id=tid)
    ds = list(qs.order_by("made_at", "id"))
    names = _names(proj, [d.taxon_id for d in ds], using)
    return _frame([_decision_row(d, names) for d in ds], DECISION_LOG_SCHEMA)


# =================================================================================================
# sensitive taxa
# =================================================================================================
SENSITIVE_SCHEMA = {
    "taxon_id": S,
    "scientific_name": S,
    "reason": S,
    "source": S,
    "made_by": S,
    "made_at": DT,
}
SENSITIVE_SOURCES = ("import", "manual")


def flag_sensitive(
    project: str,
    taxa: Iterable[str],
    reason: str,
    *,
    source: str = "manual",
    user: str | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """Mark taxa as sensitive: their precise locations (linked sites, site geometries, subnational
    places) are then shown only to users allowed to see sensitive data, in pages, API and exports.
    ``reason`` is required; each taxon may be a taxon id, an assessment id or an exact scientific
    name. Returns the taxa newly flagged (``SENSITIVE_SCHEMA``); flagging twice changes nothing."""
    from assess2plan.web.store.models import SensitiveTaxon

    why = _check("reason", reason, _required)
    src = _check("source", source, _choice(SENSITIVE_SOURCES))
    who = _user(user)
    values = [_clean(t) for t in taxa if _clean(t)]
    if not values:
        raise InputError("taxa", "name at least one taxon to flag as sensitive", value="")
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        ids = sorted(set(_resolve(proj, values, "taxon", using).values()))
        existing = {
            s.taxon_id: s for s in SensitiveTaxon.objects.using(using).filter(project=proj, taxon_id__in=ids)
        }
        now = timezone.now()
        new = []
        for tid in ids:
            s = existing.get(tid)
            if s is not None and s.removed_at is None:
                continue
            if s is None:
                s = SensitiveTaxon(project=proj, taxon_id=tid)
            s.reason, s.source, s.made_by, s.made_at = why, src, who, now
            s.removed_by, s.removed_at, s.remove_reason = None, None, ""
            s.save(using=using)
            new.append(s)
        names = _names(proj, [s.taxon_id for s in new], using)
        return _frame((_sensitive_row(s, names) for s in new), SENSITIVE_SCHEMA)


def unflag_sensitive(
    project: str,
    taxa: Iterable[str],
    reason: str,
    *,
    user: str | None = None,
    using: str = "default",
) -> list[str]:
    """Take the sensitive mark off taxa (``reason`` required; the record is kept with who, when and
    why). Returns the taxon ids unflagged."""
    from assess2plan.web.store.models import SensitiveTaxon

    why = _check("reason", reason, _required)
    who = _user(user)
    values = [_clean(t) for t in taxa if _clean(t)]
    with transaction.atomic(using=using):
        proj = _project(project, using, lock=True)
        ids = sorted(set(_resolve(proj, values, "taxon", using).values()))
        rows = list(
            SensitiveTaxon.objects.using(using).filter(project=proj, taxon_id__in=ids, removed_at=None)
        )
        now = timezone.now()
        for s in rows:
            s.removed_by, s.removed_at, s.remove_reason = who, now, why
            s.save(using=using)
        return [s.taxon_id for s in rows]


def _sensitive_row(s: Any, names: Mapping[str, str | None]) -> dict[str, Any]:
    return {
        "taxon_id": s.taxon_id,
        "scientific_name": names.get(s.taxon_id),
        "reason": s.reason,
        "source": s.source,
        "made_by": s.made_by,
        "made_at": _naive(s.made_at),
    }


def sensitive_taxa(project: str, *, using: str = "default") -> set[str]:
    """Taxon ids currently flagged sensitive in ``project`` (empty for an unknown project)."""
    from assess2plan.web.store.models import SensitiveTaxon

    return set(
        SensitiveTaxon.objects.using(using)
        .filter(project__slug=project, removed_at=None)
        .values_list("taxon_id", flat=True)
    )


def list_sensitive(project: str, *, using: str = "default") -> pl.DataFrame:
    """The sensitive taxa of ``project`` with who flagged them, when and why (``SENSITIVE_SCHEMA``)."""
    from assess2plan.web.store.models import SensitiveTaxon

    proj = _project(project, using)
    rows = list(SensitiveTaxon.objects.using(using).filter(project=proj, removed_at=None))
    names = _names(proj, [s.taxon_id for s in rows], using)
    return _frame((_sensitive_row(s, names) for s in rows), SENSITIVE_SCHEMA)
