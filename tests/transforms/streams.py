"""Run a transform as a real streaming query over JSON files, one file per micro-batch.

No MemoryStream (it is not part of PySpark's public API): each batch of events is written as a
JSON-lines file, read back with `readStream.json` and `maxFilesPerTrigger=1`, and the query
runs with `trigger(availableNow=True)`, so it processes every file, one batch each, and stops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T


@dataclass
class StreamRun:
    """What a finished query emitted, per batch id, and its progress reports."""

    batches: dict[int, list[Row]] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)


def write_batches(directory: Path, batches: Sequence[Sequence[dict[str, Any]]]) -> Path:
    """One JSON-lines file per batch; modification times increase so files are read in order."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, events in enumerate(batches):
        path = directory / f"batch-{number:03d}.json"
        path.write_text("\n".join(json.dumps(event, ensure_ascii=False) for event in events))
        os.utime(path, (1_000_000 + number, 1_000_000 + number))
    return directory


def run_stream(
    spark: SparkSession,
    schema: T.StructType,
    batches: Sequence[Sequence[dict[str, Any]]],
    transform: Callable[[DataFrame], DataFrame],
    tmp_path: Path,
    output_mode: str = "update",
) -> StreamRun:
    """Stream `batches` through `transform` to the end and collect each micro-batch's rows."""
    source = write_batches(tmp_path / "input", batches)
    events = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).json(str(source))
    run = StreamRun()

    def collect(frame: DataFrame, batch_id: int) -> None:
        run.batches[batch_id] = frame.collect()

    # One shuffle partition: one state store per operator instead of four, a much faster test.
    # The partition count is fixed in the checkpoint when the query first starts.
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    try:
        query = (
            transform(events)
            .writeStream.outputMode(output_mode)
            .foreachBatch(collect)
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    query.awaitTermination(timeout=120)
    query.stop()
    run.progress = [dict(progress) for progress in query.recentProgress]
    if query.exception() is not None:
        raise AssertionError(f"streaming query failed: {query.exception()}")
    return run
