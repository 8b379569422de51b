"""The real app in Debian chromium: label three pairs with the keyboard alone, then see the labels on
the Agreement page. Screenshots go to test-artifacts/ (label-*.png, agreement.png).

Same server and chromium settings as tests/browser (its helpers are loaded by path); skipped when
chromium is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("browser_support", REPO / "tests" / "browser" / "browser_support.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def label_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not bs.CHROMIUM.exists():
        pytest.skip(f"{bs.CHROMIUM} not found: install Debian's chromium for browser tests")
    from curator.annotate.queue import create_queue
    from curator.schema import PairFilter
    from curator.store import Store

    folder = tmp_path_factory.mktemp("label_db")
    db = bs.appdata.build(folder / "label.duckdb")
    store = Store(db)
    create_queue(store, name="keyboard", pair_ids=store.select_pair_ids(PairFilter(datasets=("raw",)), limit=3))
    store.close()  # the server process opens the file next
    port = bs.free_port()
    log = open(folder / "streamlit.log", "w")  # noqa: SIM115 (closed at teardown)
    env = {k: v for k, v in os.environ.items() if k != "CURATOR_USER"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**env, "CURATOR_DB": str(db), "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"streamlit did not start: {(folder / 'streamlit.log').read_text()[-3000:]}") from None
            time.sleep(0.25)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _shoot(pg: object, artifacts: Path, name: str) -> None:
    bs.wait_for_app(pg)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_label_three_pairs_by_keyboard_then_see_agreement(label_app, artifacts_dir):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(bs.CHROMIUM), headless=True, args=bs.CHROMIUM_ARGS)
        try:
            pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            rec = bs.Recorder()
            pg.on("request", lambda r: rec.requests.append(r.url))
            pg.goto(f"{label_app}/Label?dataset=raw")
            bs.wait_for_app(pg)
            expect(pg.get_by_role("heading", name="Label")).to_be_visible()
            expect(pg.get_by_text("Response A", exact=True)).to_be_visible()
            _shoot(pg, artifacts_dir, "label-1-first-pair")
            for i, key in enumerate(("a", "b", "t")):
                expect(pg.get_by_text(f"{i} of 3 labels")).to_be_visible()
                pg.get_by_role("heading", name="Label").click()  # focus the page, not a text field
                pg.keyboard.press(key)
                bs.wait_for_app(pg)
                expect(pg.get_by_text(f"{i + 1} of 3 labels")).to_be_visible()
            expect(pg.get_by_text("Nothing left for you in this queue")).to_be_visible()
            _shoot(pg, artifacts_dir, "label-2-done")

            pg.goto(f"{label_app}/Agreement?dataset=raw")
            bs.wait_for_app(pg)
            expect(pg.get_by_role("heading", name="Agreement")).to_be_visible()
            labels = pg.get_by_test_id("stMetric").filter(has_text="Labels")
            expect(labels).to_contain_text("3")
            expect(pg.get_by_test_id("stMetric").filter(has_text="Annotators")).to_contain_text("1")
            _shoot(pg, artifacts_dir, "agreement")
            assert not rec.foreign(), f"requests left 127.0.0.1: {rec.foreign()}"
        finally:
            browser.close()
