"""Offset arithmetic of the Kafka source, free of I/O: what to read in the next micro-batch.

Offsets are `{(topic, partition): next offset to read}` in memory and
`{"topic": {"partition": offset}}` in Spark's checkpoint (JSON keys are strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pulse.kafka.errors import DataLossError, KafkaSourceError
from pulse.kafka.options import EARLIEST, LATEST, Offsets

TP = tuple[str, int]
Marks = Mapping[TP, tuple[int, int]]


def to_json(offsets: Mapping[TP, int]) -> dict[str, dict[str, int]]:
    """The checkpoint form of offsets, topics and partitions sorted for stable logs."""
    result: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        result.setdefault(topic, {})[str(partition)] = int(offset)
    return result


def from_json(data: Mapping[str, Mapping[str, int]]) -> Offsets:
    """Offsets from their checkpoint form."""
    return {
        (topic, int(partition)): int(offset)
        for topic, partitions in data.items()
        for partition, offset in partitions.items()
    }


def initial_offsets(starting: Literal["earliest", "latest"] | Offsets, marks: Marks) -> Offsets:
    """Where a new query starts, per partition, from `startingOffsets` and the watermarks."""
    if starting == "earliest":
        return {tp: low for tp, (low, _) in marks.items()}
    if starting == "latest":
        return {tp: high for tp, (_, high) in marks.items()}
    assert isinstance(starting, dict)
    missing = sorted(set(marks) - set(starting))
    if missing:
        topic, partition = missing[0]
        raise KafkaSourceError(
            f"option 'startingOffsets' has no offset for {topic}[{partition}]; give every "
            "partition an offset (-2 for earliest, -1 for latest)"
        )
    unknown = sorted(set(starting) - set(marks))
    if unknown:
        topic, partition = unknown[0]
        raise KafkaSourceError(
            f"option 'startingOffsets' names {topic}[{partition}], which is not subscribed"
        )
    resolved = {}
    for tp, offset in starting.items():
        low, high = marks[tp]
        resolved[tp] = low if offset == EARLIEST else high if offset == LATEST else offset
    return resolved


@dataclass(frozen=True)
class Loss:
    """Offsets a query needed that are gone, and where reading resumes instead."""

    topic: str
    partition: int
    wanted: int
    resume_at: int
    reason: str

    def message(self) -> str:
        """A sentence for the error or the log."""
        return (
            f"{self.topic}[{self.partition}]: offset {self.wanted} is gone ({self.reason}); "
            f"reading resumes at {self.resume_at}. Some records were lost, or the topic was "
            "recreated. Set failOnDataLoss=false to go on without them."
        )


def resolve_start(
    start: Mapping[TP, int], marks: Marks, fail_on_data_loss: bool
) -> tuple[Offsets, list[Loss]]:
    """Where each partition really resumes: new partitions at earliest, gone offsets skipped.

    Offsets below the earliest (aged out) or past the end (topic deleted and recreated) are
    data loss: an error with `failOnDataLoss=true`, a logged skip to the earliest offset
    otherwise. Spark's own source skips a recreated topic's partition to its end; Pulse reads
    the recreated topic from its start instead, because losing what the new topic already
    holds helps nobody.
    """
    resolved: Offsets = {}
    losses: list[Loss] = []
    for tp, (low, high) in marks.items():
        offset = start.get(tp)
        if offset is None:
            resolved[tp] = low  # a partition or topic that appeared since the last batch
            continue
        if offset < low:
            losses.append(Loss(*tp, offset, low, f"the earliest available offset is {low}"))
            resolved[tp] = low
        elif offset > high:
            losses.append(Loss(*tp, offset, low, f"the partition now ends at {high}"))
            resolved[tp] = low
        else:
            resolved[tp] = offset
    for tp in sorted(set(start) - set(marks)):
        losses.append(Loss(*tp, start[tp], start[tp], "the partition no longer exists"))
    if losses and fail_on_data_loss:
        raise DataLossError(losses[0].message())
    return resolved, losses


def cap_batch(start: Mapping[TP, int], end: Mapping[TP, int], max_rows: int | None) -> Offsets:
    """End offsets of a batch of at most `max_rows` records, shared in proportion to the backlog.

    Largest-remainder rounding keeps the total exactly at `min(max_rows, backlog)`, so the
    cap is never exceeded (Spark's own rounding can overshoot by a row per partition).
    """
    backlog = {tp: max(0, end[tp] - start[tp]) for tp in end}
    total = sum(backlog.values())
    if max_rows is None or total <= max_rows:
        return dict(end)
    shares = {tp: max_rows * size / total for tp, size in backlog.items()}
    taken = {tp: int(share) for tp, share in shares.items()}
    left = max_rows - sum(taken.values())
    for tp in sorted(shares, key=lambda tp: (taken[tp] - shares[tp], tp))[:left]:
        taken[tp] += 1
    return {tp: start[tp] + taken[tp] for tp in end}


@dataclass
class Admission:
    """How many records the next batch may take, so that it finishes within `target_seconds`.

    Spark calls `latestOffset` once per trigger; when a batch runs past its trigger the next
    call comes as soon as it ends, so the time between two calls is what the previous batch
    took. A batch that overran tells the throughput (rows over seconds): the cap becomes what
    fits in the target, with a margin. A batch that fit lets the cap grow by half, up to
    `ceiling` (`maxOffsetsPerTrigger`). A backlog then drains in batches that keep their
    trigger, and the live views keep moving, instead of one batch of the whole backlog.

    The cap never falls below what arrived during the last interval (plus a tenth, to drain):
    when the machine is busy, a batch's fixed cost alone can pass the trigger, and a cap cut
    to "what fits" would fall behind for ever. Batches then grow past the trigger instead: the
    query slows down, its lag stays bounded, and its batch reports say so.

    >>> admission = Admission(target_seconds=2.0, ceiling=100_000)
    >>> admission.cap()
    5000
    >>> admission.observe(rows=5_000, seconds=4.0, arrived=1_000)  # overran: 1,250 rows/s
    >>> admission.cap()
    2000
    >>> admission.observe(rows=2_000, seconds=4.0, arrived=8_000)  # 8,000 came meanwhile
    >>> admission.cap()
    8800
    """

    target_seconds: float
    ceiling: int
    floor: int = 1_000
    margin: float = 0.8
    _cap: float = field(init=False)

    def __post_init__(self) -> None:
        # A cold start (a restart after a backlog built up) begins small: Python workers are
        # still starting and the throughput is unknown.
        self._cap = min(self.ceiling, 2_500 * self.target_seconds)

    def cap(self) -> int:
        """The most records the next batch may take."""
        return max(1, int(min(self.ceiling, max(self.floor, self._cap))))

    def observe(self, rows: int, seconds: float, arrived: int = 0) -> None:
        """What the last interval saw: its batch took `rows` records in `seconds` (trigger to
        next trigger), while `arrived` new records came in."""
        if seconds <= 0:
            return
        if rows > 0 and seconds > self.target_seconds * 1.1:
            self._cap = rows / seconds * self.target_seconds * self.margin
        elif rows >= self.cap() * 0.9:
            self._cap = min(self.ceiling, self._cap * 1.5)
        self._cap = min(self.ceiling, max(self._cap, arrived * 1.1))
