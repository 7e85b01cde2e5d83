"""Decoding of PostgreSQL's `pgoutput` logical replication messages (protocol version 1). Pure:
bytes in, typed messages out, by PostgreSQL's "Logical Replication Message Formats" (big-endian
integers, NUL-terminated strings, values in text form). Anything but Begin, Commit, Origin,
Relation, Type, Insert, Update, Delete, Truncate is a `DecodeError`, never a silent skip: the
relay must not confirm past a message it did not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

# PostgreSQL counts time in microseconds since 2000-01-01 00:00 UTC.
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


class DecodeError(ValueError):
    """A replication message that is truncated or of an unknown kind; names the kind."""


class _Unchanged:
    """A TOASTed value that did not change in an update and was not sent."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()

# A column value: its text form, None for SQL NULL, or UNCHANGED (not sent).
Value = str | None | _Unchanged


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a relation, as the Relation message describes it."""

    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True, slots=True)
class Begin:
    """A transaction starts; `final_lsn` is the LSN of its commit record."""

    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """A transaction ends; confirming `end_lsn` means it never has to be sent again."""

    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True, slots=True)
class Origin:
    """The transaction was replicated from another node (sent after Begin)."""

    commit_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Relation:
    """The shape of a table, sent before the first change to it in a session and after it
    changes; later changes refer to it by `oid`."""

    oid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]

    @property
    def qualified_name(self) -> str:
        """`schema.table`; pgoutput sends an empty namespace for pg_catalog."""
        return f"{self.namespace or 'pg_catalog'}.{self.name}"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A data type's name, sent before a change that uses a non-built-in type."""

    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    """A new row."""

    relation_oid: int
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """A changed row; `old` is the whole old row with REPLICA IDENTITY FULL (kind "O"), its key
    when the key changed (kind "K"), or None."""

    relation_oid: int
    old: tuple[Value, ...] | None
    old_kind: str | None
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    """A removed row: the whole old row (kind "O") or its key columns only (kind "K")."""

    relation_oid: int
    old: tuple[Value, ...]
    old_kind: str


@dataclass(frozen=True, slots=True)
class Truncate:
    """TRUNCATE of one or more tables: no rows, no images."""

    relation_oids: tuple[int, ...]
    options: int


Message = Begin | Commit | Origin | Relation | TypeInfo | Insert | Update | Delete | Truncate

_KINDS: Final = {
    b"B": "Begin",
    b"C": "Commit",
    b"O": "Origin",
    b"R": "Relation",
    b"Y": "Type",
    b"I": "Insert",
    b"U": "Update",
    b"D": "Delete",
    b"T": "Truncate",
}


def pg_time(microseconds: int) -> datetime:
    """A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as an aware datetime."""
    return PG_EPOCH + timedelta(microseconds=microseconds)


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL prints it, `16/B374D848`."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN printed as `16/B374D848`, as an integer."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def decode(payload: bytes) -> Message:
    """The message of one XLogData payload; `DecodeError` if it is truncated or unknown."""
    if not payload:
        raise DecodeError("empty pgoutput message")
    kind = payload[:1]
    reader = _Reader(payload, _KINDS.get(kind, repr(kind)))
    reader.skip(1)
    try:
        message = _decode_body(kind, reader)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise DecodeError(f"pgoutput {reader.kind} message is malformed: {exc}") from None
    if reader.remaining:
        raise DecodeError(
            f"pgoutput {reader.kind} message has {reader.remaining} unread bytes at its end"
        )
    return message


def _decode_body(kind: bytes, r: _Reader) -> Message:
    if kind == b"B":
        return Begin(final_lsn=r.int64(), commit_time=pg_time(r.int64()), xid=r.uint32())
    if kind == b"C":
        return Commit(
            flags=r.int8(),
            commit_lsn=r.int64(),
            end_lsn=r.int64(),
            commit_time=pg_time(r.int64()),
        )
    if kind == b"O":
        return Origin(commit_lsn=r.int64(), name=r.string())
    if kind == b"R":
        oid, namespace, name = r.uint32(), r.string(), r.string()
        identity = chr(r.int8())
        return Relation(oid, namespace, name, identity, tuple(r.column() for _ in range(r.int16())))
    if kind == b"Y":
        return TypeInfo(oid=r.uint32(), namespace=r.string(), name=r.string())
    if kind == b"I":
        oid = r.uint32()
        r.expect(b"N")
        return Insert(oid, r.tuple())
    if kind == b"U":
        oid = r.uint32()
        old, old_kind = None, None
        marker = r.byte()
        if marker in (b"K", b"O"):
            old_kind, old = marker.decode(), r.tuple()
            marker = r.byte()
        if marker != b"N":
            raise DecodeError(f"pgoutput Update message: expected 'N', got {marker!r}")
        return Update(oid, old, old_kind, r.tuple())
    if kind == b"D":
        oid = r.uint32()
        marker = r.byte()
        if marker not in (b"K", b"O"):
            raise DecodeError(f"pgoutput Delete message: expected 'K' or 'O', got {marker!r}")
        return Delete(oid, r.tuple(), marker.decode())
    if kind == b"T":
        count, options = r.uint32(), r.int8()
        return Truncate(tuple(r.uint32() for _ in range(count)), options)
    raise DecodeError(
        f"unknown pgoutput message kind {kind!r} (streaming, two-phase and logical messages "
        "are not requested by the relay)"
    )


class _Reader:
    """A cursor over one message's bytes."""

    def __init__(self, data: bytes, kind: str) -> None:
        self.data, self.kind, self.pos = data, kind, 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def skip(self, count: int) -> None:
        self.pos += count

    def _unpack(self, fmt: str, size: int) -> int:
        if self.remaining < size:
            raise DecodeError(f"pgoutput {self.kind} message is truncated at byte {self.pos}")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def int8(self) -> int:
        return self._unpack("!b", 1)

    def int16(self) -> int:
        return self._unpack("!h", 2)

    def int32(self) -> int:
        return self._unpack("!i", 4)

    def uint32(self) -> int:
        return self._unpack("!I", 4)

    def int64(self) -> int:
        return self._unpack("!q", 8)

    def byte(self) -> bytes:
        if self.remaining < 1:
            raise DecodeError(f"pgoutput {self.kind} message is truncated at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1 : self.pos]

    def expect(self, marker: bytes) -> None:
        got = self.byte()
        if got != marker:
            raise DecodeError(f"pgoutput {self.kind} message: expected {marker!r}, got {got!r}")

    def string(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise DecodeError(f"pgoutput {self.kind} message: unterminated string")
        text = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def bytes(self, count: int) -> bytes:
        if count < 0 or self.remaining < count:
            raise DecodeError(f"pgoutput {self.kind} message is truncated at byte {self.pos}")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def column(self) -> Column:
        flags = self.int8()  # bit 1: part of the key
        name = self.string()
        return Column(name, type_oid=self.uint32(), type_modifier=self.int32(), key=bool(flags & 1))

    def tuple(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.int16()):
            marker = self.byte()
            if marker == b"n":
                values.append(None)
            elif marker == b"u":
                values.append(UNCHANGED)
            elif marker == b"t":
                values.append(self.bytes(self.int32()).decode("utf-8"))
            else:  # b"b" (binary) is only sent when the `binary` option asks for it
                raise DecodeError(f"pgoutput {self.kind} message: column kind {marker!r}")
        return tuple(values)
