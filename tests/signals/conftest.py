"""Seeded synthetic pairs with precomputed features: exact, fast, no model downloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest

TOPICS = {
    0: ["oven", "bake", "recipe", "flour", "dough"],
    1: ["python", "code", "function", "bug", "compile"],
    2: ["garden", "tomato", "soil", "water", "seeds"],
    3: ["guitar", "chord", "music", "strings", "song"],
}


@dataclass
class Synthetic:
    pairs: pa.Table
    features: dict[str, np.ndarray]
    truth: np.ndarray  # (N,) +1 where a is truly better
    flipped: np.ndarray  # (N,) bool: labels flipped against the truth
    topic: np.ndarray  # (N,) planted prompt topic


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def make_synthetic() -> Callable[..., Synthetic]:
    """Factory: n pairs, D-dim embeddings, 4 planted prompt topics, a linear true reward, flips."""

    def make(n: int = 300, *, d: int = 16, flip: float = 0.0, seed: int = 0, unlabelled: float = 0.0,
             separation: float = 3.0) -> Synthetic:
        rng = np.random.default_rng(seed)
        topic = rng.integers(0, len(TOPICS), n)
        centres = _unit(rng.normal(size=(len(TOPICS), d)))
        emb_prompt = _unit(centres[topic] * 4 + rng.normal(size=(n, d)) * 0.5)
        w = rng.normal(size=d)
        w /= np.linalg.norm(w)
        ea, eb = _unit(rng.normal(size=(n, d))), _unit(rng.normal(size=(n, d)))
        truth = np.where((ea - eb) @ w * separation + rng.normal(size=n) * 0.05 > 0, 1, -1)
        flipped = rng.random(n) < flip
        label_sign = np.where(flipped, -truth, truth)
        labels = np.where(label_sign > 0, "a", "b").astype(object)
        labels[rng.random(n) < unlabelled] = None
        prompts = [" ".join(rng.choice(TOPICS[t], 3)) + f" question {i}?" for i, t in enumerate(topic)]
        words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
        resp_a = [" ".join(rng.choice(words, 6)) + f" answer a{i}." for i in range(n)]
        resp_b = [" ".join(rng.choice(words, 6)) + f" answer b{i}." for i in range(n)]
        pairs = pa.table({
            "pair_id": [f"p{i}" for i in range(n)], "prompt": prompts, "prompt_messages": [None] * n,
            "response_a": resp_a, "response_b": resp_b, "label": pa.array(list(labels), pa.string()),
        })
        features = {"emb_prompt": emb_prompt, "emb_a": ea, "emb_b": eb}
        return Synthetic(pairs, features, truth, flipped & (labels != None), topic)  # noqa: E711

    return make
