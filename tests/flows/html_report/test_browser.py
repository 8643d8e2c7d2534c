"""Every kind of report page opened in headless Chromium: no console error, every figure drawn
with its traces, no script injected from a spec or an error, a sortable table that sorts, and a
screenshot in the test's folder."""

from __future__ import annotations

import pytest

pytest.importorskip("plotly", reason="HTML reports need plotly (pip install 'symnas[report]')")

from symnas.flows.html_browser import check_page, chromium, missing_browser  # noqa: E402

REASON = missing_browser()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no browser check: {REASON}")

# Page kind: figures it draws.
PAGES = {
    "search": 3,  # history, importance, values among the top trials
    # 8 outer trials: too few for importance (20), so history, values among the top trials,
    # and for the 3-objective search the Pareto front and the hypervolume.
    "nested": 4,
    "darts": 3,  # history, training curves, architecture weights
    "fewshot": 3,  # training curves, two split trees
    "failed": 1,  # history (failed trials only)
    "pruned": 3,  # history with a pruned trace, learning curves, values among the top trials
    "empty": 0,
}


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.mark.parametrize("kind", list(PAGES))
def test_page_renders_in_chromium_without_errors(kind, pages, browser, tmp_path):
    page = pages[kind][0]
    check = check_page(browser, page, screenshot=tmp_path / f"{kind}.png")
    assert check.errors == []
    assert len(check.figures) == PAGES[kind]
    for figure in check.figures:
        assert figure.ok, figure
    assert browser.execute_script("return window.symnasInjected === undefined")
    assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
    if kind == "search":
        _check_sorting(browser)


def _check_sorting(browser) -> None:
    """The best-trials table sorts by trial id on a click of its header, and back on another."""
    from selenium.webdriver.common.by import By

    table = browser.find_element(By.CSS_SELECTOR, "table.sortable")
    header = table.find_elements(By.CSS_SELECTOR, "th")[1]  # trial id

    def ids() -> list[int]:
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        return [int(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows]

    ranked = ids()
    header.click()
    assert ids() == sorted(ranked)
    header.click()
    assert ids() == sorted(ranked, reverse=True)


def test_the_check_reports_console_errors_and_figures_short_of_traces(browser, tmp_path):
    import plotly.graph_objects as go

    from symnas.flows.html_page import Page

    page = Page("broken")
    page.figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    text = page.render().replace('data-traces="1"', 'data-traces="2"')
    text = text.replace("</body>", "<script>console.error('boom');</script></body>")
    (tmp_path / "broken.html").write_text(text)
    check = check_page(browser, tmp_path / "broken.html", timeout_s=1)
    assert len(check.errors) == 1 and "boom" in check.errors[0]
    [figure] = check.figures
    assert figure.traces == 1 and figure.expected == 2 and not figure.ok
