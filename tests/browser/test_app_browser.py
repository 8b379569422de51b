"""The real app in Debian chromium: pages load, a pair opens by click and by link, filters and
pages live in the URL, and dataset text full of injection attempts stays text.

The server is `python -m streamlit run app.py` on a free 127.0.0.1 port with CURATOR_DB pointing
at a filled temporary database; the browser is /usr/bin/chromium driven by playwright's sync API
(never `playwright install`). Skipped when chromium is missing. Screenshots of every page go to
test-artifacts/ (look at them). The fixtures live here, not in a conftest.py: sibling conftest.py
files clash under the suite's --doctest-modules.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, REPO, Recorder, appdata, free_port, wait_for_app
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) for browser tests")
    folder = tmp_path_factory.mktemp("browser_db")
    db = appdata.build(folder / "browser.duckdb")
    port = free_port()
    log = open(folder / "streamlit.log", "w")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "CURATOR_DB": str(db), "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"streamlit did not start; log: {(folder / 'streamlit.log').read_text()[-3000:]}"
                                   ) from None
            time.sleep(0.25)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


# Module scope: an open sync_playwright keeps its event loop running, and a later module's
# sync_playwright() in the same process would refuse to start.
@pytest.fixture(scope="module")
def chromium_browser(app_url: str) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # First visits import plotly and warm DuckDB; on 2 shared cores that can take several seconds.
    expect.set_options(timeout=20_000)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def app_page(chromium_browser: object) -> Iterator[tuple[object, Recorder]]:
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    rec = Recorder()
    pg.on("request", lambda r: rec.requests.append(r.url))

    def on_dialog(d: object) -> None:
        rec.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()  # type: ignore[attr-defined]

    pg.on("dialog", on_dialog)
    yield pg, rec
    context.close()


ROW_HEIGHT, HEADER_HEIGHT = 35, 35


def _shoot(pg: Page, artifacts: Path, name: str, *, height: int | None = None) -> None:
    """Full-page screenshot; Streamlit scrolls inside its main block, so grow the viewport to fit."""
    size = pg.viewport_size or {"width": 1400, "height": 900}
    content = pg.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], height or int(content) + 40)})
    wait_for_app(pg)
    # Elements mount lazily (skeletons first); wait until none is left, then let plotly and the grid paint.
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")
    pg.wait_for_timeout(600)
    pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    pg.set_viewport_size(size)


def _open(pg: Page, url: str) -> None:
    pg.goto(url)
    wait_for_app(pg)


def _clean(rec: Recorder) -> None:
    assert not rec.dialogs, f"a dialog fired: {rec.dialogs}"
    assert not rec.foreign(), f"requests left 127.0.0.1: {rec.foreign()}"


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
    search = pg.get_by_test_id("stSidebar").get_by_label("Search text")
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
