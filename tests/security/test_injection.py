"""SQL only through parameters: injection strings in every field that reaches a database are
stored and read back as the text they are, and every table is still there afterwards.

The strings went in through Kafka, in every free-text field of one event per domain (ids and
keys included; `tests.hostile`), and the real jobs wrote them (`produced`); the readers of the
dashboard are then asked for them by those same strings. The registry API's fields are checked
in `tests/services/test_registry_injection.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from pulse.reads.lake import lake_tables
from pulse.reads.live import emoji_trend
from pulse.reads.products import catalog_row, product_changes
from pulse.reads.sources import open_mysql, open_postgres
from pulse.stores import mysql_connect, postgres_connect
from tests.hostile import INJECTED_SUBSCRIBER
from tests.stacks import Stores

pytestmark = [pytest.mark.spark, pytest.mark.broker]

POSTGRES_TABLES = (
    "emoji_windows", "match_scores", "player_stats", "events", "event_acks", "sink_ledger",
)  # fmt: skip
MYSQL_TABLES = ("products", "game_deliveries", "subscribers", "subscriptions", "sink_ledger")


def one(cursor, sql: str, params: tuple) -> tuple:
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    assert len(rows) == 1, f"{sql} {params!r}: {rows}"
    return rows[0]


def assert_tables_hold_rows(cursor, tables: tuple[str, ...]) -> None:
    """Every table is still there, and not emptied."""
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone()[0] > 0, f"{table} is empty"


def test_injection_strings_reach_postgresql_as_text(produced: Stores) -> None:
    sports = produced.hostile.injected["sports"]
    media = produced.hostile.injected["media"]
    emoji = produced.hostile.injected["emoji"]
    ack = produced.hostile.injected["monitoring"]
    pg = postgres_connect(produced.conf.postgres)
    try:
        with pg.cursor() as cur:
            teams = one(
                cur, "SELECT home_team, away_team FROM match_scores WHERE match_id = %s",
                (sports["match_id"],),
            )  # fmt: skip
            assert teams == (sports["home_team"], sports["away_team"])
            for stat in sports.get("player_stats") or []:
                one(
                    cur, "SELECT total FROM player_stats WHERE match_id = %s AND player_id = %s "
                    "AND stat = %s", (sports["match_id"], stat["player_id"], stat["stat"]),
                )  # fmt: skip
            stored = one(
                cur, "SELECT user_id, content_id FROM events WHERE id = %s", (media["id"],)
            )
            assert stored == (media["user"], media["metadata"]["content_id"])
            one(cur, "SELECT count FROM emoji_windows WHERE match_id = %s", (emoji["match_id"],))
            stored_ack = one(
                cur, "SELECT topic FROM event_acks WHERE event_id = %s AND component = %s",
                (ack["event_id"], ack["component"]),
            )  # fmt: skip
            assert stored_ack == (ack["topic"],)
            assert_tables_hold_rows(cur, POSTGRES_TABLES)
    finally:
        pg.close()


def test_injection_strings_reach_mysql_as_text(produced: Stores) -> None:
    product = produced.hostile.injected["product"]
    game = produced.hostile.injected["game"]
    my = mysql_connect(produced.conf.mysql)
    try:
        cur = my.cursor()
        state = product.get("after") or product["before"]
        stored = one(
            cur, "SELECT name, category FROM products WHERE product_id = %s",
            (product["product_id"],),
        )  # fmt: skip
        assert stored == (state["name"], state["category"])
        delivered = one(
            cur, "SELECT update_id, title FROM game_deliveries WHERE subscriber_id = %s "
            "AND game_id = %s", (INJECTED_SUBSCRIBER, game["game_id"]),
        )  # fmt: skip
        assert delivered == (game["update_id"], game["title"])
        assert_tables_hold_rows(cur, MYSQL_TABLES)
    finally:
        my.close()


def test_injection_strings_are_redis_keys_and_values_like_any_other(produced: Stores) -> None:
    media = produced.hostile.injected["media"]
    store = redis.Redis.from_url(produced.conf.redis.url, decode_responses=True)
    try:
        cached = store.hgetall(f"event:{media['id']}")
    finally:
        store.close()
    assert cached["user_id"] == media["user"]


def test_the_readers_look_injection_strings_up_as_values(produced: Stores) -> None:
    product = produced.hostile.injected["product"]
    emoji = produced.hostile.injected["emoji"]
    my, pg = open_mysql(produced.conf.mysql), open_postgres(produced.conf.postgres)
    try:
        row = catalog_row(my, product["product_id"])
        trend = emoji_trend(pg, datetime(2000, 1, 1, tzinfo=UTC), emoji["match_id"])
    finally:
        my.close()
        pg.close()
    tables = lake_tables(produced.conf.lake.path, produced.conf.topics)
    path = next(table.path for table in tables if table.name == "product_history")
    history = product_changes(path, product["product_id"])

    assert row["product_id"].tolist() == [product["product_id"]]
    assert history["change_id"].tolist() == [product["change_id"]]
    assert trend["count"].sum() == 1
