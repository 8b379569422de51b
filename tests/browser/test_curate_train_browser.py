"""Curate -> export -> train in Debian chromium: build a selection, export it, start the embedded
training, watch its curve appear. Screenshots go to test-artifacts/ (curate.png, train.png).

Same setup as test_app_browser.py (its own server on a free 127.0.0.1 port, /usr/bin/chromium driven
by playwright's sync API, skipped when chromium is missing), with a fresh database so the exports and
runs this test writes stay its own.
"""

from __future__ import annotations

import os
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
def curate_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) for browser tests")
    folder = tmp_path_factory.mktemp("curate_browser")
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
    yield url, folder
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _shoot(pg: Page, artifacts: Path, name: str) -> None:
    size = pg.viewport_size or {"width": 1400, "height": 900}
    content = pg.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], int(content) + 40)})
    wait_for_app(pg)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")
    pg.wait_for_timeout(800)
    pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    pg.set_viewport_size(size)


def test_select_export_train(curate_url, artifacts_dir):
    url, folder = curate_url
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=60_000)
    rec = Recorder()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        pg.on("request", lambda r: rec.requests.append(r.url))
        pg.goto(f"{url}/Curate")
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Curate")).to_be_visible()
        kept = pg.get_by_test_id("stMetric").filter(has_text="Pairs kept")
        expect(kept).to_contain_text("121")
        cap = pg.get_by_label("Max pairs per cluster (0 = off)")
        cap.fill("30")
        cap.press("Enter")
        wait_for_app(pg)
        expect(kept).to_contain_text("90")  # 3 clusters x 30
        _shoot(pg, artifacts_dir, "curate")
        pg.get_by_role("button", name="Export snapshot").click()
        wait_for_app(pg)
        expect(pg.get_by_text("Exported", exact=False).first).to_be_visible()
        assert len(list((folder / "exports").iterdir())) == 1

        pg.get_by_text("Train on an export").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Train")).to_be_visible()
        pg.get_by_role("button", name="Start training").click()
        wait_for_app(pg)
        # The run panel's status line (the runs table holds a hidden accessibility copy of "done" too).
        status = pg.get_by_test_id("stMarkdownContainer").filter(has_text="embedded · done")
        expect(status.first).to_be_visible(timeout=240_000)
        expect(pg.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        _shoot(pg, artifacts_dir, "train")
        browser.close()
    assert not rec.foreign(), f"requests left 127.0.0.1: {rec.foreign()}"
