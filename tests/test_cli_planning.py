"""Issue 4 "done when", with the CLI alone on the real Pacific set (real subprocesses, a real
SQLite store, a real local HTTP receiver): clusters, buckets with reasons, a site event with its
affected species and a delivered notification, the PDF report; a bucket decision survives the
import of a newer download. Membership is cross-checked against independent readings of the CSV
files (the deeper cross-checks are in test_planning_clusters / test_planning_triage)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.test_cli import a2p

THREATENED = {"CR", "EN", "VU", "EW"}
CATEGORY_CODES = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Extinct in the Wild": "EW",
}


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _threatened(folders: list[Path]) -> dict[str, str]:
    """taxon id -> category of the latest (by year) global assessment, threatened only."""
    best: dict[str, tuple[int, str, str]] = {}
    for f in folders:
        for r in _rows(f, "assessments.csv"):
            key = (int(r["yearPublished"] or 0), r["assessmentId"], CATEGORY_CODES.get(r["redlistCategory"], ""))
            if r["internalTaxonId"] not in best or key > best[r["internalTaxonId"]]:
                best[r["internalTaxonId"]] = key
    return {t: k[2] for t, k in best.items() if k[2] in THREATENED}


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).bodies.append((body, dict(self.headers)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def receiver():
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.bodies
    server.shutdown()


def _json(proc) -> list[dict]:
    return json.loads(proc.stdout)


def test_pacific_planning_with_the_cli(tmp_path, receiver):
    folders = [shared_path("redlist-download", d) for d in ("pacific-marine", "pacific-marine-eastcentral")]
    home = tmp_path / "home"
    a2p("import", *map(str, folders), "-p", "pac", home=home)
    threatened = _threatened(folders)
    assert len(threatened) > 20

    # clusters: every member is a threatened species of the set; each carries its reason
    clusters = _json(a2p("clusters", "-p", "pac", "--by", "country", "--min-impact", "any", "--format", "json", home=home))
    members = _json(
        a2p("clusters", "-p", "pac", "--by", "country", "--min-impact", "any", "--members", "--format", "json", home=home)
    )
    assert clusters and members
    assert {m["taxon_id"] for m in members} <= set(threatened)
    assert all(m["reason"] for m in members)
    sizes = {c["cluster_id"]: c["size"] for c in clusters}
    for cid, size in list(sizes.items())[:5]:
        assert sum(m["cluster_id"] == cid for m in members) == size
    # one cluster recomputed from the CSV files: threat 5.4 (fishing) in Indonesia, any impact
    occ = {(r["assessmentId"], r["code"].upper()) for f in folders for r in _rows(f, "countries.csv")
           if r.get("presence", "Extant") in ("Extant", "Possibly Extant", "")
           and r.get("origin", "Native") in ("Native", "Reintroduced", "")}
    latest_aid: dict[str, str] = {}
    years: dict[str, int] = {}
    for f in folders:
        for r in _rows(f, "assessments.csv"):
            y = int(r["yearPublished"] or 0)
            if r["internalTaxonId"] not in years or (y, r["assessmentId"]) > (years[r["internalTaxonId"]], latest_aid[r["internalTaxonId"]]):
                years[r["internalTaxonId"]], latest_aid[r["internalTaxonId"]] = y, r["assessmentId"]
    fishing = {r["assessmentId"] for f in folders for r in _rows(f, "threats.csv")
               if r["code"].replace("_", ".") == "5.4" or r["code"].replace("_", ".").startswith("5.4.")}
    expected = {t for t, aid in latest_aid.items() if t in threatened and aid in fishing and (aid, "ID") in occ}
    got = {m["taxon_id"] for m in members if m["cluster_id"] == "threat:5.4|country:ID"}
    assert got == expected and len(expected) >= 2

    # buckets: every threatened species has at least one, with a reason
    buckets = _json(a2p("triage", "-p", "pac", "--format", "json", home=home))
    assert {b["taxon_id"] for b in buckets} == set(threatened)
    assert all(b["reason"] and b["bucket"] for b in buckets)
    in_first = {r["assessmentId"] for r in _rows(folders[0], "assessments.csv")}
    chosen = next(b for b in buckets if latest_aid[b["taxon_id"]] in in_first)
    a2p("decide", "reject", chosen["taxon_id"], chosen["bucket"], "-p", "pac", "--reason", "plan exists",
        "--user", "facilitator", home=home)

    # a newer download (the chosen species re-assessed: a new assessment id, a later year)
    newer = tmp_path / "newer"
    shutil.copytree(folders[0], newer)
    old_id = latest_aid[chosen["taxon_id"]]
    assert old_id in {r["assessmentId"] for r in _rows(newer, "assessments.csv")}
    for path in sorted(newer.glob("*.csv")):
        rows = _rows(newer, path.name)
        if not rows or "assessmentId" not in rows[0]:
            continue
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                if r["assessmentId"] == old_id:
                    r = {**r, "assessmentId": "999" + old_id}
                    if "yearPublished" in r:
                        r["yearPublished"] = "2026"
                w.writerow(r)
    a2p("import", str(newer), "-p", "pac", home=home)
    after = _json(a2p("triage", "-p", "pac", "--format", "json", home=home))
    row = next(b for b in after if b["taxon_id"] == chosen["taxon_id"] and b["bucket"] == chosen["bucket"])
    assert row["status"] == "rejected" and row["decided_by"] == "facilitator" and row["decision_reason"] == "plan exists"

    # a site, its species, a subscriber, an event: affected species listed, notification delivered
    url, bodies = receiver
    taxa = sorted(expected)[:3]
    a2p("site", "add", "reef-x", "Reef X", "--kind", "reef", "--country", "ID", "--lat", "-8.1", "--lon", "115.2",
        "-p", "pac", home=home)
    a2p("site", "link", "reef-x", *taxa, "-p", "pac", home=home)
    a2p("subscribe", "add", "-p", "pac", "--webhook", url, "--secret", "s3cret", home=home)
    event = _json(a2p("event", "raise", "reef-x", "-t", "Reef X lost 20 % cover", "-p", "pac", "--format", "json",
                      home=home))
    text = json.dumps(event)
    assert all(t in text for t in taxa)
    assert len(bodies) == 1
    body, headers = bodies[0]
    sig = {k.lower(): v for k, v in headers.items()}["x-a2p-signature"]
    assert sig == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert {s["taxon_id"] for s in payload["affected"]} == set(taxa)
    assert {d["status"] for d in event["deliveries"]} == {"sent"}
    flags = _json(a2p("flags", "list", "-p", "pac", "--format", "json", home=home))
    assert set(taxa) <= {f["taxon_id"] for f in flags}

    # the PDF report
    pdf = tmp_path / "report.pdf"
    a2p("report", "-p", "pac", "-o", str(pdf), home=home)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    assert len(doc) > 2
    words = " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Reef X" in words or "reef-x" in words
