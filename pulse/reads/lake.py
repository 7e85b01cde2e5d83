"""The Delta lake: which tables the jobs write, their state and commits, and filtered reads.

The tables are known from the configuration (the lake job's bronze, silver per domain and
quarantine and product_history), not found by listing directories, so the same
code reads a lake on a local disk or in an object store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from pulse.config import TopicsConfig
from pulse.stores import StoreUnavailable

SUMMARY_COLUMNS = ("table", "version", "files", "size_bytes", "rows", "last_commit_at", "operation")
COMMIT_COLUMNS = ("version", "committed_at", "operation", "mode", "rows_added", "files_added")


@dataclass(frozen=True)
class LakeTable:
    """One Delta table of the lake: its name as the jobs call it, and where it lives."""

    name: str
    path: str


def lake_tables(lake: str, topics: TopicsConfig) -> list[LakeTable]:
    """Every table the jobs write under `lake`, whether or not it exists yet."""
    root = lake.rstrip("/")
    silver = sorted(topics.of_domains())
    names = ["bronze", *(f"silver/{domain}" for domain in silver), "quarantine", "product_history"]
    return [LakeTable(name, f"{root}/{name}") for name in names]


def open_table(path: str) -> DeltaTable | None:
    """The Delta table at `path`, or None while no job has written it; StoreUnavailable when
    its storage cannot be read."""
    try:
        return DeltaTable(path)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise StoreUnavailable("lake", path, "unreachable", str(exc)) from exc


def table_summary(tables: Sequence[LakeTable]) -> pd.DataFrame:
    """Per existing table: version, live files, bytes, rows, and its last commit."""
    rows = []
    for table in tables:
        delta = open_table(table.path)
        if delta is None:
            continue
        files = pa.table(delta.get_add_actions(flatten=True))
        last = delta.history(1)[0]
        rows.append(
            (
                table.name,
                delta.version(),
                files.num_rows,
                int(pc.sum(files["size_bytes"]).as_py() or 0),
                int(pc.sum(files["num_records"]).as_py() or 0),
                _commit_time(last),
                last.get("operation"),
            )
        )
    return pd.DataFrame.from_records(rows, columns=SUMMARY_COLUMNS)


def commits(path: str, limit: int = 10) -> pd.DataFrame:
    """The latest `limit` commits of a table, newest first (none while it does not exist)."""
    delta = open_table(path)
    history = delta.history(limit) if delta is not None else []
    rows = []
    for commit in history:
        metrics = commit.get("operationMetrics") or {}
        parameters = commit.get("operationParameters") or {}
        rows.append(
            (
                commit.get("version"),
                _commit_time(commit),
                commit.get("operation"),
                parameters.get("mode"),
                metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                metrics.get("num_added_files", metrics.get("num_target_files_added")),
            )
        )
    return pd.DataFrame.from_records(rows, columns=COMMIT_COLUMNS)


def read_table(
    path: str,
    columns: Sequence[str],
    where: ds.Expression | None = None,
) -> pa.Table | None:
    """`columns` of the rows that match `where` (pushed down to the files), or None while the
    table does not exist."""
    delta = open_table(path)
    if delta is None:
        return None
    dataset = delta.to_pyarrow_dataset()
    try:
        return dataset.to_table(columns=list(columns), filter=where)
    except pa.ArrowNotImplementedError:
        # delta-rs's MERGE writes strings as string_view, its appends as string: a table
        # written both ways (product_history, merged by change_id) reads back as views, which
        # Arrow's comparison kernels do not match with string scalars. Cast them back, then
        # filter (on every column: the filter may name columns not asked for).
        table = dataset.to_table()
        plain = pa.schema(
            [
                field.with_type(pa.string()) if pa.types.is_string_view(field.type) else field
                for field in table.schema
            ]
        )
        table = table.cast(plain)
        return (table if where is None else table.filter(where)).select(list(columns))


def at_or_after(column: str, start: datetime) -> ds.Expression:
    """`column >= start` for a UTC timestamp column of a Delta table (microseconds)."""
    return ds.field(column) >= pa.scalar(start.astimezone(UTC), pa.timestamp("us", tz="UTC"))


def _commit_time(commit: dict) -> pd.Timestamp | None:
    stamp = commit.get("timestamp")
    return None if stamp is None else pd.Timestamp(stamp, unit="ms", tz="UTC")
