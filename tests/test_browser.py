"""Browser journeys (issue 5): Playwright driving Debian's chromium against the real application,
started the way a new user starts it — the README's first command (``a2p demo``: the bundled
fictional example) and ``a2p serve`` in child processes, with their own store in a temporary folder
— logging in with the administrator password the server printed.

Screenshots of every step are kept in ``$A2P_SCREENSHOTS`` (default ``artifacts/screenshots`` at the
repository root; CI keeps them). Chromium comes from Debian (``/usr/bin/chromium``, package
``chromium``); no browser is ever downloaded. Without it the tests are skipped, except in CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli_web import start_serve

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - skipped below (failure in CI)
    expect = None

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
A2P = [sys.executable, "-c", "from assess2plan.cli import main; main()"]
PROJECT = "example"

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: browser tests need " + " and ".join(missing))
        pytest.skip("browser tests need " + " and ".join(missing))


class App:
    """The running application: its address, the administrator's log-in, a screenshot folder."""

    def __init__(self, base: str, user: str, password: str, shots: Path, env: dict) -> None:
        self.base, self.user, self.password, self.shots, self.env = base, user, password, shots, env
        self.n = 0

    def a2p(self, *args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([*A2P, *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    def shot(self, page, name: str) -> None:  # noqa: ANN001
        self.n += 1
        page.screenshot(path=str(self.shots / f"{self.n:02d}-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[App]:
    _need_browser()
    tmp = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "A2P_HOME": str(tmp / "home"), "COLUMNS": "200"}
    env.pop("A2P_DATABASE_URL", None)
    # the README's first command (after installing): the example project
    demo = subprocess.run([*A2P, "demo"], env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    proc, out = start_serve(env)
    try:
        m = re.search(r"administrator (\S+) with password (\S+)", out)
        assert m, out
        address = re.search(r"(http://\S+/)", out).group(1)
        for _ in range(200):
            try:
                urllib.request.urlopen(address + "login/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        shots = Path(os.environ.get("A2P_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        yield App(address.rstrip("/"), m.group(1), m.group(2), shots, env)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(app):  # noqa: ANN001, ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(app, browser):  # noqa: ANN001, ANN201
    """A logged-in page (the administrator printed by ``a2p serve``)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app.base + "/login/")
    pg.get_by_label("User name").fill(app.user)
    pg.get_by_label("Password").fill(app.password)
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(app.base + "/")
    yield pg
    context.close()


def test_log_in(app, browser):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(app.base + f"/p/{PROJECT}/")
    assert "/login/" in pg.url  # pages need a log-in
    pg.get_by_label("User name").fill(app.user)
    pg.get_by_label("Password").fill("not the password")
    pg.get_by_role("button", name="Log in").click()
    expect(pg.get_by_role("alert")).to_be_visible()
    app.shot(pg, "login-refused")
    pg.get_by_label("User name").fill(app.user)
    pg.get_by_label("Password").fill(app.password)
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(re.compile(rf".*/p/{PROJECT}/$"))  # back where the user wanted to go
    expect(pg.locator("#sheet-summary")).to_be_visible()
    app.shot(pg, "logged-in-sheet")
    context.close()


def _summary_count(pg) -> int:  # noqa: ANN001
    text = pg.locator("#sheet-summary").inner_text()
    m = re.search(r"of ([\d,]+) taxa", text) or re.search(r"([\d,]+) taxa", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def test_filter_the_sheet(app, page):
    """Type a filter, the results change in place (HTMX), the address keeps the query; a facet
    value narrows the selection; an unknown field is explained, not a crash."""
    import csv

    from assess2plan.examples import example_path

    with open(example_path() / "download" / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected_cr = len({r["internalTaxonId"] for r in rows if r["redlistCategory"] == "Critically Endangered"})
    assert expected_cr > 0
    page.goto(app.base + f"/p/{PROJECT}/")
    total = _summary_count(page)
    page.get_by_label("Filters").fill("category=CR")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*q=category%3DCR.*"))
    page.wait_for_function(f"!document.querySelector('#sheet-summary').innerText.includes('of {total} taxa')")
    assert _summary_count(page) == expected_cr
    app.shot(page, "sheet-filtered")
    page.get_by_label("Filters").fill("colour=red")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text(re.compile("unknown filter field", re.I)).first).to_be_visible()
    app.shot(page, "sheet-bad-filter")


def test_species_page(app, page):
    page.goto(app.base + f"/p/{PROJECT}/?q=category%3DCR")
    first = page.locator("#sheet-results a[href*='/species/']").first
    name = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r".*/species/\d+/$"))
    assert name in page.locator("h1").inner_text()
    expect(page.get_by_role("heading", name="Threats").first).to_be_visible()
    app.shot(page, "species")


def _json(app: App, *args: str):  # noqa: ANN202
    import json

    return json.loads(app.a2p(*args, "--format", "json").stdout)


def test_import_into_a_new_project(app, page, tmp_path):
    """Upload a download zip on the "New project" page, watch the progress, get the counts; then a
    broken zip gets the CLI's clear message and changes nothing."""
    import csv
    import zipfile

    from assess2plan.examples import example_path

    src = example_path() / "download"
    good = tmp_path / "lake-download.zip"
    with zipfile.ZipFile(good, "w") as z:
        for f in sorted(src.glob("*.csv")):
            z.write(f, f.name)
    with open(src / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        n_assessments = sum(1 for _ in csv.DictReader(fh))
    page.goto(app.base + "/")
    page.get_by_test_id("new-project-link").click()
    page.get_by_label("Project id").fill("lake2")
    page.locator("#import-files").set_input_files(str(good))
    app.shot(page, "import-form")
    page.get_by_test_id("new-project-submit").click()
    expect(page.get_by_test_id("import-job")).to_have_attribute("data-status", "done", timeout=120_000)
    added = page.locator("[data-testid=import-counts] tr[data-table=assessments] td[data-col=added]")
    assert int(added.inner_text().replace(",", "")) == n_assessments
    app.shot(page, "import-done")
    # the command line sees the same project
    assert len(_json(app, "species", "-p", "lake2")) > 0
    # a broken file: the assessment id of one row blanked
    bad = tmp_path / "broken-download.zip"
    with zipfile.ZipFile(bad, "w") as z:
        for f in sorted(src.glob("*.csv")):
            text = f.read_text(encoding="utf-8-sig")
            if f.name == "assessments.csv":
                lines = text.splitlines()
                header = next(csv.reader([lines[0]]))
                row = next(csv.reader([lines[2]]))
                row[header.index("assessmentId")] = ""
                import io

                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(row)
                lines[2] = buf.getvalue().rstrip("\n")
                text = "\n".join(lines) + "\n"
            z.writestr(f.name, text)
    before = _json(app, "species", "-p", PROJECT)
    page.goto(app.base + f"/p/{PROJECT}/imports/")
    page.locator("#import-files").set_input_files(str(bad))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-job")).to_have_attribute("data-status", "failed", timeout=120_000)
    message = page.get_by_test_id("import-error").inner_text()
    assert "broken-download.zip" in message and "assessments.csv" in message and "row 2" in message, message
    assert "Traceback" not in page.content()
    app.shot(page, "import-failed")
    assert _json(app, "species", "-p", PROJECT) == before  # nothing changed


def test_fix_findings_in_bulk(app, page):
    """Select every fixable "major threat without an action" finding shown, give a reason, apply:
    the actions are stored (the CLI's edit log says who and why) and those findings are gone."""
    rule = "major_threat_no_action"
    findings = [f for f in _json(app, "check", "-p", PROJECT, "--rule", rule)]
    assert findings, "the example has findings of this rule"
    page.goto(app.base + f"/p/{PROJECT}/findings/?rule={rule}")
    expect(page.locator("#findings-summary")).to_contain_text(f"of {len(findings)} findings")
    page.get_by_test_id("select-all-shown").check()
    page.locator("#bulk-reason").fill("workshop day 1: actions for major threats")
    app.shot(page, "findings-selected")
    page.get_by_test_id("bulk-apply").click()
    page.wait_for_load_state()
    app.shot(page, "findings-fixed")
    log = _json(app, "edit", "log", "-p", PROJECT)
    mine = [e for e in log if e.get("reason") == "workshop day 1: actions for major threats"]
    assert mine and all(e["made_by"] == app.user for e in mine), log
    after = _json(app, "check", "-p", PROJECT, "--rule", rule)
    assert len(after) < len(findings)


def test_assign_a_bucket(app, page):
    """Accept a species' planning bucket with a reason (an empty reason is refused); the decision
    is stored with who made it (``a2p triage`` shows it)."""
    page.goto(app.base + f"/p/{PROJECT}/triage/")
    row = page.locator("#triage-board tr[data-taxon][data-status=suggested]").first
    taxon, bucket = row.get_attribute("data-taxon"), row.get_attribute("data-bucket")
    row.get_by_test_id("accept").click()
    expect(page.get_by_test_id("decision-error")).to_be_visible()  # no reason given
    row = page.locator(f"#triage-board tr[data-taxon='{taxon}'][data-bucket='{bucket}']").first
    row.get_by_test_id("reason").fill("recovery plan agreed with the national authority")
    row.get_by_test_id("accept").click()
    expect(page.locator(f"#triage-board tr[data-taxon='{taxon}'][data-bucket='{bucket}']").first).to_have_attribute(
        "data-status", re.compile("accept")
    )
    app.shot(page, "triage-accepted")
    rows = [r for r in _json(app, "triage", "-p", PROJECT) if r["taxon_id"] == taxon and r["bucket"] == bucket]
    assert rows and rows[0]["decided_by"] == app.user and "accept" in rows[0]["status"]


def test_sign_up_for_an_action(app, page):
    """Add a stakeholder, sign it up for an action for one species; the commitment is listed with
    who recorded it (``a2p commit list``)."""
    page.goto(app.base + f"/p/{PROJECT}/stakeholders/")
    page.locator("#stakeholder-add summary").click()
    page.locator("#sh-id").fill("lakefund")
    page.locator("#sh-name").fill("Lake Mirren Trust")
    page.get_by_test_id("stakeholder-add").click()
    expect(page.get_by_test_id("stakeholders-table")).to_contain_text("Lake Mirren Trust")
    page.goto(app.base + f"/p/{PROJECT}/commitments/")
    page.get_by_test_id("signup-link").click()
    page.locator("#su-stakeholder").select_option("lakefund")
    page.locator("#su-action").select_option("2.1")
    page.locator("#su-taxon").fill("990000001")
    page.locator("#su-due").fill("2027-06-30")
    app.shot(page, "signup-form")
    page.get_by_test_id("signup-submit").click()
    expect(page.get_by_test_id("commitment-record")).to_contain_text("Lake Mirren Trust")
    app.shot(page, "signup-done")
    rows = _json(app, "commit", "list", "-p", PROJECT)
    mine = [r for r in rows if r["stakeholder_id"] == "lakefund"]
    assert mine and mine[0]["action_code"] == "2.1" and mine[0]["taxon_id"] == "990000001"
    assert mine[0]["updated_by"] == app.user


def test_raise_a_site_event(app, page):
    """Raise an event at a site: the species linked there (from the example's CSV, read here) are
    listed as affected and flagged for re-assessment (``a2p flags list``)."""
    import csv

    from assess2plan.examples import example_path

    with open(example_path() / "species_sites.csv", encoding="utf-8", newline="") as fh:
        linked = {r["internalTaxonId"] for r in csv.DictReader(fh) if r["site_id"] == "VL01"}
    assert linked
    page.goto(app.base + f"/p/{PROJECT}/sites/")
    page.get_by_role("link", name="VL01").first.click()
    page.wait_for_url(re.compile(r".*/sites/VL01/$"))
    page.locator("#event-title").fill("Lake Mirren: fish kill after an algal bloom")
    page.locator("#event-severity").select_option("critical")
    app.shot(page, "site-event-form")
    page.locator("#raise-event").click()
    page.wait_for_url(re.compile(r".*/events/\d+/$"))
    rows = page.locator("#affected-species tbody tr[data-taxon]")
    shown = {rows.nth(i).get_attribute("data-taxon") for i in range(rows.count())}
    assert shown == linked
    app.shot(page, "site-event-raised")
    flags = _json(app, "flags", "list", "-p", PROJECT)
    assert linked <= {f["taxon_id"] for f in flags if "algal bloom" in (f.get("reason") or "")}


def test_download_the_report(app, page, tmp_path):
    """The workshop report as PDF from the reports page: a real PDF naming the project."""
    page.goto(app.base + f"/p/{PROJECT}/reports/")
    page.locator("#report-title").fill("Lakeland workshop, day 2")
    with page.expect_download(timeout=180_000) as dl:
        page.locator("#report-pdf").click()
    path = tmp_path / "report.pdf"
    dl.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(min(len(pdf), 3)))
    assert "Lakeland workshop, day 2" in text
    page.screenshot(path=str(app.shots / "zz-reports-page.png"))
