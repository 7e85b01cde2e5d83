"""jobs/live.py end to end: every sink holds exactly what is computed here from the events."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest
import redis

from pulse.events import SCHEMAS
from pulse.events.schema import parse_timestamp
from pulse.routing import rendezvous_node
from pulse.simulate.game import GAME_IDS
from pulse.stores import mysql_connect, postgres_connect
from tests.exact import emoji_counts, scoreboards
from tests.jobs.records import read_all, valid_events

pytestmark = [pytest.mark.spark, pytest.mark.broker]

NODES = ("node-a", "node-b", "node-c")


def reset_tables(conf) -> list[tuple[str, str]]:
    """Empty what the live job writes; register subscribers and three live nodes."""
    pg = postgres_connect(conf.postgres)
    with pg, pg.cursor() as cur:
        cur.execute("TRUNCATE emoji_windows, match_scores, player_stats")
    pg.close()
    subscriptions = [(f"sub-{i}", GAME_IDS[i % 5]) for i in range(12)]
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    for table in ("game_deliveries", "subscriptions", "delivery_nodes"):
        cur.execute(f"DELETE FROM {table}")
    cur.execute("DELETE FROM subscribers WHERE subscriber_id LIKE 'sub-%'")
    cur.executemany(
        "INSERT INTO subscribers (subscriber_id, name) VALUES (%s, %s)",
        [(s, s.upper()) for s, _ in subscriptions],
    )
    cur.executemany(
        "INSERT INTO subscriptions (subscriber_id, game_id) VALUES (%s, %s)", subscriptions
    )
    cur.executemany(
        "INSERT INTO delivery_nodes (node_id, cluster, url, capacity, last_heartbeat)"
        " VALUES (%s, 'c1', %s, 100, UTC_TIMESTAMP(3))",
        [(node, f"ws://127.0.0.1/{node}") for node in NODES],
    )
    my.commit()
    cur.close()
    my.close()
    return subscriptions


def test_live_job_writes_exactly_what_the_events_say(job_stack):
    conf = job_stack.conf
    # The nodes heartbeat once, below; the job runs a minute later and must still see them.
    job_stack.configure(PULSE_STREAMING__NODE_HEARTBEAT_SECONDS="3600")
    subscriptions = reset_tables(conf)
    job_stack.simulate_together(
        {"emoji": (3000, 21), "sports": (60, 22), "game": (20, 23)}, seconds=3, bad_ratio=0.01
    )

    job_stack.run("live")

    # Emoji windows: exact counts and units per (match, emoji, 2-second window).
    counts = emoji_counts(conf)
    pg = postgres_connect(conf.postgres)
    with pg.cursor() as cur:
        cur.execute("SELECT match_id, emoji, window_start, count, units FROM emoji_windows")
        stored = {(m, e, w): (c, u) for m, e, w, c, u in cur.fetchall()}
    expected = {k: (c, math.ceil(c / conf.emoji.ratio)) for k, c in counts.items()}
    assert stored == expected

    # The topic carries each window's absolute count after every batch that touched it: the
    # latest message of a window (by batch id, then sequence) is its count.
    aggregated = [json.loads(r.value) for r in read_all(conf, conf.topics.emoji_aggregated.name)]
    assert all("batch_id" in a and "seq" in a for a in aggregated)
    latest: dict[tuple, dict] = {}
    for a in aggregated:
        key = (a["match_id"], a["emoji"], parse_timestamp(a["window_start"]))
        if key not in latest or (a["batch_id"], a["seq"]) > (
            latest[key]["batch_id"],
            latest[key]["seq"],
        ):
            latest[key] = a
    assert {k: a["count"] for k, a in latest.items()} == dict(counts)

    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    for match in {m for m, _, _ in counts}:
        latest = max(w for m, _, w in counts if m == match)
        top = sorted(
            ((c, e) for (m, e, w), c in counts.items() if m == match and w == latest),
            key=lambda item: (-item[0], item[1]),
        )[: conf.emoji.top_n]
        cached = json.loads(store.hget(f"emoji:{match}", "top"))
        assert [(t["emoji"], t["count"]) for t in cached] == [(e, c) for c, e in top]

    # Scoreboards: the state of the highest sequence; player stats: sums of deltas.
    best, totals = scoreboards(conf)
    with pg.cursor() as cur:
        cur.execute("SELECT match_id, home_score, away_score, sequence, status FROM match_scores")
        scores = {m: (h, a, s, st) for m, h, a, s, st in cur.fetchall()}
        cur.execute("SELECT match_id, player_id, stat, total FROM player_stats")
        stats = {(m, p, s): t for m, p, s, t in cur.fetchall()}
    pg.close()
    assert scores == {
        m: (e["home_score"], e["away_score"], e["sequence"], e["status"]) for m, e in best.items()
    }
    assert stats == totals
    for match, event in best.items():
        assert store.hget(f"match:{match}", "sequence") == str(event["sequence"])
        assert store.hget(f"match:{match}", "home_score") == str(event["home_score"])

    # Game updates: one inbox row per (update, subscriber of its game), routed by HRW.
    updates = {u["update_id"]: u for u in valid_events(conf, "game", SCHEMAS["game"])}.values()
    followers = defaultdict(list)
    for subscriber, game in subscriptions:
        followers[game].append(subscriber)
    expected_inbox = {
        (u["update_id"], s, rendezvous_node(s, sorted(NODES)))
        for u in updates
        for s in followers[u["game_id"]]
    }
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    cur.execute("SELECT update_id, subscriber_id, node_id FROM game_deliveries")
    inbox = set(cur.fetchall())
    cur.close()
    my.close()
    assert expected_inbox, "no game update reached a subscribed game"
    assert inbox == expected_inbox
