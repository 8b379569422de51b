"""The Features page hands a feature's decided pairs to Browse as its feature filter (in chromium):
Browse shows the same pairs with the filter's chip and activation column, on the dataset in view."""

from __future__ import annotations

import pytest
from browser_support import (
    appdata,
    chromium,
    open_page,
    recorded_page,
    require_chromium,
    serve_app,
    shoot,
    wait_for_app,
)
from playwright.sync_api import expect

from curator.features import decided_pairs, run_features
from curator.signals.features import FeatureConfig
from curator.store import Store

pytestmark = pytest.mark.browser


def test_features_open_in_browse_sets_the_feature_filter(tmp_path, artifacts_dir):
    require_chromium()
    db = appdata.build(tmp_path / "features.duckdb")
    store = Store(db)
    try:
        run = run_features(store, "demo", FeatureConfig(max_epochs=3)).run
        latent = store.feature_latents(run.run_id).to_pylist()[0]["latent"]  # the one the page shows first
        n = len(decided_pairs(store, run.run_id, latent))
    finally:
        store.close()
    assert n > 0
    with serve_app(db, log_dir=tmp_path, env={"CURATOR_USER": "local"}) as url, \
            chromium(expect_timeout_ms=30_000) as browser, recorded_page(browser) as (pg, rec):
        open_page(pg, f"{url}/Features?dataset=demo")
        expect(pg.get_by_role("heading", name="Features", exact=True)).to_be_visible()
        pg.get_by_role("button", name=f"Open the {n:,} pairs in Browse").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Browse pairs")).to_be_visible()
        expect(pg.get_by_text(f"of {n:,} pairs")).to_be_visible()
        expect(pg.get_by_role("button", name=f"feature {latent}: decides the pair")).to_be_visible()
        assert not pg.get_by_test_id("stException").count()
        shoot(pg, artifacts_dir, "browse_feature_filter")
        rec.assert_clean()
