"""Compaction of the lake's Delta tables: few large files for their readers, whatever the
lake job's trigger.

The lake job commits every trigger, a few small files per table each time (every 3 s: 20
commits a minute, 28,800 a day). Every reader of a table (the dashboard's Lake page, a notebook,
a Spark job) lists and opens each of its live files, so reads grow slower by the hour. `compact`
rewrites each table's small files into files of about `target_size` bytes (delta-rs's
`optimize.compact`: each round rewrites what came since the last, and each partition's last,
partial file), then deletes the files a compaction
replaced more than `retain_hours` ago (`vacuum`: until then a reader can still travel back to a
version that holds them).

A compaction changes no row and moves no app transaction, so the lake's exactly-once marks hold
across it, and it does not conflict with the lake's appends. It can conflict with
`product_history`'s insert-only merge (a merge that read a file the compaction replaced): the
compaction then leaves the table to its next round, or the merge fails and the lake's batch
writes it again (its retry policy; the tables already written skip themselves). Compaction runs
apart from the lake job (`pulse compact`; `pulse run` starts it every
`lake.compact_every_seconds`), so no lake batch waits for it; on a cluster, schedule
`pulse compact` as any table maintenance.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from deltalake.exceptions import CommitFailedError, DeltaError

from pulse.config import PulseConfig
from pulse.interrupts import on_stop_signals
from pulse.reads.lake import LakeTable, lake_tables, open_table

log = logging.getLogger("pulse.compaction")

# Bytes: a file this large is left alone. delta-rs packs a partition's files below it into bins
# in their order, so the last, partial file of a partition is rewritten with the next round's
# new files: each round rewrites up to this much per partition beyond what is new. With 64 MB,
# rounds every 2 minutes under `make run` took 25 s of CPU each (15 partitions); with 16 MB a
# round costs little more than the new files.
TARGET_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Compacted:
    """What one round did to one table."""

    table: str
    files_before: int
    files_removed: int
    files_added: int
    files_vacuumed: int
    seconds: float
    skipped: str = ""  # why the table was left to the next round ("" when it was not)


def compact(
    tables: Sequence[LakeTable],
    *,
    min_files: int,
    retain_hours: int,
    target_size: int = TARGET_SIZE,
) -> Iterator[Compacted]:
    """One round over `tables`, table after table: each existing table of at least
    `min_files` live files compacted, then vacuumed of files replaced more than `retain_hours`
    ago.

    >>> import tempfile, pyarrow as pa
    >>> from deltalake import write_deltalake
    >>> path = tempfile.mkdtemp()
    >>> for n in range(3):
    ...     write_deltalake(path, pa.table({"n": [n]}), mode="append")
    >>> [(c.files_before, c.files_removed, c.files_added)
    ...  for c in compact([LakeTable("t", path)], min_files=2, retain_hours=168)]
    [(3, 3, 1)]
    """
    for table in tables:
        started = time.monotonic()
        delta = open_table(table.path)
        if delta is None:
            continue
        before = len(delta.file_uris())
        if before < min_files:
            continue
        try:
            metrics = delta.optimize.compact(target_size=target_size, max_concurrent_tasks=1)
        except (CommitFailedError, DeltaError) as exc:
            # A commit between this round's read and its own (a merge): the next round retries.
            yield Compacted(table.name, before, 0, 0, 0, time.monotonic() - started, str(exc))
            continue
        vacuumed = delta.vacuum(
            retention_hours=retain_hours, dry_run=False, enforce_retention_duration=False
        )
        yield Compacted(
            table.name,
            before,
            int(metrics["numFilesRemoved"]),
            int(metrics["numFilesAdded"]),
            len(vacuumed),
            time.monotonic() - started,
        )


def compact_lake(conf: PulseConfig, every_seconds: float | None = None) -> int:
    """Compact every table of the lake now, or every `every_seconds` (the first round after
    one interval: not while the platform starts) until SIGTERM, SIGHUP or Ctrl-C; each table
    logged as it is done. The `pulse compact` command."""
    stop = threading.Event()
    tables = lake_tables(conf.lake.path, conf.topics)

    def one_round() -> None:
        for result in compact(
            tables, min_files=conf.lake.compact_min_files, retain_hours=conf.lake.retain_hours
        ):
            _report(result)
            if stop.is_set():
                return

    with on_stop_signals(lambda _: stop.set(), (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
        if every_seconds is None:
            one_round()
        while every_seconds is not None and not stop.wait(every_seconds):
            one_round()
    return 0


def _report(result: Compacted) -> None:
    if result.skipped:
        log.warning(
            "table=%s files=%d left to the next round: %s",
            result.table,
            result.files_before,
            result.skipped,
        )
        return
    log.info(
        "table=%s files=%d compacted: %d files into %d, %d replaced files deleted, in %.2f s",
        result.table,
        result.files_before,
        result.files_removed,
        result.files_added,
        result.files_vacuumed,
        result.seconds,
    )
