"""The a2p command line, run as a user runs it (a real subprocess on a real SQLite store)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def a2p(*args: str, home: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "A2P_HOME": str(home), "COLUMNS": "200", **(env or {})}
    e.pop("A2P_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "assess2plan.cli", *args], capture_output=True, text=True, env=e, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"a2p {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _pacific_coral() -> tuple[str, str, list[dict]]:
    """A reef-building coral of the Pacific set with threats, actions needed and countries,
    chosen straight from the CSV files."""
    base = shared_path("redlist-download", "pacific-marine")

    def rows(name):
        with open(base / name, encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))

    summary = {r["assessmentId"]: r for r in rows("simple_summary.csv")}
    threats = rows("threats.csv")
    needed = {r["assessmentId"] for r in rows("conservation_needed.csv")}
    countries = {r["assessmentId"] for r in rows("countries.csv")}
    for aid, s in sorted(summary.items()):
        if s["className"] == "ANTHOZOA" and aid in needed and aid in countries:
            mine = [t for t in threats if t["assessmentId"] == aid]
            if len(mine) >= 3:
                return aid, s["scientificName"], mine
    raise AssertionError("no coral with threats, actions and countries in the Pacific set")


def test_import_show_species_export_on_the_pacific_set(home, tmp_path):
    base = shared_path("redlist-download", "pacific-marine")
    east = shared_path("redlist-download", "pacific-marine-eastcentral")
    out = a2p("import", str(base), str(east), "--project", "pacific", home=home)
    assert "species" in out.stdout
    aid, name, threats = _pacific_coral()

    shown = a2p("show", name, "--project", "pacific", home=home).stdout
    assert name in shown
    for t in threats:
        assert t["code"] in shown
    assert "Conservation actions needed" in shown and "Countries" in shown
    assert "Impact" in shown  # impact labels printed with the threats

    rec = json.loads(a2p("show", name, "--project", "pacific", "--format", "json", home=home).stdout)
    assert rec["assessment"]["assessment_id"] == aid
    assert sorted(t["code"] for t in rec["threats"]) == sorted(t["code"] for t in threats)
    assert all(t["impact"] for t in rec["threats"])

    listed = json.loads(a2p("species", "--project", "pacific", "--format", "json", home=home).stdout)
    assert len(listed) == 358

    cr = json.loads(a2p("species", "--project", "pacific", "--category", "CR", "--format", "json", home=home).stdout)
    with open(base / "simple_summary.csv", encoding="utf-8-sig", newline="") as fh:
        expected_cr = {r["internalTaxonId"] for r in csv.DictReader(fh) if r["redlistCategory"] == "Critically Endangered"}
    assert {r["taxon_id"] for r in cr} == expected_cr

    folder = tmp_path / "csv"
    a2p("export", "--project", "pacific", "--format", "csv", "--out", str(folder), home=home)
    with open(folder / "assessments.csv", encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 358
    doc = tmp_path / "out.json"
    a2p("export", "--project", "pacific", "--format", "json", "--out", str(doc), home=home)
    data = json.loads(doc.read_text(encoding="utf-8"))
    assert data["counts"]["species"] == 358

    again = a2p("import", str(base), "--project", "pacific", home=home)
    assert "nothing changed" in again.stdout


def test_bad_input_is_a_clear_error_and_writes_nothing(home, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "simple_summary.csv").write_text(
        "assessmentId,internalTaxonId,scientificName,kingdomName,phylumName,orderName,className,familyName,"
        "genusName,speciesName,infraType,infraName,infraAuthority,authority,redlistCategory,redlistCriteria,"
        "criteriaVersion,populationTrend,scopes\n"
        "1,10,Fictus alpha,ANIMALIA,CHORDATA,CYPRINIFORMES,ACTINOPTERYGII,CYPRINIDAE,Fictus,alpha,,,,X,"
        "Endangered,B1ab(iii),3.1,Decreasing,Global\n",
        encoding="utf-8",
    )
    a2p("import", str(good), "--project", "p", home=home)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    proc = a2p("import", str(bad), "--project", "p", home=home, check=False)
    assert proc.returncode == 2
    assert "bad.zip" in proc.stderr and "Traceback" not in proc.stderr
    listed = json.loads(a2p("species", "--project", "p", "--format", "json", home=home).stdout)
    assert [r["taxon_id"] for r in listed] == ["10"]


def test_unknown_project_and_taxon_are_clear_errors(home):
    proc = a2p("species", "--project", "nowhere", home=home, check=False)
    assert proc.returncode == 1 and "no project 'nowhere'" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_runs_on_the_bundled_example(home):
    out = a2p("demo", home=home)
    assert "threatened species" in out.stdout
    assert "fictional" in out.stdout.lower()


def test_import_zip_with_dotdot_member_is_refused(home, tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../simple_summary.csv", "assessmentId,internalTaxonId\n1,2\n")
    proc = a2p("import", str(z), home=home, check=False)
    assert proc.returncode == 2 and "evil.zip" in proc.stderr and "Traceback" not in proc.stderr
