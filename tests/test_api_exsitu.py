"""Ex situ in the REST API (read-only): the pre-screen, the list of assessments and one assessment
with its history, on the lakeland example, cross-checked with the example's CSV files and the store."""

from __future__ import annotations

import csv

import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.exsitu import assessment as ea
from tests.test_api import API, PROJECT, _fresh_cache, all_pages, get, lakeland, people  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

TAXON = "990000001"


def _cr_and_ew() -> set[str]:
    with open(example_path() / "download" / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        return {
            r["internalTaxonId"]
            for r in csv.DictReader(fh)
            if r["redlistCategory"] in ("Critically Endangered", "Extinct in the Wild")
        }


def test_prescreen_paged_and_cross_checked(client, people):  # noqa: F811
    h = people["headers"]["viewer"]
    pages = all_pages(client, f"{API}/exsitu/prescreen", h, limit=4)
    rows = [r for p in pages for r in p]
    assert _cr_and_ew() <= {r["taxon_id"] for r in rows}
    first = {r["taxon_id"]: r for r in rows}[TAXON]
    assert "critically_endangered" in first["rules"] and first["category"] == "CR"
    assert set(first["evidence"]) == set(first["rules"])
    assert client.get(f"{API}/exsitu/prescreen", headers=people["headers"]["outsider"]).status_code == 404


def test_assessments_list_and_detail_with_history(client, people):  # noqa: F811
    h = people["headers"]["viewer"]
    assert get(client, f"{API}/exsitu/assessments", h)["count"] == 0
    r = client.get(f"{API}/exsitu/assessments/{TAXON}", headers=h)
    assert r.status_code == 404 and "no ex situ assessment" in r.json()["detail"]
    a = store.start_exsitu_assessment(PROJECT, TAXON, user="fay")
    rec = ea.decide(a["record"], "none", [], "in situ first", user="fay")
    store.save_exsitu_step(PROJECT, TAXON, "decision", rec, expected_version=1, user="fay")
    listed = get(client, f"{API}/exsitu/assessments", h)["results"]
    assert [(x["taxon_id"], x["outcome"], x["roles_retained"], x["version"]) for x in listed] == [
        (TAXON, "none", [], 2)
    ]
    one = get(client, f"{API}/exsitu/assessments/{TAXON}", h)
    assert one["record"]["decision"]["rationale"] == "in situ first"
    assert [(x["version"], x["step"], x["made_by"]) for x in one["history"]] == [
        (1, "start", "fay"),
        (2, "decision", "fay"),
    ]
    assert one["updated_at"].endswith("Z") or one["updated_at"].endswith("+00:00")
