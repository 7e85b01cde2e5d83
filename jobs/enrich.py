"""spark-submit jobs/enrich.py — media events enriched; the product catalog kept current.

The queries are defined in pulse.pipelines.enrich; this file only submits them.
"""

from pulse.pipelines import PIPELINES
from pulse.queries import main

raise SystemExit(main("enrich", __doc__, {"enrich": PIPELINES["enrich"]}))
