"""The user-segment dimension of the simulated population, as a CRM feed would provide it.

The enrich job joins media events to PostgreSQL `user_segments`; on a real system another team
fills that table. `pulse run` fills it for the media simulator's users, and only when it is
empty, so that a real dimension is never overwritten.
"""

from __future__ import annotations

import random

from psycopg2.extras import execute_values

from pulse.config import PostgresConfig
from pulse.simulate.media import user_ids
from pulse.stores import postgres_connect

# Most viewers are occasional; few are subscribers of the top tier.
SEGMENTS = ("new", "casual", "regular", "gold")
_WEIGHTS = (2, 5, 3, 1)


def segment_rows() -> list[tuple[str, str]]:
    """(user_id, segment) for every simulated user; the same on every call."""
    rng = random.Random("media/segments")
    users = user_ids()
    return list(zip(users, rng.choices(SEGMENTS, weights=_WEIGHTS, k=len(users)), strict=True))


def seed_segments(pg: PostgresConfig) -> int:
    """Fill `user_segments` with the simulated users' segments if it is empty; rows written."""
    conn = postgres_connect(pg)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute("LOCK TABLE user_segments IN EXCLUSIVE MODE")
            cursor.execute("SELECT EXISTS (SELECT 1 FROM user_segments)")
            if cursor.fetchone()[0]:
                return 0
            rows = segment_rows()
            execute_values(
                cursor,
                "INSERT INTO user_segments (user_id, segment) VALUES %s",
                rows,
                page_size=5000,
            )
            return len(rows)
    finally:
        conn.close()
