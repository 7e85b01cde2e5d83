"""Multimedia events enriched for the PostgreSQL `events` table (and Redis `event:<id>`).

The rules that turn a quality, a device and a duration into a tier, a class and a bucket are the
three tables below, the one place to change them; the enrichment reads them.
Tests check that every choice the MEDIA schema allows has a tier and a class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from pulse.events.schema import parse_timestamp
from pulse.transforms.newest import newest

QUALITY_TIERS: Mapping[str, str] = MappingProxyType(
    {"240p": "sd", "360p": "sd", "480p": "sd", "720p": "hd", "1080p": "hd", "2160p": "uhd"}
)

DEVICE_CLASSES: Mapping[str, str] = MappingProxyType(
    {"mobile": "handheld", "tablet": "handheld", "desktop": "desktop", "tv": "living-room"}
)

# (exclusive upper bound in ms, bucket), checked in order; None: no upper bound.
DURATION_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (30_000, "short"),
    (300_000, "medium"),
    (None, "long"),
)

UNKNOWN_SEGMENT = "unknown"

# The PostgreSQL `events` table, in order; `processed_at` is the table's default.
EVENTS_COLUMNS: tuple[str, ...] = (
    "id",
    "ts",
    "type",
    "user_id",
    "quality",
    "quality_tier",
    "device",
    "device_class",
    "duration_ms",
    "duration_bucket",
    "content_id",
    "user_segment",
)


def enrich_media(events: Sequence[Mapping[str, Any]], segments: Mapping[str, str]) -> pa.Table:
    """Valid media events (dicts, as decoded) as `events` rows: one per id, the latest by
    timestamp (ties: the larger row, so a replay keeps the same one), enriched.

    `segments` is the dimension user_id -> segment; a user missing from it gets "unknown".

    >>> from pulse.events import SCHEMAS, example
    >>> row = enrich_media([example(SCHEMAS["media"])], {}).to_pylist()[0]
    >>> row["quality_tier"], row["device_class"], row["user_segment"]
    ('hd', 'handheld', 'unknown')
    """
    rows = []
    latest = newest(events, key="id", order=lambda event: parse_timestamp(event["timestamp"]))
    for event_id, event in latest.items():
        meta = event.get("metadata") or {}
        quality, device, duration = meta.get("quality"), meta.get("device"), meta.get("duration_ms")
        rows.append(
            {
                "id": event_id,
                "ts": parse_timestamp(event["timestamp"]),
                "type": event.get("type"),
                "user_id": event.get("user"),
                "quality": quality,
                "quality_tier": QUALITY_TIERS.get(quality) if quality is not None else None,
                "device": device,
                "device_class": DEVICE_CLASSES.get(device) if device is not None else None,
                "duration_ms": duration,
                "duration_bucket": _bucket(duration, DURATION_BUCKETS),
                "content_id": meta.get("content_id"),
                "user_segment": segments.get(event["user"], UNKNOWN_SEGMENT),  # a required field
            }
        )
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


EVENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("type", pa.string()),
        ("user_id", pa.string()),
        ("quality", pa.string()),
        ("quality_tier", pa.string()),
        ("device", pa.string()),
        ("device_class", pa.string()),
        ("duration_ms", pa.int64()),
        ("duration_bucket", pa.string()),
        ("content_id", pa.string()),
        ("user_segment", pa.string()),
    ]
)


def _bucket(value: int | None, bounds: Sequence[tuple[int | None, str]]) -> str | None:
    """The name of the first bound that `value` is below; None stays None."""
    if value is None:
        return None
    for upper, name in bounds:
        if upper is None or value < upper:
            return name
    return None
