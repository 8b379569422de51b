"""Hostile dataset text on every page that shows it, in Debian chromium: it stays inert text.

One dataset whose prompts, responses, annotator names, queue name and cluster names hold script
tags, event handlers, ``javascript:`` links, remote images, HTML comments, Markdown headings and
tables, LaTeX, Streamlit directives and SQL fragments. Every payload that could run sets
``window.__curator_pwned``. Each page must: fire no dialog, leave the flag unset, send no request
off 127.0.0.1, put no <script>/<img>/<iframe>/javascript: link of ours into the DOM, and (where
the text is DOM text, not a canvas grid) show the literal strings.

Same setup as test_app_browser.py: its own server on a free 127.0.0.1 port, /usr/bin/chromium via
playwright's sync API, skipped when chromium is missing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Recorder, serve_app, wait_for_app
from playwright.sync_api import Page, expect

from curator.features import run_features
from curator.io.batch import batched
from curator.schema import Judgement, PairRecord
from curator.signals.features import FeatureConfig
from curator.store import Store

pytestmark = pytest.mark.browser

FLAG = "__curator_pwned"
HOSTILE = (
    f"<script>window.{FLAG}=1</script>",
    f"<img src=x onerror=window.{FLAG}=2>",
    f"[click me](javascript:window.{FLAG}=3)",
    f'<a href="javascript:window.{FLAG}=4">a link</a>',
    "![pixel](http://evil.example/pixel.png)",
    "<iframe src=http://evil.example/frame></iframe>",
    "<style>body{display:none}</style>",
    "<!-- a hidden comment -->",
    "# Not a heading",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "$\\frac{1}{2}$ and $$x^2$$",
    ":red[red?] :material/home: **bold?**",
    "'; DROP TABLE pairs; --",
    "100% of_the \\ backslash",
)
TEXT = "\n".join(HOSTILE)
ANNOTATORS = (f"<img src=y onerror=window.{FLAG}=5>", "'; DROP TABLE judgements; --")
CLUSTER_NAMES = (f"<script>window.{FLAG}=6</script>", f"<a href='javascript:window.{FLAG}=7'>c</a>",
                 "<img src=http://evil.example/c.png>")
QUEUE_NAME = f"<b>queue</b> <img src=q onerror=window.{FLAG}=8>"
# A dataset name is data too (`--name`, the upload form): widget labels, options and captions show it.
FEATURES_DATASET = "hostile-features"
DATASET_NAME = "md ![a](http://127.0.0.2/n.png) $x^2$ :red[r] <img src=z onerror=window.__curator_pwned=9>"


def hostile_records() -> list[PairRecord]:
    out = []
    for i in range(6):
        a, b = ("a", "b") if i % 2 else ("b", "a")
        out.append(PairRecord(
            prompt=f"Prompt {i}: {TEXT}", response_a=f"A{i}: {TEXT}", response_b=f"B{i}: " + "\n".join(reversed(HOSTILE)),
            label="a", split="train", metadata={"note": HOSTILE[0]},
            judgements=(Judgement("human", ANNOTATORS[0], a, rationale=HOSTILE[2]),
                        Judgement("human", ANNOTATORS[1], b, rationale=HOSTILE[1]))))
    return out


def hostile_feature_records(n: int = 60) -> list[PairRecord]:
    """Enough labelled pairs for a feature run; the chosen response is the longer one, with payloads in both."""
    out = []
    for i in range(n):
        long, short = f"{HOSTILE[i % 4]} {TEXT} detail {i} " * 2, f"{HOSTILE[(i + 1) % 4]} short {i}"
        a_long = i % 2 == 0
        out.append(PairRecord(prompt=f"Question {i}: {HOSTILE[i % len(HOSTILE)]}", response_a=long if a_long else short,
                              response_b=short if a_long else long, label="a" if a_long else "b", split="train"))
    return out


def build(folder: Path) -> Path:
    db = folder / "hostile.duckdb"
    store = Store(db)
    try:
        records = hostile_records()
        store.ingest("hostile", batched(records, source="fixture"), source="hostile.jsonl", shape="explicit")
        ids = [r.pair_id for r in records]
        n = len(ids)
        pq.write_table(pa.table({
            "pair_id": ids, "margin": [(-1.0 if i % 3 == 0 else 0.5 * i) for i in range(n)],
            "p_correct": [0.2 if i % 3 == 0 else 0.9 for i in range(n)], "cluster": [i % 3 for i in range(n)],
            "map_x": [float(i) for i in range(n)], "map_y": [float(i % 3) for i in range(n)],
            "flag_flipped": [i % 3 == 0 for i in range(n)]}), folder / "signals.parquet")
        pq.write_table(pa.table({"cluster": [0, 1, 2], "name": list(CLUSTER_NAMES), "size": [2, 2, 2],
                                 "terms": [json.dumps(list(HOSTILE[:2]))] * 3}), folder / "clusters.parquet")
        store.load_signal_run(run_id="run-hostile", dataset="hostile", dataset_version=store.dataset_version("hostile"),
                              cache_key="k", models=["bt-ensemble"], params={},
                              signals_path=folder / "signals.parquet", clusters_path=folder / "clusters.parquet")
        named = hostile_records()[:2]
        store.ingest(DATASET_NAME, batched([dataclasses.replace(r, prompt=r.prompt + " (named)") for r in named],
                                           source="fixture"), source="named.jsonl", shape="explicit")
        store.create_queue(queue_id="q-hostile", name=QUEUE_NAME, pair_ids=ids, annotators_per_pair=1,
                           claim_timeout_s=600)
        # Features name themselves from the data's words and show its pairs: a real feature run on hostile text.
        store.ingest(FEATURES_DATASET, batched(hostile_feature_records(), source="fixture"), source="features.jsonl",
                     shape="explicit")
        run_features(store, FEATURES_DATASET, FeatureConfig(max_epochs=3))
    finally:
        store.close()
    return db


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) for browser tests")
    folder = tmp_path_factory.mktemp("hostile_browser")
    db = build(folder)
    with serve_app(db, log_dir=folder, env={"CURATOR_USER": "local"}) as url:
        yield url


# Module scope: an open sync_playwright keeps its event loop running (see test_app_browser.py).
@pytest.fixture(scope="module")
def hostile_browser(hostile_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(hostile_browser: object) -> Iterator[tuple[Page, Recorder]]:
    context = hostile_browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    rec = Recorder()
    pg.on("request", lambda r: rec.requests.append(r.url))

    def on_dialog(d: object) -> None:
        rec.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()  # type: ignore[attr-defined]

    pg.on("dialog", on_dialog)
    yield pg, rec
    context.close()


def _open(pg: Page, url: str) -> None:
    pg.goto(url)
    wait_for_app(pg)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")


def assert_inert(pg: Page, rec: Recorder) -> None:
    """Nothing ran, nothing was fetched from elsewhere, no element of ours was made from dataset text."""
    pg.wait_for_timeout(600)  # time for a late onerror, if anything had been injected
    assert pg.evaluate(f"() => window.{FLAG}") is None, "a payload ran"
    assert not rec.dialogs, f"a dialog fired: {rec.dialogs}"
    assert not rec.foreign(), f"requests left 127.0.0.1: {rec.foreign()}"
    main = pg.get_by_test_id("stApp")
    assert main.locator("script:not([src])").filter(has_text=FLAG).count() == 0
    assert main.locator("iframe[src*='evil'], img[src='x'], img[src='y'], img[src='q'], img[src*='evil']").count() == 0
    assert main.locator("a[href^='javascript'], a[href*='evil']").count() == 0
    assert main.locator("style").filter(has_text="display:none").count() == 0
    md = "[data-testid='stMarkdownContainer']"
    assert main.locator(f"{md} .katex, {md} :is(h1, h2, h3):has-text('Not a heading'), {md} table").count() == 0


def shown_text(pg: Page) -> str:
    """The text of the page's Markdown and code blocks (not the grid's hidden accessibility cells)."""
    blocks = pg.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer'], "
                        "[data-testid='stMain'] [data-testid='stCode']").all_inner_texts()
    # joiners keep bare URLs from becoming links and "--" from becoming a dash
    return "\n".join(blocks).replace("\u2060", "").replace("\xa0", " ")


def assert_literal(shown: str, strings: tuple[str, ...], where: str) -> None:
    for s in strings:
        assert s in shown, (where, s)


def test_pair_view_shows_every_payload_as_text(hostile_url, page):
    pg, rec = page
    pair_id = hostile_records()[1].pair_id
    _open(pg, f"{hostile_url}/Browse?dataset=hostile&pair={pair_id}")
    expect(pg.get_by_role("heading", name="Pair", exact=True)).to_be_visible()
    for view in ("Side by side", "Inline diff", "Raw text"):
        pg.get_by_role("radio", name=view, exact=True).click()
        wait_for_app(pg)
        assert_literal(shown_text(pg), HOSTILE, view)
        assert_inert(pg, rec)


def test_browse_table_and_search_with_sql_fragments(hostile_url, page):
    pg, rec = page
    _open(pg, f"{hostile_url}/Browse?dataset=hostile")
    expect(pg.get_by_text("of 6 pairs")).to_be_visible()
    search = pg.get_by_test_id("stSidebar").get_by_label("Search text", exact=True)
    for term, count in (("'; DROP TABLE pairs; --", 6), ("100%", 6), ("of_the", 6), ("%", 6), ("_", 6),
                        ("no such text%", 0), ("A1: ", 1)):
        search.fill(term)
        search.press("Enter")
        wait_for_app(pg)
        expect(pg.get_by_text(f"of {count} pairs")).to_be_visible()
    search.fill("")
    search.press("Enter")
    wait_for_app(pg)
    expect(pg.get_by_text("of 6 pairs")).to_be_visible()  # the table survived the SQL fragments
    assert_inert(pg, rec)


def test_label_page_shows_the_pair_as_text(hostile_url, page):
    pg, rec = page
    _open(pg, f"{hostile_url}/Label?dataset=hostile")
    expect(pg.get_by_text("Response A", exact=True)).to_be_visible()
    shown = shown_text(pg)
    assert_literal(shown, HOSTILE, "label")
    assert_inert(pg, rec)


@pytest.mark.parametrize("path", ["Signals", "Map", "Agreement", "Curate", "Overview", "Routing"])
def test_pages_with_names_from_the_data_stay_inert(hostile_url, page, path):
    """Cluster names (legends, tables), annotator names (agreement), queue names: all from the data."""
    pg, rec = page
    _open(pg, f"{hostile_url}/{path}?dataset=hostile")
    expect(pg.get_by_test_id("stMain")).to_be_visible()
    pg.wait_for_timeout(800)  # plotly draws after mount
    assert not pg.get_by_test_id("stException").count(), shown_text(pg)[:2000]
    assert_inert(pg, rec)
    if path == "Map":
        legend = " ".join(pg.locator("g.legend text.legendtext").all_text_contents())
        assert_literal(legend, CLUSTER_NAMES, "map legend")


@pytest.mark.parametrize("path", ["", "Browse", "Overview", "Signals", "Map", "Jobs", "Label", "Agreement", "Routing",
                                  "Curate", "Train", "Features"])
def test_a_dataset_name_from_the_data_stays_inert(hostile_url, page, path):
    """Every page with the hostile-named dataset in view (no queue, no signals for it): nothing fetched."""
    from urllib.parse import quote

    pg, rec = page
    _open(pg, f"{hostile_url}/{path}?dataset={quote(DATASET_NAME)}")
    expect(pg.get_by_test_id("stMain")).to_be_visible()
    pg.wait_for_timeout(800)
    assert not pg.get_by_test_id("stException").count(), shown_text(pg)[:2000]
    assert_inert(pg, rec)
    assert pg.locator("[data-testid='stApp'] .katex").count() == 0, "the name rendered as math"


def test_features_page_shows_names_and_pairs_from_the_data_as_text(hostile_url, page):
    """Feature names come from the top pairs' words and the page shows those pairs: inert text too."""
    pg, rec = page
    _open(pg, f"{hostile_url}/Features?dataset={FEATURES_DATASET}")
    expect(pg.get_by_role("heading", name="Features").first).to_be_visible()
    pg.wait_for_timeout(800)  # the effect chart draws after mount
    assert not pg.get_by_test_id("stException").count(), shown_text(pg)[:2000]
    assert_inert(pg, rec)
    shown = shown_text(pg)
    assert any(s in shown for s in HOSTILE[:4]), shown[:2000]  # the top pairs' payloads are there, as text
