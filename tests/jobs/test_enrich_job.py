"""jobs/enrich.py end to end: enriched media events and the current product catalog."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import redis
from deltalake import DeltaTable

from pulse.events import SCHEMAS
from pulse.events.schema import format_timestamp
from pulse.kafka.producer import EventProducer
from pulse.simulate.media import user_ids
from pulse.stores import mysql_connect, postgres_connect
from tests.jobs.records import read_all, valid_events

pytestmark = [pytest.mark.spark, pytest.mark.broker]

# The enrichment rules, written out independently of pulse.transforms.media.
TIER = {"240p": "sd", "360p": "sd", "480p": "sd", "720p": "hd", "1080p": "hd", "2160p": "uhd"}
DEVICE = {"mobile": "handheld", "tablet": "handheld", "desktop": "desktop", "tv": "living-room"}


def bucket(duration_ms: int) -> str:
    return "short" if duration_ms < 30_000 else "medium" if duration_ms < 300_000 else "long"


def test_enrich_job_writes_enriched_events_and_current_products(job_stack):
    conf = job_stack.conf
    segments = {
        user: ("gold" if i % 3 == 0 else "casual") for i, user in enumerate(user_ids()[:50])
    }
    pg = postgres_connect(conf.postgres)
    with pg, pg.cursor() as cur:
        # Exactly these segments: `pulse run` fills the dimension for every simulated user.
        cur.execute("DELETE FROM user_segments")
        cur.executemany(
            "INSERT INTO user_segments (user_id, segment) VALUES (%s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET segment = EXCLUDED.segment",
            list(segments.items()),
        )
    job_stack.simulate_together(
        {"media": (300, 31), "product": (200, 32)}, seconds=2, bad_ratio=0.01
    )

    job_stack.run("enrich")

    media = {e["id"]: e for e in valid_events(conf, "media", SCHEMAS["media"])}
    with pg.cursor() as cur:
        cur.execute(
            "SELECT id, quality_tier, device_class, duration_bucket, user_segment, user_id"
            " FROM events WHERE id = ANY(%s)",
            (list(media),),
        )
        stored = {row[0]: row[1:] for row in cur.fetchall()}
    pg.close()
    assert stored == {
        i: (
            TIER[e["metadata"]["quality"]],
            DEVICE[e["metadata"]["device"]],
            bucket(e["metadata"]["duration_ms"]),
            segments.get(e["user"], "unknown"),
            e["user"],
        )
        for i, e in media.items()
    }
    cache = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    sample = sorted(media)[:20]
    assert all(cache.hget(f"event:{i}", "quality_tier") == stored[i][0] for i in sample)
    assert all(0 < cache.ttl(f"event:{i}") <= conf.redis.event_ttl_seconds for i in sample)

    changes = valid_events(conf, "product", SCHEMAS["product"])
    latest: dict[str, dict] = {}
    for change in changes:
        if (
            change["product_id"] not in latest
            or change["version"] > latest[change["product_id"]]["version"]
        ):
            latest[change["product_id"]] = change
    products = read_products(conf, list(latest))
    assert products == {p: (c["version"], c["op"] == "delete") for p, c in latest.items()}
    job_stack.run("lake")  # the history is the lake's
    history = DeltaTable(f"{conf.lake.path}/product_history").to_pyarrow_table()
    assert sorted(history.column("change_id").to_pylist()) == sorted(
        c["change_id"] for c in changes
    )
    acks = [json.loads(r.value) for r in read_all(conf, conf.topics.monitoring.name)]
    processed = {a["event_id"] for a in acks if a["kind"] == "processing_ack"}
    assert processed == {c["change_id"] for c in changes}

    # An older version arriving after a newer one leaves the newer state.
    product, newest = next(
        (p, c) for p, c in latest.items() if c["op"] != "delete" and c["version"] >= 2
    )
    stale = {
        **newest,
        "change_id": f"pc-stale-{uuid.uuid4().hex[:8]}",
        "version": newest["version"] - 1,
        "op": "update",
        "ts": format_timestamp(datetime.now(UTC)),
    }
    stale["after"] = {**(newest.get("after") or newest["before"]), "name": "stale name"}
    # A change sent again, as the CDC relay re-sends what it sent before a crash.
    resent = changes[0]
    producer = EventProducer(conf.kafka)
    producer.send_event(conf.topics.product.name, product, stale)
    producer.send_event(conf.topics.product.name, resent["product_id"], resent)
    producer.flush()

    job_stack.run("enrich")

    assert read_products(conf, [product]) == {product: (newest["version"], False)}
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    cur.execute("SELECT name FROM products WHERE product_id = %s", (product,))
    assert cur.fetchone()[0] == (newest.get("after") or {}).get("name")
    my.close()
    job_stack.run("lake")
    history = DeltaTable(f"{conf.lake.path}/product_history").to_pyarrow_table()
    assert sorted(history.column("change_id").to_pylist()) == sorted(
        [c["change_id"] for c in changes] + [stale["change_id"]]
    )


def read_products(conf, ids: list[str]) -> dict[str, tuple[int, bool]]:
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    marks = ", ".join(["%s"] * len(ids))
    cur.execute(
        f"SELECT product_id, version, deleted FROM products WHERE product_id IN ({marks})", ids
    )
    rows = {p: (v, bool(d)) for p, v, d in cur.fetchall()}
    cur.close()
    my.close()
    return rows
