"""spark-submit jobs/live_views.py — the live and enrich queries in one driver (what `pulse run`
starts beside jobs/lake_monitor.py; pulse.pipelines.LOCAL_DRIVERS says why these two)."""

from pulse.pipelines import hosted
from pulse.queries import main

raise SystemExit(main("live_views", __doc__, hosted("live_views")))
