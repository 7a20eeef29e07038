"""Bulk engine of the store: write an ``AssessmentSet`` into the database and read it back.

Rows never go through model instances: they are written with raw SQL on Django's connection
(SQLite: ``executemany`` over tuples taken column-wise from polars; PostgreSQL: ``COPY FROM STDIN``
fed with CSV written by polars) and read back the same way (PostgreSQL: ``COPY TO STDOUT``).
Primary keys of parent rows (taxa, assessments) are assigned here so that child rows can refer
to them without a round trip per row; everything that decides *what* to write (duplicates,
corrected assessments, latest flags, taxon updates) is done on polars frames.

The public API is ``assess2plan.store``; this module is its implementation.
"""

from __future__ import annotations

import getpass
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connections, transaction

from assess2plan.errors import InputError, StoreError
from assess2plan.model import ASSESSMENT_CHILDREN, SCHEMA, TABLES, TAXON_CHILDREN, AssessmentSet, conform
from assess2plan.store import ImportResult
from assess2plan.web.store.models import MODELS, Dataset, Project, field_name

Progress = Callable[[str, int, int], None]

#: at most this many issues are kept on a Dataset row (and returned)
MAX_ISSUES = 1000
#: target size of one write batch (bytes of polars data)
_BATCH_BYTES = 48 * 1024 * 1024
_NULL = "\x00"  # stands for null in the strings that are hashed
_SEP_COL, _SEP_ROW, _SEP_TABLE = "\x1f", "\x1e", "\x1d"


# ---------------------------------------------------------------------------------------------
# table layout
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where a canonical table lives: database table and canonical column -> database column."""

    table: str
    db_table: str
    columns: dict[str, str]  # canonical column -> db column (only the columns stored as such)
    fk: str | None  # db column of the FK to the parent (assessment or taxon pk)


def _layout(table: str) -> Layout:
    model = MODELS[table]
    meta = model._meta
    skip = set()
    fk = None
    if table == "assessments":
        skip = {"taxon_id"}
    elif table in ASSESSMENT_CHILDREN:
        skip = {"assessment_id", "taxon_id"}
        fk = meta.get_field("assessment").column
    elif table in TAXON_CHILDREN:
        skip = {"taxon_id"}
        fk = meta.get_field("taxon").column
    cols = {c: meta.get_field(field_name(table, c)).column for c in SCHEMA[table] if c not in skip}
    return Layout(table, meta.db_table, cols, fk)


LAYOUTS: dict[str, Layout] = {t: _layout(t) for t in TABLES}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# low-level database access (raw SQL on Django's connection)
# ---------------------------------------------------------------------------------------------
class _DB:
    """Raw-SQL helpers on one Django database alias (vendor-specific bulk paths)."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.conn = connections[using]
        self.conn.ensure_connection()
        self.vendor = self.conn.vendor
        if self.vendor not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported database backend {self.vendor!r} (use SQLite or PostgreSQL)")
        self.pg = self.vendor == "postgresql"

    # -- plain queries ----------------------------------------------------------------------
    def ph(self, n: int) -> str:
        return ", ".join(["%s"] * n)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def frame(self, sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
        """Run a SELECT whose columns are ``schema`` (in order) into a polars frame."""
        if self.pg:
            return self._pg_frame(sql, params, schema)
        raw = self.conn.connection
        cur = raw.cursor()
        try:
            cur.execute(sql.replace("%s", "?"), params)
            parts = []
            while True:
                rows = cur.fetchmany(200_000)
                if not rows:
                    break
                parts.append(self._rows_frame(rows, schema))
        finally:
            cur.close()
        if not parts:
            return pl.DataFrame(schema=schema)
        return pl.concat(parts, how="vertical", rechunk=True)

    @staticmethod
    def _rows_frame(rows: list[tuple], schema: dict[str, Any]) -> pl.DataFrame:
        # Django's SQLite connection converts declared date/bool columns to date/bool objects.
        return pl.DataFrame(rows, schema=schema, orient="row")

    def _pg_frame(self, sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
        raw = self.conn.connection
        buf = io.BytesIO()
        with raw.cursor() as cur:
            # COPY cannot take bind parameters: let psycopg render the literals client-side.
            query = cur.mogrify(sql, params) if params else sql
            with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
                for block in copy:
                    buf.write(block)
        if buf.tell() == 0:
            return pl.DataFrame(schema=schema)
        read_schema = {c: (pl.Utf8 if d == pl.Boolean else d) for c, d in schema.items()}
        buf.seek(0)
        df = pl.read_csv(buf, has_header=False, new_columns=list(schema), schema=read_schema)
        bools = [
            pl.col(c).replace_strict({"t": True, "f": False}, return_dtype=pl.Boolean)
            for c, d in schema.items()
            if d == pl.Boolean
        ]
        return df.with_columns(bools) if bools else df

    # -- bulk writes ------------------------------------------------------------------------
    def insert(self, db_table: str, columns: list[str], df: pl.DataFrame) -> int:
        """Insert all rows of ``df`` (its columns in the order of ``columns``)."""
        if df.height == 0:
            return 0
        if self.pg:
            self._pg_copy(db_table, columns, df)
        else:
            self._sqlite_insert(db_table, columns, df)
        return df.height

    @staticmethod
    def _batches(df: pl.DataFrame) -> Iterator[pl.DataFrame]:
        size = max(df.estimated_size(), 1)
        step = max(1000, min(250_000, int(df.height * _BATCH_BYTES / size)))
        for start in range(0, df.height, step):
            yield df.slice(start, step)

    def _sqlite_insert(self, db_table: str, columns: list[str], df: pl.DataFrame) -> None:
        # Dates as ISO text (what Django stores); booleans stay Python bools (stored as 0/1).
        df = df.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
        head = f"INSERT INTO {_q(db_table)} ({', '.join(map(_q, columns))}) VALUES "
        one = "(" + ", ".join("?" * len(columns)) + ")"
        # Several rows per statement: the sqlite3 module's cost is mostly per executed statement.
        k = max(1, min(64, 999 // len(columns)))
        multi = head + ", ".join([one] * k)
        raw = self.conn.connection
        for batch in self._batches(df):
            lists = [s.to_list() for s in batch.iter_columns()]
            n = batch.height
            full = n - n % k
            if full:
                raw.executemany(multi, zip(*(lst[j:full:k] for j in range(k) for lst in lists), strict=True))
            if n > full:
                raw.executemany(head + one, zip(*(lst[full:] for lst in lists), strict=True))
            del lists

    def _pg_copy(self, db_table: str, columns: list[str], df: pl.DataFrame) -> None:
        raw = self.conn.connection
        sql = f"COPY {_q(db_table)} ({', '.join(map(_q, columns))}) FROM STDIN (FORMAT csv)"
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for batch in self._batches(df):
                copy.write(batch.write_csv(include_header=False, quote_style="necessary", null_value=""))

    @contextmanager
    def bulk_indexes(self, db_table: str, new_rows: int) -> Iterator[None]:
        """Drop the secondary indexes of ``db_table`` for a large insert and build them again after.

        Only when the insert at least doubles the table (e.g. the first import of a large set):
        building an index once over sorted keys is several times faster than inserting into it
        row by row, but rebuilding it over a large existing table for a small import is not.
        Happens inside the import's transaction, so a failure leaves the indexes as they were.
        """
        if new_rows < 100_000:
            yield
            return
        existing = self.fetchall(f"SELECT COALESCE(MAX(id), 0) - COALESCE(MIN(id), 0) FROM {_q(db_table)}")[
            0
        ][0]
        if existing > new_rows:
            yield
            return
        if self.pg:
            indexes = self.fetchall(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
                "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
                [db_table],
            )
        else:
            indexes = self.fetchall(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                [db_table],
            )
        for name, _ in indexes:
            self.execute(f"DROP INDEX {_q(name)}")
        yield
        if self.pg and indexes:
            self.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            self.execute(ddl)

    def delete_in(self, db_table: str, column: str, ids: Sequence[int]) -> int:
        """DELETE the rows of ``db_table`` whose ``column`` is in ``ids``."""
        if not len(ids):
            return 0
        n = 0
        with self.conn.cursor() as cur:
            if self.pg:
                cur.execute(f"DELETE FROM {_q(db_table)} WHERE {_q(column)} = ANY(%s)", [list(ids)])
                return cur.rowcount
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                cur.execute(
                    f"DELETE FROM {_q(db_table)} WHERE {_q(column)} IN ({self.ph(len(chunk))})", chunk
                )
                n += cur.rowcount
        return n

    def set_flag(self, db_table: str, column: str, value: bool, ids: Sequence[int]) -> None:
        if not len(ids):
            return
        with self.conn.cursor() as cur:
            if self.pg:
                cur.execute(
                    f"UPDATE {_q(db_table)} SET {_q(column)} = %s WHERE id = ANY(%s)", [value, list(ids)]
                )
                return
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                cur.execute(
                    f"UPDATE {_q(db_table)} SET {_q(column)} = %s WHERE id IN ({self.ph(len(chunk))})",
                    [value, *chunk],
                )

    def new_ids(self, db_table: str, n: int) -> pl.Series:
        """``n`` fresh primary keys for ``db_table`` (the caller inserts rows with them)."""
        if n == 0:
            return pl.Series("id", [], dtype=pl.Int64)
        if self.pg:
            rows = self.fetchall(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [db_table, n]
            )
            return pl.Series("id", [r[0] for r in rows], dtype=pl.Int64)
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so max+1.. is ours.
        top = self.fetchall(f"SELECT COALESCE(MAX(id), 0) FROM {_q(db_table)}")[0][0]
        seq = self.fetchall("SELECT seq FROM sqlite_sequence WHERE name = %s", [db_table])
        start = max(top, seq[0][0] if seq else 0) + 1
        return pl.int_range(start, start + n, dtype=pl.Int64, eager=True).alias("id")

    def tune_for_bulk(self) -> Callable[[], None]:
        """Session settings for a large write; returns a function restoring them."""
        if self.pg:
            return lambda: None
        cache = self.fetchall("PRAGMA cache_size")[0][0]
        temp = self.fetchall("PRAGMA temp_store")[0][0]
        self.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache for index building
        self.execute("PRAGMA temp_store = MEMORY")

        def restore() -> None:
            self.execute(f"PRAGMA cache_size = {int(cache)}")
            self.execute(f"PRAGMA temp_store = {int(temp)}")

        return restore


# ---------------------------------------------------------------------------------------------
# hashing (stable across processes and polars versions: sha256 over a text serialisation)
# ---------------------------------------------------------------------------------------------
def _row_text(df: pl.DataFrame, columns: Iterable[str]) -> pl.Expr:
    parts = []
    for c in columns:
        col = pl.col(c)
        if df.schema[c] == pl.Boolean:
            col = pl.when(col).then(pl.lit("1")).otherwise(pl.lit("0"))
        parts.append(col.cast(pl.Utf8).fill_null(_NULL))
    return pl.concat_str(parts, separator=_SEP_COL)


def _sha256_column(texts: pl.Series) -> pl.Series:
    out = []
    for start in range(0, texts.len(), 20_000):
        out.extend(
            hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts.slice(start, 20_000).to_list()
        )
    return pl.Series(texts.name, out, dtype=pl.Utf8)


def content_hashes(tables: dict[str, pl.DataFrame], assessments: pl.DataFrame) -> pl.DataFrame:
    """``assessment_id`` -> ``content_hash``: sha256 over the assessment row and its child rows.

    Child rows are sorted first, so the order of rows in the files does not matter.
    """
    digests = assessments.select("assessment_id")
    for child in ASSESSMENT_CHILDREN:
        df = tables[child]
        if df.height == 0:
            continue
        cols = [c for c in SCHEMA[child] if c not in ("assessment_id", "taxon_id")]
        joined = (
            df.lazy()
            .select("assessment_id", _row_text(df, cols).alias("row"))
            .group_by("assessment_id")
            .agg(pl.col("row").sort().str.join(_SEP_ROW))
            .collect()
        )
        joined = joined.with_columns(_sha256_column(joined["row"]).alias(child)).drop("row")
        digests = digests.join(joined, on="assessment_id", how="left")
    digest_cols = [c for c in digests.columns if c != "assessment_id"]
    cols = list(SCHEMA["assessments"])
    out = []
    for start in range(0, assessments.height, 20_000):
        chunk = assessments.slice(start, 20_000)
        d = digests.slice(start, 20_000)
        text = chunk.select(_row_text(chunk, cols).alias("t"))["t"]
        if digest_cols:
            parts = [text] + [
                (pl.lit(f"{_SEP_TABLE}{c}:") + d[c].fill_null("")).alias(c) for c in digest_cols
            ]
            text = pl.select(pl.concat_str(parts).alias("t"))["t"]
        out.append(_sha256_column(text))
    return pl.DataFrame({"assessment_id": assessments["assessment_id"], "content_hash": pl.concat(out)})


def _content_fingerprint(hashes: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> str:
    h = hashlib.sha256(b"content")
    for v in hashes.sort("assessment_id")["content_hash"].to_list():
        h.update(v.encode())
    for t in ("taxa", *TAXON_CHILDREN):
        df = tables[t]
        if df.height:
            rows = df.select(_row_text(df, SCHEMA[t]).alias("r"))["r"].sort()
            for start in range(0, rows.len(), 50_000):
                h.update(_SEP_ROW.join(rows.slice(start, 50_000).to_list()).encode("utf-8"))
        h.update(_SEP_TABLE.encode())
    return "content:" + h.hexdigest()[:64]


def fingerprint(aset: AssessmentSet) -> str | None:
    """sha256 over the sorted sha256s of the set's source files (None when it has no sources)."""
    shas = sorted(s.sha256 for s in aset.sources if s.sha256)
    if not shas:
        return None
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# ordering of assessments ("latest")
# ---------------------------------------------------------------------------------------------
def latest_flags(meta: pl.DataFrame) -> pl.Series:
    """``latest`` for rows of ``meta`` (taxon, scopes, year_published, assessment_date, assessment_id).

    The most recent assessment per (taxon, first scope) by year published, assessment date and
    assessment id (numerically where it is a number); nulls count as oldest.
    """
    if meta.height == 0:
        return pl.Series("latest", [], dtype=pl.Boolean)
    df = meta.with_row_index("_i").with_columns(
        pl.col("scopes").fill_null("Global").str.split("|").list.first().str.strip_chars().alias("_scope"),
        pl.col("assessment_id").cast(pl.Int64, strict=False).alias("_num"),
    )
    winners = (
        df.sort(
            ["year_published", "assessment_date", "_num", "assessment_id"],
            descending=True,
            nulls_last=True,
        )
        .unique(subset=["taxon", "_scope"], keep="first")
        .select("_i")
    )
    return df.select(pl.col("_i").is_in(winners["_i"].implode()).alias("latest"))["latest"]


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------
def _canonical(aset: AssessmentSet) -> dict[str, pl.DataFrame]:
    out = {}
    for t in TABLES:
        df = aset.tables.get(t)
        if df is None:
            df = pl.DataFrame(schema=SCHEMA[t])
        elif dict(df.schema) != SCHEMA[t]:
            df = conform(t, df)
        out[t] = df
    return out


def _check_ids(df: pl.DataFrame, table: str, column: str) -> None:
    bad = df.select(pl.col(column).is_null().arg_true().first())[column].item()
    if bad is not None:
        raise InputError(table, f"{column} is missing", row=int(bad) + 1, column=column)


def _dedupe(df: pl.DataFrame, key: str, table: str, issues: list[str]) -> pl.DataFrame:
    n = df.height
    df = df.unique(subset=key, keep="first", maintain_order=True)
    if df.height < n:
        issues.append(
            f"{table}: {n - df.height} rows repeat a {key} already in the set; the first one is kept"
        )
    return df


def _table_sig(df: pl.DataFrame, key: str, cols: list[str]) -> pl.DataFrame:
    """key -> one string standing for all rows of that key (sorted), to compare row sets."""
    return (
        df.select(key, _row_text(df, cols).alias("_r"))
        .group_by(key)
        .agg(pl.col("_r").sort().str.join(_SEP_ROW).alias("_sig"))
    )


def import_set(
    aset: AssessmentSet,
    project: str = "default",
    *,
    user: str | None = None,
    progress: Progress | None = None,
    using: str = "default",
) -> ImportResult:
    """Implementation of ``assess2plan.store.import_set`` (see there)."""
    tables = _canonical(aset)
    issues: list[str] = [str(i) for i in aset.issues[:MAX_ISSUES]]
    steps = ["checking", "hashing", "comparing", *TABLES, "latest"]
    total = len(steps)
    done = 0

    def step(name: str) -> None:
        nonlocal done
        if progress is not None:
            progress(name, done, total)
        done += 1

    step("checking")
    a = tables["assessments"]
    _check_ids(a, "assessments", "assessment_id")
    _check_ids(a, "assessments", "taxon_id")
    a = _dedupe(a, "assessment_id", "assessments", issues)
    taxa_in = tables["taxa"].filter(pl.col("taxon_id").is_not_null())
    taxa_in = _dedupe(taxa_in, "taxon_id", "taxa", issues)

    db = _DB(using)
    fp = fingerprint(aset)
    if fp is not None:
        known = _find_dataset(project, fp, using)
        if known is not None:
            return ImportResult(project, known, True, {t: 0 for t in TABLES}, 0, 0, issues)

    step("hashing")
    hashes = content_hashes(tables, a)
    if fp is None:
        fp = _content_fingerprint(hashes, tables)
        known = _find_dataset(project, fp, using)
        if known is not None:
            return ImportResult(project, known, True, {t: 0 for t in TABLES}, 0, 0, issues)
    a = a.with_columns(hashes["content_hash"])

    restore = db.tune_for_bulk()
    try:
        with transaction.atomic(using=using):
            return _write(db, tables, a, taxa_in, project, fp, aset, user, issues, step)
    finally:
        restore()


def _find_dataset(project: str, fp: str, using: str) -> int | None:
    return (
        Dataset.objects.using(using)
        .filter(project__slug=project, fingerprint=fp)
        .values_list("id", flat=True)
        .first()
    )


def _write(
    db: _DB,
    tables: dict[str, pl.DataFrame],
    a: pl.DataFrame,
    taxa_in: pl.DataFrame,
    project: str,
    fp: str,
    aset: AssessmentSet,
    user: str | None,
    issues: list[str],
    step: Callable[[str], None],
) -> ImportResult:
    using = db.using
    step("comparing")
    proj, _ = Project.objects.using(using).get_or_create(slug=project, defaults={"name": project})
    # Someone may have imported the same files while we were hashing (we hold the lock now).
    known = _find_dataset(project, fp, using)
    if known is not None:
        return ImportResult(project, known, True, {t: 0 for t in TABLES}, 0, 0, issues)

    A, T = LAYOUTS["assessments"], LAYOUTS["taxa"]
    # -- what is stored -----------------------------------------------------------------------
    stored = db.frame(
        f"SELECT a.id, a.assessment_id, a.content_hash, a.dataset_id, a.taxon_id, a.scopes, "
        f"a.year_published, a.assessment_date, a.latest FROM {_q(A.db_table)} a WHERE a.project_id = %s",
        [proj.id],
        {
            "id": pl.Int64,
            "assessment_id": pl.Utf8,
            "content_hash": pl.Utf8,
            "dataset_id": pl.Int64,
            "taxon": pl.Int64,
            "scopes": pl.Utf8,
            "year_published": pl.Int32,
            "assessment_date": pl.Date,
            "latest": pl.Boolean,
        },
    )
    taxa_cols = list(SCHEMA["taxa"])
    stored_taxa = db.frame(
        f"SELECT id, {', '.join(_q(T.columns[c]) for c in taxa_cols)} FROM {_q(T.db_table)} WHERE project_id = %s",
        [proj.id],
        {"id": pl.Int64, **SCHEMA["taxa"]},
    )

    # -- assessments: new, unchanged, corrected ----------------------------------------------
    cmp = a.select("assessment_id", "content_hash").join(
        stored.select(
            "assessment_id",
            pl.col("id").alias("_pk"),
            pl.col("content_hash").alias("_old"),
            pl.col("dataset_id").alias("_ds"),
        ),
        on="assessment_id",
        how="left",
    )
    is_new = cmp["_pk"].is_null()
    is_changed = cmp["_pk"].is_not_null() & (cmp["_old"] != cmp["content_hash"])
    a_new = a.filter(is_new)
    chg_keys = cmp.filter(is_changed)
    a_chg = a.filter(is_changed).with_columns(chg_keys["_pk"], chg_keys["_ds"])
    a_write = pl.concat([a_new, a_chg.drop("_pk", "_ds")], how="vertical")
    replaced_pks = a_chg["_pk"]
    n_replaced = a_chg.height

    # -- taxa: upsert (newer non-null values win) ------------------------------------------------
    extra = (
        a_write.select("taxon_id", "scientific_name")
        .unique(subset="taxon_id", keep="first", maintain_order=True)
        .join(taxa_in.select("taxon_id"), on="taxon_id", how="anti")
    )
    taxa_set = pl.concat([taxa_in, conform("taxa", extra)], how="vertical")
    merged = taxa_set.join(stored_taxa, on="taxon_id", how="left", suffix="_old")
    value_cols = [c for c in taxa_cols if c != "taxon_id"]
    merged = merged.with_columns([pl.coalesce(pl.col(c), pl.col(f"{c}_old")).alias(c) for c in value_cols])
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in value_cols])
    t_new = merged.filter(pl.col("id").is_null())
    t_changed = merged.filter(pl.col("id").is_not_null() & differs)
    t_new = t_new.with_columns(db.new_ids(T.db_table, t_new.height).alias("id"))
    taxon_pk = pl.concat(
        [stored_taxa.select("taxon_id", "id"), t_new.select("taxon_id", "id")], how="vertical"
    ).rename({"id": "taxon"})

    # -- the Dataset row -----------------------------------------------------------------------
    ds = Dataset.objects.using(using).create(
        project=proj,
        format=",".join(sorted({s.format for s in aset.sources})) or "frames",
        sources=[
            {"path": s.path, "format": s.format, "sha256": s.sha256, "rows": s.rows} for s in aset.sources
        ],
        fingerprint=fp,
        imported_by=user if user is not None else _whoami(),
        status=Dataset.STATUS_IMPORTED,
    )

    # -- latest flags over stored + new ------------------------------------------------------------
    new_pks = db.new_ids(A.db_table, a_new.height)
    a_write = pl.concat(
        [
            a_new.with_columns(new_pks.alias("_pk"), pl.lit(ds.id, dtype=pl.Int64).alias("_ds")),
            a_chg.with_columns(pl.col("_ds").fill_null(ds.id)),
        ],
        how="vertical",
    ).join(taxon_pk, on="taxon_id", how="left")
    meta_cols = ["taxon", "scopes", "year_published", "assessment_date", "assessment_id"]
    kept = stored.filter(~pl.col("id").is_in(replaced_pks.implode()))
    affected_taxa = a_write["taxon"].unique()
    kept_aff = kept.filter(pl.col("taxon").is_in(affected_taxa.implode()))
    combined = pl.concat([kept_aff.select(meta_cols), a_write.select(meta_cols)], how="vertical")
    flags = latest_flags(combined)
    kept_flags = flags.slice(0, kept_aff.height)
    a_write = a_write.with_columns(flags.slice(kept_aff.height).alias("latest"))
    flip = kept_aff.select("id", "latest").with_columns(kept_flags.alias("_new"))
    flip = flip.filter(pl.col("latest").ne_missing(pl.col("_new")))
    new_taxa = a_write.head(a_new.height)["taxon"].unique()
    kept_history = kept_aff.filter(pl.col("taxon").is_in(new_taxa.implode())).height

    added: dict[str, int] = {t: 0 for t in TABLES}

    # -- deletes first (corrected assessments, changed taxa) ---------------------------------------
    if n_replaced:
        pks = replaced_pks.to_list()
        for child in ASSESSMENT_CHILDREN:
            L = LAYOUTS[child]
            db.delete_in(L.db_table, L.fk, pks)
        db.delete_in(A.db_table, "id", pks)

    # -- taxa ------------------------------------------------------------------------------------
    step("taxa")
    t_cols = ["id", "project_id", *[T.columns[c] for c in taxa_cols]]
    if t_changed.height:
        db.delete_in(T.db_table, "id", t_changed["id"].to_list())
    t_rows = pl.concat([t_new, t_changed], how="vertical_relaxed").select(
        "id", pl.lit(proj.id, dtype=pl.Int64).alias("project_id"), *taxa_cols
    )
    db.insert(T.db_table, t_cols, t_rows)
    added["taxa"] = t_new.height

    # -- assessments ----------------------------------------------------------------------------------
    step("assessments")
    a_cols = [c for c in SCHEMA["assessments"] if c != "taxon_id"]
    rows = a_write.select(
        pl.col("_pk").alias("id"),
        pl.lit(proj.id, dtype=pl.Int64).alias("project_id"),
        pl.col("taxon").alias("taxon_id"),
        pl.col("_ds").alias("dataset_id"),
        pl.col("latest"),
        pl.col("content_hash"),
        *a_cols,
    )
    db.insert(
        A.db_table,
        [
            "id",
            "project_id",
            "taxon_id",
            "dataset_id",
            "latest",
            "content_hash",
            *[A.columns[c] for c in a_cols],
        ],
        rows,
    )
    del rows
    added["assessments"] = a_write.height
    if flip.height:
        db.set_flag(A.db_table, "latest", True, flip.filter(pl.col("_new"))["id"].to_list())
        db.set_flag(A.db_table, "latest", False, flip.filter(~pl.col("_new"))["id"].to_list())

    # -- assessment children ------------------------------------------------------------------------
    a_pk = a_write.select("assessment_id", "_pk")
    all_ids = a.select("assessment_id")
    for child in ASSESSMENT_CHILDREN:
        step(child)
        L = LAYOUTS[child]
        df = tables[child]
        if df.height == 0:
            continue
        orphans = df.join(all_ids, on="assessment_id", how="anti").height
        if orphans:
            issues.append(
                f"{child}: {orphans} rows refer to an assessment_id that is not in the set; not stored"
            )
        cols = list(L.columns)
        rows = df.join(a_pk, on="assessment_id", how="inner").select(pl.col("_pk"), *cols)
        with db.bulk_indexes(L.db_table, rows.height):
            added[child] = db.insert(L.db_table, [L.fk, *[L.columns[c] for c in cols]], rows)
        del rows

    # -- taxon children: a taxon's rows are replaced when they differ ------------------------------
    for child in TAXON_CHILDREN:
        step(child)
        L = LAYOUTS[child]
        df = tables[child]
        if df.height == 0:
            continue
        df = df.filter(pl.col("taxon_id").is_not_null()).join(taxon_pk, on="taxon_id", how="left")
        orphans = df.filter(pl.col("taxon").is_null()).height
        if orphans:
            issues.append(f"{child}: {orphans} rows refer to a taxon_id that is not in the set; not stored")
            df = df.filter(pl.col("taxon").is_not_null())
        cols = list(L.columns)
        stored_rows = db.frame(
            f"SELECT c.{_q(L.fk)}, {', '.join('c.' + _q(L.columns[c]) for c in cols)} FROM {_q(L.db_table)} c "
            f"JOIN {_q(T.db_table)} t ON t.id = c.{_q(L.fk)} WHERE t.project_id = %s",
            [proj.id],
            {"taxon": pl.Int64, **{c: SCHEMA[child][c] for c in cols}},
        )
        new_sig = _table_sig(df, "taxon", cols)
        old_sig = _table_sig(stored_rows, "taxon", cols)
        cmp_sig = new_sig.join(old_sig, on="taxon", how="left", suffix="_old")
        todo = cmp_sig.filter(pl.col("_sig").ne_missing(pl.col("_sig_old")))
        drop = todo.filter(pl.col("_sig_old").is_not_null())["taxon"].to_list()
        db.delete_in(L.db_table, L.fk, drop)
        rows = df.filter(pl.col("taxon").is_in(todo["taxon"].implode())).select("taxon", *cols)
        added[child] = db.insert(L.db_table, [L.fk, *[L.columns[c] for c in cols]], rows)

    step("latest")
    ds.counts = added
    ds.issues = issues[:MAX_ISSUES]
    changed_anything = any(added.values()) or n_replaced or t_changed.height or flip.height
    if not changed_anything:
        # Nothing new: do not record an import that changed nothing.
        transaction.set_rollback(True, using=using)
        return ImportResult(project, None, True, added, 0, 0, issues[:MAX_ISSUES])
    ds.save(using=using, update_fields=["counts", "issues"])
    return ImportResult(project, ds.id, False, added, n_replaced, kept_history, issues[:MAX_ISSUES])


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return ""


# ---------------------------------------------------------------------------------------------
# reading back
# ---------------------------------------------------------------------------------------------
def _project_id(project: str, using: str) -> int:
    pid = Project.objects.using(using).filter(slug=project).values_list("id", flat=True).first()
    if pid is None:
        raise StoreError(f"no project {project!r} in the store (import something into it first)")
    return pid


def _chunks(values: list[str], size: int = 5000) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def read_frames(
    project: str,
    *,
    taxon_ids: Iterable[str] | None = None,
    latest_only: bool = True,
    scope: str | None = None,
    using: str = "default",
) -> dict[str, pl.DataFrame]:
    """Canonical frames of ``project``; ``assessments`` carries two more columns: ``latest`` and ``_pk``."""
    db = _DB(using)
    pid = _project_id(project, using)
    A, T = LAYOUTS["assessments"], LAYOUTS["taxa"]
    where = ["a.project_id = %s"]
    params: list[Any] = [pid]
    if latest_only:
        where.append("a.latest = %s")
        params.append(True)
    if scope:
        where.append("('|' || COALESCE(a.scopes, 'Global') || '|') LIKE %s")
        params.append(f"%|{scope}|%")
    ids: list[str] | None = None
    if taxon_ids is not None:
        ids = sorted({str(t) for t in taxon_ids})

    def run(select: str, conds: list[str], cond_params: list[Any], schema: dict[str, Any]) -> pl.DataFrame:
        """``select`` WHERE ``conds``; with a taxon filter, once per chunk of taxon ids."""
        if ids is None:
            return db.frame(f"{select} WHERE {' AND '.join(conds)}", cond_params, schema)
        parts = []
        for chunk in _chunks(ids):
            w = " AND ".join([*conds, f"t.taxon_id IN ({db.ph(len(chunk))})"])
            parts.append(db.frame(f"{select} WHERE {w}", [*cond_params, *chunk], schema))
        return pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)

    a_cols = [c for c in SCHEMA["assessments"] if c != "taxon_id"]
    a_schema = {
        "_pk": pl.Int64,
        "taxon_id": pl.Utf8,
        **{c: SCHEMA["assessments"][c] for c in a_cols},
        "latest": pl.Boolean,
    }
    assessments = run(
        f"SELECT a.id, t.taxon_id, {', '.join('a.' + _q(A.columns[c]) for c in a_cols)}, a.latest "
        f"FROM {_q(A.db_table)} a JOIN {_q(T.db_table)} t ON t.id = a.taxon_id",
        where,
        params,
        a_schema,
    )
    out: dict[str, pl.DataFrame] = {}
    keys = assessments.select("_pk", "assessment_id", "taxon_id")
    for child in ASSESSMENT_CHILDREN:
        L = LAYOUTS[child]
        cols = list(L.columns)
        schema = {"_pk": pl.Int64, **{c: SCHEMA[child][c] for c in cols}}
        df = run(
            f"SELECT c.{_q(L.fk)}, {', '.join('c.' + _q(L.columns[c]) for c in cols)} FROM {_q(L.db_table)} c "
            f"JOIN {_q(A.db_table)} a ON a.id = c.{_q(L.fk)} JOIN {_q(T.db_table)} t ON t.id = a.taxon_id",
            where,
            params,
            schema,
        )
        out[child] = df.join(keys, on="_pk", how="inner").select(list(SCHEMA[child]))

    # taxa: those of the selected assessments, plus (without a scope filter) taxa with no assessment
    taxa_cols = list(SCHEMA["taxa"])
    taxa = run(
        f"SELECT t.id, {', '.join('t.' + _q(T.columns[c]) for c in taxa_cols)} FROM {_q(T.db_table)} t",
        ["t.project_id = %s"],
        [pid],
        {"_tpk": pl.Int64, **SCHEMA["taxa"]},
    )
    keep = pl.col("taxon_id").is_in(assessments["taxon_id"].unique().implode())
    if not scope:
        with_any = db.frame(
            f"SELECT DISTINCT taxon_id FROM {_q(A.db_table)} WHERE project_id = %s", [pid], {"_tpk": pl.Int64}
        )
        keep = keep | ~pl.col("_tpk").is_in(with_any["_tpk"].implode())
    taxa = taxa.filter(keep)
    out["taxa"] = taxa.select(taxa_cols)
    tkeys = taxa.select("_tpk", "taxon_id")
    for child in TAXON_CHILDREN:
        L = LAYOUTS[child]
        cols = list(L.columns)
        schema = {"_tpk": pl.Int64, **{c: SCHEMA[child][c] for c in cols}}
        df = run(
            f"SELECT c.{_q(L.fk)}, {', '.join('c.' + _q(L.columns[c]) for c in cols)} FROM {_q(L.db_table)} c "
            f"JOIN {_q(T.db_table)} t ON t.id = c.{_q(L.fk)}",
            ["t.project_id = %s"],
            [pid],
            schema,
        )
        out[child] = df.join(tkeys, on="_tpk", how="inner").select(list(SCHEMA[child]))
    out["assessments"] = assessments.select(*SCHEMA["assessments"], "latest", "_pk")
    return {t: out[t] for t in TABLES}


def project_counts(project: str, using: str = "default") -> dict[str, int]:
    """Rows per canonical table of ``project`` plus ``species`` (distinct taxa with an assessment)."""
    db = _DB(using)
    pid = _project_id(project, using)
    A, T = LAYOUTS["assessments"], LAYOUTS["taxa"]
    out: dict[str, int] = {}
    for t in TABLES:
        L = LAYOUTS[t]
        if t in ("taxa", "assessments"):
            sql = f"SELECT COUNT(*) FROM {_q(L.db_table)} WHERE project_id = %s"
        elif t in ASSESSMENT_CHILDREN:
            sql = (
                f"SELECT COUNT(*) FROM {_q(L.db_table)} c JOIN {_q(A.db_table)} a ON a.id = c.{_q(L.fk)} "
                f"WHERE a.project_id = %s"
            )
        else:
            sql = (
                f"SELECT COUNT(*) FROM {_q(L.db_table)} c JOIN {_q(T.db_table)} t ON t.id = c.{_q(L.fk)} "
                f"WHERE t.project_id = %s"
            )
        out[t] = int(db.fetchall(sql, [pid])[0][0])
    out["species"] = int(
        db.fetchall(f"SELECT COUNT(DISTINCT taxon_id) FROM {_q(A.db_table)} WHERE project_id = %s", [pid])[0][
            0
        ]
    )
    return out
