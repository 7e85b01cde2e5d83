"""Two queries of one driver reading the same partitions (the lake and the monitor under
`make run`) against the real broker: each gets exactly the broker's records, and each record is
fetched once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pytest
from confluent_kafka import Producer

from pulse.kafka.admin import ensure_topics
from pulse.kafka.clients import KafkaClient, Range, open_client
from pulse.kafka.options import SourceOptions
from pulse.kafka.recent import RecentRecords
from pulse.kafka.records import arrow_schema

pytestmark = pytest.mark.broker

TOPIC = "recent-records"
PER_PARTITION = 3_000


@pytest.fixture(scope="module")
def client(conf) -> Iterator[KafkaClient]:
    """A client over a topic of two partitions whose records name their own offset."""
    ensure_topics(conf.kafka, {TOPIC: 2})
    producer = Producer({"bootstrap.servers": conf.kafka.bootstrap, "linger.ms": 20})
    for partition in (0, 1):
        for offset in range(PER_PARTITION):
            producer.produce(TOPIC, value=f"{partition}:{offset}".encode(), partition=partition)
    assert producer.flush(30) == 0
    options = SourceOptions.parse(
        {"kafka.bootstrap.servers": conf.kafka.bootstrap, "subscribe": TOPIC}
    )
    reader = open_client(options)
    yield reader
    reader.close()


class Fetches:
    """The client's reads, with the ranges each asked the broker for."""

    def __init__(self, client: KafkaClient) -> None:
        self.client, self.asked = client, []

    def __call__(self, ranges: Sequence[Range]) -> Iterator[pa.RecordBatch]:
        self.asked.extend(ranges)
        return self.client.read_many(ranges, include_headers=False)

    def records(self) -> int:
        return sum(end - start for _, _, start, end in self.asked)


def values(table: pa.Table) -> list[bytes]:
    return table.column("value").to_pylist()


def expected(ranges: Sequence[Range]) -> list[bytes]:
    return [f"{p}:{o}".encode() for _, p, start, end in ranges for o in range(start, end)]


def test_the_second_reader_gets_the_broker_records_and_fetches_only_what_is_newer(client):
    recent = RecentRecords(arrow_schema(False))
    fetch = Fetches(client)
    lake = [(TOPIC, 0, 0, 1_000), (TOPIC, 1, 0, 800)]
    monitor = [(TOPIC, 0, 0, 1_200), (TOPIC, 1, 0, 800)]
    next_lake = [(TOPIC, 0, 1_000, 2_000), (TOPIC, 1, 800, 1_500)]
    next_monitor = [(TOPIC, 0, 1_200, 2_000), (TOPIC, 1, 800, 1_500)]

    recent.read("lake", lake, fetch)
    recent.read("monitor", monitor, fetch)  # both are readers from here on
    fetch.asked.clear()
    reads = [
        recent.read(reader, ranges, fetch)
        for reader, ranges in (("lake", next_lake), ("monitor", next_monitor))
    ]

    assert [values(read) for read in reads] == [expected(next_lake), expected(next_monitor)]
    # Fetched once each: what no read had fetched before (t[0] up to 1,200 was the monitor's).
    assert fetch.records() == 800 + 700
    assert recent.held_bytes() == 0  # both have read everything fetched


def test_a_partition_read_by_one_reader_keeps_nothing(client):
    recent = RecentRecords(arrow_schema(False))
    fetch = Fetches(client)
    for start in range(0, 3_000, 1_000):
        ranges = [(TOPIC, 0, start, start + 1_000)]
        assert values(recent.read("live", ranges, fetch)) == expected(ranges)
        assert recent.held_bytes() == 0
    assert fetch.records() == 3_000


def test_a_reader_behind_the_others_gets_exactly_its_records(client):
    recent = RecentRecords(arrow_schema(False))
    fetch = Fetches(client)
    recent.read("monitor", [(TOPIC, 1, 0, 10)], fetch)
    recent.read("lake", [(TOPIC, 1, 0, 10)], fetch)
    recent.read("monitor", [(TOPIC, 1, 10, 2_500)], fetch)  # held: the lake has not read it
    assert recent.held_bytes() > 0

    behind = [(TOPIC, 1, 10, 400), (TOPIC, 0, 5, 9)]
    ahead = [(TOPIC, 1, 2_000, 2_600)]
    assert values(recent.read("lake", behind, fetch)) == expected(behind)
    assert values(recent.read("lake", ahead, fetch)) == expected(ahead)  # past a gap


def test_past_its_bound_it_holds_less_and_reads_stay_exact(client):
    recent = RecentRecords(arrow_schema(False), max_bytes=60_000)
    fetch = Fetches(client)
    recent.read("a", [(TOPIC, 0, 0, 1)], fetch)
    recent.read("b", [(TOPIC, 0, 0, 1)], fetch)
    for start in range(1, 2_501, 500):
        ranges = [(TOPIC, 0, start, start + 500)]
        assert values(recent.read("a", ranges, fetch)) == expected(ranges)
        assert recent.held_bytes() <= 60_000
    assert values(recent.read("b", [(TOPIC, 0, 1, 2_990)], fetch)) == expected(
        [(TOPIC, 0, 1, 2_990)]
    )
