"""Parts of `benchmarks/pipeline.py`: the private stack, the load, the observers, the baseline
and the report, each in its own module so that each has one reason to change. `process` (a
started process and its stop) and `stats` serve `benchmarks/ingest.py` too.

A sub-folder rather than sibling files: `make bench` runs every `benchmarks/*.py`.
"""
