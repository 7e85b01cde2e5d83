"""The two Kafka clients the source can read with, behind one small interface.

confluent-kafka (librdkafka) is the default and the fastest; kafka-python is pure Python, for
machines where librdkafka cannot be installed (`kafka.client=kafka-python`). Both give the
same rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Protocol

import pyarrow as pa

from pulse.kafka.options import SourceOptions

TP = tuple[str, int]


class KafkaClient(Protocol):
    """What the source needs from a Kafka client: metadata, true watermarks, range reads."""

    def topics(self) -> dict[str, int]:
        """Partition count of every (non-internal) topic."""
        ...

    def watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, true end) offsets per partition."""
        ...

    def read(
        self, topic: str, partition: int, start: int, end: int, include_headers: bool
    ) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of one partition as Arrow batches in Spark's Kafka schema."""
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
