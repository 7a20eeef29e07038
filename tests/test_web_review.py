"""Review pages of the web app (issue 5): findings with bulk fixes, clusters, triage board, audit log.

Runs on the bundled fictional lakeland example, imported through the public store API. Page
content is cross-checked with computations written here from the example's CSV files."""

from __future__ import annotations

import csv
import html as htmllib
import re

import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
PROJECT = "lakeland"
DOWNLOAD = example_path() / "download"
THREATENED = {"Critically Endangered", "Endangered", "Vulnerable"}


# -- fixtures ------------------------------------------------------------------------------------------
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
    store.import_set(read_redlist(DOWNLOAD), project=PROJECT, user="importer")
    from assess2plan.web.store.models import Project

    return Project.objects.get(slug=PROJECT)


@pytest.fixture
def lakeland_sites(lakeland):
    store.import_sites(PROJECT, example_path() / "sites.csv", user="siteadmin")
    store.import_site_links(PROJECT, example_path() / "species_sites.csv", user="siteadmin")
    return lakeland


def _user(name: str, project=None, role: str | None = None, **extra):  # noqa: ANN001, ANN202
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    u = User.objects.create_user(name, password=PASSWORD)
    if project is not None and role:
        ProjectMembership.objects.create(user=u, project=project, role=role, **extra)
    return u


def _client(name: str, project=None, role: str | None = None, **extra):  # noqa: ANN001, ANN202
    """A logged-in test client of its own (several people at once)."""
    from django.test import Client

    _user(name, project, role, **extra)
    c = Client()
    assert c.login(username=name, password=PASSWORD)
    return c


def _csv(name: str) -> list[dict[str, str]]:
    with open(DOWNLOAD / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _text(html: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


def _actions(taxon_id: str) -> set[str]:
    return set(store.load_set(PROJECT, taxon_ids=[taxon_id]).actions_needed["code"].to_list())


def _summary(html: str, id_: str) -> str:
    m = re.search(rf'id="{id_}">([^<]*)<', html)
    assert m, html[:3000]
    return htmllib.unescape(m.group(1)).strip()


URLS = ("findings", "clusters", "triage", "audit")


# -- access per role -----------------------------------------------------------------------------------
def test_pages_per_role(client, lakeland):
    for page in URLS:
        r = client.get(f"/p/{PROJECT}/{page}/")
        assert r.status_code == 302 and r["Location"].startswith("/login/"), page
    for role in ("viewer", "assessor", "facilitator", "admin"):
        c = _client(f"u-{role}", lakeland, role)
        for page in URLS:
            r = c.get(f"/p/{PROJECT}/{page}/")
            assert r.status_code == 200, (role, page)
            html = r.content.decode()
            assert f"u-{role} · {role}" in html and 'aria-current="page"' in html
        # only assessors and up get the bulk fix form; only facilitators and up the decision forms
        findings = c.get(f"/p/{PROJECT}/findings/").content.decode()
        assert ('id="bulk-fix-form"' in findings) is (role != "viewer")
        board = c.get(f"/p/{PROJECT}/triage/").content.decode()
        assert ('data-testid="accept"' in board) is (role in ("facilitator", "admin"))
    olga = _client("olga")  # not a member
    for page in URLS:
        assert olga.get(f"/p/{PROJECT}/{page}/").status_code == 404
        assert olga.get(f"/p/nosuchproject/{page}/").status_code == 404
    assert olga.post(f"/p/{PROJECT}/findings/fix/", {"reason": "x"}).status_code == 404


def test_writes_need_the_role(lakeland):
    viewer = _client("vera", lakeland, "viewer")
    assessor = _client("ana", lakeland, "assessor")
    posts = {
        "findings/fix/": {"fix": "threatened_no_action|990000013|", "reason": "r", "code_all": "2.1"},
        "triage/decide/": {"taxon": "990000013", "bucket": "ex_situ", "decision": "accept", "reason": "r"},
        "triage/undo/": {"decision_id": "1"},
        "audit/undo/": {"edit_id": "1", "reason": "r"},
    }
    for url, data in posts.items():
        assert viewer.post(f"/p/{PROJECT}/{url}", data).status_code == 403, url
        assert viewer.get(f"/p/{PROJECT}/{url}").status_code in (403, 405), url
    # an assessor edits assessments but does not decide buckets
    assert assessor.post(f"/p/{PROJECT}/triage/decide/", posts["triage/decide/"]).status_code == 403
    assert assessor.post(f"/p/{PROJECT}/triage/undo/", posts["triage/undo/"]).status_code == 403
    assert store.list_edits(PROJECT) == [] and store.decision_log(PROJECT).height == 0


# -- findings ------------------------------------------------------------------------------------------
def _counts(html: str) -> dict[tuple[str, str], tuple[int, int]]:
    rows = re.findall(
        r'<tr data-rule="([^"]+)" data-severity="([^"]+)">'
        r'.*?data-count="findings">(\d+)<.*?data-count="species">(\d+)<',
        html,
        flags=re.S,
    )
    return {(r, s): (int(n), int(m)) for r, s, n, m in rows}


def _threatened_without_action() -> set[str]:
    """Threatened species whose assessment lists no conservation action needed (from the CSVs)."""
    with_action = {r["assessmentId"] for r in _csv("conservation_needed.csv") if r["code"].strip()}
    return {
        r["internalTaxonId"]
        for r in _csv("assessments.csv")
        if r["redlistCategory"] in THREATENED and r["assessmentId"] not in with_action
    }


def _past_threats_only_decreasing() -> set[str]:
    """Decreasing species all of whose threats are timed in the past (from the CSVs)."""
    timings: dict[str, list[str]] = {}
    for r in _csv("threats.csv"):
        timings.setdefault(r["assessmentId"], []).append(r["timing"])
    return {
        r["internalTaxonId"]
        for r in _csv("assessments.csv")
        if r["populationTrend"] == "Decreasing"
        and timings.get(r["assessmentId"])
        and all(t.startswith("Past") for t in timings[r["assessmentId"]])
    }


def test_findings_counts_match_independent_counts(lakeland):
    c = _client("vera", lakeland, "viewer")
    html = c.get(f"/p/{PROJECT}/findings/").content.decode()
    counts = _counts(html)
    want = _threatened_without_action()
    assert want, "the example has a threatened species without actions"
    assert counts[("threatened_no_action", "warning")] == (len(want), len(want))
    past = _past_threats_only_decreasing()
    assert past and counts[("decreasing_past_threats_only", "warning")][1] == len(past)
    total = sum(n for n, _ in counts.values())
    assert f"{total} findings for" in html
    assert _summary(html, "findings-summary") == f"1–{total} of {total} findings"
    # the rule filter lists exactly that rule's findings, with a link to each species
    r = c.get(f"/p/{PROJECT}/findings/", {"rule": "threatened_no_action"})
    page = r.content.decode()
    table = page.split('id="findings-table"', 1)[1]
    assert re.findall(r'<tr data-rule="([^"]+)" data-taxon="([^"]+)"', table) == [
        ("threatened_no_action", t) for t in sorted(want)
    ]
    for t in want:
        assert f'href="/p/{PROJECT}/species/{t}/"' in table
    # severity and species filters
    n_error = sum(n for (_, s), (n, _) in counts.items() if s == "error")
    page = c.get(f"/p/{PROJECT}/findings/", {"severity": "error"}).content.decode()
    assert _summary(page, "findings-summary") == f"1–{n_error} of {n_error} findings"
    assert set(
        re.findall(
            r'<tr data-rule="[^"]+" data-taxon="[^"]+">\s*<td><code>[^<]+</code></td>\s*'
            r'<td><span class="sev sev-(\w+)"',
            page,
        )
    ) == {"error"}
    page = c.get(f"/p/{PROJECT}/findings/", {"q": "kettlichthys"}).content.decode()
    taxa = set(
        re.findall(r'<tr data-rule="[^"]+" data-taxon="([^"]+)"', page.split('id="findings-table"', 1)[1])
    )
    assert taxa == {"990000013"}
    # bad filters: a message, not a traceback
    r = c.get(f"/p/{PROJECT}/findings/", {"rule": "no_such_rule"})
    assert r.status_code == 400 and "unknown rule" in r.content.decode()
    r = c.get(f"/p/{PROJECT}/findings/", {"severity": "fatal"}, HTTP_HX_REQUEST="true")
    assert (
        r.status_code == 400
        and "unknown severity" in r.content.decode()
        and "<html" not in r.content.decode()
    )


def test_findings_pages_and_htmx_fragment(lakeland):
    c = _client("vera", lakeland, "viewer")
    full = c.get(f"/p/{PROJECT}/findings/").content.decode()
    total = int(re.search(r"(\d+) findings for", full).group(1))
    seen = []
    for p in (1, 2, 3):
        r = c.get(f"/p/{PROJECT}/findings/", {"size": 20, "page": p}, HTTP_HX_REQUEST="true")
        frag = r.content.decode()
        assert r.status_code == 200 and "<html" not in frag and 'id="findings-summary"' in frag
        seen += re.findall(r'<tr data-rule="([^"]+)" data-taxon="([^"]+)"', frag)
    assert len(seen) == total
    assert _summary(
        c.get(f"/p/{PROJECT}/findings/", {"size": 20, "page": 99}).content.decode(), "findings-summary"
    ) == (f"{20 * ((total - 1) // 20) + 1}–{total} of {total} findings")


def _fix_form(html: str) -> tuple[dict[str, str], dict[str, str]]:
    """(fixable finding ids by 'rule|taxon|code', revisions by taxon) from the bulk fix form."""
    fids = re.findall(r'name="fix" value="([^"]+)"', html)
    revs = dict(re.findall(r'name="rev__([^"]+)" value="(\d+)"', html))
    return {f: f for f in fids}, revs


def test_bulk_fix_adds_and_removes_actions_attributed_and_undoable(lakeland):
    ana = _client("ana", lakeland, "assessor")
    html = ana.get(f"/p/{PROJECT}/findings/", {"fixable": "1"}).content.decode()
    fids, revs = _fix_form(html)
    nutrient = sorted(f for f in fids if f.startswith("major_threat_no_action|") and f.endswith("|9.3.1"))
    assert len(nutrient) == 3  # three species with nutrient loads and no action against them
    remove = "action_already_in_place|990000008|3.1.1"
    assert remove in fids and "3.1.1" in _actions("990000008")
    taxa = [f.split("|")[1] for f in nutrient]
    before = {t: _actions(t) for t in taxa}
    assert all("2.1" not in a for a in before.values())
    data = {
        "fix": [*nutrient, remove],
        "reason": "workshop day 2: nutrient run-off needs site management",
        "note": "buffer strips along the inflows",
        **{f"code__{f}": "2.1" for f in nutrient},
        **{f"rev__{t}": v for t, v in revs.items()},
    }
    r = ana.post(f"/p/{PROJECT}/findings/fix/", data)
    assert r.status_code == 302 and r["Location"].startswith(f"/p/{PROJECT}/findings/")
    for t in taxa:
        assert _actions(t) == before[t] | {"2.1"}
    assert "3.1.1" not in _actions("990000008")
    aset = store.load_set(PROJECT, taxon_ids=taxa)
    notes = aset.actions_needed.filter(aset.actions_needed["code"] == "2.1")["note"].to_list()
    assert notes == ["buffer strips along the inflows"] * 3
    log = store.list_edits(PROJECT)
    assert [(e["operation"], e["code"], e["made_by"], e["assessments"]) for e in log] == [
        ("add", "2.1", "ana", 3),
        ("remove", "3.1.1", "ana", 1),
    ]
    assert {e["reason"] for e in log} == {"workshop day 2: nutrient run-off needs site management"}
    # the findings are recomputed: the fixed ones are gone
    page = ana.get(r["Location"]).content.decode()
    assert "Fixes applied" in page and "audit log" in page
    left, _ = _fix_form(ana.get(f"/p/{PROJECT}/findings/", {"fixable": "1"}).content.decode())
    assert not set(nutrient) & set(left) and remove not in left
    # the audit page lists the edits with an undo button; undoing restores the actions
    audit = ana.get(f"/p/{PROJECT}/audit/", {"kind": "edit"}).content.decode()
    add_id = log[0]["id"]
    assert f'id="edit-{add_id}"' in audit and f"Undo edit {add_id}" in audit
    r = ana.post(f"/p/{PROJECT}/audit/undo/", {"edit_id": add_id, "reason": "wrong code, 1.2 meant"})
    assert r.status_code == 302
    for t in taxa:
        assert _actions(t) == before[t]
    undo = store.list_edits(PROJECT)[-1]
    assert undo["operation"] == "undo" and undo["undoes"] == add_id and undo["made_by"] == "ana"
    assert undo["reason"] == "wrong code, 1.2 meant"
    again = _fix_form(ana.get(f"/p/{PROJECT}/findings/", {"fixable": "1"}).content.decode())[0]
    assert set(nutrient) <= set(again)


def test_bulk_fix_threatened_without_action_and_select_all(lakeland):
    """threatened_no_action proposes the actions against the species' own major threats; one code
    for all selected additions overrides the per-row choice."""
    ana = _client("ana", lakeland, "assessor")
    html = ana.get(f"/p/{PROJECT}/findings/", {"q": "990000013", "fixable": "1"}).content.decode()
    fids, revs = _fix_form(html)
    assert "threatened_no_action|990000013|" in fids and 'id="select-all-shown"' in html
    options = re.search(r'name="code__threatened_no_action\|990000013\|">(.*?)</select>', html, re.S)
    assert options and '<option value="1.1">' in options.group(1)
    data = {
        "fix": list(fids),
        "reason": "groundwater plan",
        "code_all": "1.1",
        **{f"rev__{t}": v for t, v in revs.items()},
    }
    assert ana.post(f"/p/{PROJECT}/findings/fix/", data).status_code == 302
    assert "1.1" in _actions("990000013")
    counts = _counts(ana.get(f"/p/{PROJECT}/findings/").content.decode())
    assert ("threatened_no_action", "warning") not in counts


def test_bulk_fix_on_a_stale_page_is_refused_and_changes_nothing(lakeland):
    ana = _client("ana", lakeland, "assessor")
    ben = _client("ben", lakeland, "assessor")
    html = ana.get(f"/p/{PROJECT}/findings/", {"fixable": "1"}).content.decode()
    fids, revs = _fix_form(html)
    first = "major_threat_no_action|990000001|9.3.1"
    second = "action_already_in_place|990000016|1.1"
    assert first in fids and second in fids
    # meanwhile ben edits the second species from its own page
    ben_page = ben.get(f"/p/{PROJECT}/species/990000016/").content.decode()
    ben_rev = re.search(r'name="revision" value="(\d+)"', ben_page).group(1)
    r = ben.post(
        f"/p/{PROJECT}/species/990000016/actions/",
        {"operation": "add", "code": "6.4", "reason": "payments to farmers", "revision": ben_rev},
    )
    assert r.status_code == 302 and "6.4" in _actions("990000016")
    snapshot = {t: _actions(t) for t in ("990000001", "990000016")}
    n_edits = len(store.list_edits(PROJECT))
    data = {
        "fix": [first, second],
        "reason": "day 3",
        f"code__{first}": "2.1",
        **{f"rev__{t}": v for t, v in revs.items()},
    }
    r = ana.post(f"/p/{PROJECT}/findings/fix/", data)
    page = r.content.decode()
    assert r.status_code == 409 and 'id="fix-error"' in page and "someone changed these species" in page
    # the first edit (a valid one) was rolled back with the refused one
    assert {t: _actions(t) for t in snapshot} == snapshot
    assert len(store.list_edits(PROJECT)) == n_edits
    # the form comes back with the selection and the reason
    assert 'value="day 3"' in page and f'value="{first}" id="fix-' in page


def test_bulk_fix_bad_input_changes_nothing(lakeland):
    ana = _client("ana", lakeland, "assessor")
    fids, revs = _fix_form(ana.get(f"/p/{PROJECT}/findings/", {"fixable": "1"}).content.decode())
    fid = "major_threat_no_action|990000001|9.3.1"
    base = {"fix": [fid], f"code__{fid}": "2.1", **{f"rev__{t}": v for t, v in revs.items()}}
    cases = [
        ({**base, "reason": "  "}, "needs a reason"),
        ({**base, "fix": [], "reason": "r"}, "select at least one finding"),
        ({**base, "reason": "r", "code_all": "99.99"}, "not in the conservation actions scheme"),
        ({**base, "reason": "r", f"code__{fid}": ""}, "say which action needed to add"),
        ({"fix": [fid], "reason": "r", f"code__{fid}": "2.1"}, "lacks the revision"),
        ({**base, "reason": "r", "fix": ["criteria_syntax|990000001|"]}, "not a finding this page can fix"),
    ]
    for data, message in cases:
        r = ana.post(f"/p/{PROJECT}/findings/fix/", data)
        assert r.status_code == 400, message
        assert message in htmllib.unescape(r.content.decode()), message
    assert store.list_edits(PROJECT) == []
    # a finding that no longer stands (fixed by someone else, same revision check) -> 409
    store.edit_actions(PROJECT, operation="add", code="1.2", taxa=["990000001"], reason="other", user="ben")
    r = ana.post(f"/p/{PROJECT}/findings/fix/", {**base, "reason": "r"})
    assert r.status_code == 409 and len(store.list_edits(PROJECT)) == 1


# -- clusters ------------------------------------------------------------------------------------------
def _cluster_rows(html: str) -> dict[str, int]:
    return {
        cid: int(n)
        for cid, n in re.findall(
            r'<tr data-cluster="([^"]+)"[^>]*>.*?<td class="num">(\d+)</td>', html, flags=re.S
        )
    }


def _site_threat_members(site: str, prefix: str) -> set[str]:
    """Threatened species linked to ``site`` with any threat at or below ``prefix`` (from the CSVs)."""
    with open(example_path() / "species_sites.csv", newline="", encoding="utf-8") as fh:
        at_site = {r["internalTaxonId"] for r in csv.DictReader(fh) if r["site_id"] == site}
    threatened = {r["internalTaxonId"] for r in _csv("assessments.csv") if r["redlistCategory"] in THREATENED}
    with_threat = {
        r["internalTaxonId"]
        for r in _csv("threats.csv")
        if r["code"] == prefix or r["code"].startswith(prefix + ".")
    }
    return at_site & threatened & with_threat


def test_clusters_page_and_members(lakeland_sites):
    c = _client("vera", lakeland_sites, "viewer")
    html = c.get(f"/p/{PROJECT}/clusters/").content.decode()
    rows = _cluster_rows(html)
    assert rows and all(n >= 2 for n in rows.values())
    assert list(rows.values()) == sorted(rows.values(), reverse=True)
    # any impact, by site: the members of "8.1 at Lake Mirren" are exactly those of the CSV files
    want = _site_threat_members("VL01", "8.1")
    r = c.get(
        f"/p/{PROJECT}/clusters/", {"min_impact": "any", "by": "site", "cluster": "threat:8.1|site:VL01"}
    )
    page = r.content.decode()
    assert r.status_code == 200
    assert _cluster_rows(page)["threat:8.1|site:VL01"] == len(want)
    members = page.split('id="cluster-members-table"', 1)[1].split("</table>", 1)[0]
    assert set(re.findall(r'<tr data-taxon="([^"]+)"', members)) == want
    assert "is linked to the site Lake Mirren (VL01)" in htmllib.unescape(members)
    # every cluster listed is of the requested kind
    assert all("|site:" in cid for cid in _cluster_rows(page))
    # the minimum size and the text filter
    big = _cluster_rows(c.get(f"/p/{PROJECT}/clusters/", {"min_size": 5}).content.decode())
    assert big == {k: v for k, v in rows.items() if v >= 5}
    some = _cluster_rows(c.get(f"/p/{PROJECT}/clusters/", {"q": "valdora"}).content.decode())
    assert some and all(":XA" in k for k in some)
    # action clusters: same action needed in the same place
    acts = _cluster_rows(c.get(f"/p/{PROJECT}/clusters/", {"actions": "1"}).content.decode())
    assert acts and all(k.startswith("action:") for k in acts)
    # HTMX answers the fragment; bad options are named
    r = c.get(f"/p/{PROJECT}/clusters/", {"by": "galaxy"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "galaxy" in r.content.decode() and "<html" not in r.content.decode()
    r = c.get(f"/p/{PROJECT}/clusters/", {"min_impact": "Huge"})
    assert r.status_code == 400 and "unknown impact" in r.content.decode()
    r = c.get(f"/p/{PROJECT}/clusters/", {"cluster": "threat:99|site:nowhere"})
    assert "no cluster" in r.content.decode()


# -- triage --------------------------------------------------------------------------------------------
def _board_rows(html: str) -> list[tuple[str, str, str]]:
    """(taxon, bucket, status) of the rows of the board."""
    return re.findall(r'<tr data-taxon="([^"]+)" data-bucket="([^"]+)" data-status="([^"]+)"', html)


def test_triage_board_lists_every_threatened_species(lakeland_sites):
    c = _client("vera", lakeland_sites, "viewer")
    html = c.get(f"/p/{PROJECT}/triage/").content.decode()
    rows = _board_rows(html)
    threatened = {r["internalTaxonId"] for r in _csv("assessments.csv") if r["redlistCategory"] in THREATENED}
    assert threatened <= {t for t, _, _ in rows}
    assert {b for _, b, _ in rows} == {"single_species", "site_based", "threat_based", "ex_situ"}
    assert {s for _, _, s in rows} == {"suggested"}
    # the site-based reasons name the shared site
    assert "Shares a site with other threatened species" in htmllib.unescape(html)
    # one bucket, filtered by name; HTMX answers the board only
    r = c.get(f"/p/{PROJECT}/triage/", {"bucket": "ex_situ", "q": "mirren"}, HTTP_HX_REQUEST="true")
    frag = r.content.decode()
    assert "<html" not in frag and 'id="triage-board"' in frag
    got = _board_rows(frag)
    assert got and all(b == "ex_situ" for _, b, _ in got)
    names = dict(re.findall(r'<tr data-taxon="([^"]+)".*?<em>([^<]+)</em>', frag, flags=re.S))
    assert all("mirren" in n.lower() for n in names.values())
    assert c.get(f"/p/{PROJECT}/triage/", {"bucket": "nowhere"}).status_code == 400


def _decide(client, taxon: str, bucket: str, decision: str, reason: str, htmx: bool = False, **extra):  # noqa
    """Post a bucket decision as the board's forms do."""
    data = {"taxon": taxon, "decision": decision, "reason": reason, **extra}
    data["to_bucket" if decision == "add" else "bucket"] = bucket
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/p/{PROJECT}/triage/decide/", data, **headers)


def test_triage_decision_needs_a_reason(lakeland):
    fay = _client("fay", lakeland, "facilitator")
    for htmx in (False, True):
        r = _decide(fay, "990000013", "ex_situ", "accept", "   ", htmx=htmx)
        page = r.content.decode()
        assert r.status_code == 400 and 'id="decision-error"' in page and "give a reason" in page
        assert ("<html" in page) is (not htmx)
    r = _decide(fay, "990000013", "nowhere", "accept", "because")
    assert r.status_code == 400
    r = _decide(fay, "no such species", "ex_situ", "accept", "because")
    assert r.status_code == 400 and "Not saved" in r.content.decode()
    assert store.decision_log(PROJECT).height == 0


def test_two_facilitators_decide_the_same_species_both_kept(lakeland):
    fay = _client("fay", lakeland, "facilitator")
    gus = _client("gus", lakeland, "facilitator")
    tid, bucket = "990000013", "ex_situ"
    # both open the board: nothing decided yet on this species
    seen = re.search(
        rf'name="taxon" value="{tid}"><input type="hidden" name="bucket" value="{bucket}">'
        r'<input type="hidden" name="seen" value="([^"]*)"',
        gus.get(f"/p/{PROJECT}/triage/").content.decode(),
    ).group(1)
    assert seen == ""
    r = _decide(fay, tid, bucket, "accept", "one location left: insurance population", htmx=True)
    assert r.status_code == 200 and "Decision" in r.content.decode()
    r = _decide(gus, tid, bucket, "reject", "springs protected since 2020", htmx=True, seen=seen)
    page = htmllib.unescape(r.content.decode())
    assert r.status_code == 200 and 'id="decision-note"' in page and "fay had decided “accept”" in page
    log = store.decision_log(PROJECT)
    assert log.select("decision", "made_by", "reason").rows() == [
        ("accept", "fay", "one location left: insurance population"),
        ("reject", "gus", "springs protected since 2020"),
    ]
    # the board shows the latest, and the history keeps both
    board = fay.get(f"/p/{PROJECT}/triage/", {"bucket": bucket, "q": tid}).content.decode()
    assert (tid, bucket, "rejected") in _board_rows(board)
    row = board.split(f'<tr data-taxon="{tid}" data-bucket="{bucket}"', 1)[1].split("</tr>", 1)[0]
    text = htmllib.unescape(row)
    assert "2 decisions" in text and "one location left" in text and "springs protected since 2020" in text
    # undo the latest: the earlier one counts again; undoing twice is refused
    last = log["decision_id"][-1]
    r = fay.post(
        f"/p/{PROJECT}/triage/undo/", {"decision_id": last, "reason": "gus was looking at another spring"}
    )
    assert r.status_code == 302
    board = fay.get(f"/p/{PROJECT}/triage/", {"bucket": bucket, "q": tid}).content.decode()
    assert (tid, bucket, "accepted") in _board_rows(board)
    r = fay.post(f"/p/{PROJECT}/triage/undo/", {"decision_id": last}, HTTP_HX_REQUEST="true")
    assert r.status_code == 409 and "undone already" in r.content.decode()
    assert store.decision_log(PROJECT).height == 2
    assert store.decision_log(PROJECT)["undone_by"].to_list() == [None, "fay"]


def test_add_a_species_to_another_bucket(lakeland):
    fay = _client("fay", lakeland, "facilitator")
    # an LC species that no rule triages
    lc = next(
        r["internalTaxonId"] for r in _csv("assessments.csv") if r["redlistCategory"] == "Least Concern"
    )
    assert lc not in {t for t, _, _ in _board_rows(fay.get(f"/p/{PROJECT}/triage/").content.decode())}
    r = _decide(fay, lc, "site_based", "add", "indicator species of the lake plan")
    assert r.status_code == 302
    board = fay.get(f"/p/{PROJECT}/triage/", {"q": lc}).content.decode()
    assert _board_rows(board) == [(lc, "site_based", "added")]
    d = store.decision_log(PROJECT).row(0, named=True)
    assert (d["taxon_id"], d["bucket"], d["decision"], d["made_by"]) == (lc, "site_based", "add", "fay")


# -- audit log -----------------------------------------------------------------------------------------
def test_audit_lists_imports_edits_decisions_with_their_users(lakeland_sites):
    store.edit_actions(
        PROJECT, operation="add", code="2.2", taxa=["990000013"], reason="invasives", user="ana"
    )
    store.decide_bucket(PROJECT, "990000013", "ex_situ", "accept", "one location", user="fay")
    store.flag_for_reassessment(PROJECT, "990000013", "new survey data", user="rita")
    store.flag_sensitive(PROJECT, ["990000002"], "aquarium trade", user="admin1")
    store.raise_event(
        PROJECT, "VL01", "Algal bloom in the northern bays", user="eve", notify_subscribers=False
    )
    store.add_stakeholder(PROJECT, "lake-trust", "Lake Mirren Trust", user="sam")
    store.sign_up(PROJECT, "lake-trust", "2.1", taxon="990000013", note="spring fencing", user="sam")
    c = _client("vera", lakeland_sites, "viewer")
    html = c.get(f"/p/{PROJECT}/audit/").content.decode()
    rows = re.findall(
        r'<tr data-kind="([^"]+)" data-user="([^"]+)"[^>]*>'
        r'.*?<td class="what">(.*?)</td>\s*<td class="why">(.*?)</td>',
        html,
        flags=re.S,
    )
    found = {(k, u) for k, u, _, _ in rows}
    assert {
        ("import", "importer"),
        ("edit", "ana"),
        ("decision", "fay"),
        ("flag", "rita"),
        ("sensitive", "admin1"),
        ("site", "siteadmin"),
        ("event", "eve"),
        ("stakeholder", "sam"),
        ("commitment", "sam"),
    } <= found
    by_kind = {k: (htmllib.unescape(w), htmllib.unescape(y)) for k, _, w, y in rows}
    assert (
        "2.2 added for 1 species: Kettlichthys fontinalis" in by_kind["edit"][0]
        and by_kind["edit"][1] == "invasives"
    )
    assert "accept ex situ evaluation for Kettlichthys fontinalis" in by_kind["decision"][0]
    assert "Algal bloom in the northern bays" in by_kind["event"][0]
    assert "Lake Mirren Trust signs up for action 2.1 for taxon 990000013" in by_kind["commitment"][0]
    assert by_kind["commitment"][1] == "spring fencing"
    n_assessments = len(_csv("assessments.csv"))
    assert f"{n_assessments} assessments added" in by_kind["import"][0]
    # newest first: the edit came after the import
    kinds = [k for k, _, _, _ in rows]
    assert kinds.index("commitment") < kinds.index("sensitive") < kinds.index("edit") < kinds.index("import")
    # a viewer sees no undo button
    assert 'data-testid="undo-edit"' not in html
    # filters and pages
    page = c.get(f"/p/{PROJECT}/audit/", {"user": "fay"}).content.decode()
    assert set(re.findall(r'<tr data-kind="[^"]+" data-user="([^"]+)"', page)) == {"fay"}
    total = int(re.search(r"of (\d+) entries", html).group(1))
    assert total == len(rows)
    page = c.get(f"/p/{PROJECT}/audit/", {"kind": "edit"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page and set(re.findall(r'<tr data-kind="([^"]+)"', page)) == {"edit"}
    assert c.get(f"/p/{PROJECT}/audit/", {"kind": "gossip"}).status_code == 400


def test_audit_undo_refused_and_needs_reason(lakeland):
    ana = _client("ana", lakeland, "assessor")
    e1 = store.edit_actions(PROJECT, operation="add", code="2.2", taxa=["990000013"], reason="r1", user="ana")
    store.edit_actions(PROJECT, operation="add", code="1.1", taxa=["990000013"], reason="r2", user="ben")
    before = _actions("990000013")
    r = ana.post(f"/p/{PROJECT}/audit/undo/", {"edit_id": e1.edit_id, "reason": " "})
    assert r.status_code == 400 and "give a reason" in r.content.decode()
    r = ana.post(f"/p/{PROJECT}/audit/undo/", {"edit_id": e1.edit_id, "reason": "not needed"})
    page = htmllib.unescape(r.content.decode())
    assert r.status_code == 409 and 'id="undo-error"' in page and "cannot undo edit" in page
    assert _actions("990000013") == before and len(store.list_edits(PROJECT)) == 2
    r = ana.post(f"/p/{PROJECT}/audit/undo/", {"edit_id": "999999", "reason": "x"})
    assert r.status_code == 400 and "no edit 999999" in r.content.decode()


# -- sensitive species -----------------------------------------------------------------------------------
def test_sensitive_species_sites_hidden_on_review_pages(lakeland_sites):
    tid = "990000001"  # linked to Lake Mirren (VL01) and Mirren Shore National Park (VL08)
    store.flag_sensitive(PROJECT, [tid], "collected for the aquarium trade", user="admin1")
    vera = _client("vera", lakeland_sites, "viewer")
    sara = _client("sara", lakeland_sites, "viewer", sees_sensitive=True)
    site_options = {"min_impact": "any", "by": "site", "cluster": "threat:8.1|site:VL01"}
    want = _site_threat_members("VL01", "8.1")
    assert tid in want
    # clusters: the allowed viewer sees the species at the site, the other does not
    page = sara.get(f"/p/{PROJECT}/clusters/", site_options).content.decode()
    assert f'<tr data-taxon="{tid}"' in page and _cluster_rows(page)["threat:8.1|site:VL01"] == len(want)
    page = vera.get(f"/p/{PROJECT}/clusters/", site_options).content.decode()
    assert f'<tr data-taxon="{tid}"' not in page
    assert _cluster_rows(page)["threat:8.1|site:VL01"] == len(want) - 1
    # non-site clusters keep it
    page = vera.get(
        f"/p/{PROJECT}/clusters/", {"by": "country", "cluster": "threat:8.1|country:XA"}
    ).content.decode()
    assert f'<tr data-taxon="{tid}"' in page

    # triage: its site-based reason names no site for the restricted viewer
    def row_of(client) -> str:  # noqa: ANN001
        board = client.get(f"/p/{PROJECT}/triage/", {"bucket": "site_based", "q": tid}).content.decode()
        return htmllib.unescape(
            board.split(f'<tr data-taxon="{tid}" data-bucket="site_based"', 1)[1].split("</tr>", 1)[0]
        )

    assert "Lake Mirren (site VL01" in row_of(sara)
    hidden = row_of(vera)
    assert (
        "Shares a site" in hidden
        and "Lake Mirren" not in hidden
        and "VL01" not in hidden
        and "[hidden]" in hidden
    )

    # audit: the site links of the sensitive species are left out for the restricted viewer
    def links(client) -> str:  # noqa: ANN001
        return htmllib.unescape(
            client.get(f"/p/{PROJECT}/audit/", {"kind": "site", "size": 200}).content.decode()
        )

    assert "Mirrenichthys auratus" in links(sara) and "Mirrenichthys auratus" not in links(vera)


def test_history_restore_gets_the_whole_page(lakeland):
    """After "back", HTMX asks for the whole page (HX-History-Restore-Request), not a fragment."""
    c = _client("vera", lakeland, "viewer")
    for page in URLS:
        r = c.get(f"/p/{PROJECT}/{page}/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
        assert r.status_code == 200 and "<html" in r.content.decode(), page
        r = c.get(f"/p/{PROJECT}/{page}/", HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and "<html" not in r.content.decode(), page


def test_same_place_findings_hide_subnational_places_of_sensitive_species(lakeland):
    """Same-place findings name places and example species: for a user who may not see a sensitive
    species' locations, its subnational place is hidden and it is left out of other findings' examples."""
    from assess2plan.web.app.views_review import HIDDEN, Redactor, _hide_places

    hidden = frozenset({"990000001"})
    red = Redactor(PROJECT, hidden)
    ev = {
        "threat": "8.1",
        "kind": "subnational",
        "place": "XA-NR",
        "examples": ["A b", "Mirrenichthys auratus"],
        "other_places": ["XA-SO"],
    }
    row = {
        "rule": "same_place_threat_missing",
        "taxon_id": "990000001",
        "message": "threat 8.1 in XA-NR but not here",
    }
    out = _hide_places(row, dict(ev), hidden, {"Mirrenichthys auratus"}, red)
    assert out["place"] == HIDDEN and "other_places" not in out and "XA-NR" not in row["message"]
    row = {"rule": "same_place_threat_missing", "taxon_id": "990000003", "message": "threat 8.1 in XA-NR"}
    out = _hide_places(row, dict(ev), hidden, {"Mirrenichthys auratus"}, red)
    assert out["place"] == "XA-NR" and out["examples"] == ["A b"] and row["message"] == "threat 8.1 in XA-NR"
    # a country-level place is no secret
    row = {"rule": "same_place_threat_missing", "taxon_id": "990000003", "message": "m"}
    out = _hide_places(row, {**ev, "kind": "country", "place": "XA"}, hidden, {"Mirrenichthys auratus"}, red)
    assert out["examples"] == ev["examples"]
