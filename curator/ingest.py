"""Import a source into the store: `curator.io` reads and streams the batches, `curator.store` writes them.

- `ingest_source(store, source, ...)`: a source's pairs and judgements, in one transaction (any
  reading error rolls the whole import back; pairs already stored are skipped, so importing twice
  adds nothing).
- `add_judgements_source(store, source, dataset=...)`: a source's judgements onto the pairs a
  dataset already holds (verdict files that arrive after the pairs).

`curator ingest`, the app's import jobs and the evaluations all import through here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator.io import ColumnMapping, PairingRule
from curator.io.source import ProgressFn, Source, feed, open_source

if TYPE_CHECKING:
    from curator.store import IngestResult, JudgementImportResult, Store

logger = logging.getLogger(__name__)


def ingest_source(store: Store, source: str | Path | Source, *, name: str | None = None, shape: str | None = None,
                  fmt: str | None = None, mapping: ColumnMapping | dict[str, Any] | None = None,
                  pairing: PairingRule | str | None = None, split: str | None = None,
                  min_gap: float | None = None, on_progress: ProgressFn | None = None,
                  batch_size: int = 20_000) -> IngestResult:
    """Import a source's pairs and judgements into `store`, all or nothing.

    Args:
        store: the `curator.store.Store` to fill.
        source: a path or hub id (opened with `read_source` and the options below), or a `Source`.
        name: dataset name; default `Source.name`.
        shape, fmt, mapping, pairing, split, min_gap: as for `read_source` (only with a path).
        on_progress: called as ``on_progress(records_read, estimated_total)`` after each batch and
            once at the end (then with ``total == records_read``).
        batch_size: pairs per Arrow batch handed to the store.

    Returns:
        The store's `IngestResult`: new pairs, skipped (already stored) pairs, new judgements.

    Raises:
        IngestError: a record cannot be read; nothing is imported.

    Example:
        >>> import json, pathlib, tempfile
        >>> from curator.store import Store
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (tmp / "p.jsonl").write_text(json.dumps({"prompt": "2+2?", "chosen": "4", "rejected": "5"}))
        >>> store = Store(tmp / "c.duckdb")
        >>> ingest_source(store, tmp / "p.jsonl").new_pairs, ingest_source(store, tmp / "p.jsonl").new_pairs
        (1, 0)
        >>> store.close()
    """
    src = open_source(source, shape=shape, fmt=fmt, mapping=mapping, pairing=pairing, split=split, min_gap=min_gap)
    dataset = name or src.name
    logger.info("importing %s (%s, shape %s) as dataset %r", src.path, src.fmt, src.shape, dataset)
    result = feed(src, lambda batches, progress: store.ingest(dataset, batches, source=src.path, shape=src.shape,
                                                            on_progress=progress),
                  batch_size=batch_size, on_progress=on_progress)
    logger.info("%s: %d new pairs, %d skipped, %d judgements", dataset, result.new_pairs, result.skipped_pairs,
                result.new_judgements)
    return result


def add_judgements_source(store: Store, source: str | Path | Source, *, dataset: str, shape: str | None = None,
                          fmt: str | None = None, mapping: ColumnMapping | dict[str, Any] | None = None,
                          split: str | None = None, on_progress: ProgressFn | None = None,
                          batch_size: int = 20_000) -> JudgementImportResult:
    """Add a source's judgements to the pairs `dataset` already holds, all or nothing; adds no pair.

    Records are matched to stored pairs by pair id, else by identical texts (see
    `curator.store.judgement_import`); judgements already in the log are not added twice.

    Args:
        dataset: the stored dataset whose pairs the judgements are about.
        source, shape, fmt, mapping, split, on_progress, batch_size: as for `ingest_source`.

    Returns:
        The store's `JudgementImportResult`: records matched and unmatched (with examples),
        judgements added and already stored.

    Raises:
        IngestError: a record cannot be read; nothing is added.
        StoreError: no dataset `dataset`.

    Example:
        >>> import json, pathlib, tempfile
        >>> from curator.store import Store
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> pair = {"prompt": "2+2?", "response_a": "4", "response_b": "5"}
        >>> _ = (tmp / "pairs.jsonl").write_text(json.dumps(pair))
        >>> vote = {**pair, "votes": [{"annotator": "gpt", "kind": "ai", "choice": "a"}]}
        >>> _ = (tmp / "verdicts.jsonl").write_text(json.dumps(vote))
        >>> store = Store(tmp / "c.duckdb")
        >>> ingest_source(store, tmp / "pairs.jsonl", name="math").new_judgements
        0
        >>> r = add_judgements_source(store, tmp / "verdicts.jsonl", dataset="math")
        >>> r.matched, r.new_judgements, add_judgements_source(store, tmp / "verdicts.jsonl", dataset="math").known_judgements
        (1, 1, 1)
        >>> store.close()
    """
    src = open_source(source, shape=shape, fmt=fmt, mapping=mapping, split=split)
    logger.info("adding the judgements of %s (%s, shape %s) to dataset %r", src.path, src.fmt, src.shape, dataset)
    result = feed(src, lambda batches, progress: store.add_judgements(dataset, batches, on_progress=progress),
                  batch_size=batch_size, on_progress=on_progress)
    logger.info("%s: %d of %d records matched, %d judgements added, %d already stored", dataset, result.matched,
                result.records, result.new_judgements, result.known_judgements)
    return result
