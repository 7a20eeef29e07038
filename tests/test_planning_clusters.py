"""Planning places and clusters (assess2plan.planning.places / .clusters).

Cluster membership on the real Pacific download is cross-checked against an independent
reading of the CSV files with the csv module (latest Global assessment per taxon, threat impact
scored here from timing + scope + severity, presence/origin filtered here). Edge cases run on
small hand-written sets of fictional taxa.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from assess2plan.errors import A2PError
from assess2plan.io.download import read_download
from assess2plan.model import AssessmentSet
from assess2plan.planning import (
    CLUSTER_COLUMNS,
    MEMBER_COLUMNS,
    PLACE_COLUMNS,
    SHARED_COLUMNS,
    action_clusters,
    shared_threats,
    species_places,
    threat_clusters,
)
from tests.conftest import shared_path

DOWNLOADS = ("pacific-marine", "pacific-marine-eastcentral")
CATS = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Extinct in the Wild": "EW",
}
THREATENED = {"CR", "EN", "VU"}


# ---------------------------------------------------------------------------------------------
# independent reading of the download folders with the csv module
# ---------------------------------------------------------------------------------------------
def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    p = folder / name
    if not p.exists():
        return []
    with p.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# IUCN SIS impact scoring (domain reference §3b), written again here on purpose
TIMING = {
    "ongoing": 3,
    "future": 1,
    "past, unlikely to return": 30,
    "past, likely to return": 20,
    "unknown": -10,
}
SCOPE = {"whole (>90%)": 3, "majority (50-90%)": 2, "minority (<50%)": 1, "unknown": -10}
SEVERITY = {
    "very rapid declines": 3,
    "rapid declines": 2,
    "slow, significant declines": 1,
    "causing/could cause fluctuations": 1,
    "negligible declines": 0,
    "no decline": 0,
    "unknown": -10,
}


def impact_rank(timing: str, scope: str, severity: str) -> int:
    """3 High, 2 Medium, 1 Low, 0 anything else (negligible, past, unknown)."""
    total = sum(
        table.get(" ".join(v.split()).lower(), 0) if v.strip() else 0
        for table, v in ((TIMING, timing), (SCOPE, scope), (SEVERITY, severity))
    )
    if total < 0 or total <= 2 or total > 9:
        return 0
    return 1 if total <= 5 else 2 if total <= 7 else 3


class Independent:
    """The Pacific download read with csv: latest Global assessment per taxon and its rows."""

    def __init__(self, folders: list[Path]) -> None:
        best: dict[str, dict] = {}
        for folder in folders:
            for r in _rows(folder, "assessments.csv"):
                if "Global" not in (r.get("scopes") or "Global"):
                    continue
                key = (int(r["yearPublished"] or 0), r["assessmentDate"] or "", r["assessmentId"])
                if r["internalTaxonId"] not in best or key > best[r["internalTaxonId"]]["_key"]:
                    best[r["internalTaxonId"]] = {**r, "_key": key}
        self.category = {t: CATS.get(r["redlistCategory"], r["redlistCategory"]) for t, r in best.items()}
        self.name = {t: r["scientificName"] for t, r in best.items()}
        aid = {r["assessmentId"]: t for t, r in best.items()}
        self.threats: dict[str, dict[str, int]] = defaultdict(dict)  # taxon -> code -> impact rank
        self.countries: dict[str, set[str]] = defaultdict(set)
        self.lmes: dict[str, set[str]] = defaultdict(set)
        self.habitats: dict[str, set[str]] = defaultdict(set)
        self.actions: dict[str, set[str]] = defaultdict(set)
        seen: set[tuple] = set()
        for folder in folders:
            for r in _rows(folder, "threats.csv"):
                t = aid.get(r["assessmentId"])
                if t and (r["assessmentId"], r["code"]) not in seen:
                    seen.add((r["assessmentId"], r["code"]))
                    self.threats[t][r["code"]] = impact_rank(r["timing"], r["scope"], r["severity"])
            for name, target in (("countries.csv", self.countries), ("lme.csv", self.lmes)):
                for r in _rows(folder, name):
                    t = aid.get(r["assessmentId"])
                    ok = r["presence"] in ("Extant", "Possibly Extant", "") and r["origin"] in (
                        "Native",
                        "Reintroduced",
                        "",
                    )
                    if t and ok:
                        target[t].add(r["code"].upper())
            for r in _rows(folder, "habitats.csv"):
                t = aid.get(r["assessmentId"])
                if t:
                    self.habitats[t].add(".".join(r["code"].split(".")[:2]))
            for r in _rows(folder, "conservation_needed.csv"):
                t = aid.get(r["assessmentId"])
                if t:
                    self.actions[t].add(r["code"])

    def threatened(self) -> list[str]:
        return [t for t, c in self.category.items() if c in THREATENED]

    def threat_groups(
        self, places: dict[str, set[str]], min_rank: int, level: int = 2
    ) -> dict[tuple, set[str]]:
        groups: dict[tuple, set[str]] = defaultdict(set)
        for t in self.threatened():
            codes = {
                ".".join(c.split(".")[:level]) for c, rank in self.threats[t].items() if rank >= min_rank
            }
            for code in codes:
                for place in places[t]:
                    groups[(code, place)].add(t)
        return {k: v for k, v in groups.items() if len(v) >= 2}


def as_groups(c, kind: str) -> dict[tuple, set[str]]:
    cl = c.clusters.filter(pl.col("place_kind") == kind)
    m = c.members.join(cl.select("cluster_id", "code", "place"), on="cluster_id", suffix="_c")
    out: dict[tuple, set[str]] = defaultdict(set)
    for r in m.iter_rows(named=True):
        out[(r["code_c"], r["place"])].add(r["taxon_id"])
    return dict(out)


@pytest.fixture(scope="module")
def pacific() -> tuple[AssessmentSet, Independent]:
    folders = [shared_path("redlist-download", d) for d in DOWNLOADS]
    return read_download(folders), Independent(folders)


# ---------------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize("min_impact, min_rank", [(None, -1), ("Low", 1), ("Medium", 2)])
def test_country_clusters_match_an_independent_reading(pacific, min_impact, min_rank):
    s, ind = pacific
    c = threat_clusters(s, by="country", min_impact=min_impact)
    assert c.clusters.schema == pl.Schema(CLUSTER_COLUMNS)
    assert c.members.schema == pl.Schema(MEMBER_COLUMNS)
    expected = ind.threat_groups(ind.countries, min_rank)
    assert expected, "the independent reading found no group: the comparison would prove nothing"
    assert as_groups(c, "country") == expected
    sizes = dict(zip(c.clusters["cluster_id"], c.clusters["size"], strict=True))
    for (code, place), taxa in expected.items():
        assert sizes[f"threat:{code}|country:{place}"] == len(taxa)


@pytest.mark.realdata
@pytest.mark.parametrize("code, country", [("5.4", "ID"), ("11.3", "PH"), ("5.4", "NZ")])
def test_three_threat_country_pairs(pacific, code, country):
    """Three chosen (threat, country) pairs recomputed from threats.csv + countries.csv +
    assessments.csv: a roll-up of several sub-codes (5.4.x), a code recorded at level 2 (11.3),
    and a small group of deep-sea species (5.4 in New Zealand)."""
    s, ind = pacific
    c = threat_clusters(s, by=("country",), min_impact="Low")
    expected = {
        t
        for t in ind.threatened()
        if country in ind.countries[t]
        and any(k == code or k.startswith(code + ".") for k, r in ind.threats[t].items() if r >= 1)
    }
    assert len(expected) >= 2
    members = c.members_of(f"threat:{code}|country:{country}")
    assert set(members["taxon_id"]) == expected
    # the members' own codes are the recorded sub-codes, reasons name them and the country
    for r in members.iter_rows(named=True):
        own = set(r["code"].split("|"))
        assert own == {
            k
            for k, v in ind.threats[r["taxon_id"]].items()
            if (k == code or k.startswith(code + ".")) and v >= 1
        }
        assert r["reason"].startswith(ind.category[r["taxon_id"]] + "; threat")
        assert f"({country})" in r["reason"]
        assert r["impact"] in ("Low Impact", "Medium Impact", "High Impact")


@pytest.mark.realdata
def test_lme_and_country_habitat_clusters_match(pacific):
    s, ind = pacific
    c = threat_clusters(s, by=("lme", "country_habitat"), min_impact="Low")
    assert as_groups(c, "lme") == ind.threat_groups(ind.lmes, 1)
    ch = {t: {f"{p}|{h}" for p in ind.countries[t] for h in ind.habitats[t]} for t in ind.category}
    expected = ind.threat_groups(ch, 1)
    assert expected and as_groups(c, "country_habitat") == expected
    assert set(c.clusters["place_kind"]) == {"lme", "country_habitat"}


@pytest.mark.realdata
def test_action_clusters_match(pacific):
    s, ind = pacific
    c = action_clusters(s, by="country")
    groups: dict[tuple, set[str]] = defaultdict(set)
    for t in ind.threatened():
        for code in {".".join(a.split(".")[:2]) for a in ind.actions[t]}:
            for place in ind.countries[t]:
                groups[(code, place)].add(t)
    expected = {k: v for k, v in groups.items() if len(v) >= 2}
    assert as_groups(c, "country") == expected
    assert c.members["impact"].null_count() == c.members.height
    assert set(c.clusters["basis"]) == {"action"}
    top = c.members.row(0, named=True)
    assert "action" in top["reason"] and top["cluster_id"].startswith("action:")


@pytest.mark.realdata
def test_cluster_order_on_real_data(pacific):
    s, _ = pacific
    c = threat_clusters(s, by=("country", "lme"), min_impact="Low")
    sizes = c.clusters["size"].to_list()
    assert sizes == sorted(sizes, reverse=True)
    rank = {k: i for i, k in enumerate(["CR", "EN", "VU"])}
    corder = {cid: i for i, cid in enumerate(c.clusters["cluster_id"])}
    keys = [
        (corder[r["cluster_id"]], rank[r["category"]], r["scientific_name"])
        for r in c.members.iter_rows(named=True)
    ]
    assert keys == sorted(keys)
    assert c.clusters["cluster_id"].is_unique().all()


@pytest.mark.realdata
def test_shared_threats_match_an_independent_reading(pacific):
    s, ind = pacific
    focal = "Opisthoteuthis chathamensis"
    fid = next(t for t, n in ind.name.items() if n == focal)
    out = shared_threats(s, focal)  # min_impact Medium, level 2, same country/LME
    assert out.schema == pl.Schema(SHARED_COLUMNS)

    def codes(t):
        return {".".join(c.split(".")[:2]) for c, r in ind.threats[t].items() if r >= 2}

    fplaces = {("country", p) for p in ind.countries[fid]} | {("lme", p) for p in ind.lmes[fid]}
    expected = {}
    for t in ind.threatened():
        if t == fid:
            continue
        places = {("country", p) for p in ind.countries[t]} | {("lme", p) for p in ind.lmes[t]}
        shared = codes(t) & codes(fid)
        if shared and places & fplaces:
            expected[t] = len(shared)
    assert expected
    assert dict(zip(out["taxon_id"], out["n_shared"], strict=True)) == expected
    assert focal in out["reason"][0] and fid not in out["taxon_id"].to_list()
    # by taxon id and by name in any case give the same answer
    assert shared_threats(s, fid).equals(out)
    assert shared_threats(s, focal.upper()).equals(out)


# ---------------------------------------------------------------------------------------------
# small hand-written sets (fictional taxa)
# ---------------------------------------------------------------------------------------------
def build(
    species: list[tuple],
    threats: list[tuple] = (),
    countries: list[tuple] = (),
    habitats: list[tuple] = (),
    actions: list[tuple] = (),
) -> AssessmentSet:
    """species: (assessment_id, taxon_id, name, category[, year, scopes]);
    threats: (assessment_id, code, timing, scope, severity[, impact]);
    countries: (assessment_id, code[, presence, origin, kind]); habitats: (assessment_id, code);
    actions: (assessment_id, code)."""
    tax = {a[0]: a[1] for a in species}
    a = [
        {
            "assessment_id": s[0],
            "taxon_id": s[1],
            "scientific_name": s[2],
            "category": s[3],
            "year_published": s[4] if len(s) > 4 else 2020,
            "assessment_date": dt.date(s[4] if len(s) > 4 else 2020, 1, 1),
            "scopes": s[5] if len(s) > 5 else "Global",
        }
        for s in species
    ]
    th = []
    for t in threats:
        from assess2plan.schemes import impact

        score, label = impact(t[2], t[3], t[4])
        th.append(
            {
                "assessment_id": t[0],
                "taxon_id": tax[t[0]],
                "code": t[1],
                "timing": t[2],
                "scope": t[3],
                "severity": t[4],
                "impact_score": score,
                "impact": t[5] if len(t) > 5 else label,
            }
        )
    occ = [
        {
            "assessment_id": c[0],
            "taxon_id": tax[c[0]],
            "kind": c[4] if len(c) > 4 else "country",
            "code": c[1],
            "name": {"XA": "Arcadia", "XB": "Borealis", "XC": "Cimmeria"}.get(c[1], f"Place {c[1]}"),
            "presence": c[2] if len(c) > 2 else "Extant",
            "origin": c[3] if len(c) > 3 else "Native",
        }
        for c in countries
    ]
    hab = [
        {"assessment_id": h[0], "taxon_id": tax[h[0]], "code": h[1], "name": f"habitat {h[1]}"}
        for h in habitats
    ]
    act = [{"assessment_id": x[0], "taxon_id": tax[x[0]], "code": x[1]} for x in actions]
    frames = {"assessments": pl.DataFrame(a)}
    for name, rows in (("threats", th), ("occurrence", occ), ("habitats", hab), ("actions_needed", act)):
        if rows:
            frames[name] = pl.DataFrame(rows)
    return AssessmentSet.from_frames(frames)


HIGH = ("Ongoing", "Whole (>90%)", "Rapid Declines")  # 8 High
MEDIUM = ("Ongoing", "Majority (50-90%)", "Slow, Significant Declines")  # 6 Medium
LOW = ("Ongoing", "Minority (<50%)", "Negligible declines")  # 4 Low
UNKNOWN = ("Unknown", "Unknown", "Unknown")


@pytest.fixture
def lakes() -> AssessmentSet:
    species = [
        ("a1", "t1", "Fictus alpha", "EN"),
        ("a2", "t2", "Fictus beta", "CR"),
        ("a3", "t3", "Fictus gamma", "VU"),
        ("a4", "t4", "Fictus delta", "VU"),
        ("a5", "t5", "Fictus epsilon", "NT"),
        ("a6", "t6", "Fictus zeta", "DD"),
        ("a0", "t1", "Fictus alpha", "VU", 2010),  # older assessment of t1: ignored
    ]
    threats = [
        ("a1", "7.2.3", *MEDIUM),
        ("a1", "7.2.9", *HIGH),
        ("a2", "7.2.10", *HIGH),
        ("a3", "7.2.1", *LOW),
        ("a4", "7.2.1", *UNKNOWN),
        ("a5", "7.2.2", *HIGH),
        ("a6", "7.2.2", *HIGH),
        ("a0", "9.1", *HIGH),
        ("a0", "7.2.3", *HIGH),
    ]
    countries = [(a, "XA") for a in ("a1", "a2", "a3", "a4", "a5", "a6", "a0")]
    countries += [("a1", "XB"), ("a2", "XB", "Extinct"), ("a3", "XB", "Extant", "Introduced"), ("a0", "XC")]
    habitats = [("a1", "5.1.1"), ("a2", "5.1"), ("a3", "5.1.2"), ("a1", "1.6")]
    actions = [("a1", "2.1"), ("a2", "2.1.1"), ("a3", "3.4.1"), ("a4", "3.4.2")]
    return build(species, threats, countries, habitats, actions)


def members(c, cluster_id: str) -> dict[str, str]:
    return dict(zip(*c.members_of(cluster_id).select("taxon_id", "code"), strict=True))


def test_sub_codes_roll_up_to_the_threat_level(lakes):
    c = threat_clusters(lakes, by="country", min_impact="Medium")
    assert c.clusters["cluster_id"].to_list() == ["threat:7.2|country:XA"]
    # t1's two sub-codes make one member row; its own codes are kept
    assert members(c, "threat:7.2|country:XA") == {"t1": "7.2.3|7.2.9", "t2": "7.2.10"}
    t1 = c.members.filter(pl.col("taxon_id") == "t1").row(0, named=True)
    assert t1["impact"] == "High Impact"  # the stronger of Medium (7.2.3) and High (7.2.9)
    assert t1["reason"] == (
        "EN; threats 7.2.3 Medium Impact (Ongoing / Majority (50-90%) / Slow, Significant Declines), "
        "7.2.9 High Impact (Ongoing / Whole (>90%) / Rapid Declines); occurs in Arcadia (XA)"
    )
    row = c.clusters.row(0, named=True)
    assert (
        row["code_name"] == "Dams & water management/use"
        and row["size"] == 2
        and row["place_name"] == "Arcadia"
    )
    # level 1: "7"; as recorded: no two species share a code
    assert threat_clusters(lakes, by="country", threat_level=1).clusters["cluster_id"].to_list() == [
        "threat:7|country:XA"
    ]
    assert len(threat_clusters(lakes, by="country", threat_level=None)) == 0
    one = threat_clusters(lakes, by="country", threat_level=None, min_size=1)
    assert set(one.clusters["code"]) == {"7.2.3", "7.2.9", "7.2.10"}


@pytest.mark.parametrize(
    "min_impact, expected",
    [
        ("High", {"t1", "t2"}),
        ("medium impact", {"t1", "t2"}),
        ("Low", {"t1", "t2", "t3"}),
        (None, {"t1", "t2", "t3", "t4"}),
        ("any", {"t1", "t2", "t3", "t4"}),
    ],
)
def test_min_impact(lakes, min_impact, expected):
    c = threat_clusters(lakes, by="country", min_impact=min_impact)
    assert set(members(c, "threat:7.2|country:XA")) == expected


def test_categories_presence_and_origin(lakes):
    c = threat_clusters(lakes, by="country", min_impact="High", categories=("CR", "EN", "VU", "NT", "DD"))
    assert set(members(c, "threat:7.2|country:XA")) == {"t1", "t2", "t5", "t6"}
    cats = c.members_of("threat:7.2|country:XA")["category"].to_list()
    assert cats == ["CR", "EN", "NT", "DD"]  # Red List order, then name
    # XB: t2 is extinct there and t3 introduced, so only t1 counts ... unless every record counts
    assert (
        "threat:7.2|country:XB"
        not in threat_clusters(lakes, by="country", min_impact=None).clusters["cluster_id"]
    )
    wide = threat_clusters(lakes, by="country", min_impact=None, presence=None, origin=None)
    assert set(members(wide, "threat:7.2|country:XB")) == {"t1", "t2", "t3"}
    # the older assessment of t1 (threat 9.1, country XC) is not used
    places = species_places(lakes, kinds="country")
    assert places.schema == pl.Schema(PLACE_COLUMNS)
    assert set(places.filter(pl.col("taxon_id") == "t1")["place"]) == {"XA", "XB"}


def test_scope_takes_the_latest_assessment_in_that_scope():
    s = build(
        [
            ("g1", "t1", "Fictus alpha", "EN", 2018),
            ("g2", "t2", "Fictus beta", "EN", 2018),
            ("e1", "t1", "Fictus alpha", "CR", 2021, "Europe"),
            ("e2", "t2", "Fictus beta", "VU", 2021, "Europe|Mediterranean"),
        ],
        [("g1", "5.4.1", *HIGH), ("g2", "5.4.2", *HIGH), ("e1", "11.1", *HIGH), ("e2", "11.1", *HIGH)],
        [(a, "XA") for a in ("g1", "g2", "e1", "e2")],
    )
    assert threat_clusters(s, by="country").clusters["cluster_id"].to_list() == ["threat:5.4|country:XA"]
    eu = threat_clusters(s, by="country", scope="Europe")
    assert eu.clusters["cluster_id"].to_list() == ["threat:11.1|country:XA"]
    assert eu.members["category"].to_list() == ["CR", "VU"]
    assert len(threat_clusters(s, by="country", scope="Mediterranean")) == 0


def test_sites_and_country_habitat(lakes):
    links = pl.DataFrame(
        {
            "taxon_id": ["t1", "t2", "t3", "t9"],
            "site_id": ["S1", "S1", "S2", "S1"],
            "site_name": ["Lake One", "Lake One", "Lake Two", "Lake One"],
        }
    )
    c = threat_clusters(lakes, by=("site", "country_habitat"), min_impact="Low", site_links=links)
    assert members(c, "threat:7.2|site:S1") == {"t1": "7.2.3|7.2.9", "t2": "7.2.10"}
    site_row = c.clusters.filter(pl.col("place_kind") == "site").row(0, named=True)
    assert site_row["place_name"] == "Lake One"
    assert "is linked to the site Lake One (S1)" in c.members_of("threat:7.2|site:S1")["reason"][0]
    # habitats 5.1.1 / 5.1 / 5.1.2 roll up to 5.1; t3's XB record is introduced, its XA one counts
    assert set(members(c, "threat:7.2|country_habitat:XA|5.1")) == {"t1", "t2", "t3"}
    row = c.clusters.filter(pl.col("place") == "XA|5.1").row(0, named=True)
    assert row["place_name"].startswith("Arcadia / 5.1 Wetlands (inland)")
    reason = c.members_of("threat:7.2|country_habitat:XA|5.1")["reason"][0]
    assert "occurs in Arcadia (XA) in habitat 5.1 Wetlands (inland)" in reason
    places = species_places(lakes, kinds=["country_habitat"], habitat_level=None)
    assert set(places.filter(pl.col("taxon_id") == "t1")["place"]) == {
        "XA|5.1.1",
        "XA|1.6",
        "XB|5.1.1",
        "XB|1.6",
    }


def test_action_clusters_roll_up(lakes):
    c = action_clusters(lakes, by="country")
    assert set(c.clusters["cluster_id"]) == {"action:2.1|country:XA", "action:3.4|country:XA"}
    assert members(c, "action:3.4|country:XA") == {"t3": "3.4.1", "t4": "3.4.2"}
    r = c.members_of("action:2.1|country:XA").filter(pl.col("taxon_id") == "t1")["reason"][0]
    assert r == "EN; action needed 2.1 Site/area management; occurs in Arcadia (XA)"
    assert len(action_clusters(lakes, by="country", action_level=None)) == 0


def test_clusters_helpers(lakes):
    c = threat_clusters(lakes, by=("country",), min_impact=None)
    assert len(c) == c.clusters.height == 1
    assert c.of_taxon("t3")["cluster_id"].to_list() == ["threat:7.2|country:XA"]
    assert c.of_taxon("t5").height == 0
    assert c.params["min_impact"] is None and c.params["threat_level"] == 2


def test_shared_threats_small(lakes):
    out = shared_threats(lakes, "Fictus alpha", min_impact=None, categories=None)
    assert out["taxon_id"].to_list() == ["t2", "t4", "t3", "t5", "t6"]  # all share 7.2; CR, VU by name
    assert set(out["shared_threats"]) == {"7.2"}
    assert out.filter(pl.col("taxon_id") == "t2")["shared_places"][0] == "country:XA"
    assert out["reason"][0] == (
        "CR; shares threat 7.2 Dams & water management/use with Fictus alpha; both occur in Arcadia (XA)"
    )
    # medium impact: only t2 (High) shares it with t1
    assert shared_threats(lakes, "t1")["taxon_id"].to_list() == ["t2"]


def test_shared_threats_same_place_and_order():
    s = build(
        [
            ("a1", "t1", "Fictus alpha", "EN"),
            ("a2", "t2", "Fictus beta", "VU"),
            ("a3", "t3", "Fictus gamma", "VU"),
            ("a4", "t4", "Fictus delta", "EN"),
        ],
        [
            ("a1", "5.4.4", *HIGH),
            ("a1", "8.1.2", *HIGH),
            ("a2", "5.4.1", *HIGH),
            ("a2", "8.1.1", *HIGH),
            ("a3", "5.4.2", *HIGH),
            ("a4", "8.1.2", *HIGH),
        ],
        [("a1", "XA"), ("a2", "XA"), ("a3", "XA"), ("a4", "XC")],
    )
    near = shared_threats(s, "t1")
    assert near["taxon_id"].to_list() == ["t2", "t3"]  # t2 shares two threats; t4 is elsewhere
    assert near["n_shared"].to_list() == [2, 1] and near["shared_threats"][0] == "5.4|8.1"
    anywhere = shared_threats(s, "t1", same_place=False)
    assert anywhere["taxon_id"].to_list() == ["t2", "t4", "t3"]
    t4 = anywhere.filter(pl.col("taxon_id") == "t4").row(0, named=True)
    assert t4["shared_places"] is None and t4["reason"].endswith("no shared place")
    with pytest.raises(A2PError, match="no taxon 'Nonexistus'"):
        shared_threats(s, "Nonexistus")


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"by": ("continent",)}, "unknown place kind"),
        ({"min_impact": "Huge"}, "min_impact"),
        ({"threat_level": 0}, "threat_level"),
        ({"min_size": 0}, "min_size"),
    ],
)
def test_bad_arguments(lakes, kwargs, words):
    with pytest.raises(A2PError, match=words):
        threat_clusters(lakes, **kwargs)


def test_empty_set():
    c = threat_clusters(AssessmentSet())
    assert c.clusters.schema == pl.Schema(CLUSTER_COLUMNS) and c.clusters.height == 0
    assert c.members.schema == pl.Schema(MEMBER_COLUMNS) and c.members.height == 0
