"""The CDC relay as it runs: `pulse serve cdc` in a subprocess, the machine's real PostgreSQL
(database `test`, table `products_pim`) and the session's broker.

Each test has its own replication slot (`PULSE_CDC__SLOT`), its own product topic
(`PULSE_TOPICS__PRODUCT__NAME`) and product ids of its own; it drops the slot and deletes its
rows afterwards. Only changes committed after the slot exists are captured, so every test waits
for the relay to stream before it writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.events import validate
from pulse.events.domains import PRODUCT
from pulse.events.schema import parse_timestamp
from pulse.kafka.admin import delete_topics, ensure_topics
from pulse.local.migrate import migrate_postgres
from pulse.stores import postgres_connect
from tests.conftest import PulseRunner
from tests.polling import wait_for
from tests.services.support import Events, read_until

pytestmark = pytest.mark.broker

INSERT = (
    "INSERT INTO products_pim (product_id, name, category, price, currency, stock, version) "
    "VALUES (%s, %s, 'footwear', %s, 'EUR', %s, %s)"
)
UPDATE = "UPDATE products_pim SET price = %s, stock = %s, version = %s WHERE product_id = %s"
DELETE = "DELETE FROM products_pim WHERE product_id = %s"
# Changes of the slot not yet confirmed, without consuming them: row changes only (pgoutput
# messages I, U, D), from any table of the publication.
PENDING_ROWS = (
    "SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
    "'proto_version', '1', 'publication_names', %s) WHERE get_byte(data, 0) IN (73, 85, 68)"
)

Statement = tuple[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def pg(conf: PulseConfig) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection to the migrated test database."""
    conn = postgres_connect(conf.postgres)
    migrate_postgres(conn)
    conn.autocommit = True
    yield conn
    conn.close()


def query(pg: psycopg2.extensions.connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement."""
    with pg.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@dataclass
class Capture:
    """One test's slot, topic and product ids, and the relays it started."""

    conf: PulseConfig
    env: dict[str, str]
    pg: psycopg2.extensions.connection
    writer: psycopg2.extensions.connection
    prefix: str
    logs: Path
    relays: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def slot(self) -> str:
        """The test's replication slot."""
        return self.conf.cdc.slot

    @property
    def topic(self) -> str:
        """The test's product topic."""
        return self.conf.topics.product.name

    def product(self, number: int) -> str:
        """The id of the test's `number`-th product."""
        return f"{self.prefix}-{number:03d}"

    def start(self) -> subprocess.Popen[bytes]:
        """Start a relay and wait until it streams from the slot."""
        log = self.logs / f"relay-{len(self.relays)}.log"
        with log.open("wb") as out:
            relay = subprocess.Popen(
                [sys.executable, "-m", "pulse", "serve", "cdc"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.relays.append(relay)

        def streaming() -> bool:
            if relay.poll() is not None:
                raise AssertionError(f"the relay exited {relay.returncode}:\n{log.read_text()}")
            rows = query(
                self.pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", self.slot
            )
            return bool(rows and rows[0][0])

        wait_for(streaming, 20, f"the relay to stream from slot {self.slot}")
        return relay

    def wait_released(self) -> None:
        """Wait until no server process streams from the slot (it follows its relay out)."""

        def released() -> bool:
            rows = query(
                self.pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", self.slot
            )
            return bool(rows) and not rows[0][0]

        wait_for(released, 10, f"slot {self.slot} to be released")

    def wait_confirmed(self, lsn: str) -> None:
        """Wait until the relay has confirmed the slot's position up to `lsn` (`0/16B3748`)."""

        def confirmed() -> bool:
            rows = query(
                self.pg,
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                lsn,
                self.slot,
            )
            return bool(rows and rows[0][0])

        wait_for(confirmed, 10, f"slot {self.slot} to be confirmed up to {lsn}")

    def log(self, index: int) -> str:
        """The output of the `index`-th relay started."""
        return (self.logs / f"relay-{index}.log").read_text()

    def commit(self, *statements: Statement) -> tuple[datetime, datetime]:
        """Run the statements in one transaction; return the wall clock before and after."""
        before = datetime.now().astimezone()
        with self.writer, self.writer.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
        return before, datetime.now().astimezone()

    def read(self, count: int, timeout: float = 20) -> Events:
        """The topic's events of this test's products, once `count` distinct changes are in it."""

        def mine(events: Events) -> Events:
            return [e for e in events if e["product_id"].startswith(self.prefix)]

        def done(events: Events) -> bool:
            return len({e["change_id"] for e in mine(events)}) >= count

        return mine(read_until(self.conf, self.topic, done, timeout=timeout))


@pytest.fixture
def capture(
    pg: psycopg2.extensions.connection,
    test_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Capture]:
    """A private slot, topic and product-id prefix; everything removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        **test_env,
        "PULSE_CDC__SLOT": f"pulse_test_{tag}",
        "PULSE_TOPICS__PRODUCT__NAME": f"t-cdc-{tag}",
        "PULSE_CDC__STATUS_INTERVAL_SECONDS": "0.2",
    }
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {conf.topics.product.name: 2})
    writer = postgres_connect(conf.postgres)
    capture = Capture(conf, env, pg, writer, f"sku-cdc-{tag}", tmp_path)
    yield capture
    for relay in capture.relays:
        if relay.poll() is None:
            relay.kill()
        relay.wait(10)
    writer.close()

    def dropped() -> bool:  # a killed relay's server process lets the slot go a moment later
        rows = query(
            pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", capture.slot
        )
        if rows and not rows[0][0]:
            query(pg, "SELECT pg_drop_replication_slot(%s)", capture.slot)
            return True
        return not rows

    wait_for(dropped, 10, f"slot {capture.slot} to be released and dropped")
    pg.cursor().execute(
        "DELETE FROM products_pim WHERE product_id LIKE %s", (capture.prefix + "%",)
    )
    delete_topics(conf.kafka, [capture.topic])


def insert(product_id: str, version: int, price: float, stock: int) -> Statement:
    """A new product row."""
    return INSERT, (product_id, f"Shoe {product_id[-3:]}", price, stock, version)


def update(product_id: str, version: int, price: float, stock: int) -> Statement:
    """A change of a product's price and stock."""
    return UPDATE, (price, stock, version, product_id)


def delete(product_id: str) -> Statement:
    """A product removed."""
    return DELETE, (product_id,)


def state(product_id: str, price: float, stock: int) -> dict[str, Any]:
    """A product image as the events carry it."""
    return {
        "name": f"Shoe {product_id[-3:]}",
        "category": "footwear",
        "price": price,
        "currency": "EUR",
        "stock": stock,
    }


def commit_order(event: dict[str, Any]) -> tuple[int, int]:
    """(commit LSN, position in the transaction) of an event, from its change id."""
    _, lsn, position = event["change_id"].split("-")
    return int(lsn, 16), int(position)


def without_kafka(event: dict[str, Any]) -> dict[str, Any]:
    """The event as produced, without the reader's `_key`, `_partition`, `_offset`."""
    return {name: value for name, value in event.items() if not name.startswith("_")}


def test_changes_arrive_in_commit_order_with_images_versions_and_keys(capture) -> None:
    capture.start()
    a, b, c = capture.product(1), capture.product(2), capture.product(3)

    times = [
        capture.commit(insert(a, 1, 10.5, 3)),
        capture.commit(insert(b, 1, 20.0, 5), insert(c, 1, 7.25, 0), update(a, 2, 12.0, 2)),
        capture.commit(update(b, 2, 19.99, 4)),
        capture.commit(delete(a)),
    ]
    events = sorted(capture.read(6), key=commit_order)

    assert len(events) == 6
    for event in events:
        validate(PRODUCT, without_kafka(event))
        assert event["source"] == "cdc"
        assert event["_key"] == event["product_id"].encode()
    assert [(e["product_id"], e["op"], e["version"]) for e in events] == [
        (a, "create", 1),
        (b, "create", 1),
        (c, "create", 1),
        (a, "update", 2),
        (b, "update", 2),
        (a, "delete", 3),  # a delete is the version after the last one
    ]
    images = [(e.get("before"), e.get("after")) for e in events]
    assert images == [
        (None, state(a, 10.5, 3)),
        (None, state(b, 20.0, 5)),
        (None, state(c, 7.25, 0)),
        (state(a, 10.5, 3), state(a, 12.0, 2)),
        (state(b, 20.0, 5), state(b, 19.99, 4)),
        (state(a, 12.0, 2), None),
    ]
    # One commit LSN and one commit time per transaction, positions counted within it.
    lsns = [commit_order(e) for e in events]
    assert [position for _, position in lsns] == [0, 0, 1, 2, 0, 0]
    assert len({lsn for lsn, _ in lsns[1:4]}) == 1
    assert len({lsn for lsn, _ in lsns}) == 4
    transaction_of_event = [0, 1, 1, 1, 2, 3]
    for event, index in zip(events, transaction_of_event, strict=True):
        started, ended = times[index]
        ts = parse_timestamp(event["ts"])
        assert started.replace(microsecond=started.microsecond // 1000 * 1000) <= ts <= ended
    # Within each partition, Kafka holds the changes in commit order.
    for partition in {e["_partition"] for e in events}:
        held = [e for e in events if e["_partition"] == partition]
        assert [e["_offset"] for e in held] == sorted(e["_offset"] for e in held)


def test_a_killed_relay_starts_again_from_its_last_confirmed_commit_and_loses_nothing(
    capture, pg
) -> None:
    # Confirmations 2 s apart: the kill below lands after changes sent but not yet confirmed.
    capture.env["PULSE_CDC__STATUS_INTERVAL_SECONDS"] = "2"
    first = capture.start()
    products, updates = 40, 950  # with the deletes below: 1,000 changes
    expected = [(capture.product(n), "create", 1) for n in range(products)]
    for product_id, _, _ in expected:  # confirmed before the kill: never sent again
        capture.commit(insert(product_id, 1, 1.0, 1))
    capture.wait_confirmed(query(pg, "SELECT pg_current_wal_lsn()::text")[0][0])
    errors: list[BaseException] = []
    killed = threading.Event()

    def write() -> None:
        try:
            versions = [1] * products
            for number in range(updates):
                if number == updates // 2:
                    killed.wait(30)  # the second half is committed while no relay runs, at first
                slot = number % products
                versions[slot] += 1
                product_id = capture.product(slot)
                capture.commit(update(product_id, versions[slot], 1.0 + number, number))
                expected.append((product_id, "update", versions[slot]))
            gone = [capture.product(slot) for slot in range(0, products, 4)]
            capture.commit(*(delete(product_id) for product_id in gone))
            expected.extend((p, "delete", versions[int(p[-3:])] + 1) for p in gone)
        except BaseException as exc:
            errors.append(exc)
            raise

    writer = threading.Thread(target=write)
    writer.start()
    capture.read(products + 60)  # the relay is well into the stream ...
    first.send_signal(signal.SIGKILL)  # ... when it dies, without a chance to flush or confirm
    assert first.wait(10) == -signal.SIGKILL
    killed.set()
    capture.start()
    writer.join(60)
    assert not writer.is_alive() and not errors, errors

    events = capture.read(len(expected), timeout=30)

    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_id.setdefault(event["change_id"], []).append(without_kafka(event))
    assert len(by_id) == len(expected)  # every change, none lost
    assert Counter((e[0]["product_id"], e[0]["op"], e[0]["version"]) for e in by_id.values()) == (
        Counter(expected)
    )
    for copies in by_id.values():  # a repeat is the very same change under the same id
        assert all(copy == copies[0] for copy in copies)
    creates = [copies for copies in by_id.values() if copies[0]["op"] == "create"]
    assert all(len(copies) == 1 for copies in creates)  # confirmed: not sent again
    # Each product's changes appear in commit order (first copies, by offset; one product's
    # changes share a partition).
    first_copies: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e["_partition"], e["_offset"])):
        first_copies.setdefault(event["change_id"], event)
    versions: dict[str, list[int]] = {}
    for event in first_copies.values():
        versions.setdefault(event["product_id"], []).append(event["version"])
    assert all(found == sorted(found) for found in versions.values())
    repeats = len(events) - len(by_id)
    print(f"{len(events)} records for {len(by_id)} changes: {repeats} repeats after the kill")


def test_sigterm_stops_after_confirming_everything_kafka_acknowledged(capture, pg) -> None:
    relay = capture.start()
    for number in range(3):
        capture.commit(insert(capture.product(number), 1, 5.0, 1))
    capture.read(3)

    relay.send_signal(signal.SIGTERM)

    assert relay.wait(30) == 0, capture.log(0)
    capture.wait_released()
    pending = query(pg, PENDING_ROWS, capture.slot, capture.conf.cdc.publication)
    assert pending == [(0,)]  # nothing would be sent again
    assert "confirmed" in capture.log(0)


def test_a_lost_postgresql_connection_is_opened_again_and_nothing_is_lost(capture, pg) -> None:
    relay = capture.start()
    capture.commit(insert(capture.product(1), 1, 5.0, 1))
    capture.read(1)

    query(
        pg,
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
        capture.slot,
    )
    capture.commit(insert(capture.product(2), 1, 5.0, 1))
    events = capture.read(2)

    assert relay.poll() is None, capture.log(0)
    assert sorted(e["product_id"] for e in events) == [capture.product(1), capture.product(2)]
    assert "reconnecting" in capture.log(0)


def test_a_slot_made_for_another_plugin_is_refused_naming_the_setting(
    capture, pg, run_pulse: PulseRunner
) -> None:
    query(pg, "SELECT 1 FROM pg_create_logical_replication_slot(%s, 'test_decoding')", capture.slot)

    result = run_pulse("serve", "cdc", env=capture.env, timeout=60)

    assert result.returncode == 1
    assert "cdc.slot" in result.stderr and "test_decoding" in result.stderr, result.stderr
    plugin = query(pg, "SELECT plugin FROM pg_replication_slots WHERE slot_name = %s", capture.slot)
    assert plugin == [("test_decoding",)]  # left as it was


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("PULSE_CDC__TABLE", "public.no_such_table", "cdc.table"),
        ("PULSE_CDC__PUBLICATION", "no_such_publication", "cdc.publication"),
        ("PULSE_TOPICS__PRODUCT__NAME", "no.such.topic", "topics.product.name"),
    ],
)
def test_a_missing_source_or_topic_is_refused_naming_the_setting(
    capture, pg, run_pulse: PulseRunner, setting: str, value: str, named: str
) -> None:
    result = run_pulse("serve", "cdc", env={**capture.env, setting: value}, timeout=60)

    assert result.returncode == 1
    assert named in result.stderr and value in result.stderr, result.stderr
    assert query(pg, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", capture.slot) == []
