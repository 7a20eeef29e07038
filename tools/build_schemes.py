"""Build the classification scheme data files from the Red List API v4 code lists.

    python tools/build_schemes.py ../shared/data/redlist-api-v4/rredlist

Writes ``src/assess2plan/schemes/data/<scheme>.csv`` (code,name,parent,level[,version]) with
codes in dotted form. Run it again when IUCN publishes a new scheme version and bump
``VERSIONS`` in ``assess2plan/schemes/__init__.py``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "assess2plan" / "schemes" / "data"

FILES = {
    "threats": "rl_threats-def.json",
    "conservation_actions": "rl_actions-def.json",
    "research": "rl_research-def.json",
    "stresses": "rl_stresses-def.json",
    "habitats": "rl_habitats-def.json",
    "use_and_trade": "rl_use_and_trade-def.json",
    "countries": "rl_countries-def.json",
    "categories": "rl_categories-def.json",
    "population_trends": "rl_pop_trends-def.json",
    "systems": "rl_systems-def.json",
    "realms": "rl_realms-def.json",
    "faos": "rl_faos-def.json",
    "growth_forms": "rl_growth_forms-def.json",
    "scopes": "rl_scopes-def.json",
}
HIERARCHICAL = {"threats", "conservation_actions", "research", "stresses", "habitats", "use_and_trade"}


def main(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for scheme, fname in FILES.items():
        body = json.loads((src / fname).read_text(encoding="utf-8"))["body"]
        (items,) = body.values()
        rows = []
        for it in items:
            code = str(it["code"]).replace("_", ".")
            name = it["description"]["en"]
            parent = code.rsplit(".", 1)[0] if scheme in HIERARCHICAL and "." in code else ""
            level = code.count(".") + 1 if scheme in HIERARCHICAL else 1
            row = {"code": code, "name": name, "parent": parent, "level": level}
            if scheme == "categories":
                row["version"] = it.get("version", "")
            rows.append(row)
        with open(OUT / f"{scheme}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"{scheme}: {len(rows)} codes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/redlist-api-v4/rredlist"))
