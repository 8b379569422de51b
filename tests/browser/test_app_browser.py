"""The real app in Debian chromium: pages load, a pair opens by click and by link, filters and
pages live in the URL, and dataset text full of injection attempts stays text.

The server is `python -m streamlit run app.py` on a free 127.0.0.1 port with CURATOR_DB pointing
at a filled temporary database; the browser is /usr/bin/chromium driven by playwright's sync API
(never `playwright install`). Skipped when chromium is missing. Screenshots of every page go to
test-artifacts/ (look at them). The server, browser and screenshot helpers are shared with the other
browser tests in browser_support.py; the fixtures wrapping them live here, not in a conftest.py:
sibling conftest.py files clash under the suite's --doctest-modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import (
    Recorder,
    appdata,
    chromium,
    open_page,
    recorded_page,
    require_chromium,
    serve_app,
    shoot,
    wait_for_app,
)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    folder = tmp_path_factory.mktemp("browser_db")
    with serve_app(appdata.build(folder / "browser.duckdb"), log_dir=folder) as url:
        yield url


@pytest.fixture(scope="module")
def chromium_browser(app_url: str) -> Iterator[object]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def app_page(chromium_browser: object) -> Iterator[tuple[object, Recorder]]:
    with recorded_page(chromium_browser) as page_and_recorder:
        yield page_and_recorder


ROW_HEIGHT, HEADER_HEIGHT = 35, 35
_shoot = shoot
_open = open_page


def _clean(rec: Recorder) -> None:
    rec.assert_clean()


def _click_row(pg: Page, row: int) -> None:
    grid = pg.get_by_test_id("stDataFrame")
    expect(grid).to_be_visible()
    pg.wait_for_timeout(300)
    grid.click(position={"x": 15, "y": HEADER_HEIGHT + ROW_HEIGHT * row + ROW_HEIGHT // 2})
    wait_for_app(pg)


def _pair_param(pg: Page) -> str | None:
    m = re.search(r"[?&]pair=([0-9a-f]+)", pg.url)
    return m.group(1) if m else None


def test_home_page(app_url, app_page, artifacts_dir):
    pg, rec = app_page
    _open(pg, app_url)
    expect(pg.get_by_role("heading", name="Curator")).to_be_visible()
    expect(pg.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(pg.get_by_role("tab", name="Upload a file")).to_be_visible()
    _shoot(pg, artifacts_dir, "home")
    _clean(rec)


def test_browse_click_a_row_opens_the_pair(app_url, app_page, artifacts_dir):
    pg, rec = app_page
    _open(pg, app_url + "/Browse")
    expect(pg.get_by_text(f"of {appdata.N_DEMO + 1} pairs")).to_be_visible()
    _shoot(pg, artifacts_dir, "browse")
    _click_row(pg, 2)
    expect(pg.get_by_role("heading", name="Pair", exact=True)).to_be_visible()
    pair_id = _pair_param(pg)
    assert pair_id == appdata.demo_records()[2].pair_id
    expect(pg.get_by_text("Chosen · response A")).to_be_visible()
    _shoot(pg, artifacts_dir, "browse_pair")
    # J steps to the next row, and the address bar follows
    pg.keyboard.press("j")
    wait_for_app(pg)
    expect(pg).to_have_url(re.compile(f"pair={appdata.demo_records()[3].pair_id}"))
    # a new page clears the selection and closes the pair
    pg.get_by_role("button", name="Page 2", exact=True).click()
    wait_for_app(pg)
    expect(pg).to_have_url(re.compile(r"page=2"))
    expect(pg.get_by_text("Select a row to see the whole pair.")).to_be_visible()
    assert _pair_param(pg) is None
    _clean(rec)


def test_direct_link_to_a_pair(app_url, app_page, artifacts_dir):
    pg, rec = app_page
    record = appdata.demo_records()[12]  # a conversation prompt, label b, on page 1
    _open(pg, f"{app_url}/Browse?pair={record.pair_id}")
    expect(pg.get_by_role("heading", name="Pair", exact=True)).to_be_visible()
    expect(pg.get_by_text(record.pair_id)).to_be_visible()
    expect(pg.get_by_text("Chosen · response B")).to_be_visible()
    expect(pg.get_by_test_id("stChatMessage")).to_have_count(4)
    _shoot(pg, artifacts_dir, "browse_deep_link")
    _clean(rec)


def test_injection_strings_render_as_text(app_url, app_page, artifacts_dir):
    pg, rec = app_page
    _open(pg, f"{app_url}/Browse?pair={appdata.injection_pair_id()}")
    expect(pg.get_by_role("heading", name="Pair", exact=True)).to_be_visible()
    main = pg.get_by_test_id("stMain")
    for view in ("Side by side", "Inline diff", "Raw text"):
        pg.get_by_role("radio", name=view, exact=True).click()
        wait_for_app(pg)
        expect(main.get_by_text("<script>alert('xss')</script>").first).to_be_visible()
        shown = main.inner_text().replace("\u2060", "")  # joiners keep bare URLs from becoming links
        for text in appdata.INJECTIONS:
            assert text in shown, (view, text)
        assert main.locator("script").count() == 0
        assert main.locator("img[src='x'], img[src*='evil']").count() == 0
        assert main.locator("a[href^='javascript'], a[href*='evil']").count() == 0
        assert main.locator(".katex, [data-testid='stMarkdownContainer'] strong:has-text('bold?')").count() == 0
        _shoot(pg, artifacts_dir, f"injection_{view.split()[0].lower()}")
    pg.wait_for_timeout(500)  # time for a late onerror/alert, if anything had been injected
    _clean(rec)


def test_filters_and_pages_live_in_the_url(app_url, app_page):
    pg, rec = app_page
    _open(pg, app_url + "/Browse")
    search = pg.get_by_test_id("stSidebar").get_by_label("Search text", exact=True)
    search.fill("poetry")
    search.press("Enter")
    wait_for_app(pg)
    expect(pg.get_by_text("of 40 pairs")).to_be_visible()
    expect(pg).to_have_url(re.compile(r"q=poetry"))
    # the URL is a shareable view: a fresh tab opens the same filtered result
    fresh = pg.context.new_page()
    fresh.goto(pg.url)
    wait_for_app(fresh)
    expect(fresh.get_by_text("of 40 pairs")).to_be_visible()
    fresh.close()
    # the chip removes the filter
    pg.get_by_role("button", name=re.compile("text contains")).click()
    wait_for_app(pg)
    expect(pg.get_by_text(f"of {appdata.N_DEMO + 1} pairs")).to_be_visible()
    _clean(rec)


def test_overview_and_dataset_choice_across_pages(app_url, app_page, artifacts_dir):
    pg, rec = app_page
    _open(pg, app_url + "/Overview")
    expect(pg.get_by_test_id("stPlotlyChart").first).to_be_visible()
    expect(pg.get_by_test_id("stPlotlyChart")).to_have_count(4)
    pg.wait_for_timeout(800)  # plotly draws after mount
    _shoot(pg, artifacts_dir, "overview")
    sidebar = pg.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    pg.get_by_role("option", name="raw").click()
    wait_for_app(pg)
    expect(pg.get_by_test_id("stPlotlyChart")).to_have_count(2)
    _shoot(pg, artifacts_dir, "overview_unlabelled")
    sidebar.get_by_role("link", name="Browse").click()
    wait_for_app(pg)
    expect(pg.get_by_text(f"of {appdata.N_RAW} pairs")).to_be_visible()
    expect(pg).to_have_url(re.compile(r"/Browse\?.*dataset=raw"))
    _clean(rec)


@pytest.mark.parametrize("path", ["/Browse", "/Overview"])
def test_direct_links_show_the_page_list(app_url, app_page, path):
    pg, rec = app_page
    _open(pg, app_url + path)
    nav = pg.get_by_test_id("stSidebar")
    for name in ("Browse", "Overview"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    _clean(rec)
