"""Cached sentence embeddings for the embedded reward: texts in, (N, D) float32 unit rows out.

Encoding goes through `curator.signals.embed.EmbeddingScorer` (the project's encoders: the default
is a model2vec static model distilled from the bundled all-MiniLM-L6-v2, offline). Texts follow
`curator.signals.text`: a (prompt, response) is embedded as the response, a separator and the
prompt's tail; a prompt alone as its tail. Vectors are cached per text under `cache_dir` (one
``.npz`` shard per call that computed something), so re-training on a re-curated export of the same
data embeds nothing again. Runs in training processes; never touches the store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from curator.signals.text import PROMPT_TAIL_CHARS, embed_texts

logger = logging.getLogger(__name__)

_SCORERS: dict[str, object] = {}


def resolve_embedder(embedder: str) -> str:
    """The concrete model behind a name ('default' -> `curator.signals.embed.resolve_embed_model`).

    >>> resolve_embedder("minilm")
    'minilm'
    """
    # One resolution for signals and training: "default" is MiniLM on a GPU, the static model on a CPU.
    from curator.signals.embed import resolve_embed_model

    return resolve_embed_model(embedder)


def _encode(texts: list[str], embedder: str) -> np.ndarray:
    from curator.signals.embed import EmbeddingScorer

    scorer = _SCORERS.get(embedder)
    if scorer is None:
        scorer = _SCORERS[embedder] = EmbeddingScorer(embedder)
    return np.asarray(scorer.encode(texts), dtype=np.float32)


def _key(embedder: str, text: str) -> str:
    return hashlib.blake2b(f"{embedder}\x1f{text}".encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class EmbeddingCache:
    """Append-only per-text cache: a folder of ``.npz`` shards (keys + vectors) per embedder."""

    def __init__(self, folder: str | Path, embedder: str):
        self.folder = Path(folder) / hashlib.blake2b(embedder.encode(), digest_size=6).hexdigest()

    def load(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(shard) as z:
                    found.update(zip(z["keys"].tolist(), z["vectors"], strict=True))
            except (OSError, ValueError, KeyError) as e:  # a half-written shard from a killed process
                logger.warning("skipping unreadable embedding cache shard %s: %s", shard, e)
        return found

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{uuid.uuid4().hex}.tmp.npz"
        np.savez(tmp, keys=np.array(keys), vectors=vectors.astype(np.float32))
        os.replace(tmp, self.folder / f"{uuid.uuid4().hex}.npz")


def embed_cached(texts: Sequence[str], *, embedder: str = "default", cache_dir: str | Path | None = None
                 ) -> np.ndarray:
    """(N, D) embeddings of N texts, each distinct text encoded once and cached when `cache_dir` is set."""
    texts = list(texts)
    embedder = resolve_embedder(embedder)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    if cache_dir is None:
        return _encode(texts, embedder)
    cache = EmbeddingCache(cache_dir, embedder)
    keys = [_key(embedder, t) for t in texts]
    known = cache.load()
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in known and k not in todo:
            todo[k] = t
    if todo:
        logger.info("embedding %d new texts with %s (%d cached)", len(todo), embedder, len(texts) - len(todo))
        vecs = _encode(list(todo.values()), embedder)
        cache.add(list(todo), vecs)
        known.update(zip(todo, vecs, strict=True))
    return np.stack([known[k] for k in keys]).astype(np.float32)


def embed_responses(prompts: Sequence[str], responses: Sequence[str], *, embedder: str = "default",
                    cache_dir: str | Path | None = None) -> np.ndarray:
    """(N, D) embeddings of N (prompt, response) texts (response first, then the prompt's tail)."""
    return embed_cached(embed_texts(list(prompts), list(responses)), embedder=embedder, cache_dir=cache_dir)


def embed_prompts(prompts: Sequence[str], *, embedder: str = "default", cache_dir: str | Path | None = None
                  ) -> np.ndarray:
    """(N, D) embeddings of N prompts' tails (what the relevance feature compares responses with)."""
    return embed_cached([p[-PROMPT_TAIL_CHARS:] for p in prompts], embedder=embedder, cache_dir=cache_dir)
