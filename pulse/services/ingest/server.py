"""`pulse serve ingest`: check what the API needs, then serve it with uvicorn until stopped, with
an exit code that says whether the stop lost anything (the stop, and `--workers`: "The ingest
API" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from pulse.config import PulseConfig
from pulse.kafka.admin import KafkaUnavailable, require_topics
from pulse.services.auth import ApiKeys, NoApiKey, configured_keys
from pulse.services.ingest.app import AppSettings, IngestApp
from pulse.services.ingest.metrics import IngestMetrics
from pulse.services.ingest.producer import IngestProducer, ProducerSettings
from pulse.services.serving import serve_until_stopped, time_bounds

log = logging.getLogger("pulse.services.ingest")


def serve(
    conf: PulseConfig, host: str | None = None, port: int | None = None, workers: int = 1
) -> int:
    """Run the ingest API until SIGTERM or Ctrl-C; return the process exit code."""
    settings = AppSettings.from_config(conf)
    try:
        _api_keys_of(conf)
        require_topics(conf.kafka, sorted(set(settings.topics.values())))
    except (NoApiKey, KafkaUnavailable) as exc:
        print(f"pulse serve ingest: {exc}", file=sys.stderr)
        return 1
    bind_host, bind_port = host or conf.ingest.host, port or conf.ingest.port
    log.info(
        "ingest API on http://%s:%d (%d worker process%s): broker %s, flush every %d ms or %d "
        "events, max queue %d",
        bind_host,
        bind_port,
        workers,
        "" if workers == 1 else "es",
        conf.kafka.bootstrap,
        conf.ingest.flush_interval_ms,
        conf.ingest.flush_messages,
        conf.ingest.max_queue,
    )
    if workers > 1:
        return _serve_workers(conf, bind_host, bind_port, workers)
    app = build_app(conf)
    server = uvicorn.Server(_uvicorn_config(app, bind_host, bind_port, conf))
    code = serve_until_stopped(server)
    return 1 if code == 0 and app.lost else code


def build_app(conf: PulseConfig, workers: int = 1) -> IngestApp:
    """The application of one process of `workers`: its own keys, metrics, producer and
    share of the per-key rate limits."""
    settings = AppSettings.from_config(conf, share=1 / workers)
    metrics = IngestMetrics(max_queue=conf.ingest.max_queue)
    producer = IngestProducer(conf.kafka, ProducerSettings.from_config(conf), metrics)
    return IngestApp(settings, _api_keys_of(conf), producer, metrics)


def _worker_app(conf: PulseConfig, workers: int) -> IngestApp:
    """`build_app` in a worker process, which starts with no logging configured."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    return build_app(conf, workers)


def _uvicorn_config(
    app: Callable[..., Any],
    host: str,
    port: int,
    conf: PulseConfig,
    *,
    factory: bool = False,
    workers: int | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # keep the `pulse` command's logging
        access_log=False,  # a line per request costs more than the request at load
        server_header=False,
        proxy_headers=False,  # nothing here uses the client's address; it costs every request
        **time_bounds(conf.http),
        factory=factory,
        workers=workers,
    )


def _serve_workers(conf: PulseConfig, host: str, port: int, workers: int) -> int:
    """uvicorn's supervisor: the port bound here, `workers` processes each building its app
    (the factory and the configuration are pickled to them); returns once all have stopped."""
    factory = partial(_worker_app, conf, workers)
    config = _uvicorn_config(factory, host, port, conf, factory=True, workers=workers)
    bound = config.bind_socket()
    # uvicorn binds it with proto 0, and asyncio enables TCP_NODELAY only on accepted sockets
    # whose proto is IPPROTO_TCP: without this, every keep-alive answer (headers and body are
    # two writes) waits ~40 ms for the client's delayed ACK (uvicorn issue #3149). The same
    # socket, labelled as TCP.
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    # A worker that failed before serving makes the supervisor stop them all: report it.
    return 1 if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes) else 0


def _api_keys_of(conf: PulseConfig) -> ApiKeys:
    return configured_keys(conf.ingest.api_keys, "PULSE_INGEST__API_KEYS")
