"""k-means recovers planted clusters, c-TF-IDF names them, the map places every row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from curator.signals import clusters

TOPICS = {
    0: ["oven", "bake", "recipe", "flour", "dough"],
    1: ["python", "code", "function", "bug", "compile"],
    2: ["garden", "tomato", "soil", "water", "seeds"],
    3: ["guitar", "chord", "music", "strings", "song"],
}


def _planted(n: int = 800, k: int = 4, d: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    truth = rng.integers(0, k, n)
    return centres[truth] * 3 + rng.normal(size=(n, d)), truth


def test_kmeans_recovers_planted_clusters():
    x, truth = _planted()
    assert adjusted_rand_score(truth, clusters.kmeans(x, 4, seed=0)) > 0.9


def test_minibatch_kmeans_for_large_inputs(monkeypatch):
    monkeypatch.setattr(clusters, "EXACT_KMEANS_MAX", 100)
    x, truth = _planted(n=3000)
    assert adjusted_rand_score(truth, clusters.kmeans(x, 4, seed=0)) > 0.9


def test_names_contain_planted_topic_words():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    texts = [f"Human: {' '.join(rng.choice(TOPICS[int(t)], 4))} please, thanks\n\nAssistant: sure" for t in labels]
    terms = clusters.cluster_terms(texts, labels, top=3)
    for c, words in terms.items():
        assert len(words) == 3 and set(words) <= set(TOPICS[c]), (c, words)
    assert " · " in clusters.cluster_name(terms[0])


@pytest.mark.slow
def test_map_2d_fits_sample_and_places_the_rest():
    x, truth = _planted(n=600, k=3, d=16)
    xy = clusters.map_2d(x, sample=300, seed=0)
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    # Planted clusters stay apart on the map: each point's nearest centroid is its own cluster's.
    cent = np.stack([xy[truth == c].mean(0) for c in range(3)])
    nearest = np.argmin(((xy[:, None, :] - cent[None]) ** 2).sum(-1), 1)
    assert (nearest == truth).mean() > 0.9


def test_choose_k_bounds():
    assert clusters.choose_k(10) == 8 and clusters.choose_k(5) == 5 and clusters.choose_k(10**7) == 100
