"""spark-submit jobs/lake.py — every topic into the Delta lake; bad records into dead letters.

The queries are defined in pulse.pipelines.lake; this file only submits them.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

raise SystemExit(main("lake", __doc__, {"lake": PIPELINES["lake"]}))
