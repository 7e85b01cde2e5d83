"""Consumer lag from end and committed offsets."""

from __future__ import annotations

from pulse.kafka.lag import consumer_lag


def test_lag_is_the_sum_over_partitions_of_end_minus_committed():
    lag = consumer_lag(
        {"emoji.reactions": {0: 120, 1: 80}, "media.events": {0: 10}},
        {"emoji.reactions": {0: 100, 1: 75}, "media.events": {0: 10}},
    )
    assert lag == {"emoji.reactions": 25, "media.events": 0}


def test_a_partition_read_past_its_reported_end_counts_zero_not_negative():
    lag = consumer_lag({"t": {0: 100, 1: 50}}, {"t": {0: 104, 1: 40}})
    assert lag == {"t": 10}


def test_a_partition_with_no_committed_offset_counts_whole():
    lag = consumer_lag({"t": {0: 30, 1: 5}, "new": {0: 7}}, {"t": {0: 30}})
    assert lag == {"t": 5, "new": 7}


def test_partitions_may_be_keyed_by_the_strings_of_a_json_checkpoint():
    lag = consumer_lag({"t": {0: 30}}, {"t": {"0": 25}})  # type: ignore[dict-item]
    assert lag == {"t": 5}


def test_topics_only_committed_knows_are_left_out():
    assert consumer_lag({}, {"gone": {0: 5}}) == {}
