"""`pulse serve ingest`: check what the API needs, then serve it with uvicorn until stopped.

uvicorn turns SIGTERM and Ctrl-C into a graceful stop: it stops accepting connections, finishes
the requests in flight, then ends the application's lifespan, which drains the producer. A
second Ctrl-C forces an immediate exit, and what was held is then lost (logged by uvicorn).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from pulse.config import PulseConfig
from pulse.kafka.admin import KafkaUnavailable, require_topics
from pulse.services.ingest.app import AppSettings, create_app
from pulse.services.ingest.auth import ApiKeys
from pulse.services.ingest.metrics import IngestMetrics
from pulse.services.ingest.producer import IngestProducer, ProducerSettings

log = logging.getLogger("pulse.services.ingest")


class IngestStartError(RuntimeError):
    """The API cannot start: no API key, unreachable broker, missing topic; says what to do."""


def serve(conf: PulseConfig, host: str | None = None, port: int | None = None) -> int:
    """Run the ingest API until SIGTERM or Ctrl-C; return the process exit code."""
    settings = AppSettings.from_config(conf)
    try:
        keys = _api_keys(conf)
        require_topics(conf.kafka, sorted(set(settings.topics.values())))
    except (IngestStartError, KafkaUnavailable) as exc:
        print(f"pulse serve ingest: {exc}", file=sys.stderr)
        return 1
    metrics = IngestMetrics(max_queue=conf.ingest.max_queue)
    producer = IngestProducer(conf.kafka, ProducerSettings.from_config(conf), metrics)
    app = create_app(settings, keys, producer, metrics)
    bind_host, bind_port = host or conf.ingest.host, port or conf.ingest.port
    log.info(
        "ingest API on http://%s:%d: broker %s, flush every %d ms or %d events, max queue %d",
        bind_host,
        bind_port,
        conf.kafka.bootstrap,
        conf.ingest.flush_interval_ms,
        conf.ingest.flush_messages,
        conf.ingest.max_queue,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            lifespan="on",
            log_config=None,  # keep the `pulse` command's logging
            access_log=False,  # a line per request costs more than the request at load
            server_header=False,
        )
    )
    try:
        server.run()  # after a SIGTERM, uvicorn re-raises it once drained: the exit is by signal
    except KeyboardInterrupt:  # Ctrl-C, re-raised the same way, after the same drain
        return 130
    lost = getattr(app.state, "lost", 0)
    return 1 if lost or not server.started else 0


def _api_keys(conf: PulseConfig) -> ApiKeys:
    if not conf.ingest.api_keys:
        raise IngestStartError(
            "no API key is configured; set PULSE_INGEST__API_KEYS=key1[,key2...] "
            "(the API never runs open)"
        )
    return ApiKeys(key.get_secret_value() for key in conf.ingest.api_keys)
