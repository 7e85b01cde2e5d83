"""The jobs as definitions: each pipeline is `queries(spark, conf) -> list[QuerySpec]`.

`jobs/<job>.py` submits one of them to a cluster, `pulse run` starts the `LOCAL_DRIVERS` on a
laptop, and a test can build any of them in-process (docs/ARCHITECTURE.md, "Jobs are
definitions")."""

from __future__ import annotations

from pulse.pipelines import enrich, lake, live, monitor
from pulse.queries import Pipeline

PIPELINES: dict[str, Pipeline] = {
    "live": live.queries,
    "enrich": enrich.queries,
    "monitor": monitor.queries,
    "lake": lake.queries,
}

# The drivers `pulse run` starts (`jobs/<driver>.py`) and the pipelines each hosts, in its own
# FAIR pool. The live views' queries alone in one Python process: the lake's and the monitor's
# batches are computed on the driver too and, in the same process, held the interpreter while
# live batches waited (docs/ARCHITECTURE.md, "Jobs are definitions").
LOCAL_DRIVERS: dict[str, tuple[str, ...]] = {
    "live_views": ("live", "enrich"),
    "lake_monitor": ("lake", "monitor"),
}


def hosted(driver: str) -> dict[str, Pipeline]:
    """The pipelines a local driver hosts, by job name.

    >>> sorted(PIPELINES)
    ['enrich', 'lake', 'live', 'monitor']
    >>> sorted(hosted("live_views"))
    ['enrich', 'live']
    """
    return {job: PIPELINES[job] for job in LOCAL_DRIVERS[driver]}


__all__ = ["LOCAL_DRIVERS", "PIPELINES", "hosted"]
