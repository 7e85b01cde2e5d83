"""`ChannelListener`: one Redis pub/sub connection per node, its channels changed while it runs:
the node's game channel and its cluster's emoji feed for life, a match's score channel while a
client watches it (counted: the first subscribes, the last unsubscribes). `follow` returns once
Redis confirmed the subscription, so the node says `welcome` only when nothing can be missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger("pulse.services.gateway")

Handler = Callable[[str, bytes], None]


class ChannelListener:
    """Calls `handler(channel, data)` for each message of the channels followed."""

    def __init__(self, client: aioredis.Redis, handler: Handler) -> None:
        self._pubsub = client.pubsub()
        self._handler = handler
        self._followers: Counter[str] = Counter()
        self._confirmations: dict[str, asyncio.Future[None]] = {}

    async def start(self, channels: tuple[str, ...]) -> asyncio.Task[None]:
        """Follow the lifelong `channels` and start reading (the first subscription must come
        before the first read); returns the reading task once Redis has confirmed them."""
        confirmations = [self._expect(channel) for channel in channels]
        await self._pubsub.subscribe(*channels)
        reading = asyncio.get_running_loop().create_task(self._read())
        confirmed = asyncio.gather(*confirmations)
        either: set[asyncio.Future[Any]] = {reading, confirmed}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if reading.done():
            confirmed.cancel()
            reading.result()  # raises what stopped it
        return reading

    def _expect(self, channel: str) -> asyncio.Future[None]:
        self._followers[channel] += 1
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        return confirmed

    async def follow(self, channel: str) -> None:
        """Listen to `channel` (once more); return when Redis has confirmed the subscription."""
        if self._followers[channel] == 0:
            confirmed = self._expect(channel)
            await self._pubsub.subscribe(channel)
        else:
            self._followers[channel] += 1
            confirmed = self._confirmations[channel]
        await asyncio.shield(confirmed)

    async def unfollow(self, channel: str) -> None:
        """Stop listening to `channel` once no one follows it any more."""
        self._followers[channel] -= 1
        if self._followers[channel] <= 0:
            del self._followers[channel]
            self._confirmations.pop(channel, None)
            await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        """Read messages until cancelled; a lost Redis connection raises (the node stops)."""
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "message":
                self._handler(channel, message["data"])
            elif message["type"] == "subscribe":
                confirmed = self._confirmations.get(channel)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)

    async def close(self) -> None:
        """Close the pub/sub connection."""
        await self._pubsub.aclose()
