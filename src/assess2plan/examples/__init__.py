"""Bundled FICTIONAL example working sets, for demos, tutorials and tests.

Every taxon, person, place and country in them is invented (countries use ISO 3166 user-assigned
codes such as XA); they contain no IUCN Red List data. ``example_path("lakeland")`` is a folder::

    lakeland/
        README.md           what is in it and which problems were planted on purpose
        download/           a Red List website "Download search results" (non-spatial) set of CSVs
        sites.csv           invented sites (lakes, river basin, wetlands, KBAs, protected areas)
        species_sites.csv   which species occur at which site
        holdings.csv        invented ex situ holdings (Species360/ZIMS-style; a2p exsitu holdings import)
        cites_checklist.csv an invented CITES Species+ checklist export (a2p exsitu cites import)

Read it like any download: ``read_redlist(example_path() / "download")``. The files are written by
``tools/make_example.py``; do not edit them by hand.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Names of the bundled examples.
EXAMPLES = ["lakeland"]


def example_path(name: str = "lakeland") -> Path:
    """The folder of the bundled example ``name`` (one of ``EXAMPLES``)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}")
    root = resources.files(__name__).joinpath(name)
    path = Path(str(root))
    if not path.is_dir():  # e.g. installed inside a zip: the example cannot be used as a folder
        raise FileNotFoundError(f"example {name!r} is not available as a folder ({root})")
    return path


__all__ = ["EXAMPLES", "example_path"]
