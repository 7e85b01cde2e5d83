"""Pipeline health: each query's state and last batch, input rate, each query's latency (Kafka
to its batch's end) against the live paths' goal, consumer lag, batch duration against the
trigger, the records' age at the monitor, dead letters by reason."""

import streamlit as st
from redis import RedisError

from pulse import queryhealth
from pulse.dashboard import charts
from pulse.dashboard.connections import postgres, redis, settings
from pulse.dashboard.notices import nothing_yet, store_trouble
from pulse.reads import health
from pulse.reads.lake import lake_tables
from pulse.reads.sources import since
from pulse.stores import StoreUnavailable

conf = settings()
minutes = conf.dashboard.window_minutes
trigger_ms = conf.streaming.trigger_seconds * 1000
goal_ms = health.LIVE_P95_SECONDS * 1000
monitor_s = conf.streaming.monitor_trigger_seconds
quarantine = next(t for t in lake_tables(conf.lake.path, conf.topics) if t.name == "quarantine")

st.title("Pipeline health")
st.caption(
    f"The last {minutes} minutes, redrawn every {conf.dashboard.refresh_seconds:g} s. "
    "From the monitor job (PostgreSQL topic_arrivals, monitoring_rollups, query_batches) and "
    "the lake job "
    "(Delta quarantine)."
)


def _number(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def queries() -> None:
    """Each streaming query as its driver reports it: state, restarts, last batch, lag."""
    with store_trouble():
        keys = redis(conf.redis)
        try:
            reports = queryhealth.read_all(keys.client)
        except RedisError as exc:
            raise StoreUnavailable("redis", keys.where, "unreachable", str(exc)) from exc
        if not reports:
            st.info("No streaming query has reported yet: `make run` starts them.")
            return
        lines = [queryhealth.describe(report) for report in sorted(reports, key=_by_query)]
        troubled = any(queryhealth.troubled(report) for report in reports)
        (st.error if troubled else st.success)("\n\n".join(lines))


def _by_query(report: dict[str, str]) -> str:
    return report.get("query", "")


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def pipeline() -> None:
    start = since(minutes)
    with store_trouble():
        pg = postgres(conf.postgres)
        window = conf.monitor.arrivals_window_seconds
        rates = health.input_rates(pg, start, window)
        latency = health.latencies(pg, start)
        batches = health.batches(pg, start)
        if rates.empty and batches.empty:
            nothing_yet("monitoring rollups or batch reports", "monitor", minutes)
            return
        top = health.headline(rates, window, batches)
        cells = st.columns(4)
        cells[0].metric(
            "input events/s",
            _number(top.events_per_second),
            delta=f"arrivals, {health.INPUT_SPAN_WINDOWS * window:g} s",
            delta_color="off",
        )
        cells[1].metric(
            "live paths p95, Kafka to written",
            _number(top.latency_p95_ms, " ms"),
            delta=f"goal {goal_ms:,.0f} ms",
            delta_color="off",
        )
        cells[2].metric("consumer lag, largest", _number(top.lag, " records"))
        cells[3].metric(
            "slowest latest batch",
            _number(top.slowest_batch_ms, " ms"),
            delta=f"trigger {trigger_ms:,.0f} ms",
            delta_color="off",
        )
        left, right = st.columns(2)
        left.altair_chart(
            charts.lines(rates, x="window_start", y="events_per_second", series="topic",
                         title="Input per topic", y_title="events/s, by arrival time"),
            width="stretch",
        )  # fmt: skip
        right.altair_chart(
            charts.with_limit(
                charts.lines(batches.dropna(subset=["latency_p95_ms"]), x="reported_at",
                             y="latency_p95_ms", series="query",
                             title="Latency p95 per query: Kafka to its batch written",
                             y_title="ms, per batch"),
                goal_ms,
                "live paths' goal",
            ),
            width="stretch",
        )  # fmt: skip
        left, right = st.columns(2)
        left.altair_chart(
            charts.with_limit(
                charts.lines(batches, x="reported_at", y="duration_ms", series="query",
                             title="Batch duration against the trigger", y_title="ms"),
                trigger_ms,
                "trigger interval",
            ),
            width="stretch",
        )  # fmt: skip
        right.altair_chart(
            charts.lines(batches.dropna(subset=["lag"]), x="reported_at", y="lag",
                         series="query", title="Consumer lag", y_title="records behind"),
            width="stretch",
        )  # fmt: skip
        st.altair_chart(
            charts.lines(latency, x="window_start", y="latency_ms", series="topic",
                         dash="percentile", title="Age of the records at the monitor p50 / p95",
                         y_title=f"ms, event time to the monitor's batch (every {monitor_s:g} s)"),
            width="stretch",
        )  # fmt: skip
    with store_trouble():
        letters = health.dead_letters(quarantine.path, start)
        if letters.empty:
            st.success(f"No dead letters in the last {minutes} minutes.")
        else:
            st.altair_chart(
                charts.bars(letters, category="reason", value="dead_letters", series="topic",
                            title=f"Dead letters by reason: {letters['dead_letters'].sum():,}"),
                width="stretch",
            )  # fmt: skip


queries()
pipeline()
