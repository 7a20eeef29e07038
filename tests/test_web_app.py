"""The web application (issue 5, foundation): log-in, roles and project membership, planning sheet
page (filters, search, sort, pages, facets, HTMX fragment), species page (sanitised narratives).

Runs on the bundled fictional lakeland example, imported through the public store API."""

from __future__ import annotations

import re

import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
PROJECT = "lakeland"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Log-in failure counts live in the cache: every test starts without any."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lakeland():
    store.import_set(read_redlist(example_path() / "download"), project=PROJECT)
    from assess2plan.web.store.models import Project

    return Project.objects.get(slug=PROJECT)


def _user(name: str, project=None, role: str | None = None, **extra):  # noqa: ANN001, ANN202
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    u = User.objects.create_user(name, password=PASSWORD, **extra)
    if project is not None and role:
        ProjectMembership.objects.create(user=u, project=project, role=role)
    return u


@pytest.fixture
def viewer_client(client, lakeland):
    _user("vera", lakeland, "viewer")
    assert client.login(username="vera", password=PASSWORD)
    return client


def _species_names(html: str) -> list[str]:
    return re.findall(r'/species/[^/]+/"><em>([^<]+)</em>', html)


def _summary(html: str) -> str:
    m = re.search(r'id="sheet-summary">([^<]*)<', html)
    assert m, html[:2000]
    return m.group(1).strip()


# -- log-in -------------------------------------------------------------------------------------------
def test_pages_need_login(client, lakeland):
    for url in ("/", f"/p/{PROJECT}/", f"/p/{PROJECT}/species/990000001/"):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/"), url


def test_login_logout_round_trip(client, lakeland):
    _user("ana", lakeland, "assessor")
    r = client.get("/login/")
    assert r.status_code == 200 and "csrfmiddlewaretoken" in r.content.decode()
    r = client.post("/login/", {"username": "ana", "password": "wrong"})
    assert r.status_code == 200 and "Please enter a correct" in r.content.decode()
    r = client.post("/login/", {"username": "ana", "password": PASSWORD}, follow=True)
    html = r.content.decode()
    assert r.status_code == 200 and PROJECT in html and "assessor" in html
    r = client.post("/logout/")
    assert r.status_code == 302
    assert client.get("/").status_code == 302


def test_login_rate_limit(client, lakeland):
    _user("ana", lakeland, "viewer")
    for _ in range(5):
        assert client.post("/login/", {"username": "ana", "password": "nope"}).status_code == 200
    r = client.post("/login/", {"username": "ana", "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed log-ins" in r.content.decode()
    assert client.get("/").status_code == 302  # not logged in
    # other people in the same room (same address) can still log in
    _user("bob", lakeland, "viewer")
    r = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert r.status_code == 302


def test_static_htmx_is_ours(client, lakeland):
    _user("vera", lakeland, "viewer")
    client.login(username="vera", password=PASSWORD)
    html = client.get(f"/p/{PROJECT}/").content.decode()
    assert "/static/a2p/htmx.min.js" in html and "//unpkg" not in html and "cdn" not in html.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("a2p/htmx.min.js") and finders.find("a2p/a2p.css")


# -- project list and permissions -----------------------------------------------------------------------
def test_project_list_shows_only_memberships(client, lakeland):
    from assess2plan.web.store.models import Project

    Project.objects.create(slug="secret", name="Secret project")
    _user("vera", lakeland, "viewer")
    client.login(username="vera", password=PASSWORD)
    html = client.get("/").content.decode()
    assert f'href="/p/{PROJECT}/"' in html and "secret" not in html
    client.logout()
    _user("root", is_superuser=True, is_staff=True)
    client.login(username="root", password=PASSWORD)
    html = client.get("/").content.decode()
    assert f'href="/p/{PROJECT}/"' in html and 'href="/p/secret/"' in html


def test_non_members_get_404_and_roles_rank(rf, client, lakeland):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from assess2plan.web.app.access import require

    _user("olga")  # not a member
    client.login(username="olga", password=PASSWORD)
    assert client.get(f"/p/{PROJECT}/").status_code == 404
    assert client.get(f"/p/{PROJECT}/species/990000001/").status_code == 404
    assert "not a member of its project" in client.get(f"/p/{PROJECT}/").content.decode()
    assert client.get("/p/nosuchproject/").status_code == 404

    expected = {
        "viewer": {"read"},
        "assessor": {"read", "edit"},
        "facilitator": {"read", "edit", "decide"},
        "admin": {"read", "edit", "decide", "manage"},
    }
    for role, allowed in expected.items():
        u = _user(f"u-{role}", lakeland, role)
        req = rf.get("/")
        req.user = u
        for action in ("read", "edit", "decide", "manage"):
            if action in allowed:
                assert require(req, PROJECT, action).role == role
            else:
                with pytest.raises(PermissionDenied):
                    require(req, PROJECT, action)
    req = rf.get("/")
    req.user = _user("root", is_superuser=True)
    assert require(req, PROJECT, "manage").role == "admin"
    req.user = _user("stranger")
    with pytest.raises(Http404):
        require(req, PROJECT, "read")


def test_inactive_member_has_no_access(client, lakeland):
    u = _user("gone", lakeland, "admin")
    client.login(username="gone", password=PASSWORD)
    u.is_active = False
    u.save()
    assert client.get(f"/p/{PROJECT}/").status_code in (302, 404)


# -- planning sheet -------------------------------------------------------------------------------------
def test_sheet_lists_every_species_in_pages(viewer_client):
    total = store.sheet_count(PROJECT)
    assert total == 40
    r = viewer_client.get(f"/p/{PROJECT}/", {"size": 15})
    html = r.content.decode()
    assert r.status_code == 200 and "<html" in html
    assert _summary(html) == "1–15 of 40 taxa"
    first = _species_names(html)
    assert len(first) == 15 and 'rel="next"' in html and 'rel="prev"' not in html
    page3 = viewer_client.get(f"/p/{PROJECT}/", {"size": 15, "page": 3}).content.decode()
    assert _summary(page3) == "31–40 of 40 taxa" and 'rel="next"' not in page3
    names = []
    for p in (1, 2, 3):
        names += _species_names(viewer_client.get(f"/p/{PROJECT}/", {"size": 15, "page": p}).content.decode())
    expected = store.query_sheet(PROJECT)["scientific_name"].to_list()
    assert names == expected and len(set(names)) == 40
    # a page beyond the end shows the last one
    assert (
        _summary(viewer_client.get(f"/p/{PROJECT}/", {"size": 15, "page": 99}).content.decode())
        == "31–40 of 40 taxa"
    )


def test_sheet_filters_match_the_store(viewer_client):
    from assess2plan.sheet import parse_query

    q = parse_query(["category=CR,EN", "country=XA"])
    want = store.query_sheet(PROJECT, q)["scientific_name"].to_list()
    assert 0 < len(want) < 40
    html = viewer_client.get(f"/p/{PROJECT}/", {"q": "category=CR,EN country=XA"}).content.decode()
    assert _species_names(html) == want
    assert _summary(html) == f"1–{len(want)} of {len(want)} taxa"


def test_sheet_shows_query_errors(viewer_client):
    html = viewer_client.get(f"/p/{PROJECT}/", {"q": "colour=blue"}).content.decode()
    assert "unknown filter field" in html and 'id="query-error"' in html
    html = viewer_client.get(f"/p/{PROJECT}/", {"q": "year<abc"}).content.decode()
    assert "needs the field" in html
    html = viewer_client.get(f"/p/{PROJECT}/", {"q": "family='unclosed"}).content.decode()
    assert "cannot read the filters" in html


def test_sheet_search_and_sort(viewer_client):
    from assess2plan.sheet import parse_query

    word = "dam"
    want = store.query_sheet(PROJECT, parse_query([], text=word))["scientific_name"].to_list()
    assert want, "the example mentions dams"
    html = viewer_client.get(f"/p/{PROJECT}/", {"search": word}).content.decode()
    assert _species_names(html) == want
    want = store.query_sheet(PROJECT, parse_query([], sort="-year_published"))["scientific_name"].to_list()
    html = viewer_client.get(f"/p/{PROJECT}/", {"sort": "-year_published"}).content.decode()
    assert _species_names(html) == want
    html = viewer_client.get(f"/p/{PROJECT}/", {"sort": "colour"}).content.decode()
    assert "cannot sort by" in html


def test_sheet_htmx_fragment_and_facets(viewer_client):
    r = viewer_client.get(f"/p/{PROJECT}/", {"q": "category=CR"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html and 'id="sheet-summary"' in html
    facets = store.sheet_facets(PROJECT, None, ["category"])
    n_cr = facets.filter(facets["value"] == "CR")["taxa"][0]
    assert _summary(html) == f"1–{n_cr} of {n_cr} taxa"
    # the facet sidebar of the whole sheet: clicking a value adds its filter
    html = viewer_client.get(f"/p/{PROJECT}/").content.decode()
    m = re.search(r'<a href="(\?[^"]*q=category%3DEN[^"]*)"', html)
    assert m, "category EN facet link"
    n_en = facets.filter(facets["value"] == "EN")["taxa"][0]
    assert f'>EN</a> <span class="n">{n_en}</span>' in html
    url = m.group(1).replace("&amp;", "&")
    html2 = viewer_client.get(f"/p/{PROJECT}/{url}").content.decode()
    assert _summary(html2) == f"1–{n_en} of {n_en} taxa"
    # values with spaces are quoted and still parse
    systems = store.sheet_facets(PROJECT, None, ["system"])
    value, n = systems.row(0)[1:]
    assert " " in value  # "Freshwater (=Inland waters)"
    m = re.search(r'<a href="(\?q=[^"]*system[^"]*)"', html)
    assert m
    html3 = viewer_client.get(f"/p/{PROJECT}/{m.group(1).replace('&amp;', '&')}").content.decode()
    assert 'id="query-error"' not in html3
    assert _summary(html3) == f"1–{n} of {n} taxa"
    assert 'class="active"' in html3


# -- species page -------------------------------------------------------------------------------------
def test_species_page_full_record(viewer_client):
    from assess2plan.sheet import parse_query

    row = store.query_sheet(PROJECT, parse_query(["threat!=none"]), limit=1).row(0, named=True)
    r = viewer_client.get(f"/p/{PROJECT}/species/{row['taxon_id']}/")
    html = r.content.decode()
    assert r.status_code == 200
    assert row["scientific_name"] in html and "Threats" in html and "Assessment history" in html
    for code in row["threats"]:
        assert f"<td>{code}</td>" in html
    assert viewer_client.get(f"/p/{PROJECT}/species/nosuchtaxon/").status_code == 404


def test_species_page_sanitises_narrative_html(viewer_client):
    from assess2plan.web.store.models import Assessment

    a = Assessment.objects.filter(project__slug=PROJECT, latest=True).order_by("id").first()
    Assessment.objects.filter(pk=a.pk).update(
        rationale='<p>Declining <em>fast</em>.</p><script>alert("x")</script>'
        '<img src=x onerror="alert(1)"><a href="javascript:alert(2)">bad link</a>'
    )
    html = viewer_client.get(f"/p/{PROJECT}/species/{a.taxon.taxon_id}/").content.decode()
    assert "<p>Declining <em>fast</em>.</p>" in html
    body = html.split("<main>", 1)[1]
    assert "<script" not in body and "onerror" not in body and "javascript:" not in body
    assert "bad link" in body


# -- edits: roles and optimistic locking ------------------------------------------------------------------
def _actions_needed(taxon_id: str) -> set[str]:
    aset = store.load_set(PROJECT, taxon_ids=[taxon_id])
    return set(aset.actions_needed["code"].to_list())


def _target() -> tuple[str, str]:
    """A species without action 2.1, and its latest assessment id."""
    from assess2plan.sheet import parse_query

    row = store.query_sheet(PROJECT, parse_query(["action_needed!=2.1"]), limit=1).row(0, named=True)
    return row["taxon_id"], row["assessment_id"]


def _post_action(client, tid: str, revision, **form):  # noqa: ANN001, ANN202
    data = {"operation": "add", "code": "2.1", "reason": "workshop day 2", "revision": revision, **form}
    return client.post(f"/p/{PROJECT}/species/{tid}/actions/", data)


def test_edit_permission_per_role(client, lakeland):
    tid, aid = _target()
    rev = store.revisions(PROJECT, [aid])[aid]
    for role in ("viewer", "assessor", "facilitator", "admin"):
        _user(role, lakeland, role)
    _user("olga")
    # who sees the form
    for name, shown in (("viewer", False), ("assessor", True), ("admin", True)):
        client.login(username=name, password=PASSWORD)
        html = client.get(f"/p/{PROJECT}/species/{tid}/").content.decode()
        assert ('name="reason"' in html) is shown, name
        client.logout()
    # who may post
    client.login(username="olga", password=PASSWORD)
    assert _post_action(client, tid, rev).status_code == 404
    client.login(username="viewer", password=PASSWORD)
    assert _post_action(client, tid, rev).status_code == 403
    assert client.get(f"/p/{PROJECT}/species/{tid}/actions/").status_code == 405
    assert "2.1" not in _actions_needed(tid)
    client.login(username="assessor", password=PASSWORD)
    r = _post_action(client, tid, rev, note="Manage the lake shores")
    assert r.status_code == 302 and r["Location"] == f"/p/{PROJECT}/species/{tid}/"
    assert "2.1" in _actions_needed(tid)
    html = client.get(r["Location"]).content.decode()
    assert "Action 2.1 added (edit" in html and "Manage the lake shores" in html
    log = store.list_edits(PROJECT)
    assert log[-1]["made_by"] == "assessor" and log[-1]["reason"] == "workshop day 2"
    client.login(username="facilitator", password=PASSWORD)
    r = _post_action(client, tid, store.revisions(PROJECT, [aid])[aid], operation="remove")
    assert r.status_code == 302 and "2.1" not in _actions_needed(tid)


def test_edit_on_a_stale_page_is_refused(client, lakeland):
    tid, aid = _target()
    _user("ana", lakeland, "assessor")
    _user("ben", lakeland, "assessor")
    seen = store.revisions(PROJECT, [aid])[aid]  # both opened the page at this revision
    client.login(username="ben", password=PASSWORD)
    assert _post_action(client, tid, seen, code="3.1").status_code == 302
    client.logout()
    client.login(username="ana", password=PASSWORD)
    r = _post_action(client, tid, seen)
    html = r.content.decode()
    assert r.status_code == 409 and 'id="edit-error"' in html and "someone changed this species" in html
    assert _actions_needed(tid) >= {"3.1"} and "2.1" not in _actions_needed(tid)
    # bad input names the problem and changes nothing
    fresh = store.revisions(PROJECT, [aid])[aid]
    r = _post_action(client, tid, fresh, code="99.99")
    assert r.status_code == 400 and "not in the conservation actions scheme" in r.content.decode()
    r = _post_action(client, tid, fresh, reason=" ")
    assert r.status_code == 400 and "needs a reason" in r.content.decode()
    r = _post_action(client, tid, "")
    assert r.status_code == 400 and "reload the page" in r.content.decode()
    assert store.revisions(PROJECT, [aid])[aid] == fresh


# -- sensitive taxa -------------------------------------------------------------------------------------
@pytest.fixture
def lakeland_sites(lakeland):
    store.import_sites(PROJECT, example_path() / "sites.csv", user="setup")
    store.import_site_links(PROJECT, example_path() / "species_sites.csv", user="setup")
    return lakeland


def _linked_site_names(taxon_id: str) -> set[str]:
    """Table cells of the sites linked to the taxon (id and name), straight from the example's CSV
    files (independent of the app). Cells, not bare names: the published narrative may name a place."""
    import csv

    with open(example_path() / "sites.csv", newline="", encoding="utf-8") as fh:
        names = {r["site_id"]: r["name"] for r in csv.DictReader(fh)}
    with open(example_path() / "species_sites.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["internalTaxonId"] == taxon_id]
    return {f"<td>{r['site_id']}</td><td>{names[r['site_id']]}</td>" for r in rows}


def test_species_page_shows_sites(viewer_client, lakeland_sites):
    expected = _linked_site_names("990000001")
    assert expected
    html = viewer_client.get(f"/p/{PROJECT}/species/990000001/").content.decode()
    assert 'id="species-sites"' in html
    for name in expected:
        assert name in html


def test_sensitive_taxon_locations_hidden_without_permission(client, lakeland_sites):
    from assess2plan.web.app.models import ProjectMembership

    store.flag_sensitive(PROJECT, ["990000001"], "collected for the aquarium trade", user="admin")
    expected = _linked_site_names("990000001")
    vera = _user("vera", lakeland_sites, "viewer")
    assert client.login(username="vera", password=PASSWORD)
    html = client.get(f"/p/{PROJECT}/species/990000001/").content.decode()
    assert 'id="locations-hidden"' in html and 'id="species-sites"' not in html
    for name in expected:
        assert name not in html
    # the subnational filter could tell where it lives: refused for this user
    r = client.get(f"/p/{PROJECT}/", {"q": "subnational=XA-01"})
    assert "only for users allowed to see the locations" in r.content.decode()
    # once allowed, the same user sees the sites
    ProjectMembership.objects.filter(user=vera).update(sees_sensitive=True)
    html = client.get(f"/p/{PROJECT}/species/990000001/").content.decode()
    assert 'id="species-sites"' in html and all(name in html for name in expected)
    r = client.get(f"/p/{PROJECT}/", {"q": "subnational=XA-01"})
    assert "only for users allowed" not in r.content.decode()


def test_sensitive_flag_cleared_shows_locations(viewer_client, lakeland_sites):
    store.flag_sensitive(PROJECT, ["990000001"], "trade", user="admin")
    assert 'id="locations-hidden"' in viewer_client.get(f"/p/{PROJECT}/species/990000001/").content.decode()
    assert store.unflag_sensitive(PROJECT, ["990000001"], "threat over", user="admin") == ["990000001"]
    html = viewer_client.get(f"/p/{PROJECT}/species/990000001/").content.decode()
    assert 'id="species-sites"' in html
    from assess2plan.web.store.models import SensitiveTaxon

    row = SensitiveTaxon.objects.get(taxon_id="990000001")
    assert row.removed_by == "admin" and row.remove_reason == "threat over"


def test_sheet_answers_follow_edits_and_imports(viewer_client, lakeland):
    """Sheet answers are kept in the shared cache per data version: an edit (or a new import) shows
    at once, the same query before and after."""
    url = f"/p/{PROJECT}/"
    params = {"q": "name=auratus"}
    before = viewer_client.get(url, params).content.decode()
    assert "1–1 of 1 taxa" in _summary(before) or "of 1 taxa" in _summary(before)
    assert "6.4" not in before
    store.edit_actions(
        PROJECT, operation="add", code="6.4", taxa=["990000001"], reason="test", user="ana"
    )
    after = viewer_client.get(url, params).content.decode()
    assert "6.4" in after
    # facet counts follow too: the new action is counted in the sidebar
    assert re.search(r"action_needed%3D6\.4|action_needed=6\.4", after.replace("&amp;", "&"))
