"""How long a huge pair takes to open in real chromium, and a huge text to draw.

1. The app on a store holding three pairs (a 1 MB single-line response, 10,000 lines, a normal
   pair): each pair's Browse view is opened `--repeats` times (warm: the first visit is dropped),
   timed from navigation until the page has finished drawing; then again with "Show all" on.
2. One text drawn by a bare Streamlit page, Curator's way (`curator.ui.text.show_text`: the cut
   preview) against the naive way (`st.markdown` of the whole escaped text, what the pair view
   did before), stopped at `--cap` seconds.

Needs Debian's chromium.

    python bench/bench_long_pair.py            # prints a table, then one JSON line
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
_spec = importlib.util.spec_from_file_location("browser_support", REPO / "tests" / "browser" / "browser_support.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)

from curator.io.batch import batched  # noqa: E402
from curator.schema import PairRecord  # noqa: E402
from curator.store import Store  # noqa: E402

PAIRS = {
    "1 MB on one line": PairRecord(prompt="one line", response_a=("word " * 200_000).strip(),
                                   response_b=("word " * 199_999) + "other", label="a"),
    "10,000 lines": PairRecord(prompt="many lines", label="b",
                               response_a="\n".join(f"line {i} of the answer" for i in range(10_000)),
                               response_b="\n".join(f"line {i} in the answer" for i in range(10_000))),
    "a normal pair": PairRecord(prompt="short", response_a="A short answer.", response_b="Another answer.", label="a"),
}


def _open(pg, url: str, *, show_all: bool) -> float:
    start = time.perf_counter()
    bs.open_page(pg, url)
    pg.get_by_role("heading", name="Responses").wait_for()
    if show_all:
        toggles = pg.get_by_text("Show all")
        if toggles.count():
            toggles.first.click()
            bs.wait_for_app(pg)
            pg.get_by_test_id("stCode").first.wait_for()
    bs.wait_for_app(pg)
    return time.perf_counter() - start


TEXT_PAGE = """
import sys
import streamlit as st
sys.path.insert(0, {repo!r})
from curator.ui.text import markdown_text, show_text
from bench.bench_long_pair import PAIRS
text = PAIRS[st.query_params["pair"]].response_a
if st.query_params["way"] == "naive":
    st.markdown(markdown_text(text))
else:
    show_text(text, key="t")
st.caption("drawn")
"""


def _text_page(folder: Path, browser, cap: float) -> dict[str, dict[str, float | None]]:
    import os
    import subprocess
    import urllib.parse

    page = folder / "text_page.py"
    page.write_text(TEXT_PAGE.format(repo=str(REPO)), encoding="utf-8")
    port = bs.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(page), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    out: dict[str, dict[str, float | None]] = {}
    try:
        time.sleep(5)
        for name in list(PAIRS)[:2]:
            out[name] = {}
            for way in ("curator", "naive", "curator"):  # the first curator visit warms the server up
                with bs.recorded_page(browser) as (pg, _):
                    start = time.perf_counter()
                    pg.goto(f"http://127.0.0.1:{port}/?pair={urllib.parse.quote(name)}&way={way}")
                    try:
                        pg.get_by_text("drawn", exact=True).wait_for(timeout=cap * 1000)
                        bs.wait_for_app(pg)
                        out[name][way] = round(time.perf_counter() - start, 2)
                    except Exception:  # playwright's TimeoutError: slower than the cap
                        out[name][way] = None
            shown = {w: (f"{t:.2f} s" if t is not None else f"> {cap:.0f} s") for w, t in out[name].items()}
            print(f"{name:>18}: drawn by show_text in {shown['curator']} · by st.markdown in {shown['naive']}",
                  flush=True)
    finally:
        os.killpg(proc.pid, 15)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=float, default=120.0, help="Seconds to wait for the naive drawing.")
    args = parser.parse_args()
    bs.require_chromium()
    folder = Path(tempfile.mkdtemp(prefix="bench_long_"))
    store = Store(folder / "long.duckdb")
    store.ingest("long", batched(list(PAIRS.values()), source="bench"), source="bench", shape="explicit")
    store.close()
    out: dict[str, dict[str, float]] = {}
    with bs.serve_app(folder / "long.duckdb", log_dir=folder, env={"CURATOR_USER": "local"}) as url, \
            bs.chromium(expect_timeout_ms=600_000) as browser:
        for name, record in PAIRS.items():
            link = f"{url}/Browse?dataset=long&pair={record.pair_id}"
            times = {}
            for show_all in (False, True):
                with bs.recorded_page(browser) as (pg, _):
                    _open(pg, link, show_all=show_all)  # warm-up: imports, caches, the diff
                    times[show_all] = statistics.median(_open(pg, link, show_all=show_all)
                                                        for _ in range(args.repeats))
            out[name] = {"preview_s": round(times[False], 2), "show_all_s": round(times[True], 2)}
            print(f"{name:>18}: opens in {times[False]:6.2f} s · with 'show all' {times[True]:6.2f} s", flush=True)
        texts = _text_page(folder, browser, args.cap)
    print(json.dumps({"pair_view": out, "text": texts}))


if __name__ == "__main__":
    main()
