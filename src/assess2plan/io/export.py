"""Writers of the canonical tables: one CSV per table, or one JSON document."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from assess2plan.model import TABLES, AssessmentSet


def write_csv_tables(aset: AssessmentSet, folder: str | Path) -> list[Path]:
    """Write every canonical table to ``folder/<table>.csv`` (UTF-8, header row). Returns the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        p = out / f"{name}.csv"
        aset.tables[name].write_csv(p)
        paths.append(p)
    return paths


def _default(o):
    if isinstance(o, date | datetime):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def to_json_document(aset: AssessmentSet, *, project: str | None = None) -> dict:
    """The set as a JSON-ready document: provenance plus every table as a list of rows."""
    return {
        "format": "assess2plan-tables",
        "version": 1,
        "project": project,
        "sources": [s.__dict__ for s in aset.sources],
        "counts": aset.counts(),
        "tables": {name: aset.tables[name].to_dicts() for name in TABLES},
    }


def write_json(aset: AssessmentSet, path: str | Path, *, project: str | None = None) -> Path:
    """Write ``to_json_document`` to ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8") as fh:
        json.dump(to_json_document(aset, project=project), fh, ensure_ascii=False, default=_default)
    return p
