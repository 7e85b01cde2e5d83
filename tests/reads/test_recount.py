"""The emoji notebook's recount: the live job's windows against the lake's events, compared only
where both jobs are complete, so that two jobs on their own clocks match exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import pandas as pd

from pulse.reads.live import recount_windows
from pulse.simulate import GENERATORS

WINDOW, WATERMARK = 2.0, 10.0
START = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def emoji_events(seconds: int) -> pd.DataFrame:
    """Simulated reactions over `seconds` (repeats of an id included, as the simulator sends)."""
    drawn = islice(GENERATORS["emoji"](3, 200.0, START), int(200 * seconds))
    frame = pd.DataFrame.from_records(list(drawn))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def live_windows(events: pd.DataFrame) -> pd.DataFrame:
    """What the live job writes for these events: each id once, per 2-s window."""
    unique = events.drop_duplicates("event_id")
    counted = unique.assign(window_start=unique["ts"].dt.floor("2s"))
    return (
        counted.groupby(["match_id", "emoji", "window_start"]).size().rename("count").reset_index()
    )


def test_with_the_lake_behind_only_the_windows_both_completed_are_compared_and_they_match():
    events = emoji_events(60)
    lake_until = events["ts"].min() + pd.Timedelta(seconds=30)
    windows = live_windows(events)  # the live job has all 60 s
    in_lake = events[events["ts"] < lake_until]  # the lake only the first 30 s

    compared, cutoff = recount_windows(windows, in_lake, WINDOW, WATERMARK)

    assert cutoff is not None and cutoff <= lake_until - pd.Timedelta(seconds=WATERMARK)
    assert len(compared) > 0
    assert (compared["count"] == compared["recount"]).all()
    # Compared without the bound, the lake's missing half would be counted as differences.
    everything = windows.set_index(["match_id", "emoji", "window_start"])["count"]
    assert everything.sum() > compared["count"].sum()


def test_with_the_live_job_behind_its_missing_windows_are_not_counted_as_different():
    events = emoji_events(60)
    live_until = events["ts"].min() + pd.Timedelta(seconds=25)
    windows = live_windows(events[events["ts"] < live_until])

    compared, cutoff = recount_windows(windows, events, WINDOW, WATERMARK)

    assert cutoff is not None and len(compared) > 0
    assert (compared["count"] == compared["recount"]).all()


def test_a_window_counted_differently_is_found():
    events = emoji_events(60)
    windows = live_windows(events)
    early = windows["window_start"] == windows["window_start"].min()
    windows.loc[early.idxmax(), "count"] += 1  # one emoji too many in an early window

    compared, _ = recount_windows(windows, events, WINDOW, WATERMARK)

    assert (compared["count"] != compared["recount"]).sum() == 1
