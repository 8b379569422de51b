"""The embedding probe: how well a linear Bradley-Terry model separates chosen from rejected embeddings."""

from __future__ import annotations

import numpy as np


def probe_accuracy(emb_chosen: np.ndarray, emb_rejected: np.ndarray, *, folds: int = 5, seed: int = 0,
                   C: float = 1.0) -> float:
    """Out-of-sample accuracy of a linear Bradley-Terry probe on embedding differences.

    Features are ``emb_chosen - emb_rejected``; half the rows (chosen at random) are negated and
    labelled 0, so the classes balance and the probe must learn a direction, not a bias. A logistic
    regression is scored by stratified k-fold cross-validation. 0.5 is chance; higher is better.

    Args:
        emb_chosen: (N, D) embeddings of (prompt, chosen) texts.
        emb_rejected: (N, D) embeddings of (prompt, rejected) texts, aligned with `emb_chosen`.
        folds: cross-validation folds.
        seed: seed of the sign flips and the fold split.
        C: inverse L2 regularisation strength of the logistic regression.

    Returns:
        Mean held-out accuracy over the folds.

    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(size=8); a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    >>> chosen = np.where(((a - b) @ w > 0)[:, None], a, b); rejected = np.where(((a - b) @ w > 0)[:, None], b, a)
    >>> probe_accuracy(chosen, rejected) > 0.9
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    emb_chosen, emb_rejected = np.asarray(emb_chosen), np.asarray(emb_rejected)
    if emb_chosen.shape != emb_rejected.shape or emb_chosen.ndim != 2:
        raise ValueError(f"`emb_chosen` and `emb_rejected` must be (N, D) of one shape, got {emb_chosen.shape} "
                         f"and {emb_rejected.shape}.")
    n = len(emb_chosen)
    if n < 2 * folds:
        raise ValueError(f"Need at least {2 * folds} pairs for {folds}-fold probing, got {n}.")
    x = (emb_chosen - emb_rejected).astype(np.float64)
    rng = np.random.default_rng(seed)
    flip = rng.random(n) < 0.5
    x[flip] *= -1
    y = (~flip).astype(int)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(C=C, max_iter=5000), x, y, cv=cv).mean())
