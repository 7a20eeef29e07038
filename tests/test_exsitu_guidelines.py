"""The ex situ guideline data (roles, step 4 factors, translocation checklist): the bundled files,
custom files with errors, and the translocation verdicts. Files are cross-read here with tomllib."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assess2plan.errors import InputError
from assess2plan.exsitu import guidelines as g
from assess2plan.exsitu.translocation import IUCN_RISK_RULE, evaluate_translocation
from assess2plan.schemes import scheme

DATA = Path(g.__file__).parent / "data"
ROLE_IDS = {
    "insurance_population", "temporary_rescue", "demographic_manipulation", "genetic_manipulation",
    "reintroduction_source", "assisted_colonisation", "ecological_replacement", "research", "training",
    "education", "biobanking",
}  # fmt: skip
# Conservation Actions v2.0 class 7 "External capacity building" (domain reference 3c) is known to be
# missing from the bundled scheme file; such codes are real but cannot be checked against it.
CLASS_7 = {"7", "7.1", "7.2", "7.3"}


def raw(name: str) -> dict:
    with (DATA / name).open("rb") as fh:
        return tomllib.load(fh)


# -- bundled files -------------------------------------------------------------------------------------
def test_the_eleven_roles():
    roles = g.roles()
    assert len(roles) == 11 and {r.id for r in roles} == ROLE_IDS
    assert [r.id for r in roles] == [e["id"] for e in raw("roles.toml")["role"]]
    assert {r.strategy for r in roles} == set(g.STRATEGIES)  # every strategy has a role
    for r in roles:
        assert r.label and r.description and r.source
        assert r.strategy_label == g.STRATEGY_LABELS[r.strategy]
    assert g.role("insurance_population").strategy == "buy_time"
    assert g.role("biobanking").actions == ("3.4.2",)
    assert "1.6" in g.role("research").research


def test_role_codes_exist_in_the_schemes():
    actions = set(scheme("conservation_actions")["code"].to_list())
    research = set(scheme("research")["code"].to_list())
    assert "3.4.1" in actions and "1.6" in research  # the column really holds codes
    gap = sorted(c for c in CLASS_7 if c in actions)
    used_gap = []
    for r in g.roles():
        for code in r.actions:
            if code not in actions:
                assert code in CLASS_7 and not gap, f"{r.id}: {code} is not a Conservation Actions code"
                used_gap.append(code)
        for code in r.research:
            assert code in research, f"{r.id}: {code} is not a Research Needed code"
    # every code is also in the raw file as quoted text (not a TOML number)
    for e in raw("roles.toml")["role"]:
        assert all(isinstance(c, str) for c in e["actions"] + e.get("research", []))
    # the ex situ codes of domain reference 3c are all used by some role
    used = {c for r in g.roles() for c in r.actions}
    assert {"3.4.1", "3.4.2", "3.3.1", "3.3.2", "3.2"} <= used
    assert not used_gap  # no role relies on the missing class 7 today


def test_factors_and_score_labels():
    fs = g.factors()
    doc = raw("factors.toml")
    assert sorted(f.id for f in fs) == sorted(e["id"] for e in doc["factor"])
    assert len({f.id for f in fs}) == len(fs)
    assert {f.kind for f in fs} == set(g.FACTOR_KINDS)
    kinds = [f.kind for f in fs]
    assert kinds == sorted(kinds, key=g.FACTOR_KINDS.index)  # grouped by kind
    ids = {f.id for f in fs}
    assert {"husbandry", "funding", "facilities", "veterinary", "founders", "permits", "disease_risk",
            "opportunity_cost", "ex_situ_as_excuse", "institutional_failure"} <= ids  # fmt: skip
    assert g.factor("husbandry").kind == "expertise"
    for kind in g.FACTOR_KINDS:
        assert sorted(g.SCORE_LABELS[kind]) == [1, 2, 3, 4, 5]
        assert g.SCORE_LABELS[kind][3] == doc["scores"][kind]["3"]
    assert g.SCORE_LABELS["risk"][5] == "very high risk" and g.SCORE_LABELS["risk"][1] == "very low risk"
    assert g.score_labels() == g.SCORE_LABELS
    g.score_labels()["risk"][5] = "changed"  # callers get copies
    assert g.SCORE_LABELS["risk"][5] == "very high risk" and g.score_labels()["risk"][5] == "very high risk"


def expand(applies) -> set[str]:
    """applies_to of the raw file, expanded independently of the loader."""
    if applies == "all":
        return {"reinforcement", "reintroduction", "assisted_colonisation", "ecological_replacement"}
    if applies == "in_range":
        return {"reinforcement", "reintroduction"}
    if applies == "outside_range":
        return {"assisted_colonisation", "ecological_replacement"}
    return set(applies)


def test_translocation_checklist():
    doc = raw("translocation.toml")
    items = g.translocation_checklist()
    assert [i.id for i in items] == [e["id"] for e in doc["item"]]
    assert set(g.checklist_sections()) == {"B", "C", "D1", "D2", "D3", "D4", "E"}
    assert {i.section for i in items} == set(g.checklist_sections())
    for kind in g.TRANSLOCATION_KINDS:
        asked = g.translocation_checklist(kind)
        assert [i.id for i in asked] == [e["id"] for e in doc["item"] if kind in expand(e["applies_to"])]
        assert any(i.blocking for i in asked) and any(i.kind == "risk" for i in asked)
    threats = g.checklist_item("threats_removed")
    assert threats.blocking and set(threats.applies_to) == {"reinforcement", "reintroduction"}
    # outside-range questions are not asked for population restoration
    in_range = {i.id for k in g.IN_RANGE for i in g.translocation_checklist(k)}
    for iid in ("introduction_lawful", "invasiveness_risk", "destination_role_understood"):
        assert set(g.checklist_item(iid).applies_to) == set(g.OUTSIDE_RANGE) and iid not in in_range
    # the risk topics of Annex E
    risks = {i.id for i in items if i.kind == "risk"}
    assert {"source_population_risk", "ecological_risk", "disease_risk", "associated_species_risk",
            "gene_escape_risk", "socio_economic_risk", "financial_risk"} <= risks  # fmt: skip
    assert not any(i.blocking for i in items if i.kind == "risk")


def test_unknown_ids_list_the_known_ones():
    with pytest.raises(InputError) as e:
        g.role("zoo_display")
    assert e.value.value == "zoo_display" and "insurance_population" in e.value.message
    with pytest.raises(InputError, match="husbandry"):
        g.factor("nope")
    with pytest.raises(InputError, match="threats_removed"):
        g.checklist_item("nope")
    with pytest.raises(InputError, match="reintroduction"):
        g.translocation_checklist("translocation")


# -- custom files ------------------------------------------------------------------------------------------
ROLE = """
[[role]]
id = "insurance_population"
label = "Insurance population"
strategy = "buy_time"
description = "A long-term population."
actions = ["3.4.1"]
source = "IUCN/SSC (2014)"
"""


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_custom_roles_file(tmp_path):
    p = write(tmp_path, "version = 1\n" + ROLE + ROLE.replace('"insurance_population"', '"rescue"')
              .replace('["3.4.1"]', '["7.1"]'))  # fmt: skip
    rs = g.roles(p)
    assert [r.id for r in rs] == ["insurance_population", "rescue"]
    assert rs[1].actions == ("7.1",)  # class 7 accepted although our scheme lacks it
    assert g.role("rescue", p).label == "Insurance population"
    # a changed file is read again (cache keyed on the file's state)
    p.write_text("version = 1\n" + ROLE.replace("A long-term population.", "Changed, longer text."))
    assert [r.description for r in g.roles(p)] == ["Changed, longer text."]
    assert len(g.roles()) == 11  # the bundled file is untouched


@pytest.mark.parametrize(
    "text, column, value, words",
    [
        (ROLE, "version", None, "version = 1"),
        ("version = 2\n" + ROLE, "version", 2, "unsupported version"),
        ("version = 1\n", "role", None, "[[role]]"),
        ("version = 1\nroles = 3\n" + ROLE, "roles", 3, "unknown key"),
        ("version = 1\n" + ROLE.replace("strategy =", "stratgy ="), "stratgy", "buy_time", "unknown key"),
        ("version = 1\n" + ROLE.replace('"buy_time"', '"save_it"'), "strategy", "save_it", "address_causes"),
        ("version = 1\n" + ROLE.replace('["3.4.1"]', "[3.4]"), "actions", 3.4, "quoted text"),
        (
            "version = 1\n" + ROLE.replace('["3.4.1"]', '["3.4.9"]'),
            "actions",
            "3.4.9",
            "conservation actions",
        ),
        (
            "version = 1\n" + ROLE.replace('["3.4.1"]', '["3.4.1"]\nresearch = ["9.9"]'),
            "research",
            "9.9",
            "research scheme",
        ),
        (
            "version = 1\n" + ROLE.replace('label = "Insurance population"', 'label = ""'),
            "label",
            "",
            "non-empty",
        ),
        ("version = 1\n" + ROLE + ROLE, "id", "insurance_population", "duplicate id"),
        (
            "version = 1\n" + ROLE.replace('id = "insurance_population"', 'id = "Insurance Pop"'),
            "id",
            "Insurance Pop",
            "lower case",
        ),
    ],
)
def test_bad_roles_files(tmp_path, text, column, value, words):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        g.roles(p)
    assert e.value.file == str(p)
    assert e.value.column == column
    assert e.value.value == value
    assert words in e.value.message
    if column not in ("version", "role", "roles") and words != "lower case":
        assert "role 'insurance_population'" in e.value.message  # names the entry


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="no such file") as e:
        g.roles(tmp_path / "missing.toml")
    assert e.value.file.endswith("missing.toml")
    with pytest.raises(InputError, match="not valid TOML"):
        g.factors(write(tmp_path, "version = 1\n[[factor]\n"))


FACTORS_HEAD = "version = 1\n" + "".join(
    f'[scores.{k}]\n1 = "a"\n2 = "b"\n3 = "c"\n4 = "d"\n5 = "e"\n' for k in g.FACTOR_KINDS
)
FACTOR = """
[[factor]]
id = "husbandry"
kind = "expertise"
label = "Husbandry"
question = "Can it be kept?"
source = "IUCN/SSC (2014)"
"""


def test_custom_and_bad_factors_files(tmp_path):
    fs = g.factors(write(tmp_path, FACTORS_HEAD + FACTOR))
    assert [(f.id, f.kind) for f in fs] == [("husbandry", "expertise")]
    assert g.score_labels(tmp_path / "custom.toml")["risk"] == {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    cases = [
        (FACTORS_HEAD + FACTOR.replace('"expertise"', '"money"'), "kind", "money", "factor 'husbandry'"),
        (
            FACTORS_HEAD.replace('5 = "e"\n', "", 1) + FACTOR,
            "scores.resources",
            ["1", "2", "3", "4"],
            "1 to 5",
        ),
        (FACTORS_HEAD.replace('3 = "c"', '3 = ""', 1) + FACTOR, "scores.resources.3", "", "non-empty"),
        (FACTORS_HEAD + '[scores.luck]\n1 = "x"\n' + FACTOR, "scores.luck", "luck", "unknown kind"),
        (
            FACTORS_HEAD + FACTOR.replace("question =", "questoin ="),
            "questoin",
            "Can it be kept?",
            "unknown key",
        ),
        (
            FACTORS_HEAD + FACTOR.replace('question = "Can it be kept?"\n', ""),
            "question",
            None,
            "needs the key",
        ),
    ]
    for i, (text, column, value, words) in enumerate(cases):
        p = write(tmp_path, text, f"f{i}.toml")
        with pytest.raises(InputError) as e:
            g.factors(p)
        assert (e.value.file, e.value.column, e.value.value) == (str(p), column, value), e.value
        assert words in str(e.value)


CHECK_HEAD = 'version = 1\n[sections]\nB = "Decision"\nE = "Risks"\n'
ITEM = """
[[item]]
id = "threats_removed"
section = "B"
label = "Threats removed"
question = "Are the threats removed?"
kind = "feasibility"
applies_to = "in_range"
blocking = true
source = "IUCN/SSC (2013)"

[[item]]
id = "disease"
section = "E"
label = "Disease"
question = "Disease risk assessed?"
kind = "risk"
applies_to = ["reintroduction", "assisted_colonisation"]
source = "IUCN/SSC (2013)"
"""


def test_custom_and_bad_checklist_files(tmp_path):
    p = write(tmp_path, CHECK_HEAD + ITEM)
    assert [i.id for i in g.translocation_checklist(path=p)] == ["threats_removed", "disease"]
    assert [i.id for i in g.translocation_checklist("assisted_colonisation", p)] == ["disease"]
    assert g.checklist_item("disease", p).applies_to == ("reintroduction", "assisted_colonisation")
    s = evaluate_translocation(
        "reintroduction", {"threats_removed": "yes", "disease": {"risk": "low"}}, path=p
    )
    assert (s.total, s.verdict) == (2, "proceed to design")
    cases = [
        (ITEM.replace('section = "B"', 'section = "Z"'), "section", "Z", "item 'threats_removed'"),
        (
            ITEM.replace('applies_to = "in_range"', 'applies_to = "everywhere"'),
            "applies_to",
            "everywhere",
            "in_range",
        ),
        (
            ITEM.replace('"reintroduction", "assisted_colonisation"', '"reintroduction", "rewilding"'),
            "applies_to",
            "rewilding",
            "item 'disease'",
        ),
        (
            ITEM.replace('kind = "risk"', 'kind = "risk"\nblocking = true'),
            "blocking",
            True,
            "only feasibility",
        ),
        (ITEM.replace("blocking = true", 'blocking = "yes"'), "blocking", "yes", "true or false"),
        (ITEM.replace('kind = "feasibility"', 'kind = "benefit"'), "kind", "benefit", "feasibility, risk"),
    ]
    for i, (item, column, value, words) in enumerate(cases):
        q = write(tmp_path, CHECK_HEAD + item, f"c{i}.toml")
        with pytest.raises(InputError) as e:
            g.translocation_checklist(path=q)
        assert (e.value.file, e.value.column, e.value.value) == (str(q), column, value), e.value
        assert words in str(e.value)
    q = write(tmp_path, "version = 1\n" + ITEM, "nosections.toml")
    with pytest.raises(InputError, match=r"\[sections\]"):
        g.translocation_checklist(path=q)


# -- translocation verdicts --------------------------------------------------------------------------------
def asked_raw(kind: str) -> list[dict]:
    return [e for e in raw("translocation.toml")["item"] if kind in expand(e["applies_to"])]


def all_good(kind: str) -> dict[str, dict]:
    """Every question for ``kind`` answered yes, every risk assessed as low (from the raw file)."""
    return {
        e["id"]: {"answer": "yes", "risk": "low" if e["kind"] == "risk" else None, "note": ""}
        for e in asked_raw(kind)
    }


@pytest.mark.parametrize("kind", g.TRANSLOCATION_KINDS)
def test_proceed_to_design(kind):
    s = evaluate_translocation(kind, all_good(kind))
    assert s.verdict == "proceed to design"
    assert s.total == s.answered == len(asked_raw(kind))
    assert s.unknown == s.blocking == s.high_risks == s.concerns == ()


def test_not_ready_when_something_is_open():
    answers = all_good("reintroduction")
    del answers["funding"]  # unanswered
    answers["team"]["answer"] = "unknown"
    answers["disease_risk"] = {"answer": "no", "risk": None, "note": "not assessed yet"}
    answers["gene_escape_risk"] = {"answer": "yes", "risk": None}  # assessed but no level
    s = evaluate_translocation("reintroduction", answers)
    assert s.verdict == "not ready"
    assert set(s.unknown) == {"funding", "team", "disease_risk", "gene_escape_risk"}
    assert s.answered == s.total - 4
    text = " ".join(s.reasons)
    for words in ("not answered: funding", "unknown: team", "risk not assessed: disease_risk",
                  "risk level not given: gene_escape_risk", IUCN_RISK_RULE):  # fmt: skip
        assert words in text
    assert evaluate_translocation("reintroduction", {}).verdict == "not ready"
    assert evaluate_translocation("reintroduction", None).answered == 0


def test_blocking_no_means_do_not_proceed():
    answers = all_good("reinforcement")
    answers["threats_removed"]["answer"] = "no"
    answers["monitoring"]["answer"] = "unknown"
    s = evaluate_translocation("reinforcement", answers)
    assert s.verdict == "do not proceed"
    assert s.blocking == ("threats_removed",) and s.unknown == ("monitoring",)
    assert "threats_removed (Causes of decline removed)" in s.reasons[0]
    assert any("still open" in r and "monitoring" in r for r in s.reasons)


def test_high_risk_means_do_not_proceed():
    answers = all_good("assisted_colonisation")
    answers["invasiveness_risk"]["risk"] = "high"
    answers["ecological_risk"]["risk"] = "medium"
    answers["political_support"]["answer"] = "no"  # not blocking: a concern for the design
    s = evaluate_translocation("assisted_colonisation", answers)
    assert s.verdict == "do not proceed"
    assert s.high_risks == ("invasiveness_risk",) and s.blocking == ()
    assert set(s.concerns) == {"ecological_risk", "political_support"}
    assert IUCN_RISK_RULE in s.reasons
    # a high level with the answer left empty counts as assessed and high
    answers["invasiveness_risk"] = {"risk": "HIGH"}
    assert evaluate_translocation("assisted_colonisation", answers).high_risks == ("invasiveness_risk",)


def test_concerns_do_not_stop_the_design():
    answers = all_good("ecological_replacement")
    answers["international_rules"] = "na"  # a bare answer string is accepted
    answers["political_support"]["answer"] = "no"
    answers["financial_risk"]["risk"] = "medium"
    s = evaluate_translocation("ecological_replacement", answers)
    assert s.verdict == "proceed to design"
    assert set(s.concerns) == {"political_support", "financial_risk"}
    assert any(r.startswith("to address in the design") for r in s.reasons)


@pytest.mark.parametrize(
    "kind, answers, column, words",
    [
        ("rewilding", {}, "kind", "reinforcement"),
        ("reintroduction", {"made_up": {"answer": "yes"}}, "answers.made_up", "threats_removed"),
        (
            "reintroduction",
            {"invasiveness_risk": {"answer": "yes", "risk": "low"}},
            "answers.invasiveness_risk",
            "assisted_colonisation",
        ),
        (
            "reintroduction",
            {"funding": {"answer": "maybe"}},
            "answers.funding.answer",
            "yes, no, unknown, na",
        ),
        (
            "reintroduction",
            {"funding": {"answer": "yes", "risk": "low"}},
            "answers.funding.risk",
            "only for risk items",
        ),
        (
            "reintroduction",
            {"disease_risk": {"answer": "yes", "risk": "severe"}},
            "answers.disease_risk.risk",
            "low, medium, high",
        ),
        (
            "reintroduction",
            {"disease_risk": {"answer": "no", "risk": "low"}},
            "answers.disease_risk.risk",
            "cannot have a level",
        ),
        (
            "reintroduction",
            {"threats_removed": {"answer": "na"}},
            "answers.threats_removed.answer",
            "cannot be not applicable",
        ),
        (
            "reintroduction",
            {"funding": {"answer": "yes", "score": 3}},
            "answers.funding.score",
            "unknown key",
        ),
        ("reintroduction", {"funding": 3}, "answers.funding", "must be an object"),
        ("reintroduction", ["funding"], "answers", "must be an object"),
    ],
)
def test_bad_answers(kind, answers, column, words):
    with pytest.raises(InputError) as e:
        evaluate_translocation(kind, answers)
    assert e.value.file == "translocation checklist"
    assert e.value.column == column
    assert words in e.value.message
