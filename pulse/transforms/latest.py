"""Keep the newest row per key: the sinks upsert by key, so a batch must carry one row per key.

A PostgreSQL `INSERT ... ON CONFLICT DO UPDATE` refuses to touch the same row twice in one
statement, and MySQL would keep whichever duplicate came last; reducing inside the batch makes
the outcome the newest row, whatever order the records arrived in.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

_RANK = "_latest_rank"


def latest_per_key(
    frame: DataFrame, keys: Sequence[str], newest_first: Sequence[Column]
) -> DataFrame:
    """One row per `keys`: the first by `newest_first`, ties broken by the rest of the row.

    Breaking ties on the remaining columns (as one struct, compared field by field) makes the
    pick deterministic, so a replayed batch, or a second sink reading the same batch, keeps the
    same row. Every column must be orderable (no map columns).
    """
    rest = [name for name in frame.columns if name not in keys]
    window = Window.partitionBy(*keys).orderBy(*newest_first, F.struct(*rest).desc())
    ranked = frame.withColumn(_RANK, F.row_number().over(window))
    return ranked.where(F.col(_RANK) == 1).drop(_RANK)
