"""Judgements for stored pairs from the Home page, in real chromium.

A PandaLM-style testset is uploaded together with its GPT-3.5 verdict file (both kept), then a
merged verdict file is added to the stored dataset on the "Add judgements" tab: the page reports
matched, added, already stored and unmatched records, and the Overview counts the labels.
"""

from __future__ import annotations

import json

import pytest
from browser_support import chromium, open_page, recorded_page, require_chromium, serve_app, shoot
from playwright.sync_api import expect

from curator.store import Store

pytestmark = pytest.mark.browser

N = 6


def test_upload_with_verdicts_then_add_judgements(tmp_path, artifacts_dir):
    require_chromium()
    rows = [{"idx": i, "instruction": f"task {i}", "input": "", "response1": f"first {i}", "response2": f"second {i}",
             "annotator1": 1, "annotator2": 2, "annotator3": 1} for i in range(N)]
    (tmp_path / "testset-v1.json").write_text(json.dumps(rows))
    (tmp_path / "gpt-3.5-turbo-testset-v1.json").write_text(
        json.dumps([{"idx": i, "gpt_result": "2", "gpt_reason": "clearer"} for i in range(N)]))
    merged = [{"id": r["idx"], "instruction": r["instruction"], "input": "", "response1": r["response1"],
               "response2": r["response2"], "human_labels": [1, 2, 1], "pandalm7b_label": 1} for r in rows]
    merged.append({**merged[0], "id": 99, "instruction": "a pair nobody stored"})
    (tmp_path / "pandalm_merged.jsonl").write_text("\n".join(json.dumps(r) for r in merged))
    db = tmp_path / "judgements.duckdb"
    with serve_app(db, log_dir=tmp_path, env={"CURATOR_USER": "local"}) as url, \
            chromium(expect_timeout_ms=60_000) as browser, recorded_page(browser) as (pg, rec):
        open_page(pg, url)
        pg.locator("input[type=file]").first.set_input_files(
            [str(tmp_path / "testset-v1.json"), str(tmp_path / "gpt-3.5-turbo-testset-v1.json")])
        pg.get_by_role("button", name="Import").click()
        expect(pg.get_by_text(f"{N} new pairs").first).to_be_visible()
        pg.get_by_role("tab", name="Add judgements").click()
        pg.locator("input[type=file]").nth(1).set_input_files(str(tmp_path / "pandalm_merged.jsonl"))
        pg.get_by_role("button", name="Add judgements").click()
        expect(pg.get_by_text(f"{N} of {N + 1} records matched stored pairs")).to_be_visible()
        expect(pg.get_by_text("unmatched record 6")).to_be_visible()
        shoot(pg, artifacts_dir, "add-judgements-home")
        open_page(pg, f"{url}/Overview")
        expect(pg.get_by_test_id("stMetric").filter(has_text="Labelled")).to_contain_text(str(N))
        shoot(pg, artifacts_dir, "add-judgements-overview")
        assert not pg.get_by_test_id("stException").count()
        rec.assert_clean()
    store = Store(db)
    try:
        (d,) = store.datasets()
        assert (d.pairs, d.human_judgements, d.ai_judgements) == (N, 3 * N, 2 * N)
    finally:
        store.close()
