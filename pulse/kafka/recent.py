"""Records that one query of a driver fetched, kept for the driver's other queries of the same
partitions: each record crosses from the broker into the driver once.

`make run` hosts the lake and the monitor in one driver, and both read every record of every
domain topic, about the same offsets at about the same moment (every 3 s and every 5 s). Each
fetched its own copy: at eight times the default traffic the two reads were half of that
driver's time (py-spy), and a third of the broker's fetches. With `RecentRecords` the second
query takes from memory what the first fetched and fetches only what is newer.

What is kept is bounded: a partition's records are let go once every query that reads it has
read past them, and at most `max_bytes` are held at all (past it the largest partitions are let
go: a query far behind another fetches its own, as before). A partition that only one query
reads keeps nothing. Records at an offset never change, so a record served from memory is the
record the broker holds; `clear` forgets everything (a topic deleted and made again restarts
its offsets, and `pulse.streams.close_inputs` clears between the runs a test session hosts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pulse.kafka.clients import TP, Range

Fetch = Callable[[Sequence[Range]], Iterable[pa.RecordBatch]]

# Enough for the records of a monitor trigger (5 s; the lake's is 3 s) at eight times the default
# traffic (about 100,000 records, 25 MB) several times over, and a bound on the driver's memory.
MAX_BYTES = 256 * 1024 * 1024


@dataclass
class _Span:
    """Every record of one partition from offset `low` to `high` (exclusive), in offset order
    (offsets can have gaps: the span says which offsets were read, the rows which exist)."""

    low: int
    high: int
    rows: pa.Table

    def between(self, start: int, end: int) -> pa.Table:
        """The rows with offsets in `[start, end)`."""
        offsets = self.rows.column("offset").to_numpy()
        first, last = np.searchsorted(offsets, [start, end])
        return self.rows.slice(int(first), int(last - first))


class RecentRecords:
    """The recent records of every partition that more than one reader of this process reads.

    >>> schema = pa.schema([("topic", pa.string()), ("partition", pa.int32()),
    ...                     ("offset", pa.int64())])
    >>> fetched = []
    >>> def fetch(ranges):
    ...     fetched.extend(ranges)
    ...     rows = [{"topic": t, "partition": p, "offset": o}
    ...             for t, p, start, end in ranges for o in range(start, end)]
    ...     return pa.Table.from_pylist(rows, schema).to_batches()
    >>> recent = RecentRecords(schema)
    >>> for reader in ("lake", "monitor"):  # each reads once: both are readers of t[0]
    ...     _ = recent.read(reader, [("t", 0, 0, 5)], fetch)
    >>> fetched.clear()
    >>> _ = recent.read("lake", [("t", 0, 5, 10)], fetch)
    >>> recent.read("monitor", [("t", 0, 5, 12)], fetch).column("offset").to_pylist()
    [5, 6, 7, 8, 9, 10, 11]
    >>> fetched  # the monitor fetched only what is past the lake's read
    [('t', 0, 5, 10), ('t', 0, 10, 12)]
    """

    def __init__(self, schema: pa.Schema, max_bytes: int = MAX_BYTES) -> None:
        self._schema = schema
        self._max_bytes = max_bytes
        self._spans: dict[TP, _Span] = {}
        self._next: dict[TP, dict[str, int]] = {}  # partition -> reader -> its next offset
        # One read at a time: a second query reading the same offsets waits for the first's
        # fetch and takes its records (two reads at once would each fetch them; the driver's
        # reads share one interpreter anyway).
        self._lock = threading.Lock()

    def read(self, reader: str, ranges: Sequence[Range], fetch: Fetch) -> pa.Table:
        """The records of `ranges` (`(topic, partition, start, end)`, sorted), for `reader`:
        from memory where another reader fetched them, the rest through `fetch`."""
        with self._lock:
            kept: dict[TP, pa.Table] = {}
            missing: list[Range] = []
            for topic, partition, start, end in ranges:
                span = self._spans.get((topic, partition))
                if span is not None and span.low <= start < span.high:
                    kept[(topic, partition)] = span.between(start, end)
                    start = span.high
                if end > start:
                    missing.append((topic, partition, start, end))
            fetched = pa.Table.from_batches(list(fetch(missing)) if missing else [], self._schema)
            parts: list[pa.Table] = []
            for topic, partition, _, end in ranges:
                tp = (topic, partition)
                new = self._remember(tp, missing, fetched)
                parts.extend(part for part in (kept.get(tp), new) if part is not None)
                self._next.setdefault(tp, {})[reader] = end
                self._let_go(tp)
            self._bound()
            return pa.concat_tables(parts) if parts else self._schema.empty_table()

    def clear(self) -> None:
        """Forget every record and reader."""
        with self._lock:
            self._spans.clear()
            self._next.clear()

    def held_bytes(self) -> int:
        """The size of the records held."""
        return sum(span.rows.nbytes for span in self._spans.values())

    def _remember(self, tp: TP, missing: Sequence[Range], fetched: pa.Table) -> pa.Table | None:
        """`tp`'s fetched rows (None if nothing of it was fetched), added to its span."""
        fetch = next((r for r in missing if (r[0], r[1]) == tp), None)
        if fetch is None:
            return None
        _, _, start, end = fetch
        topic, partition = tp
        rows = fetched.filter(
            pc.and_(
                pc.equal(fetched.column("topic"), topic),
                pc.equal(fetched.column("partition"), partition),
            )
        )
        span = self._spans.get(tp)
        if span is not None and span.high == start:
            span.rows, span.high = pa.concat_tables([span.rows, rows]), end
        else:
            self._spans[tp] = _Span(start, end, rows)
        return rows

    def _let_go(self, tp: TP) -> None:
        """Drop what every reader of `tp` has read; a partition of one reader keeps nothing."""
        span = self._spans.get(tp)
        readers = self._next[tp]
        if span is None:
            return
        low = min(readers.values()) if len(readers) > 1 else span.high
        if low >= span.high:
            del self._spans[tp]
        elif low > span.low:
            span.rows, span.low = span.between(low, span.high), low

    def _bound(self) -> None:
        """At most `max_bytes` held: the largest partitions go first."""
        sizes = sorted(((s.rows.nbytes, tp) for tp, s in self._spans.items()), reverse=True)
        held = sum(size for size, _ in sizes)
        for size, tp in sizes:
            if held <= self._max_bytes:
                break
            del self._spans[tp]
            held -= size


# One per broker and schema in this process: the readers of a driver share it.
_SHARED: dict[tuple[str, pa.Schema], RecentRecords] = {}


def shared(bootstrap: str, schema: pa.Schema) -> RecentRecords:
    """The `RecentRecords` of this process for records of `schema` from `bootstrap`."""
    return _SHARED.setdefault((bootstrap, schema), RecentRecords(schema))


def clear_shared() -> None:
    """Forget every record every `shared` instance holds."""
    for recent in list(_SHARED.values()):
        recent.clear()
