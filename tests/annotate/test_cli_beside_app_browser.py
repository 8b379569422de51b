"""The command line beside a running app: while five annotators label in chromium (the sessions of
test_label_concurrency_browser.py), `curator ingest` and `curator export` run on the app's
database file from other processes. They hand their work to the app (curator/jobs/handoff.py),
and afterwards every label and every imported pair is in the database.
Screenshots: test-artifacts/cli-beside-app-*.png; timings: test-artifacts/cli-beside-app.json."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


team = _load("label_concurrency", REPO / "tests" / "annotate" / "test_label_concurrency_browser.py")
bs = team.bs
team_app = team.team_app  # the fixture: the app with OIDC sign-in on a test database

pytestmark = pytest.mark.browser

N_IMPORTED = 500


class _Cli:
    """`curator ARGS` in its own process, collected by a thread (its duration is its own)."""

    def __init__(self, *args: object) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("CURATOR_DB", None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "curator", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        self.out, self.err = self.proc.communicate(timeout=300)
        self.seconds = round(time.monotonic() - self.started, 1)

    def result(self) -> tuple[str, float]:
        self.thread.join(310)
        assert self.proc.returncode == 0, f"{self.proc.args}: {self.err}"
        assert "is open in the Curator app" in self.err  # it did hand its work over
        return self.out, self.seconds


def test_cli_ingest_and_export_while_five_annotators_label(team_app, artifacts_dir, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from curator.curate import Recipe
    from curator.schema import PairFilter

    source = tmp_path / "next-batch.jsonl"
    source.write_text("".join(json.dumps({"prompt": f"next batch prompt {i}", "chosen": f"a good answer {i}",
                                          "rejected": f"a bad answer {i}"}) + "\n" for i in range(N_IMPORTED)),
                      encoding="utf-8")
    recipe = tmp_path / "demo.json"  # the labelled dataset (the queue labels "raw")
    recipe.write_text(Recipe(name="demo", filter=PairFilter(datasets=("demo",))).to_json(), encoding="utf-8")
    url = team_app.url
    expect.set_options(timeout=60_000)
    timings: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(bs.CHROMIUM), headless=True, args=bs.CHROMIUM_ARGS)
        try:
            pages = []
            for user in team.USERS:
                context = browser.new_context(viewport={"width": 1300, "height": 950})
                context.set_default_timeout(90_000)
                pg = context.new_page()
                team._sign_in(pg, url, user)
                pages.append(pg)
            ingest = _Cli("ingest", source, "--db", team_app.db, "--name", "next-batch", "-q")
            export = _Cli("export", "--db", team_app.db, "--recipe", recipe, "--out", tmp_path / "exports",
                          "--json")
            pressed: dict[str, list[str]] = {u: [] for u in team.USERS}
            label_started = time.monotonic()
            for step in range(team.PER_USER):  # the annotators label while both commands run
                before = []
                for i, pg in enumerate(pages):
                    before.append(team._item_caption(pg))
                    pg.get_by_role("heading", name="Label").click()
                    key = "abt"[(step + i) % 3]
                    pg.keyboard.press(key)
                    pressed[team.USERS[i]].append(key)
                for pg, caption in zip(pages, before, strict=True):
                    bs.wait_for_app(pg)
                    caption_now = pg.get_by_text(team.CAPTION)
                    if step < team.PER_USER - 1 or caption_now.count():
                        expect(caption_now).not_to_have_text(caption)
            timings["labelling_s"] = round(time.monotonic() - label_started, 1)
            out, timings["cli_ingest_s"] = ingest.result()
            assert f"next-batch: {N_IMPORTED} new pairs" in out
            out, timings["cli_export_s"] = export.result()
            exported = json.loads(out)
            out, timings["cli_stats_s"] = _Cli("stats", "--db", team_app.db, "--json").result()
            counts = {d["name"]: d["pairs"] for d in json.loads(out)["datasets"]}
            assert counts["next-batch"] == N_IMPORTED
            for i, pg in enumerate(pages):
                bs.wait_for_app(pg)
                assert not pg.get_by_test_id("stException").count()  # no annotator saw an error
                pg.screenshot(path=str(artifacts_dir / f"cli-beside-app-{i + 1}.png"), full_page=True)
        finally:
            browser.close()
    team_app.stop()

    from curator.store import Store

    store = Store(team_app.db)
    try:
        rows = [r for pid in team_app.pair_ids for r in store.judgements(pid).to_pylist()
                if r["kind"] == "human" and r["source"] == f"queue:{team_app.queue_id}"]
        assert store.count_pairs(PairFilter(datasets=("next-batch",))) == N_IMPORTED
        assert store.count_pairs(PairFilter(search="next batch")) == N_IMPORTED
        demo_pairs = store.count_pairs(PairFilter(datasets=("demo",)))
    finally:
        store.close()
    assert Counter(r["annotator"] for r in rows) == {u: team.PER_USER for u in team.USERS}  # every label kept
    shown = Counter((r["annotator"], json.loads(r["details"])["shown_choice"]) for r in rows)
    expected = Counter((u, {"a": "A", "b": "B", "t": "tie"}[k]) for u, keys in pressed.items() for k in keys)
    assert shown == expected
    assert 0 < exported["train"] + exported["test"] <= demo_pairs and Path(exported["path"]).is_dir()
    (artifacts_dir / "cli-beside-app.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
    print("timings:", timings)
