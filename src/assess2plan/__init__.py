"""assess2plan: from IUCN Red List assessments to conservation planning (Assess -> Plan -> Act).

Notebook use::

    import assess2plan as a2p
    s = a2p.read_redlist("redlist_species_data.zip")
    a2p.species(s, category="CR,EN", threat="7.2")
"""

from __future__ import annotations

from assess2plan.errors import A2PError, InputError
from assess2plan.model import AssessmentSet, Issue
from assess2plan.species import species, species_record

__version__ = "0.1.0"

__all__ = [
    "A2PError",
    "AssessmentSet",
    "InputError",
    "Issue",
    "__version__",
    "read_redlist",
    "species",
    "species_record",
]


def read_redlist(*paths, **kwargs) -> AssessmentSet:
    """Read Red List sources (download zips/folders, SIS Connect folders, API v4 JSON) into one set."""
    from assess2plan.io import read_redlist as _read

    return _read(*paths, **kwargs)
