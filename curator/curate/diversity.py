"""Scores the FiFA-style top-K step combines: z-scores and k-NN distance as a diversity term.

Arrays in, arrays out; higher = more diverse (sparser neighbourhood).
"""

from __future__ import annotations

import numpy as np


def zscore(values: np.ndarray) -> np.ndarray:
    """(N,) values standardised over the finite ones; non-finite values score 0.

    >>> zscore(np.array([1.0, 2.0, 3.0, np.nan])).round(3).tolist()
    [-1.225, 0.0, 1.225, 0.0]
    """
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.zeros_like(values)
    mu, sd = values[ok].mean(), values[ok].std()
    out = (values - mu) / (sd if sd > 0 else 1.0)
    return np.where(ok, out, 0.0)


def knn_log_distance(points: np.ndarray, *, k: int = 5) -> np.ndarray:
    """log distance of each point to its k-th nearest other point (the Kozachenko-Leonenko term).

    Args:
        points: (N, D) vectors (prompt embeddings, or a 2-D map).
        k: which neighbour; clipped to N - 1.

    Returns:
        (N,) log distances; higher = the point sits in a sparser region (more diverse).

    >>> import numpy as np
    >>> d = knn_log_distance(np.array([[0.0], [0.1], [0.2], [5.0]]), k=1)
    >>> int(np.argmax(d))
    3
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n < 2:
        return np.zeros(n)
    k = max(1, min(k, n - 1))
    out = np.empty(n)
    sq = (points ** 2).sum(1)
    for start in range(0, n, 2048):  # blocks keep memory at 2048 x N
        block = points[start:start + 2048]
        d2 = np.maximum(sq[start:start + 2048, None] + sq[None, :] - 2 * block @ points.T, 0.0)
        d2[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        out[start:start + len(block)] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return 0.5 * np.log(out + 1e-12)
