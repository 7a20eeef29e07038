"""Maps of the workshop report: a choropleth of countries and a map of sites (matplotlib).

The country outlines are Natural Earth 1:110m (public domain), shipped as
``report/data/world-110m.geojson`` (built by ``tools/build_world_map.py``; see the README next
to it). Small island countries that the 1:110m file leaves out have a point there and are drawn
as a marker. Maps use the Equal Earth projection (Šavrič, Patterson & Jenny 2018), an equal-area
projection, so that large countries do not look more important than they are; the central
meridian follows the data (a Pacific working set is drawn centred on the Pacific).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MPath  # noqa: E402

from assess2plan.report.charts import _STYLE  # noqa: E402

#: Choropleth classes, light to dark (ColorBrewer YlOrRd, 7 classes).
CHOROPLETH_COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
#: Countries with no species counted, land in general, the sea.
ZERO_COLOUR = "#e6e6e6"
OCEAN_COLOUR = "#eef4f8"
EDGE_COLOUR = "#9a9a9a"
_NICE = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000)


@dataclass(frozen=True)
class Country:
    """One country of the map file: outline rings (lon/lat arrays) or a marker point."""

    code: str
    name: str
    kind: str  # polygon | point
    polygons: tuple[tuple[np.ndarray, ...], ...]  # polygons -> rings -> (n, 2) lon/lat
    point: tuple[float, float] | None
    centre: tuple[float, float]  # representative lon/lat (largest part's box centre, or the point)


@cache
def world() -> dict[str, Country]:
    """The countries of the bundled map file by ISO alpha-2 code."""
    path = resources.files("assess2plan.report").joinpath("data", "world-110m.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Country] = {}
    for f in doc["features"]:
        p = f["properties"]
        g = f["geometry"]
        if g["type"] == "Point":
            x, y = g["coordinates"]
            out[p["iso_a2"]] = Country(p["iso_a2"], p["name"], "point", (), (x, y), (x, y))
            continue
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        parts = tuple(tuple(np.asarray(r, dtype=float) for r in poly) for poly in polys)
        big = max(parts, key=lambda poly: _area(poly[0]))[0]
        centre = (
            float((big[:, 0].min() + big[:, 0].max()) / 2),
            float((big[:, 1].min() + big[:, 1].max()) / 2),
        )
        out[p["iso_a2"]] = Country(p["iso_a2"], p["name"], "polygon", parts, None, centre)
    return out


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


# -- projection ------------------------------------------------------------------------------------
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3) / 2


def equal_earth(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal Earth projection of longitudes (relative to the central meridian) and latitudes in
    degrees, to unit-sphere map coordinates."""
    lam = np.radians(lon)
    theta = np.arcsin(_M * np.sin(np.radians(np.clip(lat, -90, 90))))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = 2 * math.sqrt(3) * lam * np.cos(theta) / (3 * (9 * _A4 * t6 * t2 + 7 * _A3 * t6 + 3 * _A2 * t2 + _A1))
    y = theta * (_A1 + _A2 * t2 + t6 * (_A3 + _A4 * t2))
    return x, y


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _clip(ring: np.ndarray, cut: float, left: bool) -> np.ndarray:
    """Sutherland-Hodgman clip of a lon/lat ring against the meridian ``cut`` (keep west if ``left``)."""
    pts = ring.tolist()
    out: list[list[float]] = []

    def inside(p: list[float]) -> bool:
        return p[0] <= cut if left else p[0] >= cut

    def cross(a: list[float], b: list[float]) -> list[float]:
        t = (cut - a[0]) / (b[0] - a[0])
        return [cut, a[1] + t * (b[1] - a[1])]

    prev = pts[-1]
    for cur in pts:
        if inside(cur):
            if not inside(prev):
                out.append(cross(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cross(prev, cur))
        prev = cur
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _densify(ring: np.ndarray, step: float = 3.0) -> np.ndarray:
    """Add points on long edges so they follow the projection's curves (e.g. along the seam)."""
    if len(ring) < 2:
        return ring
    d = np.abs(np.diff(ring, axis=0)).max(axis=1)
    if (d <= step).all():
        return ring
    parts = [ring[:1]]
    for a, b, dist in zip(ring[:-1], ring[1:], d, strict=True):
        n = int(dist // step) + 1
        t = np.linspace(0, 1, n + 1)[1:, None]
        parts.append(a + (b - a) * t)
    return np.vstack(parts)


def project_ring(ring: np.ndarray, lon0: float) -> list[np.ndarray]:
    """A lon/lat ring as projected rings (several when it crosses the map's edge at ``lon0 + 180``)."""
    pieces = [ring]
    if lon0:
        seam = _wrap(lon0 + 180.0)
        lons = ring[:, 0]
        if (lons < seam).any() and (lons > seam).any():
            pieces = [p for p in (_clip(ring, seam, True), _clip(ring, seam, False)) if len(p) >= 3]
    out = []
    for piece in pieces:
        rel = piece[:, 0] - lon0
        k = round(-float(np.mean(rel)) / 360.0)
        rel = np.clip(rel + 360.0 * k, -180.0, 180.0)
        ll = _densify(np.column_stack([rel, piece[:, 1]]))
        x, y = equal_earth(ll[:, 0], ll[:, 1])
        out.append(np.column_stack([x, y]))
    return out


def project_point(lon: float, lat: float, lon0: float) -> tuple[float, float]:
    x, y = equal_earth(np.array([_wrap(lon - lon0)]), np.array([lat]))
    return float(x[0]), float(y[0])


def central_meridian(places: Mapping[str, float] | Iterable[tuple[float, float]]) -> float:
    """A central meridian for weighted longitudes (``{code: weight}`` of countries, or
    ``(lon, weight)`` pairs): their circular mean rounded to 10 degrees; 0 when they spread
    round the globe."""
    if isinstance(places, Mapping):
        w = world()
        pairs = [(w[c].centre[0], float(v)) for c, v in places.items() if c in w and v]
    else:
        pairs = [(float(lon), float(v)) for lon, v in places if v]
    if not pairs:
        return 0.0
    sx = sum(v * math.cos(math.radians(lon)) for lon, v in pairs)
    sy = sum(v * math.sin(math.radians(lon)) for lon, v in pairs)
    total = sum(v for _, v in pairs)
    if math.hypot(sx, sy) < 0.25 * total:
        return 0.0
    return float(round(math.degrees(math.atan2(sy, sx)) / 10.0) * 10.0)


def _outline(lon0: float) -> np.ndarray:
    lat = np.linspace(-90, 90, 91)
    x1, y1 = equal_earth(np.full_like(lat, -180.0), lat)
    x2, y2 = equal_earth(np.full_like(lat, 180.0), lat[::-1])
    return np.column_stack([np.concatenate([x1, x2]), np.concatenate([y1, y2])])


def _path(rings: Sequence[np.ndarray]) -> MPath:
    verts = []
    codes = []
    for r in rings:
        if len(r) < 3:
            continue
        verts.extend(r.tolist())
        verts.append(r[0].tolist())
        codes.extend([MPath.MOVETO] + [MPath.LINETO] * (len(r) - 1) + [MPath.CLOSEPOLY])
    return MPath(verts, codes)


@cache
def _projected(lon0: float) -> dict[str, list[MPath]]:
    """Each polygon country as matplotlib paths in the projection centred on ``lon0``."""
    out: dict[str, list[MPath]] = {}
    for code, c in world().items():
        paths = []
        for poly in c.polygons:
            # project outer ring and holes piece by piece; holes only matter for whole rings
            rings = [pr for r in poly for pr in project_ring(r, lon0)]
            paths.append(_path(rings))
        out[code] = paths
    return out


# -- choropleth ------------------------------------------------------------------------------------
def classes(values: Iterable[int]) -> list[tuple[int, int, str]]:
    """Choropleth classes for counts: ``(low, high, colour)`` with round bounds, at most 7."""
    vmax = max([int(v) for v in values if v] or [0])
    if vmax <= 0:
        return []
    lows = [1] + [n for n in _NICE if 1 < n <= vmax]
    while len(lows) > len(CHOROPLETH_COLOURS):
        lows = lows[:1] + lows[2::2] if len(lows) % 2 == 0 else lows[::2]
    out = []
    k = len(lows)
    for i, low in enumerate(lows):
        high = lows[i + 1] - 1 if i + 1 < k else vmax
        idx = round(i * (len(CHOROPLETH_COLOURS) - 1) / (k - 1)) if k > 1 else len(CHOROPLETH_COLOURS) - 1
        out.append((low, high, CHOROPLETH_COLOURS[idx]))
    return out


def class_colour(value: int, bins: Sequence[tuple[int, int, str]]) -> str:
    for low, high, colour in bins:
        if low <= value <= high:
            return colour
    return ZERO_COLOUR


@dataclass
class MapResult:
    """A drawn map with what the page shows beside it."""

    figure: Figure
    legend: list[tuple[str, str]]  # (label, colour)
    unplaced: list[str]  # codes with a value but neither outline nor point in the map file
    lon0: float


def choropleth(
    values: Mapping[str, int], *, label: str = "threatened species", lon0: float | None = None
) -> MapResult:
    """A world map of countries coloured by ``values`` (ISO alpha-2 -> count); small island
    countries with a value are drawn as coloured markers."""
    w = world()
    bins = classes(values.values())
    if lon0 is None:
        lon0 = central_meridian(values)
    paths = _projected(lon0)
    with plt.rc_context(_STYLE):
        fig = Figure(figsize=(7.2, 3.9), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.add_patch(
            PathPatch(_path([_outline(lon0)]), facecolor=OCEAN_COLOUR, edgecolor="#b8c7d3", linewidth=0.6)
        )
        patches, colours = [], []
        for code, c in w.items():
            if c.kind != "polygon":
                continue
            col = class_colour(int(values.get(code, 0) or 0), bins)
            for p in paths[code]:
                patches.append(PathPatch(p))
                colours.append(col)
        coll = PatchCollection(patches, facecolors=colours, edgecolors=EDGE_COLOUR, linewidths=0.25)
        ax.add_collection(coll)
        xs, ys, cs = [], [], []
        for code, v in sorted(values.items(), key=lambda kv: kv[1]):
            c = w.get(code)
            if c is None or c.kind != "point" or not v:
                continue
            x, y = project_point(c.point[0], c.point[1], lon0)
            xs.append(x)
            ys.append(y)
            cs.append(class_colour(int(v), bins))
        if xs:
            ax.scatter(xs, ys, s=22, c=cs, edgecolors="#333333", linewidths=0.5, zorder=3)
        ax.set_xlim(-2.75, 2.75)
        ax.set_ylim(-1.35, 1.35)
        ax.set_aspect("equal")
        legend = [(f"{lo}" if lo == hi else f"{lo}–{hi}", col) for lo, hi, col in bins]
        handles = [Patch(facecolor=ZERO_COLOUR, edgecolor=EDGE_COLOUR, label="none")] + [
            Patch(facecolor=col, edgecolor=EDGE_COLOUR, label=lab) for lab, col in legend
        ]
        ax.legend(
            handles=handles,
            title=label,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=len(handles),
            fontsize=7,
            title_fontsize=7,
            frameon=False,
        )
    unplaced = sorted(c for c, v in values.items() if v and c not in w)
    return MapResult(fig, [("none", ZERO_COLOUR), *legend], unplaced, lon0)


# -- sites -----------------------------------------------------------------------------------------
def parse_geometry(text: Any) -> dict | None:
    """GeoJSON geometry text (or dict) -> dict; None when absent or unreadable."""
    if text is None:
        return None
    if isinstance(text, dict):
        g = text
    else:
        try:
            g = json.loads(str(text))
        except (TypeError, ValueError):
            return None
    if not isinstance(g, dict):
        return None
    if g.get("type") == "Feature":
        g = g.get("geometry") or {}
    if g.get("type") not in (
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    ):
        return None
    return g


def _flatten(g: dict) -> list[tuple[str, list]]:
    """(kind, coordinates) of the simple parts of a geometry."""
    t = g.get("type")
    c = g.get("coordinates")
    if t == "GeometryCollection":
        return [p for sub in g.get("geometries") or [] if isinstance(sub, dict) for p in _flatten(sub)]
    if t == "Point":
        return [("point", [c])]
    if t == "MultiPoint":
        return [("point", c)]
    if t == "LineString":
        return [("line", c)]
    if t == "MultiLineString":
        return [("line", x) for x in c]
    if t == "Polygon":
        return [("polygon", c)]
    if t == "MultiPolygon":
        return [("polygon", x) for x in c]
    return []


def _lonlats(parts: list[tuple[str, list]]) -> np.ndarray:
    pts = []
    for kind, coords in parts:
        if kind == "polygon":
            for ring in coords:
                pts.extend(p[:2] for p in ring)
        else:
            pts.extend(p[:2] for p in coords)
    return np.asarray(pts, dtype=float).reshape(-1, 2)


def sites_map(sites: Sequence[dict[str, Any]], *, legend: Sequence[tuple[str, str]] = ()) -> MapResult | None:
    """A map of sites: each ``{"geometry": dict, "colour": str, "label": str}`` drawn as a point,
    line or polygon on grey countries, zoomed to the sites. None when no site can be drawn."""
    parsed = []
    for s in sites:
        try:
            parts = _flatten(s["geometry"])
            ll = _lonlats(parts)
        except (TypeError, ValueError, KeyError, IndexError):
            continue
        if len(ll) == 0 or not np.isfinite(ll).all():
            continue
        parsed.append((s, parts, ll))
    if not parsed:
        return None
    allpts = np.vstack([ll for _, _, ll in parsed])
    lon0 = central_meridian((float(lon), 1.0) for lon in allpts[:, 0])
    if lon0 == 0.0:
        lon0 = float(round(float(np.mean(allpts[:, 0])) / 10.0) * 10.0)
    paths = _projected(lon0)
    with plt.rc_context(_STYLE):
        fig = Figure(figsize=(7.2, 4.6), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.set_facecolor(OCEAN_COLOUR)
        ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
        patches = [PathPatch(p) for c in paths.values() for p in c]
        ax.add_collection(
            PatchCollection(patches, facecolors=ZERO_COLOUR, edgecolors=EDGE_COLOUR, linewidths=0.4)
        )
        xy_all = []
        for s, parts, _ in parsed:
            colour = s.get("colour") or "#333333"
            for kind, coords in parts:
                if kind == "polygon":
                    rings = [
                        pr
                        for ring in coords
                        for pr in project_ring(np.asarray(ring, dtype=float)[:, :2], lon0)
                    ]
                    ax.add_patch(
                        PathPatch(
                            _path(rings), facecolor=colour, edgecolor="#333333", alpha=0.75, linewidth=0.6
                        )
                    )
                    xy_all.extend(np.vstack(rings).tolist())
                elif kind == "line":
                    ll = np.asarray(coords, dtype=float)[:, :2]
                    x, y = equal_earth(np.array([_wrap(v - lon0) for v in ll[:, 0]]), ll[:, 1])
                    ax.plot(x, y, color=colour, linewidth=1.6)
                    xy_all.extend(zip(x.tolist(), y.tolist(), strict=True))
                else:
                    for p in coords:
                        x, y = project_point(p[0], p[1], lon0)
                        ax.scatter([x], [y], s=46, c=[colour], edgecolors="#222222", linewidths=0.7, zorder=4)
                        xy_all.append((x, y))
        xy = np.asarray(xy_all, dtype=float)
        if len(parsed) <= 30:
            for s, _, ll in parsed:
                x, y = project_point(float(ll[:, 0].mean()), float(ll[:, 1].mean()), lon0)
                ax.annotate(
                    s.get("label") or "", (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6
                )
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        pad = max(x1 - x0, y1 - y0, 0.02) * 0.25
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        ax.set_aspect("equal")
        if legend:
            handles = [Patch(facecolor=col, edgecolor="#333333", label=lab) for lab, col in legend]
            ax.legend(handles=handles, loc="best", fontsize=6, frameon=True)
    return MapResult(fig, list(legend), [], lon0)
