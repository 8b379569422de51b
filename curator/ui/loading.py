"""Getting data in from the home page: an uploaded file or the demo generator, with a progress bar.

Both end in `curator.io.ingest_source`, the same call `curator ingest` makes. Uploads are saved
under ``uploads/`` next to the database file (``data/uploads/`` by default) so a re-import reads
the same bytes; demo files go to ``demo/`` there, as `curator demo` does.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import streamlit as st

from curator.ui import auth, data

UPLOAD_TYPES = ("jsonl", "json", "parquet", "csv", "gz")
AUTO_SHAPE = "detect"
_FALLBACK_SHAPES = ("explicit", "implicit", "ratings", "ranking", "votes")
DEMO_DATASET = "demo"


def io_module() -> Any | None:
    """`curator.io` when it can be imported (it brings the readers), else None."""
    try:
        module = importlib.import_module("curator.io")
    except ImportError:
        return None
    return module if hasattr(module, "ingest_source") else None


def shapes() -> tuple[str, ...]:
    """Shape choices for the override box: 'detect' first, then the readers' shapes."""
    io = io_module()
    known = getattr(io, "SHAPES", None) if io else None
    return (AUTO_SHAPE, *(tuple(known) if known else _FALLBACK_SHAPES))


def dataset_name_from(filename: str) -> str:
    """A dataset name from an uploaded file name: its stem, safe characters only.

    >>> dataset_name_from("HH RLHF (test).jsonl")
    'HH_RLHF_test'
    """
    stem = Path(filename).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or "upload"


def save_upload(name: str, payload: bytes) -> Path:
    """Write uploaded bytes to ``uploads/`` beside the database; returns the path."""
    folder = Path(data.db_path()).parent / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name).lstrip(".") or "upload"
    path = folder / safe
    path.write_bytes(payload)
    return path


def _ingest(path: Path, *, name: str, shape: str | None, label: str) -> Any:
    io = io_module()
    if io is None:
        raise RuntimeError("curator.io is not available")
    bar = st.progress(0.0, text=f"{label}: starting…")

    def on_progress(done: int, total: int | None) -> None:
        if total:
            bar.progress(min(done / total, 1.0), text=f"{label}: {done:,} of {total:,} records")
        else:
            bar.progress(0.5, text=f"{label}: {done:,} records read")

    options: dict[str, Any] = {"name": name, "on_progress": on_progress}
    if shape and shape != AUTO_SHAPE:
        options["shape"] = shape
    try:
        result = io.ingest_source(data.get_store(), str(path), **options)
    finally:
        data.invalidate()
    bar.progress(1.0, text=f"{label}: done")
    return result


def import_file(name: str, payload: bytes, *, dataset: str, shape: str | None) -> Any:
    """Save an upload and import it; returns the `IngestResult`. Raises `CuratorError` on bad input."""
    auth.require_admin("Importing data")
    return _ingest(save_upload(name, payload), name=dataset, shape=shape, label=f"Importing {Path(name).name}")


def load_demo(*, n_pairs: int = 3000, seed: int = 0) -> Any:
    """Write the demo dataset next to the database and import it as dataset "demo"."""
    auth.require_admin("Importing data")
    io = io_module()
    if io is None:
        raise RuntimeError("curator.io is not available")
    with st.spinner("Writing demo data…"):
        files = io.write_demo(Path(data.db_path()).parent / "demo", n_pairs=n_pairs, seed=seed)
    path = getattr(files, "pairs_path", files)
    return _ingest(Path(path), name=DEMO_DATASET, shape=None, label="Importing the demo data")


def result_message(result: Any) -> str:
    return (f"{result.dataset}: {result.new_pairs:,} new pairs, {result.skipped_pairs:,} already stored, "
            f"{result.new_judgements:,} judgements.")
