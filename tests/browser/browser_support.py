"""Helpers for the browser tests: chromium settings, the test database module, waiting, recording."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

# The same small database the AppTest tests use (tests/pages/appdata.py), loaded by path.
_spec = importlib.util.spec_from_file_location("appdata", REPO / "tests" / "pages" / "appdata.py")
appdata = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(appdata)  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Requests and dialogs a page made: everything must stay on 127.0.0.1, no alert may fire."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []

    def foreign(self) -> list[str]:
        return [u for u in self.requests
                if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"]


def wait_for_app(pg: object) -> None:
    """Wait until the websocket is up and the script run is finished (Streamlit's own e2e recipe)."""
    pg.wait_for_timeout(250)  # type: ignore[attr-defined]
    pg.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(state="attached")  # type: ignore[attr-defined]
    pg.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")  # type: ignore[attr-defined]
