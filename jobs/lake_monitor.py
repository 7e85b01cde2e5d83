"""spark-submit jobs/lake_monitor.py — the lake and monitor queries in one driver (what
`pulse run` starts at a lower CPU priority beside jobs/live_views.py)."""

from pulse.pipelines import hosted
from pulse.queries import main

raise SystemExit(main("lake_monitor", __doc__, hosted("lake_monitor")))
