"""Media enrichment: tier, device class, duration bucket and user segment, one row per id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pulse.events.domains import MEDIA
from pulse.events.schema import format_timestamp
from pulse.transforms.media import (
    DEVICE_CLASSES,
    EVENTS_COLUMNS,
    QUALITY_TIERS,
    enrich_media,
)

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 20, 15, 1, 500000, tzinfo=UTC)


def media(
    event_id: str,
    ts: datetime,
    kind: str,
    user: str,
    metadata: tuple[str, str, int | None, str],
) -> dict[str, Any]:
    """A valid media event as decoded from JSON; metadata: (quality, device, duration, content)."""
    quality, device, duration, content = metadata
    meta = {"quality": quality, "device": device, "duration_ms": duration, "content_id": content}
    return {
        "id": event_id,
        "timestamp": format_timestamp(ts),
        "type": kind,
        "user": user,
        "metadata": {name: value for name, value in meta.items() if value is not None},
    }


def rows(*values: tuple) -> list[dict[str, Any]]:
    return [dict(zip(EVENTS_COLUMNS, row, strict=True)) for row in values]


def test_media_events_are_enriched_into_events_rows():
    actual = enrich_media(
        [
            media("me-1", T0, "play", "u-1", ("1080p", "tv", 184_000, "c-1")),
            media("me-2", T1, "view", "u-2", ("360p", "mobile", 12_000, "c-2")),
            media("me-3", T1, "like", "u-1", ("2160p", "desktop", 3_600_000, "c-3")),
            media("me-4", T0, "share", "u-2", ("480p", "tablet", 45_000, "c-4")),
        ],
        {"u-1": "premium", "u-2": "casual"},
    )
    assert actual.column_names == list(EVENTS_COLUMNS)
    # fmt: off
    assert actual.to_pylist() == rows(
        ("me-1", T0, "play", "u-1", "1080p", "hd", "tv", "living-room",
         184_000, "medium", "c-1", "premium"),
        ("me-2", T1, "view", "u-2", "360p", "sd", "mobile", "handheld",
         12_000, "short", "c-2", "casual"),
        ("me-3", T1, "like", "u-1", "2160p", "uhd", "desktop", "desktop",
         3_600_000, "long", "c-3", "premium"),
        ("me-4", T0, "share", "u-2", "480p", "sd", "tablet", "handheld",
         45_000, "medium", "c-4", "casual"),
    )
    # fmt: on


def test_duration_buckets_split_at_30_seconds_and_5_minutes_and_keep_null():
    durations = {"a": 29_999, "b": 30_000, "c": 299_999, "d": 300_000, "e": None}
    actual = enrich_media(
        [media(i, T0, "play", "u", ("720p", "tv", d, "c")) for i, d in durations.items()], {}
    )
    assert {r["id"]: (r["duration_ms"], r["duration_bucket"]) for r in actual.to_pylist()} == {
        "a": (29_999, "short"),
        "b": (30_000, "medium"),
        "c": (299_999, "medium"),
        "d": (300_000, "long"),
        "e": (None, None),
    }


def test_a_user_missing_from_the_segments_is_unknown():
    actual = enrich_media(
        [media("me-1", T0, "view", "u-new", ("720p", "desktop", 1_000, "c-1"))],
        {"u-1": "premium"},
    )
    # fmt: off
    assert actual.to_pylist() == rows(
        ("me-1", T0, "view", "u-new", "720p", "hd", "desktop", "desktop",
         1_000, "short", "c-1", "unknown"),
    )
    # fmt: on


def test_a_repeated_id_keeps_the_latest_event_by_timestamp():
    actual = enrich_media(
        [
            media("me-1", T1, "pause", "u-1", ("720p", "tv", 60_000, "c-1")),
            media("me-1", T0, "play", "u-1", ("720p", "tv", 60_000, "c-1")),
            media("me-2", T0, "view", "u-1", ("240p", "mobile", 1_000, "c-2")),
        ],
        {"u-1": "premium"},
    )
    # fmt: off
    assert actual.to_pylist() == rows(
        ("me-1", T1, "pause", "u-1", "720p", "hd", "tv", "living-room",
         60_000, "medium", "c-1", "premium"),
        ("me-2", T0, "view", "u-1", "240p", "sd", "mobile", "handheld",
         1_000, "short", "c-2", "premium"),
    )
    # fmt: on


def test_a_repeated_id_at_the_same_time_keeps_the_same_row_whatever_the_arrival_order():
    play = media("me-1", T0, "play", "u-1", ("720p", "tv", 60_000, "c-1"))
    pause = media("me-1", T0, "pause", "u-1", ("720p", "tv", 60_000, "c-1"))
    forward = enrich_media([play, pause], {}).to_pylist()
    backward = enrich_media([pause, play], {}).to_pylist()
    assert len(forward) == 1
    assert forward == backward


def test_every_quality_and_device_of_the_schema_has_a_tier_and_a_class():
    metadata = {field.name: field for field in MEDIA.field("metadata").fields}
    assert set(QUALITY_TIERS) == set(metadata["quality"].choices)
    assert set(DEVICE_CLASSES) == set(metadata["device"].choices)
