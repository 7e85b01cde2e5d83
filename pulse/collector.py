"""Python's cyclic garbage collector held off while the driver works on a micro-batch
(`pulse.sinks.base.batch_writer`).

A batch of 200,000 Kafka records is 200,000 `Message` objects at once, and every 700 new
objects start a collection, every tenth of those a larger one, now and then one of the whole
heap: half the time of reading a batch went to collections that found nothing (the messages
hold no cycles; reference counting frees them). With the collector paused, reading 200,000
records on the driver took 0.22-0.48 s instead of 0.39-1.7 s (docs/ARCHITECTURE.md, "Reading
a batch"). What a batch allocated is looked at by the first collection after it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # blocks inside `paused` now: one driver runs several queries' batches at once
_was_enabled = False  # the collector's state when the first of them began


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection while any thread is inside such a block; the collector's former
    state once the last one leaves.

    >>> import gc
    >>> with paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
