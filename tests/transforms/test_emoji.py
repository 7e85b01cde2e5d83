"""Emoji window counts, units and the top-N, batch after batch in Arrow, with their state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pulse.transforms.emoji import EmojiState, count_emojis, fold, units
from pulse.transforms.errors import InvalidParameter

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("match_id", pa.string()),
        ("emoji", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
    ]
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events(*rows: tuple) -> pa.Table:
    """Valid emoji events from (event_id, seconds after T0[, emoji[, match]])."""
    data = []
    for event_id, seconds, *rest in rows:
        emoji, match = (*rest, *("🔥", "m1")[len(rest) :])
        data.append({"event_id": event_id, "match_id": match, "emoji": emoji, "ts": at(seconds)})
    return pa.Table.from_pylist(data, schema=EVENTS)


def count(table: pa.Table, state: EmojiState, **options):
    settings = {"window_seconds": 2, "watermark_seconds": 5, "ratio": 2, "top_n": 3} | options
    return count_emojis(table, state, **settings)


def emitted(batch) -> set[tuple]:
    return {
        (r["match_id"], r["emoji"], (r["window_start"] - T0).seconds, r["count"], r["units"])
        for r in batch.windows.to_pylist()
    }


def test_counts_each_match_and_emoji_per_two_second_window():
    batch = count(
        events(("e1", 0.5), ("e2", 1.9), ("e3", 2.0), ("e4", 0.1, "👏"), ("e5", 0.2, "🔥", "m2")),
        EmojiState.empty(),
        ratio=1000,
    )
    assert emitted(batch) == {
        ("m1", "🔥", 0, 2, 1),
        ("m1", "🔥", 2, 1, 1),
        ("m1", "👏", 0, 1, 1),
        ("m2", "🔥", 0, 1, 1),
    }
    ends = {(r["window_end"] - r["window_start"]).seconds for r in batch.windows.to_pylist()}
    assert ends == {2}


def test_a_repeated_event_id_is_counted_once_in_a_batch_and_across_batches():
    first = count(events(("e1", 1), ("e1", 1), ("e2", 1)), EmojiState.empty())
    second = count(events(("e1", 1), ("e3", 1)), first.state)
    assert emitted(first) == {("m1", "🔥", 0, 2, 1)}
    assert (first.repeats, second.repeats) == (1, 1)
    assert emitted(second) == {("m1", "🔥", 0, 3, 2)}


def test_counts_late_events_within_the_watermark_and_drops_older_ones():
    # Watermark 5 s. Batch 0 sees ts up to 20 s, so the watermark becomes 15 s: events older
    # than that in later batches are late; e6 is later than 15 s and updates its window.
    batch0 = count(
        events(("e1", 14.0), ("e2", 14.5), ("e3", 15.0), ("e4", 20.0), ("e5", 14.2, "👏")),
        EmojiState.empty(),
    )
    batch1 = count(events(("e6", 15.5), ("e3", 15.0)), batch0.state)  # e3: a producer retry
    batch2 = count(events(("e7", 15.9), ("e8", 12.0), ("e9", 13.9)), batch1.state)
    assert emitted(batch0) == {
        ("m1", "🔥", 14, 3, 2),
        ("m1", "👏", 14, 1, 1),
        ("m1", "🔥", 20, 1, 1),
    }
    assert emitted(batch1) == {("m1", "🔥", 14, 4, 2)}
    assert emitted(batch2) == {("m1", "🔥", 14, 5, 3)}
    assert [b.late for b in (batch0, batch1, batch2)] == [0, 0, 2]


def test_the_state_rebuilt_from_deltas_counts_the_next_batch_alike():
    batches = [events(("e1", 1), ("e2", 3)), events(("e3", 9), ("e1", 1)), events(("e4", 9.5))]
    state = EmojiState.empty()
    rebuilt = EmojiState.empty()
    for table in batches:
        counted = count(table, state)
        state = counted.state
        rebuilt = fold(rebuilt, counted.delta, window_us=2_000_000, delay_us=5_000_000)
    following = events(("e5", 8.1), ("e2", 3), ("e6", 1))
    assert emitted(count(following, rebuilt)) == emitted(count(following, state))
    assert emitted(count(following, state)) == {("m1", "🔥", 8, 3, 2)}
    # Windows that the watermark (9.5 - 5 = 4.5 s) has closed are gone from the state.
    assert sorted(
        (start - int(T0.timestamp() * 1e6)) // 1_000_000 for _, _, start in state.windows
    ) == [8]


def test_units_count_every_started_block_exactly_at_any_size():
    assert [units(c, 1000) for c in (0, 1, 999, 1000, 1001, 2000)] == [0, 1, 1, 1, 2, 2]
    assert units(2**62 + 1, 2**62) == 2


@pytest.mark.parametrize("ratio", [0, -1, 1.5, True])
def test_a_ratio_below_one_or_not_whole_is_refused(ratio):
    with pytest.raises(InvalidParameter, match="ratio"):
        count(events(("e1", 1)), EmojiState.empty(), ratio=ratio)


def test_a_window_of_no_length_is_refused():
    with pytest.raises(InvalidParameter, match="window_seconds"):
        count(events(("e1", 1)), EmojiState.empty(), window_seconds=0)


def test_top_ranks_the_latest_window_of_each_touched_match_ties_by_emoji():
    first = count(
        events(
            *[(f"a{i}", 0.5, "😂") for i in range(9)],  # an older window
            *[(f"b{i}", 2.5, "👏") for i in range(7)],
            *[(f"c{i}", 2.5, "😂") for i in range(5)],
            *[(f"d{i}", 2.5, "🔥") for i in range(5)],
            ("e1", 2.5, "⚽"),
            ("f1", 4.5, "⚽", "m2"),
        ),
        EmojiState.empty(),
        ratio=1000,
    )
    top = {r["match_id"]: (r["window_start"], json.loads(r["top"])) for r in first.top.to_pylist()}
    assert top["m1"] == (
        at(2),
        [
            {"rank": 1, "emoji": "👏", "count": 7, "units": 1},
            {"rank": 2, "emoji": "🔥", "count": 5, "units": 1},  # U+1F525 before U+1F602
            {"rank": 3, "emoji": "😂", "count": 5, "units": 1},
        ],
    )
    assert top["m2"] == (at(4), [{"rank": 1, "emoji": "⚽", "count": 1, "units": 1}])
    # A later batch that touches m1 only publishes m1, with the counts of all its batches.
    second = count(events(*[(f"g{i}", 3.0, "⚽") for i in range(5)]), first.state, ratio=1000)
    assert [r["match_id"] for r in second.top.to_pylist()] == ["m1"]
    assert json.loads(second.top.to_pylist()[0]["top"])[1] == {
        "rank": 2,
        "emoji": "⚽",
        "count": 6,
        "units": 1,
    }
