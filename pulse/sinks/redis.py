"""`RedisState`: each row of a batch as a Redis hash of absolute values, published if asked,
exactly once per batch through a ledger checked in the same Lua script (how chunks, replays,
nulls and versions behave: "Redis" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from pulse.config import RedisConfig
from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.errors import SinkDefinitionError, SinkError
from pulse.sinks.values import (
    JsonValue,
    collect_batch,
    json_columns,
    json_text,
    require_columns,
    text_value,
)
from pulse.stores import redis_client

log = logging.getLogger("pulse.sinks")

LEDGER_KEY = "pulse:ledger"
_CHUNK_DONE, _BATCH_DONE = -1, -2  # what the script returns when it writes nothing
MESSAGE_EXTRAS = ("batch_id", "seq")

# KEYS[1] ledger hash. ARGV: 1 ledger field, 2 batch id, 3 chunk index, 4 "1" on the last chunk,
# 5 rows as JSON [{k: key, f: [field, value, ...], d: [null fields], v: version, c: channel,
# m: message}], 6 ttl seconds or "", 7 version field or "". Returns the rows written, -1 when
# this chunk is in already, -2 when the whole batch is.
_SCRIPT = """
local batch = tonumber(ARGV[2])
local chunk = tonumber(ARGV[3])
local done = redis.call('HGET', KEYS[1], ARGV[1])
if done and tonumber(done) >= batch then return -2 end
local progress = redis.call('HGET', KEYS[1], ARGV[1] .. '#chunk')
if progress then
  local pb, pc = string.match(progress, '^(%-?%d+):(%d+)$')
  if tonumber(pb) == batch and tonumber(pc) >= chunk then return -1 end
end
local ttl = tonumber(ARGV[6])
local version_field = ARGV[7]
local written = 0
for _, row in ipairs(cjson.decode(ARGV[5])) do
  local stale = false
  if version_field ~= '' then
    local stored = redis.call('HGET', row.k, version_field)
    stale = stored ~= false and tonumber(stored) >= tonumber(row.v)
  end
  if not stale then
    if #row.d > 0 then redis.call('HDEL', row.k, unpack(row.d)) end
    if #row.f > 0 then redis.call('HSET', row.k, unpack(row.f)) end
    if ttl then redis.call('EXPIRE', row.k, ttl) end
    if row.c then redis.call('PUBLISH', row.c, row.m) end
    written = written + 1
  end
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HDEL', KEYS[1], ARGV[1] .. '#chunk')
else
  redis.call('HSET', KEYS[1], ARGV[1] .. '#chunk', ARGV[2] .. ':' .. ARGV[3])
end
return written
"""


def template_columns(template: str) -> list[str]:
    """The column names a `str.format` template such as `match:{match_id}` refers to."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@dataclass(frozen=True)
class RedisState:
    """Write each row as the hash `key` (a template over the row's columns) holding `fields`;
    optionally expire it after `ttl_seconds` and publish it as JSON on `channel` (a template)."""

    name: str
    conf: RedisConfig
    key: str
    fields: tuple[str, ...]
    ttl_seconds: int | None = None
    channel: str | None = None
    version_field: str | None = None
    chunk_rows: int = 5000

    def __post_init__(self) -> None:
        problems = []
        if not self.fields:
            problems.append("it writes no fields")
        if not template_columns(self.key):
            problems.append(f"key template {self.key!r} names no column")
        if self.version_field is not None and self.version_field not in self.fields:
            problems.append(f"version field {self.version_field} is not among its fields")
        if self.channel is not None and set(MESSAGE_EXTRAS) & set(self.fields):
            problems.append(f"fields {', '.join(MESSAGE_EXTRAS)} are taken by its messages")
        if self.ttl_seconds is not None and self.ttl_seconds < 1:
            problems.append(f"ttl_seconds {self.ttl_seconds} < 1")
        if self.chunk_rows < 1:
            problems.append(f"chunk_rows {self.chunk_rows} < 1")
        if problems:
            raise SinkDefinitionError(f"sink {self.name}: {'; '.join(problems)}")

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Write the batch chunk by chunk, each chunk one guarded script, unless already done."""
        table = collect_batch(frame)
        if table.num_rows == 0:
            return
        templates = template_columns(self.key) + template_columns(self.channel or "")
        require_columns(table, dict.fromkeys([*self.fields, *templates]), self.name)
        payload = self.payload(table, ctx.batch_id)
        ledger_field = f"{ctx.query}|{self.name}|{ctx.checkpoint_id}"
        client = redis_client(self.conf)
        try:
            script = client.register_script(_SCRIPT)
            chunks = range(0, len(payload), self.chunk_rows)
            written = resumed = 0
            for index, start in enumerate(chunks):
                result = int(
                    script(
                        keys=[LEDGER_KEY],
                        args=[
                            ledger_field,
                            ctx.batch_id,
                            index,
                            "1" if index == len(chunks) - 1 else "0",
                            json_text(payload[start : start + self.chunk_rows]),
                            self.ttl_seconds or "",
                            self.version_field or "",
                        ],
                    )
                )
                if result == _BATCH_DONE:
                    log.info(
                        "sink=%s query=%s checkpoint=%s batch=%d skipped: already written",
                        self.name,
                        ctx.query,
                        ctx.checkpoint_id,
                        ctx.batch_id,
                    )
                    return
                if result == _CHUNK_DONE:
                    resumed += 1
                else:
                    written += result
        finally:
            client.close()
        if resumed:
            log.info(
                "sink=%s query=%s checkpoint=%s batch=%d resumed after %d of %d chunks",
                self.name,
                ctx.query,
                ctx.checkpoint_id,
                ctx.batch_id,
                resumed,
                len(chunks),
            )
        log.debug(
            "sink=%s query=%s batch=%d rows=%d written", self.name, ctx.query, ctx.batch_id, written
        )

    def payload(self, table: pa.Table, batch_id: int) -> list[JsonValue]:
        """What the script gets per row, in the deterministic order that fixes each `seq`."""
        key_columns = template_columns(self.key)
        channel_columns = template_columns(self.channel or "")
        values = json_columns(table, dict.fromkeys([*self.fields, *key_columns, *channel_columns]))
        texts = {
            name: [None if value is None else text_value(value) for value in column]
            for name, column in values.items()
        }
        versions = self._versions(table)
        prepared = []
        for i in range(table.num_rows):
            item: dict[str, Any] = {
                "k": self._render(self.key, key_columns, texts, i),
                "f": [
                    part
                    for f in self.fields
                    if texts[f][i] is not None
                    for part in (f, texts[f][i])
                ],
                "d": [f for f in self.fields if texts[f][i] is None],
            }
            body = json_text({f: values[f][i] for f in self.fields})
            if versions is not None and self.version_field is not None:
                item["v"] = texts[self.version_field][i]
            if self.channel is not None:
                item["c"] = self._render(self.channel, channel_columns, texts, i)
            prepared.append(((item["k"], versions[i] if versions else 0, body), item))
        prepared.sort(key=lambda pair: pair[0])
        for seq, ((_, _, body), item) in enumerate(prepared):
            if "c" in item:
                # `body` is a JSON object with at least one field: extend it in place.
                item["m"] = f'{body[:-1]},"batch_id":{batch_id},"seq":{seq}}}'
        return [item for _, item in prepared]

    def _versions(self, table: pa.Table) -> list[int | float | Decimal] | None:
        """The version of each row, checked numeric and present (the script compares numbers)."""
        if self.version_field is None:
            return None
        column = table.column(self.version_field)
        if not (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_decimal(column.type)
        ):
            raise SinkDefinitionError(
                f"sink {self.name}: version field {self.version_field} must be numeric, "
                f"the batch has {column.type}"
            )
        if column.null_count:
            raise SinkError(
                f"sink {self.name}: {column.null_count} rows have no {self.version_field}"
            )
        return column.to_pylist()

    def _render(
        self, template: str, columns: list[str], texts: dict[str, list[str | None]], row: int
    ) -> str:
        """A key or channel template filled with one row's values; a null there is an error,
        since no key could stand for it."""
        filled = {}
        for name in columns:
            text = texts[name][row]
            if text is None:
                raise SinkError(f"sink {self.name}: {template!r} needs {name}, which is null")
            filled[name] = text
        return template.format_map(filled)
