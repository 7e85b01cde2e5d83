"""The benchmark suite: results as JSON (one file per benchmark run), the machine they ran on,
and docs/BENCHMARKS.md with its plots rendered from them."""
