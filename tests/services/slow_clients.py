"""Slow HTTP clients for the time-bound tests: each opens a raw socket and measures how long
the server keeps it, while it sends nothing, its headers a byte at a time, or a body shorter
than its Content-Length."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

STEP = 0.2  # seconds between the slow client's bytes
GIVE_UP = 30.0  # seconds after which a test fails: the server never closed
BOUND = 1.0  # seconds, every bound of the services under test
BOUNDS = {
    "PULSE_HTTP__HEADERS_SECONDS": str(BOUND),
    "PULSE_HTTP__BODY_SECONDS": str(BOUND),
    "PULSE_HTTP__IDLE_SECONDS": str(BOUND),
}
SLACK = 1.0  # the server's timer and the client's polling


def _drip(data: bytes) -> Iterator[bytes]:
    """`data` a byte at a time, then nothing more, for ever."""
    for index in range(len(data)):
        yield data[index : index + 1]
    while True:
        yield b""


def held_for(port: int, start: bytes, drip: bytes) -> float:
    """Seconds until the server at `port` closes a connection that sent `start` at once and
    then `drip` a byte every `STEP` seconds (answers it sends meanwhile are read and
    dropped)."""
    sock = socket.create_connection(("127.0.0.1", port))
    began = time.monotonic()
    try:
        sock.sendall(start)
        for byte in _drip(drip):
            if time.monotonic() - began > GIVE_UP:
                raise AssertionError(f"the server held a slow client for {GIVE_UP:.0f} s")
            try:
                if byte:
                    sock.sendall(byte)
                readable, _, _ = select.select([sock], [], [], STEP)
                if readable and not sock.recv(65536):
                    return time.monotonic() - began
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - began
    finally:
        sock.close()
    raise AssertionError("unreachable")


def slow_headers(path: str) -> tuple[bytes, bytes]:
    """A GET of `path` whose headers come a byte at a time, never ending."""
    return f"GET {path} HTTP/1.1\r\n".encode(), b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 400


def short_body(path: str, key: str) -> tuple[bytes, bytes]:
    """A POST to `path` whose Content-Length promises more than it sends."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    return head.encode() + b'{"user_id":', b""


IDLE = (b"", b"")  # a connection on which nothing is sent


def held_while_others_are_served(
    port: int, client: tuple[bytes, bytes], served: Callable[[], bool]
) -> float:
    """How long the server at `port` held the slow `client`, after checking that `served()`
    (a normal client's request) succeeded quickly while it was held."""
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(held_for, port, *client)
        time.sleep(BOUND / 2)
        began = time.monotonic()
        assert served()
        assert time.monotonic() - began < BOUND / 2
        return held.result()
