"""Driver-side query state: the state a batch starts from, in memory or rebuilt after a restart."""

from __future__ import annotations

from pathlib import Path

from pulse.batchstate import BatchState


def counter(directory: Path) -> BatchState[tuple[int, int], tuple[int, int]]:
    """A state of (total, watermark); each delta is (added, its batch's watermark)."""
    return BatchState(
        directory,
        initial=(0, 0),
        fold=lambda state, delta: (state[0] + delta[0], max(state[1], delta[1])),
        watermark=lambda state: state[1],
    )


def run(store: BatchState, batch_id: int, added: int, watermark: int, until: int | None) -> None:
    before = store.before(batch_id)
    state = (before[0] + added, max(before[1], watermark))
    store.record(batch_id, delta=(added, watermark), state=state, needed_until=until)


def test_a_restart_starts_each_batch_from_the_state_of_the_batches_before_it(tmp_path):
    store = counter(tmp_path)
    for batch_id, added in enumerate([5, 7, 11]):
        run(store, batch_id, added, watermark=0, until=None)
    restarted = counter(tmp_path)
    assert restarted.before(3) == (23, 0)
    assert restarted.before(2) == (12, 0)  # a replay of batch 2 starts where batch 1 left it


def test_a_replayed_batch_records_once_and_later_files_are_dropped(tmp_path):
    store = counter(tmp_path)
    for batch_id in range(3):
        run(store, batch_id, 1, watermark=0, until=None)
    replay = counter(tmp_path)
    run(replay, 1, 1, watermark=0, until=None)  # the checkpoint was rolled back to batch 1
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob("*.state")) == ["0", "1"]
    assert counter(tmp_path).before(2) == (2, 0)


def test_files_the_watermark_has_passed_are_deleted(tmp_path):
    store = counter(tmp_path)
    run(store, 0, 1, watermark=10, until=15)  # matters until the watermark reaches 15
    run(store, 1, 1, watermark=20, until=40)
    run(store, 2, 1, watermark=30, until=50)
    run(store, 3, 1, watermark=30, until=50)  # starts from watermark 30: batch 0 is passed
    assert sorted(int(p.name.split(".")[0]) for p in tmp_path.glob("*.state")) == [1, 2, 3]


def test_batches_that_added_nothing_leave_at_most_the_last_two_files(tmp_path):
    store = counter(tmp_path)
    for batch_id in range(10):
        run(store, batch_id, 0, watermark=batch_id, until=-1)
    assert sorted(int(p.name.split(".")[0]) for p in tmp_path.glob("*.state")) == [8, 9]
    assert counter(tmp_path).before(10) == (0, 9)


def test_empty_batches_before_any_watermark_do_not_pile_up_either(tmp_path):
    store: BatchState[int, int] = BatchState(tmp_path, initial=0, fold=lambda s, d: s + d)
    for batch_id in range(5):
        store.record(batch_id, delta=0, state=0, needed_until=-1)
    assert len(list(tmp_path.glob("*.state"))) == 2
