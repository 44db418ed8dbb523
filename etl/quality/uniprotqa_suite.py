"""UniProtQA's own rules, beside the ones its schema gives (etl/quality/schema_suite.py)."""

from __future__ import annotations

import hashlib

import great_expectations.expectations as gxe

from etl.normalize.sequences import AMBIGUOUS_RESIDUES, RARE_RESIDUES, STANDARD_RESIDUES, SequencePolicy
from etl.quality.expectations import ReleaseContext, derived, null_rule, offending, rule
from etl.schema import table

# UniProtKB accession format (https://www.uniprot.org/help/accession_numbers), with an isoform suffix.
ACCESSION = r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?$"
# Answers are whole sentences of UniProt annotation; the longest CC FUNCTION texts run to a
# few thousand characters, so 20,000 means something broke (a record's text run together).
ANSWER_CHARS = (1, 20_000)


def alphabet(policy: SequencePolicy) -> str:
    """The residues a normalized sequence may hold under `policy` (etl/normalize/sequences.py)."""
    allowed = set(STANDARD_RESIDUES | RARE_RESIDUES)
    if policy.ambiguous == "keep":
        allowed |= AMBIGUOUS_RESIDUES
    elif policy.ambiguous == "replace":
        allowed.add(policy.replace_with)
    return "".join(sorted(allowed))


def leftover_patterns(text_policy) -> list[str]:
    """What the config's text cleaning removes, and so no answer may hold."""
    patterns = [r"\{ECO:"]
    if text_policy.strip_citations:
        patterns.append(r"PubMed:")
    if text_policy.strip_qualifiers:
        patterns.append(r"\(By similarity\)")
    return patterns


@derived("sha256_mismatch")
def sha256_mismatch(frame, context: ReleaseContext):
    """'ACCESSION: stored != computed' where sequence_sha256 is not the sha256 of the sequence."""
    computed = frame["sequence"].map(lambda s: hashlib.sha256(s.encode()).hexdigest() if isinstance(s, str) else None)
    return offending(frame, computed != frame["sequence_sha256"],
                     frame["accession"].astype(str) + ": " + frame["sequence_sha256"].astype(str) + " != "
                     + computed.astype(str))


@derived("isoform_entry")
def isoform_entry(frame, context: ReleaseContext):
    """The entry an accession belongs to (P12345-2 -> P12345): a homology split keeps isoforms together."""
    return frame["accession"].astype(str).str.split("-", n=1).str[0]


def data_expectations(context: ReleaseContext) -> list:
    config = context.config
    questions = sorted({t.question for t in config.templates})
    return [
        rule(gxe.ExpectColumnValuesToMatchRegex, "accession_format", "error",
             "accession is a UniProtKB accession (isoform suffix allowed)", column="accession", regex=ACCESSION),
        rule(gxe.ExpectColumnValuesToMatchRegex, "sequence_alphabet", "error",
             "sequence holds only the residues the config's sequence policy allows", column="sequence",
             regex=f"^[{alphabet(config.sequence)}]+$"),
        null_rule("sha256_mismatch", "error", "sequence_sha256 is the sha256 of sequence"),
        rule(gxe.ExpectColumnValuesToBeInSet, "question_in_templates", "error",
             "question is one of the config's templates", column="question", value_set=questions),
        rule(gxe.ExpectColumnValuesToNotMatchRegexList, "no_evidence_tags", "error",
             "no evidence tag, citation or (when the config strips them) qualifier left in an answer",
             column="answer", regex_list=leftover_patterns(config.text)),
        rule(gxe.ExpectColumnValueLengthsToBeBetween, "answer_length", "warn",
             f"answers hold {ANSWER_CHARS[0]} to {ANSWER_CHARS[1]} characters", column="answer",
             min_value=ANSWER_CHARS[0], max_value=ANSWER_CHARS[1]),
    ]


def split_groups(context: ReleaseContext) -> list[str]:
    """Columns (or derived columns) whose every value lies in one split: identical sequences always;
    isoforms of an entry under a homology split; the hash split's own key when it is a gold column."""
    policy = context.config.split
    if policy.strategy == "homology":
        return ["sequence_sha256", "isoform_entry"]
    return sorted({"sequence_sha256", policy.group_by} & set(table(context.dataset.gold_table).names))
