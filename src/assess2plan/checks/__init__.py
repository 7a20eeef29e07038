"""Consistency checks over the canonical tables of an ``AssessmentSet`` (pure functions).

::

    from assess2plan.checks import run_checks, findings_frame
    findings = run_checks(aset, today=date(2025, 1, 1))            # list[Finding]
    findings_frame(findings)                                       # polars frame, one row each
    run_checks(aset, rules=["threatened_no_action"])               # only some rules
    run_checks(aset, config="my-checks.toml")                      # own thresholds / crosswalks
    run_checks(aset, config={"rules": {"assessment_outdated": {"enabled": False}}})

Checks run on each taxon's latest assessment in ``scope`` (``AssessmentSet.latest``). Every rule
is registered in ``RULES`` with its id, default severity, rationale and default on/off state;
thresholds live in ``checks/data/config.toml`` and the threat -> action crosswalk in
``checks/data/threat_action_crosswalk.csv`` (``in_place_crosswalk.csv`` maps research and actions
needed to the InPlace* fields). docs/checks.md documents every rule.
"""

from __future__ import annotations

from assess2plan.checks import rules as _rules  # noqa: F401  (registers the rules)
from assess2plan.checks.core import (
    FINDING_SCHEMA,
    RULES,
    SEVERITIES,
    CheckConfig,
    Context,
    Finding,
    Rule,
    RuleSkipped,
    check_frame,
    default_settings,
    findings_frame,
    rule,
    rules_frame,
    run_checks,
)
from assess2plan.checks.criteria import (
    Criteria,
    CriteriaSyntaxError,
    Criterion,
    Subcriterion,
    coherence,
    parse_criteria,
)


def completeness(aset, *, config=None, scope: str = "Global"):
    """Completeness of the conservation section per latest assessment: one boolean column per
    component (threats, actions_needed, research_needed, actions_in_place, habitats, countries),
    ``score`` 0-100, ``missing`` and ``not_in_export`` (components absent from the whole set)."""
    import datetime as dt

    from assess2plan.checks.rules import completeness_scores

    cfg = CheckConfig.load(config)
    ctx = Context(aset, cfg, scope, dt.date.today())
    return completeness_scores(ctx, cfg.rule_settings("completeness_low"))


__all__ = [
    "FINDING_SCHEMA",
    "RULES",
    "SEVERITIES",
    "CheckConfig",
    "Context",
    "Criteria",
    "CriteriaSyntaxError",
    "Criterion",
    "Finding",
    "Rule",
    "RuleSkipped",
    "Subcriterion",
    "check_frame",
    "coherence",
    "completeness",
    "default_settings",
    "findings_frame",
    "parse_criteria",
    "rule",
    "rules_frame",
    "run_checks",
]
