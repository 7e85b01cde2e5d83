"""`bounded_connections`: the node's WebSocket connections, each holding at most a bounded
number of bytes its client has not read, whatever the client sends (issue 18; see "The
delivery gateway" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from pulse.services.gateway.outbox import TOO_SLOW, TOO_SLOW_REASON

log = logging.getLogger("pulse.services.gateway")

CLOSE_GRACE_SECONDS = 10.0  # as long as the library waits for a closing handshake


class BoundedConnection(ServerConnection):
    """A server connection failed with 1008 once its client leaves more than `limit` bytes
    unread."""

    limit: int  # given by `bounded_connections`
    _failed = False

    def data_received(self, data: bytes) -> None:
        """The library's handling of what arrived, then the bound on what waits to be sent."""
        super().data_received(data)
        if self._failed or self.protocol.state is State.CLOSED:
            return
        waiting = self.transport.get_write_buffer_size()
        if waiting > self.limit:
            self._failed = True
            log.warning("dropping client %s: %d bytes unread (pongs or messages)", self.id, waiting)
            self.protocol.fail(TOO_SLOW, TOO_SLOW_REASON)
            self.send_data()
            self.loop.call_later(CLOSE_GRACE_SECONDS, self.transport.abort)


def bounded_connections(limit: int) -> type[BoundedConnection]:
    """The connection class of a server whose clients may leave `limit` bytes unread."""
    return type("Bounded", (BoundedConnection,), {"limit": limit})
