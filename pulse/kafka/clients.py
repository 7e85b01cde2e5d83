"""The two Kafka clients the source can read with, behind one small interface.

confluent-kafka (librdkafka) is the default and the fastest; kafka-python is pure Python, for
machines where librdkafka cannot be installed (`kafka.client=kafka-python`). Both give the
same rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import pyarrow as pa

from pulse.kafka.options import SourceOptions

TP = tuple[str, int]
Range = tuple[str, int, int, int]  # topic, partition, start, end (exclusive)

log = logging.getLogger("pulse.kafka.source")

# How long a watermark probe waits for every partition's fetch. Tansu answers ListOffsets
# (latest) with the base offset of the last record batch + 1, so the clients fetch from there
# to learn the true end; on a loaded machine the answers take a while.
PROBE_SECONDS = 10.0


class KafkaClient(Protocol):
    """What the source needs from a Kafka client: metadata, true watermarks, range reads."""

    def topics(self) -> dict[str, int]:
        """Partition count of every (non-internal) topic."""
        ...

    def watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, true end) offsets per partition."""
        ...

    def recent_watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, end) offsets per partition, the end possibly a moment old: cheaper on
        brokers where `watermarks` costs more as partitions grow (Tansu)."""
        ...

    def read(
        self, topic: str, partition: int, start: int, end: int, include_headers: bool
    ) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of one partition as Arrow batches in Spark's Kafka schema."""
        ...

    def read_many(self, ranges: Sequence[Range], include_headers: bool) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of several partitions `(topic, partition, start, end)`, for the
        driver's read of a whole batch (`pulse.kafka.batch`)."""
        ...

    def close(self) -> None:
        """Release sockets and threads."""
        ...


def open_client(options: SourceOptions) -> KafkaClient:
    """A connected client of the kind `kafka.client` asks for."""
    if options.client == "kafka-python":
        from pulse.kafka.kafka_python_client import KafkaPythonClient

        return KafkaPythonClient(options.bootstrap, options.client_params)
    from pulse.kafka.confluent_client import ConfluentClient

    return ConfluentClient({"bootstrap.servers": options.bootstrap, **options.client_params})


def warn_unprobed(partitions: list[TP]) -> None:
    """Say which partitions kept the broker's ListOffsets end: on Tansu it can be short by
    the last record batch, which a later batch reads (an AvailableNow run leaves it for the
    next run). Nothing is lost, but the reader of the log should know why."""
    if partitions:
        log.warning(
            "no fetch answer within %.0f s from %s: their end offsets are the broker's "
            "ListOffsets answer, which can be short of the last record batch; the rest is read "
            "in a later batch",
            PROBE_SECONDS,
            ", ".join(f"{topic}[{partition}]" for topic, partition in partitions),
        )


def select_partitions(
    existing: Mapping[str, int], topics: list[str] | tuple[str, ...] | None, pattern: str | None
) -> list[TP]:
    """The partitions of the named topics that exist, or of every topic matching `pattern`."""
    if pattern is not None:
        regex = re.compile(pattern)
        chosen = [name for name in existing if regex.fullmatch(name)]
    else:
        chosen = [name for name in topics or () if name in existing]
    return sorted((name, p) for name in chosen for p in range(existing[name]))
