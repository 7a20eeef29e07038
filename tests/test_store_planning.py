"""Multi-species planning in the store (issue 4): sites and site links, site events with real
e-mail (a local SMTP server) and real webhooks (a local HTTP receiver), re-assessment flags,
stakeholders, commitments, bucket decisions; and the ``a2p`` planning commands.

Store cases run on SQLite and PostgreSQL (``alias``). Results are checked against independent
computations from the canonical tables or straight from the CSV files with the csv module.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import socket
import threading
from datetime import date, timedelta
from email import message_from_bytes, policy
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.examples import example_path
from assess2plan.sheet import parse_query
from tests.conftest import shared_path
from tests.test_store import assessment, make_set

P = "lk"
LAKE = example_path("lakeland")


@cache
def _lakeland():
    from assess2plan.io import read_redlist

    return read_redlist(LAKE / "download")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def lk(alias):
    """The fictional lakeland example in project "lk" (no sites yet)."""
    store.import_set(_lakeland(), project=P, using=alias)
    return alias


@pytest.fixture
def lk_sites(lk):
    """lakeland with its sites and species-site links (from the example's own CSV files)."""
    store.import_sites(P, LAKE / "sites.csv", user="loader", using=lk)
    store.import_site_links(P, LAKE / "species_sites.csv", user="loader", using=lk)
    return lk


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_sleep(delays: list[float] | None = None):
    def sleep(s: float) -> None:
        if delays is not None:
            delays.append(s)

    return sleep


# =================================================================================================
# sites
# =================================================================================================
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-97.3, -32.5], [-97.1, -32.5], [-97.1, -32.3], [-97.3, -32.3], [-97.3, -32.5]]],
}


def test_site_crud_and_a_stale_version_is_refused(lk):
    alias = lk
    s = store.add_site(
        P,
        "VL01",
        "Lake Mirren",
        kind="Lake",
        country="xa",
        geometry=json.dumps(SQUARE),
        user="ana",
        using=alias,
    )
    assert (s["site_id"], s["kind"], s["country"], s["version"], s["made_by"]) == (
        "VL01",
        "lake",
        "XA",
        1,
        "ana",
    )
    from shapely.geometry import shape

    assert shape(json.loads(s["geometry"])).area == pytest.approx(0.04)
    with pytest.raises(A2PError, match="exists already"):
        store.add_site(P, "VL01", "Another", using=alias)
    # two facilitators read version 1; the first update wins, the second is refused
    u = store.update_site(P, "VL01", expected_version=1, description="Shallow bays", user="ana", using=alias)
    assert (u["version"], u["description"], u["updated_by"]) == (2, "Shallow bays", "ana")
    with pytest.raises(
        store.VersionConflict, match=r"changed by ana.*now version 2, you saw version 1.*nothing was written"
    ):
        store.update_site(P, "VL01", expected_version=1, name="Mirren Lake", user="bob", using=alias)
    now = store.get_site(P, "VL01", using=alias)
    assert (now["name"], now["description"], now["version"]) == ("Lake Mirren", "Shallow bays", 2)
    # an update with nothing new keeps the version
    assert (
        store.update_site(P, "VL01", expected_version=2, description="Shallow bays", using=alias)["version"]
        == 2
    )
    df = store.list_sites(P, using=alias)
    assert df.columns == ["site_id", "name", "kind", "country", "description", "geometry", "sensitive"]
    assert df.schema["sensitive"] == pl.Boolean and df.height == 1
    store.add_site(P, "S2", "Secret spring", kind="wetland", geometry=SQUARE, sensitive=True, using=alias)
    hidden = store.list_sites(P, hide_sensitive_geometry=True, using=alias)
    assert hidden.filter(pl.col("site_id") == "S2")["geometry"].to_list() == [None]
    assert hidden.filter(pl.col("site_id") == "VL01")["geometry"].to_list() != [None]


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        (dict(site_id="lake mirren"), "site_id", "no spaces"),
        (dict(name=" "), "name", "is required"),
        (dict(kind="volcano"), "kind", "must be one of lake, river"),
        (dict(country="Valdora"), "country", "ISO 3166 alpha-2"),
        (dict(geometry="{not json"), "geometry", "is not GeoJSON"),
        (dict(geometry='{"type": "Circle", "coordinates": [0, 0]}'), "geometry", "not a GeoJSON geometry"),
        (dict(geometry='{"type": "Point", "coordinates": [200, 10]}'), "geometry", "outside longitude"),
        (
            dict(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
            "geometry",
            "Self-intersection",
        ),
    ],
)
def test_bad_sites_are_refused_naming_field_and_value(lk, kwargs, field, words):
    alias = lk
    args = dict(site_id="S1", name="Lake", kind="lake", country="XA", geometry=None)
    args.update(kwargs)
    with pytest.raises(InputError, match=words) as e:
        store.add_site(P, args.pop("site_id"), args.pop("name"), **args, using=alias)
    assert e.value.file == field
    assert store.list_sites(P, using=alias).height == 0


def test_import_sites_agrees_with_the_csv_file(lk):
    alias = lk
    r = store.import_sites(P, LAKE / "sites.csv", user="ana", using=alias)
    rows = _csv(LAKE / "sites.csv")
    assert sorted(r["added"]) == sorted(x["site_id"] for x in rows) and not r["updated"]
    df = store.list_sites(P, details=True, using=alias)
    by_id = {x["site_id"]: x for x in df.to_dicts()}
    kinds = {
        "lake": "lake",
        "river basin": "river_basin",
        "delta": "wetland",
        "wetland": "wetland",
        "KBA": "kba",
        "protected area": "protected_area",
    }
    for x in rows:
        got = by_id[x["site_id"]]
        assert got["name"] == x["name"] and got["country"] == x["country_code"]
        assert got["kind"] == kinds[x["type"]]
        point = json.loads(got["geometry"])
        assert point["type"] == "Point"
        assert point["coordinates"] == [
            pytest.approx(float(x["longitude"])),
            pytest.approx(float(x["latitude"])),
        ]
        assert got["made_by"] == "ana" and got["version"] == 1 and got["species"] == 0
    # the same file again changes nothing; a changed name updates one site
    assert store.import_sites(P, LAKE / "sites.csv", using=alias)["unchanged"] == sorted(by_id)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD_HEAD = "site_id,name,kind,country,description,geometry_wkt\n"


@pytest.mark.parametrize(
    "body, row, column, value, words",
    [
        ("VL01,Lake Mirren renamed,lake,XA,,\nX2,Bog,bogland,XA,,\n", 2, "kind", "bogland", "must be one of"),
        (
            "VL01,Lake Mirren renamed,lake,XA,,\nX2,Bog,wetland,XA,,POINT (1 2\n",
            2,
            "geometry_wkt",
            "POINT (1 2",
            "is not WKT",
        ),
        ("VL01,Lake Mirren renamed,lake,XA,,\nVL01,Again,lake,XA,,\n", 2, "site_id", "VL01", "appears twice"),
        ("VL01,Lake Mirren renamed,lake,XA,,\nX3,,lake,XA,,\n", 2, "name", "", "is required"),
        ("VL01,Lake Mirren renamed,lake,XA,,\nX4,Pond,lake,XAB,,\n", 2, "country", "XAB", "alpha-2"),
    ],
)
def test_bad_site_rows_name_file_row_column_value_and_change_nothing(
    lk, tmp_path, body, row, column, value, words
):
    alias = lk
    store.import_sites(P, LAKE / "sites.csv", using=alias)
    before = store.list_sites(P, details=True, using=alias)
    path = _write(tmp_path / "sites.csv", GOOD_HEAD + body)
    with pytest.raises(InputError, match=words) as e:
        store.import_sites(P, path, using=alias)
    assert (e.value.file, e.value.row, e.value.column, e.value.value) == (str(path), row, column, value)
    assert str(path) in str(e.value) and f"row {row}" in str(e.value)
    # the good first row (an update of VL01) was not written either
    after = store.list_sites(P, details=True, using=alias)
    assert after.equals(before)


def test_site_file_with_an_unknown_column_or_no_rows_is_refused(lk, tmp_path):
    alias = lk
    with pytest.raises(InputError, match="unknown column.*'lattitude'") as e:
        store.import_sites(P, _write(tmp_path / "a.csv", "site_id,name,lattitude\nS1,Lake,1\n"), using=alias)
    assert e.value.column == "lattitude"
    with pytest.raises(InputError, match="required column 'name'"):
        store.import_sites(P, _write(tmp_path / "b.csv", "site_id,kind\nS1,lake\n"), using=alias)
    with pytest.raises(InputError, match="no sites in the file"):
        store.import_sites(P, _write(tmp_path / "c.csv", "site_id,name\n"), using=alias)
    with pytest.raises(InputError, match="no such file"):
        store.import_sites(P, tmp_path / "missing.csv", using=alias)
    assert store.list_sites(P, using=alias).height == 0


# -- links --------------------------------------------------------------------------------------------
def test_link_species_by_name_id_and_assessment_id(lk):
    alias = lk
    store.add_site(P, "VL02", "Lake Oskar", kind="lake", using=alias)
    aset = _lakeland()
    a = aset.assessments.filter(pl.col("scientific_name") == "Oskarichromis lacustris").row(0, named=True)
    b = aset.assessments.filter(pl.col("scientific_name") == "Oskarichromis minima").row(0, named=True)
    c = aset.assessments.filter(pl.col("scientific_name") == "Oskarivivipara oskarensis").row(0, named=True)
    r = store.link_species(
        P,
        "Lake Oskar",
        ["oskarichromis LACUSTRIS", b["taxon_id"], c["assessment_id"]],
        note="survey 2024",
        user="ana",
        using=alias,
    )
    assert r["linked"] == [a["taxon_id"], b["taxon_id"], c["taxon_id"]] and r["already"] == []
    again = store.link_species(P, "VL02", [a["taxon_id"]], using=alias)
    assert again == {"linked": [], "already": [a["taxon_id"]]}
    links = store.site_links(P, site="VL02", using=alias)
    assert links.columns == ["taxon_id", "site_id", "site_name", "source", "note", "made_by", "made_at"]
    assert set(links["taxon_id"]) == {a["taxon_id"], b["taxon_id"], c["taxon_id"]}
    assert set(links["source"]) == {"manual"} and set(links["made_by"]) == {"ana"}
    assert links.schema["made_at"] == pl.Datetime("us")
    # unknown names: a clear error with suggestions; nothing linked
    with pytest.raises(InputError, match=r"no taxon.*did you mean 'Oskarichromis") as e:
        store.link_species(P, "VL02", ["Oskarichromis", "Greyfenodon palustris"], using=alias)
    assert e.value.value == "Oskarichromis"
    assert store.site_links(P, site="VL02", using=alias).height == 3
    with pytest.raises(InputError, match="no site"):
        store.link_species(P, "Lake Nowhere", [a["taxon_id"]], using=alias)
    with pytest.raises(InputError, match="must be one of import, points"):
        store.link_species(P, "VL02", [a["taxon_id"]], source="gps", using=alias)
    assert store.unlink_species(P, "VL02", ["Oskarichromis minima"], using=alias) == [b["taxon_id"]]
    with pytest.raises(InputError, match="not linked"):
        store.unlink_species(P, "VL02", ["Oskarichromis minima"], using=alias)
    assert set(store.site_links(P, site="VL02", using=alias)["taxon_id"]) == {a["taxon_id"], c["taxon_id"]}
    assert store.get_site(P, "VL02", using=alias)["species"] == 2
    # the unlinked row is kept (who, when); linking again brings it back with the new note
    from assess2plan.web.store.models import SiteLink

    gone = SiteLink.objects.using(alias).get(site__site_id="VL02", taxon_id=b["taxon_id"])
    assert gone.removed_at is not None and gone.removed_by
    assert store.link_species(P, "VL02", ["Oskarichromis minima"], note="seen again", using=alias)[
        "linked"
    ] == [b["taxon_id"]]
    back = store.site_links(P, site="VL02", taxon=b["taxon_id"], using=alias).row(0, named=True)
    assert back["note"] == "seen again" and store.get_site(P, "VL02", using=alias)["species"] == 3


def test_link_every_species_of_a_place_by_selection(lk):
    alias = lk
    store.add_site(P, "XB-ALL", "Kestrany wetlands", kind="wetland", country="XB", using=alias)
    r = store.link_species(P, "XB-ALL", query=parse_query(["country=XB"]), source="import", using=alias)
    expected = {x["internalTaxonId"] for x in _csv(LAKE / "download" / "countries.csv") if x["code"] == "XB"}
    assert expected and set(r["linked"]) == expected


def test_site_links_file_agrees_with_the_csv(lk_sites):
    alias = lk_sites
    rows = _csv(LAKE / "species_sites.csv")
    links = store.site_links(P, using=alias)
    assert sorted(zip(links["site_id"], links["taxon_id"], strict=True)) == sorted(
        (x["site_id"], x["internalTaxonId"]) for x in rows
    )
    note = {(x["site_id"], x["internalTaxonId"]): x["note"] or None for x in rows}
    assert all(note[(r["site_id"], r["taxon_id"])] == r["note"] for r in links.to_dicts())
    assert set(links["source"]) == {"import"}


def test_bad_link_rows_change_nothing(lk_sites, tmp_path):
    alias = lk_sites
    before = store.site_links(P, using=alias).height
    path = _write(
        tmp_path / "links.csv", "site_id,scientific_name\nVL02,Oskarichromis minima\nVL02,Nobody here\n"
    )
    with pytest.raises(InputError, match="no taxon") as e:
        store.import_site_links(P, path, using=alias)
    assert (e.value.row, e.value.column, e.value.value) == (2, "scientific_name", "Nobody here")
    path = _write(tmp_path / "links2.csv", "site_id,taxon_id\nVL99,990000001\n")
    with pytest.raises(InputError, match="no site") as e:
        store.import_site_links(P, path, using=alias)
    assert (e.value.row, e.value.column) == (1, "site_id")
    assert store.site_links(P, using=alias).height == before


# =================================================================================================
# events: affected species, flags, notifications
# =================================================================================================
def _independent_affected(alias: str, site: str) -> dict[str, dict]:
    """Affected species of ``site`` recomputed with plain Python from the canonical tables."""
    taxa = {x["internalTaxonId"] for x in _csv(LAKE / "species_sites.csv") if x["site_id"] == site}
    aset = store.load_set(P, taxon_ids=sorted(taxa), using=alias)
    out = {}
    for a in aset.assessments.to_dicts():
        aid = a["assessment_id"]
        th = [t for t in aset.threats.to_dicts() if t["assessment_id"] == aid]
        out[a["taxon_id"]] = {
            "scientific_name": a["scientific_name"],
            "category": a["category"],
            "threats": {t["code"] for t in th},
            "major_threats": {t["code"] for t in th if t["impact"] in ("High Impact", "Medium Impact")},
            "actions_needed": {
                x["code"] for x in aset.actions_needed.to_dicts() if x["assessment_id"] == aid
            },
            "actions_in_place": {
                x["field"]
                for x in aset.actions_in_place.to_dicts()
                if x["assessment_id"] == aid and x["value"] == "Yes"
            },
        }
    assert set(out) == taxa
    return out


def _set_of(text: str | None) -> set[str]:
    return set(text.split("|")) if text else set()


def test_event_lists_the_affected_species_and_flags_them(lk_sites):
    alias = lk_sites
    store.add_stakeholder(
        P, "lake-trust", "Lake Mirren Trust", email="trust@example.org", sites=["VL01"], using=alias
    )
    store.add_stakeholder(
        P, "ana", "Ana Morbach", kind="person", organisation="Valdora Fisheries", using=alias
    )
    target = "990000001"
    store.sign_up(
        P, "ana", "2.2", taxon=target, place="VL01", due_date="2027-01-01", status="active", using=alias
    )
    r = store.raise_event(
        P, "VL01", "Lake level fell 3 m", "Dam release upstream", "critical", user="ana", using=alias
    )
    assert r.event["site_id"] == "VL01" and r.event["severity"] == "critical" and r.event["made_by"] == "ana"
    assert r.affected.columns == [
        "taxon_id",
        "scientific_name",
        "category",
        "threats",
        "major_threats",
        "actions_needed",
        "actions_in_place",
        "commitments",
        "stakeholders",
        "reassess",
        "reason",
    ]
    want = _independent_affected(alias, "VL01")
    got = {x["taxon_id"]: x for x in r.affected.to_dicts()}
    assert set(got) == set(want) and len(want) == 12
    for t, w in want.items():
        g = got[t]
        assert (g["scientific_name"], g["category"]) == (w["scientific_name"], w["category"])
        for col in ("threats", "major_threats", "actions_needed", "actions_in_place"):
            assert _set_of(g[col]) == w[col], (t, col)
        assert g["reassess"] is True and "Lake level fell 3 m" in g["reason"]
        assert "Lake Mirren Trust <trust@example.org>" in g["stakeholders"]  # stakeholder of the site
    assert "C1 Ana Morbach: 2.2" in got[target]["commitments"]
    assert "Ana Morbach (Valdora Fisheries)" in got[target]["stakeholders"]
    assert all(got[t]["commitments"] is None for t in got if t != target)
    # threatened species first
    cats = r.affected["category"].to_list()
    assert cats.index("CR") < cats.index("LC")
    # one open flag per affected taxon, pointing at the event
    flags = store.list_flags(P, using=alias)
    assert sorted(flags["taxon_id"]) == sorted(want) and set(flags["event_id"]) == {r.event["event_id"]}
    assert r.deliveries.height == 0  # nobody subscribed
    # the snapshot does not move when the data change later
    store.update_commitment(P, "C1", expected_version=1, status="dropped", using=alias)
    again = store.event_detail(P, r.event["event_id"], using=alias)
    assert again.affected.equals(r.affected)
    ev = store.list_events(P, using=alias)
    assert ev["species"].to_list() == [12] and ev["event_id"].to_list() == [r.event["event_id"]]


def test_event_input_is_checked(lk_sites):
    alias = lk_sites
    with pytest.raises(InputError, match="must be one of info, warning, critical"):
        store.raise_event(P, "VL01", "Dry", severity="apocalyptic", using=alias)
    with pytest.raises(InputError, match="is required"):
        store.raise_event(P, "VL01", "  ", using=alias)
    with pytest.raises(InputError, match="no site"):
        store.raise_event(P, "VL99", "Dry", using=alias)
    assert store.list_events(P, using=alias).height == 0 and store.list_flags(P, using=alias).height == 0


# -- a real SMTP server -------------------------------------------------------------------------------
@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields (url, received envelopes)."""
    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
            received.append(envelope)
            return "250 Message accepted for delivery"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", received
    finally:
        controller.stop()


def test_email_notification_reaches_a_real_smtp_server(lk_sites, smtp_server, monkeypatch):
    alias = lk_sites
    url, received = smtp_server
    monkeypatch.setenv("A2P_SMTP_URL", url)
    monkeypatch.setenv("A2P_MAIL_FROM", "alerts@a2p.example")
    store.subscribe(P, "email", "warden@example.org", site="VL04", using=alias)
    store.subscribe(P, "email", "everything@example.org", using=alias)  # all sites
    store.subscribe(P, "email", "other-site@example.org", site="VL02", using=alias)  # not this site
    r = store.raise_event(
        P, "VL04", "Fish kill", "Hundreds of dead trout", "critical", user="ana", using=alias
    )
    assert sorted(r.deliveries["target"]) == ["everything@example.org", "warden@example.org"]
    assert set(r.deliveries["status"]) == {"sent"} and set(r.deliveries["attempts"]) == {1}
    assert r.deliveries["delivered_at"].null_count() == 0
    assert sorted(rcpt for env in received for rcpt in env.rcpt_tos) == [
        "everything@example.org",
        "warden@example.org",
    ]
    env = next(e for e in received if e.rcpt_tos == ["warden@example.org"])
    assert env.mail_from == "alerts@a2p.example"
    msg = message_from_bytes(env.content, policy=policy.default)
    assert "Fish kill" in msg["Subject"] and "Tamber River basin" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html_part = msg.get_body(preferencelist=("html",)).get_content()
    species = [
        x["scientificName"]
        for x in _csv(LAKE / "download" / "assessments.csv")
        if x["internalTaxonId"]
        in {s["internalTaxonId"] for s in _csv(LAKE / "species_sites.csv") if s["site_id"] == "VL04"}
    ]
    assert len(species) >= 3
    for name in species:
        assert name in text and name in html_part
    assert "Hundreds of dead trout" in text
    log = r.delivery_logs[r.deliveries["delivery_id"][0]]
    assert [x["outcome"] for x in log] == ["sent"] and log[0]["attempt"] == 1


def test_email_without_an_smtp_server_fails_clearly_and_keeps_the_event(lk_sites, monkeypatch):
    alias = lk_sites
    monkeypatch.delenv("A2P_SMTP_URL", raising=False)
    store.subscribe(P, "email", "warden@example.org", site="VL01", using=alias)
    r = store.raise_event(P, "VL01", "Algal bloom", severity="warning", using=alias)
    (d,) = r.deliveries.to_dicts()
    assert d["status"] == "failed" and d["last_error"] == "no SMTP server configured (set A2P_SMTP_URL)"
    assert r.delivery_logs[d["delivery_id"]][0]["error"] == d["last_error"]
    assert store.list_flags(P, using=alias).height == 12
    assert store.list_events(P, using=alias)["failed"].to_list() == [1]


# -- a real HTTP receiver -----------------------------------------------------------------------------
class Receiver:
    """A local HTTP server that records every POST and answers with scripted status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"receiver says no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_is_signed_with_hmac_and_lists_the_species(lk_sites):
    alias = lk_sites
    with Receiver() as rx:
        store.subscribe(P, "webhook", rx.url, site="VL05", secret="s3cret", using=alias)
        r = store.raise_event(P, "VL05", "Oil spill", severity="critical", user="ana", using=alias)
    assert r.deliveries["status"].to_list() == ["sent"]
    (headers, body) = rx.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-a2p-signature"] == expected
    assert hmac.new(b"wrong", body, hashlib.sha256).hexdigest() not in headers["x-a2p-signature"]
    payload = json.loads(body)
    assert payload["type"] == "site_event" and payload["event"]["title"] == "Oil spill"
    assert payload["site"]["site_id"] == "VL05" and "geometry" not in payload["site"]
    linked = {x["internalTaxonId"] for x in _csv(LAKE / "species_sites.csv") if x["site_id"] == "VL05"}
    assert {a["taxon_id"] for a in payload["affected"]} == linked
    from assess2plan.notify import verify_signature

    assert verify_signature("s3cret", body, headers["x-a2p-signature"])
    assert not verify_signature("s3cret", body + b" ", headers["x-a2p-signature"])


def test_webhook_500_twice_then_delivered_on_the_third_attempt(lk_sites):
    alias = lk_sites
    delays: list[float] = []
    with Receiver([500, 503]) as rx:
        store.subscribe(P, "webhook", rx.url, site="VL01", using=alias)
        r = store.raise_event(P, "VL01", "Dry", using=alias, sleep=_no_sleep(delays), backoff=0.5)
    (d,) = r.deliveries.to_dicts()
    assert (d["status"], d["attempts"], d["last_error"]) == ("sent", 3, None)
    assert len(rx.requests) == 3
    log = r.delivery_logs[d["delivery_id"]]
    assert [(x["attempt"], x["outcome"]) for x in log] == [(1, "retry"), (2, "retry"), (3, "sent")]
    assert "HTTP 500" in log[0]["error"] and "HTTP 503" in log[1]["error"]
    assert delays == [0.5, 1.0]  # exponential back-off
    assert "no signature" not in str(rx.requests[0][0]) and "x-a2p-signature" not in rx.requests[0][0]


def test_webhook_400_is_not_retried_and_a_later_retry_sends_it(lk_sites):
    alias = lk_sites
    with Receiver([400]) as rx:
        store.subscribe(P, "webhook", rx.url, site="VL01", using=alias)
        r = store.raise_event(P, "VL01", "Dry", using=alias, sleep=_no_sleep())
        (d,) = r.deliveries.to_dicts()
        assert (d["status"], d["attempts"]) == ("failed", 1) and "HTTP 400" in d["last_error"]
        assert len(rx.requests) == 1
        again = store.retry_deliveries(P, using=alias, sleep=_no_sleep())
    assert again.to_dicts()[0]["status"] == "sent" and again["attempts"].to_list() == [2]
    assert len(rx.requests) == 2
    log = store.event_detail(P, r.event["event_id"], using=alias).delivery_logs[d["delivery_id"]]
    assert [(x["attempt"], x["outcome"]) for x in log] == [(1, "failed"), (2, "sent")]
    assert store.retry_deliveries(P, using=alias).height == 0  # nothing left to retry


def test_unreachable_webhook_fails_after_all_retries(lk_sites):
    alias = lk_sites
    store.subscribe(P, "webhook", f"http://127.0.0.1:{_free_port()}/nobody", site="VL01", using=alias)
    delays: list[float] = []
    r = store.raise_event(P, "VL01", "Dry", using=alias, sleep=_no_sleep(delays), retries=2, backoff=0.25)
    (d,) = r.deliveries.to_dicts()
    assert (d["status"], d["attempts"]) == ("failed", 3) and "ConnectError" in d["last_error"]
    assert delays == [0.25, 0.5]


def test_subscriptions_are_checked_and_ended_not_deleted(lk_sites):
    alias = lk_sites
    s = store.subscribe(P, "email", "warden@example.org", site="VL01", using=alias)
    with pytest.raises(A2PError, match="already subscribed"):
        store.subscribe(P, "email", "warden@example.org", site="VL01", using=alias)
    with pytest.raises(InputError, match="not an e-mail address"):
        store.subscribe(P, "email", "warden at example.org", using=alias)
    with pytest.raises(InputError, match="not an http"):
        store.subscribe(P, "webhook", "ftp://example.org/x", using=alias)
    with pytest.raises(InputError, match="must be one of email, webhook"):
        store.subscribe(P, "sms", "+123", using=alias)
    store.unsubscribe(P, s["subscription_id"], user="ana", using=alias)
    assert store.list_subscriptions(P, using=alias).height == 0
    assert store.list_subscriptions(P, include_inactive=True, using=alias)["active"].to_list() == [False]
    r = store.raise_event(P, "VL01", "Dry", using=alias)
    assert r.deliveries.height == 0  # ended subscriptions are not notified


def test_flags_are_cleared_not_deleted(lk_sites):
    alias = lk_sites
    store.raise_event(P, "VL05", "Storm surge", using=alias)
    flags = store.list_flags(P, using=alias)
    first = flags.row(0, named=True)
    assert store.clear_flag(P, first["flag_id"], reason="re-assessed 2026", user="ana", using=alias) == [
        first["flag_id"]
    ]
    with pytest.raises(A2PError, match="cleared already by ana"):
        store.clear_flag(P, first["flag_id"], using=alias)
    assert store.list_flags(P, using=alias).height == flags.height - 1
    every = store.list_flags(P, include_cleared=True, using=alias)
    cleared = every.filter(pl.col("flag_id") == first["flag_id"]).row(0, named=True)
    assert (cleared["cleared_by"], cleared["clear_reason"]) == ("ana", "re-assessed 2026")
    name = flags.row(1, named=True)["scientific_name"]
    assert len(store.clear_flag(P, taxon=name, using=alias)) == 1
    manual = store.flag_for_reassessment(P, name, "new survey data", user="bob", using=alias)
    assert manual["event_id"] is None and store.list_flags(P, taxon=name, using=alias)[
        "flag_id"
    ].to_list() == [manual["flag_id"]]


# =================================================================================================
# stakeholders and commitments
# =================================================================================================
def test_stakeholders_add_update_and_conflict(lk_sites):
    alias = lk_sites
    s = store.add_stakeholder(
        P,
        "vfa",
        "Valdora Fisheries Authority",
        countries="XA|xb",
        sites=["VL01", "VL04"],
        expertise="t:8.1.2|a:2.2|taxon:Cyprinidae|fish passes",
        email="info@vfa.example",
        using=alias,
    )
    assert (s["countries"], s["sites"], s["version"]) == ("XA|XB", "VL01|VL04", 1)
    df = store.list_stakeholders(P, using=alias)
    assert df.columns == [
        "stakeholder_id",
        "name",
        "kind",
        "organisation",
        "role",
        "email",
        "webhook",
        "countries",
        "sites",
        "expertise",
        "source",
    ]
    u = store.update_stakeholder(
        P, "vfa", expected_version=1, role="national authority", user="ana", using=alias
    )
    assert u["version"] == 2
    with pytest.raises(store.VersionConflict):
        store.update_stakeholder(P, "vfa", expected_version=1, email="x@y.example", using=alias)
    assert store.list_stakeholders(P, using=alias)["email"].to_list() == ["info@vfa.example"]
    for kwargs, field in [
        (dict(email="nope"), "email"),
        (dict(sites=["VL77"]), "sites"),
        (dict(expertise="t:99.1"), "expertise"),
        (dict(countries="Valdora"), "countries"),
        (dict(kind="robot"), "kind"),
        (dict(webhook="mailto:x@y"), "webhook"),
    ]:
        with pytest.raises(InputError) as e:
            store.add_stakeholder(P, "x1", "X", **kwargs, using=alias)
        assert e.value.file == field
    assert store.list_stakeholders(P, using=alias).height == 1


def test_import_stakeholders_all_or_nothing(lk_sites, tmp_path):
    alias = lk_sites
    head = "stakeholder_id,name,kind,organisation,email,countries,sites,expertise\n"
    good = (
        "lt,Lake Mirren Trust,organisation,,trust@example.org,XA,VL01,t:8.1.2\n"
        "im,I. Morbach,person,Valdora University,im@example.org,XA|XB,,a:3.4.1\n"
    )
    bad = _write(tmp_path / "bad.csv", head + good + "zz,Zed,person,,zed@@example,XA,,\n")
    with pytest.raises(InputError, match="not an e-mail") as e:
        store.import_stakeholders(P, bad, using=alias)
    assert (e.value.file, e.value.row, e.value.column, e.value.value) == (
        str(bad),
        3,
        "email",
        "zed@@example",
    )
    assert store.list_stakeholders(P, using=alias).height == 0
    r = store.import_stakeholders(P, _write(tmp_path / "good.csv", head + good), using=alias)
    assert sorted(r["added"]) == ["im", "lt"]
    df = store.list_stakeholders(P, using=alias)
    assert df.filter(pl.col("stakeholder_id") == "im").row(0, named=True)["countries"] == "XA|XB"


def test_commitments_overdue_progress_and_conflicts(lk_sites):
    alias = lk_sites
    store.add_stakeholder(P, "lt", "Lake Mirren Trust", using=alias)
    c1 = store.sign_up(
        P,
        "lt",
        "2.2",
        taxon="Mirrenichthys auratus",
        place="VL01",
        due_date="2026-03-01",
        status="active",
        note="nets ordered",
        user="ana",
        using=alias,
    )
    c2 = store.sign_up(
        P, "lt", "3.4.1", taxon="990000001", due_date=date(2025, 12, 31), status="done", using=alias
    )
    c3 = store.sign_up(
        P,
        "Lake Mirren Trust",
        "4.3",
        cluster_id="threat:8.1.2|country:XA",
        due_date="2026-12-31",
        using=alias,
    )
    c4 = store.sign_up(P, "lt", "1.1", taxon="990000002", using=alias)  # no due date: never overdue
    assert [c["commitment_id"] for c in (c1, c2, c3, c4)] == ["C1", "C2", "C3", "C4"]
    df = store.list_commitments(P, today=date(2026, 6, 1), using=alias)
    assert df.columns == [
        "commitment_id",
        "stakeholder_id",
        "stakeholder_name",
        "taxon_id",
        "cluster_id",
        "action_code",
        "action_name",
        "place",
        "due_date",
        "status",
        "progress",
        "overdue",
        "version",
        "updated_by",
        "updated_at",
    ]
    assert df.schema["due_date"] == pl.Date and df.schema["version"] == pl.Int32
    overdue = dict(zip(df["commitment_id"], df["overdue"], strict=True))
    assert overdue == {"C1": True, "C2": False, "C3": False, "C4": False}  # C2 is done
    assert dict(zip(df["commitment_id"], df["progress"], strict=True))["C1"] == "nets ordered"
    assert store.list_commitments(P, today=date(2026, 2, 1), using=alias)["overdue"].to_list() == [False] * 4
    assert store.list_commitments(P, today=date(2027, 1, 1), overdue_only=True, using=alias)[
        "commitment_id"
    ].to_list() == ["C1", "C3"]
    # progress; then a stale update is refused
    u = store.update_commitment(
        P, "c1", expected_version=1, status="done", note="perch removed", user="bob", using=alias
    )
    assert (u["status"], u["version"], u["progress"], u["updated_by"], u["overdue"]) == (
        "done",
        2,
        "perch removed",
        "bob",
        False,
    )
    with pytest.raises(store.VersionConflict, match="commitment 'C1'"):
        store.update_commitment(P, "C1", expected_version=1, status="dropped", using=alias)
    notes = store.commitment_notes(P, "C1", using=alias)
    assert notes["status_after"].to_list() == ["active", "done"] and notes["made_by"].to_list() == [
        "ana",
        "bob",
    ]
    with pytest.raises(A2PError, match="for a taxon and/or a cluster"):
        store.sign_up(P, "lt", "2.2", using=alias)
    with pytest.raises(InputError, match="no stakeholder"):
        store.sign_up(P, "nobody", "2.2", taxon="990000001", using=alias)
    with pytest.raises(InputError, match="not a date"):
        store.sign_up(P, "lt", "2.2", taxon="990000001", due_date="next year", using=alias)
    assert store.list_commitments(P, using=alias).height == 4


@pytest.mark.parametrize(
    "code, words",
    [
        ("9.9", "not in the conservation actions"),
        ("two", "not a conservation action code"),
        ("", "is required"),
        ("7.1", "not in the"),
    ],
)
def test_bad_action_codes_are_refused(lk_sites, code, words):
    alias = lk_sites
    store.add_stakeholder(P, "lt", "Lake Mirren Trust", using=alias)
    with pytest.raises(InputError, match=words) as e:
        store.sign_up(P, "lt", code, taxon="990000001", using=alias)
    assert e.value.file == "action_code" and e.value.value == code
    assert store.list_commitments(P, using=alias).height == 0


def test_commitments_become_proposed_actions_in_place(lk_sites):
    alias = lk_sites
    store.add_stakeholder(P, "zoo", "Valdora Zoo", using=alias)
    store.sign_up(
        P, "zoo", "3.4.1", taxon="Mirrenichthys auratus", status="done", note="40 fish bred", using=alias
    )
    store.sign_up(P, "zoo", "2.2", cluster_id="threat:8.1.2|site:VL01", status="done", using=alias)
    store.sign_up(P, "zoo", "1.2", taxon="990000003", status="done", using=alias)
    store.sign_up(P, "zoo", "4.3", taxon="990000004", status="active", using=alias)
    store.sign_up(P, "zoo", "4.3", taxon="990000005", status="dropped", using=alias)
    members = pl.DataFrame(
        {"cluster_id": ["threat:8.1.2|site:VL01"] * 2, "taxon_id": ["990000001", "990000020"]}
    )
    df = store.commitments_as_actions_in_place(P, members=members, using=alias)
    rows = {(r["taxon_id"], r["field"]): r for r in df.to_dicts()}
    # the value stored now, straight from the download's all_other_fields.csv (wide: one column per field)
    wide = {x["internalTaxonId"]: x for x in _csv(LAKE / "download" / "all_other_fields.csv")}
    ex = rows[("990000001", "InPlaceSpeciesManagementExSitu")]
    assert (ex["proposed_value"], ex["action_code"], ex["progress"]) == ("Yes", "3.4.1", "40 fish bred")
    assert ex["current_value"] == wide["990000001"]["InPlaceSpeciesManagementExSitu.value"] == "No"
    assert ex["scientific_name"] == "Mirrenichthys auratus" and ex["stakeholder"] == "Valdora Zoo"
    assert ex["assessment_id"] == next(
        x["assessmentId"]
        for x in _csv(LAKE / "download" / "assessments.csv")
        if x["internalTaxonId"] == "990000001"
    )
    # the cluster commitment reaches each member whose field does not say Yes already
    for t in ("990000001", "990000020"):
        now = wide[t]["InPlaceLandWaterProtectionInvasiveControl.value"] or None
        if now == "Yes":
            assert (t, "InPlaceLandWaterProtectionInvasiveControl") not in rows
        else:
            assert rows[(t, "InPlaceLandWaterProtectionInvasiveControl")]["current_value"] == now
    # 1.2 has no InPlace field: listed with field null and why
    assert rows[("990000003", None)]["action_code"] == "1.2" and rows[("990000003", None)]["note"]
    # done only by default: the active and the dropped commitments are left out
    assert not {"990000004", "990000005"} & set(df["taxon_id"].drop_nulls())
    active = store.commitments_as_actions_in_place(P, statuses=("done", "active"), using=alias)
    r4 = active.filter(pl.col("taxon_id") == "990000004").row(0, named=True)
    assert (r4["field"], r4["proposed_value"]) == ("InPlaceEducationSubjectToPrograms", "Yes")
    # without members the cluster commitment appears once, without a taxon
    plain = store.commitments_as_actions_in_place(P, using=alias)
    assert plain.filter(pl.col("commitment_id") == "C2")["taxon_id"].to_list() == [None]


# =================================================================================================
# bucket decisions
# =================================================================================================
def _small_set(suffix: str = "", year: int = 2020):
    rows = [
        assessment(f"a1{suffix}", "t1", category="CR", scientific_name="Alpha one", year_published=year),
        assessment(f"a2{suffix}", "t2", category="EN", scientific_name="Beta two", year_published=year),
        assessment(f"a3{suffix}", "t3", category="VU", scientific_name="Gamma three", year_published=year),
    ]
    return make_set(rows)


def test_bucket_decisions_are_append_only_and_survive_a_reimport(alias):
    store.import_set(_small_set(), project="w", using=alias)
    d1 = store.decide_bucket(
        "w", "t1", "ex_situ", "accept", "captive population exists", user="ana", using=alias
    )
    d2 = store.decide_bucket(
        "w", "Beta two", "site_based", "add", "only in one lake", user="bob", using=alias
    )
    d3 = store.decide_bucket("w", "t3", "threat_based", "reject", "threat is minor", user="ana", using=alias)
    d4 = store.decide_bucket(
        "w", "t1", "ex_situ", "reject", "no space in zoos after all", user="carol", using=alias
    )
    store.add_site("w", "L1", "Lake One", kind="lake", using=alias)
    store.link_species("w", "L1", ["t1", "t2"], using=alias)
    store.add_stakeholder("w", "z", "Zoo", using=alias)
    store.sign_up("w", "z", "3.4.1", taxon="t1", using=alias)
    store.flag_for_reassessment("w", "t3", "new data", using=alias)
    # a new download: new assessment ids for the same taxa (the old ones become history)
    r = store.import_set(_small_set("-2025", 2025), project="w", using=alias)
    assert r.added["assessments"] == 3 and not r.unchanged
    latest = store.load_set("w", using=alias).assessments
    assert sorted(latest["assessment_id"]) == ["a1-2025", "a2-2025", "a3-2025"]
    df = store.bucket_decisions("w", using=alias)
    assert df.columns == ["taxon_id", "bucket", "decision", "reason", "made_by", "made_at"]
    assert df.schema["made_at"] == pl.Datetime("us")
    assert list(zip(df["taxon_id"], df["bucket"], df["decision"], strict=True)) == [
        ("t1", "ex_situ", "accept"),
        ("t2", "site_based", "add"),
        ("t3", "threat_based", "reject"),
        ("t1", "ex_situ", "reject"),
    ]
    assert set(store.site_links("w", using=alias)["taxon_id"]) == {"t1", "t2"}
    assert store.list_commitments("w", using=alias)["taxon_id"].to_list() == ["t1"]
    assert store.list_flags("w", using=alias)["taxon_id"].to_list() == ["t3"]
    # undo marks the decision; the earlier one on the same taxon and bucket counts again
    u = store.undo_decision("w", d4["decision_id"], reason="zoo found space", user="dan", using=alias)
    assert (u["undone_by"], u["undo_reason"]) == ("dan", "zoo found space")
    df = store.bucket_decisions("w", using=alias)
    assert [d for d in zip(df["taxon_id"], df["decision"], strict=True) if d[0] == "t1"] == [("t1", "accept")]
    with pytest.raises(A2PError, match="undone already by dan"):
        store.undo_decision("w", d4["decision_id"], using=alias)
    log = store.decision_log("w", using=alias)
    assert log["decision_id"].to_list() == [d["decision_id"] for d in (d1, d2, d3, d4)]
    assert log.filter(pl.col("undone_by").is_not_null())["decision_id"].to_list() == [d4["decision_id"]]
    assert log["scientific_name"].to_list()[:2] == ["Alpha one", "Beta two"]


@pytest.mark.parametrize(
    "args, field",
    [
        (("t1", "everything", "accept", "r"), "bucket"),
        (("t1", "ex_situ", "maybe", "r"), "decision"),
        (("t1", "ex_situ", "accept", "  "), "reason"),
        (("Nobody", "ex_situ", "accept", "r"), "taxon"),
    ],
)
def test_bad_bucket_decisions_are_refused(alias, args, field):
    store.import_set(_small_set(), project="w", using=alias)
    with pytest.raises(InputError) as e:
        store.decide_bucket("w", *args, using=alias)
    assert e.value.file == field
    assert store.decision_log("w", using=alias).height == 0


# =================================================================================================
# real data: a reef event on the Pacific download
# =================================================================================================
_CATEGORIES = {
    "Critically Endangered": "CR",
    "Endangered": "EN",
    "Vulnerable": "VU",
    "Near Threatened": "NT",
    "Least Concern": "LC",
    "Data Deficient": "DD",
    "Extinct": "EX",
    "Extinct in the Wild": "EW",
}
_TIMING = {
    "ongoing": 3,
    "future": 1,
    "past, unlikely to return": 30,
    "past, likely to return": 20,
    "unknown": -10,
}
_SCOPE = {"whole (>90%)": 3, "majority (50-90%)": 2, "minority (<50%)": 1, "unknown": -10}
_SEVERITY = {
    "very rapid declines": 3,
    "rapid declines": 2,
    "slow, significant declines": 1,
    "causing/could cause fluctuations": 1,
    "negligible declines": 0,
    "no decline": 0,
    "unknown": -10,
}


def _major(t: dict) -> bool:
    total = sum(
        table.get(t[k].strip().lower(), 0)
        for k, table in (("timing", _TIMING), ("scope", _SCOPE), ("severity", _SEVERITY))
    )
    return 6 <= total <= 9


def test_reef_event_on_the_real_pacific_download(alias):
    from assess2plan.io import read_redlist

    base = shared_path("redlist-download", "pacific-marine")
    store.import_set(read_redlist(base), project="pac", using=alias)
    store.add_site("pac", "PN-REEFS", "Pitcairn reefs", kind="reef", country="PN", using=alias)
    r = store.link_species("pac", "PN-REEFS", query=parse_query(["country=PN"]), source="import", using=alias)
    countries = _csv(base / "countries.csv")
    taxa = {x["internalTaxonId"] for x in countries if x["code"] == "PN"}
    assert len(taxa) > 20 and set(r["linked"]) == taxa
    ev = store.raise_event(
        "pac", "PN-REEFS", "Bleaching: 20 % of the coral cover lost", severity="critical", using=alias
    )
    summary = {x["internalTaxonId"]: x for x in _csv(base / "simple_summary.csv")}
    threats: dict[str, list[dict]] = {}
    for t in _csv(base / "threats.csv"):
        threats.setdefault(t["internalTaxonId"], []).append(t)
    got = {x["taxon_id"]: x for x in ev.affected.to_dicts()}
    assert set(got) == taxa
    for t in taxa:
        assert got[t]["scientific_name"] == summary[t]["scientificName"]
        assert got[t]["category"] == _CATEGORIES[summary[t]["redlistCategory"]]
        assert _set_of(got[t]["threats"]) == {x["code"] for x in threats.get(t, [])}
        assert _set_of(got[t]["major_threats"]) == {x["code"] for x in threats.get(t, []) if _major(x)}
    assert store.list_flags("pac", using=alias).height == len(taxa)


# =================================================================================================
# the a2p planning commands (CliRunner, SQLite test database)
# =================================================================================================
@pytest.fixture
def cli_app():
    import typer

    from assess2plan.cli_planning import register

    app = typer.Typer()
    register(app)
    return app


def _run(app, *args: str, ok: bool = True):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if ok and result.exit_code != 0:
        raise AssertionError(f"a2p {' '.join(args)} failed: {result.output}\n{result.exception!r}")
    return result


@pytest.mark.django_db(transaction=True)
def test_cli_sites_events_commitments_decisions(cli_app, tmp_path):
    app = cli_app
    store.import_set(_lakeland(), project=P)
    _run(app, "site", "import", str(LAKE / "sites.csv"), "-p", P, "--user", "ana")
    _run(app, "site", "link", "--file", str(LAKE / "species_sites.csv"), "-p", P)
    sites = json.loads(_run(app, "site", "list", "-p", P, "--format", "json").stdout)
    assert len(sites) == 12 and {s["site_id"]: s["species"] for s in sites}["VL01"] == 12
    _run(
        app,
        "site",
        "add",
        "S99",
        "Tiny spring",
        "--kind",
        "wetland",
        "--lat",
        "-32.1",
        "--lon",
        "-96.2",
        "-p",
        P,
    )
    out = _run(app, "site", "link", "S99", "Kettlichthys fontinalis", "-p", P).stdout
    assert "1 species linked" in out
    shown = json.loads(_run(app, "site", "show", "S99", "-p", P, "--format", "json").stdout)
    assert [s["scientific_name"] for s in shown["species"]] == ["Kettlichthys fontinalis"]
    assert json.loads(shown["site"]["geometry"])["coordinates"] == [-96.2, -32.1]
    # stakeholders, commitments, export
    _run(
        app,
        "stakeholder",
        "add",
        "lt",
        "Lake Mirren Trust",
        "--email",
        "trust@example.org",
        "--site",
        "VL01",
        "-p",
        P,
    )
    _run(
        app,
        "commit",
        "add",
        "lt",
        "3.4.1",
        "--taxon",
        "Mirrenichthys auratus",
        "--due",
        "2026-01-31",
        "--status",
        "active",
        "-p",
        P,
    )
    listed = json.loads(
        _run(app, "commit", "list", "-p", P, "--today", "2026-03-01", "--format", "json").stdout
    )
    assert [(c["commitment_id"], c["overdue"]) for c in listed] == [("C1", True)]
    _run(
        app,
        "commit",
        "update",
        "C1",
        "--status",
        "done",
        "--note",
        "12 fish in the zoo",
        "-p",
        P,
        "--user",
        "bob",
    )
    stale = _run(app, "commit", "update", "C1", "--status", "dropped", "--version", "1", "-p", P, ok=False)
    assert isinstance(stale.exception, store.VersionConflict)
    _run(app, "commit", "export", "-o", str(tmp_path / "inplace.csv"), "-p", P)
    exported = _csv(tmp_path / "inplace.csv")
    assert [(x["taxon_id"], x["field"], x["proposed_value"], x["progress"]) for x in exported] == [
        ("990000001", "InPlaceSpeciesManagementExSitu", "Yes", "12 fish in the zoo")
    ]
    # an event notifies a webhook; the affected species are listed and flagged
    with Receiver() as rx:
        _run(app, "subscribe", "add", "--webhook", rx.url, "--site", "S99", "--secret", "k", "-p", P)
        ev = json.loads(
            _run(
                app,
                "event",
                "raise",
                "S99",
                "--title",
                "Spring dried up",
                "--severity",
                "critical",
                "--format",
                "json",
                "-p",
                P,
            ).stdout
        )
    assert [a["scientific_name"] for a in ev["affected"]] == ["Kettlichthys fontinalis"]
    assert ev["deliveries"][0]["status"] == "sent" and len(rx.requests) == 1
    events = json.loads(_run(app, "event", "list", "-p", P, "--format", "json").stdout)
    assert [(e["site_id"], e["sent"]) for e in events] == [("S99", 1)]
    detail = json.loads(_run(app, "event", "show", events[0]["event_id"], "-p", P, "--format", "json").stdout)
    assert detail["delivery_logs"][ev["deliveries"][0]["delivery_id"]][0]["outcome"] == "sent"
    assert "Spring dried up" in _run(app, "event", "show", events[0]["event_id"], "-p", P).stdout
    flags = json.loads(_run(app, "flags", "list", "-p", P, "--format", "json").stdout)
    assert [f["scientific_name"] for f in flags] == ["Kettlichthys fontinalis"]
    _run(app, "flags", "clear", flags[0]["flag_id"], "--reason", "re-assessed", "-p", P)
    assert json.loads(_run(app, "flags", "list", "-p", P, "--format", "json").stdout) == []
    # bucket decisions
    out = _run(
        app,
        "decide",
        "accept",
        "Mirrenichthys auratus",
        "ex_situ",
        "--reason",
        "zoo has space",
        "-p",
        P,
        "--user",
        "ana",
    ).stdout
    assert "accept ex_situ for Mirrenichthys auratus" in out
    out = _run(app, "decide", "add", "990000002", "site_based", "--reason", "one lake", "-p", P).stdout
    number = re.search(r"Decision (\d+):", out).group(1)
    _run(app, "decide", "undo", number, "--reason", "mistake", "-p", P)
    log = json.loads(_run(app, "decide", "log", "-p", P, "--format", "json").stdout)
    assert [(d["decision"], d["undone_by"] is not None) for d in log] == [("accept", False), ("add", True)]
    assert store.bucket_decisions(P)["taxon_id"].to_list() == ["990000001"]
    no_reason = _run(app, "decide", "reject", "990000001", "ex_situ", "-p", P, ok=False)
    assert "reason" in str(no_reason.exception)


@pytest.mark.django_db(transaction=True)
def test_cli_bad_input_changes_nothing(cli_app, tmp_path):
    app = cli_app
    store.import_set(_lakeland(), project=P)
    bad = _write(tmp_path / "sites.csv", "site_id,name,kind\nA1,Lake,lake\nA2,River,lava\n")
    r = _run(app, "site", "import", str(bad), "-p", P, ok=False)
    assert isinstance(r.exception, InputError) and (
        r.exception.row,
        r.exception.column,
        r.exception.value,
    ) == (2, "kind", "lava")
    assert json.loads(_run(app, "site", "list", "-p", P, "--format", "json").stdout) == []
    _run(app, "stakeholder", "add", "lt", "Lake Trust", "-p", P)
    r = _run(app, "commit", "add", "lt", "9.9", "--taxon", "990000001", "-p", P, ok=False)
    assert isinstance(r.exception, InputError) and "action_code" in str(r.exception)
    assert json.loads(_run(app, "commit", "list", "-p", P, "--format", "json").stdout) == []
    r = _run(app, "subscribe", "add", "--email", "a@example.org", "--webhook", "http://x", "-p", P, ok=False)
    assert "one of --email" in str(r.exception)
    r = _run(app, "site", "list", "-p", "nope", ok=False)
    assert "no project 'nope'" in str(r.exception)


def test_store_reexports_every_planning_function():
    from assess2plan.web.store import planning

    for name in store._PLANNING_FUNCTIONS:
        assert callable(getattr(store, name)) and callable(getattr(planning, name)), name
    assert store.VersionConflict is planning.VersionConflict
    assert store.BUCKETS == ("single_species", "site_based", "threat_based", "ex_situ")


def test_retry_skips_recent_pending_deliveries(lk_sites):
    alias = lk_sites
    with Receiver() as rx:
        store.subscribe(P, "webhook", rx.url, site="VL01", using=alias)
        r = store.raise_event(P, "VL01", "Dry", notify_subscribers=False, using=alias)
        assert r.deliveries["status"].to_list() == ["pending"]
        assert store.retry_deliveries(P, using=alias).height == 0  # a sender may still be at work
        sent = store.retry_deliveries(P, stale_after=timedelta(0), using=alias)
    assert sent["status"].to_list() == ["sent"] and len(rx.requests) == 1


def test_stored_frames_plug_into_triage_and_apply_decisions(lk_sites):
    """The store's site links and bucket decisions are what ``planning.triage`` takes."""
    from assess2plan.planning.triage import apply_decisions, triage

    alias = lk_sites
    aset = store.load_set(P, using=alias)
    links = store.site_links(P, using=alias)
    assignments = triage(aset, site_links=links)
    assert assignments.height > 0
    first = assignments.row(0, named=True)
    store.decide_bucket(P, first["taxon_id"], first["bucket"], "reject", "not this one", user="ana", using=alias)
    store.decide_bucket(P, "990000034", "ex_situ", "add", "amphibian fungus: rescue population", user="bob", using=alias)
    out = apply_decisions(assignments, store.bucket_decisions(P, using=alias))
    rejected = out.filter((pl.col("taxon_id") == first["taxon_id"]) & (pl.col("bucket") == first["bucket"]))
    assert rejected.row(0, named=True)["status"] == "rejected"
    assert rejected.row(0, named=True)["decided_by"] == "ana"
    added = out.filter((pl.col("taxon_id") == "990000034") & (pl.col("bucket") == "ex_situ")).row(0, named=True)
    assert added["status"] in ("added", "accepted") and added["decided_by"] == "bob"
