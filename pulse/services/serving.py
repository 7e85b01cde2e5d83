"""Running a uvicorn server as a Pulse service: until SIGTERM or Ctrl-C, with exit codes that
say how it ended (a SIGTERM that uvicorn raises again after its graceful stop is not a death;
see "Stopping" in docs/ARCHITECTURE.md), and with time bounds on every connection."""

from __future__ import annotations

import asyncio
import logging
import signal
from functools import partial
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pulse.config import HttpConfig
from pulse.interrupts import on_stop_signals

log = logging.getLogger("pulse.services")

STARTUP_FAILED = 1
INTERRUPTED = 130  # Ctrl-C, by the shells' convention


def serve_until_stopped(server: uvicorn.Server) -> int:
    """Run `server`; 0 after a graceful stop, 130 after Ctrl-C, 1 if it never started."""
    # uvicorn raises the SIGTERM again after its graceful stop: heard here, nothing is left to do.
    with on_stop_signals(lambda _: None, (signal.SIGTERM,)):
        try:
            server.run()
        except KeyboardInterrupt:  # re-raised by uvicorn after the same graceful stop
            return INTERRUPTED
    return 0 if server.started else STARTUP_FAILED


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each phase of a request.

    uvicorn bounds only the idle time after a response, and any byte re-arms nothing: a client
    sending its headers a byte a second, or a body shorter than its Content-Length, held its
    connection forever (issue 18). Here one timer runs per connection: `idle_seconds` until a
    request's first byte, `headers_seconds` until its headers end, `body_seconds` until its
    body ends; then none while the application answers, and uvicorn's keep-alive timer (set to
    `idle_seconds` too) after the answer. A connection past its deadline is closed; an
    application waiting for the body sees a disconnect.
    """

    def __init__(self, *args: Any, bounds: HttpConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bounds = bounds
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, phase: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info(
                "closing a connection from %s: %s not within %g s", self.client, phase, seconds
            )
            self.transport.close()

    # uvicorn hands its protocols a Transport; asyncio's base class types it BaseTransport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """The connection's first deadline: its first request's first byte."""
        super().connection_made(transport)
        self._arm(self._bounds.idle_seconds, "no request")

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing left to time."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are due."""
        super().on_message_begin()
        self._arm(self._bounds.headers_seconds, "headers")

    def on_headers_complete(self) -> None:
        """Headers complete: the body is due."""
        super().on_headers_complete()
        self._arm(self._bounds.body_seconds, "body")

    def on_message_complete(self) -> None:
        """The request is whole: the application's answer is not bounded here."""
        super().on_message_complete()
        self._disarm()


def time_bounds(bounds: HttpConfig) -> dict[str, Any]:
    """The uvicorn.Config options that bound a connection's phases by `bounds`."""
    return {
        "http": partial(BoundedHttpProtocol, bounds=bounds),
        "timeout_keep_alive": bounds.idle_seconds,
    }
