"""Model-weighted consensus labels: Dawid-Skene (numpy) and CROWDLAB (cleanlab).

Same conventions as `curator.annotate.agreement`: a (N pairs, M annotators) matrix `codes` of
label codes over CHOICES with nan for missing labels. Pure numpy/cleanlab: no duckdb, no streamlit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from curator.schema import CHOICES


def check_codes(codes: np.ndarray) -> np.ndarray:
    """`codes` as a float (N, M) array of codes 0..K-1 or nan; raises ValueError otherwise."""
    codes = np.asarray(codes, dtype=float)
    if codes.ndim != 2:
        raise ValueError(f"`codes` must be a (N pairs, M annotators) matrix, got shape {codes.shape}.")
    ok = codes[~np.isnan(codes)]
    if ok.size and (ok.min() < 0 or ok.max() >= len(CHOICES) or np.any(ok != np.round(ok))):
        raise ValueError(f"`codes` must hold integers 0..{len(CHOICES) - 1} or nan.")
    return codes


def label_counts(codes: np.ndarray) -> np.ndarray:
    """(N, K) how many annotators gave each label to each pair."""
    k = len(CHOICES)
    out = np.zeros((codes.shape[0], k))
    for c in range(k):
        out[:, c] = (codes == c).sum(axis=1)
    return out


def majority_labels(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) strict-plurality label codes (-1 on a draw or without labels) and the winner's share."""
    counts = label_counts(codes)
    n, top = counts.sum(axis=1), counts.max(axis=1)
    draw = (counts == top[:, None]).sum(axis=1) > 1
    labels = np.where(draw | (n == 0), -1, counts.argmax(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return labels, np.where(n > 0, top / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class DawidSkeneResult:
    """posteriors (N, K) over CHOICES, confusions (M, K, K) rows = true class, priors (K,)."""

    posteriors: np.ndarray
    confusions: np.ndarray
    priors: np.ndarray
    iterations: int


def compute_dawid_skene(codes: np.ndarray, *, n_classes: int = len(CHOICES), max_iter: int = 100,
                        tol: float = 1e-6, smoothing: float = 0.01,
                        known: dict[int, int] | None = None) -> DawidSkeneResult:
    """Dawid-Skene EM (Dawid & Skene, 1979): every annotator has a confusion matrix, every pair a
    posterior over the true label. Starts from vote shares; `smoothing` is a Dirichlet pseudo-count.

    Args:
        codes: (N, M) label codes or nan.
        n_classes: K.
        known: {row: class} for pairs whose true label is known (clamped every iteration).

    >>> r = compute_dawid_skene(np.array([[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 0.]]), n_classes=2)
    >>> r.posteriors.argmax(axis=1).tolist()
    [0, 1, 0, 1]
    """
    codes = check_codes(codes)
    n, m = codes.shape
    k = n_classes
    onehot = np.zeros((n, m, k))
    observed = ~np.isnan(codes)
    idx = np.nonzero(observed)
    onehot[idx[0], idx[1], codes[observed].astype(int)] = 1.0
    post = onehot.sum(axis=1) + smoothing
    post /= post.sum(axis=1, keepdims=True)
    known = known or {}
    rows = np.array(list(known), dtype=int)
    cls = np.array([known[r] for r in rows], dtype=int)
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        if rows.size:
            post[rows] = 0.0
            post[rows, cls] = 1.0
        priors = post.sum(axis=0) + smoothing
        priors /= priors.sum()
        # confusions[j, t, l] = P(annotator j says l | true t)
        conf = np.einsum("nt,nml->mtl", post, onehot) + smoothing
        conf /= conf.sum(axis=2, keepdims=True)
        log_post = np.log(priors)[None, :] + np.einsum("nml,mtl->nt", onehot, np.log(conf))
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        delta = float(np.abs(new - post).max())
        post = new
        if delta < tol:
            break
    if rows.size:
        post[rows] = 0.0
        post[rows, cls] = 1.0
    return DawidSkeneResult(post, conf, priors, iterations)


def pred_probs_from_margin(margin_a: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(N, K) class probabilities from the reward ensemble's margin of a over b (logit scale).

    P(a) = sigmoid(margin) and P(b) = 1 - P(a), scaled down to leave tie and both-bad their share
    of the labels in `codes` (the reward model has no opinion on them); pairs without a margin get
    the label shares.
    """
    codes = check_codes(codes)
    margin_a = np.asarray(margin_a, dtype=float)
    shares = label_counts(codes).sum(axis=0) + 1.0
    shares /= shares.sum()
    rest = shares[2:].sum()
    p_a = expit(margin_a)
    probs = np.empty((codes.shape[0], len(CHOICES)))
    probs[:, 0] = p_a * (1 - rest)
    probs[:, 1] = (1 - p_a) * (1 - rest)
    probs[:, 2:] = shares[2:]
    missing = np.isnan(margin_a)
    probs[missing] = shares
    return probs / probs.sum(axis=1, keepdims=True)


def compute_crowdlab(codes: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CROWDLAB consensus (cleanlab.multiannotator) weighting annotators and the model.

    Only the classes that occur in `codes` take part (cleanlab needs each class column to be a
    label someone used); pairs without labels get -1.

    Returns:
        consensus: (N,) codes; quality: (N,) consensus quality score in [0, 1];
        annotator_quality: (M,) cleanlab's annotator quality.
    """
    from cleanlab.multiannotator import get_label_quality_multiannotator

    codes = check_codes(codes)
    pred_probs = np.asarray(pred_probs, dtype=float)
    if pred_probs.shape != (codes.shape[0], len(CHOICES)):
        raise ValueError(f"`pred_probs` must have shape ({codes.shape[0]}, {len(CHOICES)}), got {pred_probs.shape}.")
    used = np.unique(codes[~np.isnan(codes)]).astype(int)
    consensus = np.full(codes.shape[0], -1)
    quality = np.full(codes.shape[0], np.nan)
    annotator_quality = np.full(codes.shape[1], np.nan)
    rows = (~np.isnan(codes)).any(axis=1)
    cols = (~np.isnan(codes)).any(axis=0)
    if used.size < 2 or rows.sum() < 2:
        labels, share = majority_labels(codes)
        return labels, share, annotator_quality
    remap = {c: i for i, c in enumerate(used)}
    sub = codes[np.ix_(rows, cols)]
    local = np.vectorize(lambda v: np.nan if np.isnan(v) else remap[int(v)], otypes=[float])(sub)
    probs = pred_probs[rows][:, used]
    probs = probs / probs.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = get_label_quality_multiannotator(pd.DataFrame(local), probs, verbose=False)
    lq = result["label_quality"]
    consensus[rows] = used[lq["consensus_label"].to_numpy().astype(int)]
    quality[rows] = lq["consensus_quality_score"].to_numpy()
    stats = result["annotator_stats"].sort_index()
    annotator_quality[np.nonzero(cols)[0]] = stats["annotator_quality"].to_numpy()
    return consensus, quality, annotator_quality


