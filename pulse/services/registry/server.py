"""`pulse serve registry`: check what the API needs (a key, the admission secret, a reachable and
migrated MySQL), then serve it with uvicorn until SIGTERM or Ctrl-C. It holds nothing in memory,
so a stop loses nothing: exit 0 after a SIGTERM, 130 after Ctrl-C, 1 when it could not start.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from pulse.config import PulseConfig
from pulse.services.admission_tokens import NoAdmissionSecret, configured_key
from pulse.services.auth import NoApiKey, configured_keys
from pulse.services.registry.app import TokenIssuer, build_app
from pulse.services.registry.store import RegistryStore, SchemaMissing
from pulse.services.serving import serve_until_stopped, time_bounds
from pulse.stores import StoreUnavailable

log = logging.getLogger("pulse.services.registry")


def serve(conf: PulseConfig, host: str | None = None, port: int | None = None) -> int:
    """Run the registry API until SIGTERM or Ctrl-C; return the process exit code."""
    store = RegistryStore(conf.mysql, conf.streaming.node_heartbeat_seconds)
    try:
        keys = configured_keys(conf.registry.api_keys, "PULSE_REGISTRY__API_KEYS")
        tokens = TokenIssuer(
            configured_key(conf.gateway.admission_secret), conf.gateway.admission_token_seconds
        )
        store.check()
    except (NoApiKey, NoAdmissionSecret, StoreUnavailable, SchemaMissing) as exc:
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
        build_app(store, keys, tokens),
        host=bind_host,
        port=bind_port,
        log_config=None,  # keep the `pulse` command's logging; access lines are kept (low load)
        server_header=False,
        **time_bounds(conf.http),
    )
    return serve_until_stopped(uvicorn.Server(config))
