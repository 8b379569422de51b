"""Shared batching of token sequences: length-sorted token-budget batches, padding, chunked tokenization.

Used by every torch/ONNX encoder here and by `curator.signals.reward.RewardScorer`. Imports numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

# Texts tokenized per chunk; the next chunk is tokenized in a thread while this one runs.
_CHUNK = 8192


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def length_batches(lengths: np.ndarray, *, batch_size: int, token_budget: int) -> list[np.ndarray]:
    """Index batches over length-sorted items: at most `batch_size` items and `token_budget` padded tokens each.

    Items are sorted longest first (a batch's padded size is its first item), so the largest batch
    runs first and memory peaks early. An item longer than `token_budget` gets a batch of its own.

    Args:
        lengths: (N,) token counts.
        batch_size: most items per batch.
        token_budget: most ``len(batch) * max(lengths in batch)`` per batch.

    Returns:
        Index arrays that together cover ``range(N)`` once.

    >>> [b.tolist() for b in length_batches(np.array([3, 10, 2, 9]), batch_size=8, token_budget=20)]
    [[1, 3], [0, 2]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, token_budget // longest))
        batches.append(order[start:start + size])
        start += size
    return batches


def pad_right(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows padded on the right to the longest, and their attention mask (int64, at least 1 wide)."""
    width = max(1, max(len(s) for s in seqs))
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for j, s in enumerate(seqs):
        ids[j, :len(s)] = s
        mask[j, :len(s)] = 1
    return ids, mask


def _pad(encodings: Sequence[Sequence[int]], idx: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    return pad_right([encodings[i] for i in idx], pad_id)


def _chunks(items: list[Any], tokenize: Callable[[list[Any]], Any]) -> Iterator[tuple[int, Any]]:
    """(start, tokenize(chunk)) per chunk of items; chunk k+1 is tokenized in a thread while chunk k is used.

    The Rust tokenizers release the GIL in batch encoding, so this overlaps tokenization with the model.
    """
    starts = list(range(0, len(items), _CHUNK))
    if not starts:
        return
    if len(starts) == 1:
        yield 0, tokenize(items)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(tokenize, items[0:_CHUNK])
        for k, start in enumerate(starts):
            ids = future.result()
            if k + 1 < len(starts):
                future = pool.submit(tokenize, items[starts[k + 1]:starts[k + 1] + _CHUNK])
            yield start, ids


def _rust_tokenizer(tokenizer: Any, max_length: int) -> Any:
    """A copy of a fast tokenizer's Rust backend that truncates to `max_length` and does not pad."""
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    rust = Tokenizer.from_str(backend.to_str())
    rust.no_padding()
    rust.enable_truncation(max_length)
    return rust
