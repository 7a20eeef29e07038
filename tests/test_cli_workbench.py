"""The workshop workflow with the CLI alone, on every real set: download -> sheet, findings,
edits, workbook and a SIS Connect file of the fixes (real subprocesses on a real SQLite store)."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.test_cli import a2p

THREATENED = {"Critically Endangered", "Endangered", "Vulnerable"}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _api_files() -> list[str]:
    base = shared_path("redlist-api-v4")
    out = []
    for f in sorted(base.glob("*/*.json")):
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        body = obj.get("assessment", obj) if isinstance(obj, dict) else None
        if isinstance(body, dict) and "assessment_id" in body and "taxon" in body:
            out.append(str(f))
    return out


def _sets():
    return {
        "pacific": lambda: [str(shared_path("redlist-download", "pacific-marine"))],
        "pacific-both": lambda: [
            str(shared_path("redlist-download", "pacific-marine")),
            str(shared_path("redlist-download", "pacific-marine-eastcentral")),
        ],
        "sis-connect": lambda: [str(shared_path("sis-connect", "kew-saba"))],
        "api-v4": _api_files,
    }


@pytest.mark.parametrize("name", list(_sets()))
def test_download_to_workbook_findings_and_sis_connect_fixes(name, home, tmp_path):
    paths = _sets()[name]()
    assert paths
    a2p("import", *paths, "-p", "ws", home=home)

    # the planning sheet of the threatened species, as CSV
    a2p("sheet", "category=CR,EN,VU", "-p", "ws", "--format", "csv", "-o", str(tmp_path / "sheet.csv"), home=home)
    sheet = _csv(tmp_path / "sheet.csv")
    assert sheet and all(r["category"] in ("CR", "EN", "VU") for r in sheet)
    facets = json.loads(a2p("sheet", "-p", "ws", "--facets", "category", "--format", "json", home=home).stdout)
    assert sum(f["taxa"] for f in facets if f["value"] in ("CR", "EN", "VU")) == len(sheet)

    # findings
    a2p("check", "-p", "ws", "--today", "2026-11-21", "--format", "csv", "-o", str(tmp_path / "findings.csv"), home=home)
    findings = _csv(tmp_path / "findings.csv")
    as_json = json.loads(a2p("check", "-p", "ws", "--today", "2026-11-21", "--format", "json", home=home).stdout)
    assert len(findings) == len(as_json) > 0
    assert {"rule", "severity", "taxon_id", "message", "suggested_fix"} <= set(findings[0])
    no_action = {r["taxon_id"] for r in findings if r["rule"] == "threatened_no_action"}
    sheet_no_action = {r["taxon_id"] for r in sheet if not r["actions_needed"]}
    assert no_action == sheet_no_action

    # fix: add an action needed that some threatened species lack (those without any first)
    target = "action_needed=none" if sheet_no_action else "category=CR,EN,VU"
    code = next(
        c for c in ("2.1", "1.1", "3.1.1", "5.1.2", "6.1", "2.3")
        if any(c not in r["actions_needed"].split("|") for r in sheet)
    )
    a2p(
        "edit", "add", code, "category=CR,EN,VU", target, "-p", "ws",
        "--note", "Agreed at the workshop", "--reason", "review day 1", "--user", "facilitator", "-y",
        home=home,
    )
    log = json.loads(a2p("edit", "log", "-p", "ws", "--format", "json", home=home).stdout)
    assert len(log) == 1 and log[0]["made_by"] == "facilitator" and log[0]["reason"] == "review day 1"
    edited = json.loads(a2p("edit", "log", "-p", "ws", "--details", "--format", "json", home=home).stdout)
    edited_taxa = {r["taxon_id"] for r in edited}
    assert edited_taxa and all(code in r["after"].split("|") for r in edited)

    # the SIS Connect file of the fixes holds exactly the edited taxa, with the new action
    out = tmp_path / "sis"
    a2p("export", "-p", "ws", "--format", "sis-connect", "-o", str(out), home=home)
    rows = _csv(out / "conservationneeded.csv")
    code_col = "ConservationActions.ConservationActionsSubfield.ConservationActionsLookup"
    assert {r["internal_taxon_id"] for r in rows} == edited_taxa
    assert {r["internal_taxon_id"] for r in rows if r[code_col] == code} == edited_taxa

    # the workbook
    wb = tmp_path / "workshop.xlsx"
    a2p("export", "-p", "ws", "--format", "xlsx", "-o", str(wb), "--today", "2026-11-21", home=home)
    with zipfile.ZipFile(wb) as z:
        assert z.testzip() is None
        assert sum(1 for n in z.namelist() if n.startswith("xl/worksheets/sheet")) >= 5
    refused = a2p("export", "-p", "ws", "--format", "xlsx", "-o", str(wb), home=home, check=False)
    assert refused.returncode == 1 and "exists" in refused.stderr

    # undo puts everything back, and the export then has nothing to say
    a2p("edit", "undo", str(log[0]["id"]), "-p", "ws", "--reason", "changed our minds", home=home)
    again = a2p("export", "-p", "ws", "--format", "sis-connect", "-o", str(tmp_path / "sis2"), home=home, check=False)
    assert again.returncode == 1 and "no edited species" in again.stderr


def test_workbench_commands_refuse_bad_input_clearly(home, tmp_path):
    a2p("demo", home=home)
    for args, words in [
        (["sheet", "-p", "example", "colour=red"], "unknown filter field 'colour'"),
        (["sheet", "-p", "example", "year=soon"], "whole numbers"),
        (["sheet", "-p", "nope"], "no project 'nope'"),
        (["check", "-p", "example", "--rule", "no_such_rule"], "no_such_rule"),
        (["check", "-p", "example", "--today", "yesterday"], "not a date"),
        (["edit", "add", "2.1", "category=CR", "-p", "example", "-y"], "--reason"),
        (["edit", "add", "99.1", "category=CR", "-p", "example", "--reason", "x", "-y"], "not in the conservation actions scheme"),
        (["edit", "undo", "42", "-p", "example"], "no edit 42"),
        (["export", "-p", "example", "--format", "pdf", "-o", str(tmp_path / "x")], "unknown export format"),
    ]:
        proc = a2p(*args, home=home, check=False)
        assert proc.returncode in (1, 2), (args, proc.stdout, proc.stderr)
        assert words in " ".join(proc.stderr.split()), (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_sheet_search_sort_and_columns_on_the_example(home):
    a2p("demo", home=home)
    out = a2p(
        "sheet", "category=CR,EN,VU", "-p", "example", "--sort", "category,-year", "--format", "json", home=home
    ).stdout
    rows = json.loads(out)
    order = {"CR": 0, "EN": 1, "VU": 2}
    assert [order[r["category"]] for r in rows] == sorted(order[r["category"]] for r in rows)
    assert isinstance(rows[0]["threats"], list)
    fields = a2p("sheet", "--fields", "--format", "json", home=home).stdout
    assert "major_threat" in fields
