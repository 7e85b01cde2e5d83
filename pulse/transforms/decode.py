"""Raw Kafka records of one batch (on the driver, as Arrow) to the valid events of each domain,
and the reason each other record is bad, by the producers' own validation (`pulse.events.validate`)
so that the jobs and the producers cannot disagree. Arrow parses and checks what it can in bulk
(`pulse.events.bulk`); every other record goes per record (docs/ARCHITECTURE.md, "Decoding a
batch")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pulse.events import SCHEMAS, EventSchema, InvalidEvent, bulk, validate
from pulse.events.arrow import arrow_schema, events_table

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
    and bad records are skipped: the lake job's dead letters say why.

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> raw = pa.table({"topic": ["t", "t"], "value": [b'{"oops"', b'{"event_id": "e1"}'],
    ...                 "timestamp": [datetime.now(UTC)] * 2})
    >>> decode(raw, {"t": "emoji"})["emoji"]  # neither is a valid emoji event
    []

    Records of other topics are dropped in Arrow before any per-record work: the monitor
    decodes its own topic's few hundred events out of every topic's records (52,000 a batch
    at four times the default traffic), and the Python loop over all of them was most of its
    batch.
    """
    return sort_records(_of_topics(records, domains), domains).events


def decode_tables(records: pa.Table, domains: Mapping[str, str]) -> dict[str, pa.Table]:
    """`decode` in Arrow: the valid events of each domain as a table of its `arrow_schema`
    (`sort_tables`), the records of other topics dropped first. The monitor's acks went through
    `decode`'s per-record path, json.loads and a check per event: at eight times the default
    traffic, 6,000 acks a batch, as much of the lake-and-monitor driver's time as the lake's
    whole decode (py-spy).

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> raw = pa.table({"topic": ["t", "other"], "timestamp": [datetime.now(UTC)] * 2, "value": [
    ...     b'{"event_id":"e1","user_id":"u","match_id":"m","emoji":"\\xf0\\x9f\\x94\\xa5",'
    ...     b'"ts":"2026-11-22T20:15:00.000Z"}', b'{"event_id":"e2"}']})
    >>> decode_tables(raw, {"t": "emoji"})["emoji"].column("event_id").to_pylist()
    ['e1']
    """
    return sort_tables(_of_topics(records, domains), domains).events


def _of_topics(records: pa.Table, domains: Mapping[str, str]) -> pa.Table:
    """The records of the topics in `domains`, in Arrow, before any per-record work."""
    topics = pa.array(list(domains), pa.string())
    return records.filter(pc.is_in(records.column("topic"), value_set=topics))


def sort_records(records: pa.Table, domains: Mapping[str, str]) -> Sorted:
    """`decode`, keeping the reason of every record that is not a valid event of its topic's
    domain (a record of a topic not in `domains` too).

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> raw = pa.table({"topic": ["t", "t"], "value": [b'{"oops"', b'{"event_id": "e1"}'],
    ...                 "timestamp": [datetime.now(UTC)] * 2})
    >>> sort_records(raw, {"t": "emoji"}).reasons[0]
    'malformed JSON: {"oops"'
    """
    rows = _sorted_rows(records, domains)
    events = {domain: [event for _, event in found] for domain, found in rows.events.items()}
    return Sorted(events, rows.failed, rows.reasons)


@dataclass(frozen=True)
class SortedTables:
    """A batch's records sorted, in Arrow: the valid events of each domain as a table of its
    `arrow_schema` (in record order; with the origin columns when the records carry offsets),
    and the row and reason of every other record."""

    events: dict[str, pa.Table]
    failed: list[int]
    reasons: list[str]


ORIGIN = {"topic": "kafka_topic", "partition": "kafka_partition", "offset": "kafka_offset"}
ORIGIN_TIMESTAMP = "kafka_timestamp"
CHUNK = 8_192  # records Arrow parses at once (each call costs about 0.3 ms, whatever its size)
FAN_OUT = 8  # parts a chunk Arrow cannot parse is split into
SMALLEST_CHUNK = 16  # records: a smaller chunk that fails goes per record


def sort_tables(records: pa.Table, domains: Mapping[str, str]) -> SortedTables:
    """`sort_records` with typed tables: the events Arrow parses and checks in bulk
    (`pulse.events.bulk`) are never Python objects; every record it does not vouch for goes
    through the per-record path, which decides. 6-16x faster on well-formed batches
    (docs/ARCHITECTURE.md, "Decoding a batch").

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> raw = pa.table({"topic": ["t"] * 2, "timestamp": [datetime.now(UTC)] * 2, "value": [
    ...     b'{"event_id":"e1","user_id":"u","match_id":"m","emoji":"\\xf0\\x9f\\x94\\xa5",'
    ...     b'"ts":"2026-11-22T20:15:00.000Z"}', b'{"oops"']})
    >>> sorted_ = sort_tables(raw, {"t": "emoji"})
    >>> sorted_.events["emoji"].column("event_id").to_pylist(), sorted_.reasons
    (['e1'], ['malformed JSON: {"oops"'])
    """
    topic = records.column("topic").combine_chunks()
    per_record = [pc.indices_nonzero(pc.invert(pc.is_in(topic, pa.array(list(domains)))))]
    vouched: dict[str, list[tuple[pa.Array, pa.Table]]] = {}
    for domain in dict.fromkeys(domains.values()):
        topics = pa.array([name for name, owner in domains.items() if owner == domain])
        rows = pc.indices_nonzero(pc.is_in(topic, topics)).cast(pa.int64())
        found, rest = _in_bulk(_parsed_columns(records, rows), rows, SCHEMAS[domain])
        vouched[domain] = found
        per_record.extend(rest)
    checked = pa.concat_arrays([r.cast(pa.int64()) for r in per_record]).to_pylist()
    slow = _sorted_rows(records.take(pa.array(checked, pa.int64())), domains)
    events = {
        domain: _typed(records, SCHEMAS[domain], vouched[domain], slow.events[domain], checked)
        for domain in vouched
    }
    failed = sorted(zip((checked[row] for row in slow.failed), slow.reasons, strict=True))
    return SortedTables(events, [row for row, _ in failed], [why for _, why in failed])


def _parsed_columns(records: pa.Table, rows: pa.Array) -> pa.Table:
    """The columns Arrow parses (`value`, `timestamp`) of `rows`, copied only when they are not
    one run of rows: the source hands a batch over topic after topic, so a domain's rows are
    usually a slice. A copy of every column was a third of the lake's decode at eight times the
    default traffic (py-spy), most of it first touches of fresh memory."""
    columns = records.select(["value", "timestamp"])
    if len(rows) and rows[-1].as_py() - rows[0].as_py() + 1 == len(rows):
        return columns.slice(rows[0].as_py(), len(rows))
    return columns.take(rows)


def _in_bulk(
    records: pa.Table, rows: pa.Array, schema: EventSchema
) -> tuple[list[tuple[pa.Array, pa.Table]], list[pa.Array]]:
    """(rows, table) pieces Arrow vouches for, and the rows left to the per-record path.

    Arrow parses a chunk whole or not at all, so a chunk that fails is split in `FAN_OUT` and
    each part tried again, down to `SMALLEST_CHUNK` records. When most parts fail too, the
    records are dirty throughout and all go per record: a batch of bad records costs at most
    about a third more than the per-record path alone, a clean one a tenth of it.
    """
    found: list[tuple[pa.Array, pa.Table]] = []
    rest: list[pa.Array] = []
    try:
        bulk.wire_schema(schema)
    except bulk.Unsupported:
        return [], [rows]
    pending = [(start, min(CHUNK, len(rows) - start)) for start in range(0, len(rows), CHUNK)]
    while pending:
        failed = []
        for start, length in pending:
            part = records.slice(start, length)
            try:
                table, ok = bulk.parse(
                    part.column("value").combine_chunks(),
                    part.column("timestamp").combine_chunks(),
                    schema,
                )
            except (pa.ArrowException, ValueError):
                failed.append((start, length))
                continue
            span = rows.slice(start, length)
            found.append((span.filter(ok), table.filter(ok)))
            rest.append(span.filter(pc.invert(ok)))
        dirty = len(pending) > 1 and len(failed) * 2 > len(pending)
        pending = []
        for start, length in failed:
            if dirty or length <= SMALLEST_CHUNK:
                rest.append(rows.slice(start, length))
                continue
            step = -(-length // FAN_OUT)
            pending += [
                (at, min(step, start + length - at)) for at in range(start, start + length, step)
            ]
    return found, rest


def _typed(
    records: pa.Table,
    schema: EventSchema,
    vouched: list[tuple[pa.Array, pa.Table]],
    slow: list[tuple[int, dict[str, Any]]],
    checked: list[int],
) -> pa.Table:
    """One domain's events from both paths, in record order, with their origin."""
    rows = [piece_rows.cast(pa.int64()) for piece_rows, _ in vouched]
    tables = [table for _, table in vouched]
    if slow:
        rows.append(pa.array([checked[row] for row, _ in slow], pa.int64()))
        tables.append(events_table([event for _, event in slow], schema))
    if not tables:
        return _with_origin(records, arrow_schema(schema).empty_table(), pa.array([], pa.int64()))
    order = pa.concat_arrays(rows)
    table = pa.concat_tables(tables).combine_chunks()
    if len(tables) > 1:
        ranks = pc.sort_indices(order)
        order, table = order.take(ranks), table.take(ranks)
    return _with_origin(records, table, order)


def _with_origin(records: pa.Table, events: pa.Table, rows: pa.Array) -> pa.Table:
    if "offset" not in records.column_names:
        return events
    for column, name in ORIGIN.items():
        events = events.append_column(name, records.column(column).take(rows))
    return events.append_column(ORIGIN_TIMESTAMP, records.column("timestamp").take(rows))


@dataclass(frozen=True)
class _Rows:
    events: dict[str, list[tuple[int, dict[str, Any]]]]  # (row, event) per domain
    failed: list[int]
    reasons: list[str]


def _sorted_rows(records: pa.Table, domains: Mapping[str, str]) -> _Rows:
    """The per-record path: each value decoded and validated in Python."""
    events: dict[str, list[tuple[int, dict[str, Any]]]] = {d: [] for d in domains.values()}
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
        events[domain].append((row, event))
    return _Rows(events, failed, reasons)


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
