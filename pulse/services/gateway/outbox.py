"""`Outbox`: one client's way out, and `fan_out`, one message written to many clients at once.

A message is framed once and the same bytes are written straight into each socket's buffer (no
task, no queue and no framing per client): `benchmarks/fanout.py` measured the first design, a
queue and a sending task per client, at p95 1.57 s to reach 10,000 clients of one node, most
of it task switches, and `websockets.broadcast` (a frame built per client) at 645 ms. Writing
the frame's bytes to the transport is what `broadcast` does after framing; a server's frames
are unmasked, and nodes negotiate no extension (compression is off), so one frame serves all.

What the queue gave, that a slow client cannot hold up the others, comes from the buffer:
nothing here waits for a socket, and a client whose buffer holds more than `limit` bytes it has
not read is dropped with close code 1008 and a reason saying so. It can reconnect; what it
missed was already superseded (a newer score, the next emoji window) or is in its inbox (game
updates).
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
