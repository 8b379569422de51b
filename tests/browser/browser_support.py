"""Helpers for the browser tests: chromium settings, the test database module, the app server, the
browser, pages that record what they request, waiting and screenshots.

Plain functions and context managers, not fixtures: the browser tests live in several folders, and
sibling conftest.py files clash under the suite's --doctest-modules. Each test module wraps these in
its own small module-scoped fixtures.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}

# The same small database the AppTest tests use (tests/pages/appdata.py), loaded by path.
_spec = importlib.util.spec_from_file_location("appdata", REPO / "tests" / "pages" / "appdata.py")
appdata = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(appdata)  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Skip the calling test (or fixture) when Debian's chromium is not installed."""
    if not CHROMIUM.exists():
        import pytest

        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) for browser tests")


@contextmanager
def serve_app(db: Path, *, log_dir: Path, env: Mapping[str, str] | None = None,
              drop_env: Iterable[str] = (), start_timeout: float = 60.0) -> Iterator[str]:
    """`streamlit run app.py` on a free 127.0.0.1 port against the DuckDB file `db`; yields its URL.

    Returns once ``/_stcore/health`` answers ``ok``; the server's output goes to
    ``log_dir/streamlit.log`` (quoted when it does not start). The process group is ended on exit,
    also when the body raised. `env` adds variables, `drop_env` removes inherited ones.
    """
    port = free_port()
    log_path = Path(log_dir) / "streamlit.log"
    base = {k: v for k, v in os.environ.items() if k not in set(drop_env)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**base, **(env or {}), "CURATOR_DB": str(db), "PYTHONPATH": str(REPO)})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + start_timeout
            while True:
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"streamlit did not start; log: {log_path.read_text()[-3000:]}") from None
                    time.sleep(0.25)
            yield url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """End the server and anything it started (job workers, training runs) in its session."""
    import signal

    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def chromium(*, expect_timeout_ms: int = 20_000) -> Iterator[Any]:
    """Debian's chromium through playwright's sync API (never `playwright install`).

    Open it once per module (a module-scoped fixture): an open sync_playwright keeps its event loop
    running, and a second sync_playwright() in the same thread refuses to start. `expect_timeout_ms`
    is the default wait of `expect(...)`; first visits import plotly and warm DuckDB, which on two
    shared cores can take several seconds.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=expect_timeout_ms)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Recorder:
    """Requests and dialogs a page made: everything must stay on 127.0.0.1, no alert may fire."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []

    def foreign(self) -> list[str]:
        return [u for u in self.requests
                if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"]

    def assert_clean(self) -> None:
        assert not self.dialogs, f"a dialog fired: {self.dialogs}"
        assert not self.foreign(), f"requests left 127.0.0.1: {self.foreign()}"


@contextmanager
def recorded_page(browser: Any, *, viewport: Mapping[str, int] = VIEWPORT) -> Iterator[tuple[Any, Recorder]]:
    """A page in a fresh browser context, with a Recorder of its requests and (dismissed) dialogs."""
    context = browser.new_context(viewport=dict(viewport))
    pg = context.new_page()
    rec = Recorder()
    pg.on("request", lambda r: rec.requests.append(r.url))

    def on_dialog(d: Any) -> None:
        rec.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    try:
        yield pg, rec
    finally:
        context.close()


def wait_for_app(pg: Any) -> None:
    """Wait until the websocket is up and the script run is finished (Streamlit's own e2e recipe)."""
    pg.wait_for_timeout(250)
    pg.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(state="attached")
    pg.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")


def open_page(pg: Any, url: str) -> None:
    pg.goto(url)
    wait_for_app(pg)


def shoot(pg: Any, artifacts: Path, name: str, *, height: int | None = None, settle_ms: int = 600) -> Path:
    """Full-page screenshot to ``artifacts/<name>.png``; returns the path.

    Streamlit scrolls inside its main block, so the viewport grows to fit it (or to `height`) for
    the shot. Elements mount lazily (skeletons first): waits until none is left, then `settle_ms`
    for plotly and the grid to paint.
    """
    size = pg.viewport_size or dict(VIEWPORT)
    _settle(pg, settle_ms)  # measure the page as drawn, not halfway through a rerun
    content = pg.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], height or int(content) + 40)})
    _settle(pg, settle_ms)
    path = Path(artifacts) / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    pg.set_viewport_size(size)
    return path


def _settle(pg: Any, ms: int) -> None:
    wait_for_app(pg)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")
    pg.wait_for_timeout(ms)
