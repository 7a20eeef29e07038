"""API v4: reading saved responses (real recorded ones and fictional look-alikes) and the live client.

The live client is exercised against a real HTTP server on 127.0.0.1 serving fictional data; time
is an injected fake clock so retries and rate limiting are observed without waiting.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import threading
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import polars as pl
import pytest

from assess2plan import schemes
from assess2plan.errors import ApiError, InputError
from assess2plan.io.api_v4 import RedListClient, read_api_json
from assess2plan.model import ASSESSMENT_CHILDREN
from tests.conftest import shared_path

FIXTURES = Path(__file__).parent / "fixtures" / "api_v4"
FULL = FIXTURES / "assessment_fictitia_imaginaria.json"
WRAPPED = FIXTURES / "wrapped_assessment_fictitia_nusquam.json"
LISTING = FIXTURES / "taxa_sis_900001.json"
CODE_LIST = FIXTURES / "code_list_threats.json"

TOKEN = "fictional-token-7f3a9c-do-not-leak"
DOTTED = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _load(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _body(obj):
    if isinstance(obj, dict) and "body" in obj and "status" in obj:
        return obj["body"]
    return obj


def _rows(df: pl.DataFrame, **eq) -> list[dict]:
    for k, v in eq.items():
        df = df.filter(pl.col(k) == v)
    return df.to_dicts()


# ================================================================================================
# Fictional look-alikes
# ================================================================================================


def test_full_assessment_fills_every_table():
    s = read_api_json([FULL])
    aid, tid = "990000001", "900001"

    (a,) = s.assessments.to_dicts()
    assert a["assessment_id"] == aid and a["taxon_id"] == tid
    assert a["scientific_name"] == "Fictitia imaginaria"
    assert (a["category"], a["category_label"], a["criteria_version"]) == ("EN", "Endangered", "3.1")
    assert a["criteria"] == "B1ab(iii)+2ab(iii)"
    assert a["year_published"] == 2023
    assert a["assessment_date"] == date(2023, 4, 29)
    assert a["scopes"] == "Global"
    assert a["systems"] == "Terrestrial|Freshwater (=Inland waters)"
    assert a["realms"] == "Neotropical|Nearctic"
    assert a["possibly_extinct"] is False and a["possibly_extinct_in_the_wild"] is False
    assert a["population_trend"] == "Decreasing"
    assert a["rationale"].startswith("<p>Listed as Endangered")  # HTML kept
    assert a["range_text"] == "<p>Known only from two fictional valleys.</p>"
    assert a["habitat_text"] == "Montane streams."
    assert a["conservation_actions_text"] == "<p>A captive colony exists.</p>"
    assert a["use_trade_text"] is None
    assert a["taxonomic_notes"] == "Formerly placed in <em>Rana</em>."
    assert a["url"].endswith("/900001/990000001") and "Accessed on" in a["citation"]

    (t,) = s.taxa.to_dicts()
    assert t["taxon_id"] == tid and t["family"] == "FICTIDAE" and t["genus"] == "Fictitia"
    assert t["species"] == "imaginaria" and t["authority"] == "Nobody, 2001" and t["class_name"] == "AMPHIBIA"
    assert t["taxonomic_notes"] == "Formerly placed in <em>Rana</em>."

    th = {r["code"]: r for r in s.threats.to_dicts()}
    assert set(th) == {"8.1.1", "5.3.5", "99.9"}
    assert (th["8.1.1"]["impact_score"], th["8.1.1"]["impact"]) == (6, "Medium Impact")  # from the API score
    assert th["8.1.1"]["ias"] == "Batrachochytrium fictivum" and th["8.1.1"]["name"] == "Unspecified species"
    assert (th["5.3.5"]["impact_score"], th["5.3.5"]["impact"]) == (8, "High Impact")  # no score: SIS rule
    assert th["5.3.5"]["international_trade"] == "Yes"
    assert (th["99.9"]["impact_score"], th["99.9"]["impact"]) == (None, "Past Impact")
    assert s.threats["stress_codes"].null_count() == 3  # v4 does not link stresses to threats

    other = {r["field"]: r["value"] for r in s.other_fields.to_dicts()}
    assert (
        other["stresses"] == "2.1|1.2" and other["stress_names"] == "Species mortality|Ecosystem degradation"
    )
    assert other["upper_elevation_limit"] == "1200" and other["generational_length"] == "4.5"
    assert other["estimated_extent_of_occurence"] == "80"  # the API's spelling
    assert other["latest"] == "true" and other["trend_justification"] == "Surveys since 2010."
    assert other["endemic_in"] == "ECU-OO"
    assert "congregatory" not in other and "conservation_actions_in_place" not in other

    assert _rows(s.actions_needed, code="1.1")[0]["note"] == "Protect both valleys"
    assert _rows(s.actions_needed, code="3.4.1")[0]["note"] is None  # "" -> null
    assert sorted(s.research_needed["code"]) == ["1.2", "1.5"]

    aip = {r["name"]: r for r in s.actions_in_place.to_dicts()}
    assert aip["Action Recovery Plan"]["field"] == "InPlaceResearchRecoveryPlan"
    assert aip["Action Recovery Plan"]["value"] == "No"
    assert aip["Subject to ex-situ conservation"]["field"] == "InPlaceSpeciesManagementExSitu"
    assert aip["Subject to ex-situ conservation"]["group"] == "In-place species management"
    assert aip["Imaginary husbandry protocol"]["field"] is None

    hab = {r["code"]: r for r in s.habitats.to_dicts()}
    assert set(hab) == {"5.1", "1.9", "5.10"}  # 5.10 stays 5.10
    assert hab["5.1"]["major_importance"] == "Yes" and hab["1.9"]["suitability"] == "Marginal"
    assert hab["5.10"]["season"] == "Breeding Season"

    occ = {(r["kind"], r["code"]): r for r in s.occurrence.to_dicts()}
    assert set(occ) == {("subnational", "ECU-OO"), ("country", "PE"), ("lme", "13"), ("fao", "87")}
    assert occ[("subnational", "ECU-OO")]["seasonality"] == "Resident|Breeding Season"
    assert occ[("country", "PE")]["presence"] == "Possibly Extinct"
    assert occ[("country", "PE")]["formerly_bred"] == "Yes" and occ[("country", "PE")]["seasonality"] is None
    assert occ[("fao", "87")]["name"] == "Pacific - southeast"

    (ut,) = s.use_trade.to_dicts()
    assert (ut["code"], ut["international"], ut["national"], ut["subsistence"]) == (
        "13",
        "true",
        "false",
        None,
    )

    cr = s.credits.sort("order").to_dicts()
    assert [(c["credit_type"], c["order"]) for c in cr] == [
        ("Assessor", 1),
        ("Reviewer", 2),
        ("Facilitator", 3),
    ]
    assert (
        cr[0]["names"] == "Ann Example (Nowhere University)|Ben Sample"
        and cr[0]["text"] == "Example, A. & Sample, B."
    )
    assert cr[2]["names"] is None

    cn = {r["name"]: r for r in s.common_names.to_dicts()}
    assert cn["Imaginary Frog"]["main"] is True and cn["Grenouille imaginaire"]["language"] == "fre"
    syn = {r["name"]: r for r in s.synonyms.to_dicts()}
    assert syn["Rana imaginaria Nobody, 2001"]["genus"] == "Rana"
    assert syn["Rana imaginaria Nobody, 2001"]["species_author"] == "Nobody, 2001"
    ssp = syn["Fictitia imaginaria ssp. minor Someone, 2005"]
    assert (ssp["infra_type"], ssp["infra_name"], ssp["infra_author"]) == (
        "subspecies",
        "minor",
        "Someone, 2005",
    )

    # every child row carries both keys
    for table in ("threats", "habitats", "occurrence", "credits", "other_fields", "actions_in_place"):
        assert set(s.tables[table]["assessment_id"]) == {aid}
        assert set(s.tables[table]["taxon_id"]) == {tid}

    (src,) = s.sources
    assert src.format == "api-v4" and src.rows == 1 and len(src.sha256) == 64 and src.path == str(FULL)

    # codes outside the schemes are imported, with a warning naming the file and the code
    msgs = [str(i) for i in s.issues]
    assert any("99.9" in m and "threats" in m and FULL.name in m for m in msgs)
    assert any("Imaginary husbandry protocol" in m for m in msgs)
    assert not any("stress" in m for m in msgs)  # the flat stress list is not reported


def test_wrapped_listing_and_summaries_full_wins():
    s = read_api_json([LISTING, FULL, WRAPPED])
    a = s.assessments.sort("assessment_id")
    assert a["assessment_id"].to_list() == ["990000000", "990000001", "990000002", "990000003"]
    full = _rows(a, assessment_id="990000001")[0]
    assert full["category"] == "EN" and full["rationale"] is not None  # the full record, not the summary
    assert len(_rows(s.threats, assessment_id="990000001")) == 3

    summary = _rows(a, assessment_id="990000003")[0]
    assert summary["category"] is None and summary["year_published"] == 2018
    assert summary["scopes"] == "Europe|Mediterranean" and summary["taxon_id"] == "900001"
    assert summary["scientific_name"] == "Fictitia imaginaria"  # from the listing's taxon
    assert _rows(s.other_fields, assessment_id="990000000", field="latest")[0]["value"] == "false"

    wrapped = _rows(a, assessment_id="990000002")[0]
    assert wrapped["category"] == "CR" and wrapped["possibly_extinct"] is True
    assert _rows(s.threats, assessment_id="990000002")[0]["impact"] == "Unknown"

    assert sorted(s.taxa["taxon_id"]) == ["900001", "900002"]
    assert s.common_names.height == 2  # the taxon's names once, not once per file

    summaries = [i for i in s.issues if "summaries" in i.message]
    assert (
        len(summaries) == 1
        and summaries[0].file == str(LISTING)
        and "2 assessment(s)" in summaries[0].message
    )
    assert {src.path: src.rows for src in s.sources} == {str(LISTING): 3, str(FULL): 1, str(WRAPPED): 1}


def test_folder_is_read_recursively_and_code_lists_are_skipped(tmp_path):
    nested = tmp_path / "pull" / "deeper"
    nested.mkdir(parents=True)
    for f in (FULL, WRAPPED, LISTING, CODE_LIST):
        shutil.copy(f, nested / f.name)
    (tmp_path / "pull" / "notes.txt").write_text("not json")
    s = read_api_json([tmp_path / "pull"])
    assert s.assessments.height == 4
    skipped = [i for i in s.issues if "not assessment data" in i.message]
    assert len(skipped) == 1 and skipped[0].file.endswith("code_list_threats.json")
    assert "code list" in skipped[0].message and "'threats'" in skipped[0].message


def test_json_array_of_assessments(tmp_path):
    arr = [_load(FULL), _load(WRAPPED)]  # bare and wrapped elements may be mixed
    p = tmp_path / "many.json"
    p.write_text(json.dumps(arr), encoding="utf-8")
    s = read_api_json([p])
    assert sorted(s.assessments["assessment_id"]) == ["990000001", "990000002"]
    assert s.sources[0].rows == 2


def test_invalid_json_names_file_line_and_column(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{\n  "assessment_id": 1,\n  "taxon": {,\n}\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_api_json([p])
    assert e.value.file == str(p)
    assert "line 3, column 13" in str(e.value)
    assert e.value.line == 3


def test_saved_error_answer_is_an_input_error(tmp_path):
    p = tmp_path / "denied.json"
    p.write_text(
        json.dumps({"uri": "https://example.invalid/api/v4/x", "status": 403, "body": {"error": "Forbidden"}})
    )
    with pytest.raises(InputError, match="403 'Forbidden'"):
        read_api_json([p])


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_api_json([tmp_path / "nope.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .json files"):
        read_api_json([tmp_path / "empty"])


def test_differing_copies_of_one_assessment_keep_the_most_recently_accessed(tmp_path):
    old = _load(FULL)
    new = copy.deepcopy(old)
    new["citation"] = new["citation"].replace("2 May 2024", "3 June 2025")
    new["habitats"] = new["habitats"][:1]
    (tmp_path / "a_new.json").write_text(json.dumps(new))
    (tmp_path / "b_old.json").write_text(json.dumps(old))
    s = read_api_json([tmp_path])
    assert s.assessments.height == 1 and s.habitats.height == 1
    (issue,) = [i for i in s.issues if "different content" in i.message]
    assert issue.file.endswith("b_old.json") and "2025-06-03" in issue.message


def test_progress_is_reported():
    calls = []
    read_api_json([FULL, WRAPPED], progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert calls[0][1:] == (0, 2) and calls[-1][1:] == (2, 2)


# ================================================================================================
# Real recorded API answers (../shared/data, never copied)
# ================================================================================================


def _real_files() -> list[Path]:
    base = shared_path("redlist-api-v4")
    return sorted(base.glob("iucn-r-client/*.json")) + sorted(base.glob("rredlist/*.json"))


def _real_full_files() -> list[tuple[Path, dict]]:
    out = []
    for f in _real_files():
        obj = _load(f)
        if isinstance(obj, dict) and str(obj.get("status", "200")) != "200":
            continue
        body = _body(obj)
        if isinstance(body, dict) and "assessment_id" in body and "taxon" in body:
            out.append((f, body))
    assert len(out) >= 20
    return out


@pytest.mark.realdata
def test_real_full_assessments_map_every_list():
    for f, body in _real_full_files():
        s = read_api_json([f])
        aid = str(body["assessment_id"])
        assert s.assessments["assessment_id"].to_list() == [aid], f
        n = {t: s.tables[t].filter(pl.col("assessment_id") == aid).height for t in ASSESSMENT_CHILDREN}
        assert n["threats"] == len(body["threats"]), f
        assert n["actions_needed"] == len(body["conservation_actions"]), f
        assert n["research_needed"] == len(body["researches"]), f
        assert n["habitats"] == len(body["habitats"]), f
        assert n["use_trade"] == len(body["use_and_trade"]), f
        assert n["credits"] == len(body["credits"]), f
        in_place = sum(len(g["actions"]) for g in body["supplementary_info"]["conservation_actions_in_place"])
        assert n["actions_in_place"] == in_place, f
        occ = s.occurrence.group_by("kind").len()
        kinds = dict(zip(occ["kind"], occ["len"], strict=True))
        assert kinds.get("country", 0) + kinds.get("subnational", 0) == len(body["locations"]), f
        assert kinds.get("fao", 0) == len(body["faos"]) and kinds.get("lme", 0) == len(body["lmes"]), f
        assert sorted(s.occurrence.filter(pl.col("kind") == "country")["code"]) == sorted(
            x["code"] for x in body["locations"] if len(x["code"]) == 2
        ), f
        for table in ("threats", "actions_needed", "research_needed", "habitats", "use_trade"):
            codes = s.tables[table]["code"].to_list()
            assert all(DOTTED.match(c) for c in codes), (f, table, codes)
        assert sorted(s.threats["code"]) == sorted(x["code"].replace("_", ".") for x in body["threats"])
        a = s.assessments.row(0, named=True)
        assert a["category"] == body["red_list_category"]["code"] and a["year_published"] == int(
            body["year_published"]
        )
        assert a["assessment_date"] == date.fromisoformat(body["assessment_date"][:10])
        assert s.taxa["taxon_id"].to_list() == [str(body["taxon"]["sis_id"])]
        assert s.common_names.height == len(body["taxon"]["common_names"])
        assert s.synonyms.height == len(body["taxon"]["synonyms"])
        stresses = _rows(s.other_fields, field="stresses")
        if body["stresses"]:
            assert stresses[0]["value"].split("|") == list(
                dict.fromkeys(x["code"].replace("_", ".") for x in body["stresses"])
            )
        else:
            assert stresses == []
        assert not [i for i in s.issues if "not in the current" in i.message], f  # all codes known


@pytest.mark.realdata
def test_real_threat_scores_agree_with_the_sis_impact_rule():
    """Every published ``score`` equals our timing+scope+severity rule (schemes.impact)."""
    seen = Counter()
    for f, body in _real_full_files():
        for t in body["threats"]:
            if t.get("score") is None:
                continue
            api = schemes.parse_api_score(t["score"])
            ours = schemes.impact(t["timing"], t["scope"], t["severity"])
            assert ours == api, (f.name, t["code"], t["timing"], t["scope"], t["severity"], t["score"])
            seen[api[1]] += 1
        s = read_api_json([f])
        for row, t in zip(s.threats.to_dicts(), body["threats"], strict=True):
            assert (row["impact_score"], row["impact"]) == schemes.parse_api_score(t["score"])
    # the recorded answers cover the scored bands, unknown and past impacts
    assert {"High Impact", "Medium Impact", "Low Impact", "Unknown", "Past Impact"} <= set(seen)


@pytest.mark.realdata
def test_real_bad_key_answer_is_a_clear_input_error():
    f = shared_path("redlist-api-v4", "rredlist", "rl_species-badkey.json")
    with pytest.raises(InputError) as e:
        read_api_json([f])
    msg = str(e.value)
    assert e.value.file == str(f) and "401" in msg and "Unauthorized" in msg and "key" in msg
    f404 = shared_path("redlist-api-v4", "rredlist", "rl_assessment_list_warning2.json")
    with pytest.raises(InputError, match="404 'Assessment ID 5 not found'"):
        read_api_json([f404])


@pytest.mark.realdata
def test_real_non_assessment_answers_are_skipped_with_a_warning():
    base = shared_path("redlist-api-v4")
    files = [
        base / "rredlist" / "rl_threats-def.json",  # code list, wrapped
        base / "iucn-r-client" / "list_codes_scope__scopes.json",  # code list, bare
        base / "rredlist" / "rr_GET.json",  # family names
        base / "iucn-r-client" / "gss_data_all__green_status_all.json",
        base / "rredlist" / "rl_sp_count.json",
        base / "rredlist" / "rl_version.json",
        base / "iucn-r-client" / "rl_version__information_api_version.json",
    ]
    s = read_api_json(files)
    assert s.assessments.height == 0
    skipped = {Path(i.file).name for i in s.issues if "not assessment data" in i.message}
    assert skipped == {f.name for f in files}
    assert all(src.rows == 0 for src in s.sources)


@pytest.mark.realdata
def test_real_multipage_listing_gives_each_minimal_assessment_once():
    base = shared_path("redlist-api-v4", "rredlist")
    pages = sorted(base.glob("page_assessments_multipage*.json")) + [base / "Sturnidae_metadata.json"]
    ids: list[int] = []
    for p in pages:
        ids += [a["assessment_id"] for a in _load(p)["body"]["assessments"]]
    assert len(ids) > len(set(ids))  # Sturnidae_metadata.json repeats page 1
    s = read_api_json(pages)
    a = s.assessments
    assert a.height == len(set(ids)) == a["assessment_id"].n_unique()
    assert set(a["assessment_id"]) == {str(i) for i in ids}
    assert a["category"].null_count() == a.height  # summaries carry no category
    assert a["year_published"].null_count() == 0 and a["scopes"].null_count() == 0
    latest = _rows(s.other_fields, field="latest")
    assert len(latest) == a.height
    assert any("summaries" in i.message for i in s.issues)


@pytest.mark.realdata
def test_real_full_assessment_wins_over_its_listing_row():
    base = shared_path("redlist-api-v4", "rredlist")
    s = read_api_json([base / "rl_sis_latest.json", base / "rl_sis_latest__1.json"])
    listing = _load(base / "rl_sis_latest.json")["body"]["assessments"]
    assert s.assessments.height == len({a["assessment_id"] for a in listing})
    row = _rows(s.assessments, assessment_id="136250858")[0]
    assert row["category"] == "CR" and row["criteria"]
    assert s.taxa.height == 1 and s.taxa["scientific_name"][0] == "Gorilla gorilla"


@pytest.mark.realdata
def test_real_folders_read_whole_except_saved_errors():
    s = read_api_json([shared_path("redlist-api-v4", "iucn-r-client")])
    assert s.assessments["assessment_id"].n_unique() == s.assessments.height
    assert {"742738", "2911619", "58307800", "178423675"} <= set(s.assessments["assessment_id"])
    assert s.threats.height > 0 and s.occurrence.height > 0


# ================================================================================================
# Live client against a real local HTTP server (fictional data)
# ================================================================================================


class FakeClock:
    """Monotonic clock + sleep: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def _fictional_assessment(aid: int, sis: int, name: str) -> dict:
    a = _load(FULL)
    a["assessment_id"], a["sis_taxon_id"] = aid, sis
    a["taxon"]["sis_id"], a["taxon"]["scientific_name"] = sis, name
    a["url"] = f"https://www.iucnredlist.org/species/{sis}/{aid}"
    return a


class FakeRedList:
    """State of the fictional API served by the local server."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.token = TOKEN
        self.family = "Fictidae"
        self.assessments: dict[str, dict] = {}
        self.listing: list[dict] = []
        for i in range(5):
            aid, sis = 990000101 + i, 900101 + i
            self.assessments[str(aid)] = _fictional_assessment(aid, sis, f"Fictitia species{i}")
            self.listing.append(
                {
                    "year_published": "2022",
                    "latest": i != 4,  # one historic assessment
                    "sis_taxon_id": sis,
                    "url": f"https://www.iucnredlist.org/species/{sis}/{aid}",
                    "assessment_id": aid,
                    "scopes": [{"description": {"en": "Global"}, "code": "1"}],
                }
            )
        self.requests: list[dict] = []
        self.forced: dict[str, list[tuple[int, dict]]] = {}  # path -> answers given first
        self.fail_after: int | None = None  # answer 500 for ever after this many successes
        self.successes = 0
        self.link_headers = False
        self.lock = threading.Lock()

    def answer(self, raw_path: str, headers) -> tuple[int, dict, object]:
        parts = urlsplit(raw_path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append(
                {"path": parts.path, "query": q, "auth": headers.get("Authorization"), "t": self.clock()}
            )
            if headers.get("Authorization") != self.token:
                return 401, {}, {"error": "Unauthorized"}
            forced = self.forced.get(parts.path)
            if forced:
                status, extra = forced.pop(0)
                return status, extra, {"error": f"forced {status}"}
            if self.fail_after is not None and self.successes >= self.fail_after:
                return 500, {}, {"error": "Internal Server Error"}
            status, extra, body = self._route(parts.path, q)
            if status == 200:
                self.successes += 1
            return status, extra, body

    def _route(self, path: str, q: dict) -> tuple[int, dict, object]:
        m = re.fullmatch(r"/api/v4/assessment/(\d+)", path)
        if m:
            if m.group(1) in self.assessments:
                return 200, {}, self.assessments[m.group(1)]
            return 404, {}, {"error": f"Assessment ID {m.group(1)} not found"}
        if path == f"/api/v4/taxa/family/{self.family}":
            rows = self.listing
            if q.get("latest", "").lower() == "true":
                rows = [r for r in rows if r["latest"]]
            page, per_page = int(q.get("page", 1)), int(q.get("per_page", 100))
            chunk = rows[(page - 1) * per_page : page * per_page]
            extra = {}
            if self.link_headers:
                link = f'<http://x/api/v4/taxa/family/{self.family}?page=1>; rel="first"'
                if page * per_page < len(rows):
                    link += f', <http://x/api/v4/taxa/family/{self.family}?page={page + 1}>; rel="next"'
                extra["Link"] = link
            return 200, extra, {"assessments": chunk, "filters": {"family_name": self.family}}
        return 404, {}, {"error": "Not found"}

    def paths(self) -> list[str]:
        return [
            r["path"] + ("?page=" + r["query"]["page"] if "page" in r["query"] else "") for r in self.requests
        ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock):
    state = FakeRedList(clock)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, extra, body = state.answer(self.path, self.headers)
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _client(api, clock, tmp_path, **kw) -> RedListClient:
    kw.setdefault("token", TOKEN)
    return RedListClient(
        base_url=api.base_url, cache_dir=tmp_path / "cache", sleep=clock.sleep, clock=clock, **kw
    )


def _assert_no_token_in(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            assert TOKEN not in f.read_text(encoding="utf-8"), f


def test_pull_taxa_pages_fetches_caches_and_reads(api, clock, tmp_path):
    with _client(api, clock, tmp_path, per_page=2, min_interval=0.5) as rl:
        paths = rl.pull_taxa("family", "Fictidae")
    # 4 latest of 5: pages of 2, 2, then an empty page 3; then 4 assessments
    assert api.paths() == [
        "/api/v4/taxa/family/Fictidae?page=1",
        "/api/v4/taxa/family/Fictidae?page=2",
        "/api/v4/taxa/family/Fictidae?page=3",
        "/api/v4/assessment/990000101",
        "/api/v4/assessment/990000102",
        "/api/v4/assessment/990000103",
        "/api/v4/assessment/990000104",
    ]
    assert all(r["auth"] == TOKEN for r in api.requests)  # raw key, no "Bearer"
    assert api.requests[0]["query"] == {"latest": "TRUE", "page": "1", "per_page": "2"}
    times = [r["t"] for r in api.requests]
    assert all(b - a >= 0.5 - 1e-9 for a, b in zip(times, times[1:], strict=False))
    assert len(paths) == 4 and all(p.parent == tmp_path / "cache" for p in paths)

    s = read_api_json(paths)
    assert sorted(s.assessments["assessment_id"]) == ["990000101", "990000102", "990000103", "990000104"]
    assert s.threats.height == 12 and s.sources[0].format == "api-v4"

    # the whole cache folder is readable too: listings add nothing the full records lack
    s2 = read_api_json([tmp_path / "cache"])
    assert s2.assessments.height == 4

    index = (tmp_path / "cache" / "index.tsv").read_text(encoding="utf-8")
    assert "/taxa/family/Fictidae?latest=TRUE&page=2&per_page=2" in index and "/assessment/990000103" in index
    _assert_no_token_in(tmp_path / "cache")
    assert TOKEN not in repr(rl)

    # everything cached: a second pull sends nothing (and needs no token)
    n = len(api.requests)
    again = RedListClient(
        token=None,
        base_url=api.base_url,
        cache_dir=tmp_path / "cache",
        per_page=2,
        sleep=clock.sleep,
        clock=clock,
    )
    assert again.pull_taxa("family", "Fictidae") == paths
    assert len(api.requests) == n and again.requests_sent == 0


def test_pull_taxa_all_assessments_and_link_header_paging(api, clock, tmp_path):
    api.link_headers = True
    with _client(api, clock, tmp_path, per_page=5) as rl:
        paths = rl.pull_taxa("family", "Fictidae", latest=False)
    # page 1 is full (5 of 5) but its Link header has no rel="next": no page 2 is asked for
    assert api.paths()[0] == "/api/v4/taxa/family/Fictidae?page=1"
    assert sum("/taxa/" in p for p in api.paths()) == 1
    assert len(paths) == 5
    assert "latest" not in api.requests[0]["query"]


def test_get_all_pages_stops_on_a_short_page(api, clock, tmp_path):
    with _client(api, clock, tmp_path, per_page=3) as rl:
        pages = rl.get_all_pages("taxa/family/Fictidae")
    assert [len(p["assessments"]) for p in pages] == [3, 2]
    assert len(api.requests) == 2


def test_429_is_retried_after_retry_after(api, clock, tmp_path):
    api.forced["/api/v4/assessment/990000101"] = [(429, {"Retry-After": "3"})]
    with _client(api, clock, tmp_path) as rl:
        body = rl.get("assessment/990000101")
    assert body["assessment_id"] == 990000101
    assert api.paths() == ["/api/v4/assessment/990000101"] * 2
    assert clock.sleeps == [3.0]
    assert api.requests[1]["t"] - api.requests[0]["t"] == pytest.approx(3.0)


def test_500_twice_then_success_with_exponential_backoff(api, clock, tmp_path):
    api.forced["/api/v4/assessment/990000102"] = [(500, {}), (503, {})]
    with _client(api, clock, tmp_path, backoff=1.0) as rl:
        body = rl.get("assessment/990000102")
    assert body["assessment_id"] == 990000102
    assert len(api.requests) == 3
    assert clock.sleeps == [1.0, 2.0]
    assert rl.requests_sent == 3


def test_retries_give_up_with_an_api_error(api, clock, tmp_path):
    api.fail_after = 0
    with _client(api, clock, tmp_path, max_retries=3, backoff=0.5) as rl, pytest.raises(ApiError) as e:
        rl.get("assessment/990000101")
    assert len(api.requests) == 4 and clock.sleeps == [0.5, 1.0, 2.0]
    msg = str(e.value)
    assert "/api/v4/assessment/990000101" in msg and "500" in msg and "4 attempt" in msg
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.json"))


def test_401_is_a_clear_api_error_without_the_token(api, clock, tmp_path):
    with _client(api, clock, tmp_path, token="wrong-key-0000") as rl, pytest.raises(ApiError) as e:
        rl.get("assessment/990000101")
    msg = str(e.value)
    assert "401" in msg and "Unauthorized" in msg and f"{api.base_url}/assessment/990000101" in msg
    assert "wrong-key-0000" not in msg
    assert len(api.requests) == 1  # not retried
    assert e.value.status == 401


def test_404_is_a_clear_api_error(api, clock, tmp_path):
    with _client(api, clock, tmp_path) as rl, pytest.raises(ApiError, match="not found.*Assessment ID 5"):
        rl.get("assessment/5")
    assert len(api.requests) == 1


def test_interrupted_pull_resumes_from_the_cache(api, clock, tmp_path):
    api.fail_after = 4  # 3 listing pages + 1 assessment succeed, then the server breaks
    with _client(api, clock, tmp_path, per_page=2, max_retries=1) as rl, pytest.raises(ApiError):
        rl.pull_taxa("family", "Fictidae")
    first = api.paths()
    assert first[:4] == [
        "/api/v4/taxa/family/Fictidae?page=1",
        "/api/v4/taxa/family/Fictidae?page=2",
        "/api/v4/taxa/family/Fictidae?page=3",
        "/api/v4/assessment/990000101",
    ]
    assert first[4:] == ["/api/v4/assessment/990000102"] * 2  # first try + 1 retry
    _assert_no_token_in(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob(".part-*"))  # no half-written files

    api.fail_after, api.requests = None, []  # the server is back; a new process resumes
    with _client(api, clock, tmp_path, per_page=2) as rl:
        paths = rl.pull_taxa("family", "Fictidae")
    assert api.paths() == [
        "/api/v4/assessment/990000102",
        "/api/v4/assessment/990000103",
        "/api/v4/assessment/990000104",
    ]
    assert len(paths) == 4
    assert read_api_json(paths).assessments.height == 4
    _assert_no_token_in(tmp_path / "cache")


def test_pull_assessments_deduplicates_and_reports_progress(api, clock, tmp_path):
    calls = []
    with _client(api, clock, tmp_path) as rl:
        paths = rl.pull_assessments(
            [990000103, "990000103", 990000101], progress=lambda s, d, t: calls.append((s, d, t))
        )
    assert len(paths) == 2 and len(api.requests) == 2
    assert calls[0] == ("assessment 990000103", 0, 2) and calls[-1][1:] == (2, 2)


def test_token_from_environment(api, clock, tmp_path, monkeypatch):
    monkeypatch.delenv("IUCN_REDLIST_KEY", raising=False)
    monkeypatch.setenv("IUCN_REDLIST_TOKEN", TOKEN)
    with _client(api, clock, tmp_path, token=None) as rl:
        rl.get("assessment/990000101")
    assert api.requests[0]["auth"] == TOKEN
    monkeypatch.setenv("IUCN_REDLIST_KEY", "key-wins")
    rl2 = _client(api, clock, tmp_path, token=None)
    with pytest.raises(ApiError, match="401"):
        rl2.get("assessment/990000102")
    assert api.requests[-1]["auth"] == "key-wins"


def test_no_token_is_a_clear_error(tmp_path, monkeypatch, clock):
    monkeypatch.delenv("IUCN_REDLIST_KEY", raising=False)
    monkeypatch.delenv("IUCN_REDLIST_TOKEN", raising=False)
    rl = RedListClient(
        cache_dir=tmp_path / "c", base_url="http://127.0.0.1:9/api/v4", sleep=clock.sleep, clock=clock
    )
    with pytest.raises(ApiError, match="IUCN_REDLIST_KEY"):
        rl.get("assessment/1")


def test_connection_errors_are_retried(tmp_path, clock):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"api_version": "v4"})

    rl = RedListClient(
        TOKEN,
        base_url="http://127.0.0.1:9/api/v4",
        cache_dir=tmp_path / "c",
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )
    assert rl.get("information/api_version") == {"api_version": "v4"}
    assert len(calls) == 3 and clock.sleeps == [1.0, 2.0]


def test_unreachable_server_gives_up(tmp_path, clock):
    # a real closed port on 127.0.0.1
    rl = RedListClient(
        TOKEN,
        base_url="http://127.0.0.1:9/api/v4",
        cache_dir=tmp_path / "c",
        max_retries=2,
        sleep=clock.sleep,
        clock=clock,
        timeout=2,
    )
    with pytest.raises(ApiError, match="could not reach the API.*3 attempt"):
        rl.get("assessment/1")
    assert clock.sleeps == [1.0, 2.0]


def test_retry_after_http_date_and_cache_keys(tmp_path):
    rl = RedListClient(TOKEN, cache_dir=tmp_path)
    resp = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert rl._retry_after(resp) == 0.0  # a date in the past: retry at once
    assert rl._retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert RedListClient.cache_key("/taxa/family/Felidae/", {"page": 2, "latest": True, "x": None}) == (
        "/taxa/family/Felidae?latest=TRUE&page=2"
    )
    assert rl.cache_path("taxa/family/Felidae", page=2, latest=True) == rl.cache_path(
        "/taxa/family/Felidae", latest=True, page=2
    )
    with pytest.raises(ValueError, match="group must be one of"):
        rl.pull_taxa("genus", "Panthera")
