"""Reading the answers to the translocation feasibility and risk checklist (IUCN/SSC 2013 Guidelines
for Reintroductions and Other Conservation Translocations).

The verdict follows the guidelines' rule "Where risk is high and/or uncertainty remains about risks
and their impacts, a translocation should not proceed":

* **do not proceed** — a blocking question (e.g. "have the threats that caused the decline been
  removed or sufficiently reduced?") is answered "no", or a risk is rated "high";
* **not ready** — otherwise, while any question is unanswered or "unknown", or a risk has not been
  assessed (answered "no" or "unknown") or has no level;
* **proceed to design** — every question answered, no blocking "no", no high risk. Non-blocking
  questions answered "no" and medium risks are listed as concerns for the design.

The checklist items are in ``exsitu/data/translocation.toml``
(:func:`assess2plan.exsitu.guidelines.translocation_checklist`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assess2plan.errors import InputError
from assess2plan.exsitu.guidelines import (
    ANSWERS,
    RISK_LEVELS,
    TRANSLOCATION_KIND_LABELS,
    TRANSLOCATION_KINDS,
    ChecklistItem,
    translocation_checklist,
)

__all__ = ["IUCN_RISK_RULE", "VERDICTS", "TranslocationSummary", "evaluate_translocation"]

FILE = "translocation checklist"
VERDICTS = ("do not proceed", "not ready", "proceed to design")
IUCN_RISK_RULE = (
    "IUCN/SSC (2013): where risk is high and/or uncertainty remains about risks and their impacts, "
    "a translocation should not proceed"
)


@dataclass(frozen=True)
class TranslocationSummary:
    """The checklist read for one kind of translocation.

    ``total``: questions asked for this kind; ``answered``: those answered yes / no / na (a risk
    answered "yes" counts once it has a level); ``unknown``: ids still open (unanswered, "unknown",
    a risk not assessed or without a level); ``blocking``: ids of blocking questions answered "no";
    ``high_risks``: ids of risks rated high; ``concerns``: ids of other questions answered "no" and
    risks rated medium; ``verdict``: one of :data:`VERDICTS`; ``reasons``: why, naming the items.
    """

    kind: str
    total: int
    answered: int
    unknown: tuple[str, ...]
    blocking: tuple[str, ...]
    high_risks: tuple[str, ...]
    verdict: str
    reasons: list[str] = field(default_factory=list)
    concerns: tuple[str, ...] = ()


def _text(value: object) -> str:
    return "" if value is None else str(value).strip().lower()


def _read(item: ChecklistItem, raw: object) -> tuple[str, str | None]:
    """The answer and risk level of one item, validated."""
    col = f"answers.{item.id}"
    if isinstance(raw, str):  # a bare answer: "yes"
        raw = {"answer": raw}
    if not isinstance(raw, Mapping):
        raise InputError(FILE, "must be an object {answer, risk, note}", column=col, value=raw)
    for k in raw:
        if k not in ("answer", "risk", "note"):
            raise InputError(
                FILE, f"unknown key {k!r}; use answer, risk, note", column=f"{col}.{k}", value=raw[k]
            )
    answer = _text(raw.get("answer"))
    if answer and answer not in ANSWERS:
        raise InputError(
            FILE, f"use one of {', '.join(ANSWERS)}", column=f"{col}.answer", value=raw.get("answer")
        )
    risk = _text(raw.get("risk")) or None
    if risk is not None:
        if item.kind != "risk":
            raise InputError(FILE, "a risk level is given only for risk items", column=f"{col}.risk",
                             value=raw.get("risk"))  # fmt: skip
        if risk not in RISK_LEVELS:
            raise InputError(FILE, f"use one of {', '.join(RISK_LEVELS)}", column=f"{col}.risk",
                             value=raw.get("risk"))  # fmt: skip
        if answer in ("no", "na"):
            raise InputError(FILE, f"a risk answered {answer!r} cannot have a level; answer yes once it is "
                             "assessed", column=f"{col}.risk", value=raw.get("risk"))  # fmt: skip
    if risk is not None and not answer:
        answer = "yes"  # a risk level given means the risk has been assessed
    if answer == "na" and item.blocking:
        raise InputError(FILE, "this question must be answered for this kind of translocation; it cannot be "
                         "not applicable", column=f"{col}.answer", value=raw.get("answer"))  # fmt: skip
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise InputError(FILE, "must be text", column=f"{col}.note", value=note)
    return answer, risk


def evaluate_translocation(
    kind: str,
    answers: Mapping[str, Mapping[str, Any]] | None,
    *,
    path: str | Path | None = None,
) -> TranslocationSummary:
    """Read the checklist answers for a translocation of ``kind`` (reinforcement, reintroduction,
    assisted_colonisation, ecological_replacement).

    ``answers`` maps item ids to ``{"answer": "yes" | "no" | "unknown" | "na", "risk": "low" |
    "medium" | "high" | None, "note": "..."}`` (a bare string is read as the answer); items not in
    it count as unanswered. ``path``: a checklist file of your own (default: the bundled one).

    Raises :class:`~assess2plan.errors.InputError` (file "translocation checklist", column
    ``answers.<item id>``) for an unknown kind, an unknown item id (listing the known ones), an
    item not asked for this kind, a bad answer or risk level, a risk level on a feasibility item
    or "na" on a blocking item.
    """
    if kind not in TRANSLOCATION_KINDS:
        raise InputError(FILE, f"unknown kind of translocation; use one of {', '.join(TRANSLOCATION_KINDS)}",
                         column="kind", value=kind)  # fmt: skip
    answers = {} if answers is None else answers
    if not isinstance(answers, Mapping):
        raise InputError(FILE, "must be an object {item id: {answer, risk, note}}", column="answers",
                         value=answers)  # fmt: skip
    every = {i.id: i for i in translocation_checklist(path=path)}
    asked = translocation_checklist(kind, path=path)
    asked_ids = {i.id for i in asked}
    for key in answers:
        if key not in every:
            raise InputError(FILE, f"unknown checklist item; known items: {', '.join(every)}",
                             column=f"answers.{key}", value=key)  # fmt: skip
        if key not in asked_ids:
            applies = ", ".join(every[key].applies_to)
            raise InputError(
                FILE, f"this item is not asked for a {kind.replace('_', ' ')} (it applies to {applies})",
                column=f"answers.{key}", value=key,
            )  # fmt: skip

    open_, blocking, high, concerns = [], [], [], []
    open_why: dict[str, str] = {}
    answered = 0
    for item in asked:
        answer, risk = _read(item, answers[item.id]) if item.id in answers else ("", None)
        if not answer or answer == "unknown":
            open_.append(item.id)
            open_why[item.id] = "not answered" if not answer else "unknown"
            if risk == "high":
                high.append(item.id)
            continue
        if item.kind == "risk":
            if answer == "no":
                open_.append(item.id)
                open_why[item.id] = "risk not assessed"
                continue
            if answer == "yes" and risk is None:
                open_.append(item.id)
                open_why[item.id] = "risk level not given"
                continue
            answered += 1
            if risk == "high":
                high.append(item.id)
            elif risk == "medium":
                concerns.append(item.id)
            continue
        answered += 1
        if answer == "no":
            (blocking if item.blocking else concerns).append(item.id)

    by_id = {i.id: i for i in asked}

    def named(ids: list[str]) -> str:
        """Ids with their labels (ids only for a long list, which would be unreadable)."""
        if len(ids) > 6:
            return ", ".join(ids)
        return "; ".join(f"{i} ({by_id[i].label or by_id[i].question})" for i in ids)

    def still_open() -> str:
        groups: dict[str, list[str]] = {}
        for i in open_:
            groups.setdefault(open_why[i], []).append(i)
        return "; ".join(f"{why}: {named(ids)}" for why, ids in groups.items())

    reasons: list[str] = []
    if blocking:
        reasons.append(f"blocking question answered no: {named(blocking)}")
    if high:
        reasons.append(f"risk rated high: {named(high)}")
    if blocking or high:
        verdict = "do not proceed"
        if high:
            reasons.append(IUCN_RISK_RULE)
        if open_:
            reasons.append(f"also {len(open_)} of {len(asked)} questions still open ({still_open()})")
    elif open_:
        verdict = "not ready"
        reasons.append(f"{len(open_)} of {len(asked)} questions still open ({still_open()})")
        if any(by_id[i].kind == "risk" for i in open_):
            reasons.append(IUCN_RISK_RULE)
    else:
        verdict = "proceed to design"
        reasons.append(
            f"all {len(asked)} questions for a {TRANSLOCATION_KIND_LABELS[kind].lower()} answered, "
            "no blocking question answered no and no risk rated high"
        )
    if concerns:
        reasons.append(f"to address in the design: {named(concerns)}")
    return TranslocationSummary(
        kind=kind,
        total=len(asked),
        answered=answered,
        unknown=tuple(open_),
        blocking=tuple(blocking),
        high_risks=tuple(high),
        verdict=verdict,
        reasons=reasons,
        concerns=tuple(concerns),
    )
