"""The user-segment dimension of media enrichment, re-read from PostgreSQL on an interval.

Re-reading every batch would cost a query per 2 seconds for a table that changes rarely; never
re-reading would miss new segments. The cache keeps the rows for `refresh_seconds`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pulse.config import PostgresConfig
from pulse.stores import postgres_connect


@dataclass
class SegmentCache:
    """(user_id, segment) rows, read at most once per `refresh_seconds`."""

    conf: PostgresConfig
    refresh_seconds: float
    _rows: list[tuple[str, str]] = field(default_factory=list, init=False)
    _read_at: float = field(default=float("-inf"), init=False)

    def rows(self) -> list[tuple[str, str]]:
        """The current segments, from the cache unless it is older than the interval."""
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            conn = postgres_connect(self.conf)
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT user_id, segment FROM user_segments")
                    self._rows = [(str(u), str(s)) for u, s in cursor.fetchall()]
            finally:
                conn.close()
            self._read_at = time.monotonic()
        return self._rows
