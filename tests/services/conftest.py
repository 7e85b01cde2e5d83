"""Fixtures of the registry tests: a MySQL database of their own and `pulse serve registry`.

Node liveness is global to a database (every live node takes part in every assignment), and
other tests register and delete nodes in the shared database `test`; so the registry tests run
against a scratch database, migrated at the start and dropped at the end, which they may empty
between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from mysql.connector.abstracts import MySQLConnectionAbstract

from pulse.config import MySQLConfig, PulseConfig
from pulse.local.migrate import create_mysql_database, migrate_mysql
from pulse.stores import mysql_connect
from tests.services.support import Service, registry_service


@pytest.fixture(scope="module")
def registry_mysql(conf: PulseConfig) -> Iterator[MySQLConfig]:
    """The MySQL settings of a fresh, migrated database, dropped afterwards."""
    name = f"pulse_registry_{uuid.uuid4().hex[:10]}"
    admin = mysql_connect(conf.mysql, use_database=False)
    try:
        create_mysql_database(admin, name)
        migrate_mysql(admin)
        yield conf.mysql.model_copy(update={"database": name})
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(scope="module")
def registry(
    test_env: dict[str, str],
    registry_mysql: MySQLConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """`pulse serve registry` on the scratch database, with the two test keys."""
    yield from registry_service(test_env, registry_mysql, tmp_path_factory)


@pytest.fixture
def registry_db(registry_mysql: MySQLConfig) -> Iterator[MySQLConnectionAbstract]:
    """An autocommit connection to the scratch database, emptied of nodes and clients first:
    each test starts with no live node."""
    conn = mysql_connect(registry_mysql)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DELETE FROM delivery_nodes")
    cur.execute("DELETE FROM clients")
    cur.close()
    yield conn
    conn.close()
