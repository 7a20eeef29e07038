"""The ex situ pre-screen (assess2plan.exsitu.prescreen) and the rule-engine hooks it uses.

Which taxa each bundled rule flags is recomputed here from the CSV files with the csv module, on
the bundled fictional example and on the real Pacific download. The holdings and CITES
conditions run on small frames built here with the schemas of assess2plan.model; rules files
with errors must be refused with the file, rule, key and value named.
"""

from __future__ import annotations

import csv
import dataclasses
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
from assess2plan.exsitu.prescreen import (
    PRESCREEN_COLUMNS,
    PRESCREEN_CONDITIONS,
    cited,
    default_prescreen_path,
    load_prescreen_rules,
    prescreen,
    prescreen_rules_frame,
)
from assess2plan.io.download import read_download
from assess2plan.model import CITES_MATCH_SCHEMA, HOLDINGS_SCHEMA
from assess2plan.planning.triage import load_rules
from tests.conftest import ROOT, shared_path
from tests.test_planning_clusters import DOWNLOADS, impact_rank

DOWNLOAD = example_path() / "download"
CATS = {
    "Extinct": "EX",
    "Extinct in the Wild": "EW",
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Lower Risk/near threatened": "LR/nt",
    "Lower Risk/conservation dependent": "LR/cd",
}
NOT_LC = {"EW", "CR", "EN", "VU", "NT", "DD", "LR/cd", "LR/nt"}
BUNDLED_ENABLED = [
    "extinct_in_the_wild",
    "critically_endangered",
    "possibly_extinct",
    "few_locations",
    "rapid_decline",
    "irreversible_threat",
    "research_on_actions",
    "ex_situ_action_needed",
    "ex_situ_in_place",
    "ex_situ_holdings",
]


# ---------------------------------------------------------------------------------------------
# independent reading of a download folder with the csv module
# ---------------------------------------------------------------------------------------------
def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    p = folder / name
    if not p.exists():
        return []
    with p.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def under(code: str, prefixes: tuple[str, ...]) -> bool:
    return any(code == p or code.startswith(p + ".") for p in prefixes)


def letters_cited(text: str) -> set[str]:
    """Written again here: "A2ace; B1ab(iii)+2ab(iii)" -> {A, A2, B, B1, B2}."""
    out: set[str] = set()
    for part in text.split(";"):
        part = part.strip()
        if part and part[0] in "ABCDE":
            out.add(part[0])
            first = re.match(r"[A-E](\d?)", part).group(1)
            numbers = [first, *re.findall(r"\+(\d)", part)]
            out.update(part[0] + n for n in numbers if n)
    return out


class Reading:
    """Latest Global assessment per taxon (year published, date, id) and its rows."""

    def __init__(self, folders: list[Path]) -> None:
        best: dict[str, dict] = {}
        for folder in folders:
            for r in _rows(folder, "assessments.csv"):
                if "Global" not in (r.get("scopes") or "Global"):
                    continue
                key = (int(r["yearPublished"] or 0), r["assessmentDate"] or "", r["assessmentId"])
                if r["internalTaxonId"] not in best or key > best[r["internalTaxonId"]]["_key"]:
                    best[r["internalTaxonId"]] = {**r, "_key": key}
        self.best = best
        self.category = {t: CATS.get(r["redlistCategory"], r["redlistCategory"]) for t, r in best.items()}
        aid = {r["assessmentId"]: t for t, r in best.items()}
        self.threats: dict[str, dict[str, int]] = defaultdict(dict)
        self.actions: dict[str, set[str]] = defaultdict(set)
        self.research: dict[str, set[str]] = defaultdict(set)
        self.other: dict[str, dict[str, str]] = defaultdict(dict)
        for folder in folders:
            for r in _rows(folder, "threats.csv"):
                t = aid.get(r["assessmentId"])
                if t:
                    self.threats[t][r["code"]] = impact_rank(r["timing"], r["scope"], r["severity"])
            for name, target in (
                ("conservation_needed.csv", self.actions),
                ("research_needed.csv", self.research),
            ):
                for r in _rows(folder, name):
                    t = aid.get(r["assessmentId"])
                    if t and r["code"]:
                        target[t].add(r["code"].strip())
            for r in _rows(folder, "all_other_fields.csv"):
                t = aid.get(r["assessmentId"])
                if t:
                    self.other[t] = r

    def expected(self) -> dict[str, list[str]]:
        """taxon -> the bundled rules (in file order) that should fire without holdings."""
        out: dict[str, list[str]] = {}
        for t, cat in self.category.items():
            r = self.best[t]
            cr_en = cat in ("CR", "EN")
            locations = (self.other[t].get("LocationsNumber.range") or "").strip()
            nums = [float(x) for x in locations.split("-")] if re.fullmatch(r"\d+(-\d+)?", locations) else []
            exsitu = (self.other[t].get("InPlaceSpeciesManagementExSitu.value") or "").strip().lower()
            tests = {
                "extinct_in_the_wild": cat == "EW",
                "critically_endangered": cat == "CR",
                "possibly_extinct": cat == "CR"
                and "true" in (r["possiblyExtinct"].lower(), r["possiblyExtinctInTheWild"].lower()),
                "few_locations": cr_en and bool(nums) and max(nums) <= 2,
                "rapid_decline": cr_en and bool({"A", "C1"} & letters_cited(r["redlistCriteria"])),
                "irreversible_threat": cr_en
                and any(under(c, ("8", "11")) and rank >= 1 for c, rank in self.threats[t].items()),
                "research_on_actions": cr_en and any(under(c, ("1.6",)) for c in self.research[t]),
                "ex_situ_action_needed": cat in ("EW", "CR", "EN", "VU")
                and any(under(c, ("3.4",)) for c in self.actions[t]),
                "ex_situ_in_place": cat in NOT_LC and exsitu == "yes",
            }
            fired = [k for k, v in tests.items() if v]
            if fired:
                out[t] = fired
        return out


def by_rule(expected: dict[str, list[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for t, rules in expected.items():
        for r in rules:
            out[r].add(t)
    return out


def got_rules(df: pl.DataFrame) -> dict[str, list[str]]:
    return {r["taxon_id"]: r["rules"].split("|") for r in df.iter_rows(named=True)}


@pytest.fixture(scope="module")
def example():
    return read_download([DOWNLOAD]), Reading([DOWNLOAD])


# ---------------------------------------------------------------------------------------------
# the bundled rules on the fictional example
# ---------------------------------------------------------------------------------------------
def test_bundled_rules_on_the_example_match_an_independent_reading(example):
    s, ind = example
    df = prescreen(s)
    assert df.schema == pl.Schema(PRESCREEN_COLUMNS)
    expected = ind.expected()
    assert got_rules(df) == expected
    assert df["flagged"].all() and df["taxon_id"].is_unique().all()
    # every enabled rule but the holdings rule has a species to flag in the example
    rules = by_rule(expected)
    assert set(rules) == set(BUNDLED_ENABLED) - {"ex_situ_holdings"}
    # EN species come in through their own rules only (few locations, rapid decline, ...)
    assert rules["rapid_decline"] == {"990000002", "990000005", "990000020", "990000025", "990000034"}
    assert "990000003" in rules["irreversible_threat"]  # EN, 8.1.2 Medium impact
    assert rules["ex_situ_action_needed"] == {"990000001"}  # the 3.4.1 candidate of the README
    # order: EW first, then CR, then EN, by name within a category
    cats = df["category"].to_list()
    assert cats == sorted(cats, key=["EW", "CR", "EN", "VU", "NT", "LR/nt", "LC", "DD"].index)
    cr = df.filter(pl.col("category") == "CR")["scientific_name"].to_list()
    assert cr == sorted(cr)


def test_reasons_and_evidence_name_each_rule_with_the_species_values(example):
    s, _ = example
    df = prescreen(s)
    descriptions = {r.id: r.description for r in load_prescreen_rules()}
    for row in df.iter_rows(named=True):
        ids = row["rules"].split("|")
        ev = json.loads(row["evidence"])
        assert list(ev) == ids
        assert row["reasons"].startswith(descriptions[ids[0]])
        for rid in ids:
            assert descriptions[rid] in row["reasons"]
    pe = df.filter(pl.col("taxon_id") == "990000002").row(0, named=True)
    ev = json.loads(pe["evidence"])
    assert ev["rapid_decline"] == {"category": "CR", "criteria": "A2ace; B2ab(ii,iii,v)"}
    assert ev["possibly_extinct"] == {"category": "CR", "possibly_extinct": True}
    assert ev["research_on_actions"]["research_needed"] == ["1.6"]
    assert "criteria A2ace; B2ab(ii,iii,v)" in pe["reasons"]
    ew = df.filter(pl.col("category") == "EW").row(0, named=True)
    assert json.loads(ew["evidence"])["ex_situ_in_place"]["in_place"] == ["InPlaceSpeciesManagementExSitu"]


def test_categories_scope_and_unflagged_taxa(example):
    s, ind = example
    everyone = prescreen(s, include_unflagged=True)
    assert set(everyone["taxon_id"]) == set(ind.category)  # all 40 taxa, whatever the category
    flagged = set(ind.expected())
    assert set(everyone.filter(pl.col("flagged"))["taxon_id"]) == flagged
    rest = everyone.filter(~pl.col("flagged"))
    assert rest["rules"].null_count() == rest.height and set(rest["evidence"]) == {"{}"}
    only_en = prescreen(s, categories=("EN",))
    assert set(only_en["taxon_id"]) == {t for t in flagged if ind.category[t] == "EN"}
    assert set(prescreen(s, categories="CR, EW")["category"]) == {"CR", "EW"}
    assert prescreen(s, scope="Europe").height == 0  # the example holds Global assessments only
    with pytest.raises(InputError, match="not a Red List category"):
        prescreen(s, categories=("Critical",))


def test_disabled_rules_can_be_switched_on(example):
    s, ind = example
    rules = [dataclasses.replace(r, enabled=True) for r in load_prescreen_rules()]
    got = by_rule(got_rules(prescreen(s, rules)))
    declining = {
        t
        for t, c in ind.category.items()
        if c in ("EN", "VU") and ind.best[t]["populationTrend"] == "Decreasing"
    }
    assert declining and got["declining_threatened"] == declining
    assert "cites_appendix_i" not in got  # no CITES data given: the condition does not fire


# ---------------------------------------------------------------------------------------------
# the criteria condition
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, version, expected",
    [
        ("A2ace", "3.1", {"A", "A2"}),
        ("B1ab(iii)", "3.1", {"B", "B1"}),
        ("A2bd+3d", "3.1", {"A", "A2", "A3"}),
        ("A2ace; B1ab(i,iii,iv)", "3.1", {"A", "A2", "B", "B1"}),
        ("B1ab(iii,v)+2ab(iii,v)", "3.1", {"B", "B1", "B2"}),
        ("C2a(i)", "3.1", {"C", "C2"}),
        ("D", "3.1", {"D"}),
        ("B1+2c", "2.3", {"B", "B1", "B2"}),  # v2.3 grammar, read by its letters
        ("A1ac", "2.3", {"A", "A1"}),
        ("", "3.1", set()),
    ],
)
def test_criteria_cited(text, version, expected):
    assert cited(text, version) == expected
    if text and version == "3.1":
        assert letters_cited(text) == expected


def rules_text(*rules: str) -> str:
    return "version = 1\n" + "\n".join(rules)


def rule(rid: str, when: str, extra: str = "") -> str:
    return f'[[rule]]\nid = "{rid}"\ndescription = "{rid} found"\n{extra}[rule.when]\n{when}\n'


def test_a_custom_rules_file_on_the_example(example, tmp_path):
    s, ind = example
    p = tmp_path / "mine.toml"
    p.write_text(
        rules_text(
            rule("b_listed", 'criteria = ["B"]'),
            rule("b2_vu", 'criteria = ["B2"]\ncategory = ["VU"]'),
            rule("c_or_d2", 'criteria = ["C", "D2"]'),
            rule("stable", 'population_trend = ["stable"]'),
            rule("lc_with_threat", 'category = ["LC"]\nthreat = { codes = ["11"] }'),
        ),
        encoding="utf-8",
    )
    df = prescreen(s, p)
    got = by_rule(got_rules(df))
    crit = {t: letters_cited(ind.best[t]["redlistCriteria"]) for t in ind.category}
    assert got["b_listed"] == {t for t, c in crit.items() if "B" in c}
    assert got["b2_vu"] == {t for t, c in crit.items() if "B2" in c and ind.category[t] == "VU"}
    assert got["c_or_d2"] == {t for t, c in crit.items() if c & {"C", "D2"}}
    assert got["stable"] == {t for t, r in ind.best.items() if r["populationTrend"] == "Stable"}
    assert got["lc_with_threat"] == {
        t for t, c in ind.category.items() if c == "LC" and any(under(x, ("11",)) for x in ind.threats[t])
    }
    assert all(got.values())
    # "B1ab(iii)" is not criterion A: the LC species with planted criteria B1ab(iii) cites only B
    assert "990000007" in got["b_listed"] and not crit["990000007"] & {"A"}
    # the same rules as a frame (no bucket column)
    frame = prescreen_rules_frame(p)
    assert frame.columns == ["id", "enabled", "description", "conditions", "rationale", "source"]
    assert frame["id"].to_list() == ["b_listed", "b2_vu", "c_or_d2", "stable", "lc_with_threat"]
    assert "criteria values=['C', 'D2']" in frame["conditions"][2]


GOOD = rules_text(rule("r1", 'category = ["CR"]'))


@pytest.mark.parametrize(
    "when, words",
    [
        ('colour = ["red"]', ["'when.colour'", "unknown condition", "criteria", "holdings"]),
        ('criteria = ["F"]', ["'when.criteria'", "'F'", "not a Red List criterion"]),
        ('criteria = ["a"]', ["'when.criteria'", "'a'", "upper-case"]),
        ('criteria = ["B3"]', ["'when.criteria'", "'B3'", "not a Red List criterion"]),
        ('criteria = ["E1"]', ["'when.criteria'", "'E1'"]),
        ('criteria = ["A2ace"]', ["'when.criteria'", "'A2ace'"]),
        ("criteria = [2]", ["'when.criteria'", "'2'"]),
        ("criteria = []", ["'when.criteria'", "non-empty list"]),
        ('population_trend = ["Falling"]', ["'when.population_trend'", "'Falling'", "Decreasing"]),
        ("holdings = { min_animals = 1 }", ["'when.holdings.min_animals'", "unknown key"]),
        ("holdings = { min_individuals = 0 }", ["'when.holdings.min_individuals'", "'0'", "whole number"]),
        ('holdings = "yes"', ["'when.holdings'", "must be a table"]),
        ('cites = ["IV"]', ["'when.cites'", "'IV'", "not a CITES appendix"]),
        ("fallback = true", ["'when.fallback'", "no fallback"]),
        ('category = ["CR"]\nthreat = { codes = ["8"], min_impact = "Huge" }', ["'when.threat.min_impact'"]),
    ],
)
def test_rules_file_errors_name_file_rule_key_and_value(tmp_path, when, words):
    p = tmp_path / "bad-prescreen.toml"
    p.write_text(GOOD.replace('category = ["CR"]', when), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_prescreen_rules(p)
    msg = str(e.value)
    assert "bad-prescreen.toml" in msg and "rule 'r1'" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


def test_rules_file_errors_bucket_key_missing_file_and_not_toml(tmp_path, example):
    s, _ = example
    p = tmp_path / "bucket.toml"
    p.write_text(GOOD.replace('description = "r1 found"', 'bucket = "ex_situ"\ndescription = "r1 found"'))
    with pytest.raises(InputError, match=r"rule 'r1'.*unknown key 'bucket'"):
        load_prescreen_rules(p)
    with pytest.raises(InputError, match="no such rules file"):
        prescreen(s, tmp_path / "missing.toml")
    p.write_text("[[rule]\nid=", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        prescreen_rules_frame(p)
    # the pre-screen's conditions belong to the pre-screen: the triage rules do not know them
    p.write_text(rules_text(rule("r1", 'criteria = ["A"]', 'bucket = "ex_situ"\n')), encoding="utf-8")
    with pytest.raises(InputError, match="unknown condition 'criteria'"):
        load_rules(p)
    assert load_prescreen_rules(default_prescreen_path())


# ---------------------------------------------------------------------------------------------
# holdings and CITES conditions on small frames
# ---------------------------------------------------------------------------------------------
def holdings_frame(*rows) -> pl.DataFrame:
    """rows: (name, taxon_id, institution, total, date)."""
    return pl.DataFrame(
        [
            {
                "name": r[0],
                "taxon_id": r[1],
                "matched_by": "name" if r[1] else None,
                "institution": r[2],
                "country": "XA",
                "males": None,
                "females": None,
                "unknown": r[3],
                "total": r[3],
                "date": r[4],
                "source": "test",
                "row": i,
            }
            for i, r in enumerate(rows, start=1)
        ],
        schema=HOLDINGS_SCHEMA,
    )


D1, D2 = dt.date(2024, 5, 1), dt.date(2026, 1, 31)


def test_holdings_condition(example, tmp_path):
    s, ind = example
    h = holdings_frame(
        ("Sollenogobius deltae", "990000010", "Zoo A", 3, D2),  # NT, held: flagged
        ("Tamberopotamon vulgare", "990000017", "Zoo A", 12, D2),  # LC: the bundled rule leaves it out
        ("Oskarisilurus oskari", "990000012", "Zoo B", 4, D1),  # DD, but the newer census says 0
        ("Oskarisilurus oskari", "990000012", "Zoo B", 0, D2),
        ("Greyfenocarcinus rufus", "990000019", "Zoo A", 2, D1),  # DD, 2 institutions, 1 + 2 records
        ("Greyfenocarcinus rufus", "990000019", "Zoo C", 1, D2),
        ("Greyfenocarcinus rufus", "990000019", "Zoo C", 1, D2),
        ("Nomen ignotum", None, "Zoo A", 9, D2),  # unmatched: ignored
    )
    df = prescreen(s, holdings=h)
    got = by_rule(got_rules(df))
    assert got["ex_situ_holdings"] == {"990000010", "990000019"}
    row = df.filter(pl.col("taxon_id") == "990000019").row(0, named=True)
    assert json.loads(row["evidence"])["ex_situ_holdings"]["holdings"] == {
        "individuals": 4,
        "institutions": 2,
    }
    assert "ex situ holdings: 4 individual(s) in 2 institution(s)" in row["reasons"]
    # everything else is as without holdings
    rest = {t: [r for r in rules if r != "ex_situ_holdings"] for t, rules in got_rules(df).items()}
    assert {t: r for t, r in rest.items() if r} == ind.expected()
    # thresholds of a rules file
    p = tmp_path / "h.toml"
    p.write_text(
        rules_text(
            rule("two_places", "holdings = { min_institutions = 2 }"),
            rule("ten", "holdings = { min_individuals = 10 }"),
            rule("any", "holdings = true"),
        ),
        encoding="utf-8",
    )
    got = by_rule(got_rules(prescreen(s, p, holdings=h)))
    assert got == {
        "two_places": {"990000019"},
        "ten": {"990000017"},
        "any": {"990000010", "990000017", "990000019"},
    }
    assert prescreen(s, p).height == 0  # no holdings table: the condition does not fire
    with pytest.raises(InputError, match="ex situ holdings.*taxon_id"):
        prescreen(s, p, holdings=h.drop("taxon_id"))


def cites_frame(*rows) -> pl.DataFrame:
    """rows: (taxon_id, listing, cites_name, cites_rank, matched_by)."""
    return pl.DataFrame(
        [
            {
                "taxon_id": r[0],
                "scientific_name": None,
                "listing": r[1],
                "annotation": None,
                "cites_name": r[2],
                "cites_rank": r[3],
                "matched_by": r[4],
            }
            for r in rows
        ],
        schema=CITES_MATCH_SCHEMA,
    )


def test_cites_condition(example, tmp_path):
    s, _ = example
    c = cites_frame(
        ("990000004", "I", "Mirrenichthys smaragdinus", "SPECIES", "name"),  # VU
        ("990000008", "I/II", "Tamberosalmo", "GENUS", "genus"),  # VU, through its genus
        ("990000015", "II", "Tamberosalmo relictus", "SPECIES", "name"),  # VU, Appendix II only
        ("990000007", "I", "Oskarichromis minima", "SPECIES", "name"),  # LC
    )
    rules = [
        dataclasses.replace(r, enabled=True) for r in load_prescreen_rules() if r.id == "cites_appendix_i"
    ]
    df = prescreen(s, rules, cites=c)
    assert set(df["taxon_id"]) == {"990000004", "990000008"}
    genus = df.filter(pl.col("taxon_id") == "990000008").row(0, named=True)
    assert "CITES I/II (listed as genus Tamberosalmo)" in genus["reasons"]
    assert json.loads(genus["evidence"])["cites_appendix_i"]["cites"] == "I/II"
    p = tmp_path / "c.toml"
    p.write_text(
        rules_text(rule("app2", 'cites = ["ii"]'), rule("app3", 'cites = ["III"]')), encoding="utf-8"
    )
    got = by_rule(got_rules(prescreen(s, p, cites=c)))
    assert got == {"app2": {"990000008", "990000015"}}
    assert prescreen(s, rules).height == 0  # no CITES frame: nothing fires
    with pytest.raises(InputError, match="CITES listings.*listing"):
        prescreen(s, rules, cites=c.drop("listing"))


# ---------------------------------------------------------------------------------------------
# the bundled rules and their documentation
# ---------------------------------------------------------------------------------------------
def test_bundled_rules_are_documented():
    rules = load_prescreen_rules()
    assert [r.id for r in rules if r.enabled] == BUNDLED_ENABLED
    assert {r.id for r in rules if not r.enabled} == {"declining_threatened", "cites_appendix_i"}
    for r in rules:
        assert r.description and r.rationale and r.source, r.id
        assert r.bucket == "ex_situ"
    raw = tomllib.loads(default_prescreen_path().read_text(encoding="utf-8"))
    assert [r["id"] for r in raw["rule"]] == [r.id for r in rules]
    doc = (ROOT / "docs" / "exsitu-prescreen.md").read_text(encoding="utf-8")
    for r in rules:
        assert f"`{r.id}`" in doc, f"docs/exsitu-prescreen.md does not explain rule {r.id}"
    for name in PRESCREEN_CONDITIONS:
        assert f"`{name} = " in doc, f"docs/exsitu-prescreen.md does not explain condition {name}"
    text = default_prescreen_path().read_text(encoding="utf-8")
    for name in PRESCREEN_CONDITIONS:
        assert f"#     {name} = " in text, f"prescreen.toml does not document {name}"
    frame = prescreen_rules_frame()
    assert frame["id"].to_list() == [r.id for r in rules]
    assert frame.filter(pl.col("id") == "cites_appendix_i")["enabled"][0] is False


# ---------------------------------------------------------------------------------------------
# real data: the Pacific download
# ---------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_pacific_every_cr_species_is_flagged_and_counts_match():
    folders = [shared_path("redlist-download", d) for d in DOWNLOADS]
    s = read_download(folders)
    ind = Reading(folders)
    df = prescreen(s)
    cr = {t for t, c in ind.category.items() if c == "CR"}
    assert cr and cr <= set(df["taxon_id"])
    expected = ind.expected()
    assert got_rules(df) == expected
    got, want = by_rule(got_rules(df)), by_rule(expected)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}
    # the Pacific set has EN species flagged for a rapid decline, and VU species never flagged
    assert want["rapid_decline"] - cr
    assert not {t for t in df["taxon_id"] if ind.category[t] == "VU"} - want["ex_situ_action_needed"]
