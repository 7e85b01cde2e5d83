"""Kafka records as Arrow record batches in the exact schema of Spark's Kafka source.

Arrow batches must match Spark's schema exactly (`timestamp[us, tz=UTC]`, int32 partition,
`binary` not `large_binary`), or Spark refuses them; building columns directly is also about
40% faster than handing Spark tuples (DESIGN.md).
"""

from __future__ import annotations

import pyarrow as pa

HEADERS_TYPE = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))
TIMESTAMP = pa.timestamp("us", tz="UTC")

_BASE_FIELDS = [
    ("key", pa.binary()),
    ("value", pa.binary()),
    ("topic", pa.string()),
    ("partition", pa.int32()),
    ("offset", pa.int64()),
    ("timestamp", TIMESTAMP),
    ("timestampType", pa.int32()),
]


def arrow_schema(include_headers: bool) -> pa.Schema:
    """The Arrow schema of a batch; with `includeHeaders`, the `headers` column is added."""
    fields = _BASE_FIELDS + ([("headers", HEADERS_TYPE)] if include_headers else [])
    return pa.schema(fields)


class RecordBatchBuilder:
    """Collects the records of one partition column by column and emits Arrow batches."""

    def __init__(self, topic: str, partition: int, include_headers: bool) -> None:
        self._topic, self._partition = topic, partition
        self._schema = arrow_schema(include_headers)
        self._include_headers = include_headers
        self._reset()

    @property
    def size(self) -> int:
        """Records collected since the last `build()`."""
        return len(self._offsets)

    def append(
        self,
        key: bytes | None,
        value: bytes | None,
        offset: int,
        timestamp_ms: int,
        timestamp_type: int,
        headers: list[tuple[str, bytes | None]] | None,
    ) -> None:
        """Add one record."""
        self._keys.append(key)
        self._values.append(value)
        self._offsets.append(offset)
        self._timestamps.append(timestamp_ms * 1000)
        self._types.append(timestamp_type)
        if self._include_headers:
            self._headers.append([{"key": k, "value": v} for k, v in headers] if headers else [])

    def build(self) -> pa.RecordBatch:
        """The collected records as one batch; the builder starts empty again."""
        count = len(self._offsets)
        columns = [
            pa.array(self._keys, pa.binary()),
            pa.array(self._values, pa.binary()),
            pa.repeat(pa.scalar(self._topic, pa.string()), count),
            pa.repeat(pa.scalar(self._partition, pa.int32()), count),
            pa.array(self._offsets, pa.int64()),
            pa.array(self._timestamps, pa.int64()).cast(TIMESTAMP),
            pa.array(self._types, pa.int32()),
        ]
        if self._include_headers:
            columns.append(pa.array(self._headers, HEADERS_TYPE))
        self._reset()
        return pa.RecordBatch.from_arrays(columns, schema=self._schema)

    def _reset(self) -> None:
        self._keys: list[bytes | None] = []
        self._values: list[bytes | None] = []
        self._offsets: list[int] = []
        self._timestamps: list[int] = []
        self._types: list[int] = []
        self._headers: list[list[dict[str, str | bytes | None]]] = []
