"""The progress of a watched stage on a real SparkContext: its jobs carry the phase's job group,
the status tracker finds their tasks, and a step's rows reach the phase's accumulator."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from etl.pipeline.progress import JobGroupCounter, LiveProgress, watching
from etl.pipeline.stages import finish_stage
from etl.pipeline.steps import Step, apply_step
from etl.quality.rejects import Rejected

pytestmark = pytest.mark.spark


def test_a_watched_stage_shows_its_spark_tasks_and_rows(spark):
    class EveryTenthRejected(Step):  # local: pickled by value into the Python workers
        stage, source, output = "qa", "uniprot", "uniprotqa_gold"

        def process(self, record):
            if record["id"] % 10 == 0:
                raise Rejected("no_qa_fields", "a tenth")
            yield {"accession": f"P{record['id']:05d}"}

    sc = spark.sparkContext
    view = LiveProgress(Console(file=io.StringIO(), force_terminal=True, width=160), sc.statusTracker())
    with watching(view, sc) as watch:
        stage = finish_stage("qa", apply_step(spark.range(0, 100, numPartitions=4), EveryTenthRejected()))
    qa = watch.phases[0]
    assert (qa.name, stage.records_out, stage.rejected) == ("qa", 90, {"no_qa_fields": 10})
    counts = JobGroupCounter(sc.statusTracker(), qa.job_group).counts()
    assert counts.done == counts.total >= 4 and counts.failed == 0
    assert qa.rows_so_far() == 100  # each row the step yielded, kept or rejected, counted once
    row = next(task for task in view.display.tasks if task.id == view.rows[qa.index])
    assert row.fields["closed"] and row.fields["tasks"] == f"{counts.total}/{counts.total} tasks"
    assert sc.getLocalProperty("spark.jobGroup.id") is None  # the thread's own (none) is back
