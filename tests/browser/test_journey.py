"""The whole mission in Debian chromium against the real app on a fresh DuckDB file, one step after
the other, as a person would do it:

ingest a JSONL upload (Home) -> compute signals (Signals) -> lasso a cluster on the map (Map) and see
it become the Browse filter -> judge with the reward ensemble and route a human budget to a queue
(Routing) -> label three pairs with the keyboard (Label) -> see agreement (Agreement) -> export
(Curate) -> embedded training with its curve (Train), registered when done -> re-score the data with the
trained model.

It runs twice: on 200 demo pairs in a fresh file, and on real data, the first 600 pairs of HH-RLHF
helpful-base (../shared/data) imported as the second dataset of a file, so every link must keep the
dataset in view (the first one is what the sidebar falls back to).

Each step is asserted in the page, and at the end (the server stopped, so the DuckDB file is free) in
the database. Full-page screenshots of every step go to test-artifacts/journey-NN-*.png (look at
them). Server, browser and screenshots come from browser_support.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from browser_support import chromium, open_page, recorded_page, require_chromium, serve_app, shoot, wait_for_app
from playwright.sync_api import expect

from curator.train.rescore import MIN_HELD_OUT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_DEMO = 200
N_HH = 600
ANNOTATOR = "journey-annotator"
BUDGET_PERCENT = 5  # of 200 pairs: 10 to humans

# The most compact cluster trace of the map with at least 4 points (not the grey "none"): its points'
# bounding box in page pixels. k-means clusters of the embeddings need not be compact on the 2-D map.
_CLUSTER_POINTS_JS = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const box = gd.getBoundingClientRect();
  const L = gd._fullLayout;
  let best = null;
  for (const t of gd._fullData) {
    if (!t.x || t.name === 'none' || t.x.length < 4) continue;
    const px = Array.from(t.x).map(x => box.left + L.xaxis._offset + L.xaxis.l2p(x));
    const py = Array.from(t.y).map(y => box.top + L.yaxis._offset + L.yaxis.l2p(y));
    const c = {name: t.name, n: px.length, x0: Math.min(...px), x1: Math.max(...px), y0: Math.min(...py),
               y1: Math.max(...py)};
    c.area = (c.x1 - c.x0 + 16) * (c.y1 - c.y0 + 16);
    if (!best || c.area < best.area) best = c;
  }
  best.traces = gd._fullData.length;
  return best;
}"""


def _write_demo_upload(folder: Path) -> Path:
    """200 demo pairs (the project's generator) without their votes: no human or AI labels yet."""
    from curator.io.demo import write_demo

    files = write_demo(folder / "demo", n_pairs=N_DEMO, seed=7)
    out = folder / "journey.jsonl"
    with open(files.pairs_path, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            row.pop("votes", None)
            dst.write(json.dumps(row) + "\n")
    return out


def _write_hh_upload(folder: Path, shared_data: Path) -> Path:
    """The first 600 pairs of HH-RLHF helpful-base's test split, as the file a user would upload."""
    import gzip

    source = shared_data / "hh_rlhf" / "helpful-base" / "test.jsonl.gz"
    if not source.exists():
        pytest.skip(f"{source} is absent: the real-data journey needs ../shared/data (see its README)")
    out = folder / "hh-helpful.jsonl"
    with gzip.open(source, "rt", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for _, line in zip(range(N_HH), src, strict=False):
            dst.write(line)
    return out


def _first_dataset(db: Path) -> None:
    """A small dataset imported first, so the journey's dataset is not the one the app falls back to."""
    from curator.ingest import ingest_source
    from curator.io.demo import write_demo
    from curator.store import Store

    files = write_demo(db.parent / "first", n_pairs=40, seed=3)
    store = Store(db)
    try:
        ingest_source(store, files.pairs_path, name="a-first-dataset")
    finally:
        store.close()


def _metric(pg, label: str):
    return pg.get_by_test_id("stMetric").filter(has_text=label)


def _lasso(pg, x0: float, y0: float, x1: float, y1: float, *, pad: float = 8.0) -> None:
    """Drag a lasso (the map's default drag mode) around the rectangle, corner to corner."""
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    pg.mouse.move(x0, y0)
    pg.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)):
        pg.mouse.move(x, y, steps=12)
    pg.mouse.up()


@pytest.mark.parametrize("data", ["demo", "hh-helpful"])
def test_journey_ingest_to_rescore(tmp_path: Path, artifacts_dir: Path, request: pytest.FixtureRequest, data: str):
    require_chromium()
    db = tmp_path / "journey.duckdb"
    if data == "demo":
        upload, DATASET, N_PAIRS, prefix = _write_demo_upload(tmp_path), "journey", N_DEMO, "journey"
    else:
        upload, DATASET, N_PAIRS, prefix = _write_hh_upload(tmp_path, request.getfixturevalue("shared_data")), "hh-helpful", N_HH, "journey-hh"
        _first_dataset(db)
    shots: list[Path] = []
    started = time.monotonic()
    times: list[str] = []

    def done(name: str) -> None:
        times.append(f"{name} {time.monotonic() - started:.0f}s")
        print(f"journey: {times[-1]}", flush=True)

    with serve_app(db, log_dir=tmp_path, env={"CURATOR_USER": ANNOTATOR}) as url, \
            chromium(expect_timeout_ms=30_000) as browser, recorded_page(browser) as (pg, rec):
        # 1. Ingest: upload the JSONL on the Home page.
        open_page(pg, url)
        if data == "demo":
            expect(pg.get_by_text("This database has no pairs yet")).to_be_visible()
        pg.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(upload))  # the "Upload a file" tab
        expect(pg.get_by_text(upload.name)).to_be_visible()
        pg.get_by_label("Dataset name").fill(DATASET)
        pg.get_by_role("button", name="Import").click()
        wait_for_app(pg)
        expect(pg.get_by_test_id("stAlertContentSuccess")).to_contain_text(f"{N_PAIRS:,}")
        expect(pg.get_by_role("button", name=f"Browse {DATASET}")).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-01-ingest"))
        done("ingest")

        # 2. Signals: start the embedded-default job and wait for the run to arrive.
        open_page(pg, f"{url}/Signals?dataset={DATASET}")
        expect(pg.get_by_text("No signal run for this dataset yet")).to_be_visible()
        pg.get_by_role("button", name="Compute signals").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Reward margin")).to_be_visible(timeout=300_000)
        expect(pg.get_by_text(f"{N_PAIRS} pairs · models:")).to_be_visible()
        expect(pg.get_by_test_id("stAlertContentSuccess").filter(has_text="done")).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-02-signals"))
        done("signals")
        flagged = int(_metric(pg, "Likely flipped").get_by_test_id("stMetricValue").inner_text().replace(",", ""))
        if flagged:  # Signals -> Browse: the flag becomes Browse's filter, on this dataset
            pg.get_by_role("button", name="Browse the likely flipped pairs").click()
            wait_for_app(pg)
            expect(pg).to_have_url(re.compile(r"/Browse"))
            expect(pg.get_by_text(f"of {flagged:,} pairs")).to_be_visible()
            shots.append(shoot(pg, artifacts_dir, f"{prefix}-02b-browse-flipped"))

        # 3. Map: lasso the biggest cluster with the mouse; the selection becomes Browse's filter.
        open_page(pg, f"{url}/Map?dataset={DATASET}")
        chart = pg.get_by_test_id("stPlotlyChart").first
        expect(chart.locator(".js-plotly-plot")).to_be_visible()
        chart.scroll_into_view_if_needed()
        pg.wait_for_timeout(800)  # plotly draws after mount
        cluster = pg.evaluate(_CLUSTER_POINTS_JS)
        assert cluster["traces"] >= 2, cluster  # more than one cluster on the map
        assert 0 < cluster["n"] < N_PAIRS, cluster
        _lasso(pg, cluster["x0"], cluster["y0"], cluster["x1"], cluster["y1"])
        wait_for_app(pg)
        open_button = pg.get_by_role("button", name=re.compile(r"Open [\d,]+ selected pairs in Browse"))
        expect(open_button).to_be_visible()
        picked = int(re.search(r"Open ([\d,]+)", open_button.inner_text()).group(1).replace(",", ""))
        # every point of the cluster is inside the lasso, and the lasso did not take the whole map
        assert cluster["n"] <= picked < N_PAIRS, (cluster, picked)
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-03-map-lasso"))
        done("map")
        open_button.click()
        wait_for_app(pg)
        expect(pg).to_have_url(re.compile(r"/Browse"))
        expect(pg.get_by_text(f"of {picked:,} pairs")).to_be_visible()
        expect(pg.get_by_role("button", name=re.compile(f"Map selection: {picked:,} pairs"))).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-04-browse-lasso-filter"))
        done("browse")

        # 4. Routing: the reward ensemble judges every pair, then a 5% human budget goes to a queue.
        open_page(pg, f"{url}/Routing?dataset={DATASET}")
        pg.get_by_role("button", name="Judge every pair with the reward ensemble").click()
        wait_for_app(pg)
        slider = pg.get_by_role("slider")
        expect(slider).to_have_value("25")
        slider.focus()
        pg.keyboard.press("Home")
        for _ in range(BUDGET_PERCENT):
            pg.keyboard.press("ArrowRight")
        expect(slider).to_have_value(str(BUDGET_PERCENT))
        wait_for_app(pg)
        budget = N_PAIRS * BUDGET_PERCENT // 100
        expect(_metric(pg, "To humans")).to_contain_text(str(budget))
        expect(_metric(pg, "To the AI judge")).to_contain_text(str(N_PAIRS - budget))
        pg.get_by_label("Queue name").fill("journey routed")
        pg.get_by_role("button", name="Create queue").click()
        wait_for_app(pg)
        expect(pg.get_by_text(f"Queue journey routed: {budget} pairs to label.")).to_be_visible()
        # the estimate is checked against the dataset's own labels (the reward ensemble is the only judge)
        expect(pg.get_by_text(f"Checked against the dataset's labels on {N_PAIRS:,} pairs")).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-05-routing"))
        done("routing")

        # 5. Label: three pairs with the keyboard alone.
        open_page(pg, f"{url}/Label?dataset={DATASET}")
        expect(pg.get_by_text(f"Signed in as {ANNOTATOR}")).to_be_visible()
        expect(pg.get_by_text("Response A", exact=True)).to_be_visible()
        for i, key in enumerate(("a", "b", "t")):
            expect(pg.get_by_text(f"{i} of {budget} labels")).to_be_visible()
            pg.get_by_role("heading", name="Label").click()  # focus the page, not a text field
            pg.keyboard.press(key)
            wait_for_app(pg)
            expect(pg.get_by_text(f"{i + 1} of {budget} labels")).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-06-label"))
        done("label")

        # 6. Agreement: the three labels, one annotator.
        open_page(pg, f"{url}/Agreement?dataset={DATASET}")
        expect(_metric(pg, "Labels")).to_contain_text("3")
        expect(_metric(pg, "Annotators")).to_contain_text("1")
        expect(pg.get_by_test_id("stDataFrame").first).to_be_visible()
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-07-agreement"))
        done("agreement")

        # 7. Curate: export the whole labelled dataset with the signal run.
        open_page(pg, f"{url}/Curate?dataset={DATASET}")
        kept = _metric(pg, "Pairs kept")
        expect(kept).to_contain_text(f"of {N_PAIRS} filtered")
        n_kept = int(kept.get_by_test_id("stMetricValue").inner_text().replace(",", ""))
        assert 0 < n_kept <= N_PAIRS
        pg.get_by_role("button", name="Export snapshot").click()
        wait_for_app(pg)
        expect(pg.get_by_text("Exported", exact=False).first).to_be_visible()
        exports = list((tmp_path / "exports").iterdir())
        assert len(exports) == 1, exports
        from datasets import load_from_disk

        ds = load_from_disk(str(exports[0] / "hf"))
        assert sum(len(split) for split in ds.values()) == n_kept
        assert {"prompt", "chosen", "rejected"} <= set(ds["train"].column_names)
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-08-curate-export"))
        done("curate")

        # 8. Train: the embedded reward trainer on the export, with its curve.
        pg.get_by_role("link", name="Train on an export").click()
        wait_for_app(pg)
        expect(pg.get_by_role("heading", name="Train")).to_be_visible()
        pg.get_by_role("button", name="Start training").click()
        wait_for_app(pg)
        status = pg.get_by_test_id("stMarkdownContainer").filter(has_text="embedded · done")
        expect(status.first).to_be_visible(timeout=180_000)
        expect(pg.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        runs = sorted((tmp_path / "runs").glob("embedded-*"))  # signal jobs keep their folders there too
        assert len(runs) == 1, runs
        metrics = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines() if line]
        losses = [m["loss"] for m in metrics if "loss" in m]
        assert len(losses) >= 2 and losses[-1] < losses[0], losses  # a curve, and it goes down
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-09-train"))
        done("train")

        # 9. The finished run registered its model; re-score the dataset with it: a job whose result is a
        # new signal run.
        model_id = runs[0].name
        expect(pg.get_by_text(f"Registered as model {model_id}")).to_be_visible()
        pg.get_by_role("button", name="Re-score as a signal run").click()
        wait_for_app(pg)
        started_note = pg.get_by_test_id("stAlertContentInfo").filter(has_text=f"Re-scoring {DATASET} with {model_id}")
        expect(started_note).to_be_visible()
        rescore_job = re.search(r"as job (\S+);", started_note.inner_text()).group(1)
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-10-rescore-started"))
        # The Signals page follows the job and shows its run (the run id is the job id) once it is done.
        open_page(pg, f"{url}/Signals?dataset={DATASET}")
        expect(pg.get_by_text(f"Run {rescore_job} · {N_PAIRS} pairs · models: {model_id}")).to_be_visible(
            timeout=180_000)
        expect(pg.get_by_role("heading", name="Reward margin")).to_be_visible()
        # The model's training split is in-sample for it: the page says so, and calibrates on the other
        # labelled pairs when there are enough of them (all journey pairs are labelled).
        held_out = N_PAIRS - len(ds["train"])
        calibrated = held_out >= MIN_HELD_OUT
        note = (rf"Margins are calibrated log-odds: .* of the {held_out:,} labelled pairs it did not train on\. The "
                rf"{len(ds['train']):,} pairs it trained on are in-sample" if calibrated
                else r"None of the labelled pairs is out of sample for it")
        expect(pg.get_by_text(re.compile(note))).to_be_visible()
        # its disputed-pairs table shows the signals a re-score has, and no empty columns for the others
        headers = pg.get_by_test_id("stDataFrame").last.locator("th[role=columnheader]")  # the grid's hidden copy
        expect(headers.filter(has_text=re.compile(r"^P\(label right\)$"))).to_have_count(int(calibrated))
        expect(headers.filter(has_text=re.compile(r"^(issue_score|margin_std|cluster)$"))).to_have_count(0)
        shots.append(shoot(pg, artifacts_dir, f"{prefix}-11-rescored-signals"))
        done("rescore")
        rec.assert_clean()

    # The server is gone: the DuckDB file is free to read.
    from curator.schema import PairFilter
    from curator.store import Store

    store = Store(db)
    try:
        assert store.count_pairs(PairFilter(datasets=(DATASET,))) == N_PAIRS
        jobs = {j.job_id: j for j in store.jobs(limit=10, kind="signals")}
        assert len(jobs) == 2 and {j.status for j in jobs.values()} == {"done"}, jobs
        (upload,) = store.jobs(kind="import")  # the Home page's import ran as a job
        assert upload.status == "done" and upload.result["new_pairs"] == N_PAIRS
        assert jobs[rescore_job].run_id == rescore_job
        runs_by_id = {r.run_id: r for r in store.signal_runs(DATASET)}
        assert set(runs_by_id) == {j.run_id for j in jobs.values()}, runs_by_id
        assert list(runs_by_id[rescore_job].models) == [model_id]  # scored by the trained model alone
        for run_id in runs_by_id:
            assert store.signals(run_id, ("margin",)).num_rows == N_PAIRS
        first_run = next(r for r in runs_by_id if r != rescore_job)
        assert store.clusters(first_run).num_rows >= 2
        labels = store.latest_judgements(kind="human", dataset=DATASET).to_pylist()
        assert len(labels) == 3 and {r["annotator"] for r in labels} == {ANNOTATOR}, labels
        # shown A, shown B, tie: A and B are drawn per user, so one label is "tie" and two are a or b
        choices = sorted(r["choice"] for r in labels)
        assert choices.count("tie") == 1 and set(choices) - {"tie"} <= {"a", "b"}, labels
        ai = store.latest_judgements(kind="ai", dataset=DATASET)
        assert ai.num_rows == N_PAIRS  # the reward ensemble judged every pair
        assert [m.model_id for m in store.models()] == [model_id] and len(store.exports()) == 1
    finally:
        store.close()
    print(f"journey, time at the end of each step: {', '.join(times)}; screenshots: "
          f"{', '.join(p.name for p in shots)}")
