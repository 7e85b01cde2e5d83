"""`Outbox`: one client's bounded send queue and the task that drains it into its socket.

Fan-out only puts a message into each recipient's queue, which never waits, so one slow or
stalled client cannot hold up a message for the others. A client whose queue is full is
dropped with close code 1008 and a reason saying so: it can reconnect, and what it missed was
already superseded (a newer score, the next emoji window) or is in its inbox (game updates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("pulse.services.gateway")

TOO_SLOW = 1008  # policy violation: the client does not read what it asked for
TOO_SLOW_REASON = "send queue full: the client reads too slowly"


class Outbox:
    """The messages waiting for one connection, at most `size`."""

    def __init__(self, connection: ServerConnection, size: int) -> None:
        self.connection = connection
        self._queue: asyncio.Queue[str] = asyncio.Queue(size)
        self._dropped = False

    def offer(self, text: str) -> None:
        """Queue a message; when the queue is full, drop the client instead."""
        if self._dropped:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._dropped = True
            log.warning(
                "dropping client %s: %d messages waiting", self.connection.id, self._queue.qsize()
            )
            # Closing waits for the client's answer: not here, in the fan-out.
            asyncio.get_running_loop().create_task(self.connection.close(TOO_SLOW, TOO_SLOW_REASON))

    async def drain(self) -> None:
        """Send queued messages in order until the connection closes (then return)."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.connection.send(await self._queue.get())
