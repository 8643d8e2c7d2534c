"""Opens a report page in headless Chromium and says whether it rendered.

Uses the system's Chromium and its matching ChromeDriver (Debian: ``apt-get install chromium
chromium-driver``) through Selenium (the ``test`` extra); no browser is downloaded. A check
collects the browser console's errors (uncaught exceptions included), each figure's trace count
and drawn SVG, the time from the request to the last figure drawn, and optionally a screenshot.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
WIDTH = 1280

# Per figure div: traces plotly holds, traces expected, trace groups drawn and marks in the SVG.
_FIGURES = """
return Array.prototype.map.call(document.querySelectorAll("div.figure"), function (div) {
  return {
    id: div.id,
    expected: parseInt(div.dataset.traces, 10),
    traces: div.data ? div.data.length : -1,
    drawn: div.querySelectorAll("svg.main-svg g.trace").length,
    marks: div.querySelectorAll("svg.main-svg path, svg.main-svg rect.bg").length
  };
});
"""


@dataclass
class FigureCheck:
    """What one figure div holds once drawn."""

    id: str
    expected: int
    traces: int
    drawn: int
    marks: int

    @property
    def ok(self) -> bool:
        """Plotly holds the expected traces and drew each into a non-empty SVG."""
        return self.traces == self.expected and self.drawn >= self.expected and self.marks > 0


@dataclass
class PageCheck:
    """The outcome of opening a page."""

    errors: list[str]
    figures: list[FigureCheck]
    load_s: float
    title: str


def missing_browser() -> str | None:
    """Why no page can be checked here (None when Chromium, ChromeDriver and Selenium are
    installed)."""
    if not any(shutil.which(b) for b in BROWSERS):
        return "no Chromium on PATH (Debian: apt-get install chromium chromium-driver)"
    if not any(shutil.which(d) for d in DRIVERS):
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'symnas[test]')"
    return None


@contextmanager
def chromium(height: int = 1600) -> Iterator[Any]:
    """A headless Chromium driven by Selenium, its console logged; closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    problem = missing_browser()
    if problem:
        raise RuntimeError(problem)
    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = next(shutil.which(d) for d in DRIVERS if shutil.which(d))
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def check_page(
    driver: Any, page: str | Path, timeout_s: float = 60.0, screenshot: str | Path | None = None
) -> PageCheck:
    """Opens ``page`` and waits until every figure is drawn (or ``timeout_s`` passes); with
    ``screenshot`` saves a PNG of the whole page there."""
    driver.get_log("browser")  # drops what earlier pages logged
    start = time.perf_counter()
    driver.get(Path(page).resolve().as_uri())
    while True:
        figures = [FigureCheck(**f) for f in driver.execute_script(_FIGURES)]
        if all(f.ok for f in figures) or time.perf_counter() - start > timeout_s:
            break
        time.sleep(0.02)
    load_s = time.perf_counter() - start
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if screenshot is not None:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, min(int(height) + 40, 12000))
        driver.save_screenshot(str(screenshot))
    return PageCheck(errors, figures, load_s, driver.title)
