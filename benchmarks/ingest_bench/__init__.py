"""Parts of `benchmarks/ingest.py`: the HTTP load generator (`load`), and the API process and
CPU accounting from /proc (`processes`)."""
