"""The simulated users' segment dimension: filled once, never over a real one."""

from __future__ import annotations

from collections import Counter

from pulse.simulate.media import user_ids
from pulse.simulate.segments import SEGMENTS, seed_segments, segment_rows
from pulse.stores import postgres_connect
from tests.stacks import SCRATCH_REDIS_DB, scratch_stores


def test_every_simulated_user_gets_one_segment_the_same_every_time():
    rows = segment_rows()

    assert [user for user, _ in rows] == list(user_ids())
    assert rows == segment_rows()
    counts = Counter(segment for _, segment in rows)
    assert set(counts) == set(SEGMENTS)
    assert counts["casual"] > counts["gold"]


def test_seeding_fills_an_empty_dimension_and_leaves_a_filled_one_alone(conf, test_env, tmp_path):
    with scratch_stores(conf, test_env, tmp_path, SCRATCH_REDIS_DB) as settings:
        pg = conf.postgres.model_copy(update={"database": settings["PULSE_POSTGRES__DATABASE"]})
        conn = postgres_connect(pg)
        conn.autocommit = True
        cursor = conn.cursor()

        assert seed_segments(pg) == len(user_ids())
        cursor.execute("UPDATE user_segments SET segment = 'vip' WHERE user_id = 'u-00000'")
        assert seed_segments(pg) == 0

        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE segment = 'vip') FROM user_segments"
        )
        assert cursor.fetchone() == (len(user_ids()), 1)
        conn.close()
