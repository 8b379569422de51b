"""The Curate page under AppTest: preview follows the controls, save a recipe, export a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curator.ui import keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def page_db(curation, monkeypatch):
    path = curation.store.path
    curation.store.close()
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


def _run(at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(APP, default_timeout=60)
        at.switch_page(keys.CURATE_PAGE)
    at = at.run()
    assert not at.exception, at.exception
    return at


def _kept(at: AppTest) -> int:
    return int(next(m for m in at.metric if m.label == "Pairs kept").value.replace(",", ""))


def test_preview_follows_steps_and_exports(page_db):
    at = _run()
    assert at.title[0].value == "Curate"
    assert _kept(at) == 39  # the identical pair is dropped by default
    at.radio(key=keys.CUR_FLIPPED).set_value("drop")
    at = _run(at)
    assert _kept(at) == 35
    steps = at.dataframe[0].value
    assert steps["removed"].tolist() == [4, 1]
    at.text_input(key=keys.CUR_NAME).set_value("clean")
    at.button(key="cur.save").click()
    at = _run(at)
    assert any("Saved recipe" in s.value and "clean" in s.value for s in at.success)
    at.button(key="cur.export").click()
    at = _run(at)
    assert any("Exported" in s.value for s in at.success), [e.value for e in at.error]
    exports = list((page_db.parent / "exports").iterdir())
    assert len(exports) == 1 and (exports[0] / "train.parquet").exists()
    assert at.dataframe[-1].value["rows"].tolist() == [35]


def test_saved_recipe_loads_into_controls(page_db):
    from curator.curate import ClusterBalance, DropFlipped, Recipe, save_recipe
    from curator.schema import PairFilter
    from curator.store import Store

    store = Store(page_db)
    save_recipe(store, Recipe(name="capped", filter=PairFilter(signal_run="run1"),
                              steps=(DropFlipped(action="flip"), ClusterBalance(cap=3)), order="curriculum"))
    store.close()
    at = _run()
    at.selectbox(key=keys.CUR_SAVED).set_value("capped")
    at = _run(at)
    assert at.radio(key=keys.CUR_FLIPPED).value == "flip"
    assert at.number_input(key=keys.CUR_CLUSTER_CAP).value == 3
    assert _kept(at) == 12


def test_each_step_shows_the_pairs_it_drops_or_flips(page_db):
    at = _run()
    at.radio(key=keys.CUR_FLIPPED).set_value("flip")
    at = _run(at)
    steps = [e for e in at.expander if e.label.startswith("Step ")]
    assert len(steps) == 2 and "0 dropped, 4 flipped" in steps[0].label and "1 dropped, 0 flipped" in steps[1].label
    flipped = steps[0].dataframe[0].value
    assert flipped["change"].tolist() == ["flipped"] * 4 and flipped["dataset label"].tolist() == ["a"] * 4
    assert all(isinstance(p, str) and p for p in flipped["prompt"])  # the pairs' own text, as table cells
    assert steps[1].dataframe[0].value["change"].tolist() == ["dropped"]
