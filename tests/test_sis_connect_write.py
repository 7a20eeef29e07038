"""SIS Connect writer: round trips on real sets, edits, taxa filter, folder safety, file format.

The small in-memory set below is fictional (invented taxa and ids); real files are read from
../shared/data and never copied here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from assess2plan.errors import A2PError
from assess2plan.io import read_redlist, write_sis_connect
from assess2plan.io import sis_connect_write as scw
from assess2plan.io.sis_connect import read_sis_connect
from assess2plan.model import AssessmentSet
from tests.conftest import shared_path

ALL = ("actions_needed", "research_needed", "threats", "actions_in_place")
CA = "ConservationActions.ConservationActionsSubfield."
HEADERS = {
    "assessments.csv": ["internal_taxon_id"],
    "taxonomy.csv": [
        "Redlist_id",
        "classname",
        "family",
        "genus",
        "infraType",
        "infra_authority",
        "infra_name",
        "internal_taxon_id",
        "kingdom",
        "ordername",
        "phylum",
        "species",
        "taxonomicAuthority",
    ],
    "conservationneeded.csv": [
        f"{CA}ConservationActionsLookup",
        f"{CA}ConservationActionsName",
        f"{CA}note",
        "internal_taxon_id",
    ],
    "researchneeded.csv": [
        "Research.ResearchSubfield.ResearchLookup",
        "Research.ResearchSubfield.ResearchName",
        "Research.ResearchSubfield.note",
        "internal_taxon_id",
    ],
    "threats.csv": [
        "Threats.ThreatsSubfield.StressesSubfield.stress",
        "Threats.ThreatsSubfield.StressesSubfield.stressdesc",
        "Threats.ThreatsSubfield.ThreatsLookup",
        "Threats.ThreatsSubfield.ThreatsName",
        "Threats.ThreatsSubfield.ancestry",
        "Threats.ThreatsSubfield.ias",
        "Threats.ThreatsSubfield.internationalTrade",
        "Threats.ThreatsSubfield.scope",
        "Threats.ThreatsSubfield.severity",
        "Threats.ThreatsSubfield.text",
        "Threats.ThreatsSubfield.timing",
        "Threats.ThreatsSubfield.virus",
        "internal_taxon_id",
    ],
}
IN_PLACE_FIELDS = [
    "InPlaceEducationControlled",
    "InPlaceEducationInternationalLegislation",
    "InPlaceEducationSubjectToPrograms",
    "InPlaceLandWaterProtectionAreaPlanned",
    "InPlaceLandWaterProtectionInPA",
    "InPlaceLandWaterProtectionInvasiveControl",
    "InPlaceLandWaterProtectionPercentProtected",
    "InPlaceLandWaterProtectionSitesIdentified",
    "InPlaceResearchMonitoringScheme",
    "InPlaceResearchRecoveryPlan",
    "InPlaceSpeciesManagementExSitu",
    "InPlaceSpeciesManagementHarvestPlan",
    "InPlaceSpeciesManagementReintroduced",
]
ALLFIELDS_HEADER = [f"{f}.{s}" for f in IN_PLACE_FIELDS for s in ("note", "value")] + ["internal_taxon_id"]
TRICKY_NOTE = 'Seed bank at "Lakeside", then\nreintroduce; 50% of sites'


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def latest_rows(aset: AssessmentSet, table: str, cols: list[str]) -> pl.DataFrame:
    """Rows of ``table`` for the latest global assessments, as comparable sorted frames."""
    ids = aset.latest("Global").select("assessment_id")
    return aset.tables[table].join(ids, on="assessment_id").select(cols).sort(cols, nulls_last=True)


# -- a fictional set ----------------------------------------------------------------------------------
def fictional() -> AssessmentSet:
    """Three invented taxa: one with an older assessment, one with a later regional one, one without actions."""
    taxa = pl.DataFrame(
        {
            "taxon_id": ["900001", "900002", "900003"],
            "scientific_name": ["Lacustria fictiva", "Rivulina imaginaria", "Pseudoperca inventa"],
            "kingdom": ["ANIMALIA"] * 3,
            "phylum": ["CHORDATA"] * 3,
            "class_name": ["ACTINOPTERYGII"] * 3,
            "order_name": ["CYPRINIFORMES"] * 3,
            "family": ["FICTIDAE"] * 3,
            "genus": ["Lacustria", "Rivulina", "Pseudoperca"],
            "species": ["fictiva", "imaginaria", "inventa"],
            "authority": ["Nobody, 2001", "(Noone, 1999)", None],
        }
    )
    assessments = pl.DataFrame(
        {
            "assessment_id": ["f-10", "f-11", "f-20", "f-21", "f-30"],
            "taxon_id": ["900001", "900001", "900002", "900002", "900003"],
            "scientific_name": [
                "Lacustria fictiva",
                "Lacustria fictiva",
                "Rivulina imaginaria",
                "Rivulina imaginaria",
                "Pseudoperca inventa",
            ],
            "category": ["VU", "EN", "NT", "CR", "LC"],
            "year_published": [2010, 2021, 2019, 2023, 2020],
            "scopes": ["Global", "Global", "Global", "Europe", "Global"],
        }
    )
    actions = pl.DataFrame(
        {
            "assessment_id": ["f-10", "f-11", "f-11", "f-20", "f-21"],
            "taxon_id": ["900001", "900001", "900001", "900002", "900002"],
            "code": ["3.2", "1.1", "2.1", "4.3", "5.1.2"],
            "name": [
                None,
                "Site/area protection",
                "Site/area management",
                "Awareness & communications",
                None,
            ],
            "note": [None, None, "Fictional note, with a comma", None, None],
        }
    )
    research = pl.DataFrame(
        {"assessment_id": ["f-11"], "taxon_id": ["900001"], "code": ["1.2"], "note": ["Count them"]}
    )
    threats = pl.DataFrame(
        {
            "assessment_id": ["f-11", "f-20"],
            "taxon_id": ["900001", "900002"],
            "code": ["7.2.10", "8.1.2"],
            "timing": ["Ongoing", "Past, Likely to Return"],
            "scope": ["Majority (50-90%)", "Whole (>90%)"],
            "severity": ["Rapid Declines", "Slow, Significant Declines"],
            "stress_codes": ["1.1|2.1", "2.3.2"],
            "text": [None, "An invented <em>predator</em>"],
        }
    )
    in_place = pl.DataFrame(
        {
            "assessment_id": ["f-11", "f-20"],
            "taxon_id": ["900001", "900002"],
            "field": ["InPlaceResearchRecoveryPlan", None],  # the second as the API gives it: by name
            "name": [None, "Occurs in at least one protected area"],
            "value": ["Yes", "Yes"],
            "note": ["Draft plan", None],
        }
    )
    return AssessmentSet.from_frames(
        {
            "taxa": taxa,
            "assessments": assessments,
            "actions_needed": actions,
            "research_needed": research,
            "threats": threats,
            "actions_in_place": in_place,
        }
    )


# -- (1) round trip on the real SIS Connect set ----------------------------------------------------------
@pytest.mark.realdata
def test_roundtrip_real_sis_connect(tmp_path):
    original = read_redlist(shared_path("sis-connect", "kew-saba"))
    paths = write_sis_connect(original, tmp_path / "out", tables=ALL)
    assert set(paths) == {
        "assessments.csv",
        "taxonomy.csv",
        "conservationneeded.csv",
        "researchneeded.csv",
        "threats.csv",
        "allfields.csv",
    }
    back = read_sis_connect(tmp_path / "out")
    for table in ALL:
        cols = original.tables[table].columns
        before = latest_rows(original, table, cols)
        after = back.tables[table].select(cols).sort(cols, nulls_last=True)
        assert before.height > 0, table
        assert after.equals(before), table
    assert (
        back.taxa.select("taxon_id", "scientific_name")
        .sort("taxon_id")
        .equals(original.taxa.select("taxon_id", "scientific_name").sort("taxon_id"))
    )


@pytest.mark.realdata
def test_written_headers_match_the_real_export(tmp_path):
    """Same file names and column names as the real SIS Connect set (allfields: its InPlace* columns)."""
    real = shared_path("sis-connect", "kew-saba")
    paths = write_sis_connect(read_redlist(real), tmp_path / "out", tables=ALL)
    for name in ("conservationneeded.csv", "researchneeded.csv", "threats.csv"):
        assert header(paths[name]) == header(real / name), name
    real_in_place = [c for c in header(real / "allfields.csv") if c.startswith("InPlace")]
    assert header(paths["allfields.csv"]) == [*real_in_place, "internal_taxon_id"]
    real_taxonomy = header(real / "taxonomy.csv")
    assert set(header(paths["taxonomy.csv"])) <= set(real_taxonomy)


# -- (2) round trip on the real website download --------------------------------------------------------
@pytest.mark.realdata
def test_roundtrip_real_download(tmp_path):
    original = read_redlist(shared_path("redlist-download", "pacific-marine"))
    write_sis_connect(original, tmp_path / "sis", tables=ALL)
    back = read_redlist(tmp_path / "sis")
    cols = ["taxon_id", "code", "note"]
    before = latest_rows(original, "actions_needed", cols)
    after = back.actions_needed.select(cols).sort(cols, nulls_last=True)
    assert before.height == 2030
    assert after.equals(before)
    # taxa without any action needed are still in the set, with none
    none_before = set(original.latest()["taxon_id"]) - set(before["taxon_id"])
    assert none_before
    assert set(back.assessments["taxon_id"]) == set(original.latest()["taxon_id"])
    assert none_before.isdisjoint(set(after["taxon_id"]))
    # threats keep codes, SIS labels and the impact score SIS computes from them
    tcols = ["taxon_id", "code", "timing", "scope", "severity", "stress_codes", "impact_score", "impact"]
    assert (
        back.threats.select(tcols)
        .sort(tcols, nulls_last=True)
        .equals(latest_rows(original, "threats", tcols))
    )


# -- (3) workshop edits appear in the file -------------------------------------------------------------
def test_edits_appear_in_written_file(tmp_path):
    aset = fictional()
    an = aset.tables["actions_needed"]
    added = pl.DataFrame(
        {
            "assessment_id": ["f-20", None],
            "taxon_id": ["900002", "900003"],  # the second added by taxon only
            "code": ["3.4.1", "2.2"],
            "name": [None, None],
            "note": [TRICKY_NOTE, None],
        }
    )
    edited = pl.concat([an.filter(~((pl.col("assessment_id") == "f-11") & (pl.col("code") == "1.1"))), added])
    aset.tables["actions_needed"] = edited

    paths = write_sis_connect(aset, tmp_path / "out")
    got = [
        (r["internal_taxon_id"], r[f"{CA}ConservationActionsLookup"], r[f"{CA}note"])
        for r in rows(paths["conservationneeded.csv"])
    ]
    assert got == [
        ("900001", "2.1", "Fictional note, with a comma"),
        ("900002", "4.3", ""),
        ("900002", "3.4.1", TRICKY_NOTE),
        ("900003", "2.2", ""),
    ]
    back = read_sis_connect(tmp_path / "out")
    assert ("900002", "3.4.1", TRICKY_NOTE) in back.actions_needed.select("taxon_id", "code", "note").rows()
    assert "1.1" not in back.actions_needed.filter(pl.col("taxon_id") == "900001")["code"].to_list()


@pytest.mark.realdata
def test_edits_on_real_set(tmp_path):
    aset = read_redlist(shared_path("sis-connect", "kew-saba"))
    an = aset.tables["actions_needed"]
    aid = aset.latest().filter(pl.col("taxon_id") == "6909")["assessment_id"][0]
    new = pl.DataFrame(
        {
            "assessment_id": [aid],
            "taxon_id": ["6909"],
            "code": ["3.4.2"],
            "name": [None],
            "note": ["Workshop 2025"],
        }
    )
    dropped = (pl.col("taxon_id") == "22823") & (pl.col("code") == "5.1.4")
    assert an.filter(dropped).height == 1
    aset.tables["actions_needed"] = pl.concat([an.filter(~dropped), new], how="vertical_relaxed")

    paths = write_sis_connect(aset, tmp_path / "out")
    written = {
        (r["internal_taxon_id"], r[f"{CA}ConservationActionsLookup"], r[f"{CA}note"])
        for r in rows(paths["conservationneeded.csv"])
    }
    assert ("6909", "3.4.2", "Workshop 2025") in written
    assert not any(t == "22823" and c == "5.1.4" for t, c, _ in written)
    assert len(written) == an.height  # one added, one dropped


def test_taxon_without_actions_is_still_written(tmp_path):
    paths = write_sis_connect(fictional(), tmp_path / "out")
    assert [r["internal_taxon_id"] for r in rows(paths["assessments.csv"])] == ["900001", "900002", "900003"]
    assert "900003" not in {r["internal_taxon_id"] for r in rows(paths["conservationneeded.csv"])}
    back = read_sis_connect(tmp_path / "out")
    assert "900003" in back.assessments["taxon_id"].to_list()
    assert back.actions_needed.filter(pl.col("taxon_id") == "900003").height == 0
    assert not [i for i in back.issues if "orphan" in i.message]


# -- (4) taxa filter, latest assessment and scope -------------------------------------------------------
def test_taxa_filter_by_id_and_name(tmp_path):
    paths = write_sis_connect(
        fictional(), tmp_path / "out", taxa=["900001", "Rivulina  imaginaria"], tables=ALL
    )
    for name in ("assessments.csv", "taxonomy.csv", "allfields.csv"):
        assert [r["internal_taxon_id"] for r in rows(paths[name])] == ["900001", "900002"], name
    codes = [
        (r["internal_taxon_id"], r[f"{CA}ConservationActionsLookup"])
        for r in rows(paths["conservationneeded.csv"])
    ]
    # latest global assessments only: not 3.2 (older f-10) nor 5.1.2 (later, but regional f-21)
    assert codes == [("900001", "1.1"), ("900001", "2.1"), ("900002", "4.3")]

    only = write_sis_connect(fictional(), tmp_path / "one", taxa=["900003"])
    assert [r["internal_taxon_id"] for r in rows(only["assessments.csv"])] == ["900003"]
    assert rows(only["conservationneeded.csv"]) == []

    europe = write_sis_connect(fictional(), tmp_path / "eu", scope="Europe")
    assert [r[f"{CA}ConservationActionsLookup"] for r in rows(europe["conservationneeded.csv"])] == ["5.1.2"]


def test_taxa_filter_unknown_taxon(tmp_path):
    with pytest.raises(A2PError, match="900099"):
        write_sis_connect(fictional(), tmp_path / "out", taxa=["900001", "900099"])
    with pytest.raises(A2PError, match="taxa is empty"):
        write_sis_connect(fictional(), tmp_path / "out", taxa=[])
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
def test_taxa_filter_real(tmp_path):
    aset = read_redlist(shared_path("redlist-download", "pacific-marine"))
    paths = write_sis_connect(aset, tmp_path / "out", taxa=["162627", "Opisthoteuthis mero"])
    assert {r["internal_taxon_id"] for r in rows(paths["conservationneeded.csv"])} == {"162627", "162917"}


# -- (5) folder safety ----------------------------------------------------------------------------------
def test_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.csv").write_text("keep me\n", encoding="utf-8")
    with pytest.raises(A2PError, match="not empty"):
        write_sis_connect(fictional(), out)
    assert [p.name for p in out.iterdir()] == ["mine.csv"]

    paths = write_sis_connect(fictional(), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(paths)  # the old CSV is gone


def test_overwrite_replaces_a_previous_set_only(tmp_path):
    out = tmp_path / "out"
    write_sis_connect(fictional(), out, tables=ALL)
    assert (out / "threats.csv").exists()
    write_sis_connect(fictional(), out, overwrite=True)
    assert not (out / "threats.csv").exists()  # no stale file left from the earlier set

    (out / "README.txt").write_text("not a CSV", encoding="utf-8")
    with pytest.raises(A2PError, match="more than CSV files"):
        write_sis_connect(fictional(), out, overwrite=True)
    assert (out / "README.txt").exists()

    a_file = tmp_path / "file.csv"
    a_file.write_text("x\n", encoding="utf-8")
    with pytest.raises(A2PError, match="not a folder"):
        write_sis_connect(fictional(), a_file, overwrite=True)


def test_existing_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    paths = write_sis_connect(fictional(), out)
    assert all(p.parent == out.resolve() and p.exists() for p in paths.values())


def test_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    real_write = scw._write_csv
    calls = []

    def failing(path, head, body):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(path, head, body)

    monkeypatch.setattr(scw, "_write_csv", failing)
    with pytest.raises(A2PError, match="disk full"):
        write_sis_connect(fictional(), tmp_path / "new", tables=ALL)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(scw, "_write_csv", real_write)
    old = write_sis_connect(fictional(), tmp_path / "set", tables=ALL)
    before = {n: p.read_bytes() for n, p in old.items()}
    calls.clear()
    monkeypatch.setattr(scw, "_write_csv", failing)
    with pytest.raises(A2PError):
        write_sis_connect(fictional(), tmp_path / "set", overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "set").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_bad_rows_are_refused_before_writing(tmp_path):
    aset = fictional()
    with pytest.raises(A2PError, match="supported tables"):
        write_sis_connect(aset, tmp_path / "out", tables=["habitats"])
    an = aset.tables["actions_needed"]
    aset.tables["actions_needed"] = an.with_columns(pl.col("code").cast(pl.Float64, strict=False))
    with pytest.raises(A2PError, match="not text"):
        write_sis_connect(aset, tmp_path / "out")
    aset.tables["actions_needed"] = pl.concat(
        [
            an,
            pl.DataFrame(
                {
                    "assessment_id": ["f-11"],
                    "taxon_id": ["900001"],
                    "code": [None],
                    "name": [None],
                    "note": ["?"],
                }
            ),
        ],
        how="vertical_relaxed",
    )
    with pytest.raises(A2PError, match="no code"):
        write_sis_connect(aset, tmp_path / "out")
    aset = fictional()
    ip = aset.tables["actions_in_place"]
    aset.tables["actions_in_place"] = pl.concat([ip, ip.head(1)])
    with pytest.raises(A2PError, match="twice"):
        write_sis_connect(aset, tmp_path / "out", tables=["actions_in_place"])
    assert not (tmp_path / "out").exists()


# -- (6) the file parsed independently -------------------------------------------------------------------
def test_files_parse_with_csv_module(tmp_path):
    paths = write_sis_connect(fictional(), tmp_path / "out", tables=ALL)
    for name, expected in HEADERS.items():
        assert header(paths[name]) == expected, name
    assert header(paths["allfields.csv"]) == ALLFIELDS_HEADER

    raw = paths["conservationneeded.csv"].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    threat = rows(paths["threats.csv"])
    assert [r["Threats.ThreatsSubfield.ThreatsLookup"] for r in threat] == ["7.2.10", "8.1.2"]
    assert threat[0]["Threats.ThreatsSubfield.StressesSubfield.stress"] == "1.1|2.1"
    assert threat[1]["Threats.ThreatsSubfield.timing"] == "Past, Likely to Return"
    assert threat[1]["Threats.ThreatsSubfield.severity"] == "Slow, Significant Declines"
    assert threat[1]["Threats.ThreatsSubfield.text"] == "An invented <em>predator</em>"
    in_place = {r["internal_taxon_id"]: r for r in rows(paths["allfields.csv"])}
    assert in_place["900001"]["InPlaceResearchRecoveryPlan.value"] == "Yes"
    assert in_place["900001"]["InPlaceResearchRecoveryPlan.note"] == "Draft plan"
    assert in_place["900002"]["InPlaceLandWaterProtectionInPA.value"] == "Yes"
    taxonomy = {r["internal_taxon_id"]: r for r in rows(paths["taxonomy.csv"])}
    assert taxonomy["900002"]["taxonomicAuthority"] == "(Noone, 1999)"

    back = read_sis_connect(tmp_path / "out")
    # Ongoing 3 + Majority (50-90%) 2 + Rapid Declines 2
    assert back.threats.filter(pl.col("code") == "7.2.10")["impact_score"].to_list() == [7]
    assert back.actions_in_place.select("taxon_id", "field", "value").sort("taxon_id").rows() == [
        ("900001", "InPlaceResearchRecoveryPlan", "Yes"),
        ("900002", "InPlaceLandWaterProtectionInPA", "Yes"),
    ]
