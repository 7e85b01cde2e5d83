"""`./spark-submit.sh` runs a job with the project's Python and ships the package to executors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT

pytestmark = pytest.mark.spark

PROBE = """
from pulse.spark import session

spark = session("probe")

def imported(_):
    import sys
    import pulse.config
    return sys.executable

print("EXECUTORS", sorted(set(spark.sparkContext.parallelize(range(4), 2).map(imported).collect())))
print("MASTER", spark.sparkContext.master)
print("SHUFFLE", spark.conf.get("spark.sql.shuffle.partitions"))
spark.stop()
"""


def test_a_job_runs_locally_with_the_project_python_and_defaults(tmp_path: Path):
    job = tmp_path / "probe.py"
    job.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "SPARK_MASTER")}

    done = subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), str(job)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    venv_python = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    assert f"EXECUTORS ['{venv_python}']" in done.stdout
    assert "MASTER local[*]" in done.stdout
    assert "SHUFFLE 2" in done.stdout  # from conf/spark-defaults.conf


def test_without_a_job_it_says_how_to_use_it():
    done = subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh")], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "usage:" in done.stderr
