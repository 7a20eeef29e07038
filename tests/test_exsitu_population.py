"""Population sizing from a gene-diversity goal (ex situ step 3), checked against independent
computations written here: the per-generation drift recurrence run in a loop, brute-force searches
for the smallest effective size, and a hand-worked example."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from assess2plan.errors import InputError
from assess2plan.exsitu.population import (
    FORMULA,
    PopulationTarget,
    founders_for,
    gene_diversity_retained,
    population_size,
)
from tests.conftest import ROOT


# -- independent reference implementations ---------------------------------------------------------
def kept_after(ne: int, generations: int, founders: float) -> float:
    """Gene diversity after whole generations, by the recurrence H(t+1) = H(t) * (1 - 1/(2 Ne)),
    starting from the founders' H(0) = 1 - 1/(2 Nf)."""
    h = 1 - 1 / (2 * founders)
    for _ in range(generations):
        h = h * (1 - 1 / (2 * ne))
    return h


def smallest_ne(goal: float, generations: int, founders: float) -> int:
    """The smallest whole Ne that keeps ``goal`` after whole ``generations`` (brute force)."""
    ne = 1
    while kept_after(ne, generations, founders) < goal:
        ne += 1
    return ne


# -- results ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "goal, years, gen, founders",
    [(0.9, 100, 10, 20), (0.9, 50, 5, 20), (0.95, 100, 4, 30), (0.8, 200, 20, 8), (0.9, 100, 1, 12)],
)
def test_returned_ne_meets_the_goal_and_one_less_fails(goal, years, gen, founders):
    t = round(years / gen)
    assert t == years / gen  # whole generations in these cases
    r = population_size(goal=goal, years=years, generation_length=gen, ne_n=0.3, founders=founders)
    assert r.generations == t
    assert kept_after(r.ne, t, founders) >= goal - 1e-12
    assert kept_after(r.ne - 1, t, founders) < goal
    assert r.ne == smallest_ne(goal, t, founders)
    # census size: N individuals with Ne/N = 0.3 give at least the Ne needed, N - 1 do not
    assert r.n * 0.3 >= r.ne - 1e-9
    assert (r.n - 1) * 0.3 < r.ne


def test_hand_worked_example():
    # 90 % for 50 years, generation length 5 years, 20 founders, Ne/N = 0.25
    #   t = 50 / 5 = 10 generations
    #   GDf = 1 - 1/(2*20) = 1 - 0.025 = 0.975
    #   (1 - 1/(2 Ne))^10 = 0.9 / 0.975 = 0.923077
    #   1 - 1/(2 Ne) = 0.923077^(1/10) = 0.992028   ->   1/(2 Ne) = 0.007972
    #   Ne = 1 / 0.015945 = 62.72  ->  63 (rounded up)
    #   N = 63 / 0.25 = 252
    #   check: 0.975 * (1 - 1/126)^10 = 0.975 * 0.923410 = 0.90032 >= 0.9
    #          Ne = 62: 0.975 * (1 - 1/124)^10 = 0.975 * 0.922219 = 0.89916 < 0.9
    r = population_size(goal=0.9, years=50, generation_length=5, ne_n=0.25, founders=20)
    assert r.generations == 10
    assert r.founder_gene_diversity == pytest.approx(0.975)
    assert r.ne_exact == pytest.approx(62.72, abs=0.01)
    assert (r.ne, r.n) == (63, 252)
    assert r.gene_diversity_at_end == pytest.approx(0.90032, abs=1e-5)
    text = "\n".join(r.steps)
    for figure in ("50 / 5 = 10", "1 - 1/(2*20) = 0.975", "62.72, rounded up to 63", "63 / 0.25 = 252"):
        assert figure in text
    assert r.formula == FORMULA and "Ne/N" in FORMULA and "1/(2*Nf)" in FORMULA


def test_many_founders_approach_the_textbook_rule_of_thumb():
    # With very many founders the founders' loss vanishes and Ne = 1 / (2 (1 - goal^(1/t))), close to
    # the textbook approximation Ne ~ t / (2 * -ln(goal)) (H_t = H_0 * exp(-t / 2Ne)).
    # 90 % for 100 years with a 10-year generation: t = 10, -ln 0.9 = 0.10536
    #   exact: 1 - 0.9^0.1 = 1 - 0.989519 = 0.010481 -> Ne = 47.71 -> 48; approximation 10 / 0.21072 = 47.46
    # With Ne/N = 0.1 (a common field value) the census size is ten times Ne: 480.
    r = population_size(goal=0.9, years=100, generation_length=10, ne_n=0.1, founders=1_000_000)
    assert r.ne_exact == pytest.approx(47.71, abs=0.01)
    assert r.ne_exact == pytest.approx(10 / (2 * -math.log(0.9)), rel=0.01)
    assert (r.ne, r.n) == (48, 480)
    assert r.ne == smallest_ne(0.9, 10, 1_000_000)


def test_fewer_founders_need_a_larger_population():
    sizes = [population_size(generation_length=5, ne_n=0.3, founders=f).ne for f in (8, 12, 20, 50)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4


def test_fractional_generations_lie_between_the_whole_generation_answers():
    # 100 years / 3 years = 33.33 generations: the answer must lie between the brute-force answers
    # for 33 and 34 whole generations, and meet the goal at exactly 33.33 generations.
    r = population_size(goal=0.9, years=100, generation_length=3, ne_n=0.3, founders=20)
    assert r.generations == pytest.approx(100 / 3)
    assert smallest_ne(0.9, 33, 20) <= r.ne <= smallest_ne(0.9, 34, 20)
    assert smallest_ne(0.9, 33, 20) < smallest_ne(0.9, 34, 20)  # the bracket is informative

    def at(ne: int) -> float:  # 33 generations by the loop, then the remaining third of one
        return kept_after(ne, 33, 20) * (1 - 1 / (2 * ne)) ** (100 / 3 - 33)

    assert at(r.ne) >= 0.9 > at(r.ne - 1)
    assert r.n == math.ceil(r.ne / 0.3)


def test_goal_as_percentage_and_ratio_one():
    a = population_size(goal=90, years=100, generation_length=4, ne_n=1, founders=25)
    b = population_size(goal=0.9, years=100, generation_length=4, ne_n=1.0, founders=25)
    assert a == b and a.goal == 0.9 and a.n == a.ne  # Ne/N = 1: census = effective size


def test_fractional_effective_founders():
    r = population_size(goal=0.9, years=60, generation_length=6, ne_n=0.5, founders=12.5)
    assert r.founder_gene_diversity == pytest.approx(1 - 1 / 25)
    assert r.ne == smallest_ne(0.9, 10, 12.5)


def test_result_is_plain_data():
    d = asdict(population_size(generation_length=2, ne_n=0.2))
    assert isinstance(d["steps"], list) and all(isinstance(s, str) for s in d["steps"])
    assert {"goal", "years", "generation_length", "generations", "founders", "founder_gene_diversity",
            "ne", "n", "formula", "steps"} <= set(d)  # fmt: skip
    assert isinstance(d["ne"], int) and isinstance(d["n"], int)
    assert isinstance(population_size(generation_length=2, ne_n=0.2), PopulationTarget)


# -- forward model and founders -------------------------------------------------------------------------
@pytest.mark.parametrize("ne, t, nf", [(50, 10, 20), (7, 3, 2), (400, 25, 100)])
def test_gene_diversity_retained_matches_the_loop(ne, t, nf):
    assert gene_diversity_retained(ne, t, nf) == pytest.approx(kept_after(ne, t, nf), rel=1e-12)


def test_gene_diversity_retained_zero_generations_is_the_founders_share():
    assert gene_diversity_retained(30, 0, 10) == pytest.approx(0.95)


@pytest.mark.parametrize("gd", [0.5, 0.9, 0.95, 0.975, 0.99, 0.333])
def test_founders_for_is_the_smallest_sufficient_number(gd):
    n = founders_for(gd)
    # brute force: count up until the founders' share reaches gd
    m = 1
    while 1 - 1 / (2 * m) < gd - 1e-12:
        m += 1
    assert n == m
    assert 1 - 1 / (2 * n) >= gd - 1e-12


def test_founders_for_known_values_and_percent():
    assert (founders_for(0.95), founders_for(0.975), founders_for(97.5)) == (10, 20, 20)


# -- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, column, words",
    [
        ({"goal": 0}, "goal", "between 0 and 1"),
        ({"goal": 1}, "goal", "between 0 and 1"),
        ({"goal": 100}, "goal", "percentage"),
        ({"goal": -0.5}, "goal", "between 0 and 1"),
        ({"goal": 150}, "goal", "between 0 and 1"),
        ({"goal": "ninety"}, "goal", "must be a number"),
        ({"goal": True}, "goal", "must be a number"),
        ({"years": 0}, "years", "more than 0 years"),
        ({"years": -10}, "years", "more than 0 years"),
        ({"generation_length": 0}, "generation_length", "more than 0 years"),
        ({"generation_length": float("nan")}, "generation_length", "finite"),
        ({"ne_n": 0}, "ne_n", "Ne/N"),
        ({"ne_n": 1.5}, "ne_n", "at most 1"),
        ({"founders": 1}, "founders", "at least 2"),
        ({"founders": None}, "founders", "must be a number"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, column, words):
    args = {"goal": 0.9, "years": 100, "generation_length": 5, "ne_n": 0.3, "founders": 20, **kwargs}
    with pytest.raises(InputError) as e:
        population_size(**args)
    assert e.value.file == "population sizing"
    assert e.value.column == column
    assert words in e.value.message
    assert str(e.value).startswith("population sizing, column")


def test_goal_out_of_reach_of_the_founders_says_how_many_are_needed():
    # 5 founders hold 1 - 1/10 = 90 %: not MORE than a 90 % goal. 6 founders hold 91.67 %.
    with pytest.raises(InputError) as e:
        population_size(goal=0.9, generation_length=5, ne_n=0.3, founders=5)
    assert e.value.column == "founders" and e.value.value == 5
    assert "90.00 %" in e.value.message and "at least 6 effective founders" in e.value.message
    # 8 founders hold 93.75 %: a 95 % goal needs 1/(2*0.05) = 10 -> exactly 95 %, so 11
    with pytest.raises(InputError, match="at least 11 effective founders"):
        population_size(goal=0.95, generation_length=5, ne_n=0.3, founders=8)
    # and 6 founders do work (a large but finite population)
    r = population_size(goal=0.9, generation_length=5, ne_n=0.3, founders=6)
    assert kept_after(r.ne, 20, 6) >= 0.9 > kept_after(r.ne - 1, 20, 6)


def test_forward_and_founders_bad_input():
    with pytest.raises(InputError, match="at least 1"):
        gene_diversity_retained(0.5, 10, 20)
    with pytest.raises(InputError, match="negative"):
        gene_diversity_retained(50, -1, 20)
    with pytest.raises(InputError, match="at least 2"):
        gene_diversity_retained(50, 10, 1)
    with pytest.raises(InputError) as e:
        founders_for(1)
    assert e.value.column == "initial_gd"


def test_the_documented_worked_example_and_table_match_the_code():
    doc = (ROOT / "docs" / "exsitu-guidelines.md").read_text(encoding="utf-8")
    for step in population_size(goal=0.9, years=100, generation_length=3, ne_n=0.3, founders=20).steps:
        assert step in doc
    for founders in (8, 10, 20, 30, 50, 100):
        a = population_size(generation_length=3, ne_n=0.3, founders=founders)
        b = population_size(generation_length=3, ne_n=0.1, founders=founders)
        row = f"| {founders} | {a.founder_gene_diversity * 100:.2f} % | {a.ne} | {a.n} | {b.n} |"
        assert row in doc
