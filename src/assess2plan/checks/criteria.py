"""Red List criteria strings (Categories & Criteria v3.1): a parser and the coherence rules.

The syntax (IUCN 2012, v3.1, "Citation of the IUCN Red List Categories and Criteria"):

* level 1: the criterion letter ``A``-``E``;
* level 2: the criterion number (``A1``-``A4``, ``B1``/``B2``, ``C1``/``C2``, ``D1``/``D2``;
  ``D`` alone and ``E`` carry none). Several numbers under one letter are joined by ``+`` and the
  letter is not repeated: ``A2bd+3d``, ``B1ab(iii)+2ab(iii)``;
* level 3: the sub-criteria, lower-case letters without punctuation: ``A2bcd``, ``B2ab``;
* level 4: lower-case roman numerals in parentheses, comma-separated: ``B2ab(ii,iii)``,
  ``C2a(i)``;
* different criteria are separated by ``;`` (the Red List download writes ``"; "``):
  ``A2ace; B1ab(i,iii,iv)``.

Grammar accepted by :func:`parse_criteria` (spaces are tolerated after ``;`` and ``,`` only;
surrounding white space is ignored)::

    criteria    := criterion ( ";" " "* criterion )*
    criterion   := "A" part ( "+" part )*          part := NUMBER(1-4) letter(a-e)*
                 | "B" part ( "+" part )*          part := NUMBER(1-2) ( "a" | "b" romans? | "c" romans? )*
                 | "C" part ( "+" part )*          part := "1" | "2" ( "a" romans? | "b" )*
                 | "D" [ NUMBER(1-2) ( "+" NUMBER(1-2) )* ]
                 | "E"
    romans      := "(" NUMERAL ( "," " "* NUMERAL )* ")"   NUMERAL: B b i-v, B c i-iv, C2 a i-ii

Syntax errors raise :class:`CriteriaSyntaxError` with the 0-based ``position`` of the offending
character. Requirements that the grammar lets through but the criteria do not meet (``B1`` with
fewer than two of a/b/c, ``b`` without numerals, ``C2`` without a or b, ``A2`` without a basis,
``A3a``) are reported by :meth:`Criteria.problems`; :func:`coherence` adds the checks against the
category (CR/EN/VU need criteria, D1/D2 only for VU, ...). Version 2.3 (1994) strings such as
``B1+2c`` follow another grammar and must not be judged by this one (:func:`legacy_problems`
offers a light check for them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: Criterion letter -> allowed numbers (empty: the letter takes no number).
NUMBERS = {"A": (1, 2, 3, 4), "B": (1, 2), "C": (1, 2), "D": (1, 2), "E": ()}
#: Whether a number is compulsory after the letter.
NUMBER_REQUIRED = {"A": True, "B": True, "C": True, "D": False, "E": False}
#: (letter, number) -> {sub-criterion letter: allowed roman numerals (empty: none allowed)}.
_A_SUB = {s: () for s in "abcde"}
SUBCRITERIA: dict[tuple[str, int | None], dict[str, tuple[str, ...]]] = {
    **{("A", n): _A_SUB for n in (1, 2, 3, 4)},
    **{("B", n): {"a": (), "b": ("i", "ii", "iii", "iv", "v"), "c": ("i", "ii", "iii", "iv")} for n in (1, 2)},
    ("C", 1): {},
    ("C", 2): {"a": ("i", "ii"), "b": ()},
    ("D", None): {},
    ("D", 1): {},
    ("D", 2): {},
    ("E", None): {},
}
_JOINED = {"A": "A2bd+3d", "B": "B1ab(iii)+2ab(iii)", "C": "C1+2a(i)", "D": "D1+2", "E": "E"}
#: Sub-criteria letters that need roman numerals to say what they mean.
NEED_NUMERALS = {("B", "b"), ("B", "c"), ("C", "a")}
ROMAN_ORDER = ("i", "ii", "iii", "iv", "v")
CATEGORIES_WITH_CRITERIA = ("CR", "EN", "VU")
#: Categories that take no criteria in v3.1 (NT is listed apart: it may cite the criteria "nearly met").
CATEGORIES_WITHOUT_CRITERIA = ("EX", "EW", "RE", "LC", "DD", "NE", "NA")


class CriteriaSyntaxError(ValueError):
    """A criteria string that does not follow the v3.1 syntax.

    ``position`` is the 0-based index of the offending character in ``text`` (``len(text)`` when
    the string ends too early); ``str(error)`` shows it with a caret.
    """

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message} at position {self.position + 1} of {self.text!r}"

    def pointer(self) -> str:
        """Two lines: the string and a caret under the offending character."""
        return f"{self.text}\n{' ' * self.position}^"


@dataclass(frozen=True)
class Subcriterion:
    """``b(iii,v)``: a sub-criterion letter with its roman numerals (possibly none)."""

    letter: str
    numerals: tuple[str, ...] = ()
    position: int = 0

    def __str__(self) -> str:
        return self.letter + (f"({','.join(self.numerals)})" if self.numerals else "")


@dataclass(frozen=True)
class Criterion:
    """One criterion number with its sub-criteria: ``B1ab(iii)``, ``A2bd``, ``D`` (number None)."""

    letter: str
    number: int | None
    subcriteria: tuple[Subcriterion, ...] = ()
    position: int = 0

    @property
    def code(self) -> str:
        """``"B1"``, ``"D"``."""
        return self.letter + ("" if self.number is None else str(self.number))

    @property
    def letters(self) -> str:
        """The sub-criteria letters: ``"ab"``."""
        return "".join(s.letter for s in self.subcriteria)

    def sub(self, letter: str) -> Subcriterion | None:
        return next((s for s in self.subcriteria if s.letter == letter), None)

    def __str__(self) -> str:
        return self.code + "".join(str(s) for s in self.subcriteria)


@dataclass(frozen=True)
class Criteria:
    """A parsed criteria string: the criteria in the order written."""

    text: str
    items: tuple[Criterion, ...]

    @property
    def letters(self) -> tuple[str, ...]:
        """Criterion letters used, in order: ``("A", "B")``."""
        seen: list[str] = []
        for c in self.items:
            if c.letter not in seen:
                seen.append(c.letter)
        return tuple(seen)

    @property
    def codes(self) -> tuple[str, ...]:
        """``("A2", "B1", "B2")``."""
        return tuple(c.code for c in self.items)

    def uses(self, code: str) -> bool:
        """``uses("B")``, ``uses("D2")``: whether a letter or letter+number is cited."""
        return any(c.code == code or c.letter == code for c in self.items)

    def __str__(self) -> str:
        """The canonical text (``"A2bd+3d; B1ab(iii)"``)."""
        out: list[str] = []
        for letter in self.letters:
            parts = [c for c in self.items if c.letter == letter]
            first = str(parts[0])
            rest = [str(c)[1:] for c in parts[1:]]
            out.append("+".join([first, *rest]))
        return "; ".join(out)

    def problems(self) -> list[str]:
        """Requirements of the criteria themselves that the string does not meet (category aside)."""
        out: list[str] = []
        for c in self.items:
            if c.letter == "A":
                if not c.subcriteria:
                    out.append(f"{c.code} cites no basis (a-e) for the reduction")
                if c.number == 3 and c.sub("a"):
                    out.append("A3 cannot be based on (a) direct observation: a future reduction is projected or suspected (bases b-e)")
            elif c.letter == "B":
                n = len({s.letter for s in c.subcriteria})
                if n < 2:
                    got = c.letters or "none"
                    out.append(f"{c.code} needs at least two of the conditions a, b, c (has {got})")
            elif c.letter == "C" and c.number == 2 and not c.subcriteria:
                out.append("C2 needs (a) and/or (b)")
            for s in c.subcriteria:
                if (c.letter, s.letter) in NEED_NUMERALS and not s.numerals:
                    allowed = SUBCRITERIA[(c.letter, c.number)][s.letter]
                    out.append(f"{c.code}{s.letter} does not say which of ({','.join(allowed)}) applies")
        return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def error(self, message: str, position: int | None = None):
        return CriteriaSyntaxError(self.text, self.i if position is None else position, message)

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def at_end(self) -> bool:
        return self.i >= len(self.text)

    def describe(self) -> str:
        ch = self.peek()
        return "the end of the string" if not ch else repr(ch)

    def spaces(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def parse(self) -> Criteria:
        items: list[Criterion] = []
        seen_letters: dict[str, int] = {}
        if self.at_end():
            raise self.error("empty criteria string")
        while True:
            start = self.i
            ch = self.peek()
            if ch not in NUMBERS:
                if ch.upper() in NUMBERS and ch:
                    raise self.error(f"criterion letters are upper case: {ch.upper()!r}, not {ch!r}")
                raise self.error(f"expected a criterion letter A-E, found {self.describe()}")
            if ch in seen_letters:
                hint = f"; join its numbers with '+' as in {_JOINED[ch]!r}" if NUMBERS[ch] else ""
                raise self.error(f"criterion {ch} is cited twice{hint}")
            seen_letters[ch] = start
            self.i += 1
            items.extend(self.criterion(ch))
            if self.at_end():
                break
            if self.peek() == ";":
                self.i += 1
                self.spaces()
                if self.at_end():
                    raise self.error("expected a criterion after ';'")
                continue
            ch = self.peek()
            if ch in NUMBERS:
                raise self.error(f"separate criteria with '; ' (found {ch!r} directly after the previous criterion)")
            if ch == ",":
                raise self.error("separate criteria with ';', not ','")
            if ch == " ":
                raise self.error("unexpected space (spaces are allowed only after ';' and ',')")
            if ch.isdigit():
                raise self.error("join further numbers of a criterion with '+' (e.g. 'A2bd+3d')")
            raise self.error(f"unexpected {self.describe()}")
        return Criteria(self.text, tuple(items))

    def number(self, letter: str) -> int | None:
        start = self.i
        digits = ""
        while self.peek().isdigit():
            digits += self.peek()
            self.i += 1
        if not digits:
            if NUMBER_REQUIRED[letter]:
                allowed = "-".join(str(n) for n in (NUMBERS[letter][0], NUMBERS[letter][-1]))
                raise self.error(f"criterion {letter} needs a number ({allowed}), found {self.describe()}")
            return None
        n = int(digits)
        if not NUMBERS[letter]:
            raise self.error(f"criterion {letter} takes no number", start)
        if n not in NUMBERS[letter]:
            allowed = ", ".join(f"{letter}{k}" for k in NUMBERS[letter])
            raise self.error(f"there is no criterion {letter}{digits} (only {allowed})", start)
        return n

    def criterion(self, letter: str) -> list[Criterion]:
        out: list[Criterion] = []
        numbers: set[int | None] = set()
        while True:
            start = self.i - 1 if not out else self.i
            n_pos = self.i
            n = self.number(letter)
            if n in numbers:
                raise self.error(f"{letter}{n} is cited twice", n_pos)
            numbers.add(n)
            subs = self.subcriteria(letter, n)
            out.append(Criterion(letter, n, subs, start))
            if self.peek() != "+":
                return out
            plus = self.i
            self.i += 1
            if self.peek() == letter:
                raise self.error(f"do not repeat the letter {letter} after '+' (write {_JOINED[letter]!r})")
            if not self.peek().isdigit():
                if n is None:
                    raise self.error(f"'+' after {letter} must be followed by a number", plus)
                raise self.error(f"expected the next {letter} number after '+', found {self.describe()}")
            if n is None:
                raise self.error(f"{letter} without a number cannot be joined with '+'", plus)

    def subcriteria(self, letter: str, number: int | None) -> tuple[Subcriterion, ...]:
        spec = SUBCRITERIA[(letter, number)]
        code = letter + ("" if number is None else str(number))
        subs: list[Subcriterion] = []
        while self.peek().isalpha() and self.peek().islower():
            pos = self.i
            s = self.peek()
            if not spec:
                raise self.error(f"{code} takes no sub-criteria, found {s!r}")
            if s not in spec and s in "ivx" and any(spec[x.letter] for x in subs[-1:]):
                raise self.error("roman numerals go in parentheses: 'b(iii)', not 'biii'")
            if s not in spec:
                raise self.error(f"{code} has no sub-criterion {s!r} (only {', '.join(spec)})")
            if any(x.letter == s for x in subs):
                raise self.error(f"sub-criterion {s!r} is cited twice under {code}")
            self.i += 1
            numerals: tuple[str, ...] = ()
            if self.peek() == "(":
                if not spec[s]:
                    raise self.error(f"{code}{s} takes no roman numerals")
                numerals = self.romans(f"{code}{s}", spec[s])
            subs.append(Subcriterion(s, numerals, pos))
        if self.peek() == "(":
            raise self.error("roman numerals must follow a sub-criterion letter")
        if self.peek().isalpha() and self.peek().isupper() and self.peek() not in NUMBERS:
            raise self.error(f"unexpected {self.describe()}")
        return tuple(subs)

    def romans(self, where: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        open_pos = self.i
        self.i += 1  # "("
        out: list[str] = []
        while True:
            pos = self.i
            word = ""
            while self.peek() and self.peek() in "ivxIVX":
                word += self.peek()
                self.i += 1
            if not word:
                if self.at_end():
                    raise self.error("'(' is never closed", open_pos)
                raise self.error(f"expected a roman numeral ({', '.join(allowed)}), found {self.describe()}")
            if word != word.lower():
                raise self.error(f"roman numerals are lower case: {word.lower()!r}, not {word!r}", pos)
            if word not in allowed:
                raise self.error(f"{where} has no ({word}) (only {', '.join(allowed)})", pos)
            if word in out:
                raise self.error(f"({word}) is cited twice under {where}", pos)
            out.append(word)
            if self.peek() == ",":
                self.i += 1
                self.spaces()
                continue
            if self.peek() == ")":
                self.i += 1
                return tuple(out)
            if self.at_end():
                raise self.error("'(' is never closed", open_pos)
            raise self.error(f"expected ',' or ')' in the roman numerals, found {self.describe()}")


def parse_criteria(text: str) -> Criteria:
    """Parse a v3.1 criteria string; raise :class:`CriteriaSyntaxError` (with a position) if bad.

    >>> str(parse_criteria("B1ab(iii,v)+2ab(iii,v)").items[1])
    'B2ab(iii,v)'
    """
    if text is None:
        raise TypeError("criteria text is None")
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    try:
        return _Parser(stripped).parse()
    except CriteriaSyntaxError as e:  # report the position in the text as given
        raise CriteriaSyntaxError(text, e.position + lead, e.message) from None


@lru_cache(maxsize=65536)
def try_parse(text: str) -> Criteria | CriteriaSyntaxError:
    """:func:`parse_criteria` that returns the error instead of raising it (cached per string)."""
    try:
        return parse_criteria(text)
    except CriteriaSyntaxError as e:
        return e


def is_v31(version: str | None, category: str | None = None) -> bool:
    """Whether a criteria string is to be read with the v3.1 grammar.

    ``version`` "3.1" -> yes; "2.3", "2.2", "1994", ... -> no; missing version -> yes unless the
    category is a legacy one (LR/...).
    """
    v = (version or "").strip()
    if v:
        return v == "3.1"
    return not (category or "").upper().startswith("LR")


def coherence(criteria: str | None, category: str | None, *, allow_nt_criteria: bool = False) -> list[str]:
    """Problems between a v3.1 criteria string and its category (codes: "CR", "VU", "LC", ...).

    Syntax errors are not repeated here (they come from :func:`parse_criteria`); when the string
    does not parse only the "criteria present/absent" rules are applied.
    """
    out: list[str] = []
    text = (criteria or "").strip()
    cat = (category or "").strip()
    if not text:
        if cat in CATEGORIES_WITH_CRITERIA:
            out.append(f"{cat} needs the criteria it meets, but none are given")
        return out
    if cat in CATEGORIES_WITHOUT_CRITERIA:
        if cat in ("EX", "EW", "RE"):
            out.append(f"{cat} is not assigned by criteria A-E, but criteria {text!r} are given")
        else:
            out.append(f"{cat} takes no criteria, but {text!r} is given")
    elif cat == "NT" and not allow_nt_criteria:
        out.append(f"NT takes no criteria, but {text!r} is given (if these are the criteria 'nearly met', say so in the rationale)")
    parsed = try_parse(text)
    if isinstance(parsed, CriteriaSyntaxError):
        return out
    if cat in ("CR", "EN"):
        for c in parsed.items:
            if c.letter == "D" and c.number in (1, 2):
                which = "VU D1 (<1,000 mature individuals)" if c.number == 1 else "VU D2 (very restricted AOO or number of locations)"
                out.append(f"D{c.number} exists only as {which}, not for {cat} (CR and EN cite plain D)")
    if cat in CATEGORIES_WITH_CRITERIA or (cat == "NT" and allow_nt_criteria):
        out.extend(parsed.problems())
    return out


_LEGACY_OK = re.compile(r"^[A-E][A-E0-9a-e(),;+ iv]*$")


def legacy_problems(criteria: str | None) -> list[str]:
    """A light check for pre-3.1 criteria strings (v2.3 ``B1+2c``, ``A1ac``): characters only."""
    text = (criteria or "").strip()
    if not text or _LEGACY_OK.match(text):
        return []
    bad = next((i for i, ch in enumerate(text) if not re.match(r"[A-E0-9a-e(),;+ iv]", ch)), 0)
    if not re.match(r"[A-E]", text[0]):
        bad = 0
    return [f"unexpected {text[bad]!r} at position {bad + 1} of a pre-3.1 criteria string {text!r}"]
