"""The pure shaping of what the readers return: Redis hashes to rows, acks to a status,
dead-letter reasons to kinds, the health page's headline numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pulse.reads.health import by_reason_kind, headline
from pulse.reads.live import scoreboard_frame, top_emoji_frame
from pulse.reads.products import IN_FLIGHT, PROCESSED, event_status

T0 = pd.Timestamp("2026-11-22 10:00:00", tz="UTC")


def test_scoreboards_have_numbers_and_times_and_come_newest_first():
    hashes = [
        {"match_id": "m-1", "home_team": "A", "away_team": "B", "home_score": "2",
         "away_score": "1", "status": "live", "sequence": "9",
         "updated_at": "2026-11-22T10:00:00Z"},
        {"match_id": "m-2", "home_team": "C", "away_team": "D", "home_score": "0",
         "away_score": "0", "period": "1", "status": "live", "sequence": "3",
         "updated_at": "2026-11-22T10:00:05Z"},
    ]  # fmt: skip

    frame = scoreboard_frame(hashes)

    assert frame["match_id"].tolist() == ["m-2", "m-1"]
    assert frame["home_score"].tolist() == [0, 2]
    assert frame["period"].isna().tolist() == [False, True]  # absent field: no value, no guess
    assert frame["updated_at"].iloc[0] == T0 + pd.Timedelta(seconds=5)


def test_top_emojis_become_one_row_per_rank_and_a_broken_hash_is_left_out():
    top = [{"rank": 2, "emoji": "👏", "count": 10, "units": 1},
           {"rank": 1, "emoji": "🔥", "count": 1500, "units": 2}]  # fmt: skip
    hashes = [
        {"match_id": "m-1", "window_start": "2026-11-22T10:00:00Z", "top": json.dumps(top)},
        {"match_id": "m-2", "window_start": "2026-11-22T10:00:00Z", "top": "not json"},
    ]

    frame = top_emoji_frame(hashes)

    assert frame[["match_id", "rank", "emoji", "units"]].values.tolist() == [
        ["m-1", 1, "🔥", 2],
        ["m-1", 2, "👏", 1],
    ]


def acks(*rows: tuple[str, str, int, float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [(event, kind, "c", T0 + pd.Timedelta(seconds=s), ms) for event, kind, s, ms in rows],
        columns=["event_id", "kind", "component", "acked_at", "latency_ms"],
    )


def test_an_event_is_processed_once_its_processing_ack_is_in_whatever_its_producer_did():
    status = event_status(
        acks(
            ("api-1", "producer_ack", 0, None),
            ("api-1", "processing_ack", 3, 3000.0),
            ("waiting", "producer_ack", 4, None),
            ("cdc-1", "processing_ack", 2, 800.0),
        )
    ).set_index("event_id")

    assert status.loc["api-1", "status"] == PROCESSED
    assert status.loc["api-1", "latency_ms"] == 3000.0
    assert status.loc["waiting", "status"] == IN_FLIGHT
    assert pd.isna(status.loc["waiting", "processed_at"])
    assert status.loc["cdc-1", "status"] == PROCESSED  # CDC sends no producer ack
    assert pd.isna(status.loc["cdc-1", "published_at"])
    assert status.index.tolist() == ["waiting", "api-1", "cdc-1"]  # newest step first


def test_no_acks_give_an_empty_status_with_its_columns():
    assert event_status(acks()).empty


def test_dead_letter_reasons_are_counted_per_kind_without_the_offending_value():
    letters = pd.DataFrame(
        {
            "reason": [
                "field 'emoji' must be one of 🔥, 👏 (got '🦄')",
                "field 'emoji' must be one of 🔥, 👏 (got 'x')",
                "malformed JSON or a field of the wrong type: 42",
                "invalid UTF-8 in the value",
                'malformed JSON: {"id": ',
                "malformed JSON (Exceeds the limit (4300 digits)): [1",
            ],
            "topic": ["emoji", "emoji", "media", "media", "game", "game"],
            "dead_letters": [3, 4, 2, 1, 5, 1],
        }
    )

    kinds = by_reason_kind(letters)

    assert kinds.values.tolist() == [
        ["field 'emoji' must be one of 🔥, 👏", "emoji", 7],
        ["malformed JSON", "game", 6],
        ["malformed JSON or a field of the wrong type", "media", 2],
        ["invalid UTF-8 in the value", "media", 1],
    ]


def test_the_headline_takes_the_input_rate_the_live_paths_latest_p95_and_each_querys_latest_batch():
    later = T0 + pd.Timedelta(seconds=5)
    inputs = pd.DataFrame(
        {"topic": ["a", "b", "a"], "window_start": [T0, later, later],
         "records": [500, 100, 150],
         "last_arrival": [T0 + pd.Timedelta(seconds=4.9), later + pd.Timedelta(seconds=1),
                          later + pd.Timedelta(seconds=2.5)]}
    )  # fmt: skip
    # live: its latest batch read nothing (no latency), the one before it 1.1 s; enrich 0.9 s
    # after 9 s; the lake, slower, is on no live path.
    batches = pd.DataFrame(
        {"query": ["live", "live", "enrich", "enrich", "lake"],
         "component": ["live", "live", "enrich", "enrich", "lake"],
         "reported_at": [T0, later, T0, later, T0 + pd.Timedelta(seconds=1)],
         "duration_ms": [5000.0, 800.0, 300.0, 400.0, 1200.0], "lag": [50.0, 0.0, 0.0, 0.0, None],
         "latency_p95_ms": [1100.0, None, 9000.0, 900.0, 4000.0]}
    )  # fmt: skip

    top = headline(inputs, 5.0, batches)

    assert top.events_per_second == 750 / 7.5  # from the first window's start to 7.5 s later
    assert top.latency_p95_ms == 1100.0
    assert top.slowest_batch_ms == 1200.0
    assert top.lag == 0.0


def test_nothing_measured_gives_no_headline_numbers():
    empty = pd.DataFrame(columns=["window_start", "records", "last_arrival"])
    batches = pd.DataFrame(columns=["query", "component", "reported_at", "duration_ms", "lag",
                                    "latency_p95_ms"])  # fmt: skip

    top = headline(empty, 5.0, batches)

    assert (top.events_per_second, top.latency_p95_ms, top.lag, top.slowest_batch_ms) == (
        None, None, None, None
    )  # fmt: skip


def test_an_unknown_media_dimension_is_refused_before_any_sql():
    from pulse.reads.media import media_over_time

    with pytest.raises(ValueError, match="'country'"):
        media_over_time(None, "country", T0, 10)  # type: ignore[arg-type]
