"""The store handle and cached queries every page uses.

The `Store` is one `@st.cache_resource` per database path (``CURATOR_DB``, default
``data/curator.duckdb``), shared by all sessions; the store runs each call on its own cursor.
Query results are `@st.cache_data` entries keyed by the database path and the arguments, so a
filter seen before answers from memory and two databases (tests) never share an entry. Anything
that writes to the store calls `invalidate()` afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from curator.jobs import handoff
from curator.schema import PairFilter
from curator.store import DatasetSummary, FeatureRun, SignalRun, Store

DEFAULT_DB = Path("data/curator.duckdb")
ENV_DB = "CURATOR_DB"
TTL = "10m"  # a safety net; writes made through the app clear the caches at once


def db_path() -> str:
    """Absolute path of the database file: ``$CURATOR_DB`` or ``data/curator.duckdb``."""
    return str(Path(os.environ.get(ENV_DB) or DEFAULT_DB).expanduser().resolve())


@st.cache_resource(show_spinner=False, validate=lambda store: not store.closed)
def _open_store(path: str) -> Store:
    store = Store.open(path)
    if path != ":memory:":  # `curator ingest/export/stats/signals` on this file hand their work to the app
        handoff.serve_inbox(store, on_change=invalidate)
    return store


def get_store() -> Store:
    """The process-wide `Store` for the configured database (opened and migrated on first use)."""
    return _open_store(db_path())


def invalidate() -> None:
    """Drop every cached query result; call after writing to the store."""
    st.cache_data.clear()


# -- cached queries (the leading `db` argument keys the cache by database) ---------------------


@st.cache_data(ttl=TTL, max_entries=8, show_spinner=False)
def _datasets(db: str) -> list[DatasetSummary]:
    return _open_store(db).datasets()


def datasets() -> list[DatasetSummary]:
    """Datasets with pair, label and judgement counts, oldest first."""
    return _datasets(db_path())


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _splits(db: str, dataset: str) -> list[str]:
    return _open_store(db).splits((dataset,))


def splits(dataset: str) -> list[str]:
    return _splits(db_path(), dataset)


@st.cache_data(ttl=TTL, max_entries=256, show_spinner="Counting pairs…")
def _count_pairs(db: str, flt: PairFilter) -> int:
    return _open_store(db).count_pairs(flt)


def count_pairs(flt: PairFilter) -> int:
    return _count_pairs(db_path(), flt)


@st.cache_data(ttl=TTL, max_entries=256, show_spinner="Loading pairs…")
def _pairs_page(db: str, flt: PairFilter, sort: str, descending: bool, limit: int, offset: int) -> pd.DataFrame:
    return _open_store(db).pairs_page(flt, sort=sort, descending=descending, limit=limit,
                                      offset=offset).to_pandas()


def pairs_page(flt: PairFilter, *, sort: str, descending: bool, limit: int, offset: int) -> pd.DataFrame:
    """One page of pairs with 200-character previews and judgement counts."""
    return _pairs_page(db_path(), flt, sort, descending, limit, offset)


@st.cache_data(ttl=TTL, max_entries=512, show_spinner=False)
def _pair(db: str, pair_id: str) -> dict[str, Any] | None:
    return _open_store(db).pair(pair_id)


def pair(pair_id: str) -> dict[str, Any] | None:
    """The full pair (text, messages, metadata) or None."""
    return _pair(db_path(), pair_id)


@st.cache_data(ttl=TTL, max_entries=512, show_spinner=False)
def _judgements(db: str, pair_id: str) -> pd.DataFrame:
    return _open_store(db).judgements(pair_id).to_pandas()


def judgements(pair_id: str) -> pd.DataFrame:
    """Every judgement row of a pair, oldest first."""
    return _judgements(db_path(), pair_id)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner="Summarising the dataset…")
def _overview(db: str, dataset: str) -> dict[str, Any]:
    return _open_store(db).overview(dataset)


def overview(dataset: str) -> dict[str, Any]:
    return _overview(db_path(), dataset)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner="Sampling lengths…")
def _lengths(db: str, dataset: str, sample: int) -> pd.DataFrame:
    return _open_store(db).length_sample(dataset, sample=sample).to_pandas()


def lengths(dataset: str, *, sample: int = 50_000) -> pd.DataFrame:
    """split, label, len_prompt, len_a, len_b of a reproducible sample of the dataset."""
    return _lengths(db_path(), dataset, sample)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _label_counts(db: str, dataset: str) -> dict[str, int]:
    return _open_store(db).label_counts(dataset)


def label_counts(dataset: str) -> dict[str, int]:
    """Exact number of pairs labelled 'a' and 'b'."""
    return _label_counts(db_path(), dataset)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _signal_runs(db: str, dataset: str) -> list[SignalRun]:
    return _open_store(db).signal_runs(dataset)


def signal_runs(dataset: str) -> list[SignalRun]:
    """Signal runs of a dataset, newest first."""
    return _signal_runs(db_path(), dataset)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _clusters(db: str, run_id: str) -> pd.DataFrame:
    return _open_store(db).clusters(run_id).to_pandas()


def clusters(run_id: str) -> pd.DataFrame:
    """cluster, name, size, terms of a signal run, largest first."""
    return _clusters(db_path(), run_id)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _feature_runs(db: str, dataset: str) -> list[FeatureRun]:
    return _open_store(db).feature_runs(dataset)


def feature_runs(dataset: str) -> list[FeatureRun]:
    """Feature runs of a dataset, newest first."""
    return _feature_runs(db_path(), dataset)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def _feature_names(db: str, run_id: str) -> dict[int, str]:
    rows = _open_store(db).feature_latents(run_id).to_pylist()
    return {int(r["latent"]): r["name"] or "" for r in rows}


def feature_names(run_id: str) -> dict[int, str]:
    """Latent -> name of a run's shown features (not dead or duplicate), selected first."""
    return _feature_names(db_path(), run_id)


@st.cache_data(ttl=TTL, max_entries=512, show_spinner=False)
def _pair_signals(db: str, pair_id: str, run_id: str) -> dict[str, Any] | None:
    return _open_store(db).pair_signals(pair_id, run_id)


def pair_signals(pair_id: str, run_id: str) -> dict[str, Any] | None:
    return _pair_signals(db_path(), pair_id, run_id)
