"""Event-time helpers shared by the streaming transforms: durations, and dedupe by event id.

Config gives seconds as floats (`window_seconds: 2`, `watermark_seconds: 10`); Spark's
`window` and `withWatermark` take interval strings. Whole milliseconds keep sub-second values
exact and make a nonsense value (zero, negative, NaN) fail at plan time with the name of the
parameter rather than as an obscure Spark parse error.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame


class InvalidParameter(ValueError):
    """A transform parameter out of range; the message names the parameter and its value."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name, self.value = name, value
        super().__init__(f"{name} {reason} (got {value!r})")


def interval(seconds: float, *, name: str, allow_zero: bool = False) -> str:
    """`seconds` as a Spark interval string in whole milliseconds, e.g. `"2000 milliseconds"`."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidParameter(name, seconds, "must be a number of seconds")
    if not math.isfinite(seconds):
        raise InvalidParameter(name, seconds, "must be a finite number of seconds")
    millis = round(seconds * 1000)
    if millis < 0 or (millis == 0 and not allow_zero):
        bound = "at least 0" if allow_zero else "at least 1 millisecond"
        raise InvalidParameter(name, seconds, f"must be {bound}")
    return f"{millis} milliseconds"


def deduplicated(events: DataFrame, *, id_column: str, time_column: str, delay: str) -> DataFrame:
    """`events` watermarked on `time_column`, each `id_column` kept once.

    Streaming: `dropDuplicatesWithinWatermark`, whose state of seen ids expires with the
    watermark (an id seen again within it is a producer retry or a replay) and which drops
    events older than the watermark. Static frames (tests, backfills) have no watermark and
    Spark refuses that operator on them, so a plain `dropDuplicates` does the same job there.
    """
    watermarked = events.withWatermark(time_column, delay)
    if events.isStreaming:
        return watermarked.dropDuplicatesWithinWatermark([id_column])
    return watermarked.dropDuplicates([id_column])
