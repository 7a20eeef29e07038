"""The plan pages of the web application (issue 5): dashboard (counts, charts, offline map), sites
(add, edit with optimistic locking, link / unlink species, raise an event), events (affected species,
re-assessment flags, notifications, retry, subscriptions) and reports (workshop report PDF / HTML,
datasheets, workbook, findings CSV), with sensitive locations hidden from users who may not see them.

Runs on the bundled fictional lakeland example with its sites, imported as ``a2p demo`` does; page
contents are cross-checked against the example's CSV files read with the ``csv`` module."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import zipfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from django.test import Client

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
PROJECT = "lakeland"
ROOT = example_path()
SECRET_TAXON = "990000002"  # Mirrenichthys nigrofasciatus, linked to VL01 only
SECRET_NAME = "Mirrenichthys nigrofasciatus"
SECRET_SITE = "VL02"  # Lake Oskar, -31.874 / -96.035
CATEGORY_CODES = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Extinct in the Wild": "EW",
    "Extinct": "EX",
    "Lower Risk/near threatened": "LR/nt",
}


# -- fixtures and independent readings of the example files ------------------------------------------
def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def csv_links() -> dict[str, set[str]]:
    """site_id -> taxon ids, from species_sites.csv."""
    out: dict[str, set[str]] = {}
    for r in _csv(ROOT / "species_sites.csv"):
        out.setdefault(r["site_id"], set()).add(r["internalTaxonId"])
    return out


def _impact_score(timing: str, scope: str, severity: str) -> int:
    """IUCN threat impact score (timing + scope + severity; 6-7 Medium, 8-9 High)."""
    t = {"Ongoing": 3, "Future": 1, "Past, Likely to Return": 20, "Past, Unlikely to Return": 30}
    sc = {"Whole (>90%)": 3, "Majority (50-90%)": 2, "Minority (<50%)": 1}
    sv = {
        "Very Rapid Declines": 3,
        "Rapid Declines": 2,
        "Slow, Significant Declines": 1,
        "Causing/Could cause fluctuations": 1,
    }
    if "Unknown" in (timing, scope, severity):
        return -1
    return t.get(timing, 0) + sc.get(scope, 0) + sv.get(severity, 0)


def csv_assessments() -> list[dict[str, str]]:
    return _csv(ROOT / "download" / "assessments.csv")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are made and logged in for every test: a fast hasher keeps that cheap (test only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from assess2plan.web.app import derived

    cache.clear()
    derived.forget()
    yield
    cache.clear()
    derived.forget()


@pytest.fixture
def lakeland():
    store.import_set(read_redlist(ROOT / "download"), project=PROJECT)
    store.import_sites(PROJECT, ROOT / "sites.csv", user="demo")
    store.import_site_links(PROJECT, ROOT / "species_sites.csv", user="demo")
    from assess2plan.web.store.models import Project

    return Project.objects.get(slug=PROJECT)


def _client(
    name: str,
    project=None,
    role: str | None = None,
    *,
    sees_sensitive: bool = False,  # noqa: ANN001
) -> Client:
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    User.objects.create_user(name, password=PASSWORD)
    if project is not None and role:
        ProjectMembership.objects.create(
            user=User.objects.get(username=name), project=project, role=role, sees_sensitive=sees_sensitive
        )
    c = Client()
    assert c.login(username=name, password=PASSWORD)
    return c


@pytest.fixture
def clients(lakeland):
    return {
        "viewer": _client("vera", lakeland, "viewer"),
        "assessor": _client("ana", lakeland, "assessor"),
        "facilitator": _client("fay", lakeland, "facilitator"),
        "admin": _client("adam", lakeland, "admin"),
        "stranger": _client("olga"),
    }


def _url(*parts: str) -> str:
    return f"/p/{PROJECT}/" + "".join(f"{p}/" for p in parts)


def _html(resp) -> str:  # noqa: ANN001
    return resp.content.decode()


def _rows(html: str, attribute: str) -> dict[str, str]:
    """{value: row html} of the table rows carrying ``attribute``."""
    return {
        m.group(1): m.group(0) for m in re.finditer(rf'<tr {attribute}="([^"]+)"[^>]*>.*?</tr>', html, re.S)
    }


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _raise(client: Client, site: str = "VL01", **data) -> tuple[str, str]:  # noqa: ANN003
    """Raise an event through the page; (event id, event page html)."""
    r = client.post(_url("sites", site, "event"), {"title": "Dam breach", "severity": "critical", **data})
    assert r.status_code == 302, _html(r)[:2000]
    m = re.fullmatch(rf"/p/{PROJECT}/events/(\d+)/", r["Location"])
    assert m, r["Location"]
    page = client.get(r["Location"])
    assert page.status_code == 200
    return m.group(1), _html(page)


# -- permissions --------------------------------------------------------------------------------------
def test_every_role_reads_and_only_facilitators_write(clients, lakeland):
    eid, _ = _raise(clients["facilitator"])
    pages = [
        _url("dashboard"),
        _url("dashboard") + "map.json",
        _url("sites"),
        _url("sites", "VL01"),
        _url("events"),
        _url("events", eid),
        _url("reports"),
        _url("reports") + "findings.csv",
    ]
    for role in ("viewer", "assessor", "facilitator", "admin"):
        for url in pages:
            assert clients[role].get(url).status_code == 200, (role, url)
    for url in pages + [_url("sites", "VL01", "edit")]:
        assert clients["stranger"].get(url).status_code == 404, url
    assert Client().get(_url("dashboard")).status_code == 302  # not logged in: to the log-in page
    assert clients["viewer"].get("/p/nosuchproject/dashboard/").status_code == 404

    writes = [
        (_url("sites"), {"site_id": "VL99", "name": "New pond"}),
        (_url("sites", "VL01", "edit"), {"version": "1", "name": "Renamed"}),
        (_url("sites", "VL01", "link"), {"taxa": "990000040"}),
        (_url("sites", "VL01", "unlink"), {"taxa": "990000001"}),
        (_url("sites", "VL01", "event"), {"title": "Flood"}),
        (_url("events", eid, "retry"), {}),
        (_url("events", "subscriptions", "add"), {"channel": "email", "target": "a@example.org"}),
    ]
    links_before = store.site_links(PROJECT).height
    for role in ("viewer", "assessor"):
        for url, data in writes:
            assert clients[role].post(url, data).status_code == 403, (role, url)
        assert clients[role].get(_url("sites", "VL01", "edit")).status_code == 403
    for url, data in writes:
        assert clients["stranger"].post(url, data).status_code == 404, url
    # nothing was written by the refused requests
    assert store.get_site(PROJECT, "VL01")["version"] == 1
    assert store.site_links(PROJECT).height == links_before
    assert store.list_events(PROJECT).height == 1
    assert store.list_subscriptions(PROJECT).height == 0
    with pytest.raises(Exception, match="no site"):
        store.get_site(PROJECT, "VL99")
    # facilitators and admins may write
    assert clients["facilitator"].post(writes[0][0], writes[0][1]).status_code == 302
    assert clients["admin"].post(_url("sites"), {"site_id": "VL98", "name": "Admin pond"}).status_code == 302
    assert {"VL99", "VL98"} <= set(store.list_sites(PROJECT)["site_id"].to_list())
    assert store.get_site(PROJECT, "VL99")["made_by"] == "fay"


# -- dashboard ------------------------------------------------------------------------------------------
def test_dashboard_counts_and_charts_match_the_files(clients):
    html = _html(clients["viewer"].get(_url("dashboard")))
    counts = dict(re.findall(r'<li data-count="(\w+)">.*?<span class="n">(\d+)</span>', html, re.S))
    rows = csv_assessments()
    global_rows = [r for r in rows if "Global" in (r.get("scopes") or "Global")]
    per_cat = Counter(CATEGORY_CODES[r["redlistCategory"]] for r in global_rows)
    assert int(counts["species"]) == len({r["internalTaxonId"] for r in global_rows}) == 40
    assert int(counts["assessments"]) == len(rows)
    assert int(counts["threatened"]) == per_cat["CR"] + per_cat["EN"] + per_cat["VU"]
    assert int(counts["sites"]) == len(_csv(ROOT / "sites.csv"))
    assert (int(counts["events"]), int(counts["flags"]), int(counts["open_commitments"])) == (0, 0, 0)
    from assess2plan.checks import check_frame

    assert int(counts["findings"]) == check_frame(read_redlist(ROOT / "download")).height
    # category bars in IUCN colours, one per category with its number of species
    from assess2plan.report import CATEGORY_COLOURS

    chart = re.search(r'id="chart-categories">(.*?)</table>', html, re.S).group(1)
    bars = re.findall(
        r'<tr data-code="([^"]+)" data-value="(\d+)">.*?background: (#[0-9a-f]{6})', chart, re.S
    )
    assert {c: int(n) for c, n, _ in bars} == dict(per_cat)
    assert all(colour == CATEGORY_COLOURS[c] for c, _, colour in bars)
    # major threats: species with a Medium/High impact threat per level-1 class, from threats.csv
    latest = {r["assessmentId"] for r in global_rows}
    major: dict[str, set[str]] = {}
    for t in _csv(ROOT / "download" / "threats.csv"):
        if t["assessmentId"] in latest and 6 <= _impact_score(t["timing"], t["scope"], t["severity"]) <= 9:
            major.setdefault(t["code"].split(".")[0], set()).add(t["internalTaxonId"])
    chart = re.search(r'id="chart-threats">(.*?)</table>', html, re.S).group(1)
    shown = {c: int(n) for c, n in re.findall(r'<tr data-code="([^"]+)" data-value="(\d+)">', chart)}
    want = dict(sorted(((c, len(v)) for c, v in major.items()), key=lambda kv: -kv[1])[:12])
    assert shown == want
    # the map and its no-JavaScript tables
    assert 'data-a2p-map data-source="dashboard-map-data"' in html and " hidden></div>" in html
    countries = _rows(html, "data-country")
    per_country: dict[str, set[str]] = {}
    for r in _csv(ROOT / "download" / "countries.csv"):
        if r["assessmentId"] in latest:
            per_country.setdefault(r["code"], set()).add(r["internalTaxonId"])
    assert set(countries) == set(per_country)
    for code, row in countries.items():
        assert f'<td class="num">{len(per_country[code])}</td>' in row
    sites = _rows(html, "data-site")
    assert set(sites) == {r["site_id"] for r in _csv(ROOT / "sites.csv")}
    assert "-32.412, -97.208" in sites["VL01"]


def test_dashboard_map_data_draws_countries_and_sites(clients):
    data = clients["viewer"].get(_url("dashboard") + "map.json").json()
    links = csv_links()
    feats = {f["properties"]["site_id"]: f for f in data["sites"]["features"]}
    assert set(feats) == {r["site_id"] for r in _csv(ROOT / "sites.csv")}
    assert feats["VL01"]["geometry"] == {"type": "Point", "coordinates": [-97.208, -32.412]}
    assert all(f["properties"]["species"] == len(links.get(s, ())) for s, f in feats.items())
    assert data["countries"]["XA"]["species"] > 0 and not data["countries"]["XA"]["on_map"]
    world = clients["viewer"].get(data["world_url"])
    assert world.status_code == 200 and world["Content-Type"].startswith("application/geo+json")
    doc = json.loads(world.content)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) > 200
    assert {"iso_a2", "name", "kind"} <= set(doc["features"][0]["properties"])


# -- sites ----------------------------------------------------------------------------------------------
def test_add_site_geojson_wkt_and_bad_geometry(clients):
    fac = clients["facilitator"]
    before = store.list_sites(PROJECT).height
    bad = [
        ('{"type": "Point", "coordinates": [-97.2', "is not GeoJSON"),
        ('{"type": "Point", "coordinates": [-197.2, -32.4]}', "outside longitude -180..180"),
        ("POINT (-97.2", "is neither GeoJSON nor WKT"),
        ('{"type": "Circle", "radius": 3}', "is not a GeoJSON geometry"),
    ]
    for geometry, message in bad:
        r = fac.post(_url("sites"), {"site_id": "VL20", "name": "Tarn", "kind": "lake", "geometry": geometry})
        html = _html(r)
        assert r.status_code == 400, geometry
        assert message in html and 'id="form-error"' in html and "Traceback" not in html
        assert 'value="VL20"' in html  # the form keeps what was typed
    r = fac.post(_url("sites"), {"site_id": "VL 20", "name": "Tarn"})
    assert r.status_code == 400 and "must be a short id" in _html(r)
    r = fac.post(_url("sites"), {"site_id": "VL01", "name": "Again"})
    assert r.status_code == 400 and "exists already" in _html(r)
    assert store.list_sites(PROJECT).height == before  # nothing was added
    r = fac.post(
        _url("sites"),
        {
            "site_id": "VL20",
            "name": "Tarn",
            "kind": "tarn",
            "country": "xa",
            "geometry": "POINT (-97.5 -32.75)",
        },
    )
    assert r.status_code == 302 and r["Location"] == _url("sites", "VL20")
    s = store.get_site(PROJECT, "VL20")
    assert (s["kind"], s["country"], s["version"], s["sensitive"]) == ("lake", "XA", 1, False)
    assert json.loads(s["geometry"]) == {"type": "Point", "coordinates": [-97.5, -32.75]}
    polygon = {"type": "Polygon", "coordinates": [[[-97, -32], [-96, -32], [-96, -31], [-97, -32]]]}
    r = fac.post(
        _url("sites"), {"site_id": "VL21", "name": "Fen", "geometry": json.dumps(polygon), "sensitive": "on"}
    )
    assert r.status_code == 302
    s = store.get_site(PROJECT, "VL21")
    assert s["sensitive"] and json.loads(s["geometry"])["type"] == "Polygon"
    html = _html(fac.get(_url("sites")))
    assert 'data-site="VL20"' in html and 'data-site="VL21"' in html


def test_edit_site_with_a_stale_version_is_refused(clients, lakeland):
    first, second = clients["facilitator"], _client("finn", lakeland, "facilitator")
    form1 = _html(first.get(_url("sites", "VL03", "edit")))
    form2 = _html(second.get(_url("sites", "VL03", "edit")))
    for form in (form1, form2):
        assert 'name="version" value="1"' in form and 'value="Lake Åsmund"' in form
    site = store.get_site(PROJECT, "VL03")
    data = {
        "version": "1",
        "name": "Lake Åsmund (north)",
        "kind": site["kind"],
        "country": site["country"],
        "description": "",
        "geometry": site["geometry"],
    }
    r = first.post(_url("sites", "VL03", "edit"), data)
    assert r.status_code == 302
    after = store.get_site(PROJECT, "VL03")
    assert (after["name"], after["version"], after["updated_by"]) == ("Lake Åsmund (north)", 2, "fay")
    # the second facilitator's form still says version 1: refused, nothing overwritten
    r = second.post(_url("sites", "VL03", "edit"), {**data, "name": "Lake Asmund", "description": "typo"})
    html = _html(r)
    assert r.status_code == 409
    assert "Not saved: someone changed this site meanwhile" in html and "now version 2" in html
    again = store.get_site(PROJECT, "VL03")
    assert (again["name"], again["version"], again["description"]) == ("Lake Åsmund (north)", 2, "")
    # bad input in an up-to-date form: 400 with the message, nothing changed
    r = first.post(_url("sites", "VL03", "edit"), {**data, "version": "2", "geometry": "{oops"})
    assert r.status_code == 400 and "is not GeoJSON" in _html(r)
    r = first.post(_url("sites", "VL03", "edit"), {**data, "version": "2", "country": "XAX"})
    assert r.status_code == 400 and "ISO 3166 alpha-2" in _html(r)
    r = first.post(_url("sites", "VL03", "edit"), {k: v for k, v in data.items() if k != "version"})
    assert r.status_code == 400 and "lacks the version" in _html(r)
    assert store.get_site(PROJECT, "VL03") == again
    # an up-to-date form saves
    r = second.post(_url("sites", "VL03", "edit"), {**data, "version": "2", "description": "deep lake"})
    assert r.status_code == 302 and store.get_site(PROJECT, "VL03")["version"] == 3


def test_site_page_lists_linked_species_and_links_unlinks(clients):
    links = csv_links()
    html = _html(clients["viewer"].get(_url("sites", "VL01")))
    assert set(_rows(html, "data-taxon")) == links["VL01"]
    assert 'id="site-link-form"' not in html and 'id="raise-event-form"' not in html  # viewers only read
    assert clients["viewer"].get(_url("sites", "NOPE")).status_code == 404
    fac = clients["facilitator"]
    html = _html(fac.get(_url("sites", "VL03")))
    assert 'id="site-link-form"' in html and 'id="raise-event-form"' in html
    name = next(r["scientificName"] for r in csv_assessments() if r["internalTaxonId"] == "990000001")
    r = fac.post(_url("sites", "VL03", "link"), {"taxa": f"{name}\n990000040", "note": "survey 2024"})
    assert r.status_code == 302
    now = set(store.site_links(PROJECT, site="VL03")["taxon_id"].to_list())
    assert now == links["VL03"] | {"990000001", "990000040"}
    html = _html(fac.get(_url("sites", "VL03")))
    assert set(_rows(html, "data-taxon")) == now and "survey 2024" in html
    r = fac.post(_url("sites", "VL03", "link"), {"taxa": "Nonexistus fictus"})
    assert r.status_code == 400 and "Not linked" in _html(r) and "Nonexistus fictus" in _html(r)
    r = fac.post(_url("sites", "VL03", "unlink"), {"taxa": "990000001"})
    assert r.status_code == 302
    assert set(store.site_links(PROJECT, site="VL03")["taxon_id"].to_list()) == links["VL03"] | {"990000040"}
    r = fac.post(_url("sites", "VL03", "unlink"), {"taxa": "990000001"})
    assert r.status_code == 400 and "is not linked" in _html(r)


# -- events ---------------------------------------------------------------------------------------------
def test_raise_event_lists_the_linked_species_and_flags_them(clients):
    fac = clients["facilitator"]
    port = _closed_port()
    r = fac.post(
        _url("events", "subscriptions", "add"),
        {"channel": "webhook", "target": f"http://127.0.0.1:{port}/hook", "site": "VL01"},
    )
    assert r.status_code == 302
    r = fac.post(_url("events", "subscriptions", "add"), {"channel": "email", "target": "ops@example.org"})
    assert r.status_code == 302
    assert store.list_subscriptions(PROJECT).height == 2
    linked = set(store.site_links(PROJECT, site="VL01")["taxon_id"].to_list())
    assert linked == csv_links()["VL01"]
    eid, html = _raise(fac, "VL01", description="The northern dam gave way.")
    rows = _rows(html, "data-taxon")
    assert set(rows) == linked
    assert all('data-flag="open"' in row for row in rows.values())
    flags = store.list_flags(PROJECT).filter(pl.col("event_id") == eid)
    assert set(flags["taxon_id"].to_list()) == linked
    assert all(r == "fay" for r in flags["made_by"].to_list())
    # threats and actions as recorded in the files
    threats = {
        t["code"] for t in _csv(ROOT / "download" / "threats.csv") if t["internalTaxonId"] == "990000001"
    }
    assert all(code in rows["990000001"] for code in threats)
    # notifications: the webhook could not be reached, the e-mail has no SMTP server: both failed
    deliveries = _rows(html, "data-delivery")
    assert len(deliveries) == 2 and all('data-status="failed"' in d for d in deliveries.values())
    d = store.list_deliveries(PROJECT, event_id=eid)
    hook = d.filter(pl.col("channel") == "webhook").row(0, named=True)
    assert (
        hook["attempts"] == 2
        and f'<td class="num">{hook["attempts"]}</td>' in deliveries[hook["delivery_id"]]
    )
    assert 'id="retry-deliveries"' in html
    # retry: the attempts add up
    r = fac.post(_url("events", eid, "retry"))
    assert r.status_code == 302 and r["Location"] == _url("events", eid)
    d2 = store.list_deliveries(PROJECT, event_id=eid)
    assert d2.filter(pl.col("channel") == "webhook")["attempts"][0] == 4
    # the list of events
    html = _html(clients["viewer"].get(_url("events")))
    row = _rows(html, "data-event")[eid]
    assert "Dam breach" in row and f'<td class="num">{len(linked)}</td>' in row
    assert 'id="subscriptions-table"' not in html  # viewers do not see who is subscribed
    # bad input: no title -> 400, no event
    r = fac.post(_url("sites", "VL01", "event"), {"title": " ", "severity": "warning"})
    assert r.status_code == 400 and "title" in _html(r) and "is required" in _html(r)
    r = fac.post(_url("sites", "VL01", "event"), {"title": "x", "severity": "apocalyptic"})
    assert r.status_code == 400 and "must be one of info, warning, critical" in _html(r)
    assert store.list_events(PROJECT).height == 1
    assert clients["viewer"].get(_url("events", "999")).status_code == 404


def test_subscriptions_add_and_switch_off(clients):
    fac = clients["facilitator"]
    r = fac.post(_url("events", "subscriptions", "add"), {"channel": "email", "target": "not-an-address"})
    assert r.status_code == 400 and "is not an e-mail address" in _html(r)
    r = fac.post(
        _url("events", "subscriptions", "add"),
        {"channel": "email", "target": "a@example.org", "site": "VL04"},
    )
    assert r.status_code == 302
    r = fac.post(
        _url("events", "subscriptions", "add"),
        {"channel": "email", "target": "a@example.org", "site": "VL04"},
    )
    assert r.status_code == 400 and "already subscribed" in _html(r)
    subs = store.list_subscriptions(PROJECT)
    assert subs.height == 1 and subs["site_id"][0] == "VL04"
    html = _html(fac.get(_url("events")))
    sid = subs["subscription_id"][0]
    assert "a@example.org" in _rows(html, "data-subscription")[sid]
    assert fac.post(_url("events", "subscriptions", sid, "off")).status_code == 302
    assert store.list_subscriptions(PROJECT).height == 0
    assert store.list_subscriptions(PROJECT, include_inactive=True).height == 1
    r = fac.post(_url("events", "subscriptions", sid, "off"))
    assert r.status_code == 400 and "was ended already" in _html(r)
    # an event at VL04 now notifies no one
    eid, html = _raise(fac, "VL04")
    assert store.list_deliveries(PROJECT, event_id=eid).height == 0 and "Nobody was notified" in html


# -- sensitive locations --------------------------------------------------------------------------------
def _make_sensitive() -> None:
    store.flag_sensitive(PROJECT, [SECRET_TAXON], "collectors", user="adam")
    v = store.get_site(PROJECT, SECRET_SITE)["version"]
    store.update_site(PROJECT, SECRET_SITE, expected_version=v, sensitive=True, user="adam")


def test_sensitive_taxa_and_sites_hidden_in_pages_and_map(clients, lakeland):
    _make_sensitive()
    seer = _client("sam", lakeland, "viewer", sees_sensitive=True)
    blind = clients["viewer"]
    links = csv_links()
    # the site page: the sensitive species is not listed, as if it was not linked there
    html = _html(blind.get(_url("sites", "VL01")))
    assert set(_rows(html, "data-taxon")) == links["VL01"] - {SECRET_TAXON}
    assert SECRET_NAME not in html and "western basin" not in html
    html = _html(seer.get(_url("sites", "VL01")))
    assert set(_rows(html, "data-taxon")) == links["VL01"] and SECRET_NAME in html
    # the sensitive site: its location is withheld
    html = _html(blind.get(_url("sites", SECRET_SITE)))
    assert "-96.035" not in html and "withheld" in html and 'id="site-geometry"' not in html
    html = _html(seer.get(_url("sites", SECRET_SITE)))
    assert "-96.035" in html and 'id="site-geometry"' in html
    # lists and the dashboard map
    for url in (_url("sites"), _url("dashboard")):
        html = _html(blind.get(url))
        assert "-96.035" not in html and "-31.874" not in html, url
        assert "withheld (sensitive)" in _rows(html, "data-site")[SECRET_SITE]
        assert f'<td class="num">{len(links["VL01"]) - 1}</td>' in _rows(html, "data-site")["VL01"]
        assert "-31.874" in _html(seer.get(url))
    data = blind.get(_url("dashboard") + "map.json").json()
    feats = {f["properties"]["site_id"]: f for f in data["sites"]["features"]}
    assert SECRET_SITE not in feats and data["withheld_sites"] == 1
    assert feats["VL01"]["properties"]["species"] == len(links["VL01"]) - 1
    data = seer.get(_url("dashboard") + "map.json").json()
    feats = {f["properties"]["site_id"]: f for f in data["sites"]["features"]}
    assert feats[SECRET_SITE]["geometry"]["coordinates"] == [-96.035, -31.874]
    assert feats["VL01"]["properties"]["species"] == len(links["VL01"])
    # the edit form of a facilitator without the right neither shows nor erases the geometry
    fac = clients["facilitator"]
    form = _html(fac.get(_url("sites", SECRET_SITE, "edit")))
    assert "-96.035" not in form and 'id="geometry-withheld"' in form and 'name="sensitive"' not in form
    before = store.get_site(PROJECT, SECRET_SITE)
    r = fac.post(
        _url("sites", SECRET_SITE, "edit"),
        {
            "version": str(before["version"]),
            "name": "Lake Oskar",
            "kind": "lake",
            "country": "XB",
            "description": "deep",
        },
    )
    assert r.status_code == 302
    after = store.get_site(PROJECT, SECRET_SITE)
    assert after["geometry"] == before["geometry"] and after["sensitive"] and after["description"] == "deep"
    # ... nor changes the links of the sensitive species
    r = fac.post(_url("sites", "VL03", "link"), {"taxa": SECRET_TAXON})
    assert r.status_code == 400 and "sensitive species" in _html(r)
    assert SECRET_TAXON not in store.site_links(PROJECT, site="VL03")["taxon_id"].to_list()
    # an event: the sensitive species is affected and flagged, but not shown to the viewer
    eid, _ = _raise(fac, "VL01")
    assert SECRET_TAXON in store.event_detail(PROJECT, eid).affected["taxon_id"].to_list()
    html = _html(blind.get(_url("events", eid)))
    assert set(_rows(html, "data-taxon")) == links["VL01"] - {SECRET_TAXON} and SECRET_NAME not in html
    assert (
        f'<td class="num">{len(links["VL01"]) - 1}</td>'
        in _rows(_html(blind.get(_url("events"))), "data-event")[eid]
    )
    assert SECRET_NAME in _html(seer.get(_url("events", eid)))


def test_sensitive_locations_left_out_of_the_report_and_datasheet(clients, lakeland):
    _make_sensitive()
    seer = _client("sam", lakeland, "viewer", sees_sensitive=True)
    blind = clients["viewer"]
    links = csv_links()

    def report(client: Client) -> str:
        r = client.get(_url("reports") + "workshop.html")
        assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment")
        return _html(r)

    hidden, full = report(blind), report(seer)
    for html in (hidden, full):
        assert "Planning workshop report: lakeland" in html
    # the sites table: counts without the sensitive species; the sensitive site's location withheld
    site_rows = _rows(hidden, "data-site")
    assert re.search(rf'<td class="n">{len(links["VL01"]) - 1}</td>', site_rows["VL01"])
    assert re.search(rf'<td class="n">{len(links["VL01"])}</td>', _rows(full, "data-site")["VL01"])
    assert "withheld (sensitive)" in site_rows[SECRET_SITE]
    assert "withheld (sensitive)" not in _rows(full, "data-site")[SECRET_SITE]
    assert "links of sensitive species to sites are left out" in hidden

    # buckets and clusters: nothing says where the sensitive species lives
    def secret_rows(html: str) -> list[str]:
        return re.findall(rf'<tr data-taxon="{SECRET_TAXON}">.*?</tr>', html, re.S)

    assert any("Lake Mirren" in row for row in secret_rows(full))
    assert secret_rows(hidden) and not any(
        "Lake Mirren" in row or "VL01" in row for row in secret_rows(hidden)
    )
    clusters = dict(re.findall(r'<div class="cluster" data-cluster="([^"]+)">(.*?)</div>', hidden, re.S))
    assert any("site:VL01" in c for c in clusters)
    assert all(
        f'data-taxon="{SECRET_TAXON}"' not in body for cid, body in clusters.items() if "|site:" in cid
    )
    # the datasheet (JSON): no site links of the sensitive species for the viewer
    rec = blind.get(_url("reports", "datasheet"), {"taxon": SECRET_NAME, "format": "json"}).json()
    assert rec["taxon_id"] == SECRET_TAXON and rec["sites"] == [] and rec["locations_withheld"] is True
    rec = seer.get(_url("reports", "datasheet"), {"taxon": SECRET_TAXON, "format": "json"}).json()
    assert [s["site_id"] for s in rec["sites"]] == ["VL01"] and rec["locations_withheld"] is False
    # other species keep their links
    rec = blind.get(_url("reports", "datasheet"), {"taxon": "990000001", "format": "json"}).json()
    assert {s["site_id"] for s in rec["sites"]} == {s for s, taxa in links.items() if "990000001" in taxa}

    def sites_cell(client: Client) -> str:
        html = _html(client.get(_url("reports", "datasheet"), {"taxon": SECRET_TAXON, "format": "html"}))
        return re.search(r"<tr><th>Sites</th><td>(.*?)</td></tr>", html, re.S).group(1), html

    cell, html = sites_cell(blind)
    assert "withheld (sensitive species)" in html and cell == "—"
    cell, html = sites_cell(seer)
    assert "withheld (sensitive species)" not in html and "Lake Mirren" in cell and "western basin" in cell
    assert 'id="sensitive-note"' in _html(blind.get(_url("reports")))
    assert 'id="sensitive-note"' not in _html(seer.get(_url("reports")))


def test_report_data_hidden_taxa_parameter():
    """The report functions leave out the precise locations of ``hidden_taxa``; by default (the
    CLI) they keep every link."""
    from assess2plan import planning
    from assess2plan.report import ReportData, datasheet_record, report_html

    aset = read_redlist(ROOT / "download")
    sites = pl.DataFrame(
        [
            {
                "site_id": r["site_id"],
                "name": r["name"],
                "kind": r["type"],
                "country": r["country_code"],
                "geometry": json.dumps(
                    {"type": "Point", "coordinates": [float(r["longitude"]), float(r["latitude"])]}
                ),
                "sensitive": r["site_id"] == SECRET_SITE,
            }
            for r in _csv(ROOT / "sites.csv")
        ]
    )
    links = pl.DataFrame(
        [
            {
                "taxon_id": r["internalTaxonId"],
                "site_id": r["site_id"],
                "site_name": "",
                "source": "import",
                "note": r["note"] or None,
            }
            for r in _csv(ROOT / "species_sites.csv")
        ]
    )
    clusters = planning.threat_clusters(aset, site_links=links)
    common = dict(sites=sites, site_links=links, clusters=clusters)
    default = ReportData(aset, **common)
    hidden = ReportData(aset, hidden_taxa={SECRET_TAXON}, **common)
    assert default.hidden_taxa == frozenset() and default.site_links.height == links.height
    n_secret = links.filter(pl.col("taxon_id") == SECRET_TAXON).height
    assert hidden.site_links.height == links.height - n_secret
    assert [s["site_id"] for s in datasheet_record(default, SECRET_TAXON)["sites"]] == ["VL01"]
    assert datasheet_record(hidden, SECRET_TAXON)["sites"] == []
    # clusters at a site lose the member, and their size follows
    site_clusters = clusters.clusters.filter(pl.col("place_kind") == "site")
    with_secret = clusters.members.filter(pl.col("taxon_id") == SECRET_TAXON).join(
        site_clusters, on="cluster_id"
    )
    assert with_secret.height
    for cid in with_secret["cluster_id"].to_list():
        members = hidden.cluster_members.filter(pl.col("cluster_id") == cid)
        assert SECRET_TAXON not in members["taxon_id"].to_list()
        size = hidden.clusters.filter(pl.col("cluster_id") == cid)["size"]
        assert size.len() == 0 or size[0] == members["taxon_id"].n_unique()
    # clusters by country keep it (a country is not a precise location)
    by_country = clusters.members.filter(pl.col("taxon_id") == SECRET_TAXON).join(
        clusters.clusters.filter(pl.col("place_kind") == "country"), on="cluster_id"
    )
    for cid in by_country["cluster_id"].to_list():
        assert (
            SECRET_TAXON in hidden.cluster_members.filter(pl.col("cluster_id") == cid)["taxon_id"].to_list()
        )
    # the sensitive site: withheld unless show_sensitive
    assert "withheld (sensitive)" in _rows(report_html(default), "data-site")[SECRET_SITE]
    shown = ReportData(aset, show_sensitive=True, **common)
    assert "withheld (sensitive)" not in _rows(report_html(shown), "data-site")[SECRET_SITE]
    with pytest.raises(Exception, match="lacks the column"):
        ReportData(aset, site_links=links.drop("site_id"), hidden_taxa={SECRET_TAXON})


# -- reports and downloads ----------------------------------------------------------------------------------
def test_report_pdf_download_opens_and_names_the_project(clients):
    import pypdfium2 as pdfium

    r = clients["viewer"].get(_url("reports") + "workshop.pdf", {"title": "Lakeland planning workshop 2025"})
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert 'filename="lakeland-workshop-report.pdf"' in r["Content-Disposition"]
    pdf = pdfium.PdfDocument(r.content)
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert len(pdf) > 3 and "Lakeland planning workshop 2025" in text and PROJECT in text
    cr = [r["scientificName"] for r in csv_assessments() if r["redlistCategory"] == "Critically Endangered"]
    words = " ".join(text.split())
    assert cr and all(name in words for name in cr)
    # datasheet PDF of one species
    r = clients["viewer"].get(_url("reports", "datasheet"), {"taxon": "990000001", "format": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = pdfium.PdfDocument(r.content)[0].get_textpage().get_text_range()
    assert "Mirrenichthys auratus" in text


def test_report_selection_datasheet_errors_workbook_and_findings(clients):
    v = clients["viewer"]
    html = _html(v.get(_url("reports") + "workshop.html", {"q": "category=CR"}))
    cr = {r["internalTaxonId"] for r in csv_assessments() if r["redlistCategory"] == "Critically Endangered"}
    section = re.search(r'<section id="species"[^>]*>(.*?)</section>', html, re.S).group(1)
    assert set(re.findall(r'<tr data-taxon="(\d+)">', section)) == cr
    r = v.get(_url("reports") + "workshop.html", {"q": "colour=blue"})
    assert r.status_code == 400 and "unknown filter field" in _html(r) and 'id="report-error"' in _html(r)
    r = v.get(_url("reports") + "workshop.doc")
    assert r.status_code == 404
    r = v.get(_url("reports", "datasheet"), {"taxon": "Nonexistus fictus", "format": "json"})
    assert r.status_code == 400 and "No datasheet" in _html(r)
    r = v.get(_url("reports", "datasheet"), {"taxon": "990000001", "format": "docx"})
    assert r.status_code == 400 and "unknown format" in _html(r)
    # the workbook: an xlsx with every species of the selection
    r = v.get(_url("reports") + "workshop.xlsx", {"q": "category=CR"})
    assert r.status_code == 200 and r.content.startswith(b"PK")
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert "xl/workbook.xml" in z.namelist()
        strings = z.read("xl/sharedStrings.xml").decode()
    names_cr = {r["scientificName"] for r in csv_assessments() if r["internalTaxonId"] in cr}
    assert all(n in strings for n in names_cr)
    assert "Mirrenichthys parvus" not in strings  # EN: not selected
    # findings CSV: the rule checks of the files (computed here without the store)
    from assess2plan.checks import check_frame

    want = check_frame(read_redlist(ROOT / "download"))
    r = v.get(_url("reports") + "findings.csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert r["Content-Type"].startswith("text/csv") and len(rows) == want.height
    assert Counter(x["rule"] for x in rows) == Counter(want["rule"].to_list())


# -- static files and no external URLs -----------------------------------------------------------------
def test_static_map_files_and_no_external_urls(clients):
    from django.contrib.staticfiles import finders

    for name in (
        "a2p/vendor/leaflet/leaflet.js",
        "a2p/vendor/leaflet/leaflet.css",
        "a2p/vendor/leaflet/LICENSE",
        "a2p/vendor/leaflet/images/marker-icon.png",
        "a2p/map.js",
        "a2p/plan.css",
    ):
        assert finders.find(name), name
    lic = Path(finders.find("a2p/vendor/leaflet/LICENSE")).read_text()
    assert "BSD 2-Clause" in lic and "Agafonkin" in lic
    assert "L.tileLayer" not in Path(finders.find("a2p/map.js")).read_text()
    fac = clients["facilitator"]
    eid, _ = _raise(fac, "VL05")
    pages = [
        _url("dashboard"),
        _url("sites"),
        _url("sites", "VL01"),
        _url("sites", "VL01", "edit"),
        _url("events"),
        _url("events", eid),
        _url("reports"),
    ]
    for url in pages:
        r = fac.get(url)
        html = _html(r)
        assert r.status_code == 200, url
        external = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", html)
        assert not external, (url, external)
    html = _html(fac.get(_url("dashboard")))
    assert "/static/a2p/vendor/leaflet/leaflet.js" in html and "/static/a2p/map.js" in html
    assert fac.get("/static/a2p/vendor/leaflet/leaflet.js").status_code == 200
