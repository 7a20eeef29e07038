"""Stakeholders, Red List experts and commitments (planning.stakeholders, planning.commitments).

Real data are read from ../shared/data; the expected values are recomputed here with the csv
module and plain Python, independently of the polars code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import re
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.examples import example_path
from assess2plan.io import read_redlist
from assess2plan.io.download import read_download
from assess2plan.io.sis_connect import read_sis_connect
from assess2plan.model import AssessmentSet
from assess2plan.planning.commitments import (
    COMMITMENT_STATUSES,
    COMMITMENT_SUMMARY_COLUMNS,
    INPLACE_UPDATE_COLUMNS,
    actions_in_place_updates,
    commitment_summary,
    flag_overdue,
    inplace_crosswalk,
)
from assess2plan.planning.stakeholders import (
    CREDIT_ROLE_WEIGHTS,
    EXPERT_COLUMNS,
    SUGGESTION_COLUMNS,
    SUGGESTION_WEIGHTS,
    experts_from_credits,
    name_key,
    split_names,
    suggest_for_bucket,
    suggest_for_cluster,
    suggest_for_site,
    suggest_stakeholders,
)
from tests.conftest import shared_path

PACIFIC = ("redlist-download", "pacific-marine")
PACIFIC_EC = ("redlist-download", "pacific-marine-eastcentral")
KEW = ("sis-connect", "kew-saba")
CROSSWALK = Path(__file__).resolve().parents[1] / "src/assess2plan/planning/data/inplace_crosswalk.csv"

# independent notion of "just initials": letters of one or two characters, each followed by a dot,
# hyphen or space, or one or two capitals alone ("A.", "H.R.", "J.-C.", "JM")
_ONLY_INITIALS = re.compile(r"^(?:[^\W\d_]{1,2}[.\s-]*)+$")


def only_initials(name: str) -> bool:
    parts = [p for p in re.split(r"[.\s-]+", name) if p]
    return (
        bool(_ONLY_INITIALS.match(name))
        and all(len(p) <= 2 for p in parts)
        and ("." in name or name.replace(" ", "").isupper())
    )


def surname(name: str) -> str:
    """Independent surname of "Smith, A." / "Ann B. Smith (Org)": last word of the surname part."""
    n = re.sub(r"\([^()]*(?:\([^()]*\))?[^()]*\)", " ", name).strip()
    part = n.split(",")[0] if "," in n else n
    words = part.split()
    return words[-1].lower() if words else ""


# =================================================================================================
# split_names
# =================================================================================================

CASES = [
    ("Smith, A., Jones, B. & Lee, C.", ["Smith, A.", "Jones, B.", "Lee, C."]),
    ("A. Smith; B. Jones", ["A. Smith", "B. Jones"]),
    ("Smith, A. and Jones, B.", ["Smith, A.", "Jones, B."]),
    ("Jean-Marc Hero, Dale Roberts", ["Jean-Marc Hero", "Dale Roberts"]),
    ("Smith, A. et al.", ["Smith, A."]),
    ("Smith, A., Jones, B., et al.", ["Smith, A.", "Jones, B."]),
    ("Ashpole, J, Burfield, I. & Wright, L", ["Ashpole, J", "Burfield, I.", "Wright, L"]),
    ("Daniels, S. & Van Der Colff, D.", ["Daniels, S.", "Van Der Colff, D."]),
    ("de la Cruz, M. & dos Santos, R.", ["de la Cruz, M.", "dos Santos, R."]),
    ("Blanco, J.C., Duľa, M. & Wiig, Ø.", ["Blanco, J.C.", "Duľa, M.", "Wiig, Ø."]),
    ("Smith, J.-C. &amp; Dupont, Ch.", ["Smith, J.-C.", "Dupont, Ch."]),
    ("Smith, A.B. and C.D. Jones", ["Smith, A.B.", "C.D. Jones"]),
    ("Smith AB, Jones C", ["Smith AB", "Jones C"]),
    ("Dr. A. Smith and Prof. B. Jones", ["A. Smith", "B. Jones"]),
    ("BirdLife International", ["BirdLife International"]),
    ("IUCN SSC Polar Bear Specialist Group", ["IUCN SSC Polar Bear Specialist Group"]),
    ("James Cook University, Townsville, Australia", ["James Cook University, Townsville, Australia"]),
    ("Department of Fish and Wildlife", ["Department of Fish and Wildlife"]),
    ("US Fish and Wildlife Service & Smith, J.", ["US Fish and Wildlife Service", "Smith, J."]),
    ("Jones, B. and IUCN SSC Shark Specialist Group", ["Jones, B.", "IUCN SSC Shark Specialist Group"]),
    ("WCS and WWF", ["WCS", "WWF"]),
    ("Ian Burfield (BirdLife International), Rob Martin (BirdLife)", ["Ian Burfield", "Rob Martin"]),
    (
        "Fictional Survey Coordinating Team (Ana Lind, Bo Ek and Cy Ray)",
        ["Fictional Survey Coordinating Team", "Ana Lind", "Bo Ek", "Cy Ray"],
    ),
    (
        'Quist, B. & Participants of the "Lake Mirren" workshop, Tamber, Veridia 2019',
        ["Quist, B.", 'Participants of the "Lake Mirren" workshop, Tamber, Veridia 2019'],
    ),
    ("Smith, A.; Smith, A.", ["Smith, A."]),
    ("<p>Smith, A.</p>", ["Smith, A."]),
    ("Smith, A., B.", ["Smith, A."]),  # initials with no surname are dropped
    ("John Smith", ["John Smith"]),
    ("", []),
    ("   ", []),
    (None, []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_names_cases(text, expected):
    assert split_names(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Burfield, I.", "Ian Burfield"),
        ("Van Der Colff, D.", "Dewidine Van Der Colff"),
        ("Smale, M.J.", "M.J. Smale"),
        ("Sillero-Zubiri, C.", "Claudio Sillero-Zubiri"),
        ("Álvares, F.", "Francisco Alvares"),
        ("BirdLife International", "Birdlife International"),
    ],
)
def test_name_key_meets_spellings(a, b):
    assert name_key(a) == name_key(b)


def test_name_key_keeps_people_apart():
    assert name_key("Smith, A.") != name_key("Smith, B.")
    assert name_key("Smith, A.") != name_key("Smithers, A.")
    assert name_key("BirdLife International") != name_key("Bird, L.")


def _api_credit_rows() -> list[tuple[str, list[str]]]:
    """(published credit line, full names) from the real API v4 responses, read with json."""
    import json

    root = shared_path("redlist-api-v4")
    out = []
    for f in sorted(glob.glob(str(root / "**" / "*.json"), recursive=True)):
        try:
            data = json.loads(Path(f).read_text(encoding="utf-8"))
        except ValueError:
            continue
        stack = [data]
        while stack:
            o = stack.pop()
            if isinstance(o, dict):
                for c in o.get("credits") or [] if isinstance(o.get("credits"), list) else []:
                    if isinstance(c, dict) and c.get("full"):
                        vals = c.get("value") if isinstance(c.get("value"), list) else []
                        out.append((c["full"], [v for v in vals if isinstance(v, str)]))
                stack.extend(o.values())
            elif isinstance(o, list):
                stack.extend(o)
    return out


@pytest.mark.realdata
def test_split_names_on_real_api_credit_lines():
    rows = _api_credit_rows()
    assert len(rows) >= 20
    texts = {t for t, _ in rows}
    total = 0
    for text, values in rows:
        names = split_names(text)
        total += len(names)
        assert names, text
        for n in names:
            assert n.strip() == n and n, (text, n)
            assert not only_initials(n), (text, n)
            assert not n.endswith((",", "&", ";")) and not n.lower().startswith("and "), (text, n)
        # the published line names at most as many people as commas + "&" + "and" allow
        assert len(names) <= text.count(",") + text.count("&") + text.count(" and ") + text.count("(") + 1
        # same people as the full names the API lists (where it lists any): compare surnames
        org = re.compile(r"(?i)international|participants|workshop")
        people = [v for v in values if "@" not in v and v.strip() and not org.search(v.split("(")[0])]
        if people:
            want = {surname(v) for v in people}
            got = {surname(n) for n in names if not org.search(n)}
            assert want == got, (text, want ^ got)
    # plausible: the long European wolf contributor line has dozens of people
    longest = max(texts, key=len)
    assert len(split_names(longest)) >= 30
    assert total >= 150


@pytest.mark.realdata
def test_split_names_on_real_sis_connect_credits():
    """Kew SIS Connect credits: one person per row (lastName + initials); the reader builds the
    published form "Amstrup, S.C."; split_names must give back exactly that one name."""
    path = shared_path(*KEW) / "credits.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 30
    kew = read_sis_connect(shared_path(*KEW))
    for text in kew.credits["text"].drop_nulls():
        names = split_names(text)
        assert len(names) == 1 and names[0] == text, text
    last_names = Counter(r["lastName"] for r in rows)
    got = Counter(surname(t) for t in kew.credits["text"].drop_nulls())
    assert got == Counter(n.lower() for n in last_names.elements())


# =================================================================================================
# experts_from_credits
# =================================================================================================


@pytest.mark.realdata
def test_experts_from_real_sis_connect_credits():
    path = shared_path(*KEW)
    expected = set()
    with (path / "credits.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            name = " ".join(x for x in (r["firstName"].strip(), r["lastName"].strip()) if x)
            expected.add((r["internal_taxon_id"], name, r["credit_type"]))
    experts = experts_from_credits(read_sis_connect(path))
    assert experts.schema == pl.Schema(EXPERT_COLUMNS)
    assert set(experts.select("taxon_id", "name", "credit_type").iter_rows()) == expected
    assert experts["scientific_name"].null_count() == 0
    # assessors come first within a taxon
    for tid in experts["taxon_id"].unique():
        types = experts.filter(pl.col("taxon_id") == tid)["credit_type"].to_list()
        assert types == sorted(types, key=["Assessor", "Reviewer", "Contributor"].index)


@pytest.mark.realdata
def test_experts_from_pacific_download_without_credits():
    aset = read_download([shared_path(*PACIFIC), shared_path(*PACIFIC_EC)])
    assert aset.credits.height == 0  # that download has no credits.csv
    experts = experts_from_credits(aset)
    assert experts.height == 0 and experts.schema == pl.Schema(EXPERT_COLUMNS)


@pytest.mark.realdata
def test_experts_from_real_api_credits_drop_affiliations_and_emails():
    root = shared_path("redlist-api-v4", "iucn-r-client")
    files = sorted(glob.glob(str(root / "assessment_*.json")))
    aset = read_redlist(*files)
    experts = experts_from_credits(aset, scope=None)
    assert experts.height > 10
    for name in experts["name"]:
        assert "(" not in name and ")" not in name and "@" not in name, name
        assert "  " not in name and not only_initials(name), name
    # a credited institution is kept whole
    assert "Georgia Aquarium" in experts["name"].to_list()


def test_experts_from_lakeland_match_the_csv():
    folder = example_path() / "download"
    with (folder / "credits.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = set()
    for r in rows:
        for v in r["value"].split("|"):
            expected.add((r["internalTaxonId"], re.sub(r"\s*\(.*\)\s*$", "", v).strip(), r["type"]))
    experts = experts_from_credits(read_redlist(folder))
    assert set(experts.select("taxon_id", "name", "credit_type").iter_rows()) == expected
    assert experts.height == len(expected)  # no duplicates


def _hand_set() -> AssessmentSet:
    return AssessmentSet.from_frames(
        {
            "taxa": pl.DataFrame({"taxon_id": ["1"], "scientific_name": ["Fictitia una"]}),
            "assessments": pl.DataFrame(
                {
                    "assessment_id": ["a-old", "a-new", "a-eu"],
                    "taxon_id": ["1", "1", "1"],
                    "scientific_name": ["Fictitia una"] * 3,
                    "year_published": [2010, 2020, 2023],
                    "scopes": ["Global", "Global", "Europe"],
                },
                schema_overrides={"year_published": pl.Int32},
            ),
            "credits": pl.DataFrame(
                {
                    "assessment_id": ["a-old", "a-new", "a-new", "a-eu"],
                    "taxon_id": ["1", "1", "1", "1"],
                    "credit_type": ["Assessor", "Assessor", "Reviewer", "Assessor"],
                    "text": [
                        "Oldman, O.",
                        "Smith, A., Jones, B. & Lee, C.",
                        "Smith, A. & Jones, B.",
                        "Euro, E.",
                    ],
                    "names": [None, None, "Ann Smith (Org X)|Bob Jones|nobody@example.org", None],
                    "order": [1, 1, 2, 1],
                },
                schema_overrides={"order": pl.Int32},
            ),
        }
    )


def test_experts_from_latest_assessment_only_and_scope():
    aset = _hand_set()
    got = experts_from_credits(aset, scope="Global")
    assert got.select("name", "credit_type").rows() == [
        ("Smith, A.", "Assessor"),
        ("Jones, B.", "Assessor"),
        ("Lee, C.", "Assessor"),
        ("Ann Smith", "Reviewer"),
        ("Bob Jones", "Reviewer"),
    ]
    assert set(got["scientific_name"]) == {"Fictitia una"}
    # no scope: the latest assessment whatever its scope (the 2023 European one)
    assert experts_from_credits(aset)["name"].to_list() == ["Euro, E."]


def test_one_person_credited_twice_counts_once_with_the_highest_credit():
    # "Smith, A." (assessor) and "Ann Smith" (reviewer) are one person on one species
    got = suggest_stakeholders(None, aset=_hand_set(), target_kind="taxon", target="1", limit=None)
    rows = {r["name"]: r for r in got.iter_rows(named=True)}
    assert set(rows) == {"Smith, A.", "Jones, B.", "Lee, C."} or set(rows) == {
        "Ann Smith",
        "Bob Jones",
        "Lee, C.",
    }
    smith = rows.get("Ann Smith") or rows["Smith, A."]
    assert smith["score"] == SUGGESTION_WEIGHTS["credits"] * CREDIT_ROLE_WEIGHTS["Assessor"]
    assert smith["reason"].startswith("assessor and reviewer of the species' assessment")
    assert rows["Lee, C."]["score"] == SUGGESTION_WEIGHTS["credits"] * CREDIT_ROLE_WEIGHTS["Assessor"]


def test_member_matching_ignores_extinct_places_and_past_threats():
    base = _hand_set()
    frames = dict(base.tables)
    frames["occurrence"] = pl.DataFrame(
        {
            "assessment_id": ["a-new", "a-new", "a-old"],
            "taxon_id": ["1", "1", "1"],
            "kind": ["country", "country", "country"],
            "code": ["XA", "XB", "XC"],
            "presence": ["Extant", "Possibly Extinct", "Extant"],
        }
    )
    frames["threats"] = pl.DataFrame(
        {
            "assessment_id": ["a-new", "a-new", "a-old"],
            "taxon_id": ["1", "1", "1"],
            "code": ["2.1.1", "8.1.2", "5.1"],
            "timing": ["Ongoing", "Past, Unlikely to Return", "Ongoing"],
        }
    )
    aset = AssessmentSet.from_frames(frames)
    people = pl.DataFrame(
        {
            "stakeholder_id": ["xa", "xb", "xc", "t2", "t8", "t5"],
            "name": ["P A", "P B", "P C", "P D", "P E", "P F"],
            "countries": ["XA", "XB", "XC", None, None, None],
            "sites": [None] * 6,
            "expertise": [None, None, None, "t:2", "t:8.1", "t:5.1"],
        }
    )
    no_experts = pl.DataFrame(schema=EXPERT_COLUMNS)
    got = suggest_stakeholders(
        people, aset=aset, target_kind="bucket", target="threat_based", members=["1"], experts=no_experts
    )
    # only the extant country of the latest assessment and its current threat count
    assert dict(zip(got["stakeholder_id"], got["score"], strict=True)) == {
        "xa": SUGGESTION_WEIGHTS["country"],
        "t2": SUGGESTION_WEIGHTS["threat"],
    }


def test_experts_from_credits_rejects_other_input():
    with pytest.raises(A2PError, match="AssessmentSet"):
        experts_from_credits(pl.DataFrame({"a": [1]}))


# =================================================================================================
# suggest_stakeholders: hand-written frames on the real Pacific set, cross-checked
# =================================================================================================


def _read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _pacific_plain() -> dict:
    """The two Pacific downloads read with csv: per taxon countries, threats, actions, genus."""
    countries, threats, actions, genus = defaultdict(set), defaultdict(set), defaultdict(set), {}
    seen: set[tuple] = set()
    for parts in (PACIFIC, PACIFIC_EC):
        folder = shared_path(*parts)
        for r in _read_csv(folder, "countries.csv"):
            if (r.get("presence") or "Extant") in ("Extant", "Possibly Extant"):
                countries[r["internalTaxonId"]].add(r["code"])
        for r in _read_csv(folder, "threats.csv"):
            key = (r["internalTaxonId"], r["code"], r["timing"], r["assessmentId"])
            if key in seen:
                continue
            seen.add(key)
            if r["timing"] != "Past, Unlikely to Return":
                threats[r["internalTaxonId"]].add(r["code"])
        for r in _read_csv(folder, "conservation_needed.csv"):
            actions[r["internalTaxonId"]].add(r["code"])
        for r in _read_csv(folder, "taxonomy.csv"):
            genus[r["internalTaxonId"]] = r["genusName"]
    return {"countries": countries, "threats": threats, "actions": actions, "genus": genus}


def _under(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


@pytest.fixture(scope="module")
def pacific() -> AssessmentSet:
    return read_download([shared_path(*PACIFIC), shared_path(*PACIFIC_EC)])


def pacific_stakeholders(genus: str, action: str = "3.4", threat: str = "11.3") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "stakeholder_id": ["fj", "au", "word", "site", "none", "id"],
            "name": [
                "Fictional Reef Trust",
                "Ana Coralline",
                "Heat Watch Network",
                "Mara Sitekeeper",
                "Nobody Relevant",
                "Island Fisheries Office",
            ],
            "kind": ["organisation", "person", "organisation", "person", "person", "organisation"],
            "countries": ["FJ|TO", "AU", None, None, "BR", "ID"],
            "sites": [None, None, None, "S9|S10", None, None],
            "expertise": [
                f"t:5.4|taxon:{genus}",
                f"a:{action}|t:{threat}",
                "subsistence",
                None,
                "t:2.1|a:6.4",
                None,
            ],
        }
    )


@pytest.mark.realdata
def test_suggestions_cross_checked_on_pacific_cluster(pacific):
    plain = _pacific_plain()
    # a cluster-like member set: species with threat 5.4.2 (large-scale fishing) that occur in ID
    members = sorted(
        t for t, codes in plain["threats"].items() if "5.4.2" in codes and "ID" in plain["countries"][t]
    )
    n = len(members)
    assert 3 <= n <= 60

    def share(pred) -> float:
        return sum(1 for t in members if pred(t)) / n

    # the members' commonest genus, action needed and threat outside 5.4, to be matched by share
    genus = Counter(plain["genus"][t] for t in members).most_common(1)[0][0]
    action = Counter(c for t in members for c in plain["actions"][t]).most_common(1)[0][0]
    threat = Counter(c for t in members for c in plain["threats"][t] if not _under(c, "5.4")).most_common(1)[
        0
    ][0]

    in_c = lambda cs: lambda t: bool(plain["countries"][t] & cs)  # noqa: E731
    expected = {
        # FJ/TO are not the cluster's country: share of members there; t:5.4 ~ the cluster's 5.4.2
        "fj": SUGGESTION_WEIGHTS["country"] * share(in_c({"FJ", "TO"}))
        + SUGGESTION_WEIGHTS["threat"] * 1.0
        + SUGGESTION_WEIGHTS["taxon"] * share(lambda t: plain["genus"][t] == genus),
        "au": SUGGESTION_WEIGHTS["country"] * share(in_c({"AU"}))
        + SUGGESTION_WEIGHTS["action"] * share(lambda t: any(_under(c, action) for c in plain["actions"][t]))
        + SUGGESTION_WEIGHTS["threat"] * share(lambda t: any(_under(c, threat) for c in plain["threats"][t])),
        # "subsistence" is in the names of threats 5.4.1 and 5.4.3 "... (subsistence/small scale) [harvest]"
        "word": SUGGESTION_WEIGHTS["word"] * share(lambda t: bool({"5.4.1", "5.4.3"} & plain["threats"][t])),
        "site": SUGGESTION_WEIGHTS["site"],
        "none": SUGGESTION_WEIGHTS["country"] * share(in_c({"BR"}))
        + SUGGESTION_WEIGHTS["threat"] * share(lambda t: any(_under(c, "2.1") for c in plain["threats"][t]))
        + SUGGESTION_WEIGHTS["action"] * share(lambda t: any(_under(c, "6.4") for c in plain["actions"][t])),
        "id": SUGGESTION_WEIGHTS["country"] * 1.0,
    }
    got = suggest_stakeholders(
        pacific_stakeholders(genus, action, threat),
        aset=pacific,
        target_kind="cluster",
        target="threat:5.4.2|country:ID",
        members=members,
        threat_codes=["5.4.2"],
        countries=["ID"],
        sites=["S9"],
        limit=None,
    )
    assert got.schema == pl.Schema(SUGGESTION_COLUMNS)
    assert set(got["target_kind"]) == {"cluster"} and set(got["target"]) == {"threat:5.4.2|country:ID"}
    scores = dict(zip(got["stakeholder_id"], got["score"], strict=True))
    assert set(scores) == {k for k, v in expected.items() if v > 0}
    for sid, score in scores.items():
        assert score == pytest.approx(expected[sid], abs=1e-3), sid
    assert got["score"].to_list() == sorted(got["score"].to_list(), reverse=True)
    assert got["stakeholder_id"].null_count() == 0  # the Pacific download has no credits

    reasons = dict(zip(got["stakeholder_id"], got["reason"], strict=True))
    k_genus = sum(1 for t in members if plain["genus"][t] == genus)
    assert k_genus > 0
    assert "expertise t:5.4 matches the cluster's threat 5.4.2" in reasons["fj"]
    assert f"expertise taxon:{genus} covers {k_genus} of the {n} member species" in reasons["fj"]
    assert reasons["site"] == "works at site S9"
    k_action = sum(1 for t in members if any(_under(c, action) for c in plain["actions"][t]))
    assert 0 < k_action
    assert (
        f"expertise a:{action} matches actions needed of {k_action} of the {n} member species"
        in reasons["au"]
    )
    assert reasons["id"].startswith("works in ID")
    k_word = sum(1 for t in members if {"5.4.1", "5.4.3"} & plain["threats"][t])
    assert k_word > 0
    assert (
        f"expertise 'subsistence' matches threats or actions of {k_word} of the {n} member species"
        in (reasons["word"])
    )

    top2 = suggest_stakeholders(
        pacific_stakeholders(genus, action, threat),
        aset=pacific,
        target_kind="cluster",
        target="threat:5.4.2|country:ID",
        members=members,
        threat_codes=["5.4.2"],
        countries=["ID"],
        sites=["S9"],
        limit=2,
    )
    assert top2.rows() == got.head(2).rows()


@pytest.mark.realdata
def test_suggest_for_cluster_reads_the_cluster_frames(pacific):
    plain = _pacific_plain()
    members = sorted(
        t for t, codes in plain["threats"].items() if "5.4.2" in codes and "ID" in plain["countries"][t]
    )
    clusters = SimpleNamespace(
        clusters=pl.DataFrame(
            {
                "cluster_id": ["threat:5.4.2|country:ID", "threat:11.3|country_habitat:ID|9.8"],
                "basis": ["threat", "threat"],
                "code": ["5.4.2", "11.3"],
                "code_name": ["Intentional use: (large scale) [harvest]", "Temperature extremes"],
                "place_kind": ["country", "country_habitat"],
                "place": ["ID", "ID|9.8"],
                "place_name": ["Indonesia", "Indonesia, Coral Reef"],
                "size": pl.Series([len(members), 1], dtype=pl.Int32),
            }
        ),
        members=pl.DataFrame(
            {
                "cluster_id": ["threat:5.4.2|country:ID"] * len(members)
                + ["threat:11.3|country_habitat:ID|9.8"],
                "taxon_id": members + [members[0]],
            }
        ),
    )
    via_wrapper = suggest_for_cluster(
        pacific_stakeholders("Acropora"), clusters, "threat:5.4.2|country:ID", pacific, limit=None
    )
    direct = suggest_stakeholders(
        pacific_stakeholders("Acropora"),
        aset=pacific,
        target_kind="cluster",
        target="threat:5.4.2|country:ID",
        members=members,
        threat_codes=["5.4.2"],
        countries=["ID"],
        limit=None,
    )
    assert via_wrapper.equals(direct)
    # a country_habitat place "ID|9.8" gives the country ID
    other = suggest_for_cluster(
        pacific_stakeholders("Acropora"), clusters, "threat:11.3|country_habitat:ID|9.8", pacific
    )
    assert other.filter(pl.col("stakeholder_id") == "id")["score"].to_list() == [
        SUGGESTION_WEIGHTS["country"]
    ]
    assert "the cluster's threat 11.3" in other.filter(pl.col("stakeholder_id") == "au")["reason"][0]
    with pytest.raises(A2PError, match="unknown cluster"):
        suggest_for_cluster(pacific_stakeholders("Acropora"), clusters, "threat:9.9|country:XX", pacific)
    with pytest.raises(A2PError, match="clusters"):
        suggest_for_cluster(pacific_stakeholders("Acropora"), {"clusters": clusters.clusters}, "x", pacific)


# =================================================================================================
# Experts in the suggestions (fictional lakeland example: credits, sites)
# =================================================================================================


@pytest.fixture(scope="module")
def lakeland() -> AssessmentSet:
    return read_redlist(example_path() / "download")


def _lakeland_site_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    root = example_path()
    sites = pl.read_csv(root / "sites.csv", infer_schema=False).select(
        "site_id", "name", pl.col("type").alias("kind"), pl.col("country_code").alias("country")
    )
    links = pl.read_csv(root / "species_sites.csv", infer_schema=False).select(
        pl.col("internalTaxonId").alias("taxon_id"), "site_id", pl.lit("import").alias("source")
    )
    return sites, links


def _lakeland_credits() -> dict[str, dict[str, set[str]]]:
    """person (full name) -> taxon -> credit types, from credits.csv with the csv module."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in _read_csv(example_path() / "download", "credits.csv"):
        for v in r["value"].split("|"):
            out[v.split(" (")[0].strip()][r["internalTaxonId"]].add(r["type"])
    return out


def test_suggest_for_site_with_credits_cross_checked(lakeland):
    sites, links = _lakeland_site_frames()
    site = "VL01"
    members = sorted(
        {r["internalTaxonId"] for r in _read_csv(example_path(), "species_sites.csv") if r["site_id"] == site}
    )
    n = len(members)
    assert n >= 3
    credits = _lakeland_credits()

    def credit_score(person: str) -> float:
        total = 0.0
        for t in members:
            types = credits[person].get(t)
            if types:
                total += max(CREDIT_ROLE_WEIGHTS[x] for x in types)
        return SUGGESTION_WEIGHTS["credits"] * total / n

    stakeholders = pl.DataFrame(
        {
            "stakeholder_id": ["s-morbach", "s-site", "s-none"],
            "name": ["Morbach, J.", "Lake Mirren Keepers", "Someone Else"],
            "countries": [None, None, "XZ"],
            "sites": [None, "VL01", "VL99"],
            "expertise": [None, None, None],
        }
    )
    got = suggest_for_site(stakeholders, site, links, sites, lakeland, limit=None)
    rows = {(r["stakeholder_id"], r["name"]): r for r in got.iter_rows(named=True)}
    # the listed stakeholder who is also credited gets the credits; no duplicate expert row for him
    morbach = rows[("s-morbach", "Morbach, J.")]
    assert morbach["score"] == pytest.approx(credit_score("Jürgen Morbach"), abs=1e-3)
    assert all(r["name"] != "Jürgen Morbach" for r in got.iter_rows(named=True))
    k_assessed = sum(1 for t in members if "Assessor" in credits["Jürgen Morbach"].get(t, ()))
    assert f"assessor of {k_assessed}" in morbach["reason"]
    # the site's own people: the site weight, its name in the reason; plus the site's country
    keeper = rows[("s-site", "Lake Mirren Keepers")]
    assert keeper["score"] == SUGGESTION_WEIGHTS["site"]
    assert keeper["reason"] == "works at site VL01 (Lake Mirren)"
    assert not any(r["stakeholder_id"] == "s-none" for r in got.iter_rows(named=True))
    # credited people not on the list come with a null stakeholder_id and their credit score
    unlisted = got.filter(pl.col("stakeholder_id").is_null())
    assert unlisted.height > 0
    for r in unlisted.iter_rows(named=True):
        assert r["score"] == pytest.approx(credit_score(r["name"]), abs=1e-3), r["name"]
        assert "Red List credits" in r["reason"]
    expected_people = {p for p in credits if any(t in credits[p] for t in members)} - {"Jürgen Morbach"}
    assert set(unlisted["name"]) == expected_people
    with pytest.raises(A2PError, match="unknown site"):
        suggest_for_site(stakeholders, "VL99", links, sites, lakeland)


def test_suggest_for_bucket_leaves_out_rejected_species(lakeland):
    latest = lakeland.latest()
    ids = latest["taxon_id"].to_list()[:6]
    assignments = pl.DataFrame(
        {
            "taxon_id": ids,
            "scientific_name": latest["scientific_name"].to_list()[:6],
            "bucket": ["ex_situ"] * 4 + ["site_based"] * 2,
            "status": ["suggested", "accepted", "added", "rejected", "suggested", "accepted"],
        }
    )
    stakeholders = pl.DataFrame(
        {
            "stakeholder_id": ["zoo"],
            "name": ["Valdora Aquarium"],
            "countries": [None],
            "sites": [None],
            "expertise": ["a:3.4.1"],
        }
    )
    got = suggest_for_bucket(
        stakeholders, assignments, "ex_situ", lakeland, experts=pl.DataFrame(schema=EXPERT_COLUMNS)
    )
    assert got.height == 1
    # a:3.4.1 falls under the action 3.4 the ex situ bucket implies: full action weight
    assert got["score"][0] == SUGGESTION_WEIGHTS["action"]
    assert got["reason"][0] == "expertise a:3.4.1 matches the bucket's action 3.4"
    # the credits of the three species kept (not the rejected one) make the experts
    with_experts = suggest_for_bucket(None, assignments, "ex_situ", lakeland, limit=None)
    kept = set(ids[:3])
    credits = _lakeland_credits()
    assert set(with_experts["name"]) == {p for p in credits if kept & set(credits[p])}
    assert all("of the 3 member species" in r for r in with_experts["reason"])
    with pytest.raises(A2PError, match="unknown bucket"):
        suggest_for_bucket(stakeholders, assignments, "ex-situ", lakeland)


def test_taxon_target_defaults_to_the_taxon(lakeland):
    tid = lakeland.latest()["taxon_id"][0]
    got = suggest_stakeholders(None, aset=lakeland, target_kind="taxon", target=tid, limit=None)
    assert got.height > 0
    assert all("the species' assessment" in r for r in got["reason"])


# =================================================================================================
# Bad input
# =================================================================================================

GOOD = pl.DataFrame(
    {
        "stakeholder_id": ["a"],
        "name": ["A Person"],
        "countries": ["XA"],
        "sites": [None],
        "expertise": ["t:1"],
    }
)


def test_unknown_target_kind():
    with pytest.raises(A2PError, match="unknown target_kind 'species'"):
        suggest_stakeholders(GOOD, target_kind="species", target="x")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (GOOD.drop("expertise", "sites"), "missing column\\(s\\) sites, expertise"),
        (GOOD.drop("stakeholder_id"), "missing column\\(s\\) stakeholder_id"),
        (GOOD.with_columns(pl.lit(1).alias("countries")), "column 'countries' must be text"),
        (pl.concat([GOOD, GOOD]), "stakeholder_id repeated: 'a'"),
        (GOOD.with_columns(pl.lit(None, pl.Utf8).alias("stakeholder_id")), "row 1.*empty stakeholder_id"),
        (GOOD.with_columns(pl.lit(" ").alias("name")), "row 1.*empty name"),
    ],
)
def test_bad_stakeholder_frames(frame, message):
    before = frame.clone()
    with pytest.raises(A2PError, match=message):
        suggest_stakeholders(frame, target_kind="cluster", target="c", countries=["XA"])
    assert frame.equals(before)


def test_other_bad_arguments():
    with pytest.raises(A2PError, match="limit"):
        suggest_stakeholders(GOOD, target_kind="site", target="S1", limit=0)
    with pytest.raises(A2PError, match="unknown weight"):
        suggest_stakeholders(GOOD, target_kind="site", target="S1", weights={"colour": 1.0})
    with pytest.raises(A2PError, match="experts: missing column"):
        suggest_stakeholders(GOOD, target_kind="site", target="S1", experts=pl.DataFrame({"name": ["x"]}))
    with pytest.raises(A2PError, match="give the site"):
        suggest_stakeholders(GOOD, target_kind="site", target=" ")
    with pytest.raises(A2PError, match="polars DataFrame"):
        suggest_stakeholders([{"stakeholder_id": "a"}], target_kind="site", target="S1")


def test_weights_change_the_score():
    got = suggest_stakeholders(
        GOOD, target_kind="cluster", target="c", countries=["XA"], weights={"country": 5}
    )
    assert got["score"].to_list() == [5.0]
    assert suggest_stakeholders(GOOD, target_kind="cluster", target="c", countries=["XB"]).height == 0


# =================================================================================================
# The action -> InPlace crosswalk
# =================================================================================================


def test_crosswalk_codes_are_in_the_conservation_actions_scheme():
    with CROSSWALK.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["action_code", "action_name", "field", "proposed_value", "comment"]
    scheme = {r["code"]: r["name"] for r in schemes.scheme("conservation_actions").iter_rows(named=True)}
    for r in rows:
        assert r["action_code"] in scheme, r
        assert r["action_name"] == scheme[r["action_code"]], r
        assert r["comment"].strip(), r
        assert bool(r["field"]) == bool(r["proposed_value"]), r
    # every code of the scheme is documented, mapped or not
    assert {r["action_code"] for r in rows} == set(scheme)
    assert inplace_crosswalk().height == len(rows)


@pytest.mark.realdata
def test_crosswalk_fields_are_real_inplace_fields():
    with (shared_path(*KEW) / "allfields.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    real = {h.split(".")[0] for h in header if h.startswith("InPlace")}
    assert len(real) >= 10
    known = {r["field"] for r in schemes.actions_in_place_fields()}
    with CROSSWALK.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["field"]:
                assert r["field"] in real or "new field" in r["comment"].lower(), r
                assert r["field"] in known, r


def test_crosswalk_agrees_with_the_checks_crosswalk():
    """The consistency check action_already_in_place pairs actions with InPlace fields; a completed
    commitment for such an action must propose the same field."""
    checks = Path(__file__).resolve().parents[1] / "src/assess2plan/checks/data/in_place_crosswalk.csv"
    with checks.open(encoding="utf-8") as fh:
        pairs = [
            (r["code_prefix"], r["field"])
            for r in csv.DictReader(fh)
            if r["rule"] == "action_already_in_place"
        ]
    assert pairs
    fields_of: dict[str, set[str]] = defaultdict(set)
    with CROSSWALK.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["field"]:
                fields_of[r["action_code"]].add(r["field"])
    for prefix, fld in pairs:
        assert fld in fields_of[prefix], (prefix, fld)
        for code, fields in fields_of.items():
            if _under(code, prefix):
                assert fld in fields, (code, prefix, fld)


# =================================================================================================
# Commitments: overdue, summary
# =================================================================================================

TODAY = dt.date(2025, 3, 15)
COMMITMENTS = pl.DataFrame(
    {
        "commitment_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
        "stakeholder_id": ["s1", "s1", "s2", "s3", "s2", None, "s4"],
        "stakeholder_name": ["One", "One", "Two", "Three", "Two", None, "Four"],
        "taxon_id": ["22823", "6909", "37583", None, "60344", "22823", "6909"],
        "cluster_id": [None, None, None, "k1", None, None, None],
        "action_code": ["1.1", "3.4.1", "2.3", "2.2", "9.9", "5.1.1", "4.3"],
        "action_name": [None] * 7,
        "place": ["Svalbard", None, None, None, None, None, None],
        "due_date": [
            dt.date(2025, 3, 14),  # active, one day late
            dt.date(2025, 3, 15),  # due today: not late
            dt.date(2024, 1, 1),  # done: never late
            dt.date(2023, 3, 15),  # proposed, late
            None,  # no due date
            dt.date(2020, 1, 1),  # dropped
            dt.date(2026, 1, 1),  # future
        ],
        "status": ["active", "proposed", "done", "proposed", "done", "dropped", "active"],
        "progress": ["started", None, "restored 4 ha", None, "done", None, None],
    }
)


def test_flag_overdue_with_fixed_dates():
    got = flag_overdue(COMMITMENTS, TODAY)
    for r in got.iter_rows(named=True):
        late = r["status"] in ("proposed", "active") and r["due_date"] is not None and r["due_date"] < TODAY
        assert r["overdue"] is late, r["commitment_id"]
        assert r["days_overdue"] == ((TODAY - r["due_date"]).days if late else None)
    assert got.filter("overdue")["commitment_id"].to_list() == ["c1", "c4"]
    assert got.filter("overdue")["days_overdue"].to_list() == [1, 731]
    assert got.schema["days_overdue"] == pl.Int32
    # text dates and a text "today" give the same answer
    as_text = COMMITMENTS.with_columns(pl.col("due_date").cast(pl.Utf8))
    assert flag_overdue(as_text, "2025-03-15").equals(got)


def test_commitment_summary_counts():
    summary = commitment_summary(COMMITMENTS, TODAY)
    assert summary.schema == pl.Schema(COMMITMENT_SUMMARY_COLUMNS)
    flagged = flag_overdue(COMMITMENTS, TODAY)
    counts = Counter((r["status"], r["overdue"]) for r in flagged.iter_rows(named=True))
    for r in summary.iter_rows(named=True):
        assert r["commitments"] == counts.get((r["status"], r["overdue"]), 0)
        group = [
            x
            for x in flagged.iter_rows(named=True)
            if (x["status"], x["overdue"]) == (r["status"], r["overdue"])
        ]
        assert r["stakeholders"] == len({x["stakeholder_id"] for x in group if x["stakeholder_id"]})
        assert r["species"] == len({x["taxon_id"] for x in group if x["taxon_id"]})
        due = [x["due_date"] for x in group if x["due_date"]]
        assert r["earliest_due"] == (min(due) if due else None)
    assert summary["commitments"].sum() == COMMITMENTS.height
    assert [s for s in summary["status"].unique(maintain_order=True)] == list(COMMITMENT_STATUSES)
    # an overdue column already there is used as it is
    assert commitment_summary(flagged).equals(summary)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (COMMITMENTS.drop("due_date"), "missing column\\(s\\) due_date"),
        (
            COMMITMENTS.with_columns(pl.lit("finished").alias("status")),
            "row 1 \\(commitment 'c1'\\).*'finished'",
        ),
        (
            COMMITMENTS.with_columns(
                pl.col("due_date").cast(pl.Utf8).str.replace("2025-03-14", "14/03/2025")
            ),
            "row 1 \\(commitment 'c1'\\), column 'due_date': '14/03/2025' is not a date",
        ),
    ],
)
def test_bad_commitments(frame, message):
    before = frame.clone()
    with pytest.raises(A2PError, match=message):
        flag_overdue(frame, TODAY)
    assert frame.equals(before)


def test_bad_today():
    with pytest.raises(A2PError, match="today"):
        flag_overdue(COMMITMENTS, "15 March")


# =================================================================================================
# Commitments -> proposed InPlace values for the next assessment
# =================================================================================================


def _kew_inplace() -> dict[tuple[str, str], str]:
    out = {}
    with (shared_path(*KEW) / "allfields.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for k, v in r.items():
                if k.startswith("InPlace") and k.endswith(".value") and v.strip():
                    out[(r["internal_taxon_id"], k.split(".")[0])] = v.strip()
    return out


@pytest.mark.realdata
def test_actions_in_place_updates_on_real_sis_connect():
    kew = read_sis_connect(shared_path(*KEW))
    current = _kew_inplace()
    assert set(actions_in_place_updates(COMMITMENTS, kew)["status"]) == {"done"}  # the default
    got = actions_in_place_updates(COMMITMENTS, kew, statuses=("done", "proposed"))
    assert got.schema == pl.Schema(INPLACE_UPDATE_COLUMNS)
    by = {(r["commitment_id"], r["taxon_id"], r["field"]): r for r in got.iter_rows(named=True)}
    # c3: 2.3 restoration has no InPlace field -> field null with the crosswalk's reason
    r = by[("c3", "37583", None)]
    assert "No InPlace field for restoration" in r["note"] and r["proposed_value"] is None
    assert r["scientific_name"] == "Commidendrum robustum" and r["progress"] == "restored 4 ha"
    # c5: a code outside the scheme
    assert "not in the conservation actions scheme" in by[("c5", "60344", None)]["note"]
    # c4: a cluster commitment without members cannot name species
    r = by[("c4", None, "InPlaceLandWaterProtectionInvasiveControl")]
    assert "pass its members" in r["note"] and r["assessment_id"] is None

    # with members, the cluster commitment is proposed for each member, next to the real value
    members = pl.DataFrame({"cluster_id": ["k1", "k1"], "taxon_id": ["6909", "37583"]})
    more = actions_in_place_updates(
        COMMITMENTS, kew, members=members, statuses=("done", "active", "proposed"), include_unchanged=True
    )
    rows = [r for r in more.iter_rows(named=True) if r["field"]]
    assert rows
    for r in rows:
        assert r["current_value"] == current.get((r["taxon_id"], r["field"])), r
        assert r["assessment_id"] == f"sis:{r['taxon_id']}"
        if str(r["current_value"]).lower().startswith("yes"):
            assert r["proposed_value"] == r["current_value"] and "no change" in r["note"]
        else:
            assert r["proposed_value"] in ("Yes", "Yes, over part of range")
    fields = {(r["commitment_id"], r["taxon_id"], r["field"]) for r in rows}
    assert {
        ("c4", "6909", "InPlaceLandWaterProtectionInvasiveControl"),
        ("c4", "37583", "InPlaceLandWaterProtectionInvasiveControl"),
    } <= fields
    # c1: 1.1 site protection proposes both fields for the polar bear (already Yes there)
    assert {
        ("c1", "22823", "InPlaceLandWaterProtectionInPA"),
        ("c1", "22823", "InPlaceLandWaterProtectionSitesIdentified"),
    } <= fields
    # c2: 3.4.1 proposed for the dugong, which has no ex situ value recorded
    r = next(x for x in rows if x["commitment_id"] == "c2")
    assert (r["field"], r["current_value"], r["proposed_value"]) == (
        "InPlaceSpeciesManagementExSitu",
        None,
        "Yes",
    )
    assert r["action_name"] == "Captive breeding/artificial propagation" and r["stakeholder"] == "One"
    # without include_unchanged, fields that already say Yes are left out
    plain = actions_in_place_updates(
        COMMITMENTS, kew, members=members, statuses=("done", "active", "proposed")
    )
    for r in plain.iter_rows(named=True):
        if r["field"]:
            assert not str(r["current_value"]).lower().startswith("yes")
    assert plain.height < more.height


@pytest.mark.realdata
def test_actions_in_place_updates_on_pacific(pacific):
    """The Pacific download has no all_other_fields.csv: nothing is recorded in place."""
    tid = pacific.latest()["taxon_id"][0]
    aid = pacific.latest()["assessment_id"][0]
    c = pl.DataFrame(
        {"commitment_id": ["p1"], "taxon_id": [tid], "action_code": ["3.4.2"], "status": ["done"]}
    )
    got = actions_in_place_updates(c, pacific)
    assert got.select("taxon_id", "assessment_id", "field", "current_value", "proposed_value").rows() == [
        (tid, aid, "InPlaceSpeciesManagementExSitu", None, "Yes")
    ]


def test_actions_in_place_updates_bad_input(lakeland):
    with pytest.raises(A2PError, match="unknown status 'closed'"):
        actions_in_place_updates(COMMITMENTS, lakeland, statuses=("closed",))
    with pytest.raises(A2PError, match="missing column\\(s\\) action_code"):
        actions_in_place_updates(COMMITMENTS.drop("action_code"), lakeland)
    with pytest.raises(A2PError, match="AssessmentSet"):
        actions_in_place_updates(COMMITMENTS, COMMITMENTS)
    with pytest.raises(A2PError, match="members"):
        actions_in_place_updates(COMMITMENTS, lakeland, members=pl.DataFrame({"taxon_id": ["1"]}))
