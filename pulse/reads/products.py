"""Products: how fast the catalogue changes, and where each change event is on its way: its
acknowledgements (PostgreSQL `event_acks`: a `producer_ack` from the ingest API, a
`processing_ack` from the enrich job), its product in Delta `product_history` (the change id is
the event id), and the current row in MySQL `products`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import pyarrow.dataset as ds

from pulse.outputs import EVENT_ACKS, PRODUCTS
from pulse.reads.lake import at_or_after, read_table
from pulse.reads.sources import Sql

CHANGE_COLUMNS = ("change_id", "product_id", "version", "op", "source", "ts")
STATUS_COLUMNS = ("event_id", "status", "published_at", "processed_at", "latency_ms")
# What an event's acks say about it: processed (whether or not a producer acknowledged it: CDC
# changes and direct producers send no producer ack), or published and still on its way.
PROCESSED = "processed"
IN_FLIGHT = "published, not processed yet"


def change_rate(history_path: str, start: datetime, bucket_seconds: int) -> pd.DataFrame:
    """Changes per `bucket_seconds` since `start`, by source (api, cdc): one row per bucket and
    source, as a chart of one area per source needs (by op as well, it drew a sawtooth)."""
    changes = read_table(history_path, ("ts", "source"), at_or_after("ts", start))
    if changes is None or changes.num_rows == 0:
        return pd.DataFrame(columns=["bucket", "source", "changes"])
    frame = changes.to_pandas()
    frame["bucket"] = frame["ts"].dt.floor(f"{bucket_seconds}s")
    counted = frame.groupby(["bucket", "source"]).size().rename("changes")
    return counted.reset_index()


def product_changes(history_path: str, product_id: str) -> pd.DataFrame:
    """Every change of one product the enrich job has written, newest first."""
    changes = read_table(history_path, CHANGE_COLUMNS, ds.field("product_id") == product_id)
    if changes is None:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    return changes.to_pandas().sort_values(["version", "ts"], ascending=False, ignore_index=True)


def recent_acks(pg: Sql, topic: str, start: datetime, limit: int = 2000) -> pd.DataFrame:
    """The acks of events of `topic` since `start`, newest first (at most `limit`)."""
    return pg.frame(
        f"SELECT event_id, kind, component, acked_at, latency_ms FROM {EVENT_ACKS.name}"
        " WHERE topic = %s AND acked_at >= %s ORDER BY acked_at DESC LIMIT %s",
        (topic, start, limit),
    )


def status_counts(pg: Sql, topic: str, start: datetime) -> dict[str, int]:
    """How many events of `topic` acknowledged since `start` are processed, and how many are
    published but not processed yet."""
    counts = pg.frame(
        "SELECT count(*) FILTER (WHERE processed) AS processed,"
        " count(*) FILTER (WHERE NOT processed) AS in_flight FROM ("
        f" SELECT event_id, bool_or(kind = 'processing_ack') AS processed FROM {EVENT_ACKS.name}"
        " WHERE topic = %s AND acked_at >= %s GROUP BY event_id) AS events",
        (topic, start),
    ).iloc[0]
    return {PROCESSED: int(counts["processed"]), IN_FLIGHT: int(counts["in_flight"])}


def acks_of(pg: Sql, event_ids: Sequence[str]) -> pd.DataFrame:
    """The acks of the given events."""
    return pg.frame(
        f"SELECT event_id, kind, component, acked_at, latency_ms FROM {EVENT_ACKS.name}"
        " WHERE event_id = ANY(%s)",
        (list(event_ids),),
    )


def event_status(acks: pd.DataFrame) -> pd.DataFrame:
    """One row per event id from its acks: status, when it was published and processed, and
    the processing ack's end-to-end latency; newest first."""
    if acks.empty:
        return pd.DataFrame(columns=STATUS_COLUMNS)
    published = acks[acks["kind"] == "producer_ack"].groupby("event_id")["acked_at"].min()
    done = acks[acks["kind"] == "processing_ack"].groupby("event_id")
    status = pd.DataFrame(
        {
            "published_at": published,
            "processed_at": done["acked_at"].max(),
            "latency_ms": done["latency_ms"].max(),
        }
    )
    status["status"] = status["processed_at"].notna().map({True: PROCESSED, False: IN_FLIGHT})
    status = status.rename_axis("event_id").reset_index()
    newest = status["processed_at"].fillna(status["published_at"])
    return (
        status.assign(_newest=newest)
        .sort_values("_newest", ascending=False)[list(STATUS_COLUMNS)]
        .reset_index(drop=True)
    )


def catalog_row(my: Sql, product_id: str) -> pd.DataFrame:
    """The product's current row in the MySQL catalogue (empty when it has none)."""
    return my.frame(
        "SELECT product_id, name, category, price, currency, stock, version, deleted, updated_at"
        f" FROM {PRODUCTS.name} WHERE product_id = %s",
        (product_id,),
    )
