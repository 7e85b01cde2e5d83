"""Raw Kafka records of one batch (on the driver, as Arrow) to the valid events of each domain.

The live queries take their batch from Spark once, raw (`topic`, `value`, `timestamp`), and
decode it here with the producers' own validation (`pulse.events.validate`, the record's Kafka
timestamp as its reception), so the rules are those of `pulse.transforms.parse` by
construction: a record that fails is skipped (the lake job puts it in the dead letters). One
Spark job per batch, whatever the number of domains, instead of one per domain and sink: on two
cores, the fixed cost of Spark jobs, not the rows, is what kept the live queries behind.

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> raw = pa.table({"topic": ["t", "t"], "value": [b'{"oops"', b'{"event_id": "e1"}'],
...                 "timestamp": [datetime.now(UTC)] * 2})
>>> decode(raw, {"t": "emoji"})["emoji"]  # neither is a valid emoji event
[]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from pulse.events import SCHEMAS, InvalidEvent, validate

RAW_COLUMNS = ("topic", "partition", "offset", "value", "timestamp")


def decode(records: pa.Table, domains: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The valid events of every domain in `domains` (topic -> domain), in record order, each
    with its origin when the records carry it (`kafka_topic`, `kafka_partition`,
    `kafka_offset`: for acks and dead letters; `pulse.events.arrow` leaves them out)."""
    events: dict[str, list[dict[str, Any]]] = {domain: [] for domain in domains.values()}
    topics = records.column("topic").to_pylist()
    values = records.column("value").to_pylist()
    received = records.column("timestamp").to_pylist()
    origin = "offset" in records.column_names
    partitions = records.column("partition").to_pylist() if origin else [None] * len(topics)
    offsets = records.column("offset").to_pylist() if origin else [None] * len(topics)
    for topic, partition, offset, value, at in zip(
        topics, partitions, offsets, values, received, strict=True
    ):
        domain = domains.get(topic)
        if domain is None or value is None:
            continue
        try:
            event = validate(SCHEMAS[domain], json.loads(value), at)
        except (ValueError, InvalidEvent, RecursionError):
            continue  # the lake job's dead letters say why
        if origin:
            event.update(kafka_topic=topic, kafka_partition=partition, kafka_offset=offset)
        events[domain].append(event)
    return events
