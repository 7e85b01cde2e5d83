"""`pulse serve registry`: check what the API needs (a key, a reachable and migrated MySQL),
then serve it with uvicorn until SIGTERM or Ctrl-C.

uvicorn stops gracefully on SIGTERM or Ctrl-C (no new connections, requests in flight
answered); the registry holds nothing in memory, so a stop loses nothing. Exit codes: 0 after
a SIGTERM (how supervisors ask a service to stop), 130 after Ctrl-C, 1 when it could not start.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import uvicorn

from pulse.config import PulseConfig
from pulse.services.auth import ApiKeys
from pulse.services.registry.app import build_app
from pulse.services.registry.store import RegistryStore, SchemaMissing
from pulse.stores import StoreUnavailable

log = logging.getLogger("pulse.services.registry")


class RegistryStartError(RuntimeError):
    """The API cannot start: no API key configured; says what to set."""


def serve(conf: PulseConfig, host: str | None = None, port: int | None = None) -> int:
    """Run the registry API until SIGTERM or Ctrl-C; return the process exit code."""
    store = RegistryStore(conf.mysql, conf.streaming.node_heartbeat_seconds)
    try:
        keys = api_keys(conf)
        store.check()
    except (RegistryStartError, StoreUnavailable, SchemaMissing) as exc:
        print(f"pulse serve registry: {exc}", file=sys.stderr)
        return 1
    bind_host, bind_port = host or conf.registry.host, port or conf.registry.port
    log.info(
        "registry API on http://%s:%d (reached at %s): mysql %s, nodes live for %g s after a "
        "heartbeat",
        bind_host,
        bind_port,
        conf.registry.url,
        store.where,
        conf.streaming.node_heartbeat_seconds,
    )
    config = uvicorn.Config(
        build_app(store, keys),
        host=bind_host,
        port=bind_port,
        log_config=None,  # keep the `pulse` command's logging; access lines are kept (low load)
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has stopped: this handler makes a
    # SIGTERM an ordinary end (exit 0) rather than a death by signal.
    signal.signal(signal.SIGTERM, _stopped)
    try:
        server.run()
    except KeyboardInterrupt:
        return 130
    return 0 if server.started else 1


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM re-raised by uvicorn after its graceful stop: nothing is left to do."""


def api_keys(conf: PulseConfig) -> ApiKeys:
    """The configured keys, or `RegistryStartError` naming the variable to set."""
    if not conf.registry.api_keys:
        raise RegistryStartError(
            "no API key is configured; set PULSE_REGISTRY__API_KEYS=key1[,key2...] "
            "(the API never runs open)"
        )
    return ApiKeys(key.get_secret_value() for key in conf.registry.api_keys)
