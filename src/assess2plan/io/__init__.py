"""Readers and writers at the edges: Red List download, SIS Connect, API v4 (and later more).

``read_redlist(*paths)`` finds out what each path is and reads it with the right reader; several
paths (split download parts, overlapping downloads, different formats) are combined into one
``AssessmentSet`` without duplicates (``AssessmentSet.combine``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assess2plan.errors import InputError
from assess2plan.io.sis_connect_write import write_sis_connect
from assess2plan.model import AssessmentSet

__all__ = ["FORMATS", "Progress", "detect_format", "read_redlist", "write_sis_connect"]

#: callback(stage, done, total): "reading simple_summary.csv", 3, 11
Progress = Callable[[str, int, int], None]

FORMATS = ("redlist-download", "sis-connect", "api-v4")


def detect_format(path: str | Path) -> str:
    """Which format ``path`` holds: "redlist-download", "sis-connect" or "api-v4"."""
    from assess2plan.io.files import list_members

    p = Path(path)
    if not p.exists():
        raise InputError(str(path), "no such file or folder")
    if p.is_file() and p.suffix.lower() == ".json":
        return "api-v4"
    names = {Path(m).name.lower() for m in list_members(p)}
    if not names:
        raise InputError(str(path), "holds no CSV or JSON files")
    if names & {"allfields.csv", "conservationneeded.csv", "researchneeded.csv", "commonnames.csv"}:
        return "sis-connect"
    if any(n.endswith(".csv") for n in names):
        from assess2plan.io.sis_connect import looks_like_sis_connect

        return "sis-connect" if looks_like_sis_connect(p) else "redlist-download"
    if all(n.endswith(".json") for n in names):
        return "api-v4"
    raise InputError(str(path), "is not a Red List download, SIS Connect set or API v4 JSON")


def read_redlist(*paths: str | Path, format: str | None = None, progress: Progress | None = None) -> AssessmentSet:
    """Read Red List data from zips, folders or JSON files into one ``AssessmentSet``.

    Download parts are read together (several zips or folders of one download, or overlapping
    downloads); an assessment or taxon found twice is kept once.
    """
    if not paths:
        raise InputError("(no path)", "give at least one file or folder to read")
    by_format: dict[str, list[Path]] = {}
    for p in paths:
        fmt = format or detect_format(p)
        if fmt not in FORMATS:
            raise InputError(str(p), f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        by_format.setdefault(fmt, []).append(Path(p))
    sets: list[AssessmentSet] = []
    for fmt, ps in by_format.items():
        if fmt == "redlist-download":
            from assess2plan.io.download import read_download

            sets.append(read_download(ps, progress=progress))
        elif fmt == "sis-connect":
            from assess2plan.io.sis_connect import read_sis_connect

            sets.extend(read_sis_connect(p, progress=progress) for p in ps)
        else:
            from assess2plan.io.api_v4 import read_api_json

            sets.append(read_api_json(ps, progress=progress))
    return AssessmentSet.combine(sets)


_LAZY = {
    "read_download": "assess2plan.io.download",
    "read_sis_connect": "assess2plan.io.sis_connect",
    "read_api_json": "assess2plan.io.api_v4",
    "read_holdings": "assess2plan.io.holdings",
    "read_cites": "assess2plan.io.cites",
}


def __getattr__(name: str):  # the readers themselves, imported when first asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'assess2plan.io' has no attribute {name!r}")
