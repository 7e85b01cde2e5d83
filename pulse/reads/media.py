"""Media: enriched events over time by quality tier, device class or user segment, from the
enrich job's PostgreSQL `events`."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from pulse.outputs import EVENTS
from pulse.reads.sources import Sql

# The dimensions a chart can split by, and their columns: the only names that reach the SQL
# text, so a caller's choice can never become SQL.
DIMENSIONS = {"quality": "quality_tier", "device": "device_class", "segment": "user_segment"}


def media_over_time(pg: Sql, dimension: str, start: datetime, bucket_seconds: int) -> pd.DataFrame:
    """Events per `bucket_seconds` since `start` (by event time), split by `dimension`:
    bucket, value ('unknown' where enrichment found none), events."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(DIMENSIONS)}, got {dimension!r}")
    column = DIMENSIONS[dimension]
    return pg.frame(
        "SELECT date_bin(make_interval(secs => %s), ts, TIMESTAMPTZ '2000-01-01') AS bucket,"
        f" coalesce({column}, 'unknown') AS value, count(*) AS events"
        f" FROM {EVENTS.name} WHERE ts >= %s GROUP BY 1, 2 ORDER BY 1, 2",
        (bucket_seconds, start),
    )


def media_totals(pg: Sql, start: datetime) -> pd.DataFrame:
    """Events since `start` by type and device class, for a table beside the charts."""
    return pg.frame(
        "SELECT type, coalesce(device_class, 'unknown') AS device_class, count(*) AS events"
        f" FROM {EVENTS.name} WHERE ts >= %s GROUP BY 1, 2 ORDER BY 3 DESC",
        (start,),
    )
