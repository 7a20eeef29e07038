"""Workshop report (HTML, PDF) and species datasheets (PDF, HTML, JSON).

Expectations are recomputed here from the CSV files with Python's ``csv`` module (the real
Pacific downloads in ../shared/data and the bundled fictional example), never with assess2plan's
readers. The planning frames (buckets, clusters, stakeholders, commitments, sites, site links,
events) are built here with the column sets agreed in notes/planning_interfaces.md. PDFs are
rendered to page images and text with pypdfium2.
"""

from __future__ import annotations

import csv
import datetime as dt
import html as htmllib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assess2plan import read_redlist
from assess2plan.errors import A2PError
from assess2plan.examples import example_path
from assess2plan.model import AssessmentSet
from assess2plan.report import (
    CATEGORY_COLOURS,
    CHOROPLETH_COLOURS,
    SCHEMA_VERSION,
    ReportData,
    datasheet,
    datasheet_record,
    datasheets_json,
    maps,
    report_html,
    workshop_report,
)
from tests.conftest import shared_path

LAKELAND = example_path("lakeland")
PACIFIC = ("redlist-download", "pacific-marine")
EASTCENTRAL = ("redlist-download", "pacific-marine-eastcentral")

LABELS = {
    "Extinct": "EX",
    "Extinct in the Wild": "EW",
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Lower Risk/near threatened": "LR/nt",
    "Lower Risk/least concern": "LR/lc",
    "Lower Risk/conservation dependent": "LR/cd",
}
THREATENED = {"CR", "EN", "VU"}
RANK = ["EX", "EW", "RE", "CR", "EN", "VU", "NT", "LR/cd", "LR/nt", "LC", "LR/lc", "DD", "NE"]
SECTION_TITLES = (
    "Summary statistics",
    "Species by Red List category",
    "Map of threatened species per country",
    "Planning buckets",
    "Clusters of species",
    "Stakeholders and commitments",
    "Open findings",
    "Most threatened species",
    "Species list",
)


# -- independent readers (csv module only) ----------------------------------------------------------
def read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    path = folder / name
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def latest_rows(folders: list[Path]) -> dict[str, dict[str, str]]:
    """taxon id -> its latest Global assessment row, over several downloads (each assessment once)."""
    seen: dict[str, dict[str, str]] = {}
    for f in folders:
        for r in read_csv(f, "assessments.csv"):
            seen.setdefault(r["assessmentId"], r)
    best: dict[str, dict[str, str]] = {}
    for r in seen.values():
        if "Global" not in (r["scopes"] or "Global").split("|"):
            continue
        key = (int(r["yearPublished"] or 0), r["assessmentDate"], r["assessmentId"])
        old = best.get(r["internalTaxonId"])
        if old is None or key > (int(old["yearPublished"] or 0), old["assessmentDate"], old["assessmentId"]):
            best[r["internalTaxonId"]] = r
    return best


def child_rows(
    folders: list[Path], name: str, latest: dict[str, dict[str, str]]
) -> dict[str, list[dict[str, str]]]:
    """taxon id -> rows of ``name`` belonging to its latest assessment (each row once)."""
    aids = {r["assessmentId"]: tid for tid, r in latest.items()}
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    seen_aids: set[str] = set()
    for f in folders:
        rows = read_csv(f, name)
        here = {r["assessmentId"] for r in rows}
        for r in rows:
            if r["assessmentId"] in aids and r["assessmentId"] not in seen_aids:
                out[aids[r["assessmentId"]]].append(r)
        seen_aids |= here & set(aids)
    return out


# -- planning frames with the agreed schemas ----------------------------------------------------------
def bucket_frame(rows: list[tuple[str, str, str, str, str, str | None]]) -> pl.DataFrame:
    """(taxon_id, scientific_name, category, bucket, reason, status) -> triage assignments frame."""
    now = dt.datetime(2025, 3, 1, 10, 0)
    return pl.DataFrame(
        {
            "taxon_id": [r[0] for r in rows],
            "scientific_name": [r[1] for r in rows],
            "category": [r[2] for r in rows],
            "bucket": [r[3] for r in rows],
            "rule": ["test_rule" for _ in rows],
            "reason": [r[4] for r in rows],
            "evidence": [json.dumps({"category": r[2]}) for r in rows],
            "status": [r[5] or "suggested" for r in rows],
            "decided_by": [None if r[5] in (None, "suggested") else "A. Facilitator" for r in rows],
            "decided_at": [None if r[5] in (None, "suggested") else now for r in rows],
            "decision_reason": [None if r[5] in (None, "suggested") else "agreed in plenary" for r in rows],
        },
        schema={
            "taxon_id": pl.Utf8,
            "scientific_name": pl.Utf8,
            "category": pl.Utf8,
            "bucket": pl.Utf8,
            "rule": pl.Utf8,
            "reason": pl.Utf8,
            "evidence": pl.Utf8,
            "status": pl.Utf8,
            "decided_by": pl.Utf8,
            "decided_at": pl.Datetime,
            "decision_reason": pl.Utf8,
        },
    )


CLUSTER_SCHEMA = {
    "cluster_id": pl.Utf8,
    "basis": pl.Utf8,
    "code": pl.Utf8,
    "code_name": pl.Utf8,
    "place_kind": pl.Utf8,
    "place": pl.Utf8,
    "place_name": pl.Utf8,
    "size": pl.Int32,
}
MEMBER_SCHEMA = {
    "cluster_id": pl.Utf8,
    "taxon_id": pl.Utf8,
    "scientific_name": pl.Utf8,
    "category": pl.Utf8,
    "code": pl.Utf8,
    "impact": pl.Utf8,
    "reason": pl.Utf8,
}
STAKEHOLDER_SCHEMA = {
    "stakeholder_id": pl.Utf8,
    "name": pl.Utf8,
    "kind": pl.Utf8,
    "organisation": pl.Utf8,
    "role": pl.Utf8,
    "email": pl.Utf8,
    "webhook": pl.Utf8,
    "countries": pl.Utf8,
    "sites": pl.Utf8,
    "expertise": pl.Utf8,
    "source": pl.Utf8,
}
COMMITMENT_SCHEMA = {
    "commitment_id": pl.Utf8,
    "stakeholder_id": pl.Utf8,
    "stakeholder_name": pl.Utf8,
    "taxon_id": pl.Utf8,
    "cluster_id": pl.Utf8,
    "action_code": pl.Utf8,
    "action_name": pl.Utf8,
    "place": pl.Utf8,
    "due_date": pl.Date,
    "status": pl.Utf8,
    "progress": pl.Utf8,
    "overdue": pl.Boolean,
    "version": pl.Int32,
    "updated_by": pl.Utf8,
    "updated_at": pl.Datetime,
}
SITE_SCHEMA = {
    "site_id": pl.Utf8,
    "name": pl.Utf8,
    "kind": pl.Utf8,
    "country": pl.Utf8,
    "description": pl.Utf8,
    "geometry": pl.Utf8,
    "sensitive": pl.Boolean,
}
LINK_SCHEMA = {
    "taxon_id": pl.Utf8,
    "site_id": pl.Utf8,
    "site_name": pl.Utf8,
    "source": pl.Utf8,
    "note": pl.Utf8,
    "made_by": pl.Utf8,
    "made_at": pl.Datetime,
}
EVENT_SCHEMA = {
    "event_id": pl.Utf8,
    "site_id": pl.Utf8,
    "title": pl.Utf8,
    "description": pl.Utf8,
    "severity": pl.Utf8,
    "made_by": pl.Utf8,
    "made_at": pl.Datetime,
}


def threat_clusters(
    latest: dict[str, dict[str, str]],
    threats: dict[str, list[dict[str, str]]],
    countries: dict[str, list[dict[str, str]]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clusters "threat level 2 x country" among threatened species, built from the CSV rows."""
    groups: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    names = {}
    for tid, a in latest.items():
        cat = LABELS.get(a["redlistCategory"])
        if cat not in THREATENED:
            continue
        for t in threats.get(tid, []):
            code2 = ".".join(t["code"].split(".")[:2])
            names[code2] = t["name"]
            for c in countries.get(tid, []):
                groups[(code2, c["code"])][tid] = t["code"]
    clusters, members = [], []
    for (code, place), taxa in groups.items():
        if len(taxa) < 2:
            continue
        cid = f"threat:{code}|country:{place}"
        clusters.append(
            {
                "cluster_id": cid,
                "basis": "threat",
                "code": code,
                "code_name": names[code],
                "place_kind": "country",
                "place": place,
                "place_name": place,
                "size": len(taxa),
            }
        )
        for tid, own in taxa.items():
            a = latest[tid]
            members.append(
                {
                    "cluster_id": cid,
                    "taxon_id": tid,
                    "scientific_name": a["scientificName"],
                    "category": LABELS[a["redlistCategory"]],
                    "code": own,
                    "impact": "Medium Impact",
                    "reason": f"{a['scientificName']} has threat {own} in {place}",
                }
            )
    return pl.DataFrame(clusters, schema=CLUSTER_SCHEMA), pl.DataFrame(members, schema=MEMBER_SCHEMA)


# -- PDF helpers ------------------------------------------------------------------------------------
def pdf_pages(path: Path, scale: float = 1.0):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    texts, images = [], []
    for i in range(len(pdf)):
        page = pdf[i]
        texts.append(page.get_textpage().get_text_range())
        images.append(np.asarray(page.render(scale=scale).to_pil().convert("RGB")))
    pdf.close()
    return texts, images


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def colour_pixels(image: np.ndarray, hex_colour: str, tol: int = 6) -> int:
    return int((np.abs(image.astype(int) - rgb(hex_colour)).max(axis=2) <= tol).sum())


def table_rows(page: str, attribute: str) -> dict[str, dict[str, str]]:
    """``<tr data-<attribute>="X" data-...>`` rows of an HTML page -> X -> their data attributes."""
    out = {}
    for m in re.finditer(rf'<tr data-{attribute}="([^"]*)"([^>]*)>', page):
        attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', m.group(2)))
        out[htmllib.unescape(m.group(1))] = attrs
    return out


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pacific_folders() -> list[Path]:
    return [shared_path(*PACIFIC), shared_path(*EASTCENTRAL)]


@pytest.fixture(scope="module")
def pacific(pacific_folders):
    from assess2plan.io.download import read_download

    return read_download(pacific_folders)


@pytest.fixture(scope="module")
def pacific_csv(pacific_folders):
    latest = latest_rows(pacific_folders)
    return {
        "latest": latest,
        "threats": child_rows(pacific_folders, "threats.csv", latest),
        "countries": child_rows(pacific_folders, "countries.csv", latest),
        "lme": child_rows(pacific_folders, "lme.csv", latest),
        "actions": child_rows(pacific_folders, "conservation_needed.csv", latest),
        "habitats": child_rows(pacific_folders, "habitats.csv", latest),
    }


@pytest.fixture(scope="module")
def pacific_buckets(pacific_csv) -> pl.DataFrame:
    rows = []
    for tid, a in sorted(pacific_csv["latest"].items()):
        cat = LABELS[a["redlistCategory"]]
        if cat in ("CR", "EN"):
            rows.append(
                (
                    tid,
                    a["scientificName"],
                    cat,
                    "single_species",
                    f"{cat}: needs its own recovery plan",
                    "accepted",
                )
            )
        if cat == "VU" and any(t["code"].startswith("11.") for t in pacific_csv["threats"][tid]):
            rows.append(
                (tid, a["scientificName"], cat, "threat_based", "threatened by climate change (11.x)", None)
            )
    return bucket_frame(rows)


@pytest.fixture(scope="module")
def pacific_data(pacific, pacific_csv, pacific_buckets):
    from assess2plan.checks import check_frame

    clusters, members = threat_clusters(
        pacific_csv["latest"], pacific_csv["threats"], pacific_csv["countries"]
    )
    return ReportData(
        pacific,
        title="Pacific marine invertebrates — planning workshop",
        project="pacific",
        findings=check_frame(pacific, today=dt.date(2025, 6, 1)),
        buckets=pacific_buckets,
        clusters=clusters,
        cluster_members=members,
    )


@pytest.fixture(scope="module")
def pacific_pdf(pacific_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "pacific.pdf"
    workshop_report(pacific_data, out, format="pdf")
    return out


@pytest.fixture(scope="module")
def lakeland() -> AssessmentSet:
    return read_redlist(LAKELAND / "download")


@pytest.fixture(scope="module")
def lakeland_csv():
    folder = LAKELAND / "download"
    latest = latest_rows([folder])
    return {
        "latest": latest,
        **{
            n: child_rows([folder], f"{n}.csv", latest)
            for n in ("threats", "countries", "conservation_needed", "research_needed", "habitats", "credits")
        },
        "common_names": _by_taxon(read_csv(folder, "common_names.csv")),
    }


def _by_taxon(rows):
    out = defaultdict(list)
    for r in rows:
        out[r["internalTaxonId"]].append(r)
    return out


def lakeland_frames(csvdata) -> dict[str, pl.DataFrame]:
    """Sites, links, stakeholders, commitments and events for the fictional example."""
    sites = read_csv(LAKELAND, "sites.csv")
    geo = []
    for i, s in enumerate(sites):
        lon, lat = float(s["longitude"]), float(s["latitude"])
        g: str | None = json.dumps({"type": "Point", "coordinates": [lon, lat]})
        if i == 0:  # the first site as a small polygon round its point
            d = 0.08
            ring = [
                [lon - d, lat - d],
                [lon + d, lat - d],
                [lon + d, lat + d],
                [lon - d, lat + d],
                [lon - d, lat - d],
            ]
            g = json.dumps({"type": "Polygon", "coordinates": [ring]})
        if i == 1:
            g = "{not json"
        geo.append(
            {
                "site_id": s["site_id"],
                "name": s["name"],
                "kind": s["type"].replace(" ", "_"),
                "country": s["country_code"],
                "description": None,
                "geometry": g,
                "sensitive": i == 2,
            }
        )
    links = [
        {
            "taxon_id": r["internalTaxonId"],
            "site_id": r["site_id"],
            "site_name": next(s["name"] for s in sites if s["site_id"] == r["site_id"]),
            "source": "import",
            "note": r["note"] or None,
            "made_by": "test",
            "made_at": None,
        }
        for r in read_csv(LAKELAND, "species_sites.csv")
    ]
    latest = csvdata["latest"]
    first = sorted(latest)[0]
    stakeholders = [
        {
            "stakeholder_id": "P1",
            "name": "Veridian Lakes Institute",
            "kind": "organisation",
            "organisation": None,
            "role": "research",
            "email": "info@example.org",
            "webhook": None,
            "countries": "XA|XB",
            "sites": "VL01",
            "expertise": f"t:8.1|a:2.2|taxon:{latest[first]['scientificName'].split()[0]}",
            "source": "manual",
        },
        {
            "stakeholder_id": "P2",
            "name": "Tamber Basin Authority",
            "kind": "organisation",
            "organisation": None,
            "role": "management",
            "email": None,
            "webhook": None,
            "countries": "XA",
            "sites": "VL04",
            "expertise": "a:1.1",
            "source": "manual",
        },
    ]
    commitments = [
        {
            "commitment_id": "C1",
            "stakeholder_id": "P1",
            "stakeholder_name": "Veridian Lakes Institute",
            "taxon_id": first,
            "cluster_id": None,
            "action_code": "2.2",
            "action_name": "Invasive/problematic species control",
            "place": "VL01",
            "due_date": dt.date(2030, 1, 1),
            "status": "active",
            "progress": "netting started",
            "overdue": False,
            "version": 2,
            "updated_by": "ana",
            "updated_at": dt.datetime(2025, 1, 5),
        },
        {
            "commitment_id": "C2",
            "stakeholder_id": "P2",
            "stakeholder_name": "Tamber Basin Authority",
            "taxon_id": sorted(latest)[3],
            "cluster_id": None,
            "action_code": "1.1",
            "action_name": "Site/area protection",
            "place": "VL04",
            "due_date": dt.date(2020, 6, 30),
            "status": "active",
            "progress": None,
            "overdue": True,
            "version": 1,
            "updated_by": "ben",
            "updated_at": dt.datetime(2024, 2, 1),
        },
    ]
    events = [
        {
            "event_id": "E1",
            "site_id": "VL01",
            "title": "Lake level 2 m below normal",
            "description": "Drought <b>alert</b>",
            "severity": "critical",
            "made_by": "ranger",
            "made_at": dt.datetime(2025, 5, 1, 8, 0),
        }
    ]
    return {
        "sites": pl.DataFrame(geo, schema=SITE_SCHEMA),
        "site_links": pl.DataFrame(links, schema=LINK_SCHEMA),
        "stakeholders": pl.DataFrame(stakeholders, schema=STAKEHOLDER_SCHEMA),
        "commitments": pl.DataFrame(commitments, schema=COMMITMENT_SCHEMA),
        "events": pl.DataFrame(events, schema=EVENT_SCHEMA),
        # one ex situ assessment decided (its section is tested in test_report_exsitu.py)
        "exsitu": pl.DataFrame(
            [
                {
                    "taxon_id": "990000001",
                    "scientific_name": "Mirrenichthys auratus",
                    "category": "CR",
                    "steps_done": "1 2 3 4 5",
                    "outcome": "none",
                    "roles_retained": None,
                }
            ],
            schema={
                c: pl.Utf8
                for c in (
                    "taxon_id",
                    "scientific_name",
                    "category",
                    "steps_done",
                    "outcome",
                    "roles_retained",
                )
            },
        ),
    }


@pytest.fixture(scope="module")
def lakeland_data(lakeland, lakeland_csv) -> ReportData:
    from assess2plan.checks import check_frame

    latest = lakeland_csv["latest"]
    rows = []
    for tid, a in sorted(latest.items()):
        cat = LABELS[a["redlistCategory"]]
        if cat in THREATENED:
            rows.append((tid, a["scientificName"], cat, "site_based", "occurs at one lake <i>only</i>", None))
        if cat == "CR":
            rows.append(
                (tid, a["scientificName"], cat, "single_species", "Critically Endangered", "accepted")
            )
    rows.append(
        (
            sorted(latest)[5],
            latest[sorted(latest)[5]]["scientificName"],
            "EN",
            "ex_situ",
            "rejected one",
            "rejected",
        )
    )
    clusters, members = threat_clusters(latest, lakeland_csv["threats"], lakeland_csv["countries"])
    return ReportData(
        lakeland,
        title="Veridian Lakes — fictional workshop",
        project="lakeland",
        findings=check_frame(lakeland, today=dt.date(2025, 6, 1)),
        buckets=bucket_frame(rows),
        clusters=clusters,
        cluster_members=members,
        today=dt.date(2025, 6, 1),
        **lakeland_frames(lakeland_csv),
    )


# -- summary statistics on the real Pacific set -----------------------------------------------------
@pytest.mark.realdata
def test_category_counts_in_html_match_assessments_csv(pacific_data, pacific_csv, tmp_path):
    out = workshop_report(pacific_data, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    expected = Counter(LABELS[a["redlistCategory"]] for a in pacific_csv["latest"].values())
    rows = table_rows(page, "category")
    assert {c: int(r["species"]) for c, r in rows.items()} == dict(expected)
    # shown in Red List order, and the number is what the reader sees in the row
    assert list(rows) == sorted(expected, key=RANK.index)
    for code, n in expected.items():
        assert re.search(rf'<tr data-category="{re.escape(code)}"[^>]*>.*?<td class="n">{n}</td>', page)
    threatened = sum(n for c, n in expected.items() if c in THREATENED)
    assert f"<strong>{threatened}</strong> threatened" in page


@pytest.mark.realdata
def test_threat_country_and_lme_counts_match_csv(pacific_data, pacific_csv, tmp_path):
    page = report_html(pacific_data)
    latest = pacific_csv["latest"]
    cats = {tid: LABELS[a["redlistCategory"]] for tid, a in latest.items()}
    # threats, level 1: species with a threat in the class
    per_l1 = defaultdict(set)
    for tid, rows in pacific_csv["threats"].items():
        for t in rows:
            per_l1[t["code"].split(".")[0]].add(tid)
    shown = table_rows(page, "threat")
    assert {k: int(v["species"]) for k, v in shown.items()} == {k: len(v) for k, v in per_l1.items()}
    # countries: species and threatened species per country; the top 20 by threatened species
    per_country = defaultdict(set)
    for tid, rows in pacific_csv["countries"].items():
        for c in rows:
            per_country[c["code"]].add(tid)
    countries = table_rows(page, "country")
    assert len(countries) == 20
    for code, attrs in countries.items():
        assert int(attrs["species"]) == len(per_country[code])
        assert int(attrs["threatened"]) == sum(cats[t] in THREATENED for t in per_country[code])
    top = sorted(
        per_country,
        key=lambda c: (-sum(cats[t] in THREATENED for t in per_country[c]), -len(per_country[c]), c),
    )
    assert list(countries) == top[:20]
    # marine areas: the LME table (top 20)
    per_lme = defaultdict(set)
    for tid, rows in pacific_csv["lme"].items():
        for r in rows:
            per_lme[r["code"]].add(tid)
    lmes = table_rows(page, "area")
    assert lmes and all(int(a["species"]) == len(per_lme[c]) for c, a in lmes.items())
    # the choropleth counts threatened species per country, the same numbers
    pc = pacific_data.place_counts("country")
    assert dict(zip(pc["code"], pc["threatened"], strict=True)) == {
        c: sum(cats[t] in THREATENED for t in ts) for c, ts in per_country.items()
    }


@pytest.mark.realdata
def test_pdf_pages_text_and_colours(pacific_pdf, pacific_buckets):
    texts, images = pdf_pages(pacific_pdf, scale=1.0)
    assert len(texts) > 1
    first = images[0]
    assert first.std() > 10 and (first.min(axis=2) < 200).mean() > 0.01  # not blank
    text = "\n".join(texts)
    for title in SECTION_TITLES:
        assert title in text, title
    # a species of the bucket list (the first one listed: Red List order, then name)
    single = pacific_buckets.filter(pl.col("bucket") == "single_species")
    first_name = sorted(
        zip(single["category"], single["scientific_name"], strict=True),
        key=lambda x: (RANK.index(x[0]), x[1]),
    )[0][1]
    buckets_page = next(
        i for i, t in enumerate(texts) if "Single-species recovery planning" in t and first_name in t
    )
    assert buckets_page > 0
    # the map page holds several classes of the choropleth palette, the summary page category colours
    map_page = next(i for i, t in enumerate(texts) if "Map of threatened species per country" in t)
    palette = [c for c in CHOROPLETH_COLOURS if colour_pixels(images[map_page], c) > 40]
    assert len(palette) >= 3, palette
    summary = next(
        i for i, t in enumerate(texts) if "Species by Red List category" in t and "Summary statistics" in t
    )
    for code in ("CR", "VU", "LC"):
        assert colour_pixels(images[summary], CATEGORY_COLOURS[code]) > 100, code
    # a page without the map has (almost) none of the darkest palette class
    assert colour_pixels(images[-1], CHOROPLETH_COLOURS[-1]) < 5


@pytest.mark.realdata
def test_datasheet_json_matches_csv_for_three_pacific_species(
    pacific_data, pacific_csv, pacific_buckets, tmp_path
):
    latest = pacific_csv["latest"]
    cr = next(t for t, a in sorted(latest.items()) if a["redlistCategory"] == "Critically Endangered")
    most_threats = max(sorted(latest), key=lambda t: len(pacific_csv["threats"].get(t, [])))
    with_lme = next(
        t
        for t in sorted(latest)
        if pacific_csv["lme"].get(t) and pacific_csv["actions"].get(t) and t not in (cr, most_threats)
    )
    for tid in (cr, most_threats, with_lme):
        out = datasheet(pacific_data, tid, tmp_path / f"{tid}.json", format="json")
        rec = json.loads(out.read_text(encoding="utf-8"))
        a = latest[tid]
        assert rec["schema_version"] == SCHEMA_VERSION
        assert rec["taxon_id"] == tid and rec["assessment_id"] == a["assessmentId"]
        assert rec["scientific_name"] == a["scientificName"]
        assert rec["assessment"]["category"] == {
            "code": LABELS[a["redlistCategory"]],
            "name": a["redlistCategory"],
        }
        assert rec["assessment"]["criteria"] == (a["redlistCriteria"] or None)
        assert rec["assessment"]["year_published"] == int(a["yearPublished"])
        assert rec["assessment"]["population_trend"] == (a["populationTrend"] or None)
        assert {c["code"] for c in rec["countries"]} == {c["code"] for c in pacific_csv["countries"][tid]}
        assert {(c["code"], c["name"]) for c in rec["lmes"]} == {
            (c["code"], c["name"]) for c in pacific_csv["lme"].get(tid, [])
        }
        assert sorted(
            (t["code"], t["timing"] or None, t["scope"] or None, t["severity"] or None)
            for t in rec["threats"]
        ) == sorted(
            (t["code"], t["timing"] or None, t["scope"] or None, t["severity"] or None)
            for t in pacific_csv["threats"].get(tid, [])
        )
        for t, src in zip(
            sorted(rec["threats"], key=lambda x: x["code"]),
            sorted(pacific_csv["threats"].get(tid, []), key=lambda x: x["code"]),
            strict=True,
        ):
            assert [s["code"] for s in t["stresses"]] == [s for s in src["stressCode"].split("|") if s]
            assert t["level1"]["code"] == src["code"].split(".")[0]
        assert sorted((x["code"], x["name"]) for x in rec["actions_needed"]) == sorted(
            (x["code"], x["name"]) for x in pacific_csv["actions"].get(tid, [])
        )
        assert {h["code"] for h in rec["habitats"]} == {
            h["code"] for h in pacific_csv["habitats"].get(tid, [])
        }
        mine = pacific_buckets.filter(pl.col("taxon_id") == tid)
        assert sorted(b["bucket"] for b in rec["buckets"]) == sorted(mine["bucket"].to_list())
        assert rec["url"].endswith(f"/{tid}/{a['assessmentId']}")
        # planning parts not given are null and listed
        assert rec["commitments"] is None and "commitments" in rec["not_computed"]
        assert rec["buckets"] is not None and "buckets" not in rec["not_computed"]
    # the same records come out of the bulk export
    bulk = {r["taxon_id"]: r for r in datasheets_json(pacific_data)}
    assert len(bulk) == len(latest)
    assert bulk[cr] == datasheet_record(pacific_data, cr)


# -- the fictional example with every planning frame --------------------------------------------------
def test_lakeland_report_shows_every_planning_part(lakeland_data, lakeland_csv, tmp_path):
    page = workshop_report(lakeland_data, tmp_path / "lakeland.html").read_text(encoding="utf-8")
    assert "not computed" not in page
    latest = lakeland_csv["latest"]
    expected = Counter(LABELS[a["redlistCategory"]] for a in latest.values())
    assert {c: int(r["species"]) for c, r in table_rows(page, "category").items()} == dict(expected)
    # bucket lists: every species with reason; rejected assignments are not listed
    buckets = lakeland_data.buckets
    site_based = set(buckets.filter(pl.col("bucket") == "site_based")["taxon_id"])
    section = page[page.index('id="bucket-site_based"') : page.index('id="bucket-threat_based"')]
    assert set(table_rows(section, "taxon")) == site_based
    assert "occurs at one lake &lt;i&gt;only&lt;/i&gt;" in section  # plain text, escaped
    ex_situ = page[page.index('id="bucket-ex_situ"') : page.index('id="clusters"')]
    assert not table_rows(ex_situ, "taxon") and "No species in this bucket" in ex_situ
    # commitments: the overdue one is highlighted and listed first
    rows = re.findall(r'<tr data-commitment="(C\d)"( class="overdue")?>', page)
    assert rows == [("C2", ' class="overdue"'), ("C1", "")]
    # stakeholders, events (description escaped), clusters
    assert "Veridian Lakes Institute" in page and "Tamber Basin Authority" in page
    assert "Drought &lt;b&gt;alert&lt;/b&gt;" in page
    biggest = lakeland_data.clusters.sort(["size", "cluster_id"], descending=[True, False]).row(0, named=True)
    assert biggest["cluster_id"] in page
    # sites: polygon + points drawn, the unreadable geometry named, the sensitive one withheld
    sites = table_rows(page, "site")
    assert set(sites) == set(lakeland_data.sites["site_id"])
    sensitive = lakeland_data.sites.filter(pl.col("sensitive"))["site_id"][0]
    assert re.search(rf'<tr data-site="{sensitive}">.*?withheld \(sensitive\)', page)
    assert "Geometry could not be read for: " + lakeland_data.sites["name"][1] in page
    maps_section = page[page.index('id="maps"') : page.index('id="buckets"')]
    assert maps_section.count("<svg") == 2
    # the per-site species counts come from the links
    links = read_csv(LAKELAND, "species_sites.csv")
    vl01 = {r["internalTaxonId"] for r in links if r["site_id"] == "VL01"}
    assert re.search(rf'<tr data-site="VL01">.*?<td class="n">{len(vl01)}</td>', page)


def test_lakeland_pdf_has_sites_map_and_buckets(lakeland_data, tmp_path):
    out = workshop_report(lakeland_data, tmp_path / "lakeland.pdf", format="pdf")
    texts, images = pdf_pages(out)
    text = "\n".join(texts)
    for title in SECTION_TITLES:
        assert title in text, title
    cr = lakeland_data.buckets.filter(pl.col("bucket") == "single_species")["scientific_name"].to_list()
    assert cr and all(name in text for name in cr)
    sites_page = next(i for i, t in enumerate(texts) if "Sites coloured by the most threatened species" in t)
    # the sites are coloured by category: Critically Endangered red is on the page
    assert colour_pixels(images[sites_page], CATEGORY_COLOURS["CR"]) > 20


def test_narrative_html_is_sanitised(lakeland, lakeland_csv, tmp_path):
    latest = lakeland_csv["latest"]
    cr = next(t for t, a in sorted(latest.items()) if a["redlistCategory"] == "Critically Endangered")
    evil = (
        '<p>Declining <em>fast</em>.</p><script>alert("x")</script>'
        '<img src="https://example.org/x.png" onerror="alert(1)"><a href="javascript:alert(2)">more</a>'
    )
    tables = dict(lakeland.tables)
    tables["assessments"] = tables["assessments"].with_columns(
        pl.when(pl.col("taxon_id") == cr).then(pl.lit(evil)).otherwise(pl.col("rationale")).alias("rationale")
    )
    aset = AssessmentSet(tables=tables)
    data = ReportData(
        aset,
        buckets=bucket_frame(
            [(cr, "<script>bad()</script>", "CR", "single_species", "<script>x</script>", None)]
        ),
    )
    for page in (
        report_html(data),
        datasheet(data, cr, tmp_path / "ds.html", format="html").read_text(encoding="utf-8"),
    ):
        low = page.lower()
        assert "<script" not in low and "onerror" not in low and "javascript:" not in low
        assert "<em>fast</em>" in page  # safe formatting kept, not escaped
        assert "<img" not in low and "https://example.org" not in page  # nothing loaded from outside
    assert "&lt;script&gt;x&lt;/script&gt;" in report_html(data)  # a reason is text, escaped
    assert datasheet_record(data, cr)["rationale"].startswith("Declining fast.")


def assert_offline(page: str) -> None:
    """Nothing in the page is fetched from elsewhere: no scripts, stylesheets, fonts or remote images."""
    low = page.lower()
    assert "<script" not in low and "<link" not in low and "@import" not in low and "@font-face" not in low
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", low)
    assert not re.search(r"url\(\s*['\"]?(https?:|//|file:)", low)


def test_reports_are_self_contained(lakeland_data, tmp_path):
    page = report_html(lakeland_data)
    assert_offline(page)
    assert page.count("<svg") == 6  # 4 charts + 2 maps, inline
    ds = datasheet(lakeland_data, "990000001", tmp_path / "ds.html", format="html").read_text(
        encoding="utf-8"
    )
    assert_offline(ds)


def test_findings_list_and_clusters_object_are_accepted(lakeland, lakeland_data):
    from types import SimpleNamespace

    from assess2plan.checks import run_checks

    findings = run_checks(lakeland, today=dt.date(2025, 6, 1))
    obj = SimpleNamespace(clusters=lakeland_data.clusters, members=lakeland_data.cluster_members)
    data = ReportData(lakeland, findings=findings, clusters=obj)
    assert data.findings.height == len(findings) and data.cluster_members is lakeland_data.cluster_members
    page = report_html(data)
    errors = sum(f.severity == "error" for f in findings)
    assert f"{len(findings)} findings of the consistency checks: {errors} error" in page
    with pytest.raises(A2PError, match="clusters must be"):
        ReportData(lakeland, clusters=object())


def test_missing_frames_say_not_computed(lakeland, tmp_path):
    data = ReportData(lakeland)  # no planning frames at all
    page = workshop_report(data, tmp_path / "bare.html").read_text(encoding="utf-8")
    for what in (
        "Planning buckets (triage)",
        "Clusters",
        "Stakeholders",
        "Commitments",
        "Sites",
        "Site events",
        "Consistency checks",
        "Completeness (the consistency checks were not run)",
    ):
        assert f"{what}: not computed." in page, what
    assert "Species by Red List category" in page  # statistics are always there
    rec = datasheet_record(data, "990000001")
    for key in ("buckets", "clusters", "sites", "commitments", "stakeholders", "findings"):
        assert rec[key] is None and key in rec["not_computed"]
    assert rec["experts"]  # credits are part of the set, always there
    ds = datasheet(data, "990000001", tmp_path / "bare-ds.html", format="html").read_text(encoding="utf-8")
    assert "Planning buckets: not computed." in ds


def test_datasheet_json_matches_lakeland_csv(lakeland_data, lakeland_csv, tmp_path):
    latest = lakeland_csv["latest"]
    picks = ["990000001", "990000013", sorted(latest)[3]]
    for tid in picks:
        rec = json.loads(
            datasheet(lakeland_data, tid, tmp_path / f"{tid}.json", format="json").read_text(encoding="utf-8")
        )
        assert rec["scientific_name"] == latest[tid]["scientificName"]
        names = lakeland_csv["common_names"].get(tid, [])
        assert [(c["name"], c["language"], c["main"]) for c in rec["common_names"]] == [
            (c["name"], c["language"], c["main"] == "true") for c in names
        ]
        assert sorted((r["code"], r["name"], r["note"] or None) for r in rec["research_needed"]) == sorted(
            (r["code"], r["name"], r["note"] or None) for r in lakeland_csv["research_needed"].get(tid, [])
        )
        assert sorted((r["code"], r["note"] or None) for r in rec["actions_needed"]) == sorted(
            (r["code"], r["note"] or None) for r in lakeland_csv["conservation_needed"].get(tid, [])
        )
        people = [
            p.strip()
            for r in lakeland_csv["credits"].get(tid, [])
            for p in r["value"].split("|")
            if p.strip()
        ]
        assert sorted(e["name"] for e in rec["experts"]) == sorted(people)
        assessors = [r["text"] for r in lakeland_csv["credits"].get(tid, []) if r["type"] == "Assessor"]
        if assessors:
            assert (
                rec["citation"].startswith(htmllib.unescape(assessors[0]).rstrip("."))
                and rec["citation_constructed"]
            )
        # planning: sites from species_sites.csv, commitments, stakeholders with reasons
        sites = {r["site_id"] for r in read_csv(LAKELAND, "species_sites.csv") if r["internalTaxonId"] == tid}
        assert {s["site_id"] for s in rec["sites"]} == sites
        assert rec["not_computed"] == []
    first = datasheet_record(lakeland_data, sorted(latest)[0])
    assert [c["commitment_id"] for c in first["commitments"]] == ["C1"]
    p1 = next(s for s in first["stakeholders"] if s["stakeholder_id"] == "P1")
    assert any(r.startswith("committed to 2.2") for r in p1["reasons"])
    assert any(r.startswith("expertise in") for r in p1["reasons"])
    overdue = datasheet_record(lakeland_data, sorted(latest)[3])
    assert [c["overdue"] for c in overdue["commitments"]] == [True]


def test_datasheet_pdf_of_one_species(lakeland_data, tmp_path):
    out = datasheet(lakeland_data, "Mirrenichthys auratus", tmp_path / "auratus.pdf")
    texts, images = pdf_pages(out)
    text = "\n".join(texts)
    assert "Mirrenichthys auratus" in text and "Golden Mirren Barb" in text
    for title in ("Red List status", "Threats", "Actions needed", "Planning buckets", "Citation"):
        assert title in text
    assert colour_pixels(images[0], CATEGORY_COLOURS["CR"]) > 20  # the category badge


def test_bad_input_gives_clear_errors(lakeland, tmp_path):
    bad = bucket_frame([("990000001", "x", "CR", "single_species", "r", None)]).drop("reason")
    with pytest.raises(A2PError, match=r"ReportData.buckets lacks the column\(s\) reason"):
        ReportData(lakeland, buckets=bad)
    with pytest.raises(A2PError, match="must be a polars DataFrame"):
        ReportData(lakeland, sites=[{"site_id": "x"}])
    data = ReportData(lakeland)
    out = tmp_path / "r.docx"
    with pytest.raises(A2PError, match="unknown format 'docx'"):
        workshop_report(data, out, format="docx")
    assert not out.exists()
    with pytest.raises(A2PError, match="no taxon matches"):
        datasheet(data, "Nonexistus fictus", tmp_path / "n.json", format="json")
    assert not (tmp_path / "n.json").exists()
    with pytest.raises(A2PError, match="does not exist"):
        workshop_report(data, tmp_path / "missing-folder" / "r.html")
    # a species outside the report's selection (the sheet) is refused
    from assess2plan.sheet import parse_query, planning_sheet

    only_cr = ReportData(lakeland, sheet=planning_sheet(lakeland, parse_query(["category=CR"])))
    with pytest.raises(A2PError, match="not among the species"):
        datasheet_record(only_cr, "Oskarichromis minima")


def test_sheet_selection_restricts_the_report(lakeland, lakeland_csv):
    from assess2plan.sheet import parse_query, planning_sheet

    data = ReportData(lakeland, sheet=planning_sheet(lakeland, parse_query(["category=CR,EN"])))
    page = report_html(data)
    expected = Counter(LABELS[a["redlistCategory"]] for a in lakeland_csv["latest"].values())
    assert {c: int(r["species"]) for c, r in table_rows(page, "category").items()} == {
        "CR": expected["CR"],
        "EN": expected["EN"],
    }
    assert len(datasheets_json(data)) == expected["CR"] + expected["EN"]


# -- maps ----------------------------------------------------------------------------------------------
def test_world_map_file_and_projection():
    w = maps.world()
    assert len(w) > 240 and w["FR"].kind == "polygon" and w["TV"].kind == "point"
    # French Guiana is its own shape, not part of France
    assert w["GF"].kind == "polygon" and all(
        r[:, 0].min() > -10 for poly in w["FR"].polygons for r in poly[:1]
    )
    # no ring jumps across the antimeridian (the file is planar)
    for c in w.values():
        for poly in c.polygons:
            for r in poly:
                assert r[:, 0].min() >= -180 and r[:, 0].max() <= 180

    # Equal Earth is equal-area: a 1x1 degree cell shrinks with cos(latitude) like on the sphere
    def cell(lat):
        lon = np.array([0, 1, 1, 0, 0.0])
        la = np.array([lat, lat, lat + 1, lat + 1, lat], dtype=float)
        x, y = maps.equal_earth(lon, la)
        return abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2

    for lat in (20, 45, 70):
        sphere = (np.sin(np.radians(lat + 1)) - np.sin(np.radians(lat))) / np.sin(np.radians(1))
        assert cell(lat) / cell(0) == pytest.approx(sphere, rel=2e-3)
    # a ring crossing the map edge is split into pieces that stay on the map
    ring = np.array([[-70.0, 0], [-50, 0], [-50, 10], [-70, 10], [-70, 0]])
    pieces = maps.project_ring(ring, 120.0)  # edge at -60
    assert len(pieces) == 2 and all(
        np.abs(p[:, 0]).max() <= maps.equal_earth(np.array([180.0]), np.array([0.0]))[0][0] + 1e-9
        for p in pieces
    )


def test_choropleth_classes_and_unplaced_countries():
    bins = maps.classes([1, 3, 40, 113])
    assert bins[0][0] == 1 and bins[-1][1] == 113 and bins[-1][2] == CHOROPLETH_COLOURS[-1]
    assert all(lo <= hi for lo, hi, _ in bins) and all(
        b[0] == a[1] + 1 for a, b in zip(bins, bins[1:], strict=False)
    )
    assert maps.class_colour(0, bins) == maps.ZERO_COLOUR
    m = maps.choropleth({"ID": 30, "TV": 4, "DT": 2, "XA": 1})
    assert m.unplaced == ["DT", "XA"]
    assert maps.central_meridian({"ID": 10, "PH": 10, "FJ": 5}) > 90


# -- scale ----------------------------------------------------------------------------------------------
def synthetic_set(n: int) -> AssessmentSet:
    """A fictional set of ``n`` species (invented names and ids) with threats, actions and countries."""
    cats = ["CR", "EN", "VU", "VU", "NT", "LC", "LC", "DD"]
    labels = {
        "CR": "Critically Endangered",
        "EN": "Endangered",
        "VU": "Vulnerable",
        "NT": "Near Threatened",
        "LC": "Least Concern",
        "DD": "Data Deficient",
    }
    countries = ["XA", "XB", "XC", "ID", "PH", "FJ", "TV", "AU"]
    ids = [str(980000000 + i) for i in range(n)]
    aids = [str(970000000 + i) for i in range(n)]
    names = [f"Fictogenus{i // 50} species{i}" for i in range(n)]
    cat = [cats[i % len(cats)] for i in range(n)]
    frames = {
        "taxa": pl.DataFrame(
            {"taxon_id": ids, "scientific_name": names, "family": [f"FAM{i % 30}" for i in range(n)]}
        ),
        "assessments": pl.DataFrame(
            {
                "assessment_id": aids,
                "taxon_id": ids,
                "scientific_name": names,
                "category": cat,
                "category_label": [labels[c] for c in cat],
                "year_published": [2010 + i % 14 for i in range(n)],
                "scopes": ["Global"] * n,
                "rationale": [f"<p>Species {i} declines.</p>" for i in range(n)],
            }
        ),
        "threats": pl.DataFrame(
            {
                "assessment_id": aids * 2,
                "taxon_id": ids * 2,
                "code": [f"{1 + i % 11}.1" for i in range(n)] + ["7.2.10"] * n,
                "impact": ["Medium Impact" if i % 3 == 0 else "Low Impact" for i in range(2 * n)],
            }
        ),
        "actions_needed": pl.DataFrame(
            {"assessment_id": aids, "taxon_id": ids, "code": [f"{1 + i % 6}.1" for i in range(n)]}
        ),
        "occurrence": pl.DataFrame(
            {
                "assessment_id": aids,
                "taxon_id": ids,
                "kind": ["country"] * n,
                "code": [countries[i % len(countries)] for i in range(n)],
            }
        ),
    }
    return AssessmentSet.from_frames(frames)


def test_ten_thousand_species_report_is_capped(tmp_path):
    n = 10_000
    aset = synthetic_set(n)
    lat = aset.latest()
    threatened = lat.filter(pl.col("category").is_in(["CR", "EN", "VU"]))
    rows = [
        (t, s, c, "threat_based", "shares dams 7.2.10", None)
        for t, s, c in zip(
            threatened["taxon_id"], threatened["scientific_name"], threatened["category"], strict=True
        )
    ]
    data = ReportData(aset, buckets=bucket_frame(rows), max_rows=150)
    page = workshop_report(data, tmp_path / "big.html").read_text(encoding="utf-8")
    assert {c: int(r["species"]) for c, r in table_rows(page, "category").items()} == dict(
        Counter(lat["category"])
    )
    section = page[page.index('id="bucket-threat_based"') : page.index('id="bucket-ex_situ"')]
    assert len(table_rows(section, "taxon")) == 150
    assert f"… and {threatened.height - 150} more species (of {threatened.height}" in section
    species = page[page.index('id="species"') :]
    assert len(table_rows(species, "taxon")) == 150 and f"… and {n - 150} more species" in species
    assert len(datasheets_json(data)) == n


def test_report_takes_the_planning_modules_output(lakeland, tmp_path):
    """The frames of planning.triage / planning.clusters / planning.stakeholders go straight in."""
    triage = pytest.importorskip("assess2plan.planning.triage")
    clusters = pytest.importorskip("assess2plan.planning.clusters")
    stakeholders = pytest.importorskip("assess2plan.planning.stakeholders")
    buckets = triage.triage(lakeland)
    cl = clusters.threat_clusters(lakeland)
    data = ReportData(
        lakeland, buckets=buckets, clusters=cl, experts=stakeholders.experts_from_credits(lakeland)
    )
    page = workshop_report(data, tmp_path / "planning.html").read_text(encoding="utf-8")
    shown = set()
    for name in ("single_species", "site_based", "threat_based", "ex_situ"):
        start = page.index(f'id="bucket-{name}"')
        end = page.index("<h3", start + 10) if "<h3" in page[start + 10 :] else len(page)
        shown |= set(table_rows(page[start:end], "taxon"))
    assert shown == set(buckets.filter(pl.col("status") != "rejected")["taxon_id"])
    members = {r["taxon_id"] for r in datasheets_json(data) if r["clusters"]}
    assert members == set(cl.members["taxon_id"])
