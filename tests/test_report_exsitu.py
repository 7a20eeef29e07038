"""The ex situ decision report (HTML and PDF) of a five-step ex situ conservation assessment.

Records are built here by hand for a fictional taxon (*Mirrenichthys auratus*, taxon 990000001).
The HTML is read back with Python's ``html.parser`` (table cells, element texts); PDFs are opened
with pypdfium2 (page count, text, pixels of the category badge). Labels are those of the
guidelines module (``assess2plan.exsitu.guidelines``), which the report must show unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from assess2plan.errors import A2PError
from assess2plan.exsitu import guidelines
from assess2plan.exsitu.translocation import evaluate_translocation
from assess2plan.report import CATEGORY_COLOURS, decision_report, decision_report_html

NAME = "Mirrenichthys auratus"
WHEN = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
VOID = {"br", "meta", "img", "hr", "input", "link", "col", "wbr"}


# -- reading the HTML back ----------------------------------------------------------------------------
class Page(HTMLParser):
    """Texts of elements with an id, the rows of every table with an id (cells as text, with the
    row's attributes), and the text inside each tag name."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.ids: dict[str, list[str]] = {}  # id -> text parts
        self.open_ids: list[tuple[int, str]] = []
        self.tables: dict[str, list[dict]] = {}
        self.table: list[str] = []  # ids of open tables
        self.row: dict | None = None
        self.cell: list[str] | None = None
        self.tag_text: dict[str, list[str]] = {}
        self.lists: dict[str, list[str]] = {}  # id of a list -> texts of its items
        self.li: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag in VOID:
            if tag == "br" and self.cell is not None:
                self.cell.append("\n")
            return
        self.stack.append((tag, a))
        if "id" in a:
            self.open_ids.append((len(self.stack), a["id"]))
            self.ids.setdefault(a["id"], [])
        if tag == "table":
            self.table.append(a.get("id", ""))
            self.tables.setdefault(a.get("id", ""), [])
        elif tag == "tr" and self.table:
            self.row = {"attrs": a, "cells": [], "tags": []}
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
            self.row["tags"].append(tag)
        elif tag == "li" and self.open_ids:
            self.li = []
            self.lists.setdefault(self.open_ids[-1][1], []).append(self.li)  # type: ignore[arg-type]

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            t, _ = self.stack.pop()
            depth = len(self.stack) + 1
            while self.open_ids and self.open_ids[-1][0] == depth:
                self.open_ids.pop()
            if t in ("td", "th") and self.cell is not None and self.row is not None:
                self.row["cells"].append("".join(self.cell).strip())
                self.cell = None
            elif t == "tr" and self.row is not None and self.table:
                self.tables[self.table[-1]].append(self.row)
                self.row = None
            elif t == "table" and self.table:
                self.table.pop()
            elif t == "li":
                self.li = None
            if t == tag:
                break

    def handle_data(self, data):
        for _, i in self.open_ids:
            self.ids[i].append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self.li is not None:
            self.li.append(data)
        for t, _ in self.stack:
            self.tag_text.setdefault(t, []).append(data)

    # conveniences
    def text(self, element_id: str) -> str:
        assert element_id in self.ids, f"no element with id {element_id!r}"
        return " ".join("".join(self.ids[element_id]).split())

    def items(self, list_id: str) -> list[str]:
        """Texts of the items of the list with this id."""
        assert list_id in self.lists, f"no list with id {list_id!r}"
        return [" ".join("".join(parts).split()) for parts in self.lists[list_id]]

    def rows(self, table_id: str, *, body: bool = True) -> list[list[str]]:
        """Cell texts of the data rows (rows of td cells) of a table, spaces normalised."""
        assert table_id in self.tables, f"no table with id {table_id!r}"
        return [
            [" ".join(c.split()) for c in r["cells"]]
            for r in self.tables[table_id]
            if not body or "td" in r["tags"]
        ]

    def row_attrs(self, table_id: str) -> list[dict[str, str]]:
        return [r["attrs"] for r in self.tables[table_id] if "td" in r["tags"]]

    def groups(self, table_id: str) -> list[str]:
        """Texts of the group heading rows (a single th spanning the table)."""
        return [r["cells"][0] for r in self.tables[table_id] if r["attrs"].get("class") == "group"]


# -- records ------------------------------------------------------------------------------------------
def first_factor(kind: str, n: int = 0) -> guidelines.Factor:
    found = [f for f in guidelines.factors() if f.kind == kind]
    assert len(found) > n, f"guidelines.factors() has fewer than {n + 1} factors of kind {kind!r}"
    return found[n]


def holdings_rows() -> list[dict]:
    return [
        {
            "institution": "Mirren Aquarium",
            "country": "XA",
            "males": 3,
            "females": 4,
            "unknown": 1,
            "total": 8,
            "date": "2026-01-31",
            "source": "studbook",
        },
        {
            "institution": "Tarn Field Station",
            "country": "XB",
            "males": 2,
            "females": 2,
            "unknown": 0,
            "total": 4,
            "date": "2025-09-01",
            "source": "survey",
        },
    ]


def full_record() -> dict:
    rows = holdings_rows()
    return {
        "schema_version": 1,
        "taxon_id": "990000001",
        "scientific_name": NAME,
        "status": {
            "category": "CR",
            "criteria": "B1ab(iii)",
            "possibly_extinct": False,
            "population_trend": "Decreasing",
            "assessment_id": "990000101",
            "year_published": 2024,
            "threats": [
                {
                    "code": "8.1.2",
                    "name": "Named species (invasive)",
                    "timing": "Ongoing",
                    "impact": "High Impact",
                },
                {
                    "code": "11.1",
                    "name": "Habitat shifting & alteration",
                    "timing": "Future",
                    "impact": "Medium Impact",
                },
            ],
            "actions_needed": [{"code": "3.4.1", "name": "Captive breeding/artificial propagation"}],
            "research_needed": [{"code": "1.6", "name": "Actions"}],
            "in_place_ex_situ": "Yes",
            "holdings": {
                "institutions": 2,
                "countries": ["XA", "XB"],
                "males": sum(r["males"] for r in rows),
                "females": sum(r["females"] for r in rows),
                "unknown": sum(r["unknown"] for r in rows),
                "total": sum(r["total"] for r in rows),
                "latest_date": max(r["date"] for r in rows),
                "rows": rows,
            },
            "cites": {
                "listing": "II",
                "cites_name": "Mirrenichthys",
                "cites_rank": "GENUS",
                "matched_by": "genus",
                "annotation": "<i>Mirrenichthys</i> spp. <script>alert('cites')</script><b>only live</b>",
            },
            "in_situ_summary": "Two lakes left.\nBoth invaded by the Tarn crayfish.",
            "ex_situ_summary": "Held at two places since 2019.",
            "notes": "",
        },
        "roles": [
            {
                "role": "insurance_population",
                "considered": True,
                "threats": [{"code": "8.1.2", "link": "buys_time"}, {"code": "11.1", "link": "buys_time"}],
                "rationale": "Crayfish cannot be removed within 10 years.\n<script>alert('x')</script>",
            },
            {
                "role": "research",
                "considered": True,
                "threats": [{"code": "8.1.2", "link": "addresses"}],
                "rationale": "Test crayfish barriers.",
            },
            {"role": "education", "considered": False, "threats": [], "rationale": ""},
        ],
        "dimensions": {
            "gene_diversity_goal": 0.9,
            "years": 100,
            "generation_length": 3.0,
            "ne_n": 0.3,
            "founders": 20,
            "result": {
                "goal": 0.9,
                "years": 100,
                "generation_length": 3.0,
                "generations": 33.333333,
                "founders": 20,
                "founder_gene_diversity": 0.975,
                "ne": 209.5,
                "n": 698.3,
                "formula": "H_t = H_0 × (1 − 1/(2 Ne))^t",
                "steps": ["t = 100 / 3 = 33.33 generations", "Ne = 209.5", "N = Ne / 0.3 = 698.3"],
            },
            "notes": "",
        },
        "feasibility": [
            {"factor": first_factor("resources").id, "score": 5, "rationale": "Space promised."},
            {"factor": first_factor("expertise").id, "score": 3, "rationale": "Some keepers trained."},
            {"factor": first_factor("feasibility").id, "score": 2, "rationale": "Founders hard to catch."},
            {"factor": first_factor("risk").id, "score": 4, "rationale": "Disease on release."},
            {"factor": first_factor("risk", 1).id, "score": 3, "rationale": "Quarantine planned."},
            {"factor": first_factor("feasibility", 1).id, "score": 3, "rationale": "Slow but possible."},
        ],
        "decision": {
            "outcome": "retain",
            "roles": ["insurance_population"],
            "rationale": "Insurance population while barriers are tested.",
            "decided_by": "ana",
            "decided_at": "2026-11-21T10:00:00+00:00",
        },
        "translocation": {"kind": None, "answers": {}, "notes": ""},
    }


HISTORY = [
    {
        "version": 1,
        "step": "status",
        "made_by": "ana",
        "made_at": "2026-11-01T08:00:00+00:00",
        "note": "created",
    },
    {"version": 2, "step": "roles", "made_by": "ben", "made_at": "2026-11-10T12:15:00+00:00", "note": ""},
    {
        "version": 3,
        "step": "decision",
        "made_by": "ana",
        "made_at": "2026-11-21T10:00:00+00:00",
        "note": "workshop",
    },
]


def render(record: dict, **kw) -> tuple[str, Page]:
    kw.setdefault("project", "Lakeland fishes")
    kw.setdefault("generated_at", WHEN)
    html = decision_report_html(record, **kw)
    return html, Page(html)


# -- HTML --------------------------------------------------------------------------------------------
def test_heading_badge_and_process_line():
    html, page = render(full_record(), generated_by="ana", history=HISTORY)
    h1 = " ".join("".join(page.tag_text["h1"]).split())
    assert h1 == f"Ex situ conservation assessment — {NAME}"
    assert re.search(r"<h1>[^<]*<i>Mirrenichthys auratus</i></h1>", html)
    # the category badge in the CR colour, white text on the dark colour
    badge = re.search(r'<span class="cat" style="background:([^;]+);color:([^"]+)"[^>]*>CR</span>', html)
    assert badge and badge.group(1) == CATEGORY_COLOURS["CR"] and badge.group(2) == "#ffffff"
    sub = " ".join("".join(page.tag_text["header"]).split())
    for part in ("Critically Endangered", "project Lakeland fishes", "2026-11-22", "generated by ana"):
        assert part in sub
    assert (
        "five-step decision process of the IUCN SSC (2014) Guidelines on the Use of Ex Situ Management" in sub
    )


def test_step1_status_threats_actions_holdings_cites():
    rec = full_record()
    _, page = render(rec)
    kv = {r[0]: r[1] for r in page.rows("status", body=False)}
    assert kv["Criteria"] == "B1ab(iii)"
    assert kv["Population trend"] == "Decreasing"
    assert kv["Assessment year"].startswith("2024")
    assert "Critically Endangered" in kv["Red List category"]
    assert kv["Ex situ in place (Red List)"] == "Yes"
    want = [[t["code"], t["name"], t["timing"], t["impact"]] for t in rec["status"]["threats"]]
    assert page.rows("threats") == want
    assert page.rows("actions-needed") == [["3.4.1", "Captive breeding/artificial propagation"]]
    assert page.rows("research-needed") == [["1.6", "Actions"]]
    # holdings: one row per institution, totals as summed here
    hr = holdings_rows()
    assert page.rows("holdings") == [
        [
            r["institution"],
            r["country"],
            str(r["males"]),
            str(r["females"]),
            str(r["unknown"]),
            str(r["total"]),
            r["date"],
            r["source"],
        ]
        for r in hr
    ]
    summary = page.text("holdings-summary")
    assert summary.startswith(
        f"{sum(r['total'] for r in hr)} individuals ({sum(r['males'] for r in hr)} males, "
        f"{sum(r['females'] for r in hr)} females, {sum(r['unknown'] for r in hr)} unknown sex)"
    )
    assert "in 2 institutions in XA, XB" in summary and "latest record 2026-01-31" in summary
    cites = {r[0]: r[1] for r in page.rows("cites", body=False)}
    assert cites["Listing"] == "Appendix II"
    assert cites["CITES name"] == "Mirrenichthys (genus)"
    assert cites["Matched"] == "through the listing of its genus"
    assert cites["Annotation"] == "Mirrenichthys spp. only live"
    # summaries: plain text with their line break kept
    assert "Two lakes left.\nBoth invaded by the Tarn crayfish." in "".join(page.tag_text["div"])


def test_user_text_escaped_and_annotation_sanitised():
    html, page = render(full_record())
    assert "<script" not in html.lower()
    assert "alert('cites')" not in html  # nh3 drops the script with its content
    assert "<i>Mirrenichthys</i> spp." in html  # allowed markup of the annotation kept
    # the rationale's "<script>" is text, escaped, shown to the reader as typed
    roles = page.rows("roles")
    assert "<script>alert('x')</script>" in roles[0][3]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&#x27;x" in html


def test_step2_roles_with_threat_links_and_labels():
    rec = full_record()
    _, page = render(rec)
    rows = page.rows("roles")
    assert [a["data-role"] for a in page.row_attrs("roles")] == ["insurance_population", "research"]
    names = {t["code"]: t["name"] for t in rec["status"]["threats"]}
    for row, role in zip(rows, rec["roles"][:2], strict=True):
        g = guidelines.role(role["role"])
        assert g.label and g.label != role["role"]
        assert row[0] == g.label
        assert row[1] == guidelines.STRATEGY_LABELS[g.strategy]
        for t in role["threats"]:
            assert f"{t['code']} {names[t['code']]}" in row[2]
        assert row[4] == ("yes" if role["role"] in rec["decision"]["roles"] else "no")
    links = {"buys_time": "buys time against it", "addresses": "addresses the threat"}
    assert rows[0][2].count(links["buys_time"]) == 2
    assert links["addresses"] in rows[1][2]
    assert "Crayfish cannot be removed within 10 years." in rows[0][3]
    # a role marked not considered is not in the table but is named
    assert guidelines.role("education").label not in [r[0] for r in rows]
    assert guidelines.role("education").label in "".join(page.tag_text["p"])


def test_step3_dimensions_inputs_formula_targets():
    rec = full_record()
    _, page = render(rec)
    inputs = {r[0]: r[1] for r in page.rows("dimension-inputs", body=False)}
    assert inputs["Gene-diversity goal"] == "90 %"
    assert inputs["Duration (years)"] == "100"
    assert inputs["Generation length (years)"] == "3"
    assert inputs["Ne/N (effective / census size)"] == "0.3"
    assert inputs["Founders"] == "20"
    targets = {r[0]: r[1] for r in page.rows("dimension-targets")}
    assert targets["Effective population size (Ne)"] == "209.5"
    assert targets["Census population size (N)"] == "698.3"
    assert targets["Generations over 100 years"] == "33.33"
    assert page.text("formula") == rec["dimensions"]["result"]["formula"]
    assert page.items("worked-steps") == rec["dimensions"]["result"]["steps"]

    rec["dimensions"]["result"] = None
    rec["dimensions"]["generation_length"] = None
    html, page = render(rec)
    assert "Target population size: not computed." in html
    assert "dimension-targets" not in page.tables and "formula" not in page.ids
    assert {r[0]: r[1] for r in page.rows("dimension-inputs", body=False)}[
        "Generation length (years)"
    ] == "not given"


def test_step4_scores_grouped_labelled_and_highlighted():
    rec = full_record()
    _, page = render(rec)
    assert page.groups("feasibility") == ["Resources", "Expertise", "Feasibility", "Risks"]
    by_factor = dict(
        zip(
            [a["data-factor"] for a in page.row_attrs("feasibility")],
            zip(page.rows("feasibility"), page.row_attrs("feasibility"), strict=True),
            strict=True,
        )
    )
    factors = {f.id: f for f in guidelines.factors()}
    assert sorted(by_factor) == sorted(s["factor"] for s in rec["feasibility"])
    # rows follow the order of the guidelines' factors (grouped by kind)
    assert list(by_factor) == [f.id for f in guidelines.factors() if f.id in by_factor]
    flagged = 0
    for s in rec["feasibility"]:
        cells, attrs = by_factor[s["factor"]]
        kind = factors[s["factor"]].kind
        assert cells[0] == factors[s["factor"]].label
        assert cells[1] == kind
        assert cells[2] == f"{s['score']} — {guidelines.SCORE_LABELS[kind][s['score']]}"
        assert cells[3] == s["rationale"]
        # independent rule: risks 4-5 and other kinds 1-2 are highlighted
        expect_flag = s["score"] >= 4 if kind == "risk" else s["score"] <= 2
        assert ("flag" in attrs.get("class", "")) == expect_flag, (s, attrs)
        flagged += expect_flag
    assert flagged == 2
    scored = {s["factor"] for s in rec["feasibility"]}
    left = [" ".join(f.label.split()) for f in guidelines.factors() if f.id not in scored]
    if left:
        assert page.text("unscored") == "Not scored: " + "; ".join(left) + "."


def test_step5_decision_retain_none_and_draft():
    rec = full_record()
    html, page = render(rec)
    label = guidelines.role("insurance_population").label
    assert "draft" not in page.ids and "DRAFT" not in html
    detail = {r[0]: r[1] for r in page.rows("decision-detail", body=False)}
    assert detail["Outcome"] == f"Roles retained: {label}"
    assert detail["Decided by"] == "ana"
    assert detail["Decided at"] == "2026-11-21 10:00 UTC"
    assert page.text("decision").startswith(f"Roles retained: {label}")
    assert "Insurance population while barriers are tested." in html

    rec["decision"] = {
        "outcome": "none",
        "roles": [],
        "rationale": "In situ first.",
        "decided_by": "cy",
        "decided_at": "2026-12-01T00:00:00+00:00",
    }
    _, page = render(rec)
    assert {r[0]: r[1] for r in page.rows("decision-detail", body=False)}[
        "Outcome"
    ] == "No ex situ role retained"
    assert "draft" not in page.ids

    rec["decision"] = {"outcome": None, "roles": [], "rationale": "", "decided_by": None, "decided_at": None}
    html, page = render(rec)
    assert page.text("draft") == "DRAFT — no decision recorded"
    assert "decision-detail" not in page.tables and "decision" not in page.ids
    assert '@top-center { content: "DRAFT — no decision recorded"' in html  # on every PDF page
    assert "(draft)" in "".join(page.tag_text["title"])


def test_translocation_checklist_grouped_with_verdict():
    rec = full_record()
    items = guidelines.translocation_checklist("reintroduction")
    assert items, "the reintroduction checklist is empty"
    blocking = [i for i in items if i.blocking]
    assert blocking, "no blocking item in the reintroduction checklist"
    answers = {blocking[0].id: {"answer": "no", "risk": None, "note": "threat not removed"}}
    risky = [i for i in items if i.kind == "risk" and i.id != blocking[0].id]
    if risky:
        answers[risky[0].id] = {"answer": "yes", "risk": "high", "note": "<b>spill-over</b>"}
    rec["translocation"] = {"kind": "reintroduction", "answers": answers, "notes": "Workshop 2."}
    html, page = render(rec)
    summary = evaluate_translocation("reintroduction", answers)
    assert summary.verdict == "do not proceed"  # IUCN 2013: a blocking "no" stops the translocation
    assert page.text("verdict").startswith(f"Verdict: {summary.verdict}")
    assert f"({summary.answered} of {summary.total} items answered)" in page.text("verdict")
    assert page.items("verdict-reasons") == [" ".join(r.split()) for r in summary.reasons]
    # sections in checklist order, every item of the kind listed once
    names = guidelines.checklist_sections()
    sections = [names[s] for s in dict.fromkeys(i.section for i in items)]
    assert page.groups("checklist") == sections
    ids = [a["data-item"] for a in page.row_attrs("checklist")]
    assert sorted(ids) == sorted(i.id for i in items) and len(ids) == len(set(ids))
    rows = dict(zip(ids, page.rows("checklist"), strict=True))
    b = rows[blocking[0].id]
    assert b[0].startswith(blocking[0].question) and b[1] == "no" and b[3] == "threat not removed"
    if risky:
        r = rows[risky[0].id]
        assert r[1:] == ["yes", "high", "<b>spill-over</b>"]  # a note is text, escaped
        assert "&lt;b&gt;spill-over&lt;/b&gt;" in html
    unanswered = [i for i in items if i.id not in answers]
    for i in unanswered:
        assert rows[i.id][1] == "not answered"
    assert "reintroduction" in " ".join("".join(page.tag_text["h2"]).split()).lower()


def test_history_table():
    _, page = render(full_record(), history=HISTORY)
    assert page.rows("history-table") == [
        ["1", "status", "ana", "2026-11-01 08:00 UTC", "created"],
        ["2", "roles", "ben", "2026-11-10 12:15 UTC", ""],
        ["3", "decision", "ana", "2026-11-21 10:00 UTC", "workshop"],
    ]
    _, page = render(full_record())
    assert "history-table" not in page.tables


def test_partial_drafts_render():
    minimal = {"schema_version": 1, "taxon_id": "990000002", "scientific_name": "Tarnia minor"}
    html, page = render(minimal)
    assert page.text("draft") == "DRAFT — no decision recorded"
    assert "Step 1 (status review) is missing" in html
    assert "No ex situ role considered yet." in html and "No factor scored yet." in html
    assert "Target population size: not computed." in html
    assert "translocation" not in page.ids
    assert page.text("holdings-none") and page.text("cites-none")

    sparse = {
        "schema_version": 1,
        "taxon_id": "990000003",
        "scientific_name": "Tarnia major",
        "status": {"category": "EN", "threats": None, "holdings": None, "cites": None, "criteria": None},
        "roles": [{"role": "insurance_population", "threats": None, "rationale": None}],
        "dimensions": {"gene_diversity_goal": 90, "result": None},
        "feasibility": None,
        "decision": None,
        "translocation": {"kind": "reinforcement", "answers": None},
    }
    html, page = render(sparse, history=None)
    assert page.rows("roles")[0][0] == guidelines.role("insurance_population").label
    assert page.rows("roles")[0][2] == "no threat linked"
    assert {r[0]: r[1] for r in page.rows("dimension-inputs", body=False)}["Gene-diversity goal"] == "90 %"
    assert page.text("verdict").startswith("Verdict: " + evaluate_translocation("reinforcement", {}).verdict)
    assert all(r[1] == "not answered" for r in page.rows("checklist"))


def test_bad_input_refused_and_nothing_written(tmp_path: Path):
    rec = full_record()
    with pytest.raises(A2PError, match="schema_version"):
        decision_report_html({**rec, "schema_version": 2}, project="p")
    with pytest.raises(A2PError, match="dict"):
        decision_report_html(["not", "a", "record"], project="p")  # type: ignore[arg-type]
    out = tmp_path / "x.docx"
    with pytest.raises(A2PError, match="unknown format"):
        decision_report(rec, out, format="docx", project="p")  # type: ignore[arg-type]
    assert not out.exists()
    with pytest.raises(A2PError, match="is a folder"):
        decision_report(rec, tmp_path, format="html", project="p")
    with pytest.raises(A2PError, match="does not exist"):
        decision_report(rec, tmp_path / "nowhere" / "r.html", format="html", project="p")
    assert list(tmp_path.iterdir()) == []


def test_html_file_written(tmp_path: Path):
    out = decision_report(
        full_record(),
        tmp_path / "r.html",
        format="html",
        project="Lakeland fishes",
        history=HISTORY,
        generated_at=WHEN,
    )
    text = out.read_text(encoding="utf-8")
    assert text == decision_report_html(
        full_record(), project="Lakeland fishes", history=HISTORY, generated_at=WHEN
    )


def test_validated_record_renders():
    """A record as the assessment module stores it (validated: kinds added, result recomputed)."""
    from assess2plan.exsitu.assessment import validate

    rec = full_record()
    rec["dimensions"]["result"] = None
    v = validate(rec)
    assert v["dimensions"]["result"] is not None
    _, page = render(v)
    targets = {r[0]: r[1] for r in page.rows("dimension-targets")}
    ne = v["dimensions"]["result"]["ne"]
    assert targets["Effective population size (Ne)"].replace(",", "") == (
        str(int(ne)) if float(ne).is_integer() else f"{ne:.1f}".rstrip("0").rstrip(".")
    )
    assert page.text("formula") == " ".join(v["dimensions"]["result"]["formula"].split())


# -- PDF ---------------------------------------------------------------------------------------------
def pdf_text_and_pages(path: Path) -> tuple[list[str], list[np.ndarray]]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    texts, images = [], []
    for i in range(len(pdf)):
        page = pdf[i]
        texts.append(page.get_textpage().get_text_range())
        if i == 0:
            images.append(np.asarray(page.render(scale=1.0).to_pil().convert("RGB")))
    pdf.close()
    return texts, images


def flat(s: str) -> str:
    return " ".join(s.replace("\r", " ").replace("\n", " ").split())


def test_pdf_decision(tmp_path: Path):
    pytest.importorskip("pypdfium2")
    rec = full_record()
    out = decision_report(
        rec,
        tmp_path / "decision.pdf",
        project="Lakeland fishes",
        history=HISTORY,
        generated_by="ana",
        generated_at=WHEN,
    )
    assert out == tmp_path / "decision.pdf" and out.read_bytes()[:5] == b"%PDF-"
    texts, images = pdf_text_and_pages(out)
    assert len(texts) >= 1
    all_text = flat(" ".join(texts))
    assert NAME in all_text
    assert f"Roles retained: {guidelines.role('insurance_population').label}" in all_text
    assert "DRAFT" not in all_text
    assert "alert(" not in all_text.replace("alert('x')", "")  # only the escaped rationale text
    # the CR badge is drawn in its colour on the first page
    red = np.array([int(CATEGORY_COLOURS["CR"][i : i + 2], 16) for i in (1, 3, 5)])
    assert int((np.abs(images[0].astype(int) - red).max(axis=2) <= 6).sum()) > 20


def test_pdf_partial_draft(tmp_path: Path):
    pytest.importorskip("pypdfium2")
    rec = full_record()
    rec["decision"] = None
    rec["feasibility"] = []
    rec["translocation"] = {"kind": "assisted_colonisation", "answers": {}, "notes": ""}
    out = decision_report(rec, tmp_path / "draft.pdf", project="Lakeland fishes")
    texts, _ = pdf_text_and_pages(out)
    assert len(texts) >= 1
    for t in texts:  # the banner is on every page
        assert "DRAFT — no decision recorded" in flat(t)
    assert NAME in flat(" ".join(texts))


def test_workshop_report_lists_ex_situ_decisions(tmp_path):
    """The workshop report's "Ex situ assessments" section: decided ones first, role labels from the
    guidelines, open ones marked; absent frame -> "not computed"."""
    import polars as pl

    from assess2plan.examples import example_path
    from assess2plan.exsitu.guidelines import role
    from assess2plan.io import read_redlist
    from assess2plan.report import ReportData, workshop_report

    aset = read_redlist(example_path() / "download")
    rows = pl.DataFrame(
        {
            "taxon_id": ["990000013", "990000001"],
            "scientific_name": ["Kettlichthys fontinalis", "Mirrenichthys auratus"],
            "category": ["CR", "CR"],
            "steps_done": ["1 . . . .", "1 2 3 4 5"],
            "outcome": [None, "retain"],
            "roles_retained": [None, "insurance_population|biobanking"],
        }
    )
    page = workshop_report(ReportData(aset, exsitu=rows), tmp_path / "r.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="exsitu">') : page.index('<section id="events">')]
    assert section.index('data-exsitu="990000001"') < section.index('data-exsitu="990000013"')
    expected = f"roles retained: {role('insurance_population').label}, {role('biobanking').label}"
    assert expected.replace("&", "&amp;") in section
    assert "1 with ex situ roles retained, 0 with no ex situ role, 1 not decided yet" in section
    page = workshop_report(ReportData(aset), tmp_path / "r2.html").read_text(encoding="utf-8")
    assert "Ex situ assessments: not computed." in page
