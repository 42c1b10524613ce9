"""The headless-browser helper itself: it sees overflow and undrawn charts, and passes pages without them."""

from __future__ import annotations

from pathlib import Path

from browser import Browser, browser  # noqa: F401 - the fixture

GOOD = """<!doctype html><html><head><meta name="viewport" content="width=device-width">
<style>body{margin:8px} .box{overflow-x:auto} svg{width:100%;height:auto}</style></head><body>
<div class="box"><table><tr><td style="white-space:nowrap">{wide}</td></tr></table></div>
<svg viewBox="0 0 100 50" aria-label="ok chart"><polyline points="0,40 50,10 100,30" fill="none" stroke="#00f"/>
</svg></body></html>"""

BAD = """<!doctype html><html><body>
<div id="wide" style="width:900px">x</div>
<svg width="200" height="100" aria-label="empty chart"><polyline points="0,40 50,10" fill="none" stroke="none"/>
<path d="M0 0 L10 10" stroke="transparent" fill="none"/><rect width="200" height="100" fill="none" stroke="#ccc"/>
</svg>
<svg width="200" height="100" aria-label="flat chart"><polyline points="0,40 100,40" fill="none" stroke="red"/></svg>
</body></html>"""


def test_good_page_passes(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    page = tmp_path / "good.html"
    page.write_text(GOOD.replace("{wide}", "x" * 400))
    for width in (1400, 420):
        browser.open(page, width=width)
        assert browser.inner_width == width
        assert browser.overflow() == []
        assert browser.charts_without_series() == []
        assert browser.chart_count() == 1


def test_bad_page_is_caught(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    page = tmp_path / "bad.html"
    page.write_text(BAD)
    browser.open(page, width=420)
    found = browser.overflow()
    assert found[0].startswith("page: scrollWidth")
    assert any(line.startswith("div#wide:") for line in found)
    # a horizontal line has zero height but is drawn; the chart with only a frame and invisible lines is not
    assert browser.charts_without_series() == ["empty chart: no visible series"]
