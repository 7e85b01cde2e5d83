"""Recent ids: repeats dropped within the window, memory bounded."""

from __future__ import annotations

from pulse.services.gateway.dedupe import RecentIds


def test_a_repeat_within_the_window_is_not_first():
    seen = RecentIds(10)
    assert seen.first_time("a")
    assert not seen.first_time("a")


def test_the_window_forgets_the_oldest_id():
    seen = RecentIds(2)
    for message_id in ("a", "b", "c"):
        assert seen.first_time(message_id)
    assert len(seen) == 2
    assert seen.first_time("a")  # forgotten
    assert not seen.first_time("c")
