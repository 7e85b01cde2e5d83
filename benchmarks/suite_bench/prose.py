"""What each benchmark measures and why, as the regenerated docs/BENCHMARKS.md says it: the
prose lives here, beside the renderer, so that the file explains itself after every run. Only
explanation belongs here; every figure comes from the result files."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """The heading and the explanation of one benchmark's section."""

    heading: str
    text: str


HEADER = """\
# Benchmarks

Speed and memory are measured here, never asserted by timed tests: every figure below was
produced by the command shown above its table, on the machine described, and this file (with
the plots under `docs/benchmarks/` and each run's summary under `docs/benchmarks/results/`) is
written by `benchmarks/suite.py` from those results. Do not edit it by hand. Every value and
latency sample a summary was computed from stays on the machine that ran it, in
`docs/benchmarks/results/raw/` (not committed); the plots are drawn from them there.

Re-run everything with `make bench` (one run of every benchmark, then this file); one benchmark
with `BENCHMARKS=benchmarks/decode.py make bench` (the others keep their last results, each
section says when it was measured). Tables give the median, min and max over the repetitions
(runs, batches) and how many there were. Every comparison is a ratio of two figures measured in
the same run."""

SECTIONS: dict[str, Section] = {
    "source_read": Section(
        "Kafka source: reading a backlog through `read_kafka` inside Spark",
        "The benchmark starts its own broker, produces the backlog (100-byte values, "
        "lz4-compressed batches), warms Spark's Python workers on a small topic, then reads the "
        "whole backlog with `Trigger.AvailableNow` from a fresh checkpoint per run (`local[2]`, "
        "one Spark task per Kafka partition, rows handed to Spark as Arrow record batches). "
        "Every value is touched. The kafka-python client pays for pure-Python lz4 "
        "decompression and record parsing: use it only where librdkafka cannot be installed.",
    ),
    "decode": Section(
        "Decode: `sort_records` and `sort_tables` on emoji records",
        "Every query decodes its collected batch on the driver with the producers' own "
        "validation (`pulse.transforms.decode`), one thread: this bounds the events per second "
        "one driver can take in. Per record: `json.loads` and `validate` in Python (the enrich "
        "and monitor queries, and every record the bulk path leaves); in bulk: `pyarrow.json` "
        'and checks in Arrow (the live and lake queries; docs/ARCHITECTURE.md, "Decoding a '
        'batch"). Records: 20,000 distinct simulated emoji events repeated, as an Arrow table '
        "shaped like a collected batch; in the second form one record in a hundred is bad "
        "(every kind of `pulse.simulate.bad` in turn) and pays a second decode for its reason.",
    ),
    "sink_write": Section(
        "Sinks: collecting a batch and writing it",
        "A persisted batch shaped like emoji windows (two strings, two timestamps, two longs) "
        "is collected to the driver, then written by each sink, every run a new batch of a new "
        "query (no skips): PostgreSQL and MariaDB on the machine (`emoji_windows`, "
        "`products`), Redis (a hash and a PUBLISH per row, 5k rows per Lua script), a Delta "
        "table in a temporary directory (delta-rs), and a Tansu broker of the benchmark's own. "
        "Needs the services running (`make services`). Each sink figure includes its own "
        "`toArrow()`, which every sink collects with: it also keeps timestamps as instants "
        "(`collect()` returns naive local datetimes). Aggregated Pulse batches are far smaller "
        "than this batch; the figures bound what one 2-second trigger can carry per sink.",
    ),
    "pipeline": Section(
        "Pipeline: jobs/live.py on the emoji stream",
        "One run starts its own Tansu broker and Redis server on free ports, private topics, a "
        "PostgreSQL and a MariaDB database created and migrated for the run, and checkpoints "
        "and lake in a temporary directory; then `./spark-submit.sh jobs/live.py` as a "
        "subprocess (`local[*]`, its one query over the emoji, sports and game topics; only "
        "emoji gets traffic). Producer "
        "processes offer emoji events from the real generator at increasing rates (in record "
        "batches of up to 250 ms, as the simulators send: Tansu's fetches walk every batch a "
        "partition holds), each step a warm-up and a measured interval, then a pause until the "
        "job has caught up. Before the steps, a trickle of 20 events/s measures the fixed cost "
        "of a batch. Figures "
        "come from the job's own `batch` reports on the monitoring topic (query "
        "`live`): processed = rows of the batches that finished in the interval over "
        "the time they took, batch duration = Spark's `triggerExecution` (read, parse, dedupe, "
        "window counts, then PostgreSQL, Redis and Kafka written). A step is sustained when "
        "processed >= 95 % of offered and batch p95 <= the trigger.\n\n"
        "Two cores carry everything at once: the producer processes, the Tansu broker, the "
        "Spark driver JVM and its Python workers, PostgreSQL, MariaDB and Redis, and whatever "
        "else runs on the machine, so a step's processed rate is what the job achieves with "
        "what is left.\n\n"
        "Latency per event: from the `ts` the producer wrote into the event to the moment the "
        "first batch that contains it had its results in Redis (the Redis sink's ledger field, "
        "moved by the same atomic Lua script that writes the `emoji:{match_id}` hashes, polled "
        "every 10 ms); it includes up to one trigger interval of waiting for the next batch. "
        "Latency per window: from a window's end to the moment its final count was visible. "
        "The baselines consume the same topic from its beginning in one Python process with "
        "the job stopped, in the same run (a head start for the baseline); per event: one "
        "upsert by `event_id` in PostgreSQL (autocommit) and one `HINCRBY` in Redis; batched: "
        "`execute_values` per 1000 and a Redis pipeline per 1000. Pulse's ratios to them are "
        "of figures of the same run.",
    ),
    "ingest": Section(
        "Ingest API: POST /v1/emoji",
        "The benchmark starts its own Tansu broker on a free port and, for each number of API "
        "processes, fresh topics and the API as a real uvicorn process (`python -m pulse serve "
        "ingest --port P [--workers N]`). The load generator is one asyncio process writing "
        "raw HTTP/1.1 on keep-alive connections, closed loop: each connection sends its next "
        "request when the previous answer is in. `POST /v1/emoji` (one reaction a request), "
        "then `POST /v1/events/emoji:batch` (many events a request, unique `event_id`s); each "
        "run a warm-up, then a measured window. Latency: request written to answer read, seen "
        "by the client. *delivered/s*: growth of the emoji topic's end offsets over the "
        "window. Afterwards the emoji topic must hold exactly the events that got a 202 "
        "(*in topic / accepted*). *non-202*: the other answers in the window, by status; a "
        "503 is the API's back-pressure (as many events held, not yet acknowledged by the "
        "broker, as it may hold; the client retries after `Retry-After`), and no event of a "
        "503 is in the topic.",
    ),
    "fanout": Section(
        "Fan-out: one gateway node",
        "The benchmark starts a private stack (Tansu, a Redis server of its own, a scratch "
        "MariaDB database migrated for the registry), the registry API and ONE gateway node "
        "(`pulse serve gateway`) as real processes. For each size, viewer processes "
        "(`benchmarks/fanout_bench/viewers.py`) open the connections between them, all "
        "watching one match, and wait for every welcome; then score messages are published on "
        "the match's Redis channel in the live job's message form plus a `sent_at`. Each "
        "message reaches every client; latency is receipt minus `sent_at` on the same clock, "
        "over every (message, client) pair. The viewers are minimal raw-WebSocket clients, on "
        "the same cores as the node.",
    ),
    "cluster": Section(
        "Cluster: jobs/live.py on a Spark standalone cluster",
        "For each worker count and run: a private stack, a backlog of emoji reactions produced "
        "before the job starts, a standalone cluster of that many workers of one core and 1 GiB "
        "each, and `./spark-submit.sh jobs/live.py --available-now` submitted to it. The job "
        "drains the backlog through all four sinks of the emoji query; events/s come from its "
        "own batch reports. On two cores the driver, the executors and their Python workers, "
        "the databases and the broker share the same cores, so a second worker competes for "
        "them rather than adding capacity: the figures show the cost of the cluster manager "
        "and of shuffling between executors, not scaling.",
    ),
    "platform": Section(
        "Platform: everything `make run` starts, under its own traffic",
        "The benchmark runs `pulse run` (broker, the two Spark drivers (`jobs/live_views.py`, "
        "`jobs/lake_monitor.py`), ingest API, registry, gateway nodes, dashboard, simulators at "
        "about 2,410 events/s, or a multiple with `--scales`) and, after every query's first batch "
        "and a warm-up, measures end-to-end latency from the event's `ts` to its sink: score "
        "and game-delivery messages on their Redis channels, and probes sent through the "
        "ingest API once a second (emoji to its match's channel, media to Redis `event:<id>`, "
        "products to MySQL, and every media probe to the Delta silver table). Batch "
        "durations and restarts come from the driver's log, consumer lag from each query's "
        "checkpoint against the broker's end offsets, RSS and CPU from the whole process "
        "tree. Everything shares the two cores, the simulators and probes included.",
    ),
}
