"""The Spark settings a build starts with (etl/spark.py), without starting Spark."""

from __future__ import annotations

import os

from etl import spark as lifeqa_spark
from etl.spark import MIN_LOCAL_DRIVER_MB, local_driver_memory, spark_conf


def megabytes(setting: str) -> int:
    assert setting.endswith("m")
    return int(setting[:-1])


def test_a_local_driver_gets_a_quarter_of_the_memory_and_at_least_the_floor():
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20
    assert MIN_LOCAL_DRIVER_MB <= megabytes(local_driver_memory()) <= max(MIN_LOCAL_DRIVER_MB, physical // 4)
    assert spark_conf("local[2]")["spark.driver.memory"] == local_driver_memory()


def test_a_container_limit_caps_the_local_driver(tmp_path, monkeypatch):
    limit = tmp_path / "memory.max"
    limit.write_text(str(12 << 30))
    monkeypatch.setattr(lifeqa_spark, "CGROUP_MEMORY_LIMITS", (str(tmp_path / "absent"), str(limit)))
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert megabytes(local_driver_memory()) == max(MIN_LOCAL_DRIVER_MB, min(physical, 12 << 30) // 4 >> 20)
    limit.write_text("max\n")  # cgroup v2's "no limit"
    assert megabytes(local_driver_memory()) == max(MIN_LOCAL_DRIVER_MB, physical // 4 >> 20)
    limit.write_text(str(1 << 30))
    assert local_driver_memory() == f"{MIN_LOCAL_DRIVER_MB}m"


def test_the_config_sets_another_heap_and_a_cluster_keeps_its_own():
    assert spark_conf("local[2]", {"spark.driver.memory": "12g"})["spark.driver.memory"] == "12g"
    assert "spark.driver.memory" not in spark_conf("spark://127.0.0.1:7077")
