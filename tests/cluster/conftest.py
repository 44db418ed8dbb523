"""A Spark standalone cluster on 127.0.0.1: one Master and two Workers, started from the pip PySpark.

The wheel ships `bin/spark-class` but no `sbin/start-master.sh` / `start-worker.sh`, so the
daemons are launched through spark-class directly, each writing its log to a file that tells
when it is ready. They are stopped by PID at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
MASTER_READY = "I have been elected leader"
WORKER_READY = "Successfully registered with master"
WORKERS = 2
# One core each: the scheduler then spreads an application over both workers, one executor per
# worker. 1 GB is the executor's default heap; the daemons themselves get 256 MB.
WORKER_CORES = "1"
WORKER_MEMORY = "1g"
DAEMON_MEMORY = "256m"
# A JVM start on a loaded two-core machine; a daemon that needs longer has failed.
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class StandaloneCluster:
    master_url: str
    work_dirs: tuple[Path, ...]  # one per worker: each application's executors run and log there


@dataclass(frozen=True)
class Daemon:
    name: str
    process: subprocess.Popen
    log: Path


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def daemon_environment(root: Path) -> dict[str, str]:
    # Executors inherit their worker's environment, so anything the test process sees
    # (the venv, PYTHONPATH) is what a node with lifeqa installed would see. Their shuffle and
    # spill files go where SPARK_LOCAL_DIRS says: into the session's temporary folder.
    scratch = root / "scratch"
    scratch.mkdir()
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY, "SPARK_LOCAL_DIRS": str(scratch)}


def start_daemon(name: str, main_class: str, args: list[str], log: Path, env: dict[str, str]) -> Daemon:
    # spark-class execs the JVM in place, so the process's PID is the daemon's.
    command = [str(spark_home() / "bin" / "spark-class"), main_class, *args]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Daemon(name, process, log)


def log_tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])


def wait_until_logged(daemon: Daemon, text: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in daemon.log.read_text(errors="replace"):
            return
        if daemon.process.poll() is not None:
            raise RuntimeError(f"Spark {daemon.name} exited with {daemon.process.returncode} before logging "
                               f"{text!r}; last lines of {daemon.log}:\n{log_tail(daemon.log)}")
        time.sleep(0.25)
    raise RuntimeError(f"Spark {daemon.name} did not log {text!r} within {timeout_s}s; "
                       f"last lines of {daemon.log}:\n{log_tail(daemon.log)}")


def stop(daemon: Daemon) -> None:
    if daemon.process.poll() is None:
        daemon.process.terminate()
        try:
            daemon.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


def start_master(root: Path, env: dict[str, str]) -> tuple[Daemon, str]:
    port = free_port()
    master = start_daemon("master", MASTER_CLASS,
                          ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())],
                          root / "master.log", env)
    return master, f"spark://127.0.0.1:{port}"


def start_worker(index: int, master_url: str, root: Path, env: dict[str, str]) -> tuple[Daemon, Path]:
    # Without --work-dir a worker writes its applications into SPARK_HOME/work, inside site-packages.
    work_dir = root / f"worker-{index}"
    work_dir.mkdir()
    worker = start_daemon(f"worker {index}", WORKER_CLASS,
                          ["--host", "127.0.0.1", "--cores", WORKER_CORES, "--memory", WORKER_MEMORY,
                           "--webui-port", str(free_port()), "--work-dir", str(work_dir), master_url],
                          root / f"worker-{index}.log", env)
    return worker, work_dir


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """A Master and two Workers on 127.0.0.1, ready to run applications."""
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH; Spark's standalone daemons need Java 17")
    root = tmp_path_factory.mktemp("spark-cluster")
    env = daemon_environment(root)
    started: list[Daemon] = []
    try:
        master, master_url = start_master(root, env)
        started.append(master)
        wait_until_logged(master, MASTER_READY)
        work_dirs = []
        for index in range(WORKERS):
            worker, work_dir = start_worker(index, master_url, root, env)
            started.append(worker)
            work_dirs.append(work_dir)
        for worker in started[1:]:
            wait_until_logged(worker, WORKER_READY)
        yield StandaloneCluster(master_url, tuple(work_dirs))
    finally:
        # Workers first, so that none is left trying to reconnect to a stopped master.
        for daemon in reversed(started):
            stop(daemon)
