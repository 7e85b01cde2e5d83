"""Headless Chromium for the browser tests: Debian's `chromium` driven through its
`chromedriver` by selenium (`make browser` installs both), and where screenshots are kept.

Screenshots go to `test-artifacts/` at the project root (ignored by git), so a run's pictures
can be looked at afterwards, or kept by CI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from pulse.config import PROJECT_ROOT
from tests.polling import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium, quit afterwards."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save what the browser shows as `test-artifacts/<name>.png`; its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


@contextlib.contextmanager
def watching(url: str, match_id: str) -> Iterator[tuple[webdriver.Chrome, Callable[[str], str]]]:
    """The live page at `url` in headless Chromium, watching `match_id` (its socket open), and
    the text of one of its elements by id."""
    with chromium() as browser:
        browser.get(url)
        browser.find_element(By.ID, "match-id").send_keys(match_id)
        browser.find_element(By.ID, "watch").click()

        def text(element_id: str) -> str:
            return browser.find_element(By.ID, element_id).text

        wait_for(lambda: text("status").startswith("Watching"), 15, "the page's socket")
        yield browser, text
