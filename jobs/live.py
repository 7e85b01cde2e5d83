"""spark-submit jobs/live.py — the live aggregations: emoji windows, scoreboards, game fan-out.

The queries are defined in pulse.pipelines.live; this file only submits them.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

raise SystemExit(main("live", __doc__, {"live": PIPELINES["live"]}))
