"""What a consumed confluent-kafka `Message` holds, typed as it is.

confluent-kafka's stubs type one `Message` for every use: its topic, partition and offset are
optional (an error event has none) and its headers are the union a producer accepts. A consumed
record without error always has the three, and its headers are (name, bytes or None) pairs, as
librdkafka hands them over; these functions say so once, for the readers of consumed records.
"""

from __future__ import annotations

from typing import cast

from confluent_kafka import Message

ConsumedHeaders = list[tuple[str, bytes | None]]


def position(message: Message) -> tuple[str, int, int]:
    """The topic, partition and offset of a consumed record (one without error)."""
    return (
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
    )


def consumed_headers(message: Message) -> ConsumedHeaders | None:
    """The headers of a consumed record, in order (None: it has none)."""
    return cast("ConsumedHeaders | None", message.headers())
