"""The jobs as definitions: each pipeline is `queries(spark, conf) -> list[QuerySpec]`.

`jobs/<job>.py` submits one of them to a cluster; `jobs/live_views.py` hosts three of them in
one driver (what `pulse run` starts on a laptop, beside the lake's: two JVMs and sets of Python
workers instead of four), and a test can build any of them in-process.

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
