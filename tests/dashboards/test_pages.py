"""Every dashboard page, run with Streamlit's AppTest against stores the jobs filled, against
migrated empty stores, and against stores that cannot be reached."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from streamlit.testing.v1 import AppTest

from pulse.config import PROJECT_ROOT
from pulse.reads.sources import open_mysql, open_postgres
from pulse.simulate.segments import SEGMENTS
from tests.stacks import Stores

VIEWS = PROJECT_ROOT / "dashboards" / "views"
PAGES = ("health", "live", "products", "media", "lake")


def open_page(page: str, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page run once, as a browser's first visit would, with `stores` configured."""
    stores.apply(monkeypatch)
    return AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=60).run()


def charts(app: AppTest) -> dict[str, pa.Table]:
    """The page's charts by title, each with the rows of its main layer (a rule drawn over it
    has data of its own)."""
    found = {}
    for chart in app.get("vega_lite_chart"):
        title = json.loads(chart.proto.spec).get("title")
        data = chart.proto.datasets[0].data.data
        found[title] = pa.ipc.open_stream(data).read_all()
    return found


def problems(app: AppTest) -> list[str]:
    """Exceptions and error messages on the page."""
    return [str(e.value) for e in app.exception] + [str(e.value) for e in app.error]


def sql(stores: Stores, query: str) -> pd.DataFrame:
    """A query on the stores' PostgreSQL, for what the page should show."""
    pg = open_postgres(stores.conf.postgres)
    try:
        return pg.frame(query)
    finally:
        pg.close()


def lake_rows(stores: Stores, table: str) -> int:
    return DeltaTable(f"{stores.conf.lake.path}/{table}").to_pyarrow_dataset().count_rows()


class TestWithWhatTheJobsWrote:
    def test_health_draws_input_latency_batches_lag_and_dead_letters(self, produced, monkeypatch):
        app = open_page("health", produced, monkeypatch)

        assert problems(app) == []
        drawn = charts(app)
        letters = f"Dead letters by reason: {lake_rows(produced, 'quarantine'):,}"
        assert set(drawn) == {
            "Input per topic",
            "Latency p95 per query: Kafka to its batch written",
            "Batch duration against the trigger",
            "Consumer lag",
            "Age of the records at the monitor p50 / p95",
            letters,
        }
        assert all(table.num_rows > 0 for table in drawn.values()), drawn
        queries = set(drawn["Batch duration against the trigger"].column("query").to_pylist())
        assert {"live", "enrich", "lake"} <= queries
        latency = drawn["Latency p95 per query: Kafka to its batch written"]
        assert {"live", "enrich", "lake"} <= set(latency.column("query").to_pylist())
        assert min(latency.column("latency_p95_ms").to_pylist()) > 0
        metrics = {m.label: m.value for m in app.metric}
        assert float(metrics["input events/s"].replace(",", "")) > 0
        assert float(metrics["live paths p95, Kafka to written"].split()[0].replace(",", "")) > 0

    def test_live_shows_every_scoreboard_and_the_emoji_charts(self, produced, monkeypatch):
        app = open_page("live", produced, monkeypatch)

        assert problems(app) == []
        matches = sql(produced, "SELECT match_id, home_score, away_score FROM match_scores")
        board = app.dataframe[0].value
        assert sorted(board["match_id"]) == sorted(matches["match_id"])
        shown = board.set_index("match_id")[["home_score", "away_score"]].astype(int)
        stored = matches.set_index("match_id")[["home_score", "away_score"]].astype(int)
        pd.testing.assert_frame_equal(shown.sort_index(), stored.sort_index())
        drawn = charts(app)
        assert set(drawn) == {"Top emojis, latest window", "Emoji per window: all matches"}
        assert all(table.num_rows > 0 for table in drawn.values())

    def test_live_narrows_the_trend_to_the_chosen_match(self, produced, monkeypatch):
        app = open_page("live", produced, monkeypatch)
        # A match with reactions: a scoreboard's match may have none (the streams draw their
        # matches apart), and then the page rightly draws no chart for it.
        match = charts(app)["Top emojis, latest window"].column("match_id").to_pylist()[0]

        app.selectbox(key="match").select(match).run()

        drawn = charts(app)
        assert f"Emoji per window: {match}" in drawn
        assert set(drawn["Top emojis, latest window"].column("match_id").to_pylist()) == {match}

    def test_products_counts_every_processed_change(self, produced, monkeypatch):
        app = open_page("products", produced, monkeypatch)

        assert problems(app) == []
        metrics = {m.label: m.value for m in app.metric}
        assert int(metrics["processed"].replace(",", "")) == lake_rows(produced, "product_history")
        assert metrics["published, not processed yet"] == "0"
        rate = charts(app)["Changes per 10 s"]
        assert rate.num_rows > 0
        # One value per bucket and source: one area per source (two values drew a sawtooth).
        points = rate.select(["bucket", "source"]).to_pylist()
        points = [(point["bucket"], point["source"]) for point in points]
        assert len(points) == len(set(points))
        latest = app.dataframe[0].value
        assert set(latest["status"]) == {"processed"}

    def test_products_finds_a_product_with_its_changes_and_their_path(self, produced, monkeypatch):
        products = produced.conf.topics.product.name
        through_api = sql(
            produced,
            "SELECT event_id FROM event_acks WHERE kind = 'producer_ack'"
            f" AND topic = '{products}' ORDER BY event_id LIMIT 1",
        )["event_id"].iloc[0]
        history = DeltaTable(f"{produced.conf.lake.path}/product_history").to_pandas()
        product = history.loc[history["change_id"] == through_api, "product_id"].iloc[0]
        app = open_page("products", produced, monkeypatch)

        app.text_input[0].input(product).run()

        assert problems(app) == []
        catalogue, changes = (frame.value for frame in app.dataframe)
        mysql = open_mysql(produced.conf.mysql)
        try:
            stored = mysql.frame("SELECT version FROM products WHERE product_id = %s", (product,))
        finally:
            mysql.close()
        assert catalogue["version"].tolist() == stored["version"].tolist()
        assert sorted(changes["change_id"]) == sorted(
            history.loc[history["product_id"] == product, "change_id"]
        )
        assert set(changes["status"]) == {"processed"}
        assert changes.loc[changes["change_id"] == through_api, "published_at"].notna().all()

    def test_media_splits_events_by_the_chosen_dimension(self, produced, monkeypatch):
        app = open_page("media", produced, monkeypatch)
        assert problems(app) == []
        assert charts(app)["Events by quality"].num_rows > 0

        app.radio[0].set_value("segment").run()

        drawn = charts(app)["Events by segment"]
        stored = sql(produced, "SELECT DISTINCT coalesce(user_segment, 'unknown') AS v FROM events")
        # The hostile events' users have no segment: 'unknown', as the enrich job wrote them.
        assert set(drawn.column("value").to_pylist()) == set(stored["v"]) >= set(SEGMENTS)
        total = sql(produced, "SELECT count(*) AS n FROM events")["n"].iloc[0]
        assert sum(drawn.column("events").to_pylist()) == total

    def test_lake_lists_every_table_with_its_commits(self, produced, monkeypatch):
        app = open_page("lake", produced, monkeypatch)

        assert problems(app) == []
        summary, commits = (frame.value for frame in app.dataframe)
        assert {"bronze", "quarantine", "product_history", "silver/emoji", "silver/media"} <= set(
            summary["table"]
        )
        bronze = summary.set_index("table").loc["bronze"]
        assert bronze["rows"] == lake_rows(produced, "bronze")
        assert bronze["version"] == DeltaTable(f"{produced.conf.lake.path}/bronze").version()
        assert len(commits) > 0
        assert charts(app)["Size per table"].num_rows == len(summary)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_over_empty_stores_says_which_job_fills_them(page, empty_stores, monkeypatch):
    app = open_page(page, empty_stores, monkeypatch)

    assert problems(app) == []
    notices = " ".join(str(info.value) for info in app.info)
    assert "job" in notices and "make run" in notices, notices


UNREACHABLE = {
    "health": ["Redis is unreachable", "PostgreSQL is unreachable"],
    "live": ["Redis is unreachable", "PostgreSQL is unreachable"],
    "products": ["PostgreSQL is unreachable"],
    "media": ["PostgreSQL is unreachable"],
}


@pytest.mark.parametrize("page", sorted(UNREACHABLE))
def test_a_page_whose_store_is_down_names_it_and_the_fix(page, unreachable_stores, monkeypatch):
    app = open_page(page, unreachable_stores, monkeypatch)

    assert list(app.exception) == []
    errors = [str(error.value) for error in app.error]
    assert len(errors) == len(UNREACHABLE[page])
    for error, expected in zip(errors, UNREACHABLE[page], strict=True):
        assert expected in error and "make services" in error, error


def test_searching_a_product_while_mysql_is_down_names_mysql(unreachable_stores, monkeypatch):
    app = open_page("products", unreachable_stores, monkeypatch)

    app.text_input[0].input("sku-1").run()

    assert any("MySQL is unreachable" in str(error.value) for error in app.error)
    assert list(app.exception) == []


def test_a_bad_setting_stops_the_page_with_the_key_named(empty_stores, monkeypatch):
    monkeypatch.setenv("PULSE_DASHBOARD__WINDOW_MINUTES", "soon")
    app = open_page("health", empty_stores, monkeypatch)

    assert list(app.exception) == []
    assert "dashboard.window_minutes" in app.error[0].value
