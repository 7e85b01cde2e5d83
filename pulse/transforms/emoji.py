"""Emoji reactions: counts per (match, emoji, event-time window), units, and the top-N per match,
computed on one micro-batch in Arrow with the state the batches before it left (the rules:
"The live transforms" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pulse.transforms.errors import InvalidParameter
from pulse.transforms.horizon import IDS_SCHEMA, Horizon, admit, micros

WINDOW_COLUMNS = ("match_id", "emoji", "window_start", "window_end", "count", "units")
TOP_COLUMNS = ("match_id", "window_start", "top")
_TIME = pa.timestamp("us", tz="UTC")
WINDOWS_SCHEMA = pa.schema(
    [
        ("match_id", pa.string()),
        ("emoji", pa.string()),
        ("window_start", _TIME),
        ("window_end", _TIME),
        ("count", pa.int64()),
        ("units", pa.int64()),
    ]
)
TOP_SCHEMA = pa.schema([("match_id", pa.string()), ("window_start", _TIME), ("top", pa.string())])

Window = tuple[str, str, int]  # (match_id, emoji, window start in microseconds)


@dataclass(frozen=True)
class EmojiState:
    """What the batches so far leave to the next: the horizon of ids and the open windows."""

    horizon: Horizon
    windows: Mapping[Window, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> EmojiState:
        """Before the first batch."""
        return cls(Horizon.empty(), {})


@dataclass(frozen=True)
class EmojiDelta:
    """What one batch changed, as a restart replays it: ids added, the watermark after the
    batch, and the absolute counts of the windows it touched."""

    added: pa.Table
    watermark: int | None
    windows: Mapping[Window, int]


@dataclass(frozen=True)
class EmojiBatch:
    """One batch's output (`windows`: `WINDOW_COLUMNS`; `top`: `TOP_COLUMNS`), what it dropped,
    the state after it and the delta that rebuilds that state."""

    windows: pa.Table
    top: pa.Table
    late: int
    repeats: int
    state: EmojiState
    delta: EmojiDelta


def units(count: int, ratio: int) -> int:
    """`ceil(count / ratio)` in integers: every started block of `ratio` is one unit.

    >>> units(1000, 1000), units(1001, 1000), units(0, 1000)
    (1, 2, 0)
    """
    _check_ratio(ratio)
    return -(-count // ratio)


def count_emojis(
    events: pa.Table,
    state: EmojiState,
    *,
    window_seconds: float,
    watermark_seconds: float,
    ratio: int,
    top_n: int,
) -> EmojiBatch:
    """Count one batch of valid emoji events (event_id, match_id, emoji, ts) into its windows.

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> at = lambda s: datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC)
    >>> events = pa.table({"event_id": ["a", "b", "c"], "match_id": ["m1"] * 3,
    ...                    "emoji": ["🔥", "🔥", "👏"], "ts": [at(10), at(11), at(12)]})
    >>> batch = count_emojis(events, EmojiState.empty(), window_seconds=2, watermark_seconds=10,
    ...                      ratio=1000, top_n=5)
    >>> [(r["emoji"], r["window_start"].second, r["count"], r["units"])
    ...  for r in batch.windows.to_pylist()]
    [('👏', 12, 1, 1), ('🔥', 10, 2, 1)]
    >>> batch.top.to_pylist()[0]["top"]
    '[{"rank":1,"emoji":"👏","count":1,"units":1}]'
    """
    width = _micros_of(window_seconds, "window_seconds", allow_zero=False)
    delay = _micros_of(watermark_seconds, "watermark_seconds", allow_zero=True)
    _check_ratio(ratio)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidParameter("top_n", top_n, "must be a whole number, at least 1")
    admitted = admit(events, state.horizon, delay_us=delay)
    touched = _window_deltas(admitted.fresh, width)
    windows = dict(state.windows)
    for key, count in touched.items():
        windows[key] = windows.get(key, 0) + count
    absolute = {key: windows[key] for key in touched}
    top = _top_by_match({match for match, _, _ in touched}, windows, top_n, ratio)
    after = fold(
        state,
        EmojiDelta(admitted.added, admitted.horizon.watermark, absolute),
        window_us=width,
        delay_us=delay,
    )
    return EmojiBatch(
        windows=_windows_table(absolute, width, ratio),
        top=top,
        late=admitted.late,
        repeats=admitted.repeats,
        state=after,
        delta=EmojiDelta(admitted.added, admitted.horizon.watermark, absolute),
    )


def fold(state: EmojiState, delta: EmojiDelta, *, window_us: int, delay_us: int) -> EmojiState:
    """The state after a batch whose delta is `delta`: its ids and windows in, and what the
    new watermark has passed out (windows that ended at or before it, ids older by `delay`)."""
    horizon = state.horizon.advanced(delta.added, delta.watermark, delay_us)
    windows = {**state.windows, **delta.windows}
    if delta.watermark is not None:
        windows = {k: c for k, c in windows.items() if k[2] + window_us > delta.watermark}
    return EmojiState(horizon, windows)


def needed_until(delta: EmojiDelta, *, window_us: int, delay_us: int) -> int | None:
    """The watermark past which `delta` no longer matters to any later batch: its newest id is
    forgotten and its latest window closed (for `pulse.batchstate.BatchState.record`). A delta
    that added nothing matters only for its watermark, which every later delta carries too."""
    times = [start + window_us for _, _, start in delta.windows]
    if delta.added.num_rows:
        times.append(pc.max(delta.added["ts"]).as_py() + delay_us)
    return max(times) if times else NOTHING_NEEDED


NOTHING_NEEDED = -1  # `needed_until` of a delta that added nothing: any watermark has passed it


def empty_delta() -> EmojiDelta:
    """The delta of a batch that changed nothing."""
    return EmojiDelta(IDS_SCHEMA.empty_table(), None, {})


def _window_deltas(fresh: pa.Table, width: int) -> dict[Window, int]:
    if fresh.num_rows == 0:
        return {}
    times = micros(fresh["ts"])
    starts = pc.multiply(pc.divide(times, width), width)  # integer division: the window's start
    grouped = (
        pa.table({"match_id": fresh["match_id"], "emoji": fresh["emoji"], "start": starts})
        .group_by(["match_id", "emoji", "start"])
        .aggregate([("emoji", "count")])
    )
    return {
        (match, emoji, start): count
        for match, emoji, start, count in zip(
            grouped["match_id"].to_pylist(),
            grouped["emoji"].to_pylist(),
            grouped["start"].to_pylist(),
            grouped["emoji_count"].to_pylist(),
            strict=True,
        )
    }


def _windows_table(counts: Mapping[Window, int], width: int, ratio: int) -> pa.Table:
    keys = sorted(counts)
    starts = pa.array([start for _, _, start in keys], pa.int64())
    return pa.table(
        [
            pa.array([match for match, _, _ in keys], pa.string()),
            pa.array([emoji for _, emoji, _ in keys], pa.string()),
            starts.cast(_TIME),
            pc.add(starts, width).cast(_TIME),
            pa.array([counts[k] for k in keys], pa.int64()),
            pa.array([units(counts[k], ratio) for k in keys], pa.int64()),
        ],
        schema=WINDOWS_SCHEMA,
    )


def _top_by_match(matches: set[str], windows: Mapping[Window, int], n: int, ratio: int) -> pa.Table:
    """Per match, its latest open window and the top `n` emojis there by count (ties: by
    emoji), as JSON [{rank, emoji, count, units}] for Redis."""
    latest: dict[str, int] = {}
    for match, _, start in windows:
        if match in matches and start > latest.get(match, -1):
            latest[match] = start
    rows = []
    for match in sorted(latest):
        start = latest[match]
        ranked = sorted(
            (
                (count, emoji)
                for (m, emoji, s), count in windows.items()
                if m == match and s == start
            ),
            key=lambda item: (-item[0], item[1]),
        )[:n]
        top = [
            {"rank": rank, "emoji": emoji, "count": count, "units": units(count, ratio)}
            for rank, (count, emoji) in enumerate(ranked, start=1)
        ]
        rows.append((match, start, json.dumps(top, ensure_ascii=False, separators=(",", ":"))))
    return pa.table(
        [
            pa.array([r[0] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.int64()).cast(_TIME),
            pa.array([r[2] for r in rows], pa.string()),
        ],
        schema=TOP_SCHEMA,
    )


def _micros_of(seconds: float, name: str, *, allow_zero: bool) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise InvalidParameter(name, seconds, "must be a number of seconds")
    micros_ = round(seconds * 1_000_000)
    if micros_ < 0 or (micros_ == 0 and not allow_zero) or seconds == float("inf"):
        bound = "at least 0" if allow_zero else "more than 0"
        raise InvalidParameter(name, seconds, f"must be {bound}")
    return micros_


def _check_ratio(ratio: int) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
        raise InvalidParameter("ratio", ratio, "must be a whole number, at least 1")
