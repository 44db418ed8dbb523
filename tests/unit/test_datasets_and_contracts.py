"""The dataset registry and the schema contracts a step is held to (no Spark)."""

from __future__ import annotations

import pytest

from etl.config import ConfigError, load_config
from etl.datasets import UnknownDatasetError, datasets, get_dataset
from etl.datasets.pubchemqa import PubChemQAConfig
from etl.datasets.uniprotqa import NormalizeUniProtEntry, UniProtQAConfig
from etl.pipeline.steps import Step, UndeclaredColumnError, rows_to_batches, with_reject_fields
from etl.schema import table
from etl.split import group_key


def test_the_registry_lists_every_dataset_module():
    assert list(datasets()) == ["pubchemqa", "uniprotqa"]
    with pytest.raises(UnknownDatasetError, match="known: pubchemqa, uniprotqa"):
        get_dataset("chemblqa")


@pytest.mark.parametrize("name", ["uniprotqa", "pubchemqa"])
def test_a_dataset_names_only_columns_its_gold_table_declares(name):
    dataset = get_dataset(name)
    gold = table(dataset.gold_table).names
    entity = dataset.entity
    assert {entity.text_column, entity.id_column, *dataset.sort_keys} <= set(gold)
    assert entity.key_column is None or entity.key_column in gold
    assert dataset.sample.is_dir()
    assert dataset.config_model().dataset == name


def test_every_dataset_has_a_build_command():
    from etl.cli import build_app

    assert sorted(c.name for c in build_app.registered_commands) == sorted(datasets())


class MisspeltSilverStep(Step):
    stage, source, output = "normalize", "uniprot", "uniprot_silver"

    def process(self, record):
        yield {"accession": record["accession"], "sequense": "MKV"}


def test_a_step_yielding_an_undeclared_column_fails_naming_the_column_and_the_table():
    step = MisspeltSilverStep()
    schema = with_reject_fields(table(step.output).arrow())
    with pytest.raises(UndeclaredColumnError) as caught:
        list(rows_to_batches(step.run([{"accession": "P69905"}]), schema, step))
    assert "['sequense']" in str(caught.value) and "'uniprot_silver'" in str(caught.value)


def test_declared_rows_pass_and_reject_rows_are_declared_too():
    step = NormalizeUniProtEntry(UniProtQAConfig())
    schema = with_reject_fields(table(step.output).arrow())
    # A bronze record with a sequence that fails its declared length: one reject row.
    record = {"accession": "P69905", "sequence": "MVLSPADKTNVKAAW", "declared_length": 99,
              "origin_file": "x.dat", "record_index": 0}
    batches = list(rows_to_batches(step.run([record]), schema, step))
    assert batches[0].to_pylist()[0]["reject_reason"] == "length_mismatch"


def test_group_by_naming_no_column_fails_when_the_config_loads(tmp_path):
    path = tmp_path / "uniprotqa.yaml"
    path.write_text("split:\n  group_by: sequence_hash\n")
    with pytest.raises(ConfigError, match="'sequence_hash' names no column of uniprot_silver; one of: accession"):
        load_config(UniProtQAConfig, path, "uniprotqa")
    with pytest.raises(ValueError, match="names no column of pubchemqa_gold"):
        PubChemQAConfig.model_validate({"split": {"group_by": "sequence_sha256"}})
    with pytest.raises(ValueError, match="names no column"):
        PubChemQAConfig.model_validate({"split": {"group_by": "split"}})  # the outcome, not a grouping


def test_inchikey_connectivity_groups_stereoisomers():
    # L- and D-alanine: one connectivity block, two InChIKeys.
    l_ala, d_ala = {"inchikey": "QNAYBMKLOCPYGJ-REOHCLBHSA-N"}, {"inchikey": "QNAYBMKLOCPYGJ-UWTATZPHSA-N"}
    assert group_key(l_ala, "inchikey_connectivity") == group_key(d_ala, "inchikey_connectivity") == "QNAYBMKLOCPYGJ"
    assert group_key(l_ala, "inchikey") != group_key(d_ala, "inchikey")
