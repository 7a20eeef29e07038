"""SIS Connect CSV reader: the real kew-saba set, the committed look-alike, column forms, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from assess2plan import schemes
from assess2plan.errors import InputError
from assess2plan.io import detect_format, read_redlist
from assess2plan.io.sis_connect import looks_like_sis_connect, read_sis_connect
from tests.conftest import shared_path

FIXTURE = Path(__file__).parent / "fixtures" / "sis_mini"
DOWNLOAD_FIXTURE = Path(__file__).parent / "fixtures" / "download_mini"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def lookup(record: dict[str, str]) -> str:
    return next(v for k, v in record.items() if k.endswith("Lookup"))


def write_csv(path: Path, header: list[str], records: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(records)
    return path


def copy_fixture(tmp_path: Path, only: tuple[str, ...] | None = None) -> Path:
    dst = tmp_path / "sis"
    dst.mkdir()
    for f in FIXTURE.iterdir():
        if only is None or f.name in only:
            shutil.copy(f, dst / f.name)
    return dst


# -- real data -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kew():
    folder = shared_path("sis-connect", "kew-saba")
    return folder, read_sis_connect(folder)


def test_real_counts(kew):
    folder, s = kew
    got = s.counts()
    assert got["assessments"] == len(rows(folder / "assessments.csv")) == 4
    assert got["species"] == 4 and got["taxa"] == 4
    assert got["threats"] == len(rows(folder / "threats.csv"))
    assert got["actions_needed"] == len(rows(folder / "conservationneeded.csv"))
    assert got["research_needed"] == len(rows(folder / "researchneeded.csv"))
    assert got["habitats"] == len(rows(folder / "habitats.csv"))
    assert got["use_trade"] == len(rows(folder / "usetrade.csv"))
    assert got["credits"] == len(rows(folder / "credits.csv"))
    assert got["common_names"] == len(rows(folder / "commonnames.csv"))
    assert got["synonyms"] == len(rows(folder / "synonyms.csv"))
    codes = [lookup(r) for r in rows(folder / "countries.csv")]
    sub = [c for c in codes if re.fullmatch(r"[A-Z]{2,3}-[A-Z0-9]{2,3}", c)]
    kinds = Counter(s.occurrence["kind"].to_list())
    assert kinds == {"country": len(codes) - len(sub), "subnational": len(sub)}
    assert len(sub) > 0
    assert set(s.occurrence.filter(pl.col("kind") == "subnational")["code"].to_list()) == set(sub)
    assert {"YAK-OO", "RU-EU"} <= set(sub)
    allfields = rows(folder / "allfields.csv")
    in_place = sum(
        1 for r in allfields for k, v in r.items() if k.startswith("InPlace") and k.endswith(".value") and v
    )
    assert got["actions_in_place"] == in_place
    header = set(allfields[0])
    from_allfields = s.other_fields.filter(pl.col("field").is_in(list(header)))
    want = sum(
        1
        for r in allfields
        for k, v in r.items()
        if v
        and k != "internal_taxon_id"
        and not (k.startswith("InPlace") and r.get(k.split(".")[0] + ".value"))
    )
    assert from_allfields.height == want
    assert all(src.format == "sis-connect" for src in s.sources)
    assert "references.csv" not in {Path(src.path).name for src in s.sources}


def test_real_assessment_values(kew):
    folder, s = kew
    a = {r["taxon_id"]: r for r in s.assessments.iter_rows(named=True)}
    bear = a["22823"]
    assert bear["assessment_id"] == "sis:22823"
    assert (bear["category"], bear["category_label"], bear["criteria"]) == ("VU", "Vulnerable", "A3c")
    assert bear["assessment_date"] == dt.date(2015, 8, 27)
    assert bear["scientific_name"] == "Ursus maritimus"
    assert bear["systems"] == "Terrestrial|Marine" and bear["realms"] == "Nearctic|Palearctic"
    assert a["6909"]["criteria"] == "A2bcd+4bcd"  # from manualCriteriaString
    assert a["60344"]["category"] == "CR"
    src = {r["internal_taxon_id"]: r for r in rows(folder / "assessments.csv")}
    assert bear["rationale"] == src["22823"]["RedListRationale.value"]
    assert a["60344"]["range_text"] == src["60344"]["RangeDocumentation.narrative"]
    assert "<p>" in a["60344"]["range_text"]
    assert a["37583"]["use_trade_text"] == src["37583"]["UseTradeDocumentation.value"]


def test_real_values(kew):
    folder, s = kew
    habitat_codes = [lookup(r) for r in rows(folder / "habitats.csv")]
    two_digit = {c for c in habitat_codes if len(c.split(".")[-1]) == 2}
    assert "9.10" in two_digit
    assert Counter(s.habitats["code"].to_list()) == Counter(habitat_codes)
    for r in s.threats.iter_rows(named=True):
        try:
            want = schemes.impact(r["timing"], r["scope"], r["severity"])
        except schemes.UnknownValue:
            want = (None, "Unknown")
        assert (r["impact_score"], r["impact"]) == want
    bear = s.threats.filter((pl.col("taxon_id") == "22823") & (pl.col("code") == "11.1")).row(0, named=True)
    assert bear["stress_codes"] == "2.3.7|1.1|1.2|2.1|2.2" and bear["impact"] == "Medium Impact"
    assert bear["name"] == "Habitat shifting & alteration"  # filled from the scheme
    # "None" written by a Python exporter is no note
    assert s.actions_needed.filter(pl.col("taxon_id") == "37583")["note"].null_count() == 5
    credit = s.credits.filter(
        (pl.col("taxon_id") == "22823") & (pl.col("credit_type") == "Assessor") & (pl.col("order") == 1)
    ).row(0, named=True)
    assert (credit["names"], credit["text"]) == ("\u00d8ystein Wiig", "Wiig, \u00d8.")
    assert s.other_fields.filter(pl.col("field") == "PlantGrowthForms")["value"].to_list() == ["TS"]
    assert looks_like_sis_connect(folder)
    assert detect_format(folder) == "sis-connect"


# -- the committed look-alike ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mini():
    return read_sis_connect(FIXTURE)


def test_mini_counts(mini):
    assert mini.counts() == {
        "taxa": 3,
        "assessments": 3,
        "threats": 4,
        "actions_needed": 3,
        "actions_in_place": 4,
        "research_needed": 2,
        "habitats": 3,
        "occurrence": 4,
        "use_trade": 2,
        "credits": 4,
        "common_names": 3,
        "synonyms": 2,
        "other_fields": 13,
        "species": 3,
    }


def test_mini_assessments_and_taxa(mini):
    a = {r["assessment_id"]: r for r in mini.assessments.iter_rows(named=True)}
    en = a["sis:700001"]
    assert (en["category"], en["category_label"], en["criteria"], en["criteria_version"]) == (
        "EN",
        "Endangered",
        "B1ab(iii)",
        "3.1",
    )
    assert en["assessment_date"] == dt.date(2015, 8, 27) and en["year_published"] is None
    assert en["scientific_name"] == "Fictus arboreus subsp. montanus"
    assert en["rationale"] == "<p>Restricted &amp; declining.</p>\n<p>Second paragraph.</p>"
    assert en["range_text"] == '<p>Two valleys in the "Sierra Ficticia".</p>'
    assert en["conservation_actions_text"] == "<p>Seed banking &amp; <em>ex situ</em> plots.</p>"
    assert en["threats_text"] == "Goats and fire." and en["use_trade_text"] == "Timber in the past."
    assert en["taxonomic_notes"] == "<em>Fictus</em> is monotypic."
    assert en["population_trend"] == "Decreasing" and en["language"] == "English"
    lr = a["sis:700003"]
    assert (lr["category"], lr["category_label"]) == ("LR/cd", "Lower Risk/conservation dependent")
    assert lr["possibly_extinct"] is True and lr["year_last_seen"] == "1990"
    assert a["sis:700002"]["systems"] == "Freshwater (=Inland waters)|Marine"
    assert a["sis:700002"]["realms"] == "Palearctic|Afrotropical"
    t = {r["taxon_id"]: r for r in mini.taxa.iter_rows(named=True)}
    assert (t["700001"]["infra_type"], t["700001"]["infra_name"], t["700001"]["infra_authority"]) == (
        "subspecies (plantae)",
        "montanus",
        "Roe",
    )
    assert (t["700002"]["class_name"], t["700002"]["order_name"], t["700002"]["authority"]) == (
        "ACTINOPTERYGII",
        "FICTIFORMES",
        "Poe, 1850",
    )


def test_mini_children(mini):
    th = {r["code"]: r for r in mini.threats.iter_rows(named=True)}
    goats = th["8.1.2"]
    assert (goats["ancestry"], goats["ias"], goats["impact_score"], goats["impact"]) == (
        "Feral",
        "Capra hircus",
        7,
        "Medium Impact",
    )
    assert goats["stress_names"] == "Ecosystem degradation|Species mortality"
    assert th["7.1.1"]["text"] == "Dry-season fires." and th["5.4.4"]["international_trade"] == "No"
    assert any(i.value == "4.5" and i.row == 4 and i.file.endswith("threats.csv") for i in mini.issues)
    an = {r["code"]: r["note"] for r in mini.actions_needed.iter_rows(named=True)}
    assert an == {"3.4.1": None, "2.2": "Goat control", "1.1": None}
    assert (
        mini.actions_needed.filter(pl.col("code") == "2.2")["name"].item()
        == "Invasive/problematic species control"
    )
    hab = {r["code"]: r for r in mini.habitats.iter_rows(named=True)}
    assert set(hab) == {"3.4", "5.10", "9.10"}
    assert hab["5.10"]["season"] == "Non-Breeding Season" and hab["3.4"]["season"] == "Resident"
    occ = {r["code"]: r for r in mini.occurrence.iter_rows(named=True)}
    assert (
        occ["FIC-OO"]["kind"] == "subnational" and occ["FIC-OO"]["seasonality"] == "Resident|Breeding Season"
    )
    assert occ["PE"]["kind"] == "country" and occ["PE"]["name"] == "Peru"
    assert occ["PT"]["origin"] == "Vagrant"
    assert mini.use_trade.filter(pl.col("code") == "9")["subsistence"].item() == "true"
    cr = {(r["credit_type"], r["order"], r["assessment_id"]): r for r in mini.credits.iter_rows(named=True)}
    assert (cr[("Assessor", 2, "sis:700001")]["text"], cr[("Assessor", 2, "sis:700001")]["names"]) == (
        "Doe, J.Q.",
        "Jane Q. Doe",
    )
    assert cr[("Assessor", 1, "sis:700001")]["text"] == "Roe, R."
    assert cr[("Reviewer", 1, "sis:700001")]["text"] == "Poe, E.A."
    cn = {r["name"]: r["main"] for r in mini.common_names.iter_rows(named=True)}
    assert cn["Mountain Fictree"] is True and cn["\u00c1rbol ficticio "] is False
    syn = {r["name"]: r for r in mini.synonyms.iter_rows(named=True)}
    sub = syn["Fictus arboreus (Doe) Roe subsp. montanus"]
    assert (sub["genus"], sub["species"], sub["infra_type"], sub["infra_name"], sub["infra_author"]) == (
        "Fictus",
        "arboreus",
        "subspecies (plantae)",
        "montanus",
        "Roe",
    )
    aip = {(r["assessment_id"], r["field"]): r for r in mini.actions_in_place.iter_rows(named=True)}
    exsitu = aip[("sis:700001", "InPlaceSpeciesManagementExSitu")]
    assert exsitu["value"] == "Yes" and exsitu["note"] == "Migration note:\nSeed bank at a fictional garden."
    assert exsitu["group"] == "In-place species management"
    other = {(r["assessment_id"], r["field"]): r["value"] for r in mini.other_fields.iter_rows(named=True)}
    assert other[("sis:700001", "PlantGrowthForms")] == "TS|S"
    assert other[("sis:700001", "MapStatus.status")] == "Done"
    assert other[("sis:700002", "GenerationLength.range")] == "3-5"
    assert other[("sis:700001", "RedListCriteria.isManual")] == "true"
    assert not any(f.startswith("RedListCriteria.manualCategory") for _, f in other)


def test_mini_zipped_reads_the_same(tmp_path, mini):
    z = tmp_path / "sis.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in FIXTURE.iterdir():
            zf.write(f, f"export/{f.name}")
    s = read_sis_connect(z)
    for t in mini.tables:
        assert s.tables[t].equals(mini.tables[t]), t
    assert detect_format(z) == "sis-connect"


def test_detection():
    assert looks_like_sis_connect(FIXTURE)
    assert not looks_like_sis_connect(DOWNLOAD_FIXTURE)
    assert detect_format(FIXTURE) == "sis-connect"
    s = read_redlist(FIXTURE)
    assert s.counts()["assessments"] == 3 and s.sources[0].format == "sis-connect"


def test_older_column_form_and_assessment_ids(tmp_path):
    folder = tmp_path / "old"
    write_csv(
        folder / "assessments.csv",
        [
            "assessment_id",
            "Internal_taxon_id",
            "RedListCriteria.manualCategory",
            "RedListAssessmentDate.value",
        ],
        [["A1", "10", "NT", "2001-02-03"], ["A2", "10", "VU", "05/06/2011"], ["B1", "20", "LC", ""]],
    )
    write_csv(
        folder / "threats.csv",
        [
            "Internal_taxon_id",
            "Threats.ThreatsLookup",
            "Threats.timing",
            "Threats.scope",
            "Threats.severity",
            "Threats.stress",
        ],
        [
            ["20", "2.1.1", "Ongoing", "Whole (>90%)", "Very Rapid Declines", "1.1|2.1"],
            ["10", "1.1", "Ongoing", "", "", ""],
        ],
    )
    write_csv(
        folder / "conservationneeded.csv",
        [
            "assessment_id",
            "Internal_taxon_id",
            "ConservationActions.ConservationActionsLookup",
            "ConservationActions.Note",
        ],
        [["A2", "10", "2_2", "control"]],
    )
    s = read_sis_connect(folder)
    assert sorted(s.assessments["assessment_id"].to_list()) == ["A1", "A2", "B1"]
    assert s.assessments.filter(pl.col("assessment_id") == "A1")["assessment_date"].item() == dt.date(
        2001, 2, 3
    )
    t = s.threats.row(0, named=True)
    assert (t["assessment_id"], t["code"], t["stress_codes"], t["impact_score"], t["impact"]) == (
        "B1",
        "2.1.1",
        "1.1|2.1",
        9,
        "High Impact",
    )
    # taxon 10 has two assessments: a row without assessment id cannot be attached
    assert s.threats.height == 1
    assert any(
        i.column == "internal_taxon_id" and i.value == "10" and "dropped" in i.message for i in s.issues
    )
    assert s.actions_needed.select("assessment_id", "code", "note").rows() == [("A2", "2.2", "control")]


# -- bad input ---------------------------------------------------------------------------------------------
def test_orphan_taxon_row(tmp_path):
    folder = copy_fixture(tmp_path)
    with (folder / "researchneeded.csv").open("a", encoding="utf-8") as fh:
        fh.write("1.2,,,799999\n")
    with pytest.raises(InputError) as err:
        read_sis_connect(folder)
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (
        str(folder / "researchneeded.csv"),
        3,
        "internal_taxon_id",
        "799999",
    )
    assert "orphan" in e.message


def test_duplicate_taxon_in_assessments(tmp_path):
    folder = tmp_path / "dup"
    write_csv(
        folder / "assessments.csv",
        ["internal_taxon_id", "RedListCriteria.manualCategory"],
        [["1", "VU"], ["2", "EN"], ["1", "CR"]],
    )
    with pytest.raises(InputError) as err:
        read_sis_connect(folder)
    e = err.value
    assert (e.row, e.column, e.value) == (3, "internal_taxon_id", "1") and "duplicate" in e.message


@pytest.mark.parametrize(
    ("column", "bad", "what"),
    [
        ("RedListAssessmentDate.value", "31/02/2015", "not a date"),
        ("RedListCriteria.possiblyExtinct", "sometimes", "not true/false"),
    ],
)
def test_unreadable_values(tmp_path, column, bad, what):
    folder = tmp_path / "bad"
    write_csv(folder / "assessments.csv", ["internal_taxon_id", column], [["1", ""], ["2", bad]])
    with pytest.raises(InputError) as err:
        read_sis_connect(folder)
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (str(folder / "assessments.csv"), 2, column, bad)
    assert what in e.message


def test_missing_taxon_column(tmp_path):
    folder = copy_fixture(tmp_path)
    write_csv(
        folder / "habitats.csv", ["GeneralHabitats.GeneralHabitatsSubfield.GeneralHabitatsLookup"], [["1.1"]]
    )
    with pytest.raises(InputError) as err:
        read_sis_connect(folder)
    assert err.value.column == "internal_taxon_id" and err.value.file == str(folder / "habitats.csv")
    assert "GeneralHabitats.GeneralHabitatsSubfield.GeneralHabitatsLookup" in err.value.message


def test_missing_code_column(tmp_path):
    folder = copy_fixture(tmp_path)
    write_csv(
        folder / "threats.csv",
        ["Threats.ThreatsSubfield.timing", "internal_taxon_id"],
        [["Ongoing", "700001"]],
    )
    with pytest.raises(InputError, match="Lookup") as err:
        read_sis_connect(folder)
    assert err.value.file == str(folder / "threats.csv")


def test_children_without_assessments(tmp_path):
    folder = copy_fixture(tmp_path, only=("taxonomy.csv", "threats.csv"))
    with pytest.raises(InputError) as err:
        read_sis_connect(folder)
    assert err.value.file == str(folder / "threats.csv") and "assessments.csv" in err.value.message


def test_taxa_only_set(tmp_path):
    folder = copy_fixture(tmp_path, only=("taxonomy.csv", "commonnames.csv"))
    s = read_sis_connect(folder)
    assert s.counts()["taxa"] == 3 and s.counts()["assessments"] == 0
    assert any(i.message.startswith("assessments.csv absent") for i in s.issues)


def test_empty_file(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "usetrade.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as err:
        read_sis_connect(folder)
    assert err.value.file == str(folder / "usetrade.csv")


def test_unknown_category_is_a_warning(tmp_path):
    folder = tmp_path / "cat"
    write_csv(
        folder / "assessments.csv", ["internal_taxon_id", "RedListCriteria.manualCategory"], [["1", "XX"]]
    )
    s = read_sis_connect(folder)
    r = s.assessments.row(0, named=True)
    assert r["category"] is None and r["category_label"] == "XX"
    assert any(
        i.column == "RedListCriteria.manualCategory" and i.value == "XX" and i.row == 1 for i in s.issues
    )
