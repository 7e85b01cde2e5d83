"""The reconnecting client against nodes and a fake registry: it follows its node when that
node dies, and `pulse client` prints the stream."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import uuid

import pytest

from pulse.config import PROJECT_ROOT
from pulse.services.gateway.channels import match_channel
from pulse.services.gateway.client import GatewayClient
from pulse.services.gateway.registry import RegistryClient
from tests.conftest import free_tcp_port
from tests.services.gateway.support import (
    REGISTRY_KEY,
    FakeRegistry,
    score,
    write_scoreboard,
    write_top_emojis,
)

pytestmark = pytest.mark.broker


def test_a_client_whose_node_is_killed_moves_and_receives_the_next_update(
    start_node, registry, redis_conn
):
    cluster = f"c-{uuid.uuid4().hex[:6]}"
    nodes = {node.node_id: node for node in (start_node(cluster=cluster) for _ in range(2))}
    match_id = f"m-{uuid.uuid4().hex[:8]}"

    async def follow() -> tuple[str, str, dict]:
        client = GatewayClient(
            RegistryClient(registry.url, REGISTRY_KEY), match_id, f"c-{uuid.uuid4().hex[:8]}"
        )
        stream = client.messages()
        first = await anext(stream)
        nodes[first["node_id"]].kill()
        # The fake registry names the dead node until its heartbeat is 2 s old.
        second = await asyncio.wait_for(anext(stream), 20)
        redis_conn.publish(match_channel(match_id), score(match_id, 1))
        update = await asyncio.wait_for(anext(stream), 5)
        await stream.aclose()
        assert client.connections == 2
        return first["node_id"], second["node_id"], update

    dead, new, update = asyncio.run(follow())
    assert new != dead and new in nodes
    assert (update["type"], update["sequence"]) == ("score", 1)


def test_pulse_client_prints_the_match_as_it_is_then_changes_and_leaves(
    start_node, registry, gateway_env, redis_conn, conf
):
    start_node()
    match_id = f"m-{uuid.uuid4().hex[:8]}"
    write_scoreboard(conf.redis, match_id, home=2, away=1, sequence=3)
    write_top_emojis(conf.redis, match_id, [("😂", 12), ("🔥", 5)])
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pulse", "client", "--match", match_id, "--client-id", client_id,
         "--count", "1", "--seconds", "30"],
        cwd=PROJECT_ROOT, env={**os.environ, **gateway_env}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    welcome = json.loads(process.stdout.readline())
    assert welcome["type"] == "welcome"
    board = welcome["scoreboard"]
    assert (board["home_score"], board["away_score"], board["sequence"]) == (2, 1, 3)
    assert [(e["emoji"], e["count"]) for e in welcome["emojis"]["top"]] == [("😂", 12), ("🔥", 5)]
    redis_conn.publish(match_channel(match_id), score(match_id, 4))
    assert json.loads(process.stdout.readline())["sequence"] == 4
    assert process.wait(20) == 0
    assert client_id not in registry.clients  # deregistered on the way out


def _readme_client_example() -> tuple[str, list[str]]:
    """The registry key and the `pulse client` command of the README's example."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = readme[readme.index("export PULSE_GATEWAY__REGISTRY_KEY=") :]
    block = block[: block.index("```")]
    key = block.split("=", 1)[1].split()[0]
    [command] = [line for line in block.splitlines() if " client --match " in line]
    return key, shlex.split(command.split("#")[0])


def test_the_readmes_pulse_client_example_works_as_written(start_service, redis_conn):
    key, command = _readme_client_example()
    registry = FakeRegistry(key=key)  # what `make run` gives the registry: the exported key
    node = f"n-{uuid.uuid4().hex[:8]}"
    start_service(
        "gateway", "--cluster", "c-readme", "--node", node, port=free_tcp_port(), node_id=node,
        extra_env={"PULSE_REGISTRY__URL": registry.url, "PULSE_GATEWAY__REGISTRY_KEY": key},
        ready=lambda _service: node in registry.nodes,
    )  # fmt: skip
    assert command[0] == ".venv/bin/pulse" and command[1:3] == ["client", "--match"]
    match_id = f"m-{uuid.uuid4().hex[:8]}"  # "a match id from that list": one of the test's own
    count = int(command[command.index("--count") + 1])
    env = {**os.environ, "PULSE_REGISTRY__URL": registry.url, "PULSE_GATEWAY__REGISTRY_KEY": key}
    process = subprocess.Popen(
        [sys.executable, "-m", "pulse", *command[1:3], match_id, *command[4:]],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline())["type"] == "welcome"
        for sequence in range(1, count + 1):
            redis_conn.publish(match_channel(match_id), score(match_id, sequence))
        assert process.wait(20) == 0
        assert len(process.stdout.read().splitlines()) == count
    finally:
        process.kill()
        registry.close()
