"""The run of benchmarks/live_platform.py (what it measures and how: its docstring): one `pulse run`
per traffic scale, probes and samplers during the measured window, then the report."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from suite_bench.results import add_json_option, command_line, write_results
from tqdm import tqdm

from platform_bench import launch, report
from platform_bench.joblog import JobLog, batches, restarts
from platform_bench.probes import Latencies, Listener, Prober
from platform_bench.samplers import Sampler
from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.interrupts import stop_signals_as_interrupt

DESCRIPTION = "Benchmark: the whole local platform (`pulse run`) under its traffic"
PLOT = PROJECT_ROOT / "docs" / "benchmarks" / "platform-lag.png"
GRACE = 20.0  # seconds after the window for probes sent in it to arrive (the lake: its trigger)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes per scale")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds after first batches")
    parser.add_argument(
        "--scales",
        "--scale",
        default="1",
        help="traffic scales, comma separated (one platform run each); 1 = about 2,410 events/s",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=420.0, help="seconds for every query's 1st batch"
    )
    parser.add_argument("--plot", type=Path, default=PLOT, help="the lag plot (PNG)")
    add_json_option(parser)
    return parser.parse_args(argv)


def say(text: str) -> None:
    tqdm.write(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr)


def triggers(conf: PulseConfig) -> dict[str, float]:
    """Each query's trigger (conf/pulse.yaml `streaming`)."""
    s = conf.streaming
    found = {"live": float(s.trigger_seconds), "enrich": float(s.enrich_trigger_seconds)}
    found["lake"] = float(s.lake_trigger_seconds)
    found["monitor"] = float(s.monitor_trigger_seconds)
    return found


def run_scale(conf: PulseConfig, scale: float, args: argparse.Namespace) -> report.RunResult:
    """One platform at one traffic scale, from start to stop; everything it started stopped."""
    logs = PROJECT_ROOT / conf.local.state_dir / "logs"
    log = JobLog([logs / f"{child.name}.log" for child in launch.DRIVER_CHILDREN])
    console = PROJECT_ROOT / conf.local.state_dir / "logs" / "bench-pulse-run.log"
    say(f"scale {scale:g}: starting pulse run (its console: {console})")
    platform_ = launch.start(scale, console)
    result: report.RunResult | None = None
    try:
        result = measure(conf, platform_, log, scale, args)
    finally:
        say("stopping pulse run (SIGINT) and waiting for it")
        killed = launch.stop(platform_, say)
        left = launch.leftovers(platform_)
        if result is not None:
            result.leftovers = left
            if killed:
                result.notes.append(f"killed after pulse run had exited: pids {killed}")
        if left:
            say(f"processes left behind: {left}")
    return result


def measure(
    conf: PulseConfig,
    platform_: launch.Platform,
    log: JobLog,
    scale: float,
    args: argparse.Namespace,
) -> report.RunResult:
    """Wait for the queries, warm up, measure, collect."""
    query_triggers = triggers(conf)
    missing = launch.wait_for_queries(platform_, log, list(query_triggers), args.start_timeout, say)
    if missing:
        say(f"no batch yet from {', '.join(missing)} after {args.start_timeout:.0f} s: going on")
    latencies = Latencies()
    prober = Prober(conf, latencies, platform_.api_key, platform_.registry_key)
    listener = Listener(conf, latencies, prober.emoji)
    subscribed = prober.subscribe_games()
    workers = [listener, *prober.threads()]
    for worker in workers:
        worker.start()
    prober.sending.set()  # probes from the warm-up on: the pollers and channels warm up too
    countdown(args.warmup, f"x{scale:g} warm-up", latencies)
    seconds = args.minutes * 60
    latencies.open(seconds)
    start_mark = log.mark()
    sampler = Sampler(conf, platform_)
    sampler.start()
    countdown(seconds, f"x{scale:g} measuring", latencies, platform_)
    end_mark = log.mark()
    sampler.stopping.set()
    prober.sending.clear()
    wait_for_probes(prober, max(GRACE, query_triggers["lake"] + 10))
    for stopping in (listener.stopping, prober.stopping):
        stopping.set()
    for worker in [*workers, sampler]:
        worker.join(10)
    if subscribed:
        prober.unsubscribe_games()
    prober.close()
    window = log.text(start_mark, end_mark)
    notes = [f"probe error: {e}" for e in prober.errors[:5]]
    notes += [f"sampler error: {e}" for e in sampler.errors[:5]]
    if not subscribed:
        notes.append("could not register the benchmark's game subscriber")
    notes.append(f"channel messages seen: {dict(listener.messages)}")
    return report.RunResult(
        scale=scale,
        seconds=seconds,
        latencies=dict(latencies.samples),
        sent=dict(latencies.sent),
        failed=dict(latencies.failed),
        batches=batches(window),
        # From the start, not the window only: a query that fails while the platform starts
        # under load (x8: a Python worker that did not connect back in 10 s) is a restart too.
        restarts=restarts(log.text(end=end_mark)),
        samples=sampler.samples,
        triggers=query_triggers,
        path_triggers={"product": query_triggers["enrich"], "lake": query_triggers["lake"]},
        missing_queries=missing,
        notes=notes,
    )


def countdown(
    seconds: float,
    label: str,
    latencies: Latencies,
    platform_: launch.Platform | None = None,
) -> None:
    """A progress bar over `seconds`, with the samples per path so far."""
    end = time.monotonic() + seconds
    with tqdm(total=round(seconds), desc=label, unit="s", file=sys.stderr, leave=False) as bar:
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            bar.n = round(seconds - max(0.0, end - time.monotonic()))
            counts = latencies.counts()
            bar.set_postfix_str(" ".join(f"{p} {n}" for p, n in counts.items()), refresh=True)
            if platform_ is not None and not platform_.alive():
                raise launch.LaunchError("pulse run exited during the measurement")


def wait_for_probes(prober: Prober, timeout: float) -> None:
    """Let the probes still in flight arrive (or give up after `timeout`)."""
    deadline = time.monotonic() + timeout
    while prober.pending() and time.monotonic() < deadline:
        time.sleep(0.5)


def plot_path(base: Path, scale: float, several: bool) -> Path:
    return base.with_name(f"{base.stem}-x{scale:g}{base.suffix}") if several else base


def main(argv: list[str] | None = None) -> int:
    """Run every scale, print the tables, write the plot(s) and the result file."""
    threading.excepthook = lambda hook: say(f"thread {hook.thread.name} failed: {hook.exc_value}")
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    command = command_line("live_platform.py", argv)
    scales = sorted({float(x) for x in args.scales.split(",")})
    conf = load_config()
    started = datetime.now(UTC)
    results: list[report.RunResult] = []
    plots: list[str] = []
    try:
        with stop_signals_as_interrupt():
            for scale in scales:
                result = run_scale(conf, scale, args)
                results.append(result)
                print(report.console_table(result), flush=True)
                path = report.plot_lag(result, plot_path(args.plot, scale, len(scales) > 1))
                if path:
                    inside = path.resolve().is_relative_to(PROJECT_ROOT)
                    plots.append(str(path.resolve().relative_to(PROJECT_ROOT) if inside else path))
                    say(f"lag plot: {path}")
    except KeyboardInterrupt:
        say("interrupted: pulse run has been stopped")
        return 130
    except launch.LaunchError as exc:
        say(f"platform benchmark failed: {exc}")
        if not results:
            return 1
    passed = [r for r in results if report.all_met(r)]
    best = max(passed, key=lambda r: r.scale, default=None)
    highest = best.scale if best else None
    if len(scales) > 1:
        met = [f"x{r.scale:g}: {'all met' if report.all_met(r) else 'not met'}" for r in results]
        print(f"\n{'; '.join(met)}")
        # The rate the simulators produced, not the one asked: they yield the cores, so on a
        # busy machine they fall short, and the platform only had what they produced.
        events = (
            f"{best.samples.events_per_second():,.0f} events/s produced, "
            f"{best.scale * 2410:,.0f} asked"
            if best
            else "none"
        )
        print(f"highest scale where every goal holds: {highest or 'none'} ({events})")
    write_results(
        "platform",
        args.json,
        command=command,
        settings={**vars(args), "scales": scales},
        started=started,
        tables=report.tables(results),
        sample_sets=report.sample_sets(results),
        data=report.data(results, highest, plots),
    )
    return 0 if len(results) == len(scales) else 1
