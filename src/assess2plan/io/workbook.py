"""The Excel workbook of the multi-species workshop template (XlsxWriter).

Facilitators used to copy every assessment by hand into a spreadsheet to review it; this writes
that spreadsheet from a working set::

    from assess2plan import read_redlist
    from assess2plan.checks import check_frame
    from assess2plan.io.workbook import write_workbook
    from assess2plan.sheet import parse_query, planning_sheet

    s = read_redlist("download.zip")
    write_workbook("workshop.xlsx", s, sheet=planning_sheet(s, parse_query("category=CR,EN")),
                   findings=check_frame(s), title="Sunda freshwater fishes")

Worksheets (header rows bold and frozen, autofilter on every sheet):

``Overview``
    one row per taxon of ``sheet``: name, taxonomy, category (filled in its Red List colour),
    criteria, trend, year, places, habitats, threats with impact, actions, research, findings.
``Threats``
    taxa x threat codes (code order, 4.3 before 11.3); the cell holds the impact (High, Medium,
    Low, Negligible, Past, Unknown) coloured by impact. Two header rows: names, then codes.
``Actions``
    taxa x conservation action codes needed ("needed", the note as a cell comment), then the
    in-place actions answered Yes ("Yes").
``Findings``
    the consistency-check findings (only when ``findings`` is given), severity coloured.
``Legend``
    provenance (sources, sha256, generation time), category / impact / severity colours and the
    name of every code used.

Codes and identifiers are always written as text cells ("5.10" stays "5.10", "1.1" is not the
number 1.1). The file is written next to ``path`` under a temporary name and renamed, so a failure
never leaves a half-written workbook.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from assess2plan.checks.core import FINDING_SCHEMA, SEVERITIES
from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet
from assess2plan.schemes import (
    CATEGORY_ORDER,
    action_in_place_by_field,
    actions_in_place_fields,
    name_of,
    scheme,
)
from assess2plan.sheet import TRUE_VALUES, SheetQuery, planning_sheet
from assess2plan.text import plain_text

__all__ = [
    "CATEGORY_COLOURS",
    "IMPACT_COLOURS",
    "IMPACT_SHORT",
    "SHEET_NAMES",
    "code_key",
    "code_label",
    "impact_short",
    "write_workbook",
]

#: Worksheet names, in order (``Findings`` only when findings are given).
SHEET_NAMES = ("Overview", "Threats", "Actions", "Findings", "Legend")

#: Red List category -> (fill, font colour). Legacy LR/* take the colour of NT / LC.
CATEGORY_COLOURS: dict[str, tuple[str, str]] = {
    "EX": ("#000000", "#ffffff"),
    "EW": ("#542344", "#ffffff"),
    "RE": ("#542344", "#ffffff"),
    "CR": ("#d81e05", "#000000"),
    "EN": ("#fc7f3f", "#000000"),
    "VU": ("#f9e814", "#000000"),
    "NT": ("#cce226", "#000000"),
    "LR/cd": ("#cce226", "#000000"),
    "LR/nt": ("#cce226", "#000000"),
    "LC": ("#60c659", "#000000"),
    "LR/lc": ("#60c659", "#000000"),
    "DD": ("#d1d1c6", "#000000"),
    "NE": ("#ffffff", "#000000"),
    "NA": ("#ffffff", "#000000"),
}

#: Threat impact label (as in ``threats.impact``) -> short label shown in the matrix.
IMPACT_SHORT: dict[str, str] = {
    "High Impact": "High",
    "Medium Impact": "Medium",
    "Low Impact": "Low",
    "No/Negligible Impact": "Negligible",
    "Past Impact": "Past",
    "Unknown": "Unknown",
}

#: Short impact label -> (fill, font colour, meaning for the legend).
IMPACT_COLOURS: dict[str, tuple[str, str, str]] = {
    "High": ("#8b0000", "#ffffff", "impact score 8-9 (timing + scope + severity, IUCN SIS)"),
    "Medium": ("#ff9900", "#000000", "impact score 6-7"),
    "Low": ("#ffeb84", "#000000", "impact score 3-5"),
    "Negligible": ("#e7e6e6", "#000000", "impact score 0-2"),
    "Past": ("#bdd7ee", "#000000", "past threat (past timing)"),
    "Unknown": (
        "#a6a6a6",
        "#000000",
        "impact cannot be scored (unknown or missing timing, scope or severity)",
    ),
}

SEVERITY_COLOURS: dict[str, tuple[str, str]] = {
    "error": ("#f4b6b6", "#9c0006"),
    "warning": ("#ffe699", "#7f6000"),
    "info": ("#ddebf7", "#1f4e78"),
}

MAX_CELL = 32_767  # characters Excel keeps in one cell
MAX_COMMENTS = 10_000  # notes written as cell comments in the Actions sheet (VML is bulky)
MAX_COMMENT_CHARS = 2_000
SEP = "; "

_HEADER_COLOUR = "#d9e1f2"


def code_key(code: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key putting classification codes in scheme order: 4.3 before 11.3, 5.9 before 5.10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(code).split("."))


def impact_short(label: str | None) -> str:
    """``"Medium Impact"`` -> ``"Medium"``; a missing impact is ``"Unknown"``."""
    if label is None or not str(label).strip():
        return "Unknown"
    label = str(label).strip()
    return IMPACT_SHORT.get(label, label.removesuffix(" Impact"))


#: Legend kind -> classification scheme of its codes.
_SCHEME_OF = {
    "Threat": "threats",
    "Action needed": "conservation_actions",
    "Research needed": "research",
    "Habitat": "habitats",
}


@cache
def _ambiguous(scheme_name: str) -> frozenset[str]:
    """Names used by several codes of a scheme ("National level", "Named species")."""
    counts = scheme(scheme_name).group_by("name").len().filter(pl.col("len") > 1)
    return frozenset(counts["name"].to_list())


def code_label(scheme_name: str, code: str, fallback: str | None = None) -> str | None:
    """The name of ``code`` for a column header: its parent's name is put before names that
    several codes share ("Legislation: National level" for 5.1.2, not just "National level")."""
    name = name_of(scheme_name, code) or fallback
    if name and name in _ambiguous(scheme_name):
        parent = name_of(scheme_name, code.rpartition(".")[0])
        if parent:
            return f"{parent}: {name}"
    return name


def _values(v: Any) -> list[str]:
    """A sheet cell as a list of strings: list columns as they are; ``|``-joined text split."""
    if v is None:
        return []
    if isinstance(v, list | tuple | pl.Series):
        return [str(x) for x in v if x is not None and str(x) != ""]
    s = str(v)
    return [p for p in s.split("|") if p] if s else []


def _clip(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# -- writing helpers --------------------------------------------------------------------------------
class _Sheet:
    """A worksheet with column-width tracking (widths are set from the longest value seen)."""

    def __init__(self, ws: Worksheet, caps: Sequence[int] | None = None, default_cap: int = 40) -> None:
        self.ws = ws
        self.caps = list(caps or [])
        self.default_cap = default_cap
        self.widths: dict[int, int] = {}

    def _seen(self, col: int, text: str) -> None:
        n = max(len(line) for line in text.split("\n")) if "\n" in text else len(text)
        if n > self.widths.get(col, 0):
            self.widths[col] = n

    def text(self, row: int, col: int, value: Any, fmt: Format | None = None) -> None:
        """Write ``value`` as a text cell (nothing for None / empty)."""
        if value is None:
            return
        s = value if type(value) is str else str(value)
        if not s:
            return
        if len(s) > MAX_CELL:
            s = _clip(s)
        self.ws.write_string(row, col, s, fmt)
        n = len(s)
        if n > self.widths.get(col, 0):
            self._seen(col, s)

    def number(self, row: int, col: int, value: float | int | None, fmt: Format | None = None) -> None:
        if value is None:
            return
        self.ws.write_number(row, col, value, fmt)
        self._seen(col, str(value))

    def finish(self, ncols: int, fmts: dict[int, Format] | None = None, minimum: int = 6) -> None:
        """Set every column's width from the longest value seen (capped per column)."""
        for col in range(ncols):
            cap = self.caps[col] if col < len(self.caps) else self.default_cap
            width = min(max(self.widths.get(col, 0) + 2, minimum), cap)
            self.ws.set_column(col, col, width, (fmts or {}).get(col))
        # codes and identifiers are text on purpose: no "number stored as text" markers
        self.ws.ignore_errors({"number_stored_as_text": "A1:XFD1048576"})


@dataclass
class _Formats:
    header: Format
    header_wrap: Format
    header_code: Format
    text: Format
    wrap: Format
    date: Format
    bold: Format
    category: dict[str, Format]
    impact: dict[str, Format]
    severity: dict[str, Format]
    mark: Format

    @classmethod
    def make(cls, wb: xlsxwriter.Workbook) -> _Formats:
        base = {"valign": "top", "font_size": 10}
        head = {**base, "bold": True, "bg_color": _HEADER_COLOUR, "border": 1, "border_color": "#8ea9db"}

        def coloured(fill: str, font: str, **extra: Any) -> Format:
            return wb.add_format(
                {
                    **base,
                    "bg_color": fill,
                    "font_color": font,
                    "border": 1,
                    "border_color": "#bfbfbf",
                    **extra,
                }
            )

        return cls(
            header=wb.add_format(head),
            header_wrap=wb.add_format({**head, "text_wrap": True}),
            header_code=wb.add_format({**head, "align": "center"}),
            text=wb.add_format(base),
            wrap=wb.add_format({**base, "text_wrap": True}),
            date=wb.add_format({**base, "num_format": "yyyy-mm-dd", "align": "left"}),
            bold=wb.add_format({**base, "bold": True}),
            category={c: coloured(f, t, bold=True, align="center") for c, (f, t) in CATEGORY_COLOURS.items()},
            impact={c: coloured(f, t, align="center") for c, (f, t, _) in IMPACT_COLOURS.items()},
            severity={c: coloured(f, t) for c, (f, t) in SEVERITY_COLOURS.items()},
            mark=wb.add_format(
                {**base, "align": "center", "bg_color": "#e2efda", "border": 1, "border_color": "#bfbfbf"}
            ),
        )


def _setup(ws: Worksheet, header_rows: int, freeze_cols: int, last_row: int, last_col: int) -> None:
    """Frozen header (and name) panes, an autofilter over the table, printing titles."""
    ws.freeze_panes(header_rows, freeze_cols)
    ws.autofilter(header_rows - 1, 0, max(last_row, header_rows - 1), max(last_col, 0))
    ws.repeat_rows(0, header_rows - 1)
    ws.set_landscape()
    ws.set_paper(9)  # A4


# -- the workbook ----------------------------------------------------------------------------------
_OVERVIEW: tuple[tuple[str, str, str, int], ...] = (
    # header, sheet column (or computed key), kind, width cap
    ("Scientific name", "scientific_name", "text", 40),
    ("Kingdom", "kingdom", "text", 16),
    ("Phylum", "phylum", "text", 18),
    ("Class", "class_name", "text", 18),
    ("Order", "order_name", "text", 20),
    ("Family", "family", "text", 22),
    ("Genus", "genus", "text", 20),
    ("Category", "category", "category", 10),
    ("Category name", "category_label", "text", 24),
    ("Criteria", "criteria", "text", 24),
    ("Criteria version", "criteria_version", "text", 10),
    ("Possibly extinct", "possibly_extinct", "bool", 10),
    ("Population trend", "population_trend", "text", 13),
    ("Year published", "year_published", "int", 10),
    ("Assessment date", "assessment_date", "date", 12),
    ("Systems", "systems", "list", 30),
    ("Countries", "countries", "list", 40),
    ("Subnational units", "subnational", "list", 40),
    ("LMEs", "lmes", "list", 30),
    ("FAO areas", "fao_areas", "list", 20),
    ("Habitats", "habitats", "list", 30),
    ("Threats (impact)", "threat_impacts", "impacts", 45),
    ("Major threats", "major_threats", "list", 30),
    ("Actions in place", "actions_in_place", "in_place", 45),
    ("Actions needed", "actions_needed", "list", 30),
    ("Research needed", "research_needed", "list", 30),
    ("Findings", "_findings", "findings", 9),
    ("Taxon ID", "taxon_id", "text", 12),
    ("Assessment ID", "assessment_id", "text", 13),
)


class _Writer:
    def __init__(
        self,
        wb: xlsxwriter.Workbook,
        aset: AssessmentSet,
        sheet: pl.DataFrame,
        findings: pl.DataFrame | None,
        title: str | None,
        scope: str,
    ) -> None:
        self.wb = wb
        self.aset = aset
        self.sheet = sheet
        self.findings = findings
        self.title = title
        self.scope = scope
        self.f = _Formats.make(wb)
        self.ids = sheet.select(pl.col("assessment_id").cast(pl.Utf8)).drop_nulls().unique()
        self.rows = list(sheet.iter_rows(named=True))
        # assessment_id -> worksheet rows (data start row added by each sheet)
        self.row_of: dict[str, list[int]] = {}
        for i, r in enumerate(self.rows):
            if r.get("assessment_id") is not None:
                self.row_of.setdefault(str(r["assessment_id"]), []).append(i)
        self.used: dict[str, dict[str, str | None]] = {
            "Threat": {},
            "Action needed": {},
            "Action in place": {},
            "Research needed": {},
            "Habitat": {},
        }
        self.notes: list[str] = []
        self._in_place_names: dict[str, str] = {}

    # -- helpers --------------------------------------------------------------------------------
    def child(self, table: str) -> pl.DataFrame:
        return self.aset.tables[table].join(self.ids, on="assessment_id", how="semi")

    def in_place_name(self, field: str) -> str:
        if field not in self._in_place_names:
            row = action_in_place_by_field(field)
            self._in_place_names[field] = row["name"] if row else field
        return self._in_place_names[field]

    def _use(self, kind: str, codes: Iterable[str], names: dict[str, str | None] | None = None) -> None:
        scheme_name = _SCHEME_OF.get(kind)
        known = self.used[kind]
        for c in codes:
            if c not in known or known[c] is None:
                name = name_of(scheme_name, c) if scheme_name else None
                known[c] = name or (names or {}).get(c)

    def _category(self, s: _Sheet, row: int, col: int, code: Any) -> None:
        if code is None:
            return
        s.text(row, col, code, self.f.category.get(str(code), self.f.text))

    # -- Overview -------------------------------------------------------------------------------
    def overview(self) -> None:
        ws = self.wb.add_worksheet("Overview")
        columns = [c for c in _OVERVIEW if c[2] != "findings" or self.findings is not None]
        columns = [c for c in columns if c[1] in self.sheet.columns or c[2] == "findings"]
        s = _Sheet(ws, [c[3] for c in columns])
        ws.set_row(0, 30)
        for j, (head, *_rest) in enumerate(columns):
            ws.write_string(0, j, head, self.f.header_wrap)
            s._seen(j, head if len(head) < 12 else head[: len(head) // 2 + 1])
        f = self.f
        for j, (_head, key, kind, _cap) in enumerate(columns):
            values = self._overview_values(key, kind)
            if kind == "category":
                for i, v in enumerate(values, start=1):
                    if v is not None:
                        s.text(i, j, v, f.category.get(v, f.text))
            elif kind in ("int", "findings"):
                for i, v in enumerate(values, start=1):
                    s.number(i, j, v, f.text)
            elif kind == "date":
                for i, v in enumerate(values, start=1):
                    if isinstance(v, date):
                        ws.write_datetime(i, j, datetime(v.year, v.month, v.day), f.date)
                    else:
                        s.text(i, j, v, f.text)
                s._seen(j, "2000-01-01")
            else:
                fmt = f.text if kind == "text" else f.wrap
                for i, v in enumerate(values, start=1):
                    s.text(i, j, v, fmt)
        s.finish(len(columns))
        _setup(ws, 1, 1, len(self.rows), len(columns) - 1)

    def _overview_values(self, key: str, kind: str) -> list[Any]:
        """The cells of one Overview column, as Python values in sheet order."""
        sheet = self.sheet
        if kind == "findings":
            counts: dict[str, int] = {}
            if self.findings is not None and self.findings.height:
                per = (
                    self.findings.filter(pl.col("assessment_id").is_not_null())
                    .group_by("assessment_id")
                    .len()
                )
                counts = dict(per.iter_rows())
            return [counts.get(str(aid), 0) for aid in sheet["assessment_id"].to_list()]
        col = sheet[key]
        if kind == "bool":
            return ["Yes" if v else None for v in col.to_list()]
        if kind in ("int", "date"):
            return col.to_list()
        if kind in ("text", "category"):
            return col.cast(pl.Utf8).to_list()
        out: list[Any] = []
        kinds = {
            "habitats": "Habitat",
            "actions_needed": "Action needed",
            "research_needed": "Research needed",
            "major_threats": "Threat",
        }
        threats = sheet["threats"].to_list() if "threats" in sheet.columns else None
        for i, v in enumerate(col.to_list()):
            vals = _values(v)
            if kind == "impacts":
                parts = []
                for item in vals:
                    code, sep, label = item.partition(": ")
                    parts.append(f"{code}: {impact_short(label if sep else None)}")
                if not parts and threats is not None:  # a sheet without impacts
                    parts = _values(threats[i])
                out.append(SEP.join(parts))
            elif kind == "in_place":
                out.append(SEP.join(self.in_place_name(x) for x in vals))
            else:
                if key in kinds:
                    self._use(kinds[key], vals)
                out.append(SEP.join(vals))
        return out

    # -- Threats --------------------------------------------------------------------------------
    def threats(self) -> None:
        ws = self.wb.add_worksheet("Threats")
        th = (
            self.child("threats")
            .filter(pl.col("code").is_not_null())
            .unique(["assessment_id", "code"], keep="first", maintain_order=True)
        )
        names = dict(th.group_by("code").agg(pl.col("name").drop_nulls().first()).iter_rows())
        codes = sorted(th["code"].unique().to_list(), key=code_key)
        self._use("Threat", codes, names)
        col_of = {c: j for j, c in enumerate(codes, start=2)}
        s = _Sheet(ws, [40, 10] + [12] * len(codes))
        self._matrix_header(ws, s, [(c, code_label("threats", c, names.get(c))) for c in codes], "Threat")
        self._taxa_columns(s, 2)
        f = self.f
        for aid, code, label in th.select("assessment_id", "code", "impact").iter_rows():
            short = impact_short(label)
            for i in self.row_of.get(aid, ()):
                s.text(i + 2, col_of[code], short, f.impact.get(short, f.text))
        s.finish(2 + len(codes), minimum=9)
        _setup(ws, 2, 2, len(self.rows) + 1, 1 + len(codes))

    def _matrix_header(self, ws: Worksheet, s: _Sheet, cols: list[tuple[str, str | None]], what: str) -> None:
        """Row 0: names of the codes (wrapped); row 1: the codes (autofilter row)."""
        f = self.f
        ws.write_string(0, 0, f"{what} name \u2192", f.header)
        ws.write_string(0, 1, "", f.header)
        ws.write_string(1, 0, "Scientific name", f.header)
        ws.write_string(1, 1, "Category", f.header)
        longest = 0
        for j, (code, name) in enumerate(cols, start=2):
            ws.write_string(0, j, _clip(name or code), f.header_wrap)
            ws.write_string(1, j, code, f.header_code)
            s._seen(j, code)
            longest = max(longest, len(name or code))
        s._seen(0, "Scientific name")
        lines = min(8, max(2, -(-longest // 11)))  # names wrap in ~12-character columns
        ws.set_row(0, 13 * lines + 4)

    def _taxa_columns(self, s: _Sheet, start: int) -> None:
        for i, r in enumerate(self.rows, start=start):
            s.text(i, 0, r.get("scientific_name"), self.f.text)
            self._category(s, i, 1, r.get("category"))

    # -- Actions --------------------------------------------------------------------------------
    def actions(self) -> None:
        ws = self.wb.add_worksheet("Actions")
        an = self.child("actions_needed").filter(pl.col("code").is_not_null())
        names = dict(an.group_by("code").agg(pl.col("name").drop_nulls().first()).iter_rows())
        codes = sorted(an["code"].unique().to_list(), key=code_key)
        self._use("Action needed", codes, names)
        ip = (
            self.child("actions_in_place")
            .with_columns(pl.col("field").str.split(".").list.first().str.strip_chars().alias("field"))
            .filter(pl.col("field").is_not_null())
            .filter(pl.col("value").str.strip_chars().str.to_lowercase().is_in(list(TRUE_VALUES)))
        )
        order = {r["field"].lower(): k for k, r in enumerate(actions_in_place_fields())}
        fields = sorted(ip["field"].unique().to_list(), key=lambda x: (order.get(x.lower(), len(order)), x))
        for fld in fields:
            self.used["Action in place"][fld] = self.in_place_name(fld)
        col_of = {c: j for j, c in enumerate(codes, start=2)}
        ip_col = {c: j for j, c in enumerate(fields, start=2 + len(codes))}
        s = _Sheet(ws, [40, 10] + [12] * (len(codes) + len(fields)))
        header = [(c, code_label("conservation_actions", c, names.get(c))) for c in codes]
        header += [(fld, f"In place: {self.in_place_name(fld)}") for fld in fields]
        self._matrix_header(ws, s, header, "Action")
        self._taxa_columns(s, 2)
        f = self.f
        comments = 0
        skipped = 0
        for aid, code, note in an.select("assessment_id", "code", "note").iter_rows():
            for i in self.row_of.get(aid, ()):
                s.text(i + 2, col_of[code], "needed", f.mark)
                text = plain_text(note) if note else ""
                if text:
                    if comments < MAX_COMMENTS:
                        ws.write_comment(
                            i + 2, col_of[code], _clip(text, MAX_COMMENT_CHARS), {"x_scale": 2, "y_scale": 2}
                        )
                        comments += 1
                    else:
                        skipped += 1
        for aid, fld, note in ip.select("assessment_id", "field", "note").iter_rows():
            for i in self.row_of.get(aid, ()):
                s.text(i + 2, ip_col[fld], "Yes", f.mark)
                text = plain_text(note) if note else ""
                if text and comments < MAX_COMMENTS:
                    ws.write_comment(
                        i + 2, ip_col[fld], _clip(text, MAX_COMMENT_CHARS), {"x_scale": 2, "y_scale": 2}
                    )
                    comments += 1
                elif text:
                    skipped += 1
        if skipped:
            self.notes.append(
                f"{skipped} notes on actions were not written as comments (more than {MAX_COMMENTS}); "
                "see the assessments for them."
            )
        ncols = 2 + len(codes) + len(fields)
        s.finish(ncols, minimum=9)
        _setup(ws, 2, 2, len(self.rows) + 1, ncols - 1)
        # research needed and habitats are not matrices, but their codes go in the legend
        rn = self.child("research_needed").filter(pl.col("code").is_not_null())
        self._use(
            "Research needed",
            sorted(rn["code"].unique().to_list(), key=code_key),
            dict(rn.group_by("code").agg(pl.col("name").drop_nulls().first()).iter_rows()),
        )
        hb = self.child("habitats").filter(pl.col("code").is_not_null())
        self._use(
            "Habitat",
            sorted(hb["code"].unique().to_list(), key=code_key),
            dict(hb.group_by("code").agg(pl.col("name").drop_nulls().first()).iter_rows()),
        )

    # -- Findings -------------------------------------------------------------------------------
    def findings_sheet(self) -> None:
        if self.findings is None:
            return
        ws = self.wb.add_worksheet("Findings")
        cols = (
            ("Rule", "rule", 28),
            ("Severity", "severity", 10),
            ("Scientific name", "scientific_name", 32),
            ("Message", "message", 70),
            ("Suggested fix", "suggested_fix", 60),
            ("Evidence", "evidence", 50),
            ("Taxon ID", "taxon_id", 12),
            ("Assessment ID", "assessment_id", 13),
        )
        s = _Sheet(ws, [c[2] for c in cols])
        for j, (head, _k, _w) in enumerate(cols):
            ws.write_string(0, j, head, self.f.header)
            s._seen(j, head)
        f = self.f
        wrap_cols = {"message", "suggested_fix", "evidence"}
        for i, r in enumerate(self.findings.select([c[1] for c in cols]).iter_rows(), start=1):
            for j, ((_h, key, _w), v) in enumerate(zip(cols, r, strict=True)):
                if key == "severity":
                    s.text(i, j, v, f.severity.get(str(v), f.text))
                else:
                    s.text(i, j, v, f.wrap if key in wrap_cols else f.text)
        s.finish(len(cols))
        _setup(ws, 1, 3, self.findings.height, len(cols) - 1)

    # -- Legend ---------------------------------------------------------------------------------
    def legend(self) -> None:
        ws = self.wb.add_worksheet("Legend")
        s = _Sheet(ws, [18, 16, 70, 70])
        f = self.f
        for j, head in enumerate(("Kind", "Code", "Name", "Details")):
            ws.write_string(0, j, head, f.header)
            s._seen(j, head)
        row = 1

        def line(
            kind: str,
            code: str | None,
            name: str | None,
            details: str | None = None,
            fmt: Format | None = None,
        ) -> None:
            nonlocal row
            s.text(row, 0, kind, f.bold)
            s.text(row, 1, code, fmt or f.text)
            s.text(row, 2, name, f.wrap)
            s.text(row, 3, details, f.wrap)
            row += 1

        generated = datetime.now(UTC).replace(microsecond=0)
        from assess2plan import __version__

        line("Workbook", None, self.title or "Red List assessments: multi-species planning template")
        line("Generated", None, generated.isoformat().replace("+00:00", "Z"), f"assess2plan {__version__}")
        line("Scope", None, self.scope, "each taxon's latest assessment in this scope")
        line("Taxa", None, str(len(self.rows)), f"{self.ids.height} assessments")
        if _is_example(self.aset):
            line(
                "Data",
                None,
                "fictional example data",
                "The bundled example of assess2plan: invented species, places and people; not IUCN Red List data.",
            )
        elif self.aset.sources:
            line(
                "Data",
                None,
                "IUCN Red List assessment data from the sources below",
                "Use under the IUCN Red List Terms of Use.",
            )
        for src in self.aset.sources:
            line("Source", src.format, src.path, f"sha256 {src.sha256}; {src.rows} rows")
        if self.findings is None:
            line("Findings", None, "consistency checks not included")
        else:
            line("Findings", None, f"{self.findings.height} findings of the consistency checks")
        for note in self.notes:
            line("Note", None, note)
        labels = (
            self.aset.tables["assessments"]
            .select("category", "category_label")
            .drop_nulls()
            .unique("category")
        )
        label_of = dict(labels.iter_rows())
        cats = [c for c in CATEGORY_ORDER if c in CATEGORY_COLOURS]
        present = {str(r.get("category")) for r in self.rows if r.get("category") is not None}
        cats += sorted(present - set(cats))
        for c in cats:
            line("Category", c, label_of.get(c) or _category_name(c), None, f.category.get(c, f.text))
        for short, (_fill, _font, meaning) in IMPACT_COLOURS.items():
            full = next((k for k, v in IMPACT_SHORT.items() if v == short), short)
            line("Impact", short, full, meaning, f.impact[short])
        if self.findings is not None:
            for sev in SEVERITIES:
                line("Severity", sev, None, None, f.severity[sev])
        line(
            "Actions",
            "needed",
            "conservation action needed (Actions sheet; a comment holds its note)",
            None,
            f.mark,
        )
        line("Actions", "Yes", "in-place action answered Yes (Actions sheet, In place columns)", None, f.mark)
        for kind, codes in self.used.items():
            keys = sorted(codes, key=code_key) if kind != "Action in place" else list(codes)
            for code in keys:
                details = None
                if kind == "Action in place":
                    r = action_in_place_by_field(code)
                    details = r["group"] if r else None
                elif "." in code:
                    parent = code.rpartition(".")[0]
                    pname = name_of(_SCHEME_OF[kind], parent)
                    details = f"under {parent} {pname}" if pname else None
                line(kind, code, codes[code], details)
        s.finish(4)
        _setup(ws, 1, 1, row - 1, 3)

    def write(self) -> None:
        props = {
            "title": self.title or "Red List assessments: planning template",
            "comments": "written by assess2plan",
        }
        self.wb.set_properties(props)
        self.overview()
        self.threats()
        self.actions()
        self.findings_sheet()
        self.legend()
        self.wb.worksheets()[0].activate()


def _category_name(code: str) -> str | None:
    from assess2plan.schemes import category

    c = category(code)
    return c[1] if c else None


def _is_example(aset: AssessmentSet) -> bool:
    """Whether every source of the set is a file of the bundled (fictional) examples."""
    if not aset.sources:
        return False
    try:
        from assess2plan.examples import EXAMPLES, example_path

        roots = [example_path(n).resolve() for n in EXAMPLES]
    except (FileNotFoundError, KeyError):  # pragma: no cover - examples not installed as folders
        return False
    for src in aset.sources:
        p = Path(src.path.split("!/")[0]).resolve()
        if not any(p == r or r in p.parents for r in roots):
            return False
    return True


def _conform_findings(findings: pl.DataFrame) -> pl.DataFrame:
    cols = []
    for name, dtype in FINDING_SCHEMA.items():
        if name in findings.columns:
            cols.append(pl.col(name).cast(dtype, strict=False))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return findings.select(cols)


def write_workbook(
    path: str | Path,
    aset: AssessmentSet,
    *,
    sheet: pl.DataFrame | None = None,
    findings: pl.DataFrame | None = None,
    title: str | None = None,
    scope: str = "Global",
) -> Path:
    """Write the multi-species planning template of ``aset`` as an Excel workbook at ``path``.

    ``sheet`` (a :func:`assess2plan.sheet.planning_sheet`, possibly filtered) chooses the taxa and
    assessments, and their order; by default the whole set's planning sheet in ``scope``.
    ``findings`` (a :func:`assess2plan.checks.check_frame` frame) adds the Findings sheet and a
    count per taxon in the Overview; every row of it is written (without it there is no Findings
    sheet). ``scope`` builds the default sheet and is shown in the Legend. ``title`` goes in the
    Legend and the document properties. An existing file at ``path`` is replaced only once the
    new workbook is complete. Returns the path written.
    """
    path = Path(path)
    if sheet is None:
        sheet = planning_sheet(aset, SheetQuery(scope=scope))
    missing = [c for c in ("assessment_id", "scientific_name") if c not in sheet.columns]
    if missing:
        raise A2PError(
            f"the planning sheet has no column {', '.join(missing)}; build it with planning_sheet()"
        )
    sheet = sheet.with_columns(pl.col("assessment_id").cast(pl.Utf8))
    if findings is not None:
        findings = _conform_findings(findings)
    if not path.parent.exists():
        raise A2PError(f"cannot write {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        wb = xlsxwriter.Workbook(
            str(tmp),
            {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
        )
        _Writer(wb, aset, sheet, findings, title, scope).write()
        wb.close()  # the file is only created here, from the complete workbook
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
