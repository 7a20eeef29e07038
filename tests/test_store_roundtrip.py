"""The store on SQLite and on PostgreSQL: round trip, idempotence, history, rollback, real data.

Every test runs once per database alias; the PostgreSQL variant needs A2P_TEST_POSTGRES_URL
(scripts/test starts a throwaway server) and is a failure, not a skip, in CI.
"""

from __future__ import annotations

import os

import polars as pl
import pytest

from assess2plan import read_redlist, store
from assess2plan.examples import example_path
from assess2plan.model import TABLES, AssessmentSet
from tests.conftest import IN_CI, shared_path

ALIASES = ["default", "postgres"]


@pytest.fixture(params=ALIASES)
def alias(request):
    if request.param == "postgres" and not os.environ.get("A2P_TEST_POSTGRES_URL"):
        if IN_CI:
            pytest.fail("CI must run the store tests on PostgreSQL (A2P_TEST_POSTGRES_URL unset)")
        pytest.skip("no PostgreSQL (A2P_TEST_POSTGRES_URL unset)")
    return request.param


pytestmark = pytest.mark.django_db(transaction=True, databases=ALIASES if os.environ.get("A2P_TEST_POSTGRES_URL") else ["default"])


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


def _example() -> AssessmentSet:
    return read_redlist(example_path("lakeland") / "download")


def test_round_trip_keeps_every_table_exactly(alias):
    s = _example()
    result = store.import_set(s, project="ex", user="tester", using=alias)
    assert not result.unchanged and result.added["assessments"] == 40
    back = store.load_set("ex", latest_only=False, using=alias)
    for t in TABLES:
        assert _sorted(back.tables[t]).equals(_sorted(s.tables[t])), t
    # codes stay text: two-digit last parts survive
    assert "5.10" in back.habitats["code"].to_list()
    assert store.counts("ex", using=alias)["species"] == 40


def test_same_download_twice_changes_nothing(alias):
    store.import_set(_example(), project="ex", using=alias)
    before = store.counts("ex", using=alias)
    again = store.import_set(_example(), project="ex", using=alias)
    assert again.unchanged
    assert store.counts("ex", using=alias) == before
    assert len(store.list_datasets("ex", using=alias)) == 1


def _with_newer_assessment(s: AssessmentSet, taxon_id: str, new_id: str, category: str) -> AssessmentSet:
    t = s.tables
    old = t["assessments"].filter(pl.col("taxon_id") == taxon_id)
    new = old.with_columns(
        pl.lit(new_id).alias("assessment_id"),
        (pl.col("year_published") + 1).alias("year_published"),
        pl.lit(category).alias("category"),
    )
    threats = t["threats"].filter(pl.col("taxon_id") == taxon_id).with_columns(pl.lit(new_id).alias("assessment_id"))
    return AssessmentSet.from_frames(
        {"taxa": t["taxa"].filter(pl.col("taxon_id") == taxon_id), "assessments": new, "threats": threats}
    )


def test_newer_download_keeps_history_and_moves_latest(alias):
    s = _example()
    store.import_set(s, project="ex", using=alias)
    tid = s.assessments["taxon_id"][0]
    old_id = s.assessments["assessment_id"][0]
    newer = _with_newer_assessment(s, tid, "999999999", "CR")
    r = store.import_set(newer, project="ex", using=alias)
    assert r.added["assessments"] == 1
    history = store.load_assessments_frame("ex", taxon_ids=[tid], using=alias)
    assert sorted(history["assessment_id"].to_list()) == sorted([old_id, "999999999"])
    latest = history.filter(pl.col("latest"))["assessment_id"].to_list()
    assert latest == ["999999999"]
    current = store.load_set("ex", taxon_ids=[tid], using=alias)
    assert current.assessments["category"].to_list() == ["CR"]
    assert store.counts("ex", using=alias)["species"] == 40


def test_a_failed_import_leaves_the_store_unchanged(alias, monkeypatch):
    from assess2plan.web.store import load

    store.import_set(_example(), project="ex", using=alias)
    before = store.counts("ex", using=alias)
    datasets = store.list_datasets("ex", using=alias)
    s = _example()
    newer = _with_newer_assessment(s, s.assessments["taxon_id"][1], "888888888", "EN")

    def boom(self, *a, **k):
        raise RuntimeError("disk full (simulated) after the assessments were written")

    monkeypatch.setattr(load._Import, "_write_children", boom)
    with pytest.raises(RuntimeError):
        store.import_set(newer, project="ex", using=alias)
    assert store.counts("ex", using=alias) == before
    assert store.list_datasets("ex", using=alias) == datasets
    assert "888888888" not in store.load_assessments_frame("ex", using=alias)["assessment_id"].to_list()


def test_overlapping_real_downloads_import_without_duplicates(alias):
    a = shared_path("redlist-download", "pacific-marine")
    b = shared_path("redlist-download", "pacific-marine-eastcentral")
    s = read_redlist(a, b)
    store.import_set(s, project="pacific", using=alias)
    c = store.counts("pacific", using=alias)
    assert c["species"] == 358
    for t in TABLES:
        assert c[t] == s.tables[t].height, t
    # importing the eastern subset again, alone, adds nothing: all its assessments are stored
    r = store.import_set(read_redlist(b), project="pacific", using=alias)
    assert r.added.get("assessments", 0) == 0
    assert store.counts("pacific", using=alias) == c
