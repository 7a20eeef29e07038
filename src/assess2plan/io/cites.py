"""CITES listings from a Species+ checklist export (https://speciesplus.net, "Download" -> CSV).

``read_cites(path)`` reads the export into one row per taxon of the checklist (``model.CITES_SCHEMA``):
species and subspecies, and the higher taxa that CITES lists as a whole (a genus, a family or an
order: "all species of the family Trochilidae are in Appendix II"). The listing is Species+'s
``CurrentListing``: "I", "II", "III", "NC" (not covered by the Convention) or a split listing
such as "I/II" (some populations in Appendix I, the others in Appendix II) or "II/NC".

The name helpers used to match the checklist (and ex situ holdings) to the taxa of a working set
live here too:

* ``bare_name("Ornismya abeillei Lesson & DeLattre, 1839")`` -> "Ornismya abeillei" (authors and
  year dropped; Genus species [infraspecific name] only);
* ``split_synonyms(...)`` splits Species+'s ``SynonymsWithAuthors`` ("Falco bellicosus Daudin, 1800,
  Hieraaetus bellicosus (Daudin, 1800)") into bare names, although the authors hold commas too;
* ``name_key(name)`` is the form names are compared in: bare, lower case, single spaces, without
  rank words ("ssp.", "subsp.", "var."), so "Grus canadensis ssp. pulla" (Red List) meets
  "Grus canadensis pulla" (CITES).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import polars as pl

from assess2plan.errors import InputError
from assess2plan.io.files import ROW, read_csv
from assess2plan.model import CITES_SCHEMA

__all__ = ["LISTING_PARTS", "SPECIES_PLUS_COLUMNS", "bare_name", "name_key", "read_cites", "split_synonyms"]

#: The header of a Species+ checklist CSV export, in order (as downloaded in 2024-2025).
SPECIES_PLUS_COLUMNS = (
    "TaxonId,Kingdom,Phylum,Class,Order,Family,Genus,Species,Subspecies,FullName,AuthorYear,RankName,"
    "CurrentListing,FullAnnotationEnglish,AnnotationEnglish,AnnotationSpanish,AnnotationFrench,"
    "#AnnotationSymbol,#Annotation,SynonymsWithAuthors,EnglishNames,SpanishNames,FrenchNames,CitesAccepted,"
    "All_DistributionISOCodes,All_DistributionFullNames,NativeDistributionFullNames,Introduced_Distribution,"
    "Introduced(?)_Distribution,Reintroduced_Distribution,Extinct_Distribution,Extinct(?)_Distribution,"
    "Distribution_Uncertain"
).split(",")

#: Columns without which a checklist cannot be used.
REQUIRED = ("TaxonId", "FullName", "RankName", "CurrentListing")

#: The parts a ``CurrentListing`` is made of ("I/II/NC" = "I" + "II" + "NC").
LISTING_PARTS = ("I", "II", "III", "NC")

# -- names -------------------------------------------------------------------------------------------
#: Words that mark the rank of an infraspecific name; kept in a bare name, ignored in comparisons.
RANK_WORDS = frozenset({"ssp.", "ssp", "subsp.", "subsp", "var.", "var", "f.", "forma", "subvar.", "morph"})
#: Lower-case words that start an author citation ("de la Llave", "von Pelzeln", "van Oort").
PARTICLES = frozenset(
    "de la le les du da das di del della dos des van von der den ter ten zu y e and et in ex sensu non nec "
    "auct. auct emend.".split()
)
_CAPITALISED = re.compile(r"[A-Z][a-z]+")  # a genus: "Ornismya" (not "AERC", "DeLattre", "d'Orbigny")
_SUBGENUS = re.compile(r"\([A-Z][a-z]+\)")
_YEAR = re.compile(r"\b1[5-9]\d\d\b|\b20\d\d\b")
_SPACES = re.compile(r"\s+")


def _is_word(token: str) -> bool:
    """Letters, optionally joined by hyphens ("novae-hollandiae")."""
    return bool(token) and all(part.isalpha() for part in token.split("-"))


def _is_epithet(token: str, any_case: bool = False) -> bool:
    """A specific or infraspecific epithet: a lower-case word that is not an author particle."""
    if not _is_word(token) or token.lower() in PARTICLES or token.lower() in RANK_WORDS:
        return False
    return any_case or token[0].islower()


def _split_name(text: str) -> tuple[list[str], list[str]]:
    """(name tokens, author tokens) of one scientific name written with or without its authors."""
    tokens = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip().split(" ")
    if not tokens or not _is_word(tokens[0]):
        return [], tokens
    # a name written all in capitals ("MIRRENICHTHYS AURATUS") has no case to tell authors by
    any_case = text.upper() == text
    name = [tokens[0]]
    epithets = 0
    i = 1
    if i < len(tokens) and _SUBGENUS.fullmatch(tokens[i]):
        i += 1  # "Accipiter (Sparvius) bicolor": the subgenus is not part of the binomial
    while i < len(tokens) and epithets < 2:
        tok = tokens[i]
        if tok.lower() in RANK_WORDS and epithets == 1:
            name.append(tok)
            i += 1
            continue
        # "fictichthys AUREUS": a specific epithet in capitals is still one (an author is "Vell")
        shouted = epithets == 0 and len(tok) > 1 and tok.isupper()
        if not _is_epithet(tok, any_case or shouted):
            break
        name.append(tok)
        epithets += 1
        i += 1
    while name[-1].lower() in RANK_WORDS:  # a rank word without a name after it
        name.pop()
        i -= 1
    return name, tokens[i:]


def bare_name(text: str | None) -> str | None:
    """The scientific name without authors, year or subgenus: "Genus species [rank] [infra]".

    "Ornismya abeillei Lesson & DeLattre, 1839" -> "Ornismya abeillei";
    "Trochilus tzacatl de la Llave, 1833" -> "Trochilus tzacatl"; "Sparvius" -> "Sparvius";
    "Panthera leo ssp. persica" -> "Panthera leo ssp. persica". None for a blank text or a
    text that does not start with a name.
    """
    if text is None:
        return None
    name, _ = _split_name(str(text))
    return " ".join(name) or None


def name_key(text: str | None) -> str | None:
    """How names are compared: bare name, lower case, single spaces, rank words dropped."""
    bare = bare_name(text)
    if bare is None:
        return None
    return " ".join(t for t in bare.casefold().split(" ") if t not in RANK_WORDS) or None


def split_synonyms(text: str | None, *, exclude: str | None = None) -> list[str]:
    """The bare names in a Species+ ``SynonymsWithAuthors`` cell, in order, without repeats.

    Names are separated by commas, but an author citation holds commas too ("Ornismya abeillei
    Lesson & DeLattre, 1839, Trochilus ..."): a new name starts after the year that closes a
    citation, after a name written without authors ("Sparvius , Erythrospizias , Nisus "), or
    where a piece reads "Genus epithet". Hybrid formulas ("A b x a c") are left out, as is any
    name equal to ``exclude`` (the row's own name, which Species+ repeats for misapplied uses).
    """
    if not text or not str(text).strip():
        return []
    out: list[str] = []
    seen: set[str] = set()
    skip = name_key(exclude) if exclude else None
    in_citation = False  # inside an author citation whose year has not come yet
    for piece in str(text).split(","):
        piece = piece.strip()
        if not piece:
            continue
        if re.match(r"\(?\s*\d", piece):  # "1839", "1865 )", "1830 misapplied": closes a citation
            in_citation = False
            continue
        tokens = piece.split()
        starts = bool(_CAPITALISED.fullmatch(tokens[0]))
        if in_citation and not (starts and len(tokens) > 1 and _is_epithet(tokens[1])):
            if _YEAR.search(piece):
                in_citation = False
            continue  # more authors of the same citation: "Smith, Jones & Brown, 1900"
        if not starts:
            in_citation = not _YEAR.search(piece)
            continue
        if re.search(r"\s[x×]\s", f" {piece} "):  # a hybrid formula is not a name
            in_citation = False
            continue
        name, authors = _split_name(piece)
        in_citation = bool(authors) and not _YEAR.search(piece)
        bare = " ".join(name)
        key = name_key(bare)
        if not key or key == skip or key in seen:
            continue
        seen.add(key)
        out.append(bare)
    return out


# -- the checklist -----------------------------------------------------------------------------------
def _listing_error(display: str, row: int, value: object) -> InputError:
    return InputError(
        display,
        "not a CITES listing: expected I, II, III or NC, or a split listing of them joined by '/' "
        "(e.g. I/II, II/NC), as Species+ writes CurrentListing",
        row=row,
        column="CurrentListing",
        value=value,
    )


def _pipe_list(value: str | None) -> str | None:
    """ "SV, GT, HN" -> "SV|GT|HN" (blank -> None)."""
    if value is None:
        return None
    parts = [p.strip() for p in str(value).split(",")]
    parts = [p for p in parts if p]
    return "|".join(dict.fromkeys(parts)) or None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    v = str(value).strip()
    return v or None


def read_cites(path: str | Path) -> pl.DataFrame:
    """Read a CITES Species+ checklist CSV export into ``model.CITES_SCHEMA`` (one row per taxon).

    * ``name`` is ``FullName`` ("Abeillia abeillei", "Trochilidae"); ``rank`` is ``RankName`` in
      upper case (SPECIES, SUBSPECIES, GENUS, FAMILY, ORDER ...);
    * ``listing`` is ``CurrentListing`` ("I", "II", "III", "NC", or a split listing "I/II",
      "II/NC" ...); anything else is refused (``InputError`` naming row, column and value);
    * ``synonyms``: the names of ``SynonymsWithAuthors`` without their authors, "|"-joined;
    * ``common_names``: ``EnglishNames`` "|"-joined; ``countries``: ``All_DistributionISOCodes``
      ("SV, GT" -> "SV|GT"); ``annotation``: ``AnnotationEnglish`` as published (may hold <i> tags);
    * ``row``: the 1-based data row in the file (a quoted value may span several lines).

    Raises ``InputError`` for a missing file, an empty or binary file, a missing column (listing
    the columns of a Species+ export), a row without a name or rank, or an unknown listing.
    """
    p = Path(path)
    display = str(path)
    if not p.exists():
        raise InputError(display, "no such file")
    if p.is_dir():
        raise InputError(display, "is a folder: give the Species+ checklist CSV file itself")
    if p.read_bytes()[:4] == b"PK\x03\x04":
        raise InputError(
            display,
            "is a zip archive or an Excel workbook, not a CSV file: unzip it, or download the Species+ "
            "checklist as CSV",
        )
    table = read_csv(p)
    df = table.df
    cols = [c for c in df.columns if c != ROW]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InputError(
            display,
            f"not a CITES Species+ checklist export: column {missing[0]!r} is missing "
            f"(needed: {', '.join(REQUIRED)}). Columns found: {', '.join(cols) or '(none)'}. "
            f"A Species+ export has: {', '.join(SPECIES_PLUS_COLUMNS)}",
            row=0,
            column=missing[0],
        )

    def col(name: str) -> list[str | None]:
        return df.get_column(name).to_list() if name in cols else [None] * df.height

    rows = df.get_column(ROW).to_list()
    out: dict[str, list] = {c: [] for c in CITES_SCHEMA}
    for i, (
        tid,
        name,
        rank,
        listing,
        kingdom,
        klass,
        order,
        family,
        genus,
        annot,
        syn,
        eng,
        iso,
    ) in enumerate(
        zip(
            col("TaxonId"),
            col("FullName"),
            col("RankName"),
            col("CurrentListing"),
            col("Kingdom"),
            col("Class"),
            col("Order"),
            col("Family"),
            col("Genus"),
            col("AnnotationEnglish"),
            col("SynonymsWithAuthors"),
            col("EnglishNames"),
            col("All_DistributionISOCodes"),
            strict=True,
        )
    ):
        row = int(rows[i])
        name = _clean(name)
        if name is None:
            raise InputError(display, "a checklist row without a name", row=row, column="FullName", value="")
        rank = _clean(rank)
        if rank is None:
            raise InputError(display, "a checklist row without a rank", row=row, column="RankName", value="")
        listing_v = _clean(listing)
        if listing_v is None:
            raise _listing_error(display, row, listing if listing is not None else "")
        parts = [x.strip() for x in listing_v.upper().split("/")]
        if not all(x in LISTING_PARTS for x in parts):
            raise _listing_error(display, row, listing)
        out["cites_taxon_id"].append(_clean(tid))
        out["name"].append(_SPACES.sub(" ", name))
        out["rank"].append(rank.upper())
        out["kingdom"].append(_clean(kingdom))
        out["class_name"].append(_clean(klass))
        out["order_name"].append(_clean(order))
        out["family"].append(_clean(family))
        out["genus"].append(_clean(genus))
        out["listing"].append("/".join(parts))
        out["annotation"].append(_clean(annot))
        out["synonyms"].append("|".join(split_synonyms(syn, exclude=name)) or None)
        out["common_names"].append(_pipe_list(eng))
        iso_list = _pipe_list(iso)
        out["countries"].append(iso_list.upper() if iso_list else None)
        out["row"].append(row)
    return pl.DataFrame(out, schema=CITES_SCHEMA)
