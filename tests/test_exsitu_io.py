"""Ex situ inputs (issue 6): the holdings and CITES readers, and matching them to taxa by name and synonym.

The real CITES Species+ export is read from ../shared/data (never copied here); the expectations
about it are recomputed in the tests with the csv module. Fixtures in tests/fixtures/exsitu and
the files written below are look-alikes with fictional taxa and places.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from assess2plan import read_redlist
from assess2plan.errors import InputError
from assess2plan.examples import example_path
from assess2plan.exsitu.match import (
    holdings_summary,
    match_cites,
    match_holdings,
    unmatched_cites,
    unmatched_holdings,
)
from assess2plan.io.cites import bare_name, name_key, read_cites, split_synonyms
from assess2plan.io.holdings import parse_census, read_holdings
from assess2plan.model import CITES_MATCH_SCHEMA, CITES_SCHEMA, HOLDINGS_SCHEMA, AssessmentSet
from tests.conftest import shared_path

FIXTURES = Path(__file__).parent / "fixtures" / "exsitu"
EXAMPLE = example_path("lakeland")
CITES_REAL = ("cites", "species-plus-checklist-birds.csv")


def dict_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def taxa_set(taxa: list[tuple[str, str, str, str]], synonyms: list[tuple[str, str]] = ()) -> AssessmentSet:
    """A look-alike set: (taxon_id, scientific name, order, family) per taxon; synonyms (taxon_id, name)."""
    rows = []
    for tid, name, order, family in taxa:
        parts = name.split(" ")
        infra = parts[3] if len(parts) > 3 else None
        rows.append(
            {
                "taxon_id": tid,
                "scientific_name": name,
                "kingdom": "ANIMALIA",
                "order_name": order,
                "family": family,
                "genus": parts[0],
                "species": parts[1] if len(parts) > 1 else None,
                "infra_type": "ssp." if infra else None,
                "infra_name": infra,
            }
        )
    frames = {
        "taxa": pl.DataFrame(rows),
        "assessments": pl.DataFrame(
            {"assessment_id": [f"a{t[0]}" for t in taxa], "taxon_id": [t[0] for t in taxa],
             "scientific_name": [t[1] for t in taxa], "category": ["EN"] * len(taxa)}
        ),
    }  # fmt: skip
    if synonyms:
        frames["synonyms"] = pl.DataFrame(
            {"taxon_id": [s[0] for s in synonyms], "name": [s[1] for s in synonyms]}
        )
    return AssessmentSet.from_frames(frames)


# == names ============================================================================================
@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("Ornismya abeillei Lesson & DeLattre, 1839", "Ornismya abeillei"),
        ("Trochilus tzacatl de la Llave, 1833", "Trochilus tzacatl"),
        ("Accipiter (Sparvius) bicolor Vieillot, 1817", "Accipiter bicolor"),
        ("Panthera leo ssp. persica", "Panthera leo ssp. persica"),
        ("Accipiter eichhorni imitator Hartert, 1926", "Accipiter eichhorni imitator"),
        ("Mirrenichthys auratus Ødegård 1958", "Mirrenichthys auratus"),
        ("  mirrenichthys   auratus ", "mirrenichthys auratus"),
        ("MIRRENICHTHYS AURATUS", "MIRRENICHTHYS AURATUS"),
        ("Sparvius ", "Sparvius"),
        ("", None),
        ("? unknown", None),
    ],
)
def test_bare_name(text, bare):
    assert bare_name(text) == bare


def test_name_key_ignores_case_spacing_authors_and_rank_words():
    assert name_key("Grus canadensis ssp. pulla") == name_key("Grus  canadensis pulla (Bangs & Zappey, 1905)")
    assert (
        name_key("MIRRENICHTHYS AURATUS")
        == name_key("Mirrenichthys auratus Ødegård, 1958")
        == ("mirrenichthys auratus")
    )
    assert name_key("Mirrenichthys auratus") != name_key("Mirrenichthys aurata")


def test_split_synonyms_with_commas_inside_citations():
    text = (
        "Noctua ochracea Schlegel, 1865, Ninox perversa Stresemann, 1938, Gymnoscops Sangster, King, "
        "Verbelen & Trainor, 2013, Otus jolandae , Lempijius , Fict a x fict b , Own name Vell, 2000"
    )
    assert split_synonyms(text, exclude="Own name") == [
        "Noctua ochracea",
        "Ninox perversa",
        "Gymnoscops",
        "Otus jolandae",
        "Lempijius",
    ]
    assert split_synonyms("") == [] and split_synonyms(None) == []


# == CITES: the real Species+ export ====================================================================
@pytest.fixture(scope="module")
def real_cites() -> tuple[pl.DataFrame, list[dict[str, str]]]:
    path = shared_path(*CITES_REAL)
    return read_cites(path), dict_rows(path)


def test_real_cites_rows_names_and_listings(real_cites):
    df, rows = real_cites
    assert list(df.columns) == list(CITES_SCHEMA) and df.schema == pl.Schema(CITES_SCHEMA)
    assert df.height == len(rows) > 1800
    assert df["row"].to_list() == list(range(1, len(rows) + 1))
    assert df["name"].to_list() == [r["FullName"].strip() for r in rows]
    assert df["cites_taxon_id"].to_list() == [r["TaxonId"] for r in rows]
    assert dict(Counter(df["listing"].to_list())) == dict(Counter(r["CurrentListing"] for r in rows))
    assert dict(Counter(df["rank"].to_list())) == dict(Counter(r["RankName"].upper() for r in rows))
    assert df["family"].to_list() == [r["Family"] or None for r in rows]
    assert df["order_name"].to_list() == [r["Order"] or None for r in rows]


def test_real_cites_countries_and_english_names(real_cites):
    df, rows = real_cites
    for got, r in zip(df.select("countries", "common_names", "annotation").iter_rows(), rows, strict=True):
        iso = [c.strip() for c in r["All_DistributionISOCodes"].split(",") if c.strip()]
        assert got[0] == ("|".join(dict.fromkeys(iso)) or None), r["FullName"]
        eng = [n.strip() for n in r["EnglishNames"].split(",") if n.strip()]
        assert got[1] == ("|".join(dict.fromkeys(eng)) or None), r["FullName"]
        assert got[2] == (r["AnnotationEnglish"].strip() or None)
    assert any("|" in (c or "") for c in df["countries"].to_list())


def test_real_cites_synonyms_without_authors(real_cites):
    df, rows = real_cites
    by_name = dict(zip(df["name"].to_list(), df["synonyms"].to_list(), strict=True))
    # expectations read off the real file by hand
    assert by_name["Abeillia abeillei"] == "Ornismya abeillei"
    assert by_name["Accipiter"] == "Sparvius|Erythrospizias|Nisus"
    assert by_name["Amazilia tzacatl"] == "Trochilus tzacatl|Amazilia handleyi"
    assert by_name["Heliangelus amethysticollis"] == (
        "Ornismya amethysticollis|Heliangelus spencei|Ornismya clarisse|Heliangelus clarisse"
    )
    assert by_name["Hieraaetus fasciatus"] == "Aquila fasciata"  # its own (misapplied) name left out
    assert by_name["Micrastur buckleyi"] == "Micrastur melanoleucus buckleyi|Micrastur melanoleucus"
    assert by_name["Leucopternis princeps"] == "Morphnarchus princeps"
    assert (
        by_name["Phaethornis aethopyga"]
        == "Trochilus longuemareus|Phaethornis aethopygus|Pygmornis longuemareus"
    )
    assert by_name["Agapornis"] is None
    # in general: no author, year or punctuation left, 1-3 words, a capitalised genus first
    n = 0
    for syns in df["synonyms"].drop_nulls().to_list():
        for s in syns.split("|"):
            n += 1
            words = s.split(" ")
            assert 1 <= len(words) <= 3, s
            assert words[0][0].isupper() and all(w.islower() for w in words[1:]), s
            assert not any(ch in s for ch in "0123456789&(),?"), s
    # every synonym cell with a comma-free name list gives as many names as it has pieces
    for r, syns in zip(rows, df["synonyms"].to_list(), strict=True):
        raw = r["SynonymsWithAuthors"].strip()
        if raw and not any(ch.isdigit() for ch in raw) and " x " not in raw:
            pieces = {p.strip() for p in raw.split(",") if p.strip()} - {r["FullName"]}
            assert len((syns or "").split("|")) == len(pieces), (r["FullName"], raw, syns)
    assert n > 1500


def test_real_cites_matched_to_a_look_alike_set(real_cites):
    df, rows = real_cites
    listing = {r["FullName"]: r["CurrentListing"] for r in rows}
    aset = taxa_set(
        [
            ("1", "Abeillia abeillei", "APODIFORMES", "TROCHILIDAE"),  # its own name
            ("2", "Trochilus tzacatl", "APODIFORMES", "TROCHILIDAE"),  # only a CITES synonym
            ("3", "Accipiter fictus", "ACCIPITRIFORMES", "ACCIPITRIDAE"),  # only its genus is listed
            ("4", "Fictornis minimus", "APODIFORMES", "TROCHILIDAE"),  # only its family
            ("5", "Fictopsitta viridis", "PSITTACIFORMES", "FICTIDAE"),  # only its order
            ("6", "Agapornis roseicollis", "PSITTACIFORMES", "PSITTACIDAE"),  # NC inside a listed genus
            ("7", "Passer domesticus", "PASSERIFORMES", "PASSERIDAE"),  # not listed at all
            ("8", "Grus canadensis ssp. pulla", "GRUIFORMES", "GRUIDAE"),  # a listed subspecies
            ("9", "Strigops fictus", "PSITTACIFORMES", "STRIGOPIDAE"),  # the set's synonym is the CITES name
            ("10", "Grus canadensis ssp. fictus", "GRUIFORMES", "GRUIDAE"),  # its species is listed
        ],
        synonyms=[("9", "Strigops habroptila G. R. Gray, 1845")],
    )
    m = match_cites(df, aset)
    assert m.schema == pl.Schema(CITES_MATCH_SCHEMA)
    got = {
        r["taxon_id"]: (r["listing"], r["cites_name"], r["cites_rank"], r["matched_by"]) for r in m.to_dicts()
    }
    assert got == {
        "1": (listing["Abeillia abeillei"], "Abeillia abeillei", "SPECIES", "name"),
        "2": (listing["Amazilia tzacatl"], "Amazilia tzacatl", "SPECIES", "synonym"),
        "3": (listing["Accipiter"], "Accipiter", "GENUS", "genus"),
        "4": (listing["Trochilidae"], "Trochilidae", "FAMILY", "family"),
        "5": (listing["Psittaciformes"], "Psittaciformes", "ORDER", "order"),
        "8": (listing["Grus canadensis pulla"], "Grus canadensis pulla", "SUBSPECIES", "name"),
        "9": (listing["Strigops habroptila"], "Strigops habroptila", "SPECIES", "synonym"),
        "10": (listing["Grus canadensis"], "Grus canadensis", "SPECIES", "species"),
    }
    assert listing["Agapornis roseicollis"] == "NC" and listing["Agapornis"] != "NC"
    assert not {"Passer domesticus", "Passer", "Passeridae", "Passeriformes"} & set(listing)

    # unmatched: every species/subspecies row except those that name a taxon (or its synonym)
    un = unmatched_cites(df, aset)
    species_rows = [r for r in rows if r["RankName"] in ("SPECIES", "SUBSPECIES")]
    matched_names = {
        "Abeillia abeillei",
        "Agapornis roseicollis",
        "Grus canadensis pulla",
        "Strigops habroptila",
    }
    expected = [
        r["FullName"]
        for r in species_rows
        if r["FullName"] not in matched_names and "Trochilus tzacatl " not in r["SynonymsWithAuthors"]
    ]
    assert un["name"].to_list() == expected
    assert len(expected) == len(species_rows) - 5
    assert un.columns == ["name", "rank", "listing"]


def test_example_checklist_has_the_real_export_header():
    real = shared_path(*CITES_REAL)
    with real.open(encoding="utf-8-sig", newline="") as fh:
        real_header = next(csv.reader(fh))
    with (EXAMPLE / "cites_checklist.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == real_header


# == CITES: look-alikes and bad input =================================================================
def test_cites_look_alike_all_levels():
    c = read_cites(FIXTURES / "cites_lookalike.csv")
    assert c.height == len(dict_rows(FIXTURES / "cites_lookalike.csv"))
    assert (
        c.filter(pl.col("name") == "Fictichthys aureus")["synonyms"].item()
        == "Veldtia aurea|Fictichthys auratus"
    )
    assert c.filter(pl.col("name") == "Fictichthys")["synonyms"].item() == "Veldtia|Brannockichthys"
    assert c.filter(pl.col("name") == "Otherichthys rarus")["synonyms"].item() == "Otherichthys rarior"
    assert c.filter(pl.col("name") == "Fictichthys nullus")["countries"].item() == "XA|XB|XC"
    aset = taxa_set(
        [
            ("1", "Fictichthys aureus", "FICTIFORMES", "FICTIDAE"),
            ("2", "Veldtia aurea", "FICTIFORMES", "FICTIDAE"),
            ("3", "Fictichthys nullus", "FICTIFORMES", "FICTIDAE"),
            ("4", "Fictichthys novus", "FICTIFORMES", "FICTIDAE"),
            ("5", "Fictidella parva", "FICTIFORMES", "FICTIDAE"),
            ("6", "Otherfictus rarus", "FICTIFORMES", "OTHERFICTIDAE"),
            ("7", "Fictichthys aureus ssp. minor", "FICTIFORMES", "FICTIDAE"),
            ("8", "Fictichthys aureus ssp. major", "FICTIFORMES", "FICTIDAE"),
            ("9", "Fictichthys nullus ssp. borealis", "FICTIFORMES", "FICTIDAE"),
            ("10", "Nonlisted species", "OTHERIFORMES", "NONLISTEDAE"),
            ("11", "Otherichthys novus", "OTHERIFORMES", "OTHERIDAE"),
        ]
    )
    got = {
        r["taxon_id"]: (r["listing"], r["cites_name"], r["matched_by"])
        for r in match_cites(c, aset).to_dicts()
    }
    assert got == {
        "1": ("I", "Fictichthys aureus", "name"),
        "2": ("I", "Fictichthys aureus", "synonym"),
        "4": ("II", "Fictichthys", "genus"),
        "5": ("I/II", "Fictidae", "family"),
        "6": ("II", "Fictiformes", "order"),
        "7": ("I", "Fictichthys aureus minor", "name"),
        "8": ("I", "Fictichthys aureus", "species"),
    }  # 3 and 9: NC overrides the genus; 10, 11: nothing covers them (Otheridae is not listed)
    assert unmatched_cites(c, aset)["name"].to_list() == ["Otherichthys rarus"]
    assert match_cites(c.clear(), aset).is_empty()


def _species_plus(rows: list[dict[str, str]], header: list[str] | None = None) -> str:
    from assess2plan.io.cites import SPECIES_PLUS_COLUMNS

    header = header or list(SPECIES_PLUS_COLUMNS)
    out = [",".join(header)]
    for r in rows:
        out.append(",".join(f'"{r.get(c, "")}"' for c in header))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("bad", ["IV", "II/IV", "Appendix II", "I//II"])
def test_cites_unknown_listing_names_row_column_value(tmp_path, bad):
    good = {"TaxonId": "1", "FullName": "Fictus alpha", "RankName": "SPECIES", "CurrentListing": "II"}
    p = write(
        tmp_path, "checklist.csv", _species_plus([good, good | {"TaxonId": "2", "CurrentListing": bad}])
    )
    with pytest.raises(InputError) as e:
        read_cites(p)
    assert (e.value.row, e.value.column, e.value.value) == (2, "CurrentListing", bad)
    msg = str(e.value)
    assert "checklist.csv" in msg and "row 2" in msg and "CurrentListing" in msg and repr(bad) in msg
    assert "I, II, III or NC" in msg


def test_cites_missing_column_lists_what_species_plus_has(tmp_path):
    p = write(tmp_path, "not_cites.csv", "Scientific Name,Appendix\nFictus alpha,II\n")
    with pytest.raises(InputError) as e:
        read_cites(p)
    msg = str(e.value)
    assert "not_cites.csv" in msg and "'TaxonId'" in msg
    assert "Columns found: Scientific Name, Appendix" in msg and "SynonymsWithAuthors" in msg


def test_cites_blank_name_and_bad_files(tmp_path):
    row = {"TaxonId": "1", "FullName": "", "RankName": "SPECIES", "CurrentListing": "II"}
    with pytest.raises(InputError, match=r"row 1.*FullName"):
        read_cites(write(tmp_path, "blank.csv", _species_plus([row])))
    with pytest.raises(InputError, match="empty"):
        read_cites(write(tmp_path, "empty.csv", b""))
    with pytest.raises(InputError, match="binary"):
        read_cites(write(tmp_path, "bin.csv", b"TaxonId,FullName\n1,\x00\x01\x02\n"))
    with pytest.raises(InputError, match="Excel|zip"):
        read_cites(write(tmp_path, "book.csv", b"PK\x03\x04rest-of-a-workbook"))
    with pytest.raises(InputError, match="no such file"):
        read_cites(tmp_path / "missing.csv")


# == holdings: the example ============================================================================
@pytest.fixture(scope="module")
def lakeland() -> AssessmentSet:
    return read_redlist(EXAMPLE / "download")


def test_example_holdings_read_as_written():
    df, issues = read_holdings(EXAMPLE / "holdings.csv")
    assert issues == []
    assert df.schema == pl.Schema(HOLDINGS_SCHEMA)
    rows = dict_rows(EXAMPLE / "holdings.csv")
    assert df.height == len(rows)

    def num(v: str) -> int | None:
        return int(v) if v else None

    for got, r in zip(df.iter_rows(named=True), rows, strict=True):
        assert got["name"] == r["Scientific Name"] and got["institution"] == r["Institution"]
        assert got["country"] == r["Country"] and got["source"] == r["Source"]
        assert (got["males"], got["females"], got["unknown"]) == (
            num(r["Males"]),
            num(r["Females"]),
            num(r["Unknown"]),
        )
        assert got["total"] == int(r["Total"])
        assert got["date"] == dt.date.fromisoformat(r["Date"])
        assert got["taxon_id"] is None and got["matched_by"] is None
    assert df["row"].to_list() == list(range(1, len(rows) + 1))


def test_example_holdings_matched_to_the_example_set(lakeland):
    df, _ = read_holdings(EXAMPLE / "holdings.csv")
    m = match_holdings(df, lakeland)
    assert m.columns == list(HOLDINGS_SCHEMA)
    by_name = {r["name"]: (r["taxon_id"], r["matched_by"]) for r in m.to_dicts()}
    assert by_name["Mirrenichthys auratus"] == ("990000001", "name")
    syn = lakeland.synonyms.filter(pl.col("name").str.starts_with("Veridimargaritana perlifera"))
    assert syn["taxon_id"].to_list() == ["990000025"]  # the example's synonyms.csv says so
    assert by_name["Veridimargaritana perlifera"] == ("990000025", "synonym")
    assert by_name["Voraxoperca ferox"] == (None, None)
    taxa = set(lakeland.taxa["scientific_name"].to_list())
    for name, (_tid, how) in by_name.items():
        assert (how == "name") == (name in taxa)
    un = unmatched_holdings(m)
    rows = dict_rows(EXAMPLE / "holdings.csv")
    perch = [i for i, r in enumerate(rows, start=1) if r["Scientific Name"] == "Voraxoperca ferox"]
    assert un.to_dicts() == [
        {
            "name": "Voraxoperca ferox",
            "rows": ", ".join(map(str, perch)),
            "individuals": sum(int(rows[i - 1]["Total"]) for i in perch),
            "reason": "not a name or synonym of any taxon of the working set",
        }
    ]


def test_example_holdings_summary_counts_the_latest_census(lakeland):
    df, _ = read_holdings(EXAMPLE / "holdings.csv")
    m = match_holdings(df, lakeland)
    s = holdings_summary(m, "990000001")
    # recomputed from the file: per institution only its latest census
    rows = [r for r in dict_rows(EXAMPLE / "holdings.csv") if r["Scientific Name"] == "Mirrenichthys auratus"]
    latest: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["Institution"] not in latest or r["Date"] > latest[r["Institution"]]["Date"]:
            latest[r["Institution"]] = r
    assert len(latest) < len(rows)  # the example holds an older census that must not count
    assert s["institutions"] == len(latest) == 3
    assert s["countries"] == sorted({r["Country"] for r in latest.values()})
    for key, col in (("males", "Males"), ("females", "Females"), ("unknown", "Unknown"), ("total", "Total")):
        assert s[key] == sum(int(r[col] or 0) for r in latest.values()), key
    assert s["latest_date"] == max(r["Date"] for r in latest.values())
    assert sorted(r["institution"] for r in s["rows"]) == sorted(latest)
    assert all(isinstance(r["date"], str) for r in s["rows"])
    assert set(s) == {
        "institutions",
        "countries",
        "males",
        "females",
        "unknown",
        "total",
        "latest_date",
        "rows",
    }
    assert set(s["rows"][0]) == {
        "institution",
        "country",
        "males",
        "females",
        "unknown",
        "total",
        "date",
        "source",
    }
    none = holdings_summary(m, "990000040")
    assert none == {
        "institutions": 0, "countries": [], "males": 0, "females": 0, "unknown": 0, "total": 0,
        "latest_date": None, "rows": [],
    }  # fmt: skip


def test_example_checklist_matched_to_the_example_set(lakeland):
    c = read_cites(EXAMPLE / "cites_checklist.csv")
    got = {r["scientific_name"]: (r["listing"], r["matched_by"]) for r in match_cites(c, lakeland).to_dicts()}
    genus = lakeland.taxa.filter(pl.col("genus") == "Mirrenichthys")["scientific_name"].to_list()
    assert "Mirrenichthys parvus" in genus and "Mirrenichthys parvus" not in got  # NC overrides the genus
    assert got["Mirrenichthys auratus"] == ("I", "name")
    for name in set(genus) - {"Mirrenichthys parvus", "Mirrenichthys auratus"}:
        assert got[name] == ("II", "genus")
    assert got["Tamberomargaritifera perlifera"] == ("II", "synonym")
    assert got["Oskarichromis rubripinnis"] == ("III", "synonym")
    assert len(got) == len(genus) - 1 + 2
    assert unmatched_cites(c, lakeland)["name"].to_list() == ["Mirrenichthys mirabilis"]


# == holdings: census notation, aliases, delimiters ===================================================
def test_census_column_semicolons_bom_and_day_first_dates():
    df, issues = read_holdings(FIXTURES / "holdings_census.csv")
    got = df.select("name", "institution", "country", "males", "females", "unknown", "total", "date").rows()
    assert got == [
        ("Fictichthys aureus", "Veldt Aquarium", "XA", 3, 4, 1, 8, dt.date(2025, 11, 30)),
        ("Fictichthys aureus", "Brannock Zoo", "XB", 2, 1, 0, 3, dt.date(2025, 10, 1)),
        ("Fictorana viridis", "Veldt Aquarium", "XA", 0, 0, 12, 12, dt.date(2025, 9, 15)),
        ("Fictorana viridis", "Brannock Zoo", "Brannockia", None, None, None, 7, None),
        ("Fictichthys aureus Vell, 1990", "Brannock Zoo", "XB", 1, 1, 0, 2, dt.date(2025, 12, 1)),
    ]
    assert df["source"].to_list() == ["ZIMS", "ZIMS", "survey", "survey", "ZIMS"]
    assert [str(i) for i in issues] == [
        f"{FIXTURES / 'holdings_census.csv'}, row 0: columns not used: Common name"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3.4.1", (3, 4, 1, 8)), ("2.1", (2, 1, 0, 3)), ("0.0.12", (0, 0, 12, 12)),
     ("12", (None, None, None, 12)), ("2.10", (2, 10, 0, 12)), ("", (None, None, None, None)),
     ("3.x", None), ("1.2.3.4", None), ("-1.2", None)],
)  # fmt: skip
def test_parse_census(value, expected):
    assert parse_census(value) == expected


@pytest.mark.parametrize(
    "header",
    [
        "Scientific Name,Institution,Country,Males,Females,Unknown,Total,Date,Source",
        "scientific_name,holder,COUNTRY,male,female,undetermined,total,as of,source",
        "Binomial;Zoo;Country;M;F;U;Total;Recorded;Source",
        "species\tinstitution\tcountry\tmales\tfemales\tunsexed\tTOTAL\tdate_recorded\tdata source",
    ],
)
def test_header_aliases(tmp_path, header):
    delim = ";" if ";" in header else "\t" if "\t" in header else ","
    body = delim.join(["Fictus alpha", "Veldt Aquarium", "XA", "1", "2", "", "3", "2025-01-31", "ZIMS"])
    df, issues = read_holdings(write(tmp_path, "h.csv", f"{header}\n{body}\n"))
    assert issues == []
    assert df.row(0, named=True) | {"row": None} == {
        "name": "Fictus alpha", "taxon_id": None, "matched_by": None, "institution": "Veldt Aquarium",
        "country": "XA", "males": 1, "females": 2, "unknown": None, "total": 3, "date": dt.date(2025, 1, 31),
        "source": "ZIMS", "row": None,
    }  # fmt: skip


def test_total_derived_and_only_a_name_and_a_count_needed(tmp_path):
    df, issues = read_holdings(
        write(tmp_path, "h.csv", "Taxon,Males,Females\nFictus alpha,2,\nFictus beta,,\n")
    )
    assert df.select("males", "females", "unknown", "total").rows() == [
        (2, None, None, 2),
        (None, None, None, None),
    ]
    assert [(i.row, i.message) for i in issues] == [(2, "no count given for this holding")]
    df, _ = read_holdings(write(tmp_path, "t.csv", "Taxon,Total\nFictus alpha,12.0\n"))
    assert df["total"].to_list() == [12] and df["institution"].to_list() == [None]


def test_warnings_that_do_not_stop(tmp_path):
    text = (
        "Taxon,Institution,Country,Males,Females,Unknown,Total,Date,Colour\n"
        "Fictus alpha,Veldt Aquarium,UK,1,1,1,5,2999-01-01,red\n"
        "Fictus alpha,Brannock Zoo,GBR,1,1,1,3,2025-01-01,blue\n"
        "Fictus alpha,Osmarian Ark,xc,1,1,1,3,2025-01-01,\n"
    )
    df, issues = read_holdings(write(tmp_path, "warn.csv", text))
    assert df.height == 3 and df["country"].to_list() == ["UK", "GBR", "XC"]
    got = [(i.row, i.column, i.value) for i in issues]
    assert got == [
        (0, None, None),  # columns not used: Colour
        (1, "Total", "5"),  # total larger than a complete split
        (1, "Date", "2999-01-01"),  # in the future
        (1, "Country", "UK"),  # not ISO alpha-2 (GB)
        (2, "Country", "GBR"),  # alpha-3
    ]
    msgs = [i.message for i in issues]
    assert "Colour" in msgs[0] and "larger" in msgs[1] and "future" in msgs[2]
    assert "GB" in msgs[3] and "alpha-3" in msgs[4]


# == holdings: bad input ==============================================================================
HEAD = "Scientific Name,Institution,Country,Males,Females,Unknown,Total,Date,Source\n"
OK = "Fictus alpha,Veldt Aquarium,XA,1,2,0,3,2025-01-31,ZIMS\n"


@pytest.mark.parametrize(
    ("body", "column", "value", "phrase"),
    [
        ("Fictus beta,Veldt Aquarium,XA,-2,1,0,,2025-01-31,ZIMS\n", "Males", "-2", "negative"),
        ("Fictus beta,Veldt Aquarium,XA,1,2.5,0,,2025-01-31,ZIMS\n", "Females", "2.5", "whole number"),
        ("Fictus beta,Veldt Aquarium,XA,1,two,0,,2025-01-31,ZIMS\n", "Females", "two", "whole number"),
        ("Fictus beta,Veldt Aquarium,XA,3,4,1,7,2025-01-31,ZIMS\n", "Total", "7", "smaller"),
        ("Fictus beta,Veldt Aquarium,XA,1,1,0,2,31/31/2025,ZIMS\n", "Date", "31/31/2025", "date"),
        ("Fictus beta,Veldt Aquarium,XA,1,1,0,2,11/30/2025,ZIMS\n", "Date", "11/30/2025", "month/day"),
        ("Fictus beta,Veldt Aquarium,XA,1,1,0,2,2025-02-30,ZIMS\n", "Date", "2025-02-30", "not a valid date"),
        ("Fictus beta,Veldt Aquarium,XA,1,1,0,2,last spring,ZIMS\n", "Date", "last spring", "not a date"),
        (",Veldt Aquarium,XA,1,1,0,2,2025-01-31,ZIMS\n", "Scientific Name", "", "without a scientific name"),
    ],
)
def test_bad_cells_name_file_row_column_value(tmp_path, body, column, value, phrase):
    p = write(tmp_path, "zoo_holdings.csv", HEAD + OK + body)
    with pytest.raises(InputError) as e:
        read_holdings(p)
    err = e.value
    assert (err.row, err.column, err.value) == (2, column, value)
    msg = str(err)
    assert "zoo_holdings.csv" in msg and "row 2" in msg and repr(column) in msg and repr(value) in msg
    assert phrase in msg


@pytest.mark.parametrize(
    ("value", "phrase"), [("3.x.1", "zoo notation"), ("1.2.3.4", "zoo notation"), ("-1.2", "zoo notation")]
)
def test_bad_census_value(tmp_path, value, phrase):
    p = write(tmp_path, "census.csv", f"Taxon,Specimens\nFictus alpha,1.1\nFictus beta,{value}\n")
    with pytest.raises(InputError) as e:
        read_holdings(p)
    assert (e.value.row, e.value.column, e.value.value) == (2, "Specimens", value)
    assert phrase in str(e.value) and "census.csv" in str(e.value)


def test_census_disagreeing_with_a_count_column(tmp_path):
    p = write(tmp_path, "both.csv", "Taxon,M.F.U,Males\nFictus alpha,3.4.1,3\nFictus beta,3.4.1,2\n")
    with pytest.raises(InputError, match=r"row 2.*'M\.F\.U'.*gives 3 for the number of males.*gives 2"):
        read_holdings(p)


def test_missing_columns_list_the_headers_found(tmp_path):
    with pytest.raises(InputError) as e:
        read_holdings(write(tmp_path, "noname.csv", "Institution,Males\nVeldt Aquarium,2\n"))
    assert "scientific name" in str(e.value) and "'Institution', 'Males'" in str(e.value)
    assert e.value.row == 0 and "noname.csv" in str(e.value)
    with pytest.raises(InputError) as e:
        read_holdings(
            write(tmp_path, "nocount.csv", "Taxon,Institution,Date\nFictus alpha,Veldt Aquarium,2025-01-01\n")
        )
    assert "no count column" in str(e.value) and "'Taxon', 'Institution', 'Date'" in str(e.value)
    with pytest.raises(InputError, match="'Males' and 'M' both give the number of males"):
        read_holdings(write(tmp_path, "twice.csv", "Taxon,Males,M\nFictus alpha,1,1\n"))


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_holdings(write(tmp_path, "empty.csv", b""))
    with pytest.raises(InputError, match="no holdings rows"):
        read_holdings(write(tmp_path, "header.csv", HEAD))
    with pytest.raises(InputError, match="binary") as e:
        read_holdings(write(tmp_path, "bin.csv", HEAD.encode() + b"Fictus\x00alpha,\x01\x02\n"))
    assert "bin.csv" in str(e.value)
    with pytest.raises(InputError, match="Excel workbook"):
        read_holdings(write(tmp_path, "holdings.xlsx", b"PK\x03\x04\x14\x00\x06\x00rest"))
    with pytest.raises(InputError, match=r"row 2.*10 fields but the header has 9"):
        read_holdings(write(tmp_path, "extra.csv", HEAD + OK + OK.strip() + ",surplus\n"))
    with pytest.raises(InputError, match="no such file"):
        read_holdings(tmp_path / "missing.csv")


def test_latin1_file_is_read_and_reported(tmp_path):
    p = write(
        tmp_path, "latin.csv", ("Taxon,Institution,Total\nFictus alpha,Zoo Åsmund,3\n").encode("latin-1")
    )
    df, issues = read_holdings(p)
    assert df["institution"].to_list() == ["Zoo Åsmund"]
    assert any("not UTF-8" in i.message for i in issues)


# == matching holdings ================================================================================
def test_match_holdings_case_spacing_authors_synonyms_and_ambiguity(tmp_path):
    aset = taxa_set(
        [
            ("1", "Fictichthys aureus", "FICTIFORMES", "FICTIDAE"),
            ("2", "Fictichthys argenteus", "FICTIFORMES", "FICTIDAE"),
            ("3", "Fictorana viridis", "ANURA", "RANIDAE"),
        ],
        synonyms=[
            ("1", "Veldtia aurea Vell, 1990"),
            ("1", "Veldtia metallica Vell, 1991"),
            ("2", "Veldtia metallica (Vell, 1991)"),  # shared by two taxa: not guessed
            ("3", "Fictichthys aureus Brannock, 1995"),  # a synonym that is another taxon's name
        ],
    )
    text = (
        "Taxon,Institution,Total\n"
        "  fictichthys   AUREUS  ,Veldt Aquarium,3\n"
        "Fictichthys aureus Vell, 1990,Brannock Zoo,2\n"
        "VELDTIA AUREA,Veldt Aquarium,4\n"
        "Veldtia metallica,Veldt Aquarium,5\n"
        "Fictus ignotus,Veldt Aquarium,2\n"
        "Veldtia metallica,Brannock Zoo,1\n"
    ).replace("Fictichthys aureus Vell, 1990", '"Fictichthys aureus Vell, 1990"')
    h, _ = read_holdings(write(tmp_path, "h.csv", text))
    m = match_holdings(h, aset)
    assert m.select("taxon_id", "matched_by").rows() == [
        ("1", "name"),
        ("1", "name"),
        ("1", "synonym"),
        (None, "ambiguous"),
        (None, None),
        (None, "ambiguous"),
    ]
    un = unmatched_holdings(m, aset)
    assert un.select("name", "rows", "individuals").rows() == [
        ("Veldtia metallica", "4, 6", 6),
        ("Fictus ignotus", "5", 2),
    ]
    assert "several taxa (1, 2)" in un["reason"][0]
    assert unmatched_holdings(m.filter(pl.col("taxon_id").is_not_null())).is_empty()
    assert match_holdings(h.clear(), aset).is_empty()


def test_holdings_summary_rules():
    rows = [  # (institution, country, males, females, unknown, total, date)
        ("Veldt Aquarium", "XA", 1, 1, 0, 2, dt.date(2024, 1, 1)),  # replaced by the 2025 census
        ("veldt  aquarium", "XA", 2, 2, None, 4, dt.date(2025, 1, 1)),  # same institution, other spelling
        ("Veldt Aquarium", "XA", 1, 0, 0, 1, dt.date(2025, 1, 1)),  # a second group of the same census
        ("Veldt Aquarium", "XB", 5, 5, 5, 15, None),  # another country: another institution, undated
        (None, "XC", 0, 0, 3, 3, dt.date(2023, 5, 5)),  # no institution: counts, is no institution
        ("Brannock Zoo", "XA", 9, 9, 9, 27, dt.date(2025, 6, 1)),  # another taxon (below)
    ]
    h = pl.DataFrame(
        [
            {"name": "Fictus alpha", "taxon_id": "1" if i < 5 else "2", "matched_by": "name",
             "institution": r[0], "country": r[1], "males": r[2], "females": r[3], "unknown": r[4],
             "total": r[5], "date": r[6], "source": "ZIMS", "row": i + 1}
            for i, r in enumerate(rows)
        ],
        schema=HOLDINGS_SCHEMA,
    )  # fmt: skip
    s = holdings_summary(h, "1")
    assert s["institutions"] == 2
    assert s["countries"] == ["XA", "XB", "XC"]
    assert (s["males"], s["females"], s["unknown"], s["total"]) == (
        2 + 1 + 5 + 0,
        2 + 0 + 5 + 0,
        0 + 0 + 5 + 3,
        4 + 1 + 15 + 3,
    )
    assert s["latest_date"] == "2025-01-01"
    assert len(s["rows"]) == 4 and {r["date"] for r in s["rows"]} == {"2025-01-01", None, "2023-05-05"}
    assert holdings_summary(h, "2")["total"] == 27
