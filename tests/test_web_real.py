"""The web application on a real Red List download (../shared/data, never copied here): uploaded
through the import page as a user would (a zip built in the test from the download folder), a
broken copy refused with the file, row and column named and nothing changed, then every page of
the project opened and its figures cross-checked with the CSV files read by the csv module."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from tests.conftest import shared_path

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.realdata]

THREATENED = {"Critically Endangered", "Endangered", "Vulnerable"}


@pytest.fixture(autouse=True)
def _inline_runner(settings):
    from django.core.cache import cache

    settings.A2P_IMPORT_RUNNER = "inline"
    cache.clear()
    yield
    cache.clear()


def _folder():
    return shared_path("redlist-download", "pacific-marine")


def _rows(name: str) -> list[dict[str, str]]:
    with open(_folder() / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _zip(broken_row: int | None = None) -> bytes:
    """The download folder as the zip the Red List website gives; ``broken_row``: that data row of
    assessments.csv gets an empty assessment id."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(_folder().iterdir()):
            if not f.is_file():
                continue
            if f.name == "assessments.csv" and broken_row is not None:
                rows = _rows("assessments.csv")
                rows[broken_row - 1]["assessmentId"] = ""
                out = io.StringIO()
                w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
                w.writeheader()
                w.writerows(rows)
                z.writestr(f.name, out.getvalue())
            else:
                z.write(f, f.name)
    return buf.getvalue()


def _upload(name: str, data: bytes):  # noqa: ANN202
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/zip")


@pytest.fixture
def admin_client(client):
    from django.contrib.auth.models import User

    User.objects.create_superuser("ana", password="pw-for-tests-only")
    assert client.login(username="ana", password="pw-for-tests-only")
    return client


def _job(response):  # noqa: ANN001, ANN202
    from assess2plan.web.app.models import ImportJob

    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportJob.objects.get(pk=int(re.search(r"/imports/(\d+)/$", response["Location"]).group(1)))


def test_real_download_through_the_web(admin_client):
    from assess2plan import store

    client = admin_client
    # a broken copy first: refused, named, nothing stored
    job = _job(client.post("/imports/new/", {"slug": "pac", "files": [_upload("pacific.zip", _zip(broken_row=3))]}))
    assert job.status == "failed"
    assert "pacific.zip" in job.message and "assessments.csv" in job.message and "row 3" in job.message, job.message
    assert "pac" not in {p["slug"] for p in store.list_projects()}

    job = _job(client.post("/imports/new/", {"slug": "pac", "files": [_upload("pacific.zip", _zip())]}))
    assert job.status == "done", job.message
    assessments = _rows("assessments.csv")
    latest_by_taxon = {r["internalTaxonId"]: r for r in assessments}
    assert store.counts("pac")["assessments"] == len({r["assessmentId"] for r in assessments})

    # the sheet: the critically endangered, counted from the CSV
    cr = {t for t, r in latest_by_taxon.items() if r["redlistCategory"] == "Critically Endangered"}
    html = client.get("/p/pac/", {"q": "category=CR"}).content.decode()
    assert re.search(rf"of {len(cr)} taxa", html), re.search(r'id="sheet-summary">([^<]*)<', html)

    # a species page of a threatened species with threats recorded in threats.csv
    with_threats = {r["internalTaxonId"] for r in _rows("threats.csv")}
    tid = sorted(t for t, r in latest_by_taxon.items() if r["redlistCategory"] in THREATENED and t in with_threats)[0]
    html = client.get(f"/p/pac/species/{tid}/").content.decode()
    assert latest_by_taxon[tid]["scientificName"] in html and "<script" not in html.split("</head>", 1)[1].replace(
        '<script src="/static/', ""
    )

    # every page of the project answers, without a traceback
    for page in ("dashboard", "findings", "clusters", "triage", "sites", "events", "stakeholders",
                 "commitments", "reports", "imports", "audit"):  # fmt: skip
        r = client.get(f"/p/pac/{page}/")
        assert r.status_code == 200, (page, r.status_code)
        assert "Traceback" not in r.content.decode(), page

    # the findings page counts what the checks find (threatened species without an action needed)
    needed = {r["assessmentId"] for r in _rows("conservation_needed.csv")}
    no_action = {
        r["internalTaxonId"] for r in latest_by_taxon.values() if r["redlistCategory"] in THREATENED and r["assessmentId"] not in needed
    }
    html = client.get("/p/pac/findings/", {"rule": "threatened_no_action"}).content.decode()
    assert re.search(rf"of {len(no_action)} findings", html) or (not no_action and "No findings" in html)

    # the API gives the same count as the page
    api = client.get("/api/v1/projects/pac/species", {"filter": "category=CR", "limit": 5}).json()
    assert api["count"] == len(cr) and len(api["results"]) == min(5, len(cr))
