"""UniProt answer text: cleaning and the readable answers the QA templates use.

The science stays: only annotation machinery goes (evidence tags, literature
citations, confidence qualifiers, as the config says) and layout is tidied.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

_EVIDENCE = re.compile(r"\s*\{ECO:[^{}]*\}")
_CITATION = re.compile(r"\s*\((?:\s*(?:PubMed:\d+|Ref\.\d+|DOI:[^,()\s]+)\s*,?)+\)")
_QUALIFIER = re.compile(r"\s*\((?:By similarity|Probable|Potential)\)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:])")
_REPEATED_PERIOD = re.compile(r"\.(\s*\.)+")
_WHITESPACE = re.compile(r"\s+")
_BRACKETED_MOLECULE = re.compile(r"\[([^\]]+)\]: ")
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")


class TextPolicy(BaseModel):
    """How answers are cleaned and rendered; the `text:` section of a pipeline config."""

    model_config = ConfigDict(extra="forbid")


    strip_citations: bool = Field(True, description="drop (PubMed:123, Ref.4) citation brackets")
    strip_qualifiers: bool = Field(True, description="drop (By similarity), (Probable), (Potential)")
    location_topology: bool = Field(False, description="add membrane topology/orientation to locations")
    location_notes: bool = Field(False, description="append the SUBCELLULAR LOCATION note")
    include_short_names: bool = Field(False, description="add the recommended short names to the names answer")
    use_submitted_names: bool = Field(True, description="TrEMBL entries without RecName: answer with SubName")


def remove_evidence_tags(text: str) -> str:
    return _EVIDENCE.sub("", text)


def remove_citations(text: str) -> str:
    return _CITATION.sub("", text)


def remove_qualifiers(text: str) -> str:
    return _QUALIFIER.sub("", text)


def tidy_whitespace(text: str) -> str:
    text = _WHITESPACE.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _REPEATED_PERIOD.sub(".", text)


def clean_text(text: str | None, policy: TextPolicy) -> str | None:
    if not text:
        return None
    text = remove_evidence_tags(text)
    if policy.strip_citations:
        text = remove_citations(text)
    if policy.strip_qualifiers:
        text = remove_qualifiers(text)
    return tidy_whitespace(text) or None


def function_answer(entry: dict, policy: TextPolicy) -> str | None:
    return clean_text(entry.get("function"), policy)


def family_answer(entry: dict, policy: TextPolicy) -> str | None:
    """UniProt's own sentence, e.g. `Belongs to the endoribonuclease YbeY family.`

    Older entries also list domains under SIMILARITY (`Contains 1 SH2 domain.`);
    those say what the protein contains, not its family, and are left out."""
    text = clean_text(entry.get("family"), policy)
    if not text:
        return None
    kept = [s for s in _SENTENCE_END.split(text) if s and not s.startswith("Contains ")]
    return " ".join(kept) or None


def names_answer(entry: dict, policy: TextPolicy) -> str | None:
    """The recommended full name, then the alternative names, `; `-separated, each once."""
    names = [entry.get("recommended_name_full")]
    if policy.include_short_names:
        names += entry.get("recommended_name_short") or []
    names += entry.get("alternative_names") or []
    if not entry.get("recommended_name_full") and policy.use_submitted_names:
        names += entry.get("submitted_names") or []
    unique = list(dict.fromkeys(clean_text(n, policy) for n in names if n))
    return "; ".join(n for n in unique if n) or None


def location_answer(entry: dict, policy: TextPolicy) -> str | None:
    """Locations, grouped by molecule (isoform/chain) in the order the entry gives them.

    `Cytoplasm; Nucleus.` or `Isoform 1: Nucleus; Cytoplasm. Isoform 2: Secreted.`"""
    groups: dict[str | None, list[str]] = {}
    for item in entry.get("subcellular_locations") or []:
        name = item.get("location")
        if not name:
            continue
        if policy.location_topology:
            extras = [x for x in (item.get("topology"), item.get("orientation")) if x]
            name = f"{name} ({', '.join(extras)})" if extras else name
        names = groups.setdefault(item.get("molecule"), [])
        if name not in names:
            names.append(name)
    sentences = [f"{molecule}: " * bool(molecule) + "; ".join(names) + "." for molecule, names in groups.items()]
    if policy.location_notes and entry.get("subcellular_location_note"):
        sentences.append(_BRACKETED_MOLECULE.sub(r"\1: ", entry["subcellular_location_note"]))
    return clean_text(" ".join(sentences), policy)
