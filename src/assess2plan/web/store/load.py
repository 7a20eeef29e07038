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
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connections, transaction
from psycopg import pq

from assess2plan.errors import InputError, StoreError
from assess2plan.model import ASSESSMENT_CHILDREN, SCHEMA, TABLES, TAXON_CHILDREN, AssessmentSet, conform
from assess2plan.store import ImportResult
from assess2plan.web.store import search
from assess2plan.web.store import sheet as sheet_index
from assess2plan.web.store.models import MODELS, Dataset, Project, field_name

Progress = Callable[[str, int, int], None]

_INT_NULL = -9223372036854775807  # stands for NULL in integer columns written to SQLite
_PG_TYPES = {pl.Utf8: "text", pl.Int64: "int8", pl.Int32: "int4", pl.Boolean: "bool", pl.Date: "date"}

#: at most this many issues are kept on a Dataset row (and returned)
MAX_ISSUES = 1000
#: target size of one write batch (bytes of polars data)
_BATCH_BYTES = 48 * 1024 * 1024
_NULL = "\x00"  # stands for null in the strings that are hashed
_SEP_COL, _SEP_ROW, _SEP_TABLE = "\x1f", "\x1e", "\x1d"


# ---------------------------------------------------------------------------------------------
# table layout
# ---------------------------------------------------------------------------------------------
#: a write of at least this many rows that at least doubles a table drops and rebuilds its indexes
BULK_MIN_ROWS = 100_000


@dataclass(frozen=True)
class Layout:
    """Where a canonical table lives: database table and canonical column -> database column."""

    table: str
    db_table: str
    columns: dict[str, str]  # canonical column -> db column (only the columns stored as such)
    fk: str | None  # db column of the FK to the parent (assessment or taxon pk)
    #: canonical columns of the table's filter index (e.g. occurrence: kind, code, ``_pk`` for the
    #: parent's key) and its name. Child rows of a large import are written in this order: the
    #: index then grows at its end.
    order: tuple[str, ...] = ()
    order_index: str | None = None


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
    order: tuple[str, ...] = ()
    order_index = None
    if fk is not None:
        by_field = {field_name(table, c): c for c in cols}
        # the parent's key ends the covering filter indexes (code, assessment): rows carry it as _pk
        by_field["assessment" if table in ASSESSMENT_CHILDREN else "taxon"] = "_pk"
        for idx in meta.indexes:
            if idx.fields and all(f in by_field for f in idx.fields):
                order, order_index = tuple(by_field[f] for f in idx.fields), idx.name
                break
    return Layout(table, meta.db_table, cols, fk, order, order_index)


LAYOUTS: dict[str, Layout] = {t: _layout(t) for t in TABLES}


def _sort_key(s: pl.Series) -> pl.Series:
    """An integer column that sorts like ``s`` (sorting text directly is several times slower)."""
    if s.dtype != pl.Utf8:
        return s
    values = s.drop_nulls().unique().sort()
    return s.cast(pl.Enum(values)).to_physical().alias(s.name)


def _arg_sort(keys: list[pl.Series]) -> pl.Series:
    """Row positions that sort by ``keys`` (stable)."""
    frame = pl.DataFrame([k.alias(f"k{i}") for i, k in enumerate(keys)])
    return frame.select(pl.arg_sort_by(frame.columns, maintain_order=True)).to_series()


def _prefetch(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``items`` produced by a worker thread ``depth`` items ahead.

    The batches to write are gathered and formatted by polars (which releases the GIL) while the
    database takes the previous batch.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((True, item))
            q.put((True, done))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put((False, exc))

    worker = threading.Thread(target=work, name="a2p-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


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
            size = 10_000 if len(schema) > 12 else 200_000  # the assessments' long texts: fewer
            while True:
                rows = cur.fetchmany(size)
                if not rows:
                    break
                parts.append(self._rows_frame(rows, schema))
        finally:
            cur.close()
        if not parts:
            return pl.DataFrame(schema=schema)
        return pl.concat(parts, how="vertical", rechunk=False)

    @staticmethod
    def _rows_frame(rows: list[tuple], schema: dict[str, Any]) -> pl.DataFrame:
        # Django's SQLite connection converts declared date/bool columns to date/bool objects.
        return pl.DataFrame(rows, schema=schema, orient="row")

    def _pg_frame(self, sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
        raw = self.conn.connection
        with raw.cursor() as cur:
            # COPY cannot take bind parameters: let psycopg render the literals client-side.
            query = cur.mogrify(sql, params) if params else sql
        copy_sql = f"COPY ({query}) TO STDOUT (FORMAT csv)".encode(raw.info.encoding)
        # PostgreSQL sends one message per row; psycopg's Copy iterator costs a few microseconds
        # per message (40 s for 10 million rows), libpq's blocking PQgetCopyData a fraction.
        read_schema = {c: (pl.Utf8 if d == pl.Boolean else d) for c, d in schema.items()}
        parts: list[pl.DataFrame] = []
        chunk: list[bytes] = []
        size = 0

        def parse() -> None:
            # every message is one CSV row: a chunk of messages is a CSV file of its own
            nonlocal chunk, size
            if chunk:
                data = b"".join(chunk)
                chunk, size = [], 0
                parts.append(
                    pl.read_csv(data, has_header=False, new_columns=list(schema), schema=read_schema)
                )

        pgconn = raw.pgconn
        with raw.lock:
            pgconn.send_query(copy_sql)
            res = pgconn.get_result()
            if res is None or res.status != pq.ExecStatus.COPY_OUT:
                while pgconn.get_result() is not None:
                    pass
                raise StoreError(f"reading the store failed: {pgconn.get_error_message()}")
            while True:
                nbytes, data = pgconn.get_copy_data(0)
                if nbytes > 0:
                    chunk.append(bytes(data))
                    size += nbytes
                    if size > 64 * 1024 * 1024:
                        parse()
                elif nbytes == -1:
                    break
                else:
                    raise StoreError(f"reading the store failed: {pgconn.get_error_message()}")
            failed = None
            while (res := pgconn.get_result()) is not None:
                if res.status != pq.ExecStatus.COMMAND_OK:
                    failed = res.get_error_message()
            if failed:
                raise StoreError(f"reading the store failed: {failed}")
        parse()
        if not parts:
            return pl.DataFrame(schema=schema)
        df = pl.concat(parts, how="vertical", rechunk=False)
        bools = [
            pl.col(c).replace_strict({"t": True, "f": False}, return_dtype=pl.Boolean)
            for c, d in schema.items()
            if d == pl.Boolean
        ]
        return df.with_columns(bools) if bools else df

    # -- bulk writes ------------------------------------------------------------------------
    def insert(
        self,
        db_table: str,
        columns: list[str],
        df: pl.DataFrame,
        order: Sequence[str] = (),
        ids: bool = False,
    ) -> int:
        """Insert all rows of ``df`` (its columns in the order of ``columns``), sorted by ``order``.

        ``ids``: on PostgreSQL, number the new rows here (one block from the table's sequence) rather
        than one ``nextval`` per row on the server.
        """
        if df.height == 0:
            return 0
        if self.pg:
            first = None
            if ids:
                first = self._pg_reserve(db_table, df.height)
                columns = ["id", *columns]
            self._pg_copy(db_table, columns, df, self._batches(df, order, first))
        else:
            names = dict(zip(df.columns, columns, strict=True))
            self._sqlite_insert(db_table, df.rename(names), [names.get(c, c) for c in order], tail=order[-1:] == ("_pk",))
        return df.height

    def _pg_reserve(self, db_table: str, n: int) -> int:
        """First of ``n`` consecutive ids reserved from the id sequence of ``db_table``."""
        # Other writers of the table wait for our commit (readers do not), so nobody else draws
        # from the sequence between our nextval and setval.
        self.execute(f"LOCK TABLE {_q(db_table)} IN SHARE ROW EXCLUSIVE MODE")
        seq = "pg_get_serial_sequence(%s, 'id')"
        return self.fetchall(
            f"SELECT setval({seq}, nextval({seq}) + %s) - %s", [db_table, db_table, n - 1, n - 1]
        )[0][0]

    @staticmethod
    def _step(df: pl.DataFrame) -> int:
        return max(100, min(250_000, int(df.height * _BATCH_BYTES / max(df.estimated_size(), 1))))

    @classmethod
    def _batches(
        cls, df: pl.DataFrame, order: Sequence[str] = (), first_id: int | None = None
    ) -> Iterator[pl.DataFrame]:
        """Slices of ``df`` of about ``_BATCH_BYTES`` each, in ``order`` (gathered batch by batch, so
        the sorted table is never held twice); numbered from ``first_id`` in an ``id`` column first."""
        step = cls._step(df)
        idx = _arg_sort([_sort_key(df[c]) for c in order]) if order else None
        for start in range(0, df.height, step):
            batch = df.slice(start, step) if idx is None else df[idx.slice(start, step)]
            if first_id is not None:
                ids = pl.int_range(
                    first_id + start, first_id + start + batch.height, dtype=pl.Int64, eager=True
                )
                batch = batch.select(ids.alias("__id"), pl.all())
            yield batch

    def _sqlite_insert(self, db_table: str, df: pl.DataFrame, order: Sequence[str], tail: bool = False) -> None:
        """INSERT ``df`` (columns named as in the database) into SQLite.

        Python's sqlite3 module costs about half a microsecond per bound value, binding None costs
        most (it looks for an adapter for each one), and most optional Red List fields are empty.
        So rows are sorted by ``order`` (the table's filter index: building it afterwards over sorted
        rows is fast), then by which of their columns are null, and written run by run: a run of rows with the
        same null columns and ``order`` values names only its non-null columns, and a column that
        holds one value throughout the run is written as a literal (for occurrence rows: the kind,
        code and name). Short runs go in together, per null pattern; rows of rare null patterns go
        in with a sentinel that SQL turns back into NULL. With ``tail`` the last ``order`` column
        (the parent's key, which ends the covering filter indexes) orders the rows within a run
        without splitting runs.
        """
        nullable = [c for c in df.columns if df[c].null_count()]
        if df.estimated_size() / df.height > 1024:
            # Long texts (assessments): binding is not what costs; keep it simple, skip the sort.
            for start in range(0, df.height, self._step(df)):
                part = df.slice(start, self._step(df))
                self._sqlite_rows(
                    db_table, part, {c: part.schema[c] for c in nullable if part[c].null_count()}
                )
            return
        keys: list[pl.Series] = [_sort_key(df[c]) for c in (order[:-1] if tail else order)]
        mask = pl.repeat(0, df.height, dtype=pl.Int64, eager=True)
        if nullable:
            mask = df.select(
                pl.sum_horizontal(
                    [pl.col(c).is_null().cast(pl.Int64) * (1 << i) for i, c in enumerate(nullable)]
                )
            ).to_series()
            keys.append(mask)
        if not keys:
            for start in range(0, df.height, self._step(df)):
                self._sqlite_rows(db_table, df.slice(start, self._step(df)), {})
            return
        idx = _arg_sort([*keys, df[order[-1]]] if tail else keys)
        frame = pl.DataFrame([k.alias(f"k{i}") for i, k in enumerate(keys)])[idx]
        run = frame.select(
            pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in frame.columns])
            .fill_null(True)
            .cum_sum()
        ).to_series()
        mask = mask.gather(idx)
        del frame

        def columns(bits: int) -> list[str]:
            return [c for c in df.columns if c not in nullable or not bits >> nullable.index(c) & 1]

        step = self._step(df)
        starts = range(0, df.height, step)
        for start, batch in zip(starts, _prefetch(df[idx.slice(i, step)] for i in starts), strict=True):
            bits_of = mask.slice(start, step)
            short: dict[int, list[pl.DataFrame]] = {}
            pos = 0
            for length, _ in run.slice(start, step).rle().struct.unnest().iter_rows():
                part = batch.slice(pos, length)
                bits = bits_of[pos]
                pos += length
                if length >= 256:
                    self._sqlite_rows(db_table, part.select(columns(bits)), {})
                else:
                    short.setdefault(bits, []).append(part)
            rare = []
            for bits, parts in short.items():
                part = pl.concat(parts)
                if part.height < 500:
                    rare.append(part)
                else:
                    self._sqlite_rows(db_table, part.select(columns(bits)), {})
            if rare:
                part = pl.concat(rare)
                self._sqlite_rows(
                    db_table, part, {c: part.schema[c] for c in nullable if part[c].null_count()}
                )

    def _sqlite_rows(self, db_table: str, df: pl.DataFrame, sentinels: dict[str, Any]) -> None:
        """INSERT ``df``; nulls of the ``sentinels`` columns go through NULLIF."""
        marks, exprs = [], []
        for name, dtype in df.schema.items():
            col = pl.col(name)
            # as Django stores them: dates as ISO text, booleans as 0/1
            if dtype == pl.Date:
                col, dtype = col.dt.to_string("%Y-%m-%d"), pl.Utf8
            elif dtype == pl.Boolean:
                col, dtype = col.cast(pl.Int8), pl.Int8
            if name in sentinels:
                if dtype == pl.Utf8:
                    marks.append("NULLIF(?, '')")  # the canonical model has no empty strings
                    exprs.append(col.fill_null(""))
                else:
                    marks.append(f"NULLIF(?, {_INT_NULL})")
                    exprs.append(col.cast(pl.Int64).fill_null(_INT_NULL))
                continue
            if df.height >= 256 and dtype == pl.Utf8:
                lo, hi = df[name].min(), df[name].max()
                if lo == hi and isinstance(lo, str) and len(lo) < 200 and "\x00" not in lo:
                    marks.append("'" + lo.replace("'", "''") + "'")
                    continue
            marks.append("?")
            exprs.append(col)
        head = f"INSERT INTO {_q(db_table)} ({', '.join(map(_q, df.columns))}) VALUES "
        one = "(" + ", ".join(marks) + ")"
        raw = self.conn.connection
        if not exprs:
            raw.executemany(head + one, ((),) * df.height)
            return
        lists = [s.to_list() for s in df.select(exprs).iter_columns()]
        # Many rows per statement: much of the sqlite3 module's cost is per executed statement.
        k = max(1, 999 // len(exprs))
        n = df.height
        full = n - n % k
        if full:
            sql = head + ", ".join([one] * k)
            raw.executemany(sql, zip(*(lst[j:full:k] for j in range(k) for lst in lists), strict=True))
        if n > full:
            raw.executemany(head + one, zip(*(lst[full:] for lst in lists), strict=True))

    def _pg_copy(
        self, db_table: str, columns: list[str], df: pl.DataFrame, batches: Iterable[pl.DataFrame]
    ) -> None:
        raw = self.conn.connection
        cols = ", ".join(map(_q, columns))
        wide = df.estimated_size() / max(df.height, 1) > 1024
        with raw.cursor() as cur:
            if wide:
                # Long texts: binary COPY (no CSV quoting to write and to parse: 3x faster here).
                with cur.copy(f"COPY {_q(db_table)} ({cols}) FROM STDIN (FORMAT binary)") as copy:
                    typed = False
                    for batch in _prefetch(batches):
                        if not typed:
                            copy.set_types([_PG_TYPES[dt] for dt in batch.dtypes])
                            typed = True
                        for row in zip(*(s.to_list() for s in batch.iter_columns()), strict=True):
                            copy.write_row(row)
                return
            csv = (b.write_csv(include_header=False, quote_style="necessary", null_value="") for b in batches)
            with cur.copy(f"COPY {_q(db_table)} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                for data in _prefetch(csv):
                    copy.write(data)

    @contextmanager
    def bulk_indexes(self, db_table: str, new_rows: int, keep: str | None = None) -> Iterator[None]:
        """Drop the secondary indexes of ``db_table`` for a large insert and build them again after.

        Only when the insert at least doubles the table (e.g. the first import of a large set):
        building an index once over sorted keys is several times faster than inserting into it
        row by row, but rebuilding it over a large existing table for a small import is not.
        Happens inside the import's transaction, so a failure leaves the indexes as they were.
        """
        if new_rows < BULK_MIN_ROWS:
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
        indexes = [(name, ddl) for name, ddl in indexes if name != keep]
        for name, _ in indexes:
            self.execute(f"DROP INDEX {_q(name)}")
        yield
        if self.pg and indexes:
            self.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # the deferred foreign-key checks of the new rows now (not at the commit):
            # PostgreSQL builds no index on a table with pending trigger events
            self.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for _, ddl in indexes:
            self.execute(ddl)
        if self.pg and indexes:
            self.execute("SET CONSTRAINTS ALL DEFERRED")

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
            start = self._pg_reserve(db_table, n)
            return pl.int_range(start, start + n, dtype=pl.Int64, eager=True).alias("id")
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
    out: list[str] = []
    sha = hashlib.sha256
    for start in range(0, texts.len(), 2_000):
        # bytes straight from polars: no str objects to make and encode again
        out.extend(sha(b).hexdigest() for b in texts.slice(start, 2_000).cast(pl.Binary).to_list())
    return pl.Series(texts.name, out, dtype=pl.Utf8)


def content_hashes(tables: dict[str, pl.DataFrame], assessments: pl.DataFrame) -> pl.DataFrame:
    """``assessment_id`` -> ``content_hash``: sha256 over the assessment row and all its child rows.

    The hashed text is the assessment row, then for each child table that has rows for it the
    table name and its rows, sorted (the order of rows in the files does not matter); values as
    text, null as NUL, separated by unit / record / group separators. The format is stored with
    every assessment, so it must not change. Worked out in chunks of assessments to bound memory.
    """
    ids = assessments["assessment_id"]
    chunk = 10_000
    children = []
    for child in ASSESSMENT_CHILDREN:
        df = tables[child]
        if df.height == 0:
            continue
        # which chunk of ``assessments`` each child row belongs to (null: not in ``assessments``)
        part = pl.DataFrame({"assessment_id": ids, "_c": pl.int_range(0, ids.len(), eager=True) // chunk})
        where = df.select("assessment_id").join(part, on="assessment_id", how="left", maintain_order="left")[
            "_c"
        ]
        cols = [c for c in SCHEMA[child] if c not in ("assessment_id", "taxon_id")]
        children.append((child, df, where, cols))
    out = []
    a_cols = list(SCHEMA["assessments"])
    for k, start in enumerate(range(0, assessments.height, chunk)):
        rows = assessments.slice(start, chunk)
        text = rows.select("assessment_id", _row_text(rows, a_cols).alias("t"))
        parts = [pl.col("t")]
        for child, df, where, cols in children:
            sub = df.filter(where == k)
            if sub.height == 0:
                continue
            joined = (
                sub.select("assessment_id", _row_text(sub, cols).alias("r"))
                .group_by("assessment_id")
                .agg(pl.col("r").sort().str.join(_SEP_ROW).alias(child))
            )
            text = text.join(joined, on="assessment_id", how="left", maintain_order="left")
            parts.append(
                pl.when(pl.col(child).is_null())
                .then(pl.lit(""))
                .otherwise(pl.lit(f"{_SEP_TABLE}{child}:") + pl.col(child))
            )
        out.append(_sha256_column(text.select(pl.concat_str(parts).alias("h"))["h"]))
    hashes = pl.concat(out) if out else pl.Series("h", [], dtype=pl.Utf8)
    return pl.DataFrame({"assessment_id": ids, "content_hash": hashes})


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
    if not df[key].is_duplicated().any():
        return df  # (unique() would copy every column)
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
    index_text: bool = True,
) -> ImportResult:
    """Implementation of ``assess2plan.store.import_set`` (see there)."""
    tables = _canonical(aset)
    issues: list[str] = [str(i) for i in aset.issues[:MAX_ISSUES]]
    stages = [
        "checking",
        "comparing",
        "taxa",
        *ASSESSMENT_CHILDREN,
        *TAXON_CHILDREN,
        "sheet index",
        "assessments",
        "latest",
    ]
    done = 0

    def step(name: str) -> None:
        nonlocal done
        if progress is not None:
            progress(name, done, len(stages))
        done += 1

    step("checking")
    a = tables["assessments"]
    _check_ids(a, "assessments", "assessment_id")
    _check_ids(a, "assessments", "taxon_id")
    a = _dedupe(a, "assessment_id", "assessments", issues)
    taxa_in = tables["taxa"]
    if taxa_in["taxon_id"].null_count():
        taxa_in = taxa_in.filter(pl.col("taxon_id").is_not_null())
    taxa_in = _dedupe(taxa_in, "taxon_id", "taxa", issues)

    db = _DB(using)
    fp = fingerprint(aset)
    hashes = None
    if fp is None:
        # No source files to fingerprint (a set built in memory): fingerprint the content.
        hashes = content_hashes(tables, a)
        fp = _content_fingerprint(hashes, tables)
    known = _find_dataset(project, fp, using)
    if known is not None:
        return ImportResult(project, known, True, {t: 0 for t in TABLES}, 0, 0, issues)

    restore = db.tune_for_bulk()
    try:
        with transaction.atomic(using=using), ThreadPoolExecutor(1, thread_name_prefix="a2p-hash") as pool:
            job = _Import(db, pool, tables, a, hashes, taxa_in, project, fp, aset, user, issues, step)
            result = job.run()
    finally:
        restore()
    if index_text and not result.unchanged:
        # after the commit, in batches (see ``search.index_text``): the data are safe whatever happens
        search.index_text(project, using, progress)
    if db.pg and not result.unchanged and sum(result.added.values()) >= ANALYZE_MIN_ROWS:
        # fresh planner statistics: without them PostgreSQL plans a narrow filtered text search
        # (hundreds of rows) as if it matched everything (1.2 s instead of 40 ms at 150,000)
        with connections[using].cursor() as cur:
            cur.execute("ANALYZE " + ", ".join(_q(LAYOUTS[t].db_table) for t in TABLES))
            cur.execute("ANALYZE store_sheetfacet, store_assessmenttext")
    return result


#: PostgreSQL: imports adding at least this many rows refresh the planner's statistics at once
#: (autovacuum would, later)
ANALYZE_MIN_ROWS = 10_000


def _find_dataset(project: str, fp: str, using: str) -> int | None:
    return (
        Dataset.objects.using(using)
        .filter(project__slug=project, fingerprint=fp)
        .values_list("id", flat=True)
        .first()
    )


def _only(tables: dict[str, pl.DataFrame], ids: pl.Series) -> dict[str, pl.DataFrame]:
    """The assessment child tables restricted to assessments ``ids``."""
    keep = ids.implode()
    return {t: tables[t].filter(pl.col("assessment_id").is_in(keep)) for t in ASSESSMENT_CHILDREN}


class _Import:
    """One import, inside the transaction (see ``import_set``)."""

    def __init__(
        self,
        db: _DB,
        pool: ThreadPoolExecutor,
        tables: dict[str, pl.DataFrame],
        a: pl.DataFrame,
        hashes: pl.DataFrame | None,
        taxa_in: pl.DataFrame,
        project: str,
        fp: str,
        aset: AssessmentSet,
        user: str | None,
        issues: list[str],
        step: Callable[[str], None],
    ) -> None:
        self.db, self.pool, self.tables, self.a, self.hashes = db, pool, tables, a, hashes
        self.taxa_in, self.project, self.fp, self.aset, self.user = taxa_in, project, fp, aset, user
        self.issues, self.step = issues, step
        self.added: dict[str, int] = {t: 0 for t in TABLES}

    def run(self) -> ImportResult:
        db, using, a = self.db, self.db.using, self.a
        A = LAYOUTS["assessments"]
        self.step("comparing")
        proj, _ = Project.objects.using(using).get_or_create(
            slug=self.project, defaults={"name": self.project}
        )
        if db.pg:
            # Imports into one project queue up (SQLite: BEGIN IMMEDIATE already did that).
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x413250, proj.id])
        known = _find_dataset(self.project, self.fp, using)  # imported while we were getting ready
        if known is not None:
            return ImportResult(self.project, known, True, {t: 0 for t in TABLES}, 0, 0, self.issues)
        stored = db.frame(
            f"SELECT id, assessment_id, content_hash, dataset_id, taxon_id, scopes, year_published, "
            f"assessment_date, latest FROM {_q(A.db_table)} WHERE project_id = %s",
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

        # -- assessments: new / same content (skipped) / different content (replaced) ---------------
        overlap = a["assessment_id"].is_in(stored["assessment_id"].implode())
        n_overlap = int(overlap.sum())
        a_new = a if n_overlap == 0 else a.filter(~overlap)
        a_old = a.filter(overlap)
        if self.hashes is not None:
            a_old = a_old.join(self.hashes, on="assessment_id", how="left", maintain_order="left")
        elif n_overlap:
            a_old = a_old.with_columns(
                content_hashes(_only(self.tables, a_old["assessment_id"]), a_old)["content_hash"]
            )
        else:
            a_old = a_old.with_columns(pl.lit(None, dtype=pl.Utf8).alias("content_hash"))
        # Hashes of the new assessments are only stored: work them out while rows are written.
        if self.hashes is not None:
            new_hashes: Future | None = None
        else:
            child_tables = self.tables if n_overlap == 0 else _only(self.tables, a_new["assessment_id"])
            new_hashes = self.pool.submit(content_hashes, child_tables, a_new) if a_new.height else None
        a_old = a_old.join(
            stored.select(
                "assessment_id",
                pl.col("id").alias("_pk"),
                pl.col("content_hash").alias("_old"),
                pl.col("dataset_id").alias("_ds"),
            ),
            on="assessment_id",
            how="left",
            maintain_order="left",
        )
        a_chg = a_old.filter(pl.col("_old") != pl.col("content_hash")).drop("_old")
        del a_old
        replaced_pks = a_chg["_pk"]

        # -- taxa: upsert (newer non-null values win) -------------------------------------------------
        taxon_pk, t_new, t_changed = self._taxa(
            proj.id,
            pl.concat(
                [a_new.select("taxon_id", "scientific_name"), a_chg.select("taxon_id", "scientific_name")]
            ),
        )

        ds = Dataset.objects.using(using).create(
            project=proj,
            format=",".join(sorted({s.format for s in self.aset.sources})) or "frames",
            sources=[
                {"path": s.path, "format": s.format, "sha256": s.sha256, "rows": s.rows}
                for s in self.aset.sources
            ],
            fingerprint=self.fp,
            imported_by=self.user if self.user is not None else _whoami(),
            status=Dataset.STATUS_IMPORTED,
        )

        # -- primary keys and latest flags ----------------------------------------------------------------
        a_new = a_new.with_columns(
            db.new_ids(A.db_table, a_new.height).alias("_pk"), pl.lit(ds.id, dtype=pl.Int64).alias("_ds")
        )
        a_chg = a_chg.with_columns(pl.col("_ds").fill_null(ds.id))
        meta_cols = ["taxon", "scopes", "year_published", "assessment_date", "assessment_id"]
        written = pl.concat(
            [
                a_new.select("assessment_id", "taxon_id", "_pk"),
                a_chg.select("assessment_id", "taxon_id", "_pk"),
            ]
        ).join(taxon_pk, on="taxon_id", how="left", maintain_order="left")
        wmeta = pl.concat(
            [
                a_new.select("scopes", "year_published", "assessment_date"),
                a_chg.select("scopes", "year_published", "assessment_date"),
            ]
        ).with_columns(written["taxon"], written["assessment_id"])
        kept = stored.filter(~pl.col("id").is_in(replaced_pks.implode()))
        kept_aff = kept.filter(pl.col("taxon").is_in(written["taxon"].unique().implode()))
        flags = latest_flags(pl.concat([kept_aff.select(meta_cols), wmeta.select(meta_cols)]))
        written = written.with_columns(flags.slice(kept_aff.height).alias("latest"))
        flip = kept_aff.select("id", "latest").with_columns(flags.slice(0, kept_aff.height).alias("_new"))
        flip = flip.filter(pl.col("latest").ne_missing(pl.col("_new")))
        new_taxa = written.head(a_new.height)["taxon"].unique()
        kept_history = kept_aff.filter(pl.col("taxon").is_in(new_taxa.implode())).height

        # -- write: deletes first (corrected assessments, changed taxa), then rows ------------------------------
        if replaced_pks.len():
            pks = replaced_pks.to_list()
            edited = [
                r[0]
                for chunk in _chunks(pks, 500)
                for r in db.fetchall(
                    f"SELECT assessment_id FROM {_q(A.db_table)} WHERE revision > 0 AND id IN ({db.ph(len(chunk))})",
                    chunk,
                )
            ]
            if edited:
                self.issues.insert(
                    0,
                    f"{len(edited)} assessments edited at the workshop were replaced by a corrected version "
                    f"in this import, and their edits with it (see `a2p edit log`): {', '.join(sorted(edited)[:20])}",
                )
            for child in ASSESSMENT_CHILDREN:
                db.delete_in(LAYOUTS[child].db_table, LAYOUTS[child].fk, pks)
            db.delete_in(sheet_index.FACET_TABLE, "assessment_id", pks)
            db.delete_in(A.db_table, "id", pks)
            search.forget(db, pks)
        self._write_taxa(proj.id, t_new, t_changed)
        self._write_children(written.select("assessment_id", "_pk"))
        self._write_taxon_children(proj.id, taxon_pk)
        self.step("sheet index")
        if not stored.height or proj.sheet_index_version >= sheet_index.INDEX_VERSION:
            # (an older index is rebuilt as a whole on its next use)
            sheet_index.write_facets(db, self.tables, written.select("assessment_id", "_pk"))
            if proj.sheet_index_version != sheet_index.INDEX_VERSION:
                proj.sheet_index_version = sheet_index.INDEX_VERSION
                proj.save(using=using, update_fields=["sheet_index_version"])

        self.step("assessments")
        if new_hashes is not None:
            a_new = a_new.with_columns(new_hashes.result()["content_hash"])
        elif self.hashes is not None:
            a_new = a_new.join(self.hashes, on="assessment_id", how="left", maintain_order="left")
        else:
            a_new = a_new.with_columns(pl.lit(None, dtype=pl.Utf8).alias("content_hash"))
        a_cols = [c for c in SCHEMA["assessments"] if c != "taxon_id"]
        db_cols = ["id", "project_id", "taxon_id", "dataset_id", "latest", "content_hash", "revision"]
        db_cols += [A.columns[c] for c in a_cols]
        with db.bulk_indexes(A.db_table, written.height):
            for part, off in ((a_new, 0), (a_chg, a_new.height)):
                if part.height == 0:
                    continue
                w = written.slice(off, part.height)
                rows = part.select(
                    pl.col("_pk").alias("id"),
                    pl.lit(proj.id, dtype=pl.Int64).alias("project_id"),
                    w["taxon"].alias("taxon_id"),
                    pl.col("_ds").alias("dataset_id"),
                    w["latest"],
                    pl.col("content_hash"),
                    pl.lit(0, dtype=pl.Int32).alias("revision"),
                    *a_cols,
                )
                db.insert(A.db_table, db_cols, rows)
        search.mark_pending(db, written["_pk"])  # narrative text: indexed after the import (``index_text``)
        self.added["assessments"] = written.height

        self.step("latest")
        if flip.height:
            db.set_flag(A.db_table, "latest", True, flip.filter(pl.col("_new"))["id"].to_list())
            db.set_flag(A.db_table, "latest", False, flip.filter(~pl.col("_new"))["id"].to_list())
        if not (any(self.added.values()) or replaced_pks.len() or t_changed.height or flip.height):
            # Nothing new: leave no trace of an import that changed nothing.
            transaction.set_rollback(True, using=using)
            return ImportResult(self.project, None, True, self.added, 0, 0, self.issues[:MAX_ISSUES])
        ds.counts = self.added
        ds.issues = self.issues[:MAX_ISSUES]
        ds.save(using=using, update_fields=["counts", "issues"])
        return ImportResult(
            self.project, ds.id, False, self.added, replaced_pks.len(), kept_history, self.issues[:MAX_ISSUES]
        )

    # -- taxa -------------------------------------------------------------------------------------------------------
    def _taxa(
        self, project_id: int, assessed: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(taxon_id -> taxon pk for every taxon of the project after this import, new rows, changed rows)."""
        T = LAYOUTS["taxa"]
        cols = list(SCHEMA["taxa"])
        stored = self.db.frame(
            f"SELECT id, {', '.join(_q(T.columns[c]) for c in cols)} FROM {_q(T.db_table)} WHERE project_id = %s",
            [project_id],
            {"id": pl.Int64, **SCHEMA["taxa"]},
        )
        # taxa of assessments that the set's taxa table lacks: a minimal row (id and name)
        extra = assessed.unique(subset="taxon_id", keep="first", maintain_order=True).join(
            self.taxa_in.select("taxon_id"), on="taxon_id", how="anti"
        )
        incoming = pl.concat([self.taxa_in, conform("taxa", extra)])
        merged = incoming.join(stored, on="taxon_id", how="left", suffix="_old")
        values = [c for c in cols if c != "taxon_id"]
        merged = merged.with_columns([pl.coalesce(pl.col(c), pl.col(f"{c}_old")).alias(c) for c in values])
        differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in values])
        t_new = merged.filter(pl.col("id").is_null()).select(cols)
        t_new = t_new.with_columns(self.db.new_ids(T.db_table, t_new.height).alias("id"))
        t_changed = merged.filter(pl.col("id").is_not_null() & differs).select("id", *cols)
        taxon_pk = pl.concat([stored.select("taxon_id", "id"), t_new.select("taxon_id", "id")])
        return taxon_pk.rename({"id": "taxon"}), t_new, t_changed

    def _write_taxa(self, project_id: int, t_new: pl.DataFrame, t_changed: pl.DataFrame) -> None:
        self.step("taxa")
        T = LAYOUTS["taxa"]
        cols = list(SCHEMA["taxa"])
        if t_changed.height:
            self.db.delete_in(T.db_table, "id", t_changed["id"].to_list())
        rows = pl.concat([t_new.select("id", *cols), t_changed.select("id", *cols)]).select(
            "id", pl.lit(project_id, dtype=pl.Int64).alias("project_id"), *cols
        )
        self.db.insert(T.db_table, ["id", "project_id", *[T.columns[c] for c in cols]], rows)
        self.added["taxa"] = t_new.height

    # -- child rows ---------------------------------------------------------------------------------------------------
    def _write_children(self, a_pk: pl.DataFrame) -> None:
        db = self.db
        all_ids = self.a.select("assessment_id")
        for child in ASSESSMENT_CHILDREN:
            self.step(child)
            L = LAYOUTS[child]
            df = self.tables[child]
            if df.height == 0:
                continue
            cols = list(L.columns)
            pk = df.select("assessment_id").join(a_pk, on="assessment_id", how="left", maintain_order="left")[
                "_pk"
            ]
            rows = df.select(pk, *cols)
            if pk.null_count():
                # rows of skipped assessments (same content as stored) and of unknown ones
                orphans = df.filter(pk.is_null()).join(all_ids, on="assessment_id", how="anti").height
                if orphans:
                    self.issues.append(
                        f"{child}: {orphans} rows refer to an assessment_id that is not in the set; not stored"
                    )
                rows = rows.filter(pl.col("_pk").is_not_null())
            # SQLite keeps the filter index (rows come sorted its way: it grows at its end);
            # PostgreSQL builds both indexes again, faster than keeping them up to date.
            keep = None if db.pg else L.order_index
            with db.bulk_indexes(L.db_table, rows.height, keep=keep):
                self.added[child] = db.insert(
                    L.db_table, [L.fk, *[L.columns[c] for c in cols]], rows, L.order, ids=True
                )
            del rows, pk

    def _write_taxon_children(self, project_id: int, taxon_pk: pl.DataFrame) -> None:
        """A taxon's common names / synonyms are replaced by the set's when the set has some that differ."""
        db = self.db
        T = LAYOUTS["taxa"]
        for child in TAXON_CHILDREN:
            self.step(child)
            L = LAYOUTS[child]
            df = self.tables[child]
            if df.height == 0:
                continue
            df = df.filter(pl.col("taxon_id").is_not_null()).join(taxon_pk, on="taxon_id", how="left")
            orphans = df.filter(pl.col("taxon").is_null()).height
            if orphans:
                self.issues.append(
                    f"{child}: {orphans} rows refer to a taxon_id that is not in the set; not stored"
                )
                df = df.filter(pl.col("taxon").is_not_null())
            cols = list(L.columns)
            stored = db.frame(
                f"SELECT c.{_q(L.fk)}, {', '.join('c.' + _q(L.columns[c]) for c in cols)} FROM {_q(L.db_table)} c "
                f"JOIN {_q(T.db_table)} t ON t.id = c.{_q(L.fk)} WHERE t.project_id = %s",
                [project_id],
                {"taxon": pl.Int64, **{c: SCHEMA[child][c] for c in cols}},
            )
            sig = _table_sig(df, "taxon", cols).join(
                _table_sig(stored, "taxon", cols), on="taxon", how="left", suffix="_old"
            )
            todo = sig.filter(pl.col("_sig").ne_missing(pl.col("_sig_old")))
            db.delete_in(L.db_table, L.fk, todo.filter(pl.col("_sig_old").is_not_null())["taxon"].to_list())
            rows = df.filter(pl.col("taxon").is_in(todo["taxon"].implode())).select("taxon", *cols)
            self.added[child] = db.insert(L.db_table, [L.fk, *[L.columns[c] for c in cols]], rows)


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
    a_where, a_params = where, params
    if ids is not None:
        # some taxa: from the taxon key to their assessments ("+" keeps SQLite's planner off the
        # project's assessment index, which would walk every assessment of the project)
        a_where = ["+a.project_id = %s", *where[1:], "t.project_id = %s"]
        a_params = [*params, pid]
    assessments = run(
        f"SELECT a.id, t.taxon_id, {', '.join('a.' + _q(A.columns[c]) for c in a_cols)}, a.latest "
        f"FROM {_q(A.db_table)} a JOIN {_q(T.db_table)} t ON t.id = a.taxon_id",
        a_where,
        a_params,
        a_schema,
    )
    out: dict[str, pl.DataFrame] = {}
    keys = assessments.select("_pk", "assessment_id", "taxon_id")
    for child in ASSESSMENT_CHILDREN:
        L = LAYOUTS[child]
        cols = list(L.columns)
        schema = {"_pk": pl.Int64, **{c: SCHEMA[child][c] for c in cols}}
        select = (
            f"SELECT c.{_q(L.fk)}, {', '.join('c.' + _q(L.columns[c]) for c in cols)} FROM {_q(L.db_table)} c"
        )
        if ids is None:
            # a whole project: read the table straight through (rows are stored in filter-index
            # order, so following the assessment index would jump all over the file)
            scan = " NOT INDEXED" if not db.pg else ""
            sql = (
                f"{select}{scan} WHERE c.{_q(L.fk)} IN (SELECT a.id FROM {_q(A.db_table)} a "
                f"WHERE {' AND '.join(where)})"
            )
            df = db.frame(sql, params, schema)
        else:
            # some taxa: by the keys of their assessments (read above), through the child table's
            # assessment index (a join on the taxon id lets SQLite's planner scan the child table)
            pks = assessments["_pk"].to_list()
            parts = [
                db.frame(f"{select} WHERE c.{_q(L.fk)} IN ({db.ph(len(chunk))})", list(chunk), schema)
                for chunk in _chunks(pks)
            ]
            df = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)
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
        if ids is None:
            with_any = db.frame(
                f"SELECT DISTINCT taxon_id FROM {_q(A.db_table)} WHERE project_id = %s", [pid], {"_tpk": pl.Int64}
            )
        else:  # only the selected taxa's (by the assessments' taxon index)
            tpks = taxa["_tpk"].to_list()
            parts = [
                db.frame(
                    f"SELECT DISTINCT taxon_id FROM {_q(A.db_table)} WHERE taxon_id IN ({db.ph(len(chunk))})",
                    list(chunk),
                    {"_tpk": pl.Int64},
                )
                for chunk in _chunks(tpks)
            ]
            with_any = pl.concat(parts) if parts else pl.DataFrame(schema={"_tpk": pl.Int64})
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
