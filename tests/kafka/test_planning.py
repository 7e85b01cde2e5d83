"""Offset planning of the Kafka source, as pure functions."""

from __future__ import annotations

import pytest

from pulse.kafka.errors import DataLossError, KafkaSourceError
from pulse.kafka.planning import (
    Admission,
    cap_batch,
    from_json,
    initial_offsets,
    resolve_start,
    to_json,
)

MARKS = {("a", 0): (0, 100), ("a", 1): (5, 50)}


def test_offsets_survive_the_checkpoint_json_form():
    offsets = {("a", 0): 7, ("a", 1): 9, ("b", 0): 0}
    assert to_json(offsets) == {"a": {"0": 7, "1": 9}, "b": {"0": 0}}
    assert from_json(to_json(offsets)) == offsets


def test_earliest_and_latest_start_at_the_watermarks():
    assert initial_offsets("earliest", MARKS) == {("a", 0): 0, ("a", 1): 5}
    assert initial_offsets("latest", MARKS) == {("a", 0): 100, ("a", 1): 50}


def test_json_starting_offsets_resolve_minus_two_and_minus_one():
    assert initial_offsets({("a", 0): -2, ("a", 1): -1}, MARKS) == {("a", 0): 0, ("a", 1): 50}
    assert initial_offsets({("a", 0): 42, ("a", 1): 6}, MARKS) == {("a", 0): 42, ("a", 1): 6}


def test_json_starting_offsets_must_cover_every_partition():
    with pytest.raises(KafkaSourceError, match=r"no offset for a\[1\]"):
        initial_offsets({("a", 0): 3}, MARKS)


def test_cap_never_exceeds_the_limit_and_shares_by_backlog():
    start = {("a", 0): 0, ("a", 1): 0, ("a", 2): 0}
    end = {("a", 0): 1000, ("a", 1): 10, ("a", 2): 1}
    capped = cap_batch(start, end, 101)
    assert sum(capped[tp] - start[tp] for tp in start) == 101
    assert all(start[tp] <= capped[tp] <= end[tp] for tp in start)
    assert capped[("a", 0)] > capped[("a", 1)] > 0


def test_cap_takes_everything_when_the_backlog_is_smaller():
    start = {("a", 0): 10}
    assert cap_batch(start, {("a", 0): 15}, 100) == {("a", 0): 15}
    assert cap_batch(start, {("a", 0): 15}, None) == {("a", 0): 15}


def test_new_partitions_start_at_earliest():
    resolved, losses = resolve_start({("a", 0): 10}, MARKS, fail_on_data_loss=True)
    assert resolved == {("a", 0): 10, ("a", 1): 5}
    assert losses == []


def test_offsets_past_the_end_are_data_loss():
    with pytest.raises(DataLossError, match=r"a\[0\]: offset 500 is gone"):
        resolve_start({("a", 0): 500, ("a", 1): 5}, MARKS, fail_on_data_loss=True)


def test_without_fail_on_data_loss_gone_offsets_resume_at_earliest():
    resolved, losses = resolve_start({("a", 0): 500, ("a", 1): 1}, MARKS, fail_on_data_loss=False)
    assert resolved == {("a", 0): 0, ("a", 1): 5}
    assert [(loss.partition, loss.wanted, loss.resume_at) for loss in losses] == [
        (0, 500, 0),
        (1, 1, 5),
    ]


def test_admission_after_an_overrun_caps_batches_to_fit_the_trigger():
    admission = Admission(target_seconds=2.0, ceiling=200_000)
    admission.observe(rows=20_000, seconds=8.0)  # 2,500 rows/s measured
    assert admission.cap() == 4_000  # 2 s of it, with a 20 % margin


def test_admission_grows_by_half_while_full_batches_keep_the_trigger_up_to_the_ceiling():
    admission = Admission(target_seconds=2.0, ceiling=20_000)
    caps = []
    for _ in range(5):
        admission.observe(rows=admission.cap(), seconds=2.0)
        caps.append(admission.cap())
    assert caps == [7_500, 11_250, 16_875, 20_000, 20_000]


def test_admission_neither_grows_on_small_batches_nor_falls_below_its_floor():
    admission = Admission(target_seconds=2.0, ceiling=200_000)
    admission.observe(rows=10, seconds=2.0)
    assert admission.cap() == 5_000
    admission.observe(rows=10, seconds=60.0)
    assert admission.cap() == admission.floor


def test_admission_takes_at_least_what_arrived_so_a_busy_machine_never_falls_behind_for_ever():
    admission = Admission(target_seconds=2.0, ceiling=200_000)
    admission.observe(rows=1_000, seconds=5.0, arrived=12_000)  # slow, and 12,000 came in
    assert admission.cap() == 13_200
