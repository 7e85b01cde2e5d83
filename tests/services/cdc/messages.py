"""pgoutput messages written byte by byte, as the protocol documents them, for the unit tests."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pulse.services.cdc.pgoutput import UNCHANGED

# 2026-11-22 20:15:00 UTC in PostgreSQL's microseconds since 2000-01-01.
COMMIT_MICROS = 848_693_700_000_000


def _string(text: str) -> bytes:
    return text.encode() + b"\0"


def tuple_data(values: Sequence[object]) -> bytes:
    """TupleData: a count, then 'n' (null), 'u' (unchanged TOAST) or 't' + length + text."""
    out = struct.pack("!h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            data = str(value).encode()
            out += b"t" + struct.pack("!i", len(data)) + data
    return out


def begin(final_lsn: int, xid: int, micros: int = COMMIT_MICROS) -> bytes:
    """Begin: final LSN, commit time, xid."""
    return b"B" + struct.pack("!qqI", final_lsn, micros, xid)


def commit(commit_lsn: int, end_lsn: int, micros: int = COMMIT_MICROS) -> bytes:
    """Commit: flags, commit LSN, end LSN, commit time."""
    return b"C" + struct.pack("!bqqq", 0, commit_lsn, end_lsn, micros)


def relation(oid: int, namespace: str, name: str, columns: Sequence[tuple[str, int]]) -> bytes:
    """Relation with REPLICA IDENTITY FULL; the first column is the key."""
    out = b"R" + struct.pack("!I", oid) + _string(namespace) + _string(name) + b"f"
    out += struct.pack("!h", len(columns))
    for index, (column, type_oid) in enumerate(columns):
        out += struct.pack("!b", 1 if index == 0 else 0) + _string(column)
        out += struct.pack("!Ii", type_oid, -1)
    return out


def insert(oid: int, new: Sequence[object]) -> bytes:
    """Insert: relation, 'N', the new row."""
    return b"I" + struct.pack("!I", oid) + b"N" + tuple_data(new)


def update(oid: int, old: Sequence[object] | None, new: Sequence[object]) -> bytes:
    """Update: relation, optionally 'O' + the old row, 'N' + the new row."""
    out = b"U" + struct.pack("!I", oid)
    if old is not None:
        out += b"O" + tuple_data(old)
    return out + b"N" + tuple_data(new)


def delete(oid: int, old: Sequence[object], kind: bytes = b"O") -> bytes:
    """Delete: relation, 'O' (or 'K') + the old row."""
    return b"D" + struct.pack("!I", oid) + kind + tuple_data(old)


def truncate(*oids: int) -> bytes:
    """Truncate: count, options, relations."""
    return b"T" + struct.pack("!Ib", len(oids), 0) + b"".join(struct.pack("!I", o) for o in oids)


# What PostgreSQL 15 sent for three transactions on products_pim (REPLICA IDENTITY FULL,
# publication pulse_products): INSERT sku-sample; UPDATE its price, stock and version; DELETE it.
# Taken with pg_logical_slot_peek_binary_changes(slot, NULL, NULL, 'proto_version', '1',
# 'publication_names', 'pulse_products').
_ROW_1 = (
    "740000000a736b752d73616d706c65740000000a547261696c2073686f657400000008666f6f7477656172"
    "740000000538392e3930740000000345555274000000023132740000000131740000001d323032362d3131"
    "2d32322030373a31303a34302e3432303738362b3030"
)
_ROW_2 = (
    "740000000a736b752d73616d706c65740000000a547261696c2073686f657400000008666f6f7477656172"
    "740000000537392e3030740000000345555274000000023131740000000132740000001d323032362d3131"
    "2d32322030373a31303a34302e3432303738362b3030"
)
PG15_SAMPLES: tuple[bytes, ...] = tuple(
    bytes.fromhex(text)
    for text in (
        "420000000010045278000303d6f18acbb60000f0c5",
        "52000040457075626c69630070726f64756374735f70696d006600080170726f647563745f6964000000"
        "0019ffffffff016e616d650000000019ffffffff0163617465676f72790000000019ffffffff01707269"
        "636500000006a4000c00060163757272656e63790000000019ffffffff0173746f636b0000000014ffff"
        "ffff0176657273696f6e0000000014ffffffff01757064617465645f617400000004a0ffffffff",
        "49000040454e0008" + _ROW_1,
        "4300000000001004527800000000100452a8000303d6f18acbb6",
        "420000000010045378000303d6f18acdeb0000f0c6",
        "55000040454f0008" + _ROW_1 + "4e0008" + _ROW_2,
        "4300000000001004537800000000100453a8000303d6f18acdeb",
        "420000000010045428000303d6f18acf150000f0c7",
        "44000040454f0008" + _ROW_2,
        "430000000000100454280000000010045458000303d6f18acf15",
    )
)
