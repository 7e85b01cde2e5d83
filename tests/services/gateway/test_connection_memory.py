"""Memory per connection of a running node, read from /proc while a client floods it: a ping
flood that never reads the pongs, a sender of frames at the 4 KB limit that never reads the
answers, and a reader that never reads the scores of its match. The node's RSS grows by less
than `RSS_BOUND_BYTES` and the client is closed
with 1008 (unbounded, the ping flood grew a node by about 28 MB/s).

The client is a raw socket with a small receive buffer, so that what it does not read stays
in the node's memory rather than in the kernel's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from websockets.frames import Frame, Opcode

from pulse.config import PulseConfig
from pulse.services.gateway.channels import match_channel
from pulse.services.gateway.outbox import TOO_SLOW
from pulse.stores import redis_client
from tests.services.gateway.support import Service, admitted_url, score

pytestmark = pytest.mark.broker  # the session's test stack (its configuration)

SEND_BUFFER_BYTES = 256 * 1024  # `gateway.send_buffer_bytes` of the node under test
# The node's growth under a flood: its unread bytes (the limit), the pongs of one read, and
# the allocator's slack; measured at about 2 MiB. Unbounded, this client's 4-second ping
# flood added 17.5 MiB (and growing), a faster one 28 MB/s.
RSS_BOUND_BYTES = 8 * 1024 * 1024
FLOOD_SECONDS = 4.0
# ~1.5 MB of scores: past the limit and the small socket buffers, read back (to find the close
# frame) before the node gives up waiting for the closing handshake.
SCORES = 40_000


@pytest.fixture(scope="module")
def node(start_node):
    """A node with a small send buffer, so that the bound is reached quickly."""
    return start_node(send_buffer_bytes=SEND_BUFFER_BYTES)


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def open_socket(node: Service, match_id: str | None = None) -> socket.socket:
    """A WebSocket client connection to `node` (of `match_id`, or a match of its own),
    upgraded, that has read only the handshake answer."""
    assert node.port is not None
    port = node.port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    target = urlsplit(admitted_url(node, match_id or f"m-{uuid.uuid4().hex[:8]}"))
    target = f"{target.path}?{target.query}"
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def close_code(sock: socket.socket) -> int | None:
    """Read the server's frames to the end; the code of its close frame, if one came."""
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2]), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8]), at + 8
        if opcode == Opcode.CLOSE.value:
            return int.from_bytes(data[at : at + 2])
        at += length
    return None


def flood(node, frame: bytes) -> tuple[int, int | None]:
    """Send `frame` as fast as the node takes it for `FLOOD_SECONDS`, reading nothing; the
    node's largest RSS growth meanwhile, and the close code the client then finds."""
    burst = frame * max(1, 65536 // len(frame))
    sock = open_socket(node)
    before = peak = rss_bytes(node.process.pid)
    end = time.monotonic() + FLOOD_SECONDS
    sock.settimeout(0.2)
    try:
        while time.monotonic() < end:
            # A timeout: the node reads no more (it failed the connection), or is busy.
            with contextlib.suppress(TimeoutError):
                sock.sendall(burst)
            peak = max(peak, rss_bytes(node.process.pid))
        code = close_code(sock)
    except (BrokenPipeError, ConnectionResetError):
        code = None  # aborted before the client looked
    finally:
        sock.close()
    return peak - before, code


def test_a_ping_flood_that_never_reads_the_pongs_is_bounded_and_closed_1008(node) -> None:
    ping = Frame(Opcode.PING, b"p" * 125).serialize(mask=True)
    growth, code = flood(node, ping)

    print(f"ping flood: RSS grew {growth / 2**20:.1f} MiB")
    assert growth < RSS_BOUND_BYTES
    assert code == TOO_SLOW
    assert "Traceback" not in node.output()


def test_a_sender_at_the_frame_limit_that_never_reads_is_bounded_and_closed_1008(node) -> None:
    message = b'{"type": "emoji", "emoji": "' + b"x" * 4000 + b'"}'
    growth, code = flood(node, Frame(Opcode.TEXT, message).serialize(mask=True))

    print(f"frame flood: RSS grew {growth / 2**20:.1f} MiB")
    assert growth < RSS_BOUND_BYTES
    assert code == TOO_SLOW
    assert "Traceback" not in node.output()


@pytest.fixture
def patient_redis(conf: PulseConfig) -> Iterator[redis.Redis]:
    """A Redis client that waits out the shared Redis's pauses under the machine's load."""
    client = redis_client(conf.redis, timeout=60)
    yield client
    client.close()


def test_a_reader_that_never_reads_its_match_is_bounded_and_closed_1008(
    node, patient_redis
) -> None:
    match_id = f"m-{uuid.uuid4().hex[:8]}"
    sock = open_socket(node, match_id)
    before = peak = rss_bytes(node.process.pid)
    try:
        time.sleep(0.5)  # the node follows the match's channel
        for start in range(0, SCORES, 100):
            pipeline = patient_redis.pipeline(transaction=False)
            for sequence in range(start, start + 100):
                board = {**json.loads(score(match_id, sequence)), "note": "x" * 2000}
                pipeline.publish(match_channel(match_id), json.dumps(board))
            pipeline.execute()
            peak = max(peak, rss_bytes(node.process.pid))
        code = close_code(sock)
    finally:
        sock.close()

    print(f"never-read match: RSS grew {(peak - before) / 2**20:.1f} MiB")
    assert peak - before < RSS_BOUND_BYTES
    assert code == TOO_SLOW
