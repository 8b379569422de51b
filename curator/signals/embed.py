"""Text embeddings for preference pairs: strings in, (N, D) float32 unit vectors out.

`EmbeddingScorer` turns a batch of pairs (``prompt``, ``response_a``, ``response_b``) into
``emb_prompt`` (the prompt's tail), ``emb_a`` and ``emb_b`` (each response with the prompt's tail).
It runs the same way in-process and as a Ray Data ``map_batches`` callable class.

Encoders (the ``model`` argument; speed and probe accuracy: ``bench/bench_embed_cpu.py``):

- ``"minilm"``: the bundled all-MiniLM-L6-v2 in torch (fp32 on CPU, fp16 on CUDA), 256 tokens, D=384.
- ``"minilm-int8"``: the same model exported to ONNX, int8 per-channel MatMul weights, onnxruntime on
  CPU, 256 tokens, D=384. Built once into ``cache_dir``.
- ``"minilm-m2v"`` (the default, `DEFAULT_EMBED_MODEL`): a model2vec static model distilled from the
  bundled MiniLM (384-d token vectors, no PCA); no transformer at run time, D=768 (see `_StaticEncoder`).
  Built once into ``cache_dir``.
- ``"int8:<folder>"``, ``"m2v:<folder>"``: the same two recipes for another local BERT-style encoder.
- anything else: a sentence-transformers model by local path or hub id (CUDA when available).

Transformer encoders get a (prompt, response) as a token pair, ``[CLS] prompt tail [SEP] response
[SEP]``; when it is too long the prompt keeps at most `PROMPT_SHARE` of the tokens (its end) and the
response the rest (its start). Texts are tokenized once, sorted by length and padded per batch.

Every output row is L2-normalised (an empty text under the static model is a zero row). This module
imports no duckdb and no streamlit and does no database I/O; it reads model files and writes derived
models (ONNX, distilled) into a cache folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from curator.signals.encoders.base import PROMPT_SHARE, _Encoder
from curator.signals.encoders.batching import length_batches
from curator.signals.encoders.cache import bundled_minilm_path, default_cache_dir
from curator.signals.encoders.onnx import _OnnxEncoder, build_onnx_int8
from curator.signals.encoders.static import _StaticEncoder, build_static
from curator.signals.encoders.transformer import _load_sentence_transformer
from curator.signals.text import PROMPT_TAIL_CHARS

logger = logging.getLogger(__name__)

DEFAULT_EMBED_MODEL = "minilm-m2v"
EMBED_MODELS: tuple[str, ...] = ("default", "minilm", "minilm-int8", "minilm-m2v")
EMBED_COLUMNS: tuple[str, ...] = ("emb_prompt", "emb_a", "emb_b")
MINILM_MAX_LENGTH = 256


def resolve_embed_model(model: str, device: str | None = None) -> str:
    """The encoder ``"default"`` stands for on this machine: the bundled MiniLM transformer (fp16) when
    it would run on a GPU, the static `DEFAULT_EMBED_MODEL` on a CPU; other names are returned as given.

    >>> resolve_embed_model("default", "cpu")
    'minilm-m2v'
    >>> resolve_embed_model("minilm-int8", "cuda")
    'minilm-int8'
    """
    if model != "default":
        return model
    return "minilm" if _resolve_device(device).startswith("cuda") else DEFAULT_EMBED_MODEL


def embed_runs_on_gpu(model: str, device: str | None = None) -> bool:
    """Whether `EmbeddingScorer(model, device=device)` runs on a GPU (the static and ONNX encoders never do).

    >>> embed_runs_on_gpu("minilm-m2v", "cuda")
    False
    """
    kind = resolve_embed_model(model, device).partition(":")[0]
    return kind not in ("minilm-int8", "int8", "minilm-m2v", "m2v") and _resolve_device(device).startswith("cuda")


def _resolve_device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"




# ---------------------------------------------------------------------------------------------
# Public API


def _load_encoder(model: str, *, device: str | None, max_length: int | None, batch_size: int,
                  token_budget: int | None, cache_dir: str | None, num_threads: int | None,
                  prompt_chars: int) -> tuple[_Encoder, str]:
    name = DEFAULT_EMBED_MODEL if model == "default" else model
    kind, _, source = name.partition(":")
    if kind in ("minilm-int8", "int8") and (kind == "int8") == bool(source):
        if device not in (None, "cpu"):
            logger.warning("%r runs on CPU (onnxruntime) only; ignoring device=%r. Use model='minilm' on a GPU.",
                           name, device)
        folder = build_onnx_int8(source or bundled_minilm_path(), cache_dir)
        length = max_length or int(json.loads((folder / "curator.json").read_text())["max_length"])
        return _OnnxEncoder(folder / "model.int8.onnx", folder / "tokenizer.json", max_length=length,
                            batch_size=batch_size, token_budget=token_budget or batch_size * length,
                            num_threads=num_threads), "cpu"
    if kind in ("minilm-m2v", "m2v") and (kind == "m2v") == bool(source):
        if device not in (None, "cpu"):
            logger.warning("%r is a static model and runs on CPU; ignoring device=%r.", name, device)
        return _StaticEncoder(build_static(source or bundled_minilm_path(), cache_dir), max_length=max_length or 512), "cpu"
    dev = _resolve_device(device)
    path = bundled_minilm_path() if name == "minilm" else name
    length = max_length or (MINILM_MAX_LENGTH if name == "minilm" else None)
    return _load_sentence_transformer(path, device=dev, max_length=length, batch_size=batch_size,
                                      token_budget=token_budget, prompt_chars=prompt_chars), dev




class EmbeddingScorer:
    """Embed prompts and (prompt, response) pairs of preference data.

    Usable in-process and as a Ray Data callable class::

        ds.map_batches(EmbeddingScorer, fn_constructor_kwargs={"model": "default"}, batch_size=4096,
                       concurrency=2, batch_format="numpy")

    Args:
        model: ``"default"``, ``"minilm"``, ``"minilm-int8"``, ``"minilm-m2v"``, ``"int8:<local encoder>"``,
            ``"m2v:<local encoder>"``, or a sentence-transformers model (local path or hub id).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; None picks CUDA when available (torch models only).
        max_length: tokens per text; None keeps the model's (256 for MiniLM; 512 for static models).
        batch_size: most texts per forward pass on CPU; on CUDA the token budget decides.
        cache_dir: where derived models (ONNX, distilled) are built; None means `default_cache_dir()`.
        prompt_chars: characters of the prompt's end embedded with a response (0: the response alone).
        token_budget: most padded tokens per forward pass; None means ``batch_size * max_length`` on CPU
            and 65,536 on CUDA.
        num_threads: onnxruntime intra-op threads; None uses ``torch.get_num_threads()``.

    Attributes:
        dim: D, the embedding width.
    """

    name = "embed"

    def __init__(self, model: str = "default", *, device: str | None = None, max_length: int | None = None,
                 batch_size: int = 64, cache_dir: str | None = None, prompt_chars: int = PROMPT_TAIL_CHARS,
                 token_budget: int | None = None, num_threads: int | None = None) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"`model` must be one of {EMBED_MODELS} or a sentence-transformers path/id, got {model!r}.")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1, got {batch_size}.")
        if max_length is not None and max_length < 8:
            raise ValueError(f"`max_length` must be at least 8 tokens or None, got {max_length}.")
        if prompt_chars < 0:
            raise ValueError(f"`prompt_chars` must be 0 or more, got {prompt_chars}.")
        self.model = resolve_embed_model(model, device)
        self.prompt_chars = prompt_chars
        self._encoder, self.device = _load_encoder(self.model, device=device, max_length=max_length,
                                                   batch_size=batch_size, token_budget=token_budget,
                                                   cache_dir=cache_dir, num_threads=num_threads,
                                                   prompt_chars=prompt_chars)
        self.dim = self._encoder.dim

    def _tail(self, prompt: str) -> str:
        return prompt[-self.prompt_chars:] if self.prompt_chars > 0 else ""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit rows for N texts (an empty text may give a zero row). Duplicates are encoded once."""
        texts = [_as_str(t, "texts", i) for i, t in enumerate(texts)]
        unique, inverse = _unique(texts)
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encoder.encode(unique)[inverse]

    def encode_pairs(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit rows for N (prompt, response) pairs.

        The prompt contributes its last `prompt_chars` characters. Transformer encoders read
        ``[CLS] prompt tail [SEP] response [SEP]`` and, when it does not fit, give the prompt tail at most
        `PROMPT_SHARE` of the tokens; the static encoder averages token vectors (see `_StaticEncoder`).
        """
        if len(prompts) != len(responses):
            raise ValueError(f"`prompts` and `responses` must have the same length, got {len(prompts)} and {len(responses)}.")
        pairs = [(self._tail(_as_str(p, "prompts", i)), _as_str(r, "responses", i))
                 for i, (p, r) in enumerate(zip(prompts, responses, strict=True))]
        unique, inverse = _unique(pairs)
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encoder.encode_pairs([p for p, _ in unique], [r for _, r in unique])[inverse]

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Embed a batch of pairs.

        Args:
            batch: columns ``prompt``, ``response_a``, ``response_b`` (N strings each; numpy object
                arrays or lists; None counts as ""). A ``pair_id`` column is passed through.

        Returns:
            ``emb_prompt`` (the prompt's tail), ``emb_a``, ``emb_b`` (the pairs): (N, D) float32 unit
            rows, plus ``pair_id`` when given.
        """
        missing = [c for c in ("prompt", "response_a", "response_b") if c not in batch]
        if missing:
            raise ValueError(f"Batch is missing column(s) {missing}; it has {sorted(batch)}.")
        prompts, a, b = (list(batch[c]) for c in ("prompt", "response_a", "response_b"))
        if not len(prompts) == len(a) == len(b):
            raise ValueError(f"Columns differ in length: prompt {len(prompts)}, response_a {len(a)}, response_b {len(b)}.")
        n = len(prompts)
        prompts = [_as_str(p, "prompt", i) for i, p in enumerate(prompts)]
        pair_emb = self.encode_pairs(prompts + prompts, a + b)
        out = {"emb_prompt": self.encode([self._tail(p) or p for p in prompts]),
               "emb_a": pair_emb[:n], "emb_b": pair_emb[n:]}
        if "pair_id" in batch:
            out["pair_id"] = np.asarray(batch["pair_id"])
        return out

    def __repr__(self) -> str:
        return f"EmbeddingScorer(model={self.model!r}, device={self.device!r}, dim={self.dim})"


def _unique(items: list[Any]) -> tuple[list[Any], np.ndarray]:
    index: dict[Any, int] = {}
    inverse = np.fromiter((index.setdefault(x, len(index)) for x in items), dtype=np.int64, count=len(items))
    return list(index), inverse


def _as_str(value: Any, column: str, row: int) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):  # None, or NaN from pandas/Arrow
        return ""
    raise TypeError(f"`{column}` row {row} must be a string, got {type(value).__name__}: {value!r:.80}.")


# The public surface (callers import these from here; the backends live in curator.signals.encoders).
__all__ = ["DEFAULT_EMBED_MODEL", "EMBED_COLUMNS", "EMBED_MODELS", "MINILM_MAX_LENGTH", "PROMPT_SHARE",
           "EmbeddingScorer", "build_onnx_int8", "build_static", "bundled_minilm_path", "default_cache_dir",
           "embed_runs_on_gpu", "length_batches", "resolve_embed_model"]
