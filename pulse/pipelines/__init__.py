"""The jobs as definitions: each pipeline is `queries(spark, conf) -> list[QuerySpec]`.

`jobs/<job>.py` submits one of them to a cluster; `jobs/all_jobs.py` hosts all of them in one
driver (what `pulse run` starts on a laptop: one JVM and one set of Python workers instead of
four), and a test can build any of them in-process.

>>> sorted(PIPELINES)
['enrich', 'lake', 'live', 'monitor']
"""

from __future__ import annotations

from pulse.pipelines import enrich, lake, live, monitor
from pulse.queries import Pipeline

PIPELINES: dict[str, Pipeline] = {
    "live": live.queries,
    "enrich": enrich.queries,
    "monitor": monitor.queries,
    "lake": lake.queries,
}

__all__ = ["PIPELINES"]
