"""`pulse serve gateway --cluster C --node N [--port P]`: run one delivery node until stopped:
registered only once it can take clients, deregistered before its connections close (start
and stop in order: "The delivery gateway" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sys

import redis.asyncio as aioredis
import uvloop
from websockets.asyncio.server import serve as websocket_server

from pulse.config import PulseConfig
from pulse.interrupts import on_stop_signals_in_loop
from pulse.services.admission_tokens import AdmissionKey, NoAdmissionSecret, configured_key
from pulse.services.gateway.admission import PATH
from pulse.services.gateway.connection import bounded_connections
from pulse.services.gateway.ingest import IngestClient
from pulse.services.gateway.node import GatewayNode, NodeIdentity
from pulse.services.gateway.registry import RegistryClient, RegistryError
from pulse.stores import StoreUnavailable, redis_client, redis_ping

log = logging.getLogger("pulse.services.gateway")

REGISTRY_PATIENCE = 60.0  # seconds to wait for the registry at start (`pulse run` starts both)
MAX_CLIENT_MESSAGE = 4096  # clients only listen; anything larger is not a client of ours
PING_SECONDS = 20.0  # keepalive pings find dead peers (a laptop closed without a FIN)


def serve(conf: PulseConfig, cluster: str, node_id: str, port: int | None = None) -> int:
    """Run the node until SIGTERM or Ctrl-C; return the exit code."""
    if conf.gateway.registry_key is None:
        print(
            "pulse serve gateway: no registry key; set PULSE_GATEWAY__REGISTRY_KEY to a key of "
            "the registry API",
            file=sys.stderr,
        )
        return 1
    try:
        admission = configured_key(conf.gateway.admission_secret)
    except NoAdmissionSecret as exc:
        print(f"pulse serve gateway: {exc}", file=sys.stderr)
        return 1
    try:
        sync = redis_client(conf.redis)
        try:
            redis_ping(sync)
        finally:
            sync.close()
    except StoreUnavailable as exc:
        print(f"pulse serve gateway: {exc}", file=sys.stderr)
        return 1
    _raise_open_files_limit(conf.gateway.capacity)
    bind_port = port or conf.gateway.base_port
    identity = NodeIdentity(node_id, cluster, f"ws://{conf.gateway.host}:{bind_port}{PATH}")
    return uvloop.run(_run(conf, identity, bind_port, admission))


def _raise_open_files_limit(capacity: int) -> None:
    """A socket per client: the soft limit of open files (often 1,024) up to the hard one, so
    that `gateway.capacity` and not the limit decides how many clients a node holds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < capacity + 100:
        log.warning(
            "open files are limited to %d, fewer than gateway.capacity (%d) needs: raise the "
            "hard limit (ulimit -Hn, or LimitNOFILE in a systemd unit)",
            hard,
            capacity,
        )


async def _run(
    conf: PulseConfig, identity: NodeIdentity, port: int, admission: AdmissionKey
) -> int:
    assert conf.gateway.registry_key is not None
    registry = RegistryClient(conf.registry.url, conf.gateway.registry_key.get_secret_value())
    redis = aioredis.Redis.from_url(
        conf.redis.url,
        password=conf.redis.password.get_secret_value() if conf.redis.password else None,
    )
    ingest_key = conf.gateway.ingest_key
    ingest = IngestClient(conf.ingest.url, ingest_key.get_secret_value()) if ingest_key else None
    node = GatewayNode(identity, conf.gateway, redis, registry, admission, ingest)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with on_stop_signals_in_loop(loop, stop.set, (signal.SIGTERM, signal.SIGINT)):
        async with websocket_server(
            node.handle,
            conf.gateway.host,
            port,
            process_request=node.check_handshake,
            create_connection=bounded_connections(conf.gateway.send_buffer_bytes),
            compression=None,  # deflate costs CPU and ~300 KiB per connection; messages are small
            max_size=MAX_CLIENT_MESSAGE,
            ping_interval=PING_SECONDS,
            open_timeout=conf.http.headers_seconds,  # a handshake (or a page request) sent slowly
        ) as server:
            listening = await node.listener.start(node.feeds())
            try:
                await node.register(REGISTRY_PATIENCE)
            except RegistryError as exc:
                print(f"pulse serve gateway: cannot register the node: {exc}", file=sys.stderr)
                listening.cancel()
                return 1
            heartbeat = loop.create_task(node.heartbeat())
            log.info(
                "node %s of cluster %s on %s (capacity %d), registered at %s",
                identity.node_id,
                identity.cluster,
                identity.url,
                conf.gateway.capacity,
                conf.registry.url,
            )
            stopping = loop.create_task(stop.wait())
            done, _ = await asyncio.wait({stopping, listening}, return_when=asyncio.FIRST_COMPLETED)
            heartbeat.cancel()
            code = 0
            if listening in done:
                log.error("the Redis feed stopped: %r; stopping the node", listening.exception())
                code = 1
            try:
                await node.leave()
            except RegistryError as exc:
                log.warning("could not deregister: %s", exc)
            server.close()  # closes every connection with 1001, going away
            await server.wait_closed()
            listening.cancel()
        await node.listener.close()
        await redis.aclose()
        log.info("node %s stopped", identity.node_id)
        return code
