"""The ops pages of the web application (issue 5): imports as background jobs (progress, counts,
warnings, errors naming file/row/column, nothing imported on error), a new project made by an
import, sensitive taxa (admins), stakeholders (list, add, edit with optimistic locking, CSV import,
Red List experts, suggestions) and commitments (sign-up, progress, history, export).

Runs on the bundled fictional lakeland example. Import jobs run inline (``A2P_IMPORT_RUNNER``) except
in the one test that runs the real background thread and waits for it."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest

from assess2plan import store
from assess2plan.examples import example_path
from assess2plan.io import read_redlist

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
PROJECT = "lakeland"
DOWNLOAD = example_path() / "download"


@pytest.fixture(autouse=True)
def _inline_runner(settings):
    """Import jobs run in the request (the thread runner has its own test)."""
    from django.core.cache import cache

    settings.A2P_IMPORT_RUNNER = "inline"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lakeland():
    store.import_set(read_redlist(DOWNLOAD), project=PROJECT, user="setup")
    from assess2plan.web.store.models import Project

    return Project.objects.get(slug=PROJECT)


@pytest.fixture
def lakeland_sites(lakeland):
    root = example_path()
    store.import_sites(PROJECT, root / "sites.csv", user="setup")
    store.import_site_links(PROJECT, root / "species_sites.csv", user="setup")
    return lakeland


def _user(name: str, project=None, role: str | None = None, **extra):  # noqa: ANN001, ANN202
    from django.contrib.auth.models import User

    from assess2plan.web.app.models import ProjectMembership

    u = User.objects.create_user(name, password=PASSWORD, **extra)
    if project is not None and role:
        ProjectMembership.objects.create(user=u, project=project, role=role)
    return u


def _login(client, name: str, project=None, role: str | None = None, **extra):  # noqa: ANN001, ANN202
    _user(name, project, role, **extra)
    assert client.login(username=name, password=PASSWORD)
    return client


def _other_client():  # noqa: ANN202
    from django.test import Client

    return Client()


def _zip_bytes(mutate=None) -> bytes:  # noqa: ANN001
    """The lakeland download as a zip built here; ``mutate(name, rows)`` may change a file's rows."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(DOWNLOAD.iterdir()):
            if mutate is None:
                z.write(f, f.name)
                continue
            with f.open(encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            rows = mutate(f.name, rows)
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            z.writestr(f.name, out.getvalue())
    return buf.getvalue()


def _upload(name: str, data: bytes):  # noqa: ANN202
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (DOWNLOAD / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _job(job_id: int):  # noqa: ANN202
    from assess2plan.web.app.models import ImportJob

    return ImportJob.objects.get(pk=job_id)


def _job_id(response) -> int:  # noqa: ANN001
    assert response.status_code == 302, response.content.decode()[:3000]
    m = re.search(r"/imports/(\d+)/$", response["Location"])
    assert m, response["Location"]
    return int(m.group(1))


def _uploads_left() -> list[Path]:
    from assess2plan.web.app.imports import uploads_root

    return [p for p in uploads_root().iterdir()]


def _counts_table(html: str) -> dict[str, dict[str, str]]:
    out = {}
    for table, cells in re.findall(r'<tr data-table="([^"]+)">(.*?)</tr>', html, re.S):
        out[table] = dict(re.findall(r'data-col="(\w+)">([^<]*)<', cells))
    return out


def _empty_project(slug: str = "fresh"):  # noqa: ANN202
    from assess2plan.web.store.models import Project

    return Project.objects.create(slug=slug, name="Fresh project")


# =================================================================================================
# imports
# =================================================================================================
def test_upload_zip_runs_job_and_counts_match(client):
    fresh = _empty_project()
    _login(client, "fay", fresh, "facilitator")
    r = client.post("/p/fresh/imports/", {"files": [_upload("lakeland-download.zip", _zip_bytes())]})
    job_id = _job_id(r)
    job = _job(job_id)
    assert job.status == "done", job.message
    assert job.user.username == "fay" and job.files == "lakeland-download.zip"
    counts = store.counts("fresh")
    # independent: rows of the CSV files themselves
    assessments = _csv_rows("assessments.csv")
    assert counts["assessments"] == len(assessments)
    assert counts["species"] == len({a["internalTaxonId"] for a in assessments})
    assert counts["threats"] == len(_csv_rows("threats.csv"))
    # the page shows the counts the store has now, and what was read and added
    html = client.get(f"/p/fresh/imports/{job_id}/").content.decode()
    assert 'data-status="done"' in html and 'hx-trigger="every 1s"' not in html
    table = _counts_table(html)
    assert int(table["assessments"]["now"]) == counts["assessments"]
    assert int(table["assessments"]["read"]) == int(table["assessments"]["added"]) == len(assessments)
    assert int(table["threats"]["now"]) == counts["threats"]
    assert f"The project now has {counts['species']} species" in html
    # files named as uploaded (warnings, dataset list), never by the server's temp folder
    assert "/uploads/" not in html and "uploads/job-" not in html
    imports_page = client.get("/p/fresh/imports/").content.decode()
    assert "lakeland-download.zip" in imports_page and "/uploads/" not in imports_page
    # recorded as a dataset imported by the user; the uploaded files are gone
    ds = store.list_datasets("fresh")
    assert len(ds) == 1 and ds[0]["imported_by"] == "fay"
    assert _uploads_left() == []
    # the same files again: nothing changes
    r = client.post("/p/fresh/imports/", {"files": [_upload("lakeland-download.zip", _zip_bytes())]})
    again = _job(_job_id(r))
    assert again.status == "done" and "nothing changed" in again.message
    assert store.counts("fresh") == counts and len(store.list_datasets("fresh")) == 1


def test_loose_csv_files_are_read_as_one_set(client):
    fresh = _empty_project()
    _login(client, "fay", fresh, "facilitator")
    files = [_upload(f.name, f.read_bytes()) for f in sorted(DOWNLOAD.iterdir())]
    job = _job(_job_id(client.post("/p/fresh/imports/", {"files": files})))
    assert job.status == "done", job.message
    assert store.counts("fresh")["assessments"] == len(_csv_rows("assessments.csv"))


def _blank_assessment_id(name: str, rows: list[list[str]]) -> list[list[str]]:
    if name == "assessments.csv":
        rows[3][rows[0].index("assessmentId")] = ""
    return rows


def test_bad_row_fails_job_with_file_row_column_and_imports_nothing(client, lakeland):
    _login(client, "fay", lakeland, "facilitator")
    before, datasets = store.counts(PROJECT), len(store.list_datasets(PROJECT))
    r = client.post(
        f"/p/{PROJECT}/imports/", {"files": [_upload("new-download.zip", _zip_bytes(_blank_assessment_id))]}
    )
    job_id = _job_id(r)
    job = _job(job_id)
    assert job.status == "failed"
    msg = job.message
    assert "new-download.zip" in msg and "assessments.csv" in msg
    assert "row 3" in msg and "'assessmentId'" in msg and "Nothing was imported" in msg
    assert "uploads" not in msg and "job-" not in msg  # the temp folder is not shown
    assert store.counts(PROJECT) == before and len(store.list_datasets(PROJECT)) == datasets
    html = client.get(f"/p/{PROJECT}/imports/{job_id}/").content.decode()
    assert 'data-testid="import-error"' in html and "row 3" in html
    assert _uploads_left() == []


def test_broken_csv_and_unreadable_zip_fail_clearly(client, lakeland):
    _login(client, "fay", lakeland, "facilitator")
    before = store.counts(PROJECT)

    files = []
    for f in sorted(DOWNLOAD.iterdir()):
        data = f.read_bytes()
        if f.name == "threats.csv":
            lines = data.decode("utf-8").split("\n")
            lines[2] = lines[2].replace(",", ',"', 1)  # a stray quote in data row 2
            data = "\n".join(lines).encode("utf-8")
        files.append(_upload(f.name, data))
    job = _job(_job_id(client.post(f"/p/{PROJECT}/imports/", {"files": files})))
    assert job.status == "failed"
    assert job.message.startswith("Input error: threats.csv, row 2") and "quote" in job.message
    job = _job(
        _job_id(client.post(f"/p/{PROJECT}/imports/", {"files": [_upload("broken.zip", b"not a zip")]}))
    )
    assert job.status == "failed" and "broken.zip" in job.message and "zip" in job.message
    assert store.counts(PROJECT) == before


def test_upload_form_refuses_other_files_and_empty_upload(client, lakeland):
    from assess2plan.web.app.models import ImportJob

    _login(client, "fay", lakeland, "facilitator")
    r = client.post(f"/p/{PROJECT}/imports/", {"files": [_upload("notes.txt", b"hello")]})
    assert r.status_code == 400 and "notes.txt" in unescape(r.content.decode())
    r = client.post(f"/p/{PROJECT}/imports/", {})
    assert r.status_code == 400 and "choose at least one file" in r.content.decode()
    assert ImportJob.objects.count() == 0 and _uploads_left() == []


def test_sensitive_list_with_unknown_taxon_refused_before_import(client):
    fresh = _empty_project()
    _login(client, "fay", fresh, "facilitator")
    data = {
        "files": [_upload("lakeland.zip", _zip_bytes())],
        "sensitive": "Mirrenichthys auratus\nNosuchia imaginaria\n",
        "sensitive_reason": "collectors",
    }
    job = _job(_job_id(client.post("/p/fresh/imports/", data)))
    assert job.status == "failed"
    assert "Nosuchia imaginaria" in job.message and "Mirrenichthys auratus" not in job.message
    assert store.counts("fresh")["assessments"] == 0 and store.list_datasets("fresh") == []
    assert store.sensitive_taxa("fresh") == set()


def test_sensitive_list_flags_taxa_after_import(client):
    fresh = _empty_project()
    _login(client, "fay", fresh, "facilitator")
    tid = next(
        a["internalTaxonId"]
        for a in _csv_rows("assessments.csv")
        if a["scientificName"] == "Mirrenichthys auratus"
    )
    other = _csv_rows("assessments.csv")[5]
    data = {
        "files": [_upload("lakeland.zip", _zip_bytes())],
        "sensitive": f"mirrenichthys auratus\n{other['assessmentId']}\n",
        "sensitive_reason": "collectors",
    }
    job = _job(_job_id(client.post("/p/fresh/imports/", data)))
    assert job.status == "done", job.message
    df = store.list_sensitive("fresh")
    assert sorted(df["taxon_id"].to_list()) == sorted({tid, other["internalTaxonId"]})
    assert set(df["source"].to_list()) == {"import"} and set(df["made_by"].to_list()) == {"fay"}
    # a reason is required with a list; refused before any job exists
    r = client.post("/p/fresh/imports/", {"files": [_upload("x.zip", _zip_bytes())], "sensitive": "X"})
    assert r.status_code == 400 and "reason" in r.content.decode()


def _without_taxon(taxon_id: str):  # noqa: ANN202
    def mutate(name: str, rows: list[list[str]]) -> list[list[str]]:
        col = rows[0].index("internalTaxonId")
        return [rows[0]] + [r for r in rows[1:] if r[col] != taxon_id]

    return mutate


def test_sensitive_list_may_name_taxa_already_in_the_project(client, lakeland):
    _login(client, "fay", lakeland, "facilitator")
    # the upload lacks this species: it is found among the taxa the project has already
    name = "Mirrenichthys auratus"
    data = {
        "files": [_upload("lakeland.zip", _zip_bytes(_without_taxon("990000001")))],
        "sensitive": f"{name}\n",
        "sensitive_reason": "r",
    }
    job = _job(_job_id(client.post(f"/p/{PROJECT}/imports/", data)))
    assert job.status == "done", job.message
    assert store.sensitive_taxa(PROJECT) == {"990000001"}
    fresh = _empty_project()
    data["files"] = [_upload("lakeland.zip", _zip_bytes(_without_taxon("990000001")))]
    _login(_other_client(), "finn", fresh, "facilitator").post("/p/fresh/imports/", data)
    from assess2plan.web.app.models import ImportJob

    job = ImportJob.objects.get(project_slug="fresh")
    assert job.status == "failed" and name in job.message and store.list_datasets("fresh") == []


def test_progress_fragment_polls_while_running(client, lakeland):
    from assess2plan.web.app.models import ImportJob

    _login(client, "vera", lakeland, "viewer")
    job = ImportJob.objects.create(
        project_slug=PROJECT, status="running", stage="storing threats", done=5, total=17, files="a.zip"
    )
    r = client.get(f"/p/{PROJECT}/imports/{job.id}/", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html  # the fragment alone
    assert 'hx-trigger="every 1s"' in html and f'hx-get="/p/{PROJECT}/imports/{job.id}/"' in html
    assert "storing threats" in html and 'max="17"' in html and 'value="5"' in html
    # the full page holds the same panel
    page = client.get(f"/p/{PROJECT}/imports/{job.id}/").content.decode()
    assert "<html" in page and 'hx-trigger="every 1s"' in page
    job.status, job.message = "failed", "Input error: x.zip, row 1: bad"
    job.save()
    html = client.get(f"/p/{PROJECT}/imports/{job.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in html and "x.zip, row 1: bad" in html


def test_progress_callback_writes_row_outside_the_transaction_only(lakeland):
    from django.db import transaction

    from assess2plan.web.app import imports
    from assess2plan.web.app.models import ImportJob

    job = ImportJob.objects.create(project_slug=PROJECT, status="running")
    cb = imports._Progress(job.id, "reading")
    cb("taxonomy.csv", 2, 11)
    job.refresh_from_db()
    assert (job.stage, job.done, job.total) == ("reading taxonomy.csv", 2, 11)
    with transaction.atomic():
        imports._Progress(job.id, "storing")("threats", 7, 17)
        assert ImportJob.objects.get(pk=job.id).stage == "reading taxonomy.csv"
    assert imports.live_progress(job.id)["stage"] == "storing threats"
    imports._live.pop(job.id, None)


def test_thread_runner_imports_in_background(client, settings):
    from assess2plan.web.app import imports

    settings.A2P_IMPORT_RUNNER = "thread"
    fresh = _empty_project()
    _login(client, "fay", fresh, "facilitator")
    job_id = _job_id(client.post("/p/fresh/imports/", {"files": [_upload("lakeland.zip", _zip_bytes())]}))
    assert imports.wait(job_id, timeout=300), "the import thread did not end"
    job = _job(job_id)
    assert job.status == "done", job.message
    assert job.started_at is not None and job.finished_at is not None
    assert store.counts("fresh")["assessments"] == len(_csv_rows("assessments.csv"))
    assert _uploads_left() == []


def test_import_permissions(client, lakeland):
    from assess2plan.web.app.models import ImportJob

    job = ImportJob.objects.create(project_slug=PROJECT, status="done", files="a.zip")
    _login(client, "vera", lakeland, "viewer")
    r = client.get(f"/p/{PROJECT}/imports/")
    assert r.status_code == 200 and 'data-testid="import-form"' not in r.content.decode()
    assert client.get(f"/p/{PROJECT}/imports/{job.id}/").status_code == 200
    r = client.post(f"/p/{PROJECT}/imports/", {"files": [_upload("lakeland.zip", _zip_bytes())]})
    assert r.status_code == 403
    c = _login(_other_client(), "ada", lakeland, "assessor")
    assert c.post(f"/p/{PROJECT}/imports/", {"files": [_upload("l.zip", b"x")]}).status_code == 403
    c = _login(_other_client(), "nemo")
    assert c.get(f"/p/{PROJECT}/imports/").status_code == 404
    assert c.get(f"/p/{PROJECT}/imports/{job.id}/").status_code == 404
    assert c.post(f"/p/{PROJECT}/imports/", {"files": [_upload("l.zip", b"x")]}).status_code == 404
    assert ImportJob.objects.count() == 1
    c = _login(_other_client(), "fay", lakeland, "facilitator")
    assert 'data-testid="import-form"' in c.get(f"/p/{PROJECT}/imports/").content.decode()
    # a job of another project is not reachable through this one
    other = ImportJob.objects.create(project_slug="elsewhere", status="done")
    assert c.get(f"/p/{PROJECT}/imports/{other.id}/").status_code == 404


def test_new_project_by_import(client, lakeland):
    from assess2plan.web.app.models import ProjectMembership
    from assess2plan.web.store.models import Project

    c = _login(_other_client(), "fay", lakeland, "facilitator")
    assert c.get("/imports/new/").status_code == 403  # not staff
    assert (
        c.post("/imports/new/", {"slug": "x", "files": [_upload("l.zip", _zip_bytes())]}).status_code == 403
    )
    _login(client, "stella", is_staff=True)
    assert 'data-testid="new-project-form"' in client.get("/imports/new/").content.decode()
    r = client.post(
        "/imports/new/", {"slug": PROJECT, "name": "x", "files": [_upload("l.zip", _zip_bytes())]}
    )
    assert r.status_code == 400 and "exists already" in r.content.decode()
    r = client.post("/imports/new/", {"slug": "bad slug", "files": [_upload("l.zip", _zip_bytes())]})
    assert r.status_code == 400
    # a failed new-project import: no project; its maker still sees the message
    r = client.post(
        "/imports/new/", {"slug": "lakes2", "files": [_upload("l.zip", _zip_bytes(_blank_assessment_id))]}
    )
    failed_id = _job_id(r)
    assert not Project.objects.filter(slug="lakes2").exists()
    html = client.get(f"/p/lakes2/imports/{failed_id}/").content.decode()
    assert "row 3" in html and 'data-status="failed"' in html
    assert c.get(f"/p/lakes2/imports/{failed_id}/").status_code == 404  # not theirs
    r = client.post(
        "/imports/new/",
        {"slug": "lakes2", "name": "Lakes, second look", "files": [_upload("l.zip", _zip_bytes())]},
    )
    job = _job(_job_id(r))
    assert job.status == "done", job.message
    p = Project.objects.get(slug="lakes2")
    assert p.name == "Lakes, second look"
    assert ProjectMembership.objects.get(user__username="stella", project=p).role == "admin"
    assert store.counts("lakes2") == store.counts(PROJECT)
    html = client.get(f"/p/lakes2/imports/{job.id}/").content.decode()
    assert 'data-testid="open-project"' in html


# =================================================================================================
# sensitive taxa
# =================================================================================================
def test_sensitive_page_admin_only(client, lakeland):
    for name, role in (("vera", "viewer"), ("ada", "assessor"), ("fay", "facilitator")):
        c = _login(_other_client(), name, lakeland, role)
        assert c.get(f"/p/{PROJECT}/sensitive/").status_code == 403, role
        assert (
            c.post(
                f"/p/{PROJECT}/sensitive/", {"action": "flag", "taxa": "990000001", "reason": "r"}
            ).status_code
            == 403
        )
    assert _login(_other_client(), "nemo").get(f"/p/{PROJECT}/sensitive/").status_code == 404
    assert store.sensitive_taxa(PROJECT) == set()
    _login(client, "adam", lakeland, "admin")
    r = client.post(
        f"/p/{PROJECT}/sensitive/",
        {"action": "flag", "taxa": "Mirrenichthys auratus\n", "reason": "collectors"},
    )
    assert r.status_code == 302
    assert store.sensitive_taxa(PROJECT) == {"990000001"}
    html = client.get(f"/p/{PROJECT}/sensitive/").content.decode()
    assert 'data-taxon="990000001"' in html and "collectors" in html and "adam" in html
    r = client.post(
        f"/p/{PROJECT}/sensitive/", {"action": "flag", "taxa": "Nosuchia imaginaria", "reason": "x"}
    )
    assert r.status_code == 400 and "Nosuchia imaginaria" in unescape(r.content.decode())
    r = client.post(f"/p/{PROJECT}/sensitive/", {"action": "unflag", "taxon": "990000001", "reason": ""})
    assert r.status_code == 400 and store.sensitive_taxa(PROJECT) == {"990000001"}
    r = client.post(
        f"/p/{PROJECT}/sensitive/", {"action": "unflag", "taxon": "990000001", "reason": "published"}
    )
    assert r.status_code == 302 and store.sensitive_taxa(PROJECT) == set()


# =================================================================================================
# stakeholders
# =================================================================================================
def _add_stakeholder(sid: str = "vfa", name: str = "Valdora Fisheries Agency", **kw) -> dict:
    return store.add_stakeholder(PROJECT, sid, name, user="setup", **kw)


def test_stakeholder_list_and_add(client, lakeland_sites):
    _add_stakeholder(
        countries="XA|XB", sites="VL01", expertise="t:8.1|fisheries", role="agency", email="a@vfa.example"
    )
    c = _login(_other_client(), "vera", lakeland_sites, "viewer")
    html = c.get(f"/p/{PROJECT}/stakeholders/").content.decode()
    assert (
        'data-stakeholder="vfa"' in html and "XA, XB" in html and "VL01" in html and "a@vfa.example" in html
    )
    assert 'data-testid="stakeholder-add-form"' not in html
    assert c.post(f"/p/{PROJECT}/stakeholders/", {"stakeholder_id": "x", "name": "X"}).status_code == 403
    _login(client, "fay", lakeland_sites, "facilitator")
    r = client.post(
        f"/p/{PROJECT}/stakeholders/",
        {
            "stakeholder_id": "mlt",
            "name": "Lake Mirren Trust",
            "kind": "organisation",
            "countries": "XA",
            "sites": "VL01",
        },
    )
    assert r.status_code == 302
    df = store.list_stakeholders(PROJECT, details=True)
    s = df.row(df["stakeholder_id"].to_list().index("mlt"), named=True)
    assert s["made_by"] == "fay" and s["sites"] == "VL01"
    r = client.post(
        f"/p/{PROJECT}/stakeholders/", {"stakeholder_id": "bad", "name": "B", "countries": "Atlantis"}
    )
    assert r.status_code == 400 and "countries" in r.content.decode()
    assert "bad" not in store.list_stakeholders(PROJECT)["stakeholder_id"].to_list()
    assert _login(_other_client(), "nemo").get(f"/p/{PROJECT}/stakeholders/").status_code == 404


def test_stakeholder_edit_stale_version_409(client, lakeland):
    _add_stakeholder(role="agency")
    a = _login(client, "fay", lakeland, "facilitator")
    b = _login(_other_client(), "finn", lakeland, "facilitator")
    url = f"/p/{PROJECT}/stakeholders/s/vfa/"
    for c in (a, b):
        assert 'name="version" value="1"' in c.get(url).content.decode()
    form = {"name": "Valdora Fisheries Agency", "kind": "organisation", "version": "1"}
    r = a.post(url, {**form, "role": "national focal point"})
    assert r.status_code == 302
    r = b.post(url, {**form, "role": "observer"})
    assert r.status_code == 409
    html = unescape(r.content.decode())
    assert "Not saved" in html and "fay" in html and "reload" in html
    s = store.list_stakeholders(PROJECT, details=True).row(0, named=True)
    assert s["role"] == "national focal point" and s["version"] == 2 and s["updated_by"] == "fay"
    # a viewer reads the page but has no form and may not post
    v = _login(_other_client(), "vera", lakeland, "viewer")
    html = v.get(url).content.decode()
    assert "national focal point" in html and 'data-testid="stakeholder-form"' not in html
    assert v.post(url, {**form, "version": "2", "role": "x"}).status_code == 403
    assert a.get(f"/p/{PROJECT}/stakeholders/s/nobody/").status_code == 404


def test_stakeholder_csv_import_errors_and_success(client, lakeland_sites, tmp_path):
    _login(client, "fay", lakeland_sites, "facilitator")
    bad = (
        "stakeholder_id,name,kind,email,countries,sites\n"
        "mlt,Lake Mirren Trust,organisation,trust@example.org,XA,VL01\n"
        "vfa,Valdora Fisheries,organisation,not-an-address,XB,\n"
    )
    r = client.post(f"/p/{PROJECT}/stakeholders/import/", {"file": _upload("people.csv", bad.encode())})
    assert r.status_code == 400
    html = unescape(r.content.decode())
    m = re.search(r'data-testid="stakeholder-import-error">([^<]*)<', html)
    assert m, html[:2000]
    err = m.group(1)
    assert "people.csv" in err and "row 2" in err and "'email'" in err and "not-an-address" in err
    assert "uploads" not in err
    assert store.list_stakeholders(PROJECT).height == 0  # the good first row was not imported either
    good = bad.replace("not-an-address", "info@vfa.example")
    r = client.post(
        f"/p/{PROJECT}/stakeholders/import/", {"file": _upload("people.csv", good.encode())}, follow=True
    )
    assert "2 added, 0 updated" in r.content.decode()
    assert sorted(store.list_stakeholders(PROJECT)["stakeholder_id"].to_list()) == ["mlt", "vfa"]
    assert _uploads_left() == []
    v = _login(_other_client(), "vera", lakeland_sites, "viewer")
    assert (
        v.post(f"/p/{PROJECT}/stakeholders/import/", {"file": _upload("p.csv", good.encode())}).status_code
        == 403
    )


def test_experts_from_credits_page(client, lakeland):
    _add_stakeholder("iv", "Ines Vardalen", kind="person")
    _login(client, "vera", lakeland, "viewer")
    html = unescape(
        client.get(f"/p/{PROJECT}/stakeholders/experts/?q=Mirrenichthys auratus").content.decode()
    )
    # independent: the names in credits.csv for that species (value: "Name (Affiliation)|...")
    expected = set()
    for row in _csv_rows("credits.csv"):
        if row["scientificName"] == "Mirrenichthys auratus":
            for part in row["value"].split("|"):
                expected.add(re.sub(r"\s*\(.*\)\s*$", "", part).strip())
    assert expected
    for name in expected:
        assert f"<td>{name}</td>" in html, name
    # the stakeholder on the list is linked
    assert f'href="/p/{PROJECT}/stakeholders/s/iv/"' in html


def test_suggestions_for_site_and_bucket(client, lakeland_sites):
    _add_stakeholder("mlt", "Lake Mirren Trust", countries="XA", sites="VL01")
    _add_stakeholder("far", "Far Away Society", countries="XZ")
    _login(client, "vera", lakeland_sites, "viewer")
    r = client.get(f"/p/{PROJECT}/stakeholders/suggest/?site=VL01")
    html = unescape(r.content.decode())
    assert r.status_code == 200 and 'data-testid="suggest-table"' in html
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>", html.split('data-testid="suggest-table"')[1])
    names = [n for _, n in rows]
    assert names and names[0] == "Lake Mirren Trust"
    assert "Far Away Society" not in names or names.index("Far Away Society") > 0
    r = client.get(f"/p/{PROJECT}/stakeholders/suggest/?bucket=site_based")
    assert r.status_code == 200 and 'data-testid="suggest-table"' in r.content.decode()
    r = client.get(f"/p/{PROJECT}/stakeholders/suggest/?bucket=nonsense")
    assert r.status_code == 400 and "nonsense" in unescape(r.content.decode())


# =================================================================================================
# commitments
# =================================================================================================
def _taxa(n: int) -> list[str]:
    seen: list[str] = []
    for a in _csv_rows("assessments.csv"):
        if a["internalTaxonId"] not in seen:
            seen.append(a["internalTaxonId"])
    return seen[:n]


def test_sign_up_records_who(client, lakeland):
    _add_stakeholder()
    v = _login(_other_client(), "vera", lakeland, "viewer")
    assert v.get(f"/p/{PROJECT}/commitments/new/").status_code == 403
    a = _login(_other_client(), "ada", lakeland, "assessor")
    form = {
        "stakeholder": "vfa",
        "action": "2.2",
        "taxon": "Mirrenichthys auratus",
        "place": "VL01",
        "due": "2031-05-01",
    }
    assert a.post(f"/p/{PROJECT}/commitments/new/", form).status_code == 403
    _login(client, "fay", lakeland, "facilitator")
    html = client.get(f"/p/{PROJECT}/commitments/new/?taxon=990000001").content.decode()
    assert (
        'value="990000001"' in html
        and '<option value="2.2">2.2 Invasive/problematic species control</option>' in html
    )
    r = client.post(f"/p/{PROJECT}/commitments/new/", {**form, "note": "start with the north shore"})
    assert r.status_code == 302 and r["Location"].endswith("/commitments/C1/")
    c = store.get_commitment(PROJECT, "C1")
    assert (c["taxon_id"], c["action_code"], c["updated_by"], c["status"]) == (
        "990000001",
        "2.2",
        "fay",
        "proposed",
    )
    assert c["due_date"] == date(2031, 5, 1)
    notes = store.commitment_notes(PROJECT, "C1")
    assert notes["made_by"].to_list() == ["fay"]
    html = client.get(r["Location"]).content.decode()
    assert '<td data-col="who">fay</td>' in html and "start with the north shore" in html
    # bad input: unknown action code, nothing recorded
    r = client.post(f"/p/{PROJECT}/commitments/new/", {**form, "action": "99.9"})
    assert r.status_code == 400 and "99.9" in unescape(r.content.decode())
    assert store.list_commitments(PROJECT).height == 1


def test_commitment_update_stale_version_409_and_history(client, lakeland):
    _add_stakeholder()
    store.sign_up(PROJECT, "vfa", "2.2", taxon="990000001", due_date="2031-01-01", user="setup")
    a = _login(client, "fay", lakeland, "facilitator")
    b = _login(_other_client(), "finn", lakeland, "facilitator")
    url = f"/p/{PROJECT}/commitments/C1/"
    for c in (a, b):
        assert 'name="version" value="1"' in c.get(url).content.decode()
    r = a.post(url, {"version": "1", "status": "active", "due": "2031-01-01", "note": "nets bought"})
    assert r.status_code == 302
    r = b.post(url, {"version": "1", "status": "dropped", "due": "2031-01-01", "note": "no funds"})
    assert r.status_code == 409 and "Not saved" in unescape(r.content.decode())
    c = store.get_commitment(PROJECT, "C1")
    assert c["status"] == "active" and c["version"] == 2 and c["progress"] == "nets bought"
    notes = store.commitment_notes(PROJECT, "C1")
    assert notes["made_by"].to_list() == ["setup", "fay"] and "no funds" not in (notes["text"].to_list())
    # nothing changed -> 400, no new note
    r = a.post(url, {"version": "2", "status": "active", "due": "2031-01-01", "note": ""})
    assert r.status_code == 400 and store.commitment_notes(PROJECT, "C1").height == 2
    # due date moved by the facilitator who saw version 2
    r = a.post(url, {"version": "2", "status": "active", "due": "2032-06-30", "note": ""})
    assert r.status_code == 302 and store.get_commitment(PROJECT, "C1")["due_date"] == date(2032, 6, 30)
    v = _login(_other_client(), "vera", lakeland, "viewer")
    html = v.get(url).content.decode()
    assert "nets bought" in html and 'data-testid="commitment-form"' not in html
    assert v.post(url, {"version": "3", "status": "done"}).status_code == 403
    assert v.get(f"/p/{PROJECT}/commitments/C99/").status_code == 404


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-commitment="([^"]+)"', html)


def test_commitments_list_overdue_first_and_filters(client, lakeland):
    _add_stakeholder()
    _add_stakeholder("mlt", "Lake Mirren Trust")
    t1, t2, t3 = _taxa(3)
    today = date.today()
    store.sign_up(PROJECT, "vfa", "2.2", taxon=t1, due_date=today + timedelta(days=300), user="setup")  # C1
    store.sign_up(
        PROJECT, "mlt", "1.1", taxon=t2, due_date=today - timedelta(days=10), user="setup"
    )  # C2 overdue
    store.sign_up(
        PROJECT, "vfa", "2.1", taxon=t3, due_date=today - timedelta(days=400), user="setup"
    )  # C3 overdue
    store.sign_up(
        PROJECT, "mlt", "3.4.1", taxon=t1, due_date=today - timedelta(days=5), status="done", user="setup"
    )
    _login(client, "vera", lakeland, "viewer")
    html = client.get(f"/p/{PROJECT}/commitments/").content.decode()
    assert _row_ids(html) == ["C3", "C2", "C1", "C4"]  # overdue by due date, then the others
    assert html.count('data-overdue="1"') == 2
    assert _row_ids(client.get(f"/p/{PROJECT}/commitments/?stakeholder=vfa").content.decode()) == ["C3", "C1"]
    assert _row_ids(client.get(f"/p/{PROJECT}/commitments/?action=2").content.decode()) == ["C3", "C1"]
    assert _row_ids(client.get(f"/p/{PROJECT}/commitments/?status=done").content.decode()) == ["C4"]
    assert _row_ids(client.get(f"/p/{PROJECT}/commitments/?overdue=1").content.decode()) == ["C3", "C2"]
    r = client.get(f"/p/{PROJECT}/commitments/?stakeholder=nobody")
    assert r.status_code == 400 and _row_ids(r.content.decode()) == []
    assert 'data-testid="signup-link"' not in html  # viewers do not sign people up


def test_commitment_place_hidden_for_sensitive_taxon(client, lakeland):
    _add_stakeholder()
    store.sign_up(PROJECT, "vfa", "2.2", taxon="990000001", place="Lake Mirren north bay", user="setup")
    store.flag_sensitive(PROJECT, ["990000001"], "collectors", user="setup")
    v = _login(_other_client(), "vera", lakeland, "viewer")
    for url in (f"/p/{PROJECT}/commitments/", f"/p/{PROJECT}/commitments/C1/"):
        html = v.get(url).content.decode()
        assert "Lake Mirren north bay" not in html and "hidden" in html
    # a facilitator without the right does not see it either, and saving the form keeps it
    f = _login(_other_client(), "fay", lakeland, "facilitator")
    html = f.get(f"/p/{PROJECT}/commitments/C1/").content.decode()
    assert "Lake Mirren north bay" not in html
    assert (
        f.post(f"/p/{PROJECT}/commitments/C1/", {"version": "1", "status": "active", "note": ""}).status_code
        == 302
    )
    assert store.get_commitment(PROJECT, "C1")["place"] == "Lake Mirren north bay"
    # nor in the "actions in place" export (its note names the place)
    export = f"/p/{PROJECT}/commitments/export/?status=active"
    text = v.get(export).content.decode()
    assert "990000001" in text and "Lake Mirren north bay" not in text and "[place hidden]" in text
    _login(client, "adam", lakeland, "admin")
    assert "Lake Mirren north bay" in client.get(f"/p/{PROJECT}/commitments/").content.decode()
    assert "Lake Mirren north bay" in client.get(export).content.decode()


def test_export_actions_in_place_csv(client, lakeland):
    _add_stakeholder()
    (t1,) = _taxa(1)
    store.sign_up(PROJECT, "vfa", "3.4.1", taxon=t1, status="done", user="setup")
    store.sign_up(PROJECT, "vfa", "1.1", taxon=t1, status="active", user="setup")
    _login(client, "vera", lakeland, "viewer")
    r = client.get(f"/p/{PROJECT}/commitments/export/?status=done")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    expected = store.commitments_as_actions_in_place(PROJECT, statuses=("done",))
    assert len(rows) == expected.height
    assert {x["commitment_id"] for x in rows} <= {"C1"} and all(x["taxon_id"] == t1 for x in rows)
    both = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/p/{PROJECT}/commitments/export/?status=done&status=active").content.decode()
            )
        )
    )
    assert len(both) >= len(rows)
    assert client.get(f"/p/{PROJECT}/commitments/export/?status=finished").status_code == 400
