"""PubChemQA: PubChem files -> bronze records -> normalized molecules joined to their
descriptions on CID -> gold QA pairs, every record accounted for.

The unit of accounting is the record `iter_pubchem_records` yields (a description, a
structure, a title, or an unreadable record). All kinds travel in one DataFrame, so
each stage's records in = records out + rejected, and the next stage reads what the
last one kept:

  parse      files -> pubchem_bronze (one row per yielded record, unreadable ones rejected)
  pair       structures and titles of CIDs that no description names are rejected
             (no_description_for_cid) before any RDKit work: a bulk CID-SMILES file holds
             ~120M compounds, of which about 1 in 300 has a description
  normalize  structures -> normalized molecules (MoleculePolicy) -> pubchem_molecules
  dedupe     one structure and one title per CID (duplicate_structure, duplicate_title),
             ranked among the structures that normalized: an unreadable copy never
             displaces a good one
  join       on CID: descriptions get their molecule and the CID's names; a description
             or title without a molecule is rejected, the detail saying whether the CID had
             no structure in the inputs or every one of them failed normalization
  clean      descriptions -> answers (DescriptionPolicy); identical answers of one CID kept
             once (duplicate_description)
  exclude    (when split.exclude has remove lists) descriptions of the molecules they name
             (by CID or InChIKey) -> rejects (excluded)
  split      (when split.max_tanimoto is set) molecules partitioned so that no two splits share
             a scaffold or a pair at that Tanimoto similarity; descriptions of the molecules
             the partition had to leave out -> rejects (similarity_conflict)
  qa         structures and titles whose CID kept no description are rejected; what is
             left is released: the QA pairs and the structures and titles they use
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from pydantic import Field

from etl.config import DatasetConfig, QualitySettings, ReleaseSettings, SparkSettings
from etl.normalize.descriptions import DescriptionPolicy, clean_description
from etl.normalize.molecules import MoleculeNormalizer, MoleculePolicy
from etl.parse.pubchem import LINE_FORMATS, detect_pubchem_format, iter_line_records, iter_pubchem_records
from etl.paths import SAMPLE_DIR
from etl.pipeline.chunks import NonBlankLine, chunk_of, read_chunk
from etl.pipeline.dataset import Dataset, Entity
from etl.pipeline.inputs import ResolvedInputs
from etl.pipeline.stages import (StageResult, all_rejects, finish_stage, origin_column, parse_stage_of,
                                 reject_duplicates, reject_rows_where)
from etl.pipeline.steps import FileStep, Step, accepted, apply_step, declared, origin_of
from etl.pipeline.streams import open_content
from etl.quality.rejects import Rejected
from etl.release.card import CardInfo
from etl.schema import table
from etl.exclusions import (check_exclusions, exclude_rows, exclusion_report, never_train_rows,
                            removed_per_list)
from etl.split import (SplitPolicy, check_group_by, check_strategy, group_key, held_out_groups, keyed_group,
                       previous_splits, scaffold_group, split_by_key_hash)

SOURCE = "pubchem"
SIMILARITY_CONFLICT = "similarity_conflict"
BRONZE, SILVER, GOLD = "pubchem_bronze", "pubchem_molecules", "pubchemqa_gold"
# Exclusion lists name molecules by a gold column (split.exclude[].match) -> the silver column holding it.
EXCLUSION_COLUMNS = {"cid": "cid", "inchikey": "molecule_inchikey"}
# What a Tanimoto-refined scaffold split may group acyclic molecules by: keys of the structure alone.
MOLECULE_GROUP_KEYS = ("inchikey_connectivity", "inchikey", "smiles")


class PubChemQAConfig(DatasetConfig):
    dataset: str = "pubchemqa"
    spark: SparkSettings = SparkSettings()
    molecules: MoleculePolicy = MoleculePolicy()
    descriptions: DescriptionPolicy = DescriptionPolicy()
    question: str = Field("Please describe this molecule.", min_length=1,
                          description="the one question every description answers")
    split: SplitPolicy = SplitPolicy(strategy="scaffold", group_by="inchikey_connectivity")
    # A structure file (SDF, the bulk CID-SMILES) holds far more compounds than have a description:
    # those structures are rejected as no_description_for_cid by design, not as a sign of bad input.
    quality: QualitySettings = QualitySettings(not_counted_reasons=["no_description_for_cid"])
    # PubChem is public domain; each depositor's text keeps its own licence (listed in the card).
    release: ReleaseSettings = ReleaseSettings(license="other", pretty_name="PubChemQA (rebuilt by lifeqa)")

    def model_post_init(self, _context) -> None:
        check_strategy(self.split, "molecule")
        # The QA step groups gold rows (GeneratePubChemQA).
        check_group_by(self.split, table(GOLD).names, GOLD)
        check_exclusions(self.split.exclude, list(EXCLUSION_COLUMNS), GOLD)
        if self.split.max_tanimoto is not None and self.split.group_by not in MOLECULE_GROUP_KEYS:
            raise ValueError(f"split.max_tanimoto partitions molecules, so split.group_by must be a key of the "
                             f"molecule: one of {', '.join(MOLECULE_GROUP_KEYS)}")
# When a CID's structure arrives more than once, the richest source wins: PubChem's own
# records (isomeric SMILES and PubChem's InChIKey) before bulk CID-SMILES, then ChEBI-20.
STRUCTURE_SOURCE_RANK = {"sdf": 0, "pug_rest_json": 0, "pug_rest_csv": 0, "pug_view_record": 0,
                         "cid_smiles": 1, "chebi20_tsv": 2}


class ParsePubChemFile(FileStep):
    """A whole file of one PubChem format -> one bronze row or reject per record it yields."""

    stage, source, output = "parse", SOURCE, BRONZE

    def parsed_records(self, record: dict) -> Iterator[dict]:
        with open_content(record["path"], record["compressed"]) as stream:
            yield from iter_pubchem_records(stream, record["path"], record["format"])

    def process(self, record: dict):
        path = record["path"]
        for parsed in self.parsed_records(record):
            origin = origin_of(path, parsed["record_index"])
            if parsed["kind"] == "reject":
                yield self.reject_row(Rejected(parsed["reason"], parsed["detail"] or ""), parsed["record_id"], origin)
            else:
                yield {**parsed, "source_format": record["format"], "origin_file": path,
                       "source_release": record["release"]}


class ParsePubChemChunk(ParsePubChemFile):
    """A chunk of a bulk CID-SMILES or CID-Title file (etl/pipeline/chunks.py) -> its lines' rows and rejects."""

    def parsed_records(self, record: dict) -> Iterator[dict]:
        chunk = chunk_of(record)
        with io.BytesIO(read_chunk(chunk)) as stream:
            yield from iter_line_records(stream, record["format"], chunk.first_record, chunk.lines_before, chunk.start)


class NormalizeStructure(Step):
    """Structure rows -> their normalized molecule; descriptions and titles pass unchanged."""

    stage, source, output = "normalize", SOURCE, SILVER

    def __init__(self, config: PubChemQAConfig):
        self.policy = config.molecules
        self.normalizer: MoleculeNormalizer | None = None

    def setup(self) -> None:
        # The tautomer enumerator and the RDKit helpers are built once per Spark task.
        self.normalizer = MoleculeNormalizer(self.policy)

    def record_id(self, record: dict) -> str | None:
        return str(record["cid"])

    def process(self, record: dict):
        if record["kind"] != "structure":
            yield record
            return
        molecule = self.normalizer.normalize(record["smiles"])
        yield {**record, "molecule_smiles": molecule.smiles, "molecule_inchikey": molecule.inchikey,
               "heavy_atoms": molecule.heavy_atoms, "formula": molecule.formula,
               "structure_changed": molecule.changed, "parent_taken": molecule.parent_taken}


class CleanDescription(Step):
    """Description rows -> their answer (names masked, word bounds); other kinds pass."""

    stage, source, output = "clean", SOURCE, SILVER

    def __init__(self, config: PubChemQAConfig):
        self.policy = config.descriptions

    def record_id(self, record: dict) -> str | None:
        return str(record["cid"])

    def process(self, record: dict):
        if record["kind"] == "description":
            record = {**record, "answer": clean_description(record["text"], record["names"] or [], self.policy)}
        yield record


def gold_row(record: dict, question: str) -> dict:
    """A released description's gold columns, the molecule's normalized structure among them."""
    return declared(record, table(GOLD)) | {
        "smiles": record["molecule_smiles"], "inchikey": record["molecule_inchikey"], "question": question}


class GeneratePubChemQA(Step):
    """A released description -> its gold QA row with the split of its group (scaffold or key);
    a group in `held_out` (it holds a never-train molecule) goes to validation or test. A
    description carrying `_split` (its molecule's place in a Tanimoto partition) keeps it."""

    stage, source, output = "qa", SOURCE, GOLD

    def __init__(self, config: PubChemQAConfig, held_out: frozenset[str] = frozenset()):
        self.question, self.split, self.held_out = config.question, config.split, held_out

    def process(self, record: dict):
        row = gold_row(record, self.question)
        split = record.get("_split") or split_by_key_hash(keyed_group(row, self.split), self.split, self.held_out)
        yield row | {"split": split}


# ---------------------------------------------------------------- Spark stages


def parse_stage(spark, inputs: ResolvedInputs) -> StageResult:
    return parse_stage_of(spark, inputs.files, ParsePubChemChunk(), ParsePubChemFile(), BRONZE)


def is_kind(kind: str):
    from pyspark.sql import functions as F

    return F.col("kind") == kind


def dedupe_stage(normalized: StageResult) -> StageResult:
    """One structure and one title per CID, among those that normalized; every description goes on
    (its own group)."""
    from pyspark.sql import functions as F

    rank = F.create_map(*[F.lit(x) for pair in STRUCTURE_SOURCE_RANK.items() for x in pair])
    own_group = F.when(is_kind("description"), origin_column())
    df = reject_duplicates(
        accepted(normalized.df, table(SILVER)), table(SILVER).names, ["cid", "kind", own_group],
        [F.coalesce(rank[F.col("source_format")], F.lit(9)), F.col("inchikey").isNull(), "origin_file",
         "record_index"],
        F.when(is_kind("structure"), F.lit("duplicate_structure")).otherwise(F.lit("duplicate_title")),
        F.col("cid"))
    return finish_stage("dedupe", df, records_in=normalized.records_out)


def pair_stage(bronze: StageResult) -> StageResult:
    """Structures and titles go on only where their CID has a description (a semi-join on CID)."""
    df = reject_undescribed(accepted(bronze.df, table(BRONZE)), table(BRONZE).names,
                            "no description of this CID in the inputs")
    return finish_stage("pair", df, records_in=bronze.records_out)


def molecule_columns() -> list[str]:
    """The columns NormalizeStructure fills on a structure row: silver's own, but the answer (clean's)."""
    return [c for c in table(SILVER).names if c not in table(BRONZE).names and c != "answer"]


def normalize_stage(paired: StageResult, config: PubChemQAConfig) -> StageResult:
    from pyspark.sql import functions as F

    bronze = accepted(paired.df, table(BRONZE))
    silver_only = [c for c in table(SILVER).names if c not in table(BRONZE).names]
    rows = bronze.select("*", *[F.lit(None).cast(table(SILVER).spark()[c].dataType).alias(c) for c in silver_only])
    # Spread by CID over the shuffle partitions: the structures arrive in their file's one partition
    # (a bulk CID-SMILES file is one), and RDKit is the build's costliest per-record work.
    rows = rows.repartition(int(bronze.sparkSession.conf.get("spark.sql.shuffle.partitions")), "cid")
    return finish_stage("normalize", apply_step(rows, NormalizeStructure(config)), records_in=paired.records_out)


def per_cid(kept, kind: str, **columns):
    """One row per CID that has a kept record of `kind`, with `columns` of that record and a flag."""
    from pyspark.sql import functions as F

    return (kept.filter(is_kind(kind)).groupBy("cid")
                .agg(F.lit(True).alias(f"_has_{kind}"),
                     *[F.first(source, ignorenulls=True).alias(alias) for alias, source in columns.items()]))


def reject_undescribed(kept, columns: list[str], detail: str):
    """Structures and titles of a CID with no kept description become `no_description_for_cid` rejects.
    The described CIDs are broadcast: they are few next to a bulk structure file."""
    from pyspark.sql import functions as F

    joined = kept.join(F.broadcast(per_cid(kept, "description")), "cid", "left")
    reason = F.when(~is_kind("description") & F.col("_has_description").isNull(), F.lit("no_description_for_cid"))
    return reject_rows_where(joined, columns, reason, F.lit(detail), F.col("cid"))


def structure_failures(normalized: StageResult):
    """Per CID whose structures normalization rejected: `_failures`, their reasons (sorted, comma-joined)."""
    from pyspark.sql import functions as F

    failed = normalized.df.filter(F.col("reject_reason").isNotNull())
    return (failed.groupBy(F.col("reject_record_id").cast("long").alias("cid"))
                  .agg(F.concat_ws(", ", F.array_sort(F.collect_set("reject_reason"))).alias("_failures")))


def join_stage(deduped: StageResult, normalized: StageResult) -> StageResult:
    """Descriptions meet their CID's molecule and names; what cannot be paired is rejected."""
    from pyspark.sql import functions as F

    kept = accepted(deduped.df, table(SILVER))
    # A structure row's molecule columns, carried over to the descriptions of its CID.
    carried = {column: f"_{column}" for column in molecule_columns()}
    molecules = per_cid(kept, "structure", **{alias: column for column, alias in carried.items()},
                        _structure_title="title")
    titles = per_cid(kept, "title", _cid_title="title")
    joined = (kept.join(molecules, "cid", "left").join(titles, "cid", "left")
                  .join(F.broadcast(structure_failures(normalized)), "cid", "left"))
    # Structures are all described (pair_stage); descriptions and titles need a molecule.
    reason = F.when(~is_kind("structure") & F.col("_has_structure").isNull(), F.lit("no_structure_for_cid"))
    detail = F.when(F.col("_failures").isNull(), F.lit("no structure of this CID in the inputs")).otherwise(
        F.concat(F.lit("every structure of this CID was rejected while normalizing ("), F.col("_failures"), F.lit(")")))
    described = is_kind("description")
    names = F.filter(F.array_distinct(F.concat(F.coalesce("names", F.array()),
                                               F.array("_cid_title", "_structure_title"))),
                     lambda name: name.isNotNull())
    joined = joined.select(
        *[c for c in joined.columns if c not in carried and c != "names"],
        *[F.when(described, F.col(alias)).otherwise(F.col(column)).alias(column) for column, alias in carried.items()],
        F.when(described, names).otherwise(F.col("names")).alias("names"))
    df = reject_rows_where(joined, table(SILVER).names, reason, detail, F.col("cid"))
    return finish_stage("join", df, records_in=deduped.records_out)


def clean_stage(joined: StageResult, config: PubChemQAConfig) -> StageResult:
    """Descriptions cleaned one by one; then an answer a CID already has is kept once, the
    copy from the first source (by name, id, input) winning."""
    from pyspark.sql import functions as F

    cleaned = apply_step(accepted(joined.df, table(SILVER)), CleanDescription(config))
    kept = accepted(cleaned, table(SILVER))
    # Structures and titles are one per CID already; only descriptions can collide here.
    deduped = reject_duplicates(
        kept, table(SILVER).names, ["cid", "kind", "answer"],
        [F.col("source_name").asc_nulls_last(), F.col("source_id").asc_nulls_last(), "origin_file", "record_index"],
        F.lit("duplicate_description"), F.col("cid"))
    rejected_by_step = cleaned.filter(F.col("reject_reason").isNotNull())
    return finish_stage("clean", rejected_by_step.unionByName(deduped), records_in=joined.records_out)


def release_stage(cleaned: StageResult) -> StageResult:
    """Structures and titles are released with the descriptions that use them; those whose
    CID lost every description while cleaning go to rejects."""
    df = reject_undescribed(accepted(cleaned.df, table(SILVER)), table(SILVER).names,
                            "every description of this CID was rejected")
    return finish_stage("qa", df, records_in=cleaned.records_out)


def exclude_stage(cleaned: StageResult, policy: SplitPolicy) -> StageResult:
    """Descriptions of the molecules a `remove` list of split.exclude names -> rejects (excluded);
    the molecule's structure and title then have no description left, and the qa stage says so."""
    from pyspark.sql import functions as F

    df = exclude_rows(accepted(cleaned.df, table(SILVER)), policy.exclude, EXCLUSION_COLUMNS, table(SILVER).names,
                      F.col("cid"), applies=is_kind("description"))
    stage = finish_stage("exclude", df, records_in=cleaned.records_out)
    stage.details = {"removed_per_list": removed_per_list(stage.df)}
    return stage


def similarity_split_stage(kept: StageResult, config: PubChemQAConfig):
    """The molecules of the kept descriptions partitioned (scaffold groups together, Tanimoto edges
    not crossing); descriptions of a molecule the partition left out -> rejects. Returns the stage
    and the assignment (molecule_inchikey, _split) for the qa step."""
    from pyspark.sql import functions as F

    policy = config.split
    rows = accepted(kept.df, table(SILVER))
    descriptions = rows.filter(is_kind("description"))
    listed = never_train_rows(descriptions, policy.exclude, EXCLUSION_COLUMNS, ["cid", "molecule_inchikey"])
    assignment, report = similarity_assignment(descriptions, policy, {row["molecule_inchikey"] for row in listed})
    joined = rows.join(assignment, "molecule_inchikey", "left")
    reason = F.when(is_kind("description") & F.col("_removed").isNotNull(), F.col("_removed"))
    detail = F.lit(f"removed so that no molecule at Tanimoto >= {policy.max_tanimoto} (Morgan radius 2, 1,024 "
                   "bits) or of the same scaffold has a neighbour in another split")
    stage = finish_stage("split", reject_rows_where(joined, table(SILVER).names, reason, detail, F.col("cid")),
                         records_in=kept.records_out)
    stage.details = {"similarity": report}
    if policy.exclude:
        stage.details["never_train_matched"] = never_train_matched(listed, report)
    return stage, assignment.filter(F.col("_split").isNotNull()).select("molecule_inchikey", "_split")


def similarity_assignment(descriptions, policy: SplitPolicy, never_train: set[str]):
    """(molecule_inchikey, _split, _removed) per described molecule, and the partition's report.
    The molecules (one row each, not the descriptions) are compared on the driver: every pair."""
    from collections import defaultdict

    from pyspark.sql import functions as F

    from etl.pipeline.dataset import content_key
    from etl.similarity.fingerprints import similar_pairs
    from etl.similarity.partition import HOMOLOGY_CONFLICT, partition

    molecules = (descriptions.groupBy("molecule_inchikey")
                 .agg(F.min("molecule_smiles").alias("smiles"), F.count("*").alias("weight")))
    items = sorted((row["molecule_inchikey"], row["smiles"], row["weight"]) for row in molecules.toLocalIterator())
    ids, smiles = [i for i, _, _ in items], [s for _, s, _ in items]
    scaffolds = defaultdict(list)
    for inchikey, text in zip(ids, smiles):
        fallback = group_key({"inchikey": inchikey, "smiles": text}, policy.group_by)
        scaffolds[scaffold_group(text, fallback, policy)].append(inchikey)
    pinned = None
    if policy.previous:
        before = previous_splits(policy, DATASET.entity)
        pinned = {i: before[content_key(s)] for i, s in zip(ids, smiles) if content_key(s) in before}
    result = partition({i: float(w) for i, _, w in items}, similar_pairs(ids, smiles, policy.max_tanimoto),
                       together=scaffolds.values(), ratios=policy.ratios, salt=policy.salt, pinned=pinned,
                       never_train=never_train)
    rows = [(key, split, None) for key, split in result.assignment.items()]
    rows += [(key, None, SIMILARITY_CONFLICT if reason == HOMOLOGY_CONFLICT else reason)
             for key, reason in result.removed.items()]
    schema = "molecule_inchikey string, _split string, _removed string"
    return descriptions.sparkSession.createDataFrame(rows, schema), result.report


def never_train_matched(listed: list[dict], report: dict) -> dict[str, dict]:
    """Per never-train list: the molecules it matched (the partition keeps their groups out of train)."""
    matched: dict[str, set] = {}
    for row in listed:
        for name in row["_lists"].split(", "):
            matched.setdefault(name, set()).add(row["cid"])
    return {name: {"matched": len(cids), "molecules_in_train": report["never_train"]["in_train"]}
            for name, cids in matched.items()}


def generate_qa(descriptions, config: PubChemQAConfig, assignment=None):
    """The gold rows, and what the never-train lists did. With a Tanimoto partition, each description
    takes its molecule's split; otherwise never-train molecules' groups (scaffolds, keys) are
    found first, from the rows the lists name, and held out of train."""
    policy = config.split
    if assignment is not None:
        gold = apply_step(descriptions.join(assignment, "molecule_inchikey", "left"), GeneratePubChemQA(config))
        return accepted(gold, table(GOLD)), None
    silver_columns = sorted({"cid", "molecule_smiles", "molecule_inchikey", *table(GOLD).names} & set(descriptions.columns))
    listed = [gold_row(row, config.question) | {"_lists": row["_lists"]}
              for row in never_train_rows(descriptions, policy.exclude, EXCLUSION_COLUMNS, silver_columns)]
    held_out, held_out_report = held_out_groups(listed, policy, "cid")
    gold = accepted(apply_step(descriptions, GeneratePubChemQA(config, held_out)), table(GOLD))
    return gold, held_out_report


def build_pubchemqa(spark, inputs: ResolvedInputs, config: PubChemQAConfig):
    """Run every stage; return (gold DataFrame, rejects DataFrame, [StageResult])."""
    policy = config.split
    bronze = parse_stage(spark, inputs)
    paired = pair_stage(bronze)
    normalized = normalize_stage(paired, config)
    deduped = dedupe_stage(normalized)
    joined = join_stage(deduped, normalized)
    stages = [bronze, paired, normalized, deduped, joined, clean_stage(joined, config)]
    if any(entry.action == "remove" for entry in policy.exclude):
        stages.append(exclude_stage(stages[-1], policy))
    assignment = None
    if policy.max_tanimoto is not None:
        split, assignment = similarity_split_stage(stages[-1], config)
        stages.append(split)
    released = release_stage(stages[-1])
    stages.append(released)
    descriptions = accepted(released.df, table(SILVER)).filter(is_kind("description"))
    gold, held_out_report = generate_qa(descriptions, config, assignment)
    if policy.exclude:
        by_stage = {stage.name: stage.details for stage in stages}
        removed = by_stage.get("exclude", {}).get("removed_per_list", {})
        matched = by_stage.get("split", {}).get("never_train_matched", held_out_report)
        released.details["exclusions"] = exclusion_report(policy.exclude, removed, matched)
    return gold, all_rejects(stages, SOURCE), stages


def depositor_licenses(gold) -> list[str]:
    """'source name: licence URL' for every distinct pair among the released descriptions."""
    pairs = gold.select("source_name", "license_url").distinct().collect()
    return sorted(f"{row['source_name'] or 'unknown source'}: {row['license_url'] or 'no licence URL given'}"
                  for row in pairs)


def pubchemqa_card(config: PubChemQAConfig) -> CardInfo:
    return CardInfo.for_config(
        config,
        summary=("Molecule question-answer pairs in the shape of PubChemQA (BioMedGPT-10B): for each "
                 "distinct PubChem record description of a compound, the question "
                 f"\"{config.question}\" answered by that description with the compound's names replaced "
                 "by \"This molecule\" / \"The molecule\", with the normalized structure (SMILES, InChIKey)."),
        attribution=("Source: PubChem (NCBI, https://pubchem.ncbi.nlm.nih.gov), public-domain data; each "
                     "description keeps the terms of its depositor, named in the `source_name`, `source_id` "
                     "and `license_url` columns of every row. Cite PubChem: Kim S. et al., PubChem 2025 "
                     "update, Nucleic Acids Res. Depositors and their licences in this release:"),
        tags=["chemistry", "molecules", "pubchem", "question-answering"],
    )


DATASET = Dataset(
    name="pubchemqa",
    help="Build PubChemQA from PUG-View records or annotation pages, SDF, PUG REST, CID-SMILES/Title or ChEBI-20.",
    config_model=PubChemQAConfig,
    detect_format=detect_pubchem_format,
    sample=SAMPLE_DIR / "pubchem",
    build=build_pubchemqa,
    gold_table=GOLD,
    sort_keys=("cid", "source_name", "source_id", "answer"),
    card=pubchemqa_card,
    licenses=depositor_licenses,
    # Keyed by the normalized SMILES, not the InChIKey, which merges tautomers that the GIN sees as different graphs.
    entity=Entity(kind="molecule", text_column="smiles", id_column="cid", unit="atom"),
    record_ends={fmt: NonBlankLine() for fmt in LINE_FORMATS},
)
