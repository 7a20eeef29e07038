"""Ex situ holdings: which zoos, aquariums and botanic gardens hold how many individuals of a taxon.

``read_holdings(path)`` reads a Species360/ZIMS-style holdings table (CSV) into
``model.HOLDINGS_SCHEMA``: one row per taxon x institution x date, with the numbers of males,
females and individuals of unknown sex. Names are kept as written in the file; matching them to
the taxa of a working set is ``assess2plan.exsitu.match.match_holdings``.

What the reader accepts
-----------------------
* Column names are matched without regard to case, spaces, underscores or dots, with the usual
  aliases: scientific name ("Scientific Name", "Taxon", "Species", "Binomial"), institution
  ("Institution", "Holder", "Zoo"), "Country", males ("Males", "Male", "M"), females ("Females",
  "Female", "F"), unknown sex ("Unknown", "Undetermined", "Unsexed", "U"), "Total", date ("Date",
  "As of", "Recorded", "Census date") and "Source". Other columns are ignored (and reported).
* The zoo notation of a census in one column ("Specimens", "Count", "M.F.U", "Sex count"):
  ``3.4.1`` is 3 males, 4 females and 1 of unknown sex; ``2.1`` is 2 males and 1 female. A plain
  number in that column ("12") is a total without a split by sex.
* A name column and at least one count column are required. Blank counts are allowed (null);
  the total is derived as males + females + unknown when the file gives none.
* Dates as ISO ``2025-11-30``, day first ``30/11/2025`` (or ``30.11.2025``), or a month
  ``2025-11`` (taken as the first day of that month).
* UTF-8 with or without BOM (Windows/Latin-1 text is read and reported); comma, semicolon or tab
  delimiters (found from the header line). CSV only: an Excel workbook is refused with a request
  to save the sheet as CSV (no Excel reader is among the dependencies).

Bad input raises ``InputError`` naming the file, the 1-based data row (the header is row 0), the
column and the value: a negative or fractional count, an unreadable census or date, a total
smaller than males + females + unknown, a row without a name, a missing column, an empty or
binary file. Problems that do not stop the import are returned as ``Issue`` warnings: a date in
the future, a two-letter country that is not an ISO 3166 alpha-2 code (or a three-letter one), a
total larger than a complete split, a row without any count, columns that were not used.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import polars as pl

from assess2plan.errors import InputError
from assess2plan.io.files import decode
from assess2plan.model import HOLDINGS_SCHEMA, Issue

__all__ = ["ALIASES", "parse_census", "read_holdings"]

#: Field -> accepted column names, compared lower case without spaces, underscores, dots or dashes.
ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "scientificname", "scientific", "taxon", "taxonname", "species", "speciesname", "binomial",
        "name", "latinname", "taxonomicname",
    ),
    "institution": (
        "institution", "institutionname", "holder", "holdinginstitution", "zoo", "zooname", "garden",
        "aquarium", "facility", "collection", "organisation", "organization",
    ),
    "country": ("country", "countrycode", "countryiso", "iso2", "iso", "nation"),
    "males": ("males", "male", "m", "nmales"),
    "females": ("females", "female", "f", "nfemales"),
    "unknown": ("unknown", "undetermined", "u", "unsexed", "unk", "unknownsex", "sexunknown"),
    "total": ("total", "totalcount", "totalspecimens", "totalindividuals", "individuals", "n"),
    "census": ("specimens", "count", "mfu", "sexcount", "census", "holdings", "mfunknown"),
    "date": (
        "date", "asof", "recorded", "daterecorded", "recordeddate", "recorddate", "censusdate",
        "reportdate", "lastupdated", "updated",
    ),
    "source": ("source", "datasource", "reference", "provenance"),
}  # fmt: skip
_FIELD_OF = {alias: field for field, names in ALIASES.items() for alias in names}
_COUNTS = ("males", "females", "unknown", "total", "census")
_LABEL = {
    "name": "the scientific name",
    "institution": "the institution",
    "country": "the country",
    "males": "the number of males",
    "females": "the number of females",
    "unknown": "the number of unknown sex",
    "total": "the total",
    "census": "the census (males.females.unknown)",
    "date": "the date",
    "source": "the source",
}

# ISO 3166-1 alpha-2 codes that are user-assigned (never a real country, fine for invented data).
_USER_ASSIGNED = (
    {"AA", "ZZ"} | {f"Q{c}" for c in "MNOPQRSTUVWXYZ"} | {f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
)
_NOT_ISO = {"UK": "GB", "EL": "GR"}  # common look-alikes and the ISO code meant


def _norm(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def _field_of(header: str) -> str | None:
    key = _norm(header)
    if key in _FIELD_OF:
        return _FIELD_OF[key]
    if key.endswith("mfu"):  # "Holdings (M.F.U)", "Sex M.F.U"
        return "census"
    return None


def _countries() -> set[str]:
    from assess2plan.schemes import scheme

    return set(scheme("countries")["code"].to_list())


# -- cells ------------------------------------------------------------------------------------------
def _count(value: str, display: str, row: int, column: str) -> int | None:
    v = value.strip()
    if not v:
        return None
    m = re.fullmatch(r"([+-]?)(\d+)(?:\.0+)?", v)
    if m is None:
        raise InputError(
            display,
            "not a whole number of individuals (write a count like 12, or leave the cell blank)",
            row=row,
            column=column,
            value=value,
        )
    if m.group(1) == "-" and int(m.group(2)) != 0:
        raise InputError(
            display, "a count of individuals cannot be negative", row=row, column=column, value=value
        )
    return int(m.group(2))


def parse_census(value: str) -> tuple[int | None, int | None, int | None, int | None] | None:
    """The zoo census notation -> (males, females, unknown, total); None when it is not one.

    "3.4.1" -> (3, 4, 1, 8); "2.1" -> (2, 1, 0, 3); "12" (a plain number) -> (None, None, None, 12);
    "" -> (None, None, None, None).
    """
    v = value.strip()
    if not v:
        return (None, None, None, None)
    if re.fullmatch(r"\d+", v):
        return (None, None, None, int(v))
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", v)
    if m is None:
        return None
    males, females = int(m.group(1)), int(m.group(2))
    unknown = int(m.group(3)) if m.group(3) is not None else 0
    return (males, females, unknown, males + females + unknown)


def _date(value: str, display: str, row: int, column: str) -> dt.date | None:
    v = value.strip()
    if not v:
        return None
    hint = "write dates as yyyy-mm-dd (2025-11-30), dd/mm/yyyy (30/11/2025) or yyyy-mm (2025-11)"
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ][0-9:.]+(?:Z| ?UTC|[+-]\d\d:?\d\d)?)?", v)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := re.fullmatch(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})", v):
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if mo > 12 and d <= 12:
            raise InputError(
                display,
                f"month {mo} does not exist: is this a US month/day/year date? {hint}",
                row=row,
                column=column,
                value=value,
            )
    elif m := re.fullmatch(r"(\d{4})-(\d{1,2})", v):
        y, mo, d = int(m.group(1)), int(m.group(2)), 1
    else:
        raise InputError(display, f"not a date: {hint}", row=row, column=column, value=value)
    try:
        return dt.date(y, mo, d)
    except ValueError as exc:
        raise InputError(
            display, f"not a valid date ({exc}): {hint}", row=row, column=column, value=value
        ) from exc


def _country(
    value: str, display: str, row: int, column: str, known: set[str], issues: list[Issue]
) -> str | None:
    v = " ".join(value.split())
    if not v:
        return None
    if len(v) == 2 and v.isalpha():
        code = v.upper()
        if code not in known and code not in _USER_ASSIGNED:
            hint = f" (ISO 3166 writes {_NOT_ISO[code]})" if code in _NOT_ISO else ""
            issues.append(
                Issue(
                    display,
                    f"not an ISO 3166 alpha-2 country code{hint}; kept as written",
                    row,
                    column,
                    value,
                )
            )
        return code
    if len(v) == 3 and v.isalpha() and v.isupper():
        issues.append(
            Issue(
                display,
                "looks like an ISO 3166 alpha-3 code; the holdings use alpha-2 codes (e.g. GB, not GBR); "
                "kept as written",
                row,
                column,
                value,
            )
        )
    return v


# -- the file -----------------------------------------------------------------------------------------
def _read_text(path: Path, display: str, issues: list[Issue]) -> str:
    if not path.exists():
        raise InputError(display, "no such file")
    if path.is_dir():
        raise InputError(display, "is a folder: give the holdings CSV file itself")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(display, f"cannot be read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise InputError(
            display, "empty file: nothing to read (expected a holdings table with a header line)"
        )
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise InputError(
            display,
            "is an Excel workbook (or a zip archive), not a CSV file: save the holdings sheet as "
            "'CSV UTF-8 (comma delimited)' and import that",
        )
    text, _, warning = decode(data, display)  # refuses binary data (NUL bytes) and UTF-16/32
    if warning is not None:
        issues.append(warning)
    return text


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_holdings(path: str | Path) -> tuple[pl.DataFrame, list[Issue]]:
    """Read an ex situ holdings table (Species360/ZIMS-style CSV) -> (``HOLDINGS_SCHEMA`` frame, warnings).

    ``taxon_id`` and ``matched_by`` are left null (see ``exsitu.match.match_holdings``); ``row``
    is the 1-based data row in the file. See the module documentation for the accepted columns,
    the census notation ("3.4.1" = 3 males, 4 females, 1 unknown) and date formats.
    """
    p = Path(path)
    display = str(path)
    issues: list[Issue] = []
    text = _read_text(p, display, issues)
    delim = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputError(display, f"the header line cannot be read ({exc})", row=0) from exc
    header = [h.strip() for h in header]
    if not any(header):
        raise InputError(display, "the first line holds no column names", row=0)

    # which column gives which field
    where: dict[str, int] = {}
    unused: list[str] = []
    for i, h in enumerate(header):
        field = _field_of(h)
        if field is None:
            if h:
                unused.append(h)
            continue
        if field in where:
            raise InputError(
                display,
                f"columns {header[where[field]]!r} and {h!r} both give {_LABEL[field]}: keep one of them",
                row=0,
                column=h,
            )
        where[field] = i
    found = ", ".join(repr(h) for h in header if h) or "(none)"
    if "name" not in where:
        raise InputError(
            display,
            f"no column with the scientific name (e.g. 'Scientific Name', 'Taxon', 'Species', 'Binomial'); "
            f"columns found: {found}",
            row=0,
            column="Scientific Name",
        )
    if not any(f in where for f in _COUNTS):
        raise InputError(
            display,
            "no count column: give 'Males' / 'Females' / 'Unknown', a 'Total', or a census column such as "
            f"'Specimens' written 3.4.1 (males.females.unknown); columns found: {found}",
            row=0,
            column="Total",
        )
    if unused:
        issues.append(Issue(display, f"columns not used: {', '.join(unused)}", row=0))

    known = _countries()
    today = dt.date.today()
    out: dict[str, list] = {c: [] for c in HOLDINGS_SCHEMA}
    row = 0
    while True:
        start_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(
                display, f"malformed CSV ({exc}): an unclosed or stray quote?", row=row + 1, line=start_line
            ) from exc
        row += 1
        line = start_line if start_line != row + 1 else None  # named when quoted values span lines
        if not any(f.strip() for f in fields):
            continue  # a blank line
        if len(fields) > len(header) and not any(f.strip() for f in fields[len(header) :]):
            fields = fields[: len(header)]
        if len(fields) != len(header):
            raise InputError(
                display,
                f"row has {len(fields)} fields but the header has {len(header)} "
                f"(a stray {'tab' if delim == chr(9) else repr(delim)} or an unclosed quote?)",
                row=row,
                line=line,
                value=delim.join(fields),
            )

        def cell(field: str, fields: list[str] = fields) -> str:
            return fields[where[field]] if field in where else ""

        def col(field: str) -> str:
            return header[where[field]]

        name = " ".join(cell("name").split())
        if not name:
            raise InputError(
                display, "a holdings row without a scientific name", row=row, column=col("name"), value=""
            )
        counts = {
            f: _count(cell(f), display, row, col(f)) if f in where else None
            for f in ("males", "females", "unknown", "total")
        }
        if "census" in where and cell("census").strip():
            parsed = parse_census(cell("census"))
            if parsed is None:
                raise InputError(
                    display,
                    "not a census in the zoo notation males.females.unknown (e.g. 3.4.1, or 2.1 for 2 males "
                    "and 1 female, or a plain total like 12)",
                    row=row,
                    column=col("census"),
                    value=cell("census"),
                )
            for f, v in zip(("males", "females", "unknown", "total"), parsed, strict=True):
                if v is None:
                    continue
                if counts[f] is None:
                    counts[f] = v
                elif counts[f] != v:
                    raise InputError(
                        display,
                        f"the census {cell('census').strip()!r} gives {v} for {_LABEL[f]} but column "
                        f"{col(f)!r} gives {counts[f]}",
                        row=row,
                        column=col("census"),
                        value=cell("census"),
                    )
        split = [counts[f] for f in ("males", "females", "unknown")]
        given = [v for v in split if v is not None]
        total = counts["total"]
        if given:
            total_split = sum(given)
            if total is None:
                total = total_split
            elif total < total_split:
                tcol = col("total") if "total" in where else col("census")
                raise InputError(
                    display,
                    f"the total ({total}) is smaller than males + females + unknown "
                    f"({' + '.join('blank' if v is None else str(v) for v in split)} = {total_split})",
                    row=row,
                    column=tcol,
                    value=str(total),
                )
            elif total > total_split and len(given) == 3:
                issues.append(
                    Issue(
                        display,
                        f"the total ({total}) is larger than males + females + unknown ({total_split}); "
                        "the total is kept",
                        row,
                        col("total") if "total" in where else None,
                        str(total),
                    )
                )
        elif total is None:
            issues.append(Issue(display, "no count given for this holding", row, None, name))
        date = _date(cell("date"), display, row, col("date")) if "date" in where else None
        if date is not None and date > today:
            issues.append(Issue(display, "the date is in the future", row, col("date"), cell("date")))
        country = (
            _country(cell("country"), display, row, col("country"), known, issues)
            if "country" in where
            else None
        )
        out["name"].append(name)
        out["taxon_id"].append(None)
        out["matched_by"].append(None)
        out["institution"].append(" ".join(cell("institution").split()) or None)
        out["country"].append(country)
        out["males"].append(counts["males"])
        out["females"].append(counts["females"])
        out["unknown"].append(counts["unknown"])
        out["total"].append(total)
        out["date"].append(date)
        out["source"].append(" ".join(cell("source").split()) or None)
        out["row"].append(row)
    if not out["name"]:
        raise InputError(display, "the file has a header but no holdings rows", row=1)
    return pl.DataFrame(out, schema=HOLDINGS_SCHEMA), issues
