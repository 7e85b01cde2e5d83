"""Benchmark: the whole local platform (`pulse run`, what `make run` starts) under its traffic.

    .venv/bin/python benchmarks/live_platform.py [--minutes 10] [--warmup 120] [--scales 1,2,4,8]
                                            [--plot PATH] [--json PATH]

For each traffic scale (default: 1, the simulators' own rates, about 2,410 events/s; scale X is
X times that, `pulse run --traffic-scale X`), it starts `pulse run` (broker, two Spark drivers
(`jobs/live_views.py`, `jobs/lake_monitor.py`) with every streaming query, ingest API, registry,
gateway nodes, dashboard, simulators), waits until every query has logged a batch, warms up
for `--warmup` seconds, then measures for `--minutes`:

1. End-to-end latency per path, event `ts` -> visible in its sink, p50/p95 and samples:
   scores (Redis channel `match:*`, `updated_at`), game deliveries (`node:*`, `delivered_at`;
   the benchmark registers a subscriber to every game so that there are deliveries), and probes
   sent through the ingest API once a second: emoji (first message on `emoji:<probe match>`),
   media (Redis `event:<id>`, polled every 50 ms), product (MySQL `products`, every 100 ms), and
   the same media probes into the lake (Delta silver/media, polled every 0.2 s). See
   platform_bench/probes.py.
2. Batch duration p50/p95 per query against its trigger, from the drivers' logs
   (`.pulse/logs/<driver>.log`: pulse/progress.py's batch lines).
3. Consumer lag per query every 2 s (the broker's end offsets minus the offsets of the newest
   batch the query's checkpoint committed: a stalled query's lag rises), plotted to
   docs/benchmarks/platform-lag[-x<scale>].png; events/s produced from the topics' end offsets.
4. Query restarts (`failed, restarting` lines in the drivers' logs from the start to the end of
   the window).
5. RSS (sum over the process tree of `pulse run`) and CPU, every 2 s.

Goals, printed met/not met: emoji, scores, game and media p95 <= 2.5 s; product and lake p95 <=
their trigger + 2 s; no restart; lag flat (the last third's mean lag at most one batch's mean
rows above the first third's); RSS <= 6 GiB. With several scales it reports the highest scale
where every goal holds. At the end it stops `pulse run` with SIGINT, waits for it, and checks
that no process of the platform is left (`pgrep -f` on the driver's script, `pulse serve`, ...).

A result file with `--json PATH` or `$PULSE_BENCH_RESULTS` (suite_bench/results.py).

(Named live_platform.py, not platform.py: a script of benchmarks/ runs with that folder first on
its import path, where a `platform.py` would stand in for the standard library's module.)
"""

from platform_bench.main import main

if __name__ == "__main__":
    raise SystemExit(main())
