"""Browser journey of issue 6's done-when: for a critically endangered species of the example project
a user runs the pre-screen, completes the five steps and gets the decision report — in the browser,
cross-checked through the command line on the same store.

Same set-up as tests/test_browser.py (its fixtures are reused): ``a2p demo`` and ``a2p serve`` in
child processes with their own ``A2P_HOME``, Debian's chromium driven by Playwright, the
administrator printed by the server. Screenshots go to ``$A2P_SCREENSHOTS`` (default
``artifacts/screenshots``), prefixed ``exsitu-``.
"""

from __future__ import annotations

import csv
import json
import math
import re

import pytest

from assess2plan.examples import example_path
from tests.test_browser import PROJECT, app, browser, page  # noqa: F401 - fixtures

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the fixtures skip (or fail in CI)
    expect = None

pytestmark = pytest.mark.browser

TAXON = "990000001"
NAME = "Mirrenichthys auratus"
ROOT = example_path()


def _latest_threats(taxon: str) -> list[str]:
    with open(ROOT / "download" / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["internalTaxonId"] == taxon and "Global" in r["scopes"]]
    aid = max(rows, key=lambda r: (r["yearPublished"], r["assessmentId"]))["assessmentId"]
    with open(ROOT / "download" / "threats.csv", encoding="utf-8-sig", newline="") as fh:
        return sorted({r["code"] for r in csv.DictReader(fh) if r["assessmentId"] == aid})


def _factor_ids() -> list[str]:
    import tomllib

    from assess2plan.exsitu import guidelines

    with open(guidelines.data_path("factors.toml"), "rb") as fh:
        return [f["id"] for f in tomllib.load(fh)["factor"]]


def _saved(section) -> None:  # noqa: ANN001
    """Wait for the section's "Saved ..." line (the HTMX answer has replaced it)."""
    expect(section.get_by_test_id("step-saved")).to_be_visible()


def test_exsitu_journey_prescreen_five_steps_report(app, page, tmp_path):  # noqa: F811
    import pypdfium2 as pdfium

    def shot(name: str) -> None:
        app.shot(page, f"exsitu-{name}")

    # the pre-screen, from the project navigation; the example's holdings and checklist uploaded
    page.goto(app.base + f"/p/{PROJECT}/")
    page.get_by_role("navigation", name="project").get_by_role("link", name="Ex situ").click()
    page.wait_for_url(re.compile(rf".*/p/{PROJECT}/exsitu/$"))
    page.locator("#holdings-file").set_input_files(str(ROOT / "holdings.csv"))
    page.get_by_label("replace the earlier holdings files").check()  # a2p demo may have imported it
    page.get_by_test_id("holdings-import").click()
    expect(page.get_by_test_id("exsitu-imported")).to_contain_text("holdings.csv")
    page.locator("#cites-file").set_input_files(str(ROOT / "cites_checklist.csv"))
    page.get_by_test_id("cites-import").click()
    expect(page.get_by_test_id("exsitu-imported")).to_contain_text("cites_checklist.csv")
    row = page.get_by_test_id(f"prescreen-row-{TAXON}")
    expect(row).to_contain_text(NAME)
    reasons = page.get_by_test_id(f"prescreen-reasons-{TAXON}").inner_text()
    assert "critically endangered" in reasons.lower(), reasons
    expect(row).to_contain_text("ex_situ_holdings")  # the uploaded holdings count
    page.get_by_test_id("exsitu-rules").locator("summary").click()
    expect(page.get_by_test_id("exsitu-rules-table")).to_be_visible()
    shot("prescreen")

    # start the assessment: step 1 pre-filled from the data
    page.get_by_test_id(f"start-{TAXON}").click()
    page.wait_for_url(re.compile(rf".*/exsitu/{TAXON}/$"))
    expect(page.locator("h1")).to_contain_text(NAME)
    threats = _latest_threats(TAXON)
    for code in threats:
        expect(page.get_by_test_id("status-threats")).to_contain_text(code)
    expect(page.get_by_test_id("status-cites")).to_contain_text("Appendix I")
    expect(page.get_by_test_id("exsitu-version")).to_have_text("version 1")

    # step 1: the assessors' summary
    step = page.get_by_test_id("step-status")
    step.get_by_label("Summary of the in situ status").fill("Lake Mirren only; declining since 2011.")
    step.get_by_test_id("save-status").click()
    _saved(step)
    expect(page.get_by_test_id("exsitu-version")).to_have_text("version 2")

    # step 2: one role, linked to the first threat, with its rationale
    step = page.get_by_test_id("step-roles")
    step.locator("#role-insurance_population-considered").check()
    step.locator(f'select[name="role__insurance_population__threat__{threats[0]}"]').select_option(
        "buys_time"
    )
    step.locator("#role-insurance_population-rationale").fill("The perch cannot be removed within ten years.")
    step.get_by_test_id("save-roles").click()
    _saved(step)
    shot("roles")

    # step 3: programme dimensions; the target appears with its formula
    step = page.get_by_test_id("step-dimensions")
    step.get_by_label("Generation length (years)").fill("3")
    step.get_by_label("Ne/N ratio").fill("0.3")
    step.get_by_test_id("save-dimensions").click()
    _saved(step)
    t = 100 / 3
    ne = math.ceil(1 / (2 * (1 - (0.9 / (1 - 1 / 40)) ** (1 / t))))
    n = math.ceil(ne / 0.3)
    expect(page.get_by_test_id("popsize-target")).to_contain_text(f"Ne = {ne}, N = {n} individuals")
    expect(page.get_by_test_id("popsize-formula")).to_contain_text("GD(t)")
    shot("dimensions")

    # step 4: every factor scored with a rationale
    step = page.get_by_test_id("step-feasibility")
    factors = _factor_ids()
    for i, f in enumerate(factors):
        step.locator(f"#score-{f}").select_option(str(1 + i % 5))
        step.locator(f"#rationale-{f}").fill(f"Workshop view on {f}.")
    step.get_by_test_id("save-feasibility").click()
    _saved(step)
    expect(page.get_by_test_id("progress-feasibility")).to_contain_text("✓")

    # step 5: the decision (the role of step 2 is offered, the section having been refreshed)
    step = page.get_by_test_id("step-decision")
    step.locator("#outcome-retain").check()
    step.locator("#retain-insurance_population").check()
    rationale = "Insurance population at two aquaria while the perch is controlled."
    step.get_by_label(re.compile("^Rationale")).fill(rationale)
    step.get_by_test_id("save-decision").click()
    _saved(step)
    expect(page.get_by_test_id("decision-recorded")).to_contain_text(f"Decided by {app.user}")
    for s in ("status", "roles", "dimensions", "feasibility", "decision"):
        expect(page.get_by_test_id(f"progress-{s}")).to_contain_text("✓")
    expect(page.get_by_test_id("exsitu-version")).to_have_text("version 6")
    expect(page.get_by_test_id("exsitu-history")).to_contain_text("5. Decision")
    assert "Traceback" not in page.content()
    shot("decided")

    # the decision report, downloaded and opened
    with page.expect_download() as info:
        page.get_by_test_id("report-pdf").click()
    pdf = tmp_path / "decision.pdf"
    info.value.save_as(pdf)
    doc = pdfium.PdfDocument(str(pdf))
    text = re.sub(r"\s+", " ", " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))))
    assert NAME in text and "Insurance population at two aquaria" in text, text[:2000]

    # the command line reads the same decision from the same store
    shown = json.loads(app.a2p("exsitu", "show", TAXON, "--format", "json", "-p", PROJECT).stdout)
    rec = shown["record"]
    assert shown["version"] == 6
    assert rec["decision"]["outcome"] == "retain" and rec["decision"]["roles"] == ["insurance_population"]
    assert rec["decision"]["decided_by"] == app.user and rec["decision"]["rationale"] == rationale
    assert rec["roles"][0]["threats"] == [{"code": threats[0], "link": "buys_time"}]
    assert (rec["dimensions"]["result"]["ne"], rec["dimensions"]["result"]["n"]) == (ne, n)
    assert [s["factor"] for s in rec["feasibility"]] == factors
    assert rec["status"]["in_situ_summary"] == "Lake Mirren only; declining since 2011."
    assert rec["status"]["holdings"]["total"] > 0


def _other_cr_taxon() -> str:
    with open(ROOT / "download" / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        ids = sorted(
            r["internalTaxonId"]
            for r in csv.DictReader(fh)
            if r["redlistCategory"] == "Critically Endangered" and r["internalTaxonId"] != TAXON
        )
    assert ids, "the example has more than one CR species"
    return ids[0]


def test_exsitu_stale_page_is_refused_in_the_browser(app, browser, page):  # noqa: F811
    """Started from the command line, open in two browser windows: the second window's save after
    the first window's is refused (409) with the reason, its steps are shown again from the saved
    version, and its next save goes through."""
    taxon = _other_cr_taxon()
    app.a2p("exsitu", "start", taxon, "-p", PROJECT, "--user", "cli-user")
    url = app.base + f"/p/{PROJECT}/exsitu/{taxon}/"
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    second = other.new_page()
    second.set_default_timeout(30_000)
    second.goto(app.base + "/login/")
    second.get_by_label("User name").fill(app.user)
    second.get_by_label("Password").fill(app.password)
    second.get_by_role("button", name="Log in").click()
    second.wait_for_url(app.base + "/")
    page.goto(url)
    second.goto(url)
    expect(second.get_by_test_id("exsitu-version")).to_have_text("version 1")
    step = page.get_by_test_id("step-status")
    step.get_by_label("Notes").fill("first window")
    step.get_by_test_id("save-status").click()
    _saved(step)
    # the second window still shows version 1
    step2 = second.get_by_test_id("step-dimensions")
    step2.get_by_label("Generation length (years)").fill("4")
    step2.get_by_label("Ne/N ratio").fill("0.25")
    step2.get_by_test_id("save-dimensions").click()
    error = second.get_by_test_id("step-dimensions").get_by_test_id("step-error")
    expect(error).to_contain_text("saved this assessment meanwhile")
    expect(second.get_by_test_id("exsitu-version")).to_have_text("version 2")
    expect(second.locator("#status-notes")).to_have_value("first window")  # the saved version shown
    app.shot(second, "exsitu-conflict")
    shown = json.loads(app.a2p("exsitu", "show", taxon, "--format", "json", "-p", PROJECT).stdout)
    assert shown["version"] == 2 and shown["record"]["dimensions"]["generation_length"] is None
    # made again on the saved version: saved
    step2 = second.get_by_test_id("step-dimensions")
    step2.get_by_label("Generation length (years)").fill("4")
    step2.get_by_label("Ne/N ratio").fill("0.25")
    step2.get_by_test_id("save-dimensions").click()
    _saved(step2)
    expect(second.get_by_test_id("popsize-target")).to_contain_text("Ne =")
    shown = json.loads(app.a2p("exsitu", "show", taxon, "--format", "json", "-p", PROJECT).stdout)
    assert shown["version"] == 3 and shown["record"]["dimensions"]["generation_length"] == 4
    assert shown["record"]["status"]["notes"] == "first window"
    other.close()
