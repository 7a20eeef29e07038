"""Safe access to input files: folders, zip archives and single CSV files.

Both CSV readers (website download, SIS Connect) go through this module:

* ``open_input(path)`` lists the CSV/JSON files of a folder (recursively), a zip or a single file
  as ``Member`` objects, after checking a zip for unsafe member paths, corruption and zip bombs;
* ``read_csv(member, required=...)`` reads one CSV into a polars frame with **every column as
  text** (codes like ``5.10`` stay text), UTF-8 with or without BOM, with a cp1252 / latin-1
  fallback that is reported as an ``Issue``; structural errors (a row with the wrong number of
  fields, a missing column, an empty file) are ``InputError`` naming file, row, column and value.

Row numbers follow ``InputError``: 1 is the first data row below the header. Every frame that
``read_csv`` returns carries that number in the column ``ROW`` so that later checks can name it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import mmap
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl

from assess2plan.errors import InputError
from assess2plan.model import Issue

#: Refuse a zip whose members add up to more than this once uncompressed (zip bomb guard).
MAX_TOTAL_UNCOMPRESSED = 8 * 1024**3
#: Refuse a member compressed more than this ratio (uncompressed / compressed) ...
MAX_RATIO = 200
#: ... when it is at least this large uncompressed (small files may compress very well).
RATIO_MIN_SIZE = 32 * 1024**2
#: Refuse a zip with more members than this.
MAX_MEMBERS = 100_000

#: Name of the column that ``read_csv`` adds: the 1-based data row of each record.
ROW = "_row"

DATA_SUFFIXES = (".csv", ".json")
_DRIVE = re.compile(r"^[A-Za-z]:")


# -- listing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One data file: a file in a folder, a member of a zip, or a single file given as such."""

    root: str  # the path as the user gave it (folder, zip or file)
    rel: str  # POSIX path inside the folder or zip; the file name for a single file
    kind: str  # "folder" | "zip" | "file"

    @property
    def display(self) -> str:
        """How messages name the file: ``data/assessments.csv``, ``dl.zip!/part/assessments.csv``."""
        if self.kind == "zip":
            return f"{self.root}!/{self.rel}"
        if self.kind == "folder":
            return str(Path(self.root) / self.rel)
        return self.root

    @property
    def name(self) -> str:
        """Lower-case file name without folders: ``assessments.csv``."""
        return PurePosixPath(self.rel).name.lower()

    @property
    def folder(self) -> str:
        """The folder of the member inside its folder or zip ("" at the top)."""
        parent = str(PurePosixPath(self.rel).parent)
        return "" if parent == "." else parent

    @property
    def local_path(self) -> Path | None:
        """The file on disk (None for a zip member)."""
        if self.kind == "zip":
            return None
        return Path(self.root) / self.rel if self.kind == "folder" else Path(self.root)

    def read_bytes(self) -> bytes:
        if self.kind == "zip":
            return _read_zip_member(Path(self.root), self.rel)
        path = Path(self.root) / self.rel if self.kind == "folder" else Path(self.root)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputError(self.display, f"cannot be read: {exc.strerror or exc}") from exc


def _junk(rel: str) -> bool:
    """macOS resource forks, hidden files and the like: never data."""
    parts = PurePosixPath(rel).parts
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def _unsafe_member(name: str) -> str | None:
    """Why a zip member name is unsafe to use, or None."""
    if name.startswith(("/", "\\")):
        return "has an absolute path"
    if _DRIVE.match(name):
        return "has a drive letter"
    if ".." in re.split(r"[\\/]", name):
        return "climbs out of the archive ('..')"
    if "\x00" in name:
        return "has a NUL character in its name"
    return None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(str(path), f"is not a readable zip archive (corrupt or truncated): {exc}") from exc
    except OSError as exc:
        raise InputError(str(path), f"cannot be read: {exc.strerror or exc}") from exc


def check_zip(path: str | Path) -> list[zipfile.ZipInfo]:
    """Check a zip archive and return its file entries; ``InputError`` when it is unsafe.

    Refused: members with ``..``, an absolute path or a drive letter; encrypted members; more than
    ``MAX_MEMBERS`` members; a total uncompressed size above ``MAX_TOTAL_UNCOMPRESSED``; a member
    of at least ``RATIO_MIN_SIZE`` bytes compressed more than ``MAX_RATIO``:1; a corrupt archive.
    """
    p = Path(path)
    with _open_zip(p) as zf:
        infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise InputError(str(p), f"holds {len(infos):,} members (more than {MAX_MEMBERS:,}): refused")
    total = 0
    files = []
    for info in infos:
        why = _unsafe_member(info.filename)
        if why:
            raise InputError(f"{p}!/{info.filename}", f"unsafe zip member: the name {why}; archive refused")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise InputError(f"{p}!/{info.filename}", "is encrypted; unzip it yourself and give the folder")
        total += info.file_size
        if total > MAX_TOTAL_UNCOMPRESSED:
            raise InputError(
                f"{p}!/{info.filename}",
                f"the archive unpacks to more than {MAX_TOTAL_UNCOMPRESSED:,} bytes: refused as a possible zip bomb",
            )
        if info.file_size >= RATIO_MIN_SIZE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise InputError(
                f"{p}!/{info.filename}",
                f"compressed {ratio:,.0f}:1 ({info.file_size:,} bytes from {info.compress_size:,}), "
                f"above the {MAX_RATIO}:1 limit: refused as a possible zip bomb",
            )
        files.append(info)
    return files


def _read_zip_member(path: Path, name: str) -> bytes:
    where = f"{path}!/{name}"
    with _open_zip(path) as zf:
        try:
            info = zf.getinfo(name)
        except KeyError as exc:
            raise InputError(where, "is not in the archive") from exc
        try:
            with zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(where, f"corrupt zip member (bad CRC or damaged data): {exc}") from exc
        except (NotImplementedError, RuntimeError) as exc:
            raise InputError(where, f"cannot be unpacked: {exc}") from exc
        except OSError as exc:
            raise InputError(where, f"cannot be read: {exc}") from exc
    if len(data) > info.file_size:  # pragma: no cover - zipfile stops at the declared size
        raise InputError(where, "unpacks to more than its declared size: refused")
    return data


def _is_zip(p: Path) -> bool:
    return p.suffix.lower() == ".zip" or (
        p.is_file() and p.suffix.lower() not in DATA_SUFFIXES and zipfile.is_zipfile(p)
    )


def open_input(path: str | Path) -> tuple[list[Member], list[Issue]]:
    """The CSV/JSON files of a folder (recursively), a zip archive or a single file.

    Returns the members, sorted by path, and warnings (nested zips, which are not opened).
    Raises ``InputError`` for a missing path or an unsafe / corrupt zip.
    """
    p = Path(path)
    root = str(path)
    issues: list[Issue] = []
    if not p.exists():
        raise InputError(root, "no such file or folder")
    if p.is_dir():
        members = []
        for f in sorted(p.rglob("*")):
            if not f.is_file():
                continue
            rel = f.relative_to(p).as_posix()
            if _junk(rel):
                continue
            suffix = f.suffix.lower()
            if suffix in DATA_SUFFIXES:
                members.append(Member(root, rel, "folder"))
            elif suffix == ".zip":
                issues.append(
                    Issue(str(f), "zip archive inside the folder ignored: give it as a path of its own")
                )
        return members, issues
    if _is_zip(p):
        members = []
        for info in check_zip(p):
            rel = info.filename
            if _junk(rel):
                continue
            suffix = PurePosixPath(rel).suffix.lower()
            if suffix in DATA_SUFFIXES:
                members.append(Member(root, rel, "zip"))
            elif suffix == ".zip":
                issues.append(
                    Issue(f"{root}!/{rel}", "nested zip archive ignored: unzip it and give it separately")
                )
        members.sort(key=lambda m: m.rel)
        return members, issues
    if p.suffix.lower() in DATA_SUFFIXES:
        return [Member(root, p.name, "file")], issues
    raise InputError(root, "is neither a folder, a zip archive nor a CSV/JSON file")


def list_members(path: str | Path) -> list[str]:
    """Relative paths of the CSV/JSON files of a folder (recursive), a zip's data members, or a file's name."""
    members, _ = open_input(path)
    return [m.rel for m in members]


def as_member(source: Member | str | Path) -> Member:
    if isinstance(source, Member):
        return source
    p = Path(source)
    return Member(str(source), p.name, "file")


# -- decoding -----------------------------------------------------------------------------------
Buffer = bytes | bytearray | memoryview | mmap.mmap

#: Block size for hashing, scanning and counting files and buffers piecewise: a file is read in
#: blocks (never mapped into memory whole, where its pages would count in the process's RSS) and
#: a buffer is never copied whole.
BLOCK = 1 << 24


def sha256_bytes(data: Buffer) -> str:
    return hashlib.sha256(data).hexdigest()


def count_byte(data: Buffer, byte: bytes, end: int | None = None, chunk: int = BLOCK) -> int:
    """How often the single byte ``byte`` occurs in ``data[:end]`` (a buffer or a memory map)."""
    end = len(data) if end is None else min(end, len(data))
    if isinstance(data, bytes | bytearray):
        return data.count(byte, 0, end)
    return sum(bytes(data[i : min(i + chunk, end)]).count(byte) for i in range(0, end, chunk))


def _file_blocks(path: Path, end: int | None = None) -> Iterator[tuple[bytearray, int]]:
    """A file's bytes (up to ``end``) as (buffer, length) blocks of at most ``BLOCK`` bytes.

    The one buffer is reused: use ``buffer[:length]`` (or ``count``/``find`` with 0, length)
    before asking for the next block.
    """
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if end is not None:
            size = min(size, end)
        buf = bytearray(max(1, min(BLOCK, size)))
        view = memoryview(buf)
        left = end
        while left is None or left > 0:
            n = fh.readinto(view if left is None or left >= len(buf) else view[:left])
            if not n:
                break
            yield buf, n
            if left is not None:
                left -= n


def count_file_byte(path: Path, byte: bytes, end: int | None = None) -> int:
    """How often the single byte ``byte`` occurs in a file (in its first ``end`` bytes)."""
    return sum(buf.count(byte, 0, n) for buf, n in _file_blocks(path, end))


def _line_of(data: Buffer, offset: int) -> int:
    return count_byte(data, b"\n", offset) + 1


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_start(start: bytes, display: str) -> None:
    """Refuse an empty file and UTF-32 / UTF-16 text, from the first (up to 4) bytes."""
    if not start:
        raise InputError(display, "empty file (0 bytes): nothing to read")
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError(display, "is UTF-32 text; save it as UTF-8 CSV")
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(display, "is UTF-16 text (e.g. Excel 'Unicode text'); save it as UTF-8 CSV")


def _binary(display: str, nul: int, line: int) -> InputError:
    return InputError(
        display,
        f"holds binary data (a NUL byte at byte {nul:,}, line {line}): "
        "not a CSV text file (UTF-16 without BOM, a spreadsheet or a damaged file?)",
    )


def _refuse_non_text(data: Buffer, display: str) -> None:
    _refuse_start(bytes(data[:4]), display)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _binary(display, nul, _line_of(data, nul))


def _scan_file(path: Path, display: str) -> str:
    """sha256 of a file, read in blocks; ``InputError`` when it holds a NUL byte (binary data)."""
    digest = hashlib.sha256()
    pos, nul = 0, -1
    try:
        for buf, n in _file_blocks(path):
            digest.update(memoryview(buf)[:n])
            if nul < 0:
                at = buf.find(b"\x00", 0, n)
                if at >= 0:
                    nul = pos + at
            pos += n
        if nul >= 0:
            raise _binary(display, nul, count_file_byte(path, b"\n", nul) + 1)
    except OSError as exc:
        raise InputError(display, f"cannot be read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _first_undecodable(view: memoryview, encoding: str) -> int | None:
    """Offset of the first byte of ``view`` that ``encoding`` cannot decode (None: all decodes).

    Decodes block by block and throws the text away: no copy of the whole input is made (a
    ``UnicodeDecodeError`` of a whole-buffer decode carries a copy of all of it).
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    for start in range(0, max(len(view), 1), BLOCK):
        pending = len(decoder.getstate()[0])
        block = view[start : start + BLOCK]
        try:
            decoder.decode(block, final=start + BLOCK >= len(view))
        except UnicodeDecodeError as exc:
            return start - pending + exc.start
        finally:
            block.release()
    return None


def decode(data: Buffer, display: str) -> tuple[str, str, Issue | None]:
    """Bytes -> (text, encoding, warning). UTF-8 (BOM dropped), else cp1252, else latin-1.

    Decodes straight from ``data``: no copy of the bytes is made (with or without a BOM), only
    the text.
    """
    _refuse_non_text(data, display)
    skip = len(codecs.BOM_UTF8) if bytes(data[:3]) == codecs.BOM_UTF8 else 0
    with memoryview(data) as whole, whole[skip:] as view:
        bad = _first_undecodable(view, "utf-8")
        if bad is None:
            return str(view, "utf-8"), "utf-8", None
        for enc in ("cp1252", "latin-1"):
            if _first_undecodable(view, enc) is not None:
                continue
            text = str(view, enc)
            ctrl = _CONTROL.search(text)
            if ctrl:
                raise InputError(
                    display,
                    f"is neither UTF-8 nor Windows/Latin-1 text (control character {ctrl.group()!r} "
                    f"at line {text.count(chr(10), 0, ctrl.start()) + 1}): save it as UTF-8 CSV",
                )
            byte = bytes(view[bad : bad + 1])
            warning = Issue(
                display,
                f"not UTF-8 (first non-UTF-8 byte {byte!r} at line {_line_of(view, bad)}); "
                f"read as {enc}: check accented characters, and save the file as UTF-8",
            )
            return text, enc, warning
    raise InputError(display, "cannot be decoded as UTF-8 or Latin-1 text")  # pragma: no cover


def read_csv_text(source: Member | str | Path) -> tuple[str, str]:
    """The text of one CSV file (folder file, zip member or file) and the encoding it was read in."""
    m = as_member(source)
    text, enc, _ = decode(m.read_bytes(), m.display)
    return text, enc


def read_header(source: Member | str | Path, limit: int = 65536) -> list[str]:
    """The column names of a CSV file, reading only its beginning."""
    m = as_member(source)
    if m.kind == "zip":
        with _open_zip(Path(m.root)) as zf:
            try:
                with zf.open(m.rel) as fh:
                    head = fh.read(limit)
            except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
                raise InputError(m.display, f"corrupt zip member: {exc}") from exc
    else:
        path = Path(m.root) / m.rel if m.kind == "folder" else Path(m.root)
        with path.open("rb") as fh:
            head = fh.read(limit)
    if not head:
        return []
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")), [])]
    except csv.Error:
        return []


# -- CSV ------------------------------------------------------------------------------------------
@dataclass
class CsvTable:
    """One CSV read: ``df`` has every column as text plus ``ROW`` (1-based data row)."""

    member: Member
    df: pl.DataFrame
    encoding: str
    sha256: str
    rows: int

    @property
    def display(self) -> str:
        return self.member.display


def _locate_bad_row(text: str, display: str, ncols: int, cause: str = "") -> InputError:
    """Find the first record whose field count differs from the header's (slow path, errors only)."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines), strict=True)
    record = 0
    start = 0
    try:
        next(reader)
        while True:
            start = reader.line_num
            try:
                fields = next(reader)
            except StopIteration:
                break
            record += 1
            if not fields:
                continue
            if len(fields) != ncols:
                raw = "".join(lines[start : reader.line_num]).rstrip("\r\n")
                return InputError(
                    display,
                    f"row has {len(fields)} fields but the header has {ncols} (line {start + 1} of the file; "
                    "a stray comma or an unclosed quote?)",
                    row=record,
                    value=raw,
                )
    except csv.Error as exc:
        raw = "".join(lines[start : start + 3]).rstrip("\r\n")
        return InputError(
            display,
            f"malformed CSV from line {start + 1} of the file ({exc}): an unclosed or stray quote?",
            row=record + 1,
            value=raw,
        )
    short = cause.split("\n", 1)[0]
    return InputError(display, f"malformed CSV: {short}" if short else "malformed CSV")


def _parse(source: Buffer | str) -> pl.DataFrame:
    return pl.read_csv(
        source,
        infer_schema=False,
        has_header=True,
        encoding="utf8",
        raise_if_empty=False,
        quote_char='"',
        separator=",",
        null_values=[""],  # a quoted empty field ("") is missing too
    )


def count_commas(data: Buffer, chunk: int = BLOCK) -> int:
    """Commas in ``data`` (bytes or a memory map), counted in chunks."""
    return count_byte(data, b",", chunk=chunk)


class _Input:
    """The bytes of one CSV as the parser needs them: a buffer, or a file on disk that polars
    reads itself and that is otherwise only read in blocks (never held or mapped whole)."""

    def __init__(self, buffer: Buffer | None = None, path: str | Path | None = None) -> None:
        self.buffer = buffer
        self.path = Path(path) if path is not None else None

    def source(self) -> Buffer | str:
        """What polars reads: the file's path when there is one, else the buffer."""
        return str(self.path) if self.path is not None else self.buffer  # type: ignore[return-value]

    def head(self, size: int) -> bytes:
        if self.buffer is not None:
            return bytes(self.buffer[:size])
        with open(self.path, "rb") as fh:  # type: ignore[arg-type]
            return fh.read(size)

    def read(self) -> Buffer:
        if self.buffer is not None:
            return self.buffer
        return self.path.read_bytes()  # type: ignore[union-attr]

    def count(self, byte: bytes) -> int:
        if self.buffer is not None:
            return count_byte(self.buffer, byte)
        return count_file_byte(self.path, byte)  # type: ignore[arg-type]


def _field_counts_ok(
    data: Buffer | _Input, df: pl.DataFrame, header_commas: int, commas: int | None = None
) -> tuple[bool, int]:
    """Whether every record had as many fields as the header, checked on totals (fast path);
    also returns the number of blank (all-null) records.

    polars pads a short record with nulls silently; the total number of commas in the file tells
    it: every record holds ``ncols - 1`` separators plus the commas inside its values. Blank
    records (all null) may hold 0 or ``ncols - 1`` separators.
    """
    ncols = df.width
    if df.height == 0:
        return True, 0
    if ncols <= 1:
        return True, df[df.columns[0]].null_count() if ncols else 0
    if df[df.columns[-1]].null_count() == 0:
        return True, 0  # a short (padded) or blank record would leave the last column empty
    src = data if isinstance(data, _Input) else _Input(data)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the file's commas are counted (in blocks) while polars counts those inside the values
        total = pool.submit(src.count, b",") if commas is None else None
        counts = df.select(
            pl.sum_horizontal(
                [pl.col(c).str.count_matches(",", literal=True).fill_null(0) for c in df.columns]
            ).alias("v"),
            pl.all_horizontal([pl.col(c).is_null() for c in df.columns]).alias("blank"),
        ).select(pl.col("v").sum().alias("v"), pl.col("blank").sum().alias("b"))
        raw = (total.result() if total is not None else commas) - header_commas  # type: ignore[operator]
    value_commas, blanks = counts.row(0)
    rest = raw - value_commas - (df.height - blanks) * (ncols - 1)
    return rest >= 0 and rest % (ncols - 1) == 0 and rest <= blanks * (ncols - 1), blanks


def parse_csv_bytes(
    data: Buffer,
    display: str,
    issues: list[Issue] | None = None,
    commas: Callable[[], int] | None = None,
    path: str | None = None,
) -> tuple[pl.DataFrame, str]:
    """Parse CSV bytes into an all-text frame (with ``ROW``); returns (frame, encoding).

    ``data`` may be a memory map of ``path`` (which polars then reads itself, without a copy);
    ``commas`` may give the number of commas in ``data`` (counted elsewhere, e.g. in a thread).
    """
    _refuse_non_text(data, display)
    return _parse_input(_Input(data, path), display, issues, commas)


def _header_error(text: str, display: str, cause: Exception) -> InputError:
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    return _locate_bad_row(text, display, len(header), str(cause))


def _parse_input(
    src: _Input, display: str, issues: list[Issue] | None, commas: Callable[[], int] | None = None
) -> tuple[pl.DataFrame, str]:
    """Parse one CSV (already checked for UTF-16/32 and binary data) into an all-text frame."""
    encoding = "utf-8"
    try:
        df = _parse(src.source())
    except pl.exceptions.NoDataError as exc:
        raise InputError(display, "empty file: no header line") from exc
    except pl.exceptions.PolarsError as exc:
        # not UTF-8, or a structural problem: decode the bytes (once, without copying them)
        text, encoding, warning = decode(src.read(), display)
        if warning is None:  # valid UTF-8: a structural problem
            raise _header_error(text, display, exc) from exc
        if issues is not None:
            issues.append(warning)
        data = text.encode("utf-8")
        del text  # only the UTF-8 bytes are kept (polars reads them, the checks below count in them)
        src = _Input(data)
        try:
            df = _parse(data)
        except pl.exceptions.PolarsError as exc2:
            raise _header_error(data.decode("utf-8"), display, exc2) from exc2

    # header: exact names (polars renames duplicates "x_duplicated_0")
    head_text = src.head(1_048_576).decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        header = next(csv.reader(io.StringIO(head_text, newline="")), [])
    except csv.Error:
        header = list(df.columns)
    names = [h.strip() for h in header]
    if len(names) != df.width:
        names = [c.strip() for c in df.columns]
    if not any(names):
        raise InputError(display, "empty file: the first line holds no column names")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(display, "column name appears twice in the header", row=0, column=n)
        seen.add(n)
    if names != df.columns:
        df = df.rename(dict(zip(df.columns, names, strict=True)))
    header_commas = (
        (len(header) - 1) + sum(h.count(",") for h in header) if len(header) == df.width else df.width - 1
    )

    ok, blanks = _field_counts_ok(src, df, header_commas, commas() if commas else None)
    if not ok:
        raise _locate_bad_row(bytes(src.read()).decode("utf-8"), display, df.width)

    df = df.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    if blanks:  # blank lines: all-null rows
        df = df.filter(~pl.all_horizontal([pl.col(c).is_null() for c in names]))
    return df, encoding


def read_csv(
    source: Member | str | Path,
    *,
    required: tuple[str, ...] | list[str] = (),
    issues: list[Issue] | None = None,
) -> CsvTable:
    """Read one CSV (folder file, zip member or file) with every column as text.

    ``required`` columns must be present (``InputError`` naming the column and the columns found).
    A non-UTF-8 file is read as cp1252/latin-1 and reported in ``issues``.

    A file on disk is parsed by polars from its path; it is hashed and checked for binary data
    in a thread, reading it in blocks: it is never held in memory (nor memory-mapped) whole next
    to the frame (only a non-UTF-8 file is, while it is decoded).
    """
    m = as_member(source)
    path = m.local_path
    if path is None:  # zip member
        df, encoding, digest = _read_buffer(m.read_bytes(), m.display, issues)
    else:
        df, encoding, digest = _read_file(path, m.display, issues)
    require_columns(df, m.display, required)
    return CsvTable(member=m, df=df, encoding=encoding, sha256=digest, rows=df.height)


def _read_buffer(data: Buffer, display: str, issues: list[Issue] | None) -> tuple[pl.DataFrame, str, str]:
    _refuse_non_text(data, display)
    # hash in a thread while polars parses (hashlib releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest_f = pool.submit(sha256_bytes, data)
        df, encoding = _parse_input(_Input(data), display, issues)
        return df, encoding, digest_f.result()


def _read_file(path: Path, display: str, issues: list[Issue] | None) -> tuple[pl.DataFrame, str, str]:
    try:
        with open(path, "rb") as fh:
            start = fh.read(4)
    except OSError as exc:
        raise InputError(display, f"cannot be read: {exc.strerror or exc}") from exc
    _refuse_start(start, display)
    # hash and look for NUL bytes in a thread, reading the file in blocks, while polars parses it
    with ThreadPoolExecutor(max_workers=1) as pool:
        scan = pool.submit(_scan_file, path, display)
        try:
            df, encoding = _parse_input(_Input(path=path), display, issues)
        except InputError:
            scan.result()  # binary data is the error to report, as it would have been found first
            raise
        return df, encoding, scan.result()


def require_columns(df: pl.DataFrame, display: str, required: tuple[str, ...] | list[str]) -> None:
    cols = [c for c in df.columns if c != ROW]
    for col in required:
        if col not in cols:
            raise InputError(
                display,
                f"required column {col!r} is missing; columns found: {', '.join(cols) or '(none)'}",
                row=0,
                column=col,
            )
