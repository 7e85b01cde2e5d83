"""Compaction of the lake's Delta tables, on real tables written by the lake's own sink."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from pulse.cli import main
from pulse.compaction import Compacted, compact
from pulse.reads.lake import LakeTable, at_or_after, read_table
from pulse.sinks.base import BatchContext
from pulse.sinks.delta import DeltaAppend

T0 = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def batch(first: int, rows: int = 3) -> pa.Table:
    return pa.table(
        {
            "event_id": [f"e{n}" for n in range(first, first + rows)],
            "topic": ["emoji.reactions"] * rows,
            "date": [date(2026, 12, 7)] * rows,
            "ts": [T0.replace(second=n % 60) for n in range(first, first + rows)],
        }
    )


def appended(path: Path, batches: int, ctx: BatchContext) -> DeltaAppend:
    """A table of `batches` commits of 3 rows each, written as the lake writes bronze."""
    sink = DeltaAppend("bronze", str(path), ("topic", "date"))
    for n in range(batches):
        sink.write(batch(3 * n), BatchContext(ctx.query, ctx.checkpoint_id, n))
    return sink


def event_ids(path: Path) -> list[str]:
    return sorted(DeltaTable(str(path)).to_pyarrow_table().column("event_id").to_pylist())


CTX = BatchContext("lake", "ck-compaction", 0)


def test_small_files_become_one_per_partition_with_every_row_kept(tmp_path: Path) -> None:
    path = tmp_path / "bronze"
    appended(path, 12, CTX)
    rows = event_ids(path)
    assert len(DeltaTable(str(path)).file_uris()) == 12

    [done] = compact([LakeTable("bronze", str(path))], min_files=2, retain_hours=168)

    assert (done.files_before, done.files_removed, done.files_added) == (12, 12, 1)
    assert len(DeltaTable(str(path)).file_uris()) == 1
    assert event_ids(path) == rows
    # The dashboard's filtered read still works on the rewritten file.
    found = read_table(str(path), ["event_id"], at_or_after("ts", T0.replace(second=30)))
    assert found is not None and found.num_rows == 6


def test_exactly_once_marks_survive_a_compaction(tmp_path: Path) -> None:
    """A batch replayed after the compaction (the lake restarted) is still skipped, and the
    next one is still appended."""
    path = tmp_path / "bronze"
    sink = appended(path, 5, CTX)
    list(compact([LakeTable("bronze", str(path))], min_files=2, retain_hours=168))

    sink.write(batch(0), BatchContext(CTX.query, CTX.checkpoint_id, 4))  # batch 4 again
    sink.write(batch(100), BatchContext(CTX.query, CTX.checkpoint_id, 5))

    assert event_ids(path) == sorted([f"e{n}" for n in range(15)] + ["e100", "e101", "e102"])


def test_appends_while_compacting_lose_nothing(tmp_path: Path) -> None:
    """The lake keeps its tables open and appends every trigger: appends racing a compaction
    all land, and the compaction still commits."""
    path = tmp_path / "bronze"
    sink = appended(path, 10, CTX)
    done: list[Compacted] = []
    compacting = threading.Thread(
        target=lambda: done.extend(
            compact([LakeTable("bronze", str(path))], min_files=2, retain_hours=168)
        )
    )
    compacting.start()
    for n in range(10, 20):
        sink.write(batch(3 * n), BatchContext(CTX.query, CTX.checkpoint_id, n))
    compacting.join()

    assert event_ids(path) == sorted(f"e{n}" for n in range(60))
    assert [result.skipped for result in done] == [""]


def test_a_table_with_few_files_or_none_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bronze"
    appended(path, 2, CTX)
    tables = [LakeTable("bronze", str(path)), LakeTable("silver/none", str(tmp_path / "none"))]

    assert list(compact(tables, min_files=3, retain_hours=168)) == []
    assert len(DeltaTable(str(path)).file_uris()) == 2


def test_replaced_files_are_deleted_once_the_retention_has_passed(tmp_path: Path) -> None:
    week, now = tmp_path / "week", tmp_path / "now"
    for path in (week, now):
        appended(path, 4, CTX)

    [kept] = compact([LakeTable("week", str(week))], min_files=2, retain_hours=168)
    [deleted] = compact([LakeTable("now", str(now))], min_files=2, retain_hours=0)

    assert kept.files_vacuumed == 0 and len(list(week.rglob("*.parquet"))) == 5
    assert deleted.files_vacuumed == 4 and len(list(now.rglob("*.parquet"))) == 1
    assert event_ids(now) == event_ids(week)


def test_pulse_compact_compacts_every_lake_table_once(tmp_path: Path, monkeypatch, caplog) -> None:
    appended(tmp_path / "bronze", 3, CTX)
    appended(tmp_path / "quarantine", 3, CTX)
    monkeypatch.setenv("PULSE_LAKE__PATH", str(tmp_path))
    monkeypatch.setenv("PULSE_LAKE__COMPACT_MIN_FILES", "2")

    with caplog.at_level(logging.INFO, logger="pulse.compaction"):
        assert main(["compact"]) == 0

    for table in ("bronze", "quarantine"):
        assert len(DeltaTable(str(tmp_path / table)).file_uris()) == 1
    assert "table=bronze files=3 compacted: 3 files into 1" in caplog.text
