"""Who should be at the table: stakeholders and Red List experts suggested for a planning target.

A *target* is what a group plans for: a cluster of species (``planning.clusters``), a triage
bucket (``planning.triage``), a site, or one taxon. Two sources of people feed the suggestions:

* the project's **stakeholder list** (frame ``stakeholders``, see ``STAKEHOLDER_COLUMNS``): who
  works where (countries, sites) and on what (expertise: threat codes ``t:7.2``, action codes
  ``a:2.1``, taxa ``taxon:Acropora``, or free words such as ``fisheries``);
* the **credits** of the Red List assessments (``experts_from_credits``): the assessors,
  reviewers, contributors and facilitators of the member species know them best (CPSG: planning
  brings together "all interests"; domain reference §7b).

``suggest_stakeholders`` scores every stakeholder against the target with an additive score
(``SUGGESTION_WEIGHTS``) and says why in one readable sentence; experts from the credits who are not on the
list are suggested as well (``stakeholder_id`` null). ``suggest_for_cluster``,
``suggest_for_bucket`` and ``suggest_for_site`` build the target from the frames agreed for
planning (clusters and members, triage assignments, sites and site links).

The score, per stakeholder, is the sum over the dimensions below of ``SUGGESTION_WEIGHTS[dimension] x match``,
where ``match`` is between 0 and 1:

=========  ==========================================================================================
country    1 when the stakeholder works in one of the target's own countries (a cluster's country,
           a site's country); otherwise the share of member species that occur in one of the
           stakeholder's countries (presence Extant or Possibly Extant: ``MEMBER_PRESENCE``).
site       1 when the stakeholder works at one of the target's sites, else 0.
threat     1 when an expertise threat code is the target's own threat code, an ancestor or a
           descendant of it (``t:7.2`` matches 7.2.3 and 7); otherwise the share of member species
           with such a threat (timing "Past, Unlikely to Return" left out).
action     the same for conservation actions (``a:3.4``; members' actions needed).
taxon      the share of member species whose genus, family, order, class, phylum, kingdom or
           scientific name is named in a ``taxon:`` expertise.
word       1 when a free expertise word (4 letters or more) occurs in the name of one of the
           target's threat or action codes; otherwise the share of member species with a threat or
           action needed whose name contains it.
credits    the member species the person is credited for, each counted by the weight of the
           person's highest credit for it (``CREDIT_ROLE_WEIGHTS``: assessor 1, reviewer 0.75,
           ...), divided by the number of member species.
=========  ==========================================================================================

Several matching codes or countries do not add up within one dimension (a stakeholder who lists
twenty threat codes does not outrank one with the right code). The weights are a design choice
of this project, not an IUCN or CPSG rule; pass ``weights={...}`` to change them.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from assess2plan import schemes
from assess2plan.errors import A2PError
from assess2plan.model import AssessmentSet

__all__ = [
    "BUCKET_ACTIONS",
    "CREDIT_ROLE_WEIGHTS",
    "EXPERT_COLUMNS",
    "MEMBER_PRESENCE",
    "STAKEHOLDER_COLUMNS",
    "SUGGESTION_COLUMNS",
    "SUGGESTION_WEIGHTS",
    "TARGET_KINDS",
    "experts_from_credits",
    "name_key",
    "split_names",
    "suggest_for_bucket",
    "suggest_for_cluster",
    "suggest_for_site",
    "suggest_stakeholders",
    "validate_stakeholders",
]

S = pl.Utf8

#: The stakeholder list (planning interfaces). ``countries``, ``sites`` and ``expertise`` are
#: "|"-joined; ``kind`` is organisation | person; ``source`` manual | credits.
STAKEHOLDER_COLUMNS: dict[str, Any] = {
    "stakeholder_id": S,
    "name": S,
    "kind": S,
    "organisation": S,
    "role": S,
    "email": S,
    "webhook": S,
    "countries": S,
    "sites": S,
    "expertise": S,
    "source": S,
}
#: Columns a stakeholder frame must have; the others are optional (taken as null when absent).
REQUIRED_STAKEHOLDER_COLUMNS = ("stakeholder_id", "name", "countries", "sites", "expertise")

#: Individual experts from the Red List credits.
EXPERT_COLUMNS: dict[str, Any] = {"taxon_id": S, "scientific_name": S, "name": S, "credit_type": S}

#: Suggestions for one target, best first.
SUGGESTION_COLUMNS: dict[str, Any] = {
    "target_kind": S,
    "target": S,
    "stakeholder_id": S,
    "name": S,
    "reason": S,
    "score": pl.Float64,
}

TARGET_KINDS = ("cluster", "bucket", "site", "taxon")

#: Occurrence rows that put a member species in a country (a null presence counts too), as in
#: ``planning.places.DEFAULT_PRESENCE`` and the checks; any origin counts (people working where a
#: species was introduced are stakeholders too).
MEMBER_PRESENCE = ("Extant", "Possibly Extant")

#: Weight of each dimension of the additive score (see the module docstring). A design choice.
SUGGESTION_WEIGHTS: dict[str, float] = {
    "site": 3.0,  # works at the target's site: the people on the ground
    "country": 2.0,  # works in the target's country / where its species occur
    "threat": 3.0,  # expertise on the threat the group must address
    "action": 3.0,  # expertise on the action the group plans
    "taxon": 2.0,  # knows the taxa (genus, family, ...)
    "word": 1.0,  # free words of expertise ("fisheries") found in threat or action names
    "credits": 4.0,  # assessed / reviewed / contributed to the member species' assessments
}

#: How much one credit for a member species counts, by credit type (highest credit per species).
CREDIT_ROLE_WEIGHTS: dict[str, float] = {
    "Assessor": 1.0,
    "Reviewer": 0.75,
    "Contributor": 0.5,
    "Institution": 0.5,
    "Facilitator": 0.25,
    "Compiler": 0.25,
}
_OTHER_ROLE_WEIGHT = 0.25
_ROLE_ORDER = ("Assessor", "Reviewer", "Contributor", "Facilitator", "Compiler", "Institution")

#: Conservation actions a triage bucket implies (a design choice of this project): an ex situ
#: bucket wants people who know 3.4 ex situ conservation, a site-based one site protection and
#: management; a threat-based bucket is matched on its members' threats only.
BUCKET_ACTIONS: dict[str, tuple[str, ...]] = {
    "single_species": ("3",),
    "site_based": ("1", "2.1"),
    "threat_based": (),
    "ex_situ": ("3.4",),
}


# =================================================================================================
# Names from credit lines
# =================================================================================================

#: Words that make a credit entry an organisation, not a person (compared in lower case, accents
#: removed). Words that are also common surnames (Forest, Park, Nature) are deliberately absent.
ORG_WORDS = frozenset(
    """
    university universidad universidade universite universita universitat universiteit college
    institute instituto institut istituto institution museum museo society sociedad sociedade societe
    foundation fundacion fundacao fondation stiftung trust international group team network
    association asociacion associacao council department dept ministry ministerio ministere agency
    service services survey commission committee centre center centro programme program project
    partnership alliance initiative consortium unit garden gardens herbarium zoo zoological aquarium
    authority office workshop participants specialist conservation wildlife birdlife iucn ssc wwf wcs
    government laboratory station research academy school inc ltd llc gmbh company club bureau
    directorate secretariat organisation organization botanic botanical fisheries forestry assessment
    coordinating federal national
    """.split()
)
_PARTICLES = frozenset(
    "van von der den de del della di da dos das du la le ten ter bin binti al el y e st saint".split()
)
#: Last words of the first half of "X and Y Service" names ("Fish and Wildlife", "Parks and ...").
_ORG_AND_WORDS = frozenset(
    """
    fish fisheries wildlife parks park land lands water waters forest forests environment
    environmental heritage science sciences technology nature culture arts agriculture game marine
    coastal climate energy conservation research development education tourism planning natural
    resources oceans ocean atmospheric mines mining
    """.split()
)
_TITLES = re.compile(r"^(?:dr|prof|professor|mr|mrs|ms|sir|dame)\.?\s+", re.IGNORECASE)
_ET_AL = re.compile(r"[,;]?\s*\bet\.?\s+al\b\.?", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")
_LETTER = r"[^\W\d_]"
_INITIALS_DOTTED = re.compile(rf"(?:{_LETTER}{_LETTER}?\.[\s-]*)+{_LETTER}?")
_INITIALS_BARE = re.compile(rf"{_LETTER}{{1,2}}")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def _fold(text: str) -> str:
    """Lower case without accents: "Álvares" -> "alvares"."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).casefold()


def _is_initials(atom: str) -> bool:
    """ "A.", "H.R.", "J.-C.", "Ch.", "A.E", "J", "HR" (not "Ian", "IUCN", "Lee")."""
    a = atom.strip()
    if not a or not a[0].isupper():
        return False
    if _INITIALS_BARE.fullmatch(a):
        return a.isupper()
    return "." in a and bool(_INITIALS_DOTTED.fullmatch(a))


def _has_org_word(text: str) -> bool:
    words = re.findall(r"[^\W_]+", _fold(text))
    return any(w in ORG_WORDS for w in words)


def _is_org(text: str) -> bool:
    """An organisation (or a workshop, a team): org words, digits, acronyms or many words."""
    t = text.strip()
    if not t:
        return False
    if _has_org_word(t) or any(c.isdigit() for c in t) or '"' in t:
        return True
    words = t.split()
    if any(len(w) >= 3 and w.isalpha() and w.isupper() for w in words):
        return True
    return len(words) > 5


def _surname_like(atom: str) -> bool:
    """Words that can stand before ", A.": "Van Der Colff", "Sunderland-Groves", "Duľa"."""
    words = atom.split()
    if not words or len(words) > 4 or any(c.isdigit() for c in atom) or '"' in atom:
        return False
    return all(w[0].isupper() or _fold(w) in _PARTICLES for w in words)


def _split_top(text: str, pattern: re.Pattern[str] | str) -> list[tuple[str, str]]:
    """Split ``text`` on ``pattern`` outside parentheses and double quotes.

    Returns (separator before, piece) pairs; the first separator is "".
    """
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    out: list[tuple[str, str]] = []
    depth, quoted, start, sep = 0, False, 0, ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth = max(depth - 1, 0)
        elif not quoted and depth == 0:
            m = rx.match(text, i)
            if m and m.end() > i:
                out.append((sep, text[start:i]))
                sep = m.group(0)
                start = i = m.end()
                continue
        i += 1
    out.append((sep, text[start:]))
    return out


def _paren_groups(text: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level parenthesised group (nested ones included, an unclosed
    group runs to the end of the text)."""
    groups, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            if depth == 0:
                start = i
            depth += 1
        elif c == ")" and depth:
            depth -= 1
            if depth == 0:
                groups.append((start, i + 1))
    if depth:
        groups.append((start, len(text)))
    return groups


_SEGMENT_END = re.compile(r"(?:[;,&]|\band\b)", re.IGNORECASE)


def _resolve_parens(text: str) -> str:
    """Drop affiliations in parentheses; keep the people listed after an organisation.

    "Ian Burfield (BirdLife International)" -> "Ian Burfield";
    "Global Amphibian Assessment Coordinating Team (Simon Stuart, Janice Chanson and Neil Cox)"
    -> "Global Amphibian Assessment Coordinating Team; Simon Stuart, Janice Chanson and Neil Cox".
    """
    out, last = [], 0
    for start, end in _paren_groups(text):
        before = text[last:start]
        inner = text[start + 1 : end - 1] if text[end - 1 : end] == ")" else text[start + 1 : end]
        out.append(before)
        so_far = "".join(out)
        segment = _SEGMENT_END.split(so_far)[-1] if so_far else ""
        people = inner.strip() and not _has_org_word(inner) and not any(c.isdigit() for c in inner)
        if people and _is_org(segment):
            out.append(f"; {inner}; ")
        last = end
    out.append(text[last:])
    return "".join(out)


def _clean(name: str) -> str:
    n = _WS.sub(" ", name).strip(" ,;:/")
    n = re.sub(r"^(?:and|&)\s+", "", n, flags=re.IGNORECASE)
    n = re.sub(r"\s+(?:and|&)$", "", n, flags=re.IGNORECASE)
    n = _TITLES.sub("", n).strip(" ,;:")
    return n


def _split_chunk(chunk: str) -> list[str]:
    """Split one ";"-free chunk: pair "Surname, Initials", keep organisations whole."""
    sep_rx = re.compile(r"\s*,\s*|\s*&\s*|\s+and\s+", re.IGNORECASE)
    atoms = [(s.strip().lower() or ",", a.strip()) for s, a in _split_top(chunk, sep_rx)]
    atoms = [(s, a) for s, a in atoms if a]
    # 1. "Surname" + ", Initials" -> one person
    items: list[list[str]] = []  # [kind, text, separator before]
    i = 0
    while i < len(atoms):
        sep, a = atoms[i]
        nxt = atoms[i + 1] if i + 1 < len(atoms) else None
        if _is_initials(a):
            i += 1  # lone initials: no surname to attach them to
            continue
        if nxt and nxt[0] == "," and _is_initials(nxt[1]) and _surname_like(a):
            items.append(["person", f"{a}, {nxt[1]}", sep])
            i += 2
            continue
        kind = "org" if _is_org(a) else ("person" if len(a.split()) >= 2 else "word")
        items.append([kind, a, sep])
        i += 1
    # 2. organisations absorb the single words and place names around them
    #    ("James Cook University, Townsville, Australia"; "Department of Fish and Wildlife")
    merged: list[list[str]] = []
    for item in items:
        kind, text, sep = item
        prev = merged[-1] if merged else None
        joiner = ", " if sep == "," else f" {sep} "
        acronym = text.isupper() and len(text) >= 2
        if (
            prev
            and prev[0] == "org"
            and (len(text.split()) == 1 and not acronym or any(c.isdigit() for c in text))
        ):
            prev[1] = f"{prev[1]}{joiner}{text}"
            continue
        if (
            prev
            and prev[0] != "org"
            and kind == "org"
            and sep in ("and", "&")
            and (prev[0] == "word" or _fold(prev[1].split()[-1]) in _ORG_AND_WORDS)
            and "," not in prev[1]
        ):
            prev[0], prev[1] = "org", f"{prev[1]}{joiner}{text}"
            continue
        merged.append([kind, text, sep])
    return [_clean(t) for _, t, _ in merged]


def split_names(text: str | None) -> list[str]:
    """The individual names in a published credit line, in their order, without duplicates.

    Handles the forms found in Red List credits::

        "Smith, A., Jones, B. & Lee, C."      -> ["Smith, A.", "Jones, B.", "Lee, C."]
        "A. Smith; B. Jones"                  -> ["A. Smith", "B. Jones"]
        "Smith, A. and Jones, B."             -> ["Smith, A.", "Jones, B."]
        "Jean-Marc Hero, Dale Roberts"        -> ["Jean-Marc Hero", "Dale Roberts"]
        "Ashpole, J, Burfield, I. & Wright, L" (initials without dots)
        "Van Der Colff, D." (surname particles), "Smith, A. et al." (et al. dropped)

    Organisations are kept whole ("BirdLife International", "James Cook University, Townsville,
    Australia", "Participants of the ... workshop, Mantasoa, Madagascar 2001"); affiliations in
    parentheses are dropped, except the people listed after an organisation ("... Coordinating
    Team (Simon Stuart, Janice Chanson and Neil Cox)" gives the team and the three people).
    Names keep the form of the credit line ("Smith, A."); ``name_key`` compares the forms.
    HTML entities and tags are resolved first. Initials that follow no surname are dropped.
    """
    if text is None:
        return []
    s = _WS.sub(" ", _TAG.sub(" ", html.unescape(str(text)))).strip()
    if not s:
        return []
    s = _ET_AL.sub("", s)
    s = _resolve_parens(s)
    out: list[str] = []
    seen: set[str] = set()
    for _, chunk in _split_top(s, r"\s*;\s*"):
        for name in _split_chunk(chunk):
            if not name or _is_initials(name) or not any(c.isalpha() for c in name):
                continue
            key = _fold(name)
            if key not in seen:
                seen.add(key)
                out.append(name)
    return out


def _names_field(names: str) -> list[str]:
    """The "|"-joined ``credits.names`` as clean names: "Ian Burfield (BirdLife International)" ->
    "Ian Burfield"; e-mail addresses dropped; pieces of an affiliation that a reader split at its
    commas ("Dewidine Van Der Colff (SANBI|South Africa)") joined back first."""
    pieces: list[str] = []
    buf: list[str] = []
    for piece in names.split("|"):
        buf.append(piece)
        joined = "|".join(buf)
        if joined.count("(") <= joined.count(")"):
            pieces.append(joined)
            buf = []
    if buf:
        pieces.append("|".join(buf))
    out: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        p = html.unescape(piece)
        groups = _paren_groups(p)
        for start, end in reversed(groups):
            p = p[:start] + " " + p[end:]
        name = _clean(p.replace("|", " "))
        if not name or "@" in name or _is_initials(name) or not any(c.isalpha() for c in name):
            continue
        key = _fold(name)
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def name_key(name: str) -> str:
    """A key under which two spellings of one person meet: surname (last word) + first initial.

    "Burfield, I." and "Ian Burfield" -> "burfield|i"; "Van Der Colff, D." and "Dewidine Van Der
    Colff" -> "colff|d". Organisations compare whole: "org:birdlife international".
    """
    n = _clean(html.unescape(name))
    if _is_org(n):
        return "org:" + _WS.sub(" ", re.sub(r"[^\w\s]", " ", _fold(n))).strip()
    if "," in n:
        surname, given = n.split(",", 1)
    else:
        words = n.split()
        surname, given = (words[-1], " ".join(words[:-1])) if words else ("", "")
    surname_words = re.findall(r"[\w'-]+", _fold(surname))
    last = surname_words[-1] if surname_words else ""
    initial = next((c for c in _fold(given) if c.isalpha()), "")
    return f"{last}|{initial}"


# =================================================================================================
# Experts from the credits
# =================================================================================================


def _require_set(aset: object, what: str) -> AssessmentSet:
    if not isinstance(aset, AssessmentSet):
        raise A2PError(
            f"{what}: expected an AssessmentSet (read_redlist, store.load_set), got {type(aset).__name__}"
        )
    return aset


def experts_from_credits(aset: AssessmentSet, *, scope: str | None = None) -> pl.DataFrame:
    """Individual experts credited on each taxon's latest assessment.

    Columns ``taxon_id, scientific_name, name, credit_type`` (``EXPERT_COLUMNS``), one row per
    taxon, person and credit type, ordered by taxon, credit type (assessors first) and the order
    of the credit line. ``scope`` picks the latest assessment whose scopes include it ("Global",
    "Europe"); None takes each taxon's latest assessment whatever its scope.

    Names come from ``credits.names`` (the full names the API and the downloads give, affiliation
    in parentheses dropped) when known, else from the published credit line split by
    ``split_names``. Institutions credited as such (credit type "Institution") are kept: they are
    stakeholders too.
    """
    aset = _require_set(aset, "experts_from_credits")
    latest = aset.latest(scope or "").select("assessment_id", "taxon_id", "scientific_name")
    credits = aset.credits
    if credits.height == 0 or latest.height == 0:
        return pl.DataFrame(schema=EXPERT_COLUMNS)
    df = (
        credits.select("assessment_id", "credit_type", "text", "names", "order")
        .join(latest, on="assessment_id", how="inner")
        .with_row_index("_row")
    )
    pairs = df.select("names", "text").unique()
    split: dict[tuple[str | None, str | None], list[str]] = {}
    for names, text in pairs.iter_rows():
        found = _names_field(names) if names else []
        split[(names, text)] = found or split_names(text)
    rows: list[tuple[str, str, str, str | None, int, int, int]] = []
    role_rank = {r: i for i, r in enumerate(_ROLE_ORDER)}
    for row_no, names, text, tid, sci, ctype, order in df.select(
        "_row", "names", "text", "taxon_id", "scientific_name", "credit_type", "order"
    ).iter_rows():
        rank = role_rank.get(ctype, len(_ROLE_ORDER))
        for pos, name in enumerate(split[(names, text)]):
            rows.append(
                (tid, sci, name, ctype, rank, order if order is not None else 1 << 30, row_no * 1000 + pos)
            )
    if not rows:
        return pl.DataFrame(schema=EXPERT_COLUMNS)
    out = pl.DataFrame(
        rows,
        schema={**EXPERT_COLUMNS, "_rank": pl.Int64, "_order": pl.Int64, "_pos": pl.Int64},
        orient="row",
    )
    return (
        out.sort(["taxon_id", "_rank", "_order", "_pos"])
        .unique(subset=["taxon_id", "name", "credit_type"], keep="first", maintain_order=True)
        .select(list(EXPERT_COLUMNS))
    )


# =================================================================================================
# Validation
# =================================================================================================


def validate_stakeholders(stakeholders: pl.DataFrame) -> pl.DataFrame:
    """Check a stakeholder frame and return it with every ``STAKEHOLDER_COLUMNS`` column.

    Raises ``A2PError`` naming the problem: not a polars frame, missing required columns
    (``REQUIRED_STAKEHOLDER_COLUMNS``), a column that is not text, an empty or repeated
    ``stakeholder_id``, an empty name.
    """
    if not isinstance(stakeholders, pl.DataFrame):
        raise A2PError(f"stakeholders: expected a polars DataFrame, got {type(stakeholders).__name__}")
    missing = [c for c in REQUIRED_STAKEHOLDER_COLUMNS if c not in stakeholders.columns]
    if missing:
        raise A2PError(
            f"stakeholders: missing column(s) {', '.join(missing)}; a stakeholder list needs "
            f"{', '.join(REQUIRED_STAKEHOLDER_COLUMNS)} (countries, sites and expertise may be empty)"
        )
    for name in STAKEHOLDER_COLUMNS:
        if name in stakeholders.columns and stakeholders.schema[name] not in (pl.Utf8, pl.Null):
            raise A2PError(
                f"stakeholders: column {name!r} must be text ('|'-joined for lists), "
                f"got {stakeholders.schema[name]}"
            )
    df = stakeholders.select(
        [
            pl.col(c).cast(S) if c in stakeholders.columns else pl.lit(None, S).alias(c)
            for c in STAKEHOLDER_COLUMNS
        ]
    )
    for i, (sid, name) in enumerate(df.select("stakeholder_id", "name").iter_rows(), start=1):
        if sid is None or not sid.strip():
            raise A2PError(f"stakeholders, row {i}, column 'stakeholder_id': empty stakeholder_id")
        if name is None or not name.strip():
            raise A2PError(f"stakeholders, row {i} (stakeholder_id {sid!r}), column 'name': empty name")
    dup = df.filter(pl.col("stakeholder_id").is_duplicated())["stakeholder_id"].unique().sort().to_list()
    if dup:
        raise A2PError(f"stakeholders: stakeholder_id repeated: {', '.join(map(repr, dup))}")
    return df


def _validate_experts(experts: pl.DataFrame) -> pl.DataFrame:
    if not isinstance(experts, pl.DataFrame):
        raise A2PError(f"experts: expected a polars DataFrame, got {type(experts).__name__}")
    missing = [c for c in ("taxon_id", "name", "credit_type") if c not in experts.columns]
    if missing:
        raise A2PError(
            f"experts: missing column(s) {', '.join(missing)}; "
            "use planning.stakeholders.experts_from_credits(aset)"
        )
    return experts.select(
        pl.col("taxon_id").cast(S),
        pl.col("name").cast(S),
        pl.col("credit_type").cast(S),
    ).filter(pl.col("taxon_id").is_not_null() & pl.col("name").is_not_null())


def _split_list(value: str | None, *, upper: bool = False) -> list[str]:
    if not value:
        return []
    out = [v.strip() for v in value.split("|")]
    return [v.upper() if upper else v for v in out if v]


def _codes(values: Iterable[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        code = schemes.normalise_code(v)
        if code:
            out.append(code)
    return out


def _related(a: str, b: str) -> bool:
    """Same code, or one is an ancestor of the other ("7.2" ~ "7.2.3" ~ "7")."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _join_words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# =================================================================================================
# The target
# =================================================================================================


@dataclass
class _Target:
    kind: str
    target: str
    members: list[str]
    countries: list[str]
    sites: list[str]
    threats: list[str]
    actions: list[str]
    site_names: dict[str, str] = field(default_factory=dict)
    m_countries: dict[str, set[str]] = field(default_factory=dict)
    m_threats: dict[str, set[str]] = field(default_factory=dict)
    m_actions: dict[str, set[str]] = field(default_factory=dict)
    m_taxonomy: dict[str, set[str]] = field(default_factory=dict)
    m_words: dict[str, str] = field(default_factory=dict)  # folded names of threats/actions
    _cache: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.members)

    def owner(self) -> str:
        return {"cluster": "the cluster's", "bucket": "the bucket's", "site": "the site's"}.get(
            self.kind, "the species'"
        )

    def noun(self) -> str:
        return {"site": "species at the site", "taxon": "species"}.get(self.kind, "member species")

    def of_members(self, k: int) -> str:
        if self.kind == "taxon" and self.n == 1:
            return "the species"
        return f"{k} of the {self.n} {self.noun()}"

    def members_with(self, dim: str, code: str) -> set[str]:
        key = (dim, code)
        if key not in self._cache:
            table = self.m_threats if dim == "threat" else self.m_actions
            self._cache[key] = {t for t, codes in table.items() if any(_related(code, c) for c in codes)}
        return self._cache[key]


def _member_profiles(t: _Target, aset: AssessmentSet | None, scope: str) -> None:
    if aset is None or not t.members:
        return
    members = pl.Series(t.members, dtype=S).implode()
    latest = aset.latest(scope).filter(pl.col("taxon_id").is_in(members)).select("assessment_id", "taxon_id")
    aids = latest["assessment_id"].implode()

    def by_taxon(df: pl.DataFrame, col: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for tid, value in df.select("taxon_id", col).iter_rows():
            if value is not None:
                out.setdefault(tid, set()).add(value)
        return out

    occ = aset.occurrence.filter(
        pl.col("assessment_id").is_in(aids)
        & (pl.col("kind") == "country")
        & (pl.col("presence").is_null() | pl.col("presence").is_in(MEMBER_PRESENCE))
    ).with_columns(pl.col("code").str.to_uppercase())
    t.m_countries = by_taxon(occ, "code")
    thr = aset.threats.filter(
        pl.col("assessment_id").is_in(aids) & (pl.col("timing").fill_null("") != "Past, Unlikely to Return")
    )
    t.m_threats = by_taxon(thr, "code")
    act = aset.actions_needed.filter(pl.col("assessment_id").is_in(aids))
    t.m_actions = by_taxon(act, "code")
    tax = aset.taxa.filter(pl.col("taxon_id").is_in(members))
    for row in tax.select(
        "taxon_id", "scientific_name", "genus", "family", "order_name", "class_name", "phylum", "kingdom"
    ).iter_rows():
        t.m_taxonomy[row[0]] = {_fold(v) for v in row[1:] if v}
    for tid in t.members:
        names = [schemes.name_of("threats", c) or "" for c in t.m_threats.get(tid, ())]
        names += [schemes.name_of("conservation_actions", c) or "" for c in t.m_actions.get(tid, ())]
        t.m_words[tid] = _fold(" | ".join(names))


# =================================================================================================
# Scoring
# =================================================================================================


@dataclass
class _Match:
    score: float = 0.0
    parts: list[str] = field(default_factory=list)


def _score_country(t: _Target, countries: list[str], w: float, m: _Match) -> None:
    if not countries:
        return
    explicit = [c for c in countries if c in t.countries]
    hit = {tid for tid in t.members if t.m_countries.get(tid, set()) & set(countries)}
    share = len(hit) / t.n if t.n else 0.0
    value = max(1.0 if explicit else 0.0, share)
    if value <= 0:
        return
    m.score += w * value
    where = explicit or [c for c in countries if any(c in t.m_countries.get(tid, ()) for tid in hit)]
    text = f"works in {_join_words(where)}"
    if hit and t.kind != "taxon":
        text += f", where {t.of_members(len(hit))} occur"
    m.parts.append(text)


def _score_sites(t: _Target, sites: list[str], w: float, m: _Match) -> None:
    hit = [s for s in sites if s in t.sites]
    if not hit:
        return
    m.score += w
    shown = [f"{s} ({t.site_names[s]})" if t.site_names.get(s) else s for s in hit]
    m.parts.append(f"works at site {_join_words(shown)}")


def _score_codes(t: _Target, dim: str, codes: list[str], w: float, m: _Match) -> None:
    if not codes:
        return
    prefix = "t" if dim == "threat" else "a"
    own = t.threats if dim == "threat" else t.actions
    explicit = [(e, c) for e in codes for c in own if _related(e, c)]
    hit: set[str] = set()
    best_code, best_hits = None, 0
    for e in codes:
        found = t.members_with(dim, e)
        hit |= found
        if len(found) > best_hits:
            best_code, best_hits = e, len(found)
    share = len(hit) / t.n if t.n else 0.0
    value = max(1.0 if explicit else 0.0, share)
    if value <= 0:
        return
    m.score += w * value
    noun = "threat" if dim == "threat" else "action"
    if explicit:
        e, c = explicit[0]
        m.parts.append(f"expertise {prefix}:{e} matches {t.owner()} {noun} {c}")
    elif best_code is not None:
        shown = ", ".join(f"{prefix}:{e}" for e in codes if t.members_with(dim, e))
        what = "threats" if dim == "threat" else "actions needed"
        m.parts.append(f"expertise {shown} matches {what} of {t.of_members(len(hit))}")


def _score_taxa(t: _Target, taxa: list[str], w: float, m: _Match) -> None:
    if not taxa or not t.n:
        return
    folded = [(x, _fold(x)) for x in taxa]
    hit_names = []
    hit: set[str] = set()
    for shown, key in folded:
        found = {
            tid
            for tid, names in t.m_taxonomy.items()
            if key in names or any(n.startswith(key + " ") for n in names)
        }
        if found:
            hit |= found
            hit_names.append(f"taxon:{shown}")
    if not hit:
        return
    m.score += w * len(hit) / t.n
    m.parts.append(f"expertise {', '.join(hit_names)} covers {t.of_members(len(hit))}")


def _score_words(t: _Target, words: list[str], w: float, m: _Match) -> None:
    words = [x for x in words if len(x) >= 4]
    if not words:
        return
    own = [("threat", c, schemes.name_of("threats", c)) for c in t.threats]
    own += [("action", c, schemes.name_of("conservation_actions", c)) for c in t.actions]
    for word in words:
        key = _fold(word)
        for noun, code, name in own:
            if name and key in _fold(name):
                m.score += w
                m.parts.append(f"expertise '{word}' matches {t.owner()} {noun} {code} {name}")
                return
    hit = {tid for tid in t.members if any(_fold(x) in t.m_words.get(tid, "") for x in words)}
    if not hit:
        return
    m.score += w * len(hit) / t.n
    found = [x for x in words if any(_fold(x) in t.m_words.get(tid, "") for tid in hit)]
    shown = ", ".join(f"'{x}'" for x in found)
    m.parts.append(f"expertise {shown} matches threats or actions of {t.of_members(len(hit))}")


def _credit_match(t: _Target, credits: dict[str, set[str]], w: float, m: _Match) -> None:
    """``credits``: member taxon -> the person's credit types for it."""
    if not credits or not t.n:
        return
    best: dict[str, str] = {}
    total = 0.0
    for tid, types in credits.items():
        role = max(types, key=lambda r: (CREDIT_ROLE_WEIGHTS.get(r, _OTHER_ROLE_WEIGHT), r))
        best[tid] = role
        total += CREDIT_ROLE_WEIGHTS.get(role, _OTHER_ROLE_WEIGHT)
    m.score += w * total / t.n
    counts: dict[str, int] = {}
    for role in best.values():
        counts[role] = counts.get(role, 0) + 1
    order = sorted(counts, key=_role_rank)
    if t.kind == "taxon" and t.n == 1:
        every = sorted({r for types in credits.values() for r in types}, key=_role_rank)
        m.parts.append(f"{_join_words([_role_noun(r) for r in every])} of the species' assessment")
        return
    if len(order) == 1:
        m.parts.append(f"{_role_noun(order[0])} of {t.of_members(counts[order[0]])}")
    else:
        bits = [f"{_role_noun(r)} of {counts[r]}" for r in order]
        m.parts.append(f"{_join_words(bits)} of the {t.n} {t.noun()}")


def _role_rank(role: str) -> tuple[int, str]:
    return (_ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER), role)


def _role_noun(role: str | None) -> str:
    return {"Institution": "credited institution"}.get(role or "", (role or "credited").lower())


def _parse_expertise(value: str | None) -> tuple[list[str], list[str], list[str], list[str]]:
    threats, actions, taxa, words = [], [], [], []
    for item in _split_list(value):
        head, _, rest = item.partition(":")
        head = head.strip().lower()
        rest = rest.strip()
        if rest and head in ("t", "threat", "threats"):
            threats += _codes([rest])
        elif rest and head in ("a", "action", "actions"):
            actions += _codes([rest])
        elif rest and head in ("taxon", "taxa", "tx"):
            taxa.append(rest)
        else:
            words.append(item)
    return threats, actions, taxa, words


def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    w = dict(SUGGESTION_WEIGHTS)
    if weights:
        unknown = sorted(set(weights) - set(SUGGESTION_WEIGHTS))
        if unknown:
            raise A2PError(f"unknown weight(s) {', '.join(unknown)}; known: {', '.join(SUGGESTION_WEIGHTS)}")
        for k, v in weights.items():
            if not isinstance(v, int | float) or v < 0:
                raise A2PError(f"weight {k!r} must be a number >= 0, got {v!r}")
            w[k] = float(v)
    return w


def _as_list(values: Iterable[str] | str | pl.Series | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    seen: set[str] = set()
    for v in values:
        if v is None:
            continue
        s = str(v).strip()
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def suggest_stakeholders(
    stakeholders: pl.DataFrame | None,
    *,
    aset: AssessmentSet | None = None,
    target_kind: str,
    target: str,
    members: Iterable[str] | pl.Series | None = None,
    threat_codes: Iterable[str] = (),
    action_codes: Iterable[str] = (),
    countries: Iterable[str] = (),
    sites: Iterable[str] = (),
    experts: pl.DataFrame | None = None,
    limit: int | None = 10,
    weights: Mapping[str, float] | None = None,
    scope: str = "Global",
    site_names: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Stakeholders (and Red List experts) to invite for one planning target, best first.

    ``target_kind`` is cluster | bucket | site | taxon and ``target`` its id (cluster id, bucket
    name, site id, taxon id). ``members`` are the taxon ids of the species concerned (for a taxon:
    the taxon itself when not given). ``threat_codes``, ``action_codes``, ``countries`` and
    ``sites`` are the target's own codes and places (a cluster "threat:7.2|country:ID" has threat
    7.2 and country ID). With ``aset`` the member species' countries, threats, actions needed and
    taxonomy (latest assessment in ``scope``) are matched too.

    ``experts`` is a frame from ``experts_from_credits``; when None and ``aset`` is given it is
    made from ``aset`` (pass an empty frame to leave the credits out). An expert credited on a
    member species whose name matches a listed stakeholder (``name_key``: surname and first
    initial) adds to that stakeholder's score; one who matches nobody is suggested on their own,
    with ``stakeholder_id`` null.

    Returns ``SUGGESTION_COLUMNS``: target_kind, target, stakeholder_id, name, reason (why, in one
    sentence: "works in ID and PH; expertise t:7.2 matches the cluster's threat 7.2.3; assessor of
    3 of the 5 member species"), score (``SUGGESTION_WEIGHTS``, see the module docstring). Only
    positive scores are returned, at most ``limit`` rows (None: all); ties are ordered by name.
    """
    if target_kind not in TARGET_KINDS:
        raise A2PError(f"unknown target_kind {target_kind!r}; use one of {', '.join(TARGET_KINDS)}")
    if target is None or not str(target).strip():
        raise A2PError(f"suggest_stakeholders: give the {target_kind} to suggest stakeholders for (target)")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise A2PError(f"limit must be a whole number >= 1 or None, got {limit!r}")
    w = _check_weights(weights)
    if aset is not None:
        _require_set(aset, "suggest_stakeholders")
    sh = (
        validate_stakeholders(stakeholders)
        if stakeholders is not None
        else pl.DataFrame(schema=STAKEHOLDER_COLUMNS)
    )
    member_ids = _as_list(members)
    if target_kind == "taxon" and not member_ids:
        member_ids = [str(target)]
    t = _Target(
        kind=target_kind,
        target=str(target),
        members=member_ids,
        countries=[c.upper() for c in _as_list(countries)],
        sites=_as_list(sites),
        threats=_codes(_as_list(threat_codes)),
        actions=_codes(_as_list(action_codes)),
        site_names=dict(site_names or {}),
    )
    _member_profiles(t, aset, scope)
    if experts is None:
        experts = experts_from_credits(aset, scope=scope) if aset is not None else None
    ex = _validate_experts(experts) if experts is not None else None

    # person key -> {member taxon: {credit types}}, and the names shown for unlisted experts
    member_set = set(t.members)
    credits_by_key: dict[str, dict[str, set[str]]] = {}
    shown_name: dict[str, str] = {}
    if ex is not None and member_set:
        for tid, name, ctype in ex.filter(pl.col("taxon_id").is_in(list(member_set))).iter_rows():
            key = name_key(name)
            credits_by_key.setdefault(key, {}).setdefault(tid, set()).add(ctype or "Credited")
            if len(name) > len(shown_name.get(key, "")):
                shown_name[key] = name

    rows: list[tuple[str | None, str, str, float]] = []
    used_keys: set[str] = set()
    for rec in sh.iter_rows(named=True):
        m = _Match()
        _score_sites(t, _split_list(rec["sites"]), w["site"], m)
        _score_country(t, _split_list(rec["countries"], upper=True), w["country"], m)
        threats, actions, taxa, words = _parse_expertise(rec["expertise"])
        _score_codes(t, "threat", threats, w["threat"], m)
        _score_codes(t, "action", actions, w["action"], m)
        _score_taxa(t, taxa, w["taxon"], m)
        _score_words(t, words, w["word"], m)
        key = name_key(rec["name"])
        if key in credits_by_key:
            used_keys.add(key)
            _credit_match(t, credits_by_key[key], w["credits"], m)
        if m.score > 0:
            rows.append((rec["stakeholder_id"], rec["name"], "; ".join(m.parts), m.score))
    for key, credits in credits_by_key.items():
        if key in used_keys:
            continue
        m = _Match()
        _credit_match(t, credits, w["credits"], m)
        if m.score > 0:
            rows.append(
                (None, shown_name[key], "; ".join(m.parts) + " (Red List credits; not on the list)", m.score)
            )

    out = pl.DataFrame(
        [(target_kind, t.target, sid, name, reason, round(score, 3)) for sid, name, reason, score in rows],
        schema=SUGGESTION_COLUMNS,
        orient="row",
    )
    out = out.sort(["score", "name"], descending=[True, False], nulls_last=True)
    return out.head(limit) if limit is not None else out


# =================================================================================================
# Wrappers for the planning targets
# =================================================================================================


def _frames_of(clusters: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    if isinstance(clusters, Mapping):
        c, m = clusters.get("clusters"), clusters.get("members")
    else:
        c, m = getattr(clusters, "clusters", None), getattr(clusters, "members", None)
    if not isinstance(c, pl.DataFrame) or not isinstance(m, pl.DataFrame):
        raise A2PError("clusters: expected the result of planning.clusters (frames 'clusters' and 'members')")
    for frame, name, cols in (
        (c, "clusters", ("cluster_id", "basis", "code", "place_kind", "place")),
        (m, "members", ("cluster_id", "taxon_id")),
    ):
        missing = [x for x in cols if x not in frame.columns]
        if missing:
            raise A2PError(f"clusters: the {name} frame lacks column(s) {', '.join(missing)}")
    return c, m


def suggest_for_cluster(
    stakeholders: pl.DataFrame | None,
    clusters: Any,
    cluster_id: str,
    aset: AssessmentSet | None = None,
    experts: pl.DataFrame | None = None,
    *,
    limit: int | None = 10,
    weights: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Suggestions for one cluster of ``planning.clusters`` (its ``clusters`` and ``members`` frames).

    The cluster's basis gives its own threat or action code; its place gives a country (place kind
    country, or the country of a country_habitat place "ID|5.1") or a site (place kind site); the
    members are its species.
    """
    c, m = _frames_of(clusters)
    row = c.filter(pl.col("cluster_id") == cluster_id)
    if row.height == 0:
        raise A2PError(f"unknown cluster {cluster_id!r}; the clusters frame has {c.height} cluster(s)")
    rec = row.row(0, named=True)
    basis, code, kind, place = rec["basis"], rec["code"], rec["place_kind"], rec["place"]
    countries, sites, site_names = [], [], {}
    if kind == "country" and place:
        countries = [place]
    elif kind == "country_habitat" and place:
        countries = [place.split("|")[0]]
    elif kind == "site" and place:
        sites = [place]
        if rec.get("place_name"):
            site_names = {place: rec["place_name"]}
    members = m.filter(pl.col("cluster_id") == cluster_id)["taxon_id"].unique(maintain_order=True).to_list()
    return suggest_stakeholders(
        stakeholders,
        aset=aset,
        target_kind="cluster",
        target=cluster_id,
        members=members,
        threat_codes=[code] if basis == "threat" and code else (),
        action_codes=[code] if basis == "action" and code else (),
        countries=countries,
        sites=sites,
        experts=experts,
        limit=limit,
        weights=weights,
        site_names=site_names,
    )


def suggest_for_bucket(
    stakeholders: pl.DataFrame | None,
    assignments: pl.DataFrame,
    bucket: str,
    aset: AssessmentSet | None = None,
    experts: pl.DataFrame | None = None,
    *,
    limit: int | None = 10,
    weights: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Suggestions for one triage bucket: its species are the assignments in ``bucket`` that are not
    rejected (status suggested, accepted or added). The bucket implies actions
    (``BUCKET_ACTIONS``: ex_situ -> 3.4, site_based -> 1 and 2.1, single_species -> 3)."""
    if bucket not in BUCKET_ACTIONS:
        raise A2PError(f"unknown bucket {bucket!r}; use one of {', '.join(BUCKET_ACTIONS)}")
    if not isinstance(assignments, pl.DataFrame):
        raise A2PError(f"assignments: expected a polars DataFrame, got {type(assignments).__name__}")
    missing = [x for x in ("taxon_id", "bucket") if x not in assignments.columns]
    if missing:
        raise A2PError(f"assignments: missing column(s) {', '.join(missing)} (planning.triage.triage output)")
    sel = assignments.filter(pl.col("bucket") == bucket)
    if "status" in sel.columns:
        sel = sel.filter(pl.col("status").fill_null("suggested") != "rejected")
    members = sel["taxon_id"].cast(S).unique(maintain_order=True).to_list()
    return suggest_stakeholders(
        stakeholders,
        aset=aset,
        target_kind="bucket",
        target=bucket,
        members=members,
        action_codes=BUCKET_ACTIONS[bucket],
        experts=experts,
        limit=limit,
        weights=weights,
    )


def suggest_for_site(
    stakeholders: pl.DataFrame | None,
    site_id: str,
    site_links: pl.DataFrame,
    sites: pl.DataFrame,
    aset: AssessmentSet | None = None,
    experts: pl.DataFrame | None = None,
    *,
    limit: int | None = 10,
    weights: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Suggestions for one site: people working at it or in its country, and the experts of the
    species linked to it (``site_links``)."""
    for frame, name, cols in (
        (sites, "sites", ("site_id",)),
        (site_links, "site_links", ("taxon_id", "site_id")),
    ):
        if not isinstance(frame, pl.DataFrame):
            raise A2PError(f"{name}: expected a polars DataFrame, got {type(frame).__name__}")
        missing = [x for x in cols if x not in frame.columns]
        if missing:
            raise A2PError(f"{name}: missing column(s) {', '.join(missing)}")
    row = sites.filter(pl.col("site_id") == site_id)
    if row.height == 0:
        raise A2PError(f"unknown site {site_id!r}; the sites frame has {sites.height} site(s)")
    rec = row.row(0, named=True)
    members = (
        site_links.filter(pl.col("site_id") == site_id)["taxon_id"]
        .cast(S)
        .unique(maintain_order=True)
        .to_list()
    )
    country = rec.get("country")
    return suggest_stakeholders(
        stakeholders,
        aset=aset,
        target_kind="site",
        target=site_id,
        members=members,
        countries=[country] if country else (),
        sites=[site_id],
        experts=experts,
        limit=limit,
        weights=weights,
        site_names={site_id: rec["name"]} if rec.get("name") else None,
    )
