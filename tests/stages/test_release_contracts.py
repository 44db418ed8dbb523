"""The schema contracts on Spark: an undeclared column stops its stage, a null where the schema
forbids one stops the release before anything is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from etl.config import load_config
from etl.datasets import get_dataset
from etl.pipeline.inputs import resolve_inputs
from etl.pipeline.release_build import NullInRequiredColumnError, build_release
from etl.pipeline.steps import Step, apply_step

pytestmark = pytest.mark.spark


def test_an_undeclared_column_fails_the_stage_naming_column_and_table(spark):
    class GoldWithAMisspeltKey(Step):  # local: pickled by value into the Python workers
        stage, source, output = "qa", "uniprot", "uniprotqa_gold"

        def process(self, record):
            yield {"accession": record["accession"], "organsm": "Homo sapiens"}

    rows = spark.createDataFrame([("P69905",)], "accession string")
    with pytest.raises(Exception) as caught:  # a task's Python error reaches the driver wrapped by Spark
        apply_step(rows, GoldWithAMisspeltKey()).collect()
    assert "['organsm']" in str(caught.value) and "'uniprotqa_gold'" in str(caught.value)


def test_a_null_in_a_non_nullable_column_stops_the_release(spark, shared_data, tmp_path):
    dataset = get_dataset("uniprotqa")

    def build_with_a_lost_answer(spark, inputs, config):
        from pyspark.sql import functions as F

        gold, rejects, stages = dataset.build(spark, inputs, config)
        first = gold.agg(F.min("accession")).first()[0]
        return gold.withColumn("answer", F.when(F.col("accession") == first, None).otherwise(F.col("answer"))), \
            rejects, stages

    broken = replace(dataset, build=build_with_a_lost_answer)
    inputs = resolve_inputs([shared_data / "uniprot" / "xml" / "multi_ex.xml"], dataset.detect_format)
    config = load_config(dataset.config_model, None, dataset.name)
    out = tmp_path / "release"
    with pytest.raises(NullInRequiredColumnError, match=r"table uniprotqa_gold: .*answer \(\d+ rows\)"):
        build_release(broken, spark, inputs, config, out, "test", force=False)
    assert not out.exists() and not list(tmp_path.iterdir())
