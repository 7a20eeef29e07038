"""Build the world map of the workshop report: ``src/assess2plan/report/data/world-110m.geojson``.

Source: Natural Earth "Admin 0 - Countries" (version 4.1.0), public domain
(https://www.naturalearthdata.com/about/terms-of-use/), as redistributed in TopoJSON by the npm
package ``world-atlas@2`` (Mike Bostock, ISC licence; https://github.com/topojson/world-atlas)::

    cd /tmp && npm pack world-atlas@2 && tar xzf world-atlas-2.*.tgz   # -> /tmp/package/
    pip install --target /tmp/pyc pycountry                            # build-time only (+ shapely)
    PYTHONPATH=/tmp/pyc python tools/build_world_map.py /tmp/package

What it writes (a GeoJSON FeatureCollection, lon/lat WGS84, coordinates rounded to 0.01 degree):

* one Polygon/MultiPolygon feature per country of the 1:110m file (``countries-110m.json``) with
  properties ``iso_a2`` (ISO 3166-1 alpha-2, the code Red List ``countries.csv`` uses), ``name``
  and ``kind`` = ``"polygon"``;
* one Point feature (``kind`` = ``"point"``) for each country or territory of the Red List country
  list that is too small for the 1:110m file (Pacific and Caribbean islands, ...): a point inside
  its largest part in the 1:10m file (``countries-10m.json``), so the report can draw a marker.

ISO numeric ids of world-atlas are turned into alpha-2 codes with ``pycountry`` (only here, at build
time). Three Natural Earth units without an ISO id are merged into the country the Red List uses
for them (N. Cyprus -> CY, Somaliland -> SO, Kosovo -> RS). Overseas parts that Natural Earth keeps
inside their sovereign country but the Red List lists as countries of their own (French Guiana,
Guadeloupe, Martinique, Réunion, Mayotte, Svalbard, Bouvet, Caribbean Netherlands, Tokelau,
Christmas Island, Cocos Islands) are cut out of the parent by the boxes in ``PARTS``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "assess2plan" / "report" / "data" / "world-110m.geojson"
COUNTRIES = ROOT / "src" / "assess2plan" / "schemes" / "data" / "countries.csv"

#: Natural Earth units without an ISO numeric id -> the Red List country they belong to.
NO_ID = {"N. Cyprus": "CY", "Somaliland": "SO", "Kosovo": "RS", "Indian Ocean Ter.": "AU"}

#: code -> (parent code, lon min, lon max, lat min, lat max): parts of a parent's geometry that the
#: Red List lists as a country of their own.
PARTS = {
    "GF": ("FR", -55.0, -51.0, 1.5, 6.5),
    "GP": ("FR", -62.0, -60.9, 15.8, 16.6),
    "MQ": ("FR", -61.3, -60.7, 14.3, 15.0),
    "RE": ("FR", 55.1, 56.0, -21.5, -20.8),
    "YT": ("FR", 44.9, 45.4, -13.1, -12.5),
    "SJ": ("NO", -10.0, 35.0, 74.0, 81.5),
    "BV": ("NO", 3.2, 3.6, -54.6, -54.3),
    "BQ": ("NL", -68.5, -62.8, 11.9, 17.8),
    "TK": ("NZ", -173.0, -171.0, -10.0, -8.0),
    "CX": ("AU", 105.4, 106.0, -10.7, -10.3),
    "CC": ("AU", 96.7, 97.0, -12.3, -11.7),
}


def decode(topo: dict) -> list[tuple[str | None, str, list[list[list[tuple[float, float]]]]]]:
    """TopoJSON countries -> (numeric id, name, polygons as lists of rings of (lon, lat))."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)

    def ring(indices: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for i in indices:
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(pts if not out else pts[1:])
        return out

    result = []
    for g in topo["objects"]["countries"]["geometries"]:
        if g["type"] == "Polygon":
            polys = [[ring(r) for r in g["arcs"]]]
        elif g["type"] == "MultiPolygon":
            polys = [[ring(r) for r in p] for p in g["arcs"]]
        else:
            continue
        result.append((g.get("id"), g["properties"]["name"], planar(polys)))
    return result


def _clip(ring: list[tuple[float, float]], cut: float, keep_west: bool) -> list[tuple[float, float]]:
    """Sutherland-Hodgman clip of a ring against the meridian ``cut``."""
    out: list[tuple[float, float]] = []

    def inside(p: tuple[float, float]) -> bool:
        return p[0] <= cut if keep_west else p[0] >= cut

    def cross(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return cut, a[1] + (cut - a[0]) / (b[0] - a[0]) * (b[1] - a[1])

    prev = ring[-1]
    for cur in ring:
        if inside(cur):
            if not inside(prev):
                out.append(cross(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cross(prev, cur))
        prev = cur
    return out


def split_antimeridian(ring: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A spherical ring (TopoJSON jumps from 180 to -180 where it crosses the antimeridian) as
    planar rings within -180..180; a ring round a pole is closed along the pole."""
    pts = [ring[0]]
    offset = 0.0
    for (x0, _), (x1, y1) in zip(ring, ring[1:], strict=False):
        if x1 - x0 > 180:
            offset -= 360
        elif x0 - x1 > 180:
            offset += 360
        pts.append((x1 + offset, y1))
    if abs(offset) > 180:  # round a pole: close the ring along it
        pole = -90.0 if sum(y for _, y in pts) < 0 else 90.0
        (xe, _), (xs, ys) = pts[-1], pts[0]
        pts = pts[:-1] + [(xe, pts[-1][1]), (xe, pole), (xs, pole), (xs, ys)]
    lo = min(x for x, _ in pts)
    hi = max(x for x, _ in pts)
    if lo >= -180 and hi <= 180:
        return [pts]
    out = []
    k = -1
    while -180 + 360 * k < hi:
        if 180 + 360 * k > lo:
            piece = _clip(_clip(pts, -180 + 360 * k, False), 180 + 360 * k, True)
            if len(piece) >= 3:
                out.append([(x - 360 * k, y) for x, y in piece])
        k += 1
    return out


def planar(polys: list[list[list[tuple[float, float]]]]) -> list[list[list[tuple[float, float]]]]:
    """Polygons split at the antimeridian (holes go with the piece that holds their first point)."""
    out = []
    for poly in polys:
        pieces = split_antimeridian(poly[0])
        holes = [h for r in poly[1:] for h in split_antimeridian(r)]
        parts = [[p] for p in pieces]
        for h in holes:
            hx, hy = h[0]
            for part in parts:
                xs = [x for x, _ in part[0]]
                ys = [y for _, y in part[0]]
                if min(xs) <= hx <= max(xs) and min(ys) <= hy <= max(ys):
                    part.append(h)
                    break
        out.extend(parts)
    return out


def alpha2(numeric: str | None, name: str) -> str | None:
    import pycountry

    if numeric is None:
        return NO_ID.get(name)
    c = pycountry.countries.get(numeric=numeric)
    return c.alpha_2 if c else None


def bbox_centre(poly: list[list[tuple[float, float]]]) -> tuple[float, float]:
    xs = [p[0] for p in poly[0]]
    ys = [p[1] for p in poly[0]]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def in_box(poly: list[list[tuple[float, float]]], box: tuple[float, float, float, float]) -> bool:
    x, y = bbox_centre(poly)
    return box[0] <= x <= box[1] and box[2] <= y <= box[3]


def ring_area(r: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(r, r[1:] + r[:1], strict=True))) / 2


def by_code(units) -> dict[str, list[list[list[tuple[float, float]]]]]:
    """code -> polygons, with merged units and overseas parts cut out of their parent."""
    out: dict[str, list] = {}
    for numeric, name, polys in units:
        code = alpha2(numeric, name)
        if code:
            out.setdefault(code, []).extend(polys)
    for code, (parent, *box) in PARTS.items():
        if parent not in out:
            continue
        moved = [p for p in out[parent] if in_box(p, tuple(box))]
        if moved:
            out[parent] = [p for p in out[parent] if not in_box(p, tuple(box))]
            out.setdefault(code, []).extend(moved)
    return out


def inner_point(polys) -> tuple[float, float]:
    """A point inside the largest part (shapely's representative point: always inside the shape)."""
    from shapely.geometry import Polygon

    best = max(polys, key=lambda p: ring_area(p[0]))
    pt = Polygon(best[0], best[1:]).representative_point()
    return pt.x, pt.y


def rounded(polys, nd: int = 2):
    out = []
    for poly in polys:
        rings = []
        for r in poly:
            pts = []
            for x, y in r:
                p = [round(x, nd), round(y, nd)]
                if not pts or pts[-1] != p:
                    pts.append(p)
            if len(pts) >= 4:
                if pts[0] != pts[-1]:
                    pts.append(pts[0])
                rings.append(pts)
        if rings:
            out.append(rings)
    return out


def main(package: Path) -> None:
    with open(COUNTRIES, encoding="utf-8") as fh:
        redlist = {r["code"]: r["name"].strip() for r in csv.DictReader(fh)}
    small = by_code(decode(json.loads((package / "countries-110m.json").read_text(encoding="utf-8"))))
    fine = by_code(decode(json.loads((package / "countries-10m.json").read_text(encoding="utf-8"))))
    features = []
    for code in sorted(small):
        polys = rounded(small[code])
        if not polys:
            continue
        if len(polys) == 1:
            geom = {"type": "Polygon", "coordinates": polys[0]}
        else:
            geom = {"type": "MultiPolygon", "coordinates": polys}
        props = {"iso_a2": code, "name": redlist.get(code, code), "kind": "polygon"}
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    points = 0
    for code in sorted(set(fine) - {f["properties"]["iso_a2"] for f in features}):
        if code not in redlist or not fine[code]:
            continue
        x, y = inner_point(fine[code])
        features.append(
            {
                "type": "Feature",
                "properties": {"iso_a2": code, "name": redlist[code], "kind": "point"},
                "geometry": {"type": "Point", "coordinates": [round(x, 3), round(y, 3)]},
            }
        )
        points += 1
    doc = {
        "type": "FeatureCollection",
        "source": "Natural Earth 4.1.0 Admin 0 countries (1:110m; 1:10m for the points of small islands), "
        "public domain, via the npm package world-atlas@2; built by tools/build_world_map.py",
        "features": features,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    missing = sorted(set(redlist) - {f["properties"]["iso_a2"] for f in features})
    print(f"{len(features) - points} countries as polygons, {points} as points -> {OUT}")
    print(f"Red List countries without a shape or point ({len(missing)}): {' '.join(missing)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
