"""Writer of IUCN SIS Connect CSV sets for the conservation section (workshop edits back to SIS).

``write_sis_connect`` writes, for the latest assessment of each selected taxon, the SIS Connect
files of the chosen canonical tables. The layout copies a real SIS Connect export (the kew-saba
set) and is what ``assess2plan.io.sis_connect.read_sis_connect`` reads:

* always ``assessments.csv``: ``internal_taxon_id``, one row per taxon;
* always ``taxonomy.csv``: ``Redlist_id``, ``classname``, ``family``, ``genus``, ``infraType``,
  ``infra_authority``, ``infra_name``, ``internal_taxon_id``, ``kingdom``, ``ordername``,
  ``phylum``, ``species``, ``taxonomicAuthority``, one row per taxon;
* ``actions_needed`` -> ``conservationneeded.csv``:
  ``ConservationActions.ConservationActionsSubfield.ConservationActionsLookup`` (the code),
  ``...ConservationActionsName``, ``...note``, ``internal_taxon_id``;
* ``research_needed`` -> ``researchneeded.csv``: ``Research.ResearchSubfield.ResearchLookup``,
  ``...ResearchName``, ``...note``, ``internal_taxon_id``;
* ``threats`` -> ``threats.csv``: ``Threats.ThreatsSubfield.StressesSubfield.stress``
  (``|``-joined stress codes), ``...StressesSubfield.stressdesc``,
  ``Threats.ThreatsSubfield.ThreatsLookup``, ``...ThreatsName``, ``...ancestry``, ``...ias``,
  ``...internationalTrade``, ``...scope``, ``...severity``, ``...text``, ``...timing``,
  ``...virus``, ``internal_taxon_id``;
* ``actions_in_place`` -> ``allfields.csv``: ``InPlace<Field>.note`` and ``InPlace<Field>.value``
  for the 13 SIS ``InPlace*`` fields (and any other ``InPlace*`` field in the data),
  ``internal_taxon_id``; one row per taxon (the export's allfields.csv holds these columns
  among all the other SIS fields, which are not written).

Columns are in the export's order (ASCII-sorted names). Format choices, all taken from the real export:

* UTF-8 without BOM, one header row, ``\\n`` line ends, standard CSV quoting (only where needed);
* rows are keyed by ``internal_taxon_id`` only: SIS Connect files carry no assessment id (the
  reader synthesises ``sis:<internal_taxon_id>``), so one set holds one assessment per taxon;
* codes are written as the text they are ("5.10" stays "5.10"); the ``...Name`` and
  ``stressdesc`` columns are left empty as SIS leaves them (the reader fills them from the
  schemes); timing, scope and severity are written as the SIS labels the tables hold
  ("Ongoing", "Majority (50-90%)", "Slow, Significant Declines"); the derived impact score is
  not written (SIS computes it);
* empty values are empty cells.

"None" cannot be said explicitly: SIS Connect has flags for "no threats" (``NoThreats.noThreats``,
``ThreatsUnknown.value``) and for use and trade, but none for conservation actions or research
needed. A taxon with zero actions needed is written as its row in ``assessments.csv`` and
``taxonomy.csv`` with no row in ``conservationneeded.csv`` (the reader reads it back as an
assessment without actions needed). Whether SIS Connect's upload then clears actions already in
SIS is not documented in any source at hand: check with the SIS team before relying on it.

Not written: the assessment's scope (SIS Connect exports carry no region for global assessments
and no evidence shows how a regional one is written), subpopulation names (the export's
``taxonomy.csv`` has no such column), taxonomic notes and every field outside the chosen tables.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet

KEY = "internal_taxon_id"
AID = "assessment_id"
TID = "taxon_id"


@dataclass(frozen=True)
class _File:
    """One SIS Connect file: its name and (SIS column, canonical column or None for empty)."""

    name: str
    columns: tuple[tuple[str, str | None], ...]
    codes: tuple[str, ...] = ("code",)  # canonical columns that must be text


_CA = "ConservationActions.ConservationActionsSubfield."
_RE = "Research.ResearchSubfield."
_TH = "Threats.ThreatsSubfield."

#: Canonical child table -> SIS Connect file (column order as in the real export).
CHILD_FILES: dict[str, _File] = {
    "actions_needed": _File(
        "conservationneeded.csv",
        (
            (f"{_CA}ConservationActionsLookup", "code"),
            (f"{_CA}ConservationActionsName", None),
            (f"{_CA}note", "note"),
            (KEY, TID),
        ),
    ),
    "research_needed": _File(
        "researchneeded.csv",
        (
            (f"{_RE}ResearchLookup", "code"),
            (f"{_RE}ResearchName", None),
            (f"{_RE}note", "note"),
            (KEY, TID),
        ),
    ),
    "threats": _File(
        "threats.csv",
        (
            (f"{_TH}StressesSubfield.stress", "stress_codes"),
            (f"{_TH}StressesSubfield.stressdesc", None),
            (f"{_TH}ThreatsLookup", "code"),
            (f"{_TH}ThreatsName", None),
            (f"{_TH}ancestry", "ancestry"),
            (f"{_TH}ias", "ias"),
            (f"{_TH}internationalTrade", "international_trade"),
            (f"{_TH}scope", "scope"),
            (f"{_TH}severity", "severity"),
            (f"{_TH}text", "text"),
            (f"{_TH}timing", "timing"),
            (f"{_TH}virus", "virus"),
            (KEY, TID),
        ),
        codes=("code", "stress_codes"),
    ),
}
IN_PLACE_FILE = "allfields.csv"
ASSESSMENTS_FILE = _File("assessments.csv", ((KEY, TID),))
TAXONOMY_FILE = _File(
    "taxonomy.csv",
    (
        ("Redlist_id", TID),
        ("classname", "class_name"),
        ("family", "family"),
        ("genus", "genus"),
        ("infraType", "infra_type"),
        ("infra_authority", "infra_authority"),
        ("infra_name", "infra_name"),
        (KEY, TID),
        ("kingdom", "kingdom"),
        ("ordername", "order_name"),
        ("phylum", "phylum"),
        ("species", "species"),
        ("taxonomicAuthority", "authority"),
    ),
    codes=(),
)

#: The canonical tables ``write_sis_connect`` can write.
SUPPORTED_TABLES = ("actions_needed", "research_needed", "threats", "actions_in_place")

_IN_PLACE_FIELD = re.compile(r"^InPlace[A-Za-z]+$", re.IGNORECASE)
_IN_PLACE_NOTE = re.compile(r"^(InPlace[A-Za-z]+)\.note$", re.IGNORECASE)


# -- selection ------------------------------------------------------------------------------------
def _as_list(values: Iterable[str] | str) -> list[str]:
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _select(aset: AssessmentSet, taxa: Iterable[str] | str | None, scope: str) -> pl.DataFrame:
    """The latest assessment (``assessment_id``, ``taxon_id``) of each selected taxon, in taxon order."""
    latest = aset.latest(scope)
    if latest.height == 0:
        raise A2PError(f"nothing to write: the set holds no assessment with scope {scope!r}")
    if taxa is None:
        return latest.select(AID, TID)
    wanted = _as_list(taxa)
    if not wanted:
        raise A2PError("nothing to write: taxa is empty (give taxon ids or names, or None for all)")
    ids = set(latest[TID].to_list())
    names: dict[str, set[str]] = {}
    for tid, name in latest.select(TID, "scientific_name").iter_rows():
        if name:
            names.setdefault(" ".join(name.split()).lower(), set()).add(tid)
    chosen: set[str] = set()
    unknown: list[str] = []
    for w in wanted:
        key = w.strip()
        if key in ids:
            chosen.add(key)
        elif " ".join(key.split()).lower() in names:
            chosen |= names[" ".join(key.split()).lower()]
        else:
            unknown.append(w)
    if unknown:
        raise A2PError(
            f"no {scope} assessment in the set for taxon {', '.join(repr(u) for u in unknown)} "
            "(give internal taxon ids or scientific names)"
        )
    return latest.filter(pl.col(TID).is_in(sorted(chosen))).select(AID, TID)


def _child_rows(aset: AssessmentSet, table: str, selected: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``table`` for the selected assessments, grouped by taxon, in their original order.

    A row without ``assessment_id`` (a hand-added row) belongs to its taxon's latest assessment.
    The written ``internal_taxon_id`` is always the assessment's taxon.
    """
    df = aset.tables[table].with_row_index("_row")
    order = selected.with_row_index("_taxon")
    by_aid = df.filter(pl.col(AID).is_not_null()).drop(TID).join(order, on=AID, how="inner")
    by_tid = (
        df.filter(pl.col(AID).is_null() & pl.col(TID).is_not_null())
        .drop(AID)
        .join(order, on=TID, how="inner")
    )
    out = pl.concat([by_aid, by_tid.select(by_aid.columns)], how="vertical_relaxed")
    return out.sort(["_taxon", "_row"]).drop("_taxon", "_row")


def _check_text(df: pl.DataFrame, cols: Iterable[str], table: str) -> None:
    for col in cols:
        if col in df.columns and df.schema[col] not in (pl.Utf8, pl.Null):
            raise A2PError(
                f"{table}.{col} is {df.schema[col]}, not text: codes must stay text "
                '("5.10" would be written as 5.1); cast the column with pl.Utf8 from the original text'
            )


def _cell(value: object) -> str:
    return "" if value is None else str(value)


# -- building the files ---------------------------------------------------------------------------
def _rows_for(df: pl.DataFrame, spec: _File) -> list[list[str]]:
    cols = [c for _, c in spec.columns]
    missing = sorted({c for c in cols if c is not None and c not in df.columns})
    if missing:
        df = df.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in missing])
    picked = df.select(
        [(pl.col(c) if c is not None else pl.lit(None, pl.Utf8)).alias(f"_{i}") for i, c in enumerate(cols)]
    )
    return [[_cell(v) for v in row] for row in picked.iter_rows()]


def _classified(aset: AssessmentSet, table: str, selected: pl.DataFrame) -> list[list[str]]:
    spec = CHILD_FILES[table]
    _check_text(aset.tables[table], spec.codes, table)
    df = _child_rows(aset, table, selected)
    blank = df.filter(pl.col("code").is_null() | (pl.col("code").str.strip_chars() == ""))
    if blank.height:
        raise A2PError(
            f"{table}: a row of taxon {blank[TID][0]!r} has no code; SIS Connect needs a code on every row"
        )
    return _rows_for(df, spec)


def _in_place_field(field: str | None, name: str | None) -> str | None:
    """The SIS ``InPlace*`` field of an actions_in_place row (by field, else by the API name)."""
    if field:
        known = schemes.action_in_place_by_field(field)
        if known:
            return known["field"]
        base = field.split(".")[0].strip()
        return base if _IN_PLACE_FIELD.match(base) else None
    if name:
        known = schemes.action_in_place_by_name(name)
        if known:
            return known["field"]
    return None


def _in_place(aset: AssessmentSet, selected: pl.DataFrame) -> tuple[list[str], list[list[str]]]:
    """allfields.csv: one row per taxon, ``<field>.note`` / ``<field>.value`` columns."""
    df = _child_rows(aset, "actions_in_place", selected)
    values: dict[str, dict[str, str]] = {tid: {} for tid in selected[TID].to_list()}
    for row in df.iter_rows(named=True):
        field = _in_place_field(row["field"], row["name"])
        if field is None:
            raise A2PError(
                f"actions_in_place: taxon {row[TID]!r} has an action in place that is not a SIS InPlace* "
                f"field (field {row['field']!r}, name {row['name']!r}); fix or drop the row"
            )
        cells = values[row[TID]]
        if f"{field}.value" in cells or f"{field}.note" in cells:
            raise A2PError(
                f"actions_in_place: taxon {row[TID]!r} has {field} twice; SIS holds one value per field"
            )
        cells[f"{field}.value"] = _cell(row["value"])
        cells[f"{field}.note"] = _cell(row["note"])
    # a note without a value is kept by the readers in other_fields ("InPlaceX.note")
    others = _child_rows(aset, "other_fields", selected)
    for row in others.iter_rows(named=True):
        m = _IN_PLACE_NOTE.match(row["field"] or "")
        if not m:
            continue
        known = schemes.action_in_place_by_field(m.group(1))
        field = known["field"] if known else m.group(1)
        cells = values[row[TID]]
        if not cells.get(f"{field}.note"):
            cells[f"{field}.note"] = _cell(row["value"])
            cells.setdefault(f"{field}.value", "")
    fields = {r["field"] for r in schemes.actions_in_place_fields()}
    fields |= {c.rsplit(".", 1)[0] for cells in values.values() for c in cells}
    header = sorted([f"{f}.{sub}" for f in fields for sub in ("note", "value")] + [KEY])
    rows = [[tid if col == KEY else cells.get(col, "") for col in header] for tid, cells in values.items()]
    return header, rows


def _taxonomy(aset: AssessmentSet, selected: pl.DataFrame) -> list[list[str]]:
    taxa = aset.tables["taxa"].unique(TID, keep="first", maintain_order=True)
    df = selected.select(TID).join(taxa, on=TID, how="left", maintain_order="left")
    return _rows_for(df, TAXONOMY_FILE)


# -- writing --------------------------------------------------------------------------------------
def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _check_target(target: Path, overwrite: bool) -> bool:
    """Refuse a target that is a file or a non-empty folder (unless overwrite). True if it must be replaced."""
    if not target.exists():
        return False
    if not target.is_dir():
        raise A2PError(f"{target} exists and is not a folder")
    entries = list(target.iterdir())
    if not entries:
        return True
    if not overwrite:
        raise A2PError(
            f"{target} is not empty ({len(entries)} entries); choose an empty or new folder, "
            "or pass overwrite=True to replace its CSV files"
        )
    foreign = sorted(e.name for e in entries if not (e.is_file() and e.suffix.lower() == ".csv"))
    if foreign:
        raise A2PError(
            f"{target} holds more than CSV files ({', '.join(foreign[:5])}); not replacing it even with "
            "overwrite=True: choose another folder"
        )
    return True


def _move_into_place(tmp: Path, target: Path, replace: bool) -> None:
    if not replace:
        tmp.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    target.rename(old)
    try:
        tmp.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_sis_connect(
    aset: AssessmentSet,
    folder: str | Path,
    *,
    taxa: Iterable[str] | None = None,
    tables: Iterable[str] = ("actions_needed",),
    scope: str = "Global",
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write SIS Connect CSV files of the latest assessments into ``folder``; file name -> path.

    ``taxa``: internal taxon ids or scientific names (all taxa when None); each needs an
    assessment with ``scope`` (``AssessmentSet.latest(scope)`` picks the latest one).
    ``tables``: any of ``actions_needed`` (conservationneeded.csv), ``research_needed``
    (researchneeded.csv), ``threats`` (threats.csv), ``actions_in_place`` (allfields.csv);
    ``assessments.csv`` and ``taxonomy.csv`` are always written, one row per taxon, so a taxon
    without any row in a table is still part of the set (SIS Connect has no "none" flag for
    actions or research needed: see the module docstring).

    Rows without an ``assessment_id`` but with a selected ``taxon_id`` (rows added by hand) are
    written for that taxon. The files are written into a temporary sibling folder and moved into
    place, so a failure leaves nothing half-written. A folder that exists and is not empty is
    refused unless ``overwrite=True``, which replaces it only when it holds nothing but CSV files.
    Raises ``A2PError`` with the reason.
    """
    chosen = list(dict.fromkeys(_as_list(tables)))
    if not chosen:
        raise A2PError(f"no table to write; choose from {', '.join(SUPPORTED_TABLES)}")
    bad = [t for t in chosen if t not in SUPPORTED_TABLES]
    if bad:
        raise A2PError(
            f"cannot write {', '.join(repr(b) for b in bad)} as SIS Connect; "
            f"supported tables: {', '.join(SUPPORTED_TABLES)}"
        )
    target = Path(folder).expanduser().resolve()
    replace = _check_target(target, overwrite)
    selected = _select(aset, taxa, scope)

    # build everything in memory first: a bad row fails before anything touches the disk
    files: dict[str, tuple[list[str], list[list[str]]]] = {
        ASSESSMENTS_FILE.name: (
            [c for c, _ in ASSESSMENTS_FILE.columns],
            _rows_for(selected, ASSESSMENTS_FILE),
        ),
        TAXONOMY_FILE.name: ([c for c, _ in TAXONOMY_FILE.columns], _taxonomy(aset, selected)),
    }
    for table in chosen:
        if table == "actions_in_place":
            files[IN_PLACE_FILE] = _in_place(aset, selected)
        else:
            spec = CHILD_FILES[table]
            files[spec.name] = ([c for c, _ in spec.columns], _classified(aset, table, selected))

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise A2PError(f"cannot write into {target.parent}: {exc}") from exc
    try:
        for name, (header, rows) in files.items():
            _write_csv(tmp / name, header, rows)
        _move_into_place(tmp, target, replace)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise A2PError(f"could not write the SIS Connect set to {target}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: target / name for name in files}
