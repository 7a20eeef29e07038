"""The planning sheet in the store: its index (``SheetFacet``), queries, facet counts.

The query language is ``assess2plan.sheet``'s; this module runs it as SQL so that a query over a
whole Red List answers in milliseconds: coded fields through the ``SheetFacet`` index (ancestor
codes included, so ``threat=7.2`` is one indexed lookup), scalar fields on the assessment and
taxon columns, text through SQLite FTS5 / PostgreSQL full-text search (``search``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from django.db import connections, transaction

from assess2plan.errors import A2PError
from assess2plan.model import SCHEMA
from assess2plan.schemes import CATEGORY_ORDER
from assess2plan.sheet import (
    FIELDS,
    INDEXED_LISTS,
    LIST_COLUMNS,
    SHEET_COLUMNS,
    Condition,
    SheetQuery,
    facet_rows,
    ordered_lists,
    sheet_rows,
    sort_columns,
)
from assess2plan.web.store import search

#: bump when ``facet_rows`` changes: projects with an older index are re-indexed on next use
INDEX_VERSION = 1
FACET_TABLE = "store_sheetfacet"

_SCALAR_SQL = {
    "category": "a.category",
    "population_trend": "a.population_trend",
    "criteria_version": "a.criteria_version",
    "criteria": "a.criteria",
    "scientific_name": "a.scientific_name",
    "year_published": "a.year_published",
    "assessment_date": "a.assessment_date",
    "kingdom": "t.kingdom",
    "phylum": "t.phylum",
    "class_name": "t.class_name",
    "order_name": "t.order_name",
    "family": "t.family",
    "genus": "t.genus",
}


# -- index ------------------------------------------------------------------------------------------
def write_facets(db: Any, tables: dict[str, pl.DataFrame], a_pk: pl.DataFrame) -> int:
    """Index the assessments ``a_pk`` (``assessment_id``, ``_pk``) of the canonical ``tables``."""
    if a_pk.height == 0:
        return 0
    assessments = tables["assessments"].join(a_pk.select("assessment_id"), on="assessment_id", how="semi")
    rows = facet_rows(sheet_rows(tables, assessments))
    rows = rows.join(a_pk, on="assessment_id", how="inner").select(
        pl.col("_pk").alias("assessment_id"), "field", "value", "ancestor"
    )
    with db.bulk_indexes(FACET_TABLE, rows.height):
        return db.insert(FACET_TABLE, ["assessment_id", "field", "value", "ancestor"], rows, ("field", "value"), ids=True)


def ensure_index(project: str, using: str = "default") -> None:
    """Build the sheet index of ``project`` when it is missing or older than ``INDEX_VERSION``."""
    from assess2plan.web.store.models import Project

    p = Project.objects.using(using).filter(slug=project).first()
    if p is None:
        raise A2PError(f"no project {project!r} in the store (import something into it first)")
    if p.sheet_index_version >= INDEX_VERSION:
        return
    rebuild_index(project, using=using)


def rebuild_index(project: str, using: str = "default") -> None:
    """Rebuild the sheet index of every assessment of ``project`` (history included)."""
    from assess2plan.web.store.load import _DB, read_frames
    from assess2plan.web.store.models import Project

    with transaction.atomic(using=using):
        p = Project.objects.using(using).select_for_update().get(slug=project)
        frames = read_frames(project, latest_only=False, using=using)
        db = _DB(using)
        db.execute(
            f"DELETE FROM {FACET_TABLE} WHERE assessment_id IN (SELECT id FROM store_assessment WHERE project_id = %s)",
            [p.id],
        )
        a_pk = frames["assessments"].select("assessment_id", "_pk")
        frames["assessments"] = frames["assessments"].select(list(SCHEMA["assessments"]))
        write_facets(db, frames, a_pk)
        p.sheet_index_version = INDEX_VERSION
        p.save(using=using, update_fields=["sheet_index_version"])


def reindex_assessments(db: Any, tables: dict[str, pl.DataFrame], a_pk: pl.DataFrame) -> None:
    """Replace the index rows of the assessments ``a_pk`` (after an edit)."""
    db.delete_in(FACET_TABLE, "assessment_id", a_pk["_pk"].to_list())
    write_facets(db, tables, a_pk)


# -- query ------------------------------------------------------------------------------------------
def _vendor(using: str) -> str:
    return connections[using].vendor


def _condition_sql(c: Condition, vendor: str) -> tuple[str, list[Any]]:
    f = FIELDS[c.field]
    neg = c.op == "!="
    if f.kind in ("list", "tree"):
        if c.none:
            sql = f"EXISTS (SELECT 1 FROM {FACET_TABLE} f WHERE f.assessment_id = a.id AND f.field = %s)"
            return (sql if neg else f"NOT {sql}"), [c.field]
        marks = ", ".join(["%s"] * len(c.values))
        sql = f"a.id {'NOT ' if neg else ''}IN (SELECT f.assessment_id FROM {FACET_TABLE} f WHERE f.field = %s AND f.value IN ({marks}))"
        return sql, [c.field, *c.values]
    col = _SCALAR_SQL[f.column]
    if c.none:
        return f"{col} IS {'NOT ' if neg else ''}NULL", []
    if f.kind == "number":
        if c.op in ("<", "<=", ">", ">="):
            return f"{col} {c.op} %s", [int(c.values[0])]
        marks = ", ".join(["%s"] * len(c.values))
        hit = f"{col} IN ({marks})"
        return (f"NOT COALESCE({hit}, FALSE)" if neg else hit), [int(v) for v in c.values]
    if f.kind == "contains":
        find = "INSTR(LOWER({col}), %s) > 0" if vendor == "sqlite" else "POSITION(%s IN LOWER({col})) > 0"
        parts = [find.format(col=col) for _ in c.values]
        hit = "(" + " OR ".join(parts) + ")"
        return (f"NOT COALESCE({hit}, FALSE)" if neg else hit), [v.lower() for v in c.values]
    marks = ", ".join(["%s"] * len(c.values))
    hit = f"LOWER({col}) IN ({marks})"
    return (f"NOT COALESCE({hit}, FALSE)" if neg else hit), [v.lower() for v in c.values]


def _where(project_id: int, query: SheetQuery, vendor: str) -> tuple[str, list[Any]]:
    where = ["a.project_id = %s", "a.latest = %s"]
    params: list[Any] = [project_id, True]
    if query.scope:
        where.append("('|' || COALESCE(a.scopes, 'Global') || '|') LIKE %s")
        params.append(f"%|{query.scope}|%")
    for c in query.conditions:
        sql, p = _condition_sql(c, vendor)
        where.append(sql)
        params += p
    if query.text:
        sql, p = search.match_sql(query.text, vendor, id_column="a.id")
        where.append(sql)
        params += p
    return " AND ".join(where), params


def _order_sql(sort: Sequence[str]) -> str:
    keys = []
    for col, desc in sort_columns(sort):
        if col == "category":
            case = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CATEGORY_ORDER))
            expr = f"CASE a.category {case} ELSE {len(CATEGORY_ORDER)} END"
        elif col in _SCALAR_SQL:
            expr = _SCALAR_SQL[col]
        else:
            raise A2PError(f"the store cannot sort by {col!r}; sort by one of: {', '.join(_SCALAR_SQL)}")
        keys.append(f"{expr} IS NULL, {expr} {'DESC' if desc else 'ASC'}")
    keys += ["a.scientific_name ASC", "t.taxon_id ASC"]
    return ", ".join(keys)


def _project_id(project: str, using: str) -> int:
    from assess2plan.web.store.models import Project

    pid = Project.objects.using(using).filter(slug=project).values_list("id", flat=True).first()
    if pid is None:
        raise A2PError(f"no project {project!r} in the store (import something into it first)")
    return pid


def matching_ids(project: str, query: SheetQuery, using: str = "default") -> pl.DataFrame:
    """``_pk``, ``assessment_id``, ``taxon_id`` of the sheet rows matching ``query``, in sheet order."""
    ensure_index(project, using)
    vendor = _vendor(using)
    where, params = _where(_project_id(project, using), query, vendor)
    sql = (
        "SELECT a.id, a.assessment_id, t.taxon_id FROM store_assessment a JOIN store_taxon t ON t.id = a.taxon_id "
        f"WHERE {where} ORDER BY {_order_sql(query.sort)}"
    )
    with connections[using].cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return pl.DataFrame(
        rows, schema={"_pk": pl.Int64, "assessment_id": pl.Utf8, "taxon_id": pl.Utf8}, orient="row"
    )


def count(project: str, query: SheetQuery, using: str = "default") -> int:
    """Number of sheet rows matching ``query``."""
    ensure_index(project, using)
    where, params = _where(_project_id(project, using), query, _vendor(using))
    with connections[using].cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM store_assessment a JOIN store_taxon t ON t.id = a.taxon_id WHERE {where}", params)
        return int(cur.fetchone()[0])


def _chunks(values: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def sheet_page(
    project: str, query: SheetQuery, *, limit: int | None = None, offset: int = 0, using: str = "default"
) -> pl.DataFrame:
    """The sheet rows matching ``query`` (columns ``SHEET_COLUMNS``), in order, ``limit`` from ``offset``."""
    ids = matching_ids(project, query, using)
    ids = ids.slice(offset, limit) if limit is not None else ids.slice(offset)
    return sheet_for_ids(ids, using)


def _select(col: str) -> str:
    expr = _SCALAR_SQL.get(col, "a." + col)
    if SHEET_COLUMNS[col] == pl.Date:
        return f"CAST({expr} AS TEXT)"
    if SHEET_COLUMNS[col] == pl.Boolean:
        return f"CAST({expr} AS INTEGER)"
    return expr


def sheet_for_ids(ids: pl.DataFrame, using: str = "default") -> pl.DataFrame:
    """Sheet rows for the assessments ``ids`` (``_pk``), kept in that order."""
    scalar_cols = [c for c, t in SHEET_COLUMNS.items() if not isinstance(t, pl.List) and c not in ("taxon_id", "assessment_id")]
    schema = {"_pk": pl.Int64, **{c: SHEET_COLUMNS[c] for c in scalar_cols}}
    facets_schema = {"_pk": pl.Int64, "field": pl.Utf8, "value": pl.Utf8}
    scalars, facets = [], []
    pks = ids["_pk"].to_list()
    with connections[using].cursor() as cur:
        for chunk in _chunks(pks):
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(
                f"SELECT a.id, {', '.join(_select(c) for c in scalar_cols)} "
                f"FROM store_assessment a JOIN store_taxon t ON t.id = a.taxon_id WHERE a.id IN ({marks})",
                list(chunk),
            )
            scalars += cur.fetchall()
            cur.execute(
                f"SELECT assessment_id, field, value FROM {FACET_TABLE} WHERE ancestor = %s AND assessment_id IN ({marks})",
                [False, *chunk],
            )
            facets += cur.fetchall()
    raw_schema = {k: (pl.Utf8 if v == pl.Date else pl.Int32 if v == pl.Boolean else v) for k, v in schema.items()}
    s = pl.DataFrame(scalars, schema=raw_schema, orient="row")
    s = s.with_columns(
        pl.col("assessment_date").str.slice(0, 10).str.to_date(strict=False),
        pl.col("possibly_extinct").cast(pl.Boolean),
    )
    f = pl.DataFrame(facets, schema=facets_schema, orient="row")
    lists = f.sort(["_pk", "field", "value"]).group_by("_pk", "field").agg(pl.col("value"))
    out = ids.join(s, on="_pk", how="left", maintain_order="left")
    for name, col in INDEXED_LISTS.items():
        part = lists.filter(pl.col("field") == name).select("_pk", pl.col("value").alias(col))
        out = out.join(part, on="_pk", how="left", maintain_order="left")
    out = out.with_columns(pl.col(c).fill_null(pl.lit([], dtype=pl.List(pl.Utf8))) for c in LIST_COLUMNS)
    return ordered_lists(out.select([pl.col(c).cast(t) for c, t in SHEET_COLUMNS.items()]))


def facets(
    project: str, query: SheetQuery, fields: Iterable[str] | None = None, *, using: str = "default"
) -> pl.DataFrame:
    """Number of taxa per value of each field among the rows matching ``query`` (``field``,
    ``value``, ``taxa``), like ``assess2plan.sheet.facet_counts``."""
    from assess2plan.sheet import ALIASES

    ensure_index(project, using)
    vendor = _vendor(using)
    where, params = _where(_project_id(project, using), query, vendor)
    matched = f"SELECT a.id FROM store_assessment a JOIN store_taxon t ON t.id = a.taxon_id WHERE {where}"
    names = [ALIASES.get(f, f) for f in (fields or [n for n, f in FIELDS.items() if f.facet])]
    out = []
    with connections[using].cursor() as cur:
        for name in names:
            if name not in FIELDS:
                raise A2PError(f"unknown facet {name!r}; fields: {', '.join(FIELDS)}")
            f = FIELDS[name]
            if f.kind in ("list", "tree"):
                cur.execute(
                    f"SELECT f.value, COUNT(DISTINCT f.assessment_id) FROM {FACET_TABLE} f "
                    f"WHERE f.field = %s AND f.ancestor = %s AND f.assessment_id IN ({matched}) GROUP BY f.value",
                    [name, False, *params],
                )
            else:
                col = _SCALAR_SQL[f.column]
                cur.execute(
                    f"SELECT CAST({col} AS TEXT), COUNT(*) FROM store_assessment a JOIN store_taxon t ON t.id = a.taxon_id "
                    f"WHERE {where} AND {col} IS NOT NULL GROUP BY {col}",
                    params,
                )
            out += [(name, v, int(n)) for v, n in cur.fetchall()]
    df = pl.DataFrame(out, schema={"field": pl.Utf8, "value": pl.Utf8, "taxa": pl.Int64}, orient="row")
    return df.sort(["field", "taxa", "value"], descending=[False, True, False])
