"""Which findings a bulk edit of *actions needed* can fix, and with which action codes.

Four rules have a fix that is an edit of the conservation actions needed (``store.edit_actions``):

=========================  ======  ==========================================================
rule                       edit    codes
=========================  ======  ==========================================================
major_threat_no_action     add     the actions the threat→action crosswalk lists for the
                                   threat (the finding's evidence ``addressed_by``)
threatened_no_action       add     the actions proposed for the species' own major threats
                                   without action (its ``major_threat_no_action`` findings)
action_no_threat           remove  the action named in the evidence
action_already_in_place    remove  the action named in the evidence
=========================  ======  ==========================================================

Pure functions over the findings frame of ``check_frame`` (evidence as JSON text).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import polars as pl

from assess2plan.schemes import is_known, name_of

#: rule -> the edit that fixes its findings
FIXABLE = {
    "major_threat_no_action": "add",
    "threatened_no_action": "add",
    "action_no_threat": "remove",
    "action_already_in_place": "remove",
}


def evidence_of(text: str | None) -> Any:
    """A finding's evidence: the JSON object it holds, else the text itself (None stays None)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def fix_of(rule: str, evidence: Any, proposed: list[str]) -> dict[str, Any] | None:
    """The edit that fixes one finding: ``{"op": "add", "codes": [(code, name), ...]}`` to choose
    from, or ``{"op": "remove", "code", "name"}``; None when the rule has no such fix.
    ``proposed``: for ``threatened_no_action``, the codes ``proposed_actions`` gives its taxon."""
    op = FIXABLE.get(rule)
    if op is None or (not isinstance(evidence, dict) and rule != "threatened_no_action"):
        return None
    if op == "remove":
        code = str(evidence.get("action") or "")
        return {"op": "remove", "code": code, "name": name_of("conservation_actions", code) or ""} if code else None
    if rule == "major_threat_no_action":
        candidates = [str(c) for c in evidence.get("addressed_by") or []]
    else:
        candidates = proposed
    codes = [c for c in dict.fromkeys(candidates) if is_known("conservation_actions", c)]
    return {"op": "add", "codes": [(c, name_of("conservation_actions", c) or "") for c in codes]}


def proposed_actions(findings: pl.DataFrame, taxa: Iterable[str]) -> dict[str, list[str]]:
    """Per taxon: the action codes the crosswalk proposes for its major threats without action
    (from its ``major_threat_no_action`` findings), in order, each once."""
    sub = findings.filter(
        (pl.col("rule") == "major_threat_no_action") & pl.col("taxon_id").is_in(list(set(taxa)))
    )
    out: dict[str, list[str]] = defaultdict(list)
    for tid, ev in sub.select("taxon_id", "evidence").iter_rows():
        parsed = evidence_of(ev)
        if isinstance(parsed, dict):
            out[tid] += [str(c) for c in parsed.get("addressed_by") or [] if str(c) not in out[tid]]
    return out
