"""spark-submit jobs/all_jobs.py — every job's queries in one driver (what `pulse run` starts).

On one machine a driver per job costs a JVM and a set of Python workers each; here the live,
enrich, monitor and lake queries share one, each in its own FAIR scheduler pool.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

raise SystemExit(main("all_jobs", __doc__, PIPELINES))
