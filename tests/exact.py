"""What every sink of the live and enrich jobs must hold, computed from the topics alone, and
what each holds: the measure of "nothing lost, nothing counted twice" of the job tests and the
fault suite.

Each comparison is a mapping per sink (a key to its value), so a difference names the key.
`report` prints expected against found per sink, then asserts they are equal.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.events.schema import parse_timestamp
from pulse.stores import mysql_connect, postgres_connect
from tests.jobs.records import read_all, valid_events


@dataclass(frozen=True)
class Comparison:
    """One sink: what it must hold and what it holds."""

    sink: str
    expected: dict[Any, Any]
    found: dict[Any, Any]

    @property
    def exact(self) -> bool:
        return self.expected == self.found

    def difference(self) -> str:
        missing = [k for k in self.expected if k not in self.found][:3]
        extra = [k for k in self.found if k not in self.expected][:3]
        wrong = [
            (k, self.expected[k], self.found[k])
            for k in self.expected
            if k in self.found and self.expected[k] != self.found[k]
        ][:3]
        return f"{self.sink}: missing {missing}, unexpected {extra}, different {wrong}"


def report(title: str, comparisons: Iterable[Comparison]) -> None:
    """Print expected against found per sink (the CI log shows it), then assert each exact."""
    comparisons = list(comparisons)
    print(f"\n{title}\n  {'sink':<34}{'expected':>10}{'found':>10}  exact")
    for c in comparisons:
        print(f"  {c.sink:<34}{len(c.expected):>10}{len(c.found):>10}  {c.exact}")
    wrong = [c.difference() for c in comparisons if not c.exact]
    assert not wrong, "\n".join(wrong)
    assert all(c.expected for c in comparisons), "a sink had nothing to hold: the test is void"


def window_start(ts: str, seconds: float) -> datetime:
    """The start of the event-time window of `seconds` that `ts` falls in."""
    moment = parse_timestamp(ts).timestamp()
    return datetime.fromtimestamp(math.floor(moment / seconds) * seconds, UTC)


def emoji_counts(conf: PulseConfig) -> Counter[tuple[str, str, datetime]]:
    """Valid emoji events per (match, emoji, window), each event id once."""
    emojis = {e["event_id"]: e for e in valid_events(conf, "emoji", SCHEMAS["emoji"])}.values()
    span = conf.emoji.window_seconds
    return Counter((e["match_id"], e["emoji"], window_start(e["ts"], span)) for e in emojis)


def scoreboards(conf: PulseConfig) -> tuple[dict[str, dict], dict[tuple[str, str, str], int]]:
    """The event of the highest sequence per match, and player stat totals (sums of deltas),
    from the valid sports events, each event id once."""
    sports = {e["event_id"]: e for e in valid_events(conf, "sports", SCHEMAS["sports"])}.values()
    best: dict[str, dict] = {}
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    for event in sports:
        if event["match_id"] not in best or event["sequence"] > best[event["match_id"]]["sequence"]:
            best[event["match_id"]] = event
        for stat in event.get("player_stats") or []:
            totals[(event["match_id"], stat["player_id"], stat["stat"])] += stat["delta"]
    return best, dict(totals)


def live_sinks(conf: PulseConfig, followers: dict[str, list[str]]) -> list[Comparison]:
    """The live job's sinks; `followers` are the subscribers of each game (no node is live)."""
    counts = emoji_counts(conf)
    best, totals = scoreboards(conf)
    updates = {u["update_id"]: u for u in valid_events(conf, "game", SCHEMAS["game"])}.values()

    window_rows, score_rows, stat_rows = _rows(
        postgres_connect(conf.postgres),
        "SELECT match_id, emoji, window_start, count, units FROM emoji_windows",
        "SELECT match_id, home_score, away_score, sequence FROM match_scores",
        "SELECT match_id, player_id, stat, total FROM player_stats",
    )
    windows = {(m, e, w): (c, u) for m, e, w, c, u in window_rows}
    scores = {m: (h, a, s) for m, h, a, s in score_rows}
    stats = {(m, p, s): t for m, p, s, t in stat_rows}
    (inbox_rows,) = _rows(
        mysql_connect(conf.mysql), "SELECT update_id, subscriber_id, title FROM game_deliveries"
    )
    inbox = {(u, s): t for u, s, t in inbox_rows}
    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    try:
        boards = {m: store.hget(f"match:{m}", "sequence") for m in best}
    finally:
        store.close()
    aggregated: dict[tuple, tuple[int, int]] = {}
    for record in read_all(conf, conf.topics.emoji_aggregated.name):
        message = json.loads(record.value)
        key = (message["match_id"], message["emoji"], parse_timestamp(message["window_start"]))
        if key not in aggregated or message["batch_id"] >= aggregated[key][0]:
            aggregated[key] = (message["batch_id"], message["count"])

    return [
        Comparison(
            "postgres emoji_windows",
            {k: (c, math.ceil(c / conf.emoji.ratio)) for k, c in counts.items()},
            windows,
        ),
        Comparison(
            "kafka emoji.aggregated (latest)",
            dict(counts),
            {k: count for k, (_, count) in aggregated.items()},
        ),
        Comparison(
            "postgres match_scores",
            {m: (e["home_score"], e["away_score"], e["sequence"]) for m, e in best.items()},
            scores,
        ),
        Comparison("postgres player_stats", totals, stats),
        Comparison(
            "redis match:<id> sequence", {m: str(e["sequence"]) for m, e in best.items()}, boards
        ),
        Comparison(
            "mysql game_deliveries",
            {(u["update_id"], s): u["title"] for u in updates for s in followers[u["game_id"]]},
            inbox,
        ),
    ]


def enrich_sinks(conf: PulseConfig) -> list[Comparison]:
    """The enrich job's sinks: media events in PostgreSQL and Redis, the product catalogue."""
    media = {e["id"]: e["type"] for e in valid_events(conf, "media", SCHEMAS["media"])}
    latest: dict[str, int] = {}
    for change in valid_events(conf, "product", SCHEMAS["product"]):
        latest[change["product_id"]] = max(change["version"], latest.get(change["product_id"], 0))
    (event_rows,) = _rows(postgres_connect(conf.postgres), "SELECT id, type FROM events")
    (product_rows,) = _rows(mysql_connect(conf.mysql), "SELECT product_id, version FROM products")
    events, products = dict(event_rows), dict(product_rows)
    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    try:
        pipe = store.pipeline(transaction=False)
        for event_id in media:
            pipe.hget(f"event:{event_id}", "type")
        cached = dict(zip(media, pipe.execute(), strict=True))
    finally:
        store.close()
    return [
        Comparison("postgres events", media, events),
        Comparison("redis event:<id>", media, {k: v for k, v in cached.items() if v}),
        Comparison("mysql products (version)", latest, products),
    ]


def _rows(connection: Any, *queries: str) -> list[list[tuple]]:
    """The rows of each query, on `connection` (PostgreSQL or MySQL), closed afterwards."""
    try:
        cursor = connection.cursor()
        results = []
        for query in queries:
            cursor.execute(query)
            results.append(cursor.fetchall())
        return results
    finally:
        connection.close()
