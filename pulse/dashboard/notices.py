"""What a page says instead of a stack trace: which store is down or empty, and how to fix it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from pulse.reads.sources import NotMigrated
from pulse.stores import StoreUnavailable

_MIGRATE = "run `make up` (or `pulse up`): it creates the databases and runs the migrations"
_SERVICES = "start it (`make services` on this machine), or point"
# Per store (as pulse.stores names it): its name for people, how to bring it back, and what to
# check when it refuses the login.
_STORES = {
    "postgres": (
        "PostgreSQL",
        f"{_SERVICES} `postgres.host` / `postgres.port` (PULSE_POSTGRES__HOST, __PORT) at it",
        "check `postgres.user` and PULSE_POSTGRES__PASSWORD",
    ),
    "mysql": (
        "MySQL",
        f"{_SERVICES} `mysql.host` / `mysql.port` (PULSE_MYSQL__HOST, __PORT) at it",
        "check `mysql.user` and PULSE_MYSQL__PASSWORD",
    ),
    "redis": (
        "Redis",
        f"{_SERVICES} `redis.url` (PULSE_REDIS__URL) at it",
        "check PULSE_REDIS__PASSWORD",
    ),
    "lake": (
        "The Delta lake",
        "check `lake.path` (PULSE_LAKE__PATH) and that its storage can be read",
        "check the lake storage's credentials",
    ),
}
_STATES = {"unreachable": "unreachable", "login": "refusing the login", "database": "missing"}


def trouble_text(exc: StoreUnavailable | NotMigrated) -> str:
    """The message for a store that cannot serve a page: what happened, then the fix."""
    name, start, login = _STORES.get(exc.store, (exc.store, "start it", "check its credentials"))
    if isinstance(exc, NotMigrated):
        return f"**{name} has no Pulse tables** at {exc.where} ({exc.reason}). Fix: {_MIGRATE}."
    fix = {"login": login, "database": _MIGRATE}.get(exc.problem, start)
    said = exc.reason.strip().splitlines()[0] if exc.reason.strip() else "nothing"
    return (
        f"**{name} is {_STATES[exc.problem]}** at {exc.where}. Fix: {fix}.\n\n"
        f"The driver said: `{said}`"
    )


@contextlib.contextmanager
def store_trouble() -> Iterator[None]:
    """Run a part of a page; a store that is down or not migrated becomes a message there, and
    the rest of the page still renders."""
    try:
        yield
    except (StoreUnavailable, NotMigrated) as exc:
        st.error(trouble_text(exc))


def nothing_yet(what: str, writer: str, minutes: int | None = None) -> None:
    """Say that `what` is empty, which job writes it, and how to get it going."""
    when = f" in the last {minutes} minutes" if minutes else ""
    st.info(
        f"No {what}{when}. The {writer} job writes it: `make run` starts the whole platform, "
        f"or submit the job yourself (`./spark-submit.sh jobs/{writer}.py`)."
    )
