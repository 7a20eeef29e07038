"""Occurrence points: reading them (CSV) and finding which fall in a site.

A points file is a CSV with one row per record: a taxon column and decimal-degree coordinates
(WGS84). Column names as the usual tools write them are recognised (case-insensitive):

* taxon: ``scientific_name``, ``scientificName`` (GBIF, Darwin Core), ``tax`` (ConR), ``species``,
  ``taxon``, ``binomial`` (IUCN point standard), ``sci_name``;
* latitude: ``latitude``, ``decimalLatitude``, ``ddlat`` (ConR), ``lat``, ``dec_lat``, ``y``;
* longitude: ``longitude``, ``decimalLongitude``, ``ddlon``, ``lon``, ``long``, ``dec_long``, ``x``.

Bad input (no such column, a coordinate that is not a number or lies outside -90..90 / -180..180)
raises ``InputError`` naming the file, row, column and value.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from assess2plan.errors import InputError

TAXON_COLUMNS = ("scientific_name", "scientificname", "tax", "species", "taxon", "binomial", "sci_name")
LAT_COLUMNS = ("latitude", "decimallatitude", "ddlat", "lat", "dec_lat", "y")
LON_COLUMNS = ("longitude", "decimallongitude", "ddlon", "lon", "long", "dec_long", "x")
EARTH_RADIUS_KM = 6371.0088


def _pick(columns: list[str], wanted: tuple[str, ...], what: str, file: str) -> str:
    lower = {c.strip().lower(): c for c in columns}
    for w in wanted:
        if w in lower:
            return lower[w]
    raise InputError(file, f"no {what} column (one of: {', '.join(wanted)})", row=0, column=what)


def read_points(path: str | Path) -> pl.DataFrame:
    """Read an occurrence points CSV into ``scientific_name``, ``latitude``, ``longitude`` (rows
    without a taxon name are skipped; rows with a bad coordinate are an error)."""
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(file, "no such file")
    try:
        raw = pl.read_csv(p, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as e:
        raise InputError(file, f"not a readable CSV file: {e}") from None
    if raw.height == 0:
        raise InputError(file, "the file has no rows")
    taxon = _pick(raw.columns, TAXON_COLUMNS, "taxon", file)
    lat = _pick(raw.columns, LAT_COLUMNS, "latitude", file)
    lon = _pick(raw.columns, LON_COLUMNS, "longitude", file)
    df = raw.select(
        pl.int_range(1, raw.height + 1).alias("_row"),
        pl.col(taxon).str.strip_chars().alias("scientific_name"),
        pl.col(lat).str.strip_chars().alias("_lat"),
        pl.col(lon).str.strip_chars().alias("_lon"),
    ).filter(pl.col("scientific_name").is_not_null() & (pl.col("scientific_name") != ""))
    df = df.with_columns(
        pl.col("_lat").cast(pl.Float64, strict=False).alias("latitude"),
        pl.col("_lon").cast(pl.Float64, strict=False).alias("longitude"),
    )
    for col, raw_col, name, limit in (("latitude", "_lat", lat, 90.0), ("longitude", "_lon", lon, 180.0)):
        bad = df.filter(pl.col(col).is_null() | pl.col(col).is_nan() | (pl.col(col).abs() > limit))
        if bad.height:
            r = bad.row(0, named=True)
            raise InputError(
                file,
                f"{col} is not a number between -{limit:g} and {limit:g}"
                + (f" ({bad.height - 1} more rows like it)" if bad.height > 1 else ""),
                row=r["_row"],
                column=name,
                value=r[raw_col],
            )
    return df.select("scientific_name", "latitude", "longitude")


def _haversine_km(lat1: float, lon1: float, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    p1, l1 = math.radians(lat1), math.radians(lon1)
    p2, l2 = lat2.radians(), lon2.radians()
    a = ((p2 - p1) / 2).sin() ** 2 + math.cos(p1) * p2.cos() * ((l2 - l1) / 2).sin() ** 2
    return 2 * EARTH_RADIUS_KM * a.sqrt().arcsin()


def points_in_site(points: pl.DataFrame, geometry: str, *, buffer_km: float = 0.0) -> pl.DataFrame:
    """Taxa with points in a site: ``scientific_name``, ``points`` (how many fall in it).

    ``geometry`` is the site's GeoJSON geometry (text). A polygon site takes the points inside it
    (or on its edge); a point site (or any site, with ``buffer_km`` > 0) also those within
    ``buffer_km`` kilometres of it (great-circle distance to the geometry's nearest vertex for
    points and lines; for polygons, points inside plus those within the buffer of a vertex)."""
    import json

    import shapely
    from shapely.geometry import shape

    try:
        geom = shape(json.loads(geometry))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise InputError("site geometry", f"not a GeoJSON geometry: {e}") from None
    if points.height == 0:
        return pl.DataFrame(schema={"scientific_name": pl.Utf8, "points": pl.UInt32})
    inside = pl.Series([False] * points.height)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        shapely.prepare(geom)
        pts = shapely.points(points["longitude"].to_numpy(), points["latitude"].to_numpy())
        inside = pl.Series(shapely.covers(geom, pts))
    if buffer_km > 0 or geom.geom_type in ("Point", "MultiPoint"):
        radius = max(buffer_km, 0.0)
        coords = shapely.get_coordinates(geom)
        near = pl.lit(False)
        for lon0, lat0 in coords:
            near = near | (_haversine_km(float(lat0), float(lon0), pl.col("latitude"), pl.col("longitude")) <= radius)
        inside = inside | points.select(near.alias("near"))["near"]
    hit = points.filter(inside)
    return hit.group_by("scientific_name").len("points").sort("scientific_name")
