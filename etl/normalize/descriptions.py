"""PubChem descriptions -> PubChemQA answers: markup stripped, the compound's names masked.

`clean_description(text, names, policy)` strips HTML tags and entities, drops T3DB-style
citation codes, collapses whitespace, replaces the compound's names by "this molecule"
/ "the molecule", and enforces the word-count bounds.

The masking rule:
- a name matches case-insensitively, as a whole chemical token or phrase: not when
  the text continues it with a letter, digit, hyphen, prime or opening bracket
  ("benzene" is left alone in "benzenesulfonic acid", "hexachlorobenzene",
  "1,3-benzenediol", "benzene-based", "benzenes"), nor when a bracket before it
  belongs to a longer name ("bis(2-chloroethyl)ether" keeps its "ether");
- longer names win over shorter ones at the same place ("ethylene glycol (ingested)"
  before "ethylene glycol"), and names are regex-escaped, so "1,2-dichloro(...)" is text;
- a mention followed by a word that makes it another compound or a part of one
  ("triethylamine hydrochloride", "benzene ring", "ethylene glycol monomethyl ether")
  is left as it is;
- the first masked mention becomes "this molecule", later ones "the molecule"; a
  "the"/"this" in front of the name is absorbed ("to the benzene" -> "to the molecule");
- the replacement is capitalized at the start of the text, and after a sentence end
  unless the writer kept the name lower-case there ("e.g. benzene" is no sentence start).
So "Benzene appears as a clear liquid. Benzene is ..." reads "This molecule appears
as a clear liquid. The molecule is ...".
"""

from __future__ import annotations

import html
import re

from pydantic import BaseModel, ConfigDict, Field

from etl.quality.rejects import Rejected

# Words that, right after a name, make the phrase name another compound (salts,
# derivatives) or a part of a molecule rather than the molecule itself.
DEFAULT_NAME_CONTINUATIONS = frozenset({
    "acid", "acids", "ester", "esters", "ether", "ethers", "oxide", "oxides", "salt", "salts",
    "hydrochloride", "hydrobromide", "hydroiodide", "hydrate", "monohydrate", "dihydrate",
    "sulfate", "sulfonate", "phosphate", "acetate", "nitrate", "maleate", "citrate", "tartrate",
    "mesylate", "tosylate", "chloride", "bromide", "iodide", "sodium", "potassium", "calcium",
    "monomethyl", "monoethyl", "monobutyl", "dimethyl", "diethyl", "diacetate", "dinitrate",
    "derivative", "derivatives", "analog", "analogs", "analogue", "analogues", "polymer",
    "copolymer", "ring", "rings", "moiety", "moieties", "group", "groups", "unit", "units",
    "core", "residue", "residues", "substituent",
})

# Block-level tags separate words; inline ones (<i>, <sub>) sit inside a word ("H<sub>2</sub>O").
_BLOCK_TAG = re.compile(r"</?(?:br|p|div|li|ul|ol|tr|td|table|h[1-6])\b[^<>]*>", re.I)
_INLINE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*\b[^<>]*>")
# Reference codes of T3DB ("(A7669)", "(L1023)", "(A7669, A7670)") and NCIt ("(NCI05)").
# Narrow on purpose: "(B12)" or "(IL10)" in a text are content, not citations.
_CITATION = r"(?:[A-Z]\d{3,5}|NCI\d{2})"
_CITATION_CODE = re.compile(rf"\s*\({_CITATION}(?:\s*,\s*{_CITATION})*\)")
_STRAY_PERIOD = re.compile(r"(?<=[.!?])\s*\.(?=\s|$)")
_WHITESPACE = re.compile(r"\s+")
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+[\"'“‘(\[]*$")

# A name starts a token: at the start, after whitespace, a quote or a slash, or after
# an opening bracket that itself starts a token ("(benzene" but not "bis(benzene").
_NAME_START = r"(?<![^\s\"'“‘/(\[])(?<![^\s\"'“‘/][(\[])"
# A name ends a token unless the text goes on with a name character; "'s" is allowed.
_NAME_END = r"(?=['’]s\b|(?![\w\-+'’′(\[{]))"
_DETERMINER = r"(?:(?P<determiner>the|this)\s+)?"


class DescriptionPolicy(BaseModel):
    """How descriptions become answers; the `descriptions:` config section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Below 5 words a "description" is a fragment ("possible industrial pollutant;
    # structure"); the shortest real ones ("X has been reported in Y with data
    # available.") have 9 or more.
    min_words: int = Field(5, ge=0)
    # The longest real descriptions here have ~150 words (EPA, NCIt, ChEBI); 512 words
    # (~700 tokens) leaves room for the question and up to 150 atom tokens in a
    # 2,048-token context and only drops monograph-length texts.
    max_words: int = Field(512, ge=1)
    mask_names: bool = True
    first_mention: str = "This molecule"
    later_mention: str = "The molecule"
    # Names shorter than this (element symbols, two-letter codes such as "EG") collide
    # with ordinary tokens and abbreviations.
    min_name_chars: int = Field(3, ge=1)
    strip_citation_codes: bool = True
    name_continuations: frozenset[str] = DEFAULT_NAME_CONTINUATIONS


def strip_markup(text: str) -> str:
    """Text without HTML tags and with entities decoded."""
    text = _BLOCK_TAG.sub(" ", text)
    text = _INLINE_TAG.sub("", text)
    return html.unescape(text)


def strip_citation_codes(text: str) -> str:
    # A code standing as its own sentence ("change). (A7669). It") leaves a second period.
    return _STRAY_PERIOD.sub("", _CITATION_CODE.sub("", text))


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def usable_names(names: list[str], min_chars: int) -> list[str]:
    """Distinct (case-insensitively) names of at least `min_chars` characters, longest first."""
    unique: dict[str, str] = {}
    for name in names:
        name = collapse_whitespace(name or "")
        if len(name) >= min_chars:
            unique.setdefault(name.casefold(), name)
    return sorted(unique.values(), key=lambda name: (-len(name), name.casefold()))


def name_pattern(names: list[str]) -> re.Pattern | None:
    """One regex for all names, longest first, each escaped and matched as whole tokens.

    Whitespace inside a name matches any whitespace run, so line breaks in the text
    do not hide a mention.
    """
    if not names:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, name.split())) for name in names)
    return re.compile(f"{_NAME_START}{_DETERMINER}(?P<name>{alternatives}){_NAME_END}", re.I)


def starts_sentence(text: str, position: int, mention: str) -> bool:
    """Whether the mention at `position` begins a sentence of `text`."""
    before = text[:position]
    if not before.strip(" \"'“‘([\t\n"):
        return True
    # After a sentence end, a mention the writer kept lower-case ("e.g. benzene")
    # was not read as a sentence start.
    return bool(_SENTENCE_END.search(before)) and not mention[0].islower()


def mask_names(text: str, names: list[str], policy: DescriptionPolicy) -> str:
    """Replace the compound's names by the first/later mention phrases (see module doc)."""
    pattern = name_pattern(usable_names(names, policy.min_name_chars))
    if pattern is None:
        return text
    masked = 0

    def replace(match: re.Match) -> str:
        nonlocal masked
        following = _NEXT_WORD.match(text, match.end())
        if following and following.group(1).lower() in policy.name_continuations:
            return match.group(0)
        phrase = policy.first_mention if masked == 0 else policy.later_mention
        masked += 1
        if starts_sentence(text, match.start(), match.group(0)):
            return phrase[0].upper() + phrase[1:]
        return phrase[0].lower() + phrase[1:]

    return pattern.sub(replace, text)


def check_word_bounds(text: str, policy: DescriptionPolicy) -> None:
    words = len(text.split())
    if words < policy.min_words:
        raise Rejected("description_too_short", f"{words} words < {policy.min_words}")
    if words > policy.max_words:
        raise Rejected("description_too_long", f"{words} words > {policy.max_words}")


def clean_description(text: str, names: list[str], policy: DescriptionPolicy | None = None) -> str:
    """The answer text of one description; Rejected when it falls outside the word bounds."""
    policy = policy or DescriptionPolicy()
    text = strip_markup(text or "")
    if policy.strip_citation_codes:
        text = strip_citation_codes(text)
    text = collapse_whitespace(text)
    if policy.mask_names:
        text = mask_names(text, names, policy)
    check_word_bounds(text, policy)
    return text
