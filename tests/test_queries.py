"""`pulse.queries.run` until a stop signal: a real SIGTERM stops every query, the run ends with
0, and the handler the process had before is back."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pulse.queries import QuerySpec, run
from pulse.sinks.base import BatchContext


@dataclass
class CountingSink:
    """Counts the batches it is given."""

    name: str = "counting"
    batches: list[int] = field(default_factory=list)

    def write(self, frame: Any, ctx: BatchContext) -> None:
        """Remember the batch id."""
        self.batches.append(ctx.batch_id)


def _previous(_signum: int, _frame: FrameType | None) -> None:
    """The handler the host process had before the run."""


def test_a_real_sigterm_stops_the_run_and_the_previous_handler_comes_back(spark, conf) -> None:
    sink = CountingSink()
    frame = spark.readStream.format("rate").option("rowsPerSecond", 5).load()
    name = f"stop_{uuid.uuid4().hex[:8]}"
    spec = QuerySpec(name, frame, sinks=[sink], trigger_seconds=0.5)

    def stop_once_a_batch_is_written() -> None:
        while not sink.batches and not finished.is_set():
            finished.wait(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    found = signal.signal(signal.SIGTERM, _previous)
    finished = threading.Event()
    stopper = threading.Thread(target=stop_once_a_batch_is_written)
    try:
        stopper.start()
        code = run(spark, [spec], conf)
        finished.set()
        stopper.join(30)
        assert code == 0
        assert signal.getsignal(signal.SIGTERM) is _previous
        assert not [query for query in spark.streams.active if query.name == name]
        assert sink.batches
    finally:
        finished.set()
        signal.signal(signal.SIGTERM, found)
