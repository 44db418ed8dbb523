"""The build's progress model without Spark: formatting, task counts read from a fake status
tracker, phases and their job groups, the plain and the live views."""

from __future__ import annotations

import io
import threading
from typing import NamedTuple

import pytest
from py4j.protocol import Py4JError
from rich.console import Console

from etl.pipeline.progress import (JOB_DESCRIPTION, JOB_GROUP, BuildProgress, BuildWatch, JobGroupCounter,
                                   LiveProgress, Phase, PhaseBar, PhaseSpinner, PlainProgress, TaskCounts,
                                   format_elapsed, format_tasks, progress_for, row_counter, stage_finished,
                                   stage_started, step_started, watching)
from etl.pipeline.stages import StageResult


class Job(NamedTuple):  # the fields of pyspark.status.SparkJobInfo
    jobId: int
    stageIds: list[int]
    status: str


class Stage(NamedTuple):  # the fields of pyspark.status.SparkStageInfo
    stageId: int
    currentAttemptId: int
    name: str
    numTasks: int
    numActiveTasks: int
    numCompletedTasks: int
    numFailedTasks: int


def stage(stage_id: int, tasks: int, active: int = 0, completed: int = 0, failed: int = 0) -> Stage:
    return Stage(stage_id, 0, f"stage {stage_id}", tasks, active, completed, failed)


class FakeTracker:
    """What `SparkContext.statusTracker()` answers, from dictionaries; counts the job lookups."""

    def __init__(self, groups: dict[str, list[int]], jobs: dict[int, Job], stages: dict[int, Stage]):
        self.groups, self.jobs, self.stages = groups, jobs, stages
        self.job_lookups: list[int] = []

    def getJobIdsForGroup(self, group):
        return list(self.groups.get(group, []))

    def getJobInfo(self, job_id):
        self.job_lookups.append(job_id)
        return self.jobs.get(job_id)

    def getStageInfo(self, stage_id):
        return self.stages.get(stage_id)


class FakeAccumulator:
    def __init__(self, value: int = 0):
        self.value = value


class FakeSparkContext:
    """Local properties of one thread, the status tracker, and accumulators."""

    def __init__(self, tracker=None, properties: dict | None = None):
        self.properties = dict(properties or {})
        self.tracker = tracker
        self.accumulators: list[FakeAccumulator] = []

    def getLocalProperty(self, key):
        return self.properties.get(key)

    def setLocalProperty(self, key, value):
        if value is None:
            self.properties.pop(key, None)
        else:
            self.properties[key] = value

    def statusTracker(self):
        return self.tracker

    def accumulator(self, value):
        self.accumulators.append(FakeAccumulator(value))
        return self.accumulators[-1]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recording(BuildProgress):
    """Every event a view hears, as (event, label)."""

    wants_row_counts = True

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def start(self):
        self.events.append(("start", ""))

    def stop(self):
        self.events.append(("stop", ""))

    def opened(self, phase):
        self.events.append(("opened", phase.label))

    def named(self, phase):
        self.events.append(("named", phase.label))

    def closed(self, phase):
        self.events.append(("closed", phase.label))


def result(name: str, records_in: int, records_out: int, rejected: dict[str, int]) -> StageResult:
    return StageResult(name, None, records_in, records_out, rejected)


@pytest.mark.parametrize("seconds, text", [(0, "0.0 s"), (12.34, "12.3 s"), (59.9, "59.9 s"), (60, "1:00"),
                                           (125.7, "2:05"), (3725, "1:02:05")])
def test_elapsed_reads_as_seconds_then_minutes_then_hours(seconds, text):
    assert format_elapsed(seconds) == text


@pytest.mark.parametrize("counts, text", [
    (TaskCounts(), ""),
    (TaskCounts(done=37, total=64, running=2), "37/64 tasks, 2 running"),
    (TaskCounts(done=1024, total=2048, running=0, failed=1), "1,024/2,048 tasks, 1 failed"),
    (TaskCounts(done=9, total=8), "8/8 tasks"),  # a speculative copy never shows more done than there are
])
def test_task_counts_read_done_of_total_then_running_and_failed(counts, text):
    assert format_tasks(counts) == text


def test_a_group_sums_its_jobs_and_leaves_out_the_stages_an_ended_job_skipped():
    tracker = FakeTracker(
        {"g": [1, 2, 3, 4]},
        {1: Job(1, [10, 11], "SUCCEEDED"),  # stage 10's shuffle output was reused: it ran no task
         2: Job(2, [20, 21], "RUNNING"),  # stage 21 waits for stage 20: counted, as the Spark UI does
         3: Job(3, [30, 31], "RUNNING"),  # stage 31's information is not there (yet)
         4: Job(4, [40], "FAILED")},
        {10: stage(10, 8), 11: stage(11, 4, completed=4),
         20: stage(20, 6, active=2, completed=3), 21: stage(21, 2),
         30: stage(30, 5, active=1),
         40: stage(40, 3, completed=1, failed=2)})
    assert JobGroupCounter(tracker, "g").counts() == TaskCounts(done=4 + 3 + 1, total=4 + 8 + 5 + 3, running=3,
                                                                 failed=2)


def test_an_ended_job_is_read_once_and_an_unknown_one_counts_nothing():
    tracker = FakeTracker({"g": [1, 2]}, {1: Job(1, [10], "SUCCEEDED")}, {10: stage(10, 4, completed=4)})
    counter = JobGroupCounter(tracker, "g")
    assert counter.counts() == counter.counts() == TaskCounts(done=4, total=4)
    assert tracker.job_lookups == [1, 2, 2]  # job 2, not known yet, is asked for again


def test_phases_name_themselves_tag_their_jobs_and_report_their_wall_time():
    clock, sc, view = FakeClock(), FakeSparkContext(), Recording()
    watch = BuildWatch(view, sc, clock)
    watch.open_phase()
    first_group = sc.properties[JOB_GROUP]
    clock.now += 2  # the stage plans its input before it counts
    watch.begin("parse")
    assert sc.properties == {JOB_GROUP: first_group, JOB_DESCRIPTION: "lifeqa parse"}
    clock.now += 3
    watch.stage_finished(result("parse", 10, 8, {"parse_error": 2}))
    assert sc.properties[JOB_GROUP] != first_group and sc.properties[JOB_DESCRIPTION] == "lifeqa …"
    watch.begin("counting for the card")
    clock.now += 1.5
    watch.begin("writing the release")  # a step ends where the next one begins
    assert [p.seconds for p in watch.phases[:2]] == [5.0, 1.5]
    assert watch.phases[0].stage.records_out == 8 and watch.phases[1].stage is None
    assert view.events == [("opened", "…"), ("named", "parse"), ("closed", "parse"), ("opened", "…"),
                           ("named", "counting for the card"), ("closed", "counting for the card"),
                           ("opened", "writing the release")]
    assert len({p.job_group for p in watch.phases}) == 3 and all(watch.build_id in p.job_group for p in watch.phases)


def test_each_build_has_its_own_job_groups():
    first, second = BuildWatch(BuildProgress(), FakeSparkContext()), BuildWatch(BuildProgress(), FakeSparkContext())
    first.open_phase(), second.open_phase()
    assert first.current.job_group != second.current.job_group


def test_plain_progress_writes_a_line_per_stage_and_per_step():
    lines: list[str] = []
    clock = FakeClock()
    watch = BuildWatch(PlainProgress(lines.append), FakeSparkContext(), clock)
    watch.open_phase()
    watch.begin("parse")
    clock.now += 12.3
    watch.stage_finished(result("parse", 24_700, 24_690, {"parse_error": 6, "not_utf8": 4}))
    watch.begin("writing the release")
    clock.now += 75
    watch.close_phase()
    assert lines == ["parse: 24,700 in, 24,690 out, 10 rejected, 12.3 s", "writing the release: 1:15"]


def test_an_unnamed_phase_writes_no_line():
    lines: list[str] = []
    watch = BuildWatch(PlainProgress(lines.append), FakeSparkContext())
    watch.open_phase()
    watch.close_phase()
    assert lines == []


def test_watching_reaches_stages_and_steps_and_gives_the_thread_its_job_group_back():
    sc, view = FakeSparkContext(properties={JOB_GROUP: "the notebook's"}), Recording()
    stage_started("outside")  # a stage run directly (a test, a notebook) tells no one
    with watching(view, sc):
        stage_started("parse")
        stage_finished(result("parse", 1, 1, {}))
        step_started("writing the release")
    assert view.events == [("start", ""), ("opened", "…"), ("named", "parse"), ("closed", "parse"),
                           ("opened", "…"), ("named", "writing the release"), ("closed", "writing the release"),
                           ("stop", "")]
    assert sc.properties == {JOB_GROUP: "the notebook's"}


def test_a_failed_build_closes_no_phase_but_stops_its_view():
    sc, view = FakeSparkContext(), Recording()
    with pytest.raises(RuntimeError), watching(view, sc):
        stage_started("parse")
        raise RuntimeError("the stage failed")
    assert view.events[-2:] == [("named", "parse"), ("stop", "")] and sc.properties == {}


def test_rows_are_counted_only_for_a_view_that_shows_them():
    sc = FakeSparkContext()
    assert row_counter(sc) is None
    with watching(PlainProgress(lambda line: None), sc):
        assert row_counter(sc) is None
    with watching(Recording(), sc) as watch:
        first, second = row_counter(sc), row_counter(sc)
        first.value, second.value = 1000, 24
        assert watch.current.rows_so_far() == 1024 and len(sc.accumulators) == 2
        stage_finished(result("parse", 1, 1, {}))
        assert watch.current.rows_so_far() is None


def live(tracker, clock) -> LiveProgress:
    return LiveProgress(Console(file=io.StringIO(), force_terminal=True, width=160), tracker, clock)


def fields(view: LiveProgress, phase: Phase):
    task = next(t for t in view.display.tasks if t.id == view.rows[phase.index])
    return task, task.fields


def test_the_live_row_follows_the_status_tracker_then_shows_the_stage_counts():
    clock = FakeClock()
    tracker = FakeTracker({"g0": [1]}, {1: Job(1, [10], "RUNNING")}, {10: stage(10, 8, active=2, completed=3)})
    view = live(tracker, clock)
    phase = Phase(0, "g0", clock(), "normalize", row_counters=[FakeAccumulator(1500)])
    view.opened(phase)
    clock.now += 4.2
    view.poll()
    task, shown = fields(view, phase)
    assert task.description == "normalize"
    assert shown == {"counts": TaskCounts(done=3, total=8, running=2), "closed": False,
                     "tasks": "3/8 tasks, 2 running", "rows": "1,500 rows", "elapsed": "4.2 s"}
    tracker.jobs[1], tracker.stages[10] = Job(1, [10], "SUCCEEDED"), stage(10, 8, completed=8)
    phase.seconds, phase.stage = 5.0, result("normalize", 1600, 1500, {"invalid_residue": 100})
    view.closed(phase)
    task, shown = fields(view, phase)
    assert view.running is None
    assert shown == {"counts": TaskCounts(done=8, total=8), "closed": True, "tasks": "8/8 tasks",
                     "rows": "1,600 in, 1,500 out, 100 rejected", "elapsed": "5.0 s"}
    view.poll()  # nothing runs: the finished row stays as it is
    assert fields(view, phase)[1]["elapsed"] == "5.0 s"


def rendered(view: LiveProgress, phase: Phase):
    """(the spinner column's text, the bar column's bar) of the phase's row."""
    task, _ = fields(view, phase)
    spinner = next(c for c in view.display.columns if isinstance(c, PhaseSpinner))
    bar = next(c for c in view.display.columns if isinstance(c, PhaseBar))
    return str(spinner.render(task)), bar.render(task)


def test_the_bar_pulses_while_a_phase_has_no_spark_task_to_wait_for_and_ticks_once_closed():
    clock = FakeClock()
    tracker = FakeTracker({"g0": [1]}, {1: Job(1, [10], "SUCCEEDED")}, {10: stage(10, 4, completed=4)})
    view = live(tracker, clock)
    phase = Phase(0, "g0", clock(), "split")
    view.opened(phase)
    spinner, bar = rendered(view, phase)
    assert bar.pulse and spinner != "✓"  # no job yet
    view.poll()
    spinner, bar = rendered(view, phase)
    assert bar.pulse and spinner != "✓"  # its job is done, MMseqs2 runs: still running, not finished
    tracker.groups["g0"].append(2)
    tracker.jobs[2] = Job(2, [20], "RUNNING")
    tracker.stages[20] = stage(20, 4, active=2, completed=1)
    view.poll()
    _, bar = rendered(view, phase)
    assert (bar.pulse, bar.completed, bar.total) == (False, 5, 8)
    phase.seconds = 9.0
    view.closed(phase)
    spinner, bar = rendered(view, phase)
    assert spinner == "✓" and not bar.pulse and bar.completed == bar.total


def test_an_unnamed_phase_leaves_no_row():
    clock = FakeClock()
    view = live(FakeTracker({}, {}, {}), clock)
    phase = Phase(0, "g0", clock())
    view.opened(phase)
    view.poll()
    task, shown = fields(view, phase)
    assert shown["tasks"] == "" and task.description == "…"
    phase.seconds = 1.0
    view.closed(phase)
    assert view.display.tasks == []


def test_the_poller_runs_in_a_daemon_thread_and_ends_when_the_jvm_is_gone():
    polled = threading.Event()

    class GoneTracker(FakeTracker):
        def getJobIdsForGroup(self, group):
            polled.set()
            raise Py4JError("the JVM went away")

    view = live(GoneTracker({}, {}, {}), FakeClock())
    view.start()
    view.opened(Phase(0, "g0", 0.0, "parse"))
    assert polled.wait(5)
    view.poller.join(5)
    assert view.poller.daemon and not view.poller.is_alive()
    view.stop()


def test_the_cli_shows_live_progress_only_on_an_interactive_terminal():
    sc = FakeSparkContext(tracker=FakeTracker({}, {}, {}))
    terminal = Console(file=io.StringIO(), force_terminal=True, force_interactive=True)
    assert isinstance(progress_for(terminal, sc), LiveProgress)
    assert isinstance(progress_for(terminal, sc, verbose=True), PlainProgress)  # Spark's logs would tear it
    assert isinstance(progress_for(Console(file=io.StringIO()), sc), PlainProgress)
    assert isinstance(progress_for(Console(file=io.StringIO(), force_terminal=True, force_interactive=False), sc),
                      PlainProgress)
