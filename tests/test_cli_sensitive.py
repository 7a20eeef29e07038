"""Sensitive taxa from the CLI: flagged on import (``a2p import --sensitive FILE``) or by hand
(``a2p sensitive add|remove|list``); a list naming a taxon that is not in the data is refused before
anything is written. Real subprocesses on a real SQLite store, bundled fictional example."""

from __future__ import annotations

import csv
import json

from assess2plan.examples import example_path
from tests.test_cli import a2p, home  # noqa: F401 - fixture

DOWNLOAD = example_path() / "download"


def _taxa() -> dict[str, str]:
    with open(DOWNLOAD / "taxonomy.csv", encoding="utf-8-sig", newline="") as fh:
        return {r["internalTaxonId"]: r["scientificName"] for r in csv.DictReader(fh)}


def test_import_flags_sensitive_taxa(home, tmp_path):  # noqa: F811
    taxa = _taxa()
    first, second = sorted(taxa)[:2]
    listing = tmp_path / "sensitive.txt"
    # one by taxon id, one by full scientific name (other case), a comment and a blank line
    listing.write_text(f"# orchid-like trade\n{first}\n\n{taxa[second].upper()}  # by name\n", encoding="utf-8")
    out = a2p("import", str(DOWNLOAD), "-p", "lk", "--sensitive", str(listing), "--sensitive-reason", "trade", home=home)
    assert "2 taxa sensitive" in out.stdout
    rows = json.loads(a2p("sensitive", "list", "-p", "lk", "--format", "json", home=home).stdout)
    assert {r["taxon_id"] for r in rows} == {first, second}
    assert {r["source"] for r in rows} == {"import"} and {r["reason"] for r in rows} == {"trade"}
    a2p("sensitive", "remove", first, "-p", "lk", "--reason", "no longer traded", home=home)
    rows = json.loads(a2p("sensitive", "list", "-p", "lk", "--format", "json", home=home).stdout)
    assert [r["taxon_id"] for r in rows] == [second]
    a2p("sensitive", "add", first, "-p", "lk", "--reason", "traded again", home=home)
    rows = json.loads(a2p("sensitive", "list", "-p", "lk", "--format", "json", home=home).stdout)
    assert {r["taxon_id"]: r["source"] for r in rows} == {first: "manual", second: "import"}


def test_unknown_sensitive_taxon_refused_before_import(home, tmp_path):  # noqa: F811
    listing = tmp_path / "sensitive.txt"
    listing.write_text(f"{sorted(_taxa())[0]}\nNotaspecies inventa\n", encoding="utf-8")
    out = a2p("import", str(DOWNLOAD), "-p", "lk", "--sensitive", str(listing), home=home, check=False)
    assert out.returncode == 2
    assert "sensitive.txt, line 2, value 'Notaspecies inventa'" in out.stderr.replace("\n", "")
    assert "Traceback" not in out.stderr
    projects = a2p("projects", home=home).stdout
    assert "lk" not in projects  # nothing imported


def test_sensitive_needs_reason(home):  # noqa: F811
    a2p("import", str(DOWNLOAD), "-p", "lk", home=home)
    out = a2p("sensitive", "add", sorted(_taxa())[0], "-p", "lk", home=home, check=False)
    assert out.returncode != 0 and "reason" in out.stderr
    assert json.loads(a2p("sensitive", "list", "-p", "lk", "--format", "json", home=home).stdout) == []
