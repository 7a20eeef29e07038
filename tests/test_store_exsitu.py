"""Ex situ in the store (issue 6): holdings and CITES imports, the five-step assessment saved with
versions, who and when, refused when stale; on SQLite and PostgreSQL. The bundled fictional
example is the working set; holdings and checklist files are written here (fictional names)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.examples import example_path
from assess2plan.exsitu import assessment as ea
from assess2plan.io import read_redlist
from assess2plan.io.cites import SPECIES_PLUS_COLUMNS

TAXON = "990000001"  # Mirrenichthys auratus, CR in the example
DOWNLOAD = example_path() / "download"

CITES_HEADER = ",".join(SPECIES_PLUS_COLUMNS)  # a Species+ checklist export


def _cites_row(tid, order, family, genus, species, rank, listing, synonyms="") -> str:
    full = f"{genus} {species}".strip()
    cells = [
        tid,
        "Animalia",
        "Chordata",
        "Actinopteri",
        order,
        family,
        genus,
        species,
        "",
        full,
        '"Ødegård, 1958"',
        rank,
        listing,
        f"Appendix {listing}: ",
        f"Appendix {listing}: ",
        "",
        "",
        "",
        "",
        f'"{synonyms}"',
        "",
        "",
        "",
        "true",
        '"XA"',
        "Valdora",
        "Valdora",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    return ",".join(cells)


@pytest.fixture
def files(tmp_path):
    holdings = tmp_path / "holdings.csv"
    holdings.write_text(
        "Scientific Name,Institution,Country,Males,Females,Unknown,Date,Source\n"
        "Mirrenichthys auratus,Mirren Aquarium,XA,3,4,1,2026-01-31,ZIMS test\n"
        "Veridibarbus auratus,Osmaria Zoo,XC,2,2,0,2025-12-01,ZIMS test\n"  # a synonym of the same taxon
        "Nonexistus fictus,Osmaria Zoo,XC,1,0,0,2025-12-01,ZIMS test\n",
        encoding="utf-8",
    )
    cites = tmp_path / "cites.csv"
    cites.write_text(
        CITES_HEADER
        + "\n"
        + _cites_row("1", "Cypriniformes", "Cyprinidae", "Mirrenichthys", "", "GENUS", "II")
        + "\n"
        + _cites_row("2", "Perciformes", "Cichlidae", "Oskarichromis", "rubripinnis", "SPECIES", "I")
        + "\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Scientific Name,Institution,Country,Males,Females,Unknown,Date,Source\n"
        "Mirrenichthys auratus,Mirren Aquarium,XA,3,-4,1,2026-01-31,ZIMS test\n",
        encoding="utf-8",
    )
    return {"holdings": holdings, "cites": cites, "bad": bad}


def _threat_codes() -> list[str]:
    with open(DOWNLOAD / "threats.csv", encoding="utf-8-sig", newline="") as fh:
        return sorted({r["code"] for r in csv.DictReader(fh) if r["internalTaxonId"] == TAXON})


@pytest.fixture
def project(alias):
    store.import_set(read_redlist(DOWNLOAD), project="lk", using=alias)
    return alias


def _scored(record: dict) -> dict:
    from assess2plan.exsitu import guidelines

    for i, f in enumerate(guidelines.factors()):
        record = ea.set_score(record, f.id, 1 + i % 5, f"reason {i}")
    return record


def test_five_steps_saved_with_versions_and_history(project, files):
    alias = project
    store.import_holdings("lk", files["holdings"], user="keeper", using=alias)
    store.import_cites("lk", files["cites"], user="keeper", using=alias)
    a = store.start_exsitu_assessment("lk", "Mirrenichthys auratus", user="ana", using=alias)
    assert a["taxon_id"] == TAXON and a["version"] == 1 and a["made_by"] == "ana"
    s = a["record"]["status"]
    assert s["category"] == "CR"
    assert [t["code"] for t in s["threats"]] == sorted(
        _threat_codes(), key=lambda c: [int(p) for p in c.split(".")]
    )
    assert "3.4.1" in [x["code"] for x in s["actions_needed"]]
    # holdings: the file's own row and the row under the synonym, not the unmatched one
    assert (s["holdings"]["males"], s["holdings"]["females"], s["holdings"]["unknown"]) == (5, 6, 1)
    assert s["holdings"]["institutions"] == 2
    assert s["cites"]["listing"] == "II" and s["cites"]["matched_by"] == "genus"

    rec = ea.set_notes(a["record"], in_situ_summary="Declining in Lake Mirren.")
    a = store.save_exsitu_step("lk", TAXON, "status", rec, expected_version=1, user="ana", using=alias)
    rec = ea.set_role(
        a["record"], "insurance_population", threats=[("8.1.2", "buys_time")], rationale="perch"
    )
    a = store.save_exsitu_step("lk", TAXON, "roles", rec, expected_version=2, user="ana", using=alias)
    rec = ea.set_dimensions(a["record"], generation_length=3, ne_n=0.3, founders=20)
    a = store.save_exsitu_step("lk", TAXON, "dimensions", rec, expected_version=3, user="ana", using=alias)
    assert a["record"]["dimensions"]["result"]["n"] >= a["record"]["dimensions"]["result"]["ne"]
    a = store.save_exsitu_step(
        "lk", TAXON, "feasibility", _scored(a["record"]), expected_version=4, user="bo", using=alias
    )
    when = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    rec = ea.decide(a["record"], "retain", ["insurance_population"], "buys time", user="fac", when=when)
    a = store.save_exsitu_step("lk", TAXON, "decision", rec, expected_version=5, user="fac", using=alias)
    assert a["version"] == 6 and a["updated_by"] == "fac"
    got = store.get_exsitu_assessment("lk", TAXON, using=alias)
    assert got["record"]["decision"]["roles"] == ["insurance_population"]
    assert got["record"]["decision"]["decided_by"] == "fac"
    assert ea.progress(got["record"]) == dict.fromkeys(ea.STEPS, True)
    hist = store.assessment_history("lk", TAXON, using=alias)
    assert [(h["version"], h["step"], h["made_by"]) for h in hist] == [
        (1, "start", "ana"),
        (2, "status", "ana"),
        (3, "roles", "ana"),
        (4, "dimensions", "ana"),
        (5, "feasibility", "bo"),
        (6, "decision", "fac"),
    ]
    assert hist[1]["record"]["status"]["in_situ_summary"] == "Declining in Lake Mirren."
    listed = store.list_exsitu_assessments("lk", using=alias)
    assert listed.row(0, named=True)["steps_done"] == "1 2 3 4 5"
    assert listed.row(0, named=True)["outcome"] == "retain"


def test_stale_save_is_refused_and_changes_nothing(project):
    alias = project
    a = store.start_exsitu_assessment("lk", TAXON, user="ana", using=alias)
    mine = ea.set_notes(a["record"], notes="mine")
    theirs = ea.set_notes(a["record"], notes="theirs")
    store.save_exsitu_step("lk", TAXON, "status", theirs, expected_version=1, user="bo", using=alias)
    with pytest.raises(store.VersionConflict, match="bo"):
        store.save_exsitu_step("lk", TAXON, "status", mine, expected_version=1, user="ana", using=alias)
    got = store.get_exsitu_assessment("lk", TAXON, using=alias)
    assert got["version"] == 2 and got["record"]["status"]["notes"] == "theirs"


def test_bad_record_is_refused_and_changes_nothing(project):
    alias = project
    a = store.start_exsitu_assessment("lk", TAXON, user="ana", using=alias)
    bad = dict(a["record"], feasibility=[{"factor": "no_such_factor", "score": 3, "rationale": "x"}])
    with pytest.raises(InputError, match="feasibility\\[0\\].factor"):
        store.save_exsitu_step("lk", TAXON, "feasibility", bad, expected_version=1, user="ana", using=alias)
    with pytest.raises(InputError, match="decision"):
        ea.decide(a["record"], "retain", ["insurance_population"], "x", user="fac")  # not considered
    assert store.get_exsitu_assessment("lk", TAXON, using=alias)["version"] == 1
    with pytest.raises(A2PError, match="exists already"):
        store.start_exsitu_assessment("lk", TAXON, user="ana", using=alias)


def test_holdings_imports_refuse_bad_files_and_duplicates(project, files):
    alias = project
    with pytest.raises(InputError) as e:
        store.import_holdings("lk", files["bad"], user="keeper", using=alias)
    text = str(e.value)
    assert "bad.csv" in text and "row 1" in text and "-4" in text
    assert store.list_exsitu_sources("lk", using=alias).is_empty()
    store.import_holdings("lk", files["holdings"], user="keeper", using=alias)
    with pytest.raises(A2PError, match="already imported"):
        store.import_holdings("lk", files["holdings"], user="keeper", using=alias)
    r = store.import_holdings("lk", files["holdings"], replace=True, user="keeper2", using=alias)
    assert r["rows"] == 3 and r["matched"] == 2
    assert r["unmatched"]["name"].to_list() == ["Nonexistus fictus"]
    src = store.list_exsitu_sources("lk", using=alias)
    assert src["current"].to_list() == [False, True] and src["replaced_by"].to_list() == ["keeper2", None]
    assert store.holdings("lk", using=alias).height == 3  # the retired file's rows are not counted twice


def test_cites_checklist_replaces_the_previous_and_refresh_keeps_texts(project, files, tmp_path):
    alias = project
    store.import_cites("lk", files["cites"], user="keeper", using=alias)
    a = store.start_exsitu_assessment("lk", TAXON, user="ana", using=alias)
    rec = ea.set_notes(a["record"], ex_situ_summary="kept")
    store.save_exsitu_step("lk", TAXON, "status", rec, expected_version=1, user="ana", using=alias)
    newer = tmp_path / "cites2.csv"
    newer.write_text(
        CITES_HEADER
        + "\n"
        + _cites_row("9", "Cypriniformes", "Cyprinidae", "Mirrenichthys", "auratus", "SPECIES", "I")
        + "\n",
        encoding="utf-8",
    )
    store.import_cites("lk", newer, user="keeper", using=alias)
    assert store.cites_listings("lk", using=alias).height == 1
    a = store.refresh_exsitu_status("lk", TAXON, expected_version=2, user="ana", using=alias)
    assert a["record"]["status"]["cites"]["listing"] == "I"
    assert a["record"]["status"]["cites"]["matched_by"] == "name"
    assert a["record"]["status"]["ex_situ_summary"] == "kept"
    assert store.assessment_history("lk", TAXON, using=alias)[-1]["step"] == "refresh"


def test_prescreen_in_the_store_flags_the_critically_endangered(project, files):
    alias = project
    with open(DOWNLOAD / "assessments.csv", encoding="utf-8-sig", newline="") as fh:
        cr = {
            r["internalTaxonId"]
            for r in csv.DictReader(fh)
            if r["redlistCategory"] == "Critically Endangered"
        }
    df = store.run_prescreen("lk", using=alias)
    assert cr <= set(df["taxon_id"].to_list())


@pytest.mark.django_db(transaction=True)
def test_audit_log_lists_ex_situ_imports_and_every_saved_step(files):
    from assess2plan.web.app.views_review import _exsitu_entries

    store.import_set(read_redlist(DOWNLOAD), project="lk")
    store.import_holdings("lk", files["holdings"], user="keeper")
    a = store.start_exsitu_assessment("lk", TAXON, user="ana")
    rec = ea.decide(a["record"], "none", [], "in situ first", user="fac")
    store.save_exsitu_step("lk", TAXON, "decision", rec, expected_version=1, user="fac")
    got = [(e["user"], e["what"], e["why"]) for e in _exsitu_entries("lk")]
    assert ("keeper", "Ex situ holdings imported: 3 rows from holdings.csv", "") in got
    assert any(u == "ana" and "Mirrenichthys auratus: started" in w for u, w, _ in got)
    assert (
        "fac",
        "Ex situ assessment of Mirrenichthys auratus: step 5 decision recorded (version 2)",
        "no ex situ role: in situ first",
    ) in got


def test_real_api_assessment_and_real_cites_checklist(project):
    """A real Red List API v4 assessment (Paretroplus menarambo, CR) with the real CITES birds
    checklist: step 1 carries the threats of the JSON (read here with json, codes 5_3_5 -> 5.3.5);
    the fish is covered by no bird listing, which step 1 says as null."""
    import json

    from tests.conftest import shared_path

    path = shared_path(
        "redlist-api-v4",
        "iucn-r-client",
        "assessment_data_many_2911619_58307800_178423675__assessment_58307800.json",
    )
    alias = project
    raw = json.loads(path.read_text(encoding="utf-8"))
    store.import_set(read_redlist(path), project="api", using=alias)
    r = store.import_cites(
        "api", shared_path("cites", "species-plus-checklist-birds.csv"), user="k", using=alias
    )
    with open(shared_path("cites", "species-plus-checklist-birds.csv"), encoding="utf-8", newline="") as fh:
        assert r["rows"] == sum(1 for _ in csv.DictReader(fh))
    assert r["covered"].is_empty()
    name = raw["taxon"]["scientific_name"]
    flagged = store.run_prescreen("api", using=alias)
    assert flagged.filter(flagged["scientific_name"] == name)["category"].to_list() == ["CR"]
    a = store.start_exsitu_assessment("api", name, user="ana", using=alias)
    codes = sorted(
        {t["code"].replace("_", ".") for t in raw["threats"]}, key=lambda c: [int(p) for p in c.split(".")]
    )
    assert [t["code"] for t in a["record"]["status"]["threats"]] == codes
    assert a["record"]["status"]["cites"] is None
    rec = ea.set_role(a["record"], "insurance_population", threats=[(codes[0], "buys_time")], rationale="r")
    rec = ea.decide(rec, "retain", ["insurance_population"], "as the assessors ask", user="fac")
    saved = store.save_exsitu_step("api", name, "decision", rec, expected_version=1, user="fac", using=alias)
    assert saved["version"] == 2 and saved["record"]["decision"]["decided_by"] == "fac"
