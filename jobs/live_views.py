"""spark-submit jobs/live_views.py — the live, enrich and monitor queries in one driver (what
`pulse run` starts beside jobs/lake.py).

On one machine a driver per job costs a JVM and a set of Python workers each; here the queries
behind the live views share one, each in its own FAIR scheduler pool. The lake is not among
them: its batches are large and computed on the driver, and in the same Python process they
held the interpreter while the live batches waited (live batches overlapping a lake batch took
a median 3.4 s, the others 2.2 s). `pulse run` starts the lake in a driver of its own, at a
lower CPU priority.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

LIVE_VIEWS = ("live", "enrich", "monitor")

raise SystemExit(main("live_views", __doc__, {job: PIPELINES[job] for job in LIVE_VIEWS}))
