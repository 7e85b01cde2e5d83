"""The way out to clients: a slow client is dropped with 1008, the others still get the message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader

from pulse.services.gateway.outbox import TOO_SLOW, Outbox, fan_out, frame


@dataclass
class Protocol:
    state: State = State.OPEN


@dataclass
class Transport:
    unread: int
    written: list[bytes] = field(default_factory=list)

    def get_write_buffer_size(self) -> int:
        return self.unread

    def write(self, data: bytes) -> None:
        self.written.append(data)


class Connection:
    """A socket as `Outbox` sees it, with `unread` bytes in its buffer."""

    def __init__(self, name: str, unread: int) -> None:
        self.id, self.protocol, self.transport = name, Protocol(), Transport(unread)
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def test_a_client_past_its_unread_limit_is_dropped_with_1008_and_the_others_get_the_message():
    async def scenario() -> tuple[Connection, Connection]:
        slow, fine = Connection("slow", unread=5_000), Connection("fine", unread=10)
        outboxes = [Outbox(slow, limit=1_000), Outbox(fine, limit=1_000)]  # type: ignore[arg-type]
        fan_out(outboxes, "m1")
        fan_out(outboxes, "m2")
        await asyncio.sleep(0)  # the close is scheduled, not awaited, by the fan-out
        return slow, fine

    slow, fine = asyncio.run(scenario())
    assert slow.closed is not None and slow.closed[0] == TOO_SLOW
    assert "reads too slowly" in slow.closed[1]
    assert slow.transport.written == []
    assert fine.transport.written == [frame("m1"), frame("m2")]
    assert fine.closed is None


def test_a_frame_is_an_unmasked_text_frame_a_client_reads_back() -> None:
    reader = StreamReader()
    reader.feed_data(frame("héllo"))
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as parsed_all:  # the parser returns the frame when whole
        next(parser)
    parsed = parsed_all.value.value

    assert (parsed.opcode, parsed.data.decode()) == (Opcode.TEXT, "héllo")
