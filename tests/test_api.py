"""The REST API (/api/v1/, django-ninja): every endpoint, roles, token and session auth, pagination,
sensitive species, conflicts and bad input, the tokens page and ``a2p token``.

Runs on the bundled fictional lakeland example (plus its sites and site links, one sensitive
species with subnational places, one sensitive site, a stakeholder and a commitment). Expected
values are recomputed here from the example's CSV files with the csv module."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from functools import cache
from urllib.parse import urlsplit

import polars as pl
import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT = "lakeland"
PASSWORD = "correct horse battery staple"
API = f"/api/v1/projects/{PROJECT}"
#: Mirrenichthys auratus: linked to VL01 and VL08; flagged sensitive, given subnational places
SENSITIVE = "990000001"
#: Mirrenichthys nigrofasciatus: linked to VL01; given a subnational place, not sensitive
OPEN_TAXON = "990000002"
SENSITIVE_SITE = "VL08"
LABELS = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Extinct in the Wild": "EW",
    "Lower Risk/near threatened": "LR/nt",
}


# -- the example, read independently ------------------------------------------------------------------
def _csv(*parts: str) -> list[dict[str, str]]:
    with open(example_path().joinpath(*parts), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def csv_assessments() -> dict[str, dict[str, str]]:
    """taxon id -> its row of assessments.csv (one global assessment per taxon in the example)."""
    return {r["internalTaxonId"]: r for r in _csv("download", "assessments.csv")}


@cache
def csv_links() -> dict[str, set[str]]:
    """site id -> taxon ids linked to it (species_sites.csv)."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in _csv("species_sites.csv"):
        out[r["site_id"]].add(r["internalTaxonId"])
    return dict(out)


def category(tid: str) -> str:
    return LABELS[csv_assessments()[tid]["redlistCategory"]]


# -- set-up helpers (also used by test_api_schemathesis.py) -------------------------------------------
def lakeland_with_planning():  # noqa: ANN201 - Project
    """Import the example with sites and links; make SENSITIVE sensitive (with subnational places),
    VL08 a sensitive site; add a stakeholder and a commitment. Returns the Project."""
    from assess2plan.web.app import derived
    from assess2plan.web.store.models import Project

    derived.forget()
    aset = read_redlist(example_path() / "download")
    aid = {t: a for a, t in aset.assessments.select("assessment_id", "taxon_id").iter_rows()}
    occ = aset.tables["occurrence"]
    extra = pl.DataFrame(
        [
            {"assessment_id": aid[SENSITIVE], "taxon_id": SENSITIVE, "kind": "subnational", "code": "XA-MI",
             "name": "Mirren Province", "presence": "Extant", "origin": "Native"},
            {"assessment_id": aid[OPEN_TAXON], "taxon_id": OPEN_TAXON, "kind": "subnational", "code": "XA-WE",
             "name": "Western Mirren", "presence": "Extant", "origin": "Native"},
        ]
    )  # fmt: skip
    extra = extra.with_columns(
        [pl.lit(None, dtype=occ.schema[c]).alias(c) for c in occ.columns if c not in extra.columns]
    )
    aset.tables["occurrence"] = pl.concat([occ, extra.select(occ.columns).cast(occ.schema)])
    store.import_set(aset, project=PROJECT, user="setup")
    root = example_path()
    store.import_sites(PROJECT, root / "sites.csv", user="setup")
    store.import_site_links(PROJECT, root / "species_sites.csv", user="setup")
    store.update_site(PROJECT, SENSITIVE_SITE, expected_version=1, sensitive=True, user="setup")
    store.flag_sensitive(PROJECT, [SENSITIVE], "collectors target it", user="setup")
    store.add_stakeholder(PROJECT, "VLT", "Veridian Lakes Trust", user="setup")
    store.sign_up(PROJECT, "VLT", "2.2", taxon="990000005", due_date="2030-01-31", user="setup")
    return Project.objects.get(slug=PROJECT)


def make_user(  # noqa: ANN201 - a Django user
    name: str, project=None, role: str | None = None, *, sees_sensitive: bool = False, **extra  # noqa: ANN001
):
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    u = User.objects.create_user(name, password=PASSWORD, **extra)
    if project is not None and role:
        ProjectMembership.objects.create(user=u, project=project, role=role, sees_sensitive=sees_sensitive)
    return u


def bearer(user) -> dict[str, str]:  # noqa: ANN001
    from assess2plan.web.api.tokens import create_token

    return {"Authorization": f"Bearer {create_token(user, 'test')}"}


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Empty caches; a fast password hasher (users are made in every test; no password is real)."""
    from django.core.cache import cache as django_cache

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    from assess2plan.web.app import derived

    django_cache.clear()
    derived.forget()
    yield
    derived.forget()


@pytest.fixture
def lakeland():
    return lakeland_with_planning()


@pytest.fixture
def people(lakeland):
    """Users with each role (tokens in ``people["headers"][name]``)."""
    users = {
        "viewer": make_user("vera", lakeland, "viewer"),
        "assessor": make_user("ana", lakeland, "assessor"),
        "facilitator": make_user("fay", lakeland, "facilitator"),
        "admin": make_user("adam", lakeland, "admin"),
        "trusted": make_user("tess", lakeland, "viewer", sees_sensitive=True),
        "outsider": make_user("olga"),
        "root": make_user("root", is_superuser=True, is_staff=True),
    }
    return {"users": users, "headers": {k: bearer(u) for k, u in users.items()}}


def get(client, url: str, headers: dict, expect: int = 200, **params):  # noqa: ANN001, ANN201
    r = client.get(url, params, headers=headers)
    assert r.status_code == expect, (url, params, r.status_code, r.content[:500])
    assert r["Content-Type"].startswith("application/json")
    return r.json()


def send(client, method: str, url: str, headers: dict, body, status: int):  # noqa: ANN001, ANN201
    r = getattr(client, method)(url, body, content_type="application/json", headers=headers)
    assert r.status_code == status, (method, url, r.status_code, r.content[:500])
    return r.json()


def all_pages(client, url: str, headers: dict, **params) -> list[list[dict]]:  # noqa: ANN001
    """Every page, following ``next`` links; checks count and previous links on the way."""
    pages, first = [], get(client, url, headers, **params)
    page = first
    while True:
        pages.append(page["results"])
        assert page["count"] == first["count"]
        if page["next"] is None:
            break
        nxt = urlsplit(page["next"])
        r = client.get(f"{nxt.path}?{nxt.query}", headers=headers)
        assert r.status_code == 200
        back = urlsplit(r.json()["previous"])
        assert client.get(f"{back.path}?{back.query}", headers=headers).json()["results"] == page["results"]
        page = r.json()
    return pages


# -- schema and docs --------------------------------------------------------------------------------
def test_openapi_schema_and_offline_docs(client, lakeland):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["info"]["title"] == "assess2plan API" and schema["info"]["version"] == "1"
    paths = set(schema["paths"])
    for p in (
        "/api/v1/projects",
        "/api/v1/projects/{slug}/species",
        "/api/v1/projects/{slug}/species/{taxon_id}",
        "/api/v1/projects/{slug}/assessments",
        "/api/v1/projects/{slug}/assessments/{assessment_id}",
        "/api/v1/projects/{slug}/findings",
        "/api/v1/projects/{slug}/buckets",
        "/api/v1/projects/{slug}/buckets/decisions",
        "/api/v1/projects/{slug}/sites",
        "/api/v1/projects/{slug}/sites/{site_id}",
        "/api/v1/projects/{slug}/events",
        "/api/v1/projects/{slug}/events/{event_id}",
        "/api/v1/projects/{slug}/commitments",
        "/api/v1/projects/{slug}/commitments/{commitment_id}",
    ):
        assert p in paths, p
    assert set(schema["paths"]["/api/v1/projects/{slug}/commitments/{commitment_id}"]) == {"get", "patch"}
    kinds = {v.get("scheme") or v.get("in") for v in schema["components"]["securitySchemes"].values()}
    assert {"bearer", "cookie"} <= kinds
    html = client.get("/api/v1/docs").content.decode()
    assert 'id="swagger-ui"' in html
    # no external URL in the page: every script / style / icon comes from this server
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(u.startswith("/api/v1/docs/assets/") for u in refs), refs
    assert "http://" not in html and "https://" not in html
    assert '"validatorUrl": null' in html  # Swagger's online validator is off
    for u in refs:
        a = client.get(u)
        assert a.status_code == 200 and b"".join(a.streaming_content), u
    assert client.get("/api/v1/docs/assets/redoc.standalone.js").status_code == 404
    assert client.get("/api/v1/docs/assets/..%2Fmain.py").status_code == 404


# -- authentication -----------------------------------------------------------------------------------
def test_401_without_token_bad_token_revoked_token(client, lakeland):
    from assess2plan.web.api.tokens import create_token, revoke

    vera = make_user("vera", lakeland, "viewer")
    for headers in ({}, {"Authorization": "Bearer a2p_nonsense"}, {"Authorization": "Token abc"},
                    {"Authorization": "Bearer "}):  # fmt: skip
        r = client.get(f"{API}/species", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["detail"] and r["WWW-Authenticate"].startswith("Bearer")
    token = create_token(vera, "laptop")
    assert client.get(f"{API}/species", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoke(token[:12])
    r = client.get(f"{API}/species", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    # a revoked token is refused even next to a valid session (no silent fall-back to another identity)
    assert client.login(username="vera", password=PASSWORD)
    assert client.get(f"{API}/species").status_code == 200
    assert client.get(f"{API}/species", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # an inactive user's token stops working
    other = create_token(vera, "second")
    vera.is_active = False
    vera.save()
    assert client.get(f"{API}/species", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_token_is_stored_only_hashed(lakeland):
    from assess2plan.web.api.tokens import create_token, revoke, verify
    from assess2plan.web.app.models import ApiToken

    vera = make_user("vera", lakeland, "viewer")
    token = create_token(vera, "notebook")
    assert token.startswith("a2p_") and len(token) > 40
    row = ApiToken.objects.get(user=vera)
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12] and row.name == "notebook"
    stored = [str(v) for v in ApiToken.objects.values_list().get(pk=row.pk)]
    assert not any(token in v or token[12:] in v for v in stored)
    assert verify(token) == vera and verify(token + "x") is None and verify("") is None
    assert ApiToken.objects.get(pk=row.pk).last_used_at is not None
    with pytest.raises(Exception, match="no token with the prefix"):
        revoke("a2p_zzzzzzzz")
    revoke(row.prefix)
    assert verify(token) is None
    with pytest.raises(Exception, match="revoked already"):
        revoke(row.prefix)


def test_session_auth_needs_csrf_for_writes_tokens_do_not(lakeland):
    from django.test import Client

    fay = make_user("fay", lakeland, "facilitator")
    body = {"taxon": "990000003", "bucket": "site_based", "decision": "accept", "reason": "agreed in plenary"}
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="fay", password=PASSWORD)
    assert browser.get(f"{API}/buckets").status_code == 200
    r = browser.post(f"{API}/buckets/decisions", body, content_type="application/json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert store.decision_log(PROJECT).height == 0
    browser.get("/tokens/")  # a page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    r = browser.post(
        f"{API}/buckets/decisions", body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert r.status_code == 201 and r.json()["made_by"] == "fay"
    script = Client(enforce_csrf_checks=True)
    r = script.post(f"{API}/buckets/decisions", body, content_type="application/json", headers=bearer(fay))
    assert r.status_code == 201
    assert store.decision_log(PROJECT).height == 2


# -- roles --------------------------------------------------------------------------------------------
READS = ["", "/species", f"/species/{OPEN_TAXON}", "/assessments", "/findings", "/buckets", "/sites",
         "/sites/VL01", "/events", "/commitments", "/commitments/C1"]  # fmt: skip


def test_every_role_reads_non_members_get_404(client, people):
    h = people["headers"]
    for path in READS:
        for role in ("viewer", "assessor", "facilitator", "admin", "trusted", "root"):
            get(client, f"{API}{path}", h[role])
        r = client.get(f"{API}{path}", headers=h["outsider"])
        assert r.status_code == 404 and r.json() == {"detail": "no such project"}, path
        r = client.get(f"/api/v1/projects/nosuchproject{path}", headers=h["viewer"])
        assert r.status_code == 404 and r.json() == {"detail": "no such project"}, path


def test_writes_need_facilitator(client, people):
    h = people["headers"]
    decision = {
        "taxon": "990000003",
        "bucket": "site_based",
        "decision": "reject",
        "reason": "covered elsewhere",
    }
    event = {"site": "VL03", "title": "Algal bloom", "severity": "warning", "notify": False}
    signup = {"stakeholder": "VLT", "action_code": "1.1", "taxon": "990000004"}
    patch = {"expected_version": 1, "note": "survey booked"}
    writes = [
        ("post", "/buckets/decisions", decision, 201),
        ("post", "/events", event, 201),
        ("post", "/commitments", signup, 201),
        ("patch", "/commitments/C1", patch, 200),
    ]
    for method, path, body, _ok in writes:
        for role in ("viewer", "assessor", "trusted"):
            r = send(client, method, f"{API}{path}", h[role], body, 403)
            assert "facilitator" in r["detail"]
        assert send(client, method, f"{API}{path}", h["outsider"], body, 404) == {"detail": "no such project"}
    # nothing was written by the refused calls
    assert store.decision_log(PROJECT).height == 0 and store.list_events(PROJECT).height == 0
    assert store.list_commitments(PROJECT).height == 1 and store.get_commitment(PROJECT, "C1")["version"] == 1
    for method, path, body, ok in writes:
        send(client, method, f"{API}{path}", h["facilitator"], body, ok)
    patch2 = {"expected_version": 2, "status": "active"}
    for role in ("admin", "root"):
        send(client, "post", f"{API}/buckets/decisions", h[role], decision, 201)
        send(client, "patch", f"{API}/commitments/C1", h[role], patch2, 200)
        patch2 = {"expected_version": 3, "note": "done by the root"}
    log = store.decision_log(PROJECT)
    assert sorted(log["made_by"].to_list()) == ["adam", "fay", "root"]


def test_projects_list_only_memberships(client, people):
    from assess2plan.web.store.models import Project

    Project.objects.create(slug="secret", name="Secret project")
    mine = get(client, "/api/v1/projects", people["headers"]["viewer"])
    assert [(p["slug"], p["role"], p["assessments"]) for p in mine] == [(PROJECT, "viewer", 40)]
    assert get(client, "/api/v1/projects", people["headers"]["outsider"]) == []
    root = get(client, "/api/v1/projects", people["headers"]["root"])
    assert {p["slug"] for p in root} == {PROJECT, "secret"}
    one = get(client, f"{API}", people["headers"]["trusted"])
    assert one["role"] == "viewer" and one["sees_sensitive"] is True


# -- species: filters, search, sort, pagination -------------------------------------------------------
def test_species_pagination_cross_checked(client, people):
    h = people["headers"]["viewer"]
    expected = {t for t in csv_assessments() if category(t) in ("CR", "EN")}
    assert len(expected) == 15  # the example's README: 7 CR + 8 EN
    pages = all_pages(client, f"{API}/species", h, filter="category=CR,EN", limit=4)
    ids = [r["taxon_id"] for page in pages for r in page]
    assert len(pages) == 4 and [len(p) for p in pages] == [4, 4, 4, 3]
    assert len(ids) == len(set(ids)) and set(ids) == expected  # disjoint and complete
    assert all(r["category"] in ("CR", "EN") for page in pages for r in page)
    # two conditions: repeated parameter or one space-separated string, same rows
    cond = [("filter", "category=CR,EN"), ("filter", "country=XA")]
    a = client.get(f"{API}/species?filter=category%3DCR%2CEN&filter=country%3DXA&limit=500", headers=h).json()
    b = get(client, f"{API}/species", h, filter="category=CR,EN country=XA", limit=500)
    in_xa = {r["internalTaxonId"] for r in _csv("download", "countries.csv") if r["code"] == "XA"}
    assert a["count"] == b["count"] == len(expected & in_xa) and a["results"] == b["results"], cond
    # beyond the end: empty page, previous link back
    end = get(client, f"{API}/species", h, filter="category=CR,EN", offset=100)
    assert end["results"] == [] and end["next"] is None and end["count"] == 15 and end["previous"]
    # sort: newest first
    years = [
        r["year_published"]
        for r in get(client, f"{API}/species", h, sort="-year_published", limit=500)["results"]
    ]
    assert years == sorted(years, reverse=True) and len(years) == 40


def test_species_search(client, people):
    h = people["headers"]["viewer"]
    words = ("rationale", "habitat", "threats", "population", "range", "useTrade", "conservationActions")
    with_word = {
        t for t, r in csv_assessments().items() if any("predator" in (r[w] or "").lower() for w in words)
    }
    assert with_word
    found = get(client, f"{API}/species", h, search="predator", limit=500)
    assert with_word <= {r["taxon_id"] for r in found["results"]}
    assert found["count"] == len(found["results"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "bogus=1"}, "unknown filter field 'bogus'"),
        ({"filter": "category"}, "cannot read filter"),
        ({"filter": 'system="Freshwater'}, "cannot read the filter"),
        ({"sort": "nonsense"}, "cannot sort by 'nonsense'"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_species_query_is_400_with_message(client, people, params, message):
    r = client.get(f"{API}/species", params, headers=people["headers"]["viewer"])
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert message in r.json()["detail"], r.json()
    assert "Traceback" not in r.content.decode()


def test_species_detail(client, people):
    h = people["headers"]["viewer"]
    rec = get(client, f"{API}/species/{OPEN_TAXON}", h)
    row = csv_assessments()[OPEN_TAXON]
    assert rec["taxon"]["scientific_name"] == row["scientificName"]
    assert rec["assessment"]["assessment_id"] == row["assessmentId"]
    assert rec["assessment"]["category"] == category(OPEN_TAXON) and rec["revision"] == 0
    threats = [r for r in _csv("download", "threats.csv") if r["assessmentId"] == row["assessmentId"]]
    assert sorted(t["code"] for t in rec["threats"]) == sorted(t["code"] for t in threats)
    assert {s["site_id"] for s in rec["sites"]} == {
        s for s, taxa in csv_links().items() if OPEN_TAXON in taxa
    }
    assert any(o["kind"] == "subnational" for o in rec["occurrence"])
    assert rec["sensitive"] is False and rec["locations_hidden"] is False
    assert "<script" not in str(rec["assessment"]).lower()
    r = client.get(f"{API}/species/999", headers=h)
    assert r.status_code == 404 and "no taxon '999'" in r.json()["detail"]


# -- sensitive species and sites -----------------------------------------------------------------------
def test_sensitive_locations_hidden_from_those_not_allowed(client, people):
    h = people["headers"]
    mirren = csv_links()["VL01"]
    assert SENSITIVE in mirren and OPEN_TAXON in mirren
    for role, hidden in (("viewer", True), ("facilitator", True), ("trusted", False), ("admin", False)):
        rec = get(client, f"{API}/species/{SENSITIVE}", h[role])
        assert rec["locations_hidden"] is hidden and rec["sensitive"] is True
        sites = {s["site_id"] for s in rec["sites"]}
        assert sites == (set() if hidden else {"VL01", "VL08"}), role
        assert any(o["kind"] == "subnational" for o in rec["occurrence"]) is not hidden
        assert any(o["kind"] == "country" for o in rec["occurrence"])  # countries stay
        a = get(client, f"{API}/assessments/{rec['assessment']['assessment_id']}", h[role])
        assert any(o["kind"] == "subnational" for o in a["occurrence"]) is not hidden
        site = get(client, f"{API}/sites/VL01", h[role])
        linked = {s["taxon_id"] for s in site["linked_species"]}
        assert linked == (mirren - {SENSITIVE} if hidden else mirren) and site["species"] == len(linked)
        listed = {s["site_id"]: s for page in all_pages(client, f"{API}/sites", h[role]) for s in page}
        assert listed["VL01"]["species"] == len(linked)
        # the sensitive site's geometry: only for those allowed
        assert (listed[SENSITIVE_SITE]["geometry"] is None) is hidden
        assert (get(client, f"{API}/sites/{SENSITIVE_SITE}", h[role])["geometry"] is None) is hidden
        assert listed["VL02"]["geometry"]["type"] == "Point"
        # the sheet: the sensitive species' subnational places blank, other species' kept
        sheet = {r["taxon_id"]: r for r in get(client, f"{API}/species", h[role], limit=500)["results"]}
        assert sheet[SENSITIVE]["subnational"] == ([] if hidden else ["XA-MI"])
        assert sheet[OPEN_TAXON]["subnational"] == ["XA-WE"]
        r = client.get(f"{API}/species", {"filter": "subnational=XA-MI"}, headers=h[role])
        assert r.status_code == (400 if hidden else 200), role
        # buckets: reasons naming its sites are withheld
        buckets = get(client, f"{API}/buckets", h[role], taxon=SENSITIVE, limit=500)["results"]
        assert buckets
        text = " ".join(f"{b['reason']} {b['evidence']}" for b in buckets)
        assert ("VL01" in text) is not hidden and ("Lake Mirren" in text) is not hidden
    # an event at the site: the sensitive species is not listed among the affected for the viewer
    ev = send(
        client,
        "post",
        f"{API}/events",
        h["admin"],
        {"site": "VL01", "title": "Fish kill", "notify": False},
        201,
    )
    assert {a["taxon_id"] for a in ev["affected"]} == mirren
    seen = get(client, f"{API}/events/{ev['event_id']}", h["viewer"])
    assert {a["taxon_id"] for a in seen["affected"]} == mirren - {SENSITIVE} and seen["species"] == len(
        mirren
    ) - 1
    assert get(client, f"{API}/events", h["viewer"])["results"][0]["species"] == len(mirren) - 1
    assert get(client, f"{API}/events", h["trusted"])["results"][0]["species"] == len(mirren)


# -- assessments --------------------------------------------------------------------------------------
def test_assessments_pages_and_detail(client, people):
    h = people["headers"]["viewer"]
    expected = {r["assessmentId"] for r in _csv("download", "assessments.csv")}
    pages = all_pages(client, f"{API}/assessments", h, limit=7)
    ids = [r["assessment_id"] for p in pages for r in p]
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
    assert all(r["latest"] and r["scopes"] == ["Global"] for p in pages for r in p)
    cr = get(client, f"{API}/assessments", h, category="CR", limit=500)
    assert {r["taxon_id"] for r in cr["results"]} == {t for t in csv_assessments() if category(t) == "CR"}
    row = csv_assessments()["990000013"]
    one = get(client, f"{API}/assessments", h, taxon="990000013")["results"]
    assert [r["assessment_id"] for r in one] == [row["assessmentId"]]
    d = get(client, f"{API}/assessments/{row['assessmentId']}", h)
    assert d["assessment"]["criteria"] == row["redlistCriteria"] and d["latest"] is True
    assert d["actions_needed"] == []  # Kettlichthys fontinalis: no conservation_needed rows (planted)
    assert get(client, f"{API}/assessments", h, latest="false")["count"] == 0
    r = client.get(f"{API}/assessments/123", headers=h)
    assert r.status_code == 404 and "no assessment '123'" in r.json()["detail"]


# -- findings -----------------------------------------------------------------------------------------
def test_findings_filters_and_pages(client, people):
    from assess2plan.checks import check_frame

    h = people["headers"]["viewer"]
    direct = check_frame(read_redlist(example_path() / "download"))  # from the files, not the store
    pages = all_pages(client, f"{API}/findings", h, limit=10)
    rows = [r for p in pages for r in p]
    assert len(rows) == direct.height
    assert sorted((r["rule"], r["taxon_id"] or "") for r in rows) == sorted(
        (r, t or "") for r, t in direct.select("rule", "taxon_id").iter_rows()
    )
    errors = get(client, f"{API}/findings", h, severity="error", limit=500)
    assert errors["count"] == direct.filter(pl.col("severity") == "error").height > 0
    assert all(r["severity"] == "error" for r in errors["results"])
    # planted: Dunmerohydrobia caeca is EN without criteria
    caeca = get(client, f"{API}/findings", h, taxon="990000023", rule="criteria_coherence")["results"]
    assert caeca and all(r["taxon_id"] == "990000023" for r in caeca)
    assert get(client, f"{API}/findings", h, rule="no_such_rule")["count"] == 0
    r = client.get(f"{API}/findings", {"severity": "fatal"}, headers=h)
    assert r.status_code == 400 and "severity" in r.json()["detail"]


# -- buckets ------------------------------------------------------------------------------------------
def test_buckets_and_decisions(client, people):
    h = people["headers"]
    ex_situ = get(client, f"{API}/buckets", h["viewer"], bucket="ex_situ", limit=500)
    assert SENSITIVE in {r["taxon_id"] for r in ex_situ["results"]}  # README: the ex situ candidate
    assert all(r["bucket"] == "ex_situ" and r["status"] == "suggested" for r in ex_situ["results"])
    pages = all_pages(client, f"{API}/buckets", h["viewer"], limit=20)
    rows = [(r["taxon_id"], r["bucket"]) for p in pages for r in p]
    assert len(rows) == len(set(rows))  # disjoint pages
    threatened = {t for t in csv_assessments() if category(t) in ("CR", "EN", "VU", "EW")}
    assert {t for t, _ in rows} == threatened  # every evaluated species shows
    body = {"taxon": SENSITIVE, "bucket": "ex_situ", "decision": "reject", "reason": "zoo has no space"}
    d = send(client, "post", f"{API}/buckets/decisions", h["facilitator"], body, 201)
    assert d["made_by"] == "fay" and d["decision"] == "reject" and d["taxon_id"] == SENSITIVE
    after = get(client, f"{API}/buckets", h["viewer"], taxon=SENSITIVE, bucket="ex_situ")["results"]
    assert [(r["status"], r["decided_by"], r["decision_reason"]) for r in after] == [
        ("rejected", "fay", "zoo has no space")
    ]
    rejected = get(client, f"{API}/buckets", h["viewer"], status="rejected")
    assert rejected["count"] == 1
    # bad input: clear message, nothing recorded
    for bad, message in (
        ({**body, "reason": ""}, "reason"),
        ({**body, "decision": "maybe"}, "decision"),
        ({**body, "bucket": "somewhere"}, "bucket"),
        ({**body, "taxon": "Nonexistens fictus"}, "Nonexistens fictus"),
        ({"taxon": SENSITIVE}, "reason"),
    ):
        r = send(client, "post", f"{API}/buckets/decisions", h["facilitator"], bad, 400)
        assert message in r["detail"], (bad, r)
    r = client.post(
        f"{API}/buckets/decisions", "{not json", content_type="application/json", headers=h["facilitator"]
    )
    assert r.status_code == 400 and r.json()["detail"]
    assert store.decision_log(PROJECT).height == 1


# -- sites --------------------------------------------------------------------------------------------
def test_sites_list_and_detail(client, people):
    h = people["headers"]["trusted"]
    expected = {r["site_id"]: r for r in _csv("sites.csv")}
    pages = all_pages(client, f"{API}/sites", h, limit=5)
    sites = {s["site_id"]: s for p in pages for s in p}
    assert [len(p) for p in pages] == [5, 5, 2] and set(sites) == set(expected)
    for sid, s in sites.items():
        assert s["name"] == expected[sid]["name"] and s["species"] == len(csv_links().get(sid, ()))
        lon, lat = s["geometry"]["coordinates"]
        assert (lat, lon) == (float(expected[sid]["latitude"]), float(expected[sid]["longitude"]))
    assert sites[SENSITIVE_SITE]["sensitive"] is True and sites[SENSITIVE_SITE]["version"] == 2
    d = get(client, f"{API}/sites/VL04", h)
    assert {s["taxon_id"] for s in d["linked_species"]} == csv_links()["VL04"]
    assert all(s["category"] == category(s["taxon_id"]) for s in d["linked_species"])
    r = client.get(f"{API}/sites/VL99", headers=h)
    assert r.status_code == 404 and "VL99" in r.json()["detail"]


# -- events -------------------------------------------------------------------------------------------
def test_events_raise_list_detail(client, people):
    h = people["headers"]
    assert get(client, f"{API}/events", h["viewer"])["count"] == 0
    body = {"site": "VL02", "title": "Cage farm escape", "description": "Tilapia out", "severity": "critical",
            "notify": False}  # fmt: skip
    ev = send(client, "post", f"{API}/events", h["facilitator"], body, 201)
    assert ev["made_by"] == "fay" and ev["severity"] == "critical" and ev["site_id"] == "VL02"
    assert {a["taxon_id"] for a in ev["affected"]} == csv_links()["VL02"] and ev["species"] == 6
    assert all(a["reassess"] for a in ev["affected"])
    flags = store.list_flags(PROJECT)
    assert set(flags["taxon_id"].to_list()) == csv_links()["VL02"]
    listed = get(client, f"{API}/events", h["viewer"], site="VL02")
    assert listed["count"] == 1 and listed["results"][0]["event_id"] == ev["event_id"]
    assert get(client, f"{API}/events/{ev['event_id']}", h["viewer"])["title"] == "Cage farm escape"
    for bad, status, message in (
        ({**body, "site": "VL99"}, 400, "VL99"),
        ({**body, "severity": "apocalyptic"}, 400, "severity"),
        ({**body, "title": ""}, 400, "title"),
    ):
        assert message in send(client, "post", f"{API}/events", h["facilitator"], bad, status)["detail"]
    assert store.list_events(PROJECT).height == 1
    for missing in ("999", "not-a-number"):
        r = client.get(f"{API}/events/{missing}", headers=h["viewer"])
        assert r.status_code == 404 and r.json()["detail"]


# -- commitments --------------------------------------------------------------------------------------
def test_commitments_sign_up_update_and_conflict(client, people):
    h = people["headers"]
    c1 = get(client, f"{API}/commitments/C1", h["viewer"])
    assert c1["stakeholder_id"] == "VLT" and c1["version"] == 1 and c1["due_date"] == "2030-01-31"
    body = {"stakeholder": "VLT", "action_code": "3.4.1", "taxon": SENSITIVE, "place": "Veridian Zoo",
            "due_date": "2027-06-30", "note": "founder stock"}  # fmt: skip
    c2 = send(client, "post", f"{API}/commitments", h["facilitator"], body, 201)
    assert (
        c2["commitment_id"] == "C2"
        and c2["status"] == "proposed"
        and c2["notes"][0]["text"] == "founder stock"
    )
    listed = all_pages(client, f"{API}/commitments", h["viewer"], limit=1)
    assert [r["commitment_id"] for p in listed for r in p] == ["C1", "C2"]
    assert [
        r["commitment_id"] for r in get(client, f"{API}/commitments", h["viewer"], taxon=SENSITIVE)["results"]
    ] == ["C2"]
    # two people read version 1; the first update wins, the second gets 409 and changes nothing
    first = send(client, "patch", f"{API}/commitments/C2", h["facilitator"],
                 {"expected_version": 1, "status": "active", "note": "animals collected"}, 200)  # fmt: skip
    assert first["version"] == 2 and first["status"] == "active" and first["updated_by"] == "fay"
    stale = send(client, "patch", f"{API}/commitments/C2", h["admin"],
                 {"expected_version": 1, "status": "dropped", "note": "no funds"}, 409)  # fmt: skip
    assert "Not saved" in stale["detail"] and "fay" in stale["detail"] and "version 2" in stale["detail"]
    now = get(client, f"{API}/commitments/C2", h["viewer"])
    assert now["status"] == "active" and now["version"] == 2 and len(now["notes"]) == 2
    assert get(client, f"{API}/commitments", h["viewer"], status="active")["count"] == 1
    # bad input: 400 with the store's message, nothing written
    for bad, message in (
        ({**body, "action_code": "99.9"}, "action_code"),
        ({**body, "stakeholder": "nobody"}, "nobody"),
        ({**body, "due_date": "soon"}, "due_date"),
        ({"stakeholder": "VLT", "action_code": "2.2"}, "taxon and/or a cluster"),
    ):
        assert message in send(client, "post", f"{API}/commitments", h["facilitator"], bad, 400)["detail"]
    assert (
        "expected_version"
        in send(client, "patch", f"{API}/commitments/C2", h["facilitator"], {"note": "x"}, 400)["detail"]
    )
    assert "nothing to update" in send(client, "patch", f"{API}/commitments/C2", h["facilitator"],
                                       {"expected_version": 2}, 400)["detail"]  # fmt: skip
    assert store.list_commitments(PROJECT).height == 2
    assert send(
        client, "patch", f"{API}/commitments/C9", h["facilitator"], {"expected_version": 1, "note": "x"}, 404
    )
    assert client.get(f"{API}/commitments/C9", headers=h["viewer"]).status_code == 404


# -- the tokens page ----------------------------------------------------------------------------------
def test_tokens_page_create_once_list_revoke(client, lakeland):
    from assess2plan.web.app.models import ApiToken

    assert client.get("/tokens/").status_code == 302  # log-in first
    vera = make_user("vera", lakeland, "viewer")
    other = make_user("otto", lakeland, "viewer")
    from assess2plan.web.api.tokens import create_token

    others_token = create_token(other, "otto's")
    client.login(username="vera", password=PASSWORD)
    html = client.get("/tokens/").content.decode()
    assert 'data-testid="token-create-form"' in html and 'data-testid="token-none"' in html
    r = client.post("/tokens/", {"name": "R notebook"})
    page = r.content.decode()
    token = re.search(r'data-testid="new-token-value"[^>]*value="([^"]+)"', page).group(1)
    assert r.status_code == 200 and r["Cache-Control"] == "no-store" and token.startswith("a2p_")
    assert ApiToken.objects.get(user=vera).key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert client.get(f"{API}/species", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listing = client.get("/tokens/").content.decode()
    assert token not in listing and f'data-prefix="{token[:12]}"' in listing and "R notebook" in listing
    assert others_token[:12] not in listing  # only one's own tokens
    # someone else's token cannot be revoked from here
    r = client.post("/tokens/revoke/", {"prefix": others_token[:12]})
    assert r.status_code == 400 and "no token with the prefix" in r.content.decode()
    assert (
        client.get(f"{API}/species", headers={"Authorization": f"Bearer {others_token}"}).status_code == 200
    )
    r = client.post("/tokens/revoke/", {"prefix": token[:12]}, follow=True)
    assert "revoked" in r.content.decode()
    assert client.get(f"{API}/species", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    r = client.post("/tokens/", {"name": "x" * 101})
    assert r.status_code == 400 and "longer than 100" in r.content.decode()


def test_cli_token_create_list_revoke(lakeland):
    from typer.testing import CliRunner

    from assess2plan.cli import full_app
    from assess2plan.web.app.models import ApiToken

    make_user("vera", lakeland, "viewer")
    runner = CliRunner()
    r = runner.invoke(full_app(), ["token", "create", "vera", "--name", "cron"])
    assert r.exit_code == 0, r.output
    token = next(line for line in r.stdout.splitlines() if line.startswith("a2p_"))
    row = ApiToken.objects.get(prefix=token[:12])
    assert row.name == "cron" and row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    r = runner.invoke(full_app(), ["token", "list", "vera"])
    assert r.exit_code == 0 and token[:12] in r.stdout and token not in r.stdout
    r = runner.invoke(full_app(), ["token", "revoke", token[:12]])
    assert r.exit_code == 0 and "Revoked" in r.stdout
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None
    r = runner.invoke(full_app(), ["token", "create", "nobody"])
    assert r.exit_code != 0 and "no user 'nobody'" in str(r.exception)
    assert ApiToken.objects.count() == 1
