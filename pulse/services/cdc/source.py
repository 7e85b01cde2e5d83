"""The PostgreSQL side of the relay: start-up checks, the replication slot, the stream. Each
problem found before streaming is a `CdcSetupError` naming the setting (`cdc.table`,
`cdc.publication`, `cdc.slot`, or the server's `wal_level`) and how to fix it. A missing slot is
created; a slot of the same name made for another plugin or database is never reused or dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2.extras import LogicalReplicationConnection, ReplicationCursor

from pulse.config import CdcConfig, PostgresConfig
from pulse.services.cdc.events import REQUIRED_COLUMNS
from pulse.services.cdc.pgoutput import format_lsn, parse_lsn
from pulse.stores import postgres_address, postgres_connect

log = logging.getLogger("pulse.services.cdc")

PLUGIN = "pgoutput"
PROTOCOL_VERSION = 1
APPLICATION_NAME = "pulse-cdc"


class CdcSetupError(RuntimeError):
    """PostgreSQL is not set up for the relay; names the setting and says what to do."""


@dataclass(frozen=True)
class SourceTable:
    """The captured table, as PostgreSQL resolved the configured name."""

    schema: str
    name: str

    @property
    def qualified_name(self) -> str:
        """`schema.table`, as Relation messages name it."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SlotState:
    """A replication slot as `pg_replication_slots` shows it."""

    plugin: str | None
    slot_type: str
    database: str | None
    active_pid: int | None
    confirmed_flush_lsn: int | None


def check_source(conn: psycopg2.extensions.connection, cdc: CdcConfig) -> SourceTable:
    """Check the server, the table and the publication; return the table's resolved name."""
    where = postgres_address(conn)
    with conn, conn.cursor() as cur:
        cur.execute("SHOW wal_level")
        (wal_level,) = cur.fetchone()
        if wal_level != "logical":
            raise CdcSetupError(
                f"PostgreSQL at {where} runs with wal_level={wal_level}; change data capture "
                "needs wal_level=logical: run `make services` (scripts/services.sh sets it and "
                "restarts PostgreSQL), or ALTER SYSTEM SET wal_level = logical and restart"
            )
        cur.execute("SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user")
        row = cur.fetchone()
        if not (row and row[0]):
            raise CdcSetupError(
                f"PostgreSQL at {where}: the role Pulse logs in with may not replicate; "
                "ALTER ROLE ... REPLICATION (postgres.user)"
            )
        cur.execute(
            "SELECT n.nspname, c.relname, c.relreplident FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            (cdc.table,),
        )
        row = cur.fetchone()
        if row is None:
            raise CdcSetupError(
                f"cdc.table: table {cdc.table} does not exist in {where}; migrate the database "
                "(`pulse up`) or set PULSE_CDC__TABLE"
            )
        table = SourceTable(row[0], row[1])
        if row[2] != "f":
            identity = {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX"}.get(row[2], row[2])
            raise CdcSetupError(
                f"cdc.table: {table.qualified_name} has REPLICA IDENTITY {identity}, so updates "
                "and deletes would not carry the old row; migrate the database (`pulse up`, "
                f"migration 0003) or ALTER TABLE {table.qualified_name} REPLICA IDENTITY FULL"
            )
        cur.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attnum > 0 AND NOT attisdropped",
            (cdc.table,),
        )
        columns = {name for (name,) in cur.fetchall()}
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise CdcSetupError(
                f"cdc.table: {table.qualified_name} has no column {', '.join(missing)}; a "
                f"product change needs {', '.join(REQUIRED_COLUMNS)}"
            )
        cur.execute(
            "SELECT pubinsert AND pubupdate AND pubdelete FROM pg_publication WHERE pubname = %s",
            (cdc.publication,),
        )
        row = cur.fetchone()
        if row is None:
            raise CdcSetupError(
                f"cdc.publication: publication {cdc.publication} does not exist in {where}; "
                "migrate the database (`pulse up`, migration 0003) or set PULSE_CDC__PUBLICATION"
            )
        if not row[0]:
            raise CdcSetupError(
                f"cdc.publication: publication {cdc.publication} does not publish inserts, "
                "updates and deletes"
            )
        cur.execute(
            "SELECT 1 FROM pg_publication_tables "
            "WHERE pubname = %s AND schemaname = %s AND tablename = %s",
            (cdc.publication, table.schema, table.name),
        )
        if cur.fetchone() is None:
            raise CdcSetupError(
                f"cdc.publication: publication {cdc.publication} does not include "
                f"{table.qualified_name} (cdc.table); ALTER PUBLICATION {cdc.publication} "
                f"ADD TABLE {table.qualified_name}"
            )
    return table


def slot_state(conn: psycopg2.extensions.connection, slot: str) -> SlotState | None:
    """The slot called `slot`, or None if there is none."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn::text "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    plugin, slot_type, database, active_pid, confirmed = row
    return SlotState(
        plugin, slot_type, database, active_pid, parse_lsn(confirmed) if confirmed else None
    )


def ensure_slot(
    conn: psycopg2.extensions.connection,
    replication: ReplicationCursor,
    slot: str,
    busy_timeout: float,
) -> SlotState:
    """The slot, made when missing; refused when it belongs to another plugin or database, or
    is still streaming to another process after `busy_timeout` seconds."""
    database = conn.info.dbname
    state = slot_state(conn, slot)
    if state is None:
        try:
            replication.create_replication_slot(slot, output_plugin=PLUGIN)
            log.info("created replication slot %s (%s) in database %s", slot, PLUGIN, database)
        except psycopg2.errors.DuplicateObject:
            pass  # another relay made it a moment ago; checked below like any other
        except psycopg2.Error as exc:
            raise CdcSetupError(
                f"cdc.slot: cannot create replication slot {slot}: {str(exc).strip()}"
            ) from None
        state = slot_state(conn, slot)
        if state is None:
            raise CdcSetupError(f"cdc.slot: replication slot {slot} vanished right after creation")
    if state.slot_type != "logical" or state.plugin != PLUGIN:
        made_for = state.plugin if state.slot_type == "logical" else "physical replication"
        raise CdcSetupError(
            f"cdc.slot: replication slot {slot} exists for {made_for}, not {PLUGIN}; choose "
            f"another slot name (PULSE_CDC__SLOT) or drop it if nothing uses it: "
            f"SELECT pg_drop_replication_slot('{slot}')"
        )
    if state.database != database:
        raise CdcSetupError(
            f"cdc.slot: replication slot {slot} belongs to database {state.database}, not "
            f"{database}; choose another slot name (PULSE_CDC__SLOT)"
        )
    deadline = time.monotonic() + busy_timeout
    while state.active_pid is not None:
        # A relay killed a moment ago keeps its slot until its server process notices.
        if time.monotonic() >= deadline:
            raise CdcSetupError(
                f"cdc.slot: replication slot {slot} is in use by PostgreSQL process "
                f"{state.active_pid} (another relay?) after {busy_timeout:.0f} s; one slot "
                "serves one relay"
            )
        time.sleep(0.1)
        state = slot_state(conn, slot) or state
    return state


def replication_connection(pg: PostgresConfig) -> LogicalReplicationConnection:
    """A logical replication connection to the configured database (TCP, or the socket)."""
    conn = postgres_connect(
        pg, connection_factory=LogicalReplicationConnection, application_name=APPLICATION_NAME
    )
    assert isinstance(conn, LogicalReplicationConnection)
    return conn


def start_stream(replication: ReplicationCursor, cdc: CdcConfig, start_lsn: int) -> None:
    """Start streaming the slot's changes from its confirmed position, or from `start_lsn` if
    that is further (a reconnecting relay skips what it has delivered already)."""
    try:
        replication.start_replication(
            slot_name=cdc.slot,
            decode=False,
            start_lsn=start_lsn,
            options={"proto_version": str(PROTOCOL_VERSION), "publication_names": cdc.publication},
            # psycopg2's own status messages (at least 1 s apart) only repeat the position the
            # relay confirmed; the relay sends its confirmations itself, at its own interval.
            status_interval=max(1.0, cdc.status_interval_seconds),
        )
    except psycopg2.errors.ObjectInUse as exc:
        raise CdcSetupError(f"cdc.slot: {str(exc).strip()}") from None
    except psycopg2.errors.UndefinedObject as exc:
        raise CdcSetupError(f"cdc.slot or cdc.publication: {str(exc).strip()}") from None
    log.debug("streaming slot %s from %s", cdc.slot, format_lsn(start_lsn))
