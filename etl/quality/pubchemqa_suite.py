"""PubChemQA's own rules, beside the ones its schema gives (etl/quality/schema_suite.py).

The structure rules recompute with RDKit what the build stored: a SMILES that does not
parse, one that is not RDKit's canonical form of itself, an InChIKey that is not the
molecule's. The name rule masks each released answer again with the compound's titles
(etl/normalize/descriptions.py): an answer the build masked comes back unchanged, one
with a title left in it does not. Titles are not in the release (the name is masked
on purpose), so they are read back from the inputs the manifest lists.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import great_expectations.expectations as gxe

from etl.normalize.descriptions import mask_names
from etl.quality.expectations import ReleaseContext, ReleaseExpectation, derived, null_rule, offending, rule
from etl.split import keyed_group

INCHIKEY = r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$"
# Formats whose records carry no title (etl/parse/pubchem.py): not read for titles. The bulk
# CID-SMILES file is the largest input a build takes, and reading it would find none.
UNTITLED_FORMATS = ("cid_smiles", "chebi20_tsv")


@lru_cache(maxsize=65_536)
def recomputed(smiles: str) -> tuple[str | None, str | None]:
    """(canonical SMILES, InChIKey) RDKit gives for `smiles`; (None, None) when it does not parse.
    Cached: three rules ask about the same SMILES in the same batch."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # a broken SMILES is reported as a result, not logged
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        return None, None
    return Chem.MolToSmiles(mol), Chem.MolToInchiKey(mol) or None


def recomputed_column(frame, index: int):
    return frame["smiles"].map(lambda s: recomputed(s)[index])


@derived("unparseable_smiles")
def unparseable_smiles(frame, context: ReleaseContext):
    """The SMILES RDKit cannot parse."""
    canonical = recomputed_column(frame, 0)
    return offending(frame, canonical.isna() & frame["smiles"].notna(), frame["smiles"])


@derived("non_canonical_smiles")
def non_canonical_smiles(frame, context: ReleaseContext):
    """'stored -> canonical' where RDKit's canonical SMILES of the stored one differs from it."""
    canonical = recomputed_column(frame, 0)
    return offending(frame, canonical.notna() & (canonical != frame["smiles"]),
                     frame["smiles"].astype(str) + " -> " + canonical.astype(str))


@derived("inchikey_mismatch")
def inchikey_mismatch(frame, context: ReleaseContext):
    """'CID: stored != recomputed' where the InChIKey is not the one of the SMILES."""
    key = recomputed_column(frame, 1)
    return offending(frame, key.notna() & (key != frame["inchikey"]),
                     frame["cid"].astype(str) + ": " + frame["inchikey"].astype(str) + " != " + key.astype(str))


@derived("answer_words")
def answer_words(frame, context: ReleaseContext):
    """Words of the answer, counted as the build's word bounds count them (whitespace-separated)."""
    return frame["answer"].map(lambda text: len(text.split()) if isinstance(text, str) else None)


@derived("row_without_source")
def row_without_source(frame, context: ReleaseContext):
    """The CID of a row that names neither a depositor nor a licence URL."""
    return offending(frame, frame["source_name"].isna() & frame["license_url"].isna(), frame["cid"])


@derived("unmasked_compound_name")
def unmasked_compound_name(frame, context: ReleaseContext):
    """'CID: title' where masking the answer again with the CID's titles changes it."""
    titles, policy = compound_titles(context), context.config.descriptions
    found = [next((t for t in titles.get(cid, ()) if mask_names(answer, [t], policy) != answer), None)
             if isinstance(answer, str) else None
             for cid, answer in zip(frame["cid"], frame["answer"])]
    return offending(frame, [f is not None for f in found],
                     [f"{cid}: {title}" for cid, title in zip(frame["cid"], found)])


@derived("split_group")
def split_group(frame, context: ReleaseContext):
    """What the split assigned as one (etl.split.keyed_group): the scaffold group, or the group_by key
    of an acyclic molecule or of a hash split; null for a molecule RDKit cannot read (reported apart)."""
    policy = context.config.split
    return [group_of({"inchikey": k, "smiles": s, "cid": c}, policy)
            for k, s, c in zip(frame["inchikey"], frame["smiles"], frame["cid"])]


def group_of(row: dict, policy) -> str | None:
    try:
        return keyed_group(row, policy)
    except (ValueError, AttributeError):  # unparseable SMILES, null InChIKey: their own rules report them
        return None


def compound_titles(context: ReleaseContext) -> dict[int, set[str]]:
    """{CID: titles} from the title and structure records of the manifest's inputs, for the released
    CIDs; read once per validation. An input that is gone is skipped (`titles_readable` warns)."""
    if "titles" not in context.lookups:
        context.lookups["titles"] = read_titles(context)
    return context.lookups["titles"]


def read_titles(context: ReleaseContext) -> dict[int, set[str]]:
    import pyarrow.parquet as pq

    from etl.parse.pubchem import iter_pubchem_records
    from etl.pipeline.streams import open_content

    released = set()
    for path in sorted((context.root / "data").glob("*.parquet")):
        released.update(pq.read_table(path, columns=["cid"]).column("cid").to_pylist())
    titles: dict[int, set[str]] = {}
    for entry in context.manifest.get("inputs", []):
        if entry.get("format") in (None, "unknown", *UNTITLED_FORMATS):
            continue  # no titles in it, or the build could not read it either
        if not input_exists(entry["path"]):
            context.lookups.setdefault("missing_inputs", []).append(entry["path"])
            continue
        with open_content(entry["path"], entry.get("compressed", False)) as stream:
            for record in iter_pubchem_records(stream, entry["path"], entry["format"]):
                if record.get("kind") in ("title", "structure") and record.get("title") and record["cid"] in released:
                    titles.setdefault(record["cid"], set()).add(record["title"])
    return titles


def input_exists(path: str) -> bool:
    return "://" in path and not path.startswith("file://") or Path(path.removeprefix("file://")).exists()


class ExpectInputsToBeReadable(ReleaseExpectation):
    """Every input the manifest lists can be read here: the name rule reads the titles from them."""

    success_keys = ()

    def start(self, context):
        return InputsReadable(context)


class InputsReadable:
    def __init__(self, context: ReleaseContext):
        self.context = context

    def update(self, frame):
        pass  # nothing per batch: the inputs are read once, by compound_titles

    def finish(self, rescan):
        compound_titles(self.context)
        missing = self.context.lookups.get("missing_inputs", [])
        return not missing, {"observed_value": f"{len(missing)} input(s) missing", "details": {"missing": missing}}


def data_expectations(context: ReleaseContext) -> list:
    config = context.config
    words = config.descriptions
    expectations = [
        null_rule("unparseable_smiles", "error", "smiles parses with RDKit"),
        null_rule("non_canonical_smiles", "error", "smiles is RDKit's canonical SMILES of itself (round trip)"),
        rule(gxe.ExpectColumnValuesToMatchRegex, "inchikey_shape", "error", "inchikey has the InChIKey shape",
             column="inchikey", regex=INCHIKEY),
        null_rule("inchikey_mismatch", "error", "inchikey is the InChIKey recomputed from smiles"),
        rule(gxe.ExpectColumnValuesToBeInSet, "question_in_config", "error", "question is the config's question",
             column="question", value_set=[config.question]),
        rule(gxe.ExpectColumnValuesToBeBetween, "answer_word_count", "error",
             f"answers hold {words.min_words} to {words.max_words} words (descriptions.min_words/max_words)",
             column="answer_words", min_value=words.min_words, max_value=words.max_words),
        null_rule("row_without_source", "error", "every row names its depositor or a licence URL"),
    ]
    if words.mask_names:
        expectations += [null_rule("unmasked_compound_name", "error",
                                   "no compound title left in an answer as a whole word"),
                         rule(ExpectInputsToBeReadable, "titles_readable", "warn",
                              "the inputs the manifest lists are readable, so the name rule saw every title")]
    return expectations


def split_groups(context: ReleaseContext) -> list[str]:
    return ["split_group"]
