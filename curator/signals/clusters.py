"""Prompt clusters, their names, and a 2-D map of the pairs.

Contract: embeddings and texts in, arrays out.

- `choose_k(n)`: the default number of clusters, ``round(sqrt(n / 2))`` clipped to [8, 100].
- `kmeans(emb, k)`: k-means on L2-normalised embeddings (spherical k-means ~ cosine); exact
  `KMeans` up to 20k rows, `MiniBatchKMeans` above. Returns (N,) int32 labels.
- `cluster_terms(texts, labels)`: c-TF-IDF (BERTopic): each cluster's texts form one document,
  ``w(t, c) = tf(t, c) / |c| * log(1 + A / f(t))`` with A the mean words per cluster and f(t) the
  term's total count; the top terms name the cluster ("recipe · oven · bake").
- `map_2d(emb, sample=...)`: UMAP (umap-learn, cosine geometry via PCA of unit vectors) fitted on
  at most `sample` rows; the other rows get the mean position of their 3 nearest sampled rows
  (scikit-learn NearestNeighbors), so 1M rows cost one 200k UMAP plus a nearest-neighbour pass.

Imports sklearn/umap lazily; no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

EXACT_KMEANS_MAX = 20_000
NAME_TEXTS_PER_CLUSTER = 2_000
NAME_CHARS = 2_000
PCA_DIMS = 50
# Words of transcript markup and chat roles that would otherwise name every cluster.
EXTRA_STOP_WORDS = ("human", "assistant", "user", "system", "ai", "chatbot", "bot", "don", "just", "like", "know",
                    "want", "think", "make", "really", "ok", "okay", "yes", "thanks", "thank", "sure", "good", "ll",
                    "ve", "did", "does", "doing", "going", "tell", "help")


def choose_k(n: int, *, low: int = 8, high: int = 100) -> int:
    """Default cluster count for n rows: ``round(sqrt(n / 2))`` in [low, high], never more than n.

    >>> choose_k(2354), choose_k(100), choose_k(1_000_000), choose_k(3)
    (34, 8, 100, 3)
    """
    return int(max(1, min(n, max(low, min(high, round((n / 2) ** 0.5))))))


def kmeans(emb: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Cluster labels of L2-normalised rows.

    Args:
        emb: (N, D) embeddings (normalised here; zero rows stay zero).
        k: number of clusters (1 <= k <= N).
        seed: random state.

    Returns:
        (N,) int32 labels in [0, k).

    >>> x = np.r_[np.tile([1.0, 0.0], (5, 1)), np.tile([0.0, 1.0], (5, 1))]
    >>> len(set(kmeans(x, 2).tolist()))
    2
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(emb)
    if not 1 <= k <= n:
        raise ValueError(f"`k` must be between 1 and the number of rows ({n}), got {k}.")
    x = _unit(emb)
    if n <= EXACT_KMEANS_MAX:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=k, batch_size=8192, n_init=3, max_no_improvement=20, random_state=seed)
    return model.fit_predict(x).astype(np.int32)


def _unit(emb: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(emb, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cluster_terms(texts: Sequence[str], labels: np.ndarray, *, top: int = 3, seed: int = 0) -> dict[int, list[str]]:
    """The `top` most distinctive terms of each cluster by c-TF-IDF.

    Args:
        texts: N texts (prompts); each is cut to its last 2,000 characters.
        labels: (N,) cluster ids.
        top: terms per cluster.
        seed: which texts are kept when a cluster has more than 2,000 (a random sample).

    Returns:
        ``{cluster: [term, ...]}`` for every cluster id present (possibly fewer than `top` terms).

    >>> cluster_terms(["bake a cake in the oven", "oven bake bread", "python code bug", "fix python code"],
    ...               np.array([0, 0, 1, 1]), top=2)
    {0: ['bake', 'oven'], 1: ['code', 'python']}
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    keep = []
    for c in ids:
        idx = np.flatnonzero(labels == c)
        keep.append(idx if len(idx) <= NAME_TEXTS_PER_CLUSTER else rng.choice(idx, NAME_TEXTS_PER_CLUSTER, replace=False))
    docs = []
    for idx in keep:
        docs.append(" ".join((texts[i] or "")[-NAME_CHARS:] for i in idx))
    stop = list(ENGLISH_STOP_WORDS.union(EXTRA_STOP_WORDS))
    vec = CountVectorizer(stop_words=stop, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", max_features=50_000)
    try:
        counts = vec.fit_transform(docs).astype(np.float64)  # (C, V): one document per cluster
    except ValueError:  # every text empty or stop words only
        return {int(c): [] for c in ids}
    vocab = np.asarray(vec.get_feature_names_out())
    tf = counts.multiply(1.0 / np.maximum(counts.sum(1), 1.0)).tocsr()
    freq = np.asarray(counts.sum(0)).ravel()
    avg_words = counts.sum() / max(len(ids), 1)
    idf = np.log1p(avg_words / np.maximum(freq, 1.0))
    score = tf.multiply(idf[None, :]).tocsr()
    out: dict[int, list[str]] = {}
    for row, c in enumerate(ids):
        r = score.getrow(row)
        order = np.lexsort((vocab[r.indices], -r.data))[:top]
        out[int(c)] = [str(vocab[r.indices[j]]) for j in order]
    return out


def cluster_name(terms: Sequence[str]) -> str:
    """Terms joined with " · ", or "(no terms)".

    >>> cluster_name(["recipe", "oven", "bake"])
    'recipe · oven · bake'
    """
    return " · ".join(terms) if terms else "(no terms)"


def map_2d(emb: np.ndarray, *, sample: int = 200_000, seed: int = 0, n_neighbors: int = 15,
           block: int = 8192) -> np.ndarray:
    """2-D coordinates for every row: UMAP on a sample, nearest-sample interpolation for the rest.

    Args:
        emb: (N, D) embeddings.
        sample: most rows UMAP is fitted on.
        seed: which rows are sampled and UMAP's random state.
        n_neighbors: UMAP neighbourhood size.
        block: unsampled rows placed per nearest-neighbour query.

    Returns:
        (N, 2) float32 coordinates (NaN only if N == 0).
    """
    n = len(emb)
    out = np.full((n, 2), np.nan, np.float32)
    if n == 0:
        return out
    if n < 4:
        out[:] = 0.0
        out[:, 0] = np.arange(n)
        return out
    x = _reduce(_unit(emb), seed=seed)
    rng = np.random.default_rng(seed)
    fit_idx = np.arange(n) if n <= sample else np.sort(rng.choice(n, sample, replace=False))
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(fit_idx) - 1), min_dist=0.1,
                        metric="euclidean", init="spectral" if len(fit_idx) <= 50_000 else "random",
                        random_state=seed, low_memory=True, n_jobs=1,
                        n_epochs=None if len(fit_idx) <= 50_000 else 100)  # 200 by default above 10k rows
    out[fit_idx] = reducer.fit_transform(x[fit_idx]).astype(np.float32)
    rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
    if len(rest):
        # Each unsampled row sits at the mean of its 3 nearest sampled rows (exact, in memory-bounded chunks).
        from sklearn.neighbors import NearestNeighbors

        index = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(x[fit_idx])
        for s in range(0, len(rest), block):
            nn = index.kneighbors(x[rest[s:s + block]], return_distance=False)
            out[rest[s:s + block]] = out[fit_idx[nn]].mean(1)
    return out


def _reduce(x: np.ndarray, *, seed: int) -> np.ndarray:
    """PCA of unit rows to at most 50 dims (keeps cosine neighbourhoods, speeds up UMAP's k-NN)."""
    if x.shape[1] <= PCA_DIMS or len(x) <= PCA_DIMS:
        return x
    from sklearn.decomposition import PCA

    fit = x if len(x) <= 100_000 else x[np.random.default_rng(seed).choice(len(x), 100_000, replace=False)]
    pca = PCA(n_components=PCA_DIMS, random_state=seed).fit(fit)
    return pca.transform(x).astype(np.float32)
