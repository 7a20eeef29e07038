"""The store (assess2plan.store): imports, history, corrections, rollback, read back.

Every store test runs on SQLite and on PostgreSQL. PostgreSQL needs ``A2P_TEST_POSTGRES_URL``
(postgres://user:pass@host:port/db of a role that may create databases: the test database is made
next to it); without it the PostgreSQL cases are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assess2plan.errors import InputError
from assess2plan.model import SCHEMA, TABLES, AssessmentSet, Source
from assess2plan.web.settings import parse_database_url
from tests.conftest import shared_path


# ---------------------------------------------------------------------------------------------
# small sets
# ---------------------------------------------------------------------------------------------
def assessment(aid: str, tid: str, **kw) -> dict:
    row = {
        "assessment_id": aid,
        "taxon_id": tid,
        "scientific_name": f"Genus species{tid}",
        "category": "EN",
        "category_label": "Endangered",
        "criteria": "B1ab(iii)",
        "criteria_version": "3.1",
        "year_published": 2020,
        "assessment_date": dt.date(2019, 5, 17),
        "scopes": "Global",
        "language": "English",
        "possibly_extinct": False,
        "possibly_extinct_in_the_wild": None,
        "population_trend": "Decreasing",
        "systems": "Marine|Terrestrial",
        "rationale": "<p>It's <i>declining</i>, 'quoted' \"twice\"\nnew line, tab\there, émigré ü</p>",
        "range_text": None,
    }
    row.update(kw)
    return row


def make_set(assessments: list[dict], *, threats_for=None, sources=None, extra_taxa=()) -> AssessmentSet:
    """A set with rows in every table for each assessment (``threats_for(aid)`` -> threat rows)."""
    a = pl.DataFrame(assessments, schema_overrides={k: v for k, v in SCHEMA["assessments"].items()})
    tids = sorted({r["taxon_id"] for r in assessments if r["taxon_id"]} | set(extra_taxa))
    frames: dict[str, list[dict]] = {t: [] for t in TABLES if t != "assessments"}
    for tid in tids:
        frames["taxa"].append(
            {
                "taxon_id": tid,
                "scientific_name": f"Genus species{tid}",
                "kingdom": "ANIMALIA",
                "genus": "Genus",
                "species": f"species{tid}",
                "authority": "(Smith, 1900)",
                "class_name": "ACTINOPTERYGII",
                "order_name": "PERCIFORMES",
            }
        )
        frames["common_names"] += [
            {"taxon_id": tid, "name": f"Blue fish {tid}", "language": "English", "main": True},
            {"taxon_id": tid, "name": f"Poisson {tid}", "language": "French", "main": False},
        ]
        frames["synonyms"].append({"taxon_id": tid, "name": f"Oldgenus species{tid}", "genus": "Oldgenus"})
    for r in assessments:
        aid, tid = r["assessment_id"], r["taxon_id"]
        ids = {"assessment_id": aid, "taxon_id": tid}
        threats = (
            threats_for(aid)
            if threats_for
            else [
                {
                    "code": "5.4.4",
                    "name": "Unintentional effects",
                    "timing": "Ongoing",
                    "impact_score": 7,
                    "stress_codes": "1.2|2.1",
                },
                {"code": "11.1", "name": "Habitat shifting", "timing": "Future", "scope": "Unknown"},
            ]
        )
        frames["threats"] += [{**ids, **t} for t in threats]
        frames["actions_needed"].append({**ids, "code": "1.1", "name": "Site/area protection"})
        frames["actions_in_place"].append(
            {
                **ids,
                "field": "InPlaceResearchRecoveryPlan",
                "group": "In-place research and monitoring",
                "name": "Action Recovery Plan",
                "value": "Yes",
            }
        )
        frames["research_needed"].append({**ids, "code": "1.5", "name": "Threats"})
        frames["habitats"] += [
            {
                **ids,
                "code": "5.10",
                "name": "Wetlands (inland) - Permanent Freshwater Lakes",
                "suitability": "Suitable",
                "major_importance": "Yes",
            },
            {**ids, "code": "9.8.1", "name": "Coral Reef - Outer Reef Channel", "season": "Resident"},
        ]
        frames["occurrence"] += [
            {
                **ids,
                "kind": "country",
                "code": "AU",
                "name": "Australia",
                "presence": "Extant",
                "origin": "Native",
            },
            {
                **ids,
                "kind": "fao",
                "code": "71",
                "name": "Pacific - western central",
                "seasonality": "Resident",
            },
            {**ids, "kind": "lme", "code": "4.4.7", "name": "Southwest Australian Shelf"},
        ]
        frames["use_trade"].append({**ids, "code": "1", "name": "Food - human", "international": "true"})
        frames["credits"] += [
            {
                **ids,
                "credit_type": "Assessor",
                "text": "Smith, A. & Jones, B.",
                "names": "A. Smith|B. Jones",
                "order": 1,
            },
            {**ids, "credit_type": "Reviewer", "text": "Doe, J.", "order": 2},
        ]
        frames["other_fields"].append({**ids, "field": "LocationsNumber.range", "value": "2-5"})
    dfs = {
        t: pl.DataFrame(rows, schema_overrides=SCHEMA[t]) if rows else pl.DataFrame(schema=SCHEMA[t])
        for t, rows in frames.items()
    }
    dfs["assessments"] = a
    return AssessmentSet.from_frames(dfs, sources=sources)


def sorted_frame(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


def assert_same_tables(got: AssessmentSet, want: AssessmentSet) -> None:
    for t in TABLES:
        assert got.tables[t].schema == want.tables[t].schema, t
        try:
            assert_frame_equal(sorted_frame(got.tables[t]), sorted_frame(want.tables[t]))
        except AssertionError as exc:
            raise AssertionError(f"table {t}: {exc}") from None


def dataset_rows(alias: str) -> list[tuple]:
    from assess2plan.web.store.models import Dataset

    return list(Dataset.objects.using(alias).order_by("id").values_list("id", "fingerprint"))


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------
def test_parse_database_url():
    pg = parse_database_url("postgres://a2p:p%40ss@db.example.org:5433/store?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "a2p",
        "p@ss",
        "db.example.org",
        "5433",
        "store",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert parse_database_url("postgresql://u@localhost/x")["NAME"] == "x"
    lite = parse_database_url("sqlite:////var/lib/a2p/store.sqlite3")
    assert lite["ENGINE"] == "django.db.backends.sqlite3" and lite["NAME"] == "/var/lib/a2p/store.sqlite3"
    assert "journal_mode=WAL" in lite["OPTIONS"]["init_command"]
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert parse_database_url("sqlite:///rel/store.db")["NAME"] == "rel/store.db"
    with pytest.raises(ValueError):
        parse_database_url("mysql://x/y")


# ---------------------------------------------------------------------------------------------
# store
# ---------------------------------------------------------------------------------------------
def test_round_trip(alias):
    from assess2plan import store

    aset = make_set(
        [
            assessment("1001", "501"),
            assessment(
                "1002",
                "502",
                category="CR",
                possibly_extinct=True,
                possibly_extinct_in_the_wild=False,
                assessment_date=None,
                year_published=None,
                criteria=None,
                scopes="Europe|Mediterranean",
            ),
        ]
    )
    result = store.import_set(aset, "p1", user="tester", using=alias)
    assert not result.unchanged and result.dataset_id is not None
    assert result.added == {t: aset.tables[t].height for t in TABLES}
    back = store.load_set("p1", latest_only=False, using=alias)
    assert_same_tables(back, aset)
    # text stays text, dates dates, booleans booleans, nulls null
    h = back.habitats.filter(pl.col("assessment_id") == "1001")
    assert sorted(h["code"].to_list()) == ["5.10", "9.8.1"]
    a = back.assessments.sort("assessment_id")
    assert a["assessment_date"].to_list() == [dt.date(2019, 5, 17), None]
    assert a["possibly_extinct"].to_list() == [False, True]
    assert a["possibly_extinct_in_the_wild"].to_list() == [None, False]
    assert a["rationale"][0] == aset.assessments.sort("assessment_id")["rationale"][0]
    assert back.credits.sort("order")["order"].to_list() == [1, 1, 2, 2]
    assert store.counts("p1", using=alias) == aset.counts()
    (ds,) = store.list_datasets("p1", using=alias)
    assert ds["id"] == result.dataset_id and ds["imported_by"] == "tester"
    assert ds["counts"]["threats"] == 4
    projects = store.list_projects(using=alias)
    assert [(p["slug"], p["datasets"], p["assessments"]) for p in projects] == [("p1", 1, 2)]


def test_same_download_twice_changes_nothing(alias):
    from assess2plan import store

    src = [Source("dl/assessments.csv", "redlist-download", "ab" * 32, 2)]
    aset = make_set([assessment("1001", "501"), assessment("1002", "502")], sources=src)
    first = store.import_set(aset, "p", using=alias)
    before = (store.counts("p", using=alias), dataset_rows(alias))
    again = store.import_set(aset, "p", using=alias)
    assert again.unchanged and again.dataset_id == first.dataset_id
    assert sum(again.added.values()) == 0
    assert (store.counts("p", using=alias), dataset_rows(alias)) == before
    # other files (another fingerprint), same content: nothing new either, and no Dataset row
    other = make_set([assessment("1001", "501")], sources=[Source("x.zip", "redlist-download", "cd" * 32, 1)])
    res = store.import_set(other, "p", using=alias)
    assert res.unchanged and sum(res.added.values()) == 0
    assert (store.counts("p", using=alias), dataset_rows(alias)) == before
    # a set without sources is fingerprinted by its content
    plain = make_set([assessment("1003", "503")])
    assert not store.import_set(plain, "p", using=alias).unchanged
    assert store.import_set(make_set([assessment("1003", "503")]), "p", using=alias).unchanged


def test_overlapping_sets_no_duplicates(alias):
    from assess2plan import store

    a = make_set([assessment("1001", "501"), assessment("1002", "502")])
    b = make_set([assessment("1002", "502"), assessment("1003", "503")])
    store.import_set(a, "p", using=alias)
    res = store.import_set(b, "p", using=alias)
    assert res.added["assessments"] == 1 and res.added["threats"] == 2 and res.added["taxa"] == 1
    assert res.replaced == 0
    both = AssessmentSet.combine([a, b])
    assert store.counts("p", using=alias) == both.counts()
    assert_same_tables(store.load_set("p", latest_only=False, using=alias), both)
    # projects are separate stores
    store.import_set(b, "other", using=alias)
    assert store.counts("other", using=alias)["assessments"] == 2
    assert store.counts("p", using=alias)["assessments"] == 3


def test_newer_assessment_keeps_history(alias):
    from assess2plan import store

    old = make_set([assessment("1001", "501", year_published=2012, category="VU"), assessment("1002", "502")])
    store.import_set(old, "p", using=alias)
    new = make_set([assessment("2001", "501", year_published=2021, category="EN")])
    res = store.import_set(new, "p", using=alias)
    assert res.kept_history == 1 and res.replaced == 0 and res.added["assessments"] == 1
    hist = store.load_assessments_frame("p", using=alias).sort("assessment_id")
    assert hist.select("assessment_id", "latest").rows() == [("1001", False), ("1002", True), ("2001", True)]
    latest = store.load_set("p", using=alias)
    assert sorted(latest.assessments["assessment_id"]) == ["1002", "2001"]
    assert set(latest.threats["assessment_id"]) == {"1002", "2001"}
    full = store.load_set("p", latest_only=False, using=alias)
    assert full.assessments.height == 3 and full.threats.height == 6
    # an older assessment arriving later does not take "latest" back
    older = make_set([assessment("0900", "501", year_published=2008)])
    store.import_set(older, "p", using=alias)
    hist = store.load_assessments_frame("p", taxon_ids=["501"], using=alias).sort("assessment_id")
    assert hist.select("assessment_id", "latest").rows() == [("0900", False), ("1001", False), ("2001", True)]
    # same year and date: the larger numeric id wins ("10" > "9")
    store.import_set(make_set([assessment("9", "600"), assessment("10", "600")]), "q", using=alias)
    q = store.load_assessments_frame("q", using=alias)
    assert q.filter(pl.col("latest"))["assessment_id"].to_list() == ["10"]
    # latest is per (taxon, first scope): a regional assessment does not replace the global one
    store.import_set(
        make_set([assessment("3001", "501", year_published=2023, scopes="Europe")]), "p", using=alias
    )
    hist = store.load_assessments_frame("p", taxon_ids=["501"], using=alias)
    assert set(hist.filter(pl.col("latest"))["assessment_id"]) == {"2001", "3001"}
    assert store.load_set("p", scope="Global", taxon_ids=["501"], using=alias).assessments[
        "assessment_id"
    ].to_list() == ["2001"]


def test_corrected_assessment_replaces_children(alias):
    from assess2plan import store

    first = make_set([assessment("1001", "501"), assessment("1002", "502")])
    store.import_set(first, "p", using=alias)
    ds_before = store.list_datasets("p", using=alias)[0]["id"]

    def fixed_threats(aid):
        if aid == "1001":
            return [{"code": "5.10", "name": "Corrected threat", "timing": "Ongoing"}]
        return [
            {
                "code": "5.4.4",
                "name": "Unintentional effects",
                "timing": "Ongoing",
                "impact_score": 7,
                "stress_codes": "1.2|2.1",
            },
            {"code": "11.1", "name": "Habitat shifting", "timing": "Future", "scope": "Unknown"},
        ]

    fixed = make_set(
        [assessment("1001", "501", criteria="A2bd"), assessment("1002", "502")], threats_for=fixed_threats
    )
    res = store.import_set(fixed, "p", using=alias)
    assert res.replaced == 1 and res.added["assessments"] == 1 and res.added["threats"] == 1
    back = store.load_set("p", latest_only=False, using=alias)
    assert_same_tables(back, fixed)
    t = back.threats.filter(pl.col("assessment_id") == "1001")
    assert t["code"].to_list() == ["5.10"] and t["name"].to_list() == ["Corrected threat"]
    assert store.counts("p", using=alias)["threats"] == 3
    # the replaced assessment still belongs to the import that first brought it
    from assess2plan.web.store.models import Assessment

    assert set(Assessment.objects.using(alias).values_list("dataset_id", flat=True)) == {ds_before}


def test_taxa_upsert_and_names(alias):
    from assess2plan import store

    store.import_set(make_set([assessment("1001", "501")]), "p", using=alias)
    newer = make_set([assessment("1001", "501")])
    taxa = newer.taxa.with_columns(
        pl.lit("Smith, 1901").alias("authority"), pl.lit(None, pl.Utf8).alias("genus")
    )
    names = pl.DataFrame(
        [{"taxon_id": "501", "name": "Reef fish", "language": "English", "main": True}],
        schema_overrides=SCHEMA["common_names"],
    )
    newer = AssessmentSet.from_frames({**newer.tables, "taxa": taxa, "common_names": names})
    res = store.import_set(newer, "p", using=alias)
    assert not res.unchanged and res.added["assessments"] == 0 and res.added["common_names"] == 1
    back = store.load_set("p", using=alias)
    row = back.taxa.row(0, named=True)
    assert row["authority"] == "Smith, 1901"  # a newer value wins
    assert row["genus"] == "Genus"  # a null does not erase a stored value
    assert back.common_names["name"].to_list() == ["Reef fish"]
    assert store.counts("p", using=alias)["taxa"] == 1


def test_failure_mid_import_leaves_store_unchanged(alias, monkeypatch):
    from assess2plan import store
    from assess2plan.web.store import load

    store.import_set(make_set([assessment("1001", "501")]), "p", using=alias)
    before = (store.counts("p", using=alias), dataset_rows(alias), store.list_projects(using=alias))
    real_insert = load._DB.insert
    written = []

    def failing_insert(self, db_table, *args, **kw):
        if db_table == "store_occurrence":
            raise RuntimeError("disk full (simulated)")
        n = real_insert(self, db_table, *args, **kw)
        written.append((db_table, n))
        return n

    monkeypatch.setattr(load._DB, "insert", failing_insert)
    bigger = make_set([assessment("1001", "501", criteria="changed"), assessment("1002", "502")])
    with pytest.raises(RuntimeError, match="simulated"):
        store.import_set(bigger, "p", using=alias)
    assert any(n for _, n in written)  # rows had been written before the failure
    with pytest.raises(RuntimeError):
        store.import_set(bigger, "fresh-project", using=alias)
    monkeypatch.undo()
    assert (store.counts("p", using=alias), dataset_rows(alias), store.list_projects(using=alias)) == before
    # and the same import then goes through
    res = store.import_set(bigger, "p", using=alias)
    assert res.replaced == 1 and store.counts("p", using=alias)["assessments"] == 2


def test_bad_rows_are_refused(alias):
    from assess2plan import store

    bad = make_set([assessment("1001", "501"), assessment("1002", None)])
    with pytest.raises(InputError, match="taxon_id"):
        store.import_set(bad, "p", using=alias)
    assert store.list_projects(using=alias) == []
    # child rows of an assessment that is not in the set are reported, not stored
    aset = make_set([assessment("1001", "501")])
    stray = pl.DataFrame(
        [{"assessment_id": "999", "taxon_id": "501", "code": "1.1"}], schema_overrides=SCHEMA["threats"]
    )
    aset = AssessmentSet.from_frames(
        {**aset.tables, "threats": pl.concat([aset.threats, stray], how="diagonal")}
    )
    res = store.import_set(aset, "p", using=alias)
    assert res.added["threats"] == 2
    assert any("threats: 1 rows refer to an assessment_id" in i for i in res.issues)


@pytest.mark.parametrize("bulk_min", [100_000, 50], ids=["children", "every-table"])
def test_large_import_bulk_paths(alias, monkeypatch, bulk_min):
    """Enough rows for the bulk paths: indexes dropped and rebuilt, rows written in runs (with a
    low threshold, the assessments' too: on PostgreSQL after the deferred foreign-key checks)."""
    from assess2plan import store
    from assess2plan.web.store import load

    monkeypatch.setattr(load, "BULK_MIN_ROWS", bulk_min)

    n = 700
    rows = [
        assessment(
            str(10_000 + i),
            str(500 + i),
            criteria=None if i % 3 else "A2bd",
            year_last_seen="1990" if i % 7 == 0 else None,
        )
        for i in range(n)
    ]
    base = make_set(rows)
    kinds = ["country", "lme", "fao", "subnational"]
    occ = pl.DataFrame(
        {
            "assessment_id": [str(10_000 + i // 160) for i in range(n * 160)],
            "taxon_id": [str(500 + i // 160) for i in range(n * 160)],
            "kind": [kinds[i % 4] for i in range(n * 160)],
            "code": [f"{i % 37}.{i % 5}" if i % 4 else f"C{i % 11}" for i in range(n * 160)],
            "name": [f"Place {i % 37}" for i in range(n * 160)],
            "presence": ["Extant" if i % 9 else None for i in range(n * 160)],
            "origin": ["Native" if i % 13 else "Introduced" for i in range(n * 160)],
            "seasonality": ["Resident" if i % 50 == 0 else None for i in range(n * 160)],
            "formerly_bred": ["Yes" if i % 997 == 0 else None for i in range(n * 160)],
        }
    )
    aset = AssessmentSet.from_frames({**base.tables, "occurrence": occ})
    res = store.import_set(aset, "big", using=alias)
    assert res.added["occurrence"] == n * 160
    back = store.load_set("big", using=alias)
    assert_same_tables(back, aset)
    assert store.counts("big", using=alias) == aset.counts()
    few = store.load_set("big", taxon_ids=["500", "501"], using=alias)
    assert few.occurrence.height == 320 and few.taxa.height == 2 and few.common_names.height == 4


@pytest.mark.realdata
def test_real_download(alias):
    pytest.importorskip("assess2plan.io.download")
    from assess2plan import read_redlist, store

    folder = shared_path("redlist-download", "pacific-marine")
    aset = read_redlist(folder, format="redlist-download")
    res = store.import_set(aset, "pacific", using=alias)
    assert not res.unchanged
    assert store.counts("pacific", using=alias) == aset.counts()
    assert store.import_set(aset, "pacific", using=alias).unchanged
    back = store.load_set("pacific", latest_only=False, using=alias)
    for t in ("assessments", "threats", "occurrence", "habitats"):
        assert sorted_frame(back.tables[t]).equals(sorted_frame(aset.tables[t])), t
