"""Workshop edits of stored assessments: bulk add / remove of conservation actions needed, undo.

Every edit is one transaction and one ``Edit`` row recording who, when, why, the selection, and
for each assessment it changed the rows before and after. An edit never overwrites unnoticed:

* each changed assessment's ``revision`` goes up by one; a caller that read revisions earlier (the
  web form) passes them as ``expected`` and the edit is refused if any assessment changed since;
* an undo is refused when a later edit changed the same assessment (undo that one first), so
  nobody's later work is rolled back silently;
* imports and edits of one project queue up (PostgreSQL advisory lock / SQLite write lock).
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.db import connections, transaction
from django.utils import timezone

from assess2plan.errors import A2PError, InputError
from assess2plan.schemes import is_known, name_of, normalise_code
from assess2plan.sheet import SheetQuery
from assess2plan.web.store import sheet as sheet_index

TABLE = "store_actionneeded"


class EditConflict(A2PError):
    """The assessments changed since the caller read them; nothing was written."""


@dataclass
class EditResult:
    """What an edit did: its ``edit_id`` (None for a dry run or when nothing changed), the
    assessments ``changed`` and ``unchanged`` (already as asked) as (taxon_id, scientific_name)."""

    edit_id: int | None
    operation: str
    code: str
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False


def _user(user: str | None) -> str:
    if user and user.strip():
        return user.strip()
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _lock(project_id: int, using: str) -> None:
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x413250, project_id])


def _targets(project: str, query: SheetQuery | None, taxa: Iterable[str] | None, using: str) -> pl.DataFrame:
    """``_pk``, ``assessment_id``, ``taxon_id``, ``scientific_name``, ``revision`` of the latest
    assessments selected by ``query`` and/or ``taxa`` (both: the intersection)."""
    query = query or SheetQuery()
    ids = sheet_index.matching_ids(project, query, using)
    if taxa is not None:
        wanted = [str(t).strip() for t in taxa if str(t).strip()]
        found = ids.filter(pl.col("taxon_id").is_in(wanted))
        # accept scientific names too
        missing = [t for t in wanted if t not in set(found["taxon_id"].to_list())]
        if missing:
            by_name = _by_name(project, query, missing, using)
            unknown = sorted(set(missing) - set(by_name["_name"].to_list()))
            if unknown:
                raise InputError(
                    "taxa",
                    f"not in the selection of project {project!r} ({query}): {', '.join(unknown[:10])}"
                    + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""),
                )
            found = pl.concat([found, by_name.drop("_name")]).unique("_pk", maintain_order=True)
        ids = found
    if ids.height == 0:
        return ids.with_columns(pl.lit(None, pl.Utf8).alias("scientific_name"), pl.lit(0).alias("revision"))
    pks = ids["_pk"].to_list()
    rows: list[tuple] = []
    with connections[using].cursor() as cur:
        for chunk in sheet_index._chunks(pks):
            marks = ", ".join(["%s"] * len(chunk))
            lock = " FOR UPDATE" if connections[using].vendor == "postgresql" else ""
            cur.execute(f"SELECT id, scientific_name, revision FROM store_assessment WHERE id IN ({marks}){lock}", list(chunk))
            rows += cur.fetchall()
    meta = pl.DataFrame(rows, schema={"_pk": pl.Int64, "scientific_name": pl.Utf8, "revision": pl.Int64}, orient="row")
    return ids.select("_pk", "assessment_id", "taxon_id").join(meta, on="_pk", how="left", maintain_order="left")


def _by_name(project: str, query: SheetQuery, names: list[str], using: str) -> pl.DataFrame:
    ids = sheet_index.matching_ids(project, query, using)
    rows: list[tuple] = []
    lower = {n.lower(): n for n in names}
    with connections[using].cursor() as cur:
        for chunk in sheet_index._chunks(ids["_pk"].to_list()):
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(f"SELECT id, scientific_name FROM store_assessment WHERE id IN ({marks})", list(chunk))
            rows += [(pk, lower[n.lower()]) for pk, n in cur.fetchall() if n and n.lower() in lower]
    hit = pl.DataFrame(rows, schema={"_pk": pl.Int64, "_name": pl.Utf8}, orient="row")
    return ids.join(hit, on="_pk", how="inner")


def _current_rows(pks: list[int], using: str) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {pk: [] for pk in pks}
    with connections[using].cursor() as cur:
        for chunk in sheet_index._chunks(pks):
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(
                f"SELECT assessment_id, code, name, note FROM {TABLE} WHERE assessment_id IN ({marks}) ORDER BY id",
                list(chunk),
            )
            for pk, code, name, note in cur.fetchall():
                out[pk].append({"code": code, "name": name, "note": note})
    return out


def _write(pk_rows: Mapping[int, list[dict[str, Any]]], using: str) -> None:
    """Replace the actions needed of each assessment by the given rows; bump revisions; reindex."""
    pks = list(pk_rows)
    with connections[using].cursor() as cur:
        for chunk in sheet_index._chunks(pks):
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(f"DELETE FROM {TABLE} WHERE assessment_id IN ({marks})", list(chunk))
            cur.execute(f"UPDATE store_assessment SET revision = revision + 1 WHERE id IN ({marks})", list(chunk))
        values = [(pk, r["code"], r.get("name"), r.get("note")) for pk in pks for r in pk_rows[pk]]
        if values:
            cur.executemany(f"INSERT INTO {TABLE} (assessment_id, code, name, note) VALUES (%s, %s, %s, %s)", values)
        # the sheet reads actions needed from their table; new codes join the filter vocabulary
        codes = {r["code"] for pk in pks for r in pk_rows[pk] if r.get("code")}
        sheet_index.add_values(_Cursor(cur), sorted(("action_needed", c) for c in codes))


class _Cursor:
    """``execute`` on an open cursor (what ``sheet_index.add_values`` needs of a database)."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def execute(self, sql: str, params: Any = ()) -> None:
        self.cur.execute(sql, params)


def _check_expected(targets: pl.DataFrame, expected: Mapping[str, int] | None) -> None:
    if not expected:
        return
    stale = [
        f"{r['scientific_name'] or r['taxon_id']} (now revision {r['revision']}, you saw {expected[r['taxon_id']]})"
        for r in targets.iter_rows(named=True)
        if r["taxon_id"] in expected and int(expected[r["taxon_id"]]) != int(r["revision"])
    ]
    if stale:
        raise EditConflict(
            "someone else changed these assessments since you loaded them; nothing was written "
            "(reload and try again): " + "; ".join(stale[:10]) + (f" and {len(stale) - 10} more" if len(stale) > 10 else "")
        )


def edit_actions(
    project: str,
    *,
    operation: str,
    code: str,
    note: str | None = None,
    query: SheetQuery | None = None,
    taxa: Iterable[str] | None = None,
    reason: str,
    user: str | None = None,
    expected: Mapping[str, int] | None = None,
    dry_run: bool = False,
    allow_unknown_code: bool = False,
    using: str = "default",
) -> EditResult:
    """Add (``operation="add"``) or remove (``"remove"``) the action needed ``code`` for the
    latest assessments selected by ``query`` and/or ``taxa`` (ids or scientific names)."""
    from assess2plan.web.store.models import Edit, Project

    if operation not in ("add", "remove"):
        raise A2PError(f"unknown edit operation {operation!r} (add or remove)")
    if not reason or not reason.strip():
        raise A2PError("an edit needs a reason (it is recorded with the edit)")
    norm = normalise_code(code)
    if not norm or not re.fullmatch(r"\d+(\.\d+)*", norm):
        raise InputError("code", f"{code!r} is not a conservation action code (e.g. 2.1 or 5.1.2)", value=code)
    if operation == "add" and not allow_unknown_code and not is_known("conservation_actions", norm):
        raise InputError(
            "code",
            f"{norm} is not in the conservation actions scheme 2.0 (use allow_unknown_code to add it anyway)",
            value=code,
        )
    if query is None and taxa is None:
        raise A2PError("say which species to edit: a selection (filters) and/or taxa")
    who = _user(user)
    with transaction.atomic(using=using):
        proj = Project.objects.using(using).filter(slug=project).first()
        if proj is None:
            raise A2PError(f"no project {project!r} in the store")
        _lock(proj.id, using)
        targets = _targets(project, query, taxa, using)
        _check_expected(targets, expected)
        current = _current_rows(targets["_pk"].to_list(), using)
        new_rows: dict[int, list[dict[str, Any]]] = {}
        changed, unchanged, changes = [], [], []
        for r in targets.iter_rows(named=True):
            before = current[r["_pk"]]
            has = any(x["code"] == norm for x in before)
            if operation == "add":
                after = before if has else [*before, {"code": norm, "name": name_of("conservation_actions", norm), "note": note}]
            else:
                after = [x for x in before if x["code"] != norm]
            who_row = {"taxon_id": r["taxon_id"], "scientific_name": r["scientific_name"], "assessment_id": r["assessment_id"]}
            if after == before:
                unchanged.append(who_row)
                continue
            new_rows[r["_pk"]] = after
            changed.append(who_row)
            changes.append({**who_row, "revision": int(r["revision"]) + 1, "before": before, "after": after})
        if dry_run or not changes:
            transaction.set_rollback(True, using=using)
            return EditResult(None, operation, norm, changed, unchanged, dry_run=dry_run)
        _write(new_rows, using)
        e = Edit.objects.using(using).create(
            project=proj,
            table="actions_needed",
            operation=operation,
            code=norm,
            note=note or "",
            selection=_selection_text(query, taxa),
            reason=reason.strip(),
            made_by=who,
            made_at=timezone.now(),
            changes=changes,
        )
        return EditResult(e.id, operation, norm, changed, unchanged)


def _selection_text(query: SheetQuery | None, taxa: Iterable[str] | None) -> str:
    parts = []
    if query is not None:
        parts.append(str(query))
    if taxa is not None:
        parts.append("taxa=" + ",".join(str(t) for t in taxa))
    return " ".join(parts)


def undo_edit(project: str, edit_id: int, *, reason: str | None = None, user: str | None = None, using: str = "default") -> EditResult:
    """Undo edit ``edit_id``: put back the rows it changed. Refused (``EditConflict``) when the
    edit was undone already or a later change touched the same assessments."""
    from assess2plan.web.store.models import Edit, Project

    who = _user(user)
    with transaction.atomic(using=using):
        proj = Project.objects.using(using).filter(slug=project).first()
        if proj is None:
            raise A2PError(f"no project {project!r} in the store")
        _lock(proj.id, using)
        e = Edit.objects.using(using).filter(project=proj, id=edit_id).first()
        if e is None:
            raise A2PError(f"no edit {edit_id} in project {project!r} (see `a2p edit log`)")
        if e.operation == "undo":
            raise EditConflict(f"edit {edit_id} is itself an undo; undo is not undone (make a new edit instead)")
        if Edit.objects.using(using).filter(undoes=e).exists():
            raise EditConflict(f"edit {edit_id} was undone already")
        by_aid = {c["assessment_id"]: c for c in e.changes}
        with connections[using].cursor() as cur:
            rows: list[tuple] = []
            for chunk in sheet_index._chunks(list(by_aid)):
                marks = ", ".join(["%s"] * len(chunk))
                lock = " FOR UPDATE" if connections[using].vendor == "postgresql" else ""
                cur.execute(
                    f"SELECT id, assessment_id, revision FROM store_assessment WHERE project_id = %s AND assessment_id IN ({marks}){lock}",
                    [proj.id, *chunk],
                )
                rows += cur.fetchall()
        pk_of = {aid: pk for pk, aid, _ in rows}
        revision = {aid: rev for _, aid, rev in rows}
        current = _current_rows(list(pk_of.values()), using)
        conflicts = []
        for aid, c in by_aid.items():
            if aid not in pk_of:
                conflicts.append(f"{c['scientific_name']}: its assessment {aid} is no longer stored (replaced by an import)")
            elif current[pk_of[aid]] != c["after"]:  # (a later edit that was itself undone is fine)
                later = (
                    Edit.objects.using(using)
                    .filter(project=proj, id__gt=e.id)
                    .order_by("id")
                    .values_list("id", "changes")
                )
                by = [str(i) for i, ch in later if any(x["assessment_id"] == aid for x in ch)]
                conflicts.append(
                    f"{c['scientific_name']}: changed since by edit {', '.join(by) or '(unknown)'}"
                )
        if conflicts:
            raise EditConflict(
                f"cannot undo edit {edit_id}: " + "; ".join(conflicts[:10])
                + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
                + " (undo the later edits first); nothing was written"
            )
        _write({pk_of[aid]: c["before"] for aid, c in by_aid.items()}, using)
        changes = [
            {
                **{k: c[k] for k in ("taxon_id", "scientific_name", "assessment_id")},
                "revision": revision[aid] + 1,
                "before": c["after"],
                "after": c["before"],
            }
            for aid, c in by_aid.items()
        ]
        u = Edit.objects.using(using).create(
            project=proj,
            table=e.table,
            operation="undo",
            code=e.code,
            note=e.note,
            selection=f"undo of edit {e.id}",
            reason=(reason or f"undo edit {e.id}").strip(),
            made_by=who,
            made_at=timezone.now(),
            changes=changes,
            undoes=e,
        )
        who_rows = [{k: c[k] for k in ("taxon_id", "scientific_name", "assessment_id")} for c in changes]
        return EditResult(u.id, "undo", e.code, who_rows, [])


def list_edits(project: str, using: str = "default") -> list[dict[str, Any]]:
    """Edits of ``project``, oldest first: id, when, who, operation, code, note, selection,
    reason, the number of assessments changed, and which edit undid it (if any)."""
    from assess2plan.web.store.models import Edit

    out = []
    for e in Edit.objects.using(using).filter(project__slug=project).order_by("made_at", "id"):
        undone = Edit.objects.using(using).filter(undoes=e).values_list("id", flat=True).first()
        out.append(
            {
                "id": e.id,
                "made_at": e.made_at,
                "made_by": e.made_by,
                "operation": e.operation,
                "code": e.code,
                "note": e.note,
                "selection": e.selection,
                "reason": e.reason,
                "assessments": len(e.changes),
                "undoes": e.undoes_id,
                "undone_by": undone,
                "changes": e.changes,
            }
        )
    return out


def edited_taxa(project: str, using: str = "default") -> list[str]:
    """Taxa whose actions needed were changed by an edit still in effect (for the SIS Connect export)."""
    taxa: set[str] = set()
    for e in list_edits(project, using):
        if e["operation"] == "undo" or e["undone_by"]:
            continue
        for c in e["changes"]:
            taxa.add(c["taxon_id"])
    return sorted(taxa)
