"""The real app in Debian chromium: label three pairs with the keyboard alone, then see the labels on
the Agreement page. Screenshots go to test-artifacts/ (label-*.png, agreement.png).

Same server, chromium and screenshot helpers as tests/browser (browser_support.py, loaded by path);
skipped when chromium is missing.
"""

from __future__ import annotations

import importlib.util
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
    bs.require_chromium()
    from curator.annotate.queue import create_queue
    from curator.schema import PairFilter
    from curator.store import Store

    folder = tmp_path_factory.mktemp("label_db")
    db = bs.appdata.build(folder / "label.duckdb")
    store = Store(db)
    create_queue(store, name="keyboard", pair_ids=store.select_pair_ids(PairFilter(datasets=("raw",)), limit=3))
    store.close()  # the server process opens the file next
    with bs.serve_app(db, log_dir=folder, drop_env=("CURATOR_USER",)) as url:
        yield url


def _shoot(pg: object, artifacts: Path, name: str) -> None:
    bs.shoot(pg, artifacts, name, settle_ms=500)


def test_label_three_pairs_by_keyboard_then_see_agreement(label_app, artifacts_dir):
    from playwright.sync_api import expect

    with bs.chromium(expect_timeout_ms=30_000) as browser, \
            bs.recorded_page(browser, viewport={"width": 1400, "height": 1000}) as (pg, rec):
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
        rec.assert_clean()
