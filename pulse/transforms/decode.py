"""Raw Kafka records of one batch (on the driver, as Arrow) to the valid events of each domain,
and the reason each other record is bad.

Every query reads its batch's raw records once, on the driver (`pulse.streams.BatchInput`), and
decodes them here with the producers' own validation (`pulse.events.validate`, the record's Kafka
timestamp as its reception), so the jobs and the producers cannot disagree on what is valid.
The live queries skip a bad record (`decode`); the lake job, which owns the dead letters, keeps
its reason (`sort_records`). One Spark job per batch, whatever the number of domains, instead of
one per domain and sink: on two cores, the fixed cost of Spark jobs, not the rows, is what kept
the queries behind.

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> raw = pa.table({"topic": ["t", "t"], "value": [b'{"oops"', b'{"event_id": "e1"}'],
...                 "timestamp": [datetime.now(UTC)] * 2})
>>> decode(raw, {"t": "emoji"})["emoji"]  # neither is a valid emoji event
[]
>>> sort_records(raw, {"t": "emoji"}).reasons[0]
'malformed JSON: {"oops"'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from pulse.events import SCHEMAS, EventSchema, InvalidEvent, validate

EMPTY_REASON = "empty record: the value is null"
UTF8_REASON = "invalid UTF-8 in the value"
EXCERPT_CHARACTERS = 120  # of a malformed value, in its reason


@dataclass(frozen=True)
class Sorted:
    """A batch's records sorted: the valid events of each domain (in record order, with their
    origin when the records carry it), and the row and reason of every other record."""

    events: dict[str, list[dict[str, Any]]]
    failed: list[int]  # row indexes in the records
    reasons: list[str]  # one per failed row


def decode(records: pa.Table, domains: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The valid events of every domain in `domains` (topic -> domain), in record order, each
    with its origin when the records carry it (`kafka_topic`, `kafka_partition`,
    `kafka_offset`, `kafka_timestamp`: for acks and the lake; `pulse.events.arrow` leaves them
    out). Records of other topics
    and bad records are skipped: the lake job's dead letters say why."""
    return sort_records(records, domains).events


def sort_records(records: pa.Table, domains: Mapping[str, str]) -> Sorted:
    """`decode`, keeping the reason of every record that is not a valid event of its topic's
    domain (a record of a topic not in `domains` too)."""
    events: dict[str, list[dict[str, Any]]] = {domain: [] for domain in domains.values()}
    failed: list[int] = []
    reasons: list[str] = []
    topics = records.column("topic").to_pylist()
    values = records.column("value").to_pylist()
    received = records.column("timestamp").to_pylist()
    origin = "offset" in records.column_names
    partitions = records.column("partition").to_pylist() if origin else [None] * len(topics)
    offsets = records.column("offset").to_pylist() if origin else [None] * len(topics)
    for row, (topic, partition, offset, value, at) in enumerate(
        zip(topics, partitions, offsets, values, received, strict=True)
    ):
        domain = domains.get(topic)
        if domain is None:
            failed.append(row)
            reasons.append(f"unknown topic '{topic}': no event schema is registered")
            continue
        try:
            event = validate(SCHEMAS[domain], json.loads(value), at)
        except (TypeError, ValueError, RecursionError) as exc:  # InvalidEvent is a ValueError
            failed.append(row)
            # The same checks name the field; should they ever disagree, the error itself
            # (a bad record is a dead letter with a reason, never a failed batch).
            why = reason(SCHEMAS[domain], value, at)
            reasons.append(why if why is not None else f"{type(exc).__name__}: {exc}")
            continue
        if origin:
            event.update(
                kafka_topic=topic,
                kafka_partition=partition,
                kafka_offset=offset,
                kafka_timestamp=at,
            )
        events[domain].append(event)
    return Sorted(events, failed, reasons)


def reason(schema: EventSchema, value: bytes | None, received_at: datetime) -> str | None:
    """Why `value` is not a valid event of `schema` (None when it is): the first failed check,
    naming the field and the value. Only bad records come here, so it may decode them again.

    >>> from datetime import datetime, UTC
    >>> reason(SCHEMAS["emoji"], b'{"event_id": 7}', datetime.now(UTC))
    "field 'event_id' must be a string (got 7)"
    """
    if value is None:
        return EMPTY_REASON
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return UTF8_REASON
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        excerpt = text if len(text) <= EXCERPT_CHARACTERS else text[: EXCERPT_CHARACTERS - 3]
        suffix = "" if len(text) <= EXCERPT_CHARACTERS else "..."
        cause = "" if isinstance(error, json.JSONDecodeError) else f" ({error})"
        return f"malformed JSON{cause}: {excerpt}{suffix}"
    try:
        validate(schema, document, received_at)
    except InvalidEvent as invalid:
        return invalid.detail
    except (ValueError, RecursionError) as error:  # nesting or numbers beyond the checks
        return f"unreadable event: {error}"
    return None
