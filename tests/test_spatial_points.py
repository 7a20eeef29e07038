"""Occurrence points: the CSV reader (real ConR and rCAT files, bad input) and species-site links
from points (issue 4: "links between species and sites ... from points")."""

from __future__ import annotations

import csv
import json
import math

import polars as pl
import pytest

from assess2plan import read_redlist, store
from assess2plan.errors import A2PError, InputError
from assess2plan.examples import example_path
from assess2plan.spatial.points import points_in_site, read_points
from tests.conftest import shared_path

SQUARE = json.dumps({"type": "Polygon", "coordinates": [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]})


def test_reads_real_points_files():
    path = shared_path("occurrences", "conr", "Malagasy.amphibian.csv")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["tax"].strip()]
    got = read_points(path)
    assert got.height == len(rows) > 7000
    assert got["scientific_name"].n_unique() == len({r["tax"].strip() for r in rows})
    assert got["latitude"].sum() == pytest.approx(sum(float(r["ddlat"]) for r in rows))
    rcat = read_points(shared_path("occurrences", "rcat", "multiple_species.csv"))
    assert rcat.height > 0 and rcat["longitude"].is_between(-180, 180).all()


@pytest.mark.parametrize(
    "text, words",
    [
        ("tax,lat\nA b,1\n", ["longitude"]),
        ("name,lat,lon\nA b,1,2\n", ["taxon"]),
        ("tax,ddlat,ddlon\nA b,1,2\nA c,north,3\n", ["row 2", "ddlat", "north"]),
        ("tax,ddlat,ddlon\nA b,1,200\n", ["row 1", "ddlon", "200"]),
        ("tax,ddlat,ddlon\n", ["no rows"]),
    ],
)
def test_bad_points_files_name_file_row_column_value(tmp_path, text, words):
    p = tmp_path / "points.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_points(p)
    msg = str(e.value)
    assert "points.csv" in msg and all(w in msg for w in words), msg


def test_points_in_a_polygon_and_near_a_point():
    pts = pl.DataFrame(
        {
            "scientific_name": ["in", "in", "edge", "out", "near"],
            "latitude": [10.5, 10.2, 10.0, 12.0, 11.5],
            "longitude": [10.5, 10.9, 10.5, 12.0, 10.5],
        }
    )
    got = dict(points_in_site(pts, SQUARE).iter_rows())
    assert got == {"in": 2, "edge": 1}
    # a point site: great-circle distance; one degree of latitude is ~111.2 km
    site = json.dumps({"type": "Point", "coordinates": [10.5, 11.0]})
    one_deg = 2 * math.pi * 6371.0088 / 360
    assert set(points_in_site(pts, site, buffer_km=one_deg * 0.6)["scientific_name"]) == {"near", "in"}
    assert points_in_site(pts, site, buffer_km=one_deg * 0.45).height == 0  # both are 0.5 degree away
    # a polygon with a buffer also takes points near its corners
    assert "out" in set(points_in_site(pts, SQUARE, buffer_km=one_deg * 1.5)["scientific_name"])


def test_link_species_from_points(alias, tmp_path):
    aset = read_redlist(example_path() / "download")
    store.import_set(aset, project="pts", using=alias)
    names = aset.taxa.sort("taxon_id")["scientific_name"].head(3).to_list()
    ids = aset.taxa.sort("taxon_id")["taxon_id"].head(3).to_list()
    p = tmp_path / "points.csv"
    p.write_text(
        "scientificName,decimalLatitude,decimalLongitude\n"
        f"{names[0]},10.5,10.5\n{names[0]},10.6,10.6\n{names[1].upper()},10.1,10.1\n"
        f"{names[2]},20,20\nInventus nowhereus,10.5,10.5\n",
        encoding="utf-8",
    )
    store.add_site("pts", "sq", "Square lake", kind="lake", geometry=SQUARE, using=alias)
    r = store.link_species_from_points("pts", "sq", p, user="tester", using=alias)
    assert sorted(r["linked"]) == sorted(ids[:2]) and r["unmatched"] == ["Inventus nowhereus"]
    assert r["points"] == {ids[0]: 2, ids[1]: 1}
    links = store.site_links("pts", site="sq", using=alias)
    assert set(links["taxon_id"]) == set(ids[:2]) and set(links["source"]) == {"points"}
    again = store.link_species_from_points("pts", "sq", p, using=alias)
    assert again["linked"] == [] and sorted(again["already"]) == sorted(ids[:2])
    store.add_site("pts", "nogeo", "No geometry", using=alias)
    with pytest.raises(A2PError, match="no geometry"):
        store.link_species_from_points("pts", "nogeo", p, using=alias)
