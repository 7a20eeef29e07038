"""The ex situ pages (issue 6): pre-screen, holdings and CITES uploads, the five-step assessment
saved step by step (roles, bad input, stale versions), the decision report.

Runs on the bundled fictional lakeland example imported through the public store API; the
example's fictional holdings table and CITES checklist are uploaded through the pages. Expected
values are recomputed here from the example's CSV files with plain Python."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator

import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
PROJECT = "lakeland"
TAXON = "990000001"  # Mirrenichthys auratus, CR in the example
NAME = "Mirrenichthys auratus"
ROOT = example_path()
BASE = f"/p/{PROJECT}/exsitu/"
PAGE = f"{BASE}{TAXON}/"


def step_url(step: str) -> str:
    return f"{PAGE}step/{step}/"


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
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
    from assess2plan.web.store.models import Project

    return Project.objects.get(slug=PROJECT)


def _user(name: str, project=None, role: str | None = None):  # noqa: ANN001, ANN202
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    u = User.objects.create_user(name, password=PASSWORD)
    if project is not None and role:
        ProjectMembership.objects.create(user=u, project=project, role=role)
    return u


def _client(name: str, project=None, role: str | None = None):  # noqa: ANN001, ANN202
    from django.test import Client

    _user(name, project, role)
    c = Client()
    assert c.login(username=name, password=PASSWORD)
    return c


@pytest.fixture
def people(lakeland):  # noqa: ANN001, ANN201
    """A client per role (vera viewer, ana assessor, fay facilitator, ada admin, nora no member)."""
    return {
        "viewer": _client("vera", lakeland, "viewer"),
        "assessor": _client("ana", lakeland, "assessor"),
        "facilitator": _client("fay", lakeland, "facilitator"),
        "admin": _client("ada", lakeland, "admin"),
        "outsider": _client("nora"),
    }


@pytest.fixture
def started(people):  # noqa: ANN001, ANN201
    r = people["facilitator"].post(f"{BASE}start/", {"taxon": TAXON})
    assert r.status_code == 302 and r["Location"] == PAGE, r
    return people


# -- independent readings of the example files ----------------------------------------------------------
def _csv(name: str) -> list[dict[str, str]]:
    with open(ROOT / "download" / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _latest_assessment_id(taxon: str) -> str:
    rows = [r for r in _csv("assessments.csv") if r["internalTaxonId"] == taxon and "Global" in r["scopes"]]
    return max(rows, key=lambda r: (r["yearPublished"], r["assessmentId"]))["assessmentId"]


def _threat_codes(taxon: str) -> list[str]:
    aid = _latest_assessment_id(taxon)
    return sorted({r["code"] for r in _csv("threats.csv") if r["assessmentId"] == aid})


def _holdings_total(name: str) -> int:
    """The latest census of each institution, added up (what step 1 must show)."""
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    with open(ROOT / "holdings.csv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["Scientific Name"] != name:
                continue
            key = (r["Institution"], r["Country"])
            total = int(r["Total"])
            if key not in latest or r["Date"] > latest[key][0]:
                latest[key] = (r["Date"], total)
            elif r["Date"] == latest[key][0]:
                latest[key] = (r["Date"], latest[key][1] + total)
    return sum(t for _, t in latest.values())


def _factor_ids() -> list[str]:
    import tomllib

    from assess2plan.exsitu import guidelines

    with open(guidelines.data_path("factors.toml"), "rb") as fh:
        data = tomllib.load(fh)
    ids = [f["id"] for f in data.get("factor", data.get("factors", []))]
    assert ids, data.keys()
    return ids


def _role_ids() -> list[str]:
    from assess2plan.exsitu import guidelines

    return [r.id for r in guidelines.roles()]


def _version(client) -> int:  # noqa: ANN001
    html = client.get(PAGE).content.decode()
    m = re.search(r'id="version-roles" value="(\d+)"', html)
    assert m, html[:3000]
    return int(m.group(1))


def _saved() -> dict:
    return store.get_exsitu_assessment(PROJECT, TAXON)


def _text(r) -> str:  # noqa: ANN001
    from django.utils.html import strip_tags

    return re.sub(r"\s+", " ", strip_tags(r.content.decode())).replace("&#x27;", "'").replace("&quot;", '"')


def _upload(client, kind: str, path_or_bytes, name: str = "holdings.csv", **extra):  # noqa: ANN001, ANN202
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return client.post(f"{BASE}{kind}/", {"file": SimpleUploadedFile(name, body, "text/csv"), **extra})


def _full_forms(version: int) -> dict[str, dict]:
    """A valid form for each step (one role linked to a threat, every factor scored)."""
    threat = _threat_codes(TAXON)[0]
    return {
        "status": {"version": version, "in_situ_summary": "Lake Mirren only; declining.", "ex_situ_summary": "",
                   "notes": ""},
        "roles": {"version": version, "role__insurance_population__considered": "1",
                  f"role__insurance_population__threat__{threat}": "buys_time",
                  "role__insurance_population__rationale": "The perch cannot be removed within ten years."},
        "dimensions": {"version": version, "gene_diversity_goal": "90", "years": "100",
                       "generation_length": "3", "ne_n": "0.3", "founders": "20", "notes": ""},
        "feasibility": {"version": version,
                        **{f"score__{f}": str(1 + i % 5) for i, f in enumerate(_factor_ids())},
                        **{f"rationale__{f}": f"because {f}" for f in _factor_ids()}},
        "decision": {"version": version, "outcome": "retain", "retain": ["insurance_population"],
                     "rationale": "Insurance population at two aquaria while the perch is controlled."},
    }  # fmt: skip


# -- access -------------------------------------------------------------------------------------------------
def test_pages_need_login_and_membership(client, people):
    r = client.get(BASE)
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert people["outsider"].get(BASE).status_code == 404
    assert people["outsider"].get(PAGE).status_code == 404
    assert people["outsider"].post(f"{BASE}start/", {"taxon": TAXON}).status_code == 404
    assert people["viewer"].get(f"/p/{PROJECT}/exsitu/999999999/").status_code == 404  # no such taxon


def test_roles_who_may_do_what(people):
    viewer, assessor, fac = people["viewer"], people["assessor"], people["facilitator"]
    # only facilitators and admins start assessments and import files
    assert viewer.post(f"{BASE}start/", {"taxon": TAXON}).status_code == 403
    assert assessor.post(f"{BASE}start/", {"taxon": TAXON}).status_code == 403
    assert _upload(assessor, "holdings", ROOT / "holdings.csv").status_code == 403
    assert store.list_exsitu_sources(PROJECT).height == 0
    r = viewer.get(PAGE)
    assert r.status_code == 200 and "No ex situ assessment of this species" in _text(r)
    assert f'data-testid="start-{TAXON}"' not in r.content.decode()  # no button for a viewer
    assert fac.post(f"{BASE}start/", {"taxon": TAXON}).status_code == 302
    forms = _full_forms(1)
    # a viewer reads everything, saves nothing
    r = viewer.get(PAGE)
    assert r.status_code == 200 and NAME in r.content.decode()
    assert 'data-testid="save-roles"' not in r.content.decode()
    for step in ("status", "roles", "dimensions", "feasibility", "translocation", "refresh", "decision"):
        assert viewer.post(step_url(step), forms.get(step, {"version": 1})).status_code == 403, step
    assert _saved()["version"] == 1
    # an assessor saves steps 1-4, not the decision
    version = 1
    for step in ("status", "roles", "dimensions", "feasibility"):
        r = assessor.post(step_url(step), {**forms[step], "version": version})
        assert r.status_code == 302, (step, _text(r)[:500])
        version += 1
    assert _saved()["version"] == version and _saved()["updated_by"] == "ana"
    html = assessor.get(PAGE).content.decode()
    assert 'data-testid="save-roles"' in html and 'data-testid="save-decision"' not in html
    assert assessor.post(step_url("decision"), {**forms["decision"], "version": version}).status_code == 403
    assert _saved()["record"]["decision"]["outcome"] is None
    # the facilitator decides
    r = fac.post(step_url("decision"), {**forms["decision"], "version": version})
    assert r.status_code == 302
    d = _saved()["record"]["decision"]
    assert d["outcome"] == "retain" and d["decided_by"] == "fay" and d["decided_at"]
    assert people["admin"].get(PAGE).status_code == 200


# -- the pre-screen ---------------------------------------------------------------------------------------
def test_prescreen_lists_the_critically_endangered_with_reasons(people):
    cr = {r["internalTaxonId"]: r["scientificName"] for r in _csv("assessments.csv")
          if r["redlistCategory"] in ("Critically Endangered", "Extinct in the Wild")}  # fmt: skip
    assert TAXON in cr
    r = people["viewer"].get(BASE)
    assert r.status_code == 200
    html = r.content.decode()
    shown = set(re.findall(r'data-testid="prescreen-row-(\d+)"', html))
    assert set(cr) <= shown
    m = re.search(rf'data-testid="prescreen-reasons-{TAXON}">([^<]+)<', html)
    assert m and "critically endangered" in m.group(1).lower()
    assert 'data-testid="exsitu-rules"' in html and "extinct_in_the_wild" in html  # the rules, documented
    assert f'data-testid="start-{TAXON}"' not in html  # a viewer gets no start button
    assert f'data-testid="start-{TAXON}"' in people["facilitator"].get(BASE).content.decode()


def test_holdings_upload_feeds_prescreen_and_step_one(people):
    fac = people["facilitator"]
    extra = b"Nonexistus fictus,Osmaria Zoo,XC,1,0,0,1,2025-12-01,ZIMS test\n"
    body = (ROOT / "holdings.csv").read_bytes() + extra
    r = _upload(fac, "holdings", body)
    assert r.status_code == 200, _text(r)[:800]
    text = _text(r)
    assert "Nonexistus fictus" in text  # the unmatched name is listed
    src = store.list_exsitu_sources(PROJECT)
    assert src.height == 1 and src["made_by"][0] == "fay" and src["rows"][0] == body.count(b"\n") - 1
    r = _upload(fac, "cites", ROOT / "cites_checklist.csv", name="cites.csv")
    assert r.status_code == 200, _text(r)[:800]
    # the same holdings file again is refused, with nothing changed
    r = _upload(fac, "holdings", body)
    assert r.status_code == 400 and "already imported" in _text(r)
    assert store.list_exsitu_sources(PROJECT).height == 2
    # the pre-screen page now lists the holdings rule for the species with holdings
    html = people["viewer"].get(BASE).content.decode()
    m = re.search(rf'data-testid="prescreen-row-{TAXON}".*?</tr>', html, re.S)
    assert m and "ex_situ_holdings" in m.group(0)
    assert "Nonexistus fictus" in html  # unmatched names stay listed
    # step 1 shows the latest census of each institution, added up
    fac.post(f"{BASE}start/", {"taxon": TAXON})
    page = _text(people["viewer"].get(PAGE))
    assert f"{_holdings_total(NAME)} individuals" in page
    assert "Appendix I" in page


def test_holdings_upload_bad_file_changes_nothing(people):
    fac = people["facilitator"]
    bad = b"Scientific Name,Institution,Country,Males,Females,Unknown,Date,Source\n" \
          b"Mirrenichthys auratus,Mirren Aquarium,XA,3,-4,1,2026-01-31,ZIMS test\n"  # fmt: skip
    r = _upload(fac, "holdings", bad, name="zims-export.csv")
    assert r.status_code == 400
    text = _text(r)
    m = re.search(r'data-testid="exsitu-import-error">([^<]+)<', r.content.decode())
    assert m, text[:1000]
    msg = m.group(1).replace("&#x27;", "'")
    # the first data row is row 1 (the header is row 0: errors.InputError)
    assert "zims-export.csv, row 1, column 'Females', value '-4'" in msg, msg
    assert "Nothing was imported" in msg and "Traceback" not in text
    assert store.list_exsitu_sources(PROJECT).height == 0 and store.holdings(PROJECT).height == 0
    r = fac.post(f"{BASE}holdings/", {})
    assert r.status_code == 400 and "choose the holdings table" in _text(r)


def test_cites_annotation_is_sanitised(people, tmp_path):
    fac = people["facilitator"]
    rows = list(csv.reader(io.StringIO((ROOT / "cites_checklist.csv").read_text(encoding="utf-8"))))
    header = rows[0]
    col = header.index("AnnotationEnglish")
    for r in rows[1:]:
        if r[header.index("FullName")] == NAME:
            r[col] = 'Appendix I: <i>bad</i><script>alert("x")</script><a href="javascript:alert(1)">y</a>'
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    assert _upload(fac, "cites", out.getvalue().encode(), name="cites.csv").status_code == 200
    fac.post(f"{BASE}start/", {"taxon": TAXON})
    html = fac.get(PAGE).content.decode()
    assert "<i>bad</i>" in html
    assert "<script>alert" not in html and "javascript:alert" not in html


# -- the five steps ---------------------------------------------------------------------------------------
def test_five_step_walk_checked_against_the_store(started):
    fac = started["facilitator"]
    html = fac.get(PAGE).content.decode()
    # step 1 is pre-filled with the species' threats (as in the example's threats.csv)
    m = re.search(r'data-testid="status-threats">.*?</table>', html, re.S)
    assert m
    assert re.findall(r"<tr><td>([\d.]+)</td>", m.group(0)) == _threat_codes(TAXON)
    assert _saved()["version"] == 1
    forms = _full_forms(1)
    version = 1
    for step in ("status", "roles", "dimensions", "feasibility", "decision"):
        r = fac.post(step_url(step), {**forms[step], "version": version})
        assert r.status_code == 302 and r["Location"].endswith(f"#step-{step}"), (step, _text(r)[:600])
        version += 1
        assert _saved()["version"] == version
    a = _saved()
    rec = a["record"]
    assert rec["status"]["in_situ_summary"] == "Lake Mirren only; declining."
    threat = _threat_codes(TAXON)[0]
    assert rec["roles"] == [{"role": "insurance_population", "considered": True,
                             "threats": [{"code": threat, "link": "buys_time"}],
                             "rationale": "The perch cannot be removed within ten years."}]  # fmt: skip
    dims = rec["dimensions"]
    assert dims["gene_diversity_goal"] == pytest.approx(0.9) and dims["generation_length"] == 3
    assert [(s["factor"], s["score"]) for s in rec["feasibility"]] == [
        (f, 1 + i % 5) for i, f in enumerate(_factor_ids())
    ]
    assert rec["decision"]["outcome"] == "retain" and rec["decision"]["roles"] == ["insurance_population"]
    assert rec["decision"]["decided_by"] == "fay" and a["updated_by"] == "fay"
    # the target population, recomputed here from the textbook formula
    t = 100 / 3
    gdf = 1 - 1 / (2 * 20)
    ne = math.ceil(1 / (2 * (1 - (0.9 / gdf) ** (1 / t))))
    n = math.ceil(ne / 0.3)
    assert (dims["result"]["ne"], dims["result"]["n"]) == (ne, n)
    page = _text(fac.get(PAGE))
    assert f"Ne = {ne}, N = {n} individuals" in page
    assert "GD(t)" in page  # the formula is shown
    assert "Decided by fay" in page
    # every step done, in the list on the ex situ page and in the history
    listing = _text(fac.get(BASE))
    assert "1 2 3 4 5" in listing and "retain" in listing
    hist = store.assessment_history(PROJECT, TAXON)
    assert [h["step"] for h in hist] == ["start", "status", "roles", "dimensions", "feasibility", "decision"]
    assert all(h["made_by"] == "fay" for h in hist)


def test_htmx_save_updates_the_section_and_every_version(started):
    ana = started["assessor"]
    forms = _full_forms(1)
    r = ana.post(step_url("roles"), forms["roles"], HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.lstrip().startswith('<section id="step-roles"')
    assert "Saved 2. Ex situ roles (version 2)" in html
    # the other forms of the page get the new version out of band; the decision is shown again
    for s in ("status", "refresh", "dimensions", "feasibility", "translocation"):
        assert re.search(rf'id="version-{s}" value="2" hx-swap-oob="true"', html), s
    assert re.search(r'<section id="step-decision"[^>]*hx-swap-oob="true"', html)
    assert 'id="retain-insurance_population"' in html
    assert re.search(r'id="exsitu-history"[^>]*hx-swap-oob', html)
    # a save made with the moved-on version of another form goes through
    r = ana.post(step_url("dimensions"), {**forms["dimensions"], "version": 2}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and _saved()["version"] == 3
    # bad input over HTMX: the section again with the user's entries and the message, 400
    r = ana.post(step_url("dimensions"), {**forms["dimensions"], "version": 3, "ne_n": "lots"},
                 HTTP_HX_REQUEST="true")  # fmt: skip
    assert r.status_code == 400
    html = r.content.decode()
    assert "ne_n" in html and 'value="lots"' in html and "hx-swap-oob" not in html
    assert _saved()["version"] == 3


@pytest.mark.parametrize(
    ("step", "change", "words"),
    [
        ("feasibility", {"score__husbandry": "7"}, ["husbandry", "1 to 5", "7"]),
        ("feasibility", {"rationale__husbandry": ""}, ["rationale", "husbandry"]),
        ("feasibility", {"score__husbandry": "", "rationale__husbandry": "why"}, ["husbandry", "score"]),
        ("roles", {"role__time_machine__considered": "1"}, ["time_machine", "unknown ex situ role"]),
        ("roles", {"role__insurance_population__threat__1.1": "addresses"}, ["1.1", "threats"]),
        ("roles", {"role__insurance_population__threat__8.1.2": "teleports"}, ["teleports", "link"]),
        ("dimensions", {"ne_n": "1.5"}, ["ne_n", "1.5"]),
        ("decision", {"retain": []}, ["decision.roles", "name the roles"]),
        ("decision", {"rationale": "  "}, ["decision.rationale", "rationale"]),
        ("decision", {"outcome": ""}, ["decision.outcome", "retain"]),
        ("decision", {"retain": ["research"]}, ["research", "considered in step 2"]),
        ("translocation", {"kind": "teleportation"}, ["translocation.kind", "teleportation"]),
        ("translocation", {"kind": "", "tr__conservation_benefit__answer": "yes"}, ["kind"]),
        (
            "translocation",
            {"kind": "reintroduction", "tr__conservation_benefit__answer": "perhaps"},
            ["conservation_benefit", "perhaps"],
        ),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(started, step, change, words):
    fac = started["facilitator"]
    forms = _full_forms(1)
    # roles first, so that a decision can name them
    assert fac.post(step_url("roles"), forms["roles"]).status_code == 302
    before = _saved()
    form = {**forms.get(step, {}), "version": before["version"], **change}
    r = fac.post(step_url(step), form)
    assert r.status_code == 400, _text(r)[:800]
    m = re.search(r'data-testid="step-error">([^<]+)<', r.content.decode())
    assert m, _text(r)[:1500]
    msg = m.group(1).replace("&#x27;", "'").replace("&quot;", '"')
    assert msg.startswith("Not saved:")
    for w in words:
        assert w in msg, (w, msg)
    after = _saved()
    assert after["version"] == before["version"] and after["record"] == before["record"]
    assert "Traceback" not in r.content.decode()


def test_stale_version_is_refused_and_overwrites_nothing(started):
    ana, fay = started["assessor"], started["facilitator"]
    v = _version(ana)
    assert _version(fay) == v
    forms = _full_forms(v)
    # ana saves first
    assert (
        ana.post(step_url("status"), {**forms["status"], "in_situ_summary": "ana's summary"}).status_code
        == 302
    )
    # fay's form was made from the same version: refused, with who saved meanwhile
    r = fay.post(step_url("status"), {**forms["status"], "in_situ_summary": "fay's summary"})
    assert r.status_code == 409
    text = _text(r)
    assert "Not saved" in text and "ana saved this assessment meanwhile" in text and f"version {v}" in text
    assert "ana's summary" in text  # the page shows the saved version
    a = _saved()
    assert a["version"] == v + 1 and a["record"]["status"]["in_situ_summary"] == "ana's summary"
    # over HTMX: every step again from the saved version (409), nothing written
    r = fay.post(step_url("roles"), {**forms["roles"], "version": v}, HTTP_HX_REQUEST="true")
    assert r.status_code == 409 and r["HX-Retarget"] == "#exsitu-steps"
    html = r.content.decode()
    assert (
        html.lstrip().startswith('<div id="exsitu-steps"') and f'id="version-roles" value="{v + 1}"' in html
    )
    assert _saved()["version"] == v + 1 and _saved()["record"]["roles"] == []
    # the decision too
    r = fay.post(step_url("decision"), {**_full_forms(v)["decision"], "version": v})
    assert r.status_code == 409 and _saved()["record"]["decision"]["outcome"] is None
    # a form without a version is refused
    r = fay.post(step_url("status"), {"in_situ_summary": "x"})
    assert r.status_code == 400 and "lacks the version" in _text(r)
    assert _saved()["version"] == v + 1


def test_translocation_checklist_verdict(started):
    from assess2plan.exsitu import guidelines

    ana = started["assessor"]
    r = ana.post(step_url("translocation"), {"version": 1, "kind": "reintroduction", "notes": ""})
    assert r.status_code == 302
    items = guidelines.translocation_checklist("reintroduction")
    html = ana.get(PAGE).content.decode()
    shown = re.findall(r'data-testid="item-([a-z0-9_]+)"', html)
    assert shown == [i.id for i in sorted(items, key=lambda i: list(dict.fromkeys(
        x.section for x in items)).index(i.section))]  # fmt: skip
    blocking = next(i for i in items if i.blocking)
    risk = next(i for i in items if i.kind == "risk")
    r = ana.post(step_url("translocation"), {
        "version": 2, "kind": "reintroduction", "notes": "",
        f"tr__{blocking.id}__answer": "no", f"tr__{blocking.id}__note": "perch still present",
        f"tr__{risk.id}__answer": "yes", f"tr__{risk.id}__risk": "high",
    })  # fmt: skip
    assert r.status_code == 302
    tr = _saved()["record"]["translocation"]
    assert tr["kind"] == "reintroduction"
    assert tr["answers"][blocking.id] == {"answer": "no", "risk": None, "note": "perch still present"}
    assert tr["answers"][risk.id]["risk"] == "high"
    text = _text(ana.get(PAGE))
    assert "Do not proceed" in text and "2 of" in text
    # a kind that does not ask some of these questions: their answers are not kept, and it is said
    ask_ac = {i.id for i in guidelines.translocation_checklist("assisted_colonisation")}
    only_reintro = [i.id for i in items if i.id not in ask_ac]
    if only_reintro:
        r = ana.post(step_url("translocation"), {"version": 3, "kind": "assisted_colonisation", "notes": "",
                                                 f"tr__{only_reintro[0]}__answer": "yes"})  # fmt: skip
        assert r.status_code == 302
        assert only_reintro[0] not in _saved()["record"]["translocation"]["answers"]
        assert "not kept" in _text(ana.get(PAGE))


def test_refresh_from_data_keeps_the_texts(started):
    fac = started["facilitator"]
    assert fac.post(step_url("status"), {**_full_forms(1)["status"]}).status_code == 302
    assert _saved()["record"]["status"]["holdings"]["total"] == 0
    assert _upload(fac, "holdings", ROOT / "holdings.csv").status_code == 200
    r = fac.post(step_url("refresh"), {"version": 2})
    assert r.status_code == 302
    st = _saved()["record"]["status"]
    assert st["holdings"]["total"] == _holdings_total(NAME)
    assert st["in_situ_summary"] == "Lake Mirren only; declining."
    assert store.assessment_history(PROJECT, TAXON)[-1]["step"] == "refresh"


def test_starting_twice_opens_the_existing_one(started):
    fac = started["facilitator"]
    r = fac.post(f"{BASE}start/", {"taxon": NAME})  # by name
    assert r.status_code == 302 and r["Location"] == PAGE
    assert _saved()["version"] == 1
    r = fac.post(f"{BASE}start/", {"taxon": "Nonexistus fictus"})
    assert r.status_code == 400 and "Not started" in _text(r) and "Nonexistus fictus" in _text(r)


# -- the decision report --------------------------------------------------------------------------------------
def test_decision_report_pdf_and_html(started):
    import pypdfium2 as pdfium

    fac, viewer = started["facilitator"], started["viewer"]
    forms = _full_forms(1)
    version = 1
    for step in ("roles", "decision"):
        assert fac.post(step_url(step), {**forms[step], "version": version}).status_code == 302
        version += 1
    r = viewer.get(f"{PAGE}report.pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"].startswith("attachment;") and ".pdf" in r["Content-Disposition"]
    doc = pdfium.PdfDocument(r.content)
    text = " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    text = re.sub(r"\s+", " ", text)
    assert NAME in text
    assert "Insurance population at two aquaria" in text
    assert "fay" in text
    r = viewer.get(f"{PAGE}report.html")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/html")
    assert "Insurance population at two aquaria while the perch is controlled." in r.content.decode()
    assert viewer.get(f"{PAGE}report.docx").status_code == 404
    assert started["outsider"].get(f"{PAGE}report.pdf").status_code == 404


def test_species_page_links_to_the_ex_situ_assessment(people):
    r = people["viewer"].get(f"/p/{PROJECT}/species/{TAXON}/")
    assert r.status_code == 200
    assert f'href="{PAGE}" data-testid="species-exsitu"' in r.content.decode()
    page = people["viewer"].get(PAGE)
    assert page.status_code == 200 and "Mirrenichthys auratus" in page.content.decode()
