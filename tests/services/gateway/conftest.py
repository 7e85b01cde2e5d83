"""Fixtures of the gateway tests: a fake registry, nodes and publishers as subprocesses, Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pulse.config import PulseConfig
from pulse.stores import redis_client
from tests.conftest import free_tcp_port
from tests.services.gateway.support import (
    REGISTRY_KEY,
    FakeRegistry,
    Service,
    StartService,
    service_starter,
)

StartNode = Callable[..., Service]


@pytest.fixture(scope="module")
def registry() -> Iterator[FakeRegistry]:
    """A fake registry for the module's nodes."""
    fake = FakeRegistry()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def gateway_env(test_env: dict[str, str], registry: FakeRegistry) -> dict[str, str]:
    """The test stack, the fake registry and its key, quick heartbeats."""
    return {
        **test_env,
        "PULSE_REGISTRY__URL": registry.url,
        "PULSE_GATEWAY__REGISTRY_KEY": REGISTRY_KEY,
        "PULSE_GATEWAY__HEARTBEAT_SECONDS": "0.5",
    }


@pytest.fixture(scope="module")
def start_service(
    gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartService]:
    """Starts `pulse serve ...`; stopped when the module's tests are done."""
    with service_starter(gateway_env, tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="module")
def start_node(start_service: StartService, registry: FakeRegistry) -> StartNode:
    """`start_node(cluster=..., **gateway settings)`: a node with a fresh id on a free port,
    ready once it has registered."""

    def start(cluster: str = "c-test", **settings: Any) -> Service:
        node = f"n-{uuid.uuid4().hex[:8]}"
        extra = {f"PULSE_GATEWAY__{name.upper()}": str(value) for name, value in settings.items()}
        return start_service(
            "gateway",
            "--cluster",
            cluster,
            "--node",
            node,
            port=free_tcp_port(),
            node_id=node,
            extra_env=extra,
            ready=lambda _service: node in registry.nodes,
        )

    return start


@pytest.fixture(scope="module")
def redis_conn(conf: PulseConfig) -> Iterator[redis.Redis]:
    """A Redis client to publish what the live job would."""
    client = redis_client(conf.redis)
    yield client
    client.close()
