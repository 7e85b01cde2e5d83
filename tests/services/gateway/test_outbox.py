"""A client's send queue: a slow client is dropped with 1008, the others are not held up."""

from __future__ import annotations

import asyncio

from pulse.services.gateway.outbox import TOO_SLOW, Outbox


class StalledConnection:
    """A socket whose peer never reads: `send` never returns; `close` is recorded."""

    id = "stalled"

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send(self, _text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def test_a_client_whose_queue_overflows_is_closed_with_1008_and_a_reason():
    async def scenario() -> tuple[int, str] | None:
        connection = StalledConnection()
        outbox = Outbox(connection, size=2)  # type: ignore[arg-type]
        sender = asyncio.get_running_loop().create_task(outbox.drain())
        for i in range(4):  # one in flight, two queued, the fourth overflows
            await asyncio.sleep(0)
            outbox.offer(f"m{i}")
        await asyncio.sleep(0.01)
        sender.cancel()
        return connection.closed

    closed = asyncio.run(scenario())
    assert closed is not None
    assert closed[0] == TOO_SLOW
    assert "send queue full" in closed[1]
