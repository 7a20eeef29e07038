"""IUCN classification schemes as versioned data files, and the rules that go with them.

The code lists in ``data/`` are built from the Red List API v4 code lists by
``tools/build_schemes.py``; codes are dotted text ("5.10", never 5.1). ``VERSIONS`` names the
scheme versions the files hold.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib import resources

import polars as pl

VERSIONS = {
    "threats": "3.3",
    "conservation_actions": "2.0",
    "research": "2.0",
    "stresses": "1.1",
    "habitats": "3.1",
    "use_and_trade": "1.0",
    "countries": "API v4 2024",
    "categories": "3.1 + 2.3 + earlier",
    "population_trends": "API v4",
    "systems": "API v4",
    "realms": "API v4",
    "faos": "API v4",
    "growth_forms": "API v4",
    "scopes": "API v4",
}
SCHEMES = tuple(VERSIONS)


def _data(name: str):
    return resources.files("assess2plan.schemes").joinpath("data", name)


@cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    with _data(f"{name}.csv").open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def scheme(name: str) -> pl.DataFrame:
    """The code list ``name`` (one of ``SCHEMES``) as a frame: code, name, parent, level."""
    if name not in VERSIONS:
        raise KeyError(f"unknown scheme {name!r}; known: {', '.join(SCHEMES)}")
    rows = _rows(name)
    return pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]}).with_columns(pl.col("level").cast(pl.Int32))


@cache
def _names(name: str) -> dict[str, str]:
    return {r["code"]: r["name"] for r in _rows(name)}


def is_known(name: str, code: str | None) -> bool:
    """Whether ``code`` is in the current version of scheme ``name``."""
    return code is not None and code in _names(name)


def name_of(name: str, code: str | None) -> str | None:
    """The label of ``code`` in scheme ``name``, or None when the code is not in it."""
    return None if code is None else _names(name).get(code)


def ancestors(code: str) -> list[str]:
    """``"5.4.4"`` -> ``["5", "5.4"]``: the parent codes of a hierarchical code."""
    parts = code.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def children(name: str, code: str) -> list[str]:
    """Codes directly below ``code`` in scheme ``name``."""
    return [r["code"] for r in _rows(name) if r["parent"] == code]


_CODE_OK = re.compile(r"^[0-9A-Za-z]+(?:[.][0-9A-Za-z]+)*$")


def normalise_code(value: object) -> str | None:
    """A classification code as canonical dotted text.

    ``"5_4_4"`` (API v4) -> ``"5.4.4"``; surrounding space dropped; ``"5.10"`` stays ``"5.10"``.
    Numbers are refused rather than guessed: a float 5.1 cannot say whether it was 5.1 or 5.10.
    """
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("classification codes must be read as text, not numbers (5.10 would become 5.1)")
    s = str(value).strip()
    if not s:
        return None
    return s.replace("_", ".")


def looks_like_code(value: str) -> bool:
    """True for dotted alphanumeric codes ("5.4.4", "10", "YAK-OO" is False)."""
    return bool(_CODE_OK.match(value))


# -- threat impact scoring (IUCN SIS, org.iucn.sis.shared.structures.SISThreatStructure) -------
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
IMPACT_LEVELS = ("High Impact", "Medium Impact", "Low Impact", "No/Negligible Impact", "Past Impact", "Unknown")
MAJOR_IMPACTS = ("High Impact", "Medium Impact")


class UnknownValue(ValueError):
    """A timing, scope or severity that is not in the threats scheme."""

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} {value!r} is not one of the threats scheme's values")


def _part(table: dict[str, int], field: str, value: str | None) -> int:
    if value is None or not str(value).strip():
        return 0  # the SIS counts a blank as 0 (the API gives "Low Impact: 3" for Ongoing/blank/blank)
    key = " ".join(str(value).split()).lower()
    if key not in table:
        raise UnknownValue(field, str(value))
    return table[key]


def impact(timing: str | None, scope: str | None, severity: str | None) -> tuple[int | None, str]:
    """Threat impact as the IUCN SIS computes it (domain reference §3b).

    Returns ``(score, label)``: ``(6, "Medium Impact")``; ``(None, "Unknown")`` when the total is
    negative; ``(None, "Past Impact")`` for past timings that do not fall in a scored band.
    The labels and totals are those the Red List API v4 publishes as ``"Medium Impact: 6"``.
    Raises ``UnknownValue`` for a value outside the scheme.
    """
    total = _part(TIMING, "timing", timing) + _part(SCOPE, "scope", scope) + _part(SEVERITY, "severity", severity)
    if total < 0:
        return None, "Unknown"
    if total <= 2:
        return total, "No/Negligible Impact"
    if total <= 5:
        return total, "Low Impact"
    if total <= 7:
        return total, "Medium Impact"
    if total <= 9:
        return total, "High Impact"
    return None, "Past Impact"


def parse_api_score(score: str | None) -> tuple[int | None, str | None]:
    """``"Medium Impact: 6"`` -> ``(6, "Medium Impact")``; ``"Past Impact"`` -> ``(None, "Past Impact")``."""
    if score is None or not str(score).strip():
        return None, None
    label, _, num = str(score).partition(":")
    num = num.strip()
    return (int(num) if num.lstrip("-").isdigit() else None), label.strip()


# -- Red List categories ----------------------------------------------------------------------
_CATEGORY_LABELS = {
    "extinct": "EX",
    "extinct in the wild": "EW",
    "regionally extinct": "RE",
    "critically endangered": "CR",
    "endangered": "EN",
    "vulnerable": "VU",
    "near threatened": "NT",
    "least concern": "LC",
    "data deficient": "DD",
    "not evaluated": "NE",
    "not applicable": "NA",
    "lower risk/conservation dependent": "LR/cd",
    "lower risk/near threatened": "LR/nt",
    "lower risk/least concern": "LR/lc",
    "lower risk": "LR",
    "not recognized": "NR",
}
_CATEGORY_CODES = {
    "EX": "Extinct",
    "EW": "Extinct in the Wild",
    "RE": "Regionally Extinct",
    "CR": "Critically Endangered",
    "EN": "Endangered",
    "VU": "Vulnerable",
    "NT": "Near Threatened",
    "LC": "Least Concern",
    "DD": "Data Deficient",
    "NE": "Not Evaluated",
    "NA": "Not Applicable",
    "LR/cd": "Lower Risk/conservation dependent",
    "LR/nt": "Lower Risk/near threatened",
    "LR/lc": "Lower Risk/least concern",
    "LR": "Lower Risk",
    "NR": "Not Recognized",
}
_CODE_BY_UPPER = {c.upper(): c for c in _CATEGORY_CODES}
#: Order used to sort categories from most to least at risk.
CATEGORY_ORDER = ("EX", "EW", "RE", "CR", "EN", "VU", "NT", "LR/cd", "LR/nt", "LC", "LR/lc", "DD", "NE", "NA")
THREATENED = ("CR", "EN", "VU")


def category(value: str | None) -> tuple[str, str] | None:
    """A category label or code -> ``(code, label)``; legacy ones stay distinct.

    ``"Critically Endangered"`` -> ``("CR", "Critically Endangered")``;
    ``"Lower Risk/near threatened"`` or ``"LR/nt"`` -> ``("LR/nt", "Lower Risk/near threatened")``.
    Returns None for a value that is neither (the caller reports it).
    """
    if value is None:
        return None
    s = " ".join(str(value).split())
    if not s:
        return None
    code = _CATEGORY_LABELS.get(s.lower()) or _CODE_BY_UPPER.get(s.upper().replace(" ", ""))
    if code is None:
        return None
    return code, _CATEGORY_CODES[code]


_TRENDS = {"0": "Increasing", "1": "Decreasing", "2": "Stable", "3": "Unknown"}


def population_trend(value: str | None) -> str | None:
    """Normalise a population trend ("decreasing", API code "1") to its label ("Decreasing")."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if s in _TRENDS:
        return _TRENDS[s]
    for label in _TRENDS.values():
        if s.lower() == label.lower():
            return label
    return s


@cache
def actions_in_place_fields() -> tuple[dict[str, str], ...]:
    """SIS ``InPlace*`` fields with the API v4 group and name of each."""
    with _data("actions_in_place.csv").open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def action_in_place_by_name(name: str) -> dict[str, str] | None:
    """Look up an in-place action by its API name ("Action Recovery Plan")."""
    key = name.strip().lower()
    for row in actions_in_place_fields():
        if row["name"].lower() == key:
            return row
    return None


def action_in_place_by_field(field: str) -> dict[str, str] | None:
    """Look up an in-place action by its SIS field ("InPlaceResearchRecoveryPlan", ".value" allowed)."""
    key = field.split(".")[0].strip().lower()
    for row in actions_in_place_fields():
        if row["field"].lower() == key:
            return row
    return None
