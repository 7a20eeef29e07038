"""The v3.1 criteria-string parser and the category/criteria coherence rules."""

from __future__ import annotations

import pytest

from assess2plan.checks.criteria import (
    CriteriaSyntaxError,
    coherence,
    is_v31,
    legacy_problems,
    parse_criteria,
    try_parse,
)

# Real criteria strings quoted in the domain reference (§2a, §6) from Red List downloads.
REAL = [
    ("A2bd", ["A2"]),
    ("B2ab(iii)", ["B2"]),
    ("B2ab(ii,iii)", ["B2"]),
    ("A2cd+3d", ["A2", "A3"]),
    ("A2bcd+4bcd", ["A2", "A4"]),
    ("B1ab(iii,v)+2ab(iii,v)", ["B1", "B2"]),
    ("A2ace; B1ab(i,iii,iv)", ["A2", "B1"]),
    ("A2c; B1ab(i,iii,iv)", ["A2", "B1"]),
    ("A2bd+3bd", ["A2", "A3"]),
    ("A2bd+4bd", ["A2", "A4"]),
    ("B1ab(i,ii,iii,iv,v)", ["B1"]),
    ("A4cd", ["A4"]),
    ("D2", ["D2"]),
    ("D", ["D"]),
    ("C2a(i)", ["C2"]),
    # seen in the Pacific marine download
    ("A2bc; C1", ["A2", "C1"]),
    ("B2ac(iii)", ["B2"]),
    ("A2a; B1ab(i)+2ab(i)", ["A2", "B1", "B2"]),
    ("A4cde", ["A4"]),
]


@pytest.mark.parametrize(("text", "codes"), REAL)
def test_real_strings_parse(text, codes):
    c = parse_criteria(text)
    assert list(c.codes) == codes
    assert str(c) == text  # canonical form round-trips
    assert c.problems() == []


def test_structure_of_a_combined_string():
    c = parse_criteria("A2ace; B1ab(i,iii,iv)")
    a2, b1 = c.items
    assert (a2.letter, a2.number, a2.letters) == ("A", 2, "ace")
    assert (b1.letter, b1.number, b1.letters) == ("B", 1, "ab")
    assert b1.sub("b").numerals == ("i", "iii", "iv")
    assert b1.sub("a").numerals == ()
    assert c.letters == ("A", "B")
    assert c.uses("B") and c.uses("B1") and not c.uses("B2") and not c.uses("C")
    assert b1.position == 7  # index of 'B'


def test_more_valid_forms():
    assert parse_criteria("D1+2").codes == ("D1", "D2")
    assert parse_criteria("C1+2a(ii)b").items[1].letters == "ab"
    assert parse_criteria("C2a(i,ii)").items[0].sub("a").numerals == ("i", "ii")
    assert parse_criteria("C2b").items[0].letters == "b"
    assert parse_criteria("E").codes == ("E",)
    assert parse_criteria("A1acd").codes == ("A1",)
    assert parse_criteria("A2bd;B1ab(iii)").codes == ("A2", "B1")  # ';' without space
    assert parse_criteria("B1ab(ii, iii)").items[0].sub("b").numerals == ("ii", "iii")  # space after ','
    assert parse_criteria("  A2bd ").codes == ("A2",)  # surrounding space ignored
    assert str(parse_criteria("A2bd;B1ab(iii)")) == "A2bd; B1ab(iii)"


BAD = [
    # text, 0-based position of the offending character, words of the message
    ("A5b", 1, "no criterion A5"),
    ("B1ab(vi)", 5, "no (vi)"),
    ("A2bd;", 5, "after ';'"),
    ("A2bd+", 5, "after '+'"),
    ("X1", 0, "criterion letter"),
    ("B1ab(iii", 4, "never closed"),
    ("A2bd; A3c", 6, "cited twice"),
    ("B1ab(iii)+B2ab(iii)", 10, "do not repeat the letter B"),
    ("A2b3c", 3, "'+'"),
    ("a2bd", 0, "upper case"),
    ("B1abiii", 4, "parentheses"),
    ("A2bd,B1ab(i)", 4, "';'"),
    ("E1", 1, "takes no number"),
    ("C1a", 2, "no sub-criteria"),
    ("D3", 1, "no criterion D3"),
    ("A2f", 2, "no sub-criterion 'f'"),
    ("B1ab(iii,iii)", 9, "cited twice"),
    ("A2bB1ab(i)", 3, "'; '"),
    ("A2bd ;B1a", 4, "space"),
    ("A", 1, "needs a number"),
    ("B1ab()", 5, "roman numeral"),
    ("C2a(iii)", 4, "no (iii)"),
    ("B1ab(III)", 5, "lower case"),
    ("A2b(i)", 3, "takes no roman numerals"),
    ("", 0, "empty"),
    ("D+1", 1, "'+'"),
    ("A2bd+2c", 5, "A2 is cited twice"),
]


@pytest.mark.parametrize(("text", "position", "words"), BAD)
def test_bad_strings_name_the_position(text, position, words):
    with pytest.raises(CriteriaSyntaxError) as exc:
        parse_criteria(text)
    e = exc.value
    assert e.position == position, (e.position, str(e))
    assert words in e.message
    assert f"position {position + 1}" in str(e)
    assert e.pointer().splitlines()[1] == " " * position + "^"


def test_position_counts_leading_space():
    with pytest.raises(CriteriaSyntaxError) as exc:
        parse_criteria("  A5b")
    assert exc.value.position == 3


def test_try_parse_returns_the_error_and_caches():
    err = try_parse("A5b")
    assert isinstance(err, CriteriaSyntaxError)
    assert try_parse("A2bd") is try_parse("A2bd")


def test_problems_beyond_syntax():
    assert parse_criteria("B1a").problems() == ["B1 needs at least two of the conditions a, b, c (has a)"]
    assert "two of the conditions" in parse_criteria("B2").problems()[0]
    assert parse_criteria("B1ab").problems() == ["B1b does not say which of (i,ii,iii,iv,v) applies"]
    assert parse_criteria("B2ac").problems() == ["B2c does not say which of (i,ii,iii,iv) applies"]
    assert parse_criteria("C2").problems() == ["C2 needs (a) and/or (b)"]
    assert "which of (i,ii)" in parse_criteria("C2a").problems()[0]
    assert "no basis" in parse_criteria("A2").problems()[0]
    assert "A3 cannot be based on (a)" in parse_criteria("A3ac").problems()[0]
    assert parse_criteria("A3c").problems() == []


@pytest.mark.parametrize(
    ("criteria", "category", "words"),
    [
        ("A2bd", "LC", "LC takes no criteria"),
        ("A2bd", "DD", "DD takes no criteria"),
        ("B1ab(iii)", "NE", "NE takes no criteria"),
        ("A2bd+3d", "NT", "NT takes no criteria"),
        ("A2bd", "EX", "EX is not assigned by criteria"),
        ("D", "EW", "EW is not assigned by criteria"),
        (None, "CR", "CR needs the criteria"),
        ("", "EN", "EN needs the criteria"),
        (None, "VU", "VU needs the criteria"),
        ("D2", "EN", "D2 exists only as VU D2"),
        ("D1", "CR", "D1 exists only as VU D1"),
        ("B1ab(iii); D2", "CR", "D2 exists only"),
        ("B1a", "EN", "at least two of the conditions"),
        ("B1ab(iii)+2a", "VU", "B2 needs at least two"),
        ("C2", "CR", "C2 needs (a) and/or (b)"),
    ],
)
def test_coherence_problems(criteria, category, words):
    problems = coherence(criteria, category)
    assert any(words in p for p in problems), problems


@pytest.mark.parametrize(
    ("criteria", "category"),
    [
        ("D", "CR"),
        ("D", "EN"),
        ("D", "VU"),
        ("D1", "VU"),
        ("D2", "VU"),
        ("D1+2", "VU"),
        ("A2bd", "EN"),
        ("B1ab(iii,v)+2ab(iii,v)", "CR"),
        (None, "LC"),
        (None, "NT"),
        (None, "DD"),
        (None, "EX"),
        ("A5b", "VU"),  # a syntax error is reported by the syntax rule, not here
    ],
)
def test_coherent(criteria, category):
    assert coherence(criteria, category) == []


def test_nt_criteria_allowed_by_option():
    assert coherence("A2bd+3d", "NT", allow_nt_criteria=True) == []
    assert coherence("B1a", "NT", allow_nt_criteria=True)  # still has to make sense


def test_versions():
    assert is_v31("3.1")
    assert not is_v31("2.3")
    assert not is_v31("2.3", "VU")
    assert is_v31(None, "VU")
    assert not is_v31(None, "LR/nt")
    # v2.3 strings are not v3.1 strings: read as v3.1, B1+2c would be incomplete ...
    assert parse_criteria("B1+2c").problems()
    # ... but passes the light legacy check, which catches only foreign characters
    assert legacy_problems("B1+2c") == []
    assert legacy_problems("A1ac") == []
    assert legacy_problems("A1c+2c") == []
    assert "unexpected '/'" in legacy_problems("A1c/2c")[0]
