"""Reject reason codes, and `Rejected`: what a per-record function raises for a record it cannot use.

Nothing is dropped silently: a per-record function either returns its result or
raises `Rejected(reason, detail)`; the stage turns that into a row of the
`rejects` table (schemas/rejects.yaml).
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # parsing
    "parse_error": "the record could not be parsed in its detected format",
    "unsupported_legacy_format": "a pre-2006 UniProt flat-file record (STANDARD/PRELIMINARY ID line) that current parsers reject",
    "unknown_format": "the file's content matches none of the supported formats",
    "truncated_input": "the file ended in the middle of a record (truncated download or gzip stream)",
    "missing_accession": "the record has no primary accession / identifier",
    "not_utf8": "the record holds bytes that are not UTF-8 (the detail gives their offset); never released with replacement characters",
    "unreadable_remainder": "the file's syntax breaks where its format cannot resume: the rest of the file (byte range in the detail) was not read, and records in it may be missing",
    "no_records": "the file was read to its end and holds no record of its format",
    "invalid_cid": "the record's PubChem CID is missing or not a positive integer",
    "empty_smiles": "the structure record has no SMILES and no usable molblock",
    "empty_description": "the description record holds no text",
    "not_a_description": "a Record Description item that is PubChem navigation ('See also: ...'), not a description",
    # sequences
    "empty_sequence": "the record has no sequence",
    "invalid_residue": "the sequence holds a character outside the allowed alphabet",
    "ambiguous_residue": "the sequence holds B, Z, J or X and the config rejects ambiguous residues",
    "length_mismatch": "the sequence length differs from the length the record declares",
    "crc64_mismatch": "the sequence's CRC64 differs from the checksum the record declares",
    "sequence_too_short": "the sequence is shorter than the configured minimum",
    "sequence_too_long": "the sequence is longer than the configured maximum",
    # selection
    "duplicate_accession": "another record with the same accession was kept (higher entry version, or earlier input)",
    "not_reviewed": "the entry is unreviewed (TrEMBL) and the config keeps Swiss-Prot entries only",
    "no_qa_fields": "the entry has none of the fields the QA templates ask about",
    "homology_conflict": "the protein was left out of every split so that no two splits share homologous proteins (it bridged proteins the partition had to keep apart)",
    "pinned_conflict": "the entity must share a split with entities (its sequence, its scaffold) that an earlier release put in different splits",
    "similarity_conflict": "the molecule was left out of every split so that no two splits share molecules at or above the Tanimoto threshold (split.max_tanimoto; it bridged molecules the partition had to keep apart)",
    "excluded": "an exclusion list of the config (split.exclude, action remove) names the entity; the detail names the list",
    # molecules
    "smiles_parse_error": "RDKit could not parse the SMILES",
    "sanitization_error": "RDKit could not sanitize the molecule",
    "standardization_error": "the ChEMBL structure pipeline failed on the molecule",
    "no_structure_for_cid": "a description's CID has no structure in the inputs",
    "no_description_for_cid": "a structure's CID has no description in the inputs",
    "element_not_allowed": "the molecule holds an element outside the allowed set",
    "too_many_heavy_atoms": "the molecule has more heavy atoms than the configured maximum",
    "too_few_heavy_atoms": "the molecule has fewer heavy atoms than the configured minimum",
    "not_graph_encodable": "the molecule cannot be turned into a graph for the GIN encoder",
    "tautomer_timeout": "tautomer canonicalization exceeded its time limit",
    "inchi_error": "no InChIKey could be computed for the normalized molecule",
    "description_too_short": "the cleaned description has fewer words than the configured minimum",
    "description_too_long": "the cleaned description has more words than the configured maximum",
    "duplicate_description": "an identical description of the same CID was kept once",
    "duplicate_structure": "another structure of the same CID was kept (the richest source, then the earlier input)",
    "duplicate_title": "another title of the same CID was kept (the earlier input)",
}


class Rejected(Exception):
    """Raised by a per-record function: this record goes to rejects with `reason`."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown reject reason {reason!r}; add it to etl.quality.rejects.REASONS")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
