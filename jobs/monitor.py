"""spark-submit jobs/monitor.py — monitoring rollups of every topic, batches and acks.

The queries are defined in pulse.pipelines.monitor; this file only submits them.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

raise SystemExit(main("monitor", __doc__, {"monitor": PIPELINES["monitor"]}))
