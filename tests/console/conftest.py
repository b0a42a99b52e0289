"""A real browser for the console's tests: Debian's Chromium, headless, through its chromedriver (`make
browser` installs both). One browser session per module keeps the tests fast."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from selenium import webdriver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from selenium.webdriver.remote.webdriver import WebDriver

_REPO = Path(__file__).resolve().parents[2]
# The README shows docs/console/*.png: refreshed only when asked, so a test run leaves the checkout clean.
SCREENSHOTS = (
    _REPO / "docs" / "console"
    if os.environ.get("EVENTSTORE_UPDATE_SCREENSHOTS") == "1"
    else _REPO / "build" / "console-screenshots"
)
_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _find_browser() -> tuple[str, str]:
    browser = next((found for name in _BROWSERS if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(
            "no Chromium or chromedriver: `make browser` installs them (Debian: apt-get install chromium "
            "chromium-driver, as root)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver_path = _find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,860"):
        options.add_argument(argument)
    options.add_argument("--disable-gpu")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
