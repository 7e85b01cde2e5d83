"""A closed-loop HTTP/1.1 load generator, cheap on CPU: one asyncio protocol per keep-alive
connection, requests as prepared bytes, answers parsed only as far as the status line and
`content-length` (uvicorn always sends one here).

Each connection sends its next request as soon as the previous answer is complete, so
`clients` requests are in flight at any time (like wrk). Answers completed while the window is
open are timed and counted by status; every 202, in the window or not, is added to `accepted`,
so that the topic can be checked against it afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HEAD_END = b"\r\n\r\n"
LENGTH = b"\r\ncontent-length:"


@dataclass
class Tally:
    """What the connections saw: all 202s (events), and in the window latencies and statuses."""

    accepted_events: int = 0  # events of every 202, window or not
    window_open: bool = False
    window_events: int = 0  # events of the 202s in the window
    latencies: list[float] = field(default_factory=list)  # seconds, answers in the window
    statuses: Counter[int] = field(default_factory=Counter)  # answers in the window
    examples: dict[int, bytes] = field(default_factory=dict)  # first body per non-202 status
    broken: int = 0  # connections lost before the run ended (their request's fate unknown)


class _Connection(asyncio.Protocol):
    def __init__(
        self, next_request: Callable[[], tuple[bytes, int]], tally: Tally, load: Load
    ) -> None:
        self._next_request, self._tally, self._load = next_request, tally, load
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._sent_at = 0.0
        self._events = 0  # events in the request in flight
        self._in_flight = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        if self._load.stopping:
            self._transport.close()
            return
        request, self._events = self._next_request()
        self._in_flight = True
        self._sent_at = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(HEAD_END)
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(LENGTH)
        if at < 0:
            raise RuntimeError(f"an answer without content-length: {head[:200]!r}")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + len(LENGTH) : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(buffer) < total:
            return
        latency = time.perf_counter() - self._sent_at
        status = int(head[9:12])
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        self._in_flight = False
        tally = self._tally
        if status == 202:
            tally.accepted_events += self._events
        if tally.window_open:
            if status == 202:
                tally.window_events += self._events
            tally.latencies.append(latency)
            tally.statuses[status] += 1
            if status != 202 and status not in tally.examples:
                tally.examples[status] = body[:300]
        if buffer:
            raise RuntimeError("an answer arrived before its request was sent")
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._in_flight:
            self._tally.broken += 1
        if not self.closed.done():
            self.closed.set_result(None)


class Load:
    """`clients` keep-alive connections to host:port, each sending `next_request()` in turn.

    `next_request` returns the request bytes and how many events they carry."""

    def __init__(
        self, host: str, port: int, clients: int, next_request: Callable[[], tuple[bytes, int]]
    ) -> None:
        self.host, self.port, self.clients = host, port, clients
        self.next_request = next_request
        self.tally = Tally()
        self.stopping = False
        self._connections: list[_Connection] = []

    async def start(self) -> None:
        """Open the connections (each sends at once), a millisecond apart, so that the kernel
        spreads them over the API's worker processes the way separate clients would be."""
        loop = asyncio.get_running_loop()
        for _ in range(self.clients):
            _, protocol = await loop.create_connection(
                lambda: _Connection(self.next_request, self.tally, self),
                self.host,
                self.port,
            )
            self._connections.append(protocol)
            await asyncio.sleep(0.001)

    def open_window(self) -> float:
        """Start timing and counting answers; return the moment."""
        self.tally.window_open = True
        return time.perf_counter()

    def close_window(self) -> float:
        """Stop timing and counting answers; return the moment."""
        self.tally.window_open = False
        return time.perf_counter()

    async def stop(self, timeout: float = 30.0) -> None:
        """Let every connection finish its request in flight, then close them all."""
        self.stopping = True
        pending = [c.closed for c in self._connections]
        _, late = await asyncio.wait(pending, timeout=timeout) if pending else ((), ())
        for connection in self._connections:
            if connection._transport is not None and not connection.closed.done():
                connection._transport.abort()
        if late:
            await asyncio.wait(late, timeout=5)
