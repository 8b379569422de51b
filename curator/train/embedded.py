"""The embedded reward: a Bradley-Terry head on frozen sentence embeddings, trained on a CPU in seconds.

r(x, y) = w . phi(x, y) with the features of `curator.signals.bt` (so the embedded reward and the
signal ensemble see the same things): the (prompt, response) embedding e(x, y) (D dims), its
relevance to the prompt e(x, y) . e(x) (1) and the response's text statistics
(`curator.signals.bt.STYLE_FEATURES`, S). The hand-made columns are divided by their RMS over the
training pairs' differences, and that scale is saved with the weights so scoring new pairs uses the
same one. The head minimises mean(-log sigmoid(w . (phi_chosen - phi_rejected) - margin)) +
weight_decay * |w|^2 with full-batch Adam from w = 0: the same data and config give the same
weights. Higher reward = better response; a pair's margin r(chosen) - r(rejected) > 0 means the model
agrees with its label.

`run(cfg, run_dir)` trains on an export's train split, logs loss/accuracy/margin per epoch to the
run's metrics JSONL, evaluates on the test split and saves ``model/`` (``head.npz`` +
``config.json``), which `EmbeddedRewardModel.load` reads back for re-scoring.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from curator.signals.bt import compute_style_features
from curator.train.config import EmbeddedRewardRunConfig
from curator.train.data import evaluation_split, load_split, pair_texts
from curator.train.embeddings import embed_prompts, embed_responses, resolve_embedder
from curator.train.metrics import MetricsWriter

logger = logging.getLogger(__name__)

MODEL_KIND = "embedded"


def fit_bt(diffs: np.ndarray, *, margins: np.ndarray | None = None, learning_rate: float = 0.05,
           epochs: int = 60, weight_decay: float = 1e-3,
           on_epoch: Callable[[int, float, np.ndarray], None] | None = None) -> np.ndarray:
    """Fit a Bradley-Terry head: w such that sigmoid(w . diff - margin) is the chance chosen wins.

    Args:
        diffs: (N, D) e(chosen) - e(rejected).
        margins: optional (N,) adaptive margins (TRL RewardTrainer's `margin`); 0 when None.
        learning_rate: Adam step size.
        epochs: full-batch steps.
        weight_decay: L2 weight on |w|^2.
        on_epoch: called after every epoch with (epoch, loss, w).

    Returns:
        (D,) weights.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = rng.normal(size=(200, 4)) + np.array([1.0, 0, 0, 0])
    >>> w = fit_bt(d, epochs=100)
    >>> bool(w[0] > abs(w[1:]).max()), float((d @ w > 0).mean()) > 0.8
    (True, True)
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    n, dim = diffs.shape
    if n == 0:
        raise ValueError("`diffs` is empty: nothing to train on.")
    m = np.zeros(n) if margins is None else np.asarray(margins, dtype=np.float64)
    w = np.zeros(dim)
    mom, vel = np.zeros(dim), np.zeros(dim)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for epoch in range(1, int(epochs) + 1):
        z = diffs @ w - m
        p = expit(z)
        loss = float(np.mean(np.logaddexp(0.0, -z)) + weight_decay * w @ w)
        grad = -((1.0 - p) @ diffs) / n + 2.0 * weight_decay * w
        mom = b1 * mom + (1 - b1) * grad
        vel = b2 * vel + (1 - b2) * grad ** 2
        w = w - learning_rate * (mom / (1 - b1 ** epoch)) / (np.sqrt(vel / (1 - b2 ** epoch)) + eps)
        if on_epoch is not None:
            on_epoch(epoch, loss, w)
    return w


def response_features(prompts: Sequence[str], responses: Sequence[str], *, embedder: str,
                      cache_dir: str | Path | None, prompt_emb: np.ndarray | None = None) -> np.ndarray:
    """(N, D + 1 + S) unscaled features phi(x, y) of N (prompt, response); pass `prompt_emb` to reuse it."""
    emb = embed_responses(prompts, responses, embedder=embedder, cache_dir=cache_dir).astype(np.float64)
    if prompt_emb is None:
        prompt_emb = embed_prompts(prompts, embedder=embedder, cache_dir=cache_dir)
    rel = (emb * prompt_emb).sum(1, keepdims=True)
    return np.hstack([emb, rel, compute_style_features(list(responses)).astype(np.float64)])


@dataclass(frozen=True)
class EmbeddedRewardModel:
    """A trained head, the hand-made columns' scale and the embedder; `rewards` scores (prompt, response)."""

    weights: np.ndarray
    scale: np.ndarray
    embedder: str
    cache_dir: str | None = None

    def features(self, prompts: Sequence[str], responses: Sequence[str],
                 prompt_emb: np.ndarray | None = None) -> np.ndarray:
        phi = response_features(prompts, responses, embedder=self.embedder, cache_dir=self.cache_dir,
                                prompt_emb=prompt_emb)
        return phi / self.scale

    def rewards(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """(N,) rewards; higher = better response."""
        return self.features(prompts, responses) @ self.weights

    def margins(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        """(N,) r(prompt, first) - r(prompt, second)."""
        pe = embed_prompts(prompts, embedder=self.embedder, cache_dir=self.cache_dir)
        return (self.features(prompts, first, pe) - self.features(prompts, second, pe)) @ self.weights

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "head.npz", weights=self.weights, scale=self.scale)
        (folder / "config.json").write_text(json.dumps({"kind": MODEL_KIND, "embedder": self.embedder,
                                                        "dim": int(self.weights.shape[0])}, indent=2))

    @classmethod
    def load(cls, folder: str | Path, *, cache_dir: str | None = None) -> EmbeddedRewardModel:
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        if config.get("kind") != MODEL_KIND:
            raise ValueError(f"{folder} holds a {config.get('kind')!r} model, not an embedded reward head.")
        with np.load(folder / "head.npz") as z:
            weights, scale = z["weights"], z["scale"]
        return cls(weights, scale, config["embedder"], cache_dir)


def feature_scale(diffs: np.ndarray, n_emb: int) -> np.ndarray:
    """(F,) divisor per column: 1 for embedding columns, the RMS of each hand-made column's differences."""
    scale = np.ones(diffs.shape[1])
    rms = np.sqrt((diffs[:, n_emb:] ** 2).mean(0)) if len(diffs) else np.ones(diffs.shape[1] - n_emb)
    scale[n_emb:] = np.where(rms > 0, rms, 1.0)
    return scale


def pair_diffs(prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str], *, embedder: str,
               cache_dir: str | Path | None) -> np.ndarray:
    """(N, F) unscaled phi(x, chosen) - phi(x, rejected)."""
    pe = embed_prompts(prompts, embedder=embedder, cache_dir=cache_dir)
    return (response_features(prompts, chosen, embedder=embedder, cache_dir=cache_dir, prompt_emb=pe)
            - response_features(prompts, rejected, embedder=embedder, cache_dir=cache_dir, prompt_emb=pe))


def train_head(diffs: np.ndarray, *, n_emb: int, margins: np.ndarray | None = None, learning_rate: float = 0.05,
               epochs: int = 100, weight_decay: float = 5e-3,
               on_epoch: Callable[[int, float, np.ndarray], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale the hand-made columns, fit the BT head; returns (weights (F,), scale (F,)).

    `on_epoch` receives the SCALED-feature weights; score scaled diffs (``diffs / scale``) with them.
    """
    scale = feature_scale(diffs, n_emb)
    w = fit_bt(diffs / scale, margins=margins, learning_rate=learning_rate, epochs=epochs,
               weight_decay=weight_decay, on_epoch=on_epoch)
    return w, scale


def embedding_cache_dir(data: str | Path) -> Path:
    """Embeddings cache beside the exports: ``<exports root>/../cache/embeddings``."""
    return Path(data).resolve().parent.parent / "cache" / "embeddings"


def run(cfg: EmbeddedRewardRunConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train the embedded reward on `cfg.data`, write metrics, evaluate, save ``model/``; return final metrics."""
    run_dir = Path(run_dir)
    writer = MetricsWriter(run_dir / "metrics.jsonl")
    cache = cfg.cache_dir or str(embedding_cache_dir(cfg.data))
    embedder = resolve_embedder(cfg.embedder)
    train = load_split(cfg.data, "train")
    test, ai_left_out = evaluation_split(cfg.data) if cfg.evaluate else (None, 0)
    prompts, chosen, rejected = pair_texts(train)
    logger.info("embedding %d training pairs with %s", len(prompts), embedder)
    diff = pair_diffs(prompts, chosen, rejected, embedder=embedder, cache_dir=cache)
    n_emb = diff.shape[1] - 1 - len(compute_style_features([""])[0])
    scale = feature_scale(diff, n_emb)
    diff = diff / scale
    test_diff = None
    if test is not None and test.num_rows:
        test_diff = pair_diffs(*pair_texts(test), embedder=embedder, cache_dir=cache) / scale
    margins = None
    if cfg.use_margin and "margin" in train.column_names:
        margins = np.nan_to_num(np.array(train.column("margin").to_pylist(), dtype=float))
    epochs = max(1, int(round(cfg.num_train_epochs)))

    def log_epoch(epoch: int, loss: float, w: np.ndarray) -> None:
        if epoch % cfg.logging_steps and epoch != epochs:
            return
        m = diff @ w
        values = {"loss": loss, "accuracy": float((m > 0).mean()), "margin": float(m.mean())}
        if test_diff is not None:
            tm = test_diff @ w
            values["eval_accuracy"] = float((tm > 0).mean())
            values["eval_loss"] = float(np.mean(np.logaddexp(0.0, -tm)))
        writer.log(epoch, float(epoch), max_steps=epochs, **values)

    w = fit_bt(diff, margins=margins, learning_rate=cfg.learning_rate, epochs=epochs,
               weight_decay=cfg.weight_decay, on_epoch=log_epoch)
    EmbeddedRewardModel(w, scale, embedder).save(run_dir / "model")
    final: dict[str, Any] = {"train_pairs": len(prompts), "train_accuracy": float((diff @ w > 0).mean()),
                             "embedder": embedder}
    if test_diff is not None:
        final.update(eval_pairs=int(len(test_diff)), eval_accuracy=float((test_diff @ w > 0).mean()))
    if ai_left_out:
        final["eval_ai_left_out"] = ai_left_out
    (run_dir / "eval.json").write_text(json.dumps(final, indent=2))
    return final
