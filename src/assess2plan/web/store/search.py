"""Full-text search over the narrative fields of stored assessments.

* SQLite: an FTS5 table ``store_assessment_fts`` with external content (``store_assessment``),
  porter stemming, accents folded;
* PostgreSQL: ``store_assessmenttext`` holds ``to_tsvector('english', <narrative fields>)`` of
  each assessment, with a GIN index (HTML tags are not indexed: the default parser knows them).

Created by migrations 0003 and 0004. New assessments are indexed after their import, by
``index_text`` (see ``TextPending``); deletes and updates keep the index current by triggers
(SQLite) or by the importer (PostgreSQL). ``match_sql`` turns a search
(``assess2plan.sheet.search_terms``) into a condition on ``store_assessment.id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assess2plan.sheet import NARRATIVE_FIELDS, search_terms

FTS_TABLE = "store_assessment_fts"
PG_CONFIG = "english"


def pg_document(table: str = "") -> str:
    """The indexed tsvector expression (a query repeats it, its columns qualified with ``table``)."""
    prefix = f"{table}." if table else ""
    body = " || ' ' || ".join(f"coalesce({prefix}{c}, '')" for c in NARRATIVE_FIELDS)
    return f"to_tsvector('{PG_CONFIG}'::regconfig, {body})"


def sqlite_create() -> list[str]:
    cols = ", ".join(NARRATIVE_FIELDS)
    new = ", ".join(f"new.{c}" for c in NARRATIVE_FIELDS)
    old = ", ".join(f"old.{c}" for c in NARRATIVE_FIELDS)
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({cols}, content='store_assessment', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON store_assessment BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON store_assessment BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF {cols} ON store_assessment BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
    ]


PENDING_TABLE = "store_textpending"
PG_TABLE = "store_assessmenttext"
#: assessments indexed per transaction by ``index_text``
BATCH = 5000
#: PostgreSQL sessions indexing at once (the server tokenises: one core each)
WORKERS = 2


def sqlite_triggers() -> list[str]:
    """FTS5 triggers since migration 0004: no insert trigger (``index_text`` indexes new rows);
    deleting or updating a row takes its old text out of the index unless it is still pending."""
    cols = ", ".join(NARRATIVE_FIELDS)
    new = ", ".join(f"new.{c}" for c in NARRATIVE_FIELDS)
    old = ", ".join(f"old.{c}" for c in NARRATIVE_FIELDS)
    indexed = f"NOT EXISTS (SELECT 1 FROM {PENDING_TABLE} p WHERE p.assessment_id = old.id)"
    return [
        *[f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{s}" for s in ("ai", "ad", "au")],
        f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON store_assessment WHEN {indexed} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF {cols} ON store_assessment WHEN {indexed} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {cols}) VALUES (new.id, {new}); END",
    ]


def mark_pending(db: Any, pks: Any) -> None:
    """List newly written assessments (ids ``pks``) for ``index_text`` (inside the import)."""
    import polars as pl

    ids = pl.DataFrame({"assessment_id": pl.Series(pks, dtype=pl.Int64)})
    db.insert(PENDING_TABLE, ["assessment_id"], ids)


def forget(db: Any, pks: Any) -> None:
    """Take deleted assessments (ids ``pks``) out of the pending list and PostgreSQL's index;
    call after deleting the rows (SQLite's delete trigger needs to see what was pending)."""
    db.delete_in(PENDING_TABLE, "assessment_id", list(pks))
    if db.pg:
        db.delete_in(PG_TABLE, "assessment_id", list(pks))


def pending(project: str, using: str = "default") -> int:
    """Number of assessments of ``project`` not yet in the full-text index."""
    from django.db import connections

    with connections[using].cursor() as cur:
        cur.execute(
            f"SELECT COUNT(*) FROM {PENDING_TABLE} p JOIN store_assessment a ON a.id = p.assessment_id "
            "JOIN store_project pr ON pr.id = a.project_id WHERE pr.slug = %s",
            [project],
        )
        return int(cur.fetchone()[0])


def index_text(
    project: str, using: str = "default", progress: Callable[[str, int, int], None] | None = None
) -> int:
    """Index the narrative text of every pending assessment of ``project``; returns how many.

    Batches of ``BATCH`` assessments, each in its own transaction: an interrupted run keeps what
    it did and the next one (or the next text search) goes on from there. Two sessions indexing
    the same project at once skip each other's rows (PostgreSQL) or wait (SQLite)."""
    from django.db import connections, transaction

    from assess2plan.web.store.load import _DB

    total = pending(project, using)
    if not total:
        return 0
    import threading
    from concurrent.futures import ThreadPoolExecutor

    db = _DB(using)
    cols = ", ".join(NARRATIVE_FIELDS)
    done = 0
    lock_progress = threading.Lock()
    big = db.pg and total >= 100_000 and total * 2 >= _count(using, PG_TABLE)
    if big:  # a first import of a large set: build the GIN index once, after the rows
        db.execute("DROP INDEX IF EXISTS store_assessmenttext_search")

    stop = threading.Event()

    def work(own_connection: bool) -> None:
        nonlocal done
        wdb = _DB(using)
        try:
            while not stop.is_set():
                with transaction.atomic(using=using):
                    lock = " FOR UPDATE OF p SKIP LOCKED" if wdb.pg else ""
                    ids = [
                        r[0]
                        for r in wdb.fetchall(
                            f"SELECT p.assessment_id FROM {PENDING_TABLE} p JOIN store_assessment a ON a.id = p.assessment_id "
                            f"JOIN store_project pr ON pr.id = a.project_id WHERE pr.slug = %s "
                            f"ORDER BY p.assessment_id LIMIT {BATCH}{lock}",
                            [project],
                        )
                    ]
                    if not ids:
                        return
                    marks = ", ".join(["%s"] * len(ids))
                    if wdb.pg:
                        wdb.execute(
                            f"INSERT INTO {PG_TABLE} (assessment_id, search_vector) SELECT id, {pg_document()} "
                            f"FROM store_assessment WHERE id IN ({marks}) ON CONFLICT (assessment_id) DO UPDATE "
                            "SET search_vector = EXCLUDED.search_vector",
                            ids,
                        )
                    else:
                        wdb.execute(
                            f"INSERT INTO {FTS_TABLE}(rowid, {cols}) SELECT id, {cols} FROM store_assessment WHERE id IN ({marks})",
                            ids,
                        )
                    wdb.execute(f"DELETE FROM {PENDING_TABLE} WHERE assessment_id IN ({marks})", ids)
                with lock_progress:
                    done += len(ids)
                    if progress is not None:
                        progress("indexing text for search", min(done, total), total)
        except BaseException:
            stop.set()  # the other session stops after its batch
            raise
        finally:
            if own_connection:
                connections[using].close()

    try:
        # PostgreSQL tokenises in its server processes: two sessions use both cores of a small
        # machine (SKIP LOCKED shares the batches out); SQLite has one writer
        workers = WORKERS if db.pg and total > 2 * BATCH and not connections[using].in_atomic_block else 1
        if workers == 1:
            work(False)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="a2p-text") as pool:
                for f in [pool.submit(work, True) for _ in range(workers)]:
                    f.result()
    finally:
        if big:
            with connections[using].cursor() as cur:
                cur.execute("SET maintenance_work_mem = '256MB'")
                cur.execute(
                    f"CREATE INDEX IF NOT EXISTS store_assessmenttext_search ON {PG_TABLE} USING gin (search_vector)"
                )
    return done


def ensure_text_index(project: str, using: str = "default") -> None:
    """Index what is pending of ``project`` before a text search (normally nothing is)."""
    if pending(project, using):
        index_text(project, using)


def _count(using: str, table: str) -> int:
    from django.db import connections

    with connections[using].cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cur.fetchone()[0])


def sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{s}" for s in ("ai", "ad", "au")] + [
        f"DROP TABLE IF EXISTS {FTS_TABLE}"
    ]


def pg_create() -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS store_assessment_fts ON store_assessment USING gin ({pg_document()})"]


def pg_drop() -> list[str]:
    return ["DROP INDEX IF EXISTS store_assessment_fts"]


def _fts5_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _pg_lexeme(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "'"


def match_sql(
    text: str, vendor: str, id_column: str = "store_assessment.id", form: str = "in"
) -> tuple[str, list[Any]]:
    """SQL condition (and parameters) true for assessments whose narrative fields match ``text``.

    SQLite's ``form``: ``"in"`` (``id IN (<matching rowids>)``), ``"probe"`` (``EXISTS``, one FTS5
    lookup per row: for a few rows) or ``"ids"`` (not a condition: the query selecting the
    matching ids as ``assessment_id``)."""
    terms = search_terms(text)
    if vendor == "postgresql":
        parts = []
        for t in terms:
            words = t.text.split()
            lex = " <-> ".join(_pg_lexeme(w) + (":*" if t.prefix and i == len(words) - 1 else "") for i, w in enumerate(words))
            if len(words) > 1:
                lex = f"({lex})"
            parts.append(("!" if t.negate else "") + lex)
        query = " & ".join(parts)
        # AssessmentText (migration 0004): the tsvector stored once per assessment, GIN-indexed
        tsq = f"to_tsquery('{PG_CONFIG}'::regconfig, %s)"
        if form == "ids":
            return f"SELECT assessment_id FROM {PG_TABLE} WHERE search_vector @@ {tsq}", [query]
        if form == "probe":
            return (
                f"EXISTS (SELECT 1 FROM {PG_TABLE} x WHERE x.assessment_id = {id_column} AND x.search_vector @@ {tsq})",
                [query],
            )
        return f"{id_column} IN (SELECT assessment_id FROM {PG_TABLE} WHERE search_vector @@ {tsq})", [query]
    positive = [t for t in terms if not t.negate]
    negative = [t for t in terms if t.negate]
    q = " AND ".join(_fts5_string(t.text) + ("*" if t.prefix else "") for t in positive)
    for t in negative:
        q += " NOT " + _fts5_string(t.text) + ("*" if t.prefix else "")
    if form == "ids":
        return f"SELECT rowid AS assessment_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [q]
    if form == "probe":
        return f"EXISTS (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid = {id_column})", [q]
    return f"{id_column} IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)", [q]
