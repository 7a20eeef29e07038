"""Commitments: who does which conservation action, where and by when, and what it changes.

A commitment (planning interfaces: ``COMMITMENT_COLUMNS``) is the CPSG "action with responsible
party, timeline and indicator" (domain reference §7b, step 6) tied to a taxon or a cluster of
species. The Red List itself records none of that: it only has *actions needed* (codes) and the
*actions in place* yes/no fields (SIS ``InPlace*``; §7a). This module keeps the pure logic:

* ``flag_overdue`` - which open commitments are past their due date, and by how many days;
* ``commitment_summary`` - counts by status and overdue, for a progress report;
* ``actions_in_place_updates`` - for the next assessment of each species, which ``InPlace*`` field a
  completed commitment should change (crosswalk ``planning/data/inplace_crosswalk.csv``, see
  ``inplace_crosswalk``), next to the field's current value.

Storing commitments and their history is the store's job (``web/store/planning.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet

__all__ = [
    "COMMITMENT_COLUMNS",
    "COMMITMENT_STATUSES",
    "COMMITMENT_SUMMARY_COLUMNS",
    "INPLACE_UPDATE_COLUMNS",
    "OPEN_COMMITMENT_STATUSES",
    "actions_in_place_updates",
    "commitment_summary",
    "flag_overdue",
    "inplace_crosswalk",
]

S = pl.Utf8

#: Commitment frame (planning interfaces).
COMMITMENT_COLUMNS: dict[str, Any] = {
    "commitment_id": S,
    "stakeholder_id": S,
    "stakeholder_name": S,
    "taxon_id": S,
    "cluster_id": S,
    "action_code": S,
    "action_name": S,
    "place": S,
    "due_date": pl.Date,
    "status": S,
    "progress": S,
    "overdue": pl.Boolean,
    "version": pl.Int32,
    "updated_by": S,
    "updated_at": pl.Datetime,
}
#: Status of a commitment, in the order of its life.
COMMITMENT_STATUSES = ("proposed", "active", "done", "dropped")
#: Statuses that can be overdue (done and dropped commitments never are).
OPEN_COMMITMENT_STATUSES = ("proposed", "active")

COMMITMENT_SUMMARY_COLUMNS: dict[str, Any] = {
    "status": S,
    "overdue": pl.Boolean,
    "commitments": pl.Int32,
    "stakeholders": pl.Int32,
    "species": pl.Int32,
    "clusters": pl.Int32,
    "earliest_due": pl.Date,
}

INPLACE_UPDATE_COLUMNS: dict[str, Any] = {
    "taxon_id": S,
    "scientific_name": S,
    "assessment_id": S,
    "field": S,
    "current_value": S,
    "proposed_value": S,
    "action_code": S,
    "action_name": S,
    "status": S,
    "progress": S,
    "stakeholder": S,
    "commitment_id": S,
    "note": S,
}

INPLACE_CROSSWALK_COLUMNS = ("action_code", "action_name", "field", "proposed_value", "comment")


# -------------------------------------------------------------------------------------------------
# Validation
# -------------------------------------------------------------------------------------------------


def _label(row: int, cid: object) -> str:
    return f"commitments, row {row}" + (f" (commitment {cid!r})" if cid is not None else "")


def _check_frame(commitments: object, required: Iterable[str]) -> pl.DataFrame:
    if not isinstance(commitments, pl.DataFrame):
        raise A2PError(f"commitments: expected a polars DataFrame, got {type(commitments).__name__}")
    missing = [c for c in required if c not in commitments.columns]
    if missing:
        raise A2PError(
            f"commitments: missing column(s) {', '.join(missing)}; the commitment columns are "
            f"{', '.join(COMMITMENT_COLUMNS)}"
        )
    df = commitments
    for name in (
        "commitment_id",
        "stakeholder_id",
        "stakeholder_name",
        "taxon_id",
        "cluster_id",
        "action_code",
    ):
        if name in df.columns and df.schema[name] != S:
            df = df.with_columns(pl.col(name).cast(S))
    if "status" in df.columns:
        if df.schema["status"] not in (S, pl.Null):
            raise A2PError(f"commitments: column 'status' must be text ({', '.join(COMMITMENT_STATUSES)})")
        df = df.with_columns(pl.col("status").cast(S).str.strip_chars().str.to_lowercase())
        bad = ~df["status"].is_in(COMMITMENT_STATUSES).fill_null(False)
        if bad.any():
            i = int(bad.arg_true()[0])
            cid = df["commitment_id"][i] if "commitment_id" in df.columns else None
            raise A2PError(
                f"{_label(i + 1, cid)}, column 'status': unknown status {df['status'][i]!r}; "
                f"use one of {', '.join(COMMITMENT_STATUSES)}"
            )
    return df


def _due_dates(df: pl.DataFrame) -> pl.DataFrame:
    dtype = df.schema["due_date"]
    if dtype == pl.Date:
        return df
    if dtype == pl.Null:
        return df.with_columns(pl.col("due_date").cast(pl.Date))
    if isinstance(dtype, pl.Datetime):
        return df.with_columns(pl.col("due_date").dt.date())
    if dtype == S:
        parsed = df["due_date"].str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        bad = df["due_date"].is_not_null() & (df["due_date"].str.strip_chars() != "") & parsed.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            cid = df["commitment_id"][i] if "commitment_id" in df.columns else None
            raise A2PError(
                f"{_label(i + 1, cid)}, column 'due_date': {df['due_date'][i]!r} is not a date "
                "(use YYYY-MM-DD)"
            )
        return df.with_columns(parsed.alias("due_date"))
    raise A2PError(f"commitments: column 'due_date' must hold dates, got {dtype}")


def _today(today: dt.date | dt.datetime | str | None) -> dt.date:
    if today is None:
        return dt.date.today()
    if isinstance(today, dt.datetime):
        return today.date()
    if isinstance(today, dt.date):
        return today
    if isinstance(today, str):
        try:
            return dt.date.fromisoformat(today.strip())
        except ValueError:
            raise A2PError(f"today: {today!r} is not a date (use YYYY-MM-DD)") from None
    raise A2PError(f"today: expected a date or 'YYYY-MM-DD', got {type(today).__name__}")


# -------------------------------------------------------------------------------------------------
# Overdue and summary
# -------------------------------------------------------------------------------------------------


def flag_overdue(commitments: pl.DataFrame, today: dt.date | dt.datetime | str | None = None) -> pl.DataFrame:
    """The commitments with ``overdue`` (Boolean) and ``days_overdue`` (Int32) set as of ``today``.

    A commitment is overdue when it is still open (status proposed or active) and its due date is
    before ``today`` (a commitment due today is not overdue yet); ``days_overdue`` is the number of
    days since the due date, null when not overdue. Done and dropped commitments and those without
    a due date are never overdue. ``today`` defaults to the computer's date; give it (a date or
    "YYYY-MM-DD") for reproducible reports. ``due_date`` may be a Date, a Datetime or ISO text.

    Raises ``A2PError`` for a missing ``due_date`` or ``status`` column, an unknown status or a due
    date that is not a date, naming the row and commitment.
    """
    day = _today(today)
    df = _due_dates(_check_frame(commitments, ("due_date", "status")))
    late = (
        pl.col("status").is_in(OPEN_COMMITMENT_STATUSES)
        & pl.col("due_date").is_not_null()
        & (pl.col("due_date") < day)
    )
    days = (pl.lit(day, dtype=pl.Date) - pl.col("due_date")).dt.total_days().cast(pl.Int32)
    return df.with_columns(
        late.fill_null(False).alias("overdue"),
        pl.when(late).then(days).otherwise(None).cast(pl.Int32).alias("days_overdue"),
    )


def commitment_summary(
    commitments: pl.DataFrame, today: dt.date | dt.datetime | str | None = None
) -> pl.DataFrame:
    """Counts by status and overdue, for a progress report (``COMMITMENT_SUMMARY_COLUMNS``).

    One row per status and overdue flag (proposed, active, done, dropped; not overdue first), each
    with the number of commitments, distinct stakeholders, species (taxon_id) and clusters, and the
    earliest due date. Rows for every status are present (with zero counts) so that reports line
    up. When ``today`` is None and the frame has an ``overdue`` column it is used as it is;
    otherwise overdue is computed with ``flag_overdue(commitments, today)``.
    """
    if today is None and isinstance(commitments, pl.DataFrame) and "overdue" in commitments.columns:
        df = _check_frame(commitments, ("status",))
        if "due_date" in df.columns:
            df = _due_dates(df)
        df = df.with_columns(
            (
                pl.col("overdue").cast(pl.Boolean).fill_null(False)
                & pl.col("status").is_in(OPEN_COMMITMENT_STATUSES)
            ).alias("overdue")
        )
    else:
        df = flag_overdue(commitments, today)
    for name in ("stakeholder_id", "taxon_id", "cluster_id"):
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, S).alias(name))
    if "due_date" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Date).alias("due_date"))
    counts = df.group_by("status", "overdue").agg(
        pl.len().cast(pl.Int32).alias("commitments"),
        pl.col("stakeholder_id").drop_nulls().n_unique().cast(pl.Int32).alias("stakeholders"),
        pl.col("taxon_id").drop_nulls().n_unique().cast(pl.Int32).alias("species"),
        pl.col("cluster_id").drop_nulls().n_unique().cast(pl.Int32).alias("clusters"),
        pl.col("due_date").min().alias("earliest_due"),
    )
    frame = pl.DataFrame(
        [(s, False) for s in COMMITMENT_STATUSES] + [(s, True) for s in OPEN_COMMITMENT_STATUSES],
        schema={"status": S, "overdue": pl.Boolean},
        orient="row",
    )
    out = frame.join(counts, on=["status", "overdue"], how="left").with_columns(
        pl.col(c).fill_null(0) for c in ("commitments", "stakeholders", "species", "clusters")
    )
    rank = {s: i for i, s in enumerate(COMMITMENT_STATUSES)}
    out = out.with_columns(pl.col("status").replace_strict(rank, return_dtype=pl.Int32).alias("_rank"))
    return (
        out.sort(["_rank", "overdue"])
        .select(list(COMMITMENT_SUMMARY_COLUMNS))
        .cast(COMMITMENT_SUMMARY_COLUMNS)
    )


# -------------------------------------------------------------------------------------------------
# Actions in place for the next assessment
# -------------------------------------------------------------------------------------------------


@cache
def _crosswalk_rows() -> tuple[dict[str, str], ...]:
    path = resources.files("assess2plan.planning").joinpath("data", "inplace_crosswalk.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


def inplace_crosswalk() -> pl.DataFrame:
    """The action code -> SIS ``InPlace*`` field crosswalk (``planning/data/inplace_crosswalk.csv``).

    Columns: action_code (conservation actions scheme 2.0), action_name, field (null: the action has
    no in-place field), proposed_value (what a completed commitment proposes), comment (why, and
    the caveats an assessor should check). An action code may have several rows (1.1 Site/area
    protection proposes "Occurs in at least one protected area" and "Conservation sites
    identified"). Every code of the scheme has at least one row. A project design, not an IUCN
    table: the field names are those of SIS and the Red List downloads (``all_other_fields.csv``).
    """
    rows = _crosswalk_rows()
    return pl.DataFrame(
        [{k: (r.get(k) or None) for k in INPLACE_CROSSWALK_COLUMNS} for r in rows],
        schema={k: S for k in INPLACE_CROSSWALK_COLUMNS},
    )


def _members_map(members: object) -> dict[str, list[str]]:
    if members is None:
        return {}
    frame = members
    if not isinstance(frame, pl.DataFrame):
        frame = members.get("members") if isinstance(members, Mapping) else getattr(members, "members", None)
    if not isinstance(frame, pl.DataFrame):
        raise A2PError(
            "members: expected the cluster members frame (cluster_id, taxon_id) or a Clusters result"
        )
    missing = [c for c in ("cluster_id", "taxon_id") if c not in frame.columns]
    if missing:
        raise A2PError(f"members: missing column(s) {', '.join(missing)}")
    out: dict[str, list[str]] = {}
    for cid, tid in frame.select(pl.col("cluster_id").cast(S), pl.col("taxon_id").cast(S)).iter_rows():
        if cid is not None and tid is not None and tid not in out.setdefault(cid, []):
            out[cid].append(tid)
    return out


def _is_yes(value: str | None) -> bool:
    return value is not None and value.strip().lower().startswith("yes")


def actions_in_place_updates(
    commitments: pl.DataFrame,
    aset: AssessmentSet,
    *,
    members: object = None,
    statuses: Iterable[str] = ("done",),
    scope: str = "Global",
    include_unchanged: bool = False,
) -> pl.DataFrame:
    """Proposed changes to the "actions in place" fields for the species' next assessments.

    For every commitment whose status is in ``statuses`` (default: done; add "active" for ongoing
    programmes such as an ex situ population that already exists), the action code is looked up in
    ``inplace_crosswalk()``: 1.1 Site/area protection done proposes
    ``InPlaceLandWaterProtectionInPA`` = Yes, 3.4.1 Captive breeding proposes
    ``InPlaceSpeciesManagementExSitu`` = Yes, and so on. Each proposal names the taxon, its latest
    assessment in ``scope`` and the field's ``current_value`` there (null: not recorded).

    A commitment made for a cluster (taxon_id null) is proposed for each member species when
    ``members`` (the clusters' members frame, or the Clusters result) is given; otherwise one row
    with taxon_id null says so. Actions without an in-place field (e.g. 2.3 restoration, 5.1.2
    national legislation) give a row with ``field`` null and the reason in ``note``. A field that
    already says Yes ("Yes", "Yes, over entire range") is left out unless ``include_unchanged``.

    Columns: ``INPLACE_UPDATE_COLUMNS`` (taxon_id, scientific_name, assessment_id, field, current_value,
    proposed_value, action_code, action_name, status, progress, stakeholder, commitment_id, note).
    These are proposals for the assessors; nothing is written.
    """
    if not isinstance(aset, AssessmentSet):
        raise A2PError(f"actions_in_place_updates: expected an AssessmentSet, got {type(aset).__name__}")
    wanted = []
    for s in [statuses] if isinstance(statuses, str) else statuses:
        s = str(s).strip().lower()
        if s not in COMMITMENT_STATUSES:
            raise A2PError(f"statuses: unknown status {s!r}; use any of {', '.join(COMMITMENT_STATUSES)}")
        wanted.append(s)
    df = _check_frame(commitments, ("action_code", "status"))
    cmap = _members_map(members)
    for name in (
        "commitment_id",
        "taxon_id",
        "cluster_id",
        "action_name",
        "progress",
        "stakeholder_name",
        "stakeholder_id",
        "place",
    ):
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, S).alias(name))
    df = df.filter(pl.col("status").is_in(wanted))

    latest = {
        tid: (aid, sci)
        for aid, tid, sci in aset.latest(scope)
        .select("assessment_id", "taxon_id", "scientific_name")
        .iter_rows()
    }
    names = dict(aset.taxa.select("taxon_id", "scientific_name").iter_rows())
    current: dict[tuple[str, str], str | None] = {}
    for aid, fld, value in aset.actions_in_place.select("assessment_id", "field", "value").iter_rows():
        if aid is not None and fld is not None:
            current.setdefault((aid, fld.split(".")[0]), value)
    xwalk: dict[str, list[dict[str, str]]] = {}
    for row in _crosswalk_rows():
        xwalk.setdefault(row["action_code"], []).append(row)
    labels = {r["field"]: r["name"] for r in schemes.actions_in_place_fields()}

    out: list[dict[str, Any]] = []
    for c in df.iter_rows(named=True):
        code = schemes.normalise_code(c["action_code"])
        action_name = c["action_name"] or schemes.name_of("conservation_actions", code)
        stakeholder = c["stakeholder_name"] or c["stakeholder_id"]
        cid = c["commitment_id"]
        what = f"{c['status']} commitment" + (f" {cid}" if cid else "")
        what += f" for {code or '(no action code)'}" + (f" {action_name}" if action_name else "")
        what += f" at {c['place']}" if c["place"] else ""
        base = {
            "action_code": code,
            "action_name": action_name,
            "status": c["status"],
            "progress": c["progress"],
            "stakeholder": stakeholder,
            "commitment_id": cid,
        }
        taxa: list[str | None]
        prefix = ""
        if c["taxon_id"]:
            taxa = [c["taxon_id"]]
        elif c["cluster_id"] and cmap.get(c["cluster_id"]):
            taxa = list(cmap[c["cluster_id"]])
            prefix = f"cluster {c['cluster_id']}: "
        else:
            taxa = [None]
            prefix = (
                f"commitment for cluster {c['cluster_id']}: pass its members to propose per species; "
                if c["cluster_id"]
                else "commitment names no taxon or cluster; "
            )
        rows = xwalk.get(code or "", [])
        for tid in taxa:
            aid, sci = latest.get(tid, (None, names.get(tid))) if tid else (None, None)
            where = prefix + (
                "" if tid is None or aid else f"taxon {tid} has no {scope} assessment in the set; "
            )
            common = {"taxon_id": tid, "scientific_name": sci, "assessment_id": aid, **base}
            if not code:
                out.append(
                    {**common, "field": None, "note": f"{where}{what}: the commitment has no action code"}
                )
                continue
            if not rows:
                why = (
                    "no InPlace field for this action (not in the crosswalk)"
                    if schemes.is_known("conservation_actions", code)
                    else "the action code is not in the conservation actions scheme 2.0"
                )
                out.append({**common, "field": None, "note": f"{where}{what}: {why}"})
                continue
            for x in rows:
                if not x["field"]:
                    out.append({**common, "field": None, "note": f"{where}{what}: {x['comment']}"})
                    continue
                now = current.get((aid, x["field"])) if aid else None
                label = labels.get(x["field"], x["field"])
                if _is_yes(now) and _is_yes(x["proposed_value"]):
                    if include_unchanged:
                        out.append(
                            {
                                **common,
                                "field": x["field"],
                                "current_value": now,
                                "proposed_value": now,
                                "note": f"{where}{what}: '{label}' already says {now!r}; no change",
                            }
                        )
                    continue
                out.append(
                    {
                        **common,
                        "field": x["field"],
                        "current_value": now,
                        "proposed_value": x["proposed_value"],
                        "note": (
                            f"{where}{what}: set '{label}' to {x['proposed_value']!r} "
                            f"(now {'not recorded' if now is None else repr(now)}). {x['comment']}"
                        ),
                    }
                )
    frame = (
        pl.DataFrame(out, schema=INPLACE_UPDATE_COLUMNS)
        if out
        else pl.DataFrame(schema=INPLACE_UPDATE_COLUMNS)
    )
    return frame.sort(["taxon_id", "field", "action_code", "commitment_id"], nulls_last=True)
