"""Consistency checks (assess2plan.checks): each rule on small hand-made sets, firing and not
firing; the registry and configuration; and real-data checks on the Pacific marine download,
recomputed independently from the CSV files with Python's csv module."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from assess2plan.checks import (
    RULES,
    SEVERITIES,
    CheckConfig,
    Finding,
    check_frame,
    completeness,
    default_settings,
    findings_frame,
    rules_frame,
    run_checks,
)
from assess2plan.errors import InputError
from assess2plan.model import AssessmentSet
from tests.conftest import ROOT, shared_path

TODAY = dt.date(2025, 6, 1)


# -- building small sets --------------------------------------------------------------------------
def A(aid: str, **kw) -> dict:
    """An assessment row with harmless defaults (LC, stable, assessed 2020, global)."""
    row = {
        "assessment_id": aid,
        "taxon_id": kw.pop("taxon_id", f"t{aid}"),
        "scientific_name": kw.pop("scientific_name", f"Species {aid}"),
        "category": "LC",
        "criteria": None,
        "criteria_version": "3.1",
        "year_published": 2020,
        "assessment_date": dt.date(2020, 1, 1),
        "scopes": "Global",
        "possibly_extinct": False,
        "possibly_extinct_in_the_wild": False,
        "population_trend": "Stable",
    }
    row.update(kw)
    return row


def T(aid: str, code: str, impact: str = "Low Impact", timing: str = "Ongoing", **kw) -> dict:
    return {"assessment_id": aid, "taxon_id": f"t{aid}", "code": code, "impact": impact, "timing": timing, **kw}


def C(aid: str, code: str, **kw) -> dict:
    """A row of a coded child table (actions_needed, research_needed, habitats)."""
    return {"assessment_id": aid, "taxon_id": f"t{aid}", "code": code, **kw}


def P(aid: str, field: str, value: str) -> dict:
    return {"assessment_id": aid, "taxon_id": f"t{aid}", "field": field, "value": value}


def O(aid: str, code: str, kind: str = "country", **kw) -> dict:  # noqa: E743
    return {"assessment_id": aid, "taxon_id": f"t{aid}", "kind": kind, "code": code, **kw}


def make_set(assessments: list[dict], **children: list[dict]) -> AssessmentSet:
    frames = {"assessments": pl.DataFrame(assessments, infer_schema_length=None)}
    for name, rows in children.items():
        if rows:
            frames[name] = pl.DataFrame(rows, infer_schema_length=None)
    return AssessmentSet.from_frames(frames)


def found(aset: AssessmentSet, rule: str, **kw) -> list[Finding]:
    kw.setdefault("today", TODAY)
    return run_checks(aset, rules=[rule], **kw)


def ids(findings: list[Finding]) -> list[str]:
    return sorted(f.assessment_id for f in findings if f.assessment_id)


# -- completeness ---------------------------------------------------------------------------------
def _full(aid: str) -> dict:
    return {
        "threats": [T(aid, "5.4.4")],
        "actions_needed": [C(aid, "3.1.1")],
        "research_needed": [C(aid, "1.2")],
        "actions_in_place": [P(aid, "InPlaceResearchRecoveryPlan", "No")],
        "habitats": [C(aid, "9.8")],
        "occurrence": [O(aid, "AU")],
    }


def _merge(*parts: dict) -> dict:
    out: dict[str, list] = defaultdict(list)
    for p in parts:
        for k, v in p.items():
            out[k].extend(v)
    return dict(out)


def test_completeness_fires_below_threshold_only():
    children = _merge(_full("1"), {"habitats": [C("2", "9.8")], "occurrence": [O("2", "AU")]})
    s = make_set([A("1"), A("2"), A("3")], **children)
    f = found(s, "completeness_low")
    assert ids(f) == ["2", "3"]
    by = {x.assessment_id: x for x in f}
    assert by["3"].evidence["score"] == 0
    assert by["2"].evidence["score"] == 25  # habitats 10 + countries 15 of 100
    assert by["2"].evidence["missing"] == ["threats", "actions_needed", "research_needed", "actions_in_place"]
    assert "threshold 60" in by["2"].message
    scores = completeness(s).sort("assessment_id")
    assert scores["score"].to_list() == [100, 25, 0]


def test_completeness_counts_no_threats_statement_and_threshold_is_configurable():
    children = _merge(_full("1"), {"other_fields": [P("2", "NoThreats.noThreats", "true")]})
    children["actions_needed"] += [C("2", "1.1")]
    children["research_needed"] += [C("2", "1.2")]
    children["actions_in_place"] += [P("2", "InPlaceResearchRecoveryPlan", "Yes")]
    s = make_set([A("1"), A("2")], **children)
    scores = completeness(s).sort("assessment_id")
    assert scores["threats"].to_list() == [True, True]
    assert scores["score"].to_list() == [100, 75]
    assert found(s, "completeness_low") == []
    f = found(s, "completeness_low", config={"rules": {"completeness_low": {"threshold": 80}}})
    assert ids(f) == ["2"]


def test_completeness_leaves_out_tables_absent_from_the_export():
    # no research_needed / actions_in_place rows anywhere: a website download
    s = make_set([A("1"), A("2")], threats=[T("1", "1.1")], actions_needed=[C("1", "1.1")], habitats=[C("2", "1.4")], occurrence=[O("2", "FR")])
    scores = completeness(s).sort("assessment_id")
    assert scores["not_in_export"][0].to_list() == ["research_needed", "actions_in_place"]
    assert scores["score"].to_list() == [64, 36]  # (25+20)/70, (10+15)/70
    assert ids(found(s, "completeness_low")) == ["2"]
    off = {"general": {"skip_absent_tables": False}}
    assert completeness(s, config=off).sort("assessment_id")["score"].to_list() == [45, 25]


# -- threats <-> actions --------------------------------------------------------------------------
def _threat_action_set() -> AssessmentSet:
    return make_set(
        [A(str(i)) for i in range(1, 7)],
        threats=[
            T("1", "8.1.2", "High Impact"),  # addressed by 2.2
            T("2", "8.1.2", "High Impact"),  # 1.1 does not address invasive species
            T("3", "8.1.2", "Low Impact"),  # not a major threat
            T("4", "12.1", "High Impact"),  # crosswalk says nothing: not judged
            T("5", "5.4.4", "Medium Impact"),  # 3.1 (coarser than 3.1.1) addresses it
            T("6", "5.4", "Medium Impact"),  # level-2 threat, action 3.1.1
        ],
        actions_needed=[C("1", "2.2"), C("2", "1.1"), C("3", "1.1"), C("4", "1.1"), C("5", "3.1"), C("6", "3.1.1")],
    )


def test_major_threat_without_action():
    f = found(_threat_action_set(), "major_threat_no_action")
    assert ids(f) == ["2"]
    (x,) = f
    assert x.severity == "warning"
    assert x.evidence["threat"] == "8.1.2"
    assert x.evidence["impact"] == "High Impact"
    assert "2.2" in x.evidence["addressed_by"]
    assert x.evidence["actions_needed"] == ["1.1"]
    assert "2.2 Invasive/problematic species control" in x.suggested_fix
    assert x.taxon_id == "t2" and x.scientific_name == "Species 2"


def test_major_threat_exact_matching_when_ancestors_off():
    cfg = {"rules": {"major_threat_no_action": {"match_ancestors": False}}}
    assert ids(found(_threat_action_set(), "major_threat_no_action", config=cfg)) == ["2", "5"]


def test_major_threat_custom_impacts():
    cfg = {"rules": {"major_threat_no_action": {"impacts": ["High Impact", "Medium Impact", "Low Impact"]}}}
    assert ids(found(_threat_action_set(), "major_threat_no_action", config=cfg)) == ["2", "3"]


def test_major_threat_skipped_when_no_actions_exported():
    s = make_set([A("1")], threats=[T("1", "8.1.2", "High Impact")])
    (f,) = found(s, "major_threat_no_action")
    assert f.taxon_id is None and f.assessment_id is None
    assert f.severity == "info"
    assert "no actions_needed rows" in f.message
    assert found(s, "major_threat_no_action", config={"general": {"skip_absent_tables": False}})[0].assessment_id == "1"


def test_action_without_threat():
    s = make_set(
        [A(str(i)) for i in range(1, 6)],
        threats=[T("1", "8.1.1"), T("2", "5.4.4"), T("3", "1.1"), T("4", "5.1.1"), T("5", "11.1")],
        actions_needed=[
            C("1", "2.2"),  # invasive control for an invasive threat
            C("2", "2.2"),  # invasive control, no invasive threat -> finding
            C("3", "4.3"),  # education: generic
            C("3", "3.4.1"),  # ex situ: generic
            C("4", "3.1.1"),  # harvest management for hunting
            C("5", "2.3"),  # restoration for climate change
        ],
    )
    f = found(s, "action_no_threat")
    assert ids(f) == ["2"]
    (x,) = f
    assert x.evidence["action"] == "2.2"
    assert x.evidence["threats_recorded"] == ["5.4.4"]
    assert "8.1" in x.evidence["addresses_threats"]
    assert x.severity == "info"
    cfg = {"rules": {"action_no_threat": {"generic_actions": ["4"]}}}
    assert ids(found(s, "action_no_threat", config=cfg)) == ["2", "3"]  # 3.4.1 now judged


def test_custom_crosswalk_file(tmp_path):
    cw = tmp_path / "crosswalk.csv"
    cw.write_text("threat_prefix,threat_name,action_prefixes,rationale\n8.1,Invasive,1.1|2.2,local rule\n", encoding="utf-8")
    cfg = tmp_path / "checks.toml"
    cfg.write_text('[general]\nthreat_action_crosswalk = "crosswalk.csv"\n', encoding="utf-8")
    f = found(_threat_action_set(), "major_threat_no_action", config=cfg)
    assert ids(f) == []  # 1.1 now addresses 8.1; 5.4 has no row any more: not judged
    bad = tmp_path / "bad.csv"
    bad.write_text("threat,actions\n8.1,2.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        found(_threat_action_set(), "major_threat_no_action", config={"general": {"threat_action_crosswalk": str(bad)}})


def test_bundled_crosswalk_covers_the_schemes():
    from assess2plan import schemes

    cfg = CheckConfig.load(None)
    cw = cfg.threat_action_crosswalk
    threats = set(schemes.scheme("threats")["code"])
    actions = set(schemes.scheme("conservation_actions")["code"])
    assert set(cw["threat_prefix"]) <= threats
    assert set(cw["action_prefix"]) <= actions
    assert cw["rationale"].null_count() == 0
    level1 = {c.split(".")[0] for c in cw["threat_prefix"]}
    assert level1 == {str(i) for i in range(1, 12)}  # 12 Other is deliberately not judged
    generic = default_settings()["rules"]["action_no_threat"]["generic_actions"]
    unmapped = {
        a
        for a in actions
        if a.count(".") >= 1
        and not any(a == g or a.startswith(g + ".") for g in generic)
        and not any(a == p or a.startswith(p + ".") or p.startswith(a + ".") for p in cw["action_prefix"])
    }
    assert unmapped == {"3.1.3"}  # limiting population growth addresses no threat to the species


# -- same place, different story ------------------------------------------------------------------
def _place_set(n_with: int = 5, extra: list[dict] | None = None) -> AssessmentSet:
    aids = [str(i) for i in range(1, n_with + 2)]
    threats = [T(a, "11.1") for a in aids[:n_with]] + [T(aids[-1], "5.4.4")]
    return make_set(
        [A(a, scientific_name=f"Coral {a}") for a in aids] + [A("x1"), A("x2")],
        threats=threats + (extra or []),
        habitats=[C(a, "9.8.1") for a in aids] + [C("x1", "1.6")],
        occurrence=[O(a, "FJ", name="Fiji", presence="Extant") for a in aids] + [O("x1", "FJ", name="Fiji"), O("x2", "AU")],
    )


def test_same_place_finds_the_odd_one_out():
    s = _place_set()
    f = found(s, "same_place_threat_missing")
    assert ids(f) == ["6"]
    (x,) = f
    ev = x.evidence
    assert ev["threat"] == "11.1"
    assert ev["kind"] == "country_habitat"
    assert ev["place"] == "Fiji (FJ) x 9 Marine Neritic"
    assert (ev["species_in_place"], ev["species_with_threat"]) == (6, 5)
    assert ev["share"] == pytest.approx(0.833)
    assert ev["examples"] == ["Coral 1", "Coral 2", "Coral 3"]
    assert "5 of 6 species (83%)" in x.message


def test_same_place_needs_enough_species_and_share():
    assert found(_place_set(n_with=3), "same_place_threat_missing") == []  # 4 species < 5
    cfg = {"rules": {"same_place_threat_missing": {"min_share": 0.9}}}
    assert found(_place_set(), "same_place_threat_missing", config=cfg) == []
    cfg = {"rules": {"same_place_threat_missing": {"min_species": 3}}}
    assert ids(found(_place_set(n_with=3), "same_place_threat_missing", config=cfg)) == ["4"]


def test_same_place_coarser_or_past_record_is_not_missing():
    # the odd species records 11 (level 1): it has the threat
    assert found(_place_set(extra=[T("6", "11")]), "same_place_threat_missing") == []
    # ... or records 11.1 as past: it has it too (past threats do not count towards the share)
    assert found(_place_set(extra=[T("6", "11.1", timing="Past, Unlikely to Return")]), "same_place_threat_missing") == []


def test_same_place_lme_and_habitat_level():
    aids = [str(i) for i in range(1, 7)]
    s = make_set(
        [A(a) for a in aids],
        threats=[T(a, "9.3.1") for a in aids[:5]] + [T("6", "1.1")],
        occurrence=[O(a, "24", kind="lme", name="Coral Sea") for a in aids],
    )
    f = found(s, "same_place_threat_missing")
    assert ids(f) == ["6"]
    assert f[0].evidence["place"] == "Coral Sea (24)" and f[0].evidence["threat"] == "9.3"
    assert found(s, "same_place_threat_missing", config={"rules": {"same_place_threat_missing": {"groupings": ["country_habitat"]}}}) == []
    # level-2 habitats split 9.8 (coral reef) from 9.4 (sandy): no group of five any more
    s2 = _place_set()
    s2.tables["habitats"] = s2.habitats.with_columns(
        pl.when(pl.col("assessment_id").is_in(["1", "2"])).then(pl.lit("9.4")).otherwise(pl.col("code")).alias("code")
    )
    assert ids(found(s2, "same_place_threat_missing")) == ["6"]
    cfg = {"rules": {"same_place_threat_missing": {"habitat_level": 2}}}
    assert found(s2, "same_place_threat_missing", config=cfg) == []


# -- criteria -------------------------------------------------------------------------------------
def test_criteria_syntax_rule():
    s = make_set(
        [
            A("1", category="VU", criteria="A5b"),
            A("2", category="VU", criteria="A2bd"),
            A("3", category="VU", criteria="B1+2c", criteria_version="2.3"),  # legacy grammar: not judged
            A("4", category="EN", criteria="B1ab(vi)"),
            A("5", category="EN", criteria="B1ab(vi)", taxon_id="t5"),
        ]
    )
    f = found(s, "criteria_syntax")
    assert ids(f) == ["1", "4", "5"]
    x = next(x for x in f if x.assessment_id == "1")
    assert x.severity == "error"
    assert x.evidence["position"] == 2
    assert "no criterion A5" in x.message


def test_criteria_coherence_rule():
    s = make_set(
        [
            A("1", category="LC", criteria="A2bd"),
            A("2", category="CR", criteria=None),
            A("3", category="EN", criteria="D2"),
            A("4", category="VU", criteria="D2"),
            A("5", category="NT", criteria="A2bd+3d"),
            A("6", category="LR/nt", criteria="A1c", criteria_version="2.3"),
            A("7", category="VU", criteria="B1a"),
            A("8", category="EX", criteria="A2a"),
            A("9", category="CR", criteria="D"),
        ]
    )
    f = found(s, "criteria_coherence")
    assert ids(f) == ["1", "2", "3", "5", "7", "8"]
    assert all(x.severity == "error" for x in f)
    cfg = {"rules": {"criteria_coherence": {"allow_nt_criteria": True}}}
    assert ids(found(s, "criteria_coherence", config=cfg)) == ["1", "2", "3", "7", "8"]


def test_criterion_b_rule_is_off_by_default():
    s = make_set(
        [A("1", category="EN", criteria="B1ab(iii)"), A("2", category="EN", criteria="B1ab(iii)"), A("3", category="EN", criteria="A2bd")],
        threats=[T("1", "1.1", timing="Past, Unlikely to Return"), T("2", "1.1"), T("3", "1.1", timing="Past, Unlikely to Return")],
    )
    assert not RULES["criterion_b_no_ongoing_threat"].enabled
    assert [x for x in run_checks(s, today=TODAY) if x.rule == "criterion_b_no_ongoing_threat"] == []
    assert ids(found(s, "criterion_b_no_ongoing_threat")) == ["1"]
    on = {"rules": {"criterion_b_no_ongoing_threat": {"enabled": True}}}
    assert ids([x for x in run_checks(s, today=TODAY, config=on) if x.rule == "criterion_b_no_ongoing_threat"]) == ["1"]


# -- category and status --------------------------------------------------------------------------
def test_possibly_extinct_not_cr():
    s = make_set(
        [
            A("1", category="EN", possibly_extinct=True),
            A("2", category="CR", possibly_extinct=True),
            A("3", category="EW", possibly_extinct_in_the_wild=True),
            A("4", category="EN"),
        ]
    )
    f = found(s, "possibly_extinct_not_cr")
    assert ids(f) == ["1", "3"]
    assert "possibly extinct in the wild" in next(x for x in f if x.assessment_id == "3").message


def test_threatened_without_action():
    s = make_set(
        [A("1", category="VU"), A("2", category="VU"), A("3", category="LC"), A("4", category="CR")],
        actions_needed=[C("2", "1.1")],
    )
    assert ids(found(s, "threatened_no_action")) == ["1", "4"]
    cfg = {"rules": {"threatened_no_action": {"categories": ["CR"]}}}
    assert ids(found(s, "threatened_no_action", config=cfg)) == ["4"]


def test_plan_needed_but_not_in_place():
    s = make_set(
        [A(str(i)) for i in range(1, 6)],
        research_needed=[C("1", "2.1"), C("2", "2.1"), C("3", "2.2"), C("4", "1.2"), C("5", "2.3")],
        actions_in_place=[
            P("1", "InPlaceResearchRecoveryPlan.value", "No"),
            P("2", "InPlaceResearchRecoveryPlan", "Yes"),
            P("3", "InPlaceResearchRecoveryPlan", "Yes"),  # not the area-based plan field
            P("5", "InPlaceSpeciesManagementHarvestPlan", "Unknown"),
        ],
    )
    f = found(s, "plan_needed_not_in_place")
    assert ids(f) == ["1", "3", "5"]
    by = {x.assessment_id: x for x in f}
    assert by["1"].evidence["in_place_field"] == "InPlaceResearchRecoveryPlan"
    assert by["1"].evidence["in_place_value"] == "No"
    assert by["3"].evidence["in_place_value"] is None and "not recorded" in by["3"].message
    assert "Area based regional management plan" in by["3"].message
    assert by["5"].evidence["in_place_value"] == "Unknown"


def test_plan_needed_skipped_without_in_place_data():
    s = make_set([A("1")], research_needed=[C("1", "2.1")])
    (f,) = found(s, "plan_needed_not_in_place")
    assert f.assessment_id is None and "actions_in_place" in f.message


def test_action_already_in_place():
    s = make_set(
        [A(str(i)) for i in range(1, 5)],
        actions_needed=[C("1", "3.4.1"), C("2", "3.4.1"), C("3", "1.1"), C("4", "2.1")],
        actions_in_place=[
            P("1", "InPlaceSpeciesManagementExSitu", "Yes"),
            P("2", "InPlaceSpeciesManagementExSitu", "No"),
            P("3", "InPlaceLandWaterProtectionInPA.value", "yes"),
            P("4", "InPlaceLandWaterProtectionInPA", "Yes"),  # 2.1 is not in the mapping
        ],
    )
    f = found(s, "action_already_in_place")
    assert ids(f) == ["1", "3"]
    assert f[0].severity == "info"
    assert {x.evidence["in_place_field"] for x in f} == {"InPlaceSpeciesManagementExSitu", "InPlaceLandWaterProtectionInPA"}


def test_assessment_outdated():
    s = make_set(
        [
            A("1", assessment_date=dt.date(2015, 5, 31)),
            A("2", assessment_date=dt.date(2015, 6, 1)),  # exactly ten years: not older
            A("3", assessment_date=None, year_published=2010),
            A("4", assessment_date=dt.date(2024, 1, 1)),
        ]
    )
    f = found(s, "assessment_outdated")
    assert ids(f) == ["1", "3"]
    by = {x.assessment_id: x for x in f}
    assert by["1"].evidence["age_years"] == 10 and by["3"].evidence["age_years"] == 15
    assert "assessed 2015-05-31" in by["1"].message
    assert ids(found(s, "assessment_outdated", config={"rules": {"assessment_outdated": {"max_age_years": 5}}})) == ["1", "2", "3"]
    assert ids(found(s, "assessment_outdated", today=dt.date(2030, 1, 1))) == ["1", "2", "3"]


def test_decreasing_without_threats():
    s = make_set(
        [
            A("1", population_trend="Decreasing"),
            A("2", population_trend="Decreasing"),  # threats unknown
            A("3", population_trend="Decreasing"),  # "no threats" stated
            A("4", population_trend="Stable"),
            A("5", population_trend="Decreasing"),
        ],
        threats=[T("5", "1.1")],
        other_fields=[P("2", "ThreatsUnknown.value", "true"), P("3", "NoThreats.noThreats", "Yes")],
    )
    f = found(s, "decreasing_no_threats")
    assert ids(f) == ["1", "3"]
    by = {x.assessment_id: x for x in f}
    assert by["3"].evidence["no_threats_stated"] is True
    assert "states there are no threats" in by["3"].message
    cfg = {"rules": {"decreasing_no_threats": {"respect_threats_unknown": False}}}
    assert ids(found(s, "decreasing_no_threats", config=cfg)) == ["1", "2", "3"]


def test_decreasing_with_only_past_threats():
    s = make_set(
        [A("1", population_trend="Decreasing"), A("2", population_trend="Decreasing"), A("3", population_trend="Stable")],
        threats=[
            T("1", "1.1", timing="Past, Unlikely to Return"),
            T("1", "2.1", timing="Past, Likely to Return"),
            T("2", "1.1", timing="Past, Unlikely to Return"),
            T("2", "5.1.1", timing="Ongoing"),
            T("3", "1.1", timing="Past, Unlikely to Return"),
        ],
    )
    f = found(s, "decreasing_past_threats_only")
    assert ids(f) == ["1"]
    assert f[0].evidence["threats"] == ["1.1 (Past, Unlikely to Return)", "2.1 (Past, Likely to Return)"]


def test_no_threats_flag_with_threats():
    s = make_set(
        [A("1"), A("2"), A("3")],
        threats=[T("1", "1.1"), T("2", "1.1")],
        other_fields=[P("1", "NoThreats.noThreats", "true"), P("2", "NoThreats.noThreats", "false"), P("3", "NoThreats.noThreats", "true")],
    )
    assert ids(found(s, "no_threats_flag_with_threats")) == ["1"]


# -- running, registry, configuration -------------------------------------------------------------
def test_latest_assessment_in_scope_only():
    s = make_set(
        [
            A("old", taxon_id="t1", category="VU", year_published=2010),
            A("new", taxon_id="t1", category="LC", year_published=2020),
            A("eu", taxon_id="t2", category="VU", scopes="Europe"),
        ],
        actions_needed=[C("zz", "1.1")],
    )
    assert ids(found(s, "threatened_no_action")) == []
    assert ids(found(s, "threatened_no_action", scope="Europe")) == ["eu"]


def test_registry_is_complete_and_documented():
    docs = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    settings = default_settings()
    assert len(RULES) >= 14
    for r in RULES.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", r.id)
        assert r.severity in SEVERITIES
        assert len(r.rationale) > 40 and r.description and r.title
        assert f"`{r.id}`" in docs, f"docs/checks.md does not document {r.id}"
        assert settings["rules"][r.id]["enabled"] == r.enabled  # the bundled file states the defaults
    frame = rules_frame()
    assert frame["id"].to_list() == list(RULES)


def test_checks_import_nothing_from_web_or_store():
    pkg = Path(str(resources.files("assess2plan.checks")))
    for py in pkg.glob("*.py"):
        text = py.read_text(encoding="utf-8")
        assert not re.search(r"assess2plan\.(web|store)|from assess2plan import (web|store)", text), py.name


def _messy_set() -> AssessmentSet:
    return make_set(
        [
            A("1", category="VU", criteria="A2bd", population_trend="Decreasing", assessment_date=dt.date(2001, 1, 1)),
            A("2", category="EN", criteria="D2", possibly_extinct=True),
            A("3", category="LC", criteria="A5b"),
        ],
        threats=[T("2", "8.1.2", "High Impact")],
        actions_needed=[C("2", "1.1")],
    )


def test_turning_a_rule_off_removes_its_findings(tmp_path):
    s = _messy_set()
    everything = run_checks(s, today=TODAY)
    assert {"threatened_no_action", "assessment_outdated", "criteria_syntax"} <= {f.rule for f in everything}
    off = run_checks(s, today=TODAY, config={"rules": {"threatened_no_action": {"enabled": False}}})
    assert "threatened_no_action" not in {f.rule for f in off}
    assert len(off) == len(everything) - sum(f.rule == "threatened_no_action" for f in everything)
    path = tmp_path / "checks.toml"
    path.write_text('[rules.assessment_outdated]\nenabled = false\n[rules.criteria_syntax]\nseverity = "info"\n', encoding="utf-8")
    from_file = run_checks(s, today=TODAY, config=path)
    assert "assessment_outdated" not in {f.rule for f in from_file}
    assert {f.severity for f in from_file if f.rule == "criteria_syntax"} == {"info"}


def test_selecting_rules_and_bad_configuration(tmp_path):
    s = _messy_set()
    assert {f.rule for f in run_checks(s, rules="possibly_extinct_not_cr,criteria_coherence", today=TODAY)} == {
        "possibly_extinct_not_cr",
        "criteria_coherence",
    }
    with pytest.raises(KeyError, match="no_such_rule"):
        run_checks(s, rules=["no_such_rule"])
    with pytest.raises(InputError, match="unknown rule"):
        run_checks(s, config={"rules": {"no_such_rule": {"enabled": False}}})
    with pytest.raises(InputError, match="severity"):
        run_checks(s, config={"rules": {"criteria_syntax": {"severity": "fatal"}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules\n", encoding="utf-8")
    with pytest.raises(InputError, match="TOML"):
        run_checks(s, config=bad)
    with pytest.raises(InputError, match="no such configuration file"):
        run_checks(s, config=tmp_path / "missing.toml")


def test_findings_frame_and_check_frame_agree():
    s = _messy_set()
    findings = run_checks(s, today=TODAY)
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=SEVERITIES.index)  # errors first
    frame = findings_frame(findings)
    assert frame.columns == ["rule", "severity", "taxon_id", "assessment_id", "scientific_name", "message", "evidence", "suggested_fix"]
    assert frame.height == len(findings)
    first = frame.row(0, named=True)
    assert json.loads(first["evidence"]) == json.loads(json.dumps(findings[0].evidence, default=str))
    assert check_frame(s, today=TODAY).equals(frame)
    assert findings_frame([]).columns == frame.columns
    text = Finding("r", "info", None, None, None, "m", "short text", None)
    assert findings_frame([text])["evidence"].to_list() == ["short text"]
    assert str(findings[0]).startswith("[error]")


def test_empty_set():
    assert [f for f in run_checks(AssessmentSet(), today=TODAY) if f.assessment_id] == []


# -- real data: the Pacific marine download -------------------------------------------------------
def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _load_with_polars(folder: Path) -> AssessmentSet:
    """Fallback while ``read_redlist`` cannot be imported: the canonical tables built from the CSVs."""
    from assess2plan import schemes

    def read(name):
        return pl.read_csv(folder / name, infer_schema=False)

    a = read("assessments.csv")
    cats = {v: (schemes.category(v) or (v, v))[0] for v in a["redlistCategory"].unique().to_list() if v}

    def impact(r):
        try:
            return schemes.impact(r["timing"], r["scope"], r["severity"])
        except schemes.UnknownValue:
            return None, "Unknown"

    t = read("threats.csv")
    imp = [impact(r) for r in t.iter_rows(named=True)]
    frames = {
        "assessments": a.select(
            pl.col("assessmentId").alias("assessment_id"),
            pl.col("internalTaxonId").alias("taxon_id"),
            pl.col("scientificName").alias("scientific_name"),
            pl.col("redlistCategory").replace_strict(cats, default=None).alias("category"),
            pl.col("redlistCriteria").alias("criteria"),
            pl.col("criteriaVersion").alias("criteria_version"),
            pl.col("yearPublished").alias("year_published"),
            pl.col("assessmentDate").str.slice(0, 10).str.to_date().alias("assessment_date"),
            pl.col("scopes"),
            (pl.col("possiblyExtinct") == "true").alias("possibly_extinct"),
            (pl.col("possiblyExtinctInTheWild") == "true").alias("possibly_extinct_in_the_wild"),
            pl.col("populationTrend").alias("population_trend"),
        ),
        "threats": t.select(
            pl.col("assessmentId").alias("assessment_id"), pl.col("code"), pl.col("name"), pl.col("timing"), pl.col("scope"), pl.col("severity")
        ).with_columns(pl.Series("impact_score", [i[0] for i in imp]), pl.Series("impact", [i[1] for i in imp])),
        "actions_needed": read("conservation_needed.csv").select(pl.col("assessmentId").alias("assessment_id"), "code", "name"),
        "habitats": read("habitats.csv").select(pl.col("assessmentId").alias("assessment_id"), "code", "name"),
        "occurrence": pl.concat(
            [
                read(f).select(pl.col("assessmentId").alias("assessment_id"), pl.lit(kind).alias("kind"), "code", "name", "presence")
                for f, kind in (("countries.csv", "country"), ("lme.csv", "lme"))
            ]
        ),
    }
    return AssessmentSet.from_frames(frames)


@pytest.fixture(scope="module")
def pacific():
    folder = shared_path("redlist-download", "pacific-marine")
    try:
        from assess2plan import read_redlist

        aset = read_redlist(folder)
    except (ImportError, NotImplementedError):
        aset = _load_with_polars(folder)
    findings = run_checks(aset, today=TODAY)
    return folder, aset, findings


def _taxa(findings: list[Finding], rule: str) -> set[str]:
    return {f.taxon_id for f in findings if f.rule == rule and f.taxon_id}


THREATENED_LABELS = {"Critically Endangered", "Endangered", "Vulnerable"}


@pytest.mark.realdata
def test_pacific_threatened_without_action(pacific):
    folder, _, findings = pacific
    needed = {r["assessmentId"] for r in _rows(folder, "conservation_needed.csv")}
    expected = {
        r["internalTaxonId"]
        for r in _rows(folder, "assessments.csv")
        if r["redlistCategory"] in THREATENED_LABELS and r["assessmentId"] not in needed
    }
    assert expected  # the set has some (10)
    assert _taxa(findings, "threatened_no_action") == expected


@pytest.mark.realdata
def test_pacific_possibly_extinct(pacific):
    folder, _, findings = pacific
    rows = _rows(folder, "assessments.csv")
    expected = {
        r["internalTaxonId"]
        for r in rows
        if "true" in (r["possiblyExtinct"], r["possiblyExtinctInTheWild"]) and r["redlistCategory"] != "Critically Endangered"
    }
    assert _taxa(findings, "possibly_extinct_not_cr") == expected
    assert any(r["possiblyExtinct"] == "true" for r in rows)  # the one PE taxon is CR, so none is found


@pytest.mark.realdata
def test_pacific_outdated(pacific):
    folder, _, findings = pacific
    expected = {r["internalTaxonId"] for r in _rows(folder, "assessments.csv") if r["assessmentDate"][:10] < "2015-06-01"}
    assert 300 < len(expected) < 358
    assert _taxa(findings, "assessment_outdated") == expected
    later = run_checks(pacific[1], rules=["assessment_outdated"], today=dt.date(2012, 1, 1))
    assert {f.taxon_id for f in later} == {r["internalTaxonId"] for r in _rows(folder, "assessments.csv") if r["assessmentDate"][:10] < "2002-01-01"}


@pytest.mark.realdata
def test_pacific_decreasing_without_threats(pacific):
    folder, _, findings = pacific
    with_threats = {r["assessmentId"] for r in _rows(folder, "threats.csv")}
    expected = {
        r["internalTaxonId"]
        for r in _rows(folder, "assessments.csv")
        if r["populationTrend"] == "Decreasing" and r["assessmentId"] not in with_threats
    }
    assert _taxa(findings, "decreasing_no_threats") == expected


@pytest.mark.realdata
def test_pacific_criteria(pacific):
    folder, _, findings = pacific
    expected = set()
    for r in _rows(folder, "assessments.csv"):
        cat, crit = r["redlistCategory"], r["redlistCriteria"].strip()
        if (cat in THREATENED_LABELS) != bool(crit) or (cat != "Vulnerable" and re.search(r"D[12]", crit)):
            expected.add(r["internalTaxonId"])
    assert _taxa(findings, "criteria_coherence") == expected
    assert _taxa(findings, "criteria_syntax") == set()  # every string in this download is well formed


_TIMING = {"Ongoing": 3, "Future": 1, "Past, Unlikely to Return": 30, "Past, Likely to Return": 20, "Unknown": -10}
_SCOPE = {"Whole (>90%)": 3, "Majority (50-90%)": 2, "Minority (<50%)": 1, "Unknown": -10}
_SEVERITY = {
    "Very Rapid Declines": 3,
    "Rapid Declines": 2,
    "Slow, Significant Declines": 1,
    "Causing/Could cause fluctuations": 1,
    "Negligible declines": 0,
    "No decline": 0,
    "Unknown": -10,
}


def _major(r: dict[str, str]) -> bool:
    """SIS impact score 6-9 (Medium or High), written out again here."""
    score = _TIMING.get(r["timing"], 0) + _SCOPE.get(r["scope"], 0) + _SEVERITY.get(r["severity"], 0)
    return 6 <= score <= 9


def _rel(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".") or prefix.startswith(code + ".")


@pytest.mark.realdata
def test_pacific_major_threat_without_action(pacific):
    folder, _, findings = pacific
    with (resources.files("assess2plan.checks") / "data" / "threat_action_crosswalk.csv").open(encoding="utf-8") as fh:
        crosswalk = [(r["threat_prefix"], r["action_prefixes"].split("|")) for r in csv.DictReader(fh)]
    actions = defaultdict(set)
    for r in _rows(folder, "conservation_needed.csv"):
        actions[r["assessmentId"]].add(r["code"])
    taxon = {r["assessmentId"]: r["internalTaxonId"] for r in _rows(folder, "assessments.csv")}
    expected = set()
    for r in _rows(folder, "threats.csv"):
        if not r["assessmentId"] or not _major(r):
            continue
        prefixes = [p for tp, ps in crosswalk if _rel(r["code"], tp) for p in ps]
        if prefixes and not any(_rel(a, p) for a in actions[r["assessmentId"]] for p in prefixes):
            expected.add((taxon[r["assessmentId"]], r["code"]))
    got = {(f.taxon_id, f.evidence["threat"]) for f in findings if f.rule == "major_threat_no_action"}
    assert got == expected
    assert expected


@pytest.mark.realdata
def test_pacific_same_place(pacific):
    """Same place, different story, recomputed in plain Python: country x level-1 habitat and LME."""
    folder, _, findings = pacific
    taxon = {r["assessmentId"]: r["internalTaxonId"] for r in _rows(folder, "assessments.csv")}
    ok = ("Extant", "Possibly Extant", "")
    places = defaultdict(set)  # place -> assessments
    habitats = defaultdict(set)
    for r in _rows(folder, "habitats.csv"):
        habitats[r["assessmentId"]].add(r["code"].split(".")[0])
    for r in _rows(folder, "countries.csv"):
        if r["presence"] in ok:
            for h in habitats[r["assessmentId"]]:
                places[("ch", r["code"], h)].add(r["assessmentId"])
    for r in _rows(folder, "lme.csv"):
        if r["presence"] in ok:
            places[("lme", r["code"])].add(r["assessmentId"])
    current = defaultdict(set)  # assessment -> level-2 threats, not past
    recorded = defaultdict(set)  # assessment -> every code
    for r in _rows(folder, "threats.csv"):
        if r["assessmentId"]:
            recorded[r["assessmentId"]].add(r["code"])
            if not r["timing"].startswith("Past"):
                current[r["assessmentId"]].add(".".join(r["code"].split(".")[:2]))
    expected: dict[tuple[str, str], float] = {}
    for members in places.values():
        if len(members) < 5:
            continue
        counts = defaultdict(int)
        for a in members:
            for k in current[a]:
                counts[k] += 1
        for k, c in counts.items():
            share = c / len(members)
            if share < 0.6:
                continue
            for a in members:
                if not any(_rel(code, k) for code in recorded[a]):
                    key = (taxon[a], k)
                    expected[key] = max(expected.get(key, 0.0), share)
    got = {(f.taxon_id, f.evidence["threat"]): f.evidence["share"] for f in findings if f.rule == "same_place_threat_missing"}
    assert set(got) == set(expected)
    assert all(got[k] == pytest.approx(expected[k], abs=0.0005) for k in got)
    assert got


@pytest.mark.realdata
def test_pacific_rule_off_and_frames(pacific):
    _, aset, findings = pacific
    rules = {f.rule for f in findings}
    assert "same_place_threat_missing" in rules
    cfg = {"rules": {"same_place_threat_missing": {"enabled": False}, "assessment_outdated": {"enabled": False}}}
    fewer = run_checks(aset, today=TODAY, config=cfg)
    assert {f.rule for f in fewer} == rules - {"same_place_threat_missing", "assessment_outdated"}
    assert len(fewer) == sum(f.rule not in ("same_place_threat_missing", "assessment_outdated") for f in findings)
    # tables this download does not hold: the rules that need them say so once, without a taxon
    skipped = [f for f in findings if f.taxon_id is None]
    assert [f.rule for f in skipped] == ["plan_needed_not_in_place"]
    assert check_frame(aset, today=TODAY).equals(findings_frame(findings))


@pytest.mark.realdata
def test_pacific_same_findings_from_plain_tables(pacific):
    """The canonical tables rebuilt here straight from the CSVs give the same findings as the reader's."""
    folder, aset, findings = pacific
    plain = _load_with_polars(folder)
    assert check_frame(plain, today=TODAY).equals(findings_frame(findings))
