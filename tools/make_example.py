"""Generate the bundled FICTIONAL example working set "lakeland" (the Veridian Lakes).

    python tools/make_example.py                 # rewrite src/assess2plan/examples/lakeland/
    python tools/make_example.py --out /tmp/x    # write the same files somewhere else

Writes, in the layout of an IUCN Red List website "Download search results" (non-spatial) zip:

    <out>/download/{assessments,simple_summary,taxonomy,threats,conservation_needed,research_needed,
                    habitats,countries,usetrade,credits,common_names,synonyms,all_other_fields}.csv
    <out>/sites.csv, <out>/species_sites.csv      (extras for planning features, not part of a download)
    <out>/holdings.csv                              (ex situ holdings, Species360/ZIMS-style)
    <out>/cites_checklist.csv                       (CITES listings, a Species+ checklist look-alike)

Everything is invented: genera, species, people, places, countries (ISO 3166 user-assigned codes
XA/XB/XC) and every number. No Red List data are used. The output is deterministic (no randomness,
no clock): the committed files are exactly what this script writes, which tests/test_example_data.py
checks byte for byte. Classification names are taken from src/assess2plan/schemes/data so that they
match the schemes exactly; the one deliberately legacy threat code (LEGACY_THREAT) is not in them.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "assess2plan" / "examples" / "lakeland"
SCHEME_DIR = ROOT / "src" / "assess2plan" / "schemes" / "data"

#: The one threat code that is deliberately NOT in the threats scheme 3.3 (importer warning path).
LEGACY_THREAT = ("12.2", "Other threat (legacy code)")

# --------------------------------------------------------------------------------------------
# File headers, exactly as in a Red List website download (domain-reference §2a)
# --------------------------------------------------------------------------------------------
HEADERS: dict[str, list[str]] = {
    "assessments.csv": (
        "assessmentId,internalTaxonId,scientificName,redlistCategory,redlistCriteria,yearPublished,"
        "assessmentDate,criteriaVersion,language,rationale,habitat,threats,population,populationTrend,"
        "range,useTrade,systems,conservationActions,realm,yearLastSeen,possiblyExtinct,"
        "possiblyExtinctInTheWild,scopes"
    ).split(","),
    "simple_summary.csv": (
        "assessmentId,internalTaxonId,scientificName,kingdomName,phylumName,orderName,className,"
        "familyName,genusName,speciesName,infraType,infraName,infraAuthority,authority,redlistCategory,"
        "redlistCriteria,criteriaVersion,populationTrend,scopes"
    ).split(","),
    "taxonomy.csv": (
        "internalTaxonId,scientificName,kingdomName,phylumName,orderName,className,familyName,genusName,"
        "speciesName,infraType,infraName,infraAuthority,subpopulationName,authority,taxonomicNotes"
    ).split(","),
    "threats.csv": (
        "assessmentId,internalTaxonId,scientificName,code,name,stressCode,stressName,ancestry,ias,"
        "internationalTrade,scope,severity,text,timing,virus"
    ).split(","),
    "conservation_needed.csv": "assessmentId,internalTaxonId,scientificName,code,name,note".split(","),
    "research_needed.csv": "assessmentId,internalTaxonId,scientificName,code,name,note".split(","),
    "habitats.csv": (
        "assessmentId,internalTaxonId,scientificName,code,name,majorImportance,season,suitability"
    ).split(","),
    "countries.csv": (
        "assessmentId,internalTaxonId,scientificName,code,name,presence,origin,seasonality,formerlyBred"
    ).split(","),
    "usetrade.csv": (
        "assessmentId,internalTaxonId,scientificName,code,name,international,national,other,subsistence"
    ).split(","),
    "credits.csv": "assessmentId,internalTaxonId,scientificName,type,text,full,value,order".split(","),
    "common_names.csv": "internalTaxonId,scientificName,name,language,main".split(","),
    "synonyms.csv": (
        "internalTaxonId,scientificName,name,genusName,speciesName,speciesAuthor,infraType,infraRankAuthor"
    ).split(","),
    "all_other_fields.csv": [
        "assessmentId",
        "scientificName",
        "internalTaxonId",
        "AOO.range",
        "EOO.range",
        "DepthLower.limit",
        "DepthUpper.limit",
        "Congregatory.value",
        "NoThreats.noThreats",
        "ElevationLower.limit",
        "ElevationUpper.limit",
        "PopulationSize.range",
        "ThreatsUnknown.value",
        "LocationsNumber.range",
        "GenerationLength.range",
        "MovementPatterns.pattern",
        "SubpopulationNumber.range",
        "AreaRestricted.isRestricted",
        "CropWildRelative.isRelative",
        "YearOfPopulationEstimate.value",
        "InPlaceEducationControlled.value",
        "SevereFragmentation.isFragmented",
        "InPlaceResearchRecoveryPlan.value",
        "InPlaceLandWaterProtectionInPA.value",
        "InPlaceSpeciesManagementExSitu.value",
        "InPlaceResearchMonitoringScheme.value",
        "InPlaceEducationSubjectToPrograms.value",
        "InPlaceSpeciesManagementHarvestPlan.value",
        "InPlaceLandWaterProtectionAreaPlanned.value",
        "InPlaceEducationInternationalLegislation.value",
        "InPlaceLandWaterProtectionInvasiveControl.value",
        "InPlaceLandWaterProtectionSitesIdentified.value",
        "InPlaceLandWaterProtectionPercentProtected.value",
    ],
}
SITES_HEADER = ["site_id", "name", "type", "country_code", "latitude", "longitude"]
SPECIES_SITES_HEADER = ["internalTaxonId", "site_id", "note"]

# --------------------------------------------------------------------------------------------
# Fictional geography: three countries with ISO 3166 user-assigned codes, and the sites
# (coordinates lie in empty open ocean of the south-east Pacific, ~31-34°S 95-99°W)
# --------------------------------------------------------------------------------------------
COUNTRIES = {"XA": "Valdora", "XB": "Kestrany", "XC": "Osmaria"}

SITES = [
    ("VL01", "Lake Mirren", "lake", "XA", -32.412, -97.208),
    ("VL02", "Lake Oskar", "lake", "XB", -31.874, -96.035),
    ("VL03", "Lake Åsmund", "lake", "XC", -33.560, -98.410),
    ("VL04", "Tamber River basin", "river basin", "XA", -32.050, -96.900),
    ("VL05", "Sollen Delta", "delta", "XB", -31.480, -95.310),
    ("VL06", "Greyfen Marshes", "wetland", "XC", -33.105, -97.620),
    ("VL07", "Upper Tamber Gorge KBA", "KBA", "XA", -32.690, -97.850),
    ("VL08", "Mirren Shore National Park", "protected area", "XA", -32.380, -97.120),
    ("VL09", "Hállå Fell Tarns", "wetland", "XC", -33.870, -98.760),
    ("VL10", "Kettle Springs", "wetland", "XB", -31.990, -95.720),
    ("VL11", "Dunmere Karst KBA", "KBA", "XB", -31.700, -96.480),
    ("VL12", "Sollen Estuary Nature Reserve", "protected area", "XB", -31.420, -95.180),
]

# --------------------------------------------------------------------------------------------
# Vocabulary (exact Red List labels)
# --------------------------------------------------------------------------------------------
CATEGORY = {
    "CR": "Critically Endangered",
    "EN": "Endangered",
    "VU": "Vulnerable",
    "NT": "Near Threatened",
    "LC": "Least Concern",
    "DD": "Data Deficient",
    "EW": "Extinct in the Wild",
    "LR/nt": "Lower Risk/near threatened",
}
TIMING = {
    "O": "Ongoing",
    "F": "Future",
    "PU": "Past, Unlikely to Return",
    "PL": "Past, Likely to Return",
    "U": "Unknown",
}
SCOPE = {"W": "Whole (>90%)", "M": "Majority (50-90%)", "m": "Minority (<50%)", "U": "Unknown", "": ""}
SEVERITY = {
    "VR": "Very Rapid Declines",
    "R": "Rapid Declines",
    "S": "Slow, Significant Declines",
    "FL": "Causing/Could cause fluctuations",
    "N": "Negligible declines",
    "ND": "No decline",
    "U": "Unknown",
    "": "",
}
FW = "Freshwater (=Inland waters)"
TFW = "Terrestrial|Freshwater (=Inland waters)"
FWM = "Freshwater (=Inland waters)|Marine"
RES = '["Resident"]'

# Higher taxonomy: real higher taxa; every genus and species below is invented.
GROUPS = {
    "cyprinid": ("ANIMALIA", "CHORDATA", "CYPRINIFORMES", "ACTINOPTERYGII", "CYPRINIDAE"),
    "cichlid": ("ANIMALIA", "CHORDATA", "CICHLIFORMES", "ACTINOPTERYGII", "CICHLIDAE"),
    "salmonid": ("ANIMALIA", "CHORDATA", "SALMONIFORMES", "ACTINOPTERYGII", "SALMONIDAE"),
    "goby": ("ANIMALIA", "CHORDATA", "GOBIIFORMES", "ACTINOPTERYGII", "GOBIIDAE"),
    "pupfish": ("ANIMALIA", "CHORDATA", "CYPRINODONTIFORMES", "ACTINOPTERYGII", "CYPRINODONTIDAE"),
    "catfish": ("ANIMALIA", "CHORDATA", "SILURIFORMES", "ACTINOPTERYGII", "SILURIDAE"),
    "crab": ("ANIMALIA", "ARTHROPODA", "DECAPODA", "MALACOSTRACA", "POTAMIDAE"),
    "hydrobiid": ("ANIMALIA", "MOLLUSCA", "LITTORINIMORPHA", "GASTROPODA", "HYDROBIIDAE"),
    "viviparid": ("ANIMALIA", "MOLLUSCA", "ARCHITAENIOGLOSSA", "GASTROPODA", "VIVIPARIDAE"),
    "margaritiferid": ("ANIMALIA", "MOLLUSCA", "UNIONIDA", "BIVALVIA", "MARGARITIFERIDAE"),
    "unionid": ("ANIMALIA", "MOLLUSCA", "UNIONIDA", "BIVALVIA", "UNIONIDAE"),
    "gomphid": ("ANIMALIA", "ARTHROPODA", "ODONATA", "INSECTA", "GOMPHIDAE"),
    "corduliid": ("ANIMALIA", "ARTHROPODA", "ODONATA", "INSECTA", "CORDULIIDAE"),
    "coenagrionid": ("ANIMALIA", "ARTHROPODA", "ODONATA", "INSECTA", "COENAGRIONIDAE"),
    "libellulid": ("ANIMALIA", "ARTHROPODA", "ODONATA", "INSECTA", "LIBELLULIDAE"),
    "ranid": ("ANIMALIA", "CHORDATA", "ANURA", "AMPHIBIA", "RANIDAE"),
    "hylid": ("ANIMALIA", "CHORDATA", "ANURA", "AMPHIBIA", "HYLIDAE"),
    "salamandrid": ("ANIMALIA", "CHORDATA", "CAUDATA", "AMPHIBIA", "SALAMANDRIDAE"),
    "waterlily": ("PLANTAE", "TRACHEOPHYTA", "NYMPHAEALES", "MAGNOLIOPSIDA", "NYMPHAEACEAE"),
    "pondweed": ("PLANTAE", "TRACHEOPHYTA", "ALISMATALES", "LILIOPSIDA", "POTAMOGETONACEAE"),
    "quillwort": ("PLANTAE", "TRACHEOPHYTA", "ISOETALES", "LYCOPODIOPSIDA", "ISOETACEAE"),
}

# Invented people: key -> (credit form, full name, affiliation)
PEOPLE = {
    "vardalen": ("Vardalen, I.", "Ines Vardalen", "Veridian Lakes Institute"),
    "morbach": ("Morbach, J.", "Jürgen Morbach", "Tamber Basin Authority"),
    "okonjo": ("Okonjo-Sell, A.", "Amara Okonjo-Sell", "University of Kestrany"),
    "dubrovska": ("Dubrovska, E.", "Elena Dubrovska", "Sollen Delta Observatory"),
    "pereira": ("Pereira-Fenn, L.", "Leilani Pereira-Fenn", "Greyfen Wetland Trust"),
    "ravgren": ("Rävgren, T.", "Tomas Rävgren", "Åsmund Field Station"),
    "vell": ("Vell, K.N.", "Kaito Nakamura Vell", "Osmaria Natural History Museum"),
    "achterlund": ("Achterlund, S.", "Samuel Achterlund", "Veridian Freshwater Specialist Group"),
    "oyelaran": ("Oyelaran, F.", "Funmi Oyelaran", "Veridian Freshwater Specialist Group"),
    "quist": ("Quist, B.", "Berit Quist", "Valdora Aquarium"),
    "halvorsen": ("Halvorsen, M.", "Maren Halvorsen", "Osmaria Natural History Museum"),
}
# team -> ordered (credit type, people)
TEAMS = {
    "fish": [
        ("Assessor", ["vardalen", "morbach"]),
        ("Reviewer", ["achterlund"]),
        ("Contributor", ["quist"]),
        ("Facilitator", ["oyelaran"]),
    ],
    "invert": [
        ("Assessor", ["okonjo", "dubrovska"]),
        ("Reviewer", ["achterlund", "morbach"]),
        ("Facilitator", ["oyelaran"]),
    ],
    "odonata": [
        ("Assessor", ["pereira", "ravgren"]),
        ("Reviewer", ["okonjo"]),
        ("Facilitator", ["oyelaran"]),
    ],
    "amphibian": [
        ("Assessor", ["vell", "pereira"]),
        ("Reviewer", ["achterlund"]),
        ("Contributor", ["morbach", "quist"]),
        ("Facilitator", ["oyelaran"]),
    ],
    "plant": [
        ("Assessor", ["dubrovska", "ravgren"]),
        ("Reviewer", ["vardalen"]),
        ("Facilitator", ["oyelaran"]),
    ],
    "legacy": [("Assessor", ["halvorsen"])],
}

# Named invasive species (invented) used in threat rows 8.1.2 (column "ias")
PERCH = "Voraxoperca ferox"  # predatory perch introduced into Lake Mirren and Greyfen Marshes
SNAIL = "Cornuvora advena"  # invasive snail-eating snail, Lake Mirren
FUNGUS = "Veridiomyces letalis"  # amphibian skin fungus

DEFAULT_USE_TEXT = "There is no known use or trade of this species."


def sp(**kw):
    """One species record with defaults."""
    base = {
        "ver": "3.1",
        "crit": "",
        "pe": False,
        "yls": "",
        "cn": [],
        "syn": [],
        "thr": [],
        "need": [],
        "res": [],
        "use": [],
        "af": {},
        "notes": "",
        "use_text": DEFAULT_USE_TEXT,
    }
    base.update(kw)
    return base


# Threat tuple: (code, timing, scope, severity, stress codes "a|b", ias, text, internationalTrade)
# The records are kept compact on purpose (one idea per line), hence fmt: off.
# fmt: off
# --------------------------------------------------------------------------------------------
# The 40 species
# --------------------------------------------------------------------------------------------
SPECIES = [
    # ---------------------------------------------------------------- fishes: Lake Mirren flock
    sp(
        g="Mirrenichthys", s="auratus", auth="Ødegård, 1958", grp="cyprinid", team="fish",
        cat="CR", crit="B1ab(iii)+2ab(iii)", yp=2023, date="2022-09-14", trend="Decreasing", sys=FW,
        cn=[("Golden Mirren Barb", "English", True), ("Barbeau doré du lac Mirren", "French", False),
            ("Mirren-Goldbarbe", "German", False)],
        syn=[("Veridibarbus", "auratus", "Ødegård, 1958")],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.7", "No", "", "Suitable")],
        thr=[
            ("8.1.2", "O", "W", "VR", "2.1|2.3.2", PERCH,
             "Predation by introduced <em>Voraxoperca ferox</em>, first recorded in Lake Mirren in 2011.", ""),
            ("9.3.1", "O", "M", "S", "1.2", "", "", ""),
            ("5.4.1", "O", "m", "N", "2.1", "", "", ""),
        ],
        need=[("2.2", "Removal of <em>Voraxoperca ferox</em> from the northern bays."), ("1.1", ""),
              ("3.4.1", "Establish an insurance population before the next spawning season."),
              ("3.1.1", ""), ("4.3", "")],
        res=[("2.1", ""), ("3.1", "Annual spawning-ground counts."), ("1.5", "")],
        use=[("13", False, True, False)],
        af={"AOO.range": "8", "EOO.range": "85", "LocationsNumber.range": "1", "GenerationLength.range": "3",
            "PopulationSize.range": "500-1500", "SevereFragmentation.isFragmented": "No",
            "NoThreats.noThreats": "false", "InPlaceResearchRecoveryPlan.value": "No",
            "InPlaceSpeciesManagementExSitu.value": "No", "InPlaceLandWaterProtectionInPA.value": "Yes",
            "InPlaceEducationSubjectToPrograms.value": "Yes",
            "InPlaceLandWaterProtectionInvasiveControl.value": "No",
            "InPlaceResearchMonitoringScheme.value": "No"},
        sites=[("VL01", "endemic; northern bays"), ("VL08", "spawning grounds inside the park")],
        range="<p>Endemic to Lake Mirren (Valdora), where it is now confined to the northern bays; "
              "part of its remaining range lies within Mirren Shore National Park.</p>",
        habitat="<p>Shallow, vegetated bays of Lake Mirren over sand; spawns among submerged plants.</p>",
        pop="<p>Counts on the spawning grounds fell from about 6,000 (2010) to fewer than 1,500 adults "
            "(2021).</p>",
        threats="<p>The main threat is predation by the introduced perch <em>Voraxoperca ferox</em>. "
                "Nutrient run-off (farming &amp; villages) and a small subsistence fishery add to it.</p>",
        cons="<p>Part of the range is in Mirren Shore National Park. There is no recovery plan and no "
             "captive population.</p>",
        reason="It has an extent of occurrence of less than 100 km², is known from one location and is "
               "declining because of an introduced predator.",
        use_text="Occasionally kept by local aquarists.",
    ),
    sp(
        g="Mirrenichthys", s="nigrofasciatus", auth="Ødegård, 1958", grp="cyprinid", team="fish",
        cat="CR", crit="A2ace; B2ab(ii,iii,v)", yp=2021, date="2020-11-03", trend="Decreasing", sys=FW,
        pe=True, yls="2009",
        cn=[("Black-banded Mirren Barb", "English", True), ("Barbeau zébré du lac Mirren", "French", False)],
        ctry=[("XA", "Possibly Extinct", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("8.1.2", "O", "W", "VR", "2.1", PERCH, "", ""),
            ("9.3.1", "O", "W", "S", "1.2|2.3.7", "", "", ""),
        ],
        need=[("2.2", ""), ("3.2", "")],
        res=[("1.2", "Targeted surveys of the deep western basin of Lake Mirren."), ("1.6", "")],
        af={"AOO.range": "4", "EOO.range": "4", "LocationsNumber.range": "1", "GenerationLength.range": "3",
            "PopulationSize.range": "0-50", "NoThreats.noThreats": "false",
            "InPlaceResearchRecoveryPlan.value": "No", "InPlaceSpeciesManagementExSitu.value": "No",
            "InPlaceLandWaterProtectionInPA.value": "Unknown"},
        sites=[("VL01", "last recorded 2009, western basin")],
        range="<p>Known only from the western basin of Lake Mirren (Valdora).</p>",
        habitat="<p>Open water over mud, 5–20&#160;m deep.</p>",
        pop="<p>Not recorded since 2009 despite surveys in 2014, 2017 and 2019.</p>",
        threats="<p>Predation by <em>Voraxoperca ferox</em> and eutrophication of the western basin.</p>",
        cons="<p>No conservation measures are in place.</p>",
        reason="It has not been recorded since 2009 despite repeated surveys and is tagged Possibly Extinct.",
    ),
    sp(
        g="Mirrenichthys", s="parvus", auth="Vardalen, 1994", grp="cyprinid", team="fish",
        cat="EN", crit="B1ab(iii)", yp=2022, date="2021-05-20", trend="Decreasing", sys=FW,
        cn=[("Dwarf Mirren Barb", "English", True)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("8.1.2", "O", "M", "R", "2.1", PERCH, "", ""),
            ("9.3.3", "O", "m", "S", "2.1|2.3.7", "", "Pesticide drift from orchards on the east shore.", ""),
        ],
        need=[("1.1", ""), ("5.4.3", "")],  # planted: invasive threat 8.1.2 but no 2.2 action
        res=[("2.1", ""), ("1.5", ""), ("3.1", "")],
        af={"AOO.range": "24", "EOO.range": "310", "LocationsNumber.range": "3", "GenerationLength.range": "2",
            "NoThreats.noThreats": "false", "InPlaceLandWaterProtectionInvasiveControl.value": "No",
            "InPlaceResearchRecoveryPlan.value": "No"},
        sites=[("VL01", "eastern and southern shores")],
        range="<p>Lake Mirren (Valdora), eastern and southern shores.</p>",
        habitat="<p>Rocky shallows along the lake shore.</p>",
        pop="<p>Declining since the arrival of <em>Voraxoperca ferox</em>.</p>",
        threats="<p>Predation by introduced perch; pesticide drift.</p>",
        cons="<p>None in place.</p>",
        reason="Its extent of occurrence is about 310 km² in three locations, with continuing decline in "
               "habitat quality.",
    ),
    sp(
        g="Mirrenichthys", s="smaragdinus", auth="Vardalen & Morbach, 2003", grp="cyprinid", team="fish",
        cat="VU", crit="D2", yp=2024, date="2023-03-08", trend="Stable", sys=FW,
        cn=[("Emerald Mirren Barb", "English", True), ("Barbo esmeralda", "Spanish; Castilian", False)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.1", "No", "", "Marginal")],
        thr=[
            ("8.1.2", "F", "U", "U", "2.1", PERCH, "Could reach the inflow streams.", ""),
            ("1.1", "F", "m", "S", "1.1", "", "", ""),
        ],
        need=[("2.2", ""), ("1.1", "")],
        res=[("3.1", "")],
        af={"AOO.range": "16", "LocationsNumber.range": "2", "GenerationLength.range": "2",
            "NoThreats.noThreats": "false", "InPlaceLandWaterProtectionInvasiveControl.value": "No"},
        sites=[("VL01", "northern inflow streams and their mouths")],
        range="<p>Mouths of the northern inflow streams of Lake Mirren (Valdora).</p>",
        habitat="<p>Clear, cool stream mouths.</p>",
        pop="<p>Apparently stable.</p>",
        threats="<p>The introduced perch could spread into the stream mouths; housing is planned "
                "nearby.</p>",
        cons="<p>None in place.</p>",
        reason="It is known from two locations with a plausible future threat (an introduced predator).",
    ),
    # ---------------------------------------------------------------- fishes: Lake Oskar cichlids
    sp(
        g="Oskarichromis", s="lacustris", auth="(Brandtner, 1902)", grp="cichlid", team="fish",
        cat="EN", crit="A2ace", yp=2020, date="2019-06-17", trend="Decreasing", sys=FW,
        cn=[("Oskar Cichlid", "English", True), ("Cichlidé d'Oskar", "French", False),
            ("Oskar-Buntbarsch", "German", False)],
        syn=[("Veridichromis", "lacustris", "Brandtner, 1902")],
        ctry=[("XB", "Extant", "Native", RES), ("XA", "Extant", "Introduced", "")],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("5.4.2", "O", "W", "R", "2.1", "", "Commercial gill-net fishery.", ""),
            ("2.4.2", "O", "M", "S", "1.2|2.3.1", "", "Hybridisation with escaped farmed stock.", ""),
            ("5.4.1", "O", "m", "S", "2.1", "", "Collection for the aquarium trade.", "Yes"),
        ],
        need=[("3.1.1", ""), ("5.4.2", ""), ("1.2", ""), ("2.1", "")],
        res=[("1.4", ""), ("2.3", ""), ("3.2", "")],
        use=[("1", False, True, True), ("13", True, False, False)],
        af={"AOO.range": "180", "EOO.range": "2400", "GenerationLength.range": "2.5",
            "PopulationSize.range": "10000-50000", "NoThreats.noThreats": "false",
            "InPlaceSpeciesManagementHarvestPlan.value": "No", "InPlaceEducationControlled.value": "No"},
        sites=[("VL02", "whole lake"), ("VL01", "introduced population")],
        range="<p>Lake Oskar (Kestrany); introduced to Lake Mirren (Valdora).</p>",
        habitat="<p>Rocky and sandy shores of Lake Oskar.</p>",
        pop="<p>Catch per unit effort fell by about 60% between 2008 and 2018.</p>",
        threats="<p>Overfishing, hybridisation with escaped farmed fish and aquarium collection.</p>",
        cons="<p>No harvest management is in place.</p>",
        reason="It has declined by more than 50% over three generations (10 years) because of "
               "overfishing and hybridisation.",
        use_text="Eaten locally and exported for the aquarium trade.",
    ),
    sp(
        g="Oskarichromis", s="rubripinnis", auth="Okonjo-Sell, 2016", grp="cichlid", team="fish",
        cat="CR", crit="B1ab(iii,v)+2ab(iii,v)", yp=2025, date="2024-10-02", trend="Decreasing", sys=FW,
        cn=[("Red-finned Oskar Cichlid", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("2.4.2", "O", "W", "R", "1.2|2.3.2", "", "Cage culture along the eastern shore.", ""),
            ("1.1", "O", "M", "S", "1.1", "", "", ""),
            ("9.3.1", "O", "M", "R", "1.2", "", "", ""),
        ],
        need=[("1.1", ""), ("2.3", ""), ("5.2", ""), ("3.2", "")],
        res=[("2.1", ""), ("3.1", "")],
        af={"AOO.range": "6", "EOO.range": "60", "LocationsNumber.range": "1", "GenerationLength.range": "2",
            "NoThreats.noThreats": "false", "InPlaceLandWaterProtectionInPA.value": "No",
            "InPlaceResearchRecoveryPlan.value": "No"},
        sites=[("VL02", "eastern shore only")],
        range="<p>A 12&#160;km stretch of the eastern shore of Lake Oskar (Kestrany).</p>",
        habitat="<p>Rocky shore, 1–6&#160;m deep.</p>",
        pop="<p>Fewer than 2,000 adults estimated in 2023.</p>",
        threats="<p>Industrial cage aquaculture, shoreline housing and nutrient loading.</p>",
        cons="<p>No protected area covers its range.</p>",
        reason="Its extent of occurrence is about 60 km² at one location, with continuing decline in "
               "habitat quality and mature individuals.",
    ),
    sp(
        g="Oskarichromis", s="minima", auth="Okonjo-Sell, 2016", grp="cichlid", team="fish",
        cat="LC", crit="B1ab(iii)", yp=2021, date="2020-08-19", trend="Stable", sys=FW,  # planted: LC + criteria
        cn=[("Little Oskar Cichlid", "English", True)],
        ctry=[("XB", "Extant", "Native", RES), ("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[("2.4.2", "O", "m", "N", "1.2", "", "", "")],
        res=[("3.1", "")],
        af={"AOO.range": "420", "EOO.range": "3200", "NoThreats.noThreats": "false"},
        sites=[("VL02", "widespread"), ("VL01", "southern shore")],
        range="<p>Lake Oskar (Kestrany) and the southern shore of Lake Mirren (Valdora).</p>",
        habitat="<p>Sandy shallows.</p>",
        pop="<p>Abundant and stable.</p>",
        threats="<p>Aquaculture is a minor local threat.</p>",
        cons="<p>None needed.</p>",
        reason="It is widespread and common in two lakes.",
    ),
    # ---------------------------------------------------------------- fishes: Tamber River
    sp(
        g="Tamberosalmo", s="fluviatilis", auth="(Morbach, 1978)", grp="salmonid", team="fish",
        cat="VU", crit="A2cd", yp=2022, date="2021-12-01", trend="Decreasing", sys=FW,
        cn=[("Tamber Trout", "English", True), ("Truite de la Tamber", "French", False),
            ("Tamberforelle", "German", False)],
        syn=[("Veridisalmo", "fluviatilis", "Morbach, 1978")],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable"), ("15.1", "No", "", "Marginal")],
        thr=[
            ("7.2.10", "F", "M", "R", "1.2|2.3.7", "",
             "A hydropower dam is planned at the Upper Tamber Gorge.", ""),
            ("5.4.1", "O", "M", "S", "2.1", "", "", ""),
            ("7.2.3", "O", "m", "S", "1.2", "", "", ""),
        ],
        need=[("3.1.1", ""), ("1.2", ""), ("2.3", "")],
        res=[("1.5", "")],
        use=[("1", False, True, True), ("15", False, True, False)],
        af={"AOO.range": "960", "EOO.range": "14500", "GenerationLength.range": "4",
            "NoThreats.noThreats": "false", "InPlaceSpeciesManagementHarvestPlan.value": "Yes",
            "MovementPatterns.pattern": "Not a Migrant"},
        sites=[("VL04", "main stem and tributaries"), ("VL07", "spawning reaches")],
        range="<p>The Tamber River basin in Valdora and Kestrany.</p>",
        habitat="<p>Cool, clear, gravel-bedded rivers; also in the Kessel reservoir.</p>",
        pop="<p>Angling catches fell by about 35% in ten years.</p>",
        threats="<p>Fishing, water abstraction for irrigation and a planned large dam.</p>",
        cons="<p>A harvest plan (size limits) is in place in Valdora.</p>",
        reason="It is inferred to have declined by at least 30% over three generations.",
        use_text="Fished for food and sport.",
    ),
    sp(
        g="Tamberosalmo", s="velox", auth="Morbach, 1981", grp="salmonid", team="fish",
        cat="EN", crit="B2ab(ii,iii,v)", yp=2024, date="2023-07-11", trend="Decreasing", sys=FW,
        cn=[("Gorge Trout", "English", True)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable"), ("5.2", "No", "", "Marginal")],
        thr=[
            ("7.2.10", "O", "W", "VR", "1.1|1.2|2.3.7", "",
             "Construction of the Upper Tamber Gorge dam began in 2022.", ""),
            ("7.2.3", "O", "M", "R", "1.2", "", "", ""),
        ],
        need=[("2.3", ""), ("1.1", ""), ("5.1.2", "")],
        res=[("2.1", "A species recovery plan is needed before the reservoir fills."), ("1.6", "")],
        af={"AOO.range": "36", "EOO.range": "410", "LocationsNumber.range": "3", "GenerationLength.range": "4",
            "NoThreats.noThreats": "false", "InPlaceResearchRecoveryPlan.value": "No",
            "InPlaceLandWaterProtectionInPA.value": "No"},
        sites=[("VL07", "whole known range"), ("VL04", "upper basin")],
        range="<p>Upper Tamber Gorge and two headwater streams (Valdora).</p>",
        habitat="<p>Fast, cold headwaters.</p>",
        pop="<p>Three subpopulations, all declining.</p>",
        threats="<p>The Upper Tamber Gorge dam will flood most of its habitat.</p>",
        cons="<p>None in place.</p>",
        reason="Its area of occupancy is about 36 km² at three locations, with continuing decline.",
    ),
    # ---------------------------------------------------------------- fishes: delta, wetlands, others
    sp(
        g="Sollenogobius", s="deltae", auth="Dubrovska, 2008", grp="goby", team="fish",
        cat="NT", yp=2023, date="2022-04-26", trend="Decreasing", sys=FWM,
        cn=[("Sollen Delta Goby", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.13", "Yes", "Resident", "Suitable"), ("9.10", "No", "", "Suitable")],
        thr=[
            ("7.2.10", "O", "m", "S", "1.2", "", "Reduced sediment delivery since the Kessel Dam was closed.", ""),
            ("11.2", "F", "M", "S", "1.2", "", "", ""),
        ],
        need=[("1.2", "")],
        res=[("3.1", ""), ("3.4", "")],
        af={"AOO.range": "1200", "EOO.range": "2600", "NoThreats.noThreats": "false",
            "InPlaceLandWaterProtectionInPA.value": "Yes"},
        sites=[("VL05", "delta channels"), ("VL12", "estuary mouth")],
        range="<p>Channels of the Sollen Delta and the Sollen estuary (Kestrany).</p>",
        habitat="<p>Soft sediments in delta channels and the upper estuary.</p>",
        pop="<p>Slowly declining.</p>",
        threats="<p>Loss of sediment supply and future droughts.</p>",
        cons="<p>Part of the range lies in the Sollen Estuary Nature Reserve.</p>",
        reason="It nearly qualifies for Vulnerable under criterion B2.",
    ),
    sp(
        g="Greyfenodon", s="palustris", auth="(Halvorsen, 1931)", grp="pupfish", team="fish",
        cat="EW", yp=2020, date="2019-11-28", trend="Unknown", sys=FW, yls="1998",
        cn=[("Greyfen Pupfish", "English", True), ("Greyfen-Kärpfling", "German", False)],
        syn=[("Veridodon", "palustris", "Halvorsen, 1931")],
        ctry=[("XC", "Extinct Post-1500", "Native", "")],
        hab=[("5.4", "Yes", "Resident", "Suitable"), ("5.8", "No", "", "Suitable")],
        thr=[
            ("7.2.3", "PU", "W", "VR", "1.1", "", "Drainage of the southern pools for irrigation (1970s–1990s).", ""),
            ("1.1", "PU", "M", "R", "1.1", "", "", ""),
            ("8.1.2", "O", "W", "U", "2.1", PERCH, "The perch is still present in the marshes.", ""),
        ],
        need=[("3.3.1", "Reintroduction to restored pools once the perch has been removed."),
              ("2.3", ""), ("2.2", "")],
        res=[("2.1", ""), ("1.3", "")],
        af={"PopulationSize.range": "0", "NoThreats.noThreats": "false",
            "InPlaceSpeciesManagementExSitu.value": "Yes", "InPlaceResearchRecoveryPlan.value": "No",
            "InPlaceLandWaterProtectionInPA.value": "No", "InPlaceEducationSubjectToPrograms.value": "Yes"},
        sites=[("VL06", "former range; restoration site for reintroduction")],
        range="<p>Formerly the southern pools of the Greyfen Marshes (Osmaria). Now survives only in "
              "captivity (Valdora Aquarium &amp; Osmaria Natural History Museum).</p>",
        habitat="<p>Shallow, warm marsh pools.</p>",
        pop="<p>No wild individual seen since 1998. About 400 fish in two captive populations.</p>",
        threats="<p>Drainage destroyed its pools; the introduced perch remains in the marshes.</p>",
        cons="<p>Kept in two captive populations; a pool restoration project started in 2019.</p>",
        reason="It is known only in captivity; the last wild record was in 1998.",
    ),
    sp(
        g="Oskarisilurus", s="oskari", auth="Brandtner, 1906", grp="catfish", team="fish",
        cat="DD", yp=2019, date="2018-10-09", trend="Unknown", sys=FW,
        cn=[("Oskar Catfish", "English", True)],
        ctry=[("XB", "Extant", "Native", "")],
        hab=[("5.5", "", "", "Suitable")],
        thr=[("5.4.4", "U", "U", "U", "2.1", "", "", "")],
        res=[("1.1", ""), ("1.2", ""), ("1.5", "")],
        af={"NoThreats.noThreats": "false", "ThreatsUnknown.value": "false"},
        sites=[("VL02", "two specimens, deep water")],
        range="<p>Known from two specimens taken in deep water of Lake Oskar (Kestrany).</p>",
        habitat="<p>Probably deep, soft-bottomed water.</p>",
        pop="<p>Unknown.</p>",
        threats="<p>Possibly taken as bycatch.</p>",
        cons="<p>None.</p>",
        reason="Too little is known about its range, population and threats.",
        notes="Known only from the type series; may be a deep-water form of an undescribed species.",
    ),
    sp(
        g="Kettlichthys", s="fontinalis", auth="Pereira-Fenn, 2012", grp="pupfish", team="fish",
        cat="CR", crit="B1ab(iii)+2ab(iii)", yp=2024, date="2023-02-15", trend="Decreasing", sys=FW,
        cn=[("Kettle Springs Pupfish", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.9", "Yes", "Resident", "Suitable")],
        thr=[
            ("7.2.7", "O", "W", "R", "1.2", "", "Groundwater pumping for irrigated orchards lowers the springs.", ""),
            ("11.2", "O", "W", "FL", "1.2", "", "Spring discharge fluctuates with rainfall.", ""),
        ],
        need=[],  # planted: threatened species with no conservation actions needed
        res=[("1.2", "")],
        af={"AOO.range": "4", "EOO.range": "4", "LocationsNumber.range": "1", "GenerationLength.range": "1",
            "PopulationSize.range": "1000-2500", "NoThreats.noThreats": "false"},
        sites=[("VL10", "single spring complex")],
        range="<p>A single spring complex, Kettle Springs (Kestrany), &lt;1&#160;km² of water.</p>",
        habitat="<p>Warm spring pools and their outflows.</p>",
        pop="<p>Numbers fluctuate with spring discharge.</p>",
        threats="<p>Falling groundwater levels from pumping; droughts.</p>",
        cons="<p>Nothing is in place.</p>",
        reason="It occurs at a single spring complex whose discharge is declining.",
    ),
    sp(
        g="Asmundichthys", s="borealis", auth="Rävgren, 1999", grp="salmonid", team="fish",
        cat="NT", yp=2022, date="2021-09-30", trend="Decreasing", sys=FW,
        cn=[("Åsmund Char", "English", True), ("Åsmundröding", "Swedish", False)],
        ctry=[("XC", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.10", "No", "", "Suitable"), ("5.11", "No", "", "Marginal")],
        thr=[
            ("11.3", "O", "M", "S", "1.2|2.3.7", "", "Summer water temperatures above 20&#160;°C since 2015.", ""),
            ("5.4.1", "O", "m", "N", "2.1", "", "", ""),
        ],
        need=[("3.1.1", "")],
        res=[("3.1", "")],
        use=[("1", False, False, True)],
        af={"AOO.range": "220", "EOO.range": "1400", "GenerationLength.range": "7",
            "ElevationLower.limit": "420", "ElevationUpper.limit": "1250", "NoThreats.noThreats": "false"},
        sites=[("VL03", "main lake"), ("VL09", "feeds in the fell tarns in summer")],
        range="<p>Lake Åsmund and the Hállå Fell Tarns (Osmaria).</p>",
        habitat="<p>Cold, deep lake water; tarns above the lake in summer.</p>",
        pop="<p>Slowly declining.</p>",
        threats="<p>Warming summers; small subsistence fishery.</p>",
        cons="<p>None specific.</p>",
        reason="It nearly qualifies for Vulnerable because of declines linked to warmer summers.",
    ),
    sp(
        g="Tamberosalmo", s="relictus", auth="Morbach, 1981", grp="salmonid", team="fish",
        cat="VU", crit="B1ab(iii)", yp=2012, date="2011-03-22", trend="Decreasing", sys=FW,
        cn=[("Relict Tamber Trout", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable")],
        thr=[
            ("7.2.3", "O", "M", "S", "1.2", "", "", ""),
            ("9.3.2", "O", "M", "S", "1.2", "", "", ""),
        ],
        need=[("2.3", ""), ("1.2", "")],
        res=[("1.2", ""), ("3.1", "")],
        af={"EOO.range": "9800", "LocationsNumber.range": "6", "GenerationLength.range": "4",
            "NoThreats.noThreats": "false"},
        sites=[("VL04", "lower Tamber tributaries in Kestrany")],
        range="<p>Three lower tributaries of the Tamber River (Kestrany).</p>",
        habitat="<p>Small, cool tributaries.</p>",
        pop="<p>No recent data.</p>",
        threats="<p>Abstraction and siltation from farmland.</p>",
        cons="<p>None.</p>",
        reason="Its extent of occurrence is under 20,000 km² at six locations, with continuing decline.",
    ),
    # ---------------------------------------------------------------- crabs
    sp(
        g="Mirrenopotamon", s="mirrenense", auth="Okonjo-Sell, 2011", grp="crab", team="invert",
        cat="EN", crit="B1ab(iii)+2ab(iii)", yp=2021, date="2020-02-12", trend="Decreasing", sys=TFW,
        cn=[("Mirren Shore Crab", "English", True), ("Crabe du lac Mirren", "French", False)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.7", "No", "", "Suitable")],
        thr=[
            ("1.1", "O", "M", "R", "1.1|1.2", "", "Holiday homes along the western shore.", ""),
            ("9.3.1", "O", "M", "S", "1.2", "", "", ""),
        ],
        need=[("1.1", ""), ("2.1", ""), ("5.2", "")],
        res=[("2.1", ""), ("3.4", "")],
        af={"AOO.range": "48", "EOO.range": "350", "LocationsNumber.range": "4",
            "NoThreats.noThreats": "false", "InPlaceLandWaterProtectionInPA.value": "Yes"},
        sites=[("VL01", "western and northern shores"), ("VL08", "")],
        range="<p>Shores of Lake Mirren (Valdora).</p>",
        habitat="<p>Burrows in soft banks at the water's edge.</p>",
        pop="<p>Declining where shores are built up.</p>",
        threats="<p>Shoreline housing; eutrophication.</p>",
        cons="<p>Partly protected in Mirren Shore National Park.</p>",
        reason="Its extent of occurrence is about 350 km² at four locations, with continuing decline "
               "in habitat quality.",
    ),
    sp(
        g="Tamberopotamon", s="vulgare", auth="(Brandtner, 1902)", grp="crab", team="invert",
        cat="LC", yp=2020, date="2019-04-03", trend="Stable", sys=TFW,
        cn=[("Tamber River Crab", "English", True), ("Cangrejo del Tamber", "Spanish; Castilian", False)],
        syn=[("Veridipotamon", "vulgare", "Brandtner, 1902")],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES), ("XC", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable"), ("5.2", "No", "", "Suitable"), ("15.9", "No", "", "Suitable")],
        thr=[("5.4.1", "O", "m", "N", "2.1", "", "", "")],
        use=[("1", False, False, True)],
        af={"EOO.range": "52000", "NoThreats.noThreats": "false"},
        sites=[("VL04", "throughout"), ("VL05", "upper delta")],
        range="<p>Throughout the Tamber River basin and the upper Sollen Delta.</p>",
        habitat="<p>Rivers, streams and irrigation canals.</p>",
        pop="<p>Common.</p>",
        threats="<p>Minor harvest for food.</p>",
        cons="<p>None needed.</p>",
        reason="It is widespread and common.",
        use_text="Collected for food by local people.",
    ),
    sp(
        g="Sollenocarcinus", s="salsus", auth="Dubrovska, 2008", grp="crab", team="invert",
        cat="VU", crit="B2ab(iii)", yp=2023, date="2022-06-07", trend="Decreasing", sys=FWM,
        cn=[("Sollen Salt-marsh Crab", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.13", "Yes", "Resident", "Suitable"), ("9.10", "No", "", "Suitable"), ("5.16", "No", "", "Marginal")],
        thr=[
            ("7.2.10", "O", "M", "S", "1.2", "", "", ""),
            ("11.2", "O", "m", "S", "1.2", "", "", ""),
        ],
        need=[("2.3", ""), ("1.1", "")],
        res=[("3.4", "")],
        af={"AOO.range": "640", "LocationsNumber.range": "7", "NoThreats.noThreats": "false",
            "InPlaceLandWaterProtectionInPA.value": "Yes"},
        sites=[("VL05", "outer delta"), ("VL12", "")],
        range="<p>Outer Sollen Delta and estuary (Kestrany).</p>",
        habitat="<p>Brackish marsh channels.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Less freshwater and sediment reach the delta since the Kessel Dam was built; droughts.</p>",
        cons="<p>Partly in the Sollen Estuary Nature Reserve.</p>",
        reason="Its area of occupancy is about 640 km² at seven locations, with continuing decline.",
    ),
    sp(
        g="Greyfenocarcinus", s="rufus", auth="Vell, 2019", grp="crab", team="invert",
        cat="DD", yp=2022, date="2021-03-18", trend="Unknown", sys=TFW,
        cn=[("Greyfen Red Crab", "English", True)],
        ctry=[("XC", "Extant", "Native", ""), ("XB", "Presence Uncertain", "Native", "")],
        hab=[("5.4", "", "", "Suitable")],
        res=[("1.1", ""), ("1.2", "")],
        af={"NoThreats.noThreats": "false", "ThreatsUnknown.value": "true"},
        sites=[("VL06", "type locality")],
        range="<p>Known from the Greyfen Marshes (Osmaria); possibly also in Kestrany.</p>",
        habitat="<p>Marsh margins.</p>",
        pop="<p>Unknown.</p>",
        threats="<p>Unknown.</p>",
        cons="<p>None.</p>",
        reason="Described in 2019 from a few specimens; nothing is known about its population or threats.",
    ),
    # ---------------------------------------------------------------- snails
    sp(
        g="Mirrenohydrobia", s="globosa", auth="Okonjo-Sell, 2005", grp="hydrobiid", team="invert",
        cat="CR", crit="A2ace", yp=2022, date="2021-10-21", trend="Decreasing", sys=FW,
        cn=[("Globe Mirren Snail", "English", True)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("8.1.2", "O", "W", "VR", "2.1|2.3.2", SNAIL, "", ""),
            ("9.3.1", "O", "M", "S", "1.2", "", "", ""),
        ],
        need=[("2.2", ""), ("1.1", ""), ("3.2", "")],
        res=[("1.3", "")],
        af={"EOO.range": "300", "AOO.range": "40", "GenerationLength.range": "1",
            "NoThreats.noThreats": "false", "InPlaceLandWaterProtectionInvasiveControl.value": "No"},
        sites=[("VL01", "")],
        range="<p>Lake Mirren (Valdora).</p>",
        habitat="<p>On stones in shallow water.</p>",
        pop="<p>Densities fell by more than 80% between 2011 and 2020.</p>",
        threats="<p>Predation by the introduced snail <em>Cornuvora advena</em>.</p>",
        cons="<p>None in place.</p>",
        reason="It has declined by more than 80% in ten years because of an introduced predatory snail.",
    ),
    sp(
        g="Mirrenohydrobia", s="costata", auth="Okonjo-Sell, 2005", grp="hydrobiid", team="invert",
        cat="EN", crit="D2", yp=2023, date="2022-11-09", trend="Decreasing", sys=FW,  # planted: D2 on EN
        cn=[("Ribbed Mirren Snail", "English", True)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[("8.1.2", "O", "M", "R", "2.1", SNAIL, "", "")],
        need=[("2.2", "")],
        res=[("2.1", "")],
        af={"AOO.range": "12", "LocationsNumber.range": "2", "NoThreats.noThreats": "false",
            "InPlaceLandWaterProtectionInvasiveControl.value": "No"},
        sites=[("VL01", "two rocky reefs")],
        range="<p>Two rocky reefs in Lake Mirren (Valdora).</p>",
        habitat="<p>Rock surfaces, 2–8&#160;m.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Predation by <em>Cornuvora advena</em>.</p>",
        cons="<p>None.</p>",
        reason="Known from two locations threatened by an introduced predatory snail.",
    ),
    sp(
        g="Oskarivivipara", s="oskarensis", auth="(Brandtner, 1906)", grp="viviparid", team="invert",
        cat="NT", yp=2021, date="2020-07-14", trend="Decreasing", sys=FW,
        cn=[("Oskar River Snail", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.7", "No", "", "Suitable")],
        thr=[
            ("9.3.1", "O", "M", "S", "1.2", "", "", ""),
            ("2.4.2", "O", "m", "S", "1.2", "", "", ""),
        ],
        need=[("2.1", "")],
        res=[("3.1", "")],
        af={"AOO.range": "900", "EOO.range": "2400", "NoThreats.noThreats": "false"},
        sites=[("VL02", "")],
        range="<p>Lake Oskar (Kestrany).</p>",
        habitat="<p>Muddy bottoms near the shore.</p>",
        pop="<p>Declining slowly.</p>",
        threats="<p>Eutrophication and aquaculture waste.</p>",
        cons="<p>None.</p>",
        reason="It nearly qualifies for Vulnerable under criterion A.",
    ),
    sp(
        g="Dunmerohydrobia", s="caeca", auth="Dubrovska & Okonjo-Sell, 2014", grp="hydrobiid", team="invert",
        cat="EN", crit="", yp=2024, date="2023-05-25", trend="Decreasing", sys=FW,  # planted: no criteria
        cn=[("Dunmere Cave Snail", "English", True)],
        ctry=[("XB", "Extant", "Native", "")],
        hab=[("5.18", "Yes", "Resident", "Suitable")],
        thr=[
            ("3.2", "O", "W", "R", "1.1|1.2", "", "Limestone quarrying above the cave system.", ""),
            ("7.2.6", "O", "M", "S", "1.2", "", "", ""),
        ],
        need=[("1.1", ""), ("5.1.2", "")],
        res=[("2.1", ""), ("1.2", "")],
        af={"AOO.range": "4", "LocationsNumber.range": "1", "NoThreats.noThreats": "false"},
        sites=[("VL11", "cave streams")],
        range="<p>Cave streams of the Dunmere karst (Kestrany).</p>",
        habitat="<p>Subterranean streams.</p>",
        pop="<p>Unknown, probably small.</p>",
        threats="<p>Quarrying and groundwater abstraction for a bottling plant.</p>",
        cons="<p>None.</p>",
        reason="It is known from one cave system threatened by quarrying.",
    ),
    sp(
        g="Tamberovivipara", s="fluminea", auth="(Brandtner, 1902)", grp="viviparid", team="invert",
        cat="LC", yp=2019, date="2018-05-16", trend="Stable", sys=FW,
        cn=[("Tamber River Snail", "English", True)],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable"), ("15.9", "No", "", "Suitable")],
        af={"EOO.range": "48000", "NoThreats.noThreats": "true"},
        sites=[("VL04", "throughout"), ("VL05", "")],
        range="<p>Tamber River basin and Sollen Delta.</p>",
        habitat="<p>Rivers and canals.</p>",
        pop="<p>Common.</p>",
        threats="<p>No major threats are known.</p>",
        cons="<p>None needed.</p>",
        reason="It is widespread and common with no major threats.",
    ),
    # ---------------------------------------------------------------- mussels
    sp(
        g="Tamberomargaritifera", s="perlifera", auth="(Morbach, 1978)", grp="margaritiferid", team="invert",
        cat="CR", crit="A2ace", yp=2021, date="2020-04-28", trend="Decreasing", sys=FW,
        cn=[("Tamber Pearl Mussel", "English", True), ("Tamber-Flussperlmuschel", "German", False)],
        syn=[("Veridimargaritana", "perlifera", "Morbach, 1978")],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable")],
        thr=[
            ("7.2.10", "O", "W", "R", "1.2|2.3.7", "",
             "Dams block the migration of the host fish <em>Tamberosalmo fluviatilis</em>.", ""),
            ("9.3.2", "O", "M", "R", "1.2", "", "", ""),
            ("5.4.1", "PU", "M", "R", "2.1", "", "Pearl fishing, banned since 1975.", ""),
        ],
        need=[("2.3", ""), ("1.2", ""), ("5.1.2", ""), ("5.4.2", ""), ("3.2", "")],
        res=[("2.1", ""), ("1.3", "")],  # planted: plan needed but InPlaceResearchRecoveryPlan = Yes
        af={"EOO.range": "5200", "AOO.range": "140", "GenerationLength.range": "40",
            "PopulationSize.range": "2000-5000", "NoThreats.noThreats": "false",
            "InPlaceResearchRecoveryPlan.value": "Yes", "InPlaceSpeciesManagementExSitu.value": "No",
            "InPlaceResearchMonitoringScheme.value": "Yes"},
        sites=[("VL04", "middle Tamber"), ("VL07", "last recruiting bed")],
        range="<p>Middle and upper Tamber River (Valdora, Kestrany).</p>",
        habitat="<p>Clean gravel beds in fast water; larvae parasitise <em>Tamberosalmo</em> trout.</p>",
        pop="<p>Mostly old animals; recruitment seen at one bed only.</p>",
        threats="<p>Dams, siltation and, in the past, pearl fishing.</p>",
        cons="<p>A national recovery plan was adopted in Valdora in 2018.</p>",
        reason="It has declined by more than 80% over three generations (120 years).",
    ),
    sp(
        g="Veridiunio", s="mirrenensis", auth="Vardalen, 1994", grp="unionid", team="invert",
        cat="VU", crit="B2ab(iii)", yp=2020, date="2019-09-05", trend="Decreasing", sys=FW,
        cn=[("Mirren Lake Mussel", "English", True)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable")],
        thr=[
            ("9.3.1", "O", "M", "S", "1.2", "", "", ""),
            ("8.1.2", "F", "m", "S", "2.1", SNAIL, "", ""),
        ],
        need=[("2.2", ""), ("1.2", "")],
        res=[("3.1", "")],
        af={"AOO.range": "180", "LocationsNumber.range": "8", "NoThreats.noThreats": "false"},
        sites=[("VL01", ""), ("VL08", "")],
        range="<p>Lake Mirren (Valdora).</p>",
        habitat="<p>Sandy and muddy lake bed.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Eutrophication; the introduced snail may prey on juveniles.</p>",
        cons="<p>Partly in Mirren Shore National Park.</p>",
        reason="Its area of occupancy is about 180 km² at eight locations, with continuing decline.",
    ),
    sp(
        g="Veridiunio", s="sollenensis", auth="Dubrovska, 2008", grp="unionid", team="invert",
        cat="NT", yp=2025, date="2024-08-20", trend="Decreasing", sys=FW,
        cn=[("Sollen Mussel", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.13", "Yes", "Resident", "Suitable"), ("5.1", "No", "", "Suitable")],
        thr=[
            ("11.2", "F", "M", "R", "1.2|2.1", "", "", ""),
            ("9.3.1", "PL", "m", "S", "1.2", "", "Nutrient pulses from rice fields in wet years.", ""),
        ],
        res=[("3.1", "")],
        af={"AOO.range": "2100", "NoThreats.noThreats": "false"},
        sites=[("VL05", "")],
        range="<p>Sollen Delta (Kestrany).</p>",
        habitat="<p>Delta channels.</p>",
        pop="<p>Slowly declining.</p>",
        threats="<p>Droughts may dry out shallow channels; nutrient pulses in wet years.</p>",
        cons="<p>None.</p>",
        reason="It nearly qualifies for Vulnerable under criterion B2.",
    ),
    sp(
        g="Veridiunio", s="greyfenensis", auth="Halvorsen, 1931", grp="unionid", team="legacy",
        cat="LR/nt", crit="B1+2c", ver="2.3", yp=2000, date="1999-11-30", trend="", sys=FW,
        cn=[("Greyfen Mussel", "English", True)],
        ctry=[("XC", "Extant", "Native", "")],
        hab=[("5.4", "", "", "Suitable")],
        thr=[(LEGACY_THREAT[0], "U", "", "", "", "", "", "")],  # planted: code not in threats scheme 3.3
        af={},
        sites=[("VL06", "")],
        range="Greyfen Marshes, Osmaria.",
        habitat="",
        pop="",
        threats="",
        cons="",
        reason="",
    ),
    # ---------------------------------------------------------------- dragonflies
    sp(
        g="Tamberogomphus", s="tamberensis", auth="Pereira-Fenn & Rävgren, 2010", grp="gomphid", team="odonata",
        cat="EN", crit="B2ab(iii)", yp=2022, date="2021-06-24", trend="Decreasing", sys=TFW,
        cn=[("Tamber Clubtail", "English", True)],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES)],
        hab=[("5.1", "Yes", "Resident", "Suitable"), ("1.4", "No", "", "Suitable")],
        thr=[
            ("7.2.10", "O", "M", "R", "1.1|1.2", "", "", ""),
            ("7.2.3", "O", "M", "S", "1.2", "", "", ""),
            ("9.3.2", "O", "m", "S", "1.2", "", "", ""),
        ],
        need=[("1.1", ""), ("2.3", "")],
        res=[("2.1", ""), ("2.2", "")],
        af={"AOO.range": "120", "LocationsNumber.range": "4", "NoThreats.noThreats": "false"},
        sites=[("VL04", ""), ("VL07", "")],
        range="<p>Free-flowing stretches of the Tamber River (Valdora, Kestrany).</p>",
        habitat="<p>Larvae in sandy runs; adults in riverside forest.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Dams and abstraction change flow; siltation.</p>",
        cons="<p>None.</p>",
        reason="Its area of occupancy is about 120 km² at four locations, with continuing decline.",
    ),
    sp(
        g="Greyfenocordulia", s="palustris", auth="Pereira-Fenn, 2004", grp="corduliid", team="odonata",
        cat="VU", crit="B1ab(iii)+2ab(iii)", yp=2024, date="2023-09-12", trend="Decreasing", sys=TFW,
        cn=[("Greyfen Emerald", "English", True), ("Cordulie de Greyfen", "French", False)],
        ctry=[("XC", "Extant", "Native", RES)],
        hab=[("5.4", "Yes", "Resident", "Suitable"), ("5.8", "No", "", "Suitable")],
        thr=[
            ("7.2.3", "O", "M", "R", "1.1|1.2", "", "", ""),
            ("11.2", "O", "M", "S", "1.2", "", "", ""),
            ("1.1", "F", "m", "S", "1.1", "", "", ""),
        ],
        need=[("2.1", ""), ("1.2", ""), ("5.2", "")],
        res=[("3.4", "")],
        af={"EOO.range": "6400", "AOO.range": "1100", "LocationsNumber.range": "9",
            "NoThreats.noThreats": "false"},
        sites=[("VL06", "")],
        range="<p>Greyfen Marshes (Osmaria).</p>",
        habitat="<p>Fen pools and seasonal marshes.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Water abstraction, droughts and future housing.</p>",
        cons="<p>None.</p>",
        reason="Its extent of occurrence is about 6,400 km² at nine locations, with continuing decline.",
    ),
    sp(
        g="Asmundagrion", s="fellense", auth="Rävgren, 2001", grp="coenagrionid", team="odonata",
        cat="NT", yp=2023, date="2022-08-03", trend="Decreasing", sys=TFW,
        cn=[("Fell Bluet", "English", True), ("Fjällflickslända", "Swedish", False)],
        ctry=[("XC", "Extant", "Native", RES)],
        hab=[("5.10", "Yes", "Resident", "Suitable"), ("5.11", "No", "", "Suitable")],
        thr=[("11.1", "O", "M", "S", "1.2", "", "Tarns dry out earlier in summer.", "")],
        res=[("3.1", "")],
        af={"AOO.range": "300", "ElevationLower.limit": "900", "ElevationUpper.limit": "1600",
            "NoThreats.noThreats": "false"},
        sites=[("VL09", ""), ("VL03", "upper shore")],
        range="<p>Hállå Fell Tarns and upper shores of Lake Åsmund (Osmaria).</p>",
        habitat="<p>Snowmelt pools and tarns.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Climate change.</p>",
        cons="<p>None.</p>",
        reason="It nearly qualifies for Vulnerable under criterion B2.",
    ),
    sp(
        g="Sollenolibellula", s="vagans", auth="(Brandtner, 1906)", grp="libellulid", team="odonata",
        cat="LC", yp=2021, date="2020-09-17", trend="Increasing", sys=TFW,
        cn=[("Wandering Sollen Skimmer", "English", True)],
        ctry=[("XA", "Extant", "Native", RES), ("XB", "Extant", "Native", RES), ("XC", "Extant", "Native", RES)],
        hab=[("5.4", "No", "", "Suitable"), ("5.7", "No", "", "Suitable"), ("15.2", "No", "", "Suitable")],
        af={"NoThreats.noThreats": "true"},
        sites=[("VL05", ""), ("VL04", ""), ("VL06", "")],
        range="<p>Throughout the region.</p>",
        habitat="<p>Any standing water, including garden ponds.</p>",
        pop="<p>Increasing.</p>",
        threats="<p>None known.</p>",
        cons="<p>None needed.</p>",
        reason="It is widespread and increasing.",
    ),
    sp(
        g="Kettlagrion", s="kettlense", auth="Pereira-Fenn, 2012", grp="coenagrionid", team="odonata",
        cat="DD", yp=2025, date="2024-11-26", trend="Unknown", sys=TFW,
        cn=[("Kettle Damselfly", "English", True)],
        ctry=[("XB", "Extant", "Native", "")],
        hab=[("5.9", "Yes", "", "Suitable")],
        thr=[("7.2.7", "O", "U", "U", "1.2", "", "", "")],
        res=[("1.1", ""), ("1.2", "")],
        af={"NoThreats.noThreats": "false"},
        sites=[("VL10", "")],
        range="<p>Kettle Springs (Kestrany).</p>",
        habitat="<p>Spring runs.</p>",
        pop="<p>Unknown.</p>",
        threats="<p>Groundwater pumping may affect it.</p>",
        cons="<p>None.</p>",
        reason="Its taxonomy and distribution are uncertain.",
    ),
    # ---------------------------------------------------------------- amphibians
    sp(
        g="Mirrenobatrachus", s="aquaticus", auth="Vell, 1997", grp="ranid", team="amphibian",
        cat="CR", crit="A2ace", yp=2023, date="2022-12-06", trend="Decreasing", sys=FW,
        cn=[("Mirren Water Frog", "English", True), ("Grenouille aquatique du lac Mirren", "French", False)],
        syn=[("Veridirana", "aquatica", "Vell, 1997")],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.5", "Yes", "Resident", "Suitable"), ("5.7", "No", "", "Suitable")],
        thr=[
            ("8.1.2", "O", "W", "VR", "2.1", FUNGUS, "Skin fungus first detected in 2014.", ""),
            ("5.4.1", "O", "M", "R", "2.1", "", "Harvested for food.", ""),
            ("9.3.1", "O", "m", "S", "1.2", "", "", ""),
        ],
        need=[("2.2", ""), ("3.1.1", ""), ("3.2", "")],
        res=[("1.5", ""), ("2.1", "")],
        use=[("1", False, True, True)],
        af={"EOO.range": "310", "GenerationLength.range": "5", "NoThreats.noThreats": "false",
            "InPlaceSpeciesManagementExSitu.value": "No", "InPlaceResearchRecoveryPlan.value": "No",
            "InPlaceLandWaterProtectionInPA.value": "Yes"},
        sites=[("VL01", ""), ("VL08", "")],
        range="<p>Lake Mirren and adjacent pools (Valdora).</p>",
        habitat="<p>Fully aquatic; shallow lake margins.</p>",
        pop="<p>Declined by more than 80% since 2012.</p>",
        threats="<p>Fungal disease, harvest for food and eutrophication.</p>",
        cons="<p>Partly in Mirren Shore National Park.</p>",
        reason="It has declined by more than 80% over three generations because of disease and harvest.",
        use_text="Eaten locally.",
    ),
    sp(
        g="Tambertriton", s="montanus", auth="Vell, 1997", grp="salamandrid", team="amphibian",
        cat="VU", crit="B1ab(iii)", yp=2021, date="2020-03-10", trend="Decreasing", sys=TFW,
        cn=[("Tamber Newt", "English", True), ("Tamber-Molch", "German", False)],
        ctry=[("XA", "Extant", "Native", RES)],
        hab=[("5.1", "No", "", "Suitable"), ("1.4", "Yes", "Resident", "Suitable")],
        thr=[
            ("7.2.10", "F", "W", "R", "1.1", "",
             "Breeding streams would be flooded by the planned Upper Tamber Gorge reservoir.", ""),
            ("9.3.3", "O", "M", "S", "2.1", "", "", ""),
        ],
        need=[("1.1", ""), ("5.2", "")],
        res=[("3.1", "")],
        af={"EOO.range": "8900", "LocationsNumber.range": "8", "ElevationLower.limit": "300",
            "ElevationUpper.limit": "1100", "NoThreats.noThreats": "false"},
        sites=[("VL07", "main breeding streams"), ("VL04", "upper basin")],
        range="<p>Forested upper Tamber basin (Valdora).</p>",
        habitat="<p>Breeds in streams; adults in forest.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Planned reservoir; pesticides.</p>",
        cons="<p>None.</p>",
        reason="Its extent of occurrence is about 8,900 km² at eight locations, with continuing decline.",
    ),
    sp(
        g="Greyfenohyla", s="palustris", auth="(Halvorsen, 1931)", grp="hylid", team="amphibian",
        cat="LC", yp=2022, date="2021-01-19", trend="Stable", sys=TFW,
        cn=[("Greyfen Tree Frog", "English", True)],
        ctry=[("XC", "Extant", "Native", RES), ("XB", "Extant", "Native", RES)],
        hab=[("5.4", "Yes", "Resident", "Suitable"), ("15.8", "No", "", "Suitable")],
        thr=[("9.3.3", "F", "m", "ND", "2.1", "", "", "")],
        af={"NoThreats.noThreats": "false"},
        sites=[("VL06", ""), ("VL05", "")],
        range="<p>Greyfen Marshes and Sollen Delta.</p>",
        habitat="<p>Marshes and flooded fields.</p>",
        pop="<p>Common.</p>",
        threats="<p>Pesticide use on flooded fields may increase.</p>",
        cons="<p>None needed.</p>",
        reason="It is common.",
    ),
    sp(
        g="Oskarirana", s="lacustris", auth="Vell, 2000", grp="ranid", team="amphibian",
        cat="NT", yp=2020, date="2019-02-22", trend="Decreasing", sys=TFW,
        cn=[("Oskar Frog", "English", True)],
        ctry=[("XB", "Extant", "Native", RES)],
        hab=[("5.5", "No", "", "Suitable"), ("5.7", "Yes", "Resident", "Suitable")],
        thr=[  # planted: every threat is past but the population trend is Decreasing
            ("5.4.1", "PU", "M", "R", "2.1", "", "Commercial frog harvest ended in 2005.", ""),
            ("1.1", "PU", "m", "S", "1.1", "", "", ""),
        ],
        res=[("3.1", "")],
        af={"NoThreats.noThreats": "false"},
        sites=[("VL02", "")],
        range="<p>Shores of Lake Oskar (Kestrany).</p>",
        habitat="<p>Reed beds and pools near the lake.</p>",
        pop="<p>Reported to be still declining.</p>",
        threats="<p>Harvest and shoreline building in the past.</p>",
        cons="<p>None.</p>",
        reason="It nearly qualifies for Vulnerable under criterion A2.",
    ),
    # ---------------------------------------------------------------- aquatic plants
    sp(
        g="Mirrenonymphaea", s="mirrenensis", auth="Dubrovska, 2006", grp="waterlily", team="plant",
        cat="EN", crit="B2ab(iii)", yp=2024, date="2023-04-18", trend="Decreasing", sys=FW,
        cn=[("Mirren Water-lily", "English", True), ("Nénuphar du lac Mirren", "French", False)],
        ctry=[("XA", "Extant", "Native", "")],
        hab=[("5.5", "Yes", "", "Suitable"), ("5.7", "No", "", "Suitable")],
        thr=[
            ("9.3.1", "O", "W", "R", "1.2", "", "Eutrophication shades out young plants.", ""),
            ("1.1", "O", "M", "S", "1.1", "", "", ""),
            ("5.2.1", "O", "m", "N", "2.1", "", "Collected for the horticultural trade.", "Yes"),
        ],
        need=[("1.1", ""), ("2.3", ""), ("3.1.2", "")],
        res=[("3.1", "")],
        use=[("13", True, True, False)],
        af={"AOO.range": "52", "LocationsNumber.range": "4", "NoThreats.noThreats": "false",
            "InPlaceLandWaterProtectionInPA.value": "Yes", "InPlaceEducationInternationalLegislation.value": "No"},
        sites=[("VL01", "sheltered bays"), ("VL08", "")],
        range="<p>Sheltered bays of Lake Mirren (Valdora).</p>",
        habitat="<p>Still water 0.5–2&#160;m deep.</p>",
        pop="<p>Declining.</p>",
        threats="<p>Eutrophication, shoreline housing and collection.</p>",
        cons="<p>Partly in Mirren Shore National Park.</p>",
        reason="Its area of occupancy is about 52 km² at four locations, with continuing decline.",
        use_text="Collected for water gardens.",
    ),
    sp(
        g="Sollenogeton", s="deltaicus", auth="Dubrovska, 2008", grp="pondweed", team="plant",
        cat="VU", crit="B2ab(iii)", yp=2022, date="2021-07-07", trend="Decreasing", sys=FWM,
        cn=[("Sollen Pondweed", "English", True)],
        ctry=[("XB", "Extant", "Native", "")],
        hab=[("5.13", "Yes", "", "Suitable"), ("9.10", "No", "", "Marginal")],
        thr=[  # planted: B listing but no ongoing threat (all Future)
            ("11.2", "F", "W", "R", "1.2", "", "", ""),
            ("7.2.3", "F", "M", "S", "1.2", "", "", ""),
        ],
        need=[("1.1", ""), ("2.1", "")],
        res=[("3.4", "")],
        af={"AOO.range": "740", "LocationsNumber.range": "6", "NoThreats.noThreats": "false"},
        sites=[("VL05", ""), ("VL12", "")],
        range="<p>Sollen Delta and estuary (Kestrany).</p>",
        habitat="<p>Slow delta channels.</p>",
        pop="<p>Thought to be declining.</p>",
        threats="<p>Future droughts and abstraction.</p>",
        cons="<p>Partly in the Sollen Estuary Nature Reserve.</p>",
        reason="Its area of occupancy is about 740 km² at six locations.",
    ),
    sp(
        g="Asmundoetes", s="fellensis", auth="Rävgren, 2001", grp="quillwort", team="plant",
        cat="LC", yp=2023, date="2022-10-05", trend="Stable", sys=FW,
        cn=[("Fell Quillwort", "English", True), ("Fjällbrasmegräs", "Swedish", False)],
        ctry=[("XC", "Extant", "Native", "")],
        hab=[("5.10", "Yes", "", "Suitable"), ("5.11", "No", "", "Suitable")],
        thr=[("11.1", "F", "U", "U", "1.2", "", "", "")],
        af={"NoThreats.noThreats": "true",  # planted: NoThreats but a threat row is present
            "ElevationLower.limit": "800", "ElevationUpper.limit": "1500"},
        sites=[("VL09", ""), ("VL03", "")],
        range="<p>Hállå Fell Tarns and Lake Åsmund (Osmaria).</p>",
        habitat="<p>Submerged on gravel in clear tarns.</p>",
        pop="<p>Stable.</p>",
        threats="<p>No current threats.</p>",
        cons="<p>None needed.</p>",
        reason="It is common in the tarns with no current threats.",
    ),
]

# --------------------------------------------------------------------------------------------
# Ex situ inputs (issue 6): a Species360/ZIMS-style holdings table and a CITES Species+ checklist
# look-alike. Institutions, genera, species and numbers are invented like everything else.
# --------------------------------------------------------------------------------------------
HOLDINGS_HEADER = ["Scientific Name", "Institution", "Country", "Males", "Females", "Unknown", "Total",
                   "Date", "Source"]
# (name as written, institution, country, males, females, unknown, total, date, source);
# "" = a blank cell. Mirren Aquarium's 2024 census of M. auratus is replaced by its 2026 one;
# "Veridimargaritana perlifera" is a synonym (Tamberomargaritifera perlifera); the invasive perch
# Voraxoperca ferox (kept for research) is no taxon of the set: the unmatched name.
HOLDINGS = [
    ("Mirrenichthys auratus", "Mirren Aquarium", "XA", "8", "11", "20", "39", "2024-06-30",
     "Species360 ZIMS 2024-07"),
    ("Mirrenichthys auratus", "Mirren Aquarium", "XA", "12", "15", "30", "57", "2026-09-30",
     "Species360 ZIMS 2026-10"),
    ("Mirrenichthys auratus", "Valdora City Zoo", "XA", "3", "4", "1", "8", "2026-08-31",
     "Species360 ZIMS 2026-10"),
    ("Mirrenichthys auratus", "Kestrany Freshwater Centre", "XB", "5", "6", "", "11", "2026-06-15",
     "studbook"),
    ("Greyfenodon palustris", "Greyfen Ark Breeding Station", "XC", "40", "38", "12", "90", "2026-07-31",
     "studbook"),
    ("Greyfenodon palustris", "Mirren Aquarium", "XA", "10", "12", "0", "22", "2026-09-30",
     "Species360 ZIMS 2026-10"),
    ("Veridimargaritana perlifera", "Tamber River Hatchery", "XA", "", "", "250", "250", "2026-05-01",
     "survey"),
    ("Mirrenobatrachus aquaticus", "Valdora City Zoo", "XA", "6", "6", "24", "36", "2026-08-31",
     "Species360 ZIMS 2026-10"),
    ("Mirrenonymphaea mirrenensis", "Osmaria Botanic Garden", "XC", "", "", "35", "35", "2026-04-20",
     "survey"),
    ("Voraxoperca ferox", "Mirren Aquarium", "XA", "2", "3", "0", "5", "2026-09-30",
     "Species360 ZIMS 2026-10"),
]

#: The header of a CITES Species+ checklist CSV export (the same as the real export's).
CITES_HEADER = (
    "TaxonId,Kingdom,Phylum,Class,Order,Family,Genus,Species,Subspecies,FullName,AuthorYear,RankName,"
    "CurrentListing,FullAnnotationEnglish,AnnotationEnglish,AnnotationSpanish,AnnotationFrench,"
    "#AnnotationSymbol,#Annotation,SynonymsWithAuthors,EnglishNames,SpanishNames,FrenchNames,CitesAccepted,"
    "All_DistributionISOCodes,All_DistributionFullNames,NativeDistributionFullNames,Introduced_Distribution,"
    "Introduced(?)_Distribution,Reintroduced_Distribution,Extinct_Distribution,Extinct(?)_Distribution,"
    "Distribution_Uncertain"
).split(",")
_FISH = ("Animalia", "Chordata", "Actinopteri", "Cypriniformes", "Cyprinidae")
_CICHLID = ("Animalia", "Chordata", "Actinopteri", "Cichliformes", "Cichlidae")
_MUSSEL = ("Animalia", "Mollusca", "Bivalvia", "Unionida", "Margaritiferidae")
# (TaxonId, higher taxa, genus, species, author, rank, listing, annotation, synonyms with authors,
#  English names, ISO codes): the genus Mirrenichthys in Appendix II except M. parvus (NC), M. auratus
# in Appendix I, the pearl mussel under its older name, a cichlid whose CITES synonym is the set's
# name, and a listed species the working set does not hold.
CITES = [
    ("990201", _FISH, "Mirrenichthys", "", "Ødegård, 1958", "GENUS", "II",
     "Excludes <i>Mirrenichthys parvus</i> and the species included in Appendix I.", "Veridibarbus ", "", ""),
    ("990202", _FISH, "Mirrenichthys", "auratus", "Ødegård, 1958", "SPECIES", "I", "",
     "Veridibarbus auratus Ødegård, 1958, Veridibarbus aureus Vell & Morbach, 1960", "Golden Mirren Barb",
     "XA"),
    ("990203", _FISH, "Mirrenichthys", "parvus", "Vardalen, 1994", "SPECIES", "NC", "", "",
     "Dwarf Mirren Barb", "XA"),
    ("990204", _MUSSEL, "Veridimargaritana", "perlifera", "Morbach, 1978", "SPECIES", "II", "",
     "Margaritana perlifera Morbach, 1978", "Tamber Pearl Mussel", "XA, XB"),
    ("990205", _CICHLID, "Oskarichromis", "erythroptera", "(Brandtner, 1906)", "SPECIES", "III",
     "Population of Kestrany",
     "Oskarichromis rubripinnis Okonjo-Sell, 2016, Veridichromis erythroptera Brandtner, 1906",
     "Red-finned Oskar Cichlid", "XB"),
    ("990206", _FISH, "Mirrenichthys", "mirabilis", "(Vell, 2001)", "SPECIES", "I", "",
     "Veridibarbus mirabilis Vell, 2001", "Marvellous Barb", "XC"),
]

# fmt: on


# --------------------------------------------------------------------------------------------
# Building the rows
# --------------------------------------------------------------------------------------------
def load_scheme(name: str) -> dict[str, str]:
    with (SCHEME_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return {r["code"]: r["name"] for r in csv.DictReader(fh)}


def ids(i: int) -> tuple[str, str]:
    """(assessmentId, internalTaxonId) of species number i (1-based): far above real SIS ids."""
    return str(990_100_000 + i * 137), str(990_000_000 + i)


def html_authority(auth: str) -> str:
    return auth.replace("&", "&amp;")


def tf(flag: bool) -> str:
    return "true" if flag else "false"


def cites_row(r: tuple) -> list[str]:
    """One row of the CITES Species+ checklist look-alike, in the export's 33 columns."""
    tid, higher, genus, species, author, rank, listing, note, syn, eng, iso = r
    kingdom, phylum, klass, order, family = higher
    full = f"{genus} {species}" if species else genus
    nc = listing == "NC"
    annot = "" if nc else f"Appendix {listing}:{note} "
    names = ", ".join(COUNTRIES[c.strip()] for c in iso.split(",") if c.strip())
    return [
        tid, kingdom, phylum, klass, order, family, genus, species, "", full, author, rank, listing,
        annot, annot, "" if nc else f"Apéndice {listing}: ", "" if nc else f"Annexe {listing}: ", "",
        "" if nc else f"Appendix {listing}: ", syn, eng, "", "", "true", iso, names, names,
        "", "", "", "", "", "",
    ]  # fmt: skip


def build() -> dict[str, list[list[str]]]:
    threats_s = load_scheme("threats")
    actions_s = load_scheme("conservation_actions")
    research_s = load_scheme("research")
    stresses_s = load_scheme("stresses")
    habitats_s = load_scheme("habitats")
    use_s = load_scheme("use_and_trade")
    threats_s[LEGACY_THREAT[0]] = LEGACY_THREAT[1]

    rows: dict[str, list[list[str]]] = {name: [] for name in HEADERS}
    sites_rows = [[sid, name, typ, cc, f"{lat:.3f}", f"{lon:.3f}"] for sid, name, typ, cc, lat, lon in SITES]
    species_sites: list[list[str]] = []

    for i, r in enumerate(SPECIES, start=1):
        aid, tid = ids(i)
        name = f"{r['g']} {r['s']}"
        kingdom, phylum, order, klass, family = GROUPS[r["grp"]]
        label = CATEGORY[r["cat"]]
        a3 = [aid, tid, name]
        date = f"{r['date']} 00:00:00 UTC"
        if r["reason"]:
            crit = f" under criteria {r['crit']}" if r["crit"] else ""
            rationale = f"<p><em>{name}</em> is listed as {label}{crit}. {r['reason']}</p>"
        else:
            rationale = ""
        rows["assessments.csv"].append(
            a3
            + [
                label,
                r["crit"],
                str(r["yp"]),
                date,
                r["ver"],
                "English",
                rationale,
                r["habitat"],
                r["threats"],
                r["pop"],
                r["trend"],
                r["range"],
                r["use_text"] if r["reason"] else "",
                r["sys"],
                r["cons"],
                "",
                r["yls"],
                tf(r["pe"]),
                "false",
                "Global",
            ]
        )
        auth = html_authority(r["auth"])
        rows["simple_summary.csv"].append(
            a3
            + [
                kingdom,
                phylum,
                order,
                klass,
                family,
                r["g"],
                r["s"],
                "",
                "",
                "",
                auth,
                label,
                r["crit"],
                r["ver"],
                r["trend"],
                "Global",
            ]
        )
        rows["taxonomy.csv"].append(
            [
                tid,
                name,
                kingdom,
                phylum,
                order,
                klass,
                family,
                r["g"],
                r["s"],
                "",
                "",
                "",
                "",
                auth,
                r["notes"],
            ]
        )
        for code, timing, scope, sev, stresses, ias, text, trade in r["thr"]:
            scodes = [c for c in stresses.split("|") if c]
            rows["threats.csv"].append(
                a3
                + [
                    code,
                    threats_s[code],
                    "|".join(scodes),
                    "|".join(stresses_s[c] for c in scodes),
                    "",
                    ias,
                    trade,
                    SCOPE[scope],
                    SEVERITY[sev],
                    text,
                    TIMING[timing],
                    "",
                ]
            )
        for code, note in r["need"]:
            rows["conservation_needed.csv"].append(a3 + [code, actions_s[code], note])
        for code, note in r["res"]:
            rows["research_needed.csv"].append(a3 + [code, research_s[code], note])
        for code, major, season, suit in r["hab"]:
            rows["habitats.csv"].append(a3 + [code, habitats_s[code], major, season, suit])
        for code, presence, origin, seasonality in r["ctry"]:
            rows["countries.csv"].append(a3 + [code, COUNTRIES[code], presence, origin, seasonality, ""])
        for code, intl, natl, subs in r["use"]:
            rows["usetrade.csv"].append(a3 + [code, use_s[code], tf(intl), tf(natl), "", tf(subs)])
        for order_no, (ctype, people) in enumerate(TEAMS[r["team"]], start=1):
            short = [PEOPLE[p][0] for p in people]
            text = short[0] if len(short) == 1 else ", ".join(short[:-1]) + " & " + short[-1]
            full = " & ".join(PEOPLE[p][1] for p in people)
            value = "|".join(f"{PEOPLE[p][1]} ({PEOPLE[p][2]})" for p in people)
            rows["credits.csv"].append(a3 + [ctype, text, full, value, str(order_no)])
        for cname, lang, main in r["cn"]:
            rows["common_names.csv"].append([tid, name, cname, lang, tf(main)])
        for genus, species, author in r["syn"]:
            rows["synonyms.csv"].append(
                [tid, name, f"{genus} {species} {author}", genus, species, author, "", ""]
            )
        other = HEADERS["all_other_fields.csv"]
        unknown = set(r["af"]) - set(other)
        if unknown:
            raise SystemExit(f"{name}: unknown all_other_fields column(s) {sorted(unknown)}")
        rows["all_other_fields.csv"].append([aid, name, tid] + [r["af"].get(c, "") for c in other[3:]])
        for site, note in r["sites"]:
            species_sites.append([tid, site, note])

    out = {f"download/{k}": [HEADERS[k]] + v for k, v in rows.items()}
    out["sites.csv"] = [SITES_HEADER] + sites_rows
    out["species_sites.csv"] = [SPECIES_SITES_HEADER] + species_sites
    out["holdings.csv"] = [HOLDINGS_HEADER] + [list(h) for h in HOLDINGS]
    out["cites_checklist.csv"] = [CITES_HEADER] + [cites_row(c) for c in CITES]
    return out


def write(out_dir: Path) -> list[Path]:
    written = []
    for rel, table in build().items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            w.writerows(table)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = ap.parse_args(argv)
    paths = write(args.out)
    print(f"wrote {len(paths)} files ({len(SPECIES)} species) to {args.out}")


if __name__ == "__main__":
    main()
