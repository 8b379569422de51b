"""Huge and tricky responses in Debian chromium: a megabyte on one line, 10,000 lines, and
bidirectional override characters. The pair opens with a cut preview and an explicit "show all";
the diff is bounded; the Raw view shows override characters as visible marks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from browser_support import chromium, open_page, recorded_page, require_chromium, serve_app, shoot, wait_for_app
from playwright.sync_api import expect

from curator.io.batch import batched
from curator.schema import PairRecord
from curator.store import Store

pytestmark = pytest.mark.browser

ONE_LINE = ("word " * 200_000).strip()  # 1 MB, no line break
MANY_LINES = "\n".join(f"line {i} of the answer" for i in range(10_000))
RTL = "access granted\u202e lennahc eht ot\u202c done"
RECORDS = (PairRecord(prompt="one line", response_a=ONE_LINE, response_b=ONE_LINE[:-4] + "other", label="a"),
           PairRecord(prompt="many lines", response_a=MANY_LINES, response_b=MANY_LINES.replace("7 of", "7 in"),
                      label="b"),
           PairRecord(prompt="bidi", response_a=RTL, response_b="plain", label="a"))


@pytest.fixture(scope="module")
def long_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    folder = tmp_path_factory.mktemp("long_text")
    store = Store(folder / "long.duckdb")
    store.ingest("long", batched(list(RECORDS), source="fixture"), source="long.jsonl", shape="explicit")
    store.close()
    with serve_app(folder / "long.duckdb", log_dir=folder, env={"CURATOR_USER": "local"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser(long_app: str) -> Iterator[object]:
    with chromium(expect_timeout_ms=60_000) as b:
        yield b


def _shown_chars(pg: object) -> int:
    return sum(len(t) for t in pg.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer'], "
                                          "[data-testid='stMain'] [data-testid='stCode']").all_inner_texts())


@pytest.mark.parametrize("record", RECORDS[:2], ids=["one-megabyte-line", "ten-thousand-lines"])
def test_a_huge_response_opens_cut_with_show_all(long_app, browser, record, artifacts_dir):
    with recorded_page(browser) as (pg, rec):
        start = time.perf_counter()
        open_page(pg, f"{long_app}/Browse?dataset=long&pair={record.pair_id}")
        expect(pg.get_by_text("Showing the first").first).to_be_visible()
        opened = time.perf_counter() - start
        print(f"{record.prompt}: opened in {opened:.1f} s")  # the bound is in the page, the figure in bench/
        assert _shown_chars(pg) < 40_000, "the whole text was drawn"
        shoot(pg, artifacts_dir, f"long-{record.prompt.replace(' ', '-')}")
        for view in ("Inline diff", "Raw text"):
            pg.get_by_role("radio", name=view, exact=True).click()
            wait_for_app(pg)
            assert _shown_chars(pg) < 40_000, f"{view}: the whole text was drawn"
        if record is RECORDS[1]:  # the full text on request
            pg.get_by_text("Show all").first.click()
            wait_for_app(pg)
            expect(pg.get_by_test_id("stCode").first).to_contain_text("line 9999 of the answer")
        assert not pg.get_by_test_id("stException").count()
        rec.assert_clean()


def test_bidi_overrides_are_visible_in_every_view(long_app, browser):
    with recorded_page(browser) as (pg, rec):
        open_page(pg, f"{long_app}/Browse?dataset=long&pair={RECORDS[2].pair_id}")
        for view in ("Raw text", "Side by side"):
            pg.get_by_role("radio", name=view, exact=True).click()
            wait_for_app(pg)
            expect(pg.get_by_test_id("stMain")).to_contain_text("⟦U+202E⟧")
            expect(pg.get_by_test_id("stMain")).to_contain_text("⟦U+202C⟧")
        rec.assert_clean()
