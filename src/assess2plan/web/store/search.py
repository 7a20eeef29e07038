"""Full-text search over the narrative fields of stored assessments.

* SQLite: an FTS5 table ``store_assessment_fts`` with external content (``store_assessment``),
  kept up to date by triggers, porter stemming, accents folded;
* PostgreSQL: a GIN index over ``to_tsvector('english', <narrative fields>)`` on
  ``store_assessment`` (HTML tags are not indexed: the default parser knows them).

Both are created by migration 0003. ``match_sql`` turns a search (``assess2plan.sheet.search_terms``)
into a condition on ``store_assessment.id``.
"""

from __future__ import annotations

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


def match_sql(text: str, vendor: str, id_column: str = "store_assessment.id") -> tuple[str, list[Any]]:
    """SQL condition (and parameters) true for assessments whose narrative fields match ``text``."""
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
        table = id_column.rsplit(".", 1)[0] if "." in id_column else ""
        return f"{pg_document(table)} @@ to_tsquery('{PG_CONFIG}'::regconfig, %s)", [query]
    positive = [t for t in terms if not t.negate]
    negative = [t for t in terms if t.negate]
    q = " AND ".join(_fts5_string(t.text) + ("*" if t.prefix else "") for t in positive)
    for t in negative:
        q += " NOT " + _fts5_string(t.text) + ("*" if t.prefix else "")
    return f"{id_column} IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)", [q]
