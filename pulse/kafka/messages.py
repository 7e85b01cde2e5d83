"""What a consumed confluent-kafka `Message` holds, typed as it is: its stubs type one `Message`
for every use (topic, partition and offset optional, headers what a producer accepts), while a
consumed record without error always has the three and (name, bytes or None) headers.
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
