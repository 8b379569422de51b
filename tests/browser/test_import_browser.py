"""An upload's import is a job: leaving the Home page mid-import does not drop it.

Real chromium uploads a 40,000-pair file, sees the progress bar, goes to Browse at once, and the
import still finishes: every pair is stored, the Jobs page lists the import as done.
"""

from __future__ import annotations

import json

import pytest
from browser_support import chromium, open_page, recorded_page, require_chromium, serve_app, shoot, wait_for_app
from playwright.sync_api import expect

from curator.store import Store

pytestmark = pytest.mark.browser

N = 40_000


def test_leaving_home_during_an_import_keeps_it(tmp_path, artifacts_dir):
    require_chromium()
    upload = tmp_path / "big prefs.jsonl"
    upload.write_text("\n".join(json.dumps({"prompt": f"question {i} " + "word " * 20, "chosen": f"good answer {i}",
                                            "rejected": f"bad answer {i}"}) for i in range(N)), encoding="utf-8")
    db = tmp_path / "import.duckdb"
    with serve_app(db, log_dir=tmp_path, env={"CURATOR_USER": "local"}) as url, \
            chromium(expect_timeout_ms=60_000) as browser, recorded_page(browser) as (pg, rec):
        open_page(pg, url)
        pg.locator("input[type=file]").set_input_files(str(upload))
        expect(pg.get_by_text("big prefs.jsonl")).to_be_visible()
        pg.get_by_role("button", name="Import").click()
        expect(pg.get_by_text("Importing").first).to_be_visible()
        shoot(pg, artifacts_dir, "import-running", settle_ms=100)
        pg.get_by_role("link", name="Browse").click()  # leave the page while the import runs
        wait_for_app(pg)
        open_page(pg, f"{url}/Jobs")
        expect(pg.get_by_test_id("stDataFrame")).to_be_visible()
        for _ in range(120):
            if pg.get_by_test_id("stDataFrame").get_by_text("done").count():
                break
            pg.wait_for_timeout(1000)
        shoot(pg, artifacts_dir, "import-jobs-page")
        open_page(pg, url)
        expect(pg.get_by_text("big_prefs").first).to_be_visible()
        assert not pg.get_by_test_id("stException").count()
        rec.assert_clean()
    store = Store(db)
    try:
        assert store.dataset_version("big_prefs") == 1
        assert {d.name: d.pairs for d in store.datasets()} == {"big_prefs": N}
        (job,) = store.jobs(kind="import")
        assert job.status == "done" and job.result["new_pairs"] == N
    finally:
        store.close()
