"""Excel workbook of the multi-species template: written with XlsxWriter, opened by LibreOffice.

LibreOffice (``soffice --headless``) converts every worksheet to CSV; the cells are read back
with the csv module and compared with values computed here straight from the canonical tables
(never from the writer's own helpers). CSV export quotes text cells only, so a quoted cell proves
that LibreOffice holds a code such as "5.10" or "1.1" as text, not as a number.

The bundled example is fictional; real files are read from ../shared/data, never copied here.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from assess2plan import read_redlist
from assess2plan.checks import check_frame
from assess2plan.examples import example_path
from assess2plan.io import workbook as wbmod
from assess2plan.io.workbook import code_key, write_workbook
from assess2plan.model import AssessmentSet
from assess2plan.schemes import name_of
from assess2plan.sheet import parse_query, planning_sheet
from tests.conftest import IN_CI, shared_path

# Independent of the writer: threats.impact label -> the short label the matrix must show.
IMPACT = {
    "High Impact": "High",
    "Medium Impact": "Medium",
    "Low Impact": "Low",
    "No/Negligible Impact": "Negligible",
    "Past Impact": "Past",
    "Unknown": "Unknown",
    None: "Unknown",
}
SHEETS = ["Overview", "Threats", "Actions", "Findings", "Legend"]
# CSV filter: comma, double quote, UTF-8, from line 1, -, language, QUOTE ALL TEXT CELLS,
# detect special numbers, save as shown, no formulas, no trimming, EVERY SHEET (-1, LibreOffice >= 7.2)
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,true,false,false,-1"
SOFFICE_TIMEOUT = 300


def _soffice() -> str:
    exe = shutil.which("soffice") or ("/usr/bin/soffice" if Path("/usr/bin/soffice").exists() else None)
    if exe is None:
        if IN_CI:
            pytest.fail("LibreOffice (soffice) is missing in CI: install libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


def libreoffice_version(exe: str) -> tuple[int, int]:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    assert m, f"cannot read the LibreOffice version from {out!r}"
    return int(m.group(1)), int(m.group(2))


@dataclass
class Sheet:
    """A worksheet read back from LibreOffice's CSV: cell values and whether each cell is text."""

    rows: list[list[str]]
    is_text: list[list[bool]]

    def table(self, header_row: int = 0) -> list[dict[str, str]]:
        head = self.rows[header_row]
        return [dict(zip(head, r, strict=True)) for r in self.rows[header_row + 1 :]]

    def text_cell(self, value: str) -> list[bool]:
        """For every cell holding ``value``: whether LibreOffice exported it as a text cell."""
        return [
            t
            for r, tr in zip(self.rows, self.is_text, strict=True)
            for v, t in zip(r, tr, strict=True)
            if v == value
        ]


def _quoted_fields(text: str) -> list[list[tuple[str, bool]]]:
    """Split CSV text into (value, was quoted) cells; LibreOffice quotes text cells only."""
    rows: list[list[tuple[str, bool]]] = []
    row: list[tuple[str, bool]] = []
    buf: list[str] = []
    quoted = in_quotes = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_quotes:
            if c == '"' and i + 1 < n and text[i + 1] == '"':
                buf.append('"')
                i += 1
            elif c == '"':
                in_quotes = False
            else:
                buf.append(c)
        elif c == '"':
            in_quotes = quoted = True
        elif c == ",":
            row.append(("".join(buf), quoted))
            buf, quoted = [], False
        elif c == "\n":
            row.append(("".join(buf), quoted))
            rows.append(row)
            row, buf, quoted = [], [], False
        elif c != "\r":
            buf.append(c)
        i += 1
    if buf or row or quoted:
        row.append(("".join(buf), quoted))
        rows.append(row)
    return rows


def read_csv_sheet(path: Path) -> Sheet:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = _quoted_fields(path.read_text(encoding="utf-8"))
    assert [[v for v, _ in r] for r in cells] == rows, f"{path.name}: CSV tokenisation disagrees"
    return Sheet(rows, [[q for _, q in r] for r in cells])


def libreoffice_read(files: list[Path], workdir: Path) -> dict[str, dict[str, Sheet]]:
    """Open ``files`` in LibreOffice headless, export every sheet to CSV, read them back.

    Returns {file stem: {sheet name: Sheet}}. A fresh user profile per call keeps runs apart."""
    exe = _soffice()
    major, minor = libreoffice_version(exe)
    assert (major, minor) >= (7, 2), (
        f"LibreOffice {major}.{minor} cannot export every sheet to CSV (needs 7.2)"
    )
    profile = workdir / "lo-profile"
    out = workdir / "csv"
    cmd = [
        exe,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        CSV_FILTER,
        "--outdir",
        str(out),
        *map(str, files),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SOFFICE_TIMEOUT)
    print(f"LibreOffice read {len(files)} workbook(s) in {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, Sheet]] = {}
    for f in files:
        found = {p.name[len(f.stem) + 1 : -4]: p for p in out.glob(f"{f.stem}-*.csv")}
        assert found, f"LibreOffice wrote nothing for {f.name}: {proc.stdout} {proc.stderr}"
        result[f.stem] = {name: read_csv_sheet(p) for name, p in found.items()}
    return result


# -- fixtures -------------------------------------------------------------------------------------
@dataclass
class Built:
    aset: AssessmentSet
    sheet: pl.DataFrame
    findings: pl.DataFrame | None
    path: Path


@pytest.fixture(scope="module")
def lakeland_set() -> AssessmentSet:
    return read_redlist(example_path("lakeland") / "download")


@pytest.fixture(scope="module")
def lakeland_books(lakeland_set, tmp_path_factory) -> dict[str, Built]:
    """Workbooks of the fictional example: whole set with findings, a filtered subset, no rows."""
    aset = lakeland_set
    d = tmp_path_factory.mktemp("wb-lakeland")
    out = {}
    full = planning_sheet(aset)
    findings = check_frame(aset)
    out["lakeland"] = Built(
        aset,
        full,
        findings,
        write_workbook(d / "lakeland.xlsx", aset, sheet=full, findings=findings, title="Lakeland test"),
    )
    sub = planning_sheet(aset, parse_query("category=CR,EN"))
    sub_findings = findings.join(sub.select("assessment_id"), on="assessment_id", how="semi")
    out["subset"] = Built(
        aset, sub, sub_findings, write_workbook(d / "subset.xlsx", aset, sheet=sub, findings=sub_findings)
    )
    none = planning_sheet(aset, parse_query("name=no-such-taxon"))
    out["empty"] = Built(
        aset,
        none,
        findings.clear(),
        write_workbook(d / "empty.xlsx", aset, sheet=none, findings=findings.clear()),
    )
    return out


@pytest.fixture(scope="module")
def lakeland_lo(lakeland_books, tmp_path_factory) -> dict[str, dict[str, Sheet]]:
    return libreoffice_read([b.path for b in lakeland_books.values()], tmp_path_factory.mktemp("lo-lakeland"))


@pytest.fixture(scope="module")
def pacific(tmp_path_factory) -> Built:
    aset = read_redlist(shared_path("redlist-download", "pacific-marine"))
    sheet = planning_sheet(aset)
    findings = check_frame(aset)
    path = write_workbook(
        tmp_path_factory.mktemp("wb-pacific") / "pacific.xlsx", aset, sheet=sheet, findings=findings
    )
    return Built(aset, sheet, findings, path)


@pytest.fixture(scope="module")
def pacific_lo(pacific, tmp_path_factory) -> dict[str, Sheet]:
    return libreoffice_read([pacific.path], tmp_path_factory.mktemp("lo-pacific"))["pacific"]


# -- expectations computed straight from the canonical tables --------------------------------------
def expected_threats(aset: AssessmentSet, aid: str) -> dict[str, str]:
    """code -> short impact for one assessment (first row of a code, as published)."""
    out: dict[str, str] = {}
    for code, impact in (
        aset.threats.filter(pl.col("assessment_id") == aid).select("code", "impact").iter_rows()
    ):
        if code is not None and code not in out:
            out[code] = IMPACT.get(impact, impact)
    return out


def numeric_code_key(code: str) -> tuple[int, ...]:
    return tuple(int(p) for p in code.split("."))


def matrix(sheet: Sheet) -> tuple[list[str], list[str], dict[str, dict[str, str]]]:
    """(names row, codes row, {scientific name: {code: cell}}) of a Threats/Actions sheet."""
    names, codes = sheet.rows[0], sheet.rows[1]
    assert codes[:2] == ["Scientific name", "Category"]
    cells = {r[0]: {c: v for c, v in zip(codes[2:], r[2:], strict=True) if v} for r in sheet.rows[2:]}
    return names, codes, cells


# -- the file XlsxWriter writes -------------------------------------------------------------------
def _sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        targets = dict(re.findall(r'<Relationship Id="(rId\d+)"[^>]*Target="([^"]+)"', rels))
        targets.update({k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="(rId\d+)"', rels)})
        out = {}
        for name, rid in re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="(rId\d+)"', book):
            out[name] = z.read("xl/" + targets[rid].lstrip("/").removeprefix("xl/")).decode()
        return out


def test_xlsx_frozen_panes_autofilter_and_colours(lakeland_books):
    path = lakeland_books["lakeland"].path
    xml = _sheet_xml(path)
    assert list(xml) == SHEETS
    for name, body in xml.items():
        assert re.search(r'<pane [^>]*state="frozen"', body), name
        assert "<autoFilter " in body, name
    assert re.search(r'<pane xSplit="2" ySplit="2"', xml["Threats"])  # two header rows, name + category
    assert re.search(r'<pane xSplit="1" ySplit="1"', xml["Overview"])
    # no number cells in the matrices: every value there (codes included) is a string
    for name in ("Threats", "Actions"):
        numbers = re.findall(r'<c r="[A-Z]+\d+"(?: s="\d+")?><v>', xml[name])
        assert numbers == [], name
    with zipfile.ZipFile(path) as z:
        styles = z.read("xl/styles.xml").decode().upper()
        shared = z.read("xl/sharedStrings.xml").decode()
    for colour in ("D81E05", "FC7F3F", "F9E814", "CCE226", "60C659", "D1D1C6", "542344"):
        assert f"FF{colour}" in styles
    assert "<t>5.10</t>" in shared and "<t>11.3</t>" in shared


def test_xlsx_without_findings_has_no_findings_sheet(lakeland_set, tmp_path):
    path = write_workbook(tmp_path / "plain.xlsx", lakeland_set)
    xml = _sheet_xml(path)
    assert list(xml) == ["Overview", "Threats", "Actions", "Legend"]
    with zipfile.ZipFile(path) as z:
        strings = re.findall(r"<t(?: [^>]*)?>([^<]*)</t>", z.read("xl/sharedStrings.xml").decode())
    first_row = re.search(r'<row r="1"[^>]*>(.*?)</row>', xml["Overview"]).group(1)
    header = [strings[int(i)] for i in re.findall(r't="s"><v>(\d+)</v>', first_row)]
    assert header[0] == "Scientific name" and "Threats (impact)" in header
    assert "Findings" not in header
    assert "consistency checks not included" in strings


def test_failed_write_leaves_no_file(lakeland_set, tmp_path, monkeypatch):
    target = tmp_path / "book.xlsx"

    def boom(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(wbmod._Writer, "legend", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_workbook(target, lakeland_set)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old workbook")
    with pytest.raises(RuntimeError):
        write_workbook(target, lakeland_set)
    assert target.read_bytes() == b"old workbook"
    assert [p.name for p in tmp_path.iterdir()] == ["book.xlsx"]


def test_code_key_orders_codes_like_the_schemes():
    codes = ["11.3", "4.3", "5.10", "5.9", "1.1", "5.4.10", "5.4.2", "12"]
    assert sorted(codes, key=code_key) == ["1.1", "4.3", "5.4.2", "5.4.10", "5.9", "5.10", "11.3", "12"]


# -- the bundled example, read back by LibreOffice ------------------------------------------------
def test_lakeland_overview(lakeland_books, lakeland_lo):
    b = lakeland_books["lakeland"]
    ov = lakeland_lo["lakeland"]["Overview"]
    rows = ov.table()
    assert len(rows) == b.sheet.height == 40
    assert {r["Scientific name"] for r in rows} == set(b.sheet["scientific_name"].to_list())
    assert [r["Scientific name"] for r in rows] == b.sheet["scientific_name"].to_list()  # sheet order kept
    by_name = {r["Scientific name"]: r for r in rows}
    a = b.aset.assessments
    for name, cat, year in a.select("scientific_name", "category", "year_published").iter_rows():
        assert by_name[name]["Category"] == cat
        assert by_name[name]["Year published"] == str(year)
    # findings counted per taxon, from the frame
    counts = Counter(b.findings.drop_nulls("assessment_id")["assessment_id"].to_list())
    ids = dict(a.select("scientific_name", "assessment_id").iter_rows())
    for name, r in by_name.items():
        assert int(r["Findings"]) == counts.get(ids[name], 0), name
    # lists joined with "; " in code order, codes as text
    aid = ids["Asmundichthys borealis"]
    hab = sorted(
        b.aset.habitats.filter(pl.col("assessment_id") == aid)["code"].to_list(), key=numeric_code_key
    )
    assert by_name["Asmundichthys borealis"]["Habitats"] == "; ".join(hab) == "5.5; 5.10; 5.11"
    want = expected_threats(b.aset, aid)
    assert by_name["Asmundichthys borealis"]["Threats (impact)"] == "; ".join(
        f"{c}: {want[c]}" for c in sorted(want, key=numeric_code_key)
    )
    countries = b.aset.occurrence.filter((pl.col("assessment_id") == aid) & (pl.col("kind") == "country"))
    assert by_name["Asmundichthys borealis"]["Countries"] == "; ".join(
        sorted(set(countries["code"].to_list()))
    )
    # header, identifiers and codes are text; years and counts numbers
    head = ov.rows[0]
    for row, flags in zip(ov.rows[1:], ov.is_text[1:], strict=True):
        cell = dict(zip(head, flags, strict=True))
        values = dict(zip(head, row, strict=True))
        assert cell["Taxon ID"] and cell["Assessment ID"] and cell["Scientific name"]
        assert not cell["Year published"] and not cell["Findings"]
        if values["Criteria version"]:
            assert cell["Criteria version"]


def test_lakeland_threats_matrix(lakeland_books, lakeland_lo):
    b = lakeland_books["lakeland"]
    th = lakeland_lo["lakeland"]["Threats"]
    names, codes, cells = matrix(th)
    used = b.aset.threats.join(b.sheet.select("assessment_id"), on="assessment_id", how="semi")
    want_codes = sorted(set(used["code"].drop_nulls().to_list()), key=numeric_code_key)
    assert codes[2:] == want_codes
    assert all(th.is_text[1])  # the codes come back as text
    for code, name in zip(codes[2:], names[2:], strict=True):
        scheme_name = name_of("threats", code)
        assert scheme_name is None or name.endswith(scheme_name), (code, name)
    ids = dict(b.sheet.select("scientific_name", "assessment_id").iter_rows())
    assert set(cells) == set(ids)
    for name, aid in ids.items():
        assert cells[name] == expected_threats(b.aset, aid), name
    cats = {r[0]: r[1] for r in th.rows[2:]}
    assert cats == dict(b.sheet.select("scientific_name", "category").iter_rows())
    # every impact level the example plants shows up in the matrix
    assert {v for row in cells.values() for v in row.values()} == {
        "High",
        "Medium",
        "Low",
        "Negligible",
        "Past",
        "Unknown",
    }


def test_lakeland_actions_matrix(lakeland_books, lakeland_lo):
    b = lakeland_books["lakeland"]
    ac = lakeland_lo["lakeland"]["Actions"]
    names, codes, cells = matrix(ac)
    assert all(ac.is_text[1])
    ids = dict(b.sheet.select("scientific_name", "assessment_id").iter_rows())
    needed_codes = sorted(set(b.aset.actions_needed["code"].drop_nulls().to_list()), key=numeric_code_key)
    yes = b.aset.actions_in_place.filter(pl.col("value").str.to_lowercase() == "yes")
    in_place_fields = set(yes["field"].to_list())
    assert codes[2 : 2 + len(needed_codes)] == needed_codes
    assert set(codes[2 + len(needed_codes) :]) == in_place_fields
    for name, aid in ids.items():
        need = set(b.aset.actions_needed.filter(pl.col("assessment_id") == aid)["code"].to_list())
        fields = set(yes.filter(pl.col("assessment_id") == aid)["field"].to_list())
        assert cells[name] == {**{c: "needed" for c in need}, **{f: "Yes" for f in fields}}, name
    head = dict(zip(codes, names, strict=True))
    assert head["InPlaceLandWaterProtectionInPA"] == "In place: Occurs in at least one protected area"


def test_lakeland_findings_and_legend(lakeland_books, lakeland_lo):
    b = lakeland_books["lakeland"]
    fs = lakeland_lo["lakeland"]["Findings"].table()
    assert len(fs) == b.findings.height > 0
    want = b.findings.select("rule", "severity", "scientific_name", "message", "suggested_fix").rows()
    got = [
        (r["Rule"], r["Severity"], r["Scientific name"] or None, r["Message"], r["Suggested fix"] or None)
        for r in fs
    ]
    assert got == want
    lg = lakeland_lo["lakeland"]["Legend"]
    rows = lg.table()
    text = {(r["Kind"], r["Code"]): r for r in rows}
    assert any(r["Kind"] == "Data" and r["Name"] == "fictional example data" for r in rows)
    assert any(r["Kind"] == "Workbook" and r["Name"] == "Lakeland test" for r in rows)
    shas = {s.sha256 for s in b.aset.sources}
    assert shas == {r["Details"].split()[1].rstrip(";") for r in rows if r["Kind"] == "Source"}
    assert text[("Habitat", "5.10")]["Name"] == name_of("habitats", "5.10")
    assert lg.text_cell("5.10") and all(lg.text_cell("5.10"))  # "5.10" stays text, not 5.1
    assert text[("Threat", "7.2.10")]["Name"] == name_of("threats", "7.2.10")
    assert text[("Category", "CR")]["Name"] == "Critically Endangered"
    assert {r["Code"] for r in rows if r["Kind"] == "Impact"} == set(IMPACT.values())
    generated = next(r["Name"] for r in rows if r["Kind"] == "Generated")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", generated)
    for kind, table in (
        ("Threat", "threats"),
        ("Action needed", "actions_needed"),
        ("Research needed", "research_needed"),
    ):
        assert {r["Code"] for r in rows if r["Kind"] == kind} == set(
            b.aset.tables[table]["code"].drop_nulls().to_list()
        )


def test_lakeland_subset_and_empty(lakeland_books, lakeland_lo):
    sub = lakeland_books["subset"]
    got = lakeland_lo["subset"]
    assert {r["Scientific name"] for r in got["Overview"].table()} == set(
        sub.sheet["scientific_name"].to_list()
    )
    assert {r["Category"] for r in got["Overview"].table()} == {"CR", "EN"}
    assert [r[0] for r in got["Threats"].rows[2:]] == sub.sheet["scientific_name"].to_list()
    used = sub.aset.threats.join(sub.sheet.select("assessment_id"), on="assessment_id", how="semi")
    assert got["Threats"].rows[1][2:] == sorted(set(used["code"].to_list()), key=numeric_code_key)
    assert len(got["Findings"].table()) == sub.findings.height
    empty = lakeland_lo["empty"]
    assert set(empty) == set(SHEETS)
    assert empty["Overview"].rows[0][0] == "Scientific name" and len(empty["Overview"].rows) == 1
    assert empty["Threats"].rows[1] == ["Scientific name", "Category"] and len(empty["Threats"].rows) == 2
    assert len(empty["Findings"].rows) == 1
    assert any(r["Kind"] == "Taxa" and r["Name"] == "0" for r in empty["Legend"].table())


# -- the real Pacific download ---------------------------------------------------------------------
@pytest.mark.realdata
def test_pacific_overview_and_findings(pacific, pacific_lo):
    ov = pacific_lo["Overview"].table()
    assert len(ov) == pacific.sheet.height == 358
    assert {r["Scientific name"] for r in ov} == set(pacific.aset.assessments["scientific_name"].to_list())
    fs = pacific_lo["Findings"].table()
    assert len(fs) == pacific.findings.height > 0
    assert Counter(r["Rule"] for r in fs) == Counter(pacific.findings["rule"].to_list())
    assert sum(int(r["Findings"]) for r in ov) == pacific.findings["assessment_id"].is_not_null().sum()
    legend = pacific_lo["Legend"].table()
    assert not any(r["Name"] == "fictional example data" for r in legend)
    assert {r["Details"].split()[1].rstrip(";") for r in legend if r["Kind"] == "Source"} == {
        s.sha256 for s in pacific.aset.sources
    }


@pytest.mark.realdata
def test_pacific_threats_and_actions(pacific, pacific_lo):
    aset = pacific.aset
    th = pacific_lo["Threats"]
    _names, codes, cells = matrix(th)
    assert codes[2:] == sorted(set(aset.threats["code"].to_list()), key=numeric_code_key)
    assert codes.index("4.3") < codes.index("11.3")
    assert th.text_cell("1.1") and all(th.text_cell("1.1"))  # "1.1" is text, not the number 1.1
    ids = dict(pacific.sheet.select("scientific_name", "assessment_id").iter_rows())
    # taxa with each rarer impact level, plus the first few
    rare = aset.threats.filter(pl.col("impact") != "Low Impact")["assessment_id"].unique().to_list()
    names = {n for n, a in ids.items() if a in set(rare)} | set(sorted(ids)[:10])
    assert len(names) > 10
    for name in names:
        assert cells.get(name, {}) == expected_threats(aset, ids[name]), name
    total = aset.threats.unique(["assessment_id", "code"]).height
    assert sum(len(v) for v in cells.values()) == total
    ac = pacific_lo["Actions"]
    _n, acodes, acells = matrix(ac)
    assert acodes[2:] == sorted(set(aset.actions_needed["code"].to_list()), key=numeric_code_key)
    assert all(ac.is_text[1])
    for name in sorted(ids)[:25]:
        need = set(aset.actions_needed.filter(pl.col("assessment_id") == ids[name])["code"].to_list())
        assert acells.get(name, {}) == dict.fromkeys(need, "needed"), name
