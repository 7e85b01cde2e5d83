"""Processing acknowledgements: one monitoring event per event a job has durably processed.

Joinable by event id with the producers' acks on `platform.monitoring`, so that the path of
every event can be followed (the product seed's monitoring view).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from pulse.events.schema import EventSchema, parse_timestamp

ACKS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("component", pa.string()),
        ("kind", pa.string()),
        ("topic", pa.string()),
        ("event_id", pa.string()),
        ("partition", pa.int64()),
        ("offset", pa.int64()),
        ("count", pa.int64()),
        ("latency_ms", pa.float64()),
    ]
)


def processing_acks(
    events: Sequence[Mapping[str, Any]], schema: EventSchema, component: str, now: datetime
) -> pa.Table:
    """Monitoring events (kind `processing_ack`) for valid events of `schema` (dicts, as
    decoded, with their Kafka origin `kafka_topic`, `kafka_partition`, `kafka_offset`).

    >>> from datetime import UTC
    >>> from pulse.events import SCHEMAS, example
    >>> change = {**example(SCHEMAS["product"]), "kafka_topic": "product.changes",
    ...           "kafka_partition": 0, "kafka_offset": 7}
    >>> ack = processing_acks([change], SCHEMAS["product"], "enrich", datetime.now(UTC))
    >>> ack.to_pylist()[0]["id"]
    'ack-enrich-pc-000001'
    """
    rows = []
    for event in events:
        event_id = event[schema.id_field]
        latency = (now - parse_timestamp(event[schema.time_field])).total_seconds() * 1000
        rows.append(
            {
                "id": f"ack-{component}-{event_id}",
                "ts": now,
                "component": component,
                "kind": "processing_ack",
                "topic": event["kafka_topic"],
                "event_id": event_id,
                "partition": event["kafka_partition"],
                "offset": event["kafka_offset"],
                "count": 1,
                "latency_ms": max(latency, 0.0),
            }
        )
    return pa.Table.from_pylist(rows, schema=ACKS_SCHEMA)
