"""The running dashboard (`pulse dashboard`) in headless Chromium: every page draws its charts
with no exception, and the live part redraws by itself. Screenshots: test-artifacts/dashboard-*.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By

from pulse.config import PROJECT_ROOT
from pulse.stores import redis_client
from tests.browser import chromium, screenshot
from tests.conftest import free_tcp_port
from tests.polling import wait_for
from tests.stacks import Stores

# Each page's path and the charts it draws on the produced stores.
PAGES = {"health": ("", 5), "live": ("live", 2), "products": ("products", 1),
         "media": ("media", 1), "lake": ("lake", 1)}  # fmt: skip
CHART = '[data-testid="stVegaLiteChart"]'


@pytest.fixture(scope="module")
def dashboard(produced: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pulse dashboard` on a free port over the produced stores; its URL."""
    port = free_tcp_port()
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    env = {**os.environ, **produced.env, "PULSE_DASHBOARD__PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pulse", "dashboard"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, f"pulse dashboard exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    wait_for(healthy, 60, "the dashboard to answer /_stcore/health")
    yield url
    process.terminate()
    assert process.wait(20) in (0, -15), log.read_text()


@pytest.mark.parametrize("page", PAGES)
def test_a_page_in_the_browser_draws_its_charts_without_errors(dashboard, page):
    path, expected = PAGES[page]
    # Tall enough for every chart of a page (a chart out of view is not painted): the health
    # page's five, each with its legend below it.
    with chromium(1400, 2600) as browser:
        browser.get(f"{dashboard}/{path}")

        def drawn() -> bool:
            charts = browser.find_elements(By.CSS_SELECTOR, CHART)
            painted = browser.find_elements(By.CSS_SELECTOR, f"{CHART} canvas, {CHART} svg")
            return len(charts) >= expected and len(painted) >= expected

        try:
            wait_for(drawn, 60, f"{expected} charts on the {page} page")
        finally:
            screenshot(browser, f"dashboard-{page}")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]') == []
        assert "Traceback" not in body and "Error" not in body, body[:2000]


def test_the_live_page_redraws_by_itself(dashboard, produced):
    redis = redis_client(produced.conf.redis)
    key = "match:m-browser-new"
    with chromium() as browser:
        browser.get(f"{dashboard}/live")
        heading = '[data-testid="stHeading"]'

        def count() -> int | None:
            for element in browser.find_elements(By.CSS_SELECTOR, heading):
                if element.text.startswith("Scoreboards:"):
                    return int(element.text.split()[1])
            return None

        wait_for(lambda: count() is not None, 60, "the scoreboards on the live page")
        before = count()
        try:
            redis.hset(key, mapping={"match_id": "m-browser-new", "home_team": "A",
                                     "away_team": "B", "home_score": 1, "away_score": 0,
                                     "status": "live", "sequence": 1})  # fmt: skip
            wait_for(lambda: count() == before + 1, 15, "the new match without a reload")
        finally:
            redis.delete(key)
            redis.close()
