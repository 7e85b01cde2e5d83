"""Running a uvicorn server as a Pulse service: until SIGTERM or Ctrl-C, with exit codes that
say how it ended.

uvicorn stops gracefully on either signal (no new connections, requests in flight answered,
the application's lifespan ended), then re-raises the signal to the handler it found. Left at
the default, a SIGTERM would then kill the process and its exit code would say "killed" even
after a clean stop; the handler installed here makes it an ordinary end, so that the service
can tell by its exit code whether the stop lost anything. SIGTERM is how supervisors and
Kubernetes ask a service to stop.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

STARTUP_FAILED = 1
INTERRUPTED = 130  # Ctrl-C, by the shells' convention


def serve_until_stopped(server: uvicorn.Server) -> int:
    """Run `server`; 0 after a graceful stop, 130 after Ctrl-C, 1 if it never started."""
    signal.signal(signal.SIGTERM, _stopped)
    try:
        server.run()
    except KeyboardInterrupt:  # re-raised by uvicorn after the same graceful stop
        return INTERRUPTED
    return 0 if server.started else STARTUP_FAILED


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM re-raised by uvicorn after its graceful stop: nothing is left to do."""
