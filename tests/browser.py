"""Headless Chromium for the tests that read pages as a person does (Selenium with Debian's
chromium and chromium-driver; never downloaded: the tests skip without them)."""

from __future__ import annotations

import contextlib
import re
import shutil
import time

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_binary() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


#: MLflow 3.17 opens its Assistant panel over a quarter of the page the first time a browser
#: visits a local server, unless its own "already opened once" flag is set; then the
#: panel's state (open after that first time) is remembered
ASSISTANT_CLOSED = {
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.assistant.panelOpen_v1": "false",
}


def close_assistant(driver, url: str) -> None:
    """Set MLflow's Assistant flags in the page's origin (before its pages load)."""
    driver.get(f"{url}/health")
    for key, value in ASSISTANT_CLOSED.items():
        driver.execute_script(f"localStorage.setItem('{key}', '{value}')")


def assistant_open(driver) -> bool:
    return "Ask questions about your experiments" in driver.find_element("tag name", "body").text


def headless():
    """Headless Chromium driven by Selenium with Debian's chromedriver (never downloaded:
    the test skips without them); a fresh profile, as a new reader's browser."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = browser_binary(), shutil.which("chromedriver")
    if browser is None or chromedriver is None:
        pytest.skip("no headless browser (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", "--no-first-run", "--disable-sync"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def wait_text(driver, wanted: str, timeout: float = 90) -> str:
    """The page's visible text once it matches the regex ``wanted`` (the UI renders, then
    loads its data, in JavaScript)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            text = driver.find_element("tag name", "body").text
            if re.search(wanted, text):
                return text
        time.sleep(0.5)
    raise AssertionError(f"{wanted!r} not on {driver.current_url} within {timeout:.0f} s:\n{text}")
