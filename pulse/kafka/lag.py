"""Consumer lag from offsets: plain Python, so services and the dashboard use it without Spark.

Offsets are in the checkpoint's form, `{topic: {partition: offset}}`, where an offset is the
next one to read (end offsets: one past the last record).
"""

from __future__ import annotations

from collections.abc import Mapping


def consumer_lag(
    end_offsets: Mapping[str, Mapping[int, int]],
    committed: Mapping[str, Mapping[int, int]],
) -> dict[str, int]:
    """Per topic of `end_offsets`: the sum over its partitions of `end - committed`, at least 0.

    Each partition is clamped at 0 before summing: a broker can report an end below what was
    read (Tansu answers ListOffsets with the start of its last record batch), and one such
    partition must not hide the lag of the others. A partition with no committed offset has
    had nothing read, so all of it counts. Partition keys may be ints or the strings of a JSON
    checkpoint. Topics that only `committed` knows have no known end and are left out.
    """
    lag: dict[str, int] = {}
    for topic, ends in end_offsets.items():
        read = {int(partition): offset for partition, offset in committed.get(topic, {}).items()}
        lag[topic] = sum(
            max(0, end - read.get(int(partition), 0)) for partition, end in ends.items()
        )
    return lag
