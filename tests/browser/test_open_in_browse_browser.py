"""Every "open in Browse" button works on a dataset that is not the first one (in chromium).

The sidebar's dataset picker is bound to the URL; a bare `st.switch_page` ended in "Cannot clear
query parameters - the following are bound to widgets: 'dataset'" on any dataset but the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from browser_support import chromium, open_page, recorded_page, require_chromium, serve_app, wait_for_app
from playwright.sync_api import expect

from curator.io.batch import batched
from curator.schema import Judgement, PairRecord
from curator.store import Store

pytestmark = pytest.mark.browser


def build(folder: Path) -> Path:
    db = folder / "two.duckdb"
    store = Store(db)
    try:
        store.ingest("first", batched([PairRecord(f"first {i}", "a", "b", label="a") for i in range(3)],
                                      source="t"), source="first.jsonl", shape="explicit")
        second = [PairRecord(f"second {i}", f"answer a {i}", f"answer b {i}", label="a", judgements=(
            Judgement("human", "ann1", "a"), Judgement("human", "ann2", "b" if i % 3 == 0 else "a")))
            for i in range(12)]
        store.ingest("second", batched(second, source="t"), source="second.jsonl", shape="explicit")
        ids = [r.pair_id for r in second]
        pq.write_table(pa.table({"pair_id": ids, "margin": [(-1.0 if i % 3 == 0 else 1.0) for i in range(12)],
                                 "p_correct": [0.2 if i % 3 == 0 else 0.9 for i in range(12)],
                                 "cluster": [i % 2 for i in range(12)], "map_x": [float(i) for i in range(12)],
                                 "map_y": [float(i % 2) for i in range(12)],
                                 "flag_flipped": [i % 3 == 0 for i in range(12)]}), folder / "signals.parquet")
        store.load_signal_run(run_id="run-second", dataset="second", dataset_version=store.dataset_version("second"),
                              cache_key="k2", models=["bt-ensemble"], params={},
                              signals_path=folder / "signals.parquet")
    finally:
        store.close()
    return db


@pytest.fixture(scope="module")
def two_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    folder = tmp_path_factory.mktemp("two_datasets")
    with serve_app(build(folder), log_dir=folder, env={"CURATOR_USER": "local"}) as url:
        yield url


@pytest.mark.parametrize("page, button", [("Agreement", "Open these pairs in Browse"),
                                          ("Signals", "Browse the likely flipped pairs")])
def test_open_in_browse_keeps_the_second_dataset(two_url, page, button):
    with chromium(expect_timeout_ms=30_000) as browser, recorded_page(browser) as (pg, rec):
        open_page(pg, f"{two_url}/{page}?dataset=second")
        pg.get_by_role("button", name=button).click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Browse pairs")).to_be_visible()
        assert not pg.get_by_test_id("stException").count(), pg.get_by_test_id("stException").first.inner_text()
        assert "dataset=second" in pg.url
        expect(pg.get_by_text("of 4 pairs")).to_be_visible()  # the 4 disputed / flagged pairs of "second"
        rec.assert_clean()


def test_home_links_open_the_dataset_they_name(two_url):
    """The sidebar shows "first"; Home's "Browse second" opens second, not what the sidebar named."""
    with chromium(expect_timeout_ms=30_000) as browser, recorded_page(browser) as (pg, rec):
        open_page(pg, f"{two_url}/?dataset=first")
        pg.get_by_role("button", name="Browse second").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Browse pairs")).to_be_visible()
        expect(pg.get_by_text("of 12 pairs")).to_be_visible()
        assert "dataset=second" in pg.url
        open_page(pg, f"{two_url}/?dataset=second")
        pg.get_by_role("button", name="Overview of first").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Overview")).to_be_visible()
        expect(pg.get_by_test_id("stSidebar").get_by_text("3 pairs")).to_be_visible()
        assert not pg.get_by_test_id("stException").count()
        rec.assert_clean()
