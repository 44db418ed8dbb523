"""The one SparkSession factory.

`local[*]` by default; a cluster by passing its master URL (`spark://`, `yarn`,
`k8s://`). Arrow is on (mapInArrow / mapInPandas move Arrow batches, not pickled
rows), the Python worker faulthandler is on (a crashing native library such as
RDKit leaves a traceback instead of a bare "worker exited"), and Spark's own
logging is kept at ERROR unless `verbose`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_MASTER = "local[*]"


QUIET_LOG4J = Path(__file__).resolve().parent / "resources" / "log4j2-quiet.properties"


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
        # Set before the JVM starts, so even Spark's start-up warnings stay quiet.
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{QUIET_LOG4J}"
    if conf["spark.master"].startswith("local"):
        # Workers must run the interpreter that has lifeqa installed.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
        # In local mode the driver JVM is also the executor; Spark's 1g default leaves
        # aggregations little room next to the persisted stages.
        conf["spark.driver.memory"] = "2g"
    conf.update(extra or {})
    return conf


def get_spark(
    master: str | None = None,
    app_name: str = "lifeqa",
    verbose: bool = False,
    extra_conf: dict[str, str] | None = None,
):
    """Return the active SparkSession, creating it with lifeqa's settings if there is none."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if (master or DEFAULT_MASTER).startswith("local"):
        # A local run needs no routable address; this also silences Spark's loopback warning.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(master, extra_conf, verbose).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("INFO" if verbose else "ERROR")
    return spark
