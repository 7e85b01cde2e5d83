"""The health page's input rate against a real PostgreSQL: records with Kafka timestamps at a
known rate, the first batch a backlog (the monitor was down for 100 s), counted by the monitor's
own transform and sink (`topic_arrivals`), read back as the page reads it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pulse.config import PulseConfig, load_config
from pulse.pipelines.monitor import arrivals_sink
from pulse.reads.health import input_rate, input_rates
from pulse.reads.sources import open_postgres
from pulse.sinks.base import BatchContext
from pulse.transforms.monitoring import topic_arrivals
from tests.stacks import SCRATCH_REDIS_DB, scratch_stores

RATES = {"emoji.reactions": 150, "sports.scores": 50}  # events/s that arrive, 200 in all
WINDOW = 5.0  # seconds: the monitor's trigger, and its windows
DOWN_SECONDS = 100  # the monitor was down this long: its first batch takes all of it
RUN_SECONDS = 160


@pytest.fixture(scope="module")
def stores(
    conf: PulseConfig, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PulseConfig]:
    """Migrated scratch databases of the module's own."""
    root = tmp_path_factory.mktemp("input-rate")
    with scratch_stores(conf, test_env, root, SCRATCH_REDIS_DB) as settings:
        yield load_config(environ={**os.environ, **settings})


def _arrived(start: datetime, end: datetime, t0: datetime) -> pa.Table:
    """The raw records (topic, Kafka timestamp) that arrived in [start, end) at `RATES`."""
    topics, times = [], []
    for topic, rate in RATES.items():
        first = max(0, int(((start - t0).total_seconds()) * rate))
        last = int(((end - t0).total_seconds()) * rate)
        for index in range(first, last):
            topics.append(topic)
            times.append(t0 + timedelta(seconds=index / rate))
    return pa.table({"topic": topics, "timestamp": pa.array(times, pa.timestamp("us", "UTC"))})


def test_the_input_rate_is_what_arrived_not_what_a_catch_up_batch_processed(stores):
    t0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    sink = arrivals_sink(stores.postgres)
    pg = open_postgres(stores.postgres)
    # A batch at processing time P takes what arrived since the previous one: the first, after
    # the outage, the backlog of DOWN_SECONDS; then one trigger's worth each. Batches do not
    # start on window bounds: the latest window is always partly read.
    ends = [
        t0 + timedelta(seconds=DOWN_SECONDS + 2.3 + WINDOW * k)
        for k in range(int((RUN_SECONDS - DOWN_SECONDS) / WINDOW))
    ]
    figures = []
    try:
        for batch_id, (start, end) in enumerate(zip([t0, *ends], ends, strict=False)):
            batch = topic_arrivals(_arrived(start, end, t0), window_seconds=WINDOW)
            ctx = BatchContext("monitor", "checkpoint-1", batch_id)
            sink.write(batch, ctx)
            sink.write(batch, ctx)  # a replay of the batch adds nothing
            rates = input_rates(pg, t0 - timedelta(minutes=1), WINDOW)
            figures.append(input_rate(rates, WINDOW))
    finally:
        pg.close()
    total = sum(RATES.values())
    # The first figure is the one a catch-up batch used to inflate (20,000 records in one 5-s
    # window read as 4,000 events/s).
    assert all(abs(figure - total) <= 0.1 * total for figure in figures), figures
