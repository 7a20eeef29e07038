"""The bundled fictional example "lakeland": format, codes, keys, fictional geography, reproducibility."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assess2plan.examples import EXAMPLES, example_path

ROOT = Path(__file__).resolve().parents[1]
SCHEMES = ROOT / "src" / "assess2plan" / "schemes" / "data"
EXAMPLE = example_path("lakeland")
DOWNLOAD = EXAMPLE / "download"

#: The one deliberately unknown (legacy) threat code in the example.
LEGACY_CODE = "12.2"
N_SPECIES = 40

# Headers of a Red List website download, as documented (domain-reference §2a); written out here
# on purpose rather than imported from tools/make_example.py.
DOCUMENTED_HEADERS = {
    "assessments.csv": "assessmentId,internalTaxonId,scientificName,redlistCategory,redlistCriteria,"
    "yearPublished,assessmentDate,criteriaVersion,language,rationale,habitat,threats,population,"
    "populationTrend,range,useTrade,systems,conservationActions,realm,yearLastSeen,possiblyExtinct,"
    "possiblyExtinctInTheWild,scopes",
    "simple_summary.csv": "assessmentId,internalTaxonId,scientificName,kingdomName,phylumName,orderName,"
    "className,familyName,genusName,speciesName,infraType,infraName,infraAuthority,authority,"
    "redlistCategory,redlistCriteria,criteriaVersion,populationTrend,scopes",
    "taxonomy.csv": "internalTaxonId,scientificName,kingdomName,phylumName,orderName,className,familyName,"
    "genusName,speciesName,infraType,infraName,infraAuthority,subpopulationName,authority,taxonomicNotes",
    "threats.csv": "assessmentId,internalTaxonId,scientificName,code,name,stressCode,stressName,ancestry,ias,"
    "internationalTrade,scope,severity,text,timing,virus",
    "conservation_needed.csv": "assessmentId,internalTaxonId,scientificName,code,name,note",
    "research_needed.csv": "assessmentId,internalTaxonId,scientificName,code,name,note",
    "habitats.csv": "assessmentId,internalTaxonId,scientificName,code,name,majorImportance,season,suitability",
    "countries.csv": "assessmentId,internalTaxonId,scientificName,code,name,presence,origin,seasonality,"
    "formerlyBred",
    "usetrade.csv": "assessmentId,internalTaxonId,scientificName,code,name,international,national,other,"
    "subsistence",
    "credits.csv": "assessmentId,internalTaxonId,scientificName,type,text,full,value,order",
    "common_names.csv": "internalTaxonId,scientificName,name,language,main",
    "synonyms.csv": "internalTaxonId,scientificName,name,genusName,speciesName,speciesAuthor,infraType,"
    "infraRankAuthor",
    "all_other_fields.csv": "assessmentId,scientificName,internalTaxonId,AOO.range,EOO.range,DepthLower.limit,"
    "DepthUpper.limit,Congregatory.value,NoThreats.noThreats,ElevationLower.limit,ElevationUpper.limit,"
    "PopulationSize.range,ThreatsUnknown.value,LocationsNumber.range,GenerationLength.range,"
    "MovementPatterns.pattern,SubpopulationNumber.range,AreaRestricted.isRestricted,"
    "CropWildRelative.isRelative,YearOfPopulationEstimate.value,InPlaceEducationControlled.value,"
    "SevereFragmentation.isFragmented,InPlaceResearchRecoveryPlan.value,InPlaceLandWaterProtectionInPA.value,"
    "InPlaceSpeciesManagementExSitu.value,InPlaceResearchMonitoringScheme.value,"
    "InPlaceEducationSubjectToPrograms.value,InPlaceSpeciesManagementHarvestPlan.value,"
    "InPlaceLandWaterProtectionAreaPlanned.value,InPlaceEducationInternationalLegislation.value,"
    "InPlaceLandWaterProtectionInvasiveControl.value,InPlaceLandWaterProtectionSitesIdentified.value,"
    "InPlaceLandWaterProtectionPercentProtected.value",
}
ASSESSMENT_CHILDREN = [
    "simple_summary.csv",
    "threats.csv",
    "conservation_needed.csv",
    "research_needed.csv",
    "habitats.csv",
    "countries.csv",
    "usetrade.csv",
    "credits.csv",
    "all_other_fields.csv",
]
TAXON_CHILDREN = ["taxonomy.csv", "common_names.csv", "synonyms.csv"]
GENERATED = sorted(
    [f"download/{f}" for f in DOCUMENTED_HEADERS]
    + ["sites.csv", "species_sites.csv", "holdings.csv", "cites_checklist.csv"]
)

# ISO 3166-1 user-assigned alpha-2 codes: never a real country.
USER_ASSIGNED = (
    {"AA", "ZZ"} | {f"Q{c}" for c in "MNOPQRSTUVWXYZ"} | {f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
)


def read(name: str) -> list[dict[str, str]]:
    path = DOWNLOAD / name if name in DOCUMENTED_HEADERS else EXAMPLE / name
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def scheme(name: str) -> dict[str, str]:
    with (SCHEMES / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return {r["code"]: r["name"] for r in csv.DictReader(fh)}


def test_example_registry():
    assert EXAMPLES == ["lakeland"]
    assert EXAMPLE.is_dir() and (EXAMPLE / "README.md").is_file()
    with pytest.raises(KeyError):
        example_path("atlantis")


def test_download_folder_holds_exactly_the_download_files():
    assert sorted(p.name for p in DOWNLOAD.iterdir()) == sorted(DOCUMENTED_HEADERS)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_HEADERS))
def test_headers_are_the_documented_ones(name):
    assert header(DOWNLOAD / name) == DOCUMENTED_HEADERS[name].split(",")


def test_extras_headers():
    assert header(EXAMPLE / "sites.csv") == [
        "site_id",
        "name",
        "type",
        "country_code",
        "latitude",
        "longitude",
    ]
    assert header(EXAMPLE / "species_sites.csv") == ["internalTaxonId", "site_id", "note"]
    assert header(EXAMPLE / "holdings.csv") == (
        "Scientific Name,Institution,Country,Males,Females,Unknown,Total,Date,Source".split(",")
    )
    # the header of a CITES Species+ checklist CSV export
    assert header(EXAMPLE / "cites_checklist.csv") == (
        "TaxonId,Kingdom,Phylum,Class,Order,Family,Genus,Species,Subspecies,FullName,AuthorYear,RankName,"
        "CurrentListing,FullAnnotationEnglish,AnnotationEnglish,AnnotationSpanish,AnnotationFrench,"
        "#AnnotationSymbol,#Annotation,SynonymsWithAuthors,EnglishNames,SpanishNames,FrenchNames,"
        "CitesAccepted,All_DistributionISOCodes,All_DistributionFullNames,NativeDistributionFullNames,"
        "Introduced_Distribution,Introduced(?)_Distribution,Reintroduced_Distribution,Extinct_Distribution,"
        "Extinct(?)_Distribution,Distribution_Uncertain"
    ).split(",")


def test_file_style_utf8_lf_no_bom():
    for rel in GENERATED:
        data = (EXAMPLE / rel).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), rel
        assert b"\r" not in data, rel
        assert data.endswith(b"\n"), rel
        data.decode("utf-8")


def test_species_count_and_unique_ids():
    a = read("assessments.csv")
    assert len(a) == N_SPECIES
    assert len({r["assessmentId"] for r in a}) == N_SPECIES
    assert len({r["internalTaxonId"] for r in a}) == N_SPECIES  # one (latest, global) assessment per taxon
    assert len({r["scientificName"] for r in a}) == N_SPECIES
    tax = read("taxonomy.csv")
    assert len(tax) == len({r["internalTaxonId"] for r in tax}) == N_SPECIES
    ss = read("simple_summary.csv")
    assert len(ss) == len({r["assessmentId"] for r in ss}) == N_SPECIES
    assert len({r["assessmentId"] for r in read("all_other_fields.csv")}) == N_SPECIES
    assert len(read("all_other_fields.csv")) == N_SPECIES


def test_child_rows_point_at_existing_assessments_and_taxa():
    a = {r["assessmentId"]: r for r in read("assessments.csv")}
    for name in ASSESSMENT_CHILDREN:
        rows = read(name)
        for i, r in enumerate(rows, start=1):
            assert r["assessmentId"] in a, (name, i, r["assessmentId"])
            parent = a[r["assessmentId"]]
            assert r["internalTaxonId"] == parent["internalTaxonId"], (name, i)
            assert r["scientificName"] == parent["scientificName"], (name, i)
    taxa = {r["internalTaxonId"]: r["scientificName"] for r in a.values()}
    for name in TAXON_CHILDREN:
        for i, r in enumerate(read(name), start=1):
            assert taxa.get(r["internalTaxonId"]) == r["scientificName"], (name, i)


def test_summary_and_taxonomy_agree_with_assessments():
    a = {r["assessmentId"]: r for r in read("assessments.csv")}
    tax = {r["internalTaxonId"]: r for r in read("taxonomy.csv")}
    for s in read("simple_summary.csv"):
        ar = a[s["assessmentId"]]
        for col in ("redlistCategory", "redlistCriteria", "criteriaVersion", "populationTrend", "scopes"):
            assert s[col] == ar[col], (s["scientificName"], col)
        t = tax[s["internalTaxonId"]]
        for col in (
            "kingdomName",
            "phylumName",
            "orderName",
            "className",
            "familyName",
            "genusName",
            "speciesName",
            "authority",
        ):
            assert s[col] == t[col], (s["scientificName"], col)
        assert s["scientificName"] == f"{s['genusName']} {s['speciesName']}"


def test_each_species_has_one_main_common_name():
    main = Counter(r["internalTaxonId"] for r in read("common_names.csv") if r["main"] == "true")
    assert set(main.values()) == {1}
    assert len(main) == N_SPECIES
    assert {r["main"] for r in read("common_names.csv")} <= {"true", "false"}


@pytest.mark.parametrize(
    ("file", "scheme_name"),
    [
        ("threats.csv", "threats"),
        ("conservation_needed.csv", "conservation_actions"),
        ("research_needed.csv", "research"),
        ("habitats.csv", "habitats"),
        ("usetrade.csv", "use_and_trade"),
    ],
)
def test_codes_and_names_come_from_the_schemes(file, scheme_name):
    known = scheme(scheme_name)
    for i, r in enumerate(read(file), start=1):
        if file == "threats.csv" and r["code"] == LEGACY_CODE:
            continue
        assert r["code"] in known, (file, i, r["code"])
        assert r["name"] == known[r["code"]], (file, i, r["code"], r["name"])


def test_exactly_one_deliberately_unknown_code():
    threats = scheme("threats")
    unknown = [r for r in read("threats.csv") if r["code"] not in threats]
    assert [r["code"] for r in unknown] == [LEGACY_CODE]
    for name, sch in [
        ("conservation_needed.csv", "conservation_actions"),
        ("research_needed.csv", "research"),
        ("habitats.csv", "habitats"),
        ("usetrade.csv", "use_and_trade"),
    ]:
        codes = scheme(sch)
        assert all(r["code"] in codes for r in read(name)), name


def test_stresses_are_pipe_joined_scheme_codes():
    stresses = scheme("stresses")
    for r in read("threats.csv"):
        codes = [c for c in r["stressCode"].split("|") if c]
        names = [n for n in r["stressName"].split("|") if n]
        assert [stresses[c] for c in codes] == names, r
    assert any("|" in r["stressCode"] for r in read("threats.csv"))


def test_threat_vocabulary_is_exact():
    timing = {"Ongoing", "Future", "Past, Unlikely to Return", "Past, Likely to Return", "Unknown", ""}
    scope = {"Whole (>90%)", "Majority (50-90%)", "Minority (<50%)", "Unknown", ""}
    severity = {
        "Very Rapid Declines",
        "Rapid Declines",
        "Slow, Significant Declines",
        "Causing/Could cause fluctuations",
        "Negligible declines",
        "No decline",
        "Unknown",
        "",
    }
    rows = read("threats.csv")
    assert {r["timing"] for r in rows} <= timing
    assert {r["scope"] for r in rows} <= scope
    assert {r["severity"] for r in rows} <= severity
    assert {"Ongoing", "Future", "Past, Unlikely to Return", "Unknown"} <= {r["timing"] for r in rows}


def test_two_digit_codes_survive_as_text():
    hab = {r["code"] for r in read("habitats.csv")}
    assert {"5.10", "5.11", "5.13", "9.10"} <= hab
    assert "7.2.10" in {r["code"] for r in read("threats.csv")}


def test_categories_versions_and_dates():
    labels = {r["name"] for r in csv.DictReader((SCHEMES / "categories.csv").open(encoding="utf-8"))}
    date_re = re.compile(r"^\d{4}-\d{2}-\d{2} 00:00:00 UTC$")
    rows = read("assessments.csv")
    for r in rows:
        assert r["redlistCategory"] in labels, r["redlistCategory"]
        assert r["criteriaVersion"] in {"3.1", "2.3"}
        assert date_re.match(r["assessmentDate"]), r["assessmentDate"]
        year = int(r["assessmentDate"][:4])
        assert int(r["yearPublished"]) - 2 <= year <= int(r["yearPublished"]), r["scientificName"]
        assert r["possiblyExtinct"] in {"true", "false"} and r["possiblyExtinctInTheWild"] in {
            "true",
            "false",
        }
        assert r["scopes"] == "Global" and r["language"] == "English"
    cats = Counter(r["redlistCategory"] for r in rows)
    assert cats == {
        "Critically Endangered": 7,
        "Endangered": 8,
        "Vulnerable": 8,
        "Near Threatened": 6,
        "Lower Risk/near threatened": 1,
        "Least Concern": 6,
        "Data Deficient": 3,
        "Extinct in the Wild": 1,
    }
    pe = [r for r in rows if r["possiblyExtinct"] == "true"]
    assert len(pe) == 1 and pe[0]["redlistCategory"] == "Critically Endangered"
    legacy = [r for r in rows if r["criteriaVersion"] == "2.3"]
    assert len(legacy) == 1 and legacy[0]["redlistCategory"] == "Lower Risk/near threatened"
    years = [int(r["yearPublished"]) for r in rows]
    assert years.count(2012) == 1
    assert sum(2019 <= y <= 2025 for y in years) >= 35


def test_planted_inconsistencies_are_present():
    a = {r["scientificName"]: r for r in read("assessments.csv")}
    assert (
        a["Oskarichromis minima"]["redlistCategory"] == "Least Concern"
        and a["Oskarichromis minima"]["redlistCriteria"]
    )
    assert (
        a["Dunmerohydrobia caeca"]["redlistCategory"] == "Endangered"
        and not a["Dunmerohydrobia caeca"]["redlistCriteria"]
    )
    assert a["Mirrenohydrobia costata"]["redlistCriteria"] == "D2"
    assert a["Mirrenohydrobia costata"]["redlistCategory"] == "Endangered"
    needed = {}
    for r in read("conservation_needed.csv"):
        needed.setdefault(r["scientificName"], set()).add(r["code"])
    assert "Kettlichthys fontinalis" not in needed  # CR with no actions needed
    invasive = {r["scientificName"] for r in read("threats.csv") if r["code"] == "8.1.2"}
    assert "Mirrenichthys parvus" in invasive and "2.2" not in needed["Mirrenichthys parvus"]
    assert [s for s, codes in needed.items() if "3.4.1" in codes] == ["Mirrenichthys auratus"]


def test_no_real_countries():
    real = scheme("countries")
    for r in read("countries.csv"):
        assert r["code"] in USER_ASSIGNED and r["code"] not in real, r["code"]
        assert r["seasonality"] in {'["Resident"]', ""}
    for r in read("sites.csv"):
        assert r["country_code"] in USER_ASSIGNED and r["country_code"] not in real


def test_sites_are_in_empty_ocean_and_linked():
    sites = {r["site_id"]: r for r in read("sites.csv")}
    assert len(sites) == len(read("sites.csv"))
    types = {"lake", "river basin", "wetland", "delta", "KBA", "protected area"}
    for r in sites.values():
        assert r["type"] in types
        assert -35.0 <= float(r["latitude"]) <= -30.0 and -100.0 <= float(r["longitude"]) <= -94.0
    taxa = {r["internalTaxonId"] for r in read("assessments.csv")}
    links = read("species_sites.csv")
    assert {r["internalTaxonId"] for r in links} == taxa  # every species has at least one site
    assert {r["site_id"] for r in links} <= set(sites)
    assert len({(r["internalTaxonId"], r["site_id"]) for r in links}) == len(links)
    per_site = Counter(r["site_id"] for r in links)
    assert per_site["VL01"] >= 10  # Lake Mirren is shared by many species


def test_small():
    total = sum(p.stat().st_size for p in EXAMPLE.rglob("*") if p.is_file())
    assert total < 300_000


def test_generator_reproduces_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_example.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert made == GENERATED
    for rel in GENERATED:
        assert (tmp_path / rel).read_bytes() == (EXAMPLE / rel).read_bytes(), rel


def test_reader_imports_the_example():
    from assess2plan import read_redlist

    s = read_redlist(DOWNLOAD)
    assert s.counts()["species"] == N_SPECIES
    token = re.compile(r"(?<![\d.])" + re.escape(LEGACY_CODE) + r"(?![\d.])")
    naming = [i for i in s.issues if i.value == LEGACY_CODE or token.search(i.message)]
    assert len(naming) == 1, [str(i) for i in naming]
    assert naming[0].file.endswith("threats.csv")
    cats = dict(s.assessments["category"].value_counts().iter_rows())
    assert cats == {"CR": 7, "EN": 8, "VU": 8, "NT": 6, "LR/nt": 1, "LC": 6, "DD": 3, "EW": 1}
    assert {"5.10", "5.11", "5.13", "9.10"} <= set(s.habitats["code"].to_list())
    assert "7.2.10" in set(s.threats["code"].to_list())
    impacts = dict(s.threats["impact"].value_counts().iter_rows())
    assert {"High Impact", "Medium Impact", "Low Impact", "Past Impact", "Unknown"} <= set(impacts)
