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
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    proc = subprocess.Popen(
        [*A2P, "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out = ""
        while "Ctrl+C" not in out:
            line = proc.stdout.readline()
            assert line, f"server stopped: {out}"
            out += line
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
