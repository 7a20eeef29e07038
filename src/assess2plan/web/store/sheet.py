"""The planning sheet in the store: its index (``SheetFacet``), queries, facet counts.

The query language is ``assess2plan.sheet``'s; this module runs it as SQL so that a query over a
whole Red List answers in milliseconds: coded fields through the ``SheetFacet`` index (ancestor
codes included, so ``threat=7.2`` is one indexed lookup), scalar fields on the assessment and
taxon columns, text through SQLite FTS5 / PostgreSQL full-text search (``search``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    index_rows,
    ordered_lists,
    sort_columns,
)
from assess2plan.web.store import search

#: bump when what ``write_facets`` stores changes: projects with an older index are re-indexed on next use
INDEX_VERSION = 3
FACET_TABLE = "store_sheetfacet"
VALUE_TABLE = "store_sheetvalue"
#: coded fields read straight from their child table (table, occurrence kind), through the
#: covering indexes (code, assessment_id) of migration 0006
CHILD_FIELDS: dict[str, tuple[str, str | None]] = {
    "threat": ("store_threat", None),
    "habitat": ("store_habitat", None),
    "action_needed": ("store_actionneeded", None),
    "research": ("store_researchneeded", None),
    "country": ("store_occurrence", "country"),
    "subnational": ("store_occurrence", "subnational"),
    "lme": ("store_occurrence", "lme"),
    "fao": ("store_occurrence", "fao"),
}
#: fields whose values are derived (not a code column): stored in ``SheetFacet``
FACET_FIELDS = tuple(n for n in INDEXED_LISTS if n != "threat_impact" and n not in CHILD_FIELDS)

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
    rows = index_rows(tables, assessments, FACET_FIELDS)
    add_values(db, pl.concat([rows.select("field", "value").unique(), _child_values(tables)]))
    rows = rows.join(a_pk, on="assessment_id", how="inner").select(
        pl.col("_pk").alias("assessment_id"), "field", "value", "ancestor"
    )
    with db.bulk_indexes(FACET_TABLE, rows.height):
        return db.insert(
            FACET_TABLE, ["assessment_id", "field", "value", "ancestor"], rows, ("field", "value"), ids=True
        )


def _child_values(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The distinct (``field``, ``value``) of the coded child tables (``CHILD_FIELDS``)."""
    sources = {
        "store_threat": "threats",
        "store_habitat": "habitats",
        "store_actionneeded": "actions_needed",
        "store_researchneeded": "research_needed",
        "store_occurrence": "occurrence",
    }
    # every code of the set's tables (a superset of those of ``assessments``: an extra value only
    # widens a filter's list of codes by one that matches nothing)
    parts = []
    for name, (table, kind) in CHILD_FIELDS.items():
        lf = tables[sources[table]].lazy()
        if kind:
            lf = lf.filter(pl.col("kind") == kind)
        codes = lf.select(pl.col("code").str.to_uppercase() if kind else pl.col("code")).drop_nulls().unique()
        parts.append(codes.select(pl.lit(name).alias("field"), pl.col("code").alias("value")).collect())
    return pl.concat(parts)


def add_values(db: Any, values: pl.DataFrame | list[tuple[str, str]]) -> None:
    """Record the distinct (``field``, ``value``) pairs of new index rows in ``SheetValue``."""
    pairs = values.rows() if isinstance(values, pl.DataFrame) else list(values)
    if not pairs:
        return
    conflict = "ON CONFLICT (field, value) DO NOTHING"
    for chunk in _chunks(pairs, 2000):
        marks = ", ".join(["(%s, %s)"] * len(chunk))
        db.execute(
            f"INSERT INTO {VALUE_TABLE} (field, value) VALUES {marks} {conflict}",
            [x for pair in chunk for x in pair],
        )


def _expand(query: SheetQuery, using: str) -> SheetQuery:
    """``query`` with each coded ("tree") value followed by the recorded codes below it
    ("threat=7.2" -> 7.2, 7.2.1, 7.2.10, ...), read from ``SheetValue``: the index then answers
    every coded condition with exact lookups."""
    if not any(FIELDS[c.field].kind == "tree" and not c.none for c in query.conditions):
        return query
    out = []
    with connections[using].cursor() as cur:
        for c in query.conditions:
            if FIELDS[c.field].kind != "tree" or c.none:
                out.append(c)
                continue
            values = list(c.values)
            for v in c.values:
                # codes are digits and dots: "7.2." <= a code below 7.2 < "7.2/"
                cur.execute(
                    f"SELECT value FROM {VALUE_TABLE} WHERE field = %s AND value >= %s AND value < %s",
                    [c.field, v + ".", v + "/"],
                )
                values += [r[0] for r in cur.fetchall()]
            out.append(replace(c, values=tuple(dict.fromkeys(values))))
    return replace(query, conditions=out)


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


#: sheet columns read from the taxon (``store_taxon t``): only these need the join
_TAXON_COLUMNS = frozenset(c for c, sql in _SCALAR_SQL.items() if sql.startswith("t."))
#: SQLite: a coded filter or a text search that matches at most this many rows drives the query
#: (its assessments are looked up one by one); every other coded filter is then a per-row probe
#: of the SheetFacet index instead of a list of (up to) every assessment id
_DRIVER_MAX = 5000
#: SQLite: a text search is a per-row FTS5 probe (~50 us) below this many driving rows, else a list
_TEXT_PROBE_MAX = 2000
_TEXT = -1  # key of the text search in the sizes of ``_estimates``


def _needs_taxon(query: SheetQuery) -> bool:
    """Whether a condition of ``query`` reads a taxon column (else the join is left out)."""
    return any(
        FIELDS[c.field].kind not in ("list", "tree") and FIELDS[c.field].column in _TAXON_COLUMNS
        for c in query.conditions
    )


@dataclass
class _Plan:
    """FROM and WHERE of a sheet query: ``driver`` (``""`` or ``"(ids) d CROSS JOIN "``, whose
    parameters come first in ``params``), the WHERE clause over ``a`` (and ``t``)."""

    driver: str
    where: str
    params: list[Any]

    def source(self, taxon: bool) -> str:
        tables = (
            "store_assessment a JOIN store_taxon t ON t.id = a.taxon_id" if taxon else "store_assessment a"
        )
        return self.driver + tables


def _facet_ids(c: Condition) -> tuple[str, list[Any]]:
    """SQL selecting the assessment ids (``f.assessment_id``) of a coded condition (its ``none``
    form: any value), from the field's child table or from SheetFacet."""
    if c.field in CHILD_FIELDS:
        table, kind = CHILD_FIELDS[c.field]
        where, params = ("f.kind = %s AND ", [kind]) if kind else ("", [])
        if c.none:
            return f"SELECT f.assessment_id FROM {table} f WHERE {where}f.code IS NOT NULL", params
        marks = ", ".join(["%s"] * len(c.values))
        return f"SELECT f.assessment_id FROM {table} f WHERE {where}f.code IN ({marks})", [*params, *c.values]
    if c.none:
        return f"SELECT f.assessment_id FROM {FACET_TABLE} f WHERE f.field = %s", [c.field]
    marks = ", ".join(["%s"] * len(c.values))
    return f"SELECT f.assessment_id FROM {FACET_TABLE} f WHERE f.field = %s AND f.value IN ({marks})", [
        c.field,
        *c.values,
    ]


def _condition_sql(c: Condition, vendor: str, probe: bool = False) -> tuple[str, list[Any]]:
    """SQL (and parameters) of one condition on ``a``. Coded conditions read assessment ids from
    the covering index ``store_sheetfacet_lookup`` (field, value, assessment_id, ancestor): a list
    of them, or with ``probe`` one index lookup per row (``EXISTS``)."""
    f = FIELDS[c.field]
    neg = c.op == "!="
    if f.kind in ("list", "tree"):
        ids, params = _facet_ids(c)
        has = not neg if not c.none else neg  # whether the row must have a matching facet row
        # PostgreSQL: NOT EXISTS (an anti-join); its NOT IN re-reads the list for every row once
        # the list outgrows work_mem (minutes for "action_needed=none")
        if probe or (vendor == "postgresql" and not has):
            return f"{'' if has else 'NOT '}EXISTS ({ids} AND f.assessment_id = a.id)", params
        return f"a.id {'' if has else 'NOT '}IN ({ids})", params
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
    # SQLite's LOWER() and NOCASE both fold ASCII letters only: the same test, without a new
    # string per row
    hit = f"{col} COLLATE NOCASE IN ({marks})" if vendor == "sqlite" else f"LOWER({col}) IN ({marks})"
    return (f"NOT COALESCE({hit}, FALSE)" if neg else hit), [v.lower() for v in c.values]


def _estimates(query: SheetQuery, using: str) -> dict[int, int]:
    """SQLite: how many rows the positive coded conditions (by position) and the text search
    (``_TEXT``) match, counted up to ``_DRIVER_MAX + 1`` (a few thousand index entries each)."""
    if _vendor(using) != "sqlite":
        return {}
    sizes: dict[int, int] = {}
    with connections[using].cursor() as cur:
        for i, c in enumerate(query.conditions):
            if FIELDS[c.field].kind in ("list", "tree") and c.op == "=" and not c.none:
                sql, params = _facet_ids(c)
                cur.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT {_DRIVER_MAX + 1})", params)
                sizes[i] = int(cur.fetchone()[0])
        if query.text:
            sql, params = search.match_sql(query.text, "sqlite", form="ids")
            cur.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT {_DRIVER_MAX + 1})", params)
            sizes[_TEXT] = int(cur.fetchone()[0])
    return sizes


def _where(project_id: int, query: SheetQuery, vendor: str, sizes: dict[int, int] | None = None) -> _Plan:
    """FROM and WHERE of ``query``: the tests on the assessment first (answered from the covering
    index ``store_assessment_sheet``), then the coded filters, then the full-text search.

    On SQLite with ``sizes`` (``_estimates``), the smallest of the coded filters and text search
    that match at most ``_DRIVER_MAX`` rows drives the query: SQLite's planner has no statistics
    to find it, and would otherwise build a list of ids per filter, each up to the whole store."""
    sizes = sizes or {}
    small = {k: n for k, n in sizes.items() if n <= _DRIVER_MAX}
    drive = min(small, key=lambda k: small[k]) if vendor == "sqlite" and small else None
    driver, params = "", []
    where = ["a.project_id = %s", "a.latest = %s"]
    wparams: list[Any] = [project_id, True]
    if drive is not None:
        if drive == _TEXT:
            sql, dparams = search.match_sql(query.text or "", vendor, form="ids")
        else:
            sql, dparams = _facet_ids(query.conditions[drive])
            sql = "SELECT DISTINCT " + sql.removeprefix("SELECT ")
        # CROSS JOIN: SQLite keeps the left table in the outer loop
        driver = f"({sql}) d CROSS JOIN "
        params += dparams
        where.insert(0, "a.id = d.assessment_id")
    if query.scope:
        like = "('|' || COALESCE(a.scopes, 'Global') || '|') LIKE %s"
        if "\\" in query.scope:  # (PostgreSQL's LIKE escapes with a backslash)
            where.append(like)
            wparams.append(f"%|{query.scope}|%")
        else:  # most rows hold just the one scope: skip building a string per row
            where.append(f"(a.scopes = %s OR {like})")
            wparams += [query.scope, f"%|{query.scope}|%"]
    coded = []
    for i, c in enumerate(query.conditions):
        if i == drive:
            continue
        if FIELDS[c.field].kind in ("list", "tree"):
            coded.append(_condition_sql(c, vendor, probe=drive is not None))
            continue
        sql, p = _condition_sql(c, vendor)
        where.append(sql)
        wparams += p
    for sql, p in coded:
        where.append(sql)
        wparams += p
    if query.text and drive != _TEXT:
        probe = drive is not None and small[drive] <= _TEXT_PROBE_MAX
        sql, p = search.match_sql(query.text, vendor, id_column="a.id", form="probe" if probe else "in")
        where.append(sql)
        wparams += p
    return _Plan(driver, " AND ".join(where), params + wparams)


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


#: PostgreSQL: a page of a text-search selection of at most this many rows selects them first
_FEW_ROWS = 5000


def matching_ids(
    project: str,
    query: SheetQuery,
    using: str = "default",
    *,
    limit: int | None = None,
    offset: int = 0,
    rows: int | None = None,
) -> pl.DataFrame:
    """``_pk``, ``assessment_id``, ``taxon_id`` of the sheet rows matching ``query``, in sheet order
    (``limit`` rows from ``offset``; all by default). ``rows``: how many match, when the caller
    counted them."""
    ensure_index(project, using)
    if query.text:
        search.ensure_text_index(project, using)
    query = _expand(query, using)
    vendor = _vendor(using)
    plan = _where(_project_id(project, using), query, vendor, _estimates(query, using))
    params = list(plan.params)
    sql = (
        f"SELECT a.id, a.assessment_id, t.taxon_id FROM {plan.source(True)} "
        f"WHERE {plan.where} ORDER BY {_order_sql(query.sort)}"
    )
    if vendor == "postgresql" and query.text and limit is not None and rows is not None and rows <= _FEW_ROWS:
        # PostgreSQL misjudges how many rows a text search keeps and, for a page, walks the sort
        # order of the whole project (1.2 s instead of 40 ms for 419 of 150,000): select the few
        # rows first, then sort them
        sql = (
            f"WITH m AS MATERIALIZED (SELECT a.id FROM {plan.source(_needs_taxon(query))} WHERE {plan.where}) "
            "SELECT a.id, a.assessment_id, t.taxon_id FROM m JOIN store_assessment a ON a.id = m.id "
            f"JOIN store_taxon t ON t.id = a.taxon_id ORDER BY {_order_sql(query.sort)}"
        )
    if limit is not None:
        sql += " LIMIT %s OFFSET %s"
        params += [max(int(limit), 0), max(int(offset), 0)]
    elif offset:
        sql += (" LIMIT -1" if vendor == "sqlite" else "") + " OFFSET %s"
        params.append(max(int(offset), 0))
    with connections[using].cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return pl.DataFrame(
        rows, schema={"_pk": pl.Int64, "assessment_id": pl.Utf8, "taxon_id": pl.Utf8}, orient="row"
    )


def count(project: str, query: SheetQuery, using: str = "default") -> int:
    """Number of sheet rows matching ``query``."""
    ensure_index(project, using)
    if query.text:
        search.ensure_text_index(project, using)
    query = _expand(query, using)
    plan = _where(_project_id(project, using), query, _vendor(using), _estimates(query, using))
    with connections[using].cursor() as cur:
        cur.execute(
            f"SELECT COUNT(*) FROM {plan.source(_needs_taxon(query))} WHERE {plan.where}", plan.params
        )
        return int(cur.fetchone()[0])


def _chunks(values: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def sheet_page(
    project: str,
    query: SheetQuery,
    *,
    limit: int | None = None,
    offset: int = 0,
    rows: int | None = None,
    using: str = "default",
) -> pl.DataFrame:
    """The sheet rows matching ``query`` (columns ``SHEET_COLUMNS``), in order, ``limit`` from ``offset``
    (``rows``: how many match, when counted already)."""
    return sheet_for_ids(matching_ids(project, query, using, limit=limit, offset=offset, rows=rows), using)


def _select(col: str) -> str:
    expr = _SCALAR_SQL.get(col, "a." + col)
    if SHEET_COLUMNS[col] == pl.Date:
        return f"CAST({expr} AS TEXT)"
    if SHEET_COLUMNS[col] == pl.Boolean:
        return f"CAST({expr} AS INTEGER)"
    return expr


def sheet_for_ids(ids: pl.DataFrame, using: str = "default") -> pl.DataFrame:
    """Sheet rows for the assessments ``ids`` (``_pk``), kept in that order."""
    scalar_cols = [
        c
        for c, t in SHEET_COLUMNS.items()
        if not isinstance(t, pl.List) and c not in ("taxon_id", "assessment_id")
    ]
    schema = {"_pk": pl.Int64, **{c: SHEET_COLUMNS[c] for c in scalar_cols}}
    facets_schema = {"_pk": pl.Int64, "field": pl.Utf8, "value": pl.Utf8}
    scalars, facets, threats = [], [], []
    pks = ids["_pk"].to_list()
    vendor = connections[using].vendor
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
                f"SELECT assessment_id, field, value FROM {FACET_TABLE} WHERE assessment_id IN ({marks})",
                list(chunk),
            )
            facets += cur.fetchall()
            # by the assessments' key (SQLite: "+" keeps the planner off the covering code
            # index, which would read every row of the kind)
            plus = "+" if vendor == "sqlite" else ""
            for name, (table, kind) in CHILD_FIELDS.items():
                where, params = (f"{plus}kind = %s AND ", [kind]) if kind else ("", [])
                cur.execute(
                    f"SELECT DISTINCT assessment_id, code FROM {table} WHERE {where}{plus}code IS NOT NULL "
                    f"AND assessment_id IN ({marks})",
                    [*params, *chunk],
                )
                facets += [(pk, name, code) for pk, code in cur.fetchall()]
            cur.execute(
                f"SELECT assessment_id, code, impact FROM store_threat WHERE assessment_id IN ({marks}) "
                "AND code IS NOT NULL ORDER BY assessment_id, id",
                list(chunk),
            )
            threats += cur.fetchall()
    raw_schema = {
        k: (pl.Utf8 if v == pl.Date else pl.Int32 if v == pl.Boolean else v) for k, v in schema.items()
    }
    s = pl.DataFrame(scalars, schema=raw_schema, orient="row")
    s = s.with_columns(
        pl.col("assessment_date").str.slice(0, 10).str.to_date(strict=False),
        pl.col("possibly_extinct").cast(pl.Boolean),
    )
    f = pl.DataFrame(facets, schema=facets_schema, orient="row")
    # "code: impact" per threat, the first row of a code (as ``assess2plan.sheet.sheet_rows``)
    th = pl.DataFrame(threats, schema={"_pk": pl.Int64, "code": pl.Utf8, "impact": pl.Utf8}, orient="row")
    th = th.unique(["_pk", "code"], keep="first", maintain_order=True).select(
        "_pk",
        pl.lit("threat_impact").alias("field"),
        (pl.col("code") + ": " + pl.col("impact").fill_null("Unknown")).alias("value"),
    )
    f = pl.concat([f, th])
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
    ``value``, ``taxa``), like ``assess2plan.sheet.facet_counts``.

    Counted in memory over this process's facet index (``_FacetIndex``: for each field, the
    (assessment, value) pairs of the project's latest assessments, read once per data version):
    the database only lists the matching assessment keys. Counting ``COUNT(DISTINCT)`` per value in
    SQL over millions of child rows took seconds at 150,000 assessments."""
    import numpy as np

    from assess2plan.sheet import ALIASES

    ensure_index(project, using)
    if query.text:
        search.ensure_text_index(project, using)
    names = [ALIASES.get(f, f) for f in (fields or [n for n, f in FIELDS.items() if f.facet])]
    for name in names:
        if name not in FIELDS:
            raise A2PError(f"unknown facet {name!r}; fields: {', '.join(FIELDS)}")
    query = _expand(query, using)
    vendor = _vendor(using)
    pid = _project_id(project, using)
    plan = _where(pid, query, vendor, _estimates(query, using))
    with connections[using].cursor() as cur:
        cur.execute(f"SELECT a.id FROM {plan.source(_needs_taxon(query))} WHERE {plan.where}", plan.params)
        matched = np.fromiter((r[0] for r in cur.fetchall()), dtype=np.int64)
    index = _facet_index(pid, using)
    out: list[tuple[str, str, int]] = []
    for name in names:
        pks, codes, values = index.field(name)
        if not len(pks) or not len(matched):
            continue
        mask = np.zeros(int(max(pks.max(), matched.max())) + 1, dtype=bool)
        mask[matched] = True
        counts = np.bincount(codes[mask[pks]], minlength=len(values))
        out += [(name, values[i], int(n)) for i, n in enumerate(counts.tolist()) if n]
    df = pl.DataFrame(out, schema={"field": pl.Utf8, "value": pl.Utf8, "taxa": pl.Int64}, orient="row")
    return df.sort(["field", "taxa", "value"], descending=[False, True, False])


class _FacetIndex:
    """For each facet field (read on first use), the distinct (assessment key, value) pairs of the
    project's latest assessments as arrays: ``pks`` (int64), ``codes`` (index into ``values``)."""

    def __init__(self, project_id: int, using: str, version: tuple) -> None:
        self.project_id, self.using, self.version = project_id, using, version
        self._fields: dict[str, tuple[Any, Any, list[str]]] = {}
        self._latest: Any = None
        self._lock = threading.Lock()

    def latest(self) -> Any:
        """Boolean mask over assessment keys: the project's latest assessments."""
        import numpy as np

        if self._latest is None:
            with connections[self.using].cursor() as cur:
                cur.execute(
                    "SELECT a.id FROM store_assessment a WHERE a.project_id = %s AND a.latest = %s",
                    [self.project_id, True],
                )
                ids = np.fromiter((r[0] for r in cur.fetchall()), dtype=np.int64)
            mask = np.zeros(int(ids.max()) + 1 if len(ids) else 1, dtype=bool)
            mask[ids] = True
            self._latest = mask
        return self._latest

    def field(self, name: str) -> tuple[Any, Any, list[str]]:
        with self._lock:
            if name not in self._fields:
                self._fields[name] = self._read(name)
            return self._fields[name]

    def _read(self, name: str) -> tuple[Any, Any, list[str]]:
        """One field's pairs, as one row per value with its assessment keys joined in one string
        (``group_concat`` / ``string_agg``): millions of pairs cross as a few long strings."""
        import numpy as np

        f = FIELDS[name]
        latest = "a.project_id = %s AND a.latest = %s"
        params: list[Any] = [self.project_id, True]
        agg = "group_concat(f.assessment_id)" if _vendor(self.using) == "sqlite" else "string_agg(f.assessment_id::text, ',')"
        if name in CHILD_FIELDS or f.kind in ("list", "tree"):
            # straight down the covering (kind, code, assessment) / (field, value, assessment) index,
            # every project and assessment: the project's latest ones are picked out below
            if name in CHILD_FIELDS:
                table, kind = CHILD_FIELDS[name]
                where, wparams = ("f.kind = %s", [kind]) if kind else ("f.code IS NOT NULL", [])
                col = "f.code"
            else:
                table, where, wparams, col = FACET_TABLE, "f.field = %s", [name], "f.value"
            grouped = f"SELECT {col}, {agg} FROM {table} f WHERE {where} GROUP BY {col}"
            params = wparams
        else:  # one value per assessment: the pairs themselves
            col = _SCALAR_SQL[f.column]
            source = "store_assessment a JOIN store_taxon t ON t.id = a.taxon_id" if col.startswith("t.") else "store_assessment a"
            with connections[self.using].cursor() as cur:
                cur.execute(f"SELECT a.id, CAST({col} AS TEXT) FROM {source} WHERE {latest} AND {col} IS NOT NULL", params)
                df = pl.DataFrame(cur.fetchall(), schema={"pk": pl.Int64, "v": pl.Utf8}, orient="row")
            values = sorted(df["v"].unique().to_list())
            lookup = pl.DataFrame({"v": values, "code": range(len(values))}, schema={"v": pl.Utf8, "code": pl.Int64})
            df = df.join(lookup, on="v")
            return df["pk"].to_numpy(), df["code"].to_numpy(), values
        with connections[self.using].cursor() as cur:
            cur.execute(grouped, params)
            rows = sorted((v, j) for v, j in cur.fetchall() if v is not None)
        keep = self.latest()
        values: list[str] = []
        parts, codes = [], []
        for value, joined in rows:
            ids = np.unique(np.fromstring(joined, dtype=np.int64, sep=","))  # distinct assessments
            ids = ids[keep[np.minimum(ids, len(keep) - 1)] & (ids < len(keep))]
            if not len(ids):
                continue
            codes.append(np.full(len(ids), len(values), dtype=np.int64))
            parts.append(ids)
            values.append(value)
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
        return np.concatenate(parts), np.concatenate(codes), values


_facet_indexes: dict[tuple[str, int], _FacetIndex] = {}
_facet_lock = threading.Lock()


def data_version(project_id: int, using: str = "default") -> tuple:
    """Changes whenever the project's assessments change: an import (a new dataset), an edit."""
    from django.db.models import Count, Max

    from assess2plan.web.store.models import Dataset, Edit

    ds = (
        Dataset.objects.using(using)
        .filter(project_id=project_id)
        .aggregate(n=Count("id"), m=Max("id"), t=Max("imported_at"))
    )
    ed = Edit.objects.using(using).filter(project_id=project_id).aggregate(n=Count("id"), m=Max("id"), t=Max("made_at"))
    return (ds["n"], ds["m"], ds["t"], ed["n"], ed["m"], ed["t"])


def _facet_index(project_id: int, using: str) -> _FacetIndex:
    version = data_version(project_id, using)
    key = (using, project_id)
    with _facet_lock:
        index = _facet_indexes.get(key)
        if index is None or index.version != version:
            index = _FacetIndex(project_id, using, version)
            _facet_indexes[key] = index
        return index


def warm_facets(fields: Iterable[str], using: str = "default") -> None:
    """Build the facet index of every project for ``fields`` (a server calls this in a background
    thread when it starts, so that the first sheet page does not wait for it)."""
    from assess2plan.web.store.models import Project

    for pid in Project.objects.using(using).values_list("id", flat=True):
        index = _facet_index(pid, using)
        for name in fields:
            index.field(name)
