"""`pulse serve cdc`: relay the product catalogue's row changes from PostgreSQL to Kafka,
confirming a position to PostgreSQL only once Kafka has acknowledged every event up to it, so a
killed relay loses nothing (see "The CDC relay" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import select
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pulse.config import KafkaConfig, PulseConfig
from pulse.events.domains import PRODUCT
from pulse.events.schema import InvalidEvent, validate, wire_bytes
from pulse.interrupts import on_stop_signals
from pulse.kafka.admin import KafkaUnavailable, require_topics
from pulse.services.cdc.events import transaction_events
from pulse.services.cdc.ledger import CommitLedger, Pending
from pulse.services.cdc.pgoutput import DecodeError, decode, format_lsn
from pulse.services.cdc.source import (
    CdcSetupError,
    SourceTable,
    check_source,
    ensure_slot,
    replication_connection,
    start_stream,
)
from pulse.services.cdc.transactions import StreamError, Transaction, TransactionAssembler
from pulse.stores import StoreUnavailable, postgres_connect

log = logging.getLogger("pulse.services.cdc")

# How long a slot may stay held by a relay that has just died before this one gives up.
SLOT_BUSY_SECONDS = 15.0
_WAIT_SECONDS = 0.2  # longest wait for the server between two looks at the stop flag
_RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class RelayError(RuntimeError):
    """The relay cannot go on (a record Kafka refused); it stops without confirming past it."""


def serve(conf: PulseConfig) -> int:
    """Run the relay until SIGTERM or Ctrl-C; return the process exit code."""
    try:
        try:
            require_topics(conf.kafka, [conf.topics.product.name])
        except KafkaUnavailable as exc:
            raise CdcSetupError(f"topics.product.name: {exc}") from None
        with _closing(postgres_connect(conf.postgres)) as conn:
            table = check_source(conn, conf.cdc)
    except (CdcSetupError, StoreUnavailable) as exc:
        print(f"pulse serve cdc: {exc}", file=sys.stderr)
        return 1
    relay = Relay(conf, table)
    with on_stop_signals(relay.stop_asked, (signal.SIGTERM, signal.SIGINT)):
        try:
            return relay.run()
        except CdcSetupError as exc:
            print(f"pulse serve cdc: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # a second stop signal: out at once, nothing more confirmed
            return 130


def producer_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """The client configuration: idempotent (a retry neither repeats nor reorders a record)."""
    return {
        **kafka.client_params(),
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
    }


class Relay:
    """One relay process: a producer for its lifetime, PostgreSQL sessions as long as needed."""

    def __init__(self, conf: PulseConfig, table: SourceTable) -> None:
        self._conf, self._cdc, self._table = conf, conf.cdc, table
        self._topic = conf.topics.product.name
        self._producer = Producer(producer_settings(conf.kafka))
        self._stopping = False
        self._delivered = 0  # end LSN up to which Kafka acknowledged everything, in this process
        self._unacknowledged = 0  # records Kafka had not acknowledged at the last drain
        self.sent = 0
        self.invalid = 0

    def stop_asked(self, sig: signal.Signals) -> None:
        """A stop signal: the first asks for a graceful stop, the second interrupts at once."""
        if self._stopping:
            raise KeyboardInterrupt
        log.info("%s: stopping after the events in flight", sig.name)
        self._stopping = True

    def run(self) -> int:
        """Stream until asked to stop; reconnect to PostgreSQL when the connection drops."""
        log.info(
            "cdc relay: %s -> topic %s, slot %s, publication %s, broker %s",
            self._table.qualified_name,
            self._topic,
            self._cdc.slot,
            self._cdc.publication,
            self._conf.kafka.bootstrap,
        )
        attempt = 0
        try:
            while not self._stopping:
                try:
                    self._session()
                    attempt = 0
                except (
                    psycopg2.OperationalError,
                    psycopg2.InterfaceError,
                    StoreUnavailable,
                ) as exc:
                    if self._stopping:
                        break
                    self._drain()  # before waiting: what Kafka acknowledged is not asked for again
                    delay = _RECONNECT_BACKOFF[min(attempt, len(_RECONNECT_BACKOFF) - 1)]
                    attempt += 1
                    log.warning(
                        "PostgreSQL connection lost (%s); reconnecting in %.1f s from %s",
                        _first_line(exc),
                        delay,
                        format_lsn(self._delivered),
                    )
                    self._sleep(delay)
        except (RelayError, DecodeError, StreamError, psycopg2.Error) as exc:
            # Not retried: the same stream would fail the same way. Nothing past the last
            # confirmed transaction is lost; a restart sends it again.
            log.error("stopped: %s", _first_line(exc))
            return 1
        log.info("stopped: %d events sent, %d of them invalid", self.sent, self.invalid)
        return 1 if self._unacknowledged else 0

    def _session(self) -> None:
        """One replication session: from slot checks to a stop or a lost connection."""
        with (
            _closing(postgres_connect(self._conf.postgres)) as conn,
            _closing(replication_connection(self._conf.postgres)) as replication,
        ):
            cursor = replication.cursor()
            state = ensure_slot(conn, cursor, self._cdc.slot, SLOT_BUSY_SECONDS)
            start = max(self._delivered, state.confirmed_flush_lsn or 0)
            start_stream(cursor, self._cdc, self._delivered)
            log.info("streaming from %s", format_lsn(start))
            self._stream(cursor)

    def _stream(self, cursor: Any) -> None:
        ledger = CommitLedger()
        assembler = TransactionAssembler(self._table.qualified_name)
        confirmed = 0
        next_status = time.monotonic() + self._cdc.status_interval_seconds
        try:
            while not self._stopping:
                message = cursor.read_message()
                if message is not None:
                    transaction = assembler.feed(decode(message.payload))
                    if transaction is not None:
                        self._publish(transaction, ledger)
                self._producer.poll(0)
                if ledger.failure is not None:
                    raise RelayError(f"Kafka refused a record of {ledger.failure}")
                if time.monotonic() >= next_status:
                    confirmed = self._confirm(cursor, ledger, confirmed)
                    next_status = time.monotonic() + self._cdc.status_interval_seconds
                if message is None:
                    select.select([cursor], [], [], _WAIT_SECONDS)
        finally:
            # On a stop, a lost connection or a refused record: wait for what is in flight,
            # then confirm what Kafka acknowledged (if the connection still stands).
            self._drain()
            self._delivered = max(self._delivered, ledger.confirmable())
            if not cursor.closed and not cursor.connection.closed:
                try:
                    self._confirm(cursor, ledger, confirmed)
                except psycopg2.Error as exc:
                    log.warning("could not confirm on the way out (%s)", _first_line(exc))

    def _publish(self, transaction: Transaction, ledger: CommitLedger) -> None:
        if transaction.truncated:
            log.error(
                "TRUNCATE of %s at %s: truncates carry no rows and are not relayed; the "
                "catalogue keeps the products it had",
                self._table.qualified_name,
                format_lsn(transaction.commit_lsn),
            )
        events = transaction_events(transaction)
        pending = ledger.add(transaction.end_lsn, len(events))
        for event in events:
            try:
                validate(PRODUCT, event)
            except InvalidEvent as exc:
                # Sent all the same: the row is committed in the source, and the lake job
                # quarantines invalid records with their origin; stopping here would block
                # every later change behind this one.
                self.invalid += 1
                log.warning("change %s is not a valid product event: %s", event["change_id"], exc)
            key = event.get("product_id")
            self._produce(
                None if key is None else str(key).encode(), wire_bytes(event), pending, ledger
            )
        self.sent += len(events)

    def _produce(
        self, key: bytes | None, value: bytes, pending: Pending, ledger: CommitLedger
    ) -> None:
        callback = partial(_on_delivery, ledger, pending)
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, on_delivery=callback)
                return
            except BufferError:  # librdkafka's queue is full: let deliveries make room
                self._producer.poll(0.05)
            except KafkaException as exc:  # refused at once (too large): a failed delivery
                ledger.failed(pending, str(exc))
                return

    def _drain(self) -> None:
        remaining = self._producer.flush(self._cdc.drain_timeout_seconds)
        self._unacknowledged = remaining
        if remaining:
            log.error(
                "%d events still unacknowledged by Kafka after %.0f s; they are not confirmed",
                remaining,
                self._cdc.drain_timeout_seconds,
            )

    def _confirm(self, cursor: Any, ledger: CommitLedger, confirmed: int) -> int:
        """Tell PostgreSQL the acknowledged position (also the periodic status message)."""
        position = ledger.confirmable()
        cursor.send_feedback(write_lsn=position, flush_lsn=position, apply_lsn=position, force=True)
        if position > confirmed:
            log.info("confirmed %s to PostgreSQL", format_lsn(position))
        return max(position, confirmed)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(_WAIT_SECONDS, deadline - time.monotonic()))


def _on_delivery(
    ledger: CommitLedger, pending: Pending, error: KafkaError | None, _message: Message | None
) -> None:
    if error is None:
        ledger.acknowledged(pending)
    else:
        ledger.failed(pending, str(error))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _closing(conn: psycopg2.extensions.connection) -> Iterator[Any]:
    try:
        yield conn
    finally:
        conn.close()
