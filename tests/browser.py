"""A real browser for the HTML reports: Debian's headless Chromium driven by selenium.

    from browser import browser  # noqa: F401 - the fixture

    def test_report(browser: Browser, tmp_path: Path) -> None:
        browser.open(tmp_path / "report.html", width=420)
        assert browser.overflow() == []
        assert browser.charts_without_series() == []

Nothing is downloaded at run time: the driver is `/usr/bin/chromedriver` (or $CHROMEDRIVER) given explicitly,
so selenium-manager never runs. Without Chromium or its driver the tests skip, except with CI=true, where
they fail (`apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import unavailable

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
HEIGHT = 900

# Elements whose right edge passes the viewport, unless an ancestor clips or scrolls them (a table in its own
# scroll box is fine; the page itself scrolling sideways is not).
_OVERFLOW_JS = """
const vw = window.innerWidth;
const doc = document.documentElement;
const out = [];
const clips = (el) => {
  for (let p = el.parentElement; p && p !== document.body && p !== doc; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX)) {
      const r = p.getBoundingClientRect();
      return r.left >= -1 && r.right <= vw + 1;
    }
  }
  return false;
};
if (doc.scrollWidth > vw) out.push(`page: scrollWidth ${doc.scrollWidth} > innerWidth ${vw}`);
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if ((r.right > vw + 1 || r.left < -1) && !clips(el)) {
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    out.push(`${name}: left ${Math.round(r.left)} right ${Math.round(r.right)} (viewport ${vw})`);
  }
}
return out;
"""

# Charts with no drawn series: a series is an element matching the selector, laid out with a non-zero box,
# with a stroke (non-zero width) or a fill that is neither none nor transparent, and not hidden.
_SERIES_JS = """
const [chartSel, seriesSel] = arguments;
const invisible = (c) => !c || c === 'none' || c === 'transparent' || /rgba\\(.*,\\s*0\\)$/.test(c);
const shown = (el) => {
  const s = getComputedStyle(el);
  if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
  const r = el.getBoundingClientRect();
  if (r.width <= 0 && r.height <= 0) return false;
  const stroke = !invisible(s.stroke) && parseFloat(s.strokeWidth) > 0 && parseFloat(s.strokeOpacity) > 0;
  const fill = !invisible(s.fill) && parseFloat(s.fillOpacity) > 0;
  return stroke || fill;
};
const out = [];
document.querySelectorAll(chartSel).forEach((chart, i) => {
  const r = chart.getBoundingClientRect();
  const name = chart.getAttribute('aria-label') || chart.id || `chart ${i + 1}`;
  if (r.width <= 0 || r.height <= 0) { out.push(`${name}: not laid out (${r.width}x${r.height})`); return; }
  const drawn = [...chart.querySelectorAll(seriesSel)].filter(shown).length;
  if (drawn === 0) out.push(`${name}: no visible series`);
});
return out;
"""


def _which(names: tuple[str, ...], env: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if os.access(os.environ[env], os.X_OK) else None
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium tab; `open` a local file at a given viewport width, then ask it questions."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, path: Path | str, width: int, height: int = HEIGHT) -> None:
        # The device-metrics override makes window.innerWidth exactly `width` (a window size would include
        # the browser's frame); it survives navigation.
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.driver.get(Path(path).resolve().as_uri())
        self.driver.execute_script("return document.readyState")

    @property
    def inner_width(self) -> int:
        return int(self.driver.execute_script("return window.innerWidth"))

    def overflow(self) -> list[str]:
        """What sticks out sideways: the page wider than the viewport, and every element past its edge
        that no scrolling/clipping ancestor contains. Empty when nothing does."""
        return list(self.driver.execute_script(_OVERFLOW_JS))

    def charts_without_series(self, charts: str = "svg", series: str = "path, polyline, circle") -> list[str]:
        """Charts (CSS selector `charts`) in which no `series` element is visibly drawn; empty when all are."""
        return list(self.driver.execute_script(_SERIES_JS, charts, series))

    def chart_count(self, charts: str = "svg") -> int:
        return int(self.driver.execute_script("return document.querySelectorAll(arguments[0]).length", charts))

    def text(self, selector: str = "body") -> str:
        """The rendered (visible) text of the first element matching `selector`."""
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)


def start_browser() -> Any:
    """A selenium Chrome driver on the installed Chromium, or a skip (a failure with CI=true)."""
    chromium = _which(CHROMIUM_NAMES, "CHROMIUM")
    driver_path = _which(DRIVER_NAMES, "CHROMEDRIVER")
    if not chromium or not driver_path:
        unavailable("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", f"--window-size=1400,{HEIGHT}"):
        options.add_argument(arg)
    # An explicit driver path: selenium-manager (which downloads drivers) is never invoked.
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    driver = start_browser()
    try:
        yield Browser(driver)
    finally:
        driver.quit()
