"""Multi-species planning from Red List assessments (Assess to Plan): places, clusters, triage,
stakeholder suggestions and commitments.

Pure functions over an :class:`~assess2plan.model.AssessmentSet` (nothing here touches the
store); see docs/planning.md for the rationale of every rule and its sources::

    from assess2plan.planning import threat_clusters, shared_threats, triage, apply_decisions

    threat_clusters(aset, by=("country",)).clusters   # species sharing a threat in a place
    triage(aset)                                      # suggested planning buckets per species
"""

from __future__ import annotations

from assess2plan.planning.clusters import (
    CLUSTER_COLUMNS,
    DEFAULT_BY,
    MEMBER_COLUMNS,
    SHARED_COLUMNS,
    Clusters,
    action_clusters,
    shared_threats,
    threat_clusters,
)
from assess2plan.planning.commitments import (
    actions_in_place_updates,
    commitment_summary,
    flag_overdue,
    inplace_crosswalk,
)
from assess2plan.planning.places import (
    DEFAULT_ORIGIN,
    DEFAULT_PRESENCE,
    PLACE_COLUMNS,
    PLACE_KINDS,
    latest_assessments,
    species_places,
)
from assess2plan.planning.stakeholders import (
    experts_from_credits,
    split_names,
    suggest_for_bucket,
    suggest_for_cluster,
    suggest_for_site,
    suggest_stakeholders,
)
from assess2plan.planning.triage import (
    ASSIGNMENT_COLUMNS,
    BUCKETS,
    CONDITIONS,
    DECISION_COLUMNS,
    DEFAULT_CATEGORIES,
    SUMMARY_COLUMNS,
    TriageRule,
    apply_decisions,
    bucket_summary,
    default_rules_path,
    load_rules,
    orphan_decisions,
    rules_frame,
    triage,
)

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "BUCKETS",
    "CLUSTER_COLUMNS",
    "CONDITIONS",
    "DECISION_COLUMNS",
    "DEFAULT_BY",
    "DEFAULT_CATEGORIES",
    "DEFAULT_ORIGIN",
    "DEFAULT_PRESENCE",
    "MEMBER_COLUMNS",
    "PLACE_COLUMNS",
    "PLACE_KINDS",
    "SHARED_COLUMNS",
    "SUMMARY_COLUMNS",
    "Clusters",
    "TriageRule",
    "action_clusters",
    "actions_in_place_updates",
    "commitment_summary",
    "experts_from_credits",
    "flag_overdue",
    "inplace_crosswalk",
    "split_names",
    "suggest_for_bucket",
    "suggest_for_cluster",
    "suggest_for_site",
    "suggest_stakeholders",
    "apply_decisions",
    "bucket_summary",
    "default_rules_path",
    "latest_assessments",
    "load_rules",
    "orphan_decisions",
    "rules_frame",
    "shared_threats",
    "species_places",
    "threat_clusters",
    "triage",
]
