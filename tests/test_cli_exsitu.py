"""The issue 6 done-when from the CLI: for a critically endangered species of the example project a
user runs the pre-screen, completes the five steps and gets the decision report. Real subprocesses
on a real SQLite store; the example's fictional holdings and CITES checklist are imported."""

from __future__ import annotations

import csv
import json
import math

import pypdfium2 as pdfium

from assess2plan.examples import example_path
from tests.test_cli import a2p, home  # noqa: F401 - fixture

ROOT = example_path()
TAXON = "990000001"  # Mirrenichthys auratus


def _cr_taxa() -> set[str]:
    with open(ROOT / "download" / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        return {
            r["internalTaxonId"]
            for r in csv.DictReader(fh)
            if r["redlistCategory"] == "Critically Endangered"
        }


def _factors(home) -> list[str]:  # noqa: F811
    return [r["factor"] for r in json.loads(a2p("exsitu", "factors", "--format", "json", home=home).stdout)]


def test_prescreen_five_steps_and_report(home, tmp_path):  # noqa: F811
    out = a2p("demo", home=home).stdout  # imports the example's holdings and CITES checklist too
    assert "Ex situ holdings" in out and "CITES checklist" in out
    assert "Ex situ holdings" not in a2p("demo", home=home).stdout  # the same files are not imported twice
    again = a2p(
        "exsitu", "holdings", "import", str(ROOT / "holdings.csv"), "-p", "example", home=home, check=False
    )
    assert again.returncode == 1 and "already imported" in again.stderr
    covered = json.loads(
        a2p("exsitu", "cites", "list", "-p", "example", "--format", "json", home=home).stdout
    )
    assert {r["taxon_id"]: r["listing"] for r in covered}[TAXON] == "I"  # its own listing, not the genus II
    flagged = json.loads(a2p("exsitu", "prescreen", "-p", "example", "--format", "json", home=home).stdout)
    by_taxon = {r["taxon_id"]: r for r in flagged}
    assert _cr_taxa() <= set(by_taxon)
    assert "critically endangered" in str(by_taxon[TAXON]["reasons"]).lower()

    out = a2p("exsitu", "start", TAXON, "-p", "example", "--user", "ana", home=home).stdout
    assert "Mirrenichthys auratus" in out
    run = ("-p", "example", "--user", "ana")
    a2p("exsitu", "notes", TAXON, "--in-situ", "Lake Mirren only; declining.", *run, home=home)
    a2p(
        "exsitu",
        "role",
        TAXON,
        "insurance_population",
        "--threat",
        "8.1.2:buys_time",
        "--rationale",
        "The introduced perch cannot be removed within ten years.",
        *run,
        home=home,
    )
    out = a2p("exsitu", "size", TAXON, "--generation-length", "3", "--ne-n", "0.3", *run, home=home).stdout
    assert "Ne =" in out and "N =" in out
    for i, f in enumerate(_factors(home)):
        a2p("exsitu", "score", TAXON, f, str(1 + i % 5), "--rationale", f"scored {f}", *run, home=home)
    a2p(
        "exsitu",
        "decide",
        TAXON,
        "--retain",
        "insurance_population",
        "--rationale",
        "Insurance population at two aquaria",
        "-p",
        "example",
        "--user",
        "fac",
        home=home,
    )

    shown = json.loads(a2p("exsitu", "show", TAXON, "-p", "example", "--format", "json", home=home).stdout)
    rec = shown["record"]
    assert rec["decision"]["outcome"] == "retain" and rec["decision"]["decided_by"] == "fac"
    assert rec["roles"][0]["threats"] == [{"code": "8.1.2", "link": "buys_time"}]
    assert rec["status"]["in_situ_summary"] == "Lake Mirren only; declining."
    assert shown["version"] == 1 + 3 + len(_factors(home)) + 1
    listed = json.loads(a2p("exsitu", "list", "-p", "example", "--format", "json", home=home).stdout)
    assert listed[0]["steps_done"] == "1 2 3 4 5"

    pdf = tmp_path / "decision.pdf"
    a2p("exsitu", "report", TAXON, "-p", "example", "--out", str(pdf), home=home)
    doc = pdfium.PdfDocument(str(pdf))
    text = " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Mirrenichthys auratus" in text and "Insurance population at two aquaria" in text
    html = tmp_path / "decision.html"
    a2p("exsitu", "report", TAXON, "-p", "example", "--out", str(html), home=home)
    assert "Insurance population at two aquaria" in html.read_text(encoding="utf-8")


def test_stale_version_and_bad_input_change_nothing(home):  # noqa: F811
    a2p("demo", home=home)
    a2p("exsitu", "start", TAXON, "-p", "example", home=home)
    a2p("exsitu", "notes", TAXON, "--notes", "first", "-p", "example", "--user", "bo", home=home)
    stale = a2p(
        "exsitu",
        "notes",
        TAXON,
        "--notes",
        "second",
        "--version",
        "1",
        "-p",
        "example",
        home=home,
        check=False,
    )
    assert stale.returncode != 0 and "bo" in stale.stderr and "Traceback" not in stale.stderr
    bad = a2p(
        "exsitu",
        "score",
        TAXON,
        "husbandry",
        "7",
        "--rationale",
        "x",
        "-p",
        "example",
        home=home,
        check=False,
    )
    assert bad.returncode == 2 and "1 to 5" in bad.stderr and "Traceback" not in bad.stderr
    bad = a2p(
        "exsitu",
        "role",
        TAXON,
        "insurance_population",
        "--threat",
        "1.1:buys_time",
        "-p",
        "example",
        home=home,
        check=False,
    )
    assert bad.returncode == 2 and "'1.1'" in bad.stderr
    bad = a2p("exsitu", "decide", TAXON, "--none", "--rationale", "", "-p", "example", home=home, check=False)
    assert bad.returncode == 2 and "rationale" in bad.stderr
    shown = json.loads(a2p("exsitu", "show", TAXON, "-p", "example", "--format", "json", home=home).stdout)
    assert shown["version"] == 2 and shown["record"]["status"]["notes"] == "first"
    bad = a2p(
        "exsitu",
        "holdings",
        "import",
        str(ROOT / "download" / "taxonomy.csv"),
        "-p",
        "example",
        home=home,
        check=False,
    )
    assert bad.returncode == 2 and "taxonomy.csv" in bad.stderr and "Traceback" not in bad.stderr


def test_popsize_calculator(home):  # noqa: F811
    out = a2p("exsitu", "popsize", "--generation-length", "5", "--ne-n", "0.25", home=home).stdout
    # 100 years / 5 = 20 generations; 20 founders keep 1 - 1/40 = 0.975 of the gene diversity, so
    # drift may take (0.9 / 0.975)^(1/20) per generation = 1 - 1/(2 Ne); N = Ne / 0.25
    ne = math.ceil(1 / (2 * (1 - (0.9 / 0.975) ** (1 / 20))))
    assert "20.00 generations" in out
    assert f"Ne = {ne}, N = {math.ceil(ne / 0.25)} animals" in out


def test_a_whole_step_from_a_json_file(home, tmp_path):  # noqa: F811
    a2p("demo", home=home)
    a2p("exsitu", "start", TAXON, "-p", "example", home=home)
    bad = tmp_path / "roles.json"
    bad.write_text("[{'role': 'research'}]", encoding="utf-8")  # single quotes: not JSON
    out = a2p("exsitu", "step", TAXON, "roles", str(bad), "-p", "example", home=home, check=False)
    assert out.returncode == 2 and "roles.json" in out.stderr and "not JSON" in out.stderr
    bad.write_text(
        '[{"role": "research", "threats": [{"code": "9.3.1", "link": "cures"}]}]', encoding="utf-8"
    )
    out = a2p("exsitu", "step", TAXON, "roles", str(bad), "-p", "example", home=home, check=False)
    assert out.returncode == 2 and "roles[0].threats[0].link" in out.stderr and "'cures'" in out.stderr
    good = tmp_path / "decision.json"
    good.write_text('{"outcome": "none", "roles": [], "rationale": "in situ first"}', encoding="utf-8")
    a2p("exsitu", "step", TAXON, "decision", str(good), "-p", "example", "--user", "fac", home=home)
    shown = json.loads(a2p("exsitu", "show", TAXON, "-p", "example", "--format", "json", home=home).stdout)
    assert shown["version"] == 2
    assert (
        shown["record"]["decision"]["outcome"] == "none"
        and shown["record"]["decision"]["decided_by"] == "fac"
    )
    hist = json.loads(a2p("exsitu", "history", TAXON, "-p", "example", "--format", "json", home=home).stdout)
    assert [(h["step"], h["note"]) for h in hist][-1] == ("decision", "from decision.json")
