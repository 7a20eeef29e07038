"""Triage into planning buckets, the rules file, and bucket decisions (assess2plan.planning.triage).

Bucket membership is cross-checked against independent code reading the CSV files with the csv
module: on the real Pacific download (two bundled rules and two rules of a test rules file) and
on the bundled fictional example with its site links. Edge cases, the rules file's errors and
decisions run on small hand-written sets of fictional taxa.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from assess2plan.errors import InputError
from assess2plan.examples import example_path
from assess2plan.io.download import read_download
from assess2plan.model import conform
from assess2plan.planning import (
    ASSIGNMENT_COLUMNS,
    BUCKETS,
    apply_decisions,
    bucket_summary,
    default_rules_path,
    load_rules,
    orphan_decisions,
    rules_frame,
    triage,
)
from tests.conftest import ROOT, shared_path
from tests.test_planning_clusters import (
    CATS,
    DOWNLOADS,
    HIGH,
    LOW,
    MEDIUM,
    Independent,
    _rows,
    build,
)

EVALUATED = {"CR", "EN", "VU", "EW"}


def under(code: str, prefixes: tuple[str, ...]) -> bool:
    return any(code == p or code.startswith(p + ".") for p in prefixes)


def fired(a: pl.DataFrame, rule: str) -> set[str]:
    """Taxa for which ``rule`` is among the rules of a row."""
    return {r["taxon_id"] for r in a.iter_rows(named=True) if r["rule"] and rule in r["rule"].split("|")}


@pytest.fixture(scope="module")
def pacific():
    folders = [shared_path("redlist-download", d) for d in DOWNLOADS]
    return read_download(folders), Independent(folders)


# ---------------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_every_threatened_species_gets_a_planning_path(pacific):
    s, ind = pacific
    a = triage(s)
    assert a.schema == pl.Schema(ASSIGNMENT_COLUMNS)
    expected = {t for t, c in ind.category.items() if c in EVALUATED}
    assert set(a["taxon_id"]) == expected
    assert a["bucket"].null_count() == 0 and set(a["bucket"]) <= set(BUCKETS)
    assert a.select("taxon_id", "bucket").is_unique().all()
    assert set(a["status"]) == {"suggested"} and a["decided_at"].null_count() == a.height
    for ev in a["evidence"]:
        assert isinstance(json.loads(ev), dict)
    # the fallback fires exactly for the species no other rule placed
    others = {r["taxon_id"] for r in a.iter_rows(named=True) if r["rule"] != "fallback_single_species"}
    assert fired(a, "fallback_single_species") == expected - others
    assert fired(a, "fallback_single_species")  # the Pacific set has such species


@pytest.mark.realdata
@pytest.mark.parametrize(
    "rule, prefixes",
    [("ex_action_needed", ("3.4",)), ("ss_species_management_needed", ("3.1", "3.2", "3.3"))],
)
def test_bundled_action_rules_match_an_independent_reading(pacific, rule, prefixes):
    s, ind = pacific
    a = triage(s)
    expected = {
        t
        for t, c in ind.category.items()
        if c in EVALUATED and any(under(x, prefixes) for x in ind.actions[t])
    }
    assert expected and fired(a, rule) == expected
    bucket = "ex_situ" if rule.startswith("ex_") else "single_species"
    assert set(a.filter(pl.col("rule").str.contains(rule))["bucket"]) == {bucket}
    row = a.filter(pl.col("rule").str.contains(rule)).row(0, named=True)
    codes = json.loads(row["evidence"])[rule]["action_needed"]
    assert codes and all(under(c, prefixes) for c in codes)


TEST_RULES = """
version = 1

[[rule]]
id = "shared_threat_in_country"
bucket = "threat_based"
description = "Shares a threat with three other threatened species in a country"
[rule.when]
shares_threat = { min_others = 3, min_impact = "Low", threat_level = 2, kinds = ["country"] }

[[rule]]
id = "fishing_medium"
bucket = "single_species"
description = "Fishing with at least medium impact"
[rule.when]
threat = { codes = ["5.4"], min_impact = "Medium" }
category = ["CR", "EN"]
"""


@pytest.mark.realdata
def test_rules_of_a_rules_file_match_an_independent_reading(pacific, tmp_path):
    s, ind = pacific
    path = tmp_path / "rules.toml"
    path.write_text(TEST_RULES, encoding="utf-8")
    a = triage(s, rules=path)
    threatened = set(ind.threatened())

    def codes(t, min_rank):
        return {".".join(c.split(".")[:2]) for c, r in ind.threats[t].items() if r >= min_rank}

    members: dict[tuple, set[str]] = defaultdict(set)
    for t in threatened:
        for c in codes(t, 1):
            for p in ind.countries[t]:
                members[(c, p)].add(t)
    expected = {t for group in members.values() if len(group) >= 4 for t in group}
    assert expected and fired(a, "shared_threat_in_country") == expected
    ev = json.loads(a.filter(pl.col("rule") == "shared_threat_in_country")["evidence"][0])
    item = ev["shared_threat_in_country"]["shares_threat"][0]
    code, country = re.match(r"threat:([\d.]+)\|country:(\w+)", item["cluster_id"]).groups()
    assert item["others"] == len(members[(code, country)]) - 1
    expected = {
        t
        for t, c in ind.category.items()
        if c in ("CR", "EN") and any(under(x, ("5.4",)) and r >= 2 for x, r in ind.threats[t].items())
    }
    assert expected and fired(a, "fishing_medium") == expected
    # species neither rule placed still show, with no bucket (this file has no fallback rule)
    none = a.filter(pl.col("bucket").is_null())
    assert set(none["taxon_id"]) == {t for t, c in ind.category.items() if c in EVALUATED} - set(
        a.filter(pl.col("bucket").is_not_null())["taxon_id"]
    )
    assert set(none["reason"]) == {"no enabled triage rule applies"}


def _example():
    folder = example_path()
    s = read_download([folder / "download"])
    links = pl.read_csv(folder / "species_sites.csv", schema_overrides={"internalTaxonId": pl.Utf8})
    sites = pl.read_csv(folder / "sites.csv")
    links = links.rename({"internalTaxonId": "taxon_id"}).join(
        sites.select("site_id", pl.col("name").alias("site_name")), on="site_id"
    )
    return s, links, folder


def test_site_rule_on_the_example_matches_an_independent_reading():
    s, links, folder = _example()
    a = triage(s, site_links=links)
    category = {
        r["internalTaxonId"]: CATS.get(r["redlistCategory"], r["redlistCategory"])
        for r in _rows(folder / "download", "assessments.csv")
    }
    at_site: dict[str, set[str]] = defaultdict(set)
    for r in _rows(folder, "species_sites.csv"):
        at_site[r["site_id"]].add(r["internalTaxonId"])
    expected = set()
    for t, c in category.items():
        if c not in EVALUATED:
            continue
        for taxa in at_site.values():
            if t in taxa and len({u for u in taxa - {t} if category.get(u) in ("CR", "EN", "VU")}) >= 2:
                expected.add(t)
    assert expected and fired(a, "sb_shared_site") == expected
    # few locations: LocationsNumber.range <= 2 for CR/EN, read from all_other_fields.csv
    few = set()
    for r in _rows(folder / "download", "all_other_fields.csv"):
        v = (r.get("LocationsNumber.range") or "").strip()
        nums = [float(x) for x in v.split("-")] if re.fullmatch(r"\d+(-\d+)?", v) else []
        if nums and max(nums) <= 2 and category[r["internalTaxonId"]] in ("CR", "EN"):
            few.add(r["internalTaxonId"])
    assert few and fired(a, "ex_few_locations") == few
    assert set(a["bucket"]) == set(BUCKETS)


# ---------------------------------------------------------------------------------------------
# the bundled rules and their documentation
# ---------------------------------------------------------------------------------------------
def test_bundled_rules_load_and_are_documented():
    rules = load_rules()
    assert rules and {r.bucket for r in rules} == set(BUCKETS)
    assert rules[-1].fallback and rules[-1].id == "fallback_single_species"
    for r in rules:
        assert r.description and r.rationale and r.source, r.id
    raw = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))
    assert [r["id"] for r in raw["rule"]] == [r.id for r in rules]
    doc = (ROOT / "docs" / "planning.md").read_text(encoding="utf-8")
    for r in rules:
        assert f"`{r.id}`" in doc, f"docs/planning.md does not explain rule {r.id}"
    frame = rules_frame()
    assert frame["id"].to_list() == [r.id for r in rules]
    assert frame.filter(pl.col("id") == "ex_research_on_actions")["enabled"][0] is False


# ---------------------------------------------------------------------------------------------
# small hand-written sets
# ---------------------------------------------------------------------------------------------
def small():
    s = build(
        [
            ("a1", "t1", "Fictus alpha", "CR"),
            ("a2", "t2", "Fictus beta", "EN"),
            ("a3", "t3", "Fictus gamma", "VU"),
            ("a4", "t4", "Fictus delta", "NT"),
            ("a5", "t5", "Fictus epsilon", "DD"),
            ("a6", "t6", "Fictus zeta", "LC"),
            ("a7", "t7", "Fictus eta", "EW"),
        ],
        [("a1", "8.2.2", *HIGH), ("a2", "5.4.1", *MEDIUM), ("a3", "7.2.3", *LOW), ("a4", "5.4.1", *HIGH)],
        [(a, "XA") for a in ("a1", "a2", "a3", "a4", "a5", "a6")],
    )
    t = s.tables
    t["assessments"] = t["assessments"].with_columns(
        pl.when(pl.col("taxon_id") == "t1").then(True).otherwise(None).alias("possibly_extinct")
    )
    t["other_fields"] = conform(
        "other_fields",
        pl.DataFrame(
            {
                "assessment_id": ["a1", "a2", "a3", "a4", "a5"],
                "taxon_id": ["t1", "t2", "t3", "t4", "t5"],
                "field": ["LocationsNumber.range"] * 5,
                "value": ["2", "1-2", "2-5", "Unknown", "1"],
            }
        ),
    )
    t["actions_in_place"] = conform(
        "actions_in_place",
        pl.DataFrame(
            {
                "assessment_id": ["a7", "a2"],
                "taxon_id": ["t7", "t2"],
                "field": ["InPlaceSpeciesManagementExSitu", "InPlaceSpeciesManagementExSitu.value"],
                "value": ["Yes", "No"],
            },
        ),
    )
    t["research_needed"] = conform(
        "research_needed", pl.DataFrame({"assessment_id": ["a3"], "taxon_id": ["t3"], "code": ["2.1"]})
    )
    return s


RULES = """
version = 1

[[rule]]
id = "few"
bucket = "ex_situ"
description = "Few locations"
rationale = "test"
[rule.when]
other_field = { field = "LocationsNumber.range", op = "<=", value = 2 }

[[rule]]
id = "pe"
bucket = "ex_situ"
description = "Possibly extinct"
[rule.when]
possibly_extinct = true

[[rule]]
id = "exsitu_yes"
bucket = "ex_situ"
description = "Ex situ in place"
[rule.when]
in_place = ["InPlaceSpeciesManagementExSitu"]

[[rule]]
id = "plan"
bucket = "single_species"
description = "Plan needed"
[rule.when]
research_needed = { codes = ["2"], exclude = ["2.2"] }

[[rule]]
id = "specific"
bucket = "single_species"
description = "Species-specific threat"
[rule.when]
threat = { codes = ["5.4.1", "8.2.2"], min_impact = "High" }

[[rule]]
id = "off"
bucket = "threat_based"
enabled = false
description = "Never"
[rule.when]
category = ["CR", "EN", "VU", "EW", "NT", "DD"]

[[rule]]
id = "rest"
bucket = "single_species"
description = "Nothing else applies"
[rule.when]
fallback = true
"""


@pytest.fixture
def rules_file(tmp_path) -> Path:
    p = tmp_path / "rules.toml"
    p.write_text(RULES, encoding="utf-8")
    return p


def rows_of(a: pl.DataFrame) -> dict[tuple, str]:
    return {(r["taxon_id"], r["bucket"]): r["rule"] for r in a.iter_rows(named=True)}


def test_conditions_on_a_small_set(rules_file):
    a = triage(small(), rules=rules_file)
    assert rows_of(a) == {
        ("t1", "single_species"): "specific",
        ("t1", "ex_situ"): "few|pe",
        ("t2", "ex_situ"): "few",  # "1-2": the whole range is <= 2; the ex situ answer is No
        ("t3", "single_species"): "plan",  # "2-5" is not <= 2 as a whole
        ("t7", "ex_situ"): "exsitu_yes",
    }
    assert a["taxon_id"].to_list() == ["t7", "t1", "t1", "t2", "t3"]  # EW, CR, EN, VU; buckets in order
    t1 = a.filter((pl.col("taxon_id") == "t1") & (pl.col("bucket") == "ex_situ")).row(0, named=True)
    assert json.loads(t1["evidence"]) == {
        "few": {"other_field": "2"},
        "pe": {"possibly_extinct": True},
    }
    assert (
        t1["reason"]
        == "Few locations (LocationsNumber.range = 2 (<= 2)); Possibly extinct (tagged possibly extinct)"
    )
    t1s = a.filter((pl.col("taxon_id") == "t1") & (pl.col("bucket") == "single_species")).row(0, named=True)
    assert json.loads(t1s["evidence"]) == {"specific": {"threat": ["8.2.2 High Impact"]}}
    assert t1s["scientific_name"] == "Fictus alpha" and t1s["category"] == "CR"


def test_include_near_threatened_and_data_deficient(rules_file):
    a = triage(small(), rules=rules_file, include=("NT", "DD"))
    got = rows_of(a)
    assert got[("t4", "single_species")] == "specific"  # NT with a high-impact 5.4.1
    assert got[("t5", "ex_situ")] == "few"  # DD with 1 location
    assert ("t6", "single_species") not in got  # LC is never triaged here
    only_cr = triage(small(), rules=rules_file, categories=("CR",))
    assert set(only_cr["taxon_id"]) == {"t1"}


def test_fallback_rule_and_species_without_bucket(rules_file):
    s = small()
    s.tables["other_fields"] = s.tables["other_fields"].clear()
    s.tables["research_needed"] = s.tables["research_needed"].clear()
    a = triage(s, rules=rules_file)
    assert rows_of(a)[("t3", "single_species")] == "rest"
    assert rows_of(a)[("t2", "single_species")] == "rest"
    t3 = a.filter(pl.col("taxon_id") == "t3").row(0, named=True)
    assert t3["reason"] == "Nothing else applies" and json.loads(t3["evidence"]) == {
        "rest": {"fallback": True}
    }
    # the fallback does not fire for a species another rule placed
    assert ("t1", "single_species") in rows_of(a) and rows_of(a)[("t1", "single_species")] == "specific"
    rules = [r for r in load_rules(rules_file) if not r.fallback]
    b = triage(s, rules=rules)
    none = b.filter(pl.col("bucket").is_null())
    assert set(none["taxon_id"]) == {"t2", "t3"} and none["rule"].null_count() == 2
    assert set(none["evidence"]) == {"{}"}


def test_shares_place_and_threat_count_other_threatened_species():
    s = build(
        [
            ("a1", "t1", "Fictus alpha", "CR"),
            ("a2", "t2", "Fictus beta", "EN"),
            ("a3", "t3", "Fictus gamma", "VU"),
            ("a4", "t4", "Fictus delta", "NT"),
        ],
        [("a1", "7.2.3", *HIGH), ("a2", "7.2.10", *MEDIUM), ("a3", "7.2.1", *LOW), ("a4", "7.2.1", *HIGH)],
        [("a1", "XA"), ("a2", "XA"), ("a3", "XA"), ("a4", "XA"), ("a3", "XB")],
    )
    doc = """
version = 1
[[rule]]
id = "site"
bucket = "site_based"
description = "Site"
[rule.when]
shares_place = { kinds = ["site"], min_others = 2 }
[[rule]]
id = "site_nt"
bucket = "site_based"
description = "Site with NT"
[rule.when]
shares_place = { kinds = ["site"], min_others = 3, categories = ["CR", "EN", "VU", "NT"] }
[[rule]]
id = "threat"
bucket = "threat_based"
description = "Threat"
[rule.when]
shares_threat = { min_others = 1, kinds = ["country"] }
[[rule]]
id = "threat_anywhere"
bucket = "threat_based"
description = "Threat anywhere"
[rule.when]
shares_threat = { min_others = 2, min_impact = "any", threat_level = 1, kinds = [] }
"""
    path_rules = load_rules_text(doc)
    links = pl.DataFrame(
        {"taxon_id": ["t1", "t2", "t3", "t4"], "site_id": ["S1"] * 4, "site_name": ["Lake"] * 4}
    )
    a = triage(s, rules=path_rules, site_links=links)
    got = rows_of(a)
    assert got[("t1", "site_based")] == "site|site_nt"  # 2 threatened others; 3 with the NT species
    assert got[("t1", "threat_based")] == "threat|threat_anywhere"  # Medium+: t1 and t2 only
    assert got[("t3", "threat_based")] == "threat_anywhere"  # its 7.2.1 is low impact
    ev = json.loads(
        a.filter((pl.col("taxon_id") == "t1") & (pl.col("bucket") == "threat_based"))["evidence"][0]
    )
    assert ev["threat"]["shares_threat"] == [{"cluster_id": "threat:7.2|country:XA", "others": 1}]
    assert ev["threat_anywhere"]["shares_threat"] == [{"cluster_id": "threat:7", "others": 2}]
    ev = json.loads(
        a.filter((pl.col("taxon_id") == "t1") & (pl.col("bucket") == "site_based"))["evidence"][0]
    )
    assert ev["site"]["shares_place"] == [{"place": "site:S1", "name": "Lake", "others": 2}]
    assert ev["site_nt"]["shares_place"] == [{"place": "site:S1", "name": "Lake", "others": 3}]
    assert "Lake (site S1, 2 others)" in a.filter(pl.col("bucket") == "site_based")["reason"][0]


def load_rules_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.toml"
        p.write_text(text, encoding="utf-8")
        return load_rules(p)


GOOD = """
version = 1
[[rule]]
id = "r1"
bucket = "ex_situ"
description = "x"
[rule.when]
category = ["CR"]
"""


@pytest.mark.parametrize(
    "old, new, words",
    [
        ('bucket = "ex_situ"', 'bucket = "zoo"', ["rule 'r1'", "'bucket'", "'zoo'", "unknown bucket"]),
        ('description = "x"', 'description = "x"\ncolour = "red"', ["rule 'r1'", "'colour'", "unknown key"]),
        ('category = ["CR"]', 'colour = ["CR"]', ["rule 'r1'", "'when.colour'", "unknown condition"]),
        (
            'category = ["CR"]',
            'other_field = { field = "LocationsNumber.range", op = "=<", value = 2 }',
            ["rule 'r1'", "'when.other_field.op'", "'=<'", "unknown operator"],
        ),
        (
            'category = ["CR"]',
            'other_field = { field = "LocationsNumber.range", op = "<=", value = "two" }',
            ["rule 'r1'", "'when.other_field.value'", "'two'", "must be a number"],
        ),
        (
            'category = ["CR"]',
            'shares_place = { kinds = ["site"], min_others = 0 }',
            ["rule 'r1'", "'when.shares_place.min_others'", "'0'", "whole number"],
        ),
        (
            'category = ["CR"]',
            'shares_place = { kinds = ["continent"], min_others = 2 }',
            ["'when.shares_place.kinds'", "'continent'", "unknown place kind"],
        ),
        (
            'category = ["CR"]',
            "shares_threat = { min_others = 2, threat_level = 7 }",
            ["'when.shares_threat.threat_level'", "'7'"],
        ),
        ('category = ["CR"]', "threat = [5.10]", ["'when.threat.codes'", "'5.1'", "quoted text"]),
        (
            'category = ["CR"]',
            'threat = { codes = ["8"], min_impact = "Huge" }',
            ["'when.threat.min_impact'", "'Huge'", "Low, Medium, High or any"],
        ),
        (
            'category = ["CR"]',
            'category = ["Critical"]',
            ["'when.category'", "'Critical'", "not a Red List category"],
        ),
        ('category = ["CR"]', 'in_place = ["InPlaceZoo"]', ["'when.in_place'", "'InPlaceZoo'"]),
        ('category = ["CR"]', "fallback = false", ["'when.fallback'", "must be true"]),
        ('id = "r1"', 'id = "R 1"', ["'id'", "'R 1'", "lower case"]),
        ("version = 1", "version = 2", ["'version'", "unsupported version"]),
        ("version = 1", "version = 1\nrules = 3", ["'rules'", "unknown top-level key"]),
        ('[rule.when]\ncategory = ["CR"]', "", ["rule 'r1'", "'when'"]),
    ],
)
def test_rule_file_errors_name_file_rule_key_and_value(tmp_path, old, new, words):
    assert old in GOOD
    p = tmp_path / "bad-rules.toml"
    p.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_rules(p)
    msg = str(e.value)
    assert "bad-rules.toml" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_rule_file_errors_duplicate_missing_and_not_toml(tmp_path):
    p = tmp_path / "dup.toml"
    p.write_text(GOOD + GOOD.replace("version = 1", ""), encoding="utf-8")
    with pytest.raises(InputError, match="rule 'r1'.*used by an earlier rule"):
        load_rules(p)
    with pytest.raises(InputError, match="no such rules file"):
        load_rules(tmp_path / "missing.toml")
    p.write_text("[[rule]\nid=", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_rules(p)
    assert load_rules(default_rules_path())  # the bundled file is valid


# ---------------------------------------------------------------------------------------------
# decisions
# ---------------------------------------------------------------------------------------------
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def decisions(*rows) -> pl.DataFrame:
    """rows: (taxon_id, bucket, decision, reason, made_by, minutes after T0)."""
    return pl.DataFrame(
        [
            {
                "taxon_id": r[0],
                "bucket": r[1],
                "decision": r[2],
                "reason": r[3],
                "made_by": r[4],
                "made_at": T0 + dt.timedelta(minutes=r[5]),
            }
            for r in rows
        ]
    )


@pytest.fixture
def suggested(rules_file) -> pl.DataFrame:
    return triage(small(), rules=rules_file)


def status_of(a: pl.DataFrame) -> dict[tuple, str]:
    return {(r["taxon_id"], r["bucket"]): r["status"] for r in a.iter_rows(named=True)}


def test_accept_reject_add_and_latest_wins(suggested):
    d = decisions(
        ("t1", "ex_situ", "reject", "no facility", "ana", 5),
        ("t1", "ex_situ", "accept", "zoo offered space", "ben", 10),  # later: wins
        ("t2", "ex_situ", "reject", "not needed", "ana", 3),
        ("t3", "site_based", "add", "shares Lake One with 4 species", "ana", 20),
        ("t3", "threat_based", "accept", None, "ana", 40),  # later row but earlier time: loses
        ("t3", "threat_based", "reject", "no common threat", "ben", 30),
    )
    # order of rows must not matter: shuffle so the latest decision comes first
    a = apply_decisions(suggested, d.reverse())
    st = status_of(a)
    assert st[("t1", "ex_situ")] == "accepted"
    assert st[("t2", "ex_situ")] == "rejected"  # the row stays, so the rejection shows
    assert st[("t3", "site_based")] == "added"
    assert st[("t3", "threat_based")] == "accepted"  # 40 minutes beats 30; no rule suggested it
    assert st[("t1", "single_species")] == "suggested"
    t1 = a.filter((pl.col("taxon_id") == "t1") & (pl.col("bucket") == "ex_situ")).row(0, named=True)
    assert (t1["decided_by"], t1["decision_reason"]) == ("ben", "zoo offered space")
    assert t1["decided_at"] == T0 + dt.timedelta(minutes=10)
    assert t1["rule"] == "few|pe"  # the suggestion's rule and evidence are kept
    added = a.filter((pl.col("taxon_id") == "t3") & (pl.col("bucket") == "site_based")).row(0, named=True)
    assert added["rule"] is None and added["reason"] == "shares Lake One with 4 species"
    assert (added["scientific_name"], added["category"]) == ("Fictus gamma", "VU")
    kept = a.filter((pl.col("taxon_id") == "t3") & (pl.col("bucket") == "threat_based")).row(0, named=True)
    assert kept["rule"] is None and "no rule suggests it now" in kept["reason"]
    assert a.schema == pl.Schema(ASSIGNMENT_COLUMNS)
    summary = bucket_summary(a)
    assert summary["bucket"].to_list() == list(BUCKETS)
    got = {
        r["bucket"]: (r["suggested"], r["accepted"], r["rejected"], r["added"], r["species"])
        for r in summary.iter_rows(named=True)
    }
    assert got == {
        "single_species": (2, 0, 0, 0, 2),
        "site_based": (0, 0, 0, 1, 1),
        "threat_based": (0, 1, 0, 0, 1),
        "ex_situ": (1, 1, 1, 0, 2),
    }


def test_reject_of_an_added_bucket_removes_it_and_add_of_a_suggested_one_accepts(suggested):
    d = decisions(
        ("t3", "site_based", "add", "maybe", "ana", 1),
        ("t3", "site_based", "reject", "on second thought", "ana", 2),
        ("t1", "single_species", "add", "agreed", "ana", 3),
    )
    a = apply_decisions(suggested, d)
    st = status_of(a)
    assert ("t3", "site_based") not in st
    assert st[("t1", "single_species")] == "accepted"


def test_decisions_survive_a_new_assessment_of_the_same_taxon(rules_file):
    old = small()
    d = decisions(
        ("t2", "ex_situ", "accept", "keep", "ana", 1), ("t3", "ex_situ", "add", "ECA planned", "ana", 2)
    )
    before = apply_decisions(triage(old, rules=rules_file), d)
    new = small()
    t = new.tables
    t["assessments"] = t["assessments"].with_columns(
        pl.col("assessment_id") + "-2025", pl.lit(2025).alias("year_published")
    )
    for name in ("threats", "occurrence", "other_fields", "actions_in_place", "research_needed"):
        t[name] = t[name].with_columns(pl.col("assessment_id") + "-2025")
    after = apply_decisions(triage(new, rules=rules_file), d)
    assert status_of(after) == status_of(before)
    assert status_of(after)[("t2", "ex_situ")] == "accepted"


def test_orphan_decisions_and_taxa_outside_the_triage(suggested):
    d = decisions(
        ("t99", "ex_situ", "accept", "gone", "ana", 1),  # not in the set any more
        ("t6", "single_species", "add", "LC but local plan", "ana", 2),  # in the set, not triaged
    )
    a = apply_decisions(suggested, d)
    assert "t99" not in set(a["taxon_id"]) and "t6" not in set(a["taxon_id"])
    assert set(orphan_decisions(suggested, d)["taxon_id"]) == {"t99", "t6"}
    taxa = pl.DataFrame({"taxon_id": ["t6"], "scientific_name": ["Fictus zeta"], "category": ["LC"]})
    b = apply_decisions(suggested, d, taxa=taxa)
    row = b.filter(pl.col("taxon_id") == "t6").row(0, named=True)
    assert (row["status"], row["category"], row["bucket"]) == ("added", "LC", "single_species")
    assert orphan_decisions(suggested, d, taxa=taxa)["taxon_id"].to_list() == ["t99"]


def test_add_removes_the_no_bucket_row(rules_file):
    s = small()
    rules = [r for r in load_rules(rules_file) if not r.fallback]
    s.tables["research_needed"] = s.tables["research_needed"].clear()
    a = triage(s, rules=rules)
    assert a.filter(pl.col("taxon_id") == "t3")["bucket"].to_list() == [None]
    b = apply_decisions(a, decisions(("t3", "threat_based", "add", "dams", "ana", 1)))
    assert b.filter(pl.col("taxon_id") == "t3")["bucket"].to_list() == ["threat_based"]
    summary = bucket_summary(a)
    assert summary["bucket"].to_list() == [*BUCKETS, None]
    assert summary.row(4, named=True)["suggested"] == 1


@pytest.mark.parametrize(
    "column, value, words",
    [
        ("decision", "maybe", "decision must be one of accept, reject, add"),
        ("bucket", "zoo", "bucket must be one of"),
    ],
)
def test_bad_decisions_are_refused(suggested, column, value, words):
    d = decisions(("t1", "ex_situ", "accept", None, "ana", 1), ("t2", "ex_situ", "accept", None, "ana", 2))
    d = d.with_columns(
        pl.when(pl.col("taxon_id") == "t2").then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(InputError) as e:
        apply_decisions(suggested, d)
    msg = str(e.value)
    assert words in msg and "row 2" in msg and repr(value) in msg and repr(column) in msg
    with pytest.raises(InputError, match="missing column"):
        apply_decisions(suggested, d.drop("decision"))


def test_naive_timestamps_count_as_utc_and_no_decisions_change_nothing(suggested):
    d = decisions(("t1", "ex_situ", "accept", None, "ana", 0)).with_columns(
        pl.col("made_at").dt.replace_time_zone(None)
    )
    a = apply_decisions(suggested, d)
    assert a.filter(pl.col("status") == "accepted")["decided_at"][0] == T0
    assert apply_decisions(suggested, None).equals(suggested)
    assert apply_decisions(suggested, d.clear()).equals(suggested)


def test_empty_set_and_reapplying_decisions(suggested):
    from assess2plan.model import AssessmentSet

    empty = triage(AssessmentSet())
    assert empty.height == 0 and empty.schema == pl.Schema(ASSIGNMENT_COLUMNS)
    assert bucket_summary(empty)["species"].to_list() == [0, 0, 0, 0]
    d = decisions(("t3", "site_based", "add", "lake", "ana", 1), ("t1", "ex_situ", "reject", "no", "ana", 2))
    once = apply_decisions(suggested, d)
    assert apply_decisions(once, d).equals(once)
