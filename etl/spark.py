"""The one SparkSession factory.

`local[*]` by default; a cluster by passing its master URL (`spark://`, `yarn`,
`k8s://`). Arrow is on (mapInArrow / mapInPandas move Arrow batches, not pickled
rows), the Python worker faulthandler is on (a crashing native library such as
RDKit leaves a traceback instead of a bare "worker exited"), and Spark's own
logging is kept at ERROR unless `verbose`, so that a quiet start prints nothing.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

DEFAULT_MASTER = "local[*]"


QUIET_LOG4J = Path(__file__).resolve().parent / "resources" / "log4j2-quiet.properties"
# Java prints this once at every start of a JVM given an incubator module. Spark 4's
# launcher always gives the driver `--add-modules=jdk.incubator.vector`, and no JVM
# option silences the notice, so a quiet start filters it out of the JVM's stderr.
INCUBATOR_NOTICE = b"WARNING: Using incubator modules: "


def spark_conf(master: str | None = None, extra: dict[str, str] | None = None,
               verbose: bool = False) -> dict[str, str]:
    conf = {
        "spark.master": master or DEFAULT_MASTER,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.execution.pythonUDF.arrow.enabled": "true",
        "spark.python.worker.faulthandler.enabled": "true",
        "spark.sql.execution.pyspark.udf.faulthandler.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Parquet files are renamed into the HF layout; the _SUCCESS marker is noise there.
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.hadoop.parquet.enable.summary-metadata": "false",
    }
    if not verbose:
        # Set before the JVM starts, so even Spark's start-up warnings stay quiet. The driver's only:
        # on a cluster the executors log into their workers' directories, not onto this terminal.
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{QUIET_LOG4J}"
    if conf["spark.master"].startswith("local"):
        # Workers must run the interpreter that has lifeqa installed.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
        # In local mode the driver JVM is also the executor: it holds the persisted stages next to
        # the sorts and joins, so Spark's 1g default runs out of heap on a PubChem-sized build.
        conf["spark.driver.memory"] = local_driver_memory()
        # Shuffle and spill files in one folder of this process's own, removed when it exits
        # (Spark's default, /tmp/blockmgr-*, outlives a killed run). A cluster's executors keep
        # theirs where their workers say (SPARK_LOCAL_DIRS), on their own disks.
        conf["spark.local.dir"] = local_scratch_dir()
    conf.update(extra or {})
    return conf


# Where a container's memory limit is, under cgroup v2 and v1 (a huge number there: no limit).
CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
MIN_LOCAL_DRIVER_MB = 2048


def local_driver_memory() -> str:
    """A local master's heap: a quarter of the memory this process may use (the JVM's own default
    share), at least 2 GB. The heap is claimed as it is needed, so a small build stays small."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in CGROUP_MEMORY_LIMITS:
        try:
            available = min(available, int(Path(limit).read_text()))
        except (OSError, ValueError):  # no such cgroup file, or "max"
            pass
    return f"{max(MIN_LOCAL_DRIVER_MB, available // 4 >> 20)}m"


@functools.cache
def local_scratch_dir() -> str:
    """One temporary folder per process for a local master's scratch, removed at exit."""
    path = tempfile.mkdtemp(prefix="lifeqa-spark-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def get_spark(
    master: str | None = None,
    app_name: str = "lifeqa",
    verbose: bool = False,
    extra_conf: dict[str, str] | None = None,
):
    """Return the active SparkSession, creating it with lifeqa's settings if there is none."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    # The executors' Python workers run the interpreter PYSPARK_PYTHON names: unless set, this one,
    # which has lifeqa installed. On a cluster that path must then hold the same Python with lifeqa
    # on every node, or PYSPARK_PYTHON names the interpreter of an environment shipped to the
    # executors with spark.archives (README, "Running on a cluster").
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if (master or DEFAULT_MASTER).startswith("local"):
        # A local run needs no routable address; this also silences Spark's loopback warning.
        # A cluster's executors must reach the driver, at the address Spark picks for this host
        # (or SPARK_LOCAL_IP / spark.driver.host where the host has several), so it is left alone.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = SparkConf().setAppName(app_name).setAll(spark_conf(master, extra_conf, verbose).items())
    # The JVM outlives a stopped session, and a later session reuses it: only a first start prints the notice.
    if not verbose and SparkContext._gateway is None:
        SparkContext(conf=conf, gateway=_launch_gateway_without_incubator_notice(conf))
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    spark.sparkContext.setLogLevel("INFO" if verbose else "ERROR")
    return spark


def _launch_gateway_without_incubator_notice(conf):
    """Start Spark's driver JVM as PySpark would, its stderr passed on whole but for the incubator notice."""
    from pyspark.java_gateway import launch_gateway

    read_end, write_end = os.pipe()
    # Forwarding starts before the JVM does, so a JVM that writes much never blocks on a full pipe.
    threading.Thread(target=_forward_stderr, args=(read_end,), name="spark-jvm-stderr", daemon=True).start()
    try:
        return launch_gateway(conf, popen_kwargs={"stderr": write_end})
    finally:
        os.close(write_end)  # the JVM holds its own copy; the forwarder ends when the JVM exits


def _forward_stderr(read_end: int) -> None:
    # To file descriptor 2, which the JVM would otherwise have inherited.
    with open(read_end, "rb") as jvm_stderr, open(2, "wb", closefd=False) as stderr:
        for line in jvm_stderr:
            if not line.startswith(INCUBATOR_NOTICE):
                stderr.write(line)
                stderr.flush()
