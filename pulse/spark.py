"""The SparkSession every job, notebook and test starts from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from pulse.config import PROJECT_ROOT

SPARK_DEFAULTS = PROJECT_ROOT / "conf" / "spark-defaults.conf"
FAIR_POOLS = PROJECT_ROOT / "conf" / "fairscheduler.xml"
LOG4J = PROJECT_ROOT / "conf" / "log4j2.properties"


def spark_defaults(path: Path = SPARK_DEFAULTS) -> dict[str, str]:
    """The settings of `conf/spark-defaults.conf`, the same file spark-submit.sh passes."""
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings[key] = value.strip()
    return settings


def jvm_class_available(spark: SparkSession, class_name: str) -> bool:
    """Whether the driver's JVM can load `class_name` (its jars were supplied to the submit).

    Under Spark Connect there is no local JVM: the answer is no, and Pulse uses its own parts.
    """
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return False
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(class_name, False, loader)
        return True
    except Exception:
        return False


def session(app: str, master: str | None = None) -> SparkSession:
    """Get or create the SparkSession of `app`; `local[*]` unless spark-submit chose a master.

    Workers must run this very Python (it has the project's packages), so PYSPARK_PYTHON is
    set to it when the caller has not chosen one.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    # Under spark-submit (which sets PYSPARK_GATEWAY_PORT) the master and the defaults file
    # come from the command line; only a plain `python` start gets them here.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or os.environ.get("SPARK_MASTER", "local[*]"))
        for key, value in spark_defaults().items():
            builder = builder.config(key, value)
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG4J}"
        )
        builder = builder.config("spark.scheduler.allocation.file", str(FAIR_POOLS))
    return builder.getOrCreate()
