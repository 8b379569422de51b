"""Shared fixtures: a fresh store per test, the real datasets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CURATOR_SHARED_DATA", REPO.parent / "shared" / "data"))
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def shared_data() -> Path:
    """The real preference datasets; tests using them skip on a clone without ../shared/data."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (a plain clone has no ../shared/data)")
    return SHARED_DATA


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., object]:
    """Factory: a fresh DuckDB file in tmp_path, optionally filled with PairRecords."""
    from curator.io.batch import batched
    from curator.store import Store

    def make(records: Iterable[object] = (), *, dataset: str = "test", name: str = "curator.duckdb"):
        store = Store(tmp_path / name)
        records = list(records)
        if records:
            store.ingest(dataset, batched(records, source="fixture"), source="fixture", shape="explicit")
        return store

    return make


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
