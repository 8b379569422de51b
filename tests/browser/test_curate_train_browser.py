"""Curate -> export -> train in Debian chromium: build a selection, export it, start the embedded
training, watch its curve appear, find the run on the Jobs page. Screenshots go to test-artifacts/ (curate.png,
train.png, jobs.png).

Same setup as test_app_browser.py (browser_support.py: its own server on a free 127.0.0.1 port,
/usr/bin/chromium driven by playwright's sync API, skipped when chromium is missing), with a fresh database so the exports and
runs this test writes stay its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import appdata, chromium, recorded_page, require_chromium, serve_app, shoot, wait_for_app
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def curate_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require_chromium()
    folder = tmp_path_factory.mktemp("curate_browser")
    with serve_app(appdata.build(folder / "browser.duckdb"), log_dir=folder) as url:
        yield url, folder


def test_select_export_train(curate_url, artifacts_dir):
    url, folder = curate_url
    with chromium(expect_timeout_ms=60_000) as browser, recorded_page(browser) as (pg, rec):
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
        shoot(pg, artifacts_dir, "curate")
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
        shoot(pg, artifacts_dir, "train")
        # the run is a job: the Jobs page lists it with its kind (the grid's hidden copy holds the cells)
        pg.get_by_role("link", name="Jobs").click()
        wait_for_app(pg)
        expect(pg.get_by_test_id("stDataFrame").first.locator("td").filter(has_text="train:embedded")).to_have_count(1)
        shoot(pg, artifacts_dir, "jobs")
        rec.assert_clean()
