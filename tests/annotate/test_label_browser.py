"""The real app in Debian chromium: label three pairs with the keyboard alone, then see the labels on
the Agreement page. Screenshots go to test-artifacts/ (label-*.png, agreement.png).

Same server, chromium and screenshot helpers as tests/browser (browser_support.py, loaded by path);
skipped when chromium is missing.
"""

from __future__ import annotations

import importlib.util
import json
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


def test_each_pair_starts_with_an_empty_form(tmp_path, artifacts_dir):
    """Rationale, aspects, flags and strength given for one pair never ride along to the next."""
    bs.require_chromium()
    from playwright.sync_api import expect

    from curator.annotate.queue import create_queue
    from curator.schema import PairFilter
    from curator.store import Store

    db = bs.appdata.build(tmp_path / "form.duckdb")
    store = Store(db)
    create_queue(store, name="form", pair_ids=store.select_pair_ids(PairFilter(datasets=("raw",)), limit=2))
    store.close()
    with bs.serve_app(db, log_dir=tmp_path, drop_env=("CURATOR_USER",)) as url, \
            bs.chromium(expect_timeout_ms=30_000) as browser, \
            bs.recorded_page(browser, viewport={"width": 1400, "height": 1200}) as (pg, rec):
        bs.open_page(pg, f"{url}/Label?dataset=raw")
        expect(pg.get_by_text("0 of 2 labels")).to_be_visible()
        def details() -> None:  # the optional fields' expander (open it when a rerun closed it)
            bs.wait_for_app(pg)
            if not pg.get_by_label("Rationale").is_visible():
                pg.get_by_text("Aspects, rationale and flags (optional)").click()

        details()
        pg.get_by_label("Rationale").fill("A cites its source")
        pg.get_by_label("Rationale").press("Tab")  # commit the text area before the click
        details()
        pg.get_by_role("button", name="unsafe", exact=True).click()
        details()
        pg.get_by_text("slightly", exact=True).click()
        bs.wait_for_app(pg)
        pg.get_by_role("button", name="A is better").click()
        bs.wait_for_app(pg)
        expect(pg.get_by_text("1 of 2 labels")).to_be_visible()
        details()
        expect(pg.get_by_label("Rationale")).to_have_value("")
        expect(pg.get_by_label("Rationale")).to_be_visible()  # and the box stayed open
        _shoot(pg, artifacts_dir, "label-form-reset")
        pg.get_by_role("button", name="B is better").click()
        bs.wait_for_app(pg)
        expect(pg.get_by_text("2 of 2 labels")).to_be_visible()
        rec.assert_clean()
    store = Store(db)
    rows = store.latest_judgements(kind="human", annotator="local").to_pylist()
    store.close()
    assert len(rows) == 2, rows
    first, second = sorted(rows, key=lambda r: r["judgement_id"])
    details = [json.loads(r["details"]) if isinstance(r["details"], str) else r["details"] for r in (first, second)]
    assert first["rationale"] == "A cites its source"
    assert details[0]["strength_label"] == "slightly" and details[0]["flags"]
    assert second["rationale"] is None, "the second pair got the first pair's rationale"
    assert details[1]["strength_label"] == "clearly", "the second pair got the first pair's strength"
    assert not details[1].get("flags"), "the second pair got the first pair's flags"
