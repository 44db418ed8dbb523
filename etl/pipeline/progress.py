"""How far a build is, for a person watching it.

A build runs as a sequence of phases: its lifeqa stages (parse, normalize, ...: `finish_stage`
reports each with its counts) and then the release steps (`build_release`: counting for the card,
writing the release, ...). While a build is watched (`watching`), every Spark job it runs carries
the job group of the phase running, so a display can ask Spark's status tracker how many of that
phase's tasks are done.

A phase opens when the one before it closes, so the Spark work a stage does before it counts
(a homology search, a split's held-out groups) is its own; it gets its name when its stage says
it (`stage_started`, `step_started`).

Views: `BuildProgress` shows nothing (what library callers, tests and notebooks get: nothing is
watched unless asked for); the CLI watches with `LiveProgress` (a rich display polling the status
tracker) on an interactive terminal and `PlainProgress` (one line per finished phase) elsewhere.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.progress_bar import ProgressBar
from rich.table import Column

if TYPE_CHECKING:
    from etl.pipeline.stages import StageResult

# SparkContext local properties: a job's group (what the status tracker finds jobs by) and the
# description the Spark UI shows for it. Both are per thread, as the build's actions are.
JOB_GROUP = "spark.jobGroup.id"
JOB_DESCRIPTION = "spark.job.description"
POLL_SECONDS = 0.3
# Shown for a phase until its stage names it.
UNNAMED = "…"


@dataclass(frozen=True)
class TaskCounts:
    """Spark tasks of a phase's jobs."""

    done: int = 0
    total: int = 0
    running: int = 0
    failed: int = 0

    def __add__(self, other: TaskCounts) -> TaskCounts:
        return TaskCounts(self.done + other.done, self.total + other.total, self.running + other.running,
                          self.failed + other.failed)


@dataclass
class Phase:
    """One stage or release step of a build, as long as it runs."""

    index: int
    job_group: str
    started: float
    name: str | None = None
    seconds: float | None = None  # set when it closes
    stage: StageResult | None = None  # a lifeqa stage's counts, when it closes
    row_counters: list = field(default_factory=list)  # Spark accumulators its steps' tasks add rows to

    @property
    def label(self) -> str:
        return self.name or UNNAMED

    def rows_so_far(self) -> int | None:
        """Rows its steps' finished tasks yielded (accumulators arrive when a task ends); None if it counts none."""
        return sum(counter.value for counter in self.row_counters) if self.row_counters else None


def format_count(n: int) -> str:
    return f"{n:,}"


def format_elapsed(seconds: float) -> str:
    """12.3 s under a minute, then m:ss, then h:mm:ss."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_tasks(counts: TaskCounts) -> str:
    """'37/64 tasks, 2 running, 1 failed'; empty while no Spark task is known (the driver is working)."""
    if not counts.total:
        return ""
    text = f"{format_count(min(counts.done, counts.total))}/{format_count(counts.total)} tasks"
    if counts.running:
        text += f", {format_count(counts.running)} running"
    if counts.failed:
        text += f", {format_count(counts.failed)} failed"
    return text


def format_stage_counts(stage: StageResult) -> str:
    rejected = sum(stage.rejected.values())
    return (f"{format_count(stage.records_in)} in, {format_count(stage.records_out)} out, "
            f"{format_count(rejected)} rejected")


def format_phase_line(phase: Phase) -> str:
    """A closed phase in one line: 'parse: 24,700 in, 24,690 out, 10 rejected, 12.3 s', 'writing the release: 3.2 s'."""
    counts = f"{format_stage_counts(phase.stage)}, " if phase.stage is not None else ""
    return f"{phase.label}: {counts}{format_elapsed(phase.seconds)}"


def job_task_counts(tracker, job_id: int) -> tuple[TaskCounts, bool]:
    """(task counts of one Spark job, whether the job has ended and they are final)."""
    job = tracker.getJobInfo(job_id)
    if job is None:  # not registered yet, or already forgotten (the tracker keeps recent jobs only)
        return TaskCounts(), False
    stages = [info for info in (tracker.getStageInfo(i) for i in job.stageIds) if info is not None]
    ended = job.status in ("SUCCEEDED", "FAILED")
    if ended:
        # A stage that ran no task in an ended job was skipped (its shuffle output was reused),
        # as the Spark UI leaves it out of a job's tasks.
        stages = [s for s in stages if s.numCompletedTasks or s.numFailedTasks]
    return sum((TaskCounts(s.numCompletedTasks, s.numTasks, s.numActiveTasks, s.numFailedTasks) for s in stages),
               TaskCounts()), ended


class JobGroupCounter:
    """Task counts of the Spark jobs of one job group, read from a status tracker
    (`SparkContext.statusTracker()`); an ended job is read once."""

    def __init__(self, tracker, job_group: str):
        self.tracker, self.job_group = tracker, job_group
        self.ended: dict[int, TaskCounts] = {}

    def counts(self) -> TaskCounts:
        return sum((self.job_counts(job_id) for job_id in self.tracker.getJobIdsForGroup(self.job_group)),
                   TaskCounts())

    def job_counts(self, job_id: int) -> TaskCounts:
        if job_id in self.ended:
            return self.ended[job_id]
        counts, ended = job_task_counts(self.tracker, job_id)
        if ended:
            self.ended[job_id] = counts
        return counts


class BuildProgress:
    """Hears a watched build's phases; shows nothing. Subclasses show them."""

    # Whether steps count their rows for this view (a Spark accumulator per step); only a live display reads them.
    wants_row_counts = False

    def start(self) -> None:
        """Before the build's first phase."""

    def stop(self) -> None:
        """After the build, also one that failed."""

    def opened(self, phase: Phase) -> None:
        """A phase began; its name may come later (`named`)."""

    def named(self, phase: Phase) -> None:
        """The stage or step running in `phase` said its name."""

    def closed(self, phase: Phase) -> None:
        """`phase` ended (its `seconds` and, for a lifeqa stage, `stage` are set)."""


class PlainProgress(BuildProgress):
    """One line per finished phase (for logs, CI: no live display), through `write` (e.g. Console.print)."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def closed(self, phase: Phase) -> None:
        if phase.name is not None:  # an unnamed phase ran no stage and no step
            self.write(format_phase_line(phase))


class PhaseSpinner(SpinnerColumn):
    """A spinner while the phase runs, a tick once it has closed.

    Rich's own spinner and bar end once a task's completed reaches its total; a phase's known
    Spark tasks can all be done while it still runs (the driver or MMseqs2 at work, the next job
    not yet submitted), so these columns read the phase's own fields instead."""

    def render(self, task):
        return self.finished_text if task.fields["closed"] else self.spinner.render(task.get_time())


class PhaseBar(BarColumn):
    """Spark tasks done of those known; pulsing while none is left to wait for and the phase runs on."""

    def render(self, task):
        counts, closed = task.fields["counts"], task.fields["closed"]
        total = max(counts.total, 1)
        return ProgressBar(total=total, completed=total if closed else min(counts.done, total),
                           pulse=not closed and counts.done >= counts.total, animation_time=task.get_time(),
                           width=self.bar_width, style=self.style, complete_style=self.complete_style,
                           finished_style=self.finished_style, pulse_style=self.pulse_style)


def as_wide_as(example: str) -> Column:
    return Column(min_width=len(example))


class LiveProgress(BuildProgress):
    """A rich display on `console`: a row per phase (elapsed time, its Spark tasks done of total,
    rows its steps yielded so far, then its counts), the running row refreshed by a daemon thread
    that polls Spark's status tracker. It vanishes when the build ends, leaving the console as the
    build's own output leaves it."""

    wants_row_counts = True

    def __init__(self, console, tracker, clock: Callable[[], float] = time.monotonic):
        self.tracker, self.clock = tracker, clock
        # Most telling first, so that a narrow terminal crops the counts, not the time; columns as
        # wide as most of their values, so that they do not shift as the running row's text changes.
        self.display = Progress(
            PhaseSpinner(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}", table_column=as_wide_as("validating the release")),
            TextColumn("{task.fields[elapsed]}", justify="right", table_column=as_wide_as("10:00")),
            PhaseBar(bar_width=20),
            TextColumn("{task.fields[tasks]}", table_column=as_wide_as("1,000/1,000 tasks, 2 running")),
            TextColumn("{task.fields[rows]}"),
            console=console, transient=True)
        self.lock = threading.Lock()  # the build's thread changes phases while the poller reads them
        self.rows: dict[int, int] = {}  # phase index -> its rich task
        self.running: tuple[Phase, JobGroupCounter] | None = None
        self.stopped = threading.Event()
        self.poller = threading.Thread(target=self.poll_until_stopped, name="lifeqa-progress", daemon=True)

    def start(self) -> None:
        self.display.start()
        self.poller.start()

    def stop(self) -> None:
        self.stopped.set()
        # Bounded: a poll blocked on a JVM that is going away (an interrupted build) must not
        # hold the build's own error back; the poller is a daemon and dies with the process.
        self.poller.join(timeout=5)
        self.display.stop()

    def opened(self, phase: Phase) -> None:
        with self.lock:
            self.rows[phase.index] = self.display.add_task(phase.label, counts=TaskCounts(), closed=False, tasks="",
                                                           rows="", elapsed=format_elapsed(0.0))
            self.running = phase, JobGroupCounter(self.tracker, phase.job_group)

    def named(self, phase: Phase) -> None:
        self.display.update(self.rows[phase.index], description=phase.label)

    def closed(self, phase: Phase) -> None:
        with self.lock:
            counter = self.running[1]
            self.running = None
        if phase.name is None:
            self.display.remove_task(self.rows[phase.index])
            return
        counts = counter.counts()
        rows = format_stage_counts(phase.stage) if phase.stage is not None else self.format_rows(phase)
        self.display.update(self.rows[phase.index], counts=counts, closed=True, tasks=format_tasks(counts),
                            rows=rows, elapsed=format_elapsed(phase.seconds))

    @staticmethod
    def format_rows(phase: Phase) -> str:
        rows = phase.rows_so_far()
        return "" if rows is None else f"{format_count(rows)} rows"

    def poll_until_stopped(self) -> None:
        from py4j.protocol import Py4JError

        while not self.stopped.wait(POLL_SECONDS):
            try:
                self.poll()
            except Py4JError:
                # The JVM went away (the build is failing, or Spark was stopped): the build's own
                # error is the one to report, and there is nothing left to poll.
                return

    def poll(self) -> None:
        """Refresh the running phase's row from the status tracker and its row counters."""
        with self.lock:
            running = self.running
        if running is None:
            return
        phase, counter = running
        counts = counter.counts()  # Py4J calls: outside the lock, so the build never waits on them
        with self.lock:
            if self.running is not running:  # it closed meanwhile, with its final figures
                return
            self.display.update(self.rows[phase.index], counts=counts, tasks=format_tasks(counts),
                                rows=self.format_rows(phase), elapsed=format_elapsed(self.clock() - phase.started))


class BuildWatch:
    """The phases of one watched build: which one runs, its Spark job group, and the view told of each change."""

    def __init__(self, progress: BuildProgress, spark_context, clock: Callable[[], float] = time.monotonic):
        self.progress, self.spark_context, self.clock = progress, spark_context, clock
        # One long-lived SparkContext (a notebook, the test suite) runs many builds: job groups are per build.
        self.build_id = uuid.uuid4().hex[:12]
        self.phases: list[Phase] = []

    @property
    def current(self) -> Phase:
        return self.phases[-1]

    def open_phase(self, name: str | None = None) -> None:
        index = len(self.phases)
        self.phases.append(Phase(index, f"lifeqa-{self.build_id}-{index}", self.clock(), name))
        self.spark_context.setLocalProperty(JOB_GROUP, self.current.job_group)
        self.describe_jobs()
        self.progress.opened(self.current)

    def describe_jobs(self) -> None:
        self.spark_context.setLocalProperty(JOB_DESCRIPTION, f"lifeqa {self.current.label}")

    def close_phase(self, stage: StageResult | None = None) -> None:
        self.current.seconds, self.current.stage = self.clock() - self.current.started, stage
        self.progress.closed(self.current)

    def begin(self, name: str) -> None:
        """The stage or step `name` runs: it names the open phase, or follows the step before it."""
        if self.current.name is None:
            self.current.name = name
            self.describe_jobs()
            self.progress.named(self.current)
            return
        self.close_phase()
        self.open_phase(name)

    def stage_finished(self, stage: StageResult) -> None:
        self.close_phase(stage)
        self.open_phase()


_watched: ContextVar[BuildWatch | None] = ContextVar("lifeqa_watched_build", default=None)


@contextmanager
def watching(progress: BuildProgress, spark_context) -> Iterator[BuildWatch]:
    """The build run inside is shown by `progress`, its Spark jobs tagged by phase; after it,
    the thread's own job group and description (a notebook's) are back."""
    saved = {key: spark_context.getLocalProperty(key) for key in (JOB_GROUP, JOB_DESCRIPTION)}
    watch = BuildWatch(progress, spark_context)
    token = _watched.set(watch)
    progress.start()
    try:
        watch.open_phase()
        yield watch
        watch.close_phase()  # the last step ends with the build
    finally:
        progress.stop()
        _watched.reset(token)
        for key, value in saved.items():
            spark_context.setLocalProperty(key, value)  # None removes it


def stage_started(name: str) -> None:
    """A lifeqa stage begins counting (finish_stage); outside a watched build, nothing happens."""
    watch = _watched.get()
    if watch is not None:
        watch.begin(name)


def stage_finished(stage: StageResult) -> None:
    watch = _watched.get()
    if watch is not None:
        watch.stage_finished(stage)


def step_started(name: str) -> None:
    """A release step begins (build_release); the step before it has ended."""
    watch = _watched.get()
    if watch is not None:
        watch.begin(name)


def row_counter(spark_context):
    """A Spark accumulator for a step's tasks to add the rows they yield to, counted for the phase
    running now; None when no view shows rows (then no accumulator is made)."""
    watch = _watched.get()
    if watch is None or not watch.progress.wants_row_counts:
        return None
    counter = spark_context.accumulator(0)
    watch.current.row_counters.append(counter)
    return counter


def progress_for(console, spark_context, verbose: bool = False) -> BuildProgress:
    """The CLI's view: live on an interactive terminal, one line per phase elsewhere (CI, logs,
    a dumb terminal that cannot redraw a line) and with Spark's own logs (`verbose`), which the
    JVM writes to the terminal past rich and would tear a live display."""
    if console.is_interactive and not verbose:
        return LiveProgress(console, spark_context.statusTracker())
    return PlainProgress(lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
