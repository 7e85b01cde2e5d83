"""Store connections shared by every browser session, cached with `st.cache_resource`: one per
store and configuration, checked on every use (`validate`: one the server closed is opened
again) and closed when it leaves the cache. `StoreUnavailable` is not cached, so the page
recovers by itself once the store is back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st
from pydantic import BaseModel, SecretStr

from pulse.config import (
    ConfigError,
    MySQLConfig,
    PostgresConfig,
    PulseConfig,
    RedisConfig,
    load_config,
)
from pulse.reads.sources import RedisKeys, Sql, open_mysql, open_postgres, open_redis


def _fingerprint(section: BaseModel) -> str:
    """What tells two configurations of a store apart (secrets included: a changed password
    must open a new connection); only ever hashed."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in section
    }
    return json.dumps(values, sort_keys=True, default=str)


_BY_SETTINGS: dict[str | type[Any], Callable[[Any], Any]] = {
    PostgresConfig: _fingerprint,
    MySQLConfig: _fingerprint,
    RedisConfig: _fingerprint,
}


# Both databases' connections are cached alike: checked on each use, closed when dropped.
_sql_cache = st.cache_resource(
    show_spinner=False,
    validate=lambda sql: sql.usable,
    on_release=Sql.close,
    hash_funcs=_BY_SETTINGS,
)


@_sql_cache
def postgres(pg: PostgresConfig) -> Sql:
    """The dashboard's PostgreSQL connection."""
    return open_postgres(pg)


@_sql_cache
def mysql(my: MySQLConfig) -> Sql:
    """The dashboard's MySQL connection."""
    return open_mysql(my)


@st.cache_resource(show_spinner=False, on_release=RedisKeys.close, hash_funcs=_BY_SETTINGS)
def redis(conf: RedisConfig) -> RedisKeys:
    """The dashboard's Redis client (it reconnects by itself)."""
    return open_redis(conf)


def settings() -> PulseConfig:
    """The configuration, read on every run (a few milliseconds) so that a page reflects the
    environment it runs in; a bad one stops the page with the key named."""
    try:
        return load_config()
    except ConfigError as exc:
        st.error(f"Pulse's configuration cannot be used:\n\n```\n{exc}\n```")
        st.stop()
        raise  # st.stop() ends the run by raising; this line only tells the type checker
