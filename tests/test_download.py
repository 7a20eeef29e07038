"""Red List website download reader: real downloads, the committed look-alike, and bad input."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
import zipfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from assess2plan import schemes
from assess2plan.errors import InputError
from assess2plan.io import detect_format, files, read_redlist
from assess2plan.io.download import read_download
from tests.conftest import shared_path

FIXTURE = Path(__file__).parent / "fixtures" / "download_mini"
CHILD_FILES = ["threats.csv", "conservation_needed.csv", "habitats.csv", "countries.csv", "lme.csv"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, header: list[str], records: list[dict[str, str]] | list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in records:
            w.writerow([r.get(h, "") for h in header] if isinstance(r, dict) else r)
    return path


def issues_text(s) -> str:
    return "\n".join(str(i) for i in s.issues)


# -- tiny downloads written in tmp_path -------------------------------------------------------------
A_HEADER = (
    "assessmentId,internalTaxonId,scientificName,redlistCategory,redlistCriteria,yearPublished,assessmentDate,"
    "criteriaVersion,language,rationale,habitat,threats,population,populationTrend,range,useTrade,systems,"
    "conservationActions,realm,yearLastSeen,possiblyExtinct,possiblyExtinctInTheWild,scopes"
).split(",")
T_HEADER = (
    "assessmentId,internalTaxonId,scientificName,code,name,stressCode,stressName,ancestry,ias,"
    "internationalTrade,scope,severity,text,timing,virus"
).split(",")


def assessment(aid: str, tid: str, **kw: str) -> dict[str, str]:
    base = {
        "assessmentId": aid,
        "internalTaxonId": tid,
        "scientificName": f"Fictivia t{tid}",
        "redlistCategory": "Vulnerable",
        "redlistCriteria": "D2",
        "yearPublished": "2020",
        "assessmentDate": "2019-06-01 00:00:00 UTC",
        "criteriaVersion": "3.1",
        "possiblyExtinct": "false",
        "possiblyExtinctInTheWild": "false",
        "scopes": "Global",
    }
    base.update(kw)
    return base


def tiny(folder: Path, assessments=None, threats=None) -> Path:
    """A two-assessment download: assessments.csv + threats.csv."""
    assessments = assessments if assessments is not None else [assessment("11", "1"), assessment("22", "2")]
    write_csv(folder / "assessments.csv", A_HEADER, assessments)
    threats = (
        threats
        if threats is not None
        else [
            {"assessmentId": "11", "internalTaxonId": "1", "code": "5.4.4", "timing": "Ongoing"},
            {"assessmentId": "22", "internalTaxonId": "2", "code": "11.1", "timing": "Future"},
        ]
    )
    write_csv(folder / "threats.csv", T_HEADER, threats)
    return folder


# -- the committed look-alike: every mapping -------------------------------------------------------
@pytest.fixture(scope="module")
def mini():
    return read_download([FIXTURE])


def test_mini_counts(mini):
    assert mini.counts() == {
        "taxa": 3,
        "assessments": 4,
        "threats": 6,
        "actions_needed": 3,
        "actions_in_place": 4,
        "research_needed": 3,
        "habitats": 4,
        "occurrence": 9,
        "use_trade": 2,
        "credits": 3,
        "common_names": 3,
        "synonyms": 2,
        "other_fields": 6,
        "species": 3,
    }


def test_mini_assessment_fields(mini):
    a = {r["assessment_id"]: r for r in mini.assessments.iter_rows(named=True)}
    cr = a["800001"]
    assert (cr["category"], cr["category_label"]) == ("CR", "Critically Endangered")
    assert cr["criteria"] == "B1ab(iii)+2ab(iii)" and cr["criteria_version"] == "3.1"
    assert cr["year_published"] == 2021 and cr["assessment_date"] == dt.date(2020, 5, 14)
    assert cr["possibly_extinct"] is True and cr["possibly_extinct_in_the_wild"] is False
    assert cr["systems"] == "Terrestrial|Freshwater (=Inland waters)" and cr["realms"] == "Neotropical"
    assert cr["year_last_seen"] == "2018" and cr["scopes"] == "Global" and cr["language"] == "English"
    assert cr["population_trend"] == "Decreasing"
    # narrative keeps HTML and entities exactly
    assert cr["rationale"] == (
        '<p>Known from <em>one</em> site &amp; declining.</p>\n<p>A "fictional" species, second paragraph.</p>'
    )
    assert cr["range_text"] == '<span style="font-style: italic;">Fictivia alba</span> occurs in Peru.'
    assert cr["threats_text"] == "<p>Fire &amp; grazing.</p>"
    assert cr["habitat_text"].startswith("Cloud forest")
    assert cr["population_text"].startswith("Fewer than 250")
    assert cr["use_trade_text"] == "Collected for the pet trade."
    assert cr["conservation_actions_text"] == "Site protection needed."
    assert cr["taxonomic_notes"] == "<p>Formerly in <em>Imaginaria</em>.</p>"
    assert a["800002"]["criteria"] is None  # empty -> null
    assert a["800012"]["scopes"] == "Europe|Mediterranean"
    lr = a["800003"]
    assert (lr["category"], lr["category_label"], lr["criteria_version"]) == (
        "LR/nt",
        "Lower Risk/near threatened",
        "2.3",
    )
    assert mini.assessments.schema["year_published"] == pl.Int32
    assert mini.assessments.schema["assessment_date"] == pl.Date


def test_mini_taxa(mini):
    t = {r["taxon_id"]: r for r in mini.taxa.iter_rows(named=True)}
    assert t["900001"]["authority"] == "Doe &amp; Roe, 2001"  # entities kept
    assert (t["900003"]["kingdom"], t["900003"]["class_name"], t["900003"]["order_name"]) == (
        "PLANTAE",
        "MAGNOLIOPSIDA",
        "ASTERALES",
    )


def test_mini_threats_and_impact(mini):
    th = {(r["assessment_id"], r["code"]): r for r in mini.threats.iter_rows(named=True)}
    fire = th[("800001", "7.1.1")]
    assert (fire["impact_score"], fire["impact"]) == (7, "Medium Impact")
    assert (
        fire["stress_codes"] == "1.2|2.1"
        and fire["stress_names"] == "Ecosystem degradation|Species mortality"
    )
    assert th[("800001", "2.3.2")]["impact"] == "Past Impact"
    assert th[("800001", "2.3.2")]["international_trade"] == "No"
    assert th[("800001", "8.1.2")]["ias"] == "Batrachochytrium dendrobatidis"
    # severity outside the scheme: kept, impact Unknown, warned
    assert (
        th[("800001", "8.1.2")]["severity"] == "Moderate" and th[("800001", "8.1.2")]["impact"] == "Unknown"
    )
    assert any(i.column == "severity" and i.value == "Moderate" and i.row == 3 for i in mini.issues)
    # legacy code outside the scheme: imported as it stands, warned with file, row and code
    assert ("800001", "4.5") in th
    legacy = [i for i in mini.issues if i.value == "4.5"]
    assert len(legacy) == 1 and legacy[0].file.endswith("threats.csv") and legacy[0].row == 4
    # empty assessmentId: attached when the taxon has one assessment, dropped (warned) otherwise
    assert th[("800001", "11.1")]["taxon_id"] == "900001"
    assert [r for r in mini.threats.iter_rows(named=True) if r["taxon_id"] == "900002"] == [
        th[("800002", "5.4.4")]
    ]
    dropped = [i for i in mini.issues if i.row == 6 and i.file.endswith("threats.csv")]
    assert len(dropped) == 1 and "dropped" in dropped[0].message and dropped[0].value == "900002"


def test_mini_codes_and_occurrence(mini):
    assert "5.10" in mini.habitats["code"].to_list() and "9.10" in mini.habitats["code"].to_list()
    occ = {(r["kind"], r["code"]): r for r in mini.occurrence.iter_rows(named=True)}
    assert occ[("country", "PE")]["seasonality"] == "Resident|Breeding Season"
    assert occ[("country", "EC")]["seasonality"] == "Resident"
    assert occ[("country", "EC")]["formerly_bred"] == "No"
    assert occ[("country", "ES")]["seasonality"] == "Resident"  # plain text accepted
    assert occ[("country", "XK")]["seasonality"] is None  # "[]"
    assert occ[("subnational", "RUB-OO")]["name"] == "Rubria (fictional province)"
    assert occ[("lme", "2.1.2")]["seasonality"] == "Resident"
    assert occ[("fao", "27")]["seasonality"] == "Resident" and ("fao", "37") in occ
    assert any(i.value == "XK" and i.column == "code" for i in mini.issues)
    assert any(i.value == "4.4" and i.file.endswith("conservation_needed.csv") for i in mini.issues)


def test_mini_other_tables(mini):
    an = mini.actions_needed.filter(pl.col("code") == "1.1").row(0, named=True)
    assert an["note"] == "Protect the only site, urgently."
    assert mini.research_needed.filter(pl.col("code") == "1.2")["note"].to_list() == [
        "Surveys of nearby valleys."
    ]
    ut = mini.use_trade.filter(pl.col("code") == "13").row(0, named=True)
    assert (ut["international"], ut["national"], ut["subsistence"]) == ("true", "false", "false")
    cr = {(r["credit_type"], r["assessment_id"]): r for r in mini.credits.iter_rows(named=True)}
    assert cr[("Assessor", "800001")]["text"] == "Doe, J. & Roe, R."
    assert cr[("Assessor", "800001")]["names"] == "Jane Doe|Richard Roe"
    assert cr[("Reviewer", "800001")]["text"] == "Poe, E."  # text empty -> full
    assert cr[("Reviewer", "800001")]["order"] == 2 and mini.credits.schema["order"] == pl.Int32
    cn = {r["name"]: r for r in mini.common_names.iter_rows(named=True)}
    assert cn["White Fiction Frog"]["main"] is True and cn["Rana ficticia blanca"]["main"] is False
    syn = mini.synonyms.filter(pl.col("taxon_id") == "900003").row(0, named=True)
    assert (syn["genus"], syn["species"], syn["species_author"], syn["infra_type"], syn["infra_author"]) == (
        "Imaginaria",
        "lowi",
        "Smith",
        "variety",
        "Jones",
    )


def test_mini_all_other_fields(mini):
    aip = {(r["assessment_id"], r["field"]): r for r in mini.actions_in_place.iter_rows(named=True)}
    plan = aip[("800001", "InPlaceResearchRecoveryPlan")]
    assert (plan["group"], plan["name"], plan["value"], plan["note"]) == (
        "In-place research and monitoring",
        "Action Recovery Plan",
        "Yes",
        "Draft plan (2019)",
    )
    assert aip[("800001", "InPlaceLandWaterProtectionPercentProtected")]["value"] == "91-100"
    assert aip[("800002", "InPlaceResearchRecoveryPlan")]["value"] == "Unknown"
    assert not any(a == "800003" for a, _ in aip)  # empty values skipped
    other = {(r["assessment_id"], r["field"]): r["value"] for r in mini.other_fields.iter_rows(named=True)}
    assert other[("800001", "EOO.range")] == "12.5" and other[("800002", "LocationsNumber.range")] == "5-10"
    assert other[("800001", "NoThreats.noThreats")] == "false"
    assert (
        other[("800002", "InPlaceEducationControlled.note")] == "CITES listing proposed"
    )  # note without value
    assert not any(f.startswith("InPlaceResearchRecoveryPlan") for _, f in other)


def test_mini_sources_and_ignored_files(mini):
    names = sorted(Path(s.path).name for s in mini.sources)
    assert "dois.csv" not in names and "references.csv" not in names
    assert len(names) == 15
    src = {Path(s.path).name: s for s in mini.sources}
    assert src["threats.csv"].rows == 7 and src["threats.csv"].format == "redlist-download"
    assert len(src["threats.csv"].sha256) == 64
    assert not any("dois" in i.file or "references" in i.file for i in mini.issues)
    assert not any("absent" in i.message for i in mini.issues)


def test_mini_read_twice_gives_no_duplicates(mini):
    twice = read_download([FIXTURE, FIXTURE])
    assert twice.counts() == mini.counts()


def test_read_redlist_detects_the_download(tmp_path):
    assert detect_format(FIXTURE) == "redlist-download"
    s = read_redlist(FIXTURE)
    assert s.counts()["assessments"] == 4


# -- real downloads ------------------------------------------------------------------------------------
def independent_counts(*folders: Path) -> dict[str, int]:
    """Counts computed with the csv module: first folder wins for an assessment's child rows."""
    aids: dict[str, int] = {}
    taxa: set[str] = set()
    for i, f in enumerate(folders):
        for r in rows(f / "assessments.csv"):
            aids.setdefault(r["assessmentId"], i)
            taxa.add(r["internalTaxonId"])
    out = {"assessments": len(aids), "taxa": len(taxa)}
    for name, key in [
        ("threats.csv", "threats"),
        ("conservation_needed.csv", "actions_needed"),
        ("habitats.csv", "habitats"),
        ("countries.csv", "country"),
        ("lme.csv", "lme"),
    ]:
        n = 0
        for i, f in enumerate(folders):
            n += sum(1 for r in rows(f / name) if aids.get(r["assessmentId"]) == i)
        out[key] = n
    return out


def test_real_pacific_marine_counts():
    folder = shared_path("redlist-download", "pacific-marine")
    s = read_download([folder])
    want = independent_counts(folder)
    got = s.counts()
    kinds = Counter(s.occurrence["kind"].to_list())
    assert got["assessments"] == want["assessments"] == 358
    assert got["taxa"] == want["taxa"] and got["species"] == 358
    for key in ("threats", "actions_needed", "habitats"):
        assert got[key] == want[key], key
    assert kinds["country"] + kinds["subnational"] == want["country"]
    assert kinds["lme"] == want["lme"]
    assert s.assessments["assessment_id"].is_unique().all()
    assert {Path(src.path).name for src in s.sources} == {
        "assessments.csv",
        "simple_summary.csv",
        "taxonomy.csv",
        *CHILD_FILES,
    }
    assert any(i.message.startswith("credits.csv absent") for i in s.issues)


def test_real_overlapping_downloads_give_358_species():
    a = shared_path("redlist-download", "pacific-marine")
    b = shared_path("redlist-download", "pacific-marine-eastcentral")
    s = read_download([a, b])
    assert s.counts()["species"] == 358
    assert s.assessments["assessment_id"].is_unique().all()
    # threats: distinct (assessmentId, code) of the union
    keys = {(r["assessmentId"], r["code"]) for f in (a, b) for r in rows(f / "threats.csv")}
    assert s.threats.height == len(keys)
    assert s.threats.select("assessment_id", "code").is_duplicated().sum() == 0
    want = independent_counts(a, b)
    got = s.counts()
    for key in ("threats", "actions_needed", "habitats"):
        assert got[key] == want[key], key
    assert s.occurrence.height == want["country"] + want["lme"]
    # the other order gives the same tables
    s2 = read_download([b, a])
    assert s2.counts() == got


def test_real_values_survive():
    folder = shared_path("redlist-download", "pacific-marine")
    s = read_download([folder])
    # codes with a two-digit last part stay as they are
    two_digit = {
        r["code"]
        for name in ("habitats.csv", "threats.csv")
        for r in rows(folder / name)
        if r["code"] and len(r["code"].split(".")[-1]) == 2
    }
    assert two_digit  # the real file has 9.10 / 15.11
    imported = set(s.habitats["code"].to_list()) | set(s.threats["code"].to_list())
    assert two_digit <= imported
    assert set(s.habitats["code"].to_list()) == {r["code"] for r in rows(folder / "habitats.csv")}
    assert Counter(s.habitats["code"].to_list()) == Counter(r["code"] for r in rows(folder / "habitats.csv"))
    # HTML kept exactly
    src = next(r for r in rows(folder / "assessments.csv") if "<" in r["rationale"] and "&" in r["rationale"])
    got = s.assessments.filter(pl.col("assessment_id") == src["assessmentId"])["rationale"].item()
    assert got == src["rationale"]
    # legacy categories kept distinct if present
    labels = {r["redlistCategory"] for r in rows(folder / "assessments.csv")}
    lr = {lab for lab in labels if lab.startswith("Lower Risk")}
    cats = set(s.assessments["category"].to_list())
    assert {schemes.category(lab)[0] for lab in lr} <= cats
    assert None not in cats and len(cats) == len(labels)
    # dates
    first = rows(folder / "assessments.csv")[0]
    d = s.assessments.filter(pl.col("assessment_id") == first["assessmentId"])["assessment_date"].item()
    assert d.isoformat() == first["assessmentDate"][:10]


def test_real_seasonality_and_impact():
    folder = shared_path("redlist-download", "pacific-marine")
    s = read_download([folder])
    src = rows(folder / "countries.csv")
    listed = sum(1 for r in src if r["seasonality"] == '["Resident"]')
    assert listed > 0
    countries = s.occurrence.filter(pl.col("kind").is_in(["country", "subnational"]))
    assert countries.filter(pl.col("seasonality") == "Resident").height == listed
    assert not countries["seasonality"].drop_nulls().str.contains(r"[\[\]\"]").any()
    n = 0
    for r in s.threats.iter_rows(named=True):
        try:
            want = schemes.impact(r["timing"], r["scope"], r["severity"])
        except schemes.UnknownValue:
            want = (None, "Unknown")
        assert (r["impact_score"], r["impact"]) == want
        n += 1
    assert n == 5949
    stress = [r for r in rows(folder / "threats.csv") if "|" in r["stressCode"]][0]
    got = s.threats.filter(
        (pl.col("assessment_id") == stress["assessmentId"]) & (pl.col("code") == stress["code"])
    )
    assert (
        got["stress_codes"].item() == stress["stressCode"]
        and got["stress_names"].item() == stress["stressName"]
    )


def frames_equal(s1, s2) -> None:
    for t in s1.tables:
        a, b = s1.tables[t], s2.tables[t]
        key = list(a.columns)
        assert a.sort(key, nulls_last=True).equals(b.sort(key, nulls_last=True)), t


def test_real_download_zipped_on_the_fly(tmp_path):
    folder = shared_path("redlist-download", "pacific-marine")
    z = tmp_path / "redlist_species_data.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"redlist_species_data_0123/{f.name}")
    from_zip = read_download([z])
    frames_equal(from_zip, read_download([folder]))
    assert all(src.path.startswith(f"{z}!/redlist_species_data_0123/") for src in from_zip.sources)
    assert detect_format(z) == "redlist-download"


def test_real_download_split_in_two_parts(tmp_path):
    folder = shared_path("redlist-download", "pacific-marine")
    ids = [r["assessmentId"] for r in rows(folder / "assessments.csv")]
    first = set(ids[: len(ids) // 2])
    taxa_first = {
        r["internalTaxonId"] for r in rows(folder / "assessments.csv") if r["assessmentId"] in first
    }
    for f in folder.glob("*.csv"):
        data = rows(f)
        header = list(data[0].keys())
        key, chosen = ("assessmentId", first) if "assessmentId" in header else ("internalTaxonId", taxa_first)
        one = [r for r in data if r[key] in chosen]
        two = [r for r in data if r[key] not in chosen]
        write_csv(tmp_path / "part1" / f.name, header, one)
        write_csv(tmp_path / "part2" / f.name, header, two)
    split = read_download([tmp_path / "part1", tmp_path / "part2"])
    frames_equal(split, read_download([folder]))
    # both parts in one folder (as subfolders) read the same
    frames_equal(read_download([tmp_path]), split)


def test_real_download_is_fast():
    folder = shared_path("redlist-download", "pacific-marine")
    read_download([folder])  # warm up imports and caches
    start = time.perf_counter()
    read_download([folder])
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"reading pacific-marine took {elapsed:.2f} s"


# -- partial downloads -------------------------------------------------------------------------------
def test_only_simple_summary_gives_taxa_and_assessments(tmp_path):
    shutil.copy(FIXTURE / "simple_summary.csv", tmp_path / "simple_summary.csv")
    s = read_download([tmp_path])
    assert s.counts()["assessments"] == 4 and s.counts()["taxa"] == 3
    a = {r["assessment_id"]: r for r in s.assessments.iter_rows(named=True)}
    assert (a["800003"]["category"], a["800003"]["criteria_version"]) == ("LR/nt", "2.3")
    assert a["800012"]["scopes"] == "Europe|Mediterranean" and a["800001"]["population_trend"] == "Decreasing"
    assert a["800001"]["assessment_date"] is None
    msgs = [i.message for i in s.issues]
    assert "threats.csv absent: no threats imported" in msgs
    assert any(m.startswith("assessments.csv absent") for m in msgs)
    assert s.taxa.filter(pl.col("taxon_id") == "900001")["family"].item() == "FICTIDAE"


def test_assessments_without_simple_summary_take_taxonomy(tmp_path):
    for name in ("assessments.csv", "taxonomy.csv"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    s = read_download([tmp_path])
    assert s.counts()["assessments"] == 4
    assert s.assessments.filter(pl.col("assessment_id") == "800001")["category"].item() == "CR"
    assert s.taxa.filter(pl.col("taxon_id") == "900003")["kingdom"].item() == "PLANTAE"
    assert any(i.message.startswith("simple_summary.csv absent") for i in s.issues)


def test_child_file_without_assessments_says_so(tmp_path):
    shutil.copy(FIXTURE / "threats.csv", tmp_path / "threats.csv")
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    assert err.value.file.endswith("threats.csv")
    assert "no assessments" in err.value.message and "simple_summary.csv" in err.value.message


def test_child_rows_come_from_the_first_part_only(tmp_path):
    tiny(tmp_path / "a")
    tiny(
        tmp_path / "b",
        threats=[
            {"assessmentId": "11", "internalTaxonId": "1", "code": "1.1", "timing": "Ongoing"},
            {"assessmentId": "11", "internalTaxonId": "1", "code": "2.1", "timing": "Ongoing"},
        ],
    )
    s = read_download([tmp_path / "a", tmp_path / "b"])
    assert sorted(s.threats.select("assessment_id", "code").rows()) == [("11", "5.4.4"), ("22", "11.1")]
    s = read_download([tmp_path / "b", tmp_path / "a"])
    assert sorted(s.threats.select("assessment_id", "code").rows()) == [
        ("11", "1.1"),
        ("11", "2.1"),
        ("22", "11.1"),
    ]


def test_progress_is_reported(tmp_path):
    calls = []
    read_download([tiny(tmp_path)], progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert calls[0][1:] == (0, 2) and calls[-1][1:] == (2, 2)
    assert any("threats.csv" in c[0] for c in calls)


def test_unknown_codes_warn_once_per_code(tmp_path):
    threats = [{"assessmentId": "11", "internalTaxonId": "1", "code": f"99.{i % 2}"} for i in range(5)]
    s = read_download([tiny(tmp_path, threats=threats)])
    assert s.threats.height == 5
    warned = [i for i in s.issues if "threats scheme" in i.message]
    assert [(i.row, i.value, i.column) for i in warned] == [(1, "99.0", "code"), (2, "99.1", "code")]
    assert "3 rows" in warned[0].message and "2 rows" in warned[1].message


def test_unknown_category_label_is_kept_and_warned(tmp_path):
    s = read_download(
        [
            tiny(
                tmp_path,
                assessments=[assessment("11", "1", redlistCategory="Very Rare"), assessment("22", "2")],
            )
        ]
    )
    r = s.assessments.filter(pl.col("assessment_id") == "11").row(0, named=True)
    assert r["category"] is None and r["category_label"] == "Very Rare"
    w = [i for i in s.issues if i.value == "Very Rare"]
    assert (
        len(w) == 1
        and w[0].row == 1
        and w[0].column == "redlistCategory"
        and w[0].file.endswith("assessments.csv")
    )


# -- bad input ------------------------------------------------------------------------------------------
def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_download([tmp_path / "missing.zip"])
    assert "missing.zip" in err.value.file


def test_folder_without_download_files(tmp_path):
    write_csv(tmp_path / "notes.csv", ["a"], [["1"]])
    with pytest.raises(InputError, match="none of the files") as err:
        read_download([tmp_path])
    assert str(tmp_path) in err.value.file


def test_missing_required_column_in_threats(tmp_path):
    tiny(tmp_path)
    write_csv(tmp_path / "threats.csv", ["assessmentId", "internalTaxonId", "name"], [["11", "1", "x"]])
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    e = err.value
    assert e.file == str(tmp_path / "threats.csv") and e.column == "code"
    assert "assessmentId, internalTaxonId, name" in e.message


def test_missing_assessment_id_column(tmp_path):
    write_csv(tmp_path / "assessments.csv", ["internalTaxonId", "redlistCategory"], [["1", "Vulnerable"]])
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    assert err.value.column == "assessmentId" and err.value.file.endswith("assessments.csv")


@pytest.mark.parametrize(
    ("column", "bad", "what"),
    [
        ("yearPublished", "20x1", "not a year"),
        ("assessmentDate", "2019-13-45 00:00:00 UTC", "not a date"),
        ("assessmentDate", "yesterday", "not a date"),
        ("possiblyExtinct", "perhaps", "not true/false"),
    ],
)
def test_unreadable_values(tmp_path, column, bad, what):
    tiny(tmp_path, assessments=[assessment("11", "1"), assessment("22", "2", **{column: bad})])
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (str(tmp_path / "assessments.csv"), 2, column, bad)
    assert what in e.message


def test_duplicate_assessment_id(tmp_path):
    tiny(tmp_path, assessments=[assessment("11", "1"), assessment("22", "2"), assessment("11", "3")])
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (str(tmp_path / "assessments.csv"), 3, "assessmentId", "11")
    assert "duplicate" in e.message and "row 1" in e.message


def test_duplicate_assessment_id_in_simple_summary(tmp_path):
    header = ["assessmentId", "internalTaxonId", "scientificName", "redlistCategory"]
    write_csv(
        tmp_path / "simple_summary.csv",
        header,
        [["5", "1", "A b", "Vulnerable"], ["5", "1", "A b", "Vulnerable"]],
    )
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    assert (err.value.row, err.value.value) == (2, "5") and err.value.file.endswith("simple_summary.csv")


def test_orphan_child_row(tmp_path):
    tiny(
        tmp_path,
        threats=[
            {"assessmentId": "11", "internalTaxonId": "1", "code": "5.4.4"},
            {"assessmentId": "99", "internalTaxonId": "9", "code": "1.1"},
        ],
    )
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (str(tmp_path / "threats.csv"), 2, "assessmentId", "99")
    assert "orphan" in e.message


def test_empty_file(tmp_path):
    tiny(tmp_path)
    (tmp_path / "threats.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as err:
        read_download([tmp_path])
    assert err.value.file == str(tmp_path / "threats.csv")


def test_wrong_field_count(tmp_path):
    tiny(tmp_path)
    with (tmp_path / "threats.csv").open("a", encoding="utf-8") as fh:
        fh.write("22,2,Fictivia t2,1.1\n")
    with pytest.raises(InputError) as err:
        read_download([tmp_path])
    assert (err.value.row, err.value.value) == (3, "22,2,Fictivia t2,1.1")


def test_latin1_file_imports_with_a_warning(tmp_path):
    tiny(
        tmp_path,
        assessments=[assessment("11", "1", rationale="Caf\u00e9 r\u00e9gion"), assessment("22", "2")],
    )
    p = tmp_path / "assessments.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("latin-1"))
    s = read_download([tmp_path])
    assert (
        s.assessments.filter(pl.col("assessment_id") == "11")["rationale"].item() == "Caf\u00e9 r\u00e9gion"
    )
    assert any(i.file == str(p) and "not UTF-8" in i.message for i in s.issues)


def test_utf16_file_is_refused(tmp_path):
    tiny(tmp_path)
    p = tmp_path / "threats.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16") as err:
        read_download([tmp_path])
    assert err.value.file == str(p)


def zipped(tmp_path: Path, members: dict[str, bytes]) -> Path:
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return z


def tiny_members(tmp_path: Path) -> dict[str, bytes]:
    folder = tiny(tmp_path / "src")
    return {f.name: f.read_bytes() for f in folder.iterdir()}


def test_zip_with_dotdot_member(tmp_path):
    members = tiny_members(tmp_path)
    members["../outside.csv"] = b"a\n1\n"
    z = zipped(tmp_path, members)
    with pytest.raises(InputError) as err:
        read_download([z])
    assert err.value.file == f"{z}!/../outside.csv"


def test_zip_with_absolute_member(tmp_path):
    z = zipped(tmp_path, tiny_members(tmp_path))
    with zipfile.ZipFile(z, "a") as zf:
        info = zipfile.ZipInfo("x")
        info.filename = "/tmp/threats.csv"
        zf.writestr(info, "a\n")
    with pytest.raises(InputError, match="absolute") as err:
        read_download([z])
    assert err.value.file == f"{z}!//tmp/threats.csv"


def test_truncated_zip(tmp_path):
    z = zipped(tmp_path, tiny_members(tmp_path))
    z.write_bytes(z.read_bytes()[:-60])
    with pytest.raises(InputError, match="corrupt or truncated") as err:
        read_download([z])
    assert err.value.file == str(z)


def test_corrupt_zip_member(tmp_path):
    members = tiny_members(tmp_path)
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = bytearray(z.read_bytes())
    at = data.find(b"Fictivia t2")
    data[at] = ord("X")
    z.write_bytes(bytes(data))
    with pytest.raises(InputError, match="CRC") as err:
        read_download([z])
    assert err.value.file == f"{z}!/assessments.csv"


def test_zip_bomb(tmp_path, monkeypatch):
    members = tiny_members(tmp_path)
    members["threats.csv"] = members["threats.csv"] + b"11,1,x,1.1,,,,,,,,,,Ongoing,\n" * 5000
    z = zipped(tmp_path, members)
    monkeypatch.setattr(files, "RATIO_MIN_SIZE", 10_000)
    monkeypatch.setattr(files, "MAX_RATIO", 20)
    with pytest.raises(InputError, match="zip bomb") as err:
        read_download([z])
    assert err.value.file == f"{z}!/threats.csv"
    monkeypatch.setattr(files, "MAX_RATIO", 200)
    monkeypatch.setattr(files, "MAX_TOTAL_UNCOMPRESSED", 1000)
    with pytest.raises(InputError, match="zip bomb"):
        read_download([z])


def test_single_csv_file_is_a_download(tmp_path):
    s = read_download([FIXTURE / "simple_summary.csv"])
    assert s.counts()["assessments"] == 4
    assert s.sources[0].path == str(FIXTURE / "simple_summary.csv")


def test_zip_holding_two_parts_in_subfolders(tmp_path):
    tiny(
        tmp_path / "p1",
        assessments=[assessment("11", "1")],
        threats=[{"assessmentId": "11", "internalTaxonId": "1", "code": "1.1"}],
    )
    tiny(
        tmp_path / "p2",
        assessments=[assessment("22", "2")],
        threats=[{"assessmentId": "22", "internalTaxonId": "2", "code": "2.1"}],
    )
    z = tmp_path / "both.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for part in ("p1", "p2"):
            for f in (tmp_path / part).iterdir():
                zf.write(f, f"download/{part}/{f.name}")
    s = read_download([z])
    assert sorted(s.threats.select("assessment_id", "code").rows()) == [("11", "1.1"), ("22", "2.1")]
    assert {src.path for src in s.sources} == {
        f"{z}!/download/{p}/{n}" for p in ("p1", "p2") for n in ("assessments.csv", "threats.csv")
    }
