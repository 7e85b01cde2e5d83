#!/usr/bin/env bash
# Submit a Pulse job: ./spark-submit.sh jobs/<job>.py [job arguments]
#
# Locally it runs on local[*] with the project's virtualenv Python. For a cluster set
# SPARK_MASTER (spark://..., yarn, k8s://...) and pass any extra spark-submit options in
# SPARK_SUBMIT_ARGS. The package is zipped on the fly and shipped with --py-files, so executors
# import the same code as the driver. PULSE_CONNECTOR=official adds Spark's Kafka connector and
# Delta packages (for clusters that can download from Maven Central).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 jobs/<job>.py [arguments]" >&2
  exit 2
fi

python="${PYSPARK_PYTHON:-$root/.venv/bin/python}"
if [ ! -x "$python" ]; then
  echo "spark-submit.sh: no Python at $python; run 'make venv' or set PYSPARK_PYTHON" >&2
  exit 1
fi
export PYSPARK_PYTHON="$python"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$python}"
# The driver imports the package from the zip, which holds no conf/: name the file outright.
export PULSE_CONFIG="${PULSE_CONFIG:-$root/conf/pulse.yaml}"

submit="$(dirname "$python")/spark-submit"
[ -x "$submit" ] || submit="$(command -v spark-submit)"

dist="$root/.pulse/dist"
mkdir -p "$dist"
package="$dist/pulse-$$.zip"
trap 'rm -f "$package"' EXIT
(cd "$root" && "$python" -m zipfile -c "$package" pulse >/dev/null)

spark_version="$("$python" -c 'import pyspark; print(pyspark.__version__)')"
extra=()
if [ "${PULSE_CONNECTOR:-python}" = "official" ]; then
  extra+=(--packages "org.apache.spark:spark-sql-kafka-0-10_2.13:${spark_version},io.delta:delta-spark_2.13:4.4.1")
fi
# shellcheck disable=SC2206  # SPARK_SUBMIT_ARGS is split on purpose, like a command line
extra+=(${SPARK_SUBMIT_ARGS:-})

"$submit" \
  --master "${SPARK_MASTER:-local[*]}" \
  --properties-file "$root/conf/spark-defaults.conf" \
  --driver-java-options "-Dlog4j2.configurationFile=file:$root/conf/log4j2.properties" \
  --conf "spark.pyspark.python=$python" \
  --conf "spark.scheduler.allocation.file=$root/conf/fairscheduler.xml" \
  --py-files "$package" \
  "${extra[@]}" \
  "$@"
