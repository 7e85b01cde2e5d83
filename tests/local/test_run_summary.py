"""The live console of `pulse run`, rendered from rows: rates, totals and sparklines."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from pulse.config import PROJECT_ROOT
from pulse.local.run import (
    CHILDREN,
    DRIVERS,
    YIELDING_NICENESS,
    delivery_children,
    process_state,
)
from pulse.local.summary import BARS, Board, RateMeter, TopicRow, render, sparkline
from pulse.pipelines import LOCAL_DRIVERS, PIPELINES


def test_sparkline_scales_to_the_highest_value() -> None:
    assert sparkline([1, 2, 4, 8], width=4) == "▁▂▄█"


def test_sparkline_leaves_zero_blank_and_pads_on_the_left() -> None:
    assert sparkline([0, 5], width=4) == "   █"


def test_sparkline_keeps_the_most_recent_values() -> None:
    assert sparkline([100, 1, 1, 1], width=3) == "███"


def test_sparkline_of_nothing_is_blank() -> None:
    assert sparkline([], width=5) == "     "
    assert sparkline([0, 0], width=2) == "  "


def test_meter_turns_totals_into_rates_over_the_interval() -> None:
    meter = RateMeter(["a", "b"])
    first = meter.sample(10.0, {"a": 100, "b": 0})
    second = meter.sample(12.0, {"a": 4_100, "b": 10})
    assert [row.rate for row in first] == [None, None]
    assert [(row.total, row.rate) for row in second] == [(4_100, 2_000.0), (10, 5.0)]
    assert second[0].history == (2_000.0,)


def test_meter_keeps_a_bounded_history_per_topic() -> None:
    meter = RateMeter(["a"], keep=3)
    rows = ()
    for second in range(6):
        rows = meter.sample(float(second), {"a": second * second})
    assert rows[0].history == (5.0, 7.0, 9.0)


def test_meter_shows_a_topic_that_does_not_exist_yet() -> None:
    meter = RateMeter(["a"])
    (row,) = meter.sample(1.0, {})
    assert row == TopicRow("a", None, None, ())


def test_meter_counts_a_recreated_topic_from_zero() -> None:
    meter = RateMeter(["a"])
    meter.sample(0.0, {"a": 1_000})
    (row,) = meter.sample(2.0, {"a": 10})
    assert row.rate == 0.0


def test_render_shows_rate_total_and_chart_per_topic() -> None:
    rows = (
        TopicRow("emoji.reactions", 1_234_567, 2_003.4, (1_000.0, 2_000.0)),
        TopicRow("game.updates", 40, None, ()),
        TopicRow("emoji.aggregated", None, None, ()),
    )
    text = render(Board(rows))
    lines = text.splitlines()
    emoji = next(line for line in lines if line.startswith("emoji.reactions"))
    assert "2,003" in emoji and "1,234,567" in emoji and emoji.endswith("▄█")
    game = next(line for line in lines if line.startswith("game.updates"))
    assert "..." in game and game.endswith("40")
    missing = next(line for line in lines if line.startswith("emoji.aggregated"))
    assert "no such topic" in missing


def test_render_aligns_the_columns() -> None:
    rows = (TopicRow("a", 1, 1.0, (1.0,)), TopicRow("a-much-longer-name", 22_000, 10_000.0, (1.0,)))
    lines = [line for line in render(Board(rows)).splitlines() if line.startswith("a")]
    assert len({line.index(BARS[-1]) for line in lines}) == 1


def test_render_says_where_to_look_and_what_runs() -> None:
    board = Board(
        (),
        processes=(("simulate-emoji", "running (pid 12)"),),
        places=(("broker", "127.0.0.1:9092"), ("logs", "/tmp/logs")),
        problem="cannot read end offsets",
    )
    text = render(board)
    assert "! cannot read end offsets" in text
    assert "simulate-emoji" in text and "running (pid 12)" in text
    assert "127.0.0.1:9092" in text and "/tmp/logs" in text


def test_children_are_the_services_the_simulators_two_drivers_the_dashboard_and_compactor() -> None:
    names = [child.name for child in CHILDREN]
    assert len(set(names)) == len(names)
    pulse = [c for c in CHILDREN if c.argv[:3] == (sys.executable, "-m", "pulse")]
    services = [c for c in pulse if c.argv[3] == "serve"]
    assert sorted(c.argv[4] for c in services) == ["cdc", "ingest"]  # delivery: below
    simulators = [c for c in pulse if c.argv[3] == "simulate"]
    direct = [c for c in simulators if "--via-api" not in c.argv]
    assert {child.argv[4] for child in direct} == {"game", "sports", "emoji", "product", "media"}
    (via_api,) = [c for c in simulators if "--via-api" in c.argv]
    assert via_api.argv[4] == "emoji"
    assert {c.niceness for c in simulators} == {YIELDING_NICENESS}  # the traffic yields
    jobs = [c for c in CHILDREN if "spark-submit.sh" in " ".join(c.argv)]
    assert [c.argv[-1] for c in jobs] == ["jobs/live_views.py", "jobs/lake_monitor.py"]
    assert [c.niceness for c in jobs] == [0, 0]
    (dashboard,) = [c for c in CHILDREN if c.name == "dashboard"]
    assert dashboard.argv[3] == "dashboard"
    assert dashboard.niceness == YIELDING_NICENESS  # it yields the cores too
    (compactor,) = [c for c in CHILDREN if c.name == "lake-compactor"]
    assert compactor.argv[3:] == ("compact", "--repeat")
    assert compactor.niceness == YIELDING_NICENESS  # no lake batch waits for it
    yielding = [dashboard, compactor]
    assert len(services) + len(simulators) + len(jobs) + len(yielding) == len(CHILDREN)


def test_the_delivery_tier_is_a_registry_3_publishers_and_3_clusters_of_3_nodes() -> None:
    children = delivery_children(8100)
    services = Counter(child.argv[4] for child in children)
    assert services == {"registry": 1, "publisher": 3, "gateway": 9}
    ports = [child.argv[child.argv.index("--port") + 1] for child in children[4:]]
    assert ports == [str(8100 + i) for i in range(9)]
    keyed = {child.name: child.registry_key_env for child in children}
    assert keyed["registry"] == "PULSE_REGISTRY__API_KEYS"
    assert keyed["gateway-c2-n0"] == "PULSE_GATEWAY__REGISTRY_KEY"
    assert keyed["publisher-c1"] is None


def test_only_the_api_and_its_clients_get_the_runs_api_key() -> None:
    keyed = {c.name for c in CHILDREN if c.api_key}
    assert keyed == {"ingest-api", "simulate-emoji-api"}


def test_a_child_that_exited_says_so() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    assert process_state(process) == "exited with code 3: see its log"


def test_the_local_drivers_host_every_pipeline_once_each_from_its_script() -> None:
    hosted = [job for jobs in LOCAL_DRIVERS.values() for job in jobs]
    assert sorted(hosted) == sorted(PIPELINES)
    assert [c.argv[-1] for c in DRIVERS] == [f"jobs/{driver}.py" for driver in LOCAL_DRIVERS]
    for driver in LOCAL_DRIVERS:
        script = (PROJECT_ROOT / "jobs" / f"{driver}.py").read_text()
        assert f'hosted("{driver}")' in script
