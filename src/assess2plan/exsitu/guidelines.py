"""The guideline data of an ex situ conservation assessment, as versioned, editable TOML files.

* :func:`roles` — the conservation roles an ex situ programme can play (step 2 of the five steps of
  the IUCN SSC 2014 Guidelines on the Use of Ex Situ Management for Species Conservation), each
  serving one of four strategies (:data:`STRATEGIES`) and linked to Conservation Actions codes.
* :func:`factors` — what step 4 scores 1-5: the resources and expertise a programme needs, its
  feasibility and its risks; :data:`SCORE_LABELS` says what each score means per kind.
* :func:`translocation_checklist` — the feasibility and risk questions of the IUCN/SSC 2013
  Guidelines for Reintroductions and Other Conservation Translocations, per kind of translocation
  (:data:`TRANSLOCATION_KINDS`); :func:`assess2plan.exsitu.translocation.evaluate_translocation`
  reads the answers.

The bundled files are ``exsitu/data/roles.toml``, ``factors.toml`` and ``translocation.toml``; each
documents its format in its header. Every loader takes ``path`` for a file of your own, which
replaces the bundled one as a whole. Files are validated when read: an error names the file, the
entry id, the key and the value (:class:`~assess2plan.errors.InputError`). Results are cached per
file (a file changed on disk is read again). docs/exsitu-guidelines.md explains the content and
which parts still need checking against the guideline texts.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from assess2plan.errors import InputError
from assess2plan.schemes import is_known, looks_like_code, normalise_code

__all__ = [
    "ANSWERS",
    "ANSWER_LABELS",
    "CHECKLIST_KINDS",
    "FACTOR_KINDS",
    "FACTOR_KIND_LABELS",
    "IN_RANGE",
    "OUTSIDE_RANGE",
    "RISK_LEVELS",
    "SCORE_LABELS",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "THREAT_LINKS",
    "THREAT_LINK_LABELS",
    "TRANSLOCATION_KINDS",
    "TRANSLOCATION_KIND_LABELS",
    "ChecklistItem",
    "Factor",
    "Role",
    "checklist_item",
    "checklist_sections",
    "data_path",
    "factor",
    "factors",
    "role",
    "roles",
    "score_labels",
    "translocation_checklist",
]

#: the four overarching strategies ex situ roles serve (Canadian Species Initiative, after CPSG)
STRATEGIES = ("address_causes", "offset_effects", "buy_time", "restore")
STRATEGY_LABELS = {
    "address_causes": "Addressing the causes of primary threats",
    "offset_effects": "Offsetting the effects of threats",
    "buy_time": "Buying time",
    "restore": "Restoring wild populations",
}

#: how a role is linked to a threat of the species (step 2)
THREAT_LINKS = ("addresses", "offsets", "buys_time")
THREAT_LINK_LABELS = {
    "addresses": "addresses the threat",
    "offsets": "offsets its effects",
    "buys_time": "buys time against it",
}

#: the kinds of step 4 factor; for "risk" a higher score is worse, for the others better
FACTOR_KINDS = ("resources", "expertise", "feasibility", "risk")
FACTOR_KIND_LABELS = {
    "resources": "Resources",
    "expertise": "Expertise",
    "feasibility": "Feasibility",
    "risk": "Risks",
}

#: the four kinds of conservation translocation (IUCN/SSC 2013)
TRANSLOCATION_KINDS = ("reinforcement", "reintroduction", "assisted_colonisation", "ecological_replacement")
TRANSLOCATION_KIND_LABELS = {
    "reinforcement": "Reinforcement",
    "reintroduction": "Reintroduction",
    "assisted_colonisation": "Assisted colonisation",
    "ecological_replacement": "Ecological replacement",
}
#: population restoration (within the indigenous range) and conservation introductions (outside it)
IN_RANGE = ("reinforcement", "reintroduction")
OUTSIDE_RANGE = ("assisted_colonisation", "ecological_replacement")

CHECKLIST_KINDS = ("feasibility", "risk")
ANSWERS = ("yes", "no", "unknown", "na")
ANSWER_LABELS = {"yes": "yes", "no": "no", "unknown": "unknown", "na": "not applicable"}
RISK_LEVELS = ("low", "medium", "high")

# Conservation Actions v2.0 class 7 "External capacity building" (domain reference 3c) is missing from
# the bundled scheme file; these real codes are accepted in role files even so.
_CLASS_7 = ("7", "7.1", "7.2", "7.3")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Role:
    """An ex situ conservation role (step 2).

    ``actions``: related IUCN Conservation Actions v2.0 codes (e.g. "3.4.1" captive breeding);
    ``research``: related Research Needed v2.0 codes (e.g. "1.6" actions); ``note``: caveats.
    """

    id: str
    label: str
    strategy: str
    description: str
    actions: tuple[str, ...]
    source: str
    research: tuple[str, ...] = ()
    note: str = ""

    @property
    def strategy_label(self) -> str:
        return STRATEGY_LABELS[self.strategy]


@dataclass(frozen=True)
class Factor:
    """A step 4 factor, scored 1-5 (:data:`SCORE_LABELS`; for ``kind`` "risk" 5 is the worst)."""

    id: str
    kind: str
    label: str
    question: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class ChecklistItem:
    """A question of the translocation checklist.

    ``kind`` "feasibility": answered yes / no / unknown / na; ``blocking`` items must be "yes".
    ``kind`` "risk": answered "yes" once the risk is assessed, with a level low / medium / high.
    ``applies_to``: the translocation kinds the question is asked for.
    """

    id: str
    section: str
    question: str
    kind: str
    applies_to: tuple[str, ...]
    blocking: bool
    source: str
    label: str = ""
    note: str = ""


# -- files -------------------------------------------------------------------------------------------
def data_path(name: str) -> Path:
    """The bundled data file ``name`` ("roles.toml", "factors.toml", "translocation.toml")."""
    return Path(str(resources.files("assess2plan.exsitu").joinpath("data", name)))


def _stamp(path: str | Path | None, default: str) -> tuple[str, tuple[int, int]]:
    p = data_path(default) if path is None else Path(path)
    try:
        st = p.stat()
    except OSError:
        raise InputError(str(p), "no such file") from None
    if not p.is_file():
        raise InputError(str(p), "is not a file")
    return str(p), (st.st_mtime_ns, st.st_size)


def _document(source: str, entry: str, allowed: Sequence[str]) -> dict[str, Any]:
    try:
        with open(source, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise InputError(source, f"is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(source, f"cannot be read: {e}") from None
    for k in doc:
        if k not in allowed:
            raise InputError(
                source, f"unknown key {k!r}; allowed: {', '.join(allowed)}", column=k, value=doc[k]
            )
    if "version" not in doc:
        raise InputError(source, "needs `version = 1` at the top", column="version")
    if doc["version"] != 1 or isinstance(doc["version"], bool):
        raise InputError(source, "unsupported version; this assess2plan reads version 1", column="version",
                         value=doc["version"])  # fmt: skip
    entries = doc.get(entry)
    if not isinstance(entries, list) or not entries or not all(isinstance(e, Mapping) for e in entries):
        raise InputError(source, f"needs at least one [[{entry}]] table", column=entry, value=entries)
    return doc


class _Reader:
    """Validates the entries of one file; every error names the file, the entry id, key and value."""

    def __init__(self, source: str, noun: str) -> None:
        self.source = source
        self.noun = noun
        self.eid = ""
        self.index = 0

    def fail(self, key: str, value: object, message: str) -> None:
        who = f"{self.noun} {self.eid!r}: " if self.eid else f"{self.noun} number {self.index}: "
        raise InputError(self.source, who + message, column=key, value=value)

    def keys(self, entry: Mapping[str, Any], required: Sequence[str], optional: Sequence[str]) -> None:
        for k in entry:
            if k not in required and k not in optional:
                self.fail(k, entry[k], f"unknown key {k!r}; allowed: {', '.join((*required, *optional))}")
        for k in required:
            if k not in entry:
                self.fail(k, None, f"needs the key {k!r}")

    def ident(self, entry: Mapping[str, Any], seen: set[str]) -> str:
        self.eid = ""
        value = entry.get("id")
        if not isinstance(value, str) or not _ID.match(value):
            self.fail("id", value, "id must be lower case letters, digits and _, starting with a letter")
        if value in seen:
            self.eid = value
            self.fail("id", value, f"duplicate id ({self.noun} number {self.index} repeats an earlier one)")
        seen.add(value)
        self.eid = value
        return value

    def text(self, entry: Mapping[str, Any], key: str, *, required: bool = True) -> str:
        value = entry.get(key, None if required else "")
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(key, value, "must be non-empty text" if required else "must be text")
        return " ".join(value.split())

    def choice(self, entry: Mapping[str, Any], key: str, allowed: Sequence[str]) -> str:
        value = entry.get(key)
        if value not in allowed:
            self.fail(key, value, f"use one of {', '.join(allowed)}")
        return value

    def codes(
        self, entry: Mapping[str, Any], key: str, scheme: str, extra: Sequence[str] = ()
    ) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list):
            self.fail(key, value, 'must be a list of quoted codes, e.g. ["3.4.1"]')
        out: list[str] = []
        for v in value:
            if not isinstance(v, str):
                self.fail(key, v, 'codes must be quoted text ("3.4.1", not 3.4.1)')
            code = normalise_code(v)
            if not code or not looks_like_code(code):
                self.fail(key, v, "is not a classification code like 3.4.1")
            if not is_known(scheme, code) and code not in extra:
                self.fail(key, v, f"is not a code of the {scheme.replace('_', ' ')} scheme")
            if code in out:
                self.fail(key, v, "code listed twice")
            out.append(code)
        return tuple(out)


@cache
def _roles(source: str, stamp: tuple[int, int]) -> tuple[Role, ...]:
    doc = _document(source, "role", ("version", "role"))
    r = _Reader(source, "role")
    seen: set[str] = set()
    out = []
    for i, e in enumerate(doc["role"], start=1):
        r.index, r.eid = i, ""
        rid = r.ident(e, seen)
        r.keys(e, ("id", "label", "strategy", "description", "actions", "source"), ("research", "note"))
        out.append(
            Role(
                id=rid,
                label=r.text(e, "label"),
                strategy=r.choice(e, "strategy", STRATEGIES),
                description=r.text(e, "description"),
                actions=r.codes(e, "actions", "conservation_actions", _CLASS_7),
                source=r.text(e, "source"),
                research=r.codes(e, "research", "research"),
                note=r.text(e, "note", required=False),
            )
        )
    return tuple(out)


@cache
def _factors(source: str, stamp: tuple[int, int]) -> tuple[tuple[Factor, ...], dict[str, dict[int, str]]]:
    doc = _document(source, "factor", ("version", "scores", "factor"))
    scores = doc.get("scores")
    if not isinstance(scores, Mapping):
        raise InputError(source, "needs a [scores.<kind>] table for each kind", column="scores", value=scores)
    labels: dict[str, dict[int, str]] = {}
    for kind in scores:
        if kind not in FACTOR_KINDS:
            raise InputError(source, f"unknown kind; use {', '.join(FACTOR_KINDS)}", column=f"scores.{kind}",
                             value=kind)  # fmt: skip
    for kind in FACTOR_KINDS:
        table = scores.get(kind)
        if not isinstance(table, Mapping) or sorted(table) != ["1", "2", "3", "4", "5"]:
            raise InputError(source, "needs one label for each score 1 to 5", column=f"scores.{kind}",
                             value=None if table is None else sorted(table))  # fmt: skip
        for k, v in table.items():
            if not isinstance(v, str) or not v.strip():
                raise InputError(source, "must be non-empty text", column=f"scores.{kind}.{k}", value=v)
        labels[kind] = {int(k): " ".join(table[k].split()) for k in sorted(table)}
    r = _Reader(source, "factor")
    seen: set[str] = set()
    out = []
    for i, e in enumerate(doc["factor"], start=1):
        r.index, r.eid = i, ""
        fid = r.ident(e, seen)
        r.keys(e, ("id", "kind", "label", "question", "source"), ("note",))
        out.append(
            Factor(
                id=fid,
                kind=r.choice(e, "kind", FACTOR_KINDS),
                label=r.text(e, "label"),
                question=r.text(e, "question"),
                source=r.text(e, "source"),
                note=r.text(e, "note", required=False),
            )
        )
    return tuple(out), labels


_APPLIES = {"all": TRANSLOCATION_KINDS, "in_range": IN_RANGE, "outside_range": OUTSIDE_RANGE}


@cache
def _checklist(source: str, stamp: tuple[int, int]) -> tuple[tuple[ChecklistItem, ...], dict[str, str]]:
    doc = _document(source, "item", ("version", "sections", "item"))
    sections = doc.get("sections")
    if not isinstance(sections, Mapping) or not sections:
        raise InputError(source, "needs a [sections] table naming each section", column="sections",
                         value=sections)  # fmt: skip
    for k, v in sections.items():
        if not isinstance(v, str) or not v.strip():
            raise InputError(source, "must be non-empty text", column=f"sections.{k}", value=v)
    r = _Reader(source, "item")
    seen: set[str] = set()
    out = []
    for i, e in enumerate(doc["item"], start=1):
        r.index, r.eid = i, ""
        iid = r.ident(e, seen)
        r.keys(
            e, ("id", "section", "label", "question", "kind", "applies_to", "source"), ("blocking", "note")
        )
        section = r.choice(e, "section", tuple(sections))
        kind = r.choice(e, "kind", CHECKLIST_KINDS)
        applies = e["applies_to"]
        if isinstance(applies, str):
            if applies not in _APPLIES:
                r.fail("applies_to", applies, f"use {', '.join(_APPLIES)} or a list of kinds")
            kinds = _APPLIES[applies]
        else:
            if not isinstance(applies, list) or not applies:
                r.fail("applies_to", applies, f"use {', '.join(_APPLIES)} or a list of kinds")
            for k in applies:
                if k not in TRANSLOCATION_KINDS:
                    r.fail(
                        "applies_to", k, f"unknown translocation kind; use {', '.join(TRANSLOCATION_KINDS)}"
                    )
            kinds = tuple(k for k in TRANSLOCATION_KINDS if k in applies)
        blocking = e.get("blocking", False)
        if not isinstance(blocking, bool):
            r.fail("blocking", blocking, "must be true or false")
        if blocking and kind != "feasibility":
            r.fail(
                "blocking",
                blocking,
                "only feasibility items can be blocking (risk items block when rated high)",
            )
        out.append(
            ChecklistItem(
                id=iid,
                section=section,
                question=r.text(e, "question"),
                kind=kind,
                applies_to=kinds,
                blocking=blocking,
                source=r.text(e, "source"),
                label=r.text(e, "label"),
                note=r.text(e, "note", required=False),
            )
        )
    return tuple(out), {k: " ".join(v.split()) for k, v in sections.items()}


# -- public loaders ----------------------------------------------------------------------------------
def roles(path: str | Path | None = None) -> list[Role]:
    """The ex situ conservation roles, in file order (default: the bundled ``roles.toml``).

    Raises :class:`~assess2plan.errors.InputError` naming the file, the role id, the key and the
    value for a missing or invalid file, an unknown key or strategy, a bad or unknown code (codes
    must be quoted text) or a duplicate id.
    """
    return list(_roles(*_stamp(path, "roles.toml")))


def role(role_id: str, path: str | Path | None = None) -> Role:
    """One role by id; InputError listing the known ids for an unknown one."""
    found = {r.id: r for r in roles(path)}
    if role_id not in found:
        raise InputError("ex situ roles", f"unknown role; use one of {', '.join(found)}", column="role",
                         value=role_id)  # fmt: skip
    return found[role_id]


def factors(path: str | Path | None = None) -> list[Factor]:
    """The step 4 factors, grouped by kind in :data:`FACTOR_KINDS` order and in file order within a
    kind (default: the bundled ``factors.toml``). Errors as for :func:`roles`."""
    items = _factors(*_stamp(path, "factors.toml"))[0]
    return sorted(items, key=lambda f: FACTOR_KINDS.index(f.kind))


def factor(factor_id: str, path: str | Path | None = None) -> Factor:
    """One step 4 factor by id; InputError listing the known ids for an unknown one."""
    found = {f.id: f for f in factors(path)}
    if factor_id not in found:
        raise InputError("ex situ factors", f"unknown factor; use one of {', '.join(found)}", column="factor",
                         value=factor_id)  # fmt: skip
    return found[factor_id]


def score_labels(path: str | Path | None = None) -> dict[str, dict[int, str]]:
    """What each score 1-5 means, per factor kind (the ``[scores]`` tables of ``factors.toml``)."""
    labels = _factors(*_stamp(path, "factors.toml"))[1]
    return {k: dict(v) for k, v in labels.items()}


def translocation_checklist(kind: str | None = None, path: str | Path | None = None) -> list[ChecklistItem]:
    """The translocation checklist (default: the bundled ``translocation.toml``), in file order;
    with ``kind`` (one of :data:`TRANSLOCATION_KINDS`) only the items asked for that kind."""
    items = _checklist(*_stamp(path, "translocation.toml"))[0]
    if kind is None:
        return list(items)
    if kind not in TRANSLOCATION_KINDS:
        raise InputError("translocation checklist", f"unknown kind of translocation; use one of "
                         f"{', '.join(TRANSLOCATION_KINDS)}", column="kind", value=kind)  # fmt: skip
    return [i for i in items if kind in i.applies_to]


def checklist_item(item_id: str, path: str | Path | None = None) -> ChecklistItem:
    """One checklist item by id; InputError listing the known ids for an unknown one."""
    found = {i.id: i for i in translocation_checklist(path=path)}
    if item_id not in found:
        raise InputError("translocation checklist", f"unknown item; use one of {', '.join(found)}",
                         column="item", value=item_id)  # fmt: skip
    return found[item_id]


def checklist_sections(path: str | Path | None = None) -> dict[str, str]:
    """The checklist sections (e.g. "D1" -> "Biological feasibility (Annex D1)"), in file order."""
    return dict(_checklist(*_stamp(path, "translocation.toml"))[1])


#: score labels of the bundled factors file: ``SCORE_LABELS["risk"][5] == "very high risk"``
SCORE_LABELS: dict[str, dict[int, str]] = score_labels()
