"""Programme dimensions (step 3): how large an ex situ population must be, and for how long, to keep
a gene-diversity goal — e.g. "90 % of the wild gene diversity for 100 years".

The model is the standard one of conservation genetics used in zoo and aquarium population
management (Frankham, Ballou & Briscoe, *Introduction to Conservation Genetics*; Ballou, Lacy and
colleagues' population-management practice; the "90 % for 100 years" goal goes back to Soulé et
al. 1986):

    GD(t) = (1 - 1/(2*Nf)) * (1 - 1/(2*Ne))^t        t = years / generation length

* ``Nf`` — effective number of founders. A population founded by ``Nf`` unrelated, wild-caught
  founders that all breed equally starts with ``1 - 1/(2*Nf)`` of the wild gene diversity
  (20 founders: 97.5 %).
* ``Ne`` — effective population size. Each generation of random drift keeps ``1 - 1/(2*Ne)`` of
  the gene diversity still present.
* ``Ne/N`` — the ratio of effective to census size (unequal sex ratio and family sizes,
  overlapping generations; often 0.1-0.5 in managed populations). The census size the programme
  must hold is ``N = Ne / (Ne/N)``.

Solving for ``Ne``:  ``Ne = 1 / (2 * (1 - (goal / GD_f)^(1/t)))``; both ``Ne`` and ``N`` are rounded
up to whole individuals (``N`` from the rounded ``Ne``, so the figures shown can be checked by hand).
The model assumes a population held at a constant size from the start; it ignores the growth phase
after founding (during which more gene diversity is lost) and new founders added later (which add
diversity). It is a planning estimate, not a population-viability analysis: use PMx or a studbook
analysis for a real programme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from assess2plan.errors import InputError

__all__ = ["FORMULA", "PopulationTarget", "founders_for", "gene_diversity_retained", "population_size"]

FILE = "population sizing"

#: the model as plain text, shown with every result
FORMULA = (
    "GD(t) = (1 - 1/(2*Nf)) * (1 - 1/(2*Ne))^t, with t = years / generation length; "
    "solved for Ne: Ne = 1 / (2 * (1 - (goal / GDf)^(1/t))) where GDf = 1 - 1/(2*Nf); "
    "census size N = Ne / (Ne/N); Ne and N rounded up to whole individuals"
)


@dataclass(frozen=True)
class PopulationTarget:
    """The result of :func:`population_size`.

    ``goal``: the gene diversity to keep, as a fraction (0.9); ``generations``: years / generation
    length (may be fractional); ``founder_gene_diversity``: what the founders start with;
    ``ne``: effective population size needed (whole individuals, rounded up); ``n``: census size
    the programme must hold; ``formula`` and ``steps``: the model and the worked calculation with
    these numbers; ``ne_n``: the Ne/N ratio used; ``ne_exact``: Ne before rounding;
    ``gene_diversity_at_end``: what ``ne`` (rounded) actually keeps after ``years``.
    """

    goal: float
    years: float
    generation_length: float
    generations: float
    founders: float
    founder_gene_diversity: float
    ne: int
    n: int
    formula: str
    steps: list[str] = field(default_factory=list)
    ne_n: float = 0.0
    ne_exact: float = 0.0
    gene_diversity_at_end: float = 0.0


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or value is None:
        raise InputError(FILE, "must be a number", column=name, value=value)
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(FILE, "must be a number", column=name, value=value) from None
    if not math.isfinite(x):
        raise InputError(FILE, "must be a finite number", column=name, value=value)
    return x


def _goal(value: object) -> float:
    g = _number("goal", value)
    if 1 < g < 100:
        g = g / 100  # given in percent
    if not 0 < g < 1:
        raise InputError(
            FILE, "the gene-diversity goal must be a fraction between 0 and 1 (0.9) or a percentage (90)",
            column="goal", value=value,
        )  # fmt: skip
    return g


def _founders(value: object) -> float:
    nf = _number("founders", value)
    if nf < 2:
        raise InputError(FILE, "needs at least 2 (effective) founders", column="founders", value=value)
    return nf


def _ceil(x: float) -> int:
    """Round up to a whole number, ignoring float noise (45.00000000001 -> 45)."""
    r = round(x)
    if abs(x - r) <= 1e-9 * max(1.0, abs(x)):
        return int(r)
    return math.ceil(x)


def founders_for(initial_gd: float) -> int:
    """The smallest whole number of (effective) founders whose starting gene diversity
    ``1 - 1/(2*Nf)`` is at least ``initial_gd`` (a fraction, or a percentage between 1 and 100).

    E.g. ``founders_for(0.95) == 10`` and ``founders_for(0.975) == 20``.
    """
    g = _number("initial_gd", initial_gd)
    if 1 < g < 100:
        g = g / 100
    if not 0 < g < 1:
        raise InputError(FILE, "the gene diversity must be a fraction between 0 and 1 or a percentage",
                         column="initial_gd", value=initial_gd)  # fmt: skip
    n = max(1, _ceil(1 / (2 * (1 - g))))
    while 1 - 1 / (2 * n) < g - 1e-12:  # guard against float rounding
        n += 1
    return n


def gene_diversity_retained(ne: float, generations: float, founders: float) -> float:
    """The fraction of the wild gene diversity kept after ``generations`` (may be fractional) in a
    population of effective size ``ne`` founded by ``founders`` effective founders:
    ``(1 - 1/(2*founders)) * (1 - 1/(2*ne))^generations``."""
    ne_ = _number("ne", ne)
    t = _number("generations", generations)
    nf = _founders(founders)
    if ne_ < 1:
        raise InputError(FILE, "the effective population size must be at least 1", column="ne", value=ne)
    if t < 0:
        raise InputError(FILE, "the number of generations cannot be negative", column="generations",
                         value=generations)  # fmt: skip
    return (1 - 1 / (2 * nf)) * (1 - 1 / (2 * ne_)) ** t


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def _g(x: float) -> str:
    """A number as written in the worked steps: whole numbers plain, others with up to 4 decimals."""
    if abs(x - round(x)) < 1e-9:
        return str(int(round(x)))
    return f"{x:.4f}".rstrip("0").rstrip(".")


def population_size(
    *,
    goal: float = 0.9,
    years: float = 100,
    generation_length: float,
    ne_n: float,
    founders: float = 20,
) -> PopulationTarget:
    """The effective and census population size that keeps ``goal`` of the wild gene diversity
    for ``years``.

    ``goal``: a fraction between 0 and 1 (0.9), or a percentage between 1 and 100 (90 means 90 %);
    ``years`` > 0: the programme's time frame; ``generation_length`` > 0: in years (the average age
    of parents, as in the Red List's generation length); ``ne_n``: the ratio of effective to census
    size, 0 < Ne/N <= 1; ``founders`` >= 2: the effective number of founders (may be fractional,
    e.g. from a pedigree analysis).

    Raises :class:`~assess2plan.errors.InputError` (file "population sizing", column = parameter)
    for a value out of range, and when the founders alone hold no more gene diversity than the
    goal (then no population size can meet it; the message says how many founders are needed).
    """
    g = _goal(goal)
    yrs = _number("years", years)
    if yrs <= 0:
        raise InputError(FILE, "the time frame must be more than 0 years", column="years", value=years)
    gl = _number("generation_length", generation_length)
    if gl <= 0:
        raise InputError(FILE, "the generation length must be more than 0 years", column="generation_length",
                         value=generation_length)  # fmt: skip
    ratio = _number("ne_n", ne_n)
    if not 0 < ratio <= 1:
        raise InputError(FILE, "the Ne/N ratio must be more than 0 and at most 1 (e.g. 0.3)", column="ne_n",
                         value=ne_n)  # fmt: skip
    nf = _founders(founders)

    t = yrs / gl
    gd_f = 1 - 1 / (2 * nf)
    if gd_f <= g:
        need = founders_for(g)
        if 1 - 1 / (2 * need) <= g:
            need += 1
        raise InputError(
            FILE,
            f"{_g(nf)} founders start with {_pct(gd_f)} of the wild gene diversity, not more than the goal "
            f"of {_pct(g)}, so no population size can keep the goal; at least {need} effective founders "
            f"are needed (1 - 1/(2*{need}) = {_pct(1 - 1 / (2 * need))}), and more founders make the "
            "target population smaller",
            column="founders",
            value=founders,
        )
    ratio_needed = g / gd_f
    # keep per generation: (goal/GDf)^(1/t) = exp(ln(goal/GDf)/t); 1 - that = -expm1(...) (no cancellation)
    log_keep = math.log(ratio_needed) / t
    lost_per_generation = -math.expm1(log_keep)
    ne_exact = 1 / (2 * lost_per_generation)
    ne = max(1, _ceil(ne_exact))
    n = _ceil(ne / ratio)
    at_end = gd_f * (1 - 1 / (2 * ne)) ** t

    steps = [
        f"Generations: t = years / generation length = {_g(yrs)} / {_g(gl)} = {t:.4g}",
        f"Founders' gene diversity: GDf = 1 - 1/(2*Nf) = 1 - 1/(2*{_g(nf)}) = {gd_f:.6g} ({_pct(gd_f)})",
        f"Share the drift may keep: goal / GDf = {_g(g)} / {gd_f:.6g} = {ratio_needed:.6g}",
        f"Kept per generation: 1 - 1/(2*Ne) = (goal / GDf)^(1/t) = {ratio_needed:.6g}^(1/{t:.4g}) "
        f"= {1 - lost_per_generation:.6g}",
        f"Effective size: Ne = 1 / (2 * {lost_per_generation:.6g}) = {ne_exact:.2f}, rounded up to {ne}",
        f"Census size: N = Ne / (Ne/N) = {ne} / {_g(ratio)} = {ne / ratio:.2f}, rounded up to {n}",
        f"Check: GD after {t:.4g} generations = {gd_f:.6g} * (1 - 1/(2*{ne}))^{t:.4g} = {at_end:.6g} "
        f"({_pct(at_end)}) >= goal {_pct(g)}",
    ]
    return PopulationTarget(
        goal=g,
        years=yrs,
        generation_length=gl,
        generations=t,
        founders=nf,
        founder_gene_diversity=gd_f,
        ne=ne,
        n=n,
        formula=FORMULA,
        steps=steps,
        ne_n=ratio,
        ne_exact=ne_exact,
        gene_diversity_at_end=at_end,
    )
