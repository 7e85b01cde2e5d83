"""One process of viewers for `benchmarks/fanout.py`: `--count` WebSocket clients of one match
on one node, each timing every score message from its publish (`sent_at`, same machine
clock) to its receipt.

    python benchmarks/fanout_bench/viewers.py --url ws://127.0.0.1:P/ws --node N0 --match M
                                              --count N --messages K --tag T

Each client presents an admission token for the node, signed here as the registry would with
`PULSE_GATEWAY__ADMISSION_SECRET` (the benchmark's), just before it connects: the benchmark
measures the fan-out, not the registry.

It prints `ready` once every client has had its welcome (the node then delivers to all of
them), then, when every client has its K messages or the parent closes stdin, one JSON line:
{"latencies_ms": [...], "received": n, "connected": n}.

Why raw WebSocket on asyncio protocols and not the `websockets` client: the viewers share the
two cores with the node they measure, and a full client spent more CPU per message than the
node's whole fan-out (0.9 cores against 0.23 at 10,000 clients), so its backlog was most of the
measured latency. Here a client does what a minimal one must: the upgrade, reading unmasked
server frames (length only as far as needed), answering pings with a masked pong, and finding
`sent_at` in a score's bytes without parsing the JSON. Connections are opened 100 at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import sys
import time
from urllib.parse import urlencode, urlsplit

from pulse.services.admission_tokens import AdmissionKey, Grant

TOKEN_SECONDS = 60

OPENING_AT_ONCE = 100
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
WELCOME = b'"type": "welcome"'
SCORE = b'"type":"score"'
SENT_AT = b'"sent_at":'


class Viewer(asyncio.Protocol):
    """One client: the upgrade, then frames; latencies of scores into the shared list."""

    def __init__(self, request: bytes, messages: int, latencies: list[float]) -> None:
        self.request, self.messages, self.latencies = request, messages, latencies
        self.buffer = bytearray()
        self.upgraded = False
        self.received = 0
        self.welcomed = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"upgrade refused: {bytes(buffer[:200])!r}")
            del buffer[: end + 4]
            self.upgraded = True
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            if SCORE in payload:
                at = payload.rindex(SENT_AT) + len(SENT_AT)
                end = min(i for i in (payload.find(b",", at), payload.find(b"}", at)) if i >= 0)
                self.latencies.append((time.time() - float(payload[at:end])) * 1000)
                self.received += 1
                if self.received == self.messages and not self.done.done():
                    self.done.set_result(None)
            elif WELCOME in payload and not self.welcomed.done():
                self.welcomed.set_result(None)
        elif opcode == PING and self.transport is not None:
            self.transport.write(_masked(PONG, payload))
        elif opcode == CLOSE and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.welcomed, self.done):
            if not future.done():
                future.set_exception(ConnectionError(f"lost: {exc}"))


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask), for pongs of at most 125 bytes."""
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + body


def upgrade(host: str, target: str) -> bytes:
    """The HTTP/1.1 upgrade request of a WebSocket client."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def main(args: argparse.Namespace) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket per client
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    url = urlsplit(args.url)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    viewers: list[Viewer] = []
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    key = AdmissionKey(os.environ["PULSE_GATEWAY__ADMISSION_SECRET"].encode())

    async def open_one(index: int) -> None:
        client_id = f"{args.tag}-{index}"
        async with gate:
            grant = Grant(
                client_id=client_id, match_id=args.match, subscriber_id=None, node_id=args.node
            )
            token = key.issue(grant, int(time.time() + TOKEN_SECONDS))
            query = urlencode({"client_id": client_id, "match_id": args.match, "token": token})
            request = upgrade(url.netloc, f"{url.path}?{query}")
            _, viewer = await loop.create_connection(
                lambda: Viewer(request, args.messages, latencies), url.hostname, url.port
            )
            viewers.append(viewer)
            await viewer.welcomed

    await asyncio.gather(*(open_one(i) for i in range(args.count)))
    print("ready", flush=True)
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    everyone = asyncio.gather(*(viewer.done for viewer in viewers), return_exceptions=True)
    await asyncio.wait({everyone, stdin_closed}, return_when=asyncio.FIRST_COMPLETED)
    received = sum(viewer.received for viewer in viewers)
    print(json.dumps({"latencies_ms": latencies, "received": received,
                      "connected": len(viewers)}), flush=True)  # fmt: skip
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.abort()
    everyone.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--node", required=True, help="the node's id (its tokens name it)")
    parser.add_argument("--match", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--tag", required=True)
    asyncio.run(main(parser.parse_args()))
