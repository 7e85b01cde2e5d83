"""`Outbox`: one client's way out, and `fan_out`, one message framed once and written to many
clients at once, dropping a client that does not read (why, measured: "The delivery gateway"
in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

log = logging.getLogger("pulse.services.gateway")

TOO_SLOW = 1008  # policy violation: the client does not read what it asked for
TOO_SLOW_REASON = "send buffer full: the client reads too slowly"


class Outbox:
    """The way to one connection, which may hold at most `limit` unread bytes."""

    def __init__(self, connection: ServerConnection, limit: int) -> None:
        self.connection = connection
        self._limit = limit
        self._dropped = False

    def writable(self) -> bool:
        """Whether a message may be written now; a client past its limit is dropped instead."""
        if self._dropped or self.connection.protocol.state is not State.OPEN:
            return False
        waiting = self.connection.transport.get_write_buffer_size()
        if waiting <= self._limit:
            return True
        self._dropped = True
        log.warning("dropping client %s: %d bytes unread", self.connection.id, waiting)
        # Closing waits for the client's answer: not here, in the fan-out.
        asyncio.get_running_loop().create_task(self.connection.close(TOO_SLOW, TOO_SLOW_REASON))
        return False

    def offer(self, text: str) -> None:
        """Write a message to this client, unless it is closing or dropped."""
        fan_out([self], text)


def frame(text: str) -> bytes:
    """A text message as the bytes of one unmasked WebSocket frame, as a server sends it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def fan_out(outboxes: Iterable[Outbox], text: str) -> None:
    """Write `text` to every writable outbox's socket, framed once."""
    data = frame(text)
    for outbox in outboxes:
        if outbox.writable():
            outbox.connection.transport.write(data)
