"""Readers and the demo generator: sources of preference pairs in, `PairRecord`s and store imports out.

- `read_source(path_or_hub_id, ...)` opens JSONL/JSON/Parquet/CSV files (optionally gzipped) and
  Hugging Face datasets, detects the record shape (SHAPES) and yields `curator.schema.PairRecord`s.
- `ingest_source(store, source, ...)` streams a source into the store in one transaction;
  `add_judgements_source(store, source, dataset=...)` adds its judgements to stored pairs.
- `write_demo(out_dir)` writes the synthetic demo dataset and its ground truth.
- `ColumnMapping` and `PairingRule` configure unusual layouts and rated data.

This package imports no duckdb and no streamlit; it hands Arrow batches to `curator.store`.
"""

from __future__ import annotations

from curator.io.demo import write_demo
from curator.io.options import SHAPES, ColumnMapping, PairingRule
from curator.io.source import add_judgements_source, ingest_source, read_source

__all__ = ["SHAPES", "ColumnMapping", "PairingRule", "add_judgements_source", "ingest_source", "read_source", "write_demo"]
