"""Fixtures of the curate tests: a small store with planted structure and a signal run (see curate_data)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from curate_data import CurationData, make_records, make_signals


@pytest.fixture
def curation(make_store, tmp_path: Path) -> CurationData:
    records = make_records()
    store = make_store(records, dataset="toy")
    pair_ids = [r.pair_id for r in records]
    path = tmp_path / "signals.parquet"
    pq.write_table(make_signals(pair_ids), path)
    store.load_signal_run(run_id="run1", dataset="toy", dataset_version=store.dataset_version("toy"),
                          cache_key="k1", models=["bt-minilm@1"], params={"folds": 5}, signals_path=path)
    return CurationData(store, "run1", pair_ids, tmp_path)

