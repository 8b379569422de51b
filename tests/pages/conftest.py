"""AppTest fixtures: a filled temporary database, pointed at through CURATOR_DB."""

from __future__ import annotations

from pathlib import Path

import appdata
import pytest


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = appdata.build(tmp_path / "pages.duckdb")
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "empty.duckdb"
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path
