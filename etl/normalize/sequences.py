"""Protein sequence normalization: one function per rule, composed by `normalize_sequence`.

The checks run on the sequence as the record gives it (after dropping layout
characters), so that the declared length and CRC64 are compared with what the
source wrote, before any ambiguous residue is replaced.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from Bio.SeqUtils.CheckSum import crc64
from pydantic import BaseModel, ConfigDict, Field

from etl.quality.rejects import Rejected

STANDARD_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWY")
RARE_RESIDUES = frozenset("UO")  # selenocysteine, pyrrolysine: real residues, kept
AMBIGUOUS_RESIDUES = frozenset("BZJX")
_LAYOUT = re.compile(r"[\s\d]+")


class SequencePolicy(BaseModel):
    """What to do with a sequence; the `sequence:` section of a pipeline config."""

    model_config = ConfigDict(extra="forbid")


    ambiguous: Literal["keep", "replace", "reject"] = Field(
        "keep", description="B, Z, J, X: keep as is, replace by `replace_with`, or reject the entry")
    replace_with: str = Field("X", min_length=1, max_length=1)
    check_length: bool = Field(True, description="compare with the length the ID/SQ line declares")
    check_crc64: bool = Field(True, description="recompute the CRC64 and compare with the SQ line's")
    min_length: int = Field(1, ge=1)
    max_length: int | None = Field(None, ge=1, description="longer sequences are rejected; none: no bound")


@dataclass(frozen=True)
class NormalizedSequence:
    sequence: str
    sha256: str
    length: int


def strip_layout(raw: str | None) -> str:
    """Uppercase; drop the whitespace and position numbers of a sequence block."""
    return _LAYOUT.sub("", raw or "").upper()


def check_not_empty(sequence: str) -> None:
    if not sequence:
        raise Rejected("empty_sequence", "no residues")


def check_declared_length(sequence: str, declared: int | None) -> None:
    if declared is not None and declared > 0 and len(sequence) != declared:
        raise Rejected("length_mismatch", f"{len(sequence)} residues, record declares {declared}")


def check_crc64(sequence: str, declared: str | None) -> None:
    """UniProt's SQ line / checksum attribute: CRC64 (ISO polynomial) as 16 hex digits."""
    if not declared or set(declared) == {"0"}:  # "0": placeholder in test XML, not a checksum
        return
    computed = crc64(sequence).removeprefix("CRC-")
    if computed.upper() != declared.upper():
        raise Rejected("crc64_mismatch", f"computed {computed}, record declares {declared}")


def check_alphabet(sequence: str, policy: SequencePolicy) -> str:
    """Reject unknown characters; keep, replace or reject the ambiguous codes per policy."""
    invalid = set(sequence) - STANDARD_RESIDUES - RARE_RESIDUES - AMBIGUOUS_RESIDUES
    if invalid:
        raise Rejected("invalid_residue", f"characters {''.join(sorted(invalid))!r}")
    ambiguous = set(sequence) & AMBIGUOUS_RESIDUES
    if not ambiguous or policy.ambiguous == "keep":
        return sequence
    if policy.ambiguous == "reject":
        raise Rejected("ambiguous_residue", f"holds {''.join(sorted(ambiguous))}")
    return "".join(policy.replace_with if r in AMBIGUOUS_RESIDUES else r for r in sequence)


def check_length_bounds(sequence: str, policy: SequencePolicy) -> None:
    if len(sequence) < policy.min_length:
        raise Rejected("sequence_too_short", f"{len(sequence)} < {policy.min_length}")
    if policy.max_length is not None and len(sequence) > policy.max_length:
        raise Rejected("sequence_too_long", f"{len(sequence)} > {policy.max_length}")


def sequence_sha256(sequence: str) -> str:
    """Content key of a normalized sequence: identical sequences share it across entries and releases."""
    return hashlib.sha256(sequence.encode("ascii")).hexdigest()


def normalize_sequence(raw: str | None, declared_length: int | None, declared_crc64: str | None,
                       policy: SequencePolicy) -> NormalizedSequence:
    sequence = strip_layout(raw)
    check_not_empty(sequence)
    if policy.check_length:
        check_declared_length(sequence, declared_length)
    if policy.check_crc64:
        check_crc64(sequence, declared_crc64)
    sequence = check_alphabet(sequence, policy)
    check_length_bounds(sequence, policy)
    return NormalizedSequence(sequence=sequence, sha256=sequence_sha256(sequence), length=len(sequence))
