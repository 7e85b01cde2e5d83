"""Parts of `benchmarks/fanout.py`: the viewers' processes."""
