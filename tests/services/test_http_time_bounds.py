"""Time bounds of the running ingest API and registry (`http` in the configuration, 1 s each
here): a client that sends nothing, sends its headers a byte at a time, or sends a body shorter
than its Content-Length is closed within the bound, and other clients are served meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse.config import MySQLConfig
from tests.services.slow_clients import (
    BOUND,
    BOUNDS,
    IDLE,
    SLACK,
    short_body,
    slow_headers,
)
from tests.services.slow_clients import held_while_others_are_served as held_while
from tests.services.support import KEYS, Service, StartApi, registry_service

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def api(start_api: StartApi) -> Service:
    """An ingest API with 1-second bounds."""
    return start_api(env=BOUNDS)


@pytest.fixture(scope="module")
def bounded_registry(
    test_env: dict[str, str],
    registry_mysql: MySQLConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """A registry with 1-second bounds."""
    yield from registry_service(test_env, registry_mysql, tmp_path_factory, **BOUNDS)


def held_while_others_are_served(service: Service, client: tuple[bytes, bytes]) -> float:
    """How long `service` held the slow `client`; its /health answered meanwhile."""
    return held_while(
        service.port, client, lambda: service.request("GET", "/health", key=None).status == 200
    )


CLIENTS = {
    "idle": lambda _path: IDLE,
    "slow_headers": lambda _path: slow_headers("/health"),
    "short_body": lambda path: short_body(path, KEYS[0]),
}


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_ingest_closes_a_slow_client_within_the_bound(api, kind) -> None:
    held = held_while_others_are_served(api, CLIENTS[kind]("/v1/emoji"))

    assert BOUND * 0.9 <= held < BOUND + SLACK
    assert "Traceback" not in api.log.read_text()


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_the_registry_closes_a_slow_client_within_the_bound(bounded_registry, kind) -> None:
    held = held_while_others_are_served(bounded_registry, CLIENTS[kind]("/v1/clients"))

    assert BOUND * 0.9 <= held < BOUND + SLACK
    assert "Traceback" not in bounded_registry.log.read_text()
