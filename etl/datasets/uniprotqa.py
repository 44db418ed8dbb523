"""UniProtQA: UniProt files -> bronze -> silver -> gold QA pairs, every record accounted for.

Stages (each a DataFrame -> DataFrame function; rejects carried alongside):
  parse      files / flat-file records -> uniprot_bronze (one row per entry)
  normalize  sequence normalized and checked, answers cleaned -> uniprot_silver
  dedupe     one row per accession among the entries that passed their checks: the highest
             entry version wins (a damaged copy never displaces a good one)
  exclude    (when split.exclude has remove lists) the entries they name -> rejects (excluded)
  split      every entry gets its split (config split.strategy): homology partitions, so
             no two splits share homologous proteins (entries removed to keep that
             guarantee are rejected as homology_conflict), or the hash of group_by;
             never-train lists keep their entries' groups out of train
  qa         templates -> uniprotqa_gold rows, carrying their entry's split
"""

from __future__ import annotations

import io
import time

from pydantic import Field

from etl.config import DatasetConfig, QualitySettings, ReleaseSettings, SparkSettings, Strict
from etl.exclusions import (check_exclusions, exclude_rows, exclusion_report, never_train_rows,
                            removed_per_list)
from etl.normalize.sequences import SequencePolicy, normalize_sequence
from etl.normalize.text import TextPolicy
from etl.parse.uniprot import FLAT, FLAT_END_TEXT, detect_format, parse_entries, parse_flat_stream
from etl.paths import SAMPLE_DIR
from etl.pipeline.dataset import Dataset, Entity
from etl.pipeline.chunks import EndLine, chunk_of, read_chunk
from etl.pipeline.inputs import ResolvedInputs
from etl.pipeline.stages import (StageResult, all_rejects, finish_stage, parse_stage_of, reject_duplicates,
                                 reject_rows_where)
from etl.pipeline.steps import FileStep, Step, accepted, apply_step, declared, origin_of
from etl.pipeline.streams import open_content
from etl.qa.templates import BIOMEDGPT_UNIPROT_TEMPLATES, QATemplate, check_template_fields, generate_qa, render_answers
from etl.quality.rejects import Rejected
from etl.release.card import CardInfo
from etl.schema import table
from etl.split import (SplitPolicy, check_group_by, check_strategy, group_key, held_out_groups, previous_splits,
                       split_by_homology, split_by_key_hash)

SOURCE = "uniprot"
BRONZE, SILVER, GOLD = "uniprot_bronze", "uniprot_silver", "uniprotqa_gold"
# Exclusion lists name entries by accession (split.exclude[].match), a column of the silver rows.
EXCLUSION_COLUMNS = {"accession": "accession"}


class UniProtSelection(Strict):
    reviewed_only: bool = Field(False, description="keep Swiss-Prot entries only (UniProtQA used Swiss-Prot)")


class UniProtQAConfig(DatasetConfig):
    dataset: str = "uniprotqa"
    spark: SparkSettings = SparkSettings()
    selection: UniProtSelection = UniProtSelection()
    sequence: SequencePolicy = SequencePolicy()
    text: TextPolicy = TextPolicy()
    templates: list[QATemplate] = Field(default_factory=lambda: list(BIOMEDGPT_UNIPROT_TEMPLATES))
    split: SplitPolicy = SplitPolicy(strategy="homology")
    quality: QualitySettings = QualitySettings()
    release: ReleaseSettings = ReleaseSettings(pretty_name="UniProtQA (rebuilt by lifeqa)")

    def model_post_init(self, _context) -> None:
        check_template_fields(self.templates)
        check_strategy(self.split, "protein")
        # The split stage groups silver rows.
        check_group_by(self.split, table(SILVER).names, SILVER)
        check_exclusions(self.split.exclude, list(EXCLUSION_COLUMNS), SILVER)
def bronze_row(fields: dict, origin_file: str, record_index: int, source_format: str, release: str | None) -> dict:
    return {**fields, "source_format": source_format, "origin_file": origin_file,
            "record_index": record_index, "source_release": release}


class ParseUniProtFile(FileStep):
    """A whole file (gzip flat file, XML, JSON, JSON lines) -> one bronze row or reject per entry."""

    stage, source, output = "parse", SOURCE, BRONZE

    def process(self, record: dict):
        path = record["path"]
        with open_content(path, record["compressed"]) as stream:
            for index, accession, result in parse_entries(stream, record["format"]):
                if isinstance(result, Rejected):
                    yield self.reject_row(result, accession, origin_of(path, index))
                else:
                    yield bronze_row(result, path, index, record["format"], record["release"])


class ParseFlatChunk(FileStep):
    """A chunk of a plain flat file (etl/pipeline/chunks.py) -> one bronze row or reject per entry in it."""

    stage, source, output = "parse", SOURCE, BRONZE

    def process(self, record: dict):
        path = record["path"]
        chunk = chunk_of(record)
        with io.BytesIO(read_chunk(chunk)) as stream:
            for index, accession, result in parse_flat_stream(stream, chunk.first_record, chunk.start):
                if isinstance(result, Rejected):
                    yield self.reject_row(result, accession, origin_of(path, index))
                else:
                    yield bronze_row(result, path, index, FLAT, record["release"])


class UniProtEntryStep(Step):
    """A step over parsed entries, driven by the pipeline config; rejects name the accession."""

    source = SOURCE

    def __init__(self, config: UniProtQAConfig):
        self.config = config

    def record_id(self, record: dict) -> str | None:
        return record.get("accession")


class NormalizeUniProtEntry(UniProtEntryStep):
    """Bronze entry -> silver: the sequence normalized and checked, every field's answer rendered."""

    stage, output = "normalize", SILVER

    def process(self, record: dict):
        if self.config.selection.reviewed_only and not record.get("reviewed"):
            raise Rejected("not_reviewed", "TrEMBL entry; selection.reviewed_only is set")
        sequence = normalize_sequence(record.get("sequence"), record.get("declared_length"),
                                      record.get("declared_crc64"), self.config.sequence)
        yield declared(record, table(SILVER)) | {
            "sequence": sequence.sequence, "sequence_sha256": sequence.sha256, "sequence_length": sequence.length,
            **render_answers(record, self.config.text)}


class GenerateUniProtQA(UniProtEntryStep):
    """Silver entry -> one gold QA row per template whose field the entry has, with its split."""

    stage, output = "qa", GOLD

    def process(self, record: dict):
        pairs = generate_qa(record, self.config.templates)
        if not pairs:
            asked = ", ".join(sorted({t.field for t in self.config.templates}))
            raise Rejected("no_qa_fields", f"entry has none of: {asked}")
        entry = declared(record, table(GOLD)) | {"reviewed": bool(record.get("reviewed"))}
        for pair in pairs:
            yield entry | pair


class HashSplit(UniProtEntryStep):
    """Silver entry -> the same, with the split of its group_by key's hash (held-out keys: out of train)."""

    stage, output = "split", SILVER

    def __init__(self, config: UniProtQAConfig, held_out: frozenset[str] = frozenset()):
        super().__init__(config)
        self.held_out = held_out

    def process(self, record: dict):
        key = group_key(record, self.config.split.group_by)
        yield record | {"split": split_by_key_hash(key, self.config.split, self.held_out)}


# ---------------------------------------------------------------- Spark stages


def parse_stage(spark, inputs: ResolvedInputs) -> StageResult:
    return parse_stage_of(spark, inputs.files, ParseFlatChunk(), ParseUniProtFile(), BRONZE)


def dedupe_stage(silver: StageResult) -> StageResult:
    """One entry per accession: the highest entry version, then the first input in path order.

    The same entry often arrives twice (a flat file and an XML download, two
    pages of a pull); the duplicate goes to rejects, naming the copy that was kept.
    Only entries that passed normalization are ranked."""
    from pyspark.sql import functions as F

    version_note = F.concat(F.lit(" (entry version "), F.coalesce(F.col("entry_version").cast("string"), F.lit("?")),
                            F.lit(")"))
    df = reject_duplicates(
        accepted(silver.df, table(SILVER)), table(SILVER).names, ["accession"],
        [F.col("entry_version").desc_nulls_last(), "origin_file", "record_index"],
        F.lit("duplicate_accession"), F.col("accession"), version_note)
    return finish_stage("dedupe", df, records_in=silver.records_out)


def isoform_groups(entries):
    """Sequence keys of one entry's isoforms (accessions `P12345`, `P12345-2`, ...): one split for them all."""
    from pyspark.sql import functions as F

    base = F.regexp_extract("accession", r"^([^-]+)", 1)
    groups = (entries.groupBy(base.alias("entry")).agg(F.array_sort(F.collect_set("sequence_sha256")).alias("keys"))
                     .filter(F.size("keys") > 1))
    return [row["keys"] for row in groups.toLocalIterator()]


def homology_assignment(spark, entries, policy: SplitPolicy, never_train: set[str]):
    """(sequence_sha256, _split, _removed) for every distinct sequence of `entries`, and the partition's report.
    `never_train`: sequence keys whose homology component stays out of train."""
    import tempfile
    from pathlib import Path

    from etl.similarity.spark import write_fasta_with_spark

    # Each distinct sequence is one entity, weighted by its entries (identical sequences are one).
    weights = {row["sequence_sha256"]: float(row["count"])
               for row in entries.groupBy("sequence_sha256").count().toLocalIterator()}
    sequences = entries.select("sequence_sha256", "sequence").dropDuplicates(["sequence_sha256"])
    pinned = previous_splits(policy, DATASET.entity) if policy.previous else None
    with tempfile.TemporaryDirectory(prefix="lifeqa-homology-") as work:
        fasta = write_fasta_with_spark(sequences, "sequence_sha256", "sequence", Path(work))
        result = split_by_homology(weights, fasta, isoform_groups(entries), policy, pinned, never_train)
    rows = [(key, split, None) for key, split in result.assignment.items()]
    rows += [(key, None, reason) for key, reason in result.removed.items()]
    return spark.createDataFrame(rows, "sequence_sha256 string, _split string, _removed string"), result.report


def exclude_stage(deduped: StageResult, policy: SplitPolicy) -> StageResult:
    """The entries a `remove` list of split.exclude names -> rejects (excluded, the list named)."""
    from pyspark.sql import functions as F

    df = exclude_rows(accepted(deduped.df, table(SILVER)), policy.exclude, EXCLUSION_COLUMNS, table(SILVER).names,
                      F.col("accession"))
    stage = finish_stage("exclude", df, records_in=deduped.records_out)
    stage.details = {"removed_per_list": removed_per_list(stage.df)}
    return stage


def split_stage(spark, kept: StageResult, config: UniProtQAConfig) -> StageResult:
    """Every kept entry gets its split; under `homology`, an entry whose protein the partition had
    to leave out (to keep homologs of different splits apart) is rejected as homology_conflict.
    Entries a never-train list names keep their group (component, or hash key) out of train."""
    from pyspark.sql import functions as F

    policy = config.split
    started = time.perf_counter()
    entries = accepted(kept.df, table(SILVER))
    listed = never_train_rows(entries, policy.exclude, EXCLUSION_COLUMNS,
                              sorted({"accession", "sequence_sha256", policy.group_by}))
    if policy.strategy == "hash":
        held_out, held_out_report = held_out_groups(listed, policy, "accession")
        stage = finish_stage("split", apply_step(entries, HashSplit(config, held_out)), records_in=kept.records_out)
        details = {}
    else:
        assignment, report = homology_assignment(spark, entries, policy, {row["sequence_sha256"] for row in listed})
        held_out_report = never_train_homology_report(listed, report)
        joined = entries.drop("split").join(assignment, "sequence_sha256", "left").withColumn("split", F.col("_split"))
        reason = F.when(F.col("_removed").isNotNull(), F.col("_removed"))
        detail = F.lit(f"removed so that no protein at >= {policy.min_identity:.0%} identity over "
                       f">= {policy.min_coverage:.0%} coverage has a homolog in another split")
        df = reject_rows_where(joined, table(SILVER).names, reason, detail, F.col("accession"))
        stage = finish_stage("split", df, records_in=kept.records_out)
        details = {"homology": report}
    if policy.exclude:
        removed = kept.details.get("removed_per_list", {}) if kept.name == "exclude" else {}
        details["exclusions"] = exclusion_report(policy.exclude, removed, held_out_report)
    stage.seconds, stage.details = time.perf_counter() - started, details
    return stage


def never_train_homology_report(listed: list[dict], partition_report: dict) -> dict[str, dict]:
    """Per never-train list: the entries it matched (the partition keeps their components out of train)."""
    matched: dict[str, set[str]] = {}
    for row in listed:
        for name in row["_lists"].split(", "):
            matched.setdefault(name, set()).add(row["accession"])
    in_train = partition_report["never_train"]["in_train"]
    return {name: {"matched": len(accessions), "sequences_in_train": in_train} for name, accessions in matched.items()}


def build_uniprotqa(spark, inputs: ResolvedInputs, config: UniProtQAConfig):
    """Run every stage; return (gold DataFrame, rejects DataFrame, [StageResult])."""
    bronze = parse_stage(spark, inputs)
    silver = finish_stage("normalize", apply_step(accepted(bronze.df, table(BRONZE)),
                                                  NormalizeUniProtEntry(config)), records_in=bronze.records_out)
    deduped = dedupe_stage(silver)
    removing = any(entry.action == "remove" for entry in config.split.exclude)
    excluded = [exclude_stage(deduped, config.split)] if removing else []
    split = split_stage(spark, (excluded or [deduped])[0], config)
    gold = finish_stage("qa", apply_step(accepted(split.df, table(SILVER)), GenerateUniProtQA(config)),
                        records_in=split.records_out, unit_column="accession")
    stages = [bronze, silver, deduped, *excluded, split, gold]
    return accepted(gold.df, table(GOLD)), all_rejects(stages, SOURCE), stages


def uniprotqa_card(config: UniProtQAConfig) -> CardInfo:
    return CardInfo.for_config(
        config,
        summary=("Protein question-answer pairs in the shape of UniProtQA (BioMedGPT-10B): for each "
                 "UniProtKB entry, one question per field it has (function, official names, protein "
                 "family, subcellular locations), answered from the entry's own annotation, with the "
                 "protein sequence."),
        attribution=("Source: UniProtKB, (c) the UniProt Consortium, licensed CC BY 4.0 "
                     "(https://www.uniprot.org/help/license). Answers are UniProt's annotation text with "
                     "evidence tags and citations removed. Cite UniProt: The UniProt Consortium, "
                     "UniProt: the Universal Protein Knowledgebase, Nucleic Acids Res."),
        tags=["biology", "proteins", "uniprot", "question-answering"],
    )


DATASET = Dataset(
    name="uniprotqa",
    help="Build UniProtQA from UniProt flat files, XML, REST JSON or pull snapshots.",
    config_model=UniProtQAConfig,
    detect_format=detect_format,
    sample=SAMPLE_DIR / "uniprot",
    build=build_uniprotqa,
    gold_table=GOLD,
    sort_keys=("accession", "field"),
    card=uniprotqa_card,
    entity=Entity(kind="protein", text_column="sequence", id_column="accession", unit="residue",
                  key_column="sequence_sha256"),
    record_ends={FLAT: EndLine(FLAT_END_TEXT)},
)
