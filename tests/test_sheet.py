"""The planning sheet: query language, the pure polars sheet, and the same queries in the store.

Results are cross-checked three ways: against the source CSV files read with the csv module
(independent of assess2plan's readers), between the polars sheet and the store's SQL on SQLite
and PostgreSQL, and for full-text search against hand-made narratives.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assess2plan import read_redlist, store
from assess2plan.errors import A2PError
from assess2plan.examples import example_path
from assess2plan.model import AssessmentSet
from assess2plan.sheet import (
    SHEET_COLUMNS,
    facet_counts,
    parse_query,
    planning_sheet,
    search_terms,
)
from tests.conftest import shared_path
from tests.test_store import assessment, make_set

DOWNLOADS = ("pacific-marine", "pacific-marine-eastcentral")


# ---------------------------------------------------------------------------------------------
# independent reading of a download folder with the csv module
# ---------------------------------------------------------------------------------------------
def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    p = folder / name
    if not p.exists():
        return []
    with p.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


CATS = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Extinct": "EX",
    "Extinct in the Wild": "EW",
}


def independent_sheet(folders: list[Path]) -> dict[str, dict]:
    """taxon id -> {category, year, countries, threats, actions} of its latest Global assessment."""
    best: dict[str, dict[str, str]] = {}
    for folder in folders:
        for r in _rows(folder, "assessments.csv"):
            if "Global" not in (r.get("scopes") or "Global"):
                continue
            key = (int(r["yearPublished"] or 0), r["assessmentDate"] or "", r["assessmentId"])
            old = best.get(r["internalTaxonId"])
            if old is None or key > old["_key"]:
                best[r["internalTaxonId"]] = {**r, "_key": key}
    aid_to_taxon = {r["assessmentId"]: t for t, r in best.items()}
    out = {
        t: {
            "category": CATS.get(r["redlistCategory"], r["redlistCategory"]),
            "year": int(r["yearPublished"]),
            "countries": set(),
            "threats": set(),
            "actions": set(),
        }
        for t, r in best.items()
    }
    for folder in folders:
        for name, key in (("countries.csv", "countries"), ("threats.csv", "threats"), ("conservation_needed.csv", "actions")):
            for r in _rows(folder, name):
                t = aid_to_taxon.get(r["assessmentId"])
                if t is not None and r["code"]:
                    out[t][key].add(r["code"].replace("_", "."))
    return out


def under(codes: set[str], prefix: str) -> bool:
    return any(c == prefix or c.startswith(prefix + ".") for c in codes)


@pytest.fixture(scope="module")
def pacific() -> tuple[AssessmentSet, dict[str, dict]]:
    folders = [shared_path("redlist-download", d) for d in DOWNLOADS]
    return read_redlist(*folders), independent_sheet(folders)


# ---------------------------------------------------------------------------------------------
# query language
# ---------------------------------------------------------------------------------------------
def test_parse_query_normalises_values():
    q = parse_query(["Category=critically endangered,en", "country=id", "threat=7_2", "in_place=researchrecoveryplan"])
    assert [str(c) for c in q.conditions] == [
        "category=CR,EN",
        "country=ID",
        "threat=7.2",
        "action_in_place=InPlaceResearchRecoveryPlan",
    ]
    q = parse_query("action!=2 year<2015 research=NONE system=marine")
    assert [str(c) for c in q.conditions] == ["action_needed!=2", "year<2015", "research=none", "system=Marine"]


@pytest.mark.parametrize(
    "bad, words",
    [
        ("colour=red", ["unknown filter field", "colour"]),
        ("category", ["cannot read filter"]),
        ("threat=", ["no value"]),
        ("threat<7", ["year"]),
        ("year=soon", ["whole numbers"]),
        ("year>=1990,2000", ["one whole number"]),
        ("threat=none,7.2", ["'none' cannot be combined"]),
    ],
)
def test_parse_query_rejects_bad_filters(bad, words):
    with pytest.raises(A2PError) as e:
        parse_query([bad])
    for w in words:
        assert w in str(e.value)


def test_parse_query_rejects_bad_sort():
    with pytest.raises(A2PError, match="cannot sort by"):
        parse_query([], sort="-colour")


def test_search_terms():
    t = search_terms('coral "sea surface" -aquarium bleach* sea-level AND')
    assert [(x.text, x.negate, x.prefix) for x in t] == [
        ("coral", False, False),
        ("sea surface", False, False),
        ("aquarium", True, False),
        ("bleach", False, True),
        ("sea level", False, False),
    ]
    with pytest.raises(A2PError, match="only excludes"):
        search_terms("-reef")


# ---------------------------------------------------------------------------------------------
# the pure sheet against the source files
# ---------------------------------------------------------------------------------------------
def test_sheet_has_one_row_per_taxon_with_its_codes(pacific):
    aset, ind = pacific
    sheet = planning_sheet(aset)
    assert sheet.columns == list(SHEET_COLUMNS)
    assert sheet.height == len(ind) == 358
    rows = {r["taxon_id"]: r for r in sheet.iter_rows(named=True)}
    for t, expect in ind.items():
        r = rows[t]
        assert r["category"] == expect["category"], t
        assert set(r["countries"]) == expect["countries"], t
        assert set(r["threats"]) == expect["threats"], t
        assert set(r["actions_needed"]) == expect["actions"], t


@pytest.mark.parametrize(
    "conditions, predicate",
    [
        (["category=CR,EN,VU", "country=ID", "threat=5.4"], lambda r: r["category"] in ("CR", "EN", "VU") and "ID" in r["countries"] and under(r["threats"], "5.4")),
        (["category=CR,EN,VU", "action_needed!=2"], lambda r: r["category"] in ("CR", "EN", "VU") and not under(r["actions"], "2")),
        (["action_needed=none"], lambda r: not r["actions"]),
        (["threat!=none", "year<2014"], lambda r: bool(r["threats"]) and r["year"] < 2014),
        (["country=AU,NZ", "category!=LC,DD"], lambda r: bool({"AU", "NZ"} & r["countries"]) and r["category"] not in ("LC", "DD")),
        (["threat=11"], lambda r: under(r["threats"], "11")),
    ],
    ids=["issue-example", "no-action-2", "no-actions", "threats-before-2014", "au-nz", "climate"],
)
def test_filters_match_an_independent_reading(pacific, conditions, predicate):
    aset, ind = pacific
    got = set(planning_sheet(aset, parse_query(conditions))["taxon_id"])
    expected = {t for t, r in ind.items() if predicate(r)}
    assert expected, "the real data should have cases for this filter"
    assert got == expected


def test_facet_counts_match_an_independent_count(pacific):
    aset, ind = pacific
    f = facet_counts(planning_sheet(aset), ["category", "country"])
    cats = defaultdict(int)
    countries = defaultdict(int)
    for r in ind.values():
        cats[r["category"]] += 1
        for c in r["countries"]:
            countries[c] += 1
    got = {(r["field"], r["value"]): r["taxa"] for r in f.iter_rows(named=True)}
    assert {k[1]: v for k, v in got.items() if k[0] == "category"} == dict(cats)
    assert {k[1]: v for k, v in got.items() if k[0] == "country"} == dict(countries)
    level1 = facet_counts(planning_sheet(aset), ["threat"], level=1)
    n11 = sum(1 for r in ind.values() if under(r["threats"], "11"))
    assert level1.filter(pl.col("value") == "11")["taxa"].item() == n11


def test_sort_by_category_in_red_list_order(pacific):
    aset, _ = pacific
    s = planning_sheet(aset, parse_query(["category=CR,EN,VU,NT"], sort="category,-year"))
    order = {"CR": 0, "EN": 1, "VU": 2, "NT": 3}
    ranks = [order[c] for c in s["category"]]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    first_vu = s.filter(pl.col("category") == "VU")["year_published"].to_list()
    assert first_vu == sorted(first_vu, reverse=True)


def test_example_set_sheet():
    aset = read_redlist(example_path("lakeland") / "download")
    s = planning_sheet(aset, parse_query(["category=CR,EN,VU"]))
    assert s.height > 5
    assert s["threat_impacts"].list.len().sum() == s["threats"].list.len().sum()


# ---------------------------------------------------------------------------------------------
# the store gives the same answers as the polars sheet
# ---------------------------------------------------------------------------------------------
STORE_QUERIES = [
    [],
    ["category=CR,EN,VU", "country=ID", "threat=5.4"],
    ["category=CR,EN,VU", "action_needed!=2"],
    ["action_needed=none"],
    ["major_threat!=none"],
    ["threat!=none", "year<2014"],
    ["year>=2019", "country!=ID"],
    ["name=acropora", "criteria=A4"],
    ["family=acroporidae,POCILLOPORIDAE"],
    ["habitat=9", "lme!=none"],
    ["trend=decreasing", "category=EN"],
    ["criteria=none"],
    ["threat=7,11.1", "habitat=9.8"],
    ["action_needed=2,5.1", "threat!=1"],
]


@pytest.mark.parametrize("conditions", STORE_QUERIES, ids=[" ".join(q) or "all" for q in STORE_QUERIES])
def test_store_sheet_equals_polars_sheet(pacific, alias, conditions):
    aset, _ = pacific
    store.import_set(aset, project="pac", using=alias)
    q = parse_query(conditions, sort="category,-year")
    expected = planning_sheet(aset, q)
    got = store.query_sheet("pac", q, using=alias)
    assert_frame_equal(got, expected)
    assert store.sheet_count("pac", q, using=alias) == expected.height
    page = store.query_sheet("pac", q, limit=7, offset=3, using=alias)
    assert_frame_equal(page, expected.slice(3, 7))


def test_index_rows_are_the_sheet_in_long_form(pacific):
    from assess2plan.sheet import facet_rows, index_rows, sheet_rows

    aset, _ = pacific
    a = aset.tables["assessments"]
    expected = facet_rows(sheet_rows(aset.tables, a), ancestors=False).filter(pl.col("field") != "threat_impact")
    got = index_rows(aset.tables, a)
    key = ["assessment_id", "field", "value"]
    assert got.height == expected.height > 10_000
    assert_frame_equal(got.sort(key), expected.select(got.columns).sort(key))


def test_store_codes_below_a_code_outside_the_schemes(alias):
    """threat=13 finds a code 13.9.9 (outside the schemes) recorded as it stands."""
    from assess2plan.examples import example_path

    aset = read_redlist(example_path())
    th = aset.tables["threats"]
    first = th["assessment_id"][0]
    odd = th.head(1).with_columns(pl.lit("13.9.9").alias("code"))
    aset.tables["threats"] = pl.concat([th, odd])
    store.import_set(aset, project="odd", using=alias)
    for cond in (["threat=13"], ["threat=13.9"], ["threat=13.9.9"]):
        got = store.query_sheet("odd", parse_query(cond), using=alias)
        assert got["assessment_id"].to_list() == [first]
        assert_frame_equal(got, planning_sheet(aset, parse_query(cond)))
    assert store.sheet_count("odd", parse_query(["threat=13.9.1"]), using=alias) == 0


def test_store_facets_equal_polars_facets(pacific, alias):
    aset, _ = pacific
    store.import_set(aset, project="pac", using=alias)
    q = parse_query(["category=CR,EN,VU,NT"])
    fields = ["category", "country", "threat", "major_threat", "action_needed", "year", "family"]
    assert_frame_equal(store.sheet_facets("pac", q, fields, using=alias), facet_counts(planning_sheet(aset, q), fields))


def test_store_rebuilds_an_outdated_index(pacific, alias):
    from assess2plan.web.store.models import Project, SheetFacet

    aset, _ = pacific
    store.import_set(aset, project="pac", using=alias)
    q = parse_query(["threat=5.4", "category=VU"])
    before = store.query_sheet("pac", q, using=alias)
    SheetFacet.objects.using(alias).all().delete()
    Project.objects.using(alias).filter(slug="pac").update(sheet_index_version=0)
    assert_frame_equal(store.query_sheet("pac", q, using=alias), before)
    assert Project.objects.using(alias).get(slug="pac").sheet_index_version >= 1


def test_store_index_follows_history_and_corrections(alias):
    old = assessment("a1", "t1", year_published=2010, rationale="old text about trawling")
    s1 = make_set([old], threats_for=lambda aid: [{"code": "5.4.1", "timing": "Ongoing"}])
    store.import_set(s1, project="p", using=alias)
    new = assessment("a2", "t1", year_published=2021, rationale="new text about bleaching")
    s2 = make_set([new], threats_for=lambda aid: [{"code": "11.1", "timing": "Ongoing"}])
    store.import_set(s2, project="p", using=alias)
    assert store.query_sheet("p", parse_query(["threat=5.4"]), using=alias).height == 0
    assert store.query_sheet("p", parse_query(["threat=11"]), using=alias)["assessment_id"].to_list() == ["a2"]
    assert store.sheet_count("p", parse_query([], text="trawling"), using=alias) == 0
    assert store.sheet_count("p", parse_query([], text="bleaching"), using=alias) == 1
    # a corrected re-export of a2 (other threats, other text) replaces its index rows
    fixed = assessment("a2", "t1", year_published=2021, rationale="corrected: dredging")
    s3 = make_set([fixed], threats_for=lambda aid: [{"code": "7.2.1", "timing": "Ongoing"}])
    r = store.import_set(s3, project="p", using=alias)
    assert r.replaced == 1
    assert store.sheet_count("p", parse_query(["threat=11"]), using=alias) == 0
    assert store.sheet_count("p", parse_query(["threat=7.2"]), using=alias) == 1
    assert store.sheet_count("p", parse_query([], text="bleaching"), using=alias) == 0
    assert store.sheet_count("p", parse_query([], text="dredging"), using=alias) == 1


def test_store_full_text_search(alias):
    rows = [
        assessment("a1", "t1", rationale="<p>Declining through <b>coral bleaching</b> events.</p>"),
        assessment("a2", "t2", rationale="Caught in trawl fisheries; corals are damaged.", threats_text="Bleached reefs."),
        assessment("a3", "t3", rationale="Stable; no known threats.", conservation_actions_text="Protected in a marine park."),
        assessment("a4", "t4", rationale=None, range_text=None),
    ]
    store.import_set(make_set(rows), project="fts", using=alias)

    def found(text: str) -> set[str]:
        return set(store.query_sheet("fts", parse_query([], text=text), using=alias)["assessment_id"])

    assert found("coral") == {"a1", "a2"}  # stemming: corals
    assert found("bleaching") == {"a1", "a2"}  # bleached
    assert found('"coral bleaching"') == {"a1"}
    assert found("coral -trawl") == {"a1"}
    assert found("park") == {"a3"}  # conservation text is searched too
    assert found("fish*") == {"a2"}
    assert found("nothing-like-this") == set()
    # (SQLite's FTS5 indexes HTML tag names as words, PostgreSQL's parser skips them: not tested)
    assert found("it's o'neil \\ % _") == set()  # quotes and wildcards are literal
    # a page told how many rows match (PostgreSQL then selects a small text selection first):
    # the same rows in the same order, every page
    for text in ("coral", "bleaching", "park"):
        q = parse_query([], text=text, sort="-category")
        whole = store.query_sheet("fts", q, using=alias)
        n = store.sheet_count("fts", q, using=alias)
        pages = [store.query_sheet("fts", q, limit=1, offset=i, rows=n, using=alias) for i in range(n)]
        assert [p["assessment_id"][0] for p in pages] == whole["assessment_id"].to_list()


def _fts_integrity(alias: str) -> None:
    """SQLite: FTS5's own check that the index matches its content table."""
    from django.db import connections

    if connections[alias].vendor == "sqlite":
        with connections[alias].cursor() as cur:
            cur.execute("INSERT INTO store_assessment_fts(store_assessment_fts, rank) VALUES ('integrity-check', 1)")


def test_text_index_after_the_import_is_resumable_and_lazy(alias, monkeypatch):
    from assess2plan.web.store import search

    rows = [assessment(f"a{i}", f"t{i}", rationale=f"word{i} shared reef text") for i in range(7)]
    store.import_set(make_set(rows), project="lazy", using=alias, index_text=False)
    assert search.pending("lazy", alias) == 7
    # an interrupted indexing run keeps the batches it committed
    monkeypatch.setattr(search, "BATCH", 3)
    monkeypatch.setattr(search, "WORKERS", 1)
    calls = []

    def stop_after_first(stage, done, total):
        calls.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.index_text("lazy", progress=stop_after_first, using=alias)
    assert calls == [(3, 7)] and search.pending("lazy", alias) == 4
    # a text search indexes the rest first: every assessment is found
    assert store.sheet_count("lazy", parse_query([], text="reef"), using=alias) == 7
    assert search.pending("lazy", alias) == 0
    assert store.index_text("lazy", using=alias) == 0
    _fts_integrity(alias)


def test_text_index_in_two_sessions(alias, monkeypatch):
    """PostgreSQL indexes with two sessions sharing the batches (SKIP LOCKED); SQLite with one."""
    from assess2plan.web.store import search

    rows = [assessment(f"a{i}", f"t{i}", rationale=f"word{i} lagoon") for i in range(23)]
    store.import_set(make_set(rows), project="two", using=alias, index_text=False)
    monkeypatch.setattr(search, "BATCH", 2)
    seen = []
    assert store.index_text("two", progress=lambda s, d, t: seen.append(d), using=alias) == 23
    assert seen[-1] == 23 and seen == sorted(seen)
    assert search.pending("two", alias) == 0
    assert store.sheet_count("two", parse_query([], text="lagoon"), using=alias) == 23
    assert store.sheet_count("two", parse_query([], text="word17"), using=alias) == 1
    _fts_integrity(alias)


def test_replacing_assessments_pending_or_indexed_keeps_the_text_index_right(alias):
    s1 = make_set([assessment("a1", "t1", rationale="dredging"), assessment("a2", "t2", rationale="dredging")])
    store.import_set(s1, project="p", using=alias, index_text=False)
    store.index_text("p", using=alias)
    # a corrected a1 while still pending, then a corrected a2 after indexing
    s2 = make_set([assessment("a1", "t1", rationale="trawling"), assessment("a2", "t2", rationale="mining")])
    assert store.import_set(s2, project="p", using=alias, index_text=False).replaced == 2
    s3 = make_set([assessment("a1", "t1", rationale="bleaching"), assessment("a2", "t2", rationale="mining")])
    assert store.import_set(s3, project="p", using=alias).replaced == 1
    _fts_integrity(alias)

    def found(text: str) -> set[str]:
        return set(store.query_sheet("p", parse_query([], text=text), using=alias)["assessment_id"])

    assert found("dredging") == set() and found("trawling") == set()
    assert found("bleaching") == {"a1"} and found("mining") == {"a2"}


@pytest.mark.django_db(transaction=True)
def test_query_on_missing_project():
    with pytest.raises(A2PError, match="no project"):
        store.query_sheet("nope", parse_query([]))


def test_planning_sheet_scope(alias):
    g = assessment("g1", "t1", scopes="Global", year_published=2015)
    e = assessment("e1", "t1", scopes="Europe", year_published=2022, category="CR")
    aset = make_set([g, e])
    store.import_set(aset, project="sc", using=alias)
    for scope, aid in (("Global", "g1"), ("Europe", "e1")):
        q = parse_query([], scope=scope)
        assert planning_sheet(aset, q)["assessment_id"].to_list() == [aid]
        assert store.query_sheet("sc", q, using=alias)["assessment_id"].to_list() == [aid]
    assert dt.date(2019, 5, 17) in store.query_sheet("sc", parse_query([]), using=alias)["assessment_date"].to_list()
