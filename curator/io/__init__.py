"""Readers and the demo generator: sources of preference pairs in, `PairRecord`s and Arrow batches out.

- `read_source(path_or_hub_id, ...)` opens JSONL/JSON/Parquet/CSV files (optionally gzipped) and
  Hugging Face datasets, detects the record shape (SHAPES) and yields `curator.schema.PairRecord`s.
- `feed(source, write)` hands a source's Arrow batches to a writer; `curator.ingest` writes them
  into the store.
- `write_demo(out_dir)` writes the synthetic demo dataset and its ground truth.
- `ColumnMapping` and `PairingRule` configure unusual layouts and rated data.

This package imports no duckdb, no streamlit and no store.
"""

from __future__ import annotations

from curator.io.demo import write_demo
from curator.io.options import SHAPES, ColumnMapping, PairingRule
from curator.io.source import Source, feed, open_source, read_source

__all__ = ["SHAPES", "ColumnMapping", "PairingRule", "Source", "feed", "open_source", "read_source", "write_demo"]
