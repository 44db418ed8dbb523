"""`lifeqa build` on a Spark standalone cluster releases what a local build releases.

Every build runs as a `lifeqa` process of its own: one Python process holds one SparkContext,
and the test session's in-process session is a local one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DATASETS = ["uniprotqa", "pubchemqa"]
LOCAL_MASTER = "local[2]"
BUILD_TIMEOUT_S = 600
# What an executor logs for each task it ran (Spark's default log4j profile on the workers).
TASK_FINISHED = "Finished task"
# The release's identity: rows, rejects, config, and the counts that reconcile them.
SAME_RELEASE_KEYS = ("content_sha256", "rejects_sha256", "config_sha256", "counts")


@dataclass(frozen=True)
class Builds:
    cluster: dict  # the manifest of the build on the cluster
    local: dict  # the manifest of the build in local mode
    applications: list[set[Path]]  # per worker, the application directories the cluster build left


@dataclass(frozen=True)
class RunningBuild:
    dataset: str
    master: str
    out: Path
    log: Path
    process: subprocess.Popen


def start_build(dataset: str, out: Path, master: str) -> RunningBuild:
    """`lifeqa build DATASET` (the bundled sample) in a process of its own, its output in a log beside `out`."""
    lifeqa = Path(sys.executable).parent / "lifeqa"
    # The driver listens where the executors can reach it: on loopback, 127.0.0.1
    # (on a real cluster Spark's default, the host's own address, is the right one).
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    log = out.with_suffix(".log")
    with open(log, "wb") as output:
        process = subprocess.Popen([str(lifeqa), "build", dataset, "--out", str(out), "--master", master],
                                   stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return RunningBuild(dataset, master, out, log, process)


def finished_manifest(build: RunningBuild) -> dict:
    """The build's manifest once it has exited 0; a failure with its output's tail otherwise."""
    what = f"lifeqa build {build.dataset} --master {build.master}"
    try:
        code = build.process.wait(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop_build(build)
        pytest.fail(f"{what} still ran after {BUILD_TIMEOUT_S}s; its output ends:\n{output_tail(build)}")
    assert code == 0, f"{what} exited {code}; its output ends:\n{output_tail(build)}"
    return json.loads((build.out / "manifest.json").read_text())


def output_tail(build: RunningBuild) -> str:
    return build.log.read_text(errors="replace")[-6000:]


def stop_build(build: RunningBuild) -> None:
    if build.process.poll() is None:
        build.process.kill()
        build.process.wait()


def applications(work_dir: Path) -> set[Path]:
    return set(work_dir.glob("app-*"))


def tasks_finished(application: Path) -> int:
    """Tasks the application's executors ran on this worker, counted in their logs (one folder per executor)."""
    return sum(log.read_text(errors="replace").count(TASK_FINISHED) for log in application.glob("*/stderr"))


@pytest.fixture(scope="module", params=DATASETS)
def builds(request, standalone_cluster, tmp_path_factory) -> Builds:
    dataset = request.param
    out = tmp_path_factory.mktemp(f"cluster-{dataset}")
    before = [applications(work_dir) for work_dir in standalone_cluster.work_dirs]
    # Side by side: the two share nothing, and where there are cores to spare the module then takes
    # the longer build's time rather than the sum.
    running = [start_build(dataset, out / "cluster", standalone_cluster.master_url),
               start_build(dataset, out / "local", LOCAL_MASTER)]
    try:
        cluster, local = (finished_manifest(build) for build in running)
    finally:
        for build in running:
            stop_build(build)
    new = [applications(work_dir) - seen for work_dir, seen in zip(standalone_cluster.work_dirs, before)]
    return Builds(cluster, local, new)


def test_the_cluster_build_releases_the_local_build(builds):
    for key in SAME_RELEASE_KEYS:
        assert builds.cluster[key] == builds.local[key], key
    assert builds.cluster["counts"]["rows"] > 0


def test_the_manifest_names_the_master_that_built_it(builds, standalone_cluster):
    assert builds.cluster["spark"]["master"] == standalone_cluster.master_url
    assert builds.local["spark"]["master"] == LOCAL_MASTER


def test_executors_on_both_workers_ran_tasks(builds):
    assert [len(found) for found in builds.applications] == [1] * len(builds.applications)
    for found in builds.applications:
        (application,) = found
        assert tasks_finished(application) > 0, f"no executor of {application} logged a finished task"
