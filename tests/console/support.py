"""What the console's tests share: waiting for what a person would see, and the browser's console errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.console.conftest import SCREENSHOTS

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

TIMEOUT = 10.0


def visible(browser: WebDriver, css: str) -> WebElement:
    element: WebElement = WebDriverWait(browser, TIMEOUT).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )
    return element


def text_appears(browser: WebDriver, css: str, text: str) -> None:
    WebDriverWait(browser, TIMEOUT).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def link(browser: WebDriver, text: str) -> WebElement:
    element: WebElement = WebDriverWait(browser, TIMEOUT).until(
        expected_conditions.element_to_be_clickable((By.LINK_TEXT, text))
    )
    return element


def console_errors(browser: WebDriver) -> list[dict[str, Any]]:
    """Errors the page logged since the last call (CSP violations and uncaught exceptions among them)."""
    # Chromium's driver has get_log; the WebDriver base class does not declare it.
    entries: list[dict[str, Any]] = cast("Any", browser).get_log("browser")
    return [entry for entry in entries if entry["level"] == "SEVERE"]


def screenshot(browser: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
